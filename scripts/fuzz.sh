#!/usr/bin/env bash
# A bounded run of each fuzz target in fuzz/ (libFuzzer through libfuzzer-sys, the
# cargo-fuzz layout), seeded with the known-answer vectors of tests/vectors. Used by
# scripts/test.sh as a smoke run; by hand, for longer:
#
#   scripts/fuzz.sh [--seconds N] [--keep-corpus DIR] [TARGET...]
#
# Toolchain: a nightly one, when rustup has it, builds with AddressSanitizer, as
# cargo-fuzz does by default; otherwise the stable toolchain builds with the same
# coverage instrumentation (sancov: stable -C passes and -C llvm-args) and no
# sanitizer, as `cargo fuzz run -s none` would (ZEROTH_FUZZ_TOOLCHAIN=stable asks for
# that even when a nightly one is there). No toolchain is fetched. With cargo-fuzz
# installed, `cd fuzz && cargo fuzz run TARGET` works as well.
#
# Exits non-zero, printing the crashing input's path, when a target fails.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
zeroth_root

seconds="${ZEROTH_FUZZ_SECONDS:-10}"
corpus=""
targets=()
while (($#)); do
    case "$1" in
        --seconds) seconds="${2:?}"; shift 2 ;;
        --keep-corpus) corpus="${2:?}"; shift 2 ;;
        -h | --help)
            sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
            exit 0
            ;;
        *) targets+=("$1"); shift ;;
    esac
done
if ((${#targets[@]} == 0)); then
    targets=(share_armor share_payload share_line seal_record log config handin)
fi

ensure_cargo
# libFuzzer itself is C++, built by libfuzzer-sys.
command -v c++ >/dev/null 2>&1 || ensure_packages c++

target_triple="$(rustc -vV | sed -n 's/^host: //p')"
flags=(-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4
    -Cllvm-args=-sanitizer-coverage-inline-8bit-counters
    -Cllvm-args=-sanitizer-coverage-pc-table -Cllvm-args=-sanitizer-coverage-trace-compares
    --cfg fuzzing -Cdebug-assertions -Coverflow-checks)
toolchain=()
# Whether this toolchain builds libFuzzer targets at all: a program with the coverage
# instrumentation. If not, the run is skipped, saying why.
probe="$(mktemp -d)"
if ! printf 'pub fn f(x: u8) -> u8 { x ^ 1 }\n' | rustc "${flags[@]}" --crate-type lib --emit obj -o "$probe/probe.o" - >"$probe/err" 2>&1; then
    echo "==> fuzz: skipped: this Rust toolchain cannot build coverage-instrumented fuzz targets:"
    sed 's/^/    /' "$probe/err"
    rm -rf "$probe"
    exit 0
fi
rm -rf "$probe"
if [[ "${ZEROTH_FUZZ_TOOLCHAIN:-}" != stable ]] && rustup run nightly rustc --version >/dev/null 2>&1; then
    toolchain=(+nightly)
    flags+=(-Zsanitizer=address)
    how="nightly toolchain, AddressSanitizer"
elif [[ "${ZEROTH_FUZZ_TOOLCHAIN:-}" == stable ]]; then
    how="stable toolchain as ZEROTH_FUZZ_TOOLCHAIN asks, coverage instrumentation without a sanitizer"
else
    how="stable toolchain, coverage instrumentation without a sanitizer (no nightly toolchain installed)"
fi
echo "==> fuzz: building ${#targets[@]} targets ($how)"
(
    cd fuzz
    RUSTFLAGS="${flags[*]}" cargo "${toolchain[@]}" build --quiet --release --locked \
        --target "$target_triple" "${targets[@]/#/--bin=}"
)
bin_dir="$ZEROTH_ROOT/fuzz/target/$target_triple/release"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# Seeds: the vectors, in the shape each target reads.
seed() {
    local target="$1"
    mkdir -p "$work/seeds/$target"
    case "$target" in
        share_armor)
            cp tests/vectors/shares/*.share "$work/seeds/$target/"
            for f in tests/vectors/share-v2/*.share; do
                cp "$f" "$work/seeds/$target/v2-$(basename "$f")"
            done ;;
        share_payload) : ;;
        share_line)
            sed -n '7,11p' tests/vectors/shares/vault-root.alice.share |
                split -l 1 - "$work/seeds/$target/line"
            sed -n '7,10p' tests/vectors/share-v2/vault-root.alice.share |
                split -l 1 - "$work/seeds/$target/v2-line" ;;
        seal_record) cp tests/vectors/store/seals/*.json "$work/seeds/$target/" ;;
        log) { cat tests/vectors/store/logs/prod.jsonl; printf '\0'
            cat tests/vectors/store/logs/prod.head; } >"$work/seeds/$target/vector" ;;
        config) cp tests/vectors/store/zeroth.toml "$work/seeds/$target/" ;;
        handin) cp fuzz/seeds/handin/* "$work/seeds/$target/" ;;
    esac
}

failed=0
for target in "${targets[@]}"; do
    seed "$target"
    dir="${corpus:+$corpus/$target}"
    dir="${dir:-$work/corpus/$target}"
    mkdir -p "$dir" "$work/artifacts/$target"
    if "$bin_dir/$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$work/artifacts/$target/" "$dir" "$work/seeds/$target" \
        >"$work/$target.log" 2>&1; then
        echo "==> fuzz $target: $(grep -E '^Done [0-9]+ runs' "$work/$target.log" || echo done)"
    else
        failed=1
        tail -40 "$work/$target.log" >&2
        mkdir -p "$ZEROTH_ROOT/fuzz/artifacts/$target"
        cp "$work/artifacts/$target/"* "$ZEROTH_ROOT/fuzz/artifacts/$target/" 2>/dev/null || true
        echo "==> fuzz $target: FAILED; the input is in fuzz/artifacts/$target/" >&2
    fi
done
exit "$failed"
