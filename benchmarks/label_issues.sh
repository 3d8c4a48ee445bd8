#!/usr/bin/env bash
# How well `weakgan label-issues` finds wrong labels when the truth is known: FashionMNIST, model nr,
# clean fraction 0.1, synthetic noise symmetric:0.4 and pairflip:0.3, with one shared clean-only teacher.
# For each noise, one training run, then
# label-issues ranks the noisy labels; reported is precision/recall of the top N ranked images with
# N = the number of true flips (at that N, precision = recall), plus the flagged set (images whose
# given label is not the clean net's top class) and the ranking's average precision.
#
# Usage: [TEACHER=RUN_DIR] benchmarks/label_issues.sh [OUT_DIR] [extra `weakgan train` flags, e.g. --amp bf16 --epochs 3]
# Default OUT_DIR: runs/bench-label-issues. Two full trainings on 60,000 images: long on a CPU.
# Finished runs in OUT_DIR are reused; the table goes to OUT_DIR/summary.md and is copied to
# benchmarks/results/label_issues.md.
set -euo pipefail

out="runs/bench-label-issues"
if [[ $# -gt 0 && "$1" != -* ]]; then
  out="$1"
  shift
fi
mkdir -p "$out"

# one clean-only teacher serves both runs: the clean subset (fraction 0.1, seed 0) is drawn before any
# noise, so it is the same split's clean set for both noise models
teacher="${TEACHER:-$out/teacher_clean-only_p0.1_s0}"   # TEACHER=RUN_DIR: a finished clean-only run, fraction 0.1, seed 0
if [[ ! -f "$teacher/model.safetensors" ]]; then
  python3 -m weakgan train --dataset fashion-mnist --model clean-only --clean-fraction 0.1 --noise symmetric:0.4 \
    --seed 0 "$@" --out "$teacher"
fi
for noise in symmetric:0.4 pairflip:0.3; do
  run="$out/nr_p0.1_${noise/:/}_s0"
  if [[ ! -f "$run/model.safetensors" ]]; then
    python3 -m weakgan train --dataset fashion-mnist --model nr --clean-fraction 0.1 --noise "$noise" \
      --seed 0 --teacher-run "$teacher" "$@" --out "$run"
  fi
  python3 -m weakgan label-issues "$run"
done

python3 - "$out" <<'PY'
import json
import sys
from pathlib import Path

out = Path(sys.argv[1])
lines = ["# Label-issue detection (FashionMNIST, nr, clean fraction 0.1)", "",
         "| noise | test top-1 | noisy labels | true flips | precision = recall @ N=flips | flagged | "
         "flagged precision | flagged recall | ranking AP |",
         "|---|---|---|---|---|---|---|---|---|"]
for run in sorted(out.glob("nr_p0.1_*")):
    s = json.loads((run / "label_issues.json").read_text())
    top1 = json.loads((run / "metrics.json").read_text())["top1"]
    at, fl = s["at_n_true_flips"], s["flagged_vs_flips"]
    lines.append(f"| {s['noise']} | {top1:.4f} | {s['n_noisy_labelled']} | {s['n_true_flips']} | "
                 f"{at['precision']:.4f} | {fl['n']} | {fl['precision']:.4f} | {fl['recall']:.4f} | "
                 f"{s['flip_average_precision']:.4f} |")
lines += ["", "Probabilities: " + s["probabilities"] + "."]
(out / "summary.md").write_text("\n".join(lines) + "\n")
print("\n".join(lines))
PY
mkdir -p benchmarks/results
{ cat "$out/summary.md"; echo; echo "- command: \`TEACHER=${TEACHER:-} bash benchmarks/label_issues.sh $*\`"; echo "- machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; date $(date -u '+%Y-%m-%d %H:%M UTC'); commit $(git rev-parse --short HEAD); seed 0"; } > benchmarks/results/label_issues.md
