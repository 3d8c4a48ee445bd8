#!/usr/bin/env bash
# The wsgan D with one part changed at a time, on the splits of the full preset (benchmarks/results/wsgan.md):
#   bash benchmarks/wsgan_ablation.sh SEEDS FRACTIONS [FULL_OUT] [OUT]
# e.g. bash benchmarks/wsgan_ablation.sh 0 0.05,0.5 reports/full reports/wsgan_ablation
# Each variant is `reproduce --preset benchmarks/presets/full_wsgan.yaml --models wsgan` with its flags, in a
# folder of its own; the clean-only runs (D's starting point and the generator's pseudo-labeller) are linked from
# FULL_OUT when finished there, so every variant starts from the same runs and the same cached generator.
set -euo pipefail
seeds=${1:?seeds, e.g. 0,1,2}; fractions=${2:?fractions, e.g. 0.05,0.5}
full=${3:-reports/full}; out=${4:-reports/wsgan_ablation}
# Every variant names the D settings it measures, so that it stays the same run when full_wsgan.yaml's choices change;
# its D epochs are warm_epochs (the preset's 2, or the variant's own), as when the variants were first run, hence
# --gan-d-epochs 0 (gan_d_epochs, where set, wins over warm_epochs; full_wsgan.yaml sets 4).
declare -A flags=(
  # the paper's D (attention branches, its own confident predictions as pseudo-labels); a quarter of D's real
  # images clean (--gan-clean-share 0.25): the default until the autoshare variants below
  [attention]="--gan-d-attention --gan-pseudo-source own --gan-clean-share 0.25"
  [noattn]="--no-gan-d-attention --gan-pseudo-source own --gan-clean-share 0.25"
  [noattn-nofake]="--no-gan-d-attention --gan-pseudo-source own --gan-fake-ratio 0 --gan-unsup-weight 0 --gan-clean-share 0.25"
  [noattn-stage3]="--no-gan-d-attention --gan-pseudo-source own --gan-g-every 4 --gan-clean-share 0.25"
  [noattn-teacher]="--no-gan-d-attention --gan-pseudo-source teacher --gan-clean-share 0.25"
  [noattn-nofake-teacher]="--no-gan-d-attention --gan-fake-ratio 0 --gan-unsup-weight 0 --gan-pseudo-source teacher --gan-clean-share 0.25"
  # the split's clean share, if larger (--gan-clean-share 0, the default since it was chosen on these runs)
  [noattn-teacher-autoshare]="--no-gan-d-attention --gan-pseudo-source teacher --gan-clean-share 0"
  [noattn-nofake-teacher-autoshare]="--no-gan-d-attention --gan-fake-ratio 0 --gan-unsup-weight 0 --gan-pseudo-source teacher --gan-clean-share 0"
  [noattn-teacher-autoshare-4ep]="--no-gan-d-attention --gan-pseudo-source teacher --gan-clean-share 0 --warm-epochs 4"
  # the control of -4ep: the same D steps on clean images alone (no noisy rows; one generated row a batch reaches
  # BatchNorm only, as in every nofake variant), i.e. the clean-only run trained 4 more epochs at D's settings
  [noattn-clean-4ep]="--no-gan-d-attention --gan-pseudo-source own --gan-fake-ratio 0 --gan-unsup-weight 0 --gan-clean-share 1 --warm-epochs 4"
)
for variant in ${VARIANTS:-noattn noattn-nofake noattn-stage3 attention}; do
  mkdir -p "$out/$variant/runs"
  for run in "$full"/runs/clean-only_*; do
    [ -f "$run/metrics.json" ] && [ ! -e "$out/$variant/runs/$(basename "$run")" ] && \
      ln -s "$(realpath "$run")" "$out/$variant/runs/$(basename "$run")"
  done
  echo "== $variant $(date -u +%FT%T)"
  # shellcheck disable=SC2086
  python3 -m weakgan reproduce --preset benchmarks/presets/full_wsgan.yaml --models wsgan --seeds "$seeds" \
    --fractions "$fractions" --no-progress --out "$out/$variant" --gan-d-epochs 0 ${flags[$variant]}
done
