//! What operators, custodians and auditors meet around the ceremonies: who ran them,
//! the small refusals and hints, rotation warnings, custodians kept as data, the
//! auditor's report, and help and completion.

use std::os::unix::fs::PermissionsExt;

use serde_json::Value;

use crate::common::*;

fn check_json(fx: &Fixture, now: Option<&str>) -> (i32, Vec<Value>) {
    let mut c = fx.zeroth().args(["--json", "check"]);
    if let Some(t) = now {
        c = c.env("ZEROTH_NOW", t);
    }
    let run = c.run();
    let json: Value = serde_json::from_slice(&run.stdout)
        .unwrap_or_else(|e| panic!("check --json: {e}: {}{}", run.stdout_str(), run.stderr));
    (
        run.code,
        json["findings"].as_array().cloned().unwrap_or_default(),
    )
}

fn ids(findings: &[Value]) -> Vec<&str> {
    findings.iter().map(|f| f["id"].as_str().unwrap()).collect()
}

#[test]
fn the_operator_is_named_by_option_or_environment_and_check_warns_when_not() {
    let fx = Fixture::new();
    fx.env_init("prod", "prod").ok();
    fx.generate_cmd("vault-root", "prod", 3, 5)
        .args(["--operator", "alice@secops"])
        .run()
        .ok();
    let e = fx.log_lines("prod").pop().unwrap();
    assert_eq!(
        (e["operator"].as_str(), e["operator_from"].as_str()),
        (Some("alice@secops"), Some("option"))
    );
    fx.drill_all();
    let e = fx.log_lines("prod").pop().unwrap();
    assert_eq!(
        (e["operator"].as_str(), e["operator_from"].as_str()),
        (Some(OPERATOR), Some("env"))
    );
    let (code, findings) = check_json(&fx, None);
    assert!(
        !ids(&findings).contains(&"operator-unnamed"),
        "{findings:?}"
    );
    assert_eq!(code, 0);
    // Without a name: the login name is logged, and check says so.
    fx.unseal_cmd("vault-root", &["alice", "bob", "carol"])
        .args(["--output", "-"])
        .env_remove("ZEROTH_OPERATOR")
        .env("USER", "root")
        .run()
        .ok();
    let e = fx.log_lines("prod").pop().unwrap();
    assert_eq!(
        (e["operator"].as_str(), e["operator_from"].as_str()),
        (Some("root"), Some("login"))
    );
    let (code, findings) = check_json(&fx, None);
    assert_eq!(code, 0, "a warning");
    let f = findings
        .iter()
        .find(|f| f["id"] == "operator-unnamed")
        .expect("operator-unnamed");
    assert_eq!(f["severity"], "warning");
    let message = f["message"].as_str().unwrap();
    assert!(
        message.contains("1 entry of the log of 'prod' name no operator"),
        "{message}"
    );
    assert!(message.contains("unseal"), "{message}");
    assert!(f["action"].as_str().unwrap().contains("--operator NAME"));
    // A name that is not one.
    fx.zeroth().args(["--operator", "", "list"]).run().fails(
        2,
        &["--operator: give a name of 1 to 64 printable characters"],
    );
}

#[test]
fn missing_share_and_card_directories_are_made_0700() {
    let fx = Fixture::new();
    fx.env_init("prod", "prod").ok();
    let out = fx.path().join("new").join("shares");
    let cards = fx.path().join("cards");
    fx.zeroth()
        .args(["generate", "vault-root", "--env", "prod", "--owner", "o"])
        .args([
            "--purpose",
            "p",
            "--rotate-every",
            "90d",
            "--threshold",
            "2",
        ])
        .args(["--custodian", "alice", "--custodian", "bob", "--out-dir"])
        .arg(&out)
        .arg("--paper")
        .arg(&cards)
        .run()
        .ok();
    for dir in [&out, &fx.path().join("new"), &cards] {
        let mode = std::fs::metadata(dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "{}", dir.display());
    }
    assert!(out.join("vault-root.alice.share").is_file());
    assert!(cards.join("vault-root.bob.card.svg").is_file());
    // A refusal before the shares are dealt makes no directory.
    let later = fx.path().join("later");
    unchanged(&fx, &["prod"], || {
        fx.zeroth()
            .args(["generate", "vault-root", "--env", "prod", "--owner", "o"])
            .args([
                "--purpose",
                "p",
                "--rotate-every",
                "90d",
                "--threshold",
                "2",
            ])
            .args(["--custodian", "alice", "--custodian", "bob", "--out-dir"])
            .arg(&later)
            .run()
    })
    .fails(3, &["vault-root"]);
    assert!(!later.exists());
}

#[test]
fn a_command_without_its_separator_gets_a_hint() {
    let fx = Fixture::sealed();
    fx.zeroth()
        .args(["unseal", "vault-root", "--share"])
        .arg(fx.share("vault-root", "alice"))
        .args(["--exec", "bao", "write", "sys/unseal", "key=-"])
        .run()
        .fails(
            2,
            &[
                "unexpected argument",
                "tip: the command to run goes after '--'",
            ],
        );
    fx.zeroth()
        .args(["unseal", "vault-root", "--exec"])
        .run()
        .fails(2, &["tip: the command to run goes after '--'"]);
}

#[test]
fn allow_tty_ends_the_value_with_a_newline_on_a_terminal() {
    let fx = Fixture::sealed();
    let mut cmd = format!(
        "{} unseal vault-root --output - --allow-tty",
        env!("CARGO_BIN_EXE_zeroth")
    );
    for w in ["alice", "bob", "carol"] {
        cmd.push_str(&format!(" --share {}", fx.share("vault-root", w).display()));
    }
    let mut c = std::process::Command::new("script");
    c.args(["-qec", &cmd, "/dev/null"])
        .env("ZEROTH_STORE", fx.store())
        .env("ZEROTH_OPERATOR", OPERATOR)
        .env("ZEROTH_PIN", PIN);
    fx.module_env(&mut c);
    let out = c.output().expect("script (util-linux)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    let hex_line = text
        .split("\r\n")
        .find(|l| l.len() == 64 && l.bytes().all(|b| b.is_ascii_hexdigit()))
        .unwrap_or_else(|| panic!("the credential on a line of its own: {text:?}"));
    assert_eq!(hex_line.len(), 64);
}

#[test]
fn rotation_due_soon_is_a_warning_before_it_is_overdue() {
    let fx = Fixture::sealed();
    fx.drill_all();
    fx.revoke_drill("vault-root", None);
    let sealed = fx.record("vault-root")["sealed"]
        .as_str()
        .unwrap()
        .to_string();
    let sealed =
        time::OffsetDateTime::parse(&sealed, &time::format_description::well_known::Rfc3339)
            .unwrap();
    let at = |days: i64| {
        (sealed + time::Duration::days(days))
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    let (code, findings) = check_json(&fx, Some(&at(70)));
    assert_eq!((code, ids(&findings)), (0, vec![]), "{findings:?}");
    let (code, findings) = check_json(&fx, Some(&at(80)));
    assert_eq!(code, 0, "{findings:?}");
    assert_eq!(ids(&findings), vec!["rotation-due-soon"]);
    assert_eq!(findings[0]["severity"], "warning");
    assert!(
        findings[0]["message"]
            .as_str()
            .unwrap()
            .contains("(in 10 days; every 90 days)"),
        "{findings:?}"
    );
    let (code, findings) = check_json(&fx, Some(&at(91)));
    assert_eq!(code, 1);
    assert_eq!(ids(&findings), vec!["rotation-overdue"]);
    // The window is a policy value, approved like the others.
    let toml = fx.store().join("zeroth.toml");
    let text = std::fs::read_to_string(&toml).unwrap();
    assert!(text.contains("[policy]\n"), "{text}");
    std::fs::write(
        &toml,
        text.replace("[policy]\n", "[policy]\nrotation_warning_days = 20\n"),
    )
    .unwrap();
    fx.approve_settings("prod").ok();
    let (_, findings) = check_json(&fx, Some(&at(72)));
    assert_eq!(ids(&findings), vec!["rotation-due-soon"], "{findings:?}");
}

#[test]
fn share_verify_of_a_paper_card_says_to_scan_it() {
    let fx = Fixture::new();
    fx.env_init("prod", "prod").ok();
    let cards = fx.path().join("cards");
    fx.generate_cmd("vault-root", "prod", 2, 3)
        .arg("--paper")
        .arg(&cards)
        .run()
        .ok();
    fx.zeroth()
        .args(["share", "verify"])
        .arg(cards.join("vault-root.alice.card.svg"))
        .run()
        .fails(
            3,
            &[
                "vault-root.alice.card.svg",
                "a paper card (SVG)",
                "scan its QR code",
            ],
        );
}

#[test]
fn no_store_names_where_it_looked_and_how_to_point_elsewhere() {
    let fx = Fixture::empty();
    fx.zeroth().arg("list").run().fails(
        2,
        &[
            &format!("no zeroth store at {}", fx.store().display()),
            "ZEROTH_STORE",
            "--store DIR",
        ],
    );
    fx.zeroth()
        .arg("list")
        .env_remove("ZEROTH_STORE")
        .run()
        .fails(2, &["no zeroth store at ./zeroth:", "ZEROTH_STORE"]);
}

#[test]
fn only_a_text_secret_is_noted_for_its_trailing_newline() {
    let fx = Fixture::new();
    fx.env_init("prod", "prod").ok();
    let text = fx
        .import_cmd("text", "prod", 2, 3, b"s3cret-token-of-the-platform\n")
        .run()
        .ok();
    assert!(
        text.stderr.contains("ends with a newline"),
        "{}",
        text.stderr
    );
    let mut binary: Vec<u8> = (0u8..=40).map(|b| b.wrapping_mul(37) ^ 0x80).collect();
    binary.push(b'\n');
    let bin = fx.import_cmd("binary", "prod", 2, 3, &binary).run().ok();
    assert!(!bin.stderr.contains("newline"), "{}", bin.stderr);
}

#[test]
fn the_auditors_report_has_a_summary_presenters_consumers_and_a_sign_off() {
    let fx = Fixture::sealed();
    fx.drill_all();
    let exec = |code: u8| {
        fx.unseal_cmd("vault-root", &["alice", "bob", "carol"])
            .args(["--exec", "--", "sh", "-c"])
            .arg(format!("cat >/dev/null; exit {code}"))
            .run()
    };
    exec(0).ok();
    assert_eq!(exec(2).code, 2);
    // A share presented and refused: another seal's.
    fx.generate("other", "prod", 2, 3).ok();
    fx.zeroth()
        .args(["unseal", "vault-root", "--output", "-", "--share"])
        .args(["alice", "bob", "carol"].map(|w| fx.share("vault-root", w)))
        .arg("--share")
        .arg(fx.share("other", "carol"))
        .run()
        .fails(3, &["other.carol.share"]);
    fx.zeroth()
        .args([
            "revoke",
            "vault-root",
            "--reason",
            "test over",
            "--confirm-seal",
            "vault-root",
        ])
        .run()
        .ok();
    let report = fx
        .zeroth()
        .args(["audit", "report", "vault-root"])
        .run()
        .ok();
    let text = report.stdout_str();
    assert!(
        text.starts_with("# Ceremony transcript: `vault-root` (prod) — REVOKED"),
        "{text}"
    );
    for fragment in [
        "## Summary",
        "- **State**: **REVOKED** at ",
        ": test over",
        "- **Versions**: v1 set 1 (current, sealed ",
        "- **Custodians**: any 3 of 5: alice, bob, carol, dave, erin",
        "- **Operators**: test-operator (",
        "| custodian | share accepted in | share refused in |",
        "| alice | generate, drill, unseal ×3 | — |",
        "| erin | generate, drill | — |",
        "- **Presenters**: 5 accepted, 0 refused",
        "- **Presenters**: 3 accepted, 1 refused",
        "- **Consumer exit status**: 0 (success)",
        "- **Consumer exit status**: 2 (failure)",
        "## Sign-off",
        "| Operator | | | |",
        "| Witness | | | |",
        "| Auditor | | | |",
    ] {
        assert!(
            text.contains(fragment),
            "report lacks {fragment:?}:\n{text}"
        );
    }
    // The refused presenter is counted apart: carol's share of another seal.
    assert!(
        text.contains("| carol | generate, drill, unseal ×3 | unseal |"),
        "{text}"
    );
    let json: Value = serde_json::from_slice(
        &fx.zeroth()
            .args(["--json", "audit", "report", "vault-root"])
            .run()
            .ok()
            .stdout,
    )
    .unwrap();
    assert_eq!(json["revoked"], true);
    assert!(json["participation"].as_array().unwrap().len() == 5);
}

#[test]
fn audit_show_keeps_the_whole_detail_when_not_on_a_terminal() {
    let fx = Fixture::sealed();
    let long = fx
        .log_lines("prod")
        .into_iter()
        .map(|e| e["detail"].as_str().unwrap().to_string())
        .find(|d| d.chars().count() > 100)
        .expect("an entry with a long detail");
    let shown = fx.zeroth().args(["audit", "show"]).run().ok().stdout_str();
    assert!(shown.contains(&long), "{long}\n{shown}");
}

#[test]
fn custodians_are_added_approved_and_listed() {
    let fx = Fixture::sealed();
    fx.drill_all();
    let keys = fx.path().join("keys");
    std::fs::create_dir(&keys).unwrap();
    let frank = crate::custody::age_key(&keys, "frank");
    let added = fx
        .zeroth()
        .args(["custodian", "add", "frank", "--recipient", &frank.recipient])
        .run()
        .ok();
    assert!(
        added.stdout_str().contains("custodian 'frank' added"),
        "{}",
        added.stdout_str()
    );
    assert!(
        added
            .stdout_str()
            .contains("approved (signed into the settings) in: prod")
    );
    let e = fx.log_lines("prod").pop().unwrap();
    assert_eq!(
        (e["event"].as_str(), e["outcome"].as_str()),
        (Some("custodian-add"), Some("ok"))
    );
    assert!(e["sig"].is_string());
    fx.audit_verify().ok();
    // Approved: a rekey that adds frank encrypts his share to his key, unasked.
    let new = fx.path().join("new");
    fx.zeroth()
        .args(["rekey", "vault-root", "--custodian", "frank", "--share"])
        .args(["alice", "bob", "carol"].map(|w| fx.share("vault-root", w)))
        .arg("--out-dir")
        .arg(&new)
        .run()
        .ok();
    let sealed = new.join("vault-root.frank.share.age");
    assert!(
        crate::custody::age_decrypt(&frank.identity, &sealed)
            .status
            .success()
    );
    // Without a PIN at hand, the proposal is written and the approval named.
    let grace = crate::custody::age_key(&keys, "grace");
    let proposed = fx
        .zeroth()
        .args(["custodian", "add", "grace", "--recipient", &grace.recipient])
        .without_pin()
        .run()
        .ok();
    assert!(
        proposed
            .stdout_str()
            .contains("not approved yet in 'prod': a share is encrypted to it only once approved: zeroth settings approve --env prod"),
        "{}",
        proposed.stdout_str()
    );
    // Refusals: another recipient without --replace; a name under another case.
    unchanged(&fx, &["prod"], || {
        fx.zeroth()
            .args(["custodian", "add", "frank", "--recipient", &grace.recipient])
            .run()
    })
    .fails(3, &["custodian 'frank' exists already", "--replace"]);
    unchanged(&fx, &["prod"], || {
        fx.zeroth()
            .args(["custodian", "add", "Frank", "--recipient", &grace.recipient])
            .run()
    })
    .fails(
        3,
        &["custodian 'frank' exists already", "without regard to case"],
    );
    unchanged(&fx, &["prod"], || {
        fx.zeroth()
            .args(["custodian", "add", "henry", "--recipient", "age1nonsense"])
            .run()
    })
    .fails(2, &["henry", "--recipient"]);
    fx.zeroth()
        .args(["custodian", "offboard", "erin"])
        .run()
        .ok();
    let list = fx
        .zeroth()
        .args(["custodian", "list"])
        .run()
        .ok()
        .stdout_str();
    let line = |who: &str| {
        list.lines()
            .find(|l| l.starts_with(who))
            .unwrap_or_else(|| panic!("{who} in:\n{list}"))
            .to_string()
    };
    assert!(list.starts_with("NAME"), "{list}");
    assert!(line("frank").contains(&frank.recipient), "{list}");
    assert!(line("frank").contains("prod"), "{list}");
    assert!(line("grace").contains("NOT APPROVED"), "{list}");
    assert!(line("alice").contains("vault-root (prod)"), "{list}");
    assert!(
        !line("alice").contains("never"),
        "alice's share was proven in the drill: {list}"
    );
    let erin = line("erin");
    assert!(
        !erin.trim_end().ends_with('-'),
        "erin was offboarded: {list}"
    );
    let json: Value = serde_json::from_slice(
        &fx.zeroth()
            .args(["--json", "custodian", "list"])
            .run()
            .ok()
            .stdout,
    )
    .unwrap();
    let rows = json["custodians"].as_array().unwrap();
    let erin = rows.iter().find(|r| r["name"] == "erin").unwrap();
    assert!(erin["offboarded"].is_string());
    assert_eq!(erin["seals"], serde_json::json!(["vault-root (prod)"]));
    // An offboarded name is not given back.
    unchanged(&fx, &["prod"], || {
        fx.zeroth().args(["custodian", "add", "erin"]).run()
    })
    .fails(3, &["custodian 'erin' was offboarded"]);
}

/// What zeroth answers a shell completing `words` (the last is the word being
/// completed), asked the way the fish script asks; options left out.
fn complete(fx: &Fixture, words: &[&str]) -> Vec<String> {
    let run = fx
        .zeroth()
        .env("COMPLETE", "fish")
        .arg("--")
        .arg("zeroth")
        .args(words)
        .run()
        .ok();
    run.stdout_str()
        .lines()
        .map(|l| l.split('\t').next().unwrap().to_string())
        .filter(|w| !w.starts_with('-'))
        .collect()
}

#[test]
fn completion_offers_the_stores_seals_and_environments() {
    let fx = Fixture::sealed();
    fx.generate("other", "prod", 2, 3).ok();
    assert!(complete(&fx, &["unse"]).contains(&"unseal".to_string()));
    assert_eq!(complete(&fx, &["unseal", ""]), vec!["other", "vault-root"]);
    assert_eq!(complete(&fx, &["drill", "vau"]), vec!["vault-root"]);
    assert_eq!(
        complete(&fx, &["audit", "report", ""]),
        vec!["other", "vault-root"]
    );
    assert_eq!(
        complete(&fx, &["audit", "show", "--seal", "o"]),
        vec!["other"]
    );
    assert_eq!(complete(&fx, &["check", "--env", ""]), vec!["prod"]);
    assert_eq!(complete(&fx, &["cleanup", "--env", "p"]), vec!["prod"]);
    // The bash protocol: words, the index of the one completed, and a separator.
    let run = fx
        .zeroth()
        .env("COMPLETE", "bash")
        .env("_CLAP_COMPLETE_INDEX", "2")
        .env("_CLAP_COMPLETE_COMP_TYPE", "9")
        .env("_CLAP_COMPLETE_SPACE", "true")
        .env("_CLAP_IFS", "\n")
        .args(["--", "zeroth", "rekey", "vault"])
        .run()
        .ok();
    assert!(
        run.stdout_str().lines().any(|l| l == "vault-root"),
        "{}",
        run.stdout_str()
    );
    // No store, no names, no error.
    let empty = Fixture::empty();
    assert_eq!(complete(&empty, &["unseal", ""]), Vec::<String>::new());
}
