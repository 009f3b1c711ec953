#!/usr/bin/env bash
# Installs what is needed and serves the built app (with the embedded default model) on port 5173.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d node_modules/.bin ] && [ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund
npx vite build
echo "Open http://localhost:5173/ in a WebGPU browser (Chrome/Edge 113+)."
exec npx vite preview --port 5173 --strictPort --host 127.0.0.1
