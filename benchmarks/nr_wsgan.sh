#!/usr/bin/env bash
# NR + WSGAN (the paper's Table 2 model) at any clean fractions, each with the teacher you name, on the
# real FashionMNIST, seed 0. For every FRACTION:TEACHER pair (TEACHER = a finished clean-only run on that
# split, e.g. from table1.sh or a longer single run):
#   1. the wsgan run OUT/wsgan_p<f>: stage-1 generator conditioned on the clean labels + the teacher's
#      confident pseudo-labels (cached in CACHE), then D (WSGAN_FLAGS; default 1 epoch);
#   2. each of MODELS (default nr-wsgan) as OUT/<model>_p<f>, reading that wsgan run and the teacher.
# Finished runs are skipped. Table: OUT/summary.md, copied to benchmarks/results/nr_wsgan.md.
#   NRW_FLAGS="--pretrain teacher" bash benchmarks/nr_wsgan.sh runs/bench-nr-wsgan \
#     0.1:runs/bench-table1-cifar/runs/clean-only_p0.1_permutation_s0 0.7:runs/exp/clean-only_p0.7_e10
# Run two of these at once on a 2-core CPU with THREADS=1 and `taskset -c 0` / `taskset -c 1`.
set -euo pipefail
cd "$(dirname "$0")/.."
out="$1"
shift
MODELS="${MODELS:-nr-wsgan}"
CACHE="${CACHE:-runs/bench-gan/cache}"
WSGAN_FLAGS="${WSGAN_FLAGS:---epochs 1 --contrastive-epochs 1}"
NRW_FLAGS="${NRW_FLAGS:-}"
common=(--dataset fashion-mnist --noise permutation --seed 0 --amp bf16 --no-progress --threads "${THREADS:-0}"
        --cache-dir "$CACHE")
mkdir -p "$out"
for pair in "$@"; do
  f="${pair%%:*}"
  teacher="${pair#*:}"
  [[ -f "$teacher/model.safetensors" ]] || { echo "nr_wsgan.sh: $teacher is not a finished run" >&2; exit 2; }
  wsgan="$out/wsgan_p$f"
  if [[ ! -f "$wsgan/metrics.json" ]]; then
    # shellcheck disable=SC2086
    python3 -m weakgan train "${common[@]}" --model wsgan --clean-fraction "$f" --gan-labels pseudo \
      --gan-pseudo-run "$teacher" $WSGAN_FLAGS --out "$wsgan"
  fi
  for model in ${MODELS//,/ }; do
    run="$out/${model}_p$f"
    if [[ ! -f "$run/metrics.json" ]]; then
      # shellcheck disable=SC2086
      python3 -m weakgan train "${common[@]}" --model "$model" --clean-fraction "$f" --stem cifar --epochs 3 \
        --teacher-run "$teacher" --wsgan-run "$wsgan" $NRW_FLAGS --out "$run"
    fi
    echo "$teacher" > "$run/teacher.txt"
  done
done

python3 - "$out" > "$out/summary.md" <<'PY'
import json
import sys
from pathlib import Path

import yaml

from weakgan.sweep import PAPER_TABLE2

out = Path(sys.argv[1])
print("| clean | model | paper NR+WSGAN | top-1 | - paper | its teacher (clean-only) | its wsgan D | train s | threads | pretrain |")
print("|---|---|---|---|---|---|---|---|---|---|")
runs = [p.parent for p in out.glob("nr-wsgan*_p*/metrics.json")]
for run in sorted(runs, key=lambda r: (json.loads((r / "metrics.json").read_text())["clean_fraction"], r.name)):
    m = json.loads((run / "metrics.json").read_text())
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    f = m["clean_fraction"]
    teacher = json.loads((Path(cfg["teacher_run"]) / "metrics.json").read_text())
    d = json.loads((Path(cfg["wsgan_run"]) / "metrics.json").read_text())
    print(f"| {f:g} | {m['model']} | {PAPER_TABLE2[f]:.2f} | {100 * m['top1']:.2f} | "
          f"{100 * m['top1'] - PAPER_TABLE2[f]:+.2f} | {100 * teacher['top1']:.2f} "
          f"({teacher.get('steps', '?')} steps, {cfg['teacher_run']}) | {100 * d['top1']:.2f} | "
          f"{m['train_seconds']:.0f} | {m['threads']} | {cfg['pretrain']} |")
PY
{
  echo "# NR + WSGAN at each clean fraction, with the teacher named per fraction (FashionMNIST, seed 0)"
  echo
  echo "- command: \`MODELS=$MODELS NRW_FLAGS='$NRW_FLAGS' WSGAN_FLAGS='$WSGAN_FLAGS' bash benchmarks/nr_wsgan.sh $out $*\`"
  echo "- machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, torch $(python3 -c 'import torch; print(torch.__version__)'); THREADS=${THREADS:-0}"
  echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD)"
  echo "- test top-1 %, 10,000 test images, flip TTA; nr-wsgan*: cifar stem, 3 epochs; wsgan D: its own settings ($WSGAN_FLAGS)"
  echo
  cat "$out/summary.md"
} > benchmarks/results/nr_wsgan.md
cat benchmarks/results/nr_wsgan.md
