#!/usr/bin/env bash
# Many `weakgan reproduce` workers side by side on one machine (a GPU's throughput is not filled by one
# small-batch ResNet18 process), each on a part of a preset's grid, all writing into one folder; at a
# deadline the unfinished ones are stopped (a stopped run leaves no metrics.json and is not reported).
#
# usage: DEADLINE_S=480 PRESET=full bash benchmarks/parallel_reproduce.sh OUT JOB [JOB ...]
#   JOB = SEEDS:FRACTIONS:MODELS, e.g. 1:0.05:clean-only,nr,naive (one worker per JOB)
# extra reproduce flags in FLAGS (e.g. FLAGS='--data-dir DIR --threads 1').
set -uo pipefail
out=$1; shift
deadline=${DEADLINE_S:-3600}
mkdir -p "$out/logs"
pids=()
for job in "$@"; do
  IFS=: read -r seeds fractions models <<<"$job"
  log="$out/logs/s${seeds//,/_}_p${fractions//,/_}.log"
  python3 -m weakgan reproduce --preset "${PRESET:-full}" --seeds "$seeds" --fractions "$fractions" \
    --models "$models" --noise permutation --no-progress --out "$out" ${FLAGS:-} >"$log" 2>&1 &
  pids+=($!)
done
start=$SECONDS
while (( SECONDS - start < deadline )); do
  alive=0
  for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=$((alive + 1)); done
  (( alive == 0 )) && break
  sleep 5
done
for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
wait
echo "parallel_reproduce: $((SECONDS - start)) s, $(ls "$out"/runs/*/metrics.json 2>/dev/null | wc -l) finished runs in $out"
