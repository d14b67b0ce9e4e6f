#!/usr/bin/env bash
# The project's test command (CI runs it through .ci/run): formatting, lints,
# unit and integration tests (a sample of the fault matrix among them), doc tests,
# a short soak on each module and a smoke run of the fuzz targets; and the dependency
# graph: Cargo.toml's rust-version against the lock file (scripts/msrv.sh), and
# cargo-deny against deny.toml (licences, bans, sources; advisories when the RustSec
# database can be fetched, see cargo_deny_advisories in lib.sh). The integration
# tests run twice, once on each PKCS#11 implementation: SoftHSM2 (Debian package)
# and Kryoptic (built from crates.io once, then cached; see ensure_kryoptic in
# lib.sh), each test in its own temporary token set-up. Installs what is missing
# first. Exits non-zero on the first failure.
set -euo pipefail

# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
zeroth_root

start=$(date +%s)
step="setup"
finish() {
    local rc=$?
    local elapsed=$(($(date +%s) - start))
    if ((rc == 0)); then
        echo "==> all passed in ${elapsed}s"
    else
        echo "==> FAILED at: $step (exit $rc) after ${elapsed}s" >&2
    fi
}
trap finish EXIT

run() {
    step="$*"
    echo
    echo "==> $*"
    local t0=$SECONDS
    "$@"
    echo "==> took $((SECONDS - t0))s: $*"
}

# The SoftHSM2 run takes the fixture's default module, whatever the caller's
# environment says.
unset ZEROTH_TEST_MODULE

ensure_packages
ensure_packages cc libp11-kit-dev # the tests' fault-injecting PKCS#11 shim
ensure_cargo
if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
    echo "==> installing rustfmt and clippy"
    rustup component add rustfmt clippy
fi

# The vault tests run a real OpenBao server: its binary, installed once per machine.
step="installing OpenBao (ensure_openbao)"
ZEROTH_BAO="$(ensure_openbao)"
export ZEROTH_BAO
echo "==> OpenBao: $ZEROTH_BAO"
# `check --metrics` is parsed by the Prometheus client library's own parser.
step="installing prometheus-client (ensure_prometheus_client)"
ZEROTH_PROM_PYTHON="$(ensure_prometheus_client)"
export ZEROTH_PROM_PYTHON
# cargo-deny, built from crates.io once per machine, then cached.
step="installing cargo-deny (ensure_cargo_deny)"
cargo_deny="$(ensure_cargo_deny)"
PATH="${cargo_deny%/*}:$PATH"
echo "==> $(cargo deny --version): $cargo_deny"

run cargo fmt --all -- --check
run cargo clippy --workspace --all-targets -- -D warnings
run scripts/msrv.sh
run cargo deny --workspace check --hide-inclusion-graph bans licenses sources
run cargo_deny_advisories
# The format-and-verify core alone, as an auditor builds it: no PKCS#11, no age.
run cargo build -p zeroth-core
run cargo test --workspace --all-targets # zeroth-core's tests, and zeroth's on SoftHSM2

step="building Kryoptic (ensure_kryoptic)"
echo
echo "==> $step"
t0=$SECONDS
kryoptic="$(ensure_kryoptic)"
echo "==> took $((SECONDS - t0))s: Kryoptic module $kryoptic"
run env ZEROTH_TEST_MODULE="$kryoptic" cargo test --test it # the same tests on Kryoptic

run cargo test --workspace --doc

# Random ceremonies with kill -9 at random moments, a short round on each module
# (scripts/soak.sh runs longer by hand).
run scripts/soak.sh --ceremonies 30 --seconds 180
run scripts/soak.sh --module kryoptic --ceremonies 30 --seconds 180
# The parsers, a few seconds each (scripts/fuzz.sh says when this toolchain cannot).
run scripts/fuzz.sh --seconds 10
