#!/usr/bin/env bash
# The stall watchdog and slow ranks, with the release binary under real mpirun: a rank stopped
# (SIGSTOP) ends the job with the stall status and --resume finishes bit for bit; on two
# simulated hosts (scripts/lib/two-hosts.sh) a link taken down ends the job, and a slow link
# shows as waiting in summary.json and the report; a rank sharing its core with a busy process
# is named. Usage: stall-tests.sh PATH/TO/dptrain. Exits 1 if any check failed.
set -uo pipefail
DPTRAIN="$1"
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/checks.sh"
use_mpirun
CHECK_FIGURES="^(ended|slow rank|waiting)"

echo "==> stalls and slow ranks"

args=(--hidden 256,128 --epochs 8 --train-limit 20000 --blas-threads 1 --quiet --no-report)

stop_one_rank() {
  "${MPIRUN[@]}" -np 2 "$DPTRAIN" train "${args[@]}" --out "$work/uninterrupted" > /dev/null || return 1
  "${MPIRUN[@]}" -np 2 "$DPTRAIN" train "${args[@]}" --stall-timeout 5 --out "$work/stopped" > "$work/stopped.txt" 2>&1 &
  local job=$!
  wait_for 20 test -f "$work/stopped/checkpoint.safetensors" || { echo "no checkpoint"; return 1; }
  local victim start rc elapsed
  victim=$(rank_pid "--out $work/stopped" 1)
  [ -n "$victim" ] || { echo "rank 1 not found"; return 1; }
  start=$(date +%s.%N)
  kill -STOP "$victim"
  wait "$job"
  rc=$?
  elapsed=$(seconds_since "$start")
  cat "$work/stopped.txt"
  echo "ended with status $rc $elapsed s after rank 1 was stopped (--stall-timeout 5)"
  sleep 0.5
  [ "$rc" -eq 6 ] && python3 -c "assert $elapsed < 10" || return 1
  grep -qE "^dptrain: rank 0 of 2 \(host .*\) has made no progress for 2\.[5-9] s in .* at step [0-9]+ of 1600" "$work/stopped.txt" &&
    grep -qE "^dptrain: rank 0 of 2 \(host .*\) stalled: no progress for 5\.[0-9] s in .* at step [0-9]+ of 1600 .*exit status 6.*dptrain train --resume $work/stopped" "$work/stopped.txt" &&
    grep -qE "^dptrain: rank 1 of 2 \(host .*\) was not running for" "$work/stopped.txt" || return 1
  ! pgrep -f -- "--out $work/stopped" > /dev/null || { echo "a process was left"; return 1; }
  "${MPIRUN[@]}" -np 2 "$DPTRAIN" train --resume "$work/stopped" --blas-threads 1 --quiet --no-report || return 1
  cmp "$work/uninterrupted/model.safetensors" "$work/stopped/model.safetensors" && diff "$work/uninterrupted/metrics.csv" "$work/stopped/metrics.csv"
}
check "kill -STOP of one rank of mpirun -np 2 (--stall-timeout 5): status 6 within 10 s, the waiting rank names its phase and step, nothing left; --resume gives the uninterrupted model bit for bit" stop_one_rank

# two_hosts_run NAME [DPTRAIN OPTIONS]: training across the two simulated hosts into $work/NAME,
# in the background ($! is two-hosts.sh, whose pid names the namespaces and the veth pair).
two_hosts_run() {
  local name="$1"
  shift
  "$here/two-hosts.sh" --ranks-per-host 1 -- "$DPTRAIN" train "${args[@]}" "$@" --out "$work/$name" > "$work/$name.txt" 2>&1 &
}

# link_down MODE: two simulated hosts, the veth link taken down once the run has checkpointed.
# keepalive: --stall-timeout 20; mpirun's TCP keepalives (10 s + 3 x 2 s) find the lost host
# first and end the job with Open MPI's status 205, after rank 0 has said where it waits.
# retries: --stall-timeout 5 on hosts whose TCP gives up after 3 retransmissions
# (net.ipv4.tcp_retries2=3): rank 0's watchdog ends the job with status 6, and mpirun, whose
# order to the lost host's daemon can then fail, exits within seconds.
# Either way no dptrain is left and --resume gives the uninterrupted model bit for bit.
link_down() {
  local mode="$1" name="two-cut-$1" timeout=20 end="lost communication with a remote daemon"
  [ "$mode" = retries ] && { timeout=5; end="Exit code: +6"; }
  [ -f "$work/two-uninterrupted/model.safetensors" ] || {
    two_hosts_run two-uninterrupted
    wait $! || { local rc=$?; cat "$work/two-uninterrupted.txt"; return "$rc"; }
  }
  # The rank on host B ends by its own watchdog, after mpirun: 8 s of grace to do so.
  if [ "$mode" = retries ]; then
    TWO_HOSTS_TCP_RETRIES2=3 TWO_HOSTS_GRACE=8 two_hosts_run "$name" --stall-timeout "$timeout"
  else
    TWO_HOSTS_GRACE=8 two_hosts_run "$name" --stall-timeout "$timeout"
  fi
  local job=$! start rc elapsed
  wait_for 20 test -f "$work/$name/checkpoint.safetensors" || { cat "$work/$name.txt"; return 1; }
  start=$(date +%s.%N)
  ip -n "dpt-a-$job" link set "dpta$job" down || return 1
  wait_for 60 grep -qE "$end" "$work/$name.txt"
  elapsed=$(seconds_since "$start")
  wait "$job"
  rc=$?
  cat "$work/$name.txt"
  echo "ended with status $rc: mpirun's message $elapsed s after the link went down (--stall-timeout $timeout, $mode)"
  local half
  half=$(python3 -c "print(int($timeout / 2))")
  grep -qE "^dptrain: rank 0 of 2 \(host dpt-a-[0-9]+\) has made no progress for $half\.[0-9] s in .* at step [0-9]+ of 1600" "$work/$name.txt" || return 1
  if [ "$mode" = retries ]; then
    # mpirun then needs 5-6 s more: its order to the lost host's daemon fails after TCP's
    # 3 retransmissions.
    [ "$rc" -eq 6 ] && python3 -c "assert $elapsed < $timeout + 8" &&
      grep -qE "^dptrain: rank 0 of 2 \(host dpt-a-[0-9]+\) stalled: no progress for 5\.[0-9] s in .* at step [0-9]+ of 1600 .*exit status 6" "$work/$name.txt" || return 1
  else
    [ "$rc" -eq 205 ] && python3 -c "assert $elapsed < 20" || return 1
  fi
  # Nothing of dptrain's is left (the rank on host B ends by its own watchdog).
  ! grep -E "two-hosts.sh: killing what the job left.*dptrain" "$work/$name.txt" || return 1
  "$here/two-hosts.sh" --ranks-per-host 1 -- "$DPTRAIN" train --resume "$work/$name" --blas-threads 1 --quiet --no-report > "$work/resumed.txt" 2>&1 || { cat "$work/resumed.txt"; return 1; }
  cmp "$work/two-uninterrupted/model.safetensors" "$work/$name/model.safetensors" && diff "$work/two-uninterrupted/metrics.csv" "$work/$name/metrics.csv"
}
check_skippable "two simulated hosts, the link taken down mid-run: mpirun's keepalives end the job (205) within 20 s, rank 0 named its wait, no dptrain left; --resume gives the uninterrupted model bit for bit" link_down keepalive
check_skippable "the same on hosts with net.ipv4.tcp_retries2=3 and --stall-timeout 5: the watchdog ends the job with status 6 within 13 s, naming phase and step" link_down retries

slow_link() {
  two_hosts_run fast-link --epochs 2
  wait $! || { local rc=$?; cat "$work/fast-link.txt"; return "$rc"; }
  two_hosts_run slow-link --epochs 2
  local job=$!
  sleep 0.3
  # A token bucket of 100 Mbit/s on host A's end of the link (the kernel here has no netem).
  ip netns exec "dpt-a-$job" tc qdisc add dev "dpta$job" root tbf rate 100mbit burst 64kb latency 200ms 2>&1 ||
    { echo "SKIP: tc tbf is not available: cannot slow the link"; wait "$job"; return 77; }
  wait "$job" || { cat "$work/slow-link.txt"; return 1; }
  python3 - "$work/fast-link/summary.json" "$work/slow-link/summary.json" <<'PY'
import json, sys
fast, slow = (json.load(open(p)) for p in sys.argv[1:])
share = lambda s: [c / t for c, t in zip(s["communication_seconds_per_rank"], s["train_seconds_per_rank"])]
print("waiting share of step time per rank: fast link %s, 100 Mbit/s %s" % (["%.0f%%" % (100 * x) for x in share(fast)], ["%.0f%%" % (100 * x) for x in share(slow)]))
assert all(h.startswith("dpt-") for h in slow["hosts"]) and len(slow["compute_seconds_per_rank"]) == 2, slow
assert min(share(slow)) > max(share(fast)), "the slow link must show as waiting"
PY
  "$DPTRAIN" report "$work/slow-link" > /dev/null && grep -q "s in collectives" "$work/slow-link/report.html"
}
check_skippable "two simulated hosts, one link limited to 100 Mbit/s: training completes; the waiting shows per rank in summary.json and the report" slow_link

slow_rank() {
  [ "$(nproc)" -ge 2 ] || { echo "SKIP: one core"; return 77; }
  # Rank 1 is bound to core 1, where a busy loop takes half of its time.
  taskset -c 1 sh -c 'while :; do :; done' &
  local busy=$!
  mpirun --bind-to core --map-by core -np 2 "$DPTRAIN" train "${args[@]}" --epochs 3 --out "$work/slow-rank" > "$work/slow-rank.txt" 2>&1
  local rc=$?
  kill "$busy"
  cat "$work/slow-rank.txt"
  [ "$rc" -eq 0 ] && grep -qE "^warning: rank 1 \(host .*\) computed [0-9.]+x the other ranks' median time per step" "$work/slow-rank.txt" &&
    ! grep -q "^warning: rank 0" "$work/slow-rank.txt" &&
    python3 -c "import json; s = json.load(open('$work/slow-rank/summary.json')); assert {r['rank'] for r in s['slow_ranks']} == {1}, s"
}
check_skippable "a rank sharing its core with a busy process is named by the slow-rank warning and in summary.json" slow_rank

echo "stalls: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
