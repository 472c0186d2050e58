#!/usr/bin/env bash
# Usage: scripts/with-node.sh CMD [ARGS...]
# Runs CMD with Node >= 22 first on PATH: the machine's node when it is new enough, otherwise the
# Node 24 that test/env/tools.sh installs from the npm registry's `node` package.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bash "$root/test/env/tools.sh" node
cache="${ELS_CACHE_DIR:-$HOME/.cache/external-llm-secrets}"
node_dir="$cache/node-${ELS_NODE_VERSION:-24}/node_modules"
if [[ -x "$node_dir/node/bin/node" ]]; then
  export PATH="$node_dir/node/bin:$node_dir/.bin:$PATH"
fi
export PATH="$root/node_modules/.bin:$PATH"
exec "$@"
