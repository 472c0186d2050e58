#!/usr/bin/env bash
# Host set-up for the opt-in test node (test/env/node.ts). Idempotent: each step checks its result
# first. Progress on stderr; the one result on stdout. Needs root on Debian (like podman-setup.sh).
#
#   node-setup.sh runtime   apt-installs containerd (Debian's 1.6) if missing and installs the runc
#                           wrapper the node uses; prints the wrapper path
#   node-setup.sh images    builds localhost/els-node-pause:<node> (the Node 24 base image whose
#                           command blocks, for the pod sandbox) and saves it together with the base
#                           image (the workload image) to one OCI archive under the cache, once per
#                           version; prints the archive path
#
# The runc wrapper is podman's (podman-setup.sh `wrapper`): pod sandboxes ask for
# process.oomScoreAdj (-998 for the pause container), which this VM refuses just like setrlimit
# (runc then fails with "can't get final child's PID from pipe: EOF"), so it strips both.
set -euo pipefail

CACHE="${ELS_CACHE_DIR:-$HOME/.cache/external-llm-secrets}"
# The runc wrapper podman-setup.sh installs, shared: it strips what this VM refuses.
WRAPPER=/usr/local/libexec/els/runc-norlimit
HERE=$(cd "$(dirname "$0")" && pwd)
log() { printf '[node-setup] %s\n' "$*" >&2; }
mkdir -p "$CACHE"

need_root() {
  [[ $(id -u) == 0 ]] || { echo "node-setup.sh $1: needs root (apt-get, runc wrapper, containerd)" >&2; exit 3; }
  [[ -r /etc/debian_version ]] || { echo "node-setup.sh $1: needs Debian (apt-get)" >&2; exit 3; }
}

install_packages() {
  local missing=()
  for p in containerd runc jq; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [[ ${#missing[@]} == 0 ]] && return
  log "apt-get install ${missing[*]} (first run only, under a minute)"
  export DEBIAN_FRONTEND=noninteractive
  local aptlog="$CACHE/apt-install-node.log"
  { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}"; } > "$aptlog" 2>&1 \
    || { tail -30 "$aptlog" >&2; echo "apt-get install failed; see $aptlog" >&2; exit 1; }
  # Debian's package enables and starts a system containerd where systemd runs; the test node
  # starts its own (own config, root, state and socket), so the system one is not needed.
  if [[ -d /run/systemd/system ]]; then systemctl disable --now containerd >/dev/null 2>&1 || true; fi
}

runtime() {
  if ! command -v containerd >/dev/null || ! command -v runc >/dev/null || ! command -v jq >/dev/null; then need_root runtime; install_packages; fi
  if [[ $(id -u) == 0 ]]; then bash "$HERE/podman-setup.sh" wrapper; elif [[ ! -x $WRAPPER ]]; then need_root runtime; fi
  echo "$WRAPPER"
}

images() {
  # podman builds and saves the images (installed by podman-setup.sh engine on a fresh machine).
  command -v podman >/dev/null || bash "$HERE/podman-setup.sh" engine >/dev/null
  local base; base=$(bash "$HERE/podman-setup.sh" base-image)   # localhost/els-node-base:<version>
  local version=${base##*:}
  local pause="localhost/els-node-pause:$version"
  local archive="$CACHE/node-images-$version.tar"
  if [[ -f $archive ]]; then echo "$archive"; return; fi
  exec {fd}>"$CACHE/.node-images.lock"; flock "$fd"
  if [[ -f $archive ]]; then echo "$archive"; return; fi
  if ! podman image inspect "$pause" >/dev/null 2>&1; then
    log "building $pause (the base image, command: sleep infinity)"
    local work; work=$(mktemp -d)
    printf 'FROM %s\nCMD ["sleep", "infinity"]\n' "$base" > "$work/Containerfile"
    podman build -q -t "$pause" -f "$work/Containerfile" "$work" >&2
    rm -rf "$work"
  fi
  log "saving $base and $pause to $archive"
  # docker-archive: the only format podman saves several images to (they share all layers).
  podman save -q -m --format docker-archive -o "$archive.tmp" "$base" "$pause" >&2
  mv "$archive.tmp" "$archive"
  echo "$archive"
}

case "${1:-}" in
  runtime) runtime ;;
  images) images ;;
  *) echo "usage: $0 runtime|images" >&2; exit 2 ;;
esac
