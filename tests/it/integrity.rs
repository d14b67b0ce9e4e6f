//! The store is untrusted input: what an attacker who can edit any file of the store, or
//! hold an old copy of it, must not get. Each test plays one attack on a real store and
//! token and checks that zeroth refuses it, naming what is wrong, with the trust anchors
//! outside the store (the trust file, the token) as the truth.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use sha2::Digest;

use crate::common::*;

use crate::soft_key;

fn three(fx: &Fixture) -> Vec<PathBuf> {
    ["alice", "bob", "carol"]
        .map(|w| fx.share("vault-root", w))
        .to_vec()
}

fn unseal_with<'f>(fx: &'f Fixture, shares: &[PathBuf]) -> Cmd<'f> {
    let mut c = fx.zeroth().args(["unseal", "vault-root", "--output", "-"]);
    for s in shares {
        c = c.arg("--share").arg(s);
    }
    c
}

fn sha256_hex(path: &Path) -> String {
    hex::encode(sha2::Sha256::digest(std::fs::read(path).unwrap()))
}

fn config_path(fx: &Fixture) -> PathBuf {
    fx.store().join("zeroth.toml")
}

fn replace_in(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{from} not in {}", path.display());
    std::fs::write(path, text.replace(from, to)).unwrap();
}

/// A copy of the recording shim at `dir/name`, mode 0755: a library an attacker
/// could plant, that would see every PKCS#11 call (the PIN of C_Login, the CKA_VALUE
/// of the credential) if zeroth loaded it.
fn planted_library(dir: &Path, name: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let p = dir.join(name);
    std::fs::copy(shim(), &p).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

// ---- 1. the module ---------------------------------------------------------------

#[test]
fn a_module_the_store_names_is_never_loaded_unless_this_machine_pinned_it() {
    let fx = Fixture::sealed();
    let record = fx.path().join("calls.log");
    let expected = fx
        .unseal("vault-root", &["alice", "bob", "carol"])
        .ok()
        .stdout;
    // The attacker points zeroth.toml at their library, by absolute path ...
    let evil = planted_library(&fx.path().join("evil"), "libevil.so");
    let module = module().display().to_string();
    replace_in(&config_path(&fx), &module, evil.to_str().unwrap());
    let run = unseal_with(&fx, &three(&fx))
        .env("ZEROTH_SHIM_LOG", &record)
        .run()
        .ok();
    assert_eq!(run.stdout, expected, "the pinned module unsealed it");
    assert!(
        run.stderr.contains("the pinned one is used"),
        "{}",
        run.stderr
    );
    assert!(!record.exists(), "the planted library was loaded");
    // ... or by a relative path to a file committed inside the store.
    planted_library(&fx.store(), "libevil.so");
    replace_in(&config_path(&fx), evil.to_str().unwrap(), "libevil.so");
    unseal_with(&fx, &three(&fx))
        .env("ZEROTH_SHIM_LOG", &record)
        .run()
        .ok();
    assert!(!record.exists(), "the library inside the store was loaded");
    // `env pin` shows the module's hash before it loads anything, and loads nothing
    // without --yes (there is no terminal to ask on).
    // (the module it offers is the pinned one, not what the store names)
    let run = fx
        .zeroth()
        .args(["env", "pin", "prod"])
        .env("ZEROTH_SHIM_LOG", &record)
        .no_terminal()
        .run()
        .fails(2, &["--yes", &module]);
    assert!(
        run.stderr.contains("the same module as pinned now"),
        "{}",
        run.stderr
    );
    assert!(!record.exists());
    // A machine that never pinned 'prod' (a fresh trust file) loads no module at all,
    // and asks for no PIN.
    std::fs::remove_file(fx.trust_file()).unwrap();
    replace_in(&config_path(&fx), "libevil.so", evil.to_str().unwrap());
    let run = unchanged(&fx, &["prod"], || {
        unseal_with(&fx, &three(&fx))
            .env("ZEROTH_SHIM_LOG", &record)
            .without_pin()
            .run()
    })
    .fails(
        3,
        &["environment 'prod'", "is not pinned", "zeroth env pin prod"],
    );
    assert!(!run.stderr.contains("no PIN"), "{}", run.stderr);
    assert!(!record.exists(), "an unpinned module was loaded");
    fx.zeroth()
        .args(["env", "pin", "prod"])
        .env("ZEROTH_SHIM_LOG", &record)
        .no_terminal()
        .run()
        .fails(2, &[evil.to_str().unwrap(), "--yes"]);
    assert!(!record.exists());
}

#[test]
fn a_pinned_module_that_changed_is_refused_before_it_is_loaded() {
    let fx = Fixture::new();
    let lib = planted_library(&fx.path().join("lib"), "libtoken.so");
    let record = fx.path().join("calls.log");
    fx.zeroth()
        .args(["env", "init", "prod", "--token", "prod", "--module"])
        .arg(&lib)
        .run()
        .ok();
    fx.generate("vault-root", "prod", 3, 5).ok();
    let pinned = sha256_hex(&lib);
    let run = fx.unseal("vault-root", &["alice", "bob", "carol"]).ok();
    assert!(
        run.stderr.contains(&format!(
            "through {} (sha256 {pinned}), as pinned in {}",
            lib.display(),
            fx.trust_file().display()
        )),
        "the ceremony names the module and its hash: {}",
        run.stderr
    );
    // The module file changes (a package upgrade, or someone who could write it).
    let mut bytes = std::fs::read(&lib).unwrap();
    bytes.extend_from_slice(b"\0changed");
    std::fs::write(&lib, &bytes).unwrap();
    let changed = sha256_hex(&lib);
    unchanged(&fx, &["prod"], || {
        unseal_with(&fx, &three(&fx))
            .env("ZEROTH_SHIM_LOG", &record)
            .run()
    })
    .fails(
        3,
        &[
            &format!("has SHA-256 {changed}"),
            &format!("pins {pinned}"),
            "zeroth env pin prod",
        ],
    );
    assert!(!record.exists(), "the changed module was loaded");
    // Re-pinning is deliberate: the new hash is shown, then the token's key.
    let run = fx.zeroth().args(["env", "pin", "prod", "--yes"]).run().ok();
    assert!(
        run.stderr.contains(&format!("sha256 {changed}")),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains(&format!("pinned now: {} sha256 {pinned}", lib.display()))
    );
    let key = fx.record("vault-root")["signature"]["key"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(run.stdout_str().contains(&key), "{}", run.stdout_str());
    let log = fx.log_lines("prod");
    let last = log.last().unwrap();
    assert_eq!(last["event"], "env-pin");
    assert!(last["sig"].is_string(), "the pin is logged, signed");
    fx.unseal("vault-root", &["alice", "bob", "carol"]).ok();
}

#[test]
fn relative_writable_or_in_store_modules_are_refused() {
    let fx = Fixture::new();
    fx.init_token("dev");
    let name = module().file_name().unwrap().to_owned();
    let dir = module().parent().unwrap().to_path_buf();
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_zeroth"))
        .current_dir(&dir)
        .env("ZEROTH_STORE", fx.store())
        .env("ZEROTH_PIN", PIN)
        .env("XDG_CONFIG_HOME", fx.config_home())
        .env(fx.kind.conf_var(), &fx.conf)
        .args(["env", "init", "prod", "--token", "prod", "--module"])
        .arg(&name)
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&run.stderr).contains("is relative: give its absolute path"));
    assert!(!fx.store().exists(), "a refused env init leaves no store");
    let lib = planted_library(&fx.path().join("lib"), "libtoken.so");
    std::fs::set_permissions(&lib, std::fs::Permissions::from_mode(0o757)).unwrap();
    fx.zeroth()
        .args(["env", "init", "prod", "--token", "prod", "--module"])
        .arg(&lib)
        .run()
        .fails(3, &["writable by others", "chmod go-w"]);
    std::fs::set_permissions(&lib, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(
        lib.parent().unwrap(),
        std::fs::Permissions::from_mode(0o777),
    )
    .unwrap();
    fx.zeroth()
        .args(["env", "init", "prod", "--token", "prod", "--module"])
        .arg(&lib)
        .run()
        .fails(3, &["directory of PKCS#11 module", "writable by others"]);
    fx.env_init("prod", "prod").ok();
    let inside = planted_library(&fx.store().join("lib"), "libtoken.so");
    unchanged(&fx, &["prod", "dev"], || {
        fx.zeroth()
            .args(["env", "init", "dev", "--token", "dev", "--module"])
            .arg(&inside)
            .run()
    })
    .fails(3, &["lies inside the store"]);
}

// ---- 2. the signing key ----------------------------------------------------------

/// Re-signs every record, the settings, the log and its head of `env` with `key`, and
/// puts `key` in the store: a store that agrees with itself, signed by an attacker.
fn resign_store(fx: &Fixture, env: &str, key: &soft_key::SoftKey) {
    use base64::Engine;
    use zeroth::audit::LogSigner;
    let b64 = base64::engine::general_purpose::STANDARD;
    let fp = key.public.fingerprint();
    let log = fx.store().join(format!("logs/{env}.jsonl"));
    let mut prev = zeroth::audit::genesis_hash(env);
    let mut out = String::new();
    let mut hashes = std::collections::BTreeMap::new();
    for line in std::fs::read_to_string(&log).unwrap().lines() {
        let mut e: zeroth::audit::Entry = serde_json::from_str(line).unwrap();
        e.prev = prev.clone();
        let signer: Option<&dyn LogSigner> = if e.unsigned.is_none() {
            e.key = Some(fp.clone());
            Some(key)
        } else {
            None
        };
        let line = zeroth::audit::seal_line(&mut e, signer).unwrap();
        prev = zeroth::audit::link_hash(line.as_bytes());
        hashes.insert(e.seq, prev.clone());
        out.push_str(&line);
        out.push('\n');
    }
    std::fs::write(&log, out).unwrap();
    let (last_seq, last_hash) = hashes.iter().next_back().unwrap();
    let head = zeroth::audit::head_text(env, *last_seq, last_hash, key).unwrap();
    std::fs::write(fx.store().join(format!("logs/{env}.head")), head).unwrap();
    let relink = |h: &mut Option<zeroth::audit::LogHead>| {
        if let Some(h) = h {
            h.hash = hashes[&h.seq].clone();
        }
    };
    for entry in std::fs::read_dir(fx.store().join("seals")).unwrap() {
        let path = entry.unwrap().path();
        let mut record: zeroth::seal::SealRecord =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        relink(&mut record.log_head);
        let sig = key.sign(&record.signed_bytes().unwrap()).unwrap();
        record.signature = Some(zeroth::seal::RecordSignature {
            key: fp.clone(),
            value: b64.encode(sig),
        });
        std::fs::write(&path, serde_json::to_string_pretty(&record).unwrap()).unwrap();
    }
    let settings = fx.store().join(format!("settings/{env}.json"));
    let mut s: zeroth::settings::Settings =
        serde_json::from_str(&std::fs::read_to_string(&settings).unwrap()).unwrap();
    relink(&mut s.log_head);
    let sig = key.sign(&s.signed_bytes().unwrap()).unwrap();
    s.signature = Some(zeroth::seal::RecordSignature {
        key: fp.clone(),
        value: b64.encode(sig),
    });
    std::fs::write(&settings, serde_json::to_string_pretty(&s).unwrap()).unwrap();
    std::fs::write(
        fx.store().join(format!("keys/{env}.pem")),
        key.public.to_pem().unwrap(),
    )
    .unwrap();
    let config = config_path(fx);
    let text = std::fs::read_to_string(&config).unwrap();
    let v: toml::Value = toml::from_str(&text).unwrap();
    let old = v["env"][env]["sign_key_fingerprint"].as_str().unwrap();
    std::fs::write(&config, text.replace(old, &fp)).unwrap();
}

#[test]
fn a_store_resigned_with_an_attackers_key_is_caught_offline() {
    let fx = Fixture::sealed();
    fx.drill_all();
    resign_store(&fx, "prod", &soft_key::SoftKey::from_seed(7));
    let pinned = "is not the signing key";
    fx.audit_verify()
        .fails(3, &["keys/prod.pem", pinned, "pins for environment 'prod'"]);
    let check = fx.zeroth().arg("check").run();
    assert_eq!(check.code, 1, "{}", check.stderr);
    assert!(
        check.stdout_str().contains(pinned),
        "{}",
        check.stdout_str()
    );
    let list = fx.zeroth().arg("list").run().ok();
    assert!(
        list.stdout_str().contains("invalid"),
        "{}",
        list.stdout_str()
    );
    let verify = fx
        .zeroth()
        .args(["share", "verify"])
        .arg(fx.share("vault-root", "alice"))
        .run()
        .fails(3, &[pinned]);
    assert!(!verify.stdout_str().contains("ok "));
    fx.zeroth()
        .args(["audit", "report", "vault-root"])
        .run()
        .fails(3, &[pinned]);
    // check --hsm also compares the token's key with the store's.
    let (code, findings) = check_json(&fx, &["--hsm"]);
    assert_eq!(code, 1);
    assert!(
        findings.iter().any(|f| f["id"] == "token-key-mismatch"),
        "{findings:?}"
    );
    // Without a pin (a machine that never pinned 'prod') the store agrees with
    // itself: zeroth says so, on every command, and check reports it.
    std::fs::remove_file(fx.trust_file()).unwrap();
    let run = fx.audit_verify().ok();
    assert!(run.stderr.contains("is not pinned"), "{}", run.stderr);
    assert!(
        run.stdout_str().contains("NOT pinned"),
        "{}",
        run.stdout_str()
    );
    let (_, findings) = check_json(&fx, &[]);
    assert!(
        findings.iter().any(|f| f["id"] == "env-unpinned"),
        "{findings:?}"
    );
}

#[test]
fn ci_verifies_against_an_exported_trust_file() {
    let fx = Fixture::sealed();
    fx.drill_all();
    let exported = fx
        .zeroth()
        .args(["trust", "export", "--key-only"])
        .run()
        .ok()
        .stdout;
    let ci_trust = fx.path().join("ci-trust.toml");
    std::fs::write(&ci_trust, &exported).unwrap();
    let text = String::from_utf8_lossy(&exported);
    assert!(
        text.contains("signing_key") && !text.contains("module"),
        "{text}"
    );
    // CI has no user trust file: only the one it is given.
    std::fs::remove_file(fx.trust_file()).unwrap();
    fx.zeroth()
        .arg("--trust")
        .arg(&ci_trust)
        .arg("check")
        .run()
        .ok();
    fx.zeroth()
        .env("ZEROTH_TRUST", &ci_trust)
        .args(["audit", "verify"])
        .run()
        .ok();
    // A pin-less environment with an explicit trust file is an error, not a warning.
    fx.init_token("dev");
    fx.env_init("dev", "dev").ok();
    let run = fx.zeroth().arg("--trust").arg(&ci_trust).arg("check").run();
    assert_eq!(run.code, 1, "{}", run.stdout_str());
    assert!(
        run.stdout_str().contains("env-unpinned"),
        "{}",
        run.stdout_str()
    );
    fx.zeroth()
        .arg("--trust")
        .arg(&ci_trust)
        .args(["audit", "verify", "--env", "dev"])
        .run()
        .fails(
            3,
            &["environment 'dev' is not pinned", "the trust file given"],
        );
    // And the key-only pin loads no module: a ceremony needs module and token pinned.
    fx.zeroth()
        .arg("--trust")
        .arg(&ci_trust)
        .args(["unseal", "vault-root", "--output", "-", "--share"])
        .args(three(&fx))
        .run()
        .fails(3, &["pins only the signing key"]);
}

#[test]
fn a_record_of_an_environment_the_store_does_not_have_is_refused() {
    let fx = Fixture::sealed();
    let mut record = fx.record("vault-root");
    record["name"] = "ghost".into();
    record["env"] = "ghost-env".into();
    fx.write_record("ghost", &record);
    std::fs::copy(
        fx.store().join("keys/prod.pem"),
        fx.store().join("keys/ghost-env.pem"),
    )
    .unwrap();
    let (code, findings) = check_json(&fx, &[]);
    assert_eq!(code, 1);
    let f = findings
        .iter()
        .find(|f| f["id"] == "record-invalid" && f["seal"] == "ghost")
        .unwrap_or_else(|| panic!("{findings:?}"));
    assert!(
        f["message"]
            .as_str()
            .unwrap()
            .contains("environment 'ghost-env', which zeroth.toml does not have"),
        "{f}"
    );
    let list = fx.zeroth().arg("list").run().ok().stdout_str();
    assert!(list.contains("ghost") && list.contains("invalid"), "{list}");
}

// ---- 3. names become paths -------------------------------------------------------

#[test]
fn names_are_checked_before_they_become_paths() {
    let fx = Fixture::sealed();
    // A decoy record outside the store that a path walk would reach.
    let outside = fx.path().join("x.json");
    std::fs::copy(fx.store().join("seals/vault-root.json"), &outside).unwrap();
    unchanged(&fx, &["prod"], || {
        fx.zeroth()
            .args(["unseal", "../../x", "--output", "-", "--share"])
            .args(three(&fx))
            .run()
    })
    .fails(2, &["seal name '../../x'"]);
    fx.zeroth()
        .args(["audit", "report", "../../x"])
        .run()
        .fails(2, &["seal name '../../x'"]);
    fx.zeroth()
        .args(["drill", "../x"])
        .run()
        .fails(2, &["seal name '../x'"]);
    fx.zeroth()
        .args(["cleanup", "--env", "../prod"])
        .run()
        .fails(2, &["environment name '../prod'"]);
    // A share whose Seal: header is a path.
    let text = std::fs::read_to_string(fx.share("vault-root", "alice")).unwrap();
    let bad = fx.path().join("alice-path.share");
    std::fs::write(&bad, text.replace("Seal: vault-root", "Seal: ../../x")).unwrap();
    let run = fx.zeroth().args(["share", "verify"]).arg(&bad).run();
    run_fails_with(
        &run,
        3,
        &["'Seal:' header is not valid", "seal name '../../x'"],
    );
    // An environment name in zeroth.toml that is a path.
    replace_in(&config_path(&fx), "[env.prod]", "[env.\"../prod\"]");
    fx.zeroth()
        .arg("list")
        .run()
        .fails(2, &["zeroth.toml [env.…]", "environment name '../prod'"]);
}

fn run_fails_with(run: &Run, code: i32, fragments: &[&str]) {
    assert_eq!(run.code, code, "{}", run.stderr);
    for f in fragments {
        assert!(
            run.stderr.contains(f),
            "stderr lacks {f:?}:\n{}",
            run.stderr
        );
    }
}

// ---- 4. destructive ceremonies act on verified, current state ---------------------

fn rekey_without_bob(fx: &Fixture) -> (PathBuf, String) {
    let out = fx.path().join("new");
    std::fs::create_dir(&out).unwrap();
    fx.zeroth()
        .args(["rekey", "vault-root", "--without", "bob", "--share"])
        .args(three(fx))
        .arg("--out-dir")
        .arg(&out)
        .run()
        .ok();
    let id = fx.record("vault-root")["pending"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    (out, id)
}

fn new_shares(out: &Path, who: &[&str]) -> Vec<PathBuf> {
    who.iter()
        .map(|w| out.join(format!("vault-root.{w}.share")))
        .collect()
}

fn seal_keys(fx: &Fixture) -> Vec<String> {
    fx.token_objects("prod")
        .lines()
        .filter_map(|l| l.trim().strip_prefix("label:"))
        .map(|l| l.trim().to_string())
        .filter(|l| l.starts_with("zeroth:prod:vault-root:"))
        .collect()
}

#[test]
fn revoke_destroys_every_key_of_the_seal_even_from_an_old_record() {
    let fx = Fixture::sealed();
    let before = std::fs::read(fx.store().join("seals/vault-root.json")).unwrap();
    let (out, id) = rekey_without_bob(&fx);
    fx.zeroth()
        .args(["rekey", "vault-root", "--confirm", &id, "--share"])
        .args(new_shares(&out, &["alice", "carol", "dave"]))
        .run()
        .ok();
    assert_eq!(seal_keys(&fx), ["zeroth:prod:vault-root:v1:s2"]);
    // Revoking with the record from before the rekey still kills the live key.
    std::fs::write(fx.store().join("seals/vault-root.json"), &before).unwrap();
    let run = fx
        .zeroth()
        .args([
            "revoke",
            "vault-root",
            "--reason",
            "breach",
            "--confirm-seal",
        ])
        .arg("vault-root")
        .run()
        .ok();
    assert!(run.stderr.contains("older than the log"), "{}", run.stderr);
    assert!(
        run.stdout_str().contains("zeroth:prod:vault-root:v1:s2"),
        "{}",
        run.stdout_str()
    );
    assert!(seal_keys(&fx).is_empty(), "{:?}", seal_keys(&fx));
    fx.zeroth()
        .args(["unseal", "vault-root", "--output", "-", "--share"])
        .args(new_shares(&out, &["alice", "carol", "dave"]))
        .run()
        .fails(3, &["revoked"]);
}

#[test]
fn revoke_after_a_crash_between_switch_and_destroy_destroys_both_keys() {
    let fx = Fixture::sealed();
    let (out, id) = rekey_without_bob(&fx);
    let run = fx
        .zeroth()
        .env("ZEROTH_CRASH_AT", "rekey:after-switch")
        .args(["rekey", "vault-root", "--confirm", &id, "--share"])
        .args(new_shares(&out, &["alice", "carol", "dave"]))
        .run();
    assert!(run.stderr.contains("crash injected"), "{}", run.stderr);
    assert_eq!(seal_keys(&fx).len(), 2, "the old key survived the crash");
    let (code, findings) = check_json(&fx, &["--hsm"]);
    assert_eq!(code, 1);
    let retired = findings
        .iter()
        .find(|f| f["id"] == "retired-key-present")
        .unwrap_or_else(|| panic!("{findings:?}"));
    assert!(
        retired["action"]
            .as_str()
            .unwrap()
            .contains(&format!("--confirm {id}")),
        "{retired}"
    );
    fx.zeroth()
        .args([
            "revoke",
            "vault-root",
            "--reason",
            "breach",
            "--confirm-seal",
        ])
        .arg("vault-root")
        .run()
        .ok();
    assert!(seal_keys(&fx).is_empty());
}

#[test]
fn confirm_again_finishes_what_a_crash_left() {
    let fx = Fixture::sealed();
    let (out, id) = rekey_without_bob(&fx);
    let confirm = || {
        fx.zeroth()
            .args(["rekey", "vault-root", "--confirm", &id, "--share"])
            .args(new_shares(&out, &["alice", "carol", "dave"]))
    };
    confirm().env("ZEROTH_CRASH_AT", "rekey:after-switch").run();
    assert!(seal_keys(&fx).contains(&"zeroth:prod:vault-root:v1:s1".to_string()));
    let run = confirm().run().ok();
    assert!(
        run.stdout_str()
            .contains("was still on the token: destroyed now"),
        "{}",
        run.stdout_str()
    );
    assert_eq!(seal_keys(&fx), ["zeroth:prod:vault-root:v1:s2"]);
    let run = confirm().run().ok();
    assert!(
        run.stdout_str().contains("nothing left to do"),
        "{}",
        run.stdout_str()
    );
    let (_, findings) = check_json(&fx, &["--hsm"]);
    assert!(!findings.iter().any(|f| f["id"] == "retired-key-present"));
}

#[test]
fn cleanup_destroys_nothing_a_missing_or_forged_record_would_call_orphaned() {
    let fx = Fixture::sealed();
    let expected = fx
        .unseal("vault-root", &["alice", "bob", "carol"])
        .ok()
        .stdout;
    let record_path = fx.store().join("seals/vault-root.json");
    let good = std::fs::read(&record_path).unwrap();
    // The record is deleted: the signed log says the seal exists; its key stays.
    std::fs::remove_file(&record_path).unwrap();
    let run = fx
        .zeroth()
        .args(["cleanup", "--env", "prod", "--destroy"])
        .run()
        .ok();
    assert!(
        run.stdout_str()
            .contains("its record is missing: restore the record"),
        "{}",
        run.stdout_str()
    );
    assert_eq!(seal_keys(&fx).len(), 1);
    // The record cannot be parsed: cleanup refuses.
    std::fs::write(&record_path, b"{ not json").unwrap();
    fx.zeroth()
        .args(["cleanup", "--env", "prod", "--destroy"])
        .run()
        .fails(3, &["vault-root.json", "cleanup destroys nothing"]);
    // A forged 'revoked': the record no longer verifies, cleanup refuses.
    let mut v: serde_json::Value = serde_json::from_slice(&good).unwrap();
    v["revoked"] =
        serde_json::json!({"time": "2026-01-01T00:00:00Z", "operator": "x", "reason": "y"});
    std::fs::write(&record_path, serde_json::to_vec(&v).unwrap()).unwrap();
    fx.zeroth()
        .args(["cleanup", "--env", "prod", "--destroy"])
        .run()
        .fails(
            3,
            &["fails its signature check", "cleanup destroys nothing"],
        );
    assert_eq!(seal_keys(&fx).len(), 1);
    std::fs::write(&record_path, &good).unwrap();
    assert_eq!(
        fx.unseal("vault-root", &["alice", "bob", "carol"])
            .ok()
            .stdout,
        expected
    );
}

#[test]
fn cancel_of_a_stale_copy_destroys_nothing() {
    let fx = Fixture::sealed();
    let (out, id) = rekey_without_bob(&fx);
    let with_pending = std::fs::read(fx.store().join("seals/vault-root.json")).unwrap();
    let expected = fx
        .unseal("vault-root", &["alice", "bob", "carol"])
        .ok()
        .stdout;
    fx.zeroth()
        .args(["rekey", "vault-root", "--confirm", &id, "--share"])
        .args(new_shares(&out, &["alice", "carol", "dave"]))
        .run()
        .ok();
    let current = std::fs::read(fx.store().join("seals/vault-root.json")).unwrap();
    // The copy from before the confirm, which still says the operation is pending.
    std::fs::write(fx.store().join("seals/vault-root.json"), &with_pending).unwrap();
    fx.zeroth()
        .args(["rekey", "vault-root", "--cancel", &id])
        .run()
        .fails(3, &["older than the log"]);
    assert_eq!(seal_keys(&fx), ["zeroth:prod:vault-root:v1:s2"]);
    std::fs::write(fx.store().join("seals/vault-root.json"), &current).unwrap();
    fx.zeroth()
        .args(["rekey", "vault-root", "--cancel", &id])
        .run()
        .fails(
            3,
            &[&format!("operation {id} of 'vault-root' was confirmed")],
        );
    let now = fx
        .zeroth()
        .args(["unseal", "vault-root", "--output", "-", "--share"])
        .args(new_shares(&out, &["carol", "dave", "erin"]))
        .run()
        .ok()
        .stdout;
    assert_eq!(now, expected);
}

// ---- 5. unsigned lines are not evidence ---------------------------------------------

fn append_line(fx: &Fixture, env: &str, edit: impl FnOnce(&mut serde_json::Value)) {
    let path = fx.store().join(format!("logs/{env}.jsonl"));
    let text = std::fs::read_to_string(&path).unwrap();
    let last = text.lines().last().unwrap();
    let mut v: serde_json::Value = serde_json::from_str(last).unwrap();
    v["seq"] = (v["seq"].as_u64().unwrap() + 1).into();
    v["prev"] = zeroth::audit::link_hash(last.as_bytes()).into();
    v["key"] = serde_json::Value::Null;
    v["unsigned"] = "the HSM could not be used".into();
    v["sig"] = serde_json::Value::Null;
    v["rejected"] = serde_json::json!([]);
    edit(&mut v);
    // `sig` must stay the last member.
    let sig = v.as_object_mut().unwrap().remove("sig").unwrap();
    let mut line = serde_json::to_string(&v).unwrap();
    line.pop();
    line.push_str(&format!(",\"sig\":{sig}}}\n"));
    std::fs::write(&path, format!("{text}{line}")).unwrap();
}

#[test]
fn a_hand_written_unsigned_drill_is_damage_and_clears_nothing() {
    let fx = Fixture::sealed();
    let later = "2027-12-01T00:00:00Z";
    let (_, findings) = check_json_at(&fx, later, &[]);
    assert!(findings.iter().any(|f| f["id"] == "recovery-untested"));
    append_line(&fx, "prod", |v| {
        v["event"] = "drill".into();
        v["outcome"] = "ok".into();
        v["time"] = "2027-11-30T00:00:00Z".into();
        v["detail"] = "5 of 5 shares proven".into();
    });
    let run = fx.audit_verify();
    assert_eq!(run.code, 3);
    for f in [
        "unsigned success",
        "claims a successful drill without a signature",
    ] {
        assert!(run.stdout_str().contains(f), "{}", run.stdout_str());
    }
    let (code, findings) = check_json_at(&fx, later, &[]);
    assert_eq!(code, 1);
    assert!(
        findings.iter().any(|f| f["id"] == "recovery-untested"),
        "{findings:?}"
    );
    assert!(
        findings.iter().any(|f| f["id"] == "log-damaged"),
        "{findings:?}"
    );
    // No later signed ceremony makes it evidence: none signs over it (each entry since
    // the token's anchor must verify first), so the next one refuses to begin.
    let run = fx.unseal("vault-root", &["alice", "bob", "carol"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    for f in [
        "entries after the last one token",
        "is unsigned and claims what only a signed entry can",
        "restore the log from a trusted copy",
    ] {
        assert!(run.stderr.contains(f), "{f}: {}", run.stderr);
    }
    let run = fx.audit_verify();
    assert_eq!(run.code, 3);
    assert!(
        run.stdout_str().contains("unsigned success"),
        "{}",
        run.stdout_str()
    );
    let report = fx.zeroth().args(["audit", "report", "vault-root"]).run();
    assert_eq!(report.code, 3);
    assert!(
        report.stdout_str().contains("(UNSIGNED: not evidence)"),
        "{}",
        report.stdout_str()
    );
}

#[test]
fn unsigned_refusals_raise_findings_and_backwards_time_is_flagged() {
    let fx = Fixture::sealed();
    append_line(&fx, "prod", |v| {
        v["event"] = "unseal".into();
        v["outcome"] = "refused".into();
        v["time"] = "2020-01-01T00:00:00Z".into();
        v["detail"] = "too few shares".into();
    });
    // The unsigned tail is a warning; the refusal counts as a failed unseal; the time
    // going backwards is flagged.
    let (_, findings) = check_json(&fx, &[]);
    for id in ["log-unsigned", "failed-unseals", "log-time-backwards"] {
        assert!(findings.iter().any(|f| f["id"] == id), "{id}: {findings:?}");
    }
    let run = fx.audit_verify();
    assert!(
        run.stdout_str()
            .contains("the time goes backwards at entries 3"),
        "{}",
        run.stdout_str()
    );
    let shown = fx.zeroth().args(["audit", "show"]).run().ok().stdout_str();
    assert!(shown.contains("unsigned,time<"), "{shown}");
}

// ---- 6. a store older than its token -------------------------------------------------

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

#[test]
fn a_whole_store_rolled_back_is_caught_against_the_token() {
    let fx = Fixture::sealed();
    let backup = fx.path().join("backup");
    copy_dir(&fx.store(), &backup);
    // An unseal the attacker wants erased.
    fx.unseal("vault-root", &["alice", "bob", "carol"]).ok();
    std::fs::remove_dir_all(fx.store()).unwrap();
    copy_dir(&backup, &fx.store());
    // Offline, the old copy is consistent ...
    fx.audit_verify().ok();
    // ... but the token saw a newer log.
    unchanged(&fx, &["prod"], || {
        fx.zeroth()
            .args(["drill", "vault-root", "--share"])
            .args(three(&fx))
            .run()
    })
    .fails(
        3,
        &[
            "the store is older than the token",
            "restore the newest copy",
        ],
    );
    let (code, findings) = check_json(&fx, &["--hsm"]);
    assert_eq!(code, 1);
    assert!(
        findings.iter().any(|f| f["id"] == "store-rollback"),
        "{findings:?}"
    );
}

#[test]
fn an_old_record_alone_is_caught_against_the_log() {
    let fx = Fixture::sealed();
    let old = std::fs::read(fx.store().join("seals/vault-root.json")).unwrap();
    fx.drill_all();
    std::fs::write(fx.store().join("seals/vault-root.json"), &old).unwrap();
    let (code, findings) = check_json(&fx, &[]);
    assert_eq!(code, 1);
    assert!(
        findings.iter().any(|f| f["id"] == "record-stale"),
        "{findings:?}"
    );
    let list = fx.zeroth().arg("list").run().ok().stdout_str();
    assert!(list.contains("stale"), "{list}");
}

// ---- 7. security-relevant configuration is signed ------------------------------------

#[test]
fn offboarding_and_policy_edits_in_the_store_silence_nothing() {
    let fx = Fixture::sealed();
    fx.zeroth()
        .args(["custodian", "offboard", "bob"])
        .run()
        .ok();
    let (_, findings) = check_json(&fx, &[]);
    assert!(findings.iter().any(|f| f["id"] == "offboarded-holder"));
    // Removing the offboarding from zeroth.toml changes nothing: it was signed in.
    let text = std::fs::read_to_string(config_path(&fx)).unwrap();
    let start = text.find("[custodians.bob]").unwrap();
    std::fs::write(config_path(&fx), &text[..start]).unwrap();
    let (code, findings) = check_json(&fx, &[]);
    assert_eq!(code, 1);
    assert!(
        findings.iter().any(|f| f["id"] == "offboarded-holder"),
        "{findings:?}"
    );
    assert!(
        findings.iter().any(|f| f["id"] == "settings-unapproved"),
        "{findings:?}"
    );
    // A relaxed policy does not count until approved.
    std::fs::write(
        config_path(&fx),
        text[..start].replace("recovery_test_days = 180", "recovery_test_days = 3650"),
    )
    .unwrap();
    let (_, findings) = check_json_at(&fx, "2027-12-01T00:00:00Z", &[]);
    assert!(
        findings.iter().any(|f| f["id"] == "recovery-untested"),
        "{findings:?}"
    );
    // An offboarded custodian cannot come back under another case.
    unchanged(&fx, &["prod"], || {
        fx.generate_cmd("other", "prod", 2, 1)
            .args(["--custodian", "Bob"])
            .run()
    })
    .fails(3, &["custodian 'Bob' was offboarded (as 'bob')"]);
    fx.zeroth()
        .args(["custodian", "offboard", "BOB"])
        .run()
        .fails(3, &["custodian 'bob' was already offboarded"]);
    // The settings file itself edited: refused, named.
    let settings = fx.store().join("settings/prod.json");
    replace_in(
        &settings,
        "\"recovery_test_days\": 180",
        "\"recovery_test_days\": 3650",
    );
    let (code, findings) = check_json(&fx, &[]);
    assert_eq!(code, 1);
    assert!(
        findings.iter().any(|f| f["id"] == "settings-invalid"),
        "{findings:?}"
    );
}

#[test]
fn dealing_names_each_recipient_by_its_fingerprint() {
    let fx = Fixture::new();
    fx.env_init("prod", "prod").ok();
    let dir = fx.path().join("keys");
    std::fs::create_dir(&dir).unwrap();
    let key = dir.join("alice.agekey");
    assert!(
        std::process::Command::new("age-keygen")
            .arg("-o")
            .arg(&key)
            .output()
            .unwrap()
            .status
            .success()
    );
    let out = std::process::Command::new("age-keygen")
        .arg("-y")
        .arg(&key)
        .output()
        .unwrap();
    let recipient = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let run = fx
        .generate_cmd("vault-root", "prod", 2, 0)
        .arg("--custodian")
        .arg(format!("alice={recipient}"))
        .args(["--custodian", "bob", "--custodian", "carol"])
        .run()
        .ok();
    assert!(
        run.stdout_str()
            .contains(&format!("(encrypted to their age X25519 key {recipient})")),
        "{}",
        run.stdout_str()
    );
}

// ---- 8. the filesystem ----------------------------------------------------------------

#[test]
fn links_and_special_files_in_the_store_are_not_followed() {
    let fx = Fixture::sealed();
    let victim = fx.path().join("victim");
    std::fs::write(&victim, b"precious").unwrap();
    std::fs::remove_file(fx.store().join(".lock")).ok();
    std::os::unix::fs::symlink(&victim, fx.store().join(".lock")).unwrap();
    fx.zeroth()
        .args(["drill", "vault-root", "--share"])
        .args(three(&fx))
        .run()
        .fails(4, &[".lock", "symbolic link"]);
    assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
    std::fs::remove_file(fx.store().join(".lock")).unwrap();
    let log = fx.store().join("logs/prod.jsonl");
    let saved = fx.path().join("prod.jsonl");
    std::fs::rename(&log, &saved).unwrap();
    std::os::unix::fs::symlink(&victim, &log).unwrap();
    let run = fx
        .zeroth()
        .args(["drill", "vault-root", "--share"])
        .args(three(&fx))
        .run();
    assert_ne!(run.code, 0);
    assert!(run.stderr.contains("symbolic link"), "{}", run.stderr);
    assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
    std::fs::remove_file(&log).unwrap();
    std::fs::rename(&saved, &log).unwrap();
    // A FIFO given as a share is refused at once, before the store lock is taken.
    let fifo = fx.path().join("share.fifo");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let mut shares = three(&fx);
    shares[1] = fifo.clone();
    unchanged(&fx, &["prod"], || unseal_with(&fx, &shares).run())
        .fails(2, &["share.fifo", "is not a regular file (a FIFO)"]);
    fx.zeroth()
        .args(["drill", "vault-root", "--share"])
        .args(three(&fx))
        .arg("--identity")
        .arg(&fifo)
        .run()
        .fails(2, &["--identity", "share.fifo", "a FIFO"]);
}

// ---- 9. terminal escapes --------------------------------------------------------------

#[test]
fn escapes_from_shares_and_the_log_never_reach_a_terminal_or_a_report() {
    let fx = Fixture::sealed();
    let text = std::fs::read_to_string(fx.share("vault-root", "alice")).unwrap();
    let bad = fx.path().join("alice-esc.share");
    std::fs::write(
        &bad,
        text.replace("Custodian: alice", "Custodian: alice\u{1b}]2;pwned\u{7}"),
    )
    .unwrap();
    let run = fx.zeroth().args(["share", "verify"]).arg(&bad).run();
    run_fails_with(&run, 3, &["'Custodian:' header is not valid"]);
    assert!(!run.stderr.contains('\u{1b}') && !run.stdout_str().contains('\u{1b}'));
    append_line(&fx, "prod", |v| {
        v["event"] = "unseal".into();
        v["outcome"] = "refused".into();
        v["seal"] = "vault-root".into();
        v["operator"] = "eve\u{1b}[2J".into();
        v["detail"] = "[click](http://evil) | *bold* \u{1b}[31m".into();
    });
    let shown = fx.zeroth().args(["audit", "show"]).run().ok();
    assert!(
        !shown.stdout_str().contains('\u{1b}'),
        "{}",
        shown.stdout_str()
    );
    assert!(
        shown.stdout_str().contains("eve\\u{1b}[2J"),
        "{}",
        shown.stdout_str()
    );
    let report = fx
        .zeroth()
        .args(["audit", "report", "vault-root"])
        .run()
        .stdout_str();
    assert!(!report.contains('\u{1b}'), "{report}");
    assert!(
        report.contains("\\[click\\]\\(http://evil\\) \\| \\*bold\\*"),
        "{report}"
    );
}

// ---- 10. reuse tags of short secrets --------------------------------------------------

#[test]
fn a_short_imported_secret_keeps_no_reuse_tag() {
    let fx = Fixture::new();
    fx.env_init("prod", "prod").ok();
    fx.import_cmd("pin", "prod", 2, 3, b"4711").run().ok();
    fx.import_cmd("long", "prod", 2, 3, b"a secret of twenty bytes")
        .run()
        .ok();
    assert!(fx.record("pin")["credential"].get("reuse").is_none());
    assert!(fx.record("long")["credential"]["reuse"]["tag"].is_string());
    let (_, findings) = check_json(&fx, &[]);
    let f = findings
        .iter()
        .find(|f| f["id"] == "reuse-unchecked")
        .unwrap_or_else(|| panic!("{findings:?}"));
    assert_eq!(f["seal"], "pin");
    assert!(f["message"].as_str().unwrap().contains("cannot be judged"));
}

// ---- 12. --json and --output - -------------------------------------------------------

#[test]
fn a_json_error_goes_to_stderr_when_stdout_carries_the_credential() {
    let fx = Fixture::sealed();
    let run = fx
        .zeroth()
        .args(["--json", "unseal", "vault-root", "--output", "-", "--share"])
        .arg(fx.share("vault-root", "alice"))
        .run();
    assert_eq!(run.code, 3);
    assert!(run.stdout.is_empty(), "{}", run.stdout_str());
    assert!(run.stderr.contains("\"exit_code\": 3"), "{}", run.stderr);
    // Elsewhere the JSON error is on stdout, as before.
    let run = fx
        .zeroth()
        .args(["--json", "drill", "vault-root", "--share"])
        .arg(fx.share("vault-root", "alice"))
        .run();
    assert!(
        run.stdout_str().contains("\"exit_code\": 3"),
        "{}",
        run.stdout_str()
    );
}

// ---- helpers -----------------------------------------------------------------------

fn check_json(fx: &Fixture, extra: &[&str]) -> (i32, Vec<serde_json::Value>) {
    check_json_with(fx.zeroth(), extra)
}

fn check_json_at(fx: &Fixture, now: &str, extra: &[&str]) -> (i32, Vec<serde_json::Value>) {
    check_json_with(fx.zeroth().env("ZEROTH_NOW", now), extra)
}

fn check_json_with(cmd: Cmd<'_>, extra: &[&str]) -> (i32, Vec<serde_json::Value>) {
    let run = cmd.args(["--json", "check"]).args(extra).run();
    let v: serde_json::Value = serde_json::from_slice(&run.stdout)
        .unwrap_or_else(|_| panic!("{}\n{}", run.stdout_str(), run.stderr));
    (
        run.code,
        v["findings"].as_array().cloned().unwrap_or_default(),
    )
}

// ---- the cache of `list` ------------------------------------------------------------

fn list_entry(fx: &Fixture, seal: &str) -> serde_json::Value {
    let run = fx.zeroth().args(["--json", "list"]).run().ok();
    let v: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    v["seals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == seal)
        .cloned()
        .unwrap()
}

/// The directory of `list`'s cache for the key that signed `seal`'s record and this
/// store.
fn list_cache(fx: &Fixture, seal: &str) -> PathBuf {
    let key = fx.record(seal)["signature"]["key"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:")
        .to_string();
    let store = std::fs::canonicalize(fx.store()).unwrap();
    let place = hex::encode(sha2::Sha256::digest(store.as_os_str().as_encoded_bytes()));
    fx.cache_home()
        .join(format!("zeroth/list/{key}/{}", &place[..16]))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// `list` keeps, for each record file that verified, the digest of its bytes and its row
/// in a cache outside the store (per user, one directory per pinned key, mode 0600), and
/// verifies in full any record whose bytes changed: an edit is caught on every run. A
/// damaged cache only costs time. The cache is what `list` trusts for an unchanged file,
/// and `check` never reads it.
#[test]
fn the_list_cache_lives_outside_the_store_and_never_hides_an_edit() {
    let fx = Fixture::sealed();
    assert!(list_entry(&fx, "vault-root")["problem"].is_null());
    let rows = list_cache(&fx, "vault-root").join("rows.bin");
    let bytes = std::fs::read(&rows).expect("list wrote its cache");
    assert_eq!(
        std::fs::metadata(&rows).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let record_path = fx.store().join("seals/vault-root.json");
    let original = std::fs::read(&record_path).unwrap();
    let digest: [u8; 32] = sha2::Sha256::digest(&original).into();
    assert!(
        find(&bytes, &digest).is_some(),
        "the cache holds the record's digest"
    );
    assert!(
        std::fs::read_dir(fx.store()).unwrap().all(|e| {
            let name = e.unwrap().file_name();
            !name.to_string_lossy().contains("cache")
        }),
        "nothing is cached in the store"
    );

    // An edited record is verified in full, and fails.
    let mut r = fx.record("vault-root");
    r["purpose"] = "edited by someone".into();
    fx.write_record("vault-root", &r);
    let edited = std::fs::read(&record_path).unwrap();
    for _ in 0..2 {
        let e = list_entry(&fx, "vault-root");
        assert!(
            e["problem"]
                .as_str()
                .is_some_and(|p| p.contains("fails its signature check")),
            "{e}"
        );
    }
    // The original bytes verify again; a damaged cache is only read past.
    std::fs::write(&record_path, &original).unwrap();
    std::fs::write(&rows, b"not a cache").unwrap();
    let e = list_entry(&fx, "vault-root");
    assert!(e["problem"].is_null(), "{e}");
    let bytes = std::fs::read(&rows).unwrap();
    let at = find(&bytes, &digest).expect("the cache is written again");

    // What `list` trusts is this user's cache: putting the edited file's digest in the
    // place of the original's makes `list` show the row that verified, without looking
    // at the edited file; `check` never reads the cache.
    let mut planted = bytes.clone();
    planted[at..at + 32].copy_from_slice(&<[u8; 32]>::from(sha2::Sha256::digest(&edited)));
    std::fs::write(&rows, planted).unwrap();
    std::fs::write(&record_path, &edited).unwrap();
    let e = list_entry(&fx, "vault-root");
    assert!(e["problem"].is_null(), "{e}");
    assert_ne!(
        e["purpose"], "edited by someone",
        "the row is the cached one"
    );
    let (code, findings) = check_json(&fx, &[]);
    assert_eq!(code, 1);
    assert!(
        findings
            .iter()
            .any(|f| f["id"] == "record-invalid" && f["seal"] == "vault-root"),
        "{findings:?}"
    );
}

/// The log's part of `list` (each seal's last unseal and drill, the check that a record
/// is not an old copy) comes from the cache only while the log, its head and the
/// records' log heads are as they were: a ceremony, a restored old record or a damaged
/// cache makes `list` read the log again. An edit before the log's end that keeps its
/// length and last line leaves `list` showing what verified; `check` names the damage.
#[test]
fn the_list_view_of_the_log_follows_every_change() {
    let fx = Fixture::sealed();
    let before = list_entry(&fx, "vault-root");
    assert!(before["last_drilled"].is_null(), "{before}");
    let view = list_cache(&fx, "vault-root").join("prod.view.bin");
    assert!(view.exists(), "list kept its view of the log");
    assert_eq!(
        std::fs::metadata(&view).unwrap().permissions().mode() & 0o777,
        0o600
    );

    // A drill appends to the log (and rewrites the record): the next list shows it.
    let old = std::fs::read(fx.store().join("seals/vault-root.json")).unwrap();
    fx.drill_all();
    let drilled = list_entry(&fx, "vault-root");
    assert!(drilled["last_drilled"].is_string(), "{drilled}");
    assert_eq!(
        list_entry(&fx, "vault-root"),
        drilled,
        "and again, from the cache"
    );

    // An old copy of the record restored: stale, cache or not.
    let current = std::fs::read(fx.store().join("seals/vault-root.json")).unwrap();
    std::fs::write(fx.store().join("seals/vault-root.json"), &old).unwrap();
    for _ in 0..2 {
        let e = list_entry(&fx, "vault-root");
        assert!(e["stale"].is_string(), "{e}");
    }
    std::fs::write(fx.store().join("seals/vault-root.json"), &current).unwrap();
    assert_eq!(list_entry(&fx, "vault-root"), drilled);

    // A damaged view is read past.
    std::fs::write(&view, b"\0\0\0").unwrap();
    assert_eq!(list_entry(&fx, "vault-root"), drilled);

    // The first entry's operator rewritten to a name of the same length: the chain
    // breaks at entry 2, the log keeps its length and its last line.
    let log = fx.store().join("logs/prod.jsonl");
    let text = std::fs::read_to_string(&log).unwrap();
    let first = text.lines().next().unwrap();
    let operator = serde_json::from_str::<serde_json::Value>(first).unwrap()["operator"]
        .as_str()
        .unwrap()
        .to_string();
    let other: String = operator.chars().map(|_| 'x').collect();
    assert_ne!(operator, other);
    let forged = first.replacen(
        &format!("\"operator\":\"{operator}\""),
        &format!("\"operator\":\"{other}\""),
        1,
    );
    assert_ne!(forged, first);
    std::fs::write(&log, text.replacen(first, &forged, 1)).unwrap();
    assert_eq!(list_entry(&fx, "vault-root"), drilled);
    let (code, findings) = check_json(&fx, &[]);
    assert_eq!(code, 1);
    assert!(
        findings.iter().any(|f| f["id"] == "log-damaged"),
        "{findings:?}"
    );
    // With the cache gone, list reads the damaged log: the drill, after the break, is
    // still vouched for by its own signature.
    std::fs::remove_dir_all(fx.cache_home().join("zeroth")).unwrap();
    let e = list_entry(&fx, "vault-root");
    assert_eq!(e["last_drilled"], drilled["last_drilled"], "{e}");
}

/// Two copies of one store (two checkouts, a backup) keep a cache each: listing one
/// does not throw away what the other's listing kept.
#[test]
fn each_copy_of_a_store_keeps_its_own_list_cache() {
    let fx = Fixture::sealed();
    list_entry(&fx, "vault-root");
    let copy = fx.path().join("store-copy");
    copy_dir(&fx.store(), &copy);
    let run = fx
        .zeroth()
        .arg("--store")
        .arg(&copy)
        .args(["--json", "list"])
        .run()
        .ok();
    let v: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert!(v["seals"][0]["problem"].is_null(), "{v}");
    let mine = list_cache(&fx, "vault-root");
    let key_dir = mine.parent().unwrap();
    let places: Vec<_> = std::fs::read_dir(key_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(places.len(), 2, "{places:?}");
    for p in &places {
        assert!(p.join("rows.bin").exists(), "{}", p.display());
        assert!(p.join("prod.view.bin").exists(), "{}", p.display());
    }
}
