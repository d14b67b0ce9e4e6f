//! The credential appears nowhere it should not: not in the store, not in share files,
//! not on stderr, on stdout only with `--output -`, and not as an object on the token.

use base64::Engine;

use crate::common::*;

/// The forms a credential may leak in.
fn forms(raw: &[u8]) -> Vec<(String, Vec<u8>)> {
    vec![
        ("raw".into(), raw.to_vec()),
        ("hex".into(), hex::encode(raw).into_bytes()),
        ("HEX".into(), hex::encode_upper(raw).into_bytes()),
        (
            "base64".into(),
            base64::engine::general_purpose::STANDARD
                .encode(raw)
                .into_bytes(),
        ),
        (
            "base64url".into(),
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(raw)
                .into_bytes(),
        ),
    ]
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

#[track_caller]
fn assert_absent(raw: &[u8], what: &str, hay: &[u8]) {
    for (form, bytes) in forms(raw) {
        assert!(
            !contains(hay, &bytes),
            "the credential ({form}) appears in {what}"
        );
    }
}

#[test]
fn a_generated_credential_appears_only_where_delivered() {
    let fx = Fixture::new();
    let mut outputs: Vec<(String, Vec<u8>)> = Vec::new();
    let mut record = |name: &str, run: Run| {
        outputs.push((format!("{name} stderr"), run.stderr.clone().into_bytes()));
        outputs.push((format!("{name} stdout"), run.stdout.clone()));
    };
    record("env init", fx.env_init("prod", "prod").ok());
    record("generate", fx.generate("vault-root", "prod", 3, 5).ok());
    record(
        "generate --json",
        fx.generate_cmd("json-seal", "prod", 2, 3)
            .arg("--json")
            .run()
            .ok(),
    );

    // The one place it may appear: stdout of --output -.
    let delivered = fx.unseal("vault-root", &["alice", "bob", "carol"]).ok();
    record(
        "unseal --output - (stderr only)",
        Run {
            code: 0,
            stdout: Vec::new(),
            stderr: delivered.stderr.clone(),
        },
    );
    let raw = hex::decode(&delivered.stdout).unwrap();
    assert_eq!(raw.len(), 32);

    let file = fx.path().join("delivered");
    record(
        "unseal --output FILE",
        fx.unseal_cmd("vault-root", &["bob", "carol", "dave"])
            .arg("--output")
            .arg(&file)
            .run()
            .ok(),
    );
    record(
        "unseal --exec",
        fx.unseal_cmd("vault-root", &["carol", "dave", "erin"])
            .args(["--exec", "--", "sh", "-c", "cat >/dev/null"])
            .run()
            .ok(),
    );
    record(
        "unseal --json --exec",
        fx.unseal_cmd("vault-root", &["carol", "dave", "erin"])
            .args(["--json", "--exec", "--", "sh", "-c", "cat >/dev/null"])
            .run()
            .ok(),
    );
    record(
        "drill",
        fx.zeroth()
            .args(["drill", "vault-root", "--share"])
            .args(CUSTODIANS[..5].iter().map(|w| fx.share("vault-root", w)))
            .run()
            .ok(),
    );
    record(
        "share verify",
        fx.zeroth()
            .args(["share", "verify"])
            .arg(fx.share("vault-root", "alice"))
            .run()
            .ok(),
    );
    record("list", fx.zeroth().args(["list", "--json"]).run().ok());
    // Failures print too: a refused unseal and a wrong PIN.
    record("refused unseal", fx.unseal("vault-root", &["alice"]));
    record(
        "wrong PIN",
        fx.unseal_cmd("vault-root", &["alice", "bob", "carol"])
            .env("ZEROTH_PIN", "999999")
            .args(["--output", "-"])
            .run(),
    );

    for (what, bytes) in &outputs {
        assert_absent(&raw, what, bytes);
    }
    for (path, bytes) in fx.files() {
        assert_absent(&raw, &path.display().to_string(), &bytes);
    }
    // The module's own token files (SoftHSM's object files, Kryoptic's sqlite
    // database) hold K_seal; the credential is never a token object, and an unwrapped
    // session object never reaches them.
    for (path, bytes) in &fx.token_files() {
        assert_absent(&raw, &path.display().to_string(), bytes);
    }
    assert_eq!(
        std::fs::read(&file).unwrap(),
        hex::encode(&raw).into_bytes(),
        "delivered to the file"
    );
}

#[test]
fn an_imported_secret_appears_only_where_delivered() {
    let fx = Fixture::new();
    fx.env_init("prod", "prod").ok();
    let secret = b"s.zeroth-imported-root-token-7f3a9c".to_vec();
    let runs = vec![
        fx.import_cmd("root", "prod", 2, 3, &secret).run().ok(),
        fx.unseal_cmd("root", &["alice", "bob"])
            .args(["--exec", "--", "sh", "-c", "cat >/dev/null"])
            .run()
            .ok(),
        fx.zeroth()
            .args(["drill", "root", "--share"])
            .args(CUSTODIANS[..3].iter().map(|w| fx.share("root", w)))
            .run()
            .ok(),
    ];
    for run in &runs {
        assert_absent(&secret, "stderr", run.stderr.as_bytes());
        assert_absent(&secret, "stdout", &run.stdout);
    }
    for (path, bytes) in fx.files().into_iter().chain(fx.token_files()) {
        assert_absent(&secret, &path.display().to_string(), &bytes);
    }
    assert_eq!(fx.unseal("root", &["bob", "carol"]).ok().stdout, secret);
}

#[test]
fn the_token_holds_keys_that_never_leave_it_and_no_credential() {
    let fx = Fixture::sealed();
    fx.unseal("vault-root", &["alice", "bob", "carol"]).ok();
    fx.zeroth()
        .args(["drill", "vault-root", "--share"])
        .args(CUSTODIANS[..5].iter().map(|w| fx.share("vault-root", w)))
        .run()
        .ok();
    let objects = fx.token_objects("prod");
    // pkcs11-tool prints one block per object.
    let blocks: Vec<&str> = objects
        .split("\n\n")
        .flat_map(|b| b.split("\nSecret Key Object").collect::<Vec<_>>())
        .collect();
    let kseal = objects
        .split("Secret Key Object")
        .nth(1)
        .expect("K_seal is on the token");
    assert!(kseal.contains("zeroth:prod:vault-root:v1:s1"), "{objects}");
    assert!(
        kseal.contains("sensitive") && kseal.contains("never extractable"),
        "{kseal}"
    );
    assert!(
        kseal.contains("Usage:      wrap, unwrap\n"),
        "K_seal does wrap and unwrap only: {kseal}"
    );
    let private = objects
        .split("Private Key Object")
        .nth(1)
        .expect("signing key");
    assert!(private.contains("zeroth:prod:sign"));
    let private_access = private.lines().find(|l| l.contains("Access:")).unwrap();
    assert!(
        private_access.contains("sensitive") && private_access.contains("never extractable"),
        "{private_access}"
    );
    // Exactly one secret key (K_seal): no generic-secret credential object persists.
    assert_eq!(objects.matches("Secret Key Object").count(), 1, "{objects}");
    assert!(!objects.contains("GENERIC"), "{objects}");
    assert!(!blocks.is_empty());
}

#[test]
fn record_signatures_verify_with_openssl() {
    // The record signature is plain ECDSA-P256-SHA256 over the canonical bytes.
    let fx = Fixture::sealed();
    let text = std::fs::read_to_string(fx.store().join("seals/vault-root.json")).unwrap();
    let record: zeroth::seal::SealRecord = serde_json::from_str(&text).unwrap();
    let message = record.signed_bytes().unwrap();
    let sig = base64::engine::general_purpose::STANDARD
        .decode(&record.signature.as_ref().unwrap().value)
        .unwrap();
    let msg_path = fx.path().join("msg");
    let sig_path = fx.path().join("sig");
    std::fs::write(&msg_path, &message).unwrap();
    std::fs::write(&sig_path, &sig).unwrap();
    let out = std::process::Command::new("openssl")
        .args(["dgst", "-sha256", "-verify"])
        .arg(fx.store().join("keys/prod.pem"))
        .arg("-signature")
        .arg(&sig_path)
        .arg(&msg_path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("Verified OK"));
    // And the fingerprint is what openssl computes over the DER public key.
    let der = std::process::Command::new("openssl")
        .args(["pkey", "-pubin", "-outform", "DER", "-in"])
        .arg(fx.store().join("keys/prod.pem"))
        .output()
        .unwrap()
        .stdout;
    use sha2::Digest;
    let fp = format!("sha256:{}", hex::encode(sha2::Sha256::digest(&der)));
    assert_eq!(record.signature.unwrap().key, fp);
}
