#!/usr/bin/env bash
# Prepare this machine for development, CI and the examples (Debian 12, as root).
# Idempotent and cheap to re-run: every step checks first.
#   1. Debian packages: docker.io busybox-static chromium (+ python3-venv python3-apt shellcheck git) via apt-get,
#      only when missing
#   2. .venv with requirements-dev.txt (pip only when the file changed)
#   3. the guides (docs/*.md) written as extra docs (docs/docsite/rst), the collection built and installed
#      into build/collections
set -euo pipefail

cd "$(dirname "$0")/.."
root="$(pwd)"
venv="$root/.venv"
collections="$root/build/collections"

log() { echo "setup: $*"; }

# --- 1. Debian packages --------------------------------------------------------------
# python3-apt lets Ansible's apt module run from the virtualenv's interpreter;
# python3-venv provides ensurepip for `python3 -m venv`.
packages=(docker.io busybox-static python3 python3-venv python3-apt shellcheck git curl)
# OCI registries for the distribution tests (and skopeo as their benchmark baseline).
packages+=(docker-registry skopeo apache2-utils)
# Headless Chromium for make docs: scripts/check_docs_page.py looks at a page of the built site.
packages+=(chromium)
# Node.js and npm (for Azurite, the Azure Blob emulator the tests use) come with this machine
# image; Debian's packages are the fallback where they do not.
command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)
missing=()
for pkg in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$pkg")
  fi
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing Debian packages ${missing[*]}; run as root (or install them) first" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  # apt-get update only when the package lists are absent or older than a day.
  if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*_Packages*' -mtime -1 -print -quit 2>/dev/null)" ]; then
    log "apt-get update"
    apt-get update -qq
  fi
  log "installing ${missing[*]}"
  apt-get install -y -qq "${missing[@]}" >/dev/null
else
  log "Debian packages present"
fi

# --- 2. virtualenv ----------------------------------------------------------------------
if [ ! -x "$venv/bin/python" ]; then
  log "creating $venv"
  python3 -m venv "$venv"
fi
stamp="$venv/.requirements-dev.sha256"
want="$(sha256sum requirements-dev.txt | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
  log "pip install -r requirements-dev.txt"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -r requirements-dev.txt
  echo "$want" >"$stamp"
else
  log "virtualenv up to date"
fi

# --- 3. the collection --------------------------------------------------------------------
# Rebuilt every time (about a second), so build/collections always holds the working tree.
# The built collection carries the guides as antsibull-docs extra docs (RST generated from docs/*.md).
"$venv/bin/python" scripts/guides_to_rst.py >/dev/null
mkdir -p build
rm -f build/cnab-runtime-*.tar.gz
"$venv/bin/ansible-galaxy" collection build --force --output-path build/ . >/dev/null
"$venv/bin/ansible-galaxy" collection install --force -p "$collections" build/cnab-runtime-*.tar.gz >/dev/null
log "collection cnab.runtime installed in $collections"
