#!/bin/sh
# legacy_alloc.sh STATE COUNT: the old allocation protocol, as the agent
# scripts that predate tasknum run it (the bench's seed-bash, in POSIX sh):
# lock = mkdir .state.lock beside the state with info "PID:EPOCH", retried
# every 0.1 s; then jq read, modify, mv. Prints the numbers it took, one
# per line. Exit 75 after 30 s of waiting. While the folder is there, it
# is broken (as such scripts do; a line on stderr says so) when
#   LEGACY_JUDGE=age (the default): it is older than 60 s ($LEGACY_STALE),
#     by its mtime; broken with rm info, rmdir;
#   LEGACY_JUDGE=pid: `kill -0` says the pid in info is gone; broken with
#     rm -rf.
set -u
state=$1
count=$2
stale=${LEGACY_STALE:-60}
judge=${LEGACY_JUDGE:-age}
lock="$(dirname "$state")/.state.lock"
start=$(date +%s)
while ! mkdir "$lock" 2>/dev/null; do
    now=$(date +%s)
    if [ "$judge" = pid ]; then
        pid=$(cut -d: -f1 "$lock/info" 2>/dev/null)
        if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
            rm -rf "$lock"
            echo "legacy_alloc: broke $lock: pid $pid is gone ($(date +%s.%N))" >&2
            continue
        fi
    else
        mtime=$(stat -c %Y "$lock" 2>/dev/null) || continue
        if [ $((now - mtime)) -gt "$stale" ]; then
            rm -f "$lock/info"; rmdir "$lock" 2>/dev/null
            echo "legacy_alloc: broke $lock: $((now - mtime)) s old ($(date +%s.%N))" >&2
            continue
        fi
    fi
    [ $((now - start)) -ge 30 ] && { echo "legacy_alloc: lock timeout" >&2; exit 75; }
    sleep 0.1
done
trap 'rm -f "$lock/info"; rmdir "$lock" 2>/dev/null' EXIT
echo "$$:$(date +%s)" > "$lock/info"
next=$(jq -r '.next_project_number' "$state") || exit 65
jq --argjson n $((next + count)) '.next_project_number = $n' "$state" > "$state.tmp.$$" || exit 71
mv "$state.tmp.$$" "$state" || exit 71
i=0
while [ $i -lt "$count" ]; do
    echo $((next + i))
    i=$((i + 1))
done
