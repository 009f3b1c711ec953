#!/usr/bin/env bash
# Makes sure Debian's Chromium (the test browser, and SwiftShader's Vulkan driver for Node's WebGPU)
# and the Vulkan loader are installed. Installs them through apt when run as root.
set -euo pipefail
have() { [ -x /usr/bin/chromium ] && [ -f /usr/lib/chromium/vk_swiftshader_icd.json ] && ldconfig -p | grep -q 'libvulkan.so.1'; }
have && exit 0
if [ "$(id -u)" -eq 0 ]; then
  echo "Installing chromium and libvulkan1 with apt-get..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends chromium libvulkan1 >/dev/null
  have || { echo "chromium/libvulkan1 installed, but /usr/bin/chromium or the SwiftShader ICD is still missing" >&2; exit 1; }
else
  echo "The tests need Debian's Chromium and the Vulkan loader. Install them with:" >&2
  echo "  sudo apt-get install --no-install-recommends chromium libvulkan1" >&2
  exit 1
fi
