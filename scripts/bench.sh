#!/usr/bin/env bash
# scripts/bench.sh: `make bench`. tasknum against the other ways of handing
# out task numbers, measured side by side in one run on this machine, with
# the targets of issue 6. Writes bench/RESULTS.md and prints it.
#
# Contenders (bench/): c-floor (bench/c_floor.c, the durable floor),
# tasknum (build/tasknum, called directly), sqlite, flock-jq, mkdir-jq
# (the original design). Each is called as CONTENDER STATE_PATH COUNT by
# bench/runner (bench/runner.c), which spawns P of them in parallel, K calls
# each, and records every call's latency, exit status, peak RSS and stdout.
# bench/analyze.lua checks every run (no duplicate, counter advanced by
# exactly the total printed, state valid JSON, no failed call, nothing left
# behind) and writes the report.
#
# Knobs (environment):
#   BENCH_CONTENDERS  names, in report order (default: all five; tasknum is
#                     left out with a warning when build/tasknum is missing)
#   BENCH_PROCS       contention levels (default "1 4 16 64")
#   BENCH_TARGET_S    seconds one contention run should last (default 3)
#   BENCH_SEQ_S       seconds of sequential calls per contender (default 2)
#   BENCH_ROUNDS      interleaved rounds of the sequential runs (default 3)
#   BENCH_CONT_ROUNDS interleaved rounds of the contention runs (default 2)
#   BENCH_SIZES       state sizes for tasknum vs c-floor (default "40K 1M 20M")
#   BENCH_MCP_CALLS   allocate tool calls on a warm `tasknum mcp`, timed
#                     against as many CLI allocations (default 200; 0: none)
#   BENCH_OUT         report file (default bench/RESULTS.md)
#   BENCH_KEEP=1      keep the temp dir (it is kept anyway when a check fails)
#   BENCH_REMOTE=0    no git:REMOTE / postgresql:// rows (bench/remote.sh has
#                     their knobs)
#   TASKNUM           the binary (default build/tasknum)
#   BENCH_TASKNUM_NOTE  a note on that binary for the report (e.g. its commit)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
BIN=$ROOT/build/bench
TASKNUM=${TASKNUM:-$ROOT/build/tasknum}
CONTENDERS=${BENCH_CONTENDERS:-tasknum c-floor sqlite flock-jq mkdir-jq}
PROCS=${BENCH_PROCS:-1 4 16 64}
TARGET_S=${BENCH_TARGET_S:-3}
SEQ_S=${BENCH_SEQ_S:-2}
ROUNDS=${BENCH_ROUNDS:-3}
CONT_ROUNDS=${BENCH_CONT_ROUNDS:-2}
SIZES=${BENCH_SIZES:-40K 1M 20M}
MCP_CALLS=${BENCH_MCP_CALLS:-200}
OUT=${BENCH_OUT:-$BENCH/RESULTS.md}
KEEP=${BENCH_KEEP:-0}
WIDTH=1000000            # range 0..999999: the bench never wraps
CAP_S=20                 # a contention worker starts no call after this
DEADLINE_S=150           # the runner kills a measurement after this

log() { printf '[bench %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# --- tools ------------------------------------------------------------------
need=()
for t in jq:jq sqlite3:sqlite3 flock:util-linux lua5.4:lua5.4 cc:gcc findmnt:util-linux; do
    command -v "${t%%:*}" >/dev/null 2>&1 || need+=("${t#*:}")
done
if ((${#need[@]})); then
    log "installing ${need[*]}"
    [[ $(id -u) == 0 ]] || die "missing ${need[*]} and not root: install them first"
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >&2
fi

# --- build the C parts ----------------------------------------------------------
mkdir -p "$BIN"
for pair in runner:runner.c c-floor:c_floor.c mcp_bench:mcp_bench.c; do
    exe=$BIN/${pair%%:*} src=$BENCH/${pair#*:}
    if [[ ! -x $exe || $src -nt $exe ]]; then
        cc -O2 -Wall -Wextra -o "$exe" "$src"
    fi
done
RUNNER=$BIN/runner
# Every run starts with `sync`: the contenders that do not fsync (jq + mv)
# leave dirty pages, and an fsync on ext4 then waits for them too, so the
# next contender would pay for the previous one.
export BENCH_HOLD=1      # c-floor tells its lock hold time on stderr
ANALYZE=(lua5.4 "$BENCH/analyze.lua")
# The bench's projects sit inside this repository's working tree, where the
# default authority would be `worktrees` (its marks in this clone's .git):
# tasknum is measured with the file authority unless a contender says.
export TASKNUM_AUTHORITY=file

LIST=()
for c in $CONTENDERS; do
    if [[ $c == tasknum && ! -x $TASKNUM ]]; then
        log "warning: $TASKNUM does not exist (run make): tasknum is left out"
        continue
    fi
    LIST+=("$c")
done
((${#LIST[@]})) || die "no contender"
has() { local x; for x in "${LIST[@]}"; do [[ $x == "$1" ]] && return 0; done; return 1; }
# The contenders in round R: reversed in even rounds, so none always runs
# right after the same neighbour or always first.
order() { # R
    local i
    if (($1 % 2)); then
        printf '%s\n' "${LIST[@]}"
    else
        for ((i = ${#LIST[@]} - 1; i >= 0; i--)); do echo "${LIST[i]}"; done
    fi
}

# The argv of one call. tasknum is called directly: a #!/bin/sh wrapper
# would add a shell start (~0.5 ms) to every call.
cmd_of() { # NAME STATE COUNT -> CMD array
    case $1 in
        tasknum) CMD=("$TASKNUM_RUN" allocate --state "$2" --count "$3" --format plain) ;;
        c-floor) CMD=("$BIN/c-floor" "$2" "$3") ;;
        sqlite | flock-jq | mkdir-jq) CMD=("$BENCH/$1" "$2" "$3") ;;
        *) die "unknown contender $1" ;;
    esac
}
# Untimed preparation of a fresh project for a contender.
setup() { # NAME STATE
    case $1 in
        sqlite) "$BENCH/sqlite" --seed "$2" ;;
    esac
}
counter_of() { # NAME STATE -> the counter now
    case $1 in
        sqlite) "$BENCH/sqlite.next" "$2" ;;
        *) jq -e '.next_project_number' "$2" ;;
    esac
}

# --- temp dirs ------------------------------------------------------------------
mkdir -p "$BENCH/tmp"
WORK=$(mktemp -d "$BENCH/tmp/run.XXXXXX")
RES=$WORK/results.lua
PROBLEM=0
cleanup() {
    local rc=$?
    ! declare -F remote_cleanup >/dev/null || remote_cleanup
    if [[ $KEEP == 1 || $PROBLEM == 1 || $rc != 0 ]]; then
        log "temp dir kept: $WORK"
    else
        rm -rf "$WORK"
        rmdir "$BENCH/tmp" 2>/dev/null || true
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A snapshot of the binary: a rebuild during the run must not mix versions
# (the Lua side is embedded in it).
TASKNUM_RUN=$TASKNUM
if has tasknum; then
    TASKNUM_RUN=$WORK/tasknum
    cp "$TASKNUM" "$TASKNUM_RUN"
fi

# State files, generated once and copied into a fresh project per measurement.
declare -A SAMPLE SIZE_ARGS=([40K]="--projects 30" [1M]="--size 1048576" [20M]="--size 20971520")
gen() { # LABEL ARGS...
    local f=$WORK/sample-$1.json
    lua5.4 "$BENCH/gen_state.lua" "$f" "${@:2}" 2>/dev/null
    SAMPLE[$1]=$f
}
gen 40K --projects 30
gen wrap --projects 30 --max 999 --next 997
for s in $SIZES; do
    [[ -n ${SIZE_ARGS[$s]:-} ]] || die "unknown size $s (40K, 1M, 20M)"
    [[ -n ${SAMPLE[$s]:-} ]] || gen "$s" ${SIZE_ARGS[$s]}
done

NPROJ=0
newproj() { # SAMPLE-LABEL -> STATE: a fresh project with that state
    NPROJ=$((NPROJ + 1))
    local d=$WORK/p$NPROJ/.opencode/specs
    mkdir -p "$d"
    cp "${SAMPLE[$1]}" "$d/state.json"
    STATE=$d/state.json
}
# What is in the state folder that should not be: temp files, a lock
# folder, a backup. The lock files (.state.json.lock), the audit log, the
# state and sqlite's side database are expected.
leftovers() { # STATE
    local d f out=()
    d=$(dirname "$1")
    for f in "$d"/.* "$d"/*; do
        f=${f##*/}
        case $f in
            . | .. | state.json | .state.json.lock | state.counter.db | state.counter.db-wal | state.counter.db-shm) ;;
            .gitignore) ;; # tasknum in a git tree (bench/tmp is in this repository's) appends to it
            *.log | *.jsonl) ;;
            '*' | '.*') ;;
            *) out+=("$f") ;;
        esac
    done
    echo "${out[*]}"
}
valid_json() { jq -e 'type == "object"' "$1" >/dev/null 2>&1 && echo 1 || echo 0; }

# Checks and records one measurement: the runner dirs of all its rounds
# against the state they used and the counter before the first round.
# Sets LAST (the record); a failed check marks the run as a problem.
check() { # KIND NAME P K STATE START [KEY=VALUE...] DIR...
    local kind=$1 name=$2 p=$3 k=$4 state=$5 start=$6 final audit extra=() dirs=()
    shift 6
    while (($#)); do
        if [[ $1 == *=* && ! -d $1 ]]; then extra+=("$1"); else dirs+=("$1"); fi
        shift
    done
    final=$(counter_of "$name" "$state" || echo -1)
    audit=$(ls -d "$(dirname "$state")"/*audit* "$(dirname "$state")"/.*audit* 2>/dev/null | head -1 || true)
    LAST=$("${ANALYZE[@]}" run kind="$kind" name="$name" p="$p" k="$k" start="$start" final="$final" \
        width=$WIDTH valid="$(valid_json "$state")" leftover="$(leftovers "$state")" \
        size="$(stat -c %s "$state")" audit="$audit" "${extra[@]}" -- "${dirs[@]}")
    echo "$LAST" >>"$RES"
    # Unsafe (a duplicate, a lost or extra count, a broken file) fails the
    # bench for anyone; a failed call or a leftover fails it for tasknum and
    # c-floor, and is a finding about the design for the alternatives (the
    # mkdir lock gives up after 30 s under heavy contention).
    if [[ $(field "$LAST" safe) != true ]] ||
        [[ ($name == tasknum* || $name == c-floor) && $(field "$LAST" ok) != true ]]; then
        PROBLEM=1
        log "check FAILED: $kind $name P=$p: $LAST"
    elif [[ $(field "$LAST" ok) != true ]]; then
        log "note: $kind $name P=$p: safe, but $(field "$LAST" failed) calls failed ($(field "$LAST" fail_codes)), left: '$(field "$LAST" leftover)'; stderr: $(field "$LAST" stderr)"
    fi
}
field() { # RECORD KEY -> value (numbers to 4 digits, strings unquoted)
    local q="[{,]$2=\"(([^\"\\\\]|\\\\.)*)\"" re="[{,]$2=([^,}]*)" v
    if [[ $1 =~ $q ]]; then
        echo "${BASH_REMATCH[1]}"
        return 0
    fi
    [[ $1 =~ $re ]] || return 0
    v=${BASH_REMATCH[1]}
    [[ $v =~ ^-?[0-9]+\.[0-9]+$ ]] && v=$(printf "%.4g" "$v")
    echo "$v"
}

T0=$(date +%s)
log "contenders: ${LIST[*]}; PROCS=$PROCS; work dir $WORK"

# --- environment record -------------------------------------------------------------
tasknum_v="not built"
if has tasknum; then
    tasknum_v="$("$TASKNUM" --version 2>/dev/null | head -1 || echo '?'), commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet HEAD -- core lua 'scripts/*.lua' 2>/dev/null || echo ' + uncommitted changes')"
    [[ $TASKNUM == "$ROOT/build/tasknum" ]] || tasknum_v="$("$TASKNUM" --version 2>/dev/null | head -1 || true), $TASKNUM"
    [[ -z ${BENCH_TASKNUM_NOTE:-} ]] || tasknum_v="$tasknum_v ($BENCH_TASKNUM_NOTE)"
fi
"${ANALYZE[@]}" record kind=env date="$(date -Is)" nproc="$(nproc)" \
    cpu="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)" \
    kernel="$(uname -r)" mem="$(awk '/^MemTotal/ {printf "%.0f GiB RAM", $2 / 1048576}' /proc/meminfo)" \
    tmpdir="${WORK#"$ROOT"/}" fs="$(findmnt -n -o FSTYPE,SOURCE,OPTIONS -T "$WORK" | awk '{print $1 " (" $2 ", " $3 ")"}')" \
    load_start="$(cut -d' ' -f1-3 /proc/loadavg)" tasknum="$tasknum_v" \
    tools="$(jq --version), $(flock --version | head -1), sqlite3 $(sqlite3 --version | cut -d' ' -f1), $(lua5.4 -v 2>&1 | head -1 | cut -d' ' -f1-2), $(cc --version | head -1)" \
    config="PROCS=$PROCS TARGET_S=$TARGET_S SEQ_S=$SEQ_S ROUNDS=$ROUNDS CONT_ROUNDS=$CONT_ROUNDS SIZES=$SIZES CAP_S=$CAP_S MCP_CALLS=$MCP_CALLS" \
    contenders="${LIST[*]}" procs="$PROCS" seq_rounds="$ROUNDS" cont_rounds="$CONT_ROUNDS" >>"$RES"

# --- sanity: wrap from 997 on 0..999 -------------------------------------------------
log "sanity (range 0..999, next 997: allocate 1 then 3)"
for c in "${LIST[@]}"; do
    newproj wrap; setup "$c" "$STATE"
    d=$WORK/data/$c/sanity
    mkdir -p "$d"
    cmd_of "$c" "$STATE" 1
    rc1=0; "${CMD[@]}" >"$d/out1" 2>"$d/err1" || rc1=$?
    cmd_of "$c" "$STATE" 3
    rc3=0; "${CMD[@]}" >"$d/out3" 2>"$d/err3" || rc3=$?
    o1=$(tr -s ' \n' ' ' <"$d/out1" | sed 's/ $//') o3=$(tr -s ' \n' ' ' <"$d/out3" | sed 's/ $//')
    cnt=$(counter_of "$c" "$STATE" || echo '?')
    changed=$(diff "${SAMPLE[wrap]}" "$STATE" | grep -c '^>' || true)
    files=$(cd "$(dirname "$STATE")" && ls -A | tr '\n' ' ' | sed 's/ $//')
    ok=0
    [[ $o1 == 997 && $o3 == "998 999 0" && $rc1 == 0 && $rc3 == 0 && $cnt == 1 && $(valid_json "$STATE") == 1 ]] && ok=1
    ((ok)) || { PROBLEM=1; log "sanity FAILED for $c: '$o1' '$o3' rc $rc1/$rc3 counter $cnt: $(cat "$d/err1" "$d/err3")"; }
    "${ANALYZE[@]}" record kind=sanity name="$c" out1="$o1" out3="$o3" exits="$rc1/$rc3" counter="$cnt" \
        valid="$(valid_json "$STATE")" changed="$changed" files="$files" ok=$ok >>"$RES"
done

# --- floors: process start --------------------------------------------------------------
log "floors (process start)"
floor() { # NAME ARGV...
    local d=$WORK/data/floor-$NPROJ-$RANDOM
    sync; "$RUNNER" -p 1 -k 300 -d "$d" -- "${@:2}"
    "${ANALYZE[@]}" run kind=floor name="$1" p=1 k=300 valid=1 -- "$d" >>"$RES"
}
floor /bin/true /bin/true
floor "sh -c 'exec /bin/true'" sh -c 'exec /bin/true'

# --- sequential: interleaved rounds ------------------------------------------------------
# A short probe sizes the calls (SEQ_S seconds per contender in all), then
# ROUNDS rounds run each contender in turn, so drift in the machine's speed
# hits every contender alike. Fresh project per contender, 40 KB state.
log "sequential latency ($ROUNDS rounds, ~${SEQ_S} s per contender)"
declare -A SEQ_STATE SEQ_K SEQ_START THR
for c in "${LIST[@]}"; do
    newproj 40K; setup "$c" "$STATE"
    SEQ_STATE[$c]=$STATE
    d=$WORK/data/$c/probe
    cmd_of "$c" "$STATE" 1
    sync; "$RUNNER" -p 1 -k 5 -d "$d" -t "$DEADLINE_S" -- "${CMD[@]}" || true
    probe=$("${ANALYZE[@]}" run kind=probe name="$c" p=1 valid=1 -- "$d")
    p50=$(field "$probe" p50)
    k=$(awk -v s="$SEQ_S" -v l="${p50:-1000}" -v r="$ROUNDS" 'BEGIN {
        k = int(s * 1000 / l / r); if (k < 5) k = 5; if (k > 150) k = 150; print k }')
    SEQ_K[$c]=$k
    SEQ_START[$c]=$(counter_of "$c" "$STATE" || echo -1)
done
for ((r = 1; r <= ROUNDS; r++)); do
    for c in $(order "$r"); do
        cmd_of "$c" "${SEQ_STATE[$c]}" 1
        sync; "$RUNNER" -p 1 -k "${SEQ_K[$c]}" -d "$WORK/data/$c/seq-r$r" -t "$DEADLINE_S" -- "${CMD[@]}" || true
    done
done
for c in "${LIST[@]}"; do
    state=${SEQ_STATE[$c]}
    dirs=()
    for ((r = 1; r <= ROUNDS; r++)); do dirs+=("$WORK/data/$c/seq-r$r"); done
    check seq "$c" 1 "$((SEQ_K[$c] * ROUNDS))" "$state" "${SEQ_START[$c]}" "${dirs[@]}"
    THR[$c]=$(field "$LAST" thr)
    log "  $c: p50 $(field "$LAST" p50) ms over $(field "$LAST" calls) calls"
done

# --- tasknum mcp: one allocate tool call on a warm server (issue 16) ------------------------
# bench/mcp_bench starts `tasknum mcp` once, then times MCP_CALLS tool calls
# (request written to answer read) in turns with as many whole-process CLI
# allocations, on two fresh copies of the same 40 KB state. Both counters
# must advance by exactly the calls made (warm-up calls included).
if has tasknum && ((MCP_CALLS > 0)); then
    log "mcp: $MCP_CALLS allocate tool calls on a warm server, in turns with as many CLI calls"
    newproj 40K; MSTATE=$STATE
    newproj 40K; CSTATE=$STATE
    m0=$(counter_of tasknum "$MSTATE"); c0=$(counter_of tasknum "$CSTATE")
    sync
    if line=$("$BIN/mcp_bench" "$TASKNUM_RUN" "$MSTATE" "$CSTATE" "$MCP_CALLS" 2>"$WORK/mcp_bench.err"); then
        made=$((MCP_CALLS + $(sed -n 's/.*warm=\([0-9]*\).*/\1/p' <<<"$line")))
        dm=$(($(counter_of tasknum "$MSTATE") - m0)) dc=$(($(counter_of tasknum "$CSTATE") - c0))
        safe=""
        if [[ $dm == "$made" && $dc == "$made" && $(valid_json "$MSTATE") == 1 && -z $(leftovers "$MSTATE") ]]; then
            safe=safe=1
        else
            PROBLEM=1
            log "mcp check FAILED: counters moved $dm (server) and $dc (CLI), expected $made; left: $(leftovers "$MSTATE")"
        fi
        # shellcheck disable=SC2086
        "${ANALYZE[@]}" record kind=mcp name=mcp $line advanced_mcp="$dm" advanced_cli="$dc" $safe >>"$RES"
        log "  tool call p50 $(field "$(tail -1 "$RES")" mcp_p50) ms, CLI p50 $(field "$(tail -1 "$RES")" cli_p50) ms"
    else
        PROBLEM=1
        log "mcp_bench FAILED: $(cat "$WORK/mcp_bench.err")"
    fi
fi

# --- the local authorities (issue 10): worktrees beside file ------------------------------
# The same allocation with the worktrees authority (lock and mark in the
# clone's common git dir) and with the file authority, in interleaved
# sequential rounds; then 16 processes with the worktrees authority in one
# worktree against 16 spread over 4 worktrees of one clone (runner -m 4).
# A worktrees allocation must start no process (git): one call is traced.
GITENV=(env GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null GIT_AUTHOR_NAME=bench
    GIT_AUTHOR_EMAIL=bench@example.invalid GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@example.invalid)
wtproj() { # SAMPLE-LABEL N -> WTDIR: a repository holding the state, N worktrees w0 (main) .. w(N-1)
    NPROJ=$((NPROJ + 1))
    WTDIR=$WORK/p$NPROJ
    local i
    mkdir -p "$WTDIR/w0/.opencode/specs"
    cp "${SAMPLE[$1]}" "$WTDIR/w0/.opencode/specs/state.json"
    "${GITENV[@]}" git -C "$WTDIR/w0" init -q -b main
    "${GITENV[@]}" git -C "$WTDIR/w0" add -A
    "${GITENV[@]}" git -C "$WTDIR/w0" commit -qm state
    for ((i = 1; i < $2; i++)); do "${GITENV[@]}" git -C "$WTDIR/w0" worktree add -q -b "w$i" "$WTDIR/w$i" main; done
}
wt_state() { echo "$1/w$2/.opencode/specs/state.json"; }
mark_of() { # STATE -> the next number its worktrees numbering gives
    "$TASKNUM_RUN" status --json --state "$1" --authority worktrees | jq -e '.authority.mark'
}
# Checks and records one measurement of this section (see check()).
auth_check() { # KIND NAME P K STATE START FINAL DIR...
    local kind=$1 name=$2 p=$3 k=$4 state=$5 start=$6 final=$7
    shift 7
    LAST=$("${ANALYZE[@]}" run kind="$kind" name="$name" p="$p" k="$k" start="$start" final="$final" \
        width=$WIDTH valid="$(valid_json "$state")" leftover="$(leftovers "$state")" \
        audit="$(dirname "$state")/.state.json.audit.jsonl" -- "$@")
    echo "$LAST" >>"$RES"
    if [[ $(field "$LAST" ok) != true ]]; then
        PROBLEM=1
        log "check FAILED: $kind $name P=$p: $LAST"
    fi
}
if has tasknum; then
    log "local authorities: worktrees beside file and c-floor ($ROUNDS sequential rounds; P=16 in 1 and in 4 worktrees)"
    newproj 40K; AF=$STATE
    newproj 40K; AC=$STATE # c-floor in the same rounds: each authority ÷ the floor (issue 17)
    wtproj 40K 1; AW=$(wt_state "$WTDIR" 0); AWC=$WTDIR/w0/.git/tasknum
    "$TASKNUM_RUN" allocate --state "$AW" --authority worktrees --format plain >/dev/null # the mark is made: untimed
    k=${SEQ_K[tasknum]:-50}
    af0=$(counter_of tasknum "$AF") aw0=$(mark_of "$AW") ac0=$(counter_of c-floor "$AC")
    for ((r = 1; r <= ROUNDS; r++)); do
        for c in file worktrees c-floor; do
            if [[ $c == c-floor ]]; then
                cmd_of c-floor "$AC" 1
            else
                if [[ $c == file ]]; then s=$AF; else s=$AW; fi
                CMD=("$TASKNUM_RUN" allocate --state "$s" --count 1 --format plain --authority "$c")
            fi
            sync; "$RUNNER" -p 1 -k "$k" -d "$WORK/data/auth-$c-seq-r$r" -t "$DEADLINE_S" -- "${CMD[@]}" || true
        done
    done
    dirs=(); for ((r = 1; r <= ROUNDS; r++)); do dirs+=("$WORK/data/auth-c-floor-seq-r$r"); done
    auth_check auth_seq c-floor 1 "$((k * ROUNDS))" "$AC" "$ac0" "$(counter_of c-floor "$AC")" "${dirs[@]}"
    dirs=(); for ((r = 1; r <= ROUNDS; r++)); do dirs+=("$WORK/data/auth-file-seq-r$r"); done
    auth_check auth_seq file 1 "$((k * ROUNDS))" "$AF" "$af0" "$(counter_of tasknum "$AF")" "${dirs[@]}"
    dirs=(); for ((r = 1; r <= ROUNDS; r++)); do dirs+=("$WORK/data/auth-worktrees-seq-r$r"); done
    auth_check auth_seq worktrees 1 "$((k * ROUNDS))" "$AW" "$aw0" "$(mark_of "$AW")" "${dirs[@]}"
    log "  sequential p50: worktrees $(field "$LAST" p50) ms, file $(field "$(grep 'kind="auth_seq",.*name="file"' "$RES" | tail -1)" p50) ms"
    left=$(cd "$AWC" && ls -A | grep -v -E '\.(lock|mark)$' | tr '\n' ' ' || true)
    [[ -z $left ]] || { PROBLEM=1; log "left in $AWC: $left"; }

    # no process started: a tripwire git first on PATH, and strace when there is one
    mkdir -p "$WORK/trip"
    printf '#!/bin/sh\ntouch %s/tripped\nexit 1\n' "$WORK/trip" >"$WORK/trip/git"
    chmod +x "$WORK/trip/git"
    PATH=$WORK/trip:$PATH "$TASKNUM_RUN" allocate --state "$AW" --authority worktrees --format plain >/dev/null
    tripped=0; [[ -e $WORK/trip/tripped ]] && tripped=1
    execs=-1 procs=-1
    if command -v strace >/dev/null 2>&1; then
        strace -f -qq -e trace=execve,fork,vfork,clone,clone3 -o "$WORK/trip/trace" \
            "$TASKNUM_RUN" allocate --state "$AW" --authority worktrees --format plain >/dev/null 2>&1 || true
        execs=$(grep -c 'execve(' "$WORK/trip/trace" || true)
        procs=$(grep -E 'fork\(|clone3?\(' "$WORK/trip/trace" | grep -vc CLONE_THREAD || true)
    fi
    "${ANALYZE[@]}" record kind=nogit name=worktrees git_run="$tripped" execs="$execs" procs="$procs" >>"$RES"
    ((tripped == 0)) || { PROBLEM=1; log "a worktrees allocation ran git"; }

    # P=16: one worktree against four (4 processes each), interleaved rounds
    wtproj 40K 1; W1=$WTDIR
    wtproj 40K 4; W4=$WTDIR
    for d in "$W1" "$W4"; do
        "$TASKNUM_RUN" allocate --state "$(wt_state "$d" 0)" --authority worktrees --format plain >/dev/null
    done
    w1s=$(mark_of "$(wt_state "$W1" 0)") w4s=$(mark_of "$(wt_state "$W4" 0)")
    k16=$(awk -v t="$TARGET_S" -v thr="${THR[tasknum]:-300}" 'BEGIN { k = int(t * thr / 16 + 0.999); if (k < 5) k = 5; print k }')
    for ((r = 1; r <= CONT_ROUNDS; r++)); do
        for c in 1 4; do
            if [[ $c == 1 ]]; then d=$W1; else d=$W4; fi
            sync; "$RUNNER" -p 16 -k "$k16" -m "$c" -d "$WORK/data/auth-wt$c-r$r" -c "$CAP_S" -t "$DEADLINE_S" -- \
                "$TASKNUM_RUN" allocate --state "$d/w%W/.opencode/specs/state.json" --count 1 --format plain \
                --authority worktrees || true
        done
    done
    for c in 1 4; do
        if [[ $c == 1 ]]; then d=$W1 s0=$w1s; else d=$W4 s0=$w4s; fi
        dirs=(); for ((r = 1; r <= CONT_ROUNDS; r++)); do dirs+=("$WORK/data/auth-wt$c-r$r"); done
        auth_check auth_cont "$c worktree$([[ $c == 1 ]] || echo s)" 16 "$k16" "$(wt_state "$d" 0)" "$s0" \
            "$(mark_of "$(wt_state "$d" 0)")" "${dirs[@]}"
        for ((i = 1; i < c; i++)); do
            left=$(leftovers "$(wt_state "$d" "$i")")
            [[ -z $left ]] || { PROBLEM=1; log "left in worktree $i: $left"; }
        done
        log "  P=16 in $c worktree(s): $(field "$LAST" thr) allocs/s, ok=$(field "$LAST" ok)"
    done
fi

# --- contention -------------------------------------------------------------------------
# CONT_ROUNDS rounds; in each, for each P, every contender in turn, so drift
# in the machine's speed hits them alike. A contender keeps one project per
# P across the rounds: its check covers all of them. K comes from the
# throughput measured just before (sequential, then the previous P), so that
# a run lasts ~TARGET_S; round 2 repeats round 1's K.
log "contention: P = $PROCS, $CONT_ROUNDS round(s) (~${TARGET_S} s a run)"
declare -A C_STATE C_K C_START
for ((r = 1; r <= CONT_ROUNDS; r++)); do
    for p in $PROCS; do
        for c in $(order "$r"); do
            if ((r == 1)); then
                C_K[$c,$p]=$(awk -v t="$TARGET_S" -v thr="${THR[$c]:-10}" -v p="$p" 'BEGIN {
                    k = int(t * thr / p + 0.999); if (k < 1) k = 1; if (k > 100000) k = 100000; print k }')
                newproj 40K; setup "$c" "$STATE"
                C_STATE[$c,$p]=$STATE
                C_START[$c,$p]=$(counter_of "$c" "$STATE" || echo -1)
            fi
            d=$WORK/data/$c/cont-P$p-r$r
            cmd_of "$c" "${C_STATE[$c,$p]}" 1
            rc=0
            sync; "$RUNNER" -p "$p" -k "${C_K[$c,$p]}" -d "$d" -c "$CAP_S" -t "$DEADLINE_S" -- "${CMD[@]}" || rc=$?
            ((rc == 0)) || log "runner exit $rc for $c P=$p"
            one=$("${ANALYZE[@]}" run kind=probe name="$c" p="$p" valid=1 -- "$d")
            ((r > 1)) || THR[$c]=$(field "$one" thr)
            log "  r$r $c P=$p K=${C_K[$c,$p]}: $(field "$one" thr) allocs/s, p50 $(field "$one" p50) max $(field "$one" max) ms, $(field "$one" failed) failed"
        done
    done
done
for p in $PROCS; do
    for c in "${LIST[@]}"; do
        dirs=()
        for ((r = 1; r <= CONT_ROUNDS; r++)); do dirs+=("$WORK/data/$c/cont-P$p-r$r"); done
        check cont "$c" "$p" "${C_K[$c,$p]}" "${C_STATE[$c,$p]}" "${C_START[$c,$p]}" "${dirs[@]}"
        log "  $c P=$p: $(field "$LAST" thr) allocs/s, max $(field "$LAST" max) ms, ok=$(field "$LAST" ok)"
    done
done

# Peak RSS of the other commands on a state of size S (issue 17: every
# command within 3 × the state + 4 MB): add-task, check and status, each
# run twice by the runner on a fresh copy; one record per command.
cmd_rss() { # SIZE-LABEL
    local name d rss codes
    local -a args
    for name in add-task check status; do
        newproj "$1"
        case $name in
            add-task) args=(add-task --state "$STATE" --name bench_rss_probe --no-todo --format plain) ;;
            check) args=(check --state "$STATE" --format json) ;;
            status) args=(status --state "$STATE" --json) ;;
        esac
        d=$WORK/data/rss-$name-$1
        sync; "$RUNNER" -p 1 -k 2 -d "$d" -t "$DEADLINE_S" -- "$TASKNUM_RUN" "${args[@]}" >/dev/null 2>&1 || true
        rss=$(awk '$4 > m { m = $4 } END { print m + 0 }' "$d"/w*.lat)
        codes=$(awk '{ print $3 }' "$d"/w*.lat | sort -u | tr '\n' ' ' | sed 's/ $//')
        "${ANALYZE[@]}" record kind=cmd_rss name="$name" size_label="$1" size="$(stat -c %s "$STATE")" \
            maxrss_kb="$rss" exits="$codes" ok=$([[ $codes == 0 ]] && echo 1 || echo 0) >>"$RES"
        [[ $codes == 0 ]] || { PROBLEM=1; log "$name on $1 failed: exit $codes: $(head -c 300 "$d"/w000.err)"; }
        log "  tasknum $name $1: peak RSS $rss KB"
    done
}

# --- state sizes: tasknum and c-floor on the same files -------------------------------------
SIZE_LIST=()
for c in tasknum c-floor; do has "$c" && SIZE_LIST+=("$c"); done
if ((${#SIZE_LIST[@]})); then
    log "state sizes: $SIZES (${SIZE_LIST[*]})"
    for s in $SIZES; do
        # Calls per contender from a probe of c-floor: ~1.5 s each, 10..100.
        newproj "$s"
        cmd_of c-floor "$STATE" 1
        sync; "$RUNNER" -p 1 -k 3 -d "$WORK/data/size-probe-$s" -- "${CMD[@]}" || true
        probe=$("${ANALYZE[@]}" run kind=probe name=c-floor p=1 valid=1 -- "$WORK/data/size-probe-$s")
        k=$(awk -v l="$(field "$probe" p50)" 'BEGIN { k = int(1500 / (l + 0.001) / 2); if (k < 10) k = 10; if (k > 100) k = 100; print k }')
        declare -A SZ_STATE=()
        for c in "${SIZE_LIST[@]}"; do newproj "$s"; SZ_STATE[$c]=$STATE; done
        # Two interleaved rounds, then one record per contender.
        for r in 1 2; do
            for c in "${SIZE_LIST[@]}"; do
                cmd_of "$c" "${SZ_STATE[$c]}" 1
                sync; "$RUNNER" -p 1 -k "$k" -d "$WORK/data/$c/size-$s-r$r" -t "$DEADLINE_S" -- "${CMD[@]}" || true
            done
        done
        for c in "${SIZE_LIST[@]}"; do
            state=${SZ_STATE[$c]}
            check size "$c" 1 "$((2 * k))" "$state" 0 size_label="$s" \
                "$WORK/data/$c/size-$s-r1" "$WORK/data/$c/size-$s-r2"
            log "  $c $s: p50 $(field "$LAST" p50) ms, peak RSS $(field "$LAST" maxrss_kb) KB"
        done
        has tasknum && cmd_rss "$s"
        rm -rf "$WORK"/p*/  # the 20 MB projects add up
    done
fi

# --- instruction profile (callgrind counts instructions: no noise) ---------------------------
if command -v valgrind >/dev/null 2>&1 && command -v callgrind_annotate >/dev/null 2>&1; then
    log "instruction profile (callgrind): ${SIZE_LIST[*]} on 40K and 1M"
    for s in 40K 1M; do
        [[ -n ${SAMPLE[$s]:-} ]] || continue
        for c in "${SIZE_LIST[@]}"; do
            newproj "$s"
            cmd_of "$c" "$STATE" 1
            cg=$WORK/data/callgrind-$c-$s.out
            if valgrind --tool=callgrind --callgrind-out-file="$cg" "${CMD[@]}" >/dev/null 2>"$cg.err"; then
                (cd "$ROOT" && callgrind_annotate --inclusive=yes "$cg" 2>/dev/null) |
                    "${ANALYZE[@]}" profile name="$c" size_label="$s" >>"$RES"
            else
                log "callgrind failed for $c $s: $(tail -3 "$cg.err")"
            fi
        done
    done
else
    log "valgrind not installed: no instruction profile"
fi

# --- true lock hold, from outside (strace --seccomp-bpf stops only at the
# traced calls: the kernel lock taken, the lock fd closed, exit) ------------------------------
if command -v strace >/dev/null 2>&1 && strace --seccomp-bpf -e trace=exit_group true 2>/dev/null; then
    log "lock hold from outside (strace): ${SIZE_LIST[*]} on 40K"
    for c in "${SIZE_LIST[@]}"; do
        newproj 40K
        cmd_of "$c" "$STATE" 1
        tr=$WORK/data/truehold-$c
        : >"$tr"
        for ((i = 0; i < 40; i++)); do
            strace --seccomp-bpf -f -ttt -e trace=fcntl,close,exit_group -o "$tr.strace" "${CMD[@]}" >/dev/null 2>&1 || true
            awk '!t0 && /F_OFD_SETLKW?, \{l_type=F_WRLCK/ && / = 0$/ {
                     t0 = $2; fd = $3; sub(/^fcntl\(/, "", fd); sub(/,.*/, "", fd); next }
                 t0 && !done && ($3 ~ ("^close\\(" fd "\\)") || $3 ~ /^exit_group/) {
                     printf "%.4f\n", ($2 - t0) * 1000; done = 1 }' "$tr.strace" >>"$tr"
        done
        n=$(wc -l <"$tr")
        ((n > 0)) || continue
        p50=$(sort -n "$tr" | awk -v n="$n" 'NR == int((n + 1) / 2) { print }')
        "${ANALYZE[@]}" record kind=truehold name="$c" calls="$n" p50="$p50" >>"$RES"
    done
fi

# --- the remote authorities: git:REMOTE and postgresql:// (issue 11) -------------------------
if has tasknum; then
    # shellcheck source=bench/remote.sh
    source "$BENCH/remote.sh"
fi

"${ANALYZE[@]}" record kind=end duration_s=$(($(date +%s) - T0)) load_end="$(cut -d' ' -f1-3 /proc/loadavg)" >>"$RES"
# The end record carries the duration and the final load into the env.
"${ANALYZE[@]}" report "$RES" >"$WORK/RESULTS.md"
cp "$WORK/RESULTS.md" "$OUT"
cat "$OUT"
log "done in $(($(date +%s) - T0)) s: ${OUT#"$ROOT"/}"
((PROBLEM == 0)) || { log "some correctness check failed: see above"; exit 1; }
