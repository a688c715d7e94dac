#!/usr/bin/env bash
# Make sure an Azurite blob service answers on 127.0.0.1:10000; start one detached when none does.
# Azurite (the official Azure Storage emulator) is installed from npm into build/azurite on first
# use, keeps its data in build/azurite-data and logs to build/azurite.log. Idempotent, and safe to
# run concurrently (a lock file serialises the install and the start). Honours
# AZURITE_START_TIMEOUT (seconds, default 30).
set -euo pipefail

cd "$(dirname "$0")/.."
host=127.0.0.1
port=10000
prefix="$(pwd)/build/azurite"
data="$(pwd)/build/azurite-data"
logfile="$(pwd)/build/azurite.log"
timeout="${AZURITE_START_TIMEOUT:-30}"
azurite="$prefix/node_modules/.bin/azurite-blob"

answers() {
  if command -v curl >/dev/null 2>&1; then
    # Any HTTP answer will do (Azurite replies 400 to a bare GET /).
    curl -s -o /dev/null --max-time 2 "http://$host:$port/"
  else
    (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null
  fi
}

if answers; then
  echo "start-azurite: Azurite answers on $host:$port"
  exit 0
fi

mkdir -p build "$data"
exec 9>build/azurite.lock
flock 9
if answers; then  # started by a concurrent run while we waited for the lock
  echo "start-azurite: Azurite answers on $host:$port"
  exit 0
fi

if [ ! -x "$azurite" ]; then
  if ! command -v npm >/dev/null 2>&1; then
    echo "start-azurite: npm not found: install Node.js 20 and npm first" >&2
    exit 1
  fi
  npm install --prefix "$prefix" azurite@3 --no-audit --no-fund --loglevel=error >/dev/null
fi

# 9>&- : the daemon must not inherit the lock, or it would hold it forever.
setsid "$azurite" --blobHost "$host" --blobPort "$port" --location "$data" \
  --skipApiVersionCheck --silent >>"$logfile" 2>&1 </dev/null 9>&- &
pid=$!

deadline=$((SECONDS + timeout))
while [ "$SECONDS" -lt "$deadline" ]; do
  if answers; then
    echo "start-azurite: started azurite-blob (pid $pid) on $host:$port (log: $logfile)"
    exit 0
  fi
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "start-azurite: azurite-blob exited; last lines of $logfile:" >&2
    tail -n 30 "$logfile" >&2 || true
    exit 1
  fi
  sleep 0.2
done
echo "start-azurite: Azurite did not answer within ${timeout}s; last lines of $logfile:" >&2
tail -n 30 "$logfile" >&2 || true
exit 1
