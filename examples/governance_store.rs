//! Writes a store of N seals (examples/common/bigstore.rs) for `scripts/bench.sh` to
//! time `zeroth check` and `zeroth list` on.
//!
//! Usage: cargo run --release --example governance_store -- STORE_DIR N

#[path = "common/bigstore.rs"]
mod bigstore;
#[path = "common/soft_key.rs"]
mod soft_key;

fn main() -> zeroth::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(dir), Some(n)) = (args.next(), args.next()) else {
        eprintln!("usage: governance_store STORE_DIR N");
        std::process::exit(2);
    };
    let n: u64 = n.parse().expect("N is a number");
    bigstore::write_store(std::path::Path::new(&dir), n)?;
    println!("{dir}");
    Ok(())
}
