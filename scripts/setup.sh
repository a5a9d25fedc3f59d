#!/usr/bin/env bash
# Installs the pinned Bun (through npm) when it is missing or another version, then the dependencies.
set -euo pipefail
BUN_VERSION=1.4.5
cd "$(dirname "$0")/.."
if ! command -v bun >/dev/null 2>&1 || [ "$(bun --version 2>/dev/null)" != "$BUN_VERSION" ]; then
  echo "setup: installing bun@$BUN_VERSION with npm" >&2
  npm install -g "bun@$BUN_VERSION" >&2
fi
if [ -n "${CI:-}" ] || [ ! -d node_modules ] || [ bun.lock -nt node_modules ]; then
  bun install --frozen-lockfile >&2
  touch node_modules
fi
