#!/usr/bin/env bash
# Usage: reaper.sh CMD [ARGS...]
# Runs CMD as its child and kills it once our parent (the test or demo process) is gone, so a
# test run that is SIGKILLed or crashes never leaves etcd, kube-apiserver or moto running.
# A SIGTERM to the reaper is passed on to CMD; the reaper exits with CMD's status.
set -u
parent=$PPID
"$@" &
child=$!

stop_child() {
  kill -TERM "$child" 2>/dev/null
  for _ in $(seq 50); do kill -0 "$child" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$child" 2>/dev/null
}
trap 'stop_child; wait "$child"; exit 143' TERM INT HUP

# Our parent is gone when we have been re-parented (to init or a subreaper).
parent_alive() { [[ "$(cut -d' ' -f4 /proc/$$/stat)" == "$parent" ]]; }

while kill -0 "$child" 2>/dev/null; do
  if ! parent_alive; then stop_child; exit 1; fi
  sleep 0.5 & wait $!   # waiting on a background sleep lets the TERM trap run at once
done
wait "$child"
