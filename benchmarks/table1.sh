#!/usr/bin/env bash
# Table 1 of the paper on the real FashionMNIST, on CPU: `nr` and `clean-only` at the five clean
# fractions, permutation noise. Writes benchmarks/results/table1.{csv,md}.
#   SEEDS=0,1,2 bash benchmarks/table1.sh      (default SEEDS=0)
# Extra flags after the script name go to `weakgan sweep` (e.g. --epochs 6).
set -euo pipefail
cd "$(dirname "$0")/.."
SEEDS="${SEEDS:-0}"
OUT="${OUT:-runs/bench-table1}"
start=$(date +%s)
commit=$(git rev-parse --short HEAD)   # the code the runs are made with (later commits may follow)
python3 -m weakgan sweep --models clean-only,nr --fractions 0.05,0.1,0.2,0.5,0.7 --seeds "$SEEDS" \
  --noise permutation --no-progress --out "$OUT" "$@"
wall=$(( $(date +%s) - start ))
mkdir -p benchmarks/results
cp "$OUT/results.csv" benchmarks/results/table1.csv
{
  echo "# Table 1 on FashionMNIST (CPU)"
  echo
  echo "- command: \`SEEDS=$SEEDS bash benchmarks/table1.sh $*\`"
  echo "- machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, torch $(python3 -c 'import torch; print(torch.__version__)')"
  echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'), commit $commit"
  echo "- seeds: $SEEDS; total wall time of this command: $((wall / 60)) min $((wall % 60)) s (shared pretraining included unless it was cached)"
  echo
  tail -n +4 "$OUT/results.md"
} > benchmarks/results/table1.md
cat benchmarks/results/table1.md
