#!/usr/bin/env bash
# The stage-1 generator on FashionMNIST at clean fraction 0.05: how long it trains, GAN-test accuracy and
# domain FID against the real-data floor, for two conditioning sets:
#   clean   G conditioned on the 3,000 clean labels only (gan_labels: clean)
#   pseudo  plus confident (>= 0.95) predictions of a clean-only classifier on the other 57,000 images
#           (gan_labels: pseudo); that classifier sees the same clean split and nothing else.
# Measures use an evaluator trained on ALL true training labels (clean fraction 1.0): it is only a
# measuring instrument, like the Inception net of the usual FID, and never touches the generator.
#   GAN-test  share of G(z, y) that the evaluator assigns to y (1,000 per class)
#   FID       Fréchet distance between 10,000 generated images and the 10,000 test images in the
#             evaluator's penultimate features; floor = the same for 10,000 real training images.
#
# Usage: [TRAIN_FLAGS="--threads 1"] [LABELS="clean pseudo"] [EVAL_EPOCHS=5] [EVAL_FLAGS="--stem cifar"] \
#        [PSEUDO_SOURCE=RUN_DIR] \
#        [WSGAN_FRACTIONS="0.05 0.5"] [WSGAN_FLAGS="--epochs 1"] \
#        benchmarks/gan.sh [OUT_DIR] [extra pretrain-gan flags, e.g. --gan-steps 1500]
# WSGAN_FRACTIONS: also train `--model wsgan` at these clean fractions (its generator comes from the same
# cache) and compare its top-1 with clean-only of benchmarks/results/table1.csv.
# TRAIN_FLAGS go to the two classifier trainings, EVAL_FLAGS to the evaluator's only (a more accurate
# evaluator is a sharper instrument: with the ImageNet stem it reaches ~89.6%, with --stem cifar ~92%). Default OUT_DIR: runs/bench-gan.
# Trains 2 classifiers and 2 generators on the full data: long on a CPU
# (measured per step on tiny data: ~1 s per generator step on one busy core, 1000 steps by default).
# Finished runs and cached generators are reused. Table: OUT_DIR/summary.md, copied to benchmarks/results/gan.md.
set -euo pipefail
start=$(date +%s)

out="runs/bench-gan"
if [[ $# -gt 0 && "$1" != -* ]]; then
  out="$1"
  shift
fi
mkdir -p "$out"
cache="$out/cache"
common=(--dataset fashion-mnist --seed 0 --cache-dir "$cache" --no-progress)

evaluator="$out/evaluator"
if [[ ! -f "$evaluator/model.safetensors" ]]; then
  # shellcheck disable=SC2086
  python3 -m weakgan train "${common[@]}" --model clean-only --clean-fraction 1.0 --noise none --epochs "${EVAL_EPOCHS:-5}" \
    ${TRAIN_FLAGS:-} ${EVAL_FLAGS:-} --out "$evaluator"
fi
pseudo_source="${PSEUDO_SOURCE:-$out/clean-only_p0.05}"
if [[ " ${LABELS:-clean pseudo} " == *" pseudo "* && ! -f "$pseudo_source/model.safetensors" ]]; then
  # shellcheck disable=SC2086
  python3 -m weakgan train "${common[@]}" --model clean-only --clean-fraction 0.05 ${TRAIN_FLAGS:-} --out "$pseudo_source"
fi

for labels in ${LABELS:-clean pseudo}; do
  flags=(--clean-fraction 0.05 --gan-labels "$labels")
  if [[ "$labels" == pseudo ]]; then
    flags+=(--gan-pseudo-run "$pseudo_source")
  fi
  line=$(python3 -m weakgan pretrain-gan "${common[@]}" "${flags[@]}" "$@" | tee /dev/stderr | tail -n 1)
  gen=$(echo "$line" | sed -E 's/^generator: ([^ ;]+).*/\1/')
  python3 -m weakgan gan-eval "$gen" --classifier "$evaluator" --n 10000 --per-class 1000 \
    --out "$out/gan_metrics_$labels.json"
  echo "$gen" > "$out/generator_$labels.txt"
  python3 -m weakgan generate "$gen" --class Sneaker --n 64 --out "$out/sneaker_$labels.png"
done

# the wsgan classifier (stage 2 on top of the stage-1 generator of its own split; the 0.05 one is the
# generator above when the settings match) at each of WSGAN_FRACTIONS, with WSGAN_FLAGS
for f in ${WSGAN_FRACTIONS:-}; do
  run="$out/wsgan_p$f"
  if [[ ! -f "$run/metrics.json" ]]; then
    # shellcheck disable=SC2086
    python3 -m weakgan train "${common[@]}" --model wsgan --clean-fraction "$f" ${TRAIN_FLAGS:-} ${WSGAN_FLAGS:-} \
      "$@" --out "$run"
  fi
done

python3 - "$out" <<'PY'
import csv
import json
import sys
from pathlib import Path

import yaml

out = Path(sys.argv[1])
evaluator = json.loads((out / "evaluator" / "metrics.json").read_text())["top1"]
ev_cfg = yaml.safe_load((out / "evaluator" / "config.yaml").read_text())
lines = ["# Stage-1 generator (WGAN-GP), FashionMNIST, clean fraction 0.05", "",
         f"Evaluator (clean-only on all 60,000 true labels, stem {ev_cfg.get('stem', 'imagenet')}) test top-1: "
         f"{evaluator:.4f} (metrics.json; GAN-test and FID use its plain, un-mirrored predictions)", "",
         "| conditioning | images | G steps | train s | real img/s | GAN-test acc | FID | FID floor (real train) |",
         "|---|---|---|---|---|---|---|---|"]
for labels in ("clean", "pseudo"):
    if not (out / f"generator_{labels}.txt").exists():
        continue
    gen = Path((out / f"generator_{labels}.txt").read_text().strip())
    s = json.loads((gen / "summary.json").read_text())
    m = json.loads((out / f"gan_metrics_{labels}.json").read_text())
    c = s["conditioning"]
    n = c["n_clean"] + c.get("n_pseudo", 0)
    lines.append(f"| {labels} | {n} | {s['steps']} | {s['train_seconds']:.0f} | {s['real_images_per_second']:.0f} | "
                 f"{m['gan_test_accuracy']:.4f} | {m['fid']:.3f} | {m['fid_floor']:.3f} |")
    if "pseudo_accuracy_diagnostic" in c:
        lines.append(f"|  | pseudo-labels: {c['n_pseudo']} kept, accuracy {c['pseudo_accuracy_diagnostic']:.4f} "
                     f"(diagnostic) | | | | | | |")
lines += ["", "Class grids (one row per class): `<generator folder>/grid.png`; 64 sneakers: `sneaker_<labels>.png`."]
wsgan = sorted(out.glob("wsgan_p*/metrics.json"))
if wsgan:
    table1 = Path("benchmarks/results/table1.csv")
    clean_only = {}
    if table1.exists():
        with open(table1) as f:
            clean_only = {float(r["clean_fraction"]): float(r["top1"]) for r in csv.DictReader(f)
                          if r["model"] == "clean-only" and r["seed"] == "0"}
    lines += ["", "## The wsgan classifier (D's class logits) vs clean-only (benchmarks/results/table1.csv)", "",
              "| clean fraction | wsgan top-1 | wsgan train s | clean-only top-1 |", "|---|---|---|---|"]
    for path in wsgan:
        m = json.loads(path.read_text())
        co = clean_only.get(float(m["clean_fraction"]))
        lines.append(f"| {m['clean_fraction']:g} | {m['top1']:.4f} | {m['train_seconds']:.0f} | "
                     f"{'' if co is None else f'{co:.4f}'} |")
(out / "summary.md").write_text("\n".join(lines) + "\n")
print("\n".join(lines))
PY
mkdir -p benchmarks/results
{ cat "$out/summary.md"; echo; echo "- command: \`TRAIN_FLAGS='${TRAIN_FLAGS:-}' LABELS='${LABELS:-clean pseudo}' EVAL_EPOCHS=${EVAL_EPOCHS:-5} EVAL_FLAGS='${EVAL_FLAGS:-}' WSGAN_FRACTIONS='${WSGAN_FRACTIONS:-}' WSGAN_FLAGS='${WSGAN_FLAGS:-}' bash benchmarks/gan.sh $*\`"; echo "- machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; date $(date -u '+%Y-%m-%d %H:%M UTC'); commit $(git rev-parse --short HEAD); seed 0"; echo "- wall time of this command: $(( ($(date +%s) - start) / 60 )) min (finished runs and cached generators are reused, not re-timed)"; } > benchmarks/results/gan.md
for labels in ${LABELS:-clean pseudo}; do
  cp "$(cat "$out/generator_$labels.txt")/grid.png" "benchmarks/results/gan_grid_$labels.png"
done
