#!/usr/bin/env bash
# Whether the rust-version of each package of the workspace (zeroth, zeroth-core) is
# true to what the lock file needs: prints, per package, the highest rust-version
# declared by the locked dependency versions it reaches (as `cargo metadata` reads
# each one's Cargo.toml), with the crates that declare it, and exits 1 if the
# package's own rust-version is lower.
#
#   scripts/msrv.sh
#
# Counted: every locked package reached through normal, build and dev-dependency
# edges, on every target platform (the lock file pins them all), workspace members
# among them; dev-dependencies are reported apart, as they are needed by the tests
# only. A package's own floor is its edition: 2024 needs Rust 1.85.
#
# This is a check of declared metadata, not a build: the machine has one Rust
# toolchain and no older one can be fetched, so nothing here compiles zeroth with the
# version it names. A crate that uses a newer feature than its rust-version says, or
# declares none, is not caught. zeroth's own code is linted for the same version:
# clippy's incompatible_msrv (in scripts/test.sh) flags standard-library items newer.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
zeroth_root
ensure_cargo

metadata="$(mktemp)"
trap 'rm -f "$metadata"' EXIT
cargo metadata --quiet --locked --offline --format-version 1 >"$metadata" 2>/dev/null ||
    cargo metadata --quiet --locked --format-version 1 >"$metadata"

python3 - "$metadata" <<'EOF'
import json
import sys

EDITION_FLOOR = {"2015": "1.0", "2018": "1.31", "2021": "1.56", "2024": "1.85"}


def version(text):
    parts = [int(p) for p in text.split(".")]
    return tuple(parts + [0] * (3 - len(parts)))


def show(v):
    return ".".join(str(p) for p in (v[:2] if v[2] == 0 else v))


meta = json.load(open(sys.argv[1]))
packages = {p["id"]: p for p in meta["packages"]}
nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}


def reached(root, kinds):
    """The packages reached from `root` through edges of the given kinds (the dev
    edges of `root` alone: a dependency's dev-dependencies are not built)."""
    seen, todo = set(), [root]
    while todo:
        node = todo.pop()
        if node in seen:
            continue
        seen.add(node)
        for dep in nodes[node]["deps"]:
            edge = {k["kind"] or "normal" for k in dep["dep_kinds"]}
            if node != root:
                edge.discard("dev")
            if edge & kinds:
                todo.append(dep["pkg"])
    seen.discard(root)
    return seen


def highest(ids):
    """The highest declared rust-version among `ids`, and who declares it."""
    declared = [
        (version(packages[i]["rust_version"]), packages[i]["name"], packages[i]["version"])
        for i in ids
        if packages[i].get("rust_version")
    ]
    if not declared:
        return (0, 0, 0), []
    top = max(v for v, _, _ in declared)
    return top, sorted(f"{n} {v}" for t, n, v in declared if t == top)


failed = False
print(f"rust-version needed, as the locked dependencies declare it (Cargo.lock, {len(packages)} packages):")
for member in sorted(meta["workspace_members"], key=lambda i: packages[i]["name"]):
    me = packages[member]
    build_ids = reached(member, {"normal", "build"})
    all_ids = reached(member, {"normal", "build", "dev"})
    build_top, build_who = highest(build_ids)
    dev_top, dev_who = highest(all_ids - build_ids)
    own = version(EDITION_FLOOR[me["edition"]])
    print(f"{me['name']}:")
    rows = [("normal and build dependencies:", f"{show(build_top)} ({', '.join(build_who)})")]
    if dev_who:
        rows.append(("dev-dependencies only:", f"{show(dev_top)} ({', '.join(dev_who)})"))
    rows.append((f"edition {me['edition']}:", show(own)))
    for label, value in rows:
        print(f"  {label:<32}{value}")
    needed = max(build_top, dev_top, own)
    declared = me.get("rust_version")
    manifest = me["manifest_path"]
    if not declared:
        print(f"  {manifest} declares no rust-version: it should say \"{show(needed)}\"")
        failed = True
    elif version(declared) < needed:
        print(f"  {manifest} says rust-version = \"{declared}\", lower than the {show(needed)} needed")
        failed = True
    else:
        print(f"  rust-version = \"{declared}\": ok")
sys.exit(1 if failed else 0)
EOF
