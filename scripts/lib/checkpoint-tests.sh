#!/usr/bin/env bash
# Checkpoint and resume with the release binary, as one process and under mpirun: a run killed
# (SIGKILL) after a checkpoint and resumed ends with the model of an uninterrupted run, bit for
# bit. Usage: checkpoint-tests.sh PATH/TO/dptrain. Exits 1 if any check failed.
set -uo pipefail
DPTRAIN="$1"
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/checks.sh"
use_mpirun
CHECK_FIGURES="^killed at step|^SIGTERM: stopped"

echo "==> checkpoints"

args=(--hidden 128,64 --batch-norm --epochs 4 --train-limit 20000 --blas-threads 1 --quiet --no-report)

# kill_resume NAME LAUNCHER...: trains uninterrupted, then again killed with SIGKILL once the
# first checkpoint is on disk, resumes with the same launcher, and compares models and metrics.
kill_resume() {
  local name="$1"
  shift
  local a="$work/$name-a" b="$work/$name-b"
  "$@" "$DPTRAIN" train "${args[@]}" --out "$a" > /dev/null || return 1
  "$@" "$DPTRAIN" train "${args[@]}" --out "$b" > /dev/null 2>&1 &
  local pid=$!
  wait_for 20 test -f "$b/checkpoint.safetensors"
  kill -9 "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  pkill -9 -f -- "--out $b" 2>/dev/null
  sleep 0.2
  [ -f "$b/summary.json" ] && { echo "the run finished before the kill"; return 1; }
  echo "killed at step $(python3 -c "import json,struct; b=open('$b/checkpoint.safetensors','rb').read(); n=struct.unpack('<Q',b[:8])[0]; print(json.loads(b[8:8+n])['__metadata__']['step'])") of 800"
  "$@" "$DPTRAIN" train --resume "$b" --blas-threads 1 --quiet --no-report > "$work/resumed.txt" 2>&1 || { cat "$work/resumed.txt"; return 1; }
  cmp "$a/model.safetensors" "$b/model.safetensors" && diff "$a/metrics.csv" "$b/metrics.csv"
}
check "one process killed after a checkpoint and resumed: the model and metrics of an uninterrupted run, bit for bit" kill_resume one env
check "mpirun -np 2 killed after a checkpoint and resumed on 2 ranks: bit for bit" kill_resume two "${MPIRUN[@]}" -np 2
# The resumed run is given no --gemm: it must take the backend from config.json to match.
plain=("${args[@]}")
args+=(--gemm openblas)
check "--gemm openblas, killed and resumed (the backend read back from config.json): bit for bit" kill_resume one-openblas env
args=("${plain[@]}")
# term_resume NAME LAUNCHER...: like kill_resume, but SIGTERM (what Slurm sends before a time
# limit) once the first epoch's metrics row is written, with no periodic checkpoints: the
# process writes one at the next step boundary and exits with status 5.
term_resume() {
  local name="$1"
  shift
  local a="$work/$name-a" b="$work/$name-b" long=(--hidden 128,64 --batch-norm --epochs 12 --train-limit 20000 --blas-threads 1 --quiet --no-report)
  "$@" "$DPTRAIN" train "${long[@]}" --out "$a" > /dev/null || return 1
  "$@" "$DPTRAIN" train "${long[@]}" --checkpoint-every never --out "$b" > "$work/term.txt" 2>&1 &
  local pid=$!
  for _ in $(seq 400); do [ "$(wc -l < "$b/metrics.csv" 2>/dev/null || echo 0)" -ge 2 ] && break; sleep 0.02; done
  kill -TERM "$pid"
  wait "$pid"
  local status=$?
  cat "$work/term.txt"
  [ -f "$b/summary.json" ] && { echo "the run finished before SIGTERM"; return 1; }
  if [ "$1" = env ]; then
    [ "$status" -eq 5 ] || { echo "exit status $status, expected 5"; return 1; }
  fi
  grep -q "SIGTERM: stopped after step [0-9]* of 2400; checkpoint .*; continue with: dptrain train --resume $b" "$work/term.txt" || return 1
  sleep 0.3
  pgrep -f -- "--out $b" && { echo "processes left behind"; return 1; }
  "$@" "$DPTRAIN" train --resume "$b" --blas-threads 1 --quiet --no-report > /dev/null || return 1
  cmp "$a/model.safetensors" "$b/model.safetensors" && diff "$a/metrics.csv" "$b/metrics.csv"
}
check "SIGTERM to one process: checkpoint at the next step, exit 5, resume bit for bit" term_resume one-term env
check "SIGTERM to mpirun -np 2: every rank stops after the same step, checkpoint written, nothing left, resume bit for bit" term_resume two-term "${MPIRUN[@]}" -np 2
# A disk that fills up mid-run: a 600 KB tmpfs (root only), filled after the first checkpoint.
full="$work/full"
mkdir -p "$full"
if mount -t tmpfs -o size=600k tmpfs "$full" 2>/dev/null; then
  check "disk full mid-run: a clear warning, the previous checkpoint intact, a clear error at the end, resume after making room" bash -c "
    '$DPTRAIN' train --hidden 20 --epochs 30 --train-limit 20000 --checkpoint-every 50 --blas-threads 1 --no-report --out '$full/run' > '$work/full.txt' 2>&1 &
    pid=\$!
    for _ in \$(seq 400); do [ -f '$full/run/checkpoint.safetensors' ] && break; sleep 0.01; done
    dd if=/dev/zero of='$full/fill' bs=1k > /dev/null 2>&1
    wait \$pid && { echo 'expected a failure'; exit 1; }
    grep -v '^epoch' '$work/full.txt'
    grep -q 'checkpoint.safetensors: cannot write the checkpoint (cannot write: No space left on device); the previous checkpoint, if any, is intact' '$work/full.txt'
    grep -q 'model.safetensors: cannot write: No space left on device; the last checkpoint is intact: make room and continue with dptrain train --resume' '$work/full.txt'
    rm '$full/fill'
    '$DPTRAIN' train --resume '$full/run' --blas-threads 1 --no-report --quiet | grep -q 'test accuracy 0\.'"
  umount "$full"
else
  echo "  skip disk-full check: cannot mount a small tmpfs here (needs root)"
  skipped=$((skipped + 1))
fi
# kill_rank RANK: mpirun -np 2 training killed at rank RANK (SIGKILL) after its first checkpoint:
# the job ends within seconds with nothing left, and resuming gives the uninterrupted model.
kill_rank() {
  local victim_rank="$1" b="$work/victim-$1"
  "${MPIRUN[@]}" -np 2 "$DPTRAIN" train "${args[@]}" --checkpoint-every 50 --out "$b" > "$work/victim.txt" 2>&1 &
  local job=$! pid=""
  for _ in $(seq 400); do
    pid="$(rank_pid "--out $b" "$victim_rank")"
    [ -n "$pid" ] && [ -f "$b/checkpoint.safetensors" ] && break
    sleep 0.05
  done
  [ -n "$pid" ] || { echo "rank $victim_rank not found"; kill "$job"; return 1; }
  local start
  start=$(date +%s.%N)
  kill -9 "$pid"
  wait "$job"
  local rc=$?
  local elapsed
  elapsed=$(seconds_since "$start")
  sleep 0.5
  echo "killed rank $victim_rank: mpirun exited $rc after $elapsed s"
  [ "$rc" -ne 0 ] && python3 -c "assert $elapsed < 30" || return 1
  pgrep -f -- "--out $b" && { echo "processes left behind"; return 1; }
  [ -f "$b/summary.json" ] && { echo "the run finished before the kill"; return 1; }
  "${MPIRUN[@]}" -np 2 "$DPTRAIN" train --resume "$b" --blas-threads 1 --quiet --no-report > /dev/null || return 1
  # The uninterrupted 2-rank run of the same options (checkpoints do not change the model).
  cmp "$work/two-a/model.safetensors" "$b/model.safetensors"
}
CHECK_FIGURES="$CHECK_FIGURES|^killed rank"
check "kill -9 rank 0 of mpirun -np 2: ends within seconds, nothing left, resume gives the uninterrupted model" kill_rank 0
check "kill -9 rank 1 of mpirun -np 2: ends within seconds, nothing left, resume gives the uninterrupted model" kill_rank 1

check "a 2-rank checkpoint resumed as one process finishes (the same math, another summation order)" bash -c "
  '$DPTRAIN' train --resume '$work/two-b' --blas-threads 1 --quiet --no-report | grep -q 'test accuracy 0\.'"
check "--resume without a checkpoint, and a bad --checkpoint-every, name the problem" bash -c "
  mkdir -p '$work/empty'
  ! '$DPTRAIN' train --resume '$work/empty' > '$work/e1.txt' 2>&1 && grep -q -- '--resume $work/empty: no config.json' '$work/e1.txt'
  ! '$DPTRAIN' train --checkpoint-every 0 > '$work/e2.txt' 2>&1 && grep -q -- '--checkpoint-every' '$work/e2.txt'"

check "scripts/mpi-train: a missing hostfile, a malformed hostfile line and a bad -np are named (exit 64)" bash -c "
  root='$here/../..'
  \"\$root/scripts/mpi-train\" -np 2 --hostfile '$work/none' -- --epochs 1 > '$work/h1.txt' 2>&1; test \$? -eq 64 && grep -q 'hostfile $work/none: no such readable file' '$work/h1.txt'
  printf 'localhost slots=2\nnode1 slots=two\n' > '$work/hosts'
  \"\$root/scripts/mpi-train\" -np 2 --hostfile '$work/hosts' -- --epochs 1 > '$work/h2.txt' 2>&1; test \$? -eq 64 && grep -q '$work/hosts:2: .node1 slots=two. is not' '$work/h2.txt'
  \"\$root/scripts/mpi-train\" -np zero -- --epochs 1 > '$work/h3.txt' 2>&1; test \$? -eq 64 && grep -q -- '-np zero' '$work/h3.txt'
  grep -v '^#' \"\$root/hostfiles/localhost\" > /dev/null"

check "an output directory that cannot be created, a corrupted config.json or checkpoint: each named, nothing trained" bash -c "
  touch '$work/plain-file'
  ! '$DPTRAIN' train --out '$work/plain-file/run' > '$work/u1.txt' 2>&1 && grep -q '$work/plain-file/run: cannot create the output directory (.*); pass a writable --out DIR' '$work/u1.txt'
  cp -r '$work/one-b' '$work/broken-config' && echo '{\"seed\": ' > '$work/broken-config/config.json'
  ! '$DPTRAIN' train --resume '$work/broken-config' > '$work/u2.txt' 2>&1 && grep -q 'broken-config/config.json: not a dptrain configuration' '$work/u2.txt'
  cp -r '$work/one-b' '$work/broken-ckpt' && head -c 100 '$work/one-b/checkpoint.safetensors' > '$work/broken-ckpt/checkpoint.safetensors'
  ! '$DPTRAIN' train --resume '$work/broken-ckpt' --quiet > '$work/u3.txt' 2>&1 && grep -q 'broken-ckpt/checkpoint.safetensors' '$work/u3.txt'
  cat '$work/u1.txt' '$work/u2.txt' '$work/u3.txt'"

echo "checkpoints: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
