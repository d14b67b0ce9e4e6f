//! Rekey, rotation, revocation and offboarding, and the crash matrix: a crash at any
//! step leaves the credential recoverable by the old set or the new one.

use std::path::{Path, PathBuf};

use crate::common::*;

fn shares_in(dir: &Path, seal: &str, who: &[&str]) -> Vec<PathBuf> {
    who.iter()
        .map(|w| dir.join(format!("{seal}.{w}.share")))
        .collect()
}

fn new_dir(fx: &Fixture, name: &str) -> PathBuf {
    let d = fx.path().join(name);
    std::fs::create_dir(&d).unwrap();
    d
}

fn pending_id(fx: &Fixture, seal: &str) -> String {
    fx.record(seal)["pending"]["id"]
        .as_str()
        .expect("a pending operation")
        .to_string()
}

fn unseal_with(fx: &Fixture, seal: &str, shares: &[PathBuf]) -> Run {
    fx.zeroth()
        .args(["unseal", seal, "--output", "-", "--share"])
        .args(shares)
        .run()
}

fn rekey_start(fx: &Fixture, old: &[&str], extra: &[&str], out: &Path) -> Run {
    fx.zeroth()
        .args(["rekey", "vault-root", "--share"])
        .args(old.iter().map(|w| fx.share("vault-root", w)))
        .args(extra)
        .arg("--out-dir")
        .arg(out)
        .run()
}

fn confirm(fx: &Fixture, kind: &str, id: &str, shares: &[PathBuf]) -> Run {
    let mut c = fx
        .zeroth()
        .args([kind, "vault-root", "--confirm", id, "--share"])
        .args(shares);
    if kind == "rotate" {
        c = c.args(["--output", "-"]);
    }
    c.run()
}

fn cleanup(fx: &Fixture, destroy: bool) -> Run {
    let mut c = fx.zeroth().args(["cleanup", "--env", "prod"]);
    if destroy {
        c = c.arg("--destroy");
    }
    c.run().ok()
}

fn label_on_token(fx: &Fixture, label: &str) -> bool {
    fx.token_objects("prod")
        .contains(&format!("label:      {label}\n"))
}

#[test]
fn a_confirmed_rekey_without_bob_leaves_bob_and_the_old_record_nothing() {
    let fx = Fixture::sealed();
    let credential = fx
        .unseal("vault-root", &["alice", "bob", "carol"])
        .ok()
        .stdout;
    let old_record = std::fs::read(fx.store().join("seals/vault-root.json")).unwrap();
    fx.zeroth()
        .args(["custodian", "offboard", "bob"])
        .run()
        .ok();
    let list = fx.zeroth().arg("list").run().ok().stdout_str();
    assert!(list.contains("needs-rekey"), "{list}");

    let new = new_dir(&fx, "new");
    rekey_start(
        &fx,
        &["alice", "bob", "carol"],
        &["--without", "bob", "--custodian", "frank"],
        &new,
    )
    .ok();
    let id = pending_id(&fx, "vault-root");
    assert!(
        fx.zeroth()
            .arg("list")
            .run()
            .ok()
            .stdout_str()
            .contains("needs-rekey,pending")
    );
    confirm(
        &fx,
        "rekey",
        &id,
        &shares_in(&new, "vault-root", &["alice", "frank", "erin"]),
    )
    .ok();

    // The new set gives the same credential; bob is gone from it.
    assert_eq!(
        unseal_with(
            &fx,
            "vault-root",
            &shares_in(&new, "vault-root", &["dave", "erin", "frank"])
        )
        .ok()
        .stdout,
        credential
    );
    let record = fx.record("vault-root");
    let names: Vec<&str> = record["custodians"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alice", "carol", "dave", "erin", "frank"]);
    assert_eq!(record["set"], 2);
    assert_eq!(record["history"][0]["set"], 1);
    let list = fx.zeroth().arg("list").run().ok().stdout_str();
    assert!(
        !list.contains("needs-rekey") && list.contains("active"),
        "{list}"
    );

    // The old K_seal is gone from the token...
    assert!(
        !label_on_token(&fx, "zeroth:prod:vault-root:v1:s1"),
        "{}",
        fx.token_objects("prod")
    );
    assert!(label_on_token(&fx, "zeroth:prod:vault-root:v1:s2"));
    // ... so bob's old share, with a copy of the old record from backup, opens nothing:
    // the log already says the record is an old copy, before the token is asked.
    std::fs::write(fx.store().join("seals/vault-root.json"), &old_record).unwrap();
    unseal_with(
        &fx,
        "vault-root",
        &[
            fx.share("vault-root", "alice"),
            fx.share("vault-root", "bob"),
            fx.share("vault-root", "carol"),
        ],
    )
    .fails(3, &["vault-root.json is older than the log", "old copy"]);
}

#[test]
fn after_revoke_a_full_quorum_and_the_hsm_are_refused() {
    let fx = Fixture::sealed();
    let before = std::fs::read(fx.store().join("seals/vault-root.json")).unwrap();
    fx.zeroth()
        .args(["revoke", "vault-root", "--reason", "laptop stolen"])
        .run()
        .fails(2, &["--confirm-seal vault-root"]);
    fx.zeroth()
        .args([
            "revoke",
            "vault-root",
            "--reason",
            "laptop stolen",
            "--confirm-seal",
            "other",
        ])
        .run()
        .fails(2, &["--confirm-seal vault-root"]);
    // No quorum needed: the HSM and its PIN suffice.
    let run = fx
        .zeroth()
        .args([
            "revoke",
            "vault-root",
            "--reason",
            "laptop stolen",
            "--confirm-seal",
            "vault-root",
        ])
        .run()
        .ok();
    assert!(
        run.stdout_str()
            .contains("destroyed 1 key on the token:\n  zeroth:prod:vault-root:v1:s1\n"),
        "{}",
        run.stdout_str()
    );
    assert!(!label_on_token(&fx, "zeroth:prod:vault-root:v1:s1"));
    let record = fx.record("vault-root");
    assert_eq!(record["revoked"]["reason"], "laptop stolen");
    assert!(record["revoked"]["time"].is_string() && record["revoked"]["operator"].is_string());
    fx.unseal("vault-root", &["alice", "bob", "carol", "dave", "erin"])
        .fails(3, &["was revoked at", "laptop stolen"]);
    fx.zeroth()
        .args(["drill", "vault-root", "--share"])
        .args(CUSTODIANS[..5].iter().map(|w| fx.share("vault-root", w)))
        .run()
        .fails(3, &["revoked"]);
    assert!(
        fx.zeroth()
            .arg("list")
            .run()
            .ok()
            .stdout_str()
            .contains("revoked")
    );
    // Restoring the pre-revoke record does not help: the key is gone, and the log says why.
    std::fs::write(fx.store().join("seals/vault-root.json"), before).unwrap();
    fx.unseal("vault-root", &["alice", "bob", "carol"]).fails(
        3,
        &["was revoked at", "laptop stolen", "nothing can open it"],
    );
}

#[test]
fn rotation_makes_a_new_credential_that_old_shares_do_not_open() {
    let fx = Fixture::sealed();
    let v1 = fx
        .unseal("vault-root", &["alice", "bob", "carol"])
        .ok()
        .stdout;
    let rot = new_dir(&fx, "rot");
    fx.zeroth()
        .args(["rotate", "vault-root", "--share"])
        .args(["alice", "bob", "carol"].map(|w| fx.share("vault-root", w)))
        .arg("--out-dir")
        .arg(&rot)
        .run()
        .ok();
    let id = pending_id(&fx, "vault-root");
    // Until confirmed, the old version is the one unsealed.
    assert_eq!(
        fx.unseal("vault-root", &["carol", "dave", "erin"])
            .ok()
            .stdout,
        v1
    );
    let delivered = confirm(
        &fx,
        "rotate",
        &id,
        &shares_in(&rot, "vault-root", &["bob", "dave", "erin"]),
    )
    .ok();
    let v2 = delivered.stdout.clone();
    assert_eq!(v2.len(), 64);
    assert_ne!(v1, v2, "the new credential differs from the old");
    assert_eq!(
        unseal_with(
            &fx,
            "vault-root",
            &shares_in(&rot, "vault-root", &["alice", "carol", "erin"])
        )
        .ok()
        .stdout,
        v2
    );
    fx.unseal("vault-root", &["alice", "bob", "carol"])
        .fails(3, &["it is from share set 1", "the current set is 2"]);
    let record = fx.record("vault-root");
    assert_eq!(record["version"], 2);
    assert_eq!(record["history"][0]["version"], 1);
    assert!(
        record["history"][0]["why"]
            .as_str()
            .unwrap()
            .contains("rotated to version 2")
    );
    assert!(!label_on_token(&fx, "zeroth:prod:vault-root:v1:s1"));
    assert!(label_on_token(&fx, "zeroth:prod:vault-root:v2:s2"));
    let list = fx.zeroth().arg("list").run().ok().stdout_str();
    assert!(list.contains("v2"), "{list}");
    let report = fx
        .zeroth()
        .args(["audit", "report", "vault-root"])
        .run()
        .ok()
        .stdout_str();
    assert!(
        report.contains("rotate-confirm") && report.contains("### "),
        "{report}"
    );
}

#[test]
fn rotating_an_imported_credential_takes_the_new_one_on_stdin() {
    let fx = Fixture::new();
    fx.env_init("prod", "prod").ok();
    fx.import_cmd("vault-root", "prod", 2, 3, b"root-token-one")
        .run()
        .ok();
    let rot = new_dir(&fx, "rot");
    let start = |import: bool| {
        let mut c = fx
            .zeroth()
            .args(["rotate", "vault-root", "--share"])
            .args(["alice", "bob"].map(|w| fx.share("vault-root", w)))
            .arg("--out-dir")
            .arg(&rot);
        if import {
            c = c.arg("--import").stdin(b"root-token-two".to_vec());
        }
        c.run()
    };
    start(false).fails(2, &["imported credential", "--import"]);
    start(true).ok();
    let id = pending_id(&fx, "vault-root");
    let got = confirm(
        &fx,
        "rotate",
        &id,
        &shares_in(&rot, "vault-root", &["bob", "carol"]),
    )
    .ok()
    .stdout;
    assert_eq!(got, b"root-token-two");
}

#[test]
fn pending_operations_are_refused_when_wrong_and_change_nothing_until_confirmed() {
    let fx = Fixture::sealed();
    let credential = fx
        .unseal("vault-root", &["alice", "bob", "carol"])
        .ok()
        .stdout;
    let new = new_dir(&fx, "new");
    rekey_start(&fx, &["alice", "bob", "carol"], &["--threshold", "2"], &new).ok();
    let id = pending_id(&fx, "vault-root");
    let new_shares = shares_in(&new, "vault-root", &["bob", "erin"]);

    // The old set keeps working, for unseal and for a drill.
    assert_eq!(
        fx.unseal("vault-root", &["carol", "dave", "erin"])
            .ok()
            .stdout,
        credential
    );
    fx.zeroth()
        .args(["drill", "vault-root", "--share"])
        .args(CUSTODIANS[..5].iter().map(|w| fx.share("vault-root", w)))
        .run()
        .ok();
    // A second pending operation is refused.
    let other = new_dir(&fx, "other");
    rekey_start(&fx, &["alice", "bob", "carol"], &[], &other)
        .fails(3, &["already has a pending rekey", &id]);
    fx.zeroth()
        .args(["rotate", "vault-root", "--share"])
        .args(["alice", "bob", "carol"].map(|w| fx.share("vault-root", w)))
        .arg("--out-dir")
        .arg(&other)
        .run()
        .fails(3, &["already has a pending rekey"]);
    // A wrong id, the wrong kind, the old set's shares.
    confirm(&fx, "rekey", "0000000000000000", &new_shares).fails(
        3,
        &["operation '0000000000000000' is not the pending rekey"],
    );
    fx.zeroth()
        .args([
            "rotate",
            "vault-root",
            "--confirm",
            &id,
            "--output",
            "-",
            "--share",
        ])
        .args(&new_shares)
        .run()
        .fails(3, &["is a rekey, not a rotate"]);
    confirm(
        &fx,
        "rekey",
        &id,
        &[
            fx.share("vault-root", "alice"),
            fx.share("vault-root", "bob"),
        ],
    )
    .fails(
        3,
        &[
            "it belongs to set 1, the one still in use",
            "give the new shares",
        ],
    );
    // Too few new shares: threshold 2 of the new set, one given.
    confirm(&fx, "rekey", &id, &new_shares[..1]).fails(3, &["1 more needed"]);
    // Cancel, then confirm is refused and the old set is untouched.
    fx.zeroth()
        .args(["rekey", "vault-root", "--cancel", "ffffffffffffffff"])
        .run()
        .fails(3, &["is not the pending rekey"]);
    fx.zeroth()
        .args(["rekey", "vault-root", "--cancel", &id])
        .run()
        .ok();
    assert!(
        !label_on_token(&fx, "zeroth:prod:vault-root:v1:s2"),
        "the pending K_seal is destroyed"
    );
    confirm(&fx, "rekey", &id, &new_shares).fails(3, &["has no pending operation"]);
    assert_eq!(
        fx.unseal("vault-root", &["alice", "dave", "erin"])
            .ok()
            .stdout,
        credential
    );
    assert_eq!(fx.record("vault-root")["set"], 1);
    fx.audit_verify().ok();
}

#[test]
fn rekey_usage_errors() {
    let fx = Fixture::sealed();
    let new = new_dir(&fx, "new");
    rekey_start(&fx, &["alice", "bob", "carol"], &["--without", "zed"], &new)
        .fails(2, &["--without zed", "holds no share"]);
    rekey_start(
        &fx,
        &["alice", "bob", "carol"],
        &["--custodian", "alice"],
        &new,
    )
    .fails(2, &["already holds a share"]);
    rekey_start(&fx, &["alice", "bob", "carol"], &["--threshold", "6"], &new)
        .fails(2, &["threshold 6 does not fit"]);
    rekey_start(&fx, &["alice", "bob"], &[], &new).fails(3, &["1 more needed"]);
    fx.zeroth()
        .args(["custodian", "offboard", "frank"])
        .run()
        .fails(2, &["holds no share"]);
    fx.zeroth()
        .args(["custodian", "offboard", "bob"])
        .run()
        .ok();
    fx.zeroth()
        .args(["custodian", "offboard", "bob"])
        .run()
        .fails(3, &["already offboarded"]);
    rekey_start(&fx, &["alice", "bob", "carol"], &[], &new)
        .fails(3, &["'bob' was offboarded", "--without bob"]);
    assert!(fx.record("vault-root").get("pending").is_none());
    assert!(
        std::fs::read_dir(&new).unwrap().next().is_none(),
        "no share file was written"
    );
}

// ---- the crash matrix ---------------------------------------------------------------

/// Runs a ceremony that must abort at `point`.
fn crash(fx: &Fixture, point: &str, args: &[&str], shares: &[PathBuf], tail: &[&str]) {
    let run = fx
        .zeroth()
        .env("ZEROTH_CRASH_AT", point)
        .args(args)
        .args(shares)
        .args(tail)
        .run();
    assert_eq!(
        run.code, -1,
        "{point}: expected a crash (killed by SIGABRT): {}",
        run.stderr
    );
    assert!(
        run.stderr.contains(&format!("crash injected at {point}")),
        "{}",
        run.stderr
    );
}

fn old_three(fx: &Fixture) -> Vec<PathBuf> {
    ["alice", "bob", "carol"]
        .map(|w| fx.share("vault-root", w))
        .to_vec()
}

/// Orphan keys `cleanup` lists, then destroys.
#[track_caller]
fn orphans_cleaned(fx: &Fixture, expected: &[&str]) {
    let listed = cleanup(fx, false).stdout_str();
    for label in expected {
        assert!(listed.contains(label), "cleanup lists {label}:\n{listed}");
    }
    if expected.is_empty() {
        assert!(listed.contains("no orphan keys"), "{listed}");
    } else {
        cleanup(fx, true);
        for label in expected {
            assert!(!label_on_token(fx, label), "{label} destroyed");
        }
        assert!(cleanup(fx, false).stdout_str().contains("no orphan keys"));
    }
}

#[test]
fn crash_during_generate() {
    for point in ["generate:after-key", "generate:after-shares"] {
        let fx = Fixture::new();
        fx.env_init("prod", "prod").ok();
        crash(
            &fx,
            point,
            &[
                "generate",
                "s",
                "--env",
                "prod",
                "--owner",
                "o",
                "--purpose",
                "p",
                "--threshold",
                "2",
                "--custodian",
                "a",
                "--custodian",
                "b",
                "--rotate-every",
                "30d",
                "--out-dir",
            ],
            &[fx.shares_dir()],
            &[],
        );
        // No record: the seal does not exist, nothing was lost. The key is an orphan.
        assert!(
            fx.zeroth()
                .arg("list")
                .run()
                .ok()
                .stdout_str()
                .contains("no seals")
        );
        orphans_cleaned(&fx, &["zeroth:prod:s:v1:s1"]);
        for f in std::fs::read_dir(fx.shares_dir()).unwrap() {
            std::fs::remove_file(f.unwrap().path()).unwrap();
        }
        fx.generate("s", "prod", 2, 2).ok();
    }
}

#[test]
fn crash_while_starting_a_rekey_or_rotation_leaves_the_old_set() {
    for kind in ["rekey", "rotate"] {
        for point in ["after-key", "after-shares"] {
            let fx = Fixture::sealed();
            let credential = fx
                .unseal("vault-root", &["alice", "bob", "carol"])
                .ok()
                .stdout;
            let out = new_dir(&fx, "new");
            crash(
                &fx,
                &format!("{kind}:{point}"),
                &[kind, "vault-root", "--share"],
                &old_three(&fx),
                &["--out-dir", out.to_str().unwrap()],
            );
            assert!(fx.record("vault-root").get("pending").is_none());
            assert_eq!(
                fx.unseal("vault-root", &["carol", "dave", "erin"])
                    .ok()
                    .stdout,
                credential,
                "{kind}:{point}"
            );
            let new_label = if kind == "rekey" {
                "zeroth:prod:vault-root:v1:s2"
            } else {
                "zeroth:prod:vault-root:v2:s2"
            };
            orphans_cleaned(&fx, &[new_label]);
            assert_eq!(
                fx.unseal("vault-root", &["alice", "dave", "erin"])
                    .ok()
                    .stdout,
                credential
            );
        }
    }
}

#[test]
fn crash_after_a_pending_set_is_written_leaves_both_ways_open() {
    for kind in ["rekey", "rotate"] {
        let fx = Fixture::sealed();
        let credential = fx
            .unseal("vault-root", &["alice", "bob", "carol"])
            .ok()
            .stdout;
        let out = new_dir(&fx, "new");
        crash(
            &fx,
            &format!("{kind}:after-record"),
            &[kind, "vault-root", "--share"],
            &old_three(&fx),
            &["--out-dir", out.to_str().unwrap()],
        );
        let id = pending_id(&fx, "vault-root");
        assert!(
            fx.zeroth()
                .arg("list")
                .run()
                .ok()
                .stdout_str()
                .contains(&format!("pending: {kind} {id}"))
        );
        assert!(
            cleanup(&fx, false)
                .stdout_str()
                .contains(&format!("pending {kind} {id}"))
        );
        orphans_cleaned(&fx, &[]);
        assert_eq!(
            fx.unseal("vault-root", &["carol", "dave", "erin"])
                .ok()
                .stdout,
            credential
        );
        let new_cred = confirm(
            &fx,
            kind,
            &id,
            &shares_in(&out, "vault-root", &["alice", "bob", "carol"]),
        )
        .ok()
        .stdout;
        let now = unseal_with(
            &fx,
            "vault-root",
            &shares_in(&out, "vault-root", &["carol", "dave", "erin"]),
        )
        .ok()
        .stdout;
        if kind == "rekey" {
            assert_eq!(now, credential);
        } else {
            assert_eq!(now, new_cred);
        }
    }
}

#[test]
fn crash_while_confirming_loses_nothing() {
    for kind in ["rekey", "rotate"] {
        for point in [
            "after-deliver",
            "before-switch",
            "after-switch",
            "after-destroy",
        ] {
            if kind == "rekey" && point == "after-deliver" {
                continue; // a rekey delivers nothing
            }
            let fx = Fixture::sealed();
            let credential = fx
                .unseal("vault-root", &["alice", "bob", "carol"])
                .ok()
                .stdout;
            let old_record = std::fs::read(fx.store().join("seals/vault-root.json")).unwrap();
            let out = new_dir(&fx, "new");
            let mut start = fx
                .zeroth()
                .args([kind, "vault-root", "--share"])
                .args(old_three(&fx))
                .arg("--out-dir")
                .arg(&out);
            if kind == "rekey" {
                start = start.args(["--without", "bob"]);
            }
            start.run().ok();
            let id = pending_id(&fx, "vault-root");
            let who = ["alice", "carol", "dave"];
            let mut tail = vec!["--confirm", id.as_str()];
            if kind == "rotate" {
                tail.extend(["--output", "-"]);
            }
            crash(
                &fx,
                &format!("{kind}:{point}"),
                &[kind, "vault-root", "--share"],
                &shares_in(&out, "vault-root", &who),
                &tail,
            );
            let old_key = "zeroth:prod:vault-root:v1:s1";
            let what = format!("{kind}:{point}");
            if point == "before-switch" || point == "after-deliver" {
                // Nothing switched: the old set works, and confirm can be run again
                // (a rotation delivers first: its consumer may hold the new credential
                // already, and gets it again).
                assert!(fx.record("vault-root").get("pending").is_some(), "{what}");
                assert_eq!(
                    fx.unseal("vault-root", &["carol", "dave", "erin"])
                        .ok()
                        .stdout,
                    credential,
                    "{what}"
                );
                orphans_cleaned(&fx, &[]);
                confirm(&fx, kind, &id, &shares_in(&out, "vault-root", &who)).ok();
            } else {
                assert!(fx.record("vault-root").get("pending").is_none(), "{what}");
                assert_eq!(fx.record("vault-root")["set"], 2, "{what}");
                if point == "after-switch" {
                    // The old key survived the crash: an orphan cleanup destroys.
                    orphans_cleaned(&fx, &[old_key]);
                } else {
                    orphans_cleaned(&fx, &[]);
                }
            }
            // Either way the new set now recovers the credential (for a rotation, the new
            // one, even though the crash kept it from being delivered).
            let now = unseal_with(
                &fx,
                "vault-root",
                &shares_in(&out, "vault-root", &["alice", "dave", "erin"]),
            )
            .ok()
            .stdout;
            if kind == "rekey" {
                assert_eq!(now, credential, "{what}");
            } else {
                assert_ne!(now, credential, "{what}");
                assert_eq!(now.len(), 64);
            }
            // And the old set with the old record opens nothing any more: the log
            // knows the record is an old copy (and the old key is gone from the token).
            assert!(!label_on_token(&fx, old_key), "{what}");
            std::fs::write(fx.store().join("seals/vault-root.json"), &old_record).unwrap();
            fx.unseal("vault-root", &["alice", "bob", "carol"])
                .fails(3, &["older than the log"]);
        }
    }
}

#[test]
fn crash_while_cancelling_leaves_the_old_set_and_an_orphan() {
    let fx = Fixture::sealed();
    let credential = fx
        .unseal("vault-root", &["alice", "bob", "carol"])
        .ok()
        .stdout;
    let out = new_dir(&fx, "new");
    rekey_start(&fx, &["alice", "bob", "carol"], &[], &out).ok();
    let id = pending_id(&fx, "vault-root");
    crash(
        &fx,
        "cancel:after-record",
        &["rekey", "vault-root", "--cancel", &id],
        &[],
        &[],
    );
    assert!(fx.record("vault-root").get("pending").is_none());
    assert_eq!(
        fx.unseal("vault-root", &["carol", "dave", "erin"])
            .ok()
            .stdout,
        credential
    );
    orphans_cleaned(&fx, &["zeroth:prod:vault-root:v1:s2"]);
    assert_eq!(
        fx.unseal("vault-root", &["alice", "bob", "erin"])
            .ok()
            .stdout,
        credential
    );
}

#[test]
fn crash_while_revoking_completes_on_a_second_run() {
    for point in ["revoke:after-destroy", "revoke:after-record"] {
        let fx = Fixture::sealed();
        crash(
            &fx,
            point,
            &[
                "revoke",
                "vault-root",
                "--reason",
                "test",
                "--confirm-seal",
                "vault-root",
            ],
            &[],
            &[],
        );
        // The key is gone at once: nothing opens the seal any more.
        assert!(!label_on_token(&fx, "zeroth:prod:vault-root:v1:s1"));
        fx.unseal("vault-root", &["alice", "bob", "carol"])
            .fails(3, &[]);
        if point == "revoke:after-destroy" {
            assert!(fx.record("vault-root").get("revoked").is_none());
            fx.zeroth()
                .args([
                    "revoke",
                    "vault-root",
                    "--reason",
                    "test",
                    "--confirm-seal",
                    "vault-root",
                ])
                .run()
                .ok();
        }
        assert!(fx.record("vault-root").get("revoked").is_some());
        orphans_cleaned(&fx, &[]);
    }
}
