//! A store of N seals in environment `bench`, signed by a software P-256 key instead
//! of an HSM: the fixture `scripts/bench.sh` times `zeroth check` and `zeroth list` on
//! (through examples/governance_store.rs), and the test that `check` of a large store
//! needs no HSM. `check` and `list` verify signatures with the public key, which is all
//! they would do with a real store.
//!
//! The seals vary the way a real inventory does: ages, rotation periods, expiries,
//! thresholds, drills and revocations.

use std::collections::BTreeMap;
use std::path::Path;

use super::soft_key::SoftKey;
use base64::Engine;
use zeroth::audit::{self, Entry, LogSigner, Outcome};
use zeroth::hsm::WrapMechanism;
use zeroth::seal::{
    Blob, CredentialInfo, Custodian, KeyRef, Origin, RECORD_FORMAT, RecordSignature, Revocation,
    SealRecord,
};
use zeroth::secret::Encoding;
use zeroth::store::{CONFIG_FORMAT, Config, EnvConfig, Store};

fn day(n: i64) -> String {
    let t = time::macros::datetime!(2026-01-01 0:00 UTC) + time::Duration::days(n);
    zeroth::clock::format(t)
}

/// Writes the store at `dir`: one environment, `bench`, and `n` seals.
pub fn write_store(dir: &Path, n: u64) -> zeroth::Result<()> {
    let store = Store::open_or_create(dir)?;
    let signer = SoftKey::from_seed(43);
    let env = "bench";
    let mut config: Config = store.config().clone();
    assert_eq!(config.format, CONFIG_FORMAT);
    config.env = BTreeMap::new();
    config.env.insert(
        env.into(),
        EnvConfig {
            module: "/nonexistent/bench-has-no-hsm.so".into(),
            token: env.into(),
            serial: "0".into(),
            wrap_mechanism: WrapMechanism::AesKeyWrapPad,
            sign_key_id: "00".into(),
            sign_key_fingerprint: signer.fingerprint(),
            created: day(0),
        },
    );
    store.save_config(&config)?;
    store.write_public_key(env, &signer.public)?;

    // The log: the env-init entry and its head, so the log verifies.
    let mut entry = Entry {
        seq: 1,
        time: day(0),
        env: env.into(),
        event: "env-init".into(),
        seal: None,
        version: None,
        set: None,
        custodians: Vec::new(),
        rejected: Vec::new(),
        operator: "bench".into(),
        operator_from: Some("option".into()),
        host: "bench-host".into(),
        outcome: Outcome::Ok,
        detail: "bound for the benchmark".into(),
        record: None,
        key_label: None,
        operation: None,
        remote: None,
        prev: audit::genesis_hash(env),
        key: Some(signer.fingerprint()),
        unsigned: None,
        sig: None,
    };
    let line = audit::seal_line(&mut entry, Some(&signer))?;
    std::fs::write(audit::log_path(&store, env), format!("{line}\n")).expect("write the log");
    std::fs::write(
        audit::head_path(&store, env),
        audit::head_text(env, 1, &audit::link_hash(line.as_bytes()), &signer)?,
    )
    .expect("write the head");

    let names = ["alice", "bob", "carol", "dave", "erin", "frank", "grace"];
    for i in 0..n {
        let age = (i % 700) as i64;
        let custodians_n = 3 + (i % 5) as usize;
        let threshold = if i % 97 == 0 {
            custodians_n as u8
        } else {
            2 + (i % 2) as u8
        };
        let name = format!("seal-{i:05}");
        let mut record = SealRecord {
            format: RECORD_FORMAT,
            name: name.clone(),
            id: format!("{:032x}", i + 1),
            env: env.into(),
            owner: format!("team-{}", i % 40),
            purpose: "bootstrap credential of a service".into(),
            created: day(-age),
            sealed: day(-age),
            expires: (i % 13 == 0).then(|| day(400 - age)),
            rotate_every_days: [90, 180, 365][(i % 3) as usize],
            version: 1,
            set: 1,
            threshold,
            custodians: names[..custodians_n]
                .iter()
                .enumerate()
                .map(|(x, c)| Custodian {
                    name: c.to_string(),
                    x: x as u8 + 1,
                    recipient: None,
                    commitment: format!("{:064x}", i * 8 + x as u64),
                    last_proven: (i % 4 == 0).then(|| day(-(age / 2))),
                })
                .collect(),
            credential: CredentialInfo {
                origin: Origin::Generated,
                length: 32,
                encoding: Encoding::Hex,
                reuse: None,
            },
            key: KeyRef {
                label: format!("zeroth:{env}:{name}:v1:s1"),
                id: format!("{:032x}", i + 7),
                mechanism: WrapMechanism::AesKeyWrapPad,
            },
            blob: Blob {
                nonce: "AAAAAAAAAAAAAAAA".into(),
                ciphertext: "AAAA".into(),
            },
            history: Vec::new(),
            log_head: None,
            pending: None,
            revoked: (i % 211 == 0).then(|| Revocation {
                time: day(-1),
                operator: "bench".into(),
                reason: "retired".into(),
            }),
            vault: None,
            signature: None,
        };
        let message = record.signed_bytes()?;
        record.signature = Some(RecordSignature {
            key: signer.fingerprint(),
            value: base64::engine::general_purpose::STANDARD.encode(signer.sign(&message)?),
        });
        // A fixture: written plainly, without the store's fsync per record.
        let text = serde_json::to_string_pretty(&record).expect("a record encodes");
        std::fs::write(store.record_path(&record.name), text).expect("write a record");
    }
    Ok(())
}
