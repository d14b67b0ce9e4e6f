//! `check` and `list`: for each finding, a store that triggers it and a clean store that
//! does not; the exit code and the `--json` shape are part of the promise.

use std::path::Path;

#[path = "../../examples/common/bigstore.rs"]
mod bigstore;
use crate::soft_key;

use serde_json::{Value, json};
use std::os::unix::fs::PermissionsExt;

use crate::common::*;

/// Runs `check --json` (with `extra` arguments and the clock at `now`, if given) and
/// returns the exit code and the findings.
fn check(fx: &Fixture, now: Option<&str>, extra: &[&str]) -> (i32, Vec<Value>, Value) {
    let mut c = fx.zeroth().args(["--json", "check"]).args(extra);
    if let Some(t) = now {
        c = c.env("ZEROTH_NOW", t);
    }
    let run = c.run();
    let json: Value = serde_json::from_slice(&run.stdout)
        .unwrap_or_else(|e| panic!("check --json: {e}: {}{}", run.stdout_str(), run.stderr));
    let findings = json["findings"].as_array().cloned().unwrap_or_default();
    (run.code, findings, json)
}

fn ids(findings: &[Value]) -> Vec<String> {
    findings
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_string())
        .collect()
}

#[track_caller]
fn has(findings: &[Value], id: &str) -> Value {
    findings
        .iter()
        .find(|f| f["id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("no {id} finding in {:?}", ids(findings)))
}

#[track_caller]
fn lacks(findings: &[Value], id: &str) {
    assert!(
        !findings.iter().any(|f| f["id"] == id),
        "unexpected {id} in {findings:?}"
    );
}

fn drill_all(fx: &Fixture, seal: &str, n: usize, now: Option<&str>) {
    let mut c = fx
        .zeroth()
        .args(["drill", seal, "--share"])
        .args(CUSTODIANS[..n].iter().map(|w| fx.share(seal, w)));
    if let Some(t) = now {
        c = c.env("ZEROTH_NOW", t);
    }
    c.run().ok();
}

fn set_policy(fx: &Fixture, policy: &str) {
    let path = fx.store().join("zeroth.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let start = text.find("[policy]").unwrap();
    let end = text[start + 8..]
        .find("\n[")
        .map(|i| start + 8 + i + 1)
        .unwrap_or(text.len());
    std::fs::write(
        &path,
        format!("{}[policy]\n{policy}\n{}", &text[..start], &text[end..]),
    )
    .unwrap();
}

const T0: &str = "2030-01-01T00:00:00Z";

/// Seals `seal` at T0, 2 or 3 of the first `n` custodians, rotation every year, with
/// `extra` flags.
fn seal_at_t0(fx: &Fixture, seal: &str, t: u8, n: usize, extra: &[&str]) {
    let mut c = fx
        .zeroth()
        .env("ZEROTH_NOW", T0)
        .args([
            "generate",
            seal,
            "--env",
            "prod",
            "--owner",
            "platform",
            "--purpose",
            "unseal vault",
        ])
        .args(["--unlocks", &format!("app:{seal}")])
        .args([
            "--threshold",
            &t.to_string(),
            "--rotate-every",
            "1y",
            "--out-dir",
        ])
        .arg(fx.shares_dir())
        .args(extra);
    for w in &CUSTODIANS[..n] {
        c = c.args(["--custodian", w]);
    }
    c.run().ok();
}

/// A store sealed at T0 (3-of-5, rotation every year), drilled with every share.
fn clean_at_t0() -> Fixture {
    let fx = Fixture::new();
    fx.zeroth()
        .env("ZEROTH_NOW", T0)
        .args(["env", "init", "prod", "--token", "prod", "--module"])
        .arg(module())
        .run()
        .ok();
    seal_at_t0(&fx, "vault-root", 3, 5, &[]);
    drill_all(&fx, "vault-root", 5, Some(T0));
    fx.revoke_drill("vault-root", Some(T0));
    fx
}

#[test]
fn a_clean_store_has_no_findings_and_exits_0() {
    let fx = clean_at_t0();
    let (code, findings, json) = check(&fx, Some("2030-02-01T00:00:00Z"), &[]);
    assert_eq!(code, 0, "{findings:?}");
    assert!(findings.is_empty(), "{findings:?}");
    assert_eq!(json["summary"]["errors"], 0);
    assert_eq!(json["summary"]["warnings"], 0);
    assert_eq!(json["summary"]["seals"], 1);
    assert_eq!(json["policy"]["recovery_test_days"], 180);
    let text = fx
        .zeroth()
        .env("ZEROTH_NOW", "2030-02-01T00:00:00Z")
        .arg("check")
        .run()
        .ok()
        .stdout_str();
    assert!(
        text.contains("0 errors, 0 warnings in 1 seal and 1 environment"),
        "{text}"
    );
    // And with the tokens inspected.
    let (code, findings, _) = check(&fx, Some("2030-02-01T00:00:00Z"), &["--hsm"]);
    assert_eq!((code, findings.len()), (0, 0), "{findings:?}");
}

#[test]
fn the_json_shape_of_a_finding() {
    let fx = clean_at_t0();
    let (code, findings, json) = check(&fx, Some("2031-01-02T00:00:00Z"), &[]);
    assert_eq!(code, 1);
    let f = has(&findings, "rotation-overdue");
    for key in ["id", "severity", "env", "seal", "message", "action"] {
        assert!(f.get(key).is_some(), "{key} missing in {f}");
    }
    assert_eq!(f["severity"], "error");
    assert_eq!(f["env"], "prod");
    assert_eq!(f["seal"], "vault-root");
    assert!(
        f["action"]
            .as_str()
            .unwrap()
            .contains("zeroth rotate vault-root")
    );
    assert!(json["summary"]["errors"].as_u64().unwrap() >= 1);
}

#[test]
fn rotation_overdue() {
    let fx = clean_at_t0();
    lacks(
        &check(&fx, Some("2030-12-30T00:00:00Z"), &[]).1,
        "rotation-overdue",
    );
    let (code, findings, _) = check(&fx, Some("2031-01-02T00:00:00Z"), &[]);
    assert_eq!(code, 1);
    assert!(
        has(&findings, "rotation-overdue")["message"]
            .as_str()
            .unwrap()
            .contains("every 365 days")
    );
}

#[test]
fn expired_and_expiring_soon() {
    let fx = Fixture::new();
    fx.zeroth()
        .env("ZEROTH_NOW", T0)
        .args(["env", "init", "prod", "--token", "prod", "--module"])
        .arg(module())
        .run()
        .ok();
    seal_at_t0(&fx, "api", 2, 3, &["--expires", "2030-03-01"]);
    drill_all(&fx, "api", 3, Some(T0));
    fx.revoke_drill("api", Some(T0));
    let (code, findings, _) = check(&fx, Some("2030-01-15T00:00:00Z"), &[]);
    assert_eq!((code, ids(&findings)), (0, vec![]));
    let (code, findings, _) = check(&fx, Some("2030-02-10T00:00:00Z"), &[]);
    assert_eq!(code, 0, "a warning does not fail check");
    assert_eq!(has(&findings, "expiring-soon")["severity"], "warning");
    let (code, findings, _) = check(&fx, Some("2030-03-02T00:00:00Z"), &[]);
    assert_eq!(code, 1);
    has(&findings, "expired");
    lacks(&findings, "expiring-soon");
}

#[test]
fn recovery_untested_and_the_policy_that_sets_it() {
    let fx = clean_at_t0();
    lacks(
        &check(&fx, Some("2030-06-29T00:00:00Z"), &[]).1,
        "recovery-untested",
    );
    let (code, findings, _) = check(&fx, Some("2030-07-01T00:00:00Z"), &[]);
    assert_eq!(code, 1);
    has(&findings, "recovery-untested");
    // A successful unseal counts as a tested recovery.
    fx.unseal_cmd("vault-root", &["alice", "bob", "carol"])
        .env("ZEROTH_NOW", "2030-06-30T00:00:00Z")
        .args(["--output", "-"])
        .run()
        .ok();
    lacks(
        &check(&fx, Some("2030-07-01T00:00:00Z"), &[]).1,
        "recovery-untested",
    );
    // The window comes from [policy].
    set_policy(&fx, "recovery_test_days = 10");
    has(
        &check(&fx, Some("2030-07-20T00:00:00Z"), &[]).1,
        "recovery-untested",
    );
}

#[test]
fn share_unproven_names_the_custodian() {
    let fx = clean_at_t0();
    set_policy(&fx, "recovery_test_days = 1000\nshare_proof_days = 100");
    // A relaxed value counts once the environment approved it.
    fx.zeroth()
        .env("ZEROTH_NOW", "2030-01-02T00:00:00Z")
        .args(["settings", "approve", "--env", "prod", "--yes"])
        .run()
        .ok();
    // Drill with three shares later: dave and erin fall behind.
    fx.zeroth()
        .env("ZEROTH_NOW", "2030-03-01T00:00:00Z")
        .args(["drill", "vault-root", "--share"])
        .args(["alice", "bob", "carol"].map(|w| fx.share("vault-root", w)))
        .run()
        .ok();
    let (code, findings, _) = check(&fx, Some("2030-05-01T00:00:00Z"), &[]);
    assert_eq!((code, findings.len()), (0, 2), "{findings:?}");
    let who: Vec<&str> = findings
        .iter()
        .map(|f| f["custodian"].as_str().unwrap())
        .collect();
    assert_eq!(who, ["dave", "erin"]);
    assert_eq!(findings[0]["severity"], "warning");
}

#[test]
fn an_offboarded_custodian_still_holding_a_share() {
    let fx = Fixture::sealed();
    lacks(&check(&fx, None, &[]).1, "offboarded-holder");
    fx.zeroth()
        .args(["custodian", "offboard", "bob"])
        .run()
        .ok();
    let (code, findings, _) = check(&fx, None, &[]);
    assert_eq!(code, 1);
    let f = has(&findings, "offboarded-holder");
    assert_eq!(f["custodian"], "bob");
    assert!(f["action"].as_str().unwrap().contains("--without bob"));
    // A rekey without bob clears it.
    let new = fx.path().join("new");
    std::fs::create_dir(&new).unwrap();
    fx.zeroth()
        .args(["rekey", "vault-root", "--without", "bob", "--out-dir"])
        .arg(&new)
        .arg("--share")
        .args(["alice", "bob", "carol"].map(|w| fx.share("vault-root", w)))
        .run()
        .ok();
    let id = fx.record("vault-root")["pending"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    fx.zeroth()
        .args(["rekey", "vault-root", "--confirm", &id, "--share"])
        .args(["alice", "carol", "dave"].map(|w| new.join(format!("vault-root.{w}.share"))))
        .run()
        .ok();
    lacks(&check(&fx, None, &[]).1, "offboarded-holder");
}

#[test]
fn threshold_one_and_threshold_all() {
    let fx = Fixture::new();
    fx.env_init("prod", "prod").ok();
    fx.generate("fine", "prod", 2, 3).ok();
    fx.revoke_drill("fine", None);
    let (code, findings, _) = check(&fx, None, &[]);
    assert_eq!((code, findings.len()), (0, 0), "{findings:?}");
    fx.generate_cmd("solo", "prod", 1, 3)
        .arg("--allow-threshold-one")
        .run()
        .ok();
    fx.generate("everyone", "prod", 2, 2).ok();
    let (code, findings, _) = check(&fx, None, &[]);
    assert_eq!(code, 1);
    assert_eq!(has(&findings, "threshold-one")["seal"], "solo");
    let all = has(&findings, "threshold-all");
    assert_eq!(all["seal"], "everyone");
    assert_eq!(all["severity"], "warning");
}

#[test]
fn the_same_secret_in_two_environments() {
    let fx = Fixture::new();
    fx.init_token("dev");
    fx.env_init("prod", "prod").ok();
    fx.env_init("dev", "dev").ok();
    fx.import_cmd("root-token", "prod", 2, 3, b"correct horse battery staple")
        .run()
        .ok();
    fx.import_cmd("other", "dev", 2, 3, b"a different secret entirely")
        .run()
        .ok();
    fx.revoke_drill("root-token", None);
    fx.revoke_drill("other", None);
    let (code, findings, _) = check(&fx, None, &[]);
    assert_eq!((code, findings.len()), (0, 0), "{findings:?}");
    // The prod secret copied into dev.
    fx.import_cmd("dev-root", "dev", 2, 3, b"correct horse battery staple")
        .run()
        .ok();
    let (code, findings, _) = check(&fx, None, &[]);
    assert_eq!(code, 1);
    let f = has(&findings, "secret-reuse");
    let msg = f["message"].as_str().unwrap();
    assert!(
        msg.contains("'dev-root' (dev)") && msg.contains("'root-token' (prod)"),
        "{msg}"
    );
    // Nothing stored makes the secret guessable: the record keeps a 16-bit tag only.
    let record = fx.record("dev-root");
    let reuse = &record["credential"]["reuse"];
    assert_eq!(reuse["tag"].as_str().unwrap().len(), 4, "16 bits in hex");
    assert!(
        reuse.get("digest").is_none(),
        "no digest of an imported secret"
    );
    // A generated credential gets its marks at its first drill, with a full digest.
    fx.generate("gen", "prod", 2, 3).ok();
    assert!(fx.record("gen")["credential"].get("reuse").is_none());
    drill_all(&fx, "gen", 3, None);
    assert_eq!(
        fx.record("gen")["credential"]["reuse"]["digest"]
            .as_str()
            .unwrap()
            .len(),
        64
    );
    // --env dev still sees the pair, on dev's side; --env prod on prod's.
    let dev = has(&check(&fx, None, &["--env", "dev"]).1, "secret-reuse");
    assert_eq!(
        (dev["env"].as_str(), dev["seal"].as_str()),
        (Some("dev"), Some("dev-root"))
    );
    let prod = has(&check(&fx, None, &["--env", "prod"]).1, "secret-reuse");
    assert_eq!(
        (prod["env"].as_str(), prod["seal"].as_str()),
        (Some("prod"), Some("root-token"))
    );
}

#[test]
fn one_token_serving_two_environments() {
    let fx = Fixture::sealed();
    lacks(&check(&fx, None, &[]).1, "token-shared");
    // A hand-edited config (a bad merge, say) binds staging to prod's token.
    let path = fx.store().join("zeroth.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let start = text.find("[env.prod]").unwrap();
    let block: String = text[start..]
        .lines()
        .take_while(|l| !l.is_empty())
        .skip(1)
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&path, format!("{text}\n[env.staging]\n{block}")).unwrap();
    std::fs::copy(
        fx.store().join("keys/prod.pem"),
        fx.store().join("keys/staging.pem"),
    )
    .unwrap();
    let (code, findings, _) = check(&fx, None, &[]);
    assert_eq!(code, 1);
    assert!(
        has(&findings, "token-shared")["message"]
            .as_str()
            .unwrap()
            .contains("prod and staging")
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let dest = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

#[test]
fn tokens_inspected_with_hsm() {
    let fx = Fixture::sealed();
    fx.revoke_drill("vault-root", None);
    let (code, findings, _) = check(&fx, None, &["--hsm"]);
    assert_eq!((code, findings.len()), (0, 0), "{findings:?}");

    // An orphan key, left by a generate that crashed before its record.
    let crashed = fx
        .generate_cmd("crashed", "prod", 2, 3)
        .env("ZEROTH_CRASH_AT", "generate:after-key")
        .run();
    assert_eq!(crashed.code, -1);
    lacks(&check(&fx, None, &[]).1, "orphan-key");
    let (code, findings, _) = check(&fx, None, &["--hsm"]);
    assert_eq!(code, 0, "an orphan key is a warning");
    assert!(
        has(&findings, "orphan-key")["message"]
            .as_str()
            .unwrap()
            .contains("zeroth:prod:crashed:v1:s1")
    );
    fx.zeroth()
        .args(["cleanup", "--env", "prod", "--destroy"])
        .run()
        .ok();
    lacks(&check(&fx, None, &["--hsm"]).1, "orphan-key");

    // A revoked seal whose key came back: the token restored from a backup.
    let backup = fx.path().join("token-backup");
    copy_dir(&fx.token_dir(), &backup);
    fx.zeroth()
        .args([
            "revoke",
            "vault-root",
            "--reason",
            "drill",
            "--confirm-seal",
            "vault-root",
        ])
        .run()
        .ok();
    lacks(&check(&fx, None, &["--hsm"]).1, "revoked-key-present");
    std::fs::remove_dir_all(fx.token_dir()).unwrap();
    copy_dir(&backup, &fx.token_dir());
    let (code, findings, _) = check(&fx, None, &["--hsm"]);
    assert_eq!(code, 1);
    assert_eq!(has(&findings, "revoked-key-present")["seal"], "vault-root");
}

#[test]
fn a_token_without_its_marker_or_out_of_reach() {
    let fx = Fixture::sealed();
    lacks(&check(&fx, None, &["--hsm"]).1, "token-unmarked");
    fx.reinit_token("prod");
    let (code, findings, _) = check(&fx, None, &["--hsm"]);
    assert_eq!(code, 1);
    has(&findings, "token-unmarked");
    // The module zeroth.toml names is not what is loaded: the trust file's is.
    let path = fx.store().join("zeroth.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let module = module();
    std::fs::write(
        &path,
        text.replace(module.to_str().unwrap(), "/nonexistent/module.so"),
    )
    .unwrap();
    let (_, findings, _) = check(&fx, None, &["--hsm"]);
    lacks(&findings, "token-unreachable");
    // A pinned module that is not there (uninstalled).
    let trust = fx.trust_file();
    let text = std::fs::read_to_string(&trust).unwrap();
    std::fs::write(
        &trust,
        text.replace(module.to_str().unwrap(), "/nonexistent/module.so"),
    )
    .unwrap();
    let (code, findings, _) = check(&fx, None, &["--hsm"]);
    assert_eq!(code, 1);
    assert!(
        has(&findings, "token-unreachable")["message"]
            .as_str()
            .unwrap()
            .contains("/nonexistent/module.so")
    );
    // Without --hsm, check reads only the store.
    lacks(&check(&fx, None, &[]).1, "token-unreachable");
}

#[test]
fn a_damaged_or_unsigned_log() {
    let fx = Fixture::sealed();
    let (_, findings, _) = check(&fx, None, &[]);
    lacks(&findings, "log-damaged");
    lacks(&findings, "log-unsigned");
    // A wrong PIN leaves an unsigned tail: a warning until something signs over it.
    fx.unseal_cmd("vault-root", &["alice", "bob", "carol"])
        .env("ZEROTH_PIN", "999999")
        .args(["--output", "-"])
        .run();
    let (code, findings, _) = check(&fx, None, &[]);
    assert_eq!(code, 0);
    assert!(
        has(&findings, "log-unsigned")["action"]
            .as_str()
            .unwrap()
            .contains("audit attest")
    );
    fx.zeroth()
        .args(["audit", "attest", "--env", "prod"])
        .run()
        .ok();
    lacks(&check(&fx, None, &[]).1, "log-unsigned");
    // An edited line.
    let log = fx.store().join("logs/prod.jsonl");
    let text = std::fs::read_to_string(&log).unwrap().replacen(
        "\"outcome\":\"ok\"",
        "\"outcome\":\"refused\"",
        1,
    );
    std::fs::write(&log, text).unwrap();
    let (code, findings, _) = check(&fx, None, &[]);
    assert_eq!(code, 1);
    assert!(
        has(&findings, "log-damaged")["message"]
            .as_str()
            .unwrap()
            .contains("edited")
    );
}

#[test]
fn an_invalid_record() {
    let fx = Fixture::sealed();
    lacks(&check(&fx, None, &[]).1, "record-invalid");
    let mut r = fx.record("vault-root");
    r["threshold"] = 2.into();
    fx.write_record("vault-root", &r);
    let (code, findings, _) = check(&fx, None, &[]);
    assert_eq!(code, 1);
    assert!(
        has(&findings, "record-invalid")["message"]
            .as_str()
            .unwrap()
            .contains("fails its signature check")
    );
}

#[test]
fn a_stale_pending_operation() {
    let fx = clean_at_t0();
    let new = fx.path().join("new");
    std::fs::create_dir(&new).unwrap();
    fx.zeroth()
        .env("ZEROTH_NOW", "2030-01-02T00:00:00Z")
        .args(["rekey", "vault-root", "--out-dir"])
        .arg(&new)
        .arg("--share")
        .args(["alice", "bob", "carol"].map(|w| fx.share("vault-root", w)))
        .run()
        .ok();
    lacks(
        &check(&fx, Some("2030-01-05T00:00:00Z"), &[]).1,
        "pending-stale",
    );
    let (code, findings, _) = check(&fx, Some("2030-01-20T00:00:00Z"), &[]);
    assert_eq!(code, 0);
    assert!(
        has(&findings, "pending-stale")["action"]
            .as_str()
            .unwrap()
            .contains("--cancel")
    );
}

#[test]
fn failed_unseals_since_the_last_success() {
    let fx = Fixture::sealed();
    fx.unseal("vault-root", &["alice", "bob", "carol"]).ok();
    lacks(&check(&fx, None, &[]).1, "failed-unseals");
    fx.unseal("vault-root", &["alice"]).fails(3, &[]);
    fx.unseal("vault-root", &["bob"]).fails(3, &[]);
    let (code, findings, _) = check(&fx, None, &[]);
    assert_eq!(code, 0);
    assert!(
        has(&findings, "failed-unseals")["message"]
            .as_str()
            .unwrap()
            .starts_with("2 refused or failed")
    );
    fx.unseal("vault-root", &["alice", "bob", "carol"]).ok();
    lacks(&check(&fx, None, &[]).1, "failed-unseals");
}

#[test]
fn policy_mistakes_are_refused() {
    let fx = Fixture::sealed();
    set_policy(&fx, "recovery_test_dayz = 30");
    fx.zeroth()
        .arg("check")
        .run()
        .fails(2, &["zeroth.toml", "recovery_test_dayz"]);
    set_policy(&fx, "recovery_test_days = 0");
    fx.zeroth()
        .arg("check")
        .run()
        .fails(2, &["recovery_test_days = 0"]);
}

#[test]
fn list_filters_and_shows_recovery() {
    let fx = Fixture::sealed();
    let mut c = fx
        .zeroth()
        .args([
            "generate",
            "api",
            "--env",
            "prod",
            "--owner",
            "payments",
            "--purpose",
            "api",
            "--threshold",
            "2",
            "--rotate-every",
            "30d",
            "--out-dir",
        ])
        .arg(fx.shares_dir());
    for w in ["frank", "grace", "alice"] {
        c = c.args(["--custodian", w]);
    }
    c.run().ok();
    fx.unseal("vault-root", &["alice", "bob", "carol"]).ok();
    let json: Value = serde_json::from_slice(
        &fx.zeroth()
            .args(["--json", "list", "--owner", "payments"])
            .run()
            .ok()
            .stdout,
    )
    .unwrap();
    let seals = json["seals"].as_array().unwrap();
    assert_eq!(seals.len(), 1);
    assert_eq!(seals[0]["name"], "api");
    let json: Value = serde_json::from_slice(
        &fx.zeroth()
            .args(["--json", "list", "--custodian", "bob"])
            .run()
            .ok()
            .stdout,
    )
    .unwrap();
    let v = &json["seals"][0];
    assert_eq!(json["seals"].as_array().unwrap().len(), 1);
    assert_eq!(v["name"], "vault-root");
    assert!(v["last_unsealed"].is_string());
    assert!(v["last_drilled"].is_null());
    assert_eq!(v["purpose"], "unseal vault");
    let text = fx.zeroth().arg("list").run().ok().stdout_str();
    assert!(
        text.contains("UNSEALED") && text.contains("DRILLED"),
        "{text}"
    );
}

/// `check` and `list` of a store of many seals run without any HSM (scripts/bench.sh
/// times them on 10,000; the test uses fewer, on a debug build).
#[test]
fn check_of_a_large_store_needs_no_hsm() {
    let dir = tempfile::tempdir().unwrap();
    bigstore::write_store(dir.path(), 1000, 5000).unwrap();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_zeroth"))
            .arg("--store")
            .arg(dir.path())
            .args(args)
            .env_remove("ZEROTH_PIN")
            .env("SOFTHSM2_CONF", "/nonexistent")
            .env("KRYOPTIC_CONF", "/nonexistent")
            .output()
            .unwrap();
        (out.status.code(), out.stdout)
    };
    let (code, stdout) = run(&["--json", "check"]);
    assert_eq!(code, Some(1), "the fixture has overdue seals");
    let json: Value = serde_json::from_slice(&stdout).unwrap();
    assert_eq!(json["summary"]["seals"], 1000);
    let findings = json["findings"].as_array().unwrap();
    for id in [
        "rotation-overdue",
        "recovery-untested",
        "threshold-all",
        "expired",
    ] {
        has(findings, id);
    }
    lacks(findings, "record-invalid");
    lacks(findings, "log-damaged");
    let (code, stdout) = run(&["--json", "list"]);
    assert_eq!(code, Some(0));
    let json: Value = serde_json::from_slice(&stdout).unwrap();
    assert_eq!(json["seals"].as_array().unwrap().len(), 1000);
}

/// The check of a store runs without the HSM.
#[test]
fn check_needs_no_hsm() {
    let fx = Fixture::sealed();
    let run = fx
        .zeroth()
        .env(fx.kind.conf_var(), "/nonexistent")
        .env_remove("ZEROTH_PIN")
        .args(["check"])
        .run();
    assert_eq!(run.code, 0, "{}", run.stderr);
}

// ---- the revocation path ----------------------------------------------------------

/// `revoke --drill` proves the revocation path without using it: the token answers to
/// its PIN and signs, every key of the seal is on it and destroyable. Nothing is
/// destroyed, the record is not written, and the credential still opens; the signed
/// drill entry clears `revocation-untested` until the policy's days run out.
#[test]
fn a_revocation_drill_proves_the_path_and_destroys_nothing() {
    let fx = Fixture::sealed();
    let (code, findings, _) = check(&fx, None, &[]);
    assert_eq!(code, 0, "a warning does not fail check: {findings:?}");
    let f = has(&findings, "revocation-untested");
    assert_eq!(f["seal"], "vault-root");
    assert_eq!(f["severity"], "warning");
    assert!(
        f["message"].as_str().unwrap().contains("never drilled"),
        "{f}"
    );
    assert!(
        f["action"]
            .as_str()
            .unwrap()
            .contains("zeroth revoke vault-root --drill"),
        "{f}"
    );

    let record = std::fs::read(fx.store().join("seals/vault-root.json")).unwrap();
    let objects = without_log_anchor(&fx.token_objects("prod"));
    let label = fx.record("vault-root")["key"]["label"]
        .as_str()
        .unwrap()
        .to_string();
    let out = fx
        .zeroth()
        .args(["revoke", "vault-root", "--drill"])
        .run()
        .ok()
        .stdout_str();
    assert!(
        out.contains("revocation drill of 'vault-root' passed"),
        "{out}"
    );
    assert!(out.contains(&label), "{out}");
    assert!(out.contains("nothing was destroyed"), "{out}");
    assert_eq!(
        std::fs::read(fx.store().join("seals/vault-root.json")).unwrap(),
        record,
        "the record is not written"
    );
    assert_eq!(
        without_log_anchor(&fx.token_objects("prod")),
        objects,
        "no key destroyed"
    );
    let entry = fx.log_lines("prod").pop().unwrap();
    assert_eq!(entry["event"], "revoke-drill");
    assert_eq!(entry["outcome"], "ok");
    assert!(entry["sig"].is_string(), "the drill is signed: {entry}");
    assert!(
        entry["detail"].as_str().unwrap().contains(&label),
        "{entry}"
    );
    assert_eq!(
        fx.unseal("vault-root", &["alice", "bob", "carol"])
            .ok()
            .stdout
            .len(),
        64
    );
    fx.audit_verify().ok();

    let (_, findings, _) = check(&fx, None, &[]);
    lacks(&findings, "revocation-untested");
    let list = fx.zeroth().args(["--json", "list"]).run().ok();
    let v: Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(v["seals"][0]["last_revocation_drill"], entry["time"]);

    // A year and a day later, the drill is too old; a stricter policy says so sooner.
    let later = {
        let t = time::OffsetDateTime::parse(
            entry["time"].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap();
        (t + time::Duration::days(366))
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    let f = has(&check(&fx, Some(&later), &[]).1, "revocation-untested");
    assert!(
        f["message"].as_str().unwrap().contains("policy: 365 days"),
        "{f}"
    );
    let soon = {
        let t = time::OffsetDateTime::parse(
            entry["time"].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap();
        (t + time::Duration::days(31))
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    lacks(&check(&fx, Some(&soon), &[]).1, "revocation-untested");
    set_policy(&fx, "revocation_test_days = 30");
    let f = has(&check(&fx, Some(&soon), &[]).1, "revocation-untested");
    assert!(
        f["message"].as_str().unwrap().contains("policy: 30 days"),
        "{f}"
    );

    // A drill is not a revocation: it takes no reason and no confirmation, and revoke
    // without --drill still needs its reason.
    fx.zeroth()
        .args(["revoke", "vault-root", "--drill", "--reason", "x"])
        .run()
        .fails(2, &["--reason"]);
    fx.zeroth()
        .args(["revoke", "vault-root"])
        .run()
        .fails(2, &["--reason"]);
}

/// A revocation drill that cannot pass names why — the key gone from the token, a wrong
/// PIN, no token — and counts for nothing: the refusal is logged and
/// `revocation-untested` stays.
#[test]
fn a_revocation_drill_names_what_would_stop_the_revocation() {
    let fx = Fixture::sealed();
    let drill = || fx.zeroth().args(["revoke", "vault-root", "--drill"]);

    unchanged(&fx, &["prod"], || drill().env("ZEROTH_PIN", "999999").run())
        .fails(3, &["wrong PIN for token 'prod'"]);

    let none = Fixture::empty();
    unchanged(&fx, &["prod"], || {
        drill().env(fx.kind.conf_var(), &none.conf).run()
    })
    .fails(4, &["'prod'"]);

    // The key the record names, destroyed outside zeroth.
    let label = fx.record("vault-root")["key"]["label"]
        .as_str()
        .unwrap()
        .to_string();
    let mut c = fx.pkcs11_tool();
    c.args(["--token-label", "prod", "--login", "--pin", PIN])
        .args(["--delete-object", "--type", "secrkey", "--label", &label]);
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    unchanged(&fx, &["prod"], || drill().run()).fails(
        3,
        &[
            &format!("{label}, is not on token 'prod'"),
            "revoking would destroy nothing",
        ],
    );
    let entries = fx.log_lines("prod");
    let refused: Vec<&Value> = entries
        .iter()
        .filter(|e| e["event"] == "revoke-drill")
        .collect();
    assert_eq!(refused.len(), 3, "{refused:?}");
    assert!(refused.iter().all(|e| e["outcome"] != "ok"));
    has(&check(&fx, None, &[]).1, "revocation-untested");
}

// ---- check --metrics ---------------------------------------------------------------

/// A python with the Prometheus client library: `ZEROTH_PROM_PYTHON`, else what
/// `ensure_prometheus_client` installs.
fn prom_python() -> std::path::PathBuf {
    if let Some(p) = std::env::var_os("ZEROTH_PROM_PYTHON") {
        return p.into();
    }
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(". scripts/lib.sh && ensure_prometheus_client")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stderr(std::process::Stdio::inherit())
        .output()
        .expect("run scripts/lib.sh ensure_prometheus_client");
    assert!(
        out.status.success(),
        "ensure_prometheus_client failed: run scripts/test.sh, which installs it"
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .last()
        .expect("a path")
        .trim()
        .into()
}

/// Parses Prometheus text with the client library's parser: each sample as
/// (name, labels, value).
fn parse_metrics(text: &str) -> Vec<(String, serde_json::Map<String, Value>, f64)> {
    let script = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = []
for family in text_string_to_metric_families(sys.stdin.read()):
    assert family.type == "gauge", family
    assert family.documentation, family
    for s in family.samples:
        out.append([s.name, s.labels, s.value])
print(json.dumps(out))
"#;
    let mut child = std::process::Command::new(prom_python())
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the Prometheus parser refused the metrics: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Vec<(String, serde_json::Map<String, Value>, f64)> =
        serde_json::from_slice(&out.stdout).unwrap();
    v
}

fn sample(
    samples: &[(String, serde_json::Map<String, Value>, f64)],
    name: &str,
    labels: &[(&str, &str)],
) -> Option<f64> {
    samples
        .iter()
        .find(|(n, l, _)| n == name && labels.iter().all(|(k, v)| l.get(*k) == Some(&json!(v))))
        .map(|(_, _, v)| *v)
}

/// `check --metrics FILE` writes the state for node_exporter's textfile collector: the
/// file replaced whole (no temporary left beside it), parsed by Prometheus's own client
/// library; each seal's days since its last drill and revocation drill and to its
/// rotation, what it never had, and the findings by id and severity.
#[test]
fn check_metrics_are_prometheus_text_an_alert_can_use() {
    let fx = clean_at_t0();
    let dir = fx.path().join("textfile");
    std::fs::create_dir(&dir).unwrap();
    let prom = dir.join("zeroth.prom");
    let run = fx
        .zeroth()
        .env("ZEROTH_NOW", "2031-01-02T00:00:00Z")
        .args(["check", "--metrics"])
        .arg(&prom)
        .run();
    assert_eq!(run.code, 1, "rotation is overdue: {}", run.stderr);
    assert!(
        run.stdout_str().contains("rotation-overdue"),
        "the findings are printed"
    );
    assert_eq!(
        std::fs::metadata(&prom).unwrap().permissions().mode() & 0o777,
        0o644
    );
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["zeroth.prom".to_string()]);
    let samples = parse_metrics(&std::fs::read_to_string(&prom).unwrap());
    let seal = [("env", "prod"), ("seal", "vault-root")];
    assert_eq!(
        sample(
            &samples,
            "zeroth_seal_info",
            &[
                ("seal", "vault-root"),
                ("owner", "platform"),
                ("status", "active")
            ]
        ),
        Some(1.0)
    );
    // Sealed, drilled and revocation-drilled at T0 (2030-01-01), rotated every year.
    assert_eq!(
        sample(&samples, "zeroth_seal_days_since_drill", &seal),
        Some(366.0)
    );
    assert_eq!(
        sample(&samples, "zeroth_seal_days_since_revocation_drill", &seal),
        Some(366.0)
    );
    assert_eq!(
        sample(&samples, "zeroth_seal_days_since_unseal", &seal),
        None
    );
    assert_eq!(
        sample(
            &samples,
            "zeroth_seal_never",
            &[("seal", "vault-root"), ("what", "unseal")]
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &samples,
            "zeroth_seal_never",
            &[("seal", "vault-root"), ("what", "drill")]
        ),
        Some(0.0)
    );
    assert_eq!(
        sample(&samples, "zeroth_seal_days_to_rotation", &seal),
        Some(-1.0)
    );
    assert_eq!(sample(&samples, "zeroth_seal_days_to_expiry", &seal), None);
    assert_eq!(
        sample(
            &samples,
            "zeroth_findings",
            &[("id", "rotation-overdue"), ("severity", "error")]
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &samples,
            "zeroth_seal_findings",
            &[("seal", "vault-root"), ("severity", "error")]
        ),
        sample(
            &samples,
            "zeroth_findings_by_severity",
            &[("severity", "error")]
        ),
    );
    let t = sample(&samples, "zeroth_check_timestamp_seconds", &[]).unwrap();
    assert_eq!(t, 1_925_078_400.0, "2031-01-02T00:00:00Z");

    // A clean state gives 0 findings by severity, and '-' prints the metrics instead.
    let out = fx
        .zeroth()
        .env("ZEROTH_NOW", "2030-02-01T00:00:00Z")
        .args(["check", "--metrics", "-"])
        .run()
        .ok()
        .stdout_str();
    let samples = parse_metrics(&out);
    for severity in ["error", "warning"] {
        assert_eq!(
            sample(
                &samples,
                "zeroth_findings_by_severity",
                &[("severity", severity)]
            ),
            Some(0.0)
        );
    }
    assert!(!samples.iter().any(|(n, _, _)| n == "zeroth_findings"));

    // A directory that is not there: named, nothing written.
    let missing = fx.path().join("no-such-dir/zeroth.prom");
    fx.zeroth()
        .args(["check", "--metrics"])
        .arg(&missing)
        .run()
        .fails(2, &["no-such-dir", "does not exist"]);
}

// ---- owners -------------------------------------------------------------------------

/// `owner offboard TEAM` marks each live seal TEAM owns in its signed record; `check`
/// reports each as an error (and `list` flags it) until it is handed over (`owner
/// transfer`, a signed record change) or revoked. The mark cannot be edited away: the
/// record then fails its signature. `check --owner` is the team's view.
#[test]
fn an_offboarded_owner_is_an_error_until_the_seal_is_handed_over_or_revoked() {
    let fx = Fixture::sealed();
    fx.generate("api", "prod", 2, 3).ok();
    fx.zeroth()
        .args(["owner", "offboard", "nobody"])
        .run()
        .fails(2, &["'nobody' owns no live seal"]);
    let out = fx
        .zeroth()
        .args(["owner", "offboard", "platform"])
        .run()
        .ok()
        .stdout_str();
    assert!(out.contains("zeroth owner transfer api --to"), "{out}");
    assert!(
        out.contains("zeroth owner transfer vault-root --to"),
        "{out}"
    );
    let marked = fx.record("vault-root");
    assert!(marked["owner_offboarded"]["time"].is_string(), "{marked}");
    let entries = fx.log_lines("prod");
    let offboards: Vec<&Value> = entries
        .iter()
        .filter(|e| e["event"] == "owner-offboard")
        .collect();
    assert_eq!(offboards.len(), 2);
    assert!(
        offboards
            .iter()
            .all(|e| e["outcome"] == "ok" && e["sig"].is_string())
    );
    fx.audit_verify().ok();

    let (code, findings, _) = check(&fx, None, &[]);
    assert_eq!(code, 1);
    let seals: Vec<&str> = findings
        .iter()
        .filter(|f| f["id"] == "owner-offboarded")
        .map(|f| f["seal"].as_str().unwrap())
        .collect();
    assert_eq!(seals, vec!["api", "vault-root"]);
    assert_eq!(has(&findings, "owner-offboarded")["severity"], "error");
    let list = fx.zeroth().args(["--json", "list"]).run().ok();
    let v: Value = serde_json::from_slice(&list.stdout).unwrap();
    assert!(
        v["seals"].as_array().unwrap().iter().all(|s| s["flags"]
            .as_array()
            .unwrap()
            .contains(&json!("owner-offboarded"))),
        "{v}"
    );
    fx.zeroth()
        .args(["owner", "offboard", "platform"])
        .run()
        .fails(2, &["was offboarded already"]);

    // Edited away in the store: the record fails its signature.
    let path = fx.store().join("seals/vault-root.json");
    let signed = std::fs::read(&path).unwrap();
    let mut edited = marked.clone();
    edited.as_object_mut().unwrap().remove("owner_offboarded");
    fx.write_record("vault-root", &edited);
    let (_, findings, _) = check(&fx, None, &[]);
    assert!(
        findings
            .iter()
            .any(|f| f["id"] == "record-invalid" && f["seal"] == "vault-root"),
        "{findings:?}"
    );
    std::fs::write(&path, &signed).unwrap();

    // Handed over: the new owner answers for it, the mark is gone, the record signed.
    let out = fx
        .zeroth()
        .args(["owner", "transfer", "vault-root", "--to", "security"])
        .run()
        .ok()
        .stdout_str();
    assert!(
        out.contains("now owned by 'security' (was 'platform')"),
        "{out}"
    );
    let record = fx.record("vault-root");
    assert_eq!(record["owner"], "security");
    assert!(record.get("owner_offboarded").is_none());
    let transferred = std::fs::read(&path).unwrap();
    fx.zeroth()
        .args(["owner", "transfer", "vault-root", "--to", "security"])
        .run()
        .fails(2, &["owned by 'security' already"]);
    let (_, findings, _) = check(&fx, None, &[]);
    let seals: Vec<&str> = findings
        .iter()
        .filter(|f| f["id"] == "owner-offboarded")
        .map(|f| f["seal"].as_str().unwrap())
        .collect();
    assert_eq!(seals, vec!["api"]);
    // The old, marked copy restored: stale against the log.
    std::fs::write(&path, &signed).unwrap();
    has(&check(&fx, None, &[]).1, "record-stale");
    fx.zeroth()
        .args(["owner", "transfer", "vault-root", "--to", "someone"])
        .run()
        .fails(3, &["older than the log"]);
    std::fs::write(&path, &transferred).unwrap();

    // A team's view.
    let (_, findings, json) = check(&fx, None, &["--owner", "security"]);
    assert!(
        findings.iter().all(|f| f["seal"] == "vault-root"),
        "{findings:?}"
    );
    lacks(&findings, "owner-offboarded");
    assert_eq!(json["summary"]["seals"], 1);
    let (code, findings, _) = check(&fx, None, &["--owner", "platform"]);
    assert_eq!(code, 1);
    assert!(findings.iter().all(|f| f["seal"] == "api"), "{findings:?}");
    fx.zeroth()
        .args(["check", "--owner", "nobody"])
        .run()
        .fails(2, &["no seal is owned by 'nobody'"]);

    // Revoked: nobody needs to answer for it any more.
    fx.zeroth()
        .args([
            "revoke",
            "api",
            "--reason",
            "team gone",
            "--confirm-seal",
            "api",
        ])
        .run()
        .ok();
    lacks(&check(&fx, None, &[]).1, "owner-offboarded");
}

// ---- declared reach -------------------------------------------------------------------

fn generate_without_reach(fx: &Fixture, seal: &str, env: &str) {
    fx.zeroth()
        .args(["generate", seal, "--env", env, "--owner", "platform"])
        .args(["--purpose", "unseal vault", "--threshold", "2"])
        .args(["--rotate-every", "90d", "--out-dir"])
        .arg(fx.shares_dir())
        .args([
            "--custodian",
            "alice",
            "--custodian",
            "bob",
            "--custodian",
            "carol",
        ])
        .run()
        .ok();
}

fn finding_seals(findings: &[Value], id: &str) -> Vec<String> {
    findings
        .iter()
        .filter(|f| f["id"] == id)
        .map(|f| f["seal"].as_str().unwrap().to_string())
        .collect()
}

/// Each seal says what it unlocks (`--unlocks`, or `reach` for a seal made without):
/// `list` shows it; `check` warns of a seal that declares nothing, and reports a seal
/// whose reach names another environment and one system unlocked from two
/// environments.
#[test]
fn declared_reach_is_shown_and_judged() {
    let fx = Fixture::new();
    fx.init_token("dev");
    fx.env_init("prod", "prod").ok();
    fx.env_init("dev", "dev").ok();
    generate_without_reach(&fx, "legacy", "prod");
    let (code, findings, _) = check(&fx, None, &[]);
    assert_eq!(code, 0, "a warning: {findings:?}");
    assert_eq!(finding_seals(&findings, "reach-undeclared"), vec!["legacy"]);
    assert!(
        has(&findings, "reach-undeclared")["action"]
            .as_str()
            .unwrap()
            .contains("zeroth reach legacy --unlocks")
    );
    let list = fx.zeroth().arg("list").run().ok().stdout_str();
    assert!(list.contains("UNLOCKS"), "{list}");

    let out = fx
        .zeroth()
        .args(["reach", "legacy", "--unlocks", "vault:prod-cluster"])
        .run()
        .ok()
        .stdout_str();
    assert!(out.contains("unlocks vault:prod-cluster"), "{out}");
    assert_eq!(
        fx.record("legacy")["unlocks"],
        json!(["vault:prod-cluster"])
    );
    let entry = fx.log_lines("prod").pop().unwrap();
    assert_eq!(
        (entry["event"].as_str(), entry["outcome"].as_str()),
        (Some("reach"), Some("ok"))
    );
    assert!(entry["sig"].is_string());
    lacks(&check(&fx, None, &[]).1, "reach-undeclared");
    let list = fx.zeroth().arg("list").run().ok().stdout_str();
    assert!(list.contains("vault:prod-cluster"), "{list}");
    fx.zeroth()
        .args(["reach", "legacy", "--unlocks", "vault:prod-cluster"])
        .run()
        .fails(2, &["declares that already"]);
    fx.zeroth()
        .args(["reach", "legacy", "--unlocks", " "])
        .run()
        .fails(2, &["--unlocks", "one line"]);

    // A dev seal that opens the prod cluster: it names prod, and prod's system is
    // opened from two environments.
    fx.generate_cmd("dev-vault", "dev", 2, 3)
        .args(["--unlocks", "vault:prod-cluster"])
        .run()
        .ok();
    let (code, findings, _) = check(&fx, None, &[]);
    assert_eq!(code, 1);
    assert_eq!(
        finding_seals(&findings, "reach-crosses-env"),
        vec!["dev-vault"]
    );
    assert!(
        has(&findings, "reach-crosses-env")["message"]
            .as_str()
            .unwrap()
            .contains("names environment 'prod'")
    );
    let mut shared = finding_seals(&findings, "reach-shared");
    shared.sort();
    assert_eq!(shared, vec!["dev-vault", "legacy"]);
    let (_, findings, _) = check(&fx, None, &["--env", "dev"]);
    assert_eq!(finding_seals(&findings, "reach-shared"), vec!["dev-vault"]);

    // Revoked, it unlocks nothing any more.
    fx.zeroth()
        .args([
            "revoke",
            "dev-vault",
            "--reason",
            "wrong env",
            "--confirm-seal",
            "dev-vault",
        ])
        .run()
        .ok();
    let findings = check(&fx, None, &[]).1;
    lacks(&findings, "reach-shared");
    lacks(&findings, "reach-crosses-env");
}

// ---- monitored access -----------------------------------------------------------------

fn shifted(base: &str, minutes: i64) -> String {
    let t =
        time::OffsetDateTime::parse(base, &time::format_description::well_known::Rfc3339).unwrap();
    (t + time::Duration::minutes(minutes))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

/// From the signed log, written by real ceremonies: a recovery by an operator or from a
/// host the seal's earlier ceremonies never had (`access-unfamiliar`, a warning for 30
/// days), and three refused attempts within an hour (`access-refused-burst`, an error);
/// ordinary recoveries and scattered refusals stay quiet.
#[test]
fn monitored_access_findings_fire_on_a_planted_log_and_stay_quiet_on_a_normal_one() {
    let fx = Fixture::sealed();
    let three = ["alice", "bob", "carol"];
    fx.unseal("vault-root", &three).ok();
    fx.unseal("vault-root", &["dave"])
        .fails(3, &["more needed"]);
    let base = fx.log_lines("prod").pop().unwrap()["time"]
        .as_str()
        .unwrap()
        .to_string();
    let quiet = |findings: &[Value]| {
        lacks(findings, "access-unfamiliar");
        lacks(findings, "access-refused-burst");
    };
    quiet(&check(&fx, None, &[]).1);

    // Another operator; then another host.
    fx.unseal_cmd("vault-root", &three)
        .env("ZEROTH_OPERATOR", "mallory")
        .env("ZEROTH_NOW", shifted(&base, 10))
        .args(["--output", "-"])
        .run()
        .ok();
    fx.unseal_cmd("vault-root", &three)
        .env("ZEROTH_HOST", "jumpbox-7")
        .env("ZEROTH_NOW", shifted(&base, 20))
        .args(["--output", "-"])
        .run()
        .ok();
    // Seen once, they are familiar.
    fx.unseal_cmd("vault-root", &three)
        .env("ZEROTH_OPERATOR", "mallory")
        .env("ZEROTH_NOW", shifted(&base, 30))
        .args(["--output", "-"])
        .run()
        .ok();
    let findings = check(&fx, Some(&shifted(&base, 60)), &[]).1;
    let messages: Vec<&str> = findings
        .iter()
        .filter(|f| f["id"] == "access-unfamiliar")
        .map(|f| f["message"].as_str().unwrap())
        .collect();
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert!(messages[0].contains("operator 'mallory'"), "{messages:?}");
    assert!(messages[1].contains("host 'jumpbox-7'"), "{messages:?}");
    assert_eq!(has(&findings, "access-unfamiliar")["severity"], "warning");
    lacks(&findings, "access-refused-burst");
    // A month later they are old news.
    lacks(
        &check(&fx, Some(&shifted(&base, 31 * 24 * 60)), &[]).1,
        "access-unfamiliar",
    );

    // Refused attempts: two within the hour, then a third seventy minutes after the
    // second, are no burst; three within the hour are.
    let refuse = |minutes: i64| {
        fx.unseal_cmd("vault-root", &["dave"])
            .env("ZEROTH_NOW", shifted(&base, minutes))
            .args(["--output", "-"])
            .run()
            .fails(3, &["more needed"]);
    };
    refuse(100);
    refuse(130);
    refuse(200);
    lacks(
        &check(&fx, Some(&shifted(&base, 205)), &[]).1,
        "access-refused-burst",
    );
    refuse(210);
    refuse(215);
    let (code, findings, _) = check(&fx, Some(&shifted(&base, 220)), &[]);
    assert_eq!(code, 1, "{findings:?}");
    let burst = has(&findings, "access-refused-burst");
    assert_eq!(burst["severity"], "error");
    let message = burst["message"].as_str().unwrap();
    assert!(
        message.starts_with("3 refused attempts to recover it between"),
        "{burst}"
    );
    assert!(
        message.contains(&shifted(&base, 200)) && message.contains(&shifted(&base, 215)),
        "{burst}"
    );
    lacks(
        &check(&fx, Some(&shifted(&base, 31 * 24 * 60)), &[]).1,
        "access-refused-burst",
    );
}

/// A seal's access policy (`zeroth access`): `unseal` refuses to recover it without a
/// reason when it requires one (changing nothing); `check` reports a recovery without a
/// reason, one outside its window (days and hours in its time zone, daylight saving
/// and all), and more recoveries in a period than it allows.
#[test]
fn a_seals_access_policy_is_enforced_and_judged() {
    let fx = Fixture::sealed();
    let three = ["alice", "bob", "carol"];
    let at = |t: &str| fx.zeroth().env("ZEROTH_NOW", t);
    // Wednesday 2 January 2030, 10:00 in Berlin: recovered without a reason, before
    // any policy.
    fx.unseal_cmd("vault-root", &three)
        .env("ZEROTH_NOW", "2030-01-02T09:00:00Z")
        .args(["--output", "-"])
        .run()
        .ok();
    at("2030-01-02T09:30:00Z")
        .args([
            "access",
            "vault-root",
            "--require-reason",
            "--max-recoveries",
            "2/30d",
        ])
        .args(["--window", "Mon-Fri 08:00-18:00 Europe/Berlin"])
        .run()
        .ok();
    let access = &fx.record("vault-root")["access"];
    assert_eq!(access["require_reason"], true);
    assert_eq!(access["max_recoveries"], json!({ "count": 2, "days": 30 }));
    assert_eq!(
        access["window"],
        json!({ "days": [1, 2, 3, 4, 5], "from": 480, "to": 1080, "tz": "Europe/Berlin" })
    );
    let entry = fx.log_lines("prod").pop().unwrap();
    assert_eq!(
        (entry["event"].as_str(), entry["outcome"].as_str()),
        (Some("access"), Some("ok"))
    );

    unchanged(&fx, &["prod"], || {
        fx.unseal_cmd("vault-root", &three)
            .env("ZEROTH_NOW", "2030-01-02T10:00:00Z")
            .args(["--output", "-"])
            .run()
    })
    .fails(2, &["requires a reason", "--reason"]);
    // Thursday: 16:30 UTC is 17:30 in Berlin, inside; 17:30 UTC is 18:30, outside.
    for t in ["2030-01-03T16:30:00Z", "2030-01-03T17:30:00Z"] {
        fx.unseal_cmd("vault-root", &three)
            .env("ZEROTH_NOW", t)
            .args([
                "--output",
                "-",
                "--reason",
                "incident 4711: vault sealed after a power cut",
            ])
            .run()
            .ok();
    }
    let last = fx.log_lines("prod").pop().unwrap();
    assert_eq!(
        last["reason"],
        "incident 4711: vault sealed after a power cut"
    );
    assert!(last["sig"].is_string());

    let (code, findings, _) = check(&fx, Some("2030-01-03T18:00:00Z"), &[]);
    assert_eq!(code, 1, "{findings:?}");
    let no_reason = has(&findings, "access-no-reason");
    assert!(
        no_reason["message"]
            .as_str()
            .unwrap()
            .contains("2030-01-02T09:00:00Z"),
        "{no_reason}"
    );
    assert_eq!(finding_seals(&findings, "access-no-reason").len(), 1);
    let outside: Vec<&str> = findings
        .iter()
        .filter(|f| f["id"] == "access-outside-window")
        .map(|f| f["message"].as_str().unwrap())
        .collect();
    assert_eq!(outside.len(), 1, "{outside:?}");
    assert!(outside[0].contains("2030-01-03T17:30:00Z"), "{outside:?}");
    assert!(outside[0].contains("Mon,Tue,Wed,Thu,Fri 08:00-18:00 Europe/Berlin"));
    let rate = has(&findings, "access-rate");
    assert_eq!(rate["severity"], "error");
    assert!(
        rate["message"]
            .as_str()
            .unwrap()
            .contains("recovered 3 times in the last 30 days; it allows 2"),
        "{rate}"
    );
    // In summer Berlin is two hours ahead: 16:30 UTC on a Monday is 18:30 there.
    fx.unseal_cmd("vault-root", &three)
        .env("ZEROTH_NOW", "2030-07-01T16:30:00Z")
        .args(["--output", "-", "--reason", "drill of the runbook"])
        .run()
        .ok();
    let findings = check(&fx, Some("2030-07-01T17:00:00Z"), &[]).1;
    assert_eq!(finding_seals(&findings, "access-outside-window").len(), 1);
    lacks(&findings, "access-no-reason");
    lacks(&findings, "access-rate");

    // What the command refuses.
    for (args, why) in [
        (
            vec!["--window", "Mon-Fri 08:00-18:00 Mars/Olympus"],
            "Mars/Olympus",
        ),
        (
            vec!["--window", "Mon-Fri 18:00-08:00 UTC"],
            "end before they begin",
        ),
        (vec!["--max-recoveries", "0/30d"], "a count and a period"),
        (vec![], "say what to set"),
    ] {
        fx.zeroth()
            .args(["access", "vault-root"])
            .args(args)
            .run()
            .fails(2, &[why]);
    }
    at("2030-07-01T18:00:00Z")
        .args(["access", "vault-root", "--clear"])
        .run()
        .ok();
    assert!(fx.record("vault-root").get("access").is_none());
    let findings = check(&fx, Some("2030-07-01T19:00:00Z"), &[]).1;
    lacks(&findings, "access-outside-window");
}
