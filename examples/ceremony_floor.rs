//! The physical floor of a ceremony: one process that does only the work a ceremony
//! cannot do without — load the module, find the token, log in, the token operations
//! that make, use and sign (key generation, wrap or unwrap, one signature per record,
//! log entry and head, the log anchor replaced), combining the shares and opening the
//! blob, and the durable writes (each file synced, each directory synced once) — and
//! none of zeroth's checks, parsing or messages. `scripts/bench.sh` times each ceremony
//! against it, run for run, to show what zeroth adds on top of the floor.
//!
//! Usage: cargo run --release --example ceremony_floor --
//!        MODULE TOKEN PIN_FILE ENV WORK_DIR generate|unseal|drill [RECORD SHARE...]
//!
//! It writes only under WORK_DIR and, on the token, its own objects: a K_seal per
//! generate (`zeroth-floor:<env>:<n>`, left on the token as zeroth's are) and its own
//! anchor (`zeroth-floor:<env>:log-head`).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use sha2::{Digest, Sha256};

fn open(module: &str, label: &str, pin_file: &str) -> (Pkcs11, Session) {
    let pkcs11 = Pkcs11::new(module).expect("load the module");
    pkcs11
        .initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        .expect("C_Initialize");
    // Every slot's token is read: a ceremony must see a label held twice.
    let slots: Vec<_> = pkcs11
        .get_slots_with_token()
        .expect("list the slots")
        .into_iter()
        .filter(|s| {
            pkcs11
                .get_token_info(*s)
                .is_ok_and(|i| i.label().trim_end() == label)
        })
        .collect();
    let session = pkcs11.open_rw_session(slots[0]).expect("open a session");
    let pin = std::fs::read_to_string(pin_file).expect("read the PIN file");
    session
        .login(UserType::User, Some(&AuthPin::new(pin.trim().into())))
        .expect("log in");
    (pkcs11, session)
}

fn find(session: &Session, class: ObjectClass, label: &str) -> Vec<ObjectHandle> {
    session
        .find_objects(&[
            Attribute::Class(class),
            Attribute::Label(label.as_bytes().to_vec()),
        ])
        .expect("find objects")
}

fn sign(session: &Session, key: ObjectHandle, message: &[u8]) -> Vec<u8> {
    session
        .sign(&Mechanism::Ecdsa, key, &Sha256::digest(message))
        .expect("sign")
}

/// The log anchor replaced: a new object, the old one destroyed.
fn move_anchor(session: &Session, env: &str, seq: u64) {
    let label = format!("zeroth-floor:{env}:log-head");
    let old = find(session, ObjectClass::DATA, &label);
    session
        .create_object(&[
            Attribute::Class(ObjectClass::DATA),
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Label(label.into_bytes()),
            Attribute::Value(
                format!("zeroth-log-head-v1\n{seq}\n{}\n", "0".repeat(64)).into_bytes(),
            ),
        ])
        .expect("create the anchor");
    for h in old {
        session.destroy_object(h).expect("destroy the old anchor");
    }
}

fn sync_dir(dir: &Path) {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .expect("sync a directory");
}

/// A file written and synced under a temporary name, then renamed into place; the
/// directory is synced by the caller.
fn write_file(path: &Path, bytes: &[u8]) {
    let tmp = path.with_extension("tmp");
    let mut f = File::create(&tmp).expect("create a file");
    f.write_all(bytes).expect("write");
    f.sync_all().expect("sync a file");
    std::fs::rename(&tmp, path).expect("rename");
}

/// The log entry, the head and the anchor: what every ceremony ends with.
fn log(session: &Session, key: ObjectHandle, env: &str, dir: &Path, n: u64) {
    let line = format!(
        "{{\"seq\":{n},\"detail\":\"{}\",\"sig\":null}}",
        "x".repeat(500)
    );
    let sig = sign(session, key, line.as_bytes());
    let mut log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("log.jsonl"))
        .expect("open the log");
    log.write_all(format!("{line} {}\n", hex::encode(sig)).as_bytes())
        .expect("append to the log");
    log.sync_all().expect("sync the log");
    let head = sign(session, key, b"head");
    write_file(&dir.join("log.head"), &head);
    sync_dir(dir);
    move_anchor(session, env, n);
}

/// RFC 5649 where the token has it (SoftHSM), RFC 3394 otherwise (Kryoptic), as `env
/// init` negotiates.
fn wrap_mechanism(module: &str) -> Mechanism<'static> {
    if module.contains("softhsm") {
        Mechanism::AesKeyWrapPad
    } else {
        Mechanism::AesKeyWrap
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [module, label, pin_file, env, dir, what, rest @ ..] = args.as_slice() else {
        eprintln!(
            "usage: ceremony_floor MODULE TOKEN PIN_FILE ENV WORK_DIR generate|unseal|drill [RECORD SHARE...]"
        );
        std::process::exit(2);
    };
    let dir = Path::new(dir);
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let (pkcs11, session) = open(module, label, pin_file);
    let signing = find(
        &session,
        ObjectClass::PRIVATE_KEY,
        &zeroth::hsm::signing_label(env),
    )[0];
    match what.as_str() {
        "generate" => {
            let kseal = session
                .generate_key(
                    &Mechanism::AesKeyGen,
                    &[
                        Attribute::Class(ObjectClass::SECRET_KEY),
                        Attribute::KeyType(KeyType::AES),
                        Attribute::ValueLen(32u64.into()),
                        Attribute::Token(true),
                        Attribute::Private(true),
                        Attribute::Sensitive(true),
                        Attribute::Extractable(false),
                        Attribute::Wrap(true),
                        Attribute::Unwrap(true),
                        Attribute::Label(format!("zeroth-floor:{env}:{n}").into_bytes()),
                    ],
                )
                .expect("generate K_seal");
            let credential = session
                .generate_key(
                    &Mechanism::GenericSecretKeyGen,
                    &[
                        Attribute::Class(ObjectClass::SECRET_KEY),
                        Attribute::KeyType(KeyType::GENERIC_SECRET),
                        Attribute::ValueLen(32u64.into()),
                        Attribute::Token(false),
                        Attribute::Sensitive(true),
                        Attribute::Extractable(true),
                    ],
                )
                .expect("generate the credential");
            let wrapped = session
                .wrap_key(&wrap_mechanism(module), kseal, credential)
                .expect("wrap");
            session.destroy_object(credential).expect("destroy");
            let mut random = [0u8; 32];
            session.generate_random_slice(&mut random).expect("random");
            // The shares, one synced file each, their directory synced once.
            let shares = dir.join(format!("shares-{n}"));
            std::fs::create_dir(&shares).expect("make the share directory");
            for c in ["alice", "bob", "carol", "dave", "erin"] {
                write_file(&shares.join(format!("{c}.share")), &[b'S'; 420]);
            }
            sync_dir(&shares);
            let record = sign(&session, signing, &wrapped);
            write_file(&dir.join("record.json"), &[b'R'; 2600]);
            sync_dir(dir);
            let _ = record;
        }
        "unseal" | "drill" => {
            let [record, shares @ ..] = rest else {
                eprintln!("unseal and drill need RECORD and SHARE files");
                std::process::exit(2);
            };
            let record: zeroth::seal::SealRecord =
                serde_json::from_slice(&std::fs::read(record).expect("read the record"))
                    .expect("a record");
            let parsed: Vec<zeroth::share::Share> = shares
                .iter()
                .map(|f| {
                    zeroth::share::Share::from_armor(
                        &std::fs::read_to_string(f).expect("read a share"),
                    )
                    .expect("a share")
                })
                .collect();
            let points: Vec<&zeroth::shamir::SharePoint> =
                parsed.iter().map(|s| &s.payload.point).collect();
            let u =
                zeroth::shamir::combine(&points[..usize::from(record.threshold)]).expect("combine");
            let wrapped = record.open_blob(&u).expect("open the blob");
            let kseal = find(&session, ObjectClass::SECRET_KEY, &record.key.label)[0];
            let object = session
                .unwrap_key(
                    &match record.key.mechanism {
                        zeroth::mechanism::WrapMechanism::AesKeyWrapPad => Mechanism::AesKeyWrapPad,
                        zeroth::mechanism::WrapMechanism::AesKeyWrap => Mechanism::AesKeyWrap,
                    },
                    kseal,
                    &wrapped,
                    &[
                        Attribute::Class(ObjectClass::SECRET_KEY),
                        Attribute::KeyType(KeyType::GENERIC_SECRET),
                        Attribute::Token(false),
                        Attribute::Sensitive(false),
                        Attribute::Extractable(true),
                    ],
                )
                .expect("unwrap");
            let value = session
                .get_attributes(object, &[AttributeType::Value])
                .expect("read the credential");
            session.destroy_object(object).expect("destroy");
            if what == "drill" {
                // The record signed anew (the custodians' shares proven).
                let _ = sign(&session, signing, b"record");
                write_file(&dir.join("record.json"), &[b'R'; 2600]);
                sync_dir(dir);
            } else {
                let mut out = std::io::stdout();
                for a in value {
                    if let Attribute::Value(v) = a {
                        out.write_all(hex::encode(&v[..32.min(v.len())]).as_bytes())
                            .expect("deliver");
                    }
                }
            }
        }
        other => {
            eprintln!("unknown ceremony '{other}'");
            std::process::exit(2);
        }
    }
    log(&session, signing, env, dir, n);
    drop(session);
    pkcs11.finalize().expect("C_Finalize");
}
