#!/usr/bin/env bash
# Checks that a CLI bundle was built from the sources in this tree: scripts/build-cli.mjs writes BUNDLE.sha256
# (the bundle's project sources, sha256sum format). Exit 0 when every listed file matches; else names the files
# that differ or are missing and exits 1. Run from the repository root (the manifest's paths are relative to it).
#   bash scripts/check-bundle.sh .gpu-kit/cli.mjs
set -uo pipefail
bundle=${1:?usage: check-bundle.sh BUNDLE}
manifest="$bundle.sha256"
if [ ! -f "$manifest" ]; then
  echo "$bundle: no $manifest beside it, so it cannot be checked against this tree; rebuild it here:" \
    "node scripts/build-cli.mjs $bundle" >&2
  exit 1
fi
bad=$(sha256sum --quiet -c "$manifest" 2>/dev/null | sed -n 's/: FAILED.*$//p')
if [ -n "$bad" ]; then
  echo "$bundle was built from other sources than this tree's; differing or missing: $(echo "$bad" | paste -sd ' ')." \
    "Rebuild it here before sending it: node scripts/build-cli.mjs $bundle (or set GPU_RUN_ALLOW_STALE=1 to run it anyway)" >&2
  exit 1
fi
