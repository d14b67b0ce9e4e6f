#!/usr/bin/env bash
# A whole zeroth ceremony on SoftHSM2, told step by step: a security officer
# prepares a token, five custodians receive shares of a production credential,
# one custodian checks their share, an operator unseals with three of them, and
# a drill proves all five. Everything lives in .quickstart/ (git-ignored), which
# is wiped and made afresh on every run.
set -euo pipefail

# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
zeroth_root

QS=.quickstart
# The trust file pins, outside the store, the module, token and signing key of each
# environment; this walk-through keeps its own instead of ~/.config/zeroth/trust.toml.
Z=(target/release/zeroth --store "$QS/store" --pin-file "$QS/pin" --trust "$QS/trust.toml")

say() {
    echo
    echo "==> $*"
}

# Quotes one word for display, as a person would type it.
shell_word() {
    if [[ "$1" =~ ^[A-Za-z0-9_./=:@%+,-]+$ ]]; then
        printf '%s' "$1"
    else
        printf "'%s'" "${1//\'/\'\\\'\'}"
    fi
}

# Runs zeroth with the given arguments, showing the command first (with
# `zeroth` standing for the binary and its --store/--pin-file options).
zeroth() {
    local line="    \$ zeroth" arg
    for arg in "$@"; do
        line+=" $(shell_word "$arg")"
    done
    echo "$line"
    "${Z[@]}" "$@"
}

say "Checking the tools this walk-through needs (SoftHSM2, pkcs11-tool, openssl, Rust)"
ensure_packages
ensure_cargo
say "Building zeroth (cargo build --release)"
cargo build --release --quiet
echo "    in what follows, 'zeroth' stands for: ${Z[*]}"

say "Starting afresh in $QS/ (any earlier quickstart is removed)"
rm -rf "$QS"
mkdir -m 700 "$QS"
softhsm_setup "$QS/hsm"
echo "    SoftHSM2 keeps this walk-through's tokens in $QS/hsm/tokens (SOFTHSM2_CONF=$SOFTHSM2_CONF)"

say "The security officer initializes an HSM token for production, 'quickstart-prod'"
echo "    They choose a security-officer PIN (kept by them alone) and a user PIN for"
echo "    operators. Both are random here; the user PIN goes to $QS/pin (mode 0600),"
echo "    where zeroth reads it with --pin-file. A PIN never goes on zeroth's command line."
user_pin=$(random_digits 8)
so_pin=$(random_digits 8)
(
    umask 077
    printf '%s\n' "$user_pin" >"$QS/pin"
)
chmod 600 "$QS/pin"
init_token quickstart-prod "$user_pin" "$so_pin"
unset user_pin so_pin
module=$(softhsm_module)

say "The operator binds the token to the environment 'prod'"
echo "    zeroth marks the token as prod's, makes prod's signing key in it, picks the"
echo "    best wrap mechanism the token offers, and creates the store $QS/store. It pins"
echo "    the module (path and SHA-256), the token and the signing key in $QS/trust.toml,"
echo "    outside the store: a store someone edited cannot point zeroth at another module."
zeroth env init prod --module "$module" --token quickstart-prod

say "Key ceremony: the security officer generates 'vault-root', any 3 of 5 custodians to unseal"
echo "    The credential is generated inside the HSM and leaves it only wrapped. Its unseal"
echo "    key is split into five shares, one per custodian: alice, bob, carol, dave, erin."
mkdir -m 700 "$QS/shares"
zeroth generate vault-root --env prod --owner platform-team \
    --purpose "unseal the production vault" --threshold 3 \
    --custodian alice --custodian bob --custodian carol --custodian dave --custodian erin \
    --rotate-every 90d --out-dir "$QS/shares"

say "This is what alice takes away: her share, which she can print, or type back in"
echo "    One share alone tells nothing about the credential, and the shares alone"
echo "    open nothing without the HSM. In real life each file goes to its custodian"
echo "    (printed, or on a stick kept in their safe) and no copy stays here."
echo
sed 's/^/    /' "$QS/shares/vault-root.alice.share"

say "alice checks her share against the signed record: no quorum, no HSM, no PIN needed"
zeroth share verify "$QS/shares/vault-root.alice.share"

say "Break glass: the operator unseals vault-root with the shares of alice, carol and erin"
echo "    It takes the HSM (and its PIN) AND three shares. The credential goes straight"
echo "    to the command after --exec, on its stdin; here a stand-in for the vault, which"
echo "    only counts the bytes: 64, the 32-byte credential in hex, zeroth's default for"
echo "    generated credentials (--encoding raw|base64 to change it). It is never shown."
# shellcheck disable=SC2016 # $(wc -c) is for the inner sh, not for this script
zeroth unseal vault-root \
    --share "$QS/shares/vault-root.alice.share" \
    --share "$QS/shares/vault-root.carol.share" \
    --share "$QS/shares/vault-root.erin.share" \
    --exec -- sh -c 'printf "the vault received a %s-byte credential on stdin\n" "$(wc -c)"'

say "Drill: all five custodians bring their shares, to prove none is lost or damaged"
echo "    The whole recovery runs with the HSM and the credential is thrown away."
zeroth drill vault-root \
    --share "$QS/shares/vault-root.alice.share" \
    --share "$QS/shares/vault-root.bob.share" \
    --share "$QS/shares/vault-root.carol.share" \
    --share "$QS/shares/vault-root.dave.share" \
    --share "$QS/shares/vault-root.erin.share"

say "Every ceremony above is in prod's log, chained and signed by the HSM"
echo "    An auditor verifies it with the public key alone: no HSM, no PIN."
zeroth audit verify
zeroth audit show --seal vault-root
echo "    'zeroth audit report vault-root' writes the transcript an auditor files."

say "Anyone with the store sees the seals: owner, quorum, version, rotation date"
zeroth list

say "The governance check a CI job runs: overdue, untested, unsafe (exit 1 on errors)"
echo "    Nothing is due yet: the seal is new and its every share was just proven."
zeroth check

say "... and which token serves which environment"
zeroth env list

say "What is on the token, seen with pkcs11-tool (opensc), not with zeroth"
echo "    prod's signing key pair, the environment marker, the log anchor (the last log"
echo "    entry the token signed: a store restored from an old copy is refused), and"
echo "    vault-root's K_seal: the private and secret keys are sensitive and never"
echo "    extractable. The credential itself is not stored on the token; the store holds"
echo "    it only wrapped and sealed."
echo
pkcs11-tool --module "$module" --token-label quickstart-prod --login \
    --pin "$(cat "$QS/pin")" --list-objects 2>/dev/null | sed 's/^/    /'

cat <<EOF

==> What next
    Everything above is in $QS/ (the store, the shares, the SoftHSM token, the PIN,
    the trust file) and is wiped by the next run of this script. Look at $QS/store:
    plain files, fit for git, none of them secret on its own; $QS/trust.toml is what
    this machine trusts, and stays outside every store. To go further: bind a real HSM with
    'zeroth env init ENV --module PATH --token LABEL' (one token per environment);
    seal a credential you already have with 'zeroth import', which reads it on stdin;
    deliver an unsealed credential to a file with 'unseal --output FILE' (mode 0600);
    and run a drill now and then, so a lost share is found before it is needed.
    README.md tells how, docs/DESIGN.md explains why (threat model, key hierarchy,
    the ceremonies to come), and 'zeroth --help' lists the commands.
EOF
