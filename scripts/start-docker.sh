#!/usr/bin/env bash
# Make sure a Docker daemon answers; start one detached when none does.
# Works without a service manager (no systemd): dockerd is started with setsid,
# its output goes to build/dockerd.log. Honours DOCKER_HOST (default: the standard socket),
# DOCKERD_PIDFILE (default /var/run/docker.pid), DOCKERD_START_TIMEOUT (seconds, default 60)
# and DOCKERD_EXTRA_ARGS (extra dockerd arguments, split on spaces, e.g. "--data-root /x/data
# --exec-root /x/exec" for a second daemon). Caution: "--bridge none" makes dockerd DELETE the
# docker0 interface, which breaks container networking of a daemon already using it.
set -euo pipefail

cd "$(dirname "$0")/.."
host="${DOCKER_HOST:-unix:///var/run/docker.sock}"
pidfile="${DOCKERD_PIDFILE:-/var/run/docker.pid}"
logfile="$(pwd)/build/dockerd.log"
timeout="${DOCKERD_START_TIMEOUT:-60}"
read -r -a extra_args <<<"${DOCKERD_EXTRA_ARGS:-}"

answers() { docker --host "$host" version >/dev/null 2>&1; }

if ! command -v docker >/dev/null 2>&1 || ! command -v dockerd >/dev/null 2>&1; then
  echo "start-docker: docker/dockerd not found: run 'make setup' (installs docker.io)" >&2
  exit 1
fi

if answers; then
  echo "start-docker: Docker daemon at $host answers"
  exit 0
fi

pid="$(cat "$pidfile" 2>/dev/null || true)"
if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
  # A daemon is running (probably still starting): wait for it instead of starting another.
  echo "start-docker: dockerd $pid is running, waiting for it"
else
  rm -f "$pidfile"
  case "$host" in
    unix://*) mkdir -p "$(dirname "${host#unix://}")" ;;
  esac
  mkdir -p "$(dirname "$logfile")"
  echo "start-docker: starting dockerd on $host (log: $logfile)"
  setsid dockerd --host "$host" --pidfile "$pidfile" ${extra_args[@]+"${extra_args[@]}"} >>"$logfile" 2>&1 </dev/null &
  pid=$!
fi

for _ in $(seq 1 "$timeout"); do
  if answers; then
    echo "start-docker: Docker daemon at $host answers"
    exit 0
  fi
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "start-docker: dockerd exited; last lines of $logfile:" >&2
    tail -n 30 "$logfile" >&2 || true
    exit 1
  fi
  sleep 1
done
echo "start-docker: dockerd did not answer within ${timeout}s; last lines of $logfile:" >&2
tail -n 30 "$logfile" >&2 || true
exit 1
