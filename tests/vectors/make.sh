#!/usr/bin/env bash
# Makes a set of known-answer vectors by real ceremonies on SoftHSM2, into a NEW
# directory. The vectors committed in tests/vectors were made this way, once, and are
# never made again: tests/formats/vectors.rs reads them with today's code. A format
# that changes gets new vectors beside the old ones, which stay and stay readable.
#
#   tests/vectors/make.sh OUT_DIR      (OUT_DIR must not exist)
#
# The ceremonies, at fixed times (ZEROTH_NOW, read by debug builds):
#   env init prod; generate vault-root 2 of 3 (alice, bob, carol); unseal; a refused
#   unseal with no PIN at hand (logged unsigned); a refused unseal with a damaged
#   share (logged with the rejected share); a drill with every share; rekey adding
#   dave, confirmed. Kept: the store (less its lock), the shares of the current set
#   (alice, bob, dave), and record.signed, the bytes the record's signature covers as
#   jq writes them (the HSM's signature over them is what makes them a known answer).
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lib.sh"
zeroth_root

out="${1:?usage: tests/vectors/make.sh OUT_DIR}"
[[ -e "$out" ]] && zeroth_die "$out exists: vectors are made once, into a new directory"
command -v jq >/dev/null || zeroth_die "jq is needed (Debian package jq)"
ensure_cargo
cargo build --quiet
bin="$ZEROTH_ROOT/target/debug/zeroth"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
softhsm_setup "$work/hsm"
init_token prod 246810 13579111
mkdir -p "$out" "$work/s1" "$work/s2"
out="$(cd "$out" && pwd -P)"

export ZEROTH_STORE="$out/store" ZEROTH_PIN=246810 ZEROTH_OPERATOR=vectors
export ZEROTH_TRUST="$work/trust.toml"
at() {
    local when="$1"
    shift
    ZEROTH_NOW="$when" "$bin" "$@"
}

at 2026-11-23T09:00:00Z env init prod --module "$(softhsm_module)" --token prod
at 2026-11-23T09:05:00Z generate vault-root --env prod --owner platform \
    --purpose "unseal the production vault" --threshold 2 --rotate-every 90d \
    --custodian alice --custodian bob --custodian carol --out-dir "$work/s1"
at 2026-11-23T09:10:00Z unseal vault-root --share "$work/s1/vault-root.alice.share" \
    --share "$work/s1/vault-root.bob.share" --output - >/dev/null
# No PIN at hand and no terminal: the refusal is logged unsigned.
ZEROTH_NOW=2026-11-23T09:15:00Z setsid env -u ZEROTH_PIN "$bin" unseal vault-root \
    --share "$work/s1/vault-root.alice.share" --output - </dev/null >/dev/null 2>&1 &&
    zeroth_die "the unseal without a quorum was not refused"
# A damaged share: its third payload line with two characters swapped.
sed '9s/^\(3  \)\(.\)\(.\)/\1\3\2/' "$work/s1/vault-root.carol.share" >"$work/damaged.share"
at 2026-11-23T09:20:00Z unseal vault-root --share "$work/s1/vault-root.alice.share" \
    --share "$work/damaged.share" --output - >/dev/null 2>&1 &&
    zeroth_die "the damaged share was not refused"
at 2026-11-23T09:25:00Z drill vault-root --share "$work/s1/vault-root.alice.share" \
    --share "$work/s1/vault-root.bob.share" --share "$work/s1/vault-root.carol.share"
at 2026-11-23T09:30:00Z rekey vault-root --share "$work/s1/vault-root.alice.share" \
    --share "$work/s1/vault-root.carol.share" --custodian dave --out-dir "$work/s2"
op="$(jq -r .pending.id "$out/store/seals/vault-root.json")"
at 2026-11-23T09:35:00Z rekey vault-root --confirm "$op" \
    --share "$work/s2/vault-root.bob.share" --share "$work/s2/vault-root.dave.share"

rm -f "$out/store/.lock"
mkdir "$out/shares"
for who in alice bob dave; do
    cp "$work/s2/vault-root.$who.share" "$out/shares/"
done
{
    printf 'zeroth-record-v1\n'
    jq -cjS 'del(.signature)' "$out/store/seals/vault-root.json"
} >"$out/record.signed"
"$bin" audit verify
echo "vectors made in $out"
