#!/usr/bin/env bash
# Runs the CLI bundle on the GPU machine (see ../shared/design/environment.md): unpacks the kit's Node,
# Vulkan loader and Dawn, points Vulkan at NVIDIA's driver, then `node .gpu-kit/cli.mjs "$@"`.
# Build the bundle first, here: node scripts/build-cli.mjs .gpu-kit/cli.mjs
# CLI=other.mjs runs .gpu-kit/other.mjs instead (e.g. a baseline bundle for a before/after in one call).
# The default bundle must have been built from this tree's sources (scripts/check-bundle.sh): a stale bundle
# once took a flag it did not know yet and answered other items than asked. GPU_RUN_ALLOW_STALE=1 skips that.
set -euo pipefail
if [ -z "${CLI:-}" ] && [ -z "${GPU_RUN_ALLOW_STALE:-}" ]; then bash "$(dirname "$0")/check-bundle.sh" .gpu-kit/cli.mjs; fi
for f in .gpu-kit/deb/*.deb; do dpkg -x "$f" /; done
ldconfig
d=.gpu-kit/node_modules/webgpu/dist/linux-x64
[ -f $d/dawn.node ] || xz -dc $d/dawn.node.xz > $d/dawn.node
[ -x /usr/local/bin/node ] || { xz -dc .gpu-kit/node.xz > /usr/local/bin/node && chmod +x /usr/local/bin/node; }
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
exec node ".gpu-kit/${CLI:-cli.mjs}" "$@"
