#!/usr/bin/env bash
# Everything weakgan needs on a fresh Debian machine, idempotent (a second run installs nothing):
#   - FashionMNIST's IDX files from the Debian package dataset-fashion-mnist
#   - torch + torchvision (the CPU-capable releases this project's machines keep on local disk)
#   - the weakgan package itself (editable) with its test dependencies
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if [ ! -e /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  echo "setup: installing dataset-fashion-mnist" >&2
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq dataset-fashion-mnist >/dev/null
fi

if ! "$PY" -c "import torch, torchvision" 2>/dev/null; then
  echo "setup: installing torch 2.14.1 + torchvision 0.29.1" >&2
  "$PY" -m pip install -q torch==2.14.1 torchvision==0.29.1
fi

if ! "$PY" -c "import weakgan, pytest, xdist, safetensors, yaml, tqdm, matplotlib, scipy, onnx, onnxscript, onnxruntime" 2>/dev/null; then
  echo "setup: installing weakgan" >&2
  "$PY" -m pip install -q -e ".[test]"
fi
