#!/usr/bin/env bash
# make galaxy-import: run galaxy-importer (the checks Galaxy and Automation Hub run on upload, ansible-lint
# included) on the collection tarball that make setup built; any WARNING or ERROR it logs fails.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
# GALAXY_IMPORTER_VENV: where its venv lives (.ci/run keeps it in ~/.cache, reused by CI's fresh clones).
venv="${GALAXY_IMPORTER_VENV:-$root/build/tools/galaxy-importer}"
requirements="$root/scripts/galaxy-importer-requirements.txt"

stamp="$venv/.requirements.sha256"
want="$(sha256sum "$requirements" | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
  echo "galaxy-import: creating $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$requirements"
  echo "$want" >"$stamp"
fi

tarball=$(ls "$root"/build/cnab-runtime-*.tar.gz)
work="$root/build/galaxy-import"
rm -rf "$work"
mkdir -p "$work"
cd "$work"  # galaxy-importer writes importer_result.json into the current directory
status=0
PATH="$venv/bin:$PATH" GALAXY_IMPORTER_CONFIG="$root/scripts/galaxy-importer.cfg" \
  "$venv/bin/python" -m galaxy_importer.main "$tarball" >importer.log 2>&1 || status=$?
grep -v '^Loading ' importer.log
if [ "$status" -ne 0 ]; then
  echo "galaxy-import: galaxy-importer failed ($status), log in $work/importer.log" >&2
  exit 1
fi
if grep -qE '^(WARNING|ERROR|CRITICAL)' importer.log; then
  echo "galaxy-import: galaxy-importer reported warnings or errors (above; log in $work/importer.log)" >&2
  exit 1
fi
echo "galaxy-import: $(basename "$tarball") imports with no warning"
