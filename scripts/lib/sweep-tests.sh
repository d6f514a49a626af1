#!/usr/bin/env bash
# Sweep checks with the release binary, as one process and under real mpirun. Usage:
# sweep-tests.sh PATH/TO/dptrain. Prints one line per check and "N passed, N failed"; exits 1
# if any failed.
set -uo pipefail
DPTRAIN="$1"
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
source "$here/checks.sh"
use_mpirun
CHECK_FIGURES="trials in|^1 |killed after|resumed:"

# sql DB QUERY: prints the rows, '|'-separated
sql() {
  python3 - "$1" "$2" <<'PY'
import sqlite3, sys
for row in sqlite3.connect(sys.argv[1]).execute(sys.argv[2]):
    print('|'.join('' if v is None else str(v) for v in row))
PY
}

# A small random search: 6 trials of 784-20-10, 1 epoch on 2,000 samples.
cat > "$work/small.yaml" <<'EOF'
seed: 3
base: { hidden: "20", train-limit: 2000, validation: 500, epochs: 1, batch-size: 50 }
search:
  eta: { log_uniform: [1.0e-3, 5.0e-2] }
  lambda: { log_uniform: [1.0e-6, 1.0e-2] }
strategy: { kind: random, trials: 6 }
EOF

echo "==> sweeps"

# matches_train DB TRIAL RANKS: the trial's stored metrics equal those of `dptrain train` with the
# stored options (which name the BLAS threads) on RANKS ranks, to the last bit.
matches_train() {
  local db="$1" id="$2" ranks="$3"
  local args
  args="$(sql "$db" "SELECT arguments_json FROM trial WHERE id = $id" | python3 -c 'import json,sys; print("\n".join(json.load(sys.stdin)))')"
  mapfile -t argv <<<"$args"
  local out="$work/train-$id-$ranks"
  if [ "$ranks" -eq 1 ]; then
    "$DPTRAIN" train "${argv[@]}" --quiet --out "$out" >/dev/null
  else
    "${MPIRUN[@]}" -np "$ranks" "$DPTRAIN" train "${argv[@]}" --quiet --out "$out" >/dev/null
  fi
  python3 - "$db" "$id" "$out/metrics.csv" <<'PY'
import csv, sqlite3, sys
db, tid, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
stored = sqlite3.connect(db).execute(
    "SELECT step, train_cost, train_accuracy, val_cost, val_loss, val_accuracy FROM trial_metric WHERE trial = ? ORDER BY step", (tid,)).fetchall()
rows = list(csv.DictReader(open(path)))
mine = [(int(r['step']), float(r['train_cost']), float(r['train_accuracy']), float(r['val_cost']), float(r['val_loss']), float(r['val_accuracy'])) for r in rows]
assert stored, 'no metrics stored for trial %d' % tid
for a, b in zip(stored, mine):
    # metrics.csv prints every digit (shortest round-trip form): equal to the last bit
    assert a == b, ('trial %d differs from dptrain train' % tid, a, b)
assert len(stored) == len(mine), (len(stored), len(mine))
print('trial %d = dptrain train: %d metrics rows, val_accuracy %s' % (tid, len(mine), mine[-1][5]))
PY
}

d3="$work/np3"
check "mpirun -np 3 sweep: every trial finishes, on several ranks" bash -c "
  ${MPIRUN[*]} -np 3 '$DPTRAIN' sweep '$work/small.yaml' --out '$d3' > '$work/np3.txt' 2>&1 || { cat '$work/np3.txt'; exit 1; }
  cat '$work/np3.txt'
  test \"\$(python3 -c \"import sqlite3; print(sqlite3.connect('$d3/sweep.sqlite').execute(\\\"SELECT count(*) FROM trial WHERE status = 'finished'\\\").fetchone()[0])\")\" = 6
  test \"\$(python3 -c \"import sqlite3; print(len(set(r[0] for r in sqlite3.connect('$d3/sweep.sqlite').execute('SELECT ranks FROM trial'))))\")\" -ge 2"
for id in 1 4; do
  check "trial $id of the 3-rank sweep = dptrain train with its options and seed" matches_train "$d3/sweep.sqlite" "$id" 1
done
check "the same sweep on one process (1 BLAS thread, as each of the 3 ranks) gives the same table" bash -c "
  '$DPTRAIN' sweep '$work/small.yaml' --out '$work/np1' --quiet --blas-threads 1 > /dev/null &&
  diff <('$DPTRAIN' top '$d3' -k 6) <('$DPTRAIN' top '$work/np1' -k 6)"

check "sweep --ranks-per-trial 2 on 4 ranks: two groups of 2 ranks train the trials" bash -c "
  ${MPIRUN[*]} -np 4 '$DPTRAIN' sweep '$work/small.yaml' --out '$work/g2' --ranks-per-trial 2 > '$work/g2.txt' 2>&1 || { cat '$work/g2.txt'; exit 1; }
  grep -q '2 group(s) of 2' '$work/g2.txt'
  test \"\$(python3 -c \"import sqlite3; print(sorted(set(r[0] for r in sqlite3.connect('$work/g2/sweep.sqlite').execute('SELECT ranks FROM trial'))))\")\" = \"['0,1', '2,3']\""
check "a trial of the 2-rank groups = dptrain train on 2 ranks with its options and seed" matches_train "$work/g2/sweep.sqlite" 2 2
# Groups follow the work: successive halving 2 -> 1 on 2 ranks, then a final retraining. The
# first rung trains on groups of one rank; the rung of one configuration and the final run train
# on both ranks; the rung-1 trial equals `mpirun -np 2 dptrain train` with its stored options.
cat > "$work/halving.yaml" <<'EOF'
seed: 2
base: { hidden: "20", train-limit: 2000, validation: 500, batch-size: 50 }
search:
  eta: { log_uniform: [1.0e-3, 5.0e-2] }
strategy: { kind: successive-halving, trials: 2, min_budget: 1, max_budget: 2, reduction: 2 }
final: { validation: 500, epochs: 1 }
EOF
check "groups follow the work: on 2 ranks, the rung of one trial and the final run train on both ranks; each rank's time is stored and shown" bash -c "
  ${MPIRUN[*]} -np 2 '$DPTRAIN' sweep '$work/halving.yaml' --out '$work/halving' > '$work/halving.txt' 2>&1 || { cat '$work/halving.txt'; exit 1; }
  grep -q '^groups: 1 of 2 rank(s)' '$work/halving.txt' && grep -qE '^busy: rank 0 [0-9.]+%, rank 1 [0-9.]+% of [0-9.]+ s; the sweep [0-9.]+%' '$work/halving.txt' || { cat '$work/halving.txt'; exit 1; }
  grep -qE '^time per rank: rank 0 [0-9.]+ s in trials \([0-9.]+ s of them in collectives\), [0-9.]+ s coordinating, [0-9.]+ s idle; rank 1 [0-9.]+ s in trials' '$work/halving.txt' || { cat '$work/halving.txt'; exit 1; }
  '$DPTRAIN' sweep-status '$work/halving' > '$work/halving-status.txt' && grep -qE '^time per rank: rank 0 ' '$work/halving-status.txt' || exit 1
  python3 -c \"
import sqlite3
rows = sqlite3.connect('$work/halving/sweep.sqlite').execute('SELECT id, round, ranks FROM trial ORDER BY id').fetchall()
print(rows)
assert [r for r in rows if r[1] == 0] and all(r[2] in ('0', '1') for r in rows if r[1] == 0), rows
assert len([r for r in rows if r[1] != 0]) == 2 and all(r[2] == '0,1' for r in rows if r[1] != 0), rows
# Both ranks trained the 2-rank trials: each waited in their collectives, part of its trial time.
times = sqlite3.connect('$work/halving/sweep.sqlite').execute('SELECT rank, trials, collectives FROM rank_time ORDER BY rank').fetchall()
print('collectives:', times)
assert len(times) == 2 and all(0 < c < t for _, t, c in times), times
\""
check "the rung-1 trial, trained on 2 ranks, = mpirun -np 2 dptrain train with its options" matches_train "$work/halving/sweep.sqlite" 3 2
# On 4 ranks: rung 0's 2 trials on 2 groups of 2, rung 1's lone trial on all 4 ranks.
check "groups follow the work on 4 ranks: rung 0 on 2 groups of 2, the lone rung-1 trial on all 4" bash -c "
  ${MPIRUN[*]} -np 4 '$DPTRAIN' sweep '$work/halving.yaml' --out '$work/halving4' > '$work/halving4.txt' 2>&1 || { cat '$work/halving4.txt'; exit 1; }
  python3 -c \"
import sqlite3
rows = sqlite3.connect('$work/halving4/sweep.sqlite').execute('SELECT id, round, ranks FROM trial ORDER BY id').fetchall()
print(rows)
assert sorted(r[2] for r in rows if r[1] == 0) == ['0,1', '2,3'], rows
assert [r[2] for r in rows if r[1] != 0] == ['0,1,2,3', '0,1,2,3'], rows
\""
check "the rung-1 trial, trained on 4 ranks, = mpirun -np 4 dptrain train with its options" matches_train "$work/halving4/sweep.sqlite" 3 4

check "--ranks-per-trial that does not divide the ranks: error naming the flag" bash -c "
  ! ${MPIRUN[*]} -np 3 '$DPTRAIN' sweep '$work/small.yaml' --out '$work/bad-g' --ranks-per-trial 2 > '$work/bad-g.txt' 2>&1
  grep -q -- '--ranks-per-trial 2 must divide' '$work/bad-g.txt'"

# Diverged and failed trials are recorded; the sweep goes on.
cat > "$work/faulty.yaml" <<'EOF'
seed: 1
base: { hidden: "20", train-limit: 2000, validation: 500, epochs: 1, momentum: 0.9 }
search:
  eta: { grid: [0.01, 1.0e+6] }
  batch-size: { grid: [100, 5000] }
strategy: grid
EOF
check "a diverged trial and a failed trial are recorded, and the sweep goes on" bash -c "
  ${MPIRUN[*]} -np 2 '$DPTRAIN' sweep '$work/faulty.yaml' --out '$work/faulty' > '$work/faulty.txt' 2>&1 || { cat '$work/faulty.txt'; exit 1; }
  cat '$work/faulty.txt'
  test \"\$(python3 -c \"import sqlite3; print(sorted(r[0] for r in sqlite3.connect('$work/faulty/sweep.sqlite').execute('SELECT status FROM trial')))\")\" = \"['diverged', 'failed', 'failed', 'finished']\"
  python3 -c \"import sqlite3; e = sqlite3.connect('$work/faulty/sweep.sqlite').execute(\\\"SELECT error FROM trial WHERE status = 'failed'\\\").fetchone()[0]; print(e); assert 'batch-size 5000' in e\"
  python3 -c \"import sqlite3; s = sqlite3.connect('$work/faulty/sweep.sqlite').execute(\\\"SELECT diverged_at_step FROM trial WHERE status = 'diverged'\\\").fetchone()[0]; assert s >= 1\""

# Kill half-way, resume: nothing finished runs again, and the table is an uninterrupted run's.
cat > "$work/resume.yaml" <<'EOF'
seed: 5
base: { hidden: "50", train-limit: 12000, validation: 1000, epochs: 3, batch-size: 50 }
search:
  eta: { log_uniform: [1.0e-3, 5.0e-2] }
  lambda: { log_uniform: [1.0e-6, 1.0e-2] }
strategy: { kind: coarse-to-fine, stages: 2, trials: 6, top_k: 2 }
final: { validation: 1000, epochs: 1 }
EOF
# kill_when DIR QUERY N PID SPEC: waits (up to 60 s) until QUERY on DIR's store counts N or more,
# then kills the sweep PID and every process running SPEC (SIGKILL).
kill_when() {
  local dir="$1" query="$2" minimum="$3" pid="$4" spec="$5"
  for _ in $(seq 1200); do
    sleep 0.05
    [ -f "$dir/sweep.sqlite" ] || continue
    n="$(sql "$dir/sweep.sqlite" "$query" 2>/dev/null || echo 0)"
    [ "${n:-0}" -ge "$minimum" ] && break
  done
  kill -9 "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  pkill -9 -f "sweep $spec" 2>/dev/null
  sleep 0.2
}
# kill_and_resume LAUNCHER...: starts the sweep, kills it (SIGKILL) once 4 trials are done,
# resumes it with the same launcher, and compares with an uninterrupted sweep by the same
# launcher (the same BLAS threads per rank: OpenBLAS rounds differently with another count).
kill_and_resume() {
  local dir="$work/resume-$#"
  rm -rf "$dir"
  "$@" "$DPTRAIN" sweep "$work/resume.yaml" --out "$dir" > "$work/killed.txt" 2>&1 &
  local pid=$!
  kill_when "$dir" "SELECT count(*) FROM trial WHERE status = 'finished'" 4 "$pid" "$work/resume.yaml"
  local before
  before="$(sql "$dir/sweep.sqlite" "SELECT id, finished, attempts FROM trial WHERE status = 'finished' ORDER BY id")"
  echo "killed after $(wc -l <<<"$before") finished trial(s)"
  [ "$(wc -l <<<"$before")" -ge 4 ] || return 1
  # (a count, not `sql | grep -q`: grep leaving early breaks the pipe, and pipefail would see it)
  [ "$(sql "$dir/sweep.sqlite" "SELECT count(*) FROM trial WHERE status IN ('queued', 'running')")" -gt 0 ] || { echo "the sweep ended before the kill"; return 1; }
  "$@" "$DPTRAIN" sweep "$work/resume.yaml" --out "$dir" --resume > "$work/resumed.txt" 2>&1 || { cat "$work/resumed.txt"; return 1; }
  grep -E "resuming" "$work/resumed.txt" | sed 's/^/resumed: /'
  # Every trial finished before the kill is untouched: same finish time, one attempt.
  local after
  after="$(sql "$dir/sweep.sqlite" "SELECT id, finished, attempts FROM trial WHERE id IN ($(cut -d'|' -f1 <<<"$before" | paste -sd,)) ORDER BY id")"
  [ "$before" = "$after" ] || { echo "finished trials changed on resume:"; diff <(echo "$before") <(echo "$after"); return 1; }
  [ "$(sql "$dir/sweep.sqlite" "SELECT count(*) FROM trial WHERE status != 'finished'")" = 0 ] || return 1
  "$@" "$DPTRAIN" sweep "$work/resume.yaml" --out "$work/uninterrupted-$#" --quiet > /dev/null
  diff <("$DPTRAIN" top "$dir" -k 12) <("$DPTRAIN" top "$work/uninterrupted-$#" -k 12)
}
check "kill -9 a one-process sweep half-way, resume: no finished trial re-run, the table of an uninterrupted sweep" kill_and_resume env
check "kill -9 mpirun -np 2 half-way, resume: no finished trial re-run, the table of an uninterrupted sweep" kill_and_resume "${MPIRUN[@]}" -np 2

# ASHA: killed (SIGKILL) once a promotion is stored and trials are still to run, then resumed:
# no finished trial runs again and every stored promotion is kept (its rung's plan starts with
# the same promotions). The table is not compared with an uninterrupted sweep: ASHA's choices
# depend on the order in which trials finish.
cat > "$work/asha.yaml" <<'EOF'
seed: 4
base: { hidden: "30", train-limit: 6000, validation: 1000, batch-size: 50 }
search:
  eta: { log_uniform: [1.0e-3, 5.0e-2] }
  lambda: { log_uniform: [1.0e-6, 1.0e-2] }
strategy: { kind: asha, trials: 9, min_budget: 1, max_budget: 4, reduction: 2 }
final: { validation: 1000, epochs: 1 }
EOF
# promotions DB: each rung above 0 with its configurations' (key, promotedFrom), one line per rung
promotions() {
  sql "$1" "SELECT idx, plan_json FROM round WHERE idx > 0 ORDER BY idx" | python3 -c '
import json, sys
for line in sys.stdin:
    idx, plan = line.rstrip("\n").split("|", 1)
    print(idx, [(c["key"], c.get("promotedFrom")) for c in json.loads(plan)["configurations"]])'
}
kill_asha() {
  local dir="$work/asha-killed"
  rm -rf "$dir"
  "${MPIRUN[@]}" -np 2 "$DPTRAIN" sweep "$work/asha.yaml" --out "$dir" > "$work/asha-killed.txt" 2>&1 &
  local pid=$!
  kill_when "$dir" "SELECT count(*) FROM trial WHERE round = 1" 2 "$pid" "$work/asha.yaml"
  local before stored
  before="$(sql "$dir/sweep.sqlite" "SELECT id, finished, attempts FROM trial WHERE status = 'finished' ORDER BY id")"
  stored="$(promotions "$dir/sweep.sqlite")"
  echo "killed after $(wc -l <<<"$before") finished trial(s); stored promotions: $(tr '\n' ' ' <<<"$stored")"
  grep -q "^1 \[(0, " <<<"$stored" || { echo "no promotion stored before the kill"; return 1; }
  [ "$(sql "$dir/sweep.sqlite" "SELECT count(*) FROM trial WHERE status IN ('queued', 'running')")" -gt 0 ] || { echo "the sweep ended before the kill"; return 1; }
  "${MPIRUN[@]}" -np 2 "$DPTRAIN" sweep "$work/asha.yaml" --out "$dir" --resume > "$work/asha-resumed.txt" 2>&1 || { cat "$work/asha-resumed.txt"; return 1; }
  grep -E "resuming|^sweep finished" "$work/asha-resumed.txt" | sed 's/^/resumed: /'
  local after
  after="$(sql "$dir/sweep.sqlite" "SELECT id, finished, attempts FROM trial WHERE id IN ($(cut -d'|' -f1 <<<"$before" | paste -sd,)) ORDER BY id")"
  [ "$before" = "$after" ] || { echo "finished trials changed on resume:"; diff <(echo "$before") <(echo "$after"); return 1; }
  [ "$(sql "$dir/sweep.sqlite" "SELECT count(*) FROM trial WHERE status != 'finished'")" = 0 ] || return 1
  # Every stored promotion is still there, first in its rung, with the same key and source.
  python3 - "$stored" "$(promotions "$dir/sweep.sqlite")" <<'PY' || return 1
import ast, sys
def parse(text):
    return {line.split(" ", 1)[0]: ast.literal_eval(line.split(" ", 1)[1]) for line in text.splitlines() if line}
before, after = parse(sys.argv[1]), parse(sys.argv[2])
for rung, made in before.items():
    assert after[rung][:len(made)] == made, (rung, made, after[rung])
print("resumed: promotions kept:", {r: len(m) for r, m in before.items()}, "-> now", {r: len(m) for r, m in after.items()})
PY
  local top
  top="$("$DPTRAIN" top "$dir" -k 3)"
  grep -q "rung 2 (4 epochs)" <<<"$top" || { echo "$top"; return 1; }
}
check "kill -9 mpirun -np 2 mid-ASHA, resume: no finished trial re-run, every stored promotion kept, the sweep reaches the top rung" kill_asha

# An interrupted trial continues from its own checkpoint (written at each of its epochs' ends).
cat > "$work/long.yaml" <<'EOF'
seed: 2
base: { hidden: "256,128", batch-norm: true, train-limit: 20000, validation: 2000, epochs: 6 }
search:
  lambda: { log_uniform: [1.0e-5, 1.0e-3] }
strategy: { kind: random, trials: 2 }
EOF
trial_checkpoint() {
  "$DPTRAIN" sweep "$work/long.yaml" --out "$work/long-a" --quiet --blas-threads 1 --no-report > /dev/null || return 1
  "$DPTRAIN" sweep "$work/long.yaml" --out "$work/long-b" --blas-threads 1 --no-report > /dev/null 2>&1 &
  local pid=$!
  wait_for 30 test -f "$work/long-b/checkpoints/trial-2/checkpoint.safetensors"
  kill -9 "$pid"
  wait "$pid" 2>/dev/null
  "$DPTRAIN" sweep "$work/long.yaml" --out "$work/long-b" --resume --blas-threads 1 --no-report > "$work/long.txt" || return 1
  cat "$work/long.txt"
  grep -qE "^\[2 done, 0 running, 0 queued\] #2 val_accuracy [0-9.]+, continued from its checkpoint at step [1-9][0-9]*" "$work/long.txt" || return 1
  diff <("$DPTRAIN" top "$work/long-a" -k 2) <("$DPTRAIN" top "$work/long-b" -k 2) && [ -z "$(ls -A "$work/long-b/checkpoints")" ]
}
check "a trial interrupted mid-way continues from its own checkpoint on resume, to the uninterrupted result" trial_checkpoint

# fault_rank SIGNAL RANK: mpirun -np 2 running the long sweep, rank RANK sent SIGNAL once a trial
# has checkpointed: KILL ends the job within seconds (mpirun sees the exit); STOP ends it by the
# stall watchdog (--stall-timeout 5, status 6), found by the other rank's heartbeats or its
# watchdog. Nothing is left, and --resume continues the interrupted trials from their checkpoints
# to the uninterrupted 2-rank table.
fault_rank() {
  local signal="$1" victim="$2" dir="$work/fault-$1-$2"
  local stall=()
  [ "$signal" = STOP ] && stall=(--stall-timeout 5)
  [ -f "$work/long-2a/sweep.sqlite" ] ||
    "${MPIRUN[@]}" -np 2 "$DPTRAIN" sweep "$work/long.yaml" --out "$work/long-2a" --quiet --blas-threads 1 --no-report > /dev/null || return 1
  "${MPIRUN[@]}" -np 2 "$DPTRAIN" sweep "$work/long.yaml" --out "$dir" --blas-threads 1 --no-report "${stall[@]}" > "$work/fault.txt" 2>&1 &
  local job=$!
  wait_for 30 exists "$dir/checkpoints/trial-*/checkpoint.safetensors"
  local pid start
  pid="$(rank_pid "--out $dir" "$victim")"
  [ -n "$pid" ] || { echo "rank $victim not found"; kill "$job"; return 1; }
  start=$(date +%s.%N)
  kill "-$signal" "$pid"
  wait "$job"
  local rc=$? elapsed
  elapsed=$(seconds_since "$start")
  sleep 0.5
  echo "rank $victim sent SIG$signal: mpirun exited $rc after $elapsed s"
  [ "$rc" -ne 0 ] && python3 -c "assert $elapsed < 30" || { cat "$work/fault.txt"; return 1; }
  if [ "$signal" = STOP ]; then
    grep -E "^dptrain: rank [01] of 2 .*stalled" "$work/fault.txt" | sed 's/^/stalled: /'
    # Rank 0 hears nothing from a stopped rank 1 while it trains its own trial; rank 1, whose
    # trial needs no other rank, hears nothing from a stopped rank 0, or waits for it to take its
    # report.
    local expected="^dptrain: rank 0 of 2 \(host .*\) stalled: no word from rank 1 for 5\.[0-9] s, while it works on trial #[12] \(stall timeout 5\.0 s\); ending the job \(exit status 6\)"
    [ "$victim" = 0 ] && expected="^dptrain: rank 1 of 2 \(host .*\) stalled: (no word from rank 0 \(the coordinator\)|no progress for 5\.[0-9] s in sending the trial's report to rank 0).*exit status 6.*dptrain sweep $work/long.yaml --out $dir --resume"
    [ "$rc" -eq 6 ] && grep -qE "$expected" "$work/fault.txt" || { cat "$work/fault.txt"; return 1; }
  fi
  pgrep -f -- "--out $dir" && { echo "processes left behind"; return 1; }
  [ "$(sql "$dir/sweep.sqlite" "SELECT count(*) FROM trial WHERE status != 'finished'")" -gt 0 ] || { echo "the sweep ended before the fault"; return 1; }
  "${MPIRUN[@]}" -np 2 "$DPTRAIN" sweep "$work/long.yaml" --out "$dir" --resume --blas-threads 1 --no-report > "$work/kw.txt" 2>&1 || { cat "$work/kw.txt"; return 1; }
  grep -E "continued from its checkpoint" "$work/kw.txt" | sed 's/^/resumed: /'
  diff <("$DPTRAIN" top "$dir" -k 2) <("$DPTRAIN" top "$work/long-2a" -k 2)
}
# term_sweep: SIGTERM to mpirun -np 2 during the long sweep's trials (Open MPI passes it to the
# ranks about 1 s later and kills them 1 s after that): every running trial stops at its next
# step and writes its checkpoint, the ranks exit with status 5, and --resume continues those
# trials to the uninterrupted 2-rank table.
term_sweep() {
  local dir="$work/fault-term"
  [ -f "$work/long-2a/sweep.sqlite" ] ||
    "${MPIRUN[@]}" -np 2 "$DPTRAIN" sweep "$work/long.yaml" --out "$work/long-2a" --quiet --blas-threads 1 --no-report > /dev/null || return 1
  "${MPIRUN[@]}" -np 2 "$DPTRAIN" sweep "$work/long.yaml" --out "$dir" --blas-threads 1 --no-report > "$work/term.txt" 2>&1 &
  local job=$!
  wait_for 30 exists "$dir/checkpoints/trial-*/checkpoint.safetensors"
  kill -TERM "$job"
  wait "$job"
  echo "term: mpirun exited $? ($(grep -c . "$work/term.txt") lines)"
  grep "SIGTERM" "$work/term.txt" || { cat "$work/term.txt"; return 1; }
  sleep 0.5
  pgrep -f -- "--out $dir" && { echo "processes left behind"; return 1; }
  [ "$(sql "$dir/sweep.sqlite" "SELECT status FROM sweep")" = interrupted ] || return 1
  "${MPIRUN[@]}" -np 2 "$DPTRAIN" sweep "$work/long.yaml" --out "$dir" --resume --blas-threads 1 --no-report > "$work/term2.txt" 2>&1 || { cat "$work/term2.txt"; return 1; }
  grep -q "continued from its checkpoint at step" "$work/term2.txt" || { cat "$work/term2.txt"; return 1; }
  diff <("$DPTRAIN" top "$dir" -k 2) <("$DPTRAIN" top "$work/long-2a" -k 2)
}
CHECK_FIGURES="$CHECK_FIGURES|^rank [01] sent SIG|^resumed: |^term: |^SIGTERM: |^stalled: "
check "kill -9 of a worker rank mid-trial: ends within seconds, nothing left, resume continues its trial to the uninterrupted table" fault_rank KILL 1
check "kill -9 of rank 0 (the coordinator) mid-trial: the same" fault_rank KILL 0
check "kill -STOP of a worker rank mid-trial (--stall-timeout 5): rank 0 names it, status 6, nothing left, resume reaches the uninterrupted table" fault_rank STOP 1
check "kill -STOP of rank 0 (the coordinator) mid-trial: rank 1 ends the sweep with status 6; the same" fault_rank STOP 0
check "SIGTERM to mpirun -np 2 during a sweep: running trials checkpoint and stop, nothing left, resume continues them to the uninterrupted table" term_sweep

check "--resume with another spec is refused, naming both" bash -c "
  ! '$DPTRAIN' sweep '$work/small.yaml' --out '$work/uninterrupted-1' --resume > '$work/other.txt' 2>&1
  grep -q 'is not the spec' '$work/other.txt'"
check "a second sweep into the same --out is refused" bash -c "
  ! '$DPTRAIN' sweep '$work/resume.yaml' --out '$work/uninterrupted-1' > '$work/again.txt' 2>&1
  grep -q 'already holds a sweep' '$work/again.txt'"
check "sweep-status: counts by status, rounds, best so far; --csv exports every trial" bash -c "
  '$DPTRAIN' sweep-status '$work/uninterrupted-1' --csv '$work/trials.csv' > '$work/status.txt'
  cat '$work/status.txt'
  grep -q '^trials: 0 queued, 0 running, 12 finished, 0 diverged, 0 failed' '$work/status.txt'
  grep -q 'round 2 (stage 2 of 2): 6/6 done' '$work/status.txt'
  grep -q '^best so far: val_accuracy 0\.' '$work/status.txt'
  test \$(wc -l < '$work/trials.csv') -eq 14"
check "top -k 3 prints 3 ranked rows and the final run's test accuracy; --csv writes them" bash -c "
  '$DPTRAIN' top '$work/uninterrupted-1' -k 3 --csv '$work/top.csv' > '$work/top.txt'
  cat '$work/top.txt'
  grep -qE '^3 ' '$work/top.txt' && ! grep -qE '^4 ' '$work/top.txt'
  grep -q 'final run.*test accuracy 0\.[0-9]' '$work/top.txt'
  test \$(wc -l < '$work/top.csv') -eq 4"
check "the sweep writes report.html: scatter by stage, parallel coordinates, best curves, timeline of ranks" bash -c "
  python3 - '$work/uninterrupted-1/report.html' <<'PY'
import sys, xml.dom.minidom
doc = xml.dom.minidom.parse(sys.argv[1])
charts = {s.getAttribute('data-chart'): s for s in doc.getElementsByTagName('svg') if s.getAttribute('data-chart')}
assert charts['search-scatter'].getAttribute('data-points') == '12' and charts['search-scatter'].getAttribute('data-series') == '2', 'two stages of 6'
assert charts['parallel-coordinates'].getAttribute('data-points') == '3', 'eta, lambda and the metric'
assert charts['best-curves'].getAttribute('data-series') == '5'
assert charts['timeline'].getAttribute('data-points') == '13', '12 trials and the final run'
print('sweep report charts:', ', '.join(sorted(charts)))
PY"
check "spec errors name the field" bash -c "
  printf 'base: { hidden: \"20\" }\nsearch:\n  eta: { log_uniform: [0.1, 0.01] }\nstrategy: { kind: random, trials: 2 }\n' > '$work/bad.yaml'
  ! '$DPTRAIN' sweep '$work/bad.yaml' --out '$work/bad' > '$work/bad.txt' 2>&1
  cat '$work/bad.txt'; grep -q 'search.eta' '$work/bad.txt'
  printf 'base: { hidden: \"20\", momentum: 1.5 }\nsearch:\n  eta: { log_uniform: [0.001, 0.01] }\nstrategy: { kind: random, trials: 2 }\n' > '$work/bad2.yaml'
  ! '$DPTRAIN' sweep '$work/bad2.yaml' --out '$work/bad2' > '$work/bad2.txt' 2>&1
  cat '$work/bad2.txt'; grep -q 'base.*--momentum' '$work/bad2.txt'
  test ! -e '$work/bad2'"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
