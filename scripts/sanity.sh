#!/usr/bin/env bash
# ansible-test sanity on a copy of the tree laid out as ansible_collections/cnab/runtime,
# which ansible-test requires, made a git checkout of the files git would track.
# Runs the ansible-test of the `python` on PATH (make matrix: each ansible-core venv's) in
# $CNAB_SANITY_DIR (default build/sanity), so that several core versions can run side by side.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
base="${CNAB_SANITY_DIR:-$repo/build/sanity}"
work="$base/ansible_collections/cnab/runtime"

# ansible-test downloads a pip bootstrap script per sanity venv from a host this machine
# cannot reach; seed its cache with an offline equivalent for the pip version it pins.
pip_version=$(python - <<'PY'
import re, ansible_test, os
path = os.path.join(os.path.dirname(ansible_test.__file__), "_internal", "python_requirements.py")
print(re.search(r"pip='([0-9.]+)'", open(path).read()).group(1))
PY
)
cache="$HOME/.ansible/test/cache"
mkdir -p "$cache"
cp "$repo/scripts/get_pip_offline.py" "$cache/get_pip_${pip_version//./_}.py"

rm -rf "$base"
mkdir -p "$work"
(cd "$repo" && git ls-files -co --exclude-standard | grep -v '^build/' | tar -cf - -T -) | tar -xf - -C "$work"
cd "$work"
git init -q
git add -A
python_version=$(python -c 'import sys; print("%d.%d" % sys.version_info[:2])')
ansible-test sanity --local --python "$python_version" --color no "$@"
