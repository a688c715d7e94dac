#!/usr/bin/env bash
# make matrix: the collection on every ansible-core version meta/runtime.yml claims (>=2.16), each in
# its own venv build/matrix/<version> (tests/matrix/requirements.txt + ansible-core==<version>.*,
# rebuilt only when those change):
#   * ansible-test sanity (scripts/sanity.sh, no ignore file) and ansible-lint (production profile);
#   * the integration smoke: the lifecycle playbook (local store), the ad-hoc four steps of cnab_install,
#     and tests/integration/test_core_smoke.py (cnab_bundle push to 127.0.0.1:5100, install from there
#     in four steps, cnab_claim_info), with that venv's python and Ansible.
# Two lanes run side by side on the started services: sanity for each version one after the other
# (ansible-test shares its per-test venvs in ~/.ansible/test/venv between versions with equal pins, so
# two sanity runs must not create them at once), and ansible-lint + smoke for each version (the smoke's
# names are unique per test, its claim stores private). Logs: <venv>/{sanity,smoke}.log.
#   MATRIX_CORES="2.16 2.19" make matrix     a subset
#   MATRIX_VENVS_ONLY=1                      create/refresh the venvs and stop (make bench uses them)
#   MATRIX_VENVS=<dir>                       where the venvs live (default build/matrix; .ci/run keeps them in
#                                            ~/.cache so that CI's fresh clones reuse them)
#   MATRIX_SANITY_DONE_BY=<venv>             a venv whose sanity and ansible-lint already ran in this CI run
#                                            (.ci/run: make test's .venv): a core version that venv has
#                                            (same ansible-core, python and ansible-lint) skips them here
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
read -r -a cores <<<"${MATRIX_CORES:-2.16 2.17 2.18 2.19}"
requirements="$root/tests/matrix/requirements.txt"
smoke=(
  "tests/integration/test_lifecycle.py::test_lifecycle_playbook_four_steps_for_every_module[local]"
  "tests/integration/test_lifecycle.py::test_adhoc_install_four_steps"
  "tests/integration/test_core_smoke.py"
)
start=$(date +%s)

venvs="${MATRIX_VENVS:-$root/build/matrix}"
mkdir -p "$venvs"
venv_for() { echo "$venvs/$1"; }

# --- venvs, one after the other (pip) -----------------------------------------------------------------
for core in "${cores[@]}"; do
  venv=$(venv_for "$core")
  want=$(cat "$requirements" meta/ee-requirements.txt <(echo "ansible-core==$core.*") | sha256sum | cut -d' ' -f1)
  if [ "$(cat "$venv/.requirements.sha256" 2>/dev/null || true)" != "$want" ]; then
    echo "matrix: creating $venv"
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
    "$venv/bin/python" -m pip install -q --disable-pip-version-check "ansible-core==$core.*" -r "$requirements"
    echo "$want" >"$venv/.requirements.sha256"
  fi
  echo "matrix: $core -> $("$venv/bin/ansible" --version | head -1)"
done
if [ "${MATRIX_VENVS_ONLY:-0}" = 1 ]; then
  exit 0
fi

# --- the two lanes ----------------------------------------------------------------------------------------
# Each step appends "<version> <step> <seconds> <ok|FAILED>" to build/matrix/results.
results="$venvs/results"
: >"$results"
step() {  # step <version> <name> <log> <command...>
  local core=$1 name=$2 log=$3 began status=ok
  shift 3
  began=$(date +%s)
  "$@" >>"$log" 2>&1 || status=FAILED
  echo "$core $name $(( $(date +%s) - began )) $status" >>"$results"
}

# Sanity and ansible-lint give the same verdict for the same ansible-core, python and ansible-lint on the
# same tree (ansible-test's sanity venvs are pinned per ansible-core version): when make test already ran
# them in this CI run with a venv that has the same versions (MATRIX_SANITY_DONE_BY), they are not run
# twice. The smoke still runs: this venv has only the runtime requirements (meta/ee-requirements.txt).
versions_of() {  # versions_of <venv>: "<ansible-core> <python> <ansible-lint>"
  "$1/bin/python" - <<'PY'
import platform
from importlib.metadata import version
print(version("ansible-core"), platform.python_version(), version("ansible-lint"))
PY
}
done_by="${MATRIX_SANITY_DONE_BY:-}"
done_versions=""
if [ -n "$done_by" ]; then
  done_versions=$(versions_of "$done_by")
fi
already_done() {  # already_done <venv>: true when make test ran sanity and ansible-lint on these versions
  [ -n "$done_versions" ] && [ "$(versions_of "$1")" = "$done_versions" ]
}
skipped() {  # skipped <version> <name>
  echo "$1 $2 0 skipped" >>"$results"
}

sanity_lane() {
  local core venv
  for core in "${cores[@]}"; do
    venv=$(venv_for "$core")
    : >"$venv/sanity.log"
    if already_done "$venv"; then
      skipped "$core" sanity
      continue
    fi
    step "$core" sanity "$venv/sanity.log" env PATH="$venv/bin:$PATH" CNAB_SANITY_DIR="$venv/sanity" \
      scripts/sanity.sh
  done
}

smoke_lane() {
  local core venv
  for core in "${cores[@]}"; do
    venv=$(venv_for "$core")
    : >"$venv/smoke.log"
    if already_done "$venv"; then
      skipped "$core" ansible-lint
    else
      step "$core" ansible-lint "$venv/smoke.log" env PATH="$venv/bin:$PATH" \
        "$venv/bin/ansible-lint" --offline roles/ playbooks/
    fi
    step "$core" smoke "$venv/smoke.log" env PATH="$venv/bin:$PATH" \
      "$venv/bin/python" -m pytest -q -p no:cacheprovider "${smoke[@]}"
  done
}

sanity_lane &
sanity_pid=$!
smoke_lane &
smoke_pid=$!
wait "$sanity_pid" "$smoke_pid"

# --- summary ----------------------------------------------------------------------------------------------
failed=0
for core in "${cores[@]}"; do
  venv=$(venv_for "$core")
  version=$("$venv/bin/python" -c 'import ansible.release; print(ansible.release.__version__)')
  line="matrix: ansible-core $version:"
  for name in sanity ansible-lint smoke; do
    entry=$(awk -v c="$core" -v n="$name" '$1 == c && $2 == n {print ($4 == "skipped" ? "" : $3 "s ") $4}' "$results")
    case "$entry" in skipped) entry="skipped (make test ran it on these versions)" ;; esac
    line+=" $name ${entry:-missing}"
    case "$entry" in *" ok" | skipped*) ;; *) failed=1 ;; esac
  done
  echo "$line"
  # The smoke's pytest summary line of each version.
  grep -E '^[0-9]+ (passed|failed)|(passed|failed).* in [0-9.]+s' "$venv/smoke.log" | tail -1 | sed "s/^/matrix: $core smoke: /"
done
echo "matrix: ${#cores[@]} ansible-core versions in $(( $(date +%s) - start )) s"
if [ "$failed" -ne 0 ]; then
  for core in "${cores[@]}"; do
    venv=$(venv_for "$core")
    if grep -q "^$core .* FAILED$" "$results"; then
      echo "---- $core: tail of sanity.log and smoke.log" >&2
      tail -n 40 "$venv/sanity.log" "$venv/smoke.log" >&2
    fi
  done
  exit 1
fi
