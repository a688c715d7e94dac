#!/usr/bin/env bash
# Make sure the three test registries (Debian's docker-registry, CNCF distribution 2.8) answer on
# loopback; start the missing ones detached. Idempotent and safe to run concurrently.
#   127.0.0.1:5100  open (anonymous pull and push)
#   127.0.0.1:5101  htpasswd basic auth
#   127.0.0.1:5102  token auth, tokens from scripts/registry-token-server.py on 127.0.0.1:5103
# Test-only credentials: user "cnab", password "cnab-test-password", identity (refresh) token
# "cnab-test-identity-token" for the token registry. Storage and logs live in
# build/registries/<name>/. Honours REGISTRY_START_TIMEOUT (seconds, default 20).
set -euo pipefail

cd "$(dirname "$0")/.."
root="$(pwd)/build/registries"
timeout="${REGISTRY_START_TIMEOUT:-20}"
user=cnab
password=cnab-test-password
identity=cnab-test-identity-token
python="${PYTHON:-python3}"

answers() {
  curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$1/${2:-v2/}"
}

wait_for() {  # name port pid
  local deadline=$((SECONDS + timeout))
  while [ "$SECONDS" -lt "$deadline" ]; do
    if answers "$2" "${4:-v2/}"; then
      echo "start-registries: $1 started (pid $3) on 127.0.0.1:$2"
      return 0
    fi
    if ! kill -0 "$3" 2>/dev/null; then break; fi
    sleep 0.2
  done
  echo "start-registries: $1 did not answer on 127.0.0.1:$2; last lines of $root/$1/log:" >&2
  tail -n 20 "$root/$1/log" >&2 || true
  exit 1
}

config() {  # name port [auth yaml]
  local dir="$root/$1"
  mkdir -p "$dir/data"
  cat >"$dir/config.yml" <<YAML
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $dir/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$2
  secret: cnab-test-$1
$3
YAML
}

start_registry() {  # name port [auth yaml]
  if answers "$2"; then
    echo "start-registries: $1 answers on 127.0.0.1:$2"
    return 0
  fi
  config "$@"
  setsid docker-registry serve "$root/$1/config.yml" >>"$root/$1/log" 2>&1 </dev/null 9>&- &
  wait_for "$1" "$2" $!
}

mkdir -p "$root"
exec 9>"$root/.lock"
flock 9

start_registry open 5100 ""

mkdir -p "$root/basic"
[ -s "$root/basic/htpasswd" ] || htpasswd -Bbn "$user" "$password" >"$root/basic/htpasswd"
start_registry basic 5101 "auth:
  htpasswd:
    realm: cnab-test
    path: $root/basic/htpasswd"

token="$root/token-server"
mkdir -p "$token"
"$python" scripts/registry-token-server.py init "$token"
printf '{"%s": "%s"}\n' "$user" "$password" >"$token/users.json"
printf '{"%s": "%s"}\n' "$identity" "$user" >"$token/identity.json"
if answers 5103 token; then
  echo "start-registries: token-server answers on 127.0.0.1:5103"
else
  setsid "$python" scripts/registry-token-server.py serve "$token" 127.0.0.1:5103 \
    >>"$token/log" 2>&1 </dev/null 9>&- &
  pid=$!
  wait_for token-server 5103 "$pid" token
fi
start_registry token 5102 "auth:
  token:
    realm: http://127.0.0.1:5103/token
    service: cnab-test-registry
    issuer: cnab-test-token-server
    rootcertbundle: $token/cert.pem"
