#!/usr/bin/env bash
# Every measurement that README.md, docs/BENCHMARKS.md, docs/REALISM.md and experiments/ quote and that depends on
# the synthetic cohort, run again after the cohort changes (a new generator version): the cohorts (quick, hard with
# seeds 0 and 1), `make train`, the model file, the evaluation report with both hard cohorts, the calibration (PRAC
# and the simulator's CTAC), the LV-frame validation, the OOD AUROC against every normal study, the recorded random
# search, `mumap predict` and the benchmarks that read the cohort (training step, search). About 2.5 hours on 2 cores
# (the AMD EPYC; the Intel Xeon is slower); two single-threaded jobs share the cores where they can. Each step's
# output and its `time` go to $LOG/<step>.log; a step that fails stops the script, saying which. The figures it
# produces are then copied into the docs by hand, with this script's step as their command; the search's exported
# best trial names the cohort it was found on.
#
#   bash scripts/remeasure_cohort.sh                      # from the repository root, after `make setup`
#   bash scripts/remeasure_cohort.sh --from validate-quick-ctac   # resume: skip every step before that one
set -euo pipefail
cd "$(dirname "$0")/.."
LOG=${LOG:-remeasure-logs}
mkdir -p "$LOG"
export PY=.venv/bin/python MUMAP=.venv/bin/mumap  # exported: the paired steps run in their own bash
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
FROM=""
if [[ $# -gt 0 ]]; then
  [[ $1 == --from && $# -eq 2 ]] || { echo "usage: $0 [--from STEP]" >&2; exit 2; }
  FROM=$2
fi
skipping=${FROM:+yes}

due() {  # due NAME: whether step NAME runs (not while skipping to the --from step); called in the main shell
  [[ $skipping == yes && $1 == "$FROM" ]] && skipping=""
  [[ -z $skipping ]] || { echo "skip  $1"; return 1; }
}

run() {  # run NAME COMMAND…: run it timed into $LOG/NAME.log; a failure is said, and stops the script
  local name=$1
  shift
  echo "$(date -u +%FT%TZ) start $name"
  if ! { time "$@"; } >"$LOG/$name.log" 2>&1; then
    echo "$(date -u +%FT%TZ) FAILED $name: see $LOG/$name.log" >&2
    return 1
  fi
  echo "$(date -u +%FT%TZ) done  $name"
}

step() {  # step NAME COMMAND…: run it unless skipped
  if due "$1"; then run "$@"; fi
}

pair() {  # pair NAME1 "COMMAND1" NAME2 "COMMAND2": both at once (one thread each), wait for both
  local first=""
  if due "$1"; then
    run "$1" bash -c "$2" &
    first=$!
  fi
  if due "$3"; then run "$3" bash -c "$4"; fi
  if [[ -n $first ]]; then wait "$first"; fi
}

[[ -n $FROM ]] || rm -rf data/quick data/hard0 data/hard1 outputs/quick
step data make data
step hard0 "$MUMAP" synthesize --preset hard --out data/hard0 --seed 0 --workers 2
step hard1 "$MUMAP" synthesize --preset hard --out data/hard1 --seed 1 --workers 2
OMP_NUM_THREADS=2 step train make train
step export "$MUMAP" export outputs/quick/checkpoints/best-*.ckpt -o quick.mumap.pt

pair eval-h0 "$PY evaluate.py run=outputs/quick hard=data/hard0 out=eval-h0 workers=1" \
     eval-h1 "$PY evaluate.py run=outputs/quick hard=data/hard1 out=eval-h1 workers=1"
pair realism-prac "$PY -m mumap.evaluation.realism data/quick --workers 1" \
     realism-simulator "$PY -m mumap.evaluation.realism data/quick --out data/quick/realism-simulator --ctac simulator --workers 1"
for cohort in quick hard0 hard1; do
  pair "validate-$cohort-ctac" "$PY scripts/validate_polar.py data/$cohort ctac" \
       "validate-$cohort-nac" "$PY scripts/validate_polar.py data/$cohort nac"
  pair "validate-$cohort-ctac+nac" "$PY scripts/validate_polar.py data/$cohort ctac+nac" \
       "validate-$cohort-prac+nac" "$PY scripts/validate_polar.py data/$cohort prac+nac"
done
step validate-quick-prac "$PY" scripts/validate_polar.py data/quick prac
step ood-normal "$PY" scripts/ood_normal.py data/quick data/hard0 data/hard1 --workers 2
step examples "$PY" scripts/realism_examples.py data/quick --out docs/figures
pair stripes-S0004 "$PY scripts/footprint_stripes.py data/quick/S0004 --out docs/figures/nac_stripes_footprint_rays.png" \
     stripes-S0046 "$PY scripts/footprint_stripes.py data/quick/S0046 --out $LOG/stripes_S0046.png"

# the recorded random search (experiments/quick-random/README.md): two workers on one study, one thread each
if [[ -z $skipping || $FROM == search-worker1 ]]; then rm -rf outputs/search/quick-random; fi
search_worker() {
  "$PY" train.py -m hparams=random hydra.sweeper.n_trials=32 trainer.max_epochs=8 logger.wandb=null \
    trainer.enable_progress_bar=false
}
pair search-worker1 "$(declare -f search_worker); search_worker" \
     search-worker2 "sleep 5; $(declare -f search_worker); search_worker"
step search-analyze "$PY" -m mumap.search.analyze outputs/search/quick-random --export quick-best

step predict "$MUMAP" predict data/quick/S0005/nac.nii.gz --model quick.mumap.pt -o "$LOG/predict-S0005" --prac --overwrite
OMP_NUM_THREADS=2 step bench-training "$PY" -m mumap.bench.training
OMP_NUM_THREADS=2 step bench-search "$PY" -m mumap.bench.search
step digest "$PY" -c "from pathlib import Path; from tests.helpers import cohort_digest; print(cohort_digest(Path('data/quick')))"
if [[ -n $skipping ]]; then echo "no step is named $FROM" >&2; exit 2; fi
echo "$(date -u +%FT%TZ) all done: logs in $LOG/"
