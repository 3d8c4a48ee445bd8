#!/usr/bin/env bash
# Table 2 of the paper (NR + WSGAN) on the real FashionMNIST, on CPU, at the clean fractions FRACTIONS:
# nr-wsgan and its ablation variants, each reading two finished runs of the same split (seed 0):
#   the clean-only teacher   $TABLE1/runs/clean-only_p<f>_permutation_s0   (benchmarks/table1.sh)
#   the wsgan run (D and G)  $GAN/wsgan_p<f>                                (benchmarks/gan.sh WSGAN_FRACTIONS)
# so it costs only the nr-wsgan* trainings themselves. Writes benchmarks/results/table2.{csv,md}.
#   FRACTIONS="0.05 0.5" MODELS=nr-wsgan,nr-wsgan-nofake,nr-wsgan-frozen bash benchmarks/table2.sh --stem cifar
# Extra flags go to `weakgan sweep` (use the ones table1.sh ran with).
set -euo pipefail
cd "$(dirname "$0")/.."
FRACTIONS="${FRACTIONS:-0.05 0.5}"
MODELS="${MODELS:-nr-wsgan,nr-wsgan-nofake,nr-wsgan-frozen}"
TABLE1="${TABLE1:-runs/bench-table1-cifar}"
GAN="${GAN:-runs/bench-gan}"
OUT="${OUT:-runs/bench-table2}"
commit=$(git rev-parse --short HEAD)
start=$(date +%s)
for f in $FRACTIONS; do
  teacher="$TABLE1/runs/clean-only_p${f}_permutation_s0"
  wsgan="$GAN/wsgan_p$f"
  for need in "$teacher" "$wsgan"; do
    [[ -f "$need/model.safetensors" ]] || { echo "table2.sh: $need is not a finished run (run table1.sh / gan.sh first)" >&2; exit 2; }
  done
  python3 -m weakgan sweep --models "$MODELS" --fractions "$f" --seeds 0 --noise permutation --no-progress \
    --teacher-run "$teacher" --wsgan-run "$wsgan" --out "$OUT" "$@"
done
wall=$(( $(date +%s) - start ))
mkdir -p benchmarks/results
cp "$OUT/results.csv" benchmarks/results/table2.csv
python3 - "$OUT" "$TABLE1" "$GAN" > benchmarks/results/table2_body.md <<'PY'
import csv
import json
import sys
from pathlib import Path

from weakgan.sweep import PAPER_TABLE2

out, table1, gan = map(Path, sys.argv[1:])
top1 = {}
for path in [out / "results.csv", table1 / "results.csv"]:
    with open(path) as f:
        for r in csv.DictReader(f):
            if r["seed"] == "0":
                top1[(r["model"], float(r["clean_fraction"]))] = 100 * float(r["top1"])
for path in gan.glob("wsgan_p*/metrics.json"):
    m = json.loads(path.read_text())
    top1[("wsgan", float(m["clean_fraction"]))] = 100 * m["top1"]
models = ["nr-wsgan", "nr-wsgan-nofake", "nr-wsgan-frozen", "wsgan", "nr", "clean-only"]
fractions = sorted({f for (m, f) in top1 if m.startswith("nr-wsgan")})
print("| clean | paper NR+WSGAN | " + " | ".join(models) + " |")
print("|---" * (len(models) + 2) + "|")
for f in fractions:
    cells = [f"{top1[(m, f)]:.2f}" if (m, f) in top1 else "" for m in models]
    print(f"| {f:g} | {PAPER_TABLE2[f]:.2f} | " + " | ".join(cells) + " |")
PY
{
  echo "# Table 2 on FashionMNIST (CPU): NR + WSGAN and its ablation"
  echo
  echo "- command: \`FRACTIONS=\"$FRACTIONS\" MODELS=$MODELS TABLE1=$TABLE1 GAN=$GAN bash benchmarks/table2.sh $*\`"
  echo "- machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, torch $(python3 -c 'import torch; print(torch.__version__)')"
  echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'), commit $commit, seed 0; wall time of the nr-wsgan* trainings: $((wall / 60)) min $((wall % 60)) s"
  echo "- test top-1 %; wsgan = the D classifier alone ($GAN, see gan.md for its settings); nr, clean-only from $TABLE1 (table1.md)"
  echo
  cat benchmarks/results/table2_body.md
} > benchmarks/results/table2.md
rm benchmarks/results/table2_body.md
cat benchmarks/results/table2.md
