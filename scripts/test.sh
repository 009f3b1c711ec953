#!/usr/bin/env bash
# The whole test suite: lint, type check, unit + GPU kernel tests (Vitest on Node's WebGPU), e2e (Playwright).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-browser.sh
[ -d node_modules/.bin ] && [ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund
npm run lint
npm run typecheck
npx vitest run
npx playwright test
