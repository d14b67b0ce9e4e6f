//! The ceremony log: whole logs verify; every kind of damage is found and named;
//! signatures verify with openssl; failures are logged; parallel ceremonies keep one
//! chain.

use std::path::PathBuf;

use base64::Engine;

use crate::common::*;

/// A store with env init, generate, two unseals, a refused unseal and a drill: seven
/// entries, all signed.
fn busy() -> Fixture {
    let fx = Fixture::sealed();
    fx.unseal("vault-root", &["alice", "bob", "carol"]).ok();
    fx.unseal("vault-root", &["dave"])
        .fails(3, &["2 more needed"]);
    fx.unseal("vault-root", &["bob", "dave", "erin"]).ok();
    fx.zeroth()
        .args(["drill", "vault-root", "--share"])
        .args(CUSTODIANS[..5].iter().map(|w| fx.share("vault-root", w)))
        .run()
        .ok();
    fx.generate("second", "prod", 2, 3).ok();
    fx
}

fn log_path(fx: &Fixture, env: &str) -> PathBuf {
    fx.store().join("logs").join(format!("{env}.jsonl"))
}

fn raw_lines(fx: &Fixture, env: &str) -> Vec<String> {
    std::fs::read_to_string(log_path(fx, env))
        .unwrap()
        .lines()
        .map(String::from)
        .collect()
}

fn write_lines(fx: &Fixture, env: &str, lines: &[String]) {
    std::fs::write(
        log_path(fx, env),
        lines.iter().map(|l| format!("{l}\n")).collect::<String>(),
    )
    .unwrap();
}

/// Asserts that `audit verify` names the damage, both as it checks by default (the
/// chain, and the signature at its end) and with `--every-signature`.
#[track_caller]
fn damaged(fx: &Fixture, seq: u64, kind: &str) -> Run {
    let every = fx
        .zeroth()
        .args(["audit", "verify", "--every-signature"])
        .run();
    let run = fx.audit_verify();
    let expected = format!("DAMAGED at entry {seq}: {kind}");
    for (how, run) in [("default", &run), ("--every-signature", &every)] {
        assert_eq!(
            run.code,
            3,
            "verify ({how}) must fail: {}{}",
            run.stdout_str(),
            run.stderr
        );
        assert!(
            run.stdout_str().contains(&expected),
            "wanted {expected:?} ({how}) in:\n{}",
            run.stdout_str()
        );
    }
    let damage = |run: &Run| -> Vec<String> {
        run.stdout_str()
            .lines()
            .filter(|l| l.contains("DAMAGED"))
            .map(String::from)
            .collect()
    };
    assert_eq!(damage(&run), damage(&every));
    run
}

#[test]
fn an_untouched_log_verifies() {
    let fx = busy();
    let run = fx.audit_verify().ok();
    assert!(
        run.stdout_str().contains("prod: 7 entries"),
        "{}",
        run.stdout_str()
    );
    assert!(
        run.stdout_str().contains("valid, 7 signed"),
        "{}",
        run.stdout_str()
    );
    let lines = fx.log_lines("prod");
    let events: Vec<&str> = lines.iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(
        events,
        [
            "env-init", "generate", "unseal", "unseal", "unseal", "drill", "generate"
        ]
    );
    for (i, e) in lines.iter().enumerate() {
        assert_eq!(e["seq"], i as u64 + 1);
        assert_eq!(e["env"], "prod");
        assert!(e["sig"].is_string());
    }
    // Needs neither HSM nor PIN.
    fx.zeroth()
        .env(fx.kind.conf_var(), "/nonexistent")
        .env_remove("ZEROTH_PIN")
        .args(["audit", "verify", "--env", "prod"])
        .run()
        .ok();
    let json: serde_json::Value = serde_json::from_slice(
        &fx.zeroth()
            .args(["--json", "audit", "verify"])
            .run()
            .ok()
            .stdout,
    )
    .unwrap();
    assert_eq!(json["logs"][0]["entries"], 7);
    assert_eq!(json["logs"][0]["damage"], serde_json::Value::Null);
    // By default one signature is checked (the last); the chain ties it to the rest.
    assert_eq!(json["logs"][0]["check"], "checkpoints");
    assert_eq!(json["logs"][0]["checked"], 1);
    let every = fx
        .zeroth()
        .args(["audit", "verify", "--every-signature"])
        .run()
        .ok();
    assert!(
        every
            .stdout_str()
            .contains("valid, 7 signed (7 signatures checked)"),
        "{}",
        every.stdout_str()
    );
}

/// A line with a forged signature at the end of the log: named by `audit verify`, and
/// no honest ceremony signs over it (the next one refuses to begin, saying why), so no
/// later signature can ever cover it.
#[test]
fn a_forged_signature_is_named_and_never_signed_over() {
    let fx = busy();
    let mut lines = raw_lines(&fx, "prod");
    let last = lines.last().unwrap().clone();
    let mut v: serde_json::Value = serde_json::from_str(&last).unwrap();
    v["seq"] = 8.into();
    v["prev"] = zeroth::audit::link_hash(last.as_bytes()).into();
    v["event"] = "drill".into();
    v["seal"] = "vault-root".into();
    v["detail"] = "5 of 5 shares proven".into();
    // The signature of another entry: well formed, by the right key, over other bytes.
    let sig = v.as_object_mut().unwrap().remove("sig").unwrap();
    let mut line = serde_json::to_string(&v).unwrap();
    line.pop();
    line.push_str(&format!(",\"sig\":{sig}}}"));
    lines.push(line);
    write_lines(&fx, "prod", &lines);
    damaged(&fx, 8, "edited");
    let before = std::fs::read(log_path(&fx, "prod")).unwrap();
    let run = fx
        .zeroth()
        .args(["drill", "vault-root", "--share"])
        .args(CUSTODIANS[..5].iter().map(|w| fx.share("vault-root", w)))
        .run();
    run.fails(
        3,
        &[
            "entries after the last one token",
            "entry 8 does not match its signature",
            "zeroth signs nothing over them",
        ],
    );
    // The refusal is logged unsigned after it; nothing signed follows the forgery.
    let after = raw_lines(&fx, "prod");
    assert!(
        std::fs::read(log_path(&fx, "prod"))
            .unwrap()
            .starts_with(&before)
    );
    for extra in &after[8..] {
        let e: serde_json::Value = serde_json::from_str(extra).unwrap();
        assert_eq!(e["sig"], serde_json::Value::Null, "{extra}");
        assert_eq!(e["outcome"], "refused", "{extra}");
    }
    damaged(&fx, 8, "edited");
}

#[test]
fn an_edited_field_is_named() {
    let fx = busy();
    let mut lines = raw_lines(&fx, "prod");
    lines[2] = lines[2].replace(
        "\"custodians\":[\"alice\",\"bob\",\"carol\"]",
        "\"custodians\":[\"alice\",\"bob\",\"mallory\"]",
    );
    write_lines(&fx, "prod", &lines);
    damaged(&fx, 3, "edited");
}

#[test]
fn an_entry_removed_from_the_middle_is_named() {
    let fx = busy();
    let mut lines = raw_lines(&fx, "prod");
    lines.remove(3);
    write_lines(&fx, "prod", &lines);
    damaged(&fx, 4, "removed");
}

#[test]
fn two_entries_swapped_are_named() {
    let fx = busy();
    let mut lines = raw_lines(&fx, "prod");
    lines.swap(2, 3);
    write_lines(&fx, "prod", &lines);
    damaged(&fx, 3, "reordered");
}

#[test]
fn the_last_entries_cut_off_are_named() {
    let fx = busy();
    let mut lines = raw_lines(&fx, "prod");
    lines.truncate(5);
    write_lines(&fx, "prod", &lines);
    let run = damaged(&fx, 6, "truncated");
    assert!(
        run.stdout_str().contains("entries 6 to 7 were cut off"),
        "{}",
        run.stdout_str()
    );
}

#[test]
fn a_cut_hidden_by_an_old_head_is_caught_by_a_record() {
    // The attacker truncates the log and restores the head file from a backup taken
    // when the log was that short: the seal records remember more.
    let fx = Fixture::sealed();
    let head = fx.store().join("logs/prod.head");
    let old_head = std::fs::read(&head).unwrap();
    let old_log = std::fs::read(log_path(&fx, "prod")).unwrap();
    // Two drills: the second re-signs the record with the log at entry 3 in it.
    for _ in 0..2 {
        fx.zeroth()
            .args(["drill", "vault-root", "--share"])
            .args(CUSTODIANS[..3].iter().map(|w| fx.share("vault-root", w)))
            .run()
            .ok();
    }
    std::fs::write(&head, old_head).unwrap();
    std::fs::write(log_path(&fx, "prod"), old_log).unwrap();
    let run = damaged(&fx, 3, "truncated");
    assert!(
        run.stdout_str().contains("seal record 'vault-root'"),
        "{}",
        run.stdout_str()
    );
}

#[test]
fn a_line_spliced_from_another_environment_is_named() {
    let fx = busy();
    fx.init_token("dev");
    fx.env_init("dev", "dev").ok();
    fx.generate("dev-seal", "dev", 2, 3).ok();
    let dev = raw_lines(&fx, "dev");
    let mut lines = raw_lines(&fx, "prod");
    lines[1] = dev[1].clone();
    write_lines(&fx, "prod", &lines);
    let run = damaged(&fx, 2, "spliced from another log");
    assert!(
        run.stdout_str().contains("environment 'dev'"),
        "{}",
        run.stdout_str()
    );
}

/// Signs `line` (its `,"sig":…` member replaced) with a key that is not the HSM's.
fn resign_with_other_key(line: &str) -> (String, String) {
    use p256::ecdsa::signature::Signer;
    use p256::pkcs8::EncodePublicKey;
    let key = p256::ecdsa::SigningKey::from_slice(&[7u8; 32]).unwrap();
    let der = key.verifying_key().to_public_key_der().unwrap();
    use sha2::Digest;
    let fp = format!(
        "sha256:{}",
        hex::encode(sha2::Sha256::digest(der.as_bytes()))
    );
    let mut entry: serde_json::Value = serde_json::from_str(line).unwrap();
    entry["detail"] = "nothing happened here".into();
    entry["key"] = fp.clone().into();
    let obj = entry.as_object_mut().unwrap();
    obj.remove("sig");
    // Member order as zeroth writes it: serde_json keeps insertion order only with
    // preserve_order, so rebuild the body from the Entry type.
    let typed: zeroth::audit::Entry = serde_json::from_value(entry).unwrap();
    let body = serde_json::to_string(&typed).unwrap();
    let mut message = b"zeroth-audit-v1\n".to_vec();
    message.extend_from_slice(body.as_bytes());
    let sig: p256::ecdsa::Signature = key.sign(&message);
    let b64 = base64::engine::general_purpose::STANDARD.encode(sig.to_der().as_bytes());
    (
        format!("{},\"sig\":\"{b64}\"}}", &body[..body.len() - 1]),
        fp,
    )
}

#[test]
fn an_entry_resigned_with_another_key_is_named() {
    let fx = busy();
    let mut lines = raw_lines(&fx, "prod");
    let (forged, fp) = resign_with_other_key(&lines[6]);
    lines[6] = forged;
    write_lines(&fx, "prod", &lines);
    let run = damaged(&fx, 7, "signed by another key");
    assert!(run.stdout_str().contains(&fp), "{}", run.stdout_str());
}

#[test]
fn a_removed_signature_is_named() {
    let fx = busy();
    let mut lines = raw_lines(&fx, "prod");
    let at = lines[3].rfind(",\"sig\":").unwrap();
    lines[3] = format!("{},\"sig\":null}}", &lines[3][..at]);
    write_lines(&fx, "prod", &lines);
    damaged(&fx, 4, "unsigned");
}

#[test]
fn an_edited_head_is_named() {
    let fx = busy();
    let head = fx.store().join("logs/prod.head");
    let text = std::fs::read_to_string(&head)
        .unwrap()
        .replace("\"seq\":7", "\"seq\":9");
    std::fs::write(&head, text).unwrap();
    let run = fx.audit_verify();
    assert_eq!(run.code, 3);
    assert!(
        run.stdout_str().contains("does not match its signature"),
        "{}",
        run.stdout_str()
    );
}

#[test]
fn another_key_given_with_pubkey_is_refused() {
    let fx = busy();
    fx.init_token("dev");
    fx.env_init("dev", "dev").ok();
    let run = fx
        .zeroth()
        .args(["audit", "verify", "--env", "prod", "--pubkey"])
        .arg(fx.store().join("keys/dev.pem"))
        .run();
    assert_eq!(run.code, 3);
    assert!(
        run.stdout_str()
            .contains("DAMAGED at entry 1: signed by another key"),
        "{}",
        run.stdout_str()
    );
}

#[test]
fn an_entry_signature_verifies_with_openssl() {
    let fx = busy();
    let lines = raw_lines(&fx, "prod");
    let line = &lines[2];
    let at = line.rfind(",\"sig\":\"").unwrap();
    let mut message = b"zeroth-audit-v1\n".to_vec();
    message.extend_from_slice(&line.as_bytes()[..at]);
    message.push(b'}');
    let sig_b64 = line[at + 8..line.len() - 2].to_string();
    let sig = base64::engine::general_purpose::STANDARD
        .decode(sig_b64)
        .unwrap();
    let (m, s) = (fx.path().join("entry.msg"), fx.path().join("entry.sig"));
    std::fs::write(&m, &message).unwrap();
    std::fs::write(&s, &sig).unwrap();
    let verify = |msg: &PathBuf| {
        std::process::Command::new("openssl")
            .args(["dgst", "-sha256", "-verify"])
            .arg(fx.store().join("keys/prod.pem"))
            .arg("-signature")
            .arg(&s)
            .arg(msg)
            .output()
            .unwrap()
    };
    let out = verify(&m);
    assert!(out.status.success() && String::from_utf8_lossy(&out.stdout).contains("Verified OK"));
    // And openssl refuses the same signature over an edited line.
    let edited = fx.path().join("edited.msg");
    std::fs::write(
        &edited,
        String::from_utf8(message)
            .unwrap()
            .replace("\"unseal\"", "\"drill\""),
    )
    .unwrap();
    assert!(!verify(&edited).status.success());
}

#[test]
fn failed_ceremonies_leave_an_entry_naming_what_failed() {
    let fx = Fixture::sealed();
    let credential = fx
        .unseal("vault-root", &["alice", "bob", "carol"])
        .ok()
        .stdout;

    // A bad share: named with its custodian and the reason.
    let text = std::fs::read_to_string(fx.share("vault-root", "bob")).unwrap();
    let bad = fx.path().join("bob-bad.share");
    std::fs::write(&bad, text.replace("Custodian: bob", "Custodian: carol")).unwrap();
    fx.zeroth()
        .args(["unseal", "vault-root", "--output", "-", "--share"])
        .arg(fx.share("vault-root", "alice"))
        .arg(&bad)
        .arg(fx.share("vault-root", "dave"))
        .run()
        .fails(3, &["bob-bad.share"]);
    let e = fx.log_lines("prod").pop().unwrap();
    assert_eq!(e["event"], "unseal");
    assert_eq!(e["outcome"], "refused");
    assert_eq!(e["rejected"][0]["custodian"], "bob");
    assert!(
        e["rejected"][0]["file"]
            .as_str()
            .unwrap()
            .ends_with("bob-bad.share")
    );
    assert!(
        e["rejected"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("header was edited")
    );
    assert_eq!(e["custodians"], serde_json::json!(["alice", "dave"]));
    assert!(e["sig"].is_string(), "signed: the PIN was at hand ({e})");

    // A tampered record.
    let mut r = fx.record("vault-root");
    r["threshold"] = 2.into();
    fx.write_record("vault-root", &r);
    fx.unseal("vault-root", &["alice", "bob"])
        .fails(3, &["fails its signature check"]);
    let e = fx.log_lines("prod").pop().unwrap();
    assert_eq!(e["outcome"], "refused");
    assert!(
        e["detail"]
            .as_str()
            .unwrap()
            .contains("fails its signature check"),
        "{e}"
    );
    r["threshold"] = 3.into();
    fx.write_record("vault-root", &r);

    // A wrong PIN: the entry cannot be signed, and says why.
    fx.unseal_cmd("vault-root", &["alice", "bob", "carol"])
        .env("ZEROTH_PIN", "999999")
        .args(["--output", "-"])
        .run()
        .fails(3, &["wrong PIN"]);
    let e = fx.log_lines("prod").pop().unwrap();
    assert_eq!(e["outcome"], "refused");
    assert!(e["sig"].is_null());
    assert!(
        e["unsigned"]
            .as_str()
            .unwrap()
            .contains("CKR_PIN_INCORRECT"),
        "{e}"
    );
    assert!(!e["detail"].as_str().unwrap().contains("999999"));

    // The unsigned tail fails verification until a signed entry covers it.
    let run = fx.audit_verify();
    assert_eq!(run.code, 3);
    assert!(
        run.stdout_str().contains("unsigned"),
        "{}",
        run.stdout_str()
    );
    fx.zeroth()
        .args(["audit", "attest", "--env", "prod"])
        .run()
        .ok();
    let run = fx.audit_verify().ok();
    assert!(
        run.stdout_str().contains("covered by later signed entries"),
        "{}",
        run.stdout_str()
    );

    // No secret in the log, the head or any of it.
    let raw = hex::decode(&credential).unwrap();
    for file in ["logs/prod.jsonl", "logs/prod.head"] {
        let bytes = std::fs::read(fx.store().join(file)).unwrap();
        for needle in [
            credential.clone(),
            raw.clone(),
            base64::engine::general_purpose::STANDARD
                .encode(&raw)
                .into_bytes(),
        ] {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle),
                "credential in {file}"
            );
        }
        assert!(
            !String::from_utf8_lossy(&bytes).contains(PIN),
            "PIN in {file}"
        );
    }
}

#[test]
fn refusals_before_the_hsm_without_a_pin_are_chained_unsigned() {
    let fx = Fixture::sealed();
    // No PIN at hand without asking (and no terminal): the refusal is logged unsigned.
    let mut c = std::process::Command::new("setsid");
    c.arg(env!("CARGO_BIN_EXE_zeroth"))
        .args(["unseal", "vault-root", "--output", "-", "--share"])
        .arg(fx.share("vault-root", "alice"))
        .env("ZEROTH_STORE", fx.store())
        .env_remove("ZEROTH_PIN")
        .stdin(std::process::Stdio::null());
    fx.module_env(&mut c);
    let out = c.output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    let e = fx.log_lines("prod").pop().unwrap();
    assert_eq!(e["outcome"], "refused");
    assert!(
        e["unsigned"]
            .as_str()
            .unwrap()
            .contains("no PIN was at hand"),
        "{e}"
    );
    // The next signed ceremony covers it.
    fx.unseal("vault-root", &["alice", "bob", "carol"]).ok();
    fx.audit_verify().ok();
}

#[test]
fn parallel_ceremonies_leave_one_valid_chain() {
    let fx = Fixture::sealed();
    let bin = env!("CARGO_BIN_EXE_zeroth");
    let mut children = Vec::new();
    for i in 0..8 {
        let mut c = std::process::Command::new(bin);
        fx.module_env(&mut c);
        c.env("ZEROTH_STORE", fx.store())
            .env("ZEROTH_PIN", PIN)
            .env("ZEROTH_LOCK_WAIT_MS", "60000")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        if i % 2 == 0 {
            // Succeeds: a drill, under the store lock.
            c.args(["drill", "vault-root", "--share"])
                .args(["alice", "bob", "carol"].map(|w| fx.share("vault-root", w)));
        } else {
            // Refused: too few shares; logged after the store lock is released.
            c.args(["unseal", "vault-root", "--output", "-", "--share"])
                .arg(fx.share("vault-root", "erin"));
        }
        children.push((i, c.spawn().unwrap()));
    }
    for (i, mut child) in children {
        let code = child.wait().unwrap().code();
        assert_eq!(code, Some(if i % 2 == 0 { 0 } else { 3 }), "child {i}");
    }
    let lines = fx.log_lines("prod");
    assert_eq!(
        lines.len(),
        2 + 8,
        "env init, generate, and one entry per ceremony"
    );
    fx.audit_verify().ok();
}

#[test]
fn show_filters_and_prints_json() {
    let fx = busy();
    let text = fx
        .zeroth()
        .args(["audit", "show", "--seal", "second"])
        .run()
        .ok()
        .stdout_str();
    assert!(
        text.contains("generate") && text.contains("second"),
        "{text}"
    );
    assert!(!text.contains("vault-root"), "{text}");
    let all = fx.zeroth().args(["audit", "show"]).run().ok().stdout_str();
    assert!(
        all.contains("dave(refused)") || all.contains("refused"),
        "{all}"
    );
    let json: serde_json::Value = serde_json::from_slice(
        &fx.zeroth()
            .args(["--json", "audit", "show", "--env", "prod"])
            .run()
            .ok()
            .stdout,
    )
    .unwrap();
    let entries = json["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 7);
    assert_eq!(entries[0]["signature"], "signed");
    for key in [
        "seq",
        "time",
        "env",
        "event",
        "seal",
        "custodians",
        "rejected",
        "operator",
        "host",
        "outcome",
        "detail",
    ] {
        assert!(entries[1].get(key).is_some(), "{key}");
    }
    let later = fx
        .zeroth()
        .args(["audit", "show", "--since", "2999-01-01"])
        .run()
        .ok()
        .stdout_str();
    assert!(later.contains("no entries"), "{later}");
}

#[test]
fn report_is_a_transcript_an_auditor_can_file() {
    let fx = busy();
    let md = fx
        .zeroth()
        .args(["audit", "report", "vault-root"])
        .env("ZEROTH_OPERATOR", "auditor-anne")
        .run()
        .ok()
        .stdout_str();
    assert!(
        md.starts_with("# Ceremony transcript: `vault-root` (prod)"),
        "{md}"
    );
    for needle in [
        "| Owner | platform |",
        "### 1. generate",
        "### 2. unseal",
        "### 3. unseal",
        "### 5. drill",
        "**Custodians present**: alice, bob, carol",
        "**Outcome**: refused",
        "**Signature**: verified, key `sha256:",
        "**HSM key**: `zeroth:prod:vault-root:v1:s1`",
        "**Record**: `sha256:",
        "auditor-anne",
        "Every signature verified",
    ] {
        assert!(md.contains(needle), "report lacks {needle:?}:\n{md}");
    }
    assert!(
        !md.contains("### 6."),
        "entries of the other seal are left out"
    );
    // A damaged log makes the transcript say so, and exit 3.
    let mut lines = raw_lines(&fx, "prod");
    lines[2] = lines[2].replace("\"outcome\":\"ok\"", "\"outcome\":\"refused\"");
    write_lines(&fx, "prod", &lines);
    let run = fx.zeroth().args(["audit", "report", "vault-root"]).run();
    assert_eq!(run.code, 3);
    assert!(
        run.stdout_str().contains("**DAMAGED** at entry 3"),
        "{}",
        run.stdout_str()
    );
    assert!(run.stdout_str().contains("Verification failed"));
}

#[test]
fn a_torn_last_line_is_reported_and_removing_it_mends_the_chain() {
    let fx = Fixture::sealed();
    // A crash in the middle of a write leaves a fragment without a newline.
    let mut log = std::fs::read(log_path(&fx, "prod")).unwrap();
    log.extend_from_slice(b"{\"seq\":3,\"time\":\"2026-");
    std::fs::write(log_path(&fx, "prod"), &log).unwrap();
    fx.unseal("vault-root", &["alice", "bob", "carol"]).ok();
    let lines = raw_lines(&fx, "prod");
    assert_eq!(lines.len(), 4, "the fragment stays on its own line");
    let run = fx.audit_verify();
    assert_eq!(run.code, 3);
    assert!(
        run.stdout_str().contains("line 3 is not a valid log entry"),
        "{}",
        run.stdout_str()
    );
    let mended: Vec<String> = lines
        .into_iter()
        .filter(|l| !l.ends_with("2026-"))
        .collect();
    write_lines(&fx, "prod", &mended);
    fx.audit_verify().ok();
}

// ---- audit export and audit follow ------------------------------------------------

/// `audit export`: every entry, once per line, in OCSF (with the fields the schema
/// requires of an Entity Management event and of the objects in it), CEF and RFC 5424
/// syslog, each saying what its signature is worth — a forged signature says `bad`.
#[test]
fn audit_export_writes_every_entry_in_each_format_with_its_signature() {
    let fx = busy();
    let lines = fx.log_lines("prod");
    let export = |format: &str| -> Vec<String> {
        fx.zeroth()
            .args(["audit", "export", "--env", "prod", "--format", format])
            .run()
            .ok()
            .stdout_str()
            .lines()
            .map(str::to_string)
            .collect()
    };

    // OCSF 1.5, class Entity Management: the required attributes of the base event
    // (activity_id, category_uid, class_uid, metadata, severity_id, time, type_uid), of
    // the class (entity), and of the objects used (metadata: product, version; product
    // and entity: a name or uid; actor: a user; device: type_id).
    let ocsf = export("ocsf");
    assert_eq!(ocsf.len(), lines.len());
    for (text, entry) in ocsf.iter().zip(&lines) {
        let e: serde_json::Value = serde_json::from_str(text).unwrap();
        let activity = e["activity_id"].as_u64().unwrap();
        assert!([1, 2, 3, 4, 99].contains(&activity), "{e}");
        assert_eq!(e["category_uid"], 3);
        assert_eq!(e["class_uid"], 3004);
        assert_eq!(e["type_uid"].as_u64().unwrap(), 3004 * 100 + activity);
        assert!(e["severity_id"].as_u64().unwrap() <= 6, "{e}");
        assert!(
            e["time"].as_i64().unwrap() > 1_600_000_000_000,
            "milliseconds: {e}"
        );
        assert!(e["metadata"]["version"].as_str().unwrap().starts_with("1."));
        assert_eq!(e["metadata"]["product"]["name"], "zeroth");
        assert!(e["entity"]["name"].is_string(), "{e}");
        assert!(e["actor"]["user"]["name"].is_string(), "{e}");
        assert!(e["device"]["type_id"].is_u64(), "{e}");
        assert_eq!(e["unmapped"]["zeroth"]["seq"], entry["seq"]);
        assert_eq!(e["unmapped"]["zeroth"]["event"], entry["event"]);
        assert_eq!(e["unmapped"]["zeroth"]["signature"], "signed");
        let ok = entry["outcome"] == "ok";
        assert_eq!(e["status_id"], if ok { 1 } else { 2 }, "{e}");
    }
    let refused = ocsf
        .iter()
        .map(|t| serde_json::from_str::<serde_json::Value>(t).unwrap())
        .find(|e| e["unmapped"]["zeroth"]["outcome"] == "refused")
        .expect("the refused unseal");
    assert_eq!(refused["activity_id"], 2);
    assert_eq!(refused["severity_id"], 3);

    let cef = export("cef");
    assert_eq!(cef.len(), lines.len());
    for (text, entry) in cef.iter().zip(&lines) {
        assert!(text.starts_with("CEF:0|zeroth|zeroth|"), "{text}");
        // Seven header fields, then the extension (no '|' is escaped in these).
        let fields: Vec<&str> = text.splitn(8, '|').collect();
        assert_eq!(fields.len(), 8, "{text}");
        assert_eq!(fields[4], entry["event"].as_str().unwrap());
        assert!(
            fields[7].contains(&format!("cn1={}", entry["seq"])),
            "{text}"
        );
        assert!(
            fields[7].contains("cs3Label=signature cs3=signed"),
            "{text}"
        );
        assert!(fields[7].contains("cs1Label=env cs1=prod"), "{text}");
    }

    let syslog = export("syslog");
    assert_eq!(syslog.len(), lines.len());
    for (text, entry) in syslog.iter().zip(&lines) {
        let pri: u32 = text[1..text.find('>').unwrap()].parse().unwrap();
        let ok = entry["outcome"] == "ok";
        assert_eq!(pri / 8, 10, "authpriv: {text}");
        assert_eq!(pri % 8 == 6, ok, "{text}");
        let rest = &text[text.find('>').unwrap() + 1..];
        let parts: Vec<&str> = rest.splitn(7, ' ').collect();
        assert_eq!(parts[0], "1", "RFC 5424 version: {text}");
        assert_eq!(parts[1], entry["time"].as_str().unwrap());
        assert_eq!(parts[3], "zeroth");
        assert!(parts[6].starts_with("[zeroth@32473 env=\"prod\""), "{text}");
        assert!(
            parts[6].contains(&format!("seq=\"{}\"", entry["seq"])),
            "{text}"
        );
        assert!(parts[6].contains("signature=\"signed\""), "{text}");
    }

    // The last entry's signature forged: exported, and said to be bad.
    let path = log_path(&fx, "prod");
    let text = std::fs::read_to_string(&path).unwrap();
    let last = text.lines().last().unwrap();
    let sig = serde_json::from_str::<serde_json::Value>(last).unwrap()["sig"]
        .as_str()
        .unwrap()
        .to_string();
    let mut forged_sig = base64::engine::general_purpose::STANDARD
        .decode(&sig)
        .unwrap();
    let n = forged_sig.len();
    forged_sig[n - 1] ^= 1;
    let forged = last.replace(
        &sig,
        &base64::engine::general_purpose::STANDARD.encode(&forged_sig),
    );
    std::fs::write(&path, text.replace(last, &forged)).unwrap();
    let run = fx
        .zeroth()
        .args(["audit", "export", "--env", "prod", "--format", "ocsf"])
        .run()
        .ok();
    let out = run.stdout_str();
    let last: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    assert_eq!(last["unmapped"]["zeroth"]["signature"], "bad");
    assert!(run.stderr.contains("damaged"), "{}", run.stderr);
}

/// `audit follow --once` with the position in `state`, not yet run.
fn follow_cmd<'f>(fx: &'f Fixture, state: &std::path::Path) -> Cmd<'f> {
    fx.zeroth()
        .args(["audit", "follow", "--env", "prod", "--once", "--state"])
        .arg(state)
}

/// The entries `audit follow --once` writes.
fn entries_of(run: &Run) -> Vec<serde_json::Value> {
    run.stdout_str()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn follow_once(fx: &Fixture, state: &std::path::Path) -> Vec<serde_json::Value> {
    entries_of(&follow_cmd(fx, state).run().ok())
}

/// `audit follow` writes each entry as a JSON line with its signature's worth, keeps
/// its position in the state file, resumes after it, and stops on a log cut or
/// rewritten under it. Without --once it waits for new entries.
#[test]
fn audit_follow_resumes_where_it_stopped() {
    let fx = Fixture::sealed();
    let state = fx.path().join("follow.state");
    let first = follow_once(&fx, &state);
    let lines = fx.log_lines("prod");
    assert_eq!(first.len(), lines.len());
    for (got, entry) in first.iter().zip(&lines) {
        assert_eq!(got["seq"], entry["seq"]);
        assert_eq!(got["event"], entry["event"]);
        assert_eq!(got["signature"], "signed");
    }
    assert!(follow_once(&fx, &state).is_empty(), "nothing new");

    fx.drill_all();
    fx.unseal("vault-root", &["dave"])
        .fails(3, &["more needed"]);
    let next = follow_once(&fx, &state);
    let seqs: Vec<u64> = next.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    let n = lines.len() as u64;
    assert_eq!(seqs, vec![n + 1, n + 2]);
    assert_eq!(next[0]["event"], "drill");
    assert_eq!(next[1]["outcome"], "refused");
    assert!(follow_once(&fx, &state).is_empty());

    // A fragment a crash left (torn, no newline): the next entry starts on a line of
    // its own, linked to the one before the fragment; follow steps over the fragment,
    // saying so, and goes on.
    {
        use std::io::Write;
        let mut log = std::fs::OpenOptions::new()
            .append(true)
            .open(log_path(&fx, "prod"))
            .unwrap();
        log.write_all(b"{\"seq\":").unwrap();
    }
    fx.drill_all();
    let run = follow_cmd(&fx, &state).run().ok();
    assert!(run.stderr.contains("is not a log entry"), "{}", run.stderr);
    let got = entries_of(&run);
    assert_eq!(got.len(), 1);
    assert_eq!(
        (got[0]["seq"].as_u64(), got[0]["event"].as_str()),
        (Some(n + 3), Some("drill"))
    );
    let run = follow_cmd(&fx, &state).run().ok();
    assert!(
        run.stdout.is_empty() && run.stderr.is_empty(),
        "{}",
        run.stderr
    );
    // The fragment removed (as audit verify advises), follow is where it was.
    let text = std::fs::read_to_string(log_path(&fx, "prod")).unwrap();
    let mended: String = text
        .lines()
        .filter(|l| *l != "{\"seq\":")
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(log_path(&fx, "prod"), mended).unwrap();
    fx.audit_verify().ok();
    std::fs::remove_file(&state).unwrap();
    assert_eq!(
        follow_once(&fx, &state).len() as u64,
        n + 3,
        "from the start again"
    );
    let n = n + 1;

    // Streaming: a new entry appears on stdout while it runs.
    let mut cmd = fx.command();
    cmd.args([
        "audit",
        "follow",
        "--env",
        "prod",
        "--interval",
        "50",
        "--state",
    ])
    .arg(&state)
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout).lines() {
            if tx.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    fx.drill_all();
    let got = rx.recv_timeout(std::time::Duration::from_secs(60));
    // The position is stored after the line is written (at least once): wait for it.
    let stored = |seq: u64| {
        std::fs::read(&state)
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .is_some_and(|v| v["seq"] == seq)
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !stored(n + 3) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let got: serde_json::Value =
        serde_json::from_str(&got.expect("a line within a minute")).unwrap();
    assert_eq!(got["seq"], n + 3);
    assert_eq!(got["event"], "drill");
    assert!(follow_once(&fx, &state).is_empty(), "the position was kept");

    // A log cut under the position, or another environment's state: refused.
    let path = log_path(&fx, "prod");
    let text = std::fs::read_to_string(&path).unwrap();
    let cut: String = text.lines().take(2).map(|l| format!("{l}\n")).collect();
    std::fs::write(&path, &cut).unwrap();
    follow_cmd(&fx, &state).run().fails(
        3,
        &["shorter than where audit follow stopped", "audit verify"],
    );
    // The same length, another line where the position was: the chain says so.
    std::fs::write(&path, &text).unwrap();
    let mut state_json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    state_json["hash"] = "00".repeat(32).into();
    std::fs::write(&state, state_json.to_string()).unwrap();
    fx.drill_all();
    follow_cmd(&fx, &state)
        .run()
        .fails(3, &["does not follow entry", "rewritten"]);
    state_json["env"] = "dev".into();
    std::fs::write(&state, state_json.to_string()).unwrap();
    follow_cmd(&fx, &state)
        .run()
        .fails(2, &["holds a position in the log of 'dev'"]);
}
