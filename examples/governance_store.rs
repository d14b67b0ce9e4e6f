//! Writes the realistic store (examples/common/bigstore.rs): N seals and a ceremony log
//! of M entries (default 10 per seal), for `scripts/bench.sh` to time `zeroth check`,
//! `list` and `audit verify` on; with TRUST_FILE, also a trust file (0600, written by
//! zeroth's own trust code) that pins the store's signing key, as `zeroth trust export
//! --key-only` would: `check`, `list` and `audit verify` given `--trust TRUST_FILE` then
//! verify against the pinned key, as CI does.
//!
//! Usage: cargo run --release --example governance_store -- STORE_DIR N [M [TRUST_FILE]]

#[path = "common/bigstore.rs"]
mod bigstore;
#[path = "common/soft_key.rs"]
mod soft_key;

use zeroth::store::Store;
use zeroth::trust::{EnvPin, Trust};

fn main() -> zeroth::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(dir), Some(n)) = (args.next(), args.next()) else {
        eprintln!("usage: governance_store STORE_DIR N [M [TRUST_FILE]]");
        std::process::exit(2);
    };
    let n: u64 = n.parse().expect("N is a number");
    let m: u64 = match args.next() {
        Some(m) => m.parse().expect("M is a number"),
        None => n * 10,
    };
    if m < n + 1 {
        eprintln!(
            "governance_store: a log of {m} entries cannot hold the env-init entry and a generate per seal: M must be at least N + 1"
        );
        std::process::exit(2);
    }
    let dir = std::path::Path::new(&dir);
    bigstore::write_store(dir, n, m)?;
    if let Some(path) = args.next() {
        let path = std::path::Path::new(&path);
        if path.exists() {
            eprintln!("governance_store: {} exists already", path.display());
            std::process::exit(2);
        }
        let store = Store::open(dir)?;
        let id = store
            .config()
            .store_id
            .clone()
            .expect("a new store has an id");
        Trust::load(Some(path))?.save_pin(EnvPin {
            store: id,
            env: "bench".into(),
            signing_key: store.public_key("bench")?.fingerprint(),
            token: None,
            serial: None,
            module: None,
            module_sha256: None,
            pinned: None,
            pinned_by: None,
        })?;
    }
    println!("{}", dir.display());
    Ok(())
}
