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
# Why a second wrapper (runc-node) next to podman's runc-norlimit: pod sandboxes ask for
# process.oomScoreAdj (-998 for the pause container), which this VM refuses just like setrlimit;
# runc then fails with "can't get final child's PID from pipe: EOF". runc-node strips both
# process.rlimits and process.oomScoreAdj. podman's wrapper is left as it is.
set -euo pipefail

CACHE="${ELS_CACHE_DIR:-$HOME/.cache/external-llm-secrets}"
WRAPPER=/usr/local/libexec/els/runc-node
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

install_wrapper() {
  local want
  want=$(cat <<'WRAP'
#!/bin/sh
# runc without process.rlimits and process.oomScoreAdj (this VM refuses both for container
# processes). Installed by external-llm-secrets test/env/node-setup.sh for the test node's containerd.
cmd=""; bundle="."; process=""; prev=""
for a in "$@"; do
  case "$prev" in --bundle|-b) bundle=$a ;; --process|-p) process=$a ;; esac
  case "$a" in --bundle=*) bundle=${a#--bundle=} ;; --process=*) process=${a#--process=} ;; esac
  if [ -z "$cmd" ]; then case "$a" in create|run|exec) cmd=$a ;; esac; fi
  prev=$a
done
strip() { # file jq-filter
  if [ -f "$1" ]; then
    jq -c "$2" "$1" > "$1.stripped" && mv "$1.stripped" "$1"
  fi
}
case "$cmd" in
  create|run) strip "$bundle/config.json" 'del(.process.rlimits) | del(.process.oomScoreAdj)' ;;
  exec) [ -n "$process" ] && strip "$process" 'del(.rlimits) | del(.oomScoreAdj)' ;;
esac
exec /usr/sbin/runc "$@"
WRAP
)
  if [[ -x $WRAPPER && "$(cat "$WRAPPER")" == "$want" ]]; then return; fi
  log "installing $WRAPPER"
  mkdir -p "$(dirname "$WRAPPER")"
  printf '%s\n' "$want" > "$WRAPPER.tmp" && chmod 755 "$WRAPPER.tmp" && mv "$WRAPPER.tmp" "$WRAPPER"
}

runtime() {
  if ! command -v containerd >/dev/null || ! command -v runc >/dev/null || ! command -v jq >/dev/null; then need_root runtime; install_packages; fi
  if [[ $(id -u) == 0 ]]; then install_wrapper; elif [[ ! -x $WRAPPER ]]; then need_root runtime; fi
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
