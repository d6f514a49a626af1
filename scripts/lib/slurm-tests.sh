#!/usr/bin/env bash
# scripts/slurm.sbatch on a live one-machine Slurm (scripts/lib/slurm-local.sh: munged,
# slurmctld and slurmd started here, stopped at the end): the srun and the mpirun paths train
# the model of `mpirun -np 2`; the time limit's signal (sent by hand with scancel --batch, as
# --signal=B:TERM sends it) checkpoints, requeues and finishes with the uninterrupted model and
# metrics; a real 1-minute limit requeues the run until it finishes, to the same model, also when
# Slurm's warning comes late (the script's own timer); a limit shorter than the lead is refused; a
# sweep is signalled, requeued and finished the same way; a cancelled job is not requeued, and a
# job cancelled or killed outright continues when submitted again. Skipped with the reason where
# the daemons cannot start. Usage: slurm-tests.sh PATH/TO/dptrain. Exits 1 if any failed.
set -uo pipefail
DPTRAIN="$(realpath "$1")"
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
source "$here/checks.sh"
source "$here/slurm-local.sh"
use_mpirun
CHECK_FIGURES="^(job |requeued|finished)"

echo "==> Slurm"
slurm_dir="$(mktemp -d /tmp/dptrain-slurm.XXXXXX)"
# In this shell (it exports SLURM_CONF), its words to a file.
if ! slurm_start "$slurm_dir" > "$work/slurm-start.txt" 2>&1; then
  echo "  skip every Slurm check: $(sed 's/^SKIP: //' "$work/slurm-start.txt" | tail -1)"
  rm -rf "$slurm_dir"
  exit 0
fi
trap 'slurm_stop; rm -rf "$slurm_dir" "$work"' EXIT
export DPTRAIN

# submit LOG SBATCH-OPTIONS... -- SCRIPT-ARGS...: submits scripts/slurm.sbatch (or $SUBMIT_SCRIPT),
# prints the job id.
submit() {
  local log="$1"
  shift
  local opts=()
  while [ "$1" != -- ]; do opts+=("$1"); shift; done
  shift
  sbatch --parsable --nodes=1 --ntasks-per-node=2 --cpus-per-task=1 --time=10 --output="$log" "${opts[@]}" "${SUBMIT_SCRIPT:-$root/scripts/slurm.sbatch}" "$@"
}

# finish JOB [SECONDS]: waits until JOB has ended (at most SECONDS, 300), prints "job J: STATE,
# exit E, restarts R"; returns 0 for COMPLETED with exit 0.
finish() {
  local job="$1" limit="${2:-300}" info state
  for _ in $(seq $((limit * 2))); do
    info="$(scontrol show job "$job" 2>/dev/null)"
    state="$(grep -oE 'JobState=[A-Z_]+' <<<"$info" | cut -d= -f2)"
    case "$state" in COMPLETED | FAILED | CANCELLED | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY) break ;; esac
    sleep 0.5
  done
  echo "job $job: $state, exit $(grep -oE ' ExitCode=[0-9:]+' <<<"$info" | cut -d= -f2), restarts $(grep -oE 'Restarts=[0-9]+' <<<"$info" | cut -d= -f2)"
  [ "$state" = COMPLETED ] && grep -q " ExitCode=0:0" <<<"$info"
}

# restarts JOB: how many times JOB was requeued.
restarts() { scontrol show job "$1" | grep -oE 'Restarts=[0-9]+' | cut -d= -f2; }

small=(--hidden 64 --epochs 2 --train-limit 5000 --quiet --no-report)
long=(--hidden 256,128 --batch-norm --epochs 8 --train-limit 20000 --quiet --no-report)
"${MPIRUN[@]}" -np 2 "$DPTRAIN" train "${small[@]}" --blas-threads 1 --out "$work/small-mpirun" > /dev/null
"${MPIRUN[@]}" -np 2 "$DPTRAIN" train "${long[@]}" --blas-threads 1 --out "$work/long-mpirun" > /dev/null

# same_run DIR REFERENCE: the model bit for bit, and metrics.csv without a missing or repeated row.
same_run() {
  cmp "$1/model.safetensors" "$2/model.safetensors" && diff "$1/metrics.csv" "$2/metrics.csv"
}

# launch_path LAUNCHER: the small run through the script, ranks started by LAUNCHER.
launch_path() {
  local job
  job=$(DPTRAIN_LAUNCHER="$1" submit "$work/$1.log" -- train "${small[@]}" --out "$work/small-$1") || return 1
  finish "$job"
  local rc=$?
  cat "$work/$1.log"
  [ "$rc" -eq 0 ] && same_run "$work/small-$1" "$work/small-mpirun"
}
check "sbatch, 2 tasks, the srun path: trains, exit 0, the model of mpirun -np 2 bit for bit (1 BLAS thread per rank)" launch_path srun
check "the same on the mpirun-inside-the-allocation path" launch_path mpirun

# The time limit's signal by hand: scancel --batch --signal=TERM reaches the batch script as a
# time limit's --signal=B:TERM does.
signal_requeue() {
  local job
  job=$(submit "$work/term.log" -- train "${long[@]}" --out "$work/term") || return 1
  wait_for 60 test -f "$work/term/checkpoint.safetensors" || { cat "$work/term.log"; return 1; }
  scancel --batch --signal=TERM "$job"
  finish "$job" 300
  local rc=$?
  cat "$work/term.log"
  [ "$rc" -eq 0 ] && [ "$(restarts "$job")" -eq 1 ] || return 1
  grep -q "SIGTERM: stopped after step" "$work/term.log" && grep -q "requeued job $job" "$work/term.log" &&
    grep -q "resuming at step" "$work/term.log" && same_run "$work/term" "$work/long-mpirun"
}
check "scancel --batch --signal=TERM mid-run: checkpoint, exit 5, requeued, resumed, finished: the uninterrupted model and metrics.csv" signal_requeue

# A real time limit, as a user sets it: the script's #SBATCH lines edited to a 1-minute limit and
# a 40 s lead, a run of about 50 s of training: each run trains about 20 s, stops (Slurm's
# warning or the script's own timer, whichever comes first), requeues, and the last one finishes.
limited="$work/limited.sbatch"
sed -e 's/^#SBATCH --time=.*/#SBATCH --time=1/' -e 's/^#SBATCH --signal=.*/#SBATCH --signal=B:TERM@40/' \
  "$root/scripts/slurm.sbatch" > "$limited"
longer=(--hidden 256,128 --batch-norm --epochs 140 --train-limit 20000 --quiet --no-report)
"${MPIRUN[@]}" -np 2 "$DPTRAIN" train "${longer[@]}" --blas-threads 1 --out "$work/longer-mpirun" > /dev/null
# limit_requeue NAME SBATCH-OPTIONS...: the longer run under the 1-minute script.
limit_requeue() {
  local name="$1" job
  shift
  job=$(SUBMIT_SCRIPT="$limited" submit "$work/$name.log" --time=1 "$@" -- train "${longer[@]}" --out "$work/$name") || return 1
  finish "$job" 600
  local rc=$? requeued
  requeued="$(restarts "$job")"
  cat "$work/$name.log"
  [ "$rc" -eq 0 ] && [ "$requeued" -ge 2 ] || return 1
  [ "$(grep -c "the ranks stop in" "$work/$name.log")" -eq "$((requeued + 1))" ] &&
    [ "$(grep -c "SIGTERM: stopped after step" "$work/$name.log")" -eq "$requeued" ] &&
    same_run "$work/$name" "$work/longer-mpirun"
}
check "a real time limit (--time=1, --signal=B:TERM@40 in the script): every run checkpoints 40 s before its limit, requeues, and the last finishes: the uninterrupted model and metrics.csv" limit_requeue limit
# Slurm's own warning made late (sbatch --signal=B:TERM@2 overrides the script's line; the
# script does not see it): the script's timer, still at 40 s, is what stops each run.
own_timer() {
  limit_requeue own-timer --signal=B:TERM@2 || return 1
  [ "$(grep -c "40 s before the time limit: the ranks checkpoint and stop" "$work/own-timer.log")" -ge 2 ]
}
check "with Slurm's warning late (--signal=B:TERM@2), the script's own timer stops every run at 40 s before its limit, to the same model" own_timer
# A limit no longer than the lead cannot stop in time: refused at the start, before any rank.
short_limit() {
  local job
  job=$(submit "$work/short.log" --time=1 -- train "${small[@]}" --out "$work/short") || return 1
  local ended
  ended="$(finish "$job" 60)"
  echo "$ended"
  cat "$work/short.log"
  grep -q ": FAILED, exit 64:0," <<<"$ended" && grep -q "lengthen --time or shorten the --signal lead" "$work/short.log" && [ ! -e "$work/short" ]
}
check "a time limit shorter than the script's 120 s lead (--time=1): exit 64 at the start naming both, nothing run" short_limit

cat > "$work/sweep.yaml" <<'EOF'
seed: 2
base: { hidden: "256,128", batch-norm: true, train-limit: 20000, validation: 2000, epochs: 6 }
search:
  lambda: { log_uniform: [1.0e-5, 1.0e-3] }
strategy: { kind: random, trials: 4 }
EOF
sweep_requeue() {
  "${MPIRUN[@]}" -np 2 "$DPTRAIN" sweep "$work/sweep.yaml" --out "$work/sweep-mpirun" --blas-threads 1 --quiet --no-report > /dev/null || return 1
  local job
  job=$(submit "$work/sweep.log" -- sweep "$work/sweep.yaml" --out "$work/sweep" --no-report) || return 1
  wait_for 60 exists "$work/sweep/checkpoints/trial-*/checkpoint.safetensors"
  scancel --batch --signal=TERM "$job"
  finish "$job" 300
  local rc=$?
  cat "$work/sweep.log"
  [ "$rc" -eq 0 ] && [ "$(restarts "$job")" -eq 1 ] && grep -q "requeued job $job" "$work/sweep.log" || return 1
  diff <("$DPTRAIN" top "$work/sweep" -k 4) <("$DPTRAIN" top "$work/sweep-mpirun" -k 4)
}
check "a sweep: the signal mid-trial checkpoints, requeues and finishes with the uninterrupted sweep's table" sweep_requeue

# scancel JOB (a cancel: the ranks checkpoint on its SIGTERM) ends the job without a requeue; the
# same command submitted again continues, and after its ranks are killed outright (SIGKILL, as a
# node's crash) once more; a submission after the run finished does nothing.
cancel_kill_resubmit() {
  local job
  job=$(submit "$work/cancel.log" -- train "${long[@]}" --out "$work/kill") || return 1
  wait_for 60 test -f "$work/kill/checkpoint.safetensors" || { cat "$work/cancel.log"; return 1; }
  scancel "$job"
  finish "$job" 60
  cat "$work/cancel.log"
  [ "$(restarts "$job")" -eq 0 ] && grep -q "not requeued" "$work/cancel.log" && [ ! -f "$work/kill/summary.json" ] || return 1
  job=$(submit "$work/kill.log" -- train "${long[@]}" --out "$work/kill") || return 1
  wait_for 60 grep -qs "resuming at step" "$work/kill.log"
  sleep 1
  pkill -9 -f -- "dptrain train --resume $work/kill" || { echo "no rank to kill"; cat "$work/kill.log"; return 1; }
  finish "$job" 60
  cat "$work/kill.log"
  [ ! -f "$work/kill/summary.json" ] || { echo "the run finished before the kill"; return 1; }
  job=$(submit "$work/kill2.log" -- train "${long[@]}" --out "$work/kill") || return 1
  finish "$job" 300 || { cat "$work/kill2.log"; return 1; }
  cat "$work/kill2.log"
  grep -q "resuming at step" "$work/kill2.log" && same_run "$work/kill" "$work/long-mpirun" || return 1
  job=$(submit "$work/kill3.log" -- train "${long[@]}" --out "$work/kill") || return 1
  finish "$job" 60 && grep -q "has finished; nothing to do" "$work/kill3.log" && same_run "$work/kill" "$work/long-mpirun"
}
check "scancel JOB ends the job without a requeue; submitted again it continues, its ranks killed (SIGKILL) it continues once more, to the uninterrupted model; a finished run is not rerun" cancel_kill_resubmit

echo "slurm: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
