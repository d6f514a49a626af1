# Sourced by the check scripts (e2e, mpi, sweep, report and checkpoint tests): one line per
# check, pass/fail/skip counters, and $work, a temporary directory removed on exit.
# CHECK_FIGURES, if set, is an extended regex: lines of a passing check's output that match it
# are shown under its "ok" line (measured figures).
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
passed=0
failed=0
skipped=0

check() { # check NAME COMMAND...: passes when COMMAND exits 0; shows its output when it fails
  run_check no "$@"
}

# check_skippable NAME COMMAND...: as check, but COMMAND's status 77 counts as skipped (its output's
# first "SKIP: reason" line is shown)
check_skippable() {
  run_check yes "$@"
}

# run_check SKIPPABLE NAME COMMAND...: the two above
run_check() {
  local skippable="$1" name="$2"
  shift 2
  ( "$@" ) >"$work/last.log" 2>&1
  local status=$?
  if [ "$status" -eq 0 ]; then
    passed=$((passed + 1))
    echo "  ok   $name"
    if [ -n "${CHECK_FIGURES:-}" ]; then grep -hE "$CHECK_FIGURES" "$work/last.log" | sed 's/^/       /' || true; fi
  elif [ "$status" -eq 77 ] && [ "$skippable" = yes ]; then
    skipped=$((skipped + 1))
    echo "  skip $name: $(grep -m1 '^SKIP' "$work/last.log")"
  else
    failed=$((failed + 1))
    echo "  FAIL $name"
    sed 's/^/       /' "$work/last.log" | tail -n 20
  fi
}

# expect_exit CODE PATTERN CMD...: CMD exits CODE and its stderr+stdout match PATTERN (grep -E)
expect_exit() {
  local code="$1" pattern="$2"
  shift 2
  local out rc
  out="$("$@" 2>&1)"
  rc=$?
  if [ "$rc" -ne "$code" ]; then echo "exit $rc, expected $code; output: $out"; return 1; fi
  if ! grep -qE -- "$pattern" <<<"$out"; then echo "output does not match /$pattern/: $out"; return 1; fi
}

# wait_for SECONDS CMD...: runs CMD every 0.05 s until it succeeds (0) or SECONDS have passed (1)
wait_for() {
  local polls=$(($1 * 20))
  shift
  for _ in $(seq "$polls"); do "$@" && return 0; sleep 0.05; done
  return 1
}

# exists GLOB: some file matches GLOB (quoted by the caller, so that it is matched at each call)
exists() { compgen -G "$1" > /dev/null; }

# seconds_since START: wall seconds since START (date +%s.%N), two decimals
seconds_since() { python3 -c "print(round($(date +%s.%N) - $1, 2))"; }

# rank_pid PATTERN RANK: the pid of MPI rank RANK among the processes whose command line matches
# PATTERN (mpirun itself has no OMPI_COMM_WORLD_RANK), or nothing
rank_pid() {
  pgrep -f -- "$1" | while read -r p; do
    grep -qz "^OMPI_COMM_WORLD_RANK=$2\$" "/proc/$p/environ" 2>/dev/null && echo "$p"
  done | head -1
}

# use_mpirun: the environment of the checks that launch mpirun (as root, ob1, no Swift
# backtraces in the ranks' failure output) and MPIRUN, the launcher they share
use_mpirun() {
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_pml=ob1 SWIFT_BACKTRACE=enable=no
  MPIRUN=(mpirun --oversubscribe --bind-to none)
}
