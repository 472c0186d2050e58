#!/usr/bin/env bash
# Builds or installs every tool the test environment needs, into a cache OUTSIDE the clone, keyed
# by version, so a fresh clone on the same machine reuses them. Idempotent; prints progress on the
# long first-run steps. Usage: tools.sh [all|node|kube|kubectl|kubelet|etcd|helm|moto]   (default: all)
# Prints nothing but progress to stderr; the cache layout is read by test/env/tools.ts.
set -euo pipefail

K8S_VERSION="${ELS_K8S_VERSION:-1.37.2}"
ETCD_VERSION="${ELS_ETCD_VERSION:-3.6.16}"
HELM_VERSION="${ELS_HELM_VERSION:-3.21.4}"
MOTO_VERSION="${ELS_MOTO_VERSION:-5.2.5}"
NODE_VERSION="${ELS_NODE_VERSION:-24}"

CACHE="${ELS_CACHE_DIR:-$HOME/.cache/external-llm-secrets}"
mkdir -p "$CACHE"
log() { printf '[tools] %s\n' "$*" >&2; }

# One build at a time per tool, even when two runs start together.
with_lock() { local name=$1; shift; exec {fd}>"$CACHE/.$name.lock"; flock "$fd"; "$@"; exec {fd}>&-; }

# A module that requires k8s.io/kubernetes at $K8S_VERSION with every staging module pinned to its
# matching v0.x release (the kubernetes module replaces them with local paths, which `go build`
# of a dependency cannot follow). $1: the work directory; the rest: packages tools.go imports.
kube_module() {
  local work=$1; shift
  local minor="0.${K8S_VERSION#1.}"
  local staging=(api apiextensions-apiserver apimachinery apiserver cli-runtime client-go cloud-provider
    cluster-bootstrap code-generator component-base component-helpers controller-manager cri-api
    cri-client cri-streaming csi-translation-lib dynamic-resource-allocation endpointslice externaljwt
    kms kube-aggregator kube-controller-manager kube-proxy kube-scheduler kubectl kubelet metrics
    mount-utils pod-security-admission sample-apiserver streaming)
  {
    echo "module els.local/kubebuild"
    echo "go 1.26"
    echo "require k8s.io/kubernetes v$K8S_VERSION"
    for s in "${staging[@]}"; do echo "replace k8s.io/$s => k8s.io/$s v$minor"; done
  } > "$work/go.mod"
  { echo "package main"; for p in "$@"; do echo "import _ \"$p\""; done; echo "func main() {}"; } > "$work/tools.go"
  (cd "$work" && go mod tidy >&2)
}

# -ldflags: stripped, with the version `kubectl version` and /version report.
kube_ldflags() {
  local minor="${K8S_VERSION#1.}"; minor="${minor%%.*}"
  local ld="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $pkg.gitVersion=v$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  done
  echo "$ld"
}

build_kube() {
  local out="$CACHE/kubernetes-v$K8S_VERSION"
  if [[ -x "$out/kube-apiserver" && -x "$out/kube-controller-manager" ]]; then return; fi
  log "building kube-apiserver and kube-controller-manager v$K8S_VERSION from the Go module (first run only, 10-20 minutes on 2 cores)"
  local work; work=$(mktemp -d)
  kube_module "$work" k8s.io/kubernetes/cmd/kube-apiserver/app k8s.io/kubernetes/cmd/kube-controller-manager/app
  local ld; ld=$(kube_ldflags)
  mkdir -p "$out.tmp"
  (cd "$work" && go build -trimpath -ldflags "$ld" -o "$out.tmp/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver >&2)
  log "kube-apiserver built; building kube-controller-manager"
  (cd "$work" && go build -trimpath -ldflags "$ld" -o "$out.tmp/kube-controller-manager" k8s.io/kubernetes/cmd/kube-controller-manager >&2)
  rm -rf "$out" "$work"; mv "$out.tmp" "$out"
  log "kubernetes v$K8S_VERSION ready in $out"
}

# One command of the kubernetes module, built at the apiserver's version into a directory of its
# own (existing caches are kept); after build_kube it reuses most compiled packages.
#   kubectl: the demo's hints and poking at the test cluster;
#   kubelet: the opt-in test node (test/env/node.ts).
# build_kube_cmd NAME REQUIRE: REQUIRE is the package kube_module puts in the go.mod.
build_kube_cmd() {
  local name=$1 require=$2
  local out="$CACHE/$name-v$K8S_VERSION"
  if [[ -x "$out/$name" ]]; then return; fi
  log "building $name v$K8S_VERSION from the Go module (first run only, a few minutes)"
  local started=$SECONDS
  local work; work=$(mktemp -d)
  kube_module "$work" "$require"
  mkdir -p "$out.tmp"
  (cd "$work" && go build -trimpath -ldflags "$(kube_ldflags)" -o "$out.tmp/$name" "k8s.io/kubernetes/cmd/$name" >&2)
  rm -rf "$out" "$work"; mv "$out.tmp" "$out"
  log "$name v$K8S_VERSION ready in $out ($((SECONDS - started)) s)"
}
build_kubectl() { build_kube_cmd kubectl k8s.io/kubernetes/cmd/kubectl; }
build_kubelet() { build_kube_cmd kubelet k8s.io/kubernetes/cmd/kubelet/app; }

build_etcd() {
  local out="$CACHE/etcd-v$ETCD_VERSION"
  if [[ -x "$out/etcd" ]]; then return; fi
  log "building etcd v$ETCD_VERSION from the Go module (first run only, a few minutes)"
  # The server module's go.mod replaces its sibling modules with local paths, so `go install
  # module@version` refuses it; a small module of ours requires it and pins the siblings instead.
  local work; work=$(mktemp -d)
  {
    echo "module els.local/etcdbuild"
    echo "go 1.26"
    echo "require go.etcd.io/etcd/server/v3 v$ETCD_VERSION"
    echo "require go.etcd.io/etcd/api/v3 v$ETCD_VERSION"
    echo "require go.etcd.io/etcd/client/pkg/v3 v$ETCD_VERSION"
    echo "require go.etcd.io/etcd/client/v3 v$ETCD_VERSION"
    echo "require go.etcd.io/etcd/pkg/v3 v$ETCD_VERSION"
  } > "$work/go.mod"
  printf 'package main\nimport _ "go.etcd.io/etcd/server/v3/embed"\nfunc main() {}\n' > "$work/tools.go"
  # tidy sees only what tools.go imports; `go get` of the main package adds the rest to go.sum.
  (cd "$work" && go mod tidy >&2 && go get "go.etcd.io/etcd/server/v3@v$ETCD_VERSION" >&2)
  mkdir -p "$out.tmp"
  (cd "$work" && go build -trimpath -ldflags "-s -w" -o "$out.tmp/etcd" go.etcd.io/etcd/server/v3 >&2)
  rm -rf "$out" "$work"; mv "$out.tmp" "$out"
  log "etcd v$ETCD_VERSION ready in $out"
}

build_helm() {
  local out="$CACHE/helm-v$HELM_VERSION"
  if [[ -x "$out/helm" ]]; then return; fi
  log "building helm v$HELM_VERSION from the Go module (first run only, a few minutes)"
  mkdir -p "$out.tmp"
  GOBIN="$out.tmp" GOFLAGS=-trimpath go install -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=v$HELM_VERSION" "helm.sh/helm/v3/cmd/helm@v$HELM_VERSION" >&2
  rm -rf "$out"; mv "$out.tmp" "$out"
  log "helm v$HELM_VERSION ready in $out"
}

install_moto() {
  local out="$CACHE/moto-$MOTO_VERSION"
  if [[ -f "$out/.complete" ]]; then return; fi
  log "installing moto[server]==$MOTO_VERSION into a virtual environment (first run only)"
  # Built in place (venv scripts carry their absolute path); .complete marks a finished install.
  rm -rf "$out"
  python3 -m venv "$out"
  "$out/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION" >&2
  touch "$out/.complete"
  log "moto $MOTO_VERSION ready in $out"
}

install_node() {
  local major; major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
  if (( major >= 22 )); then return; fi
  local out="$CACHE/node-$NODE_VERSION"
  if [[ -x "$out/node_modules/node/bin/node" ]]; then return; fi
  log "installing Node.js $NODE_VERSION from the npm registry's node package (first run only)"
  rm -rf "$out.tmp"; mkdir -p "$out.tmp"
  npm install --prefix "$out.tmp" --no-save --no-audit --no-fund --silent "node@$NODE_VERSION" >&2
  rm -rf "$out"; mv "$out.tmp" "$out"
}

what="${1:-all}"
case "$what" in
  node) with_lock node install_node ;;
  kube) with_lock kube build_kube ;;
  kubectl) with_lock kubectl build_kubectl ;;
  kubelet) with_lock kubelet build_kubelet ;;   # opt-in (test/env/node.ts), not part of "all"
  etcd) with_lock etcd build_etcd ;;
  helm) with_lock helm build_helm ;;
  moto) with_lock moto install_moto ;;
  all)
    with_lock node install_node
    with_lock moto install_moto
    with_lock etcd build_etcd
    with_lock helm build_helm
    with_lock kube build_kube
    with_lock kubectl build_kubectl
    ;;
  *) echo "usage: $0 [all|node|kube|kubectl|kubelet|etcd|helm|moto]" >&2; exit 2 ;;
esac
