//! Writes a store whose environment `bench` holds an N-entry ceremony log, signed by a
//! software P-256 key instead of an HSM, so `scripts/bench.sh` can time `zeroth audit
//! verify` on a log of realistic size without spending minutes signing on SoftHSM.
//! Verification does not care which device signed: it checks against the public key.
//!
//! Usage: cargo run --release --example audit_log -- STORE_DIR N

#[path = "common/soft_key.rs"]
mod soft_key;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

use soft_key::SoftKey;
use zeroth::audit::{self, Entry, LogSigner, Outcome, RejectedShare};
use zeroth::mechanism::WrapMechanism;
use zeroth::store::{CONFIG_FORMAT, Config, EnvConfig, Store};

fn main() -> zeroth::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(dir), Some(n)) = (args.next(), args.next()) else {
        eprintln!("usage: audit_log STORE_DIR N");
        std::process::exit(2);
    };
    let n: u64 = n.parse().expect("N is a number");
    let root = PathBuf::from(dir);
    let store = Store::open_or_create(&root)?;
    let signer = SoftKey::from_seed(42);
    let env = "bench";
    let mut config = Config {
        format: CONFIG_FORMAT,
        store_id: None,
        policy: Default::default(),
        env: BTreeMap::new(),
        custodians: BTreeMap::new(),
    };
    config.env.insert(
        env.into(),
        EnvConfig {
            module: "/nonexistent/bench-has-no-hsm.so".into(),
            token: env.into(),
            serial: "0".into(),
            wrap_mechanism: WrapMechanism::AesKeyWrapPad,
            sign_key_id: "00".into(),
            sign_key_fingerprint: signer.fingerprint(),
            created: "2026-01-01T00:00:00Z".into(),
        },
    );
    store.save_config(&config)?;
    store.write_public_key(env, &signer.public)?;

    let path = audit::log_path(&store, env);
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path).expect("create the log"));
    let mut prev = audit::genesis_hash(env);
    let custodians = ["alice", "bob", "carol", "dave", "erin"];
    for seq in 1..=n {
        let (event, outcome) = match seq % 10 {
            1 => ("generate", Outcome::Ok),
            7 => ("unseal", Outcome::Refused),
            8 => ("drill", Outcome::Ok),
            _ => ("unseal", Outcome::Ok),
        };
        let seal = format!("seal-{}", seq / 10);
        let mut entry = Entry {
            seq,
            time: "2026-11-23T12:00:00Z".into(),
            env: env.into(),
            event: event.into(),
            seal: Some(seal.clone()),
            version: Some(1),
            set: Some(1),
            custodians: custodians[..3].iter().map(|c| c.to_string()).collect(),
            rejected: if outcome == Outcome::Refused {
                vec![RejectedShare {
                    custodian: Some("dave".into()),
                    file: format!("/srv/shares/{seal}.dave.share"),
                    reason:
                        "it is from share set 1; the current set is 2: it was replaced by a rekey"
                            .into(),
                }]
            } else {
                Vec::new()
            },
            operator: "operator".into(),
            operator_from: Some("option".into()),
            host: "bench-host".into(),
            outcome,
            detail: "credential (hex) given to 'vault' on its stdin".into(),
            record: Some(format!("sha256:{}", "ab".repeat(32))),
            key_label: Some(format!("zeroth:{env}:{seal}:v1:s1")),
            operation: None,
            remote: None,
            reason: None,
            prev: prev.clone(),
            key: Some(signer.fingerprint()),
            unsigned: None,
            sig: None,
        };
        let line = audit::seal_line(&mut entry, Some(&signer))?;
        prev = audit::link_hash(line.as_bytes());
        writeln!(out, "{line}").expect("write the log");
    }
    out.flush().expect("flush the log");
    let head = audit::head_text(env, n, &prev, &signer)?;
    std::fs::write(audit::head_path(&store, env), head).expect("write the head");
    println!("{}", path.display());
    Ok(())
}
