//! Known-answer vectors: a store, share files and a log made once by real ceremonies
//! on SoftHSM2 (tests/vectors/README.md says how) and committed. Today's code must read
//! them and reproduce, byte for byte, what their signatures cover: a share printed on
//! paper today must open in ten years, and a record or log signed today must verify.
//!
//! These files are never regenerated. A new format gets new vectors beside these; these
//! stay, and stay readable.

use std::path::{Path, PathBuf};

use base64::Engine;
use sha2::Digest;

use zeroth::audit::{self, Entry, HeadFile};
use zeroth::key::PublicKey;
use zeroth::seal::SealRecord;
use zeroth::share::{self, Share};
use zeroth::store::Store;

fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

fn read(rel: &str) -> Vec<u8> {
    let p = vectors().join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn text(rel: &str) -> String {
    String::from_utf8(read(rel)).unwrap()
}

fn key() -> PublicKey {
    PublicKey::from_pem(&text("store/keys/prod.pem"), "the vectors' key").unwrap()
}

fn record() -> SealRecord {
    serde_json::from_slice(&read("store/seals/vault-root.json")).unwrap()
}

const SHARES: [&str; 3] = ["alice", "bob", "dave"];

fn shares() -> Vec<(String, Share)> {
    SHARES
        .iter()
        .map(|who| {
            let armor = text(&format!("shares/vault-root.{who}.share"));
            (
                armor.clone(),
                Share::from_armor(&armor).unwrap_or_else(|e| panic!("{who}: {e}")),
            )
        })
        .collect()
}

fn b64(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

/// A copy of the vectors' store in a temporary directory, for the binary to read.
fn store_copy() -> tempfile::TempDir {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                copy(&e.path(), &to.join(e.file_name()));
            } else {
                std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    copy(&vectors().join("store"), &dir.path().join("store"));
    copy(&vectors().join("shares"), &dir.path().join("shares"));
    dir
}

#[test]
fn the_key_is_the_one_the_config_pins() {
    let config = text("store/zeroth.toml");
    let fp = key().fingerprint();
    assert!(
        config.contains(&format!("sign_key_fingerprint = \"{fp}\"")),
        "{fp}"
    );
    let der = p256::pkcs8::EncodePublicKey::to_public_key_der(&key().key).unwrap();
    assert_eq!(
        fp,
        format!(
            "sha256:{}",
            hex::encode(sha2::Sha256::digest(der.as_bytes()))
        )
    );
}

/// The record's signed bytes as today's code makes them are exactly those committed,
/// and the HSM's signature from the day it was made verifies over them.
#[test]
fn the_record_reproduces_its_signed_bytes_and_verifies() {
    let r = record();
    let committed = read("record.signed");
    assert!(committed.starts_with(b"zeroth-record-v1\n"));
    let signature = r.signature.as_ref().expect("a signed record");
    assert_eq!(signature.key, key().fingerprint());
    assert!(
        key().verify(&committed, &b64(&signature.value)),
        "the committed signed bytes are what the HSM signed"
    );
    assert_eq!(
        String::from_utf8_lossy(&r.signed_bytes().unwrap()),
        String::from_utf8_lossy(&committed),
        "today's canonical form of the record differs from the one signed"
    );
    // What the vectors hold, so a vector that lost its substance is noticed.
    assert_eq!(r.set, 2, "the record went through a rekey");
    assert_eq!(r.history.len(), 1);
    assert!(r.credential.reuse.is_some(), "a drill took the reuse marks");
    assert!(r.custodians.iter().any(|c| c.last_proven.is_some()));
    assert!(r.log_head.is_some());
    // The record's file is what serde writes today, byte for byte.
    assert_eq!(
        format!("{}\n", serde_json::to_string_pretty(&r).unwrap()),
        text("store/seals/vault-root.json")
    );
}

/// Each share file reads, writes back byte for byte, matches its custodian's
/// commitment in the signed record, and its numbered lines typed back read the same.
#[test]
fn the_shares_read_and_match_their_commitments() {
    let r = record();
    let seal_id = r.id_bytes().unwrap();
    for (armor, s) in shares() {
        assert_eq!(
            *s.to_armor(),
            armor,
            "{} writes back as it was",
            s.custodian
        );
        assert_eq!(s.seal, r.name);
        assert_eq!(s.env, r.env);
        assert_eq!(
            s.payload.version(),
            share::FORMAT_V1,
            "these vectors are version 1"
        );
        assert!(s.payload.binding.names(&seal_id, r.set));
        assert_eq!(s.payload.set(), Some(r.set));
        assert_eq!(s.set, Some(r.set));
        assert_eq!(s.payload.threshold, r.threshold);
        let c = r.custodian_at(s.payload.point.x).expect("a custodian at x");
        assert_eq!(c.name, s.custodian);
        assert_eq!(
            c.commitment,
            hex::encode(share::commitment(&seal_id, r.set, &s.payload.point))
        );
        let lines = s.payload_lines();
        for (i, line) in armor
            .lines()
            .skip(6)
            .take(share::lines(share::FORMAT_V1))
            .enumerate()
        {
            assert_eq!(
                *share::parse_line(share::FORMAT_V1, i + 1, line).unwrap(),
                *lines[i]
            );
            assert_eq!(
                *share::parse_line(share::FORMAT_V1, i + 1, &line.to_lowercase()).unwrap(),
                *lines[i]
            );
        }
    }
}

/// Any two of the shares open the record's blob: the AES-GCM tag over the wrapped
/// credential and the seal header is the known answer (the unwrap needs the token,
/// which the vectors do not keep).
#[test]
fn any_quorum_of_the_shares_opens_the_blob() {
    let r = record();
    let all = shares();
    let mut opened = Vec::new();
    for i in 0..all.len() {
        for j in i + 1..all.len() {
            let u = zeroth::shamir::combine(&[&all[i].1.payload.point, &all[j].1.payload.point])
                .unwrap();
            opened.push(r.open_blob(&u).expect("the blob opens").to_vec());
        }
    }
    assert!(opened.windows(2).all(|w| w[0] == w[1]));
    // And one share alone does not.
    let lone = zeroth::shamir::combine(&[&all[0].1.payload.point]).unwrap();
    assert!(r.open_blob(&lone).is_err());
}

/// Every log line re-encodes from its parsed entry to the same bytes, its signature
/// verifies over them, and `audit verify` finds the whole log and its head valid.
#[test]
fn the_log_reproduces_its_lines_and_verifies() {
    let log = text("store/logs/prod.jsonl");
    let key = key();
    let mut signed = 0;
    let mut unsigned = 0;
    for (i, line) in log.lines().enumerate() {
        let mut entry: Entry = serde_json::from_str(line).unwrap();
        assert_eq!(entry.seq, i as u64 + 1);
        let sig = entry.sig.clone();
        let again = audit::seal_line(&mut entry, None).unwrap();
        let cut = line.rfind(",\"sig\":").unwrap();
        assert_eq!(
            &again[..again.rfind(",\"sig\":").unwrap()],
            &line[..cut],
            "entry {} re-encodes to other bytes",
            i + 1
        );
        match sig {
            Some(s) => {
                let mut message = b"zeroth-audit-v1\n".to_vec();
                message.extend_from_slice(&line.as_bytes()[..cut]);
                message.push(b'}');
                assert!(key.verify(&message, &b64(&s)), "entry {}", i + 1);
                signed += 1;
            }
            None => unsigned += 1,
        }
    }
    assert!(
        signed >= 6 && unsigned >= 1,
        "{signed} signed, {unsigned} unsigned"
    );
    let head: HeadFile = serde_json::from_slice(&read("store/logs/prod.head")).unwrap();
    assert_eq!(head.seq as usize, log.lines().count());
    let copy = store_copy();
    let store = Store::open(&copy.path().join("store")).unwrap();
    let v = audit::verify(&store, "prod", &key).unwrap();
    assert!(v.ok(), "{:?}", v.damage);
    assert_eq!(v.entries as usize, log.lines().count());
    assert_eq!(v.unsigned_covered.len(), unsigned);
}

/// The binary agrees: `audit verify` and `share verify` on a copy of the vectors.
#[test]
fn the_binary_verifies_the_vectors() {
    let copy = store_copy();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_zeroth"))
            .args(args)
            .current_dir(copy.path())
            .env("ZEROTH_STORE", copy.path().join("store"))
            .env("ZEROTH_TRUST", copy.path().join("trust.toml"))
            .env_remove("ZEROTH_NOW")
            .env_remove("ZEROTH_PIN")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "zeroth {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // No trust file on this machine pins the vectors' environment: the key is given,
    // the one zeroth.toml's fingerprint names (checked above).
    let verified = run(&["audit", "verify", "--pubkey", "store/keys/prod.pem"]);
    assert!(verified.contains("valid"), "{verified}");
    for who in SHARES {
        let path = format!("shares/vault-root.{who}.share");
        let out = run(&["share", "verify", &path, "--pubkey", "store/keys/prod.pem"]);
        assert!(out.contains(who), "{out}");
    }
}
