# bench/remote.sh: the remote authorities in `make bench` (issue 11),
# sourced by scripts/bench.sh (it uses its RUNNER, ANALYZE, TASKNUM_RUN,
# SAMPLE, RES, ROUNDS, DEADLINE_S, WIDTH, log, field, and sets PROBLEM).
#
#   uncontended, interleaved rounds, one process at a time:
#     git-file / git-daemon  `tasknum allocate --authority git:origin` in a
#                            clone of a bare repository over file:// and over
#                            `git daemon` (a real transport), against
#     ...-floor              bench/git-floor: one `git ls-remote` + one
#                            `git push --force-with-lease` of a ready commit
#     pg / pg-floor          `tasknum allocate --authority postgresql://...`
#                            (TCP on loopback, a cluster made with initdb,
#                            fsync on) against bench/pg_floor.c: connect, one
#                            UPDATE ... RETURNING, disconnect
#   contended: 8 clones (git, over the daemon) and 16 projects sharing one
#   row (PostgreSQL), one process each, started together: throughput, and
#   the retries per allocation (lost races run again, from the audit logs).
#
# Every run is checked: no number twice, the remote's mark advanced by
# exactly the numbers printed, every state valid and agreeing with the
# numbers its process printed, nothing left behind, no failed call.
# Knobs: BENCH_REMOTE=0 skips it; BENCH_REMOTE_K (calls per round and
# contender, default 10), BENCH_REMOTE_CONT_K (calls per contending process,
# default 5); BENCH_REMOTE_GIT=0 skips git, BENCH_REMOTE_PG=0 PostgreSQL.

REMOTE_K=${BENCH_REMOTE_K:-10}
REMOTE_CONT_K=${BENCH_REMOTE_CONT_K:-5}
REMOTE_REF=refs/tasknum/specs%2Fstate.json
# Outside this repository's working tree: a state inside it would find this
# clone's .git first (the clones made here have their own).
RW=$(mktemp -d /tmp/tasknum-bench-remote.XXXXXX)
chmod 755 "$RW"
RDAEMON=""
PGBIN=""

remote_cleanup() {
    [[ -z $RDAEMON ]] || { kill "$RDAEMON" 2>/dev/null; wait "$RDAEMON" 2>/dev/null || true; }
    [[ -z $PGBIN ]] || pg_as_owner "$PGBIN/pg_ctl" -D "$RW/pg/data" -m immediate -w stop >/dev/null 2>&1 || true
    if [[ ${KEEP:-0} == 1 || ${PROBLEM:-0} == 1 ]]; then log "remote temp dir kept: $RW"; else rm -rf "$RW"; fi
}

rgit() { git -c user.name=bench -c user.email=bench@localhost -c advice.detachedHead=false "$@"; }

# A clone with a 40 KB state at specs/state.json: CLONE URL
rclone() {
    rgit clone -q "$2" "$1" 2>/dev/null
    mkdir -p "$1/specs"
    cp "${SAMPLE[40K]}" "$1/specs/state.json"
}

# git daemon on a free loopback port: sets RDAEMON (pid) and RPORT
rdaemon() {
    local i
    for ((i = 0; i < 20; i++)); do
        RPORT=$((20000 + RANDOM % 40000))
        git daemon --reuseaddr --export-all --enable=receive-pack --listen=127.0.0.1 --port="$RPORT" \
            --base-path="$RW/srv" "$RW/srv" 2>>"$RW/daemon.log" &
        RDAEMON=$!
        local t
        for ((t = 0; t < 100; t++)); do
            git ls-remote "git://127.0.0.1:$RPORT/file.git" >/dev/null 2>&1 && return 0
            kill -0 "$RDAEMON" 2>/dev/null || break
            sleep 0.05
        done
        kill "$RDAEMON" 2>/dev/null; wait "$RDAEMON" 2>/dev/null || true
        RDAEMON=""
    done
    return 1
}

# The chain of commits bench/git-floor pushes, one a call: CLONE N
floor_chain() {
    local c=$1 n=$2 i
    mkdir -p "$c/.floor"
    echo 0 >"$c/.floor/i"
    for ((i = 1; i <= n; i++)); do
        printf 'commit refs/floor-local\nmark :%d\ncommitter bench <bench@localhost> %d +0000\ndata 6\nfloor\n' \
            "$i" "$((1700000000 + i))"
        ((i == 1)) || printf 'from :%d\n' "$((i - 1))"
        printf 'M 100644 inline serial\ndata %d\n%d\n\n' "$((${#i} + 1))" "$i"
    done | git -C "$c" fast-import --quiet --export-marks="$c/.floor/marks"
    while read -r mark oid; do echo "$oid" >"$c/.floor/c$((${mark#:} - 1))"; done <"$c/.floor/marks"
}

counter_in() { jq -e '.next_project_number' "$1"; }
# The retries the audit logs of these state folders count.
retries_in() { cat "$@" 2>/dev/null | { grep -o '"retries":[0-9]*' || true; } | awk -F: '{ s += $2 } END { print s + 0 }'; }
# What is in a state folder that should not be (the local mark of a state
# outside git is expected).
rleftovers() {
    local f out=()
    for f in "$1"/.* "$1"/*; do
        case ${f##*/} in
            . | .. | state.json | .state.json.lock | .state.json.numbering.lock | .state.json.numbering.mark) ;;
            .gitignore) ;; # tasknum keeps its files out of git in a working tree
            *.jsonl | '*' | '.*') ;;
            *) out+=("${f##*/}") ;;
        esac
    done
    echo "${out[*]}"
}

# Records one remote measurement: KIND NAME P K START FINAL VALID LEFT AUDIT [KEY=VALUE...] -- DIR...
rrecord() {
    local kind=$1 name=$2 p=$3 k=$4 start=$5 final=$6 valid=$7 left=$8 audit=$9
    shift 9
    LAST=$("${ANALYZE[@]}" run kind="$kind" name="$name" p="$p" k="$k" start="$start" final="$final" \
        width="$WIDTH" valid="$valid" leftover="$left" audit="$audit" strict=1 "$@")
    echo "$LAST" >>"$RES"
    if [[ $(field "$LAST" ok) != true ]]; then
        PROBLEM=1
        log "check FAILED: $kind $name: $LAST"
    fi
}

# Uncontended: ours and the floor in interleaved rounds.
#   runcontended NAME STATE FLOOR_START FLOOR_FINAL_CMD OURS_CMD... -- FLOOR_CMD...
# FLOOR_FINAL_CMD (evaluated after the runs) prints the floor's counter.
runcontended() {
    local name=$1 state=$2 fstart=$3 ffinal=$4 ours=() floor=() r dirs=() fdirs=() start
    shift 4
    while [[ $1 != -- ]]; do ours+=("$1"); shift; done
    shift
    floor=("$@")
    start=$(counter_in "$state")
    mkdir -p "$RW/data"
    for ((r = 1; r <= ROUNDS; r++)); do
        dirs+=("$RW/data/$name-r$r")
        fdirs+=("$RW/data/$name-floor-r$r")
        if ((r % 2)); then
            sync; "$RUNNER" -p 1 -k "$REMOTE_K" -d "${dirs[-1]}" -t "$DEADLINE_S" -- "${ours[@]}" || true
            sync; "$RUNNER" -p 1 -k "$REMOTE_K" -d "${fdirs[-1]}" -t "$DEADLINE_S" -- "${floor[@]}" || true
        else
            sync; "$RUNNER" -p 1 -k "$REMOTE_K" -d "${fdirs[-1]}" -t "$DEADLINE_S" -- "${floor[@]}" || true
            sync; "$RUNNER" -p 1 -k "$REMOTE_K" -d "${dirs[-1]}" -t "$DEADLINE_S" -- "${ours[@]}" || true
        fi
    done
    rrecord remote "$name" 1 "$((REMOTE_K * ROUNDS))" "$start" "$(counter_in "$state")" \
        "$(jq -e 'type == "object"' "$state" >/dev/null && echo 1 || echo 0)" "$(rleftovers "$(dirname "$state")")" \
        "$(dirname "$state")/.state.json.audit.jsonl" -- "${dirs[@]}"
    log "  $name: p50 $(field "$LAST" p50) ms"
    rrecord remote "$name-floor" 1 "$((REMOTE_K * ROUNDS))" "$fstart" "$(eval "$ffinal")" 1 "" "" -- "${fdirs[@]}"
    log "  $name-floor: p50 $(field "$LAST" p50) ms"
}

# Contended: P processes, one a state (runner -m), started together.
#   runcontention NAME P STATE_PATTERN (with %W) FINAL_CMD CMD...
# FINAL_CMD (evaluated after) prints the remote's serial.
runcontention() {
    local name=$1 p=$2 pattern=$3 final=$4 i agree=1 valid=1 left="" audits=() d retries
    d=$RW/data/$name
    shift 4
    mkdir -p "$d"
    sync; "$RUNNER" -p "$p" -k "$REMOTE_CONT_K" -m "$p" -d "$d" -t "$DEADLINE_S" -- "$@" || true
    for ((i = 0; i < p; i++)); do
        local s=${pattern//%W/$i} top
        jq -e 'type == "object"' "$s" >/dev/null || valid=0
        top=$(tr -s ' ' '\n' <"$(printf '%s/w%03d.out' "$d" "$i")" | sort -n | tail -1)
        [[ -z $top || $(counter_in "$s") == $((top + 1)) ]] || agree=0
        left+=$(rleftovers "$(dirname "$s")")
        audits+=("$(dirname "$s")/.state.json.audit.jsonl")
    done
    retries=$(retries_in "${audits[@]}")
    rrecord remote_cont "$name" "$p" "$REMOTE_CONT_K" 0 "$(eval "$final")" "$((valid && agree))" "$left" "" \
        agree="$agree" retries="$retries" -- "$d"
    log "  $name: $(field "$LAST" thr) allocs/s, max $(field "$LAST" max) ms, $retries retries for $(field "$LAST" allocs) numbers"
}

remote_git() {
    log "remote authorities: git over file:// and git daemon ($ROUNDS rounds of $REMOTE_K calls)"
    mkdir -p "$RW/srv" "$RW/data"
    local t i
    for t in file daemon cont; do git init -q --bare "$RW/srv/$t.git"; done
    rdaemon || { log "git daemon did not start: no git rows"; return; }
    for t in file daemon; do
        local url="file://$RW/srv/file.git"
        [[ $t == file ]] || url="git://127.0.0.1:$RPORT/daemon.git"
        rclone "$RW/git-$t" "$url"
        rclone "$RW/git-$t-floor" "$url"
        floor_chain "$RW/git-$t-floor" "$((REMOTE_K * ROUNDS + 1))"
        runcontended "git-$t" "$RW/git-$t/specs/state.json" 0 "cat '$RW/git-$t-floor/.floor/i'" \
            "$TASKNUM_RUN" allocate --state "$RW/git-$t/specs/state.json" --authority git:origin --format plain \
            -- "$BENCH/git-floor" "$RW/git-$t-floor"
    done
    for ((i = 0; i < 8; i++)); do rclone "$RW/cont/c$i" "git://127.0.0.1:$RPORT/cont.git"; done
    log "remote authorities: 8 clones contending over git daemon, $REMOTE_CONT_K calls each"
    runcontention git-8-clones 8 "$RW/cont/c%W/specs/state.json" \
        "git --git-dir='$RW/srv/cont.git' cat-file blob '$REMOTE_REF:serial'" \
        "$TASKNUM_RUN" allocate --state "$RW/cont/c%W/specs/state.json" --authority git:origin --format plain
}

pg_as_owner() {
    if [[ $(id -u) == 0 ]]; then setpriv --reuid=nobody --regid=nogroup --clear-groups -- "$@"; else "$@"; fi
}

remote_pg() {
    PGBIN=$(pg_config --bindir 2>/dev/null || true)
    [[ -x $PGBIN/initdb ]] || PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
    if [[ ! -x $PGBIN/initdb ]]; then PGBIN=""; log "PostgreSQL is not installed: no postgresql rows"; return; fi
    local inc
    inc=$(pg_config --includedir 2>/dev/null || echo /usr/include/postgresql)
    cc -O2 -Wall -Wextra -I"$inc" -o "$BIN/pg_floor" "$BENCH/pg_floor.c" -lpq || { log "pg_floor did not build"; return; }
    local pg=$RW/pg port i
    mkdir -p "$pg/sock"
    [[ $(id -u) != 0 ]] || chown nobody:nogroup "$pg" "$pg/sock"
    pg_as_owner "$PGBIN/initdb" -D "$pg/data" -U tasknum -A trust --no-locale -E UTF8 >"$pg/initdb.log" 2>&1 ||
        { log "initdb failed: $(tail -3 "$pg/initdb.log")"; PGBIN=""; return; }
    for ((i = 0; i < 20; i++)); do
        port=$((20000 + RANDOM % 40000))
        pg_as_owner "$PGBIN/pg_ctl" -D "$pg/data" -l "$pg/log" -w -t 60 \
            -o "-k $pg/sock -p $port -c listen_addresses=127.0.0.1" start >/dev/null 2>&1 && break
        port=""
    done
    [[ -n $port ]] || { log "PostgreSQL did not start: $(tail -3 "$pg/log")"; PGBIN=""; return; }
    rpsql() { "$PGBIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 -h "$pg/sock" -p "$port" -U tasknum "$@"; }
    rpsql -d postgres -c "CREATE DATABASE bench"
    rpsql -d bench -c "CREATE TABLE tasknum_floor (key text PRIMARY KEY, serial bigint NOT NULL); INSERT INTO tasknum_floor VALUES ('floor', 0)"
    local uri="postgresql://tasknum@127.0.0.1:$port/bench"
    log "remote authorities: PostgreSQL over TCP ($ROUNDS rounds of $REMOTE_K calls)"
    mkdir -p "$RW/pg-seq/specs"
    cp "${SAMPLE[40K]}" "$RW/pg-seq/specs/state.json"
    # the floor prints the serial after its update (1, 2, ...): its final is one more
    runcontended pg "$RW/pg-seq/specs/state.json" 1 \
        "echo \$((\$(rpsql -d bench -c \"SELECT serial FROM tasknum_floor WHERE key = 'floor'\") + 1))" \
        "$TASKNUM_RUN" allocate --state "$RW/pg-seq/specs/state.json" --authority "$uri#seq" --format plain \
        -- "$BIN/pg_floor" "$uri"
    for ((i = 0; i < 16; i++)); do
        mkdir -p "$RW/pg-cont/p$i/specs"
        cp "${SAMPLE[40K]}" "$RW/pg-cont/p$i/specs/state.json"
    done
    log "remote authorities: 16 projects contending for one PostgreSQL row, $REMOTE_CONT_K calls each"
    runcontention pg-16-clients 16 "$RW/pg-cont/p%W/specs/state.json" \
        "rpsql -d bench -c \"SELECT serial FROM tasknum_numbering WHERE key = 'cont'\"" \
        "$TASKNUM_RUN" allocate --state "$RW/pg-cont/p%W/specs/state.json" --authority "$uri#cont" --format plain
}

if [[ ${BENCH_REMOTE:-1} != 0 ]]; then
    [[ ${BENCH_REMOTE_GIT:-1} == 0 ]] || remote_git
    [[ ${BENCH_REMOTE_PG:-1} == 0 ]] || remote_pg
fi
