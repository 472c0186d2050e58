#!/usr/bin/env bash
# Sets up a local container engine for test/image.test.ts on a Debian machine where we are root and
# no engine exists, and builds a Node 24 base image without any image registry. Idempotent: each
# step checks its result first, so a warm run costs a few `podman` calls. Progress on stderr; the
# one result on stdout. Called by test/env/container.ts; usable by hand.
#
#   podman-setup.sh engine       apt-installs podman + runc (+ jq, debootstrap), installs the runc
#                                wrapper, writes containers.conf, starts the Docker-compatible API
#                                service in the background; prints the socket path
#   podman-setup.sh base-image   builds localhost/els-node-base:<node version> once per version
#                                (debootstrap minbase bookworm + the cached Node 24 binary + npm from
#                                the npm registry), keeps the tarball under the cache; prints the name
#
# Why the wrapper: some VMs (ours) refuse setrlimit for container processes, so runc fails with
# "error setting rlimit ... operation not permitted". runc-norlimit deletes process.rlimits from the
# bundle's config.json (create/run) and from the --process file (exec), then execs runc. Containers
# then inherit conmon's limits. crun is not used: it fails on cgroup v1/hybrid hosts like ours.
set -euo pipefail

CACHE="${ELS_CACHE_DIR:-$HOME/.cache/external-llm-secrets}"
NODE_BIN="$CACHE/node-${ELS_NODE_VERSION:-24}/node_modules/node/bin/node"
if [[ $(id -u) == 0 ]]; then SOCKET="${ELS_PODMAN_SOCKET:-/run/podman/podman.sock}"
else SOCKET="${ELS_PODMAN_SOCKET:-${XDG_RUNTIME_DIR:-/tmp/podman-$(id -u)}/podman/podman.sock}"; fi
CLI="${ELS_CONTAINER_CLI:-podman}"   # base-image also works with docker (import, image inspect)
WRAPPER=/usr/local/libexec/els/runc-norlimit
CONF=/etc/containers/containers.conf
MARK="# written by external-llm-secrets test/env/podman-setup.sh"
log() { printf '[podman-setup] %s\n' "$*" >&2; }
mkdir -p "$CACHE"

need_root() {
  [[ $(id -u) == 0 ]] || { echo "podman-setup.sh $1: needs root (apt-get, /etc/containers)" >&2; exit 3; }
  [[ -r /etc/debian_version ]] || { echo "podman-setup.sh $1: needs Debian (apt-get, debootstrap)" >&2; exit 3; }
}

install_packages() {
  local missing=()
  for p in podman runc jq debootstrap; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [[ ${#missing[@]} == 0 ]] && return
  log "apt-get install ${missing[*]} (first run only, about a minute)"
  export DEBIAN_FRONTEND=noninteractive
  local aptlog="$CACHE/apt-install.log"
  { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" \
      conmon containernetworking-plugins fuse-overlayfs slirp4netns uidmap iptables; } > "$aptlog" 2>&1 \
    || { tail -30 "$aptlog" >&2; echo "apt-get install failed; see $aptlog" >&2; exit 1; }
}

install_wrapper() {
  local want
  want=$(cat <<'EOF'
#!/bin/sh
# runc without process.rlimits and process.oomScoreAdj (this VM refuses both for container
# processes). Installed by external-llm-secrets test/env/podman-setup.sh, for podman and for the
# test node's containerd (test/env/node-setup.sh).
cmd=""; bundle="."; process=""; prev=""
for a in "$@"; do
  case "$prev" in --bundle|-b) bundle=$a ;; --process|-p) process=$a ;; esac
  case "$a" in --bundle=*) bundle=${a#--bundle=} ;; --process=*) process=${a#--process=} ;; esac
  if [ -z "$cmd" ]; then case "$a" in create|run|exec) cmd=$a ;; esac; fi
  prev=$a
done
strip() { # file jq-path
  if [ -f "$1" ] && jq -e "$2 != null" "$1" >/dev/null 2>&1; then
    jq -c "del($2)" "$1" > "$1.norlimit" && mv "$1.norlimit" "$1"
  fi
}
case "$cmd" in
  create|run) strip "$bundle/config.json" .process.rlimits; strip "$bundle/config.json" .process.oomScoreAdj ;;
  exec) [ -n "$process" ] && { strip "$process" .rlimits; strip "$process" .oomScoreAdj; } ;;
esac
exec /usr/sbin/runc "$@"
EOF
)
  if [[ -x $WRAPPER && "$(cat "$WRAPPER")" == "$want" ]]; then return; fi
  log "installing $WRAPPER"
  mkdir -p "$(dirname "$WRAPPER")"
  printf '%s\n' "$want" > "$WRAPPER.tmp" && chmod 755 "$WRAPPER.tmp" && mv "$WRAPPER.tmp" "$WRAPPER"
}

write_conf() {
  local cgroup_manager=systemd events=journald
  # Without systemd as PID 1 (containers, CI VMs) podman needs cgroupfs and a file event log.
  if [[ ! -d /run/systemd/system ]]; then cgroup_manager=cgroupfs; events=file; fi
  local want
  want=$(printf '%s\n' "$MARK" '[engine]' 'runtime = "runc-norlimit"' "cgroup_manager = \"$cgroup_manager\"" \
    "events_logger = \"$events\"" '[engine.runtimes]' "runc-norlimit = [\"$WRAPPER\"]")
  if [[ -f $CONF && "$(cat "$CONF")" == "$want" ]]; then return; fi
  if [[ -f $CONF ]] && ! grep -qF "$MARK" "$CONF"; then
    log "$CONF exists and is not ours: leaving it alone (add runtime \"runc-norlimit\" = [\"$WRAPPER\"] yourself if containers fail with 'error setting rlimit')"
    return
  fi
  log "writing $CONF (default runtime: runc-norlimit, cgroup manager: $cgroup_manager)"
  mkdir -p /etc/containers
  printf '%s\n' "$want" > "$CONF"
}

api_up() { curl -sf --max-time 3 --unix-socket "$SOCKET" http://d/_ping >/dev/null 2>&1; }

start_service() {
  # A service started from a directory that has since been deleted answers the API but cannot
  # start containers ("write child: broken pipe"): replace it.
  local pid
  for pid in $(pgrep -f "podman system service" || true); do
    if [[ "$(readlink "/proc/$pid/cwd" 2>/dev/null)" == *"(deleted)" ]]; then
      log "podman system service $pid runs in a deleted directory; restarting it"
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
  done
  if api_up; then return; fi
  log "starting podman system service on unix://$SOCKET (background, no timeout)"
  mkdir -p "$(dirname "$SOCKET")"
  rm -f "$SOCKET"
  local logf="$CACHE/podman-service.log"
  # From /: the service (and every conmon it starts) keeps this working directory, and a clone or
  # worktree that is deleted later would leave containers failing with "write child: broken pipe".
  (cd / && exec setsid nohup podman system service --time=0 "unix://$SOCKET" >>"$logf" 2>&1 < /dev/null) &
  for _ in $(seq 1 100); do api_up && return; sleep 0.2; done
  echo "podman system service did not answer on $SOCKET; see $logf" >&2
  exit 1
}

engine() {
  if ! command -v podman >/dev/null || ! command -v runc >/dev/null || ! command -v jq >/dev/null; then need_root engine; fi
  if [[ $(id -u) == 0 && -r /etc/debian_version ]]; then
    install_packages
    install_wrapper
    write_conf
  fi
  start_service
  echo "$SOCKET"
}

base_image() {
  [[ -x $NODE_BIN ]] || { echo "no Node 24 at $NODE_BIN: run test/env/tools.sh node" >&2; exit 1; }
  local version; version=$("$NODE_BIN" --version)   # v24.x.y
  local image="localhost/els-node-base:${version#v}"
  local dir="$CACHE/base-image-${version#v}"
  if "$CLI" image inspect "$image" >/dev/null 2>&1; then echo "$image"; return; fi
  exec {fd}>"$CACHE/.base-image.lock"; flock "$fd"
  if "$CLI" image inspect "$image" >/dev/null 2>&1; then echo "$image"; return; fi
  if [[ ! -f $dir/rootfs.tar ]]; then
    command -v debootstrap >/dev/null || { need_root base-image; install_packages; }
    [[ $(id -u) == 0 ]] || { echo "podman-setup.sh base-image: debootstrap needs root" >&2; exit 3; }
    local started=$SECONDS work; work=$(mktemp -d "$CACHE/.base-image-work.XXXXXX")
    log "building the Node ${version#v} base image: debootstrap --variant=minbase bookworm (first run only, under a minute)"
    debootstrap --variant=minbase bookworm "$work/rootfs" "${ELS_DEBIAN_MIRROR:-http://deb.debian.org/debian}" > "$work/debootstrap.log" 2>&1 \
      || { tail -20 "$work/debootstrap.log" >&2; exit 1; }
    install -m 755 "$NODE_BIN" "$work/rootfs/usr/local/bin/node"
    # The npm registry's node package is the binary alone; the build stage needs npm too.
    local npm_version; npm_version=$("$NODE_BIN" -p 'process.versions.node.split(".")[0] >= 24 ? "11" : "10"')
    log "adding npm@$npm_version from the npm registry"
    PATH="$(dirname "$NODE_BIN"):$PATH" npm install --global --prefix "$work/rootfs/usr/local" --no-audit --no-fund --silent "npm@$npm_version" >&2
    # Machines behind a TLS-inspecting proxy need its CA for npm ci inside builds.
    local ca="${NODE_EXTRA_CA_CERTS:-}"
    if [[ -n $ca && -f $ca ]]; then install -m 644 "$ca" "$work/rootfs/usr/local/share/els-extra-ca.crt"; fi
    rm -rf "$work/rootfs"/var/cache/apt/* "$work/rootfs"/var/lib/apt/lists/* "$work/rootfs"/usr/share/doc/* \
      "$work/rootfs"/usr/share/man/* "$work/rootfs"/usr/share/info/* "$work/rootfs"/var/log/*
    tar -C "$work/rootfs" --numeric-owner -cf "$work/rootfs.tar" .
    rm -rf "$dir"; mkdir -p "$dir"; mv "$work/rootfs.tar" "$dir/rootfs.tar"; rm -rf "$work"
    log "base rootfs ready in $dir ($((SECONDS - started)) s)"
  fi
  log "importing $dir/rootfs.tar as $image"
  local changes=(--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
    --change "ENV NODE_VERSION=${version#v}" --change 'CMD ["node"]')
  if tar -tf "$dir/rootfs.tar" ./usr/local/share/els-extra-ca.crt >/dev/null 2>&1; then
    changes+=(--change 'ENV NODE_EXTRA_CA_CERTS=/usr/local/share/els-extra-ca.crt')
  fi
  "$CLI" import "${changes[@]}" "$dir/rootfs.tar" "$image" >&2
  echo "$image"
}

case "${1:-}" in
  engine) engine ;;
  base-image) base_image ;;
  wrapper) install_wrapper ;;   # the runc wrapper alone (the test node's containerd uses it too)
  *) echo "usage: $0 engine|base-image|wrapper" >&2; exit 2 ;;
esac
