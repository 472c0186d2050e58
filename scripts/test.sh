#!/usr/bin/env bash
# Usage: scripts/test.sh [VITEST ARGS...]   (npm test -- test/smoke.test.ts)
# Installs npm dependencies when needed, builds the test tools (first run: 10-20 minutes), then runs
# vitest on Node >= 22. The tests start their own etcd, kube-apiserver and moto on 127.0.0.1.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

# npm ci records the lock it installed from in node_modules/.package-lock.json; reinstall when it
# is missing or older than package-lock.json.
if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  echo "[test] npm ci" >&2
  npm ci --no-audit --no-fund
fi

echo "[test] checking test tools (etcd, kube-apiserver, kube-controller-manager, helm, moto, node)" >&2
bash test/env/tools.sh all

echo "[test] type-checking src, tests and scripts" >&2
bash scripts/with-node.sh npx tsc -p tsconfig.test.json

exec bash scripts/with-node.sh npx vitest run "$@"
