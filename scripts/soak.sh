#!/usr/bin/env bash
# The soak: random interleavings of every ceremony on one store, with kill -9 at
# random moments, and, every few ceremonies and at the end, the checks that nothing
# was lost: every seal opens with its current share set and gives the credential it
# had (or, after a rotation, the new one), audit verify finds the log whole (an
# unsigned tail at most, which audit attest covers), cleanup leaves no orphan key, and
# check --hsm agrees with the token. Bounded in count and in time.
#
#   scripts/soak.sh [--module softhsm|kryoptic] [--ceremonies N] [--seconds S]
#                   [--kill-percent P] [--check-every K] [--seed N] [--keep]
#
# Defaults: SoftHSM2, 200 ceremonies, 600 s, 30 % of ceremonies killed, a check every
# 20 ceremonies. It prints its figures (ceremonies run, completed, refused, killed,
# checks, seals, and anything lost, which must be 0) and exits 1 if anything was lost,
# damaged or failed unexpectedly. The seed is printed: the same seed replays the same
# choices (the kills land where the machine's timing puts them).
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
zeroth_root

module_kind=softhsm
max_ceremonies=200
max_seconds=600
kill_percent=30
check_every=20
seed=$((RANDOM * 32768 + RANDOM))
keep=0
while (($#)); do
    case "$1" in
        --module) module_kind="${2:?}"; shift 2 ;;
        --ceremonies) max_ceremonies="${2:?}"; shift 2 ;;
        --seconds) max_seconds="${2:?}"; shift 2 ;;
        --kill-percent) kill_percent="${2:?}"; shift 2 ;;
        --check-every) check_every="${2:?}"; shift 2 ;;
        --seed) seed="${2:?}"; shift 2 ;;
        --keep) keep=1; shift ;;
        -h | --help)
            sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
            exit 0
            ;;
        *) zeroth_die "unknown option $1 (see --help)" ;;
    esac
done
RANDOM=$seed

ensure_packages softhsm2-util libsofthsm2.so pkcs11-tool flock jq
ensure_cargo
cargo build --quiet
bin="$ZEROTH_ROOT/target/debug/zeroth"

work="$(mktemp -d "${TMPDIR:-/tmp}/zeroth-soak.XXXXXX")"
if ((keep)); then
    echo "soak: keeping $work"
else
    trap 'rm -rf "$work"' EXIT
fi
pin="$(random_digits 8)"
so_pin="$(random_digits 8)"
case "$module_kind" in
    softhsm)
        softhsm_setup "$work/hsm"
        init_token prod "$pin" "$so_pin"
        module="$(softhsm_module)"
        ;;
    kryoptic)
        module="$(ensure_kryoptic)"
        mkdir -p "$work/hsm"
        printf '[[slots]]\nslot = 0\ndbtype = "sqlite"\ndbargs = "%s"\n' "$work/hsm/prod.sql" \
            >"$work/hsm/kryoptic.conf"
        export KRYOPTIC_CONF="$work/hsm/kryoptic.conf"
        pkcs11-tool --module "$module" --slot 0 --init-token --label prod --so-pin "$so_pin" >/dev/null
        pkcs11-tool --module "$module" --slot 0 --init-pin --login --login-type so \
            --so-pin "$so_pin" --pin "$pin" >/dev/null
        ;;
    *) zeroth_die "--module: softhsm or kryoptic" ;;
esac

export ZEROTH_STORE="$work/store" ZEROTH_PIN="$pin" ZEROTH_TRUST="$work/trust.toml"
export ZEROTH_OPERATOR=soak ZEROTH_LOCK_WAIT_MS=5000
unset ZEROTH_NOW
mkdir -p "$work/shares" "$work/out"
errors="$work/errors"
: >"$errors"

# Figures.
ran=0 completed=0 refused=0 advised=0 killed=0 attempts=0 timed=0 checks=0 emptied=0 made=0 revoked=0 lost=0 damaged=0 unexpected=0
# Per seal: the credential (hex) it must give, or "?" when a killed rotation left a
# new one zeroth has not delivered yet; and the secret of a pending imported rotation.
declare -A cred=() next_secret=() revoking=()
seals=()
next_seal=1
total_ms=0

record() { jq -r "$2" "$ZEROTH_STORE/seals/$1.json" 2>/dev/null; }
set_dir() { printf '%s/shares/%s/set%s' "$work" "$1" "$2"; }
custodians() { record "$1" '.custodians[].name'; }
pending_field() { record "$1" ".pending.$2 // empty"; }
live() { [[ -f "$ZEROTH_STORE/seals/$1.json" && "$(record "$1" '.revoked // empty')" == "" ]]; }

note() { printf '%s\n' "$*" >>"$errors"; }

# The next share set a rekey or rotation of SEAL makes, as zeroth numbers it.
next_set() { jq -r '[.set, (.history[].set)] | max + 1' "$ZEROTH_STORE/seals/$1.json"; }

# Picks T custodians of SET at random, and prints --share FILE for each.
shares_of() {
    local seal="$1" set="$2" t="$3" dir names=()
    dir="$(set_dir "$seal" "$set")"
    mapfile -t names < <(ls "$dir" 2>/dev/null | sed -n "s/^$seal\.\(.*\)\.share$/\1/p")
    local i j tmp
    for ((i = ${#names[@]} - 1; i > 0; i--)); do
        j=$((RANDOM % (i + 1)))
        tmp="${names[i]}" names[i]="${names[j]}" names[j]="$tmp"
    done
    for ((i = 0; i < t && i < ${#names[@]}; i++)); do
        printf -- '--share\n%s/%s.%s.share\n' "$dir" "$seal" "${names[i]}"
    done
}

# Runs zeroth with the arguments; stdin from $stdin_data if set. With probability
# kill_percent the process is killed (-9) after a random delay within the typical
# ceremony time. Sets rc (137 when killed), out and err; counts the run.
stdin_data=""
run() {
    local kill_it=$((RANDOM % 100 < kill_percent)) avg delay start end pid
    # Within the time a ceremony takes, on average, when it is not killed.
    avg=$((timed > 0 ? total_ms / timed : 300))
    ((avg < 50)) && avg=50
    delay=$((RANDOM % avg))
    # The copy of SoftHSM's token file is taken before the ceremony starts: taken
    # after, it would eat into the delay (the kill landing after the ceremony ended)
    # and could copy a file the ceremony is rewriting.
    ((kill_it)) && softhsm_keep
    start=$(date +%s%N)
    if [[ -n "$stdin_data" ]]; then
        printf '%s' "$stdin_data" | "$bin" "$@" >"$work/out/stdout" 2>"$work/out/stderr" &
    else
        "$bin" "$@" </dev/null >"$work/out/stdout" 2>"$work/out/stderr" &
    fi
    pid=$!
    if ((kill_it)); then
        attempts=$((attempts + 1))
        sleep "$(printf '%d.%03d' $((delay / 1000)) $((delay % 1000)))"
        kill -9 "$pid" 2>/dev/null || true
    fi
    rc=0
    # (bash's notice of a killed job goes to wait's stderr)
    wait "$pid" 2>/dev/null || rc=$?
    end=$(date +%s%N)
    ran=$((ran + 1))
    if ((!kill_it)); then
        timed=$((timed + 1))
        total_ms=$((total_ms + (end - start) / 1000000))
    fi
    out="$(cat "$work/out/stdout")"
    err="$(cat "$work/out/stderr")"
    stdin_data=""
    if ((rc == 137)); then
        killed=$((killed + 1))
        softhsm_mend
    elif ((rc == 0)); then
        completed=$((completed + 1))
    else
        refused=$((refused + 1))
    fi
}

# A run that was not killed must have exited with one of the codes given.
expect() {
    ((rc == 137)) && return 0
    local c
    for c in "$@"; do ((rc == c)) && return 0; done
    unexpected=$((unexpected + 1))
    note "unexpected exit $rc of: $last_ceremony: $err"
}

random_secret() { od -An -N24 -tx1 /dev/urandom | tr -d ' \n'; }

# SoftHSM 2.6's file backend rewrites token.object in place at every C_Login: it
# truncates the file, then writes it. A process killed in between leaves it empty, and
# SoftHSM then shows an uninitialized token: every key on it is gone. That is the
# module's failure, not zeroth's, and it is counted apart ("emptied"); the soak then
# puts back the copy taken before the ceremony, as an operator restores a backup of the
# token directory, and goes on testing zeroth.
softhsm_keep() {
    [[ "$module_kind" == softhsm ]] || return 0
    cp "$work"/hsm/tokens/*/token.object "$work/token.object.before"
}
softhsm_mend() {
    [[ "$module_kind" == softhsm ]] || return 0
    local t
    t="$(echo "$work"/hsm/tokens/*/token.object)"
    if [[ ! -s "$t" ]]; then
        emptied=$((emptied + 1))
        note "SoftHSM left token.object empty after the kill of: $last_ceremony (restored from the copy taken before)"
        cp "$work/token.object.before" "$t"
    fi
}

# ---- ceremonies ------------------------------------------------------------------

c_generate() {
    local seal="s$next_seal" dir
    next_seal=$((next_seal + 1))
    dir="$(set_dir "$seal" 1)"
    mkdir -p "$dir"
    local import=$((RANDOM % 3 == 0)) secret=""
    if ((import)); then
        secret="$(random_secret)"
        stdin_data="$secret"
        last_ceremony="import $seal"
        run import "$seal" --env prod --owner soak --purpose "soak test" --threshold 2 \
            --custodian alice --custodian bob --custodian carol --rotate-every 90d --out-dir "$dir"
    else
        last_ceremony="generate $seal"
        run generate "$seal" --env prod --owner soak --purpose "soak test" --threshold 2 \
            --custodian alice --custodian bob --custodian carol --rotate-every 90d --out-dir "$dir"
    fi
    expect 0
    if [[ -f "$ZEROTH_STORE/seals/$seal.json" ]]; then
        seals+=("$seal")
        made=$((made + 1))
        if ((import)); then
            cred[$seal]="$(printf '%s' "$secret" | od -An -tx1 | tr -d ' \n')"
        else
            cred[$seal]="?"
        fi
    fi
}

c_unseal() {
    local seal="$1" set t args
    set="$(record "$seal" .set)"
    t="$(record "$seal" .threshold)"
    mapfile -t args < <(shares_of "$seal" "$set" "$t")
    last_ceremony="unseal $seal"
    run unseal "$seal" "${args[@]}" --encoding hex --output -
    expect 0
    if ((rc == 0)); then
        if [[ "${cred[$seal]}" == "?" ]]; then
            cred[$seal]="$out"
        elif [[ "$out" != "${cred[$seal]}" ]]; then
            lost=$((lost + 1))
            note "LOST: unseal of $seal (set $set) gave another credential"
        fi
    fi
}

c_drill() {
    local seal="$1" set n args
    set="$(record "$seal" .set)"
    n="$(record "$seal" '.custodians | length')"
    mapfile -t args < <(shares_of "$seal" "$set" "$n")
    last_ceremony="drill $seal"
    run drill "$seal" "${args[@]}"
    expect 0
}

c_start() {
    local kind="$1" seal="$2" set t next dir args extra=()
    set="$(record "$seal" .set)"
    t="$(record "$seal" .threshold)"
    next="$(next_set "$seal")"
    dir="$(set_dir "$seal" "$next")"
    # Share files a killed start left behind open nothing: clear the way.
    rm -rf "$dir"
    mkdir -p "$dir"
    mapfile -t args < <(shares_of "$seal" "$set" "$t")
    if [[ "$kind" == rekey && $((RANDOM % 2)) == 0 ]]; then
        extra=(--threshold $((2 + RANDOM % 2)))
    fi
    if [[ "$kind" == rotate && "$(record "$seal" .credential.origin)" == imported ]]; then
        next_secret[$seal]="$(random_secret)"
        stdin_data="${next_secret[$seal]}"
        extra=(--import)
    fi
    last_ceremony="$kind $seal"
    run "$kind" "$seal" "${args[@]}" "${extra[@]}" --out-dir "$dir"
    if ((rc == 3)) && [[ "$err" == *"run 'zeroth cleanup --env prod' first"* ]]; then
        # A start killed before its record left the next set's key: zeroth refuses
        # until cleanup takes it, as an operator would do next.
        advised=$((advised + 1))
        "$bin" cleanup --env prod --destroy >/dev/null 2>&1 || true
        return 0
    fi
    expect 0
}

c_confirm() {
    local seal="$1" kind id set t args before
    kind="$(pending_field "$seal" kind)"
    id="$(pending_field "$seal" id)"
    set="$(pending_field "$seal" set)"
    t="$(pending_field "$seal" threshold)"
    before="$(record "$seal" .version)"
    mapfile -t args < <(shares_of "$seal" "$set" "$t")
    last_ceremony="$kind --confirm $seal"
    if [[ "$kind" == rotate ]]; then
        run rotate "$seal" --confirm "$id" "${args[@]}" --encoding hex --output -
    else
        run rekey "$seal" --confirm "$id" "${args[@]}"
    fi
    expect 0
    if [[ "$kind" == rotate && "$(record "$seal" .version)" != "$before" ]]; then
        if ((rc == 0)); then
            cred[$seal]="$out"
        else
            cred[$seal]="?"
        fi
        if [[ -n "${next_secret[$seal]:-}" ]]; then
            cred[$seal]="$(printf '%s' "${next_secret[$seal]}" | od -An -tx1 | tr -d ' \n')"
            [[ $rc == 0 && "$out" != "${cred[$seal]}" ]] && {
                lost=$((lost + 1))
                note "LOST: the rotation of $seal delivered another credential than imported"
            }
            unset 'next_secret[$seal]'
        fi
    fi
}

c_cancel() {
    local seal="$1" kind id
    kind="$(pending_field "$seal" kind)"
    id="$(pending_field "$seal" id)"
    last_ceremony="$kind --cancel $seal"
    run "$kind" "$seal" --cancel "$id"
    expect 0
}

c_revoke() {
    local seal="$1"
    last_ceremony="revoke $seal"
    run revoke "$seal" --reason soak --confirm-seal "$seal"
    expect 0
    if ((rc == 137)); then
        revoking[$seal]=1
    else
        unset 'revoking[$seal]'
    fi
    [[ "$(record "$seal" '.revoked // empty')" != "" ]] && revoked=$((revoked + 1))
    return 0
}

c_simple() {
    last_ceremony="$*"
    run "$@"
}

# ---- checks ----------------------------------------------------------------------

check_all() {
    checks=$((checks + 1))
    local v kind seal set t args got
    # The log: whole, or an unsigned tail that attest covers.
    v="$("$bin" --json audit verify 2>/dev/null || true)"
    kind="$(jq -r '.logs[0].damage.kind // "none"' <<<"$v" 2>/dev/null || echo unreadable)"
    if [[ "$kind" == unsigned ]]; then
        "$bin" audit attest --env prod >/dev/null 2>&1 || true
        v="$("$bin" --json audit verify 2>/dev/null || true)"
        kind="$(jq -r '.logs[0].damage.kind // "none"' <<<"$v" 2>/dev/null || echo unreadable)"
    fi
    if [[ "$kind" != none ]]; then
        damaged=$((damaged + 1))
        note "DAMAGED log after ceremony $ran: $(jq -c '.logs[0].damage' <<<"$v" 2>/dev/null || echo "$v")"
    fi
    # Orphans from killed ceremonies: cleanup takes them, and leaves none.
    if ! "$bin" cleanup --env prod --destroy >/dev/null 2>"$work/out/cleanup.err"; then
        unexpected=$((unexpected + 1))
        note "cleanup --destroy failed: $(cat "$work/out/cleanup.err")"
    fi
    # Every live seal opens with its current set.
    for seal in "${seals[@]}"; do
        live "$seal" || continue
        set="$(record "$seal" .set)"
        t="$(record "$seal" .threshold)"
        mapfile -t args < <(shares_of "$seal" "$set" "$t")
        if ! got="$("$bin" unseal "$seal" "${args[@]}" --encoding hex --output - 2>"$work/out/check.err")"; then
            if [[ -n "${revoking[$seal]:-}" ]] && grep -q "is not on token" "$work/out/check.err" &&
                "$bin" revoke "$seal" --reason "soak: finishing a revocation" --confirm-seal "$seal" >/dev/null 2>&1; then
                # A revocation cut short between destroying the key and the record.
                revoked=$((revoked + 1))
                continue
            fi
            lost=$((lost + 1))
            note "LOST: $seal does not open with set $set: $(cat "$work/out/check.err")"
            continue
        fi
        if [[ "${cred[$seal]}" == "?" ]]; then
            cred[$seal]="$got"
        elif [[ "$got" != "${cred[$seal]}" ]]; then
            lost=$((lost + 1))
            note "LOST: $seal (set $set) gives another credential"
        fi
    done
    # check --hsm agrees with the token.
    local findings
    findings="$("$bin" --json check --hsm 2>/dev/null | jq -r '.findings[] | select(.id | IN("record-invalid","token-unmarked","token-unreachable","orphan-key","revoked-key-present","log-damaged")) | "\(.id): \(.message)"' || echo "check --hsm did not run")"
    if [[ -n "$findings" ]]; then
        unexpected=$((unexpected + 1))
        note "check --hsm after ceremony $ran: $findings"
    fi
}

# ---- the run ---------------------------------------------------------------------

last_ceremony="env init"
"$bin" env init prod --module "$module" --token prod >/dev/null 2>"$work/out/init.err" || { cat "$work/out/init.err" >&2; exit 1; }
c_generate
c_generate
start_time=$SECONDS
echo "soak: $module_kind, seed $seed, up to $max_ceremonies ceremonies in ${max_seconds}s, $kill_percent % killed"
while ((ran < max_ceremonies && SECONDS - start_time < max_seconds)); do
    mapfile -t live_seals < <(for s in "${seals[@]}"; do live "$s" && echo "$s"; done)
    if ((${#live_seals[@]} < 2)); then
        c_generate
        continue
    fi
    seal="${live_seals[RANDOM % ${#live_seals[@]}]}"
    pend="$(pending_field "$seal" kind)"
    choice=$((RANDOM % 100))
    if [[ -n "${revoking[$seal]:-}" ]]; then
        # A revocation was killed: its keys may be gone while the record does not say
        # so yet. The operator runs it again, as the design says, before anything else.
        c_revoke "$seal"
    elif ((choice < 20)); then
        c_unseal "$seal"
    elif ((choice < 30)); then
        c_drill "$seal"
    elif ((choice < 50)); then
        if [[ -n "$pend" ]]; then c_confirm "$seal"; else c_start rekey "$seal"; fi
    elif ((choice < 66)); then
        if [[ -n "$pend" ]]; then c_confirm "$seal"; else c_start rotate "$seal"; fi
    elif ((choice < 72)); then
        if [[ -n "$pend" ]]; then c_cancel "$seal"; else c_unseal "$seal"; fi
    elif ((choice < 76)); then
        c_simple cleanup --env prod --destroy
        expect 0
    elif ((choice < 80)); then
        c_simple audit attest --env prod
        expect 0
    elif ((choice < 85)); then
        c_simple check --hsm
        expect 0 1
    elif ((choice < 88)); then
        c_simple list
        expect 0
    elif ((choice < 91)); then
        c_revoke "$seal"
    else
        c_generate
    fi
    if ((ran % check_every == 0)); then
        check_all
    fi
done
check_all
elapsed=$((SECONDS - start_time))

echo "soak: $ran ceremonies in ${elapsed}s on $module_kind (seed $seed): $completed completed, $refused refused or failed ($advised of them: a start refused until cleanup took a killed start's key, as designed), $killed killed by kill -9 (of $attempts kills sent; the others came after the ceremony ended); $checks checks; seals: $made made, $revoked revoked"
echo "soak: lost: $lost, damaged logs: $damaged, unexpected failures: $unexpected"
if [[ "$module_kind" == softhsm ]]; then
    echo "soak: SoftHSM emptied its token.object $emptied times (a kill inside C_Login's rewrite; each put back from the copy taken before the ceremony)"
fi
if [[ -s "$errors" ]]; then
    sed 's/^/  /' "$errors"
fi
if ((lost || damaged || unexpected)); then
    echo "soak: FAILED (keep the evidence with --keep --seed $seed)" >&2
    exit 1
fi
