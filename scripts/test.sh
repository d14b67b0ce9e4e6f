#!/usr/bin/env bash
# The project's test command (CI runs it through .ci/run): formatting, lints,
# unit and integration tests (against SoftHSM2, in temporary token directories),
# doc tests. Installs what is missing first. Exits non-zero on the first failure.
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
    "$@"
}

ensure_packages
ensure_cargo
if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
    echo "==> installing rustfmt and clippy"
    rustup component add rustfmt clippy
fi

run cargo fmt --all -- --check
run cargo clippy --all-targets -- -D warnings
run cargo test --all-targets
run cargo test --doc
