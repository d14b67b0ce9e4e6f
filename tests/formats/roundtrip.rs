//! Round-trips of every format zeroth writes, over generated values (proptest): what
//! zeroth writes, zeroth reads back as it was, and the bytes a signature covers do not
//! depend on how the JSON was laid out.

use std::collections::BTreeMap;

use proptest::prelude::*;
use zeroize::Zeroizing;

use zeroth::audit::{self, Draft, LogSigner, Outcome};
use zeroth::key::PublicKey;
use zeroth::mechanism::WrapMechanism;
use zeroth::seal::{
    Blob, CredentialInfo, Custodian, HistoryEntry, KeyRef, Origin, OwnerOffboarded, Pending,
    PendingKind, RecordSignature, Revocation, SealRecord,
};
use zeroth::secret::Encoding;
use zeroth::shamir::SharePoint;
use zeroth::share::{self, Binding, Payload, Share};
use zeroth::store::{Config, CustodianConfig, EnvConfig, Policy, Store};

fn name() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9][a-zA-Z0-9_-]{0,31}"
}

/// Free text as people write it: any printable Unicode, quotes and backslashes too.
fn text() -> impl Strategy<Value = String> {
    "[^\\p{Cc}]{0,60}"
}

fn hex_string(bytes: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(any::<u8>(), bytes).prop_map(hex::encode)
}

fn b64(max: usize) -> impl Strategy<Value = String> {
    use base64::Engine;
    proptest::collection::vec(any::<u8>(), 0..max)
        .prop_map(|v| base64::engine::general_purpose::STANDARD.encode(v))
}

fn time() -> impl Strategy<Value = String> {
    (
        2020u32..2100,
        1u32..=12,
        1u32..=28,
        0u32..24,
        0u32..60,
        0u32..60,
    )
        .prop_map(|(y, mo, d, h, mi, s)| format!("{y}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z"))
}

fn payload() -> impl Strategy<Value = Payload> {
    (
        any::<[u8; 16]>(),
        any::<u32>(),
        1u8..=255,
        1u8..=255,
        any::<[u8; 32]>(),
        prop_oneof![Just(share::FORMAT_V1), Just(share::FORMAT_V2)],
    )
        .prop_map(|(seal_id, set, threshold, x, y, version)| Payload {
            binding: Binding::new(version, seal_id, set),
            threshold,
            point: SharePoint {
                x,
                y: Zeroizing::new(y),
            },
        })
}

fn share() -> impl Strategy<Value = Share> {
    (name(), name(), name(), payload(), any::<u8>()).prop_map(
        |(seal, env, custodian, payload, extra)| {
            let n = payload
                .point
                .x
                .max(payload.threshold)
                .saturating_add(extra % 4);
            // A version 1 payload carries its set; a version 2 share's header claims
            // one, checked against the tag once the seal id is known.
            let set = payload.set().or(Some(u32::from(extra)));
            Share {
                seal,
                env,
                custodian,
                n,
                set,
                payload,
            }
        },
    )
}

fn same_share(a: &Share, b: &Share) -> bool {
    a.seal == b.seal
        && a.env == b.env
        && a.custodian == b.custodian
        && a.n == b.n
        && a.set == b.set
        && a.payload.to_bytes() == b.payload.to_bytes()
}

fn wrap() -> impl Strategy<Value = WrapMechanism> {
    prop_oneof![
        Just(WrapMechanism::AesKeyWrap),
        Just(WrapMechanism::AesKeyWrapPad)
    ]
}

fn credential_info() -> impl Strategy<Value = CredentialInfo> {
    (
        prop_oneof![Just(Origin::Generated), Just(Origin::Imported)],
        1u32..65536,
        prop_oneof![
            Just(Encoding::Raw),
            Just(Encoding::Hex),
            Just(Encoding::Base64)
        ],
    )
        .prop_map(|(origin, length, encoding)| CredentialInfo {
            origin,
            length,
            encoding,
            reuse: None,
        })
}

fn custodians() -> impl Strategy<Value = Vec<Custodian>> {
    proptest::collection::vec(
        (
            name(),
            hex_string(32),
            proptest::option::of(time()),
            proptest::option::of(text()),
        ),
        1..6,
    )
    .prop_map(|v| {
        v.into_iter()
            .enumerate()
            .map(
                |(i, (name, commitment, last_proven, recipient))| Custodian {
                    name,
                    x: i as u8 + 1,
                    recipient,
                    commitment,
                    last_proven,
                },
            )
            .collect()
    })
}

fn key_ref() -> impl Strategy<Value = KeyRef> {
    (text(), hex_string(16), wrap()).prop_map(|(label, id, mechanism)| KeyRef {
        label,
        id,
        mechanism,
    })
}

fn record() -> impl Strategy<Value = SealRecord> {
    let head = (
        name(),
        hex_string(16),
        name(),
        text(),
        text(),
        time(),
        time(),
        proptest::option::of(time()),
        1u32..1000,
        (1u32..100, 1u32..100, 1u8..=5),
    );
    let body = (
        custodians(),
        credential_info(),
        key_ref(),
        (b64(12), b64(200)),
        proptest::collection::vec((1u32..100, 1u32..100, time(), time(), text(), text()), 0..3),
        proptest::option::of((1u64..1000, hex_string(32))),
        proptest::option::of((
            hex_string(8),
            time(),
            text(),
            custodians(),
            key_ref(),
            b64(100),
        )),
        proptest::option::of((time(), text(), text())),
        proptest::option::of((text(), b64(80))),
        proptest::option::of((time(), text())),
        proptest::collection::vec(text(), 0..3),
    );
    (head, body).prop_map(
        |(
            (
                name,
                id,
                env,
                owner,
                purpose,
                created,
                sealed,
                expires,
                rotate_every_days,
                (version, set, threshold),
            ),
            (
                custodians,
                credential,
                key,
                (nonce, ciphertext),
                history,
                log_head,
                pending,
                revoked,
                signature,
                owner_offboarded,
                unlocks,
            ),
        )| SealRecord {
            format: 1,
            name,
            id,
            env,
            owner,
            purpose,
            created,
            sealed,
            expires,
            rotate_every_days,
            version,
            set,
            threshold,
            custodians,
            credential: credential.clone(),
            key,
            blob: Blob { nonce, ciphertext },
            history: history
                .into_iter()
                .map(
                    |(version, set, sealed, retired, why, key_label)| HistoryEntry {
                        version,
                        set,
                        sealed,
                        retired,
                        why,
                        key_label,
                        operation: None,
                    },
                )
                .collect(),
            log_head: log_head.map(|(seq, hash)| audit::LogHead { seq, hash }),
            pending: pending.map(|(id, created, operator, custodians, key, blob)| Pending {
                id,
                kind: PendingKind::Rekey,
                created,
                operator,
                version,
                set: set + 1,
                threshold,
                custodians,
                credential,
                key,
                blob: Blob {
                    nonce: String::new(),
                    ciphertext: blob,
                },
                vault: None,
            }),
            revoked: revoked.map(|(time, operator, reason)| Revocation {
                time,
                operator,
                reason,
            }),
            unlocks,
            access: None,
            owner_offboarded: owner_offboarded
                .map(|(time, operator)| OwnerOffboarded { time, operator }),
            signature: signature.map(|(key, value)| RecordSignature { key, value }),
            vault: None,
        },
    )
}

/// The signing side of a log, in software: what the HSM does, for a test that needs
/// no token.
struct SoftSigner {
    key: p256::ecdsa::SigningKey,
    public: PublicKey,
}

impl SoftSigner {
    fn new(seed: u8) -> SoftSigner {
        let mut bytes = [7u8; 32];
        bytes[0] = seed.max(1);
        let key = p256::ecdsa::SigningKey::from_slice(&bytes).unwrap();
        let public = PublicKey {
            key: p256::PublicKey::from(key.verifying_key()),
        };
        SoftSigner { key, public }
    }
}

impl LogSigner for SoftSigner {
    fn fingerprint(&self) -> String {
        self.public.fingerprint()
    }

    fn public_key(&self) -> &PublicKey {
        &self.public
    }

    fn sign(&self, message: &[u8]) -> zeroth::Result<Vec<u8>> {
        use p256::ecdsa::signature::Signer;
        let sig: p256::ecdsa::Signature = self.key.sign(message);
        Ok(sig.to_der().as_bytes().to_vec())
    }
}

/// A line of a log entry in JSON, re-parsed as a value: member names and values.
fn members(line: &str) -> serde_json::Map<String, serde_json::Value> {
    serde_json::from_str::<serde_json::Value>(line)
        .unwrap()
        .as_object()
        .unwrap()
        .clone()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// A share file reads back as written, and each of its numbered lines, typed back
    /// loosely (any case, groups run together, look-alikes), reads as the same line.
    #[test]
    fn share_files_round_trip(s in share(), lower in any::<bool>(), join in any::<bool>()) {
        let text = s.to_armor();
        let back = Share::from_armor(&text).unwrap();
        prop_assert!(same_share(&s, &back));
        let lines = s.payload_lines();
        let version = s.payload.version();
        prop_assert_eq!(lines.len(), share::lines(version));
        for (i, line) in text.lines().skip(6).take(share::lines(version)).enumerate() {
            let (number, rest) = line.split_once("  ").unwrap();
            let (groups, check) = rest.rsplit_once("  ").unwrap();
            let (mut groups, mut check) = (groups.to_string(), check.to_string());
            if lower {
                groups = groups.to_lowercase();
                check = check.to_lowercase();
            }
            if join {
                groups = groups.replace(' ', "");
            }
            // Look-alikes a person may write: l for 1, O for 0.
            let alike = |s: &str| s.replace('1', "l").replace('0', "O");
            let typed = format!("{number} {} {}", alike(&groups), alike(&check));
            let got = share::parse_line(version, i + 1, &typed).unwrap();
            prop_assert_eq!(&*got, &*lines[i]);
        }
    }

    /// Payload bytes read back as written, and a change to any one byte is refused.
    #[test]
    fn payloads_round_trip_and_any_byte_change_is_refused(p in payload(), at in any::<prop::sample::Index>(), flip in 1u8..=255) {
        let bytes = p.to_bytes();
        let back = Payload::from_bytes(&bytes).unwrap();
        prop_assert_eq!(&*back.to_bytes(), &*bytes);
        let mut bad = bytes.to_vec();
        let at = at.index(bad.len());
        bad[at] ^= flip;
        prop_assert!(Payload::from_bytes(&bad).is_err());
    }

    /// A record reads back as written, pretty or compact, and the bytes its signature
    /// covers are the same whatever the member order of the file.
    #[test]
    fn records_round_trip_and_their_signed_bytes_are_canonical(r in record(), reverse in any::<bool>()) {
        let signed = r.signed_bytes().unwrap();
        prop_assert!(signed.starts_with(b"zeroth-record-v1\n"));
        let pretty = serde_json::to_string_pretty(&r).unwrap();
        let back: SealRecord = serde_json::from_str(&pretty).unwrap();
        prop_assert_eq!(back.signed_bytes().unwrap(), signed.clone());
        prop_assert_eq!(serde_json::to_string_pretty(&back).unwrap(), pretty.clone());
        // The same members in another order: the same signed bytes.
        let value: serde_json::Value = serde_json::from_str(&pretty).unwrap();
        let mut entries: Vec<(String, serde_json::Value)> =
            value.as_object().unwrap().clone().into_iter().collect();
        if reverse {
            entries.reverse();
        }
        let reordered = format!(
            "{{{}}}",
            entries
                .iter()
                .map(|(k, v)| format!("{}:{}", serde_json::to_string(k).unwrap(), v))
                .collect::<Vec<_>>()
                .join(",")
        );
        let shuffled: SealRecord = serde_json::from_str(&reordered).unwrap();
        prop_assert_eq!(shuffled.signed_bytes().unwrap(), signed);
        prop_assert_eq!(shuffled.header_aad(), r.header_aad());
    }

    /// Log entries of any content append into a chain that verifies, entry and head,
    /// and each line reads back with what was logged.
    #[test]
    fn logs_round_trip_and_verify(
        entries in proptest::collection::vec(
            (proptest::option::of(name()), proptest::collection::vec(name(), 0..4), text(), any::<bool>(), 0u8..3),
            1..6,
        ),
        seed in any::<u8>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_or_create(dir.path()).unwrap();
        let signer = SoftSigner::new(seed);
        for (seal, custodians, detail, signed, outcome) in &entries {
            let mut draft = Draft::new("drill");
            draft.env = Some("prod".into());
            draft.seal = seal.clone();
            draft.custodians = custodians.clone();
            // zeroth signs every success that used the HSM: an unsigned entry is a
            // refusal or a failure.
            let outcome = match (*signed, *outcome) {
                (true, 0) => Outcome::Ok,
                (_, 1) | (false, 0) => Outcome::Refused,
                _ => Outcome::Failed,
            };
            let signing: Option<&dyn LogSigner> = if *signed { Some(&signer) } else { None };
            audit::append(&store, &mut draft, outcome, detail, signing, Some("no HSM here".into())).unwrap();
        }
        // A signed last entry covers the unsigned ones before it.
        let mut last = Draft::new("attest");
        last.env = Some("prod".into());
        audit::append(&store, &mut last, Outcome::Ok, "attested", Some(&signer), None).unwrap();
        let v = audit::verify(&store, "prod", &signer.public).unwrap();
        prop_assert!(v.ok(), "{:?}", v.damage);
        prop_assert_eq!(v.entries as usize, entries.len() + 1);
        let log = std::fs::read_to_string(audit::log_path(&store, "prod")).unwrap();
        for (line, (seal, custodians, _, signed, _)) in log.lines().zip(&entries) {
            let m = members(line);
            // The signature is the last member.
            let tail = &line[line.rfind(",\"sig\":").unwrap() + 7..];
            prop_assert!(tail == "null}" || (tail.starts_with('"') && tail.ends_with("\"}")), "{}", line);
            prop_assert_eq!(&m["seal"], &serde_json::json!(seal));
            prop_assert_eq!(&m["custodians"], &serde_json::json!(custodians));
            prop_assert_eq!(m["sig"].is_string(), *signed);
            let entry: audit::Entry = serde_json::from_str(line).unwrap();
            prop_assert!(!entry.detail.contains('\n'));
        }
        let head: audit::HeadFile =
            serde_json::from_slice(&std::fs::read(audit::head_path(&store, "prod")).unwrap()).unwrap();
        prop_assert_eq!(head.seq as usize, entries.len() + 1);
    }

    /// zeroth.toml reads back as written.
    #[test]
    fn configs_round_trip(
        policy in (0u32..10000, 0u32..10000, 0u32..10000, 0u32..10000, proptest::option::of(0u32..10000), proptest::option::of(0u32..10000)),
        envs in proptest::collection::btree_map(name(), (text(), text(), text(), wrap(), hex_string(16), text(), time()), 0..3),
        people in proptest::collection::btree_map(name(), (proptest::option::of(time()), proptest::option::of(text()), proptest::option::of(text())), 0..3),
        store_id in proptest::option::of(hex_string(16)),
    ) {
        let config = Config {
            format: 1,
            store_id,
            policy: Policy {
                expiry_warning_days: policy.0,
                recovery_test_days: policy.1,
                share_proof_days: policy.2,
                pending_max_age_days: policy.3,
                rotation_warning_days: policy.4,
                revocation_test_days: policy.5,
            },
            env: envs
                .into_iter()
                .map(|(k, (module, token, serial, wrap_mechanism, sign_key_id, fp, created))| {
                    (k, EnvConfig {
                        module: module.into(),
                        token,
                        serial,
                        wrap_mechanism,
                        sign_key_id,
                        sign_key_fingerprint: fp,
                        created,
                    })
                })
                .collect::<BTreeMap<_, _>>(),
            custodians: people
                .into_iter()
                .map(|(k, (offboarded, offboarded_by, recipient))| {
                    (k, CustodianConfig { offboarded, offboarded_by, recipient })
                })
                .collect(),
        };
        let text = toml::to_string_pretty(&config).unwrap();
        let back: Config = toml::from_str(&text).unwrap();
        prop_assert_eq!(toml::to_string_pretty(&back).unwrap(), text);
    }
}

/// Replaces the `sig` member of a log line.
fn with_sig(line: &str, sig: &str) -> String {
    format!(
        "{},\"sig\":{sig}}}",
        &line[..line.rfind(",\"sig\":").unwrap()]
    )
}

fn sig_of(line: &str) -> &str {
    let at = line.rfind(",\"sig\":").unwrap() + 7;
    &line[at..line.len() - 1]
}

/// `append` never signs over an entry whose signature does not verify: it writes its
/// entry unsigned, saying why. A log where a signature covers such an entry anyway
/// (written by hand with the key, or by a zeroth from before this rule) passes the
/// default check, which trusts the signature at the end of the chain; the full check
/// names the entry.
#[test]
fn nothing_is_signed_over_a_forged_entry_and_the_full_check_finds_one_that_was() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_or_create(dir.path()).unwrap();
    let signer = SoftSigner::new(3);
    let drill = |store: &Store| {
        let mut d = Draft::new("drill");
        d.env = Some("prod".into());
        audit::append(store, &mut d, Outcome::Ok, "proven", Some(&signer), None).unwrap();
    };
    drill(&store);
    drill(&store);
    let path = audit::log_path(&store, "prod");
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    // Entry 2 carries entry 1's signature: well formed, right key, other bytes.
    let forged = with_sig(lines[1], sig_of(lines[0]));
    std::fs::write(&path, format!("{}\n{forged}\n", lines[0])).unwrap();

    drill(&store);
    let text = std::fs::read_to_string(&path).unwrap();
    let third: audit::Entry = serde_json::from_str(text.lines().nth(2).unwrap()).unwrap();
    assert!(third.sig.is_none());
    assert_eq!(third.key, None);
    let why = third.unsigned.unwrap();
    assert!(
        why.contains("entry 2 does not match its signature"),
        "{why}"
    );
    for check in [
        audit::SignatureCheck::Checkpoints,
        audit::SignatureCheck::Every,
    ] {
        let v = audit::scan(
            &store,
            "prod",
            &signer.public,
            &[],
            check,
            &mut audit::Ignore,
        )
        .unwrap();
        let d = v.damage.expect("damage named");
        assert_eq!((d.seq, d.kind), (2, audit::DamageKind::Edited), "{check:?}");
    }

    // A signature over the forged entry, made without `append`'s check.
    let mut entry: audit::Entry = serde_json::from_str(&forged).unwrap();
    entry.seq = 3;
    entry.prev = audit::link_hash(forged.as_bytes());
    entry.key = Some(signer.fingerprint());
    let line = audit::seal_line(&mut entry, Some(&signer)).unwrap();
    std::fs::write(&path, format!("{}\n{forged}\n{line}\n", lines[0])).unwrap();
    let head = audit::head_text("prod", 3, &audit::link_hash(line.as_bytes()), &signer).unwrap();
    std::fs::write(audit::head_path(&store, "prod"), head).unwrap();
    let fast = audit::scan(
        &store,
        "prod",
        &signer.public,
        &[],
        audit::SignatureCheck::Checkpoints,
        &mut audit::Ignore,
    )
    .unwrap();
    assert!(fast.ok(), "{:?}", fast.damage);
    assert_eq!((fast.signed, fast.checked), (3, 1));
    let full = audit::scan(
        &store,
        "prod",
        &signer.public,
        &[],
        audit::SignatureCheck::Every,
        &mut audit::Ignore,
    )
    .unwrap();
    let d = full.damage.expect("the full check names the forged entry");
    assert_eq!((d.seq, d.kind), (2, audit::DamageKind::Edited));
    assert_eq!(full.checked, 3);
}
