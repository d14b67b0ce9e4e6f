#!/usr/bin/env bash
# Wall-clock timings of zeroth's ceremonies against SoftHSM2: measured, not
# asserted. Each operation runs BENCH_RUNS times (default 15) after one untimed
# warm-up run; the table gives median, min and max in milliseconds and the
# median's ratio to the baseline (process start + store read, no HSM).
#
# To add an operation: write a function that does one run (it may use
# $BENCH_RUN, the run number, 0 for the warm-up), then `measure NAME FUNCTION`.
set -euo pipefail

# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
zeroth_root

RUNS=${BENCH_RUNS:-15}
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || {
    zeroth_die "BENCH_RUNS must be a positive integer, not '$RUNS'"
    exit 2
}

ensure_packages softhsm2-util libsofthsm2.so
ensure_cargo
echo "==> building zeroth (release)"
cargo build --release --quiet
BIN="$ZEROTH_ROOT/target/release/zeroth"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/zeroth-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
softhsm_setup "$WORK/hsm"
MODULE=$(softhsm_module)
PIN=$(random_digits 8)
(
    umask 077
    printf '%s\n' "$PIN" >"$WORK/pin"
)
init_token bench "$PIN" "$(random_digits 8)"
STORE="$WORK/store"
Z=("$BIN" --store "$STORE" --pin-file "$WORK/pin" --trust "$WORK/trust.toml")
"${Z[@]}" env init bench --module "$MODULE" --token bench >/dev/null

CUSTODIANS=(alice bob carol dave erin)
custodian_args=()
for c in "${CUSTODIANS[@]}"; do custodian_args+=(--custodian "$c"); done

# One 3-of-5 seal for unseal and drill, generated before anything is measured.
mkdir -m 700 "$WORK/shares"
"${Z[@]}" generate fixture --env bench --owner bench --purpose "benchmark fixture" \
    --threshold 3 "${custodian_args[@]}" --rotate-every 90d --out-dir "$WORK/shares" >/dev/null
SHARES=()
for c in "${CUSTODIANS[@]}"; do SHARES+=("$WORK/shares/fixture.$c.share"); done

# ---- results ---------------------------------------------------------------

R_NAME=()
R_MEDIAN=()
R_MIN=()
R_MAX=()

# Prints milliseconds with 2 decimals for a duration in nanoseconds.
ms() { awk -v ns="$1" 'BEGIN { printf "%.2f", ns / 1e6 }'; }

R_RUNS=()

# measure NAME CMD...: runs CMD once untimed, then RUNS times timed (or
# MEASURE_RUNS times, when set, for slow operations), with
# BENCH_RUN set to the run number; records median, min and max. Stops the whole
# bench, showing CMD's stderr, if any run fails.
measure() {
    local name=$1
    shift
    local run t0 t1 times=() err="$WORK/stderr" runs=${MEASURE_RUNS:-$RUNS}
    printf '==> %-34s' "$name"
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
        ((run == 0)) || times+=($((t1 - t0)))
        printf '.'
    done
    echo
    local sorted
    mapfile -t sorted < <(printf '%s\n' "${times[@]}" | sort -n)
    local n=${#sorted[@]} median
    if ((n % 2)); then
        median=${sorted[n / 2]}
    else
        median=$(((sorted[n / 2 - 1] + sorted[n / 2]) / 2))
    fi
    R_NAME+=("$name")
    R_MEDIAN+=("$median")
    R_MIN+=("${sorted[0]}")
    R_MAX+=("${sorted[n - 1]}")
    R_RUNS+=("$runs")
}

# report: the table of everything measured; ratios are to the first row.
report() {
    local base=${R_MEDIAN[0]} i
    echo
    echo "zeroth bench: timed runs per operation after 1 warm-up, SoftHSM2 $(softhsm2-util --version)"
    echo "$(nproc) CPU, $(uname -sm), $("$BIN" --version)"
    echo
    printf '%-40s %5s %10s %10s %10s %9s\n' operation runs "median ms" "min ms" "max ms" "x base"
    printf '%-40s %5s %10s %10s %10s %9s\n' "$(printf '%.0s-' {1..40})" ----- ---------- ---------- ---------- ---------
    for i in "${!R_NAME[@]}"; do
        printf '%-40s %5s %10s %10s %10s %9s\n' "${R_NAME[i]}" "${R_RUNS[i]}" \
            "$(ms "${R_MEDIAN[i]}")" "$(ms "${R_MIN[i]}")" "$(ms "${R_MAX[i]}")" \
            "$(awk -v m="${R_MEDIAN[i]}" -v b="$base" 'BEGIN { printf "%.2f", m / b }')"
    done
}

# rate NAME COUNT UNIT: prints COUNT per second at the median of the row NAME.
rate() {
    local i
    for i in "${!R_NAME[@]}"; do
        if [[ "${R_NAME[i]}" == "$1" ]]; then
            awk -v n="$2" -v ns="${R_MEDIAN[i]}" -v what="$1" -v unit="$3" \
                'BEGIN { printf "%s: %.0f %s per second (median)\n", what, n / (ns / 1e9), unit }'
        fi
    done
}

# ---- operations ------------------------------------------------------------

op_baseline() {
    "${Z[@]}" env list
}

op_generate() {
    "${Z[@]}" generate "gen-$BENCH_RUN" --env bench --owner bench --purpose "benchmark" \
        --threshold 3 "${custodian_args[@]}" --rotate-every 90d --out-dir "$WORK/gen/$BENCH_RUN"
}

op_unseal() {
    "${Z[@]}" unseal fixture --share "${SHARES[0]}" "${SHARES[2]}" "${SHARES[4]}" --output -
}

op_drill() {
    "${Z[@]}" drill fixture --share "${SHARES[@]}"
}

# A fresh share directory per generate run, made beforehand so it is not timed.
mkdir -m 700 "$WORK/gen"
for ((run = 0; run <= RUNS; run++)); do mkdir -m 700 "$WORK/gen/$run"; done

measure "baseline: env list (no HSM)" op_baseline
measure "generate 3-of-5" op_generate
measure "unseal, 3 shares, --output -" op_unseal
measure "drill, 5 shares" op_drill

# The ceremony log: `audit verify` on a log of LOG_ENTRIES entries (default 100000),
# written by examples/audit_log.rs with a software key (verification is the same
# whichever device signed; signing 100000 entries on SoftHSM would take minutes).
LOG_ENTRIES=${BENCH_LOG_ENTRIES:-100000}
echo "==> writing a $LOG_ENTRIES-entry ceremony log (examples/audit_log.rs)"
cargo build --release --quiet --example audit_log
"$ZEROTH_ROOT/target/release/examples/audit_log" "$WORK/logstore" "$LOG_ENTRIES" >/dev/null
op_audit_verify() {
    "$BIN" --store "$WORK/logstore" audit verify --env bench
}
MEASURE_RUNS=${BENCH_LOG_RUNS:-3} measure "audit verify, $LOG_ENTRIES entries" op_audit_verify

# Governance: `check` and `list` on a store of STORE_SEALS seals (default 10000),
# written by examples/governance_store.rs with a software key; neither needs an HSM.
STORE_SEALS=${BENCH_STORE_SEALS:-10000}
echo "==> writing a $STORE_SEALS-seal store (examples/governance_store.rs)"
cargo build --release --quiet --example governance_store
"$ZEROTH_ROOT/target/release/examples/governance_store" "$WORK/bigstore" "$STORE_SEALS" >/dev/null
op_check() {
    # check exits 1: the generated inventory has overdue seals, as real ones do.
    "$BIN" --store "$WORK/bigstore" check || [[ $? -eq 1 ]]
}
op_list() {
    "$BIN" --store "$WORK/bigstore" list
}
MEASURE_RUNS=${BENCH_STORE_RUNS:-5} measure "check, $STORE_SEALS seals" op_check
MEASURE_RUNS=${BENCH_STORE_RUNS:-5} measure "list, $STORE_SEALS seals" op_list

report
echo
rate "audit verify, $LOG_ENTRIES entries" "$LOG_ENTRIES" "entries"
rate "check, $STORE_SEALS seals" "$STORE_SEALS" "seals"
rate "list, $STORE_SEALS seals" "$STORE_SEALS" "seals"
