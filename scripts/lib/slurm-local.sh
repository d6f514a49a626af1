#!/usr/bin/env bash
# A one-machine Slurm for the tests, sourced: `slurm_start DIR` writes DIR/slurm.conf (this host
# as the only node, its cores, a partition "debug"), starts munged on its own socket, slurmctld
# and slurmd (as root, state and logs in DIR, ports from 16817 up that are free), exports
# SLURM_CONF and waits until the node is idle; `slurm_stop` ends the daemons. slurm_start returns
# 77 with "SKIP: reason" where the daemons cannot start (not root, no slurm-wlm or munge).
# Requeued jobs wait cred_expire + 1 s before they run again: cred_expire is 10 s here (120 s by
# default).

slurm_start() {
  SLURM_DIR="$1"
  [ "$(id -u)" -eq 0 ] || { echo "SKIP: the local Slurm runs its daemons as root"; return 77; }
  for tool in munged slurmctld slurmd sbatch; do
    command -v "$tool" > /dev/null || { echo "SKIP: $tool is not installed (Debian: slurm-wlm, munge)"; return 77; }
  done
  [ -r /etc/munge/munge.key ] || { echo "SKIP: no /etc/munge/munge.key (the munge package makes it)"; return 77; }
  mkdir -p "$SLURM_DIR/state" "$SLURM_DIR/spool" "$SLURM_DIR/munge"
  local host port cpus
  host="$(hostname -s)"
  cpus="$(nproc)"
  port=16817
  while ss -ltn 2>/dev/null | grep -qE ":($port|$((port + 1)))\b"; do port=$((port + 2)); done
  cat > "$SLURM_DIR/slurm.conf" <<CONF
ClusterName=dptrain-test
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$SLURM_DIR/munge/munge.socket.2,cred_expire=10
CredType=cred/munge
StateSaveLocation=$SLURM_DIR/state
SlurmdSpoolDir=$SLURM_DIR/spool
SlurmctldPidFile=$SLURM_DIR/slurmctld.pid
SlurmdPidFile=$SLURM_DIR/slurmd.pid
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmctldLogFile=$SLURM_DIR/slurmctld.log
SlurmdLogFile=$SLURM_DIR/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobRequeue=1
KillWait=10
NodeName=$host CPUs=$cpus State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
CONF
  export SLURM_CONF="$SLURM_DIR/slurm.conf"
  munged --socket="$SLURM_DIR/munge/munge.socket.2" --pid-file="$SLURM_DIR/munge/munged.pid" --force 2> "$SLURM_DIR/munged.err" ||
    { echo "SKIP: munged does not start: $(tail -1 "$SLURM_DIR/munged.err")"; return 77; }
  slurmctld > "$SLURM_DIR/slurmctld.out" 2>&1 || { echo "SKIP: slurmctld does not start: $(tail -2 "$SLURM_DIR/slurmctld.log")"; slurm_stop; return 77; }
  slurmd > "$SLURM_DIR/slurmd.out" 2>&1 || { echo "SKIP: slurmd does not start: $(tail -2 "$SLURM_DIR/slurmd.log")"; slurm_stop; return 77; }
  for _ in $(seq 100); do
    [ "$(sinfo -h -o %t 2>/dev/null)" = idle ] && return 0
    sleep 0.2
  done
  echo "SKIP: the node did not become idle: $(sinfo 2>&1 | tail -1); $(tail -2 "$SLURM_DIR/slurmd.log")"
  slurm_stop
  return 77
}

slurm_stop() {
  [ -n "${SLURM_DIR:-}" ] || return 0
  for pidfile in "$SLURM_DIR/slurmd.pid" "$SLURM_DIR/slurmctld.pid" "$SLURM_DIR/munge/munged.pid"; do
    [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null
  done
  for _ in $(seq 50); do
    pgrep -f -- "$SLURM_DIR" > /dev/null || pgrep -x slurmd > /dev/null || break
    sleep 0.1
  done
}
