#!/usr/bin/env bash
# Build context (and, with --build, the image) of the cnab.runtime execution environment.
#
#   scripts/build-ee.sh [--build] [ansible-builder options...]
#
# Builds this checkout's collection tarball into build/ee/cnab-runtime.tar.gz, which
# extensions/ee/execution-environment.yml installs, then runs `ansible-builder create`
# (default) or `ansible-builder build` with the context in build/ee/context.
# `build` pulls the base image named in the definition: it needs a registry that serves it.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
command=create
if [ "${1:-}" = "--build" ]; then
  command=build
  shift
fi
out="$repo/build/ee"
rm -rf "$out/tarball" "$out/context"
mkdir -p "$out/tarball"
ansible-galaxy collection build --force --output-path "$out/tarball" "$repo" >/dev/null
mv "$out"/tarball/cnab-runtime-*.tar.gz "$out/cnab-runtime.tar.gz"
rmdir "$out/tarball"
if [ "$command" = build ]; then
  runtime=docker
  if command -v podman >/dev/null 2>&1; then
    runtime=podman
  fi
  set -- --container-runtime "$runtime" "$@"
else
  set -- --output-filename Containerfile "$@"
fi
ansible-builder "$command" --file "$repo/extensions/ee/execution-environment.yml" --context "$out/context" "$@"
