#!/usr/bin/env bash
# two-hosts.sh: run an Open MPI job across two simulated hosts on this one machine.
#
#   scripts/lib/two-hosts.sh [--ranks-per-host K] -- COMMAND ARGS...
#
# Sets up two Linux network namespaces ("hosts") A and B joined by a veth pair,
#   A: 10.77.0.1/24   B: 10.77.0.2/24   (plus lo in each; nothing is routed anywhere else)
# and runs, FROM INSIDE A (so mpirun's own node is one of the two hosts):
#   mpirun -np 2K --hostfile {10.77.0.1 slots=K, 10.77.0.2 slots=K}
#          --mca plm_rsh_agent AGENT --mca oob_tcp_if_include 10.77.0.0/24
#          --mca btl_tcp_if_include 10.77.0.0/24 --bind-to none COMMAND ARGS...
# AGENT is a generated script that Open MPI calls as `AGENT HOST ORTED-COMMAND...` to start
# its daemon on host B: it runs the command through `ip netns exec B`.
# Ranks 0..K-1 run on A, K..2K-1 on B (Open MPI's default by-slot mapping).
# --bind-to none: each "host" believes it owns both cores, so by default each daemon pins its
# first rank to core 0 and with K=1 both ranks would share one core. Ranks see
# OMPI_COMM_WORLD_LOCAL_SIZE=K although 2K ranks share this machine's cores.
# The exit status is mpirun's (non-zero if any rank failed or was killed).
#
# Hostnames: each host gets its own UTS namespace and hostname (dpt-a-PID / dpt-b-PID, via
# `unshare --uts`). Open MPI keys its session directory and shared-memory segment names in
# /tmp by hostname, and /tmp is shared by both namespaces; distinct hostnames keep them apart,
# so the shared-memory BTL works between ranks of the same host (as on real hosts) and TCP
# over the veth is used between hosts. MPI_Get_processor_name reports dpt-a-PID / dpt-b-PID.
#
# Environment: mpirun, its daemons and ranks inherit this script's environment (ip netns exec
# and unshare do not clear it), so OMPI_ALLOW_RUN_AS_ROOT*, PATH (to find orted) and the
# caller's variables reach every rank on both hosts. The script exports
# OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 and OMPI_MCA_pml=ob1 (unless set),
# and scripts/mpi-train's TCP keepalives between mpirun and its daemons (unless set).
# TWO_HOSTS_MPIRUN_ARGS (words) adds extra mpirun options, e.g. "--output-filename DIR".
# TWO_HOSTS_GRACE=SECONDS (whole) lets processes left in the namespaces end by themselves that
# long before the cleanup kills them (and says so on standard error).
# TWO_HOSTS_TCP_RETRIES2=N sets net.ipv4.tcp_retries2 on both hosts (their namespaces' own
# copy): how many times TCP retransmits unacknowledged data before it gives up on a connection
# (Linux's default 15 is about 15 minutes), as a cluster's hosts may be configured.
#
# Needs root (CAP_SYS_ADMIN + CAP_NET_ADMIN), iproute2 (installed with apt if missing),
# util-linux's unshare, and Open MPI's mpirun. Where namespaces cannot be made it prints
# `SKIP: <reason>` and exits 77 (the automake convention for a skipped test).
# Cleanup (processes left in the namespaces, both namespaces with the veth pair, temp files)
# runs on every exit: success, failure, Ctrl-C (SIGINT) and SIGTERM/SIGHUP.
#
# Failure behaviour (measured, Open MPI 4.1.4): a rank killed with SIGKILL on either host ends
# the job with mpirun's status 137 in ~2-3 s (mpirun/orted give survivors
# odls_base_sigkill_timeout = 1 s after SIGTERM, per daemon); a killed remote orted ends it
# with 205 in 0.2-1 s. Setup plus teardown of the namespaces takes ~30 ms; a trivial 2-rank
# run through this script ~0.2-0.4 s. Standard input is not forwarded to the ranks.
set -uo pipefail

usage() {
  sed -n '2,4p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

K=1
while [ $# -gt 0 ]; do
  case "$1" in
    --ranks-per-host) [ $# -ge 2 ] || usage; K="$2"; shift 2 ;;
    --ranks-per-host=*) K="${1#*=}"; shift ;;
    --) shift; break ;;
    -h|--help) usage ;;
    *) echo "two-hosts.sh: unknown option $1" >&2; usage ;;
  esac
done
[ $# -ge 1 ] || usage
case "$K" in ''|*[!0-9]*|0) echo "two-hosts.sh: --ranks-per-host needs a positive integer, got '$K'" >&2; exit 2 ;; esac

skip() { echo "SKIP: $*"; exit 77; }

# --- Can this machine make namespaces? -----------------------------------------------------
[ "$(id -u)" -eq 0 ] || skip "not root (uid $(id -u)); network namespaces need CAP_SYS_ADMIN and CAP_NET_ADMIN"
if ! command -v ip >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1; then
    echo "==> two-hosts.sh: installing iproute2" >&2
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends iproute2; } >/dev/null 2>&1
  fi
  command -v ip >/dev/null 2>&1 || skip "the ip command (iproute2) is missing and could not be installed with apt-get"
fi
command -v unshare >/dev/null 2>&1 || skip "unshare (util-linux) is missing"
if ! command -v mpirun >/dev/null 2>&1; then
  echo "two-hosts.sh: mpirun not found on PATH (install openmpi-bin)" >&2
  exit 1
fi

ID=$$
NS_A="dpt-a-$ID"
NS_B="dpt-b-$ID"
ADDR_A=10.77.0.1
ADDR_B=10.77.0.2
SUBNET=10.77.0.0/24
# veth names are created directly inside the namespaces, so they never touch the host's
# interface list; the kernel limit is 15 characters.
VETH_A="dpta$ID"
VETH_B="dptb$ID"
TMP=""
MPIRUN_PID=""
CLEANED=0

# namespace_pids: the processes still inside our namespaces, space-separated (possibly none).
namespace_pids() {
  local ns
  for ns in "$NS_A" "$NS_B"; do
    [ -e "/run/netns/$ns" ] && echo -n " $(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')"
  done
}

cleanup() {
  [ "$CLEANED" -eq 1 ] && return
  CLEANED=1
  local ns pids i
  # Ask mpirun to stop first (it tears down its remote daemon and ranks), then force.
  if [ -n "$MPIRUN_PID" ] && kill -0 "$MPIRUN_PID" 2>/dev/null; then
    kill -TERM "$MPIRUN_PID" 2>/dev/null
    for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
      kill -0 "$MPIRUN_PID" 2>/dev/null || break
      sleep 0.1
    done
  fi
  # TWO_HOSTS_GRACE=SECONDS: first give what is left that long to end by itself (a daemon cut
  # off from mpirun ends its ranks and itself once its keepalives fail).
  local grace_ticks=$(( ${TWO_HOSTS_GRACE:-0} * 10 ))
  for ((i = 0; i < grace_ticks; i++)); do
    pids="$(namespace_pids)"
    [ -z "${pids// /}" ] && break
    sleep 0.1
  done
  # Whatever is still inside our own namespaces (orphaned ranks, a daemon) was started by this
  # script: SIGKILL it by pid and wait (at most ~5 s) until the kernel has reaped it, so that
  # no rank outlives the script and the namespaces (with the veth pair) really go away.
  for i in $(seq 50); do
    pids="$(namespace_pids)"
    [ -z "${pids// /}" ] && break
    # Said once: tests assert that a job leaves nothing behind by itself.
    # shellcheck disable=SC2086
    [ "$i" -eq 1 ] && echo "two-hosts.sh: killing what the job left in the namespaces: $(ps -o pid=,comm= -p "$(echo $pids | tr ' ' ',')" | tr -s ' \n' ' ')" >&2
    # shellcheck disable=SC2086
    kill -9 $pids 2>/dev/null
    sleep 0.1
  done
  for ns in "$NS_A" "$NS_B"; do
    if [ -e "/run/netns/$ns" ]; then
      ip -n "$ns" link del "$VETH_A" >/dev/null 2>&1
      ip netns del "$ns" 2>/dev/null || { sleep 0.2; ip netns del "$ns" 2>/dev/null; }
    fi
  done
  [ -n "$TMP" ] && rm -rf "$TMP"
}
trap 'cleanup' EXIT
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM
trap 'cleanup; exit 129' HUP

# --- Two hosts ------------------------------------------------------------------------------
err="$(ip netns add "$NS_A" 2>&1)" || skip "'ip netns add' failed: $err"
err="$(ip netns add "$NS_B" 2>&1)" || skip "'ip netns add' (second namespace) failed: $err"
err="$(ip link add "$VETH_A" netns "$NS_A" type veth peer name "$VETH_B" netns "$NS_B" 2>&1)" ||
  skip "cannot create a veth pair between the namespaces: $err"
err="$(unshare --uts true 2>&1)" || skip "'unshare --uts' failed (needed for per-host hostnames): $err"
set -e
ip -n "$NS_A" link set lo up
ip -n "$NS_B" link set lo up
ip -n "$NS_A" addr add "$ADDR_A/24" dev "$VETH_A"
ip -n "$NS_B" addr add "$ADDR_B/24" dev "$VETH_B"
ip -n "$NS_A" link set "$VETH_A" up
ip -n "$NS_B" link set "$VETH_B" up
if [ -n "${TWO_HOSTS_TCP_RETRIES2:-}" ]; then
  ip netns exec "$NS_A" sysctl -qw net.ipv4.tcp_retries2="$TWO_HOSTS_TCP_RETRIES2"
  ip netns exec "$NS_B" sysctl -qw net.ipv4.tcp_retries2="$TWO_HOSTS_TCP_RETRIES2"
fi
set +e

TMP="$(mktemp -d /tmp/dpt-two-hosts.XXXXXX)"
printf '%s slots=%s\n%s slots=%s\n' "$ADDR_A" "$K" "$ADDR_B" "$K" >"$TMP/hostfile"

# Open MPI calls the agent as `AGENT [OPTIONS] HOST COMMAND...` (the command is one string of
# shell words for the remote shell). Option-like words before the host are ignored.
cat >"$TMP/agent" <<EOF
#!/bin/sh
while [ \$# -gt 0 ]; do case "\$1" in -*) shift ;; *) break ;; esac; done
host="\$1"; shift
case "\$host" in
  $ADDR_A|$NS_A) ns=$NS_A ;;
  $ADDR_B|$NS_B) ns=$NS_B ;;
  *) echo "two-hosts agent: unknown host '\$host'" >&2; exit 255 ;;
esac
exec ip netns exec "\$ns" unshare --uts sh -c 'hostname "\$0" && exec sh -c "\$1"' "\$ns" "\$*"
EOF
chmod +x "$TMP/agent"

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_pml="${OMPI_MCA_pml:-ob1}"
export OMPI_MCA_oob_tcp_keepalive_time="${OMPI_MCA_oob_tcp_keepalive_time:-10}"
export OMPI_MCA_oob_tcp_keepalive_intvl="${OMPI_MCA_oob_tcp_keepalive_intvl:-2}"
export OMPI_MCA_oob_tcp_keepalive_probes="${OMPI_MCA_oob_tcp_keepalive_probes:-3}"

NP=$((2 * K))
MPIRUN=(mpirun -np "$NP" --hostfile "$TMP/hostfile"
  --mca plm_rsh_agent "$TMP/agent"
  --mca oob_tcp_if_include "$SUBNET"
  --mca btl_tcp_if_include "$SUBNET"
  --bind-to none)
# shellcheck disable=SC2206
[ -n "${TWO_HOSTS_MPIRUN_ARGS:-}" ] && MPIRUN+=(${TWO_HOSTS_MPIRUN_ARGS})

# mpirun runs in the background so that the traps fire at once on Ctrl-C or SIGTERM.
# `ip netns exec`, `unshare` and `sh -c 'exec ...'` all exec, so $! ends up being mpirun.
ip netns exec "$NS_A" unshare --uts sh -c 'hostname "$0" && exec "$@"' "$NS_A" \
  "${MPIRUN[@]}" "$@" </dev/null &
MPIRUN_PID=$!
wait "$MPIRUN_PID"
rc=$?
MPIRUN_PID=""
exit "$rc"
