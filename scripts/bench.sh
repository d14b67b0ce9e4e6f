#!/usr/bin/env bash
# Wall-clock timings of zeroth's ceremonies against SoftHSM2, and of the commands that
# read a store, on a realistic one: measured, not asserted. Each operation runs
# BENCH_RUNS times (default 15) after one untimed warm-up run; the table gives median,
# min and max in milliseconds, the median's ratio to the baseline row of the same run
# (process start + store read, no HSM), and, for the commands that read the whole
# store, the peak resident memory (GNU time's %M, the largest of the timed runs).
#
# The realistic store (examples/governance_store.rs): BENCH_STORE_SEALS seals (default
# 10000) and a ceremony log of BENCH_LOG_ENTRIES entries (default 100000) written as
# two years of use, signed by a software P-256 key that a trust file pins; `audit
# verify`, `check` and `list` are given that trust file, as CI gives its own. Generate
# is timed on an empty token and on one holding BENCH_TOKEN_KEYS other keys (default
# 1000, examples/token_keys.rs), and so is its floor: a search costs SoftHSM2 a read of
# every object on the token, the floor's as zeroth's. BENCH_BIG=1 adds `list` on a
# store of BENCH_BIG_SEALS seals (default 100000) with a log of BENCH_BIG_ENTRIES
# entries (default 10 per seal).
#
# The commands that read the whole store run BENCH_LOG_RUNS (audit verify, default 3)
# and BENCH_STORE_RUNS (check, list; default 3) times after their warm-up: the warm-up
# `list` fills its cache, the timed runs are the steady state; the median of three, as
# one run of a second can be moved by the machine alone.
#
# To add an operation: write a function that does one run (it may use $BENCH_RUN, the
# run number, 0 for the warm-up, and should start its command with "${RUNNER[@]}" if
# its memory is wanted), then `measure NAME FUNCTION` (MEASURE_RSS=1 for the memory).
set -euo pipefail

# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
zeroth_root

# count NAME VALUE: VALUE, checked to be a positive integer, or the bench stops.
count() {
    [[ "$2" =~ ^[1-9][0-9]*$ ]] || {
        zeroth_die "$1 must be a positive integer, not '$2'"
        exit 2
    }
    printf '%s\n' "$2"
}

RUNS=$(count BENCH_RUNS "${BENCH_RUNS:-15}")
STORE_SEALS=$(count BENCH_STORE_SEALS "${BENCH_STORE_SEALS:-10000}")
LOG_ENTRIES=$(count BENCH_LOG_ENTRIES "${BENCH_LOG_ENTRIES:-100000}")
TOKEN_KEYS=$(count BENCH_TOKEN_KEYS "${BENCH_TOKEN_KEYS:-1000}")
LOG_RUNS=$(count BENCH_LOG_RUNS "${BENCH_LOG_RUNS:-3}")
STORE_RUNS=$(count BENCH_STORE_RUNS "${BENCH_STORE_RUNS:-3}")
BIG=${BENCH_BIG:-0}
BIG_SEALS=$(count BENCH_BIG_SEALS "${BENCH_BIG_SEALS:-100000}")
BIG_ENTRIES=$(count BENCH_BIG_ENTRIES "${BENCH_BIG_ENTRIES:-$((BIG_SEALS * 10))}")
for pair in "$LOG_ENTRIES:$STORE_SEALS:BENCH_LOG_ENTRIES" "$BIG_ENTRIES:$BIG_SEALS:BENCH_BIG_ENTRIES"; do
    IFS=: read -r entries seals name <<<"$pair"
    ((entries > seals)) || {
        zeroth_die "$name ($entries) must exceed the number of seals ($seals): the log holds a generate entry per seal and the env-init entry"
        exit 2
    }
done

ensure_packages softhsm2-util libsofthsm2.so time
ensure_cargo
echo "==> building zeroth and the bench's fixtures (release)"
cargo build --release --quiet --bin zeroth --example governance_store --example token_keys \
    --example ceremony_floor
BIN="$ZEROTH_ROOT/target/release/zeroth"
EXAMPLES="$ZEROTH_ROOT/target/release/examples"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/zeroth-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
softhsm_setup "$WORK/hsm"

# quietly CMD...: a set-up step; what it prints goes to $WORK/setup.log, shown if it
# fails.
quietly() {
    if ! "$@" >>"$WORK/setup.log" 2>&1; then
        zeroth_die "set-up step failed: $*"
        sed 's/^/    /' "$WORK/setup.log" >&2
        exit 1
    fi
}
MODULE=$(softhsm_module)
PIN=$(random_digits 8)
(
    umask 077
    printf '%s\n' "$PIN" >"$WORK/pin"
)
# bench: the seal unseal and drill open; empty: generate on a token that holds nothing
# else; crowded: generate on a token that holds TOKEN_KEYS other keys.
for token in bench empty crowded; do init_token "$token" "$PIN" "$(random_digits 8)"; done
STORE="$WORK/store"
Z=("$BIN" --store "$STORE" --pin-file "$WORK/pin" --trust "$WORK/trust.toml")
for env in bench empty crowded; do
    quietly "${Z[@]}" env init "$env" --module "$MODULE" --token "$env"
done
echo "==> putting $TOKEN_KEYS keys on token 'crowded' (examples/token_keys.rs)"
quietly "$EXAMPLES/token_keys" "$MODULE" crowded "$WORK/pin" "$TOKEN_KEYS" crowded

CUSTODIANS=(alice bob carol dave erin)
custodian_args=()
for c in "${CUSTODIANS[@]}"; do custodian_args+=(--custodian "$c"); done

# One 3-of-5 seal for unseal and drill, generated before anything is measured.
mkdir -m 700 "$WORK/shares"
quietly "${Z[@]}" generate fixture --env bench --owner bench --purpose "benchmark fixture" \
    --threshold 3 "${custodian_args[@]}" --rotate-every 90d --out-dir "$WORK/shares"
SHARES=()
for c in "${CUSTODIANS[@]}"; do SHARES+=("$WORK/shares/fixture.$c.share"); done

# The realistic store, its trust file pinning the key that signed it.
echo "==> writing a store of $STORE_SEALS seals and $LOG_ENTRIES log entries (examples/governance_store.rs)"
quietly "$EXAMPLES/governance_store" "$WORK/real" "$STORE_SEALS" "$LOG_ENTRIES" "$WORK/real-trust.toml"
# What was just written goes to disk before anything is timed: the kernel writing
# back a store of 100,000 files while a command runs would be timed with it.
sync
REAL=("$BIN" --store "$WORK/real" --trust "$WORK/real-trust.toml")

# ---- results ---------------------------------------------------------------

R_NAME=()
R_MEDIAN=()
R_MIN=()
R_MAX=()
R_RUNS=()
R_RSS=()
NOTES=()

# Prints milliseconds with 2 decimals for a duration in nanoseconds.
ms() { awk -v ns="$1" 'BEGIN { printf "%.2f", ns / 1e6 }'; }

# What the operations put before their command: nothing, or GNU time writing the
# command's peak resident memory (KiB) to $WORK/rss when MEASURE_RSS=1.
RUNNER=()

# measure NAME CMD...: runs CMD once untimed, then RUNS times timed (or
# MEASURE_RUNS times, when set, for slow operations), with
# BENCH_RUN set to the run number; records median, min and max, and with
# MEASURE_RSS=1 the largest peak memory of the timed runs. Stops the whole
# bench, showing CMD's stderr, if any run fails.
measure() {
    local name=$1
    shift
    local run t0 t1 times=() err="$WORK/stderr" runs=${MEASURE_RUNS:-$RUNS} rss=0 kib
    RUNNER=()
    [[ "${MEASURE_RSS:-0}" == 1 ]] && RUNNER=(/usr/bin/time -f %M -o "$WORK/rss")
    printf '==> %-40s' "$name"
    for ((run = 0; run <= runs; run++)); do
        export BENCH_RUN=$run
        t0=$(date +%s%N)
        if ! "$@" >/dev/null 2>"$err"; then
            echo
            zeroth_die "'$name' failed on run $run:"
            sed 's/^/    /' "$err" >&2
            exit 1
        fi
        t1=$(date +%s%N)
        if ((run > 0)); then
            times+=($((t1 - t0)))
            if ((${#RUNNER[@]})); then
                kib=$(tail -n 1 "$WORK/rss")
                ((kib > rss)) && rss=$kib
            fi
        fi
        printf '.'
    done
    RUNNER=()
    local sorted
    mapfile -t sorted < <(printf '%s\n' "${times[@]}" | sort -n)
    local n=${#sorted[@]} median
    if ((n % 2)); then
        median=${sorted[n / 2]}
    else
        median=$(((sorted[n / 2 - 1] + sorted[n / 2]) / 2))
    fi
    # The median at once: a long bench cut short still says what it measured.
    printf ' %s ms\n' "$(ms "$median")"
    R_NAME+=("$name")
    R_MEDIAN+=("$median")
    R_MIN+=("${sorted[0]}")
    R_MAX+=("${sorted[n - 1]}")
    R_RUNS+=("$runs")
    if ((rss > 0)); then
        R_RSS+=("$(awk -v k="$rss" 'BEGIN { printf "%.1f", k / 1024 }')")
    else
        R_RSS+=("-")
    fi
}

# report: the table of everything measured; ratios are to the first row.
report() {
    local base=${R_MEDIAN[0]} i
    echo
    echo "zeroth bench: timed runs per operation after 1 warm-up, SoftHSM2 $(softhsm2-util --version)"
    echo "$(nproc) CPU, $(uname -sm), $("$BIN" --version)"
    echo "store: $STORE_SEALS seals, $LOG_ENTRIES log entries; token 'crowded': $TOKEN_KEYS other keys"
    echo
    printf '%-44s %5s %10s %10s %10s %9s %8s\n' operation runs "median ms" "min ms" "max ms" "x base" "peak MiB"
    printf '%-44s %5s %10s %10s %10s %9s %8s\n' "$(printf '%.0s-' {1..44})" ----- ---------- ---------- ---------- --------- --------
    for i in "${!R_NAME[@]}"; do
        printf '%-44s %5s %10s %10s %10s %9s %8s\n' "${R_NAME[i]}" "${R_RUNS[i]}" \
            "$(ms "${R_MEDIAN[i]}")" "$(ms "${R_MIN[i]}")" "$(ms "${R_MAX[i]}")" \
            "$(awk -v m="${R_MEDIAN[i]}" -v b="$base" 'BEGIN { printf "%.2f", m / b }')" \
            "${R_RSS[i]}"
    done
}

# median_of NAME: the median (ns) of the row NAME, or nothing.
median_of() {
    local i
    for i in "${!R_NAME[@]}"; do
        [[ "${R_NAME[i]}" == "$1" ]] && printf '%s\n' "${R_MEDIAN[i]}"
    done
    return 0
}

# rate NAME COUNT UNIT: prints COUNT per second at the median of the row NAME.
rate() {
    local m
    m=$(median_of "$1")
    [[ -n "$m" ]] || return 0
    awk -v n="$2" -v ns="$m" -v what="$1" -v unit="$3" \
        'BEGIN { printf "%s: %.0f %s per second (median)\n", what, n / (ns / 1e9), unit }'
}

# ratio A B: prints the ratio of the medians of rows A and B.
ratio() {
    local a b
    a=$(median_of "$1")
    b=$(median_of "$2")
    [[ -n "$a" && -n "$b" ]] || return 0
    awk -v a="$a" -v b="$b" -v what="$1 / $2" 'BEGIN { printf "%s: %.2f (medians)\n", what, a / b }'
}

# ---- operations ------------------------------------------------------------

op_baseline() {
    "${Z[@]}" env list
}

# generate ENV: a new 3-of-5 seal in ENV, its shares in a directory of its own (made
# beforehand, so not timed).
generate_in() {
    "${Z[@]}" generate "$1-$BENCH_RUN" --env "$1" --owner bench --purpose "benchmark" \
        --threshold 3 "${custodian_args[@]}" --rotate-every 90d --out-dir "$WORK/gen/$1/$BENCH_RUN"
}
op_generate_empty() { generate_in empty; }
op_generate_crowded() { generate_in crowded; }

op_unseal() {
    "${Z[@]}" unseal fixture --share "${SHARES[0]}" "${SHARES[2]}" "${SHARES[4]}" --output -
}

op_drill() {
    "${Z[@]}" drill fixture --share "${SHARES[@]}"
}

# The physical floor of each ceremony (examples/ceremony_floor.rs): the token calls,
# the share arithmetic and the durable writes a ceremony cannot do without, on the
# same token, and nothing else.
FLOOR=("$EXAMPLES/ceremony_floor" "$MODULE")
mkdir -m 700 "$WORK/floor"
op_floor_generate() {
    "${FLOOR[@]}" empty "$WORK/pin" empty "$WORK/floor" generate
}
# The floor on the crowded token: what a search costs the module grows with the objects
# on the token, for the floor's two searches (the signing key, the anchor) as for
# zeroth's.
op_floor_generate_crowded() {
    "${FLOOR[@]}" crowded "$WORK/pin" crowded "$WORK/floor" generate
}
op_floor_unseal() {
    "${FLOOR[@]}" bench "$WORK/pin" bench "$WORK/floor" unseal "$STORE/seals/fixture.json" \
        "${SHARES[0]}" "${SHARES[2]}" "${SHARES[4]}"
}
op_floor_drill() {
    "${FLOOR[@]}" bench "$WORK/pin" bench "$WORK/floor" drill "$STORE/seals/fixture.json" "${SHARES[@]}"
}

op_audit_verify() {
    "${RUNNER[@]}" "${REAL[@]}" audit verify --env bench
}

op_audit_verify_every() {
    "${RUNNER[@]}" "${REAL[@]}" audit verify --env bench --every-signature
}

# check exits 1: the store has overdue seals and untested recoveries, as real ones do.
op_check() {
    "${RUNNER[@]}" "${REAL[@]}" check || [[ $? -eq 1 ]]
}

op_list() {
    "${REAL[@]}" list
}

op_list_big() {
    "$BIN" --store "$WORK/big" --trust "$WORK/big-trust.toml" list
}

mkdir -m 700 "$WORK/gen" "$WORK/gen/empty" "$WORK/gen/crowded"
for ((run = 0; run <= RUNS; run++)); do
    mkdir -m 700 "$WORK/gen/empty/$run" "$WORK/gen/crowded/$run"
done

GEN_EMPTY="generate 3-of-5, empty token"
GEN_CROWDED="generate 3-of-5, token with $TOKEN_KEYS keys"
AUDIT="audit verify, $LOG_ENTRIES entries"
AUDIT_EVERY="audit verify --every-signature"
CHECK="check, $STORE_SEALS seals"
FLOOR_CROWDED="floor: generate, token with $TOKEN_KEYS keys"
LIST="list, $STORE_SEALS seals (warm)"
LIST_BIG="list, $BIG_SEALS seals (warm)"

measure "baseline: env list (no HSM)" op_baseline
measure "$GEN_EMPTY" op_generate_empty
measure "$GEN_CROWDED" op_generate_crowded
measure "unseal, 3 shares, --output -" op_unseal
measure "drill, 5 shares" op_drill
measure "floor: generate" op_floor_generate
measure "$FLOOR_CROWDED" op_floor_generate_crowded
measure "floor: unseal" op_floor_unseal
measure "floor: drill" op_floor_drill
MEASURE_RUNS=$LOG_RUNS MEASURE_RSS=1 measure "$AUDIT" op_audit_verify
# --every-signature is newer than this bench: timed when this zeroth has it.
if "$BIN" audit verify --help 2>/dev/null | grep -q -- --every-signature; then
    MEASURE_RUNS=$LOG_RUNS MEASURE_RSS=1 measure "$AUDIT_EVERY" op_audit_verify_every
else
    NOTES+=("skipped '$AUDIT_EVERY': 'zeroth audit verify --help' does not mention --every-signature")
fi
MEASURE_RUNS=$STORE_RUNS MEASURE_RSS=1 measure "$CHECK" op_check
MEASURE_RUNS=$STORE_RUNS measure "$LIST" op_list
if [[ "$BIG" == 1 ]]; then
    echo "==> writing a store of $BIG_SEALS seals and $BIG_ENTRIES log entries (BENCH_BIG=1)"
    quietly "$EXAMPLES/governance_store" "$WORK/big" "$BIG_SEALS" "$BIG_ENTRIES" "$WORK/big-trust.toml"
    sync
    MEASURE_RUNS=$STORE_RUNS measure "$LIST_BIG" op_list_big
fi

report
echo
ratio "$GEN_CROWDED" "$GEN_EMPTY"
ratio "$GEN_EMPTY" "floor: generate"
ratio "$GEN_CROWDED" "$FLOOR_CROWDED"
ratio "$FLOOR_CROWDED" "floor: generate"
ratio "unseal, 3 shares, --output -" "floor: unseal"
ratio "drill, 5 shares" "floor: drill"
rate "$AUDIT" "$LOG_ENTRIES" "entries"
rate "$AUDIT_EVERY" "$LOG_ENTRIES" "entries"
rate "$CHECK" "$STORE_SEALS" "seals"
rate "$LIST" "$STORE_SEALS" "seals"
rate "$LIST_BIG" "$BIG_SEALS" "seals"
for note in "${NOTES[@]}"; do echo "note: $note"; done
