#!/usr/bin/env bash
# Build an example bundle's invocation image without pulling anything.
#
#   examples/build.sh <example-dir> <image-tag>
#
# Copies Debian's static busybox (package busybox-static, /bin/busybox) into the
# build context, builds with the classic builder and prints the image id.
# BUSYBOX=/path/to/static/busybox overrides the binary.
set -euo pipefail

if [ "$#" -ne 2 ]; then
  echo "usage: $0 <example-dir> <image-tag>" >&2
  exit 2
fi
dir="$1"
tag="$2"
busybox="${BUSYBOX:-/bin/busybox}"

if [ ! -f "$dir/Dockerfile" ] || [ ! -x "$dir/cnab/app/run" ]; then
  echo "$0: $dir is not an example bundle (needs Dockerfile and an executable cnab/app/run)" >&2
  exit 2
fi
if [ ! -x "$busybox" ]; then
  echo "$0: $busybox not found: install the Debian package busybox-static" >&2
  exit 1
fi
# A dynamically linked busybox (Debian package "busybox") cannot run in a scratch image.
if grep -qa -e '/lib64/ld-linux' -e '/lib/ld-linux' -e '/lib/ld-musl' "$busybox"; then
  echo "$0: $busybox is dynamically linked: install the Debian package busybox-static" >&2
  exit 1
fi

# Copy only when different, so the build context (and the build cache) stays unchanged.
if ! cmp -s "$busybox" "$dir/busybox"; then
  cp "$busybox" "$dir/busybox"
  chmod 0755 "$dir/busybox"
fi

export DOCKER_BUILDKIT=0
docker build -q -t "$tag" "$dir"
