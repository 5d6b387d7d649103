#!/bin/sh
# legacy_alloc.sh STATE COUNT: the old allocation protocol, as the agent
# scripts that predate tasknum run it (the bench's seed-bash, in POSIX sh):
# lock = mkdir .state.lock beside the state with info "PID:EPOCH", retried
# every 0.1 s, a folder older than 60 s broken; then jq read, modify, mv.
# Prints the numbers it took, one per line. Exit 75 after 30 s of waiting.
set -u
state=$1
count=$2
lock="$(dirname "$state")/.state.lock"
start=$(date +%s)
while ! mkdir "$lock" 2>/dev/null; do
    now=$(date +%s)
    mtime=$(stat -c %Y "$lock" 2>/dev/null) || continue
    if [ $((now - mtime)) -gt 60 ]; then
        rm -f "$lock/info"; rmdir "$lock" 2>/dev/null
        continue
    fi
    [ $((now - start)) -ge 30 ] && { echo "legacy_alloc: lock timeout" >&2; exit 75; }
    sleep 0.1
done
trap 'rm -f "$lock/info"; rmdir "$lock" 2>/dev/null' EXIT
echo "$$:$(date +%s)" > "$lock/info"
next=$(jq -r '.next_project_number' "$state") || exit 65
jq --argjson n $((next + count)) '.next_project_number = $n' "$state" > "$state.tmp" || exit 71
mv "$state.tmp" "$state" || exit 71
i=0
while [ $i -lt "$count" ]; do
    echo $((next + i))
    i=$((i + 1))
done
