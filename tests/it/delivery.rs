//! Ceremonies that hold when their consumer says no, when the consumer uses the store
//! itself, and when many run at once.

use std::path::{Path, PathBuf};

use crate::common::*;

fn three(fx: &Fixture) -> Vec<PathBuf> {
    ["alice", "bob", "carol"]
        .map(|w| fx.share("vault-root", w))
        .to_vec()
}

fn rotate_start(fx: &Fixture, out: &Path) -> String {
    std::fs::create_dir_all(out).unwrap();
    fx.zeroth()
        .args(["rotate", "vault-root", "--share"])
        .args(three(fx))
        .arg("--out-dir")
        .arg(out)
        .run()
        .ok();
    fx.record("vault-root")["pending"]["id"]
        .as_str()
        .unwrap()
        .to_string()
}

fn new_shares(out: &Path, who: &[&str]) -> Vec<PathBuf> {
    who.iter()
        .map(|w| out.join(format!("vault-root.{w}.share")))
        .collect()
}

#[test]
fn a_consumer_that_refuses_the_new_credential_leaves_the_old_one_current() {
    let fx = Fixture::sealed();
    let v1 = fx
        .unseal("vault-root", &["alice", "bob", "carol"])
        .ok()
        .stdout;
    let out = fx.path().join("rot");
    let id = rotate_start(&fx, &out);
    let shares = new_shares(&out, &["alice", "dave", "erin"]);
    let run = fx
        .zeroth()
        .args(["rotate", "vault-root", "--confirm", &id, "--share"])
        .args(&shares)
        .args(["--exec", "--", "sh", "-c", "cat >/dev/null; exit 1"])
        .run();
    assert_eq!(run.code, 1, "the consumer's exit code: {}", run.stderr);
    assert!(run.stderr.contains("was NOT accepted"), "{}", run.stderr);
    assert!(run.stderr.contains("exited with 1"), "{}", run.stderr);
    // Nothing switched: v1 is current, the operation still pending, v1's key alive.
    let record = fx.record("vault-root");
    assert_eq!(record["version"], 1);
    assert_eq!(record["pending"]["id"], id.as_str());
    assert_eq!(
        fx.unseal("vault-root", &["carol", "dave", "erin"])
            .ok()
            .stdout,
        v1
    );
    let log = fx.log_lines("prod");
    let failed = log
        .iter()
        .rev()
        .find(|e| e["event"] == "rotate-confirm")
        .unwrap();
    assert_eq!(failed["outcome"], "failed");
    assert!(
        failed["detail"].as_str().unwrap().contains("exited with 1"),
        "{failed}"
    );
    assert!(failed["sig"].is_string());
    let handed = log
        .iter()
        .rev()
        .find(|e| e["event"] == "rotate-deliver")
        .unwrap();
    assert_eq!(
        handed["version"], 2,
        "the entry before the hand-over names v2"
    );
    // A consumer that accepts it: now the switch happens.
    let got = fx.path().join("got");
    let script = format!("cat > {}", got.display());
    let run = fx
        .zeroth()
        .args(["rotate", "vault-root", "--confirm", &id, "--share"])
        .args(&shares)
        .args(["--exec", "--", "sh", "-c", &script])
        .run()
        .ok();
    assert!(run.stderr.contains("confirmed"), "{}", run.stderr);
    let record = fx.record("vault-root");
    assert_eq!(record["version"], 2);
    assert!(record.get("pending").is_none());
    let v2 = std::fs::read(&got).unwrap();
    assert_ne!(v2, v1);
    let now = fx
        .zeroth()
        .args(["unseal", "vault-root", "--output", "-", "--share"])
        .args(new_shares(&out, &["bob", "carol", "dave"]))
        .run()
        .ok()
        .stdout;
    assert_eq!(now, v2);
    fx.audit_verify().ok();
}

#[test]
fn a_rotation_delivered_to_a_file_that_cannot_be_written_switches_nothing() {
    let fx = Fixture::sealed();
    let out = fx.path().join("rot");
    let id = rotate_start(&fx, &out);
    // A directory where no file can be made, even by root: the preflight passes (a
    // directory, no such file yet), the delivery fails.
    let run = fx
        .zeroth()
        .args(["rotate", "vault-root", "--confirm", &id, "--share"])
        .args(new_shares(&out, &["alice", "dave", "erin"]))
        .args(["--output", "/proc/zeroth-rotated-credential"])
        .run();
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert!(run.stderr.contains("/proc"), "{}", run.stderr);
    assert_eq!(fx.record("vault-root")["version"], 1);
    assert!(fx.record("vault-root").get("pending").is_some());
    let last = fx.log_lines("prod").pop().unwrap();
    assert_eq!(last["event"], "rotate-confirm");
    assert_eq!(last["outcome"], "failed");
}

#[test]
fn a_failed_exec_is_logged_as_a_failed_delivery() {
    let fx = Fixture::sealed();
    let run = fx
        .zeroth()
        .args(["unseal", "vault-root", "--share"])
        .args(three(&fx))
        .args(["--exec", "--", "sh", "-c", "cat >/dev/null; exit 2"])
        .run();
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("the delivery FAILED: 'sh' exited with 2"),
        "{}",
        run.stderr
    );
    let log = fx.log_lines("prod");
    let n = log.len();
    assert_eq!(log[n - 2]["event"], "unseal", "logged before it left");
    assert_eq!(log[n - 1]["event"], "delivery");
    assert_eq!(log[n - 1]["outcome"], "failed");
    assert!(
        log[n - 1]["detail"]
            .as_str()
            .unwrap()
            .contains("'sh' exited with 2")
    );
    assert!(log[n - 1]["sig"].is_string());
    let check = fx.zeroth().args(["--json", "check"]).run();
    let v: serde_json::Value = serde_json::from_slice(&check.stdout).unwrap();
    assert!(
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["id"] == "failed-unseals"),
        "{v}"
    );
    // A child that succeeds is logged with its status too.
    fx.zeroth()
        .args(["unseal", "vault-root", "--share"])
        .args(three(&fx))
        .args(["--exec", "--", "sh", "-c", "cat >/dev/null"])
        .run()
        .ok();
    let last = fx.log_lines("prod").pop().unwrap();
    assert_eq!(last["event"], "delivery");
    assert_eq!(last["outcome"], "ok");
    assert!(
        last["detail"]
            .as_str()
            .unwrap()
            .contains("it exited with 0")
    );
}

#[test]
fn the_exec_child_may_use_the_store_itself() {
    let fx = Fixture::sealed();
    let listed = fx.path().join("listed");
    let script = format!(
        "cat >/dev/null; {} list > {}",
        env!("CARGO_BIN_EXE_zeroth"),
        listed.display()
    );
    let run = fx
        .zeroth()
        .args(["unseal", "vault-root", "--share"])
        .args(three(&fx))
        .args(["--exec", "--", "sh", "-c", &script])
        .run()
        .ok();
    assert!(run.stderr.contains("which exited with 0"), "{}", run.stderr);
    let text = std::fs::read_to_string(&listed).unwrap();
    assert!(text.contains("vault-root"), "{text}");
    // And a ceremony: the child drills the seal on the same store and token (with a
    // PIN file of its own: ZEROTH_PIN is never passed on to a child).
    let pin_file = fx.path().join("pin");
    std::fs::write(&pin_file, PIN).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&pin_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut script = format!(
        "cat >/dev/null; {} --pin-file {} drill vault-root --share",
        env!("CARGO_BIN_EXE_zeroth"),
        pin_file.display()
    );
    for s in three(&fx) {
        script.push(' ');
        script.push_str(s.to_str().unwrap());
    }
    fx.zeroth()
        .args(["unseal", "vault-root", "--share"])
        .args(three(&fx))
        .args(["--exec", "--", "sh", "-c", &script])
        .run()
        .ok();
    let events: Vec<String> = fx
        .log_lines("prod")
        .iter()
        .map(|e| e["event"].as_str().unwrap().to_string())
        .collect();
    let n = events.len();
    assert_eq!(
        &events[n - 3..],
        ["unseal", "drill", "delivery"],
        "{events:?}"
    );
    fx.audit_verify().ok();
}

/// One round of mixed ceremonies, all at once on one store and token: drills, refused
/// unseals, a rekey start, and check --hsm. Every exit code is what it should be,
/// every entry of the log signed, the log whole.
fn mixed_round(fx: &Fixture, round: usize) {
    let bin = env!("CARGO_BIN_EXE_zeroth");
    let out = fx.path().join(format!("rekey-{round}"));
    std::fs::create_dir_all(&out).unwrap();
    let mut children = Vec::new();
    for i in 0..32 {
        let mut c = std::process::Command::new(bin);
        fx.module_env(&mut c);
        c.env("ZEROTH_STORE", fx.store())
            .env("ZEROTH_PIN", PIN)
            .env("ZEROTH_LOCK_WAIT_MS", "120000")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        let expected = match i % 8 {
            0 if i == 0 => {
                c.args(["rekey", "vault-root", "--share"])
                    .args(three(fx))
                    .arg("--out-dir")
                    .arg(&out);
                0
            }
            1 | 5 => {
                c.args(["check", "--hsm"]);
                1 // the rekey left a pending operation and the drills prove
                // nothing new: check may report warnings only, exit 0 or 1
            }
            2 | 6 => {
                c.args(["unseal", "vault-root", "--output", "-", "--share"])
                    .arg(fx.share("vault-root", "erin"));
                3
            }
            _ => {
                c.args(["drill", "vault-root", "--share"]).args(three(fx));
                0
            }
        };
        children.push((i, expected, c.spawn().unwrap()));
    }
    for (i, expected, child) in children {
        let out = child.wait_with_output().unwrap();
        let code = out.status.code();
        let stderr = String::from_utf8_lossy(&out.stderr);
        if i % 8 == 1 || i % 8 == 5 {
            // check --hsm: findings are allowed (exit 0 or 1), an unreachable token is not.
            assert!(
                matches!(code, Some(0) | Some(1)),
                "round {round}, check {i}: {stderr}"
            );
            assert!(!stderr.contains("token-unreachable"), "{stderr}");
        } else {
            assert_eq!(code, Some(expected), "round {round}, child {i}: {stderr}");
        }
    }
    // Drop the pending rekey so the next round can start one.
    let id = fx.record("vault-root")["pending"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    fx.zeroth()
        .args(["rekey", "vault-root", "--cancel", &id])
        .run()
        .ok();
}

#[test]
fn thirty_two_mixed_ceremonies_at_once_for_ten_rounds() {
    let fx = Fixture::sealed();
    let rounds: usize = std::env::var("ZEROTH_MIXED_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    for round in 0..rounds {
        mixed_round(&fx, round);
    }
    for (i, e) in fx.log_lines("prod").iter().enumerate() {
        assert!(e["sig"].is_string(), "entry {} is not signed: {e}", i + 1);
    }
    fx.audit_verify().ok();
    // check --hsm sees no unreachable token, and the token holds what the store says.
    let run = fx.zeroth().args(["--json", "check", "--hsm"]).run();
    let v: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    for f in v["findings"].as_array().unwrap() {
        assert_ne!(f["id"], "token-unreachable", "{f}");
        assert_ne!(f["id"], "orphan-key", "{f}");
    }
}
