//! A store of N seals in environment `bench` with a ceremony log of M entries, signed
//! by a software P-256 key instead of an HSM: the realistic store `scripts/bench.sh`
//! times `zeroth check`, `list` and `audit verify` on (through
//! examples/governance_store.rs), and the test that `check` of a large store needs no
//! HSM. `check`, `list` and `audit verify` check signatures with the public key, which
//! is all they would do with a store an HSM signed.
//!
//! The store is written the way zeroth writes one over two years of use: the seals are
//! generated one after another, each record signed with the log head it saw and named
//! by its generate entry; between them, unseals, drills and refused unseals of the
//! seals already there, in time order. The seals vary the way a real inventory does:
//! ages, rotation periods, expiries, thresholds and revocations. As `env init` does, the
//! environment's settings are signed and named by the env-init entry, and the log ends
//! with a signed head (`logs/bench.head`): the store verifies with nothing but its
//! public key, pinned or not.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use super::soft_key::SoftKey;
use base64::Engine;
use zeroth::audit::{self, Entry, LogHead, LogSigner, Outcome, RejectedShare};
use zeroth::mechanism::WrapMechanism;
use zeroth::seal::{
    Blob, CredentialInfo, Custodian, KeyRef, Origin, RECORD_FORMAT, RecordSignature, Revocation,
    SealRecord,
};
use zeroth::secret::Encoding;
use zeroth::settings::Settings;
use zeroth::store::{CONFIG_FORMAT, Config, EnvConfig, Store};

/// The first day of the store's history, as days before its end.
const HISTORY_DAYS: i64 = 700;

/// The end of the store's history: midnight (UTC) that began yesterday, by zeroth's
/// clock. The store is two years of use up to now whenever it is written, so `check`
/// finds in it what it would in a store in use, not one left alone since the fixture
/// was written; and every time in it is past, even the few seconds after the end that
/// the last seals are generated at.
fn end() -> time::OffsetDateTime {
    static END: std::sync::OnceLock<time::OffsetDateTime> = std::sync::OnceLock::new();
    *END.get_or_init(|| {
        zeroth::clock::now()
            .expect("the clock")
            .replace_time(time::Time::MIDNIGHT)
            - time::Duration::days(1)
    })
}

fn at(seconds: i64) -> String {
    zeroth::clock::format(end() + time::Duration::seconds(seconds))
}

fn day(n: i64) -> String {
    at(n * 86_400)
}

/// splitmix64: a fixed, reproducible sequence (a fixture, not a secret).
struct Mix(u64);

impl Mix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// What happens at one moment of the store's history.
#[derive(Clone, Copy)]
enum Event {
    Generate,
    Unseal,
    Drill,
    RefusedUnseal,
}

fn seal_name(i: u64) -> String {
    format!("seal-{i:05}")
}

/// When seal `i` was generated, in seconds from the end of the history (negative:
/// before).
fn created_at(i: u64) -> i64 {
    let age = (i % HISTORY_DAYS as u64) as i64;
    -age * 86_400 + (i / HISTORY_DAYS as u64) as i64 * 7
}

const CUSTODIANS: [&str; 7] = ["alice", "bob", "carol", "dave", "erin", "frank", "grace"];

fn record_of(i: u64, env: &str) -> SealRecord {
    let created = at(created_at(i));
    let custodians_n = 3 + (i % 5) as usize;
    let threshold = if i.is_multiple_of(97) {
        custodians_n as u8
    } else {
        2 + (i % 2) as u8
    };
    let age = -created_at(i) / 86_400;
    let name = seal_name(i);
    SealRecord {
        format: RECORD_FORMAT,
        name: name.clone(),
        id: format!("{:032x}", i + 1),
        env: env.into(),
        owner: format!("team-{}", i % 40),
        purpose: "bootstrap credential of a service".into(),
        created: created.clone(),
        sealed: created,
        expires: i.is_multiple_of(13).then(|| day(400 - age)),
        rotate_every_days: [90, 180, 365][(i % 3) as usize],
        version: 1,
        set: 1,
        threshold,
        custodians: CUSTODIANS[..custodians_n]
            .iter()
            .enumerate()
            .map(|(x, c)| Custodian {
                name: c.to_string(),
                x: x as u8 + 1,
                recipient: None,
                commitment: format!("{:064x}", i * 8 + x as u64),
                last_proven: i.is_multiple_of(4).then(|| day(-(age / 2))),
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
        revoked: i.is_multiple_of(211).then(|| Revocation {
            time: day(-1),
            operator: "bench".into(),
            reason: "retired".into(),
        }),
        unlocks: vec![format!("service:svc-{i:05}")],
        access: None,
        owner_offboarded: None,
        vault: None,
        signature: None,
    }
}

/// The log line of one entry, signed with `signer`.
#[allow(clippy::too_many_arguments)]
fn line(
    signer: &SoftKey,
    env: &str,
    seq: u64,
    time: String,
    event: &str,
    seal: Option<&str>,
    outcome: Outcome,
    custodians: &[&str],
    record: Option<String>,
    prev: String,
) -> zeroth::Result<String> {
    let rejected = if outcome == Outcome::Refused {
        vec![RejectedShare {
            custodian: Some("dave".into()),
            file: format!("/srv/shares/{}.dave.share", seal.unwrap_or("-")),
            reason: "it is from share set 1; the current set is 2: it was replaced by a rekey"
                .into(),
        }]
    } else {
        Vec::new()
    };
    let detail = match event {
        "env-init" => "bound for the benchmark".to_string(),
        "generate" => "sealed 2 of 3: a 32-byte credential generated in the HSM, wrapped with CKM_AES_KEY_WRAP_PAD; shares dealt to the custodians listed (3 share files)".to_string(),
        "drill" => "recovered and discarded; 3 shares proven".to_string(),
        _ if outcome == Outcome::Refused => "1 more needed, from any of: bob, carol".to_string(),
        _ => "credential (hex) given to 'vault' on its stdin".to_string(),
    };
    let mut entry = Entry {
        seq,
        time,
        env: env.into(),
        event: event.into(),
        seal: seal.map(str::to_string),
        version: seal.map(|_| 1),
        set: seal.map(|_| 1),
        custodians: custodians.iter().map(|c| c.to_string()).collect(),
        rejected,
        operator: "operator".into(),
        operator_from: Some("option".into()),
        host: "bench-host".into(),
        outcome,
        detail,
        record,
        key_label: seal.map(|s| format!("zeroth:{env}:{s}:v1:s1")),
        operation: None,
        remote: None,
        reason: None,
        prev,
        key: Some(signer.fingerprint()),
        unsigned: None,
        sig: None,
    };
    audit::seal_line(&mut entry, Some(signer))
}

/// Writes the store at `dir`: one environment, `bench`, with `seals` seals and a log of
/// `entries` entries (at least one per seal and the env-init entry).
pub fn write_store(dir: &Path, seals: u64, entries: u64) -> zeroth::Result<()> {
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
            created: day(-HISTORY_DAYS - 1),
        },
    );
    store.save_config(&config)?;
    store.write_public_key(env, &signer.public)?;

    // The settings `env init` approves and signs (zeroth.toml's policy and custodians),
    // named by the env-init entry.
    let mut settings = Settings::proposed(&store, env, &day(-HISTORY_DAYS - 1));
    settings.approved_by = "bench".into();
    settings.signature = Some(RecordSignature {
        key: signer.fingerprint(),
        value: base64::engine::general_purpose::STANDARD
            .encode(signer.sign(&settings.signed_bytes()?)?),
    });
    zeroth::settings::write(&store, &settings)?;

    // The history: a generate per seal, then unseals, drills and refusals of seals
    // already generated, in time order.
    let mut mix = Mix(0x7e57_0000 ^ seals ^ (entries << 20));
    let mut events: Vec<(i64, u64, Event)> = (0..seals)
        .map(|i| (created_at(i), i, Event::Generate))
        .collect();
    let activities = if seals == 0 {
        0
    } else {
        entries.saturating_sub(1 + seals)
    };
    for _ in 0..activities {
        let i = mix.below(seals);
        let from = created_at(i) + 60;
        let t = from + mix.below((-from).max(1) as u64) as i64;
        let kind = match mix.below(20) {
            0..=10 => Event::Unseal,
            11..=15 => Event::Drill,
            _ => Event::RefusedUnseal,
        };
        events.push((t, i, kind));
    }
    events.sort_by_key(|(t, i, _)| (*t, *i));

    let path = audit::log_path(&store, env);
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path).expect("create the log"));
    let first = line(
        &signer,
        env,
        1,
        day(-HISTORY_DAYS - 1),
        "env-init",
        None,
        Outcome::Ok,
        &[],
        Some(settings.fingerprint()),
        audit::genesis_hash(env),
    )?;
    let mut prev = audit::link_hash(first.as_bytes());
    writeln!(out, "{first}").expect("write the log");
    let mut seq = 1;
    let mut fingerprints: Vec<Option<String>> = vec![None; seals as usize];
    for (t, i, kind) in events {
        let name = seal_name(i);
        let (event, outcome) = match kind {
            Event::Generate => {
                // The record is signed with the log head it saw, then named by its entry.
                let mut record = record_of(i, env);
                record.log_head = Some(LogHead {
                    seq,
                    hash: prev.clone(),
                });
                let message = record.signed_bytes()?;
                record.signature = Some(RecordSignature {
                    key: signer.fingerprint(),
                    value: base64::engine::general_purpose::STANDARD.encode(signer.sign(&message)?),
                });
                fingerprints[i as usize] = Some(audit::fingerprint(&record.signed_bytes()?));
                // A fixture: written plainly, without the store's fsync per record.
                let text = serde_json::to_string_pretty(&record).expect("a record encodes");
                std::fs::write(store.record_path(&record.name), text + "\n")
                    .expect("write a record");
                ("generate", Outcome::Ok)
            }
            Event::Unseal => ("unseal", Outcome::Ok),
            Event::Drill => ("drill", Outcome::Ok),
            Event::RefusedUnseal => ("unseal", Outcome::Refused),
        };
        seq += 1;
        let record = match outcome {
            Outcome::Ok => fingerprints[i as usize].clone(),
            _ => None,
        };
        let text = line(
            &signer,
            env,
            seq,
            at(t),
            event,
            Some(&name),
            outcome,
            &CUSTODIANS[..3],
            record,
            prev.clone(),
        )?;
        prev = audit::link_hash(text.as_bytes());
        writeln!(out, "{text}").expect("write the log");
    }
    out.flush().expect("flush the log");
    std::fs::write(
        audit::head_path(&store, env),
        audit::head_text(env, seq, &prev, &signer)?,
    )
    .expect("write the head");
    Ok(())
}
