#!/usr/bin/env bash
# A whole zeroth break-glass story on SoftHSM2 and a real OpenBao server, told
# step by step: a security officer prepares a token; zeroth initializes a new
# OpenBao server and seals its unseal key straight from the init answer, five
# custodians receiving shares; one custodian checks their share; the server
# restarts sealed and three custodians unseal it; a 15-minute root token serves
# one command and is revoked; a drill proves all five shares. Everything lives in
# .quickstart/ (git-ignored), which is wiped and made afresh on every run; the
# OpenBao server is stopped at the end.
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

say "Checking the tools this walk-through needs (SoftHSM2, pkcs11-tool, openssl, Rust, OpenBao)"
ensure_packages
ensure_cargo
BAO="$(ensure_openbao)"
echo "    OpenBao: $BAO ($("$BAO" version))"
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

say "A new OpenBao server for production: raft storage, on loopback, not initialized yet"
echo "    (A real deployment listens on https with its own certificate: zeroth then verifies it"
echo "    against --ca-cert/BAO_CACERT and records its fingerprint. Plain http is accepted on"
echo "    loopback only.)"
bao_port=$(free_port)
bao_cluster=$(free_port)
mkdir -p "$QS/bao/data"
cat >"$QS/bao/server.hcl" <<EOF
storage "raft" {
  path    = "$PWD/$QS/bao/data"
  node_id = "quickstart"
}
listener "tcp" {
  address         = "127.0.0.1:$bao_port"
  cluster_address = "127.0.0.1:$bao_cluster"
  tls_disable     = true
}
api_addr      = "http://127.0.0.1:$bao_port"
cluster_addr  = "https://127.0.0.1:$bao_cluster"
disable_mlock = true
EOF
export BAO_ADDR="http://127.0.0.1:$bao_port"
unset VAULT_ADDR BAO_TOKEN VAULT_TOKEN BAO_CACERT VAULT_CACERT
bao_pid=""
# Starts the server and waits until it answers (bao status: 0 unsealed, 2 sealed).
start_bao() {
    "$BAO" server -config="$QS/bao/server.hcl" >>"$QS/bao/server.log" 2>&1 &
    bao_pid=$!
    local tries=0 rc
    while :; do
        rc=0
        "$BAO" status >/dev/null 2>&1 || rc=$?
        ((rc == 0 || rc == 2)) && return 0
        kill -0 "$bao_pid" 2>/dev/null || {
            zeroth_die "the OpenBao server stopped: see $QS/bao/server.log"
            exit 1
        }
        ((++tries < 600)) || {
            zeroth_die "the OpenBao server did not answer within a minute"
            exit 1
        }
        sleep 0.1
    done
}
stop_bao() {
    if [[ -n "$bao_pid" ]]; then
        kill "$bao_pid" 2>/dev/null || true
        wait "$bao_pid" 2>/dev/null || true
        bao_pid=""
    fi
}
trap stop_bao EXIT
start_bao
echo "    \$ bao status   (BAO_ADDR=$BAO_ADDR)"
"$BAO" status 2>&1 | sed 's/^/    /' || true

say "Key ceremony: zeroth initializes the server; its unseal key goes straight into the HSM"
echo "    Everything that can fail is checked first (store, token, PIN, names, files), since"
echo "    the init answer is the only copy of the key. The server is initialized with one key"
echo "    share, the key sealed from the answer and split 3 of 5 among alice, bob, carol, dave"
echo "    and erin, and the server unsealed with it to prove it. The init root token is sealed"
echo "    as its own seal. Neither is ever shown."
mkdir -m 700 "$QS/shares"
zeroth vault init vault-unseal --env prod --owner platform-team \
    --purpose "unseal the production OpenBao" --threshold 3 \
    --custodian alice --custodian bob --custodian carol --custodian dave --custodian erin \
    --rotate-every 180d --out-dir "$QS/shares"

say "This is what alice takes away: her share, which she can print, or type back in"
echo "    One share alone tells nothing about the key, and the shares alone open nothing"
echo "    without the HSM. In real life each file goes to its custodian (printed, or on a"
echo "    stick kept in their safe) and no copy stays here."
echo
sed 's/^/    /' "$QS/shares/vault-unseal.alice.share"

say "alice checks her share against the signed record: no quorum, no HSM, no PIN needed"
zeroth share verify "$QS/shares/vault-unseal.alice.share"

say "Once, the platform team uses the init root token to give operators a ceremony token"
echo "    OpenBao keeps its unauthenticated rekey and generate-root endpoints off: an operator"
echo "    needs a token whose policy reaches sys/generate-root-token and sys/rotate/root. The"
echo "    root token goes from its seal to bao on a pipe; the operator token is kept 0600."
(umask 077 && : >"$QS/operator-token")
# shellcheck disable=SC2016 # the inner sh expands its own variables
zeroth unseal vault-unseal.root-token \
    --share "$QS/shares/vault-unseal.root-token.alice.share" \
    --share "$QS/shares/vault-unseal.root-token.bob.share" \
    --share "$QS/shares/vault-unseal.root-token.dave.share" \
    --exec -- sh -c '
        BAO_TOKEN=$(cat) && export BAO_TOKEN &&
        printf "%s\n" \
            "path \"sys/generate-root-token/*\" { capabilities = [\"create\", \"read\", \"update\", \"delete\"] }" \
            "path \"sys/rotate/root/*\" { capabilities = [\"create\", \"read\", \"update\", \"delete\"] }" |
            "$0" policy write break-glass - >/dev/null &&
        "$0" token create -policy=break-glass -ttl=24h -field=token >"$1"' "$BAO" "$QS/operator-token"

say "The server restarts: it comes back sealed"
stop_bao
start_bao
"$BAO" status 2>&1 | grep -E '^(Sealed|Total Shares|Threshold)' | sed 's/^/    /' || true

say "Break glass: alice, carol and erin and the HSM unseal it"
echo "    zeroth reads seal-status first and checks it against the record (initialized, the"
echo "    threshold, the cluster once known); the key goes to the server by its API."
zeroth vault unseal vault-unseal \
    --share "$QS/shares/vault-unseal.alice.share" \
    --share "$QS/shares/vault-unseal.carol.share" \
    --share "$QS/shares/vault-unseal.erin.share"

say "A 15-minute root token for one command"
echo "    Generated with a one-time password and the key, exchanged for an orphan token that"
echo "    expires by itself, the generated one revoked; the command gets it in BAO_TOKEN, and"
echo "    it is revoked when the command ends. The command here shows what it was given."
# shellcheck disable=SC2016 # the inner sh expands its own variables
zeroth vault root vault-unseal --token-file "$QS/operator-token" --ttl 15m \
    --share "$QS/shares/vault-unseal.bob.share" \
    --share "$QS/shares/vault-unseal.carol.share" \
    --share "$QS/shares/vault-unseal.dave.share" \
    -- sh -c 'printf "    policies: %s, time to live: %ss, renewable: %s\n" \
        "$("$0" token lookup -field=policies)" "$("$0" token lookup -field=ttl)" \
        "$("$0" token lookup -field=renewable)"' "$BAO"

say "Drill: all five custodians bring their shares, to prove none is lost or damaged"
echo "    The whole recovery runs with the HSM and the key is thrown away."
zeroth drill vault-unseal \
    --share "$QS/shares/vault-unseal.alice.share" \
    --share "$QS/shares/vault-unseal.bob.share" \
    --share "$QS/shares/vault-unseal.carol.share" \
    --share "$QS/shares/vault-unseal.dave.share" \
    --share "$QS/shares/vault-unseal.erin.share"

say "Every ceremony above is in prod's log, chained and signed by the HSM"
echo "    An auditor verifies it with the public key alone: no HSM, no PIN."
zeroth audit verify
zeroth audit show --seal vault-unseal
echo "    'zeroth audit report vault-unseal' writes the transcript an auditor files."

say "Anyone with the store sees the seals: owner, quorum, version, rotation date"
zeroth list

say "The governance check a CI job runs: overdue, untested, unsafe (exit 1 on errors)"
echo "    Nothing is due yet: the seal is new and its every share was just proven."
zeroth check

say "... and which token serves which environment"
zeroth env list

say "What is on the token, seen with pkcs11-tool (opensc), not with zeroth"
echo "    prod's signing key pair, the environment marker, the log anchor (the last log"
echo "    entry the token signed: a store restored from an old copy is refused), and the"
echo "    K_seal of each seal: the private and secret keys are sensitive and never"
echo "    extractable. The keys and tokens themselves are not stored on the token; the"
echo "    store holds them only wrapped and sealed."
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
