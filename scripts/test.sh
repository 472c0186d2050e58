#!/usr/bin/env bash
# Usage: scripts/test.sh [--load] [--passes N] [--load-max-minutes M] [VITEST ARGS...]
#   npm test                                   every suite, once
#   npm test -- test/smoke.test.ts             vitest arguments pass through
#   npm test -- --load --passes 5              the load suites, 5 times in a row, cores saturated
#   ELS_TEST_LOAD=1 npm test                   the same as --load
# Installs npm dependencies when needed, builds the test tools (first run: 10-20 minutes), then runs
# vitest on Node >= 22. The tests start their own etcd, kube-apiserver and moto on 127.0.0.1.
#
# --load: a CPU burner (scripts/cpu-burner.ts, one busy thread per core, normal priority) runs for
#   the whole of the vitest runs and is killed when this script ends, however it ends; it also
#   ends by itself when this script is gone, or after --load-max-minutes (default 30 per pass).
#   Without file arguments it runs the fault, rotation, sync and operations suites (and
#   test/recovery*.test.ts when present). Give vitest options that take a value as --opt=value:
#   any other argument not starting with "-" counts as a file filter.
# --passes N: run vitest N times in a row, stopping at the first failed pass, with a line per pass
#   and a summary.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

load="${ELS_TEST_LOAD:-}"
[[ "$load" == 0 || "$load" == false ]] && load=""
passes=1
passes_given=""
max_minutes=""
args=()
while (($# > 0)); do
  case "$1" in
    --load) load=1 ;;
    --passes) passes="${2:-}"; passes_given=1; shift ;;
    --passes=*) passes="${1#*=}"; passes_given=1 ;;
    --load-max-minutes) max_minutes="${2:-}"; shift ;;
    --load-max-minutes=*) max_minutes="${1#*=}" ;;
    *) args+=("$1") ;;
  esac
  shift
done
if ! [[ "$passes" =~ ^[1-9][0-9]*$ ]]; then echo "[test] --passes needs a positive integer" >&2; exit 2; fi
if [[ -n "$max_minutes" ]] && ! [[ "$max_minutes" =~ ^[1-9][0-9]*$ ]]; then echo "[test] --load-max-minutes needs a positive integer" >&2; exit 2; fi

# npm ci records the lock it installed from in node_modules/.package-lock.json; reinstall when it
# is missing or older than package-lock.json.
if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  echo "[test] npm ci" >&2
  npm ci --no-audit --no-fund
fi

echo "[test] checking test tools (etcd, kube-apiserver, kube-controller-manager, kubectl, helm, moto, node)" >&2
bash test/env/tools.sh all

echo "[test] type-checking src, tests and scripts" >&2
bash scripts/with-node.sh npx tsc -p tsconfig.test.json

# The plain run: exactly as before.
if [[ -z "$load" && -z "$passes_given" ]]; then
  exec bash scripts/with-node.sh npx vitest run "${args[@]}"
fi

tag="[passes]"
if [[ -n "$load" ]]; then
  tag="[loaded]"
  has_files=""
  for a in "${args[@]}"; do [[ "$a" != -* ]] && has_files=1; done
  if [[ -z "$has_files" ]]; then
    args+=(test/faults.test.ts test/rotation.test.ts test/sync.test.ts test/operations.test.ts)
    for f in test/recovery*.test.ts; do [[ -f "$f" ]] && args+=("$f"); done
  fi
fi

burner=""
vitest=""
# Runs on every exit of this script (success, failure, Ctrl-C, SIGTERM, SIGHUP). A SIGKILL skips
# it; the burner then notices within half a second that its parent is gone and ends itself.
cleanup() {
  if [[ -n "$vitest" ]] && kill -0 "$vitest" 2>/dev/null; then kill -TERM "$vitest" 2>/dev/null || true; wait "$vitest" 2>/dev/null || true; fi
  if [[ -n "$burner" ]] && kill -0 "$burner" 2>/dev/null; then kill -TERM "$burner" 2>/dev/null || true; wait "$burner" 2>/dev/null || true; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

if [[ -n "$load" ]]; then
  cap=$(( ${max_minutes:-$(( passes * 30 ))} * 60 ))
  # with-node.sh execs node, so $! is the burner itself and this shell is its parent.
  bash scripts/with-node.sh node --import tsx scripts/cpu-burner.ts --parent $$ --max-seconds "$cap" &
  burner=$!
fi

echo "$tag running ${passes} pass(es) of: vitest run ${args[*]}" >&2
run_started=$SECONDS
for ((pass = 1; pass <= passes; pass++)); do
  started=$SECONDS
  # In the background with `wait`, so a signal to this script is handled at once, not only when
  # vitest ends.
  bash scripts/with-node.sh vitest run "${args[@]}" &
  vitest=$!
  status=0
  wait "$vitest" || status=$?
  vitest=""
  took=$(( SECONDS - started ))
  load_avg="$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')"
  if [[ -n "$burner" ]] && ! kill -0 "$burner" 2>/dev/null; then
    echo "$tag pass $pass/$passes: the CPU burner ended before the pass did (cap of $cap s reached?), so it did not run fully under load; stopping" >&2
    exit 1
  fi
  if (( status != 0 )); then
    echo "$tag pass $pass/$passes: RED (vitest exit $status) after $took s (load average $load_avg); stopping" >&2
    echo "$tag summary: failed on pass $pass/$passes after $(( pass - 1 )) green pass(es), $(( SECONDS - run_started )) s in all" >&2
    exit "$status"
  fi
  echo "$tag pass $pass/$passes: green in $took s (load average $load_avg)" >&2
done
echo "$tag summary: $passes/$passes passes green, $(( SECONDS - run_started )) s in all" >&2
