//! Fills a token with N AES-256 keys labelled like the K_seal of N other seals of an
//! environment (`zeroth:<env>:other-<i>:v1:s1`), so `scripts/bench.sh` can time
//! `generate` on a token that holds many keys against the same on an empty one.
//!
//! Usage: cargo run --release --example token_keys -- MODULE TOKEN_LABEL PIN_FILE N ENV

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, KeyType, ObjectClass};
use cryptoki::session::UserType;
use cryptoki::types::AuthPin;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [module, label, pin_file, n, env] = args.as_slice() else {
        eprintln!("usage: token_keys MODULE TOKEN_LABEL PIN_FILE N ENV");
        std::process::exit(2);
    };
    let n: u32 = n.parse().expect("N is a number");
    let pin = std::fs::read_to_string(pin_file).expect("read the PIN file");
    let pkcs11 = Pkcs11::new(module).expect("load the module");
    pkcs11
        .initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        .expect("C_Initialize");
    let slot = pkcs11
        .get_slots_with_token()
        .expect("list the slots")
        .into_iter()
        .find(|s| {
            pkcs11
                .get_token_info(*s)
                .is_ok_and(|i| i.label().trim_end() == label)
        })
        .expect("a token with that label");
    let session = pkcs11.open_rw_session(slot).expect("open a session");
    session
        .login(UserType::User, Some(&AuthPin::new(pin.trim().into())))
        .expect("log in");
    for i in 0..n {
        session
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
                    Attribute::Label(format!("zeroth:{env}:other-{i}:v1:s1").into_bytes()),
                    Attribute::Id(i.to_be_bytes().to_vec()),
                ],
            )
            .expect("generate a key");
    }
    drop(session);
    pkcs11.finalize().expect("C_Finalize");
    println!("{n}");
}
