//! The ceremonies as a custodian and an operator use them.

use std::os::unix::fs::PermissionsExt;

use crate::common::*;

#[test]
fn env_init_writes_marker_key_and_config() {
    let fx = Fixture::new();
    let wrap = fx.kind.default_wrap();
    let run = fx.env_init("prod", "prod").ok();
    assert!(
        run.stdout_str().contains(&format!("wrap:        {wrap}\n")),
        "{}",
        run.stdout_str()
    );
    let config = std::fs::read_to_string(fx.store().join("zeroth.toml")).unwrap();
    assert!(
        config.contains("[env.prod]") && config.contains(&format!("wrap_mechanism = \"{wrap}\"")),
        "{config}"
    );
    let pem = std::fs::read_to_string(fx.store().join("keys/prod.pem")).unwrap();
    assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----"));
    let objects = fx.token_objects("prod");
    assert!(objects.contains("zeroth:environment"), "{objects}");
    assert!(objects.contains("zeroth:prod:sign"), "{objects}");

    let list = fx.zeroth().args(["env", "list"]).run().ok().stdout_str();
    assert!(list.contains("prod") && list.contains(wrap), "{list}");
    let json: serde_json::Value = serde_json::from_slice(
        &fx.zeroth()
            .args(["--json", "env", "list"])
            .run()
            .ok()
            .stdout,
    )
    .unwrap();
    let env = &json["environments"][0];
    assert_eq!(env["env"], "prod");
    assert_eq!(env["token"], "prod");
    assert!(env["serial"].as_str().is_some_and(|s| !s.is_empty()));
    assert_eq!(env["wrap_mechanism"], wrap);
}

#[test]
fn share_files_are_0600_and_armored() {
    let fx = Fixture::sealed();
    for who in &CUSTODIANS[..5] {
        let p = fx.share("vault-root", who);
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", p.display());
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(
            text.starts_with("-----BEGIN ZEROTH SHARE-----\nSeal: vault-root\nEnvironment: prod\n")
        );
        assert!(text.contains(&format!("Custodian: {who}\n")));
        assert!(text.contains("of 5, threshold 3, set 1"));
    }
}

#[test]
fn generated_credentials_differ_between_seals() {
    let fx = Fixture::sealed();
    fx.generate("other", "prod", 2, 3).ok();
    let a = fx
        .unseal("vault-root", &["alice", "bob", "carol"])
        .ok()
        .stdout;
    let b = fx.unseal("other", &["alice", "bob"]).ok().stdout;
    assert_ne!(a, b);
}

#[test]
fn encodings_of_a_generated_credential() {
    let fx = Fixture::new();
    fx.env_init("prod", "prod").ok();
    fx.generate_cmd("s", "prod", 2, 3)
        .args(["--length", "48"])
        .run()
        .ok();
    let hex_out = fx.unseal("s", &["alice", "bob"]).ok().stdout;
    let raw = hex::decode(&hex_out).unwrap();
    assert_eq!(raw.len(), 48);
    let b64 = fx
        .unseal_cmd("s", &["bob", "carol"])
        .args(["--output", "-", "--encoding", "base64"])
        .run()
        .ok()
        .stdout;
    use base64::Engine;
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap(),
        raw
    );
    let raw_out = fx
        .unseal_cmd("s", &["alice", "carol"])
        .args(["--output", "-", "--encoding", "raw"])
        .run()
        .ok()
        .stdout;
    assert_eq!(raw_out, raw);
}

#[test]
fn import_round_trips_the_exact_bytes() {
    let fx = Fixture::new();
    fx.env_init("prod", "prod").ok();
    let secret = b"hvs.CAESIJ-not-a-real-root-token\x00\xff".to_vec();
    fx.import_cmd("root-token", "prod", 2, 3, &secret)
        .run()
        .ok();
    let out = fx.unseal("root-token", &["alice", "carol"]).ok().stdout;
    assert_eq!(out, secret, "imported secrets come back raw by default");
    let record = fx.record("root-token");
    assert_eq!(record["credential"]["origin"], "imported");
    assert_eq!(record["credential"]["length"], secret.len());
}

#[test]
fn import_limits() {
    let fx = Fixture::new();
    fx.env_init("prod", "prod").ok();
    fx.import_cmd("empty", "prod", 2, 3, b"")
        .run()
        .fails(2, &["stdin is empty"]);
    fx.import_cmd("big", "prod", 2, 3, &vec![b'x'; 64 * 1024 + 1])
        .run()
        .fails(2, &["64 KiB"]);
    let max = vec![0x5au8; 64 * 1024];
    fx.import_cmd("max", "prod", 2, 3, &max).run().ok();
    assert_eq!(fx.unseal("max", &["alice", "bob"]).ok().stdout, max);
    let run = fx.import_cmd("nl", "prod", 2, 3, b"secret\n").run().ok();
    assert!(run.stderr.contains("ends with a newline"), "{}", run.stderr);
    assert!(!fx.store().join("seals/empty.json").exists());
    assert!(!fx.store().join("seals/big.json").exists());
}

#[test]
fn aes_key_wrap_without_padding_round_trips_any_length() {
    let fx = Fixture::new();
    let run = fx
        .zeroth()
        .args([
            "env",
            "init",
            "prod",
            "--token",
            "prod",
            "--wrap-mechanism",
            "CKM_AES_KEY_WRAP",
            "--module",
        ])
        .arg(module())
        .run()
        .ok();
    assert!(
        run.stdout_str().contains("CKM_AES_KEY_WRAP\n")
            || run.stdout_str().contains("CKM_AES_KEY_WRAP ")
    );
    fx.generate_cmd("odd", "prod", 2, 3)
        .args(["--length", "17"])
        .run()
        .ok();
    assert_eq!(fx.record("odd")["key"]["mechanism"], "CKM_AES_KEY_WRAP");
    let out = fx.unseal("odd", &["alice", "bob"]).ok().stdout;
    assert_eq!(out.len(), 34);
    for secret in [
        &b"short"[..],
        &b"exactly-sixteen!"[..],
        &b"twenty-five bytes secret!"[..],
    ] {
        let name = format!("imp{}", secret.len());
        fx.import_cmd(&name, "prod", 2, 2, secret).run().ok();
        assert_eq!(fx.unseal(&name, &["alice", "bob"]).ok().stdout, secret);
    }
}

#[test]
fn exec_feeds_the_child_and_returns_its_exit_code() {
    let fx = Fixture::sealed();
    let expected = fx
        .unseal("vault-root", &["alice", "bob", "carol"])
        .ok()
        .stdout;
    let got = fx.path().join("got");
    let script = format!(
        "cat > '{}'; if [ -n \"${{ZEROTH_PIN:-}}\" ]; then exit 99; fi; exit 7",
        got.display()
    );
    let run = fx
        .unseal_cmd("vault-root", &["carol", "dave", "erin"])
        .args(["--exec", "--", "sh", "-c", &script])
        .run();
    assert_eq!(
        run.code, 7,
        "zeroth exits with the child's code (99 = the PIN leaked to the child): {}",
        run.stderr
    );
    assert_eq!(std::fs::read(&got).unwrap(), expected);
    assert!(run.stdout.is_empty(), "the summary goes to stderr");
    fx.unseal_cmd("vault-root", &["alice", "bob", "carol"])
        .args(["--exec", "--", "no-such-program-zeroth"])
        .run()
        .fails(2, &["not found"]);
}

#[test]
fn output_file_is_new_and_0600() {
    let fx = Fixture::sealed();
    let out = fx.path().join("cred");
    fx.unseal_cmd("vault-root", &["alice", "bob", "carol"])
        .arg("--output")
        .arg(&out)
        .run()
        .ok();
    let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert_eq!(std::fs::read(&out).unwrap().len(), 64);
}

#[test]
fn drill_with_every_share_proves_every_custodian() {
    let fx = Fixture::sealed();
    let run = fx
        .zeroth()
        .args(["drill", "vault-root", "--share"])
        .args(["alice", "bob", "carol"].map(|w| fx.share("vault-root", w)))
        .run()
        .ok();
    assert!(
        run.stdout_str()
            .contains("not proven in this drill: dave, erin"),
        "{}",
        run.stdout_str()
    );
    let record = fx.record("vault-root");
    let proven: Vec<bool> = record["custodians"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.get("last_proven").is_some())
        .collect();
    assert_eq!(proven, [true, true, true, false, false]);

    let run = fx
        .zeroth()
        .env("ZEROTH_NOW", "2027-01-01T00:00:00Z")
        .args(["drill", "vault-root", "--share"])
        .args(CUSTODIANS[..5].iter().map(|w| fx.share("vault-root", w)))
        .run()
        .ok();
    assert!(
        run.stdout_str()
            .contains("every custodian's share is proven"),
        "{}",
        run.stdout_str()
    );
    let record = fx.record("vault-root");
    for c in record["custodians"].as_array().unwrap() {
        assert_eq!(c["last_proven"], "2027-01-01T00:00:00Z");
    }
    // The drill re-signed the record: unseal still accepts it.
    fx.unseal("vault-root", &["dave", "erin", "alice"]).ok();
    assert!(
        run.stdout.len() < 400,
        "a drill prints a summary, not the credential"
    );
}

#[test]
fn share_verify_needs_no_hsm_and_names_the_signing_key() {
    let fx = Fixture::sealed();
    let pem = fx.store().join("keys/prod.pem");
    // No PIN, and a module configuration that makes C_Initialize fail: the HSM is
    // not used.
    let run = fx
        .zeroth()
        .env(fx.kind.conf_var(), fx.kind.broken_conf().0)
        .env_remove("ZEROTH_PIN")
        .args(["share", "verify"])
        .arg(fx.share("vault-root", "bob"))
        .arg("--pubkey")
        .arg(&pem)
        .run()
        .ok();
    let text = run.stdout_str();
    assert!(
        text.contains("custodian bob") && text.contains("share 2 of 5") && text.contains("sha256:"),
        "{text}"
    );

    // Pinned to another key (another environment's), the record is refused.
    fx.init_token("dev");
    fx.env_init("dev", "dev").ok();
    fx.zeroth()
        .args(["share", "verify"])
        .arg(fx.share("vault-root", "bob"))
        .arg("--pubkey")
        .arg(fx.store().join("keys/dev.pem"))
        .run()
        .fails(3, &["signed by key"]);
}

#[test]
fn list_shows_the_inventory() {
    let fx = Fixture::sealed();
    fx.generate_cmd("api-token", "prod", 2, 3)
        .args(["--expires", "2099-12-31"])
        .run()
        .ok();
    let text = fx.zeroth().arg("list").run().ok().stdout_str();
    assert!(
        text.contains("vault-root") && text.contains("3/5") && text.contains("active"),
        "{text}"
    );
    assert!(text.contains("2099-12-31"), "{text}");
    let json: serde_json::Value =
        serde_json::from_slice(&fx.zeroth().args(["list", "--json"]).run().ok().stdout).unwrap();
    let seals = json["seals"].as_array().unwrap();
    assert_eq!(seals.len(), 2);
    let v = seals.iter().find(|s| s["name"] == "vault-root").unwrap();
    for key in [
        "env",
        "owner",
        "threshold",
        "custodians",
        "version",
        "created",
        "rotation_due",
        "expires",
        "status",
    ] {
        assert!(v.get(key).is_some(), "{key} missing from {v}");
    }
    assert_eq!(v["threshold"], 3);
    assert_eq!(v["n"], 5);
    assert_eq!(
        v["custodians"],
        serde_json::json!(["alice", "bob", "carol", "dave", "erin"])
    );
    // Rotation overdue and expiry are computed from the (injected) clock.
    let later = fx
        .zeroth()
        .env("ZEROTH_NOW", "2100-01-01T00:00:00Z")
        .arg("list")
        .run()
        .ok()
        .stdout_str();
    assert!(
        later.contains("rotation-overdue") && later.contains("expired"),
        "{later}"
    );
}

#[test]
fn two_ceremonies_on_one_store_do_not_interleave() {
    let fx = Fixture::sealed();
    // Hold the store lock the way a running ceremony does, for 1.5 s.
    let mut holder = std::process::Command::new("flock")
        .arg("--exclusive")
        .arg(fx.store().join(".lock"))
        .args(["sleep", "1.5"])
        .spawn()
        .expect("flock (util-linux)");
    std::thread::sleep(std::time::Duration::from_millis(300));
    let start = std::time::Instant::now();
    fx.generate("second", "prod", 2, 3)
        .fails(4, &["busy", "retry"]);
    assert!(
        start.elapsed() >= std::time::Duration::from_millis(500),
        "it waited first"
    );
    holder.wait().unwrap();
    fx.generate("second", "prod", 2, 3).ok();
}
