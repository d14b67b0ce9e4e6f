//! Every error a user can cause: its exit code, a message naming the fault, and a store
//! and token left exactly as they were.

use std::path::PathBuf;

use crate::common::*;

fn three(fx: &Fixture) -> Vec<PathBuf> {
    ["alice", "bob", "carol"]
        .map(|w| fx.share("vault-root", w))
        .to_vec()
}

fn unseal_with(fx: &Fixture, shares: &[PathBuf]) -> Run {
    let mut c = fx.zeroth().args(["unseal", "vault-root", "--output", "-"]);
    for s in shares {
        c = c.arg("--share").arg(s);
    }
    c.run()
}

#[test]
fn one_character_changed_in_a_share() {
    let fx = Fixture::sealed();
    let text = std::fs::read_to_string(fx.share("vault-root", "bob")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    // Line 8 of the file is share line 2; change its fourth data character.
    let mut line = lines[7].to_string();
    let c = line.as_bytes()[6];
    let replacement = if c == b'Z' { "Y" } else { "Z" };
    line.replace_range(6..7, replacement);
    let mut changed = lines.clone();
    changed[7] = &line;
    let bad = fx.path().join("bob-typo.share");
    std::fs::write(&bad, changed.join("\n")).unwrap();
    let mut shares = three(&fx);
    shares[1] = bad.clone();
    unchanged(&fx, &["prod"], || unseal_with(&fx, &shares)).fails(
        3,
        &[
            "bob-typo.share",
            "line 8",
            "share line 2",
            "mistyped or altered",
        ],
    );
}

#[test]
fn a_share_of_another_seal() {
    let fx = Fixture::sealed();
    fx.generate("other", "prod", 3, 5).ok();
    let mut shares = three(&fx);
    shares[2] = fx.share("other", "carol");
    unchanged(&fx, &["prod"], || unseal_with(&fx, &shares)).fails(
        3,
        &[
            "other.carol.share",
            "is a share of seal 'other', not 'vault-root'",
        ],
    );
}

#[test]
fn a_share_of_the_same_seal_name_in_another_environment() {
    let fx = Fixture::sealed();
    // A second store, environment dev on its own token, with a seal of the same name.
    fx.init_token("dev");
    let dev_store = fx.path().join("dev-store");
    let dev_shares = fx.path().join("dev-shares");
    std::fs::create_dir(&dev_shares).unwrap();
    fx.zeroth()
        .env("ZEROTH_STORE", &dev_store)
        .args(["env", "init", "dev", "--token", "dev", "--module"])
        .arg(module())
        .run()
        .ok();
    fx.zeroth()
        .env("ZEROTH_STORE", &dev_store)
        .args([
            "generate",
            "vault-root",
            "--env",
            "dev",
            "--owner",
            "o",
            "--purpose",
            "p",
            "--threshold",
            "2",
        ])
        .args([
            "--custodian",
            "alice",
            "--custodian",
            "bob",
            "--custodian",
            "carol",
            "--rotate-every",
            "30d",
            "--out-dir",
        ])
        .arg(&dev_shares)
        .run()
        .ok();
    let dev_bob = dev_shares.join("vault-root.bob.share");
    let mut shares = three(&fx);
    shares[1] = dev_bob.clone();
    unchanged(&fx, &["prod", "dev"], || unseal_with(&fx, &shares)).fails(
        3,
        &["custodian bob", "for environment 'dev'", "is in 'prod'"],
    );

    // Its header edited to say prod, it is still another seal: the payload says so.
    let forged = fx.path().join("forged.share");
    let text = std::fs::read_to_string(&dev_bob)
        .unwrap()
        .replace("Environment: dev", "Environment: prod");
    std::fs::write(&forged, text).unwrap();
    shares[1] = forged;
    unchanged(&fx, &["prod", "dev"], || unseal_with(&fx, &shares)).fails(
        3,
        &["forged.share", "belongs to another seal named 'vault-root'"],
    );
}

#[test]
fn a_duplicated_share() {
    let fx = Fixture::sealed();
    let copy = fx.path().join("copy-of-alice.share");
    std::fs::copy(fx.share("vault-root", "alice"), &copy).unwrap();
    let shares = vec![
        fx.share("vault-root", "alice"),
        copy,
        fx.share("vault-root", "bob"),
    ];
    unchanged(&fx, &["prod"], || unseal_with(&fx, &shares)).fails(
        3,
        &[
            "copy-of-alice.share",
            "'alice''s share again",
            "give each custodian's share once",
        ],
    );
}

#[test]
fn too_few_shares() {
    let fx = Fixture::sealed();
    let shares = vec![fx.share("vault-root", "dave")];
    unchanged(&fx, &["prod"], || unseal_with(&fx, &shares)).fails(
        3,
        &[
            "1 of 3 shares given (dave)",
            "2 more needed",
            "alice, bob, carol, erin",
        ],
    );
}

#[test]
fn a_garbage_payload() {
    let fx = Fixture::sealed();
    let junk = fx.path().join("junk.share");
    std::fs::write(&junk, "-----BEGIN ZEROTH SHARE-----\nSeal: vault-root\nEnvironment: prod\nCustodian: bob\nShare: 2 of 5, threshold 3, set 1\n\n1  hello world this is  QQ\n-----END ZEROTH SHARE-----\n").unwrap();
    let notashare = fx.path().join("notes.txt");
    std::fs::write(&notashare, "meeting notes\n").unwrap();
    let mut shares = three(&fx);
    shares[1] = junk;
    shares.push(notashare);
    unchanged(&fx, &["prod"], || unseal_with(&fx, &shares)).fails(
        3,
        &[
            "junk.share",
            "line 7",
            "notes.txt",
            "not a zeroth share file",
            "2 of the 4 share files given are bad",
        ],
    );
}

#[test]
fn a_payload_with_x_zero() {
    let fx = Fixture::sealed();
    let text = std::fs::read_to_string(fx.share("vault-root", "bob")).unwrap();
    let mut share = zeroth::share::Share::from_armor(&text).unwrap();
    share.payload.point.x = 0;
    let forged = fx.path().join("x0.share");
    std::fs::write(&forged, share.to_armor().as_bytes()).unwrap();
    let mut shares = three(&fx);
    shares[1] = forged;
    unchanged(&fx, &["prod"], || unseal_with(&fx, &shares))
        .fails(3, &["x0.share", "x = 0", "forged or corrupt"]);
}

#[test]
fn header_lines_that_disagree_with_the_payload() {
    let fx = Fixture::sealed();
    let text = std::fs::read_to_string(fx.share("vault-root", "bob")).unwrap();
    let renumbered = fx.path().join("renumbered.share");
    std::fs::write(&renumbered, text.replace("Share: 2 of 5", "Share: 4 of 5")).unwrap();
    let renamed = fx.path().join("renamed.share");
    std::fs::write(&renamed, text.replace("Custodian: bob", "Custodian: dave")).unwrap();
    let mut shares = three(&fx);
    shares[1] = renumbered;
    unchanged(&fx, &["prod"], || unseal_with(&fx, &shares)).fails(
        3,
        &[
            "renumbered.share",
            "header says share 4",
            "the header was edited",
        ],
    );
    shares[1] = renamed;
    unchanged(&fx, &["prod"], || unseal_with(&fx, &shares)).fails(
        3,
        &[
            "renamed.share",
            "names custodian 'dave'",
            "belongs to 'bob'",
        ],
    );
}

fn tamper(fx: &Fixture, f: impl FnOnce(&mut serde_json::Value)) {
    let mut r = fx.record("vault-root");
    f(&mut r);
    fx.write_record("vault-root", &r);
}

#[test]
fn a_record_with_its_threshold_lowered() {
    let fx = Fixture::sealed();
    tamper(&fx, |r| r["threshold"] = 2.into());
    let two = &three(&fx)[..2];
    unchanged(&fx, &["prod"], || unseal_with(&fx, two)).fails(
        3,
        &["vault-root.json fails its signature check", "restore it"],
    );
}

#[test]
fn a_record_with_a_commitment_swapped() {
    let fx = Fixture::sealed();
    tamper(&fx, |r| {
        let a = r["custodians"][0]["commitment"].clone();
        r["custodians"][0]["commitment"] = r["custodians"][1]["commitment"].clone();
        r["custodians"][1]["commitment"] = a;
    });
    unchanged(&fx, &["prod"], || unseal_with(&fx, &three(&fx)))
        .fails(3, &["fails its signature check"]);
}

#[test]
fn a_record_with_the_blob_flipped() {
    let fx = Fixture::sealed();
    tamper(&fx, |r| {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut ct = b64
            .decode(r["blob"]["ciphertext"].as_str().unwrap())
            .unwrap();
        ct[5] ^= 0x01;
        let flipped = b64.encode(ct);
        r["blob"]["ciphertext"] = flipped.into();
    });
    unchanged(&fx, &["prod"], || unseal_with(&fx, &three(&fx)))
        .fails(3, &["fails its signature check"]);
}

#[test]
fn a_record_resigned_by_another_environment() {
    // Someone with another environment's HSM signs a doctored record: the key differs.
    let fx = Fixture::sealed();
    fx.init_token("dev");
    fx.env_init("dev", "dev").ok();
    let dev_fp = toml_value(&fx, "dev", "sign_key_fingerprint");
    tamper(&fx, |r| r["signature"]["key"] = dev_fp.into());
    unchanged(&fx, &["prod"], || unseal_with(&fx, &three(&fx)))
        .fails(3, &["is signed by key", "not by environment 'prod'"]);
}

fn toml_value(fx: &Fixture, env: &str, key: &str) -> String {
    let text = std::fs::read_to_string(fx.store().join("zeroth.toml")).unwrap();
    let v: toml::Value = toml::from_str(&text).unwrap();
    v["env"][env][key].as_str().unwrap().to_string()
}

#[test]
fn a_replaced_public_key_is_caught_against_the_token() {
    let fx = Fixture::sealed();
    fx.init_token("dev");
    fx.env_init("dev", "dev").ok();
    // Replace prod's key and its fingerprint in the config: the store now agrees with
    // itself, but the trust file outside the store pins the real key (and the token
    // holds it).
    let dev_pem = std::fs::read(fx.store().join("keys/dev.pem")).unwrap();
    std::fs::write(fx.store().join("keys/prod.pem"), dev_pem).unwrap();
    let config = std::fs::read_to_string(fx.store().join("zeroth.toml")).unwrap();
    let prod_fp = toml_value(&fx, "prod", "sign_key_fingerprint");
    let dev_fp = toml_value(&fx, "dev", "sign_key_fingerprint");
    std::fs::write(
        fx.store().join("zeroth.toml"),
        config.replacen(&prod_fp, &dev_fp, 1),
    )
    .unwrap();
    unchanged(&fx, &["prod"], || unseal_with(&fx, &three(&fx))).fails(
        3,
        &[
            "keys/prod.pem",
            "is not the signing key",
            "pins for environment 'prod'",
        ],
    );
}

#[test]
fn a_wrong_pin() {
    let fx = Fixture::sealed();
    let pin_file = fx.path().join("pin");
    std::fs::write(&pin_file, "000000\n").unwrap();
    let run = unchanged(&fx, &["prod"], || {
        fx.zeroth()
            .env_remove("ZEROTH_PIN")
            .arg("--pin-file")
            .arg(&pin_file)
            .args(["unseal", "vault-root", "--output", "-", "--share"])
            .args(three(&fx))
            .run()
    });
    let run = run.fails(3, &["wrong PIN for token 'prod'", "CKR_PIN_INCORRECT"]);
    assert!(!run.stderr.contains("000000"), "the PIN is never echoed");
}

#[test]
fn no_pin_and_no_terminal() {
    let fx = Fixture::sealed();
    // setsid: no controlling terminal, as in CI.
    let mut c = std::process::Command::new("setsid");
    c.arg(env!("CARGO_BIN_EXE_zeroth"))
        .args(["unseal", "vault-root", "--output", "-", "--share"])
        .args(three(&fx))
        .env("ZEROTH_STORE", fx.store())
        .env_remove("ZEROTH_PIN")
        .stdin(std::process::Stdio::null());
    fx.module_env(&mut c);
    let out = c.output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no PIN for token 'prod'"));
}

#[test]
fn a_module_path_that_does_not_exist() {
    let fx = Fixture::new();
    let run = fx
        .zeroth()
        .args([
            "env",
            "init",
            "prod",
            "--token",
            "prod",
            "--module",
            "/nonexistent/libpkcs11.so",
        ])
        .run();
    run.fails(4, &["/nonexistent/libpkcs11.so does not exist"]);
    assert!(!fx.store().exists(), "a refused env init creates no store");
}

#[test]
fn a_token_label_not_found() {
    let fx = Fixture::new();
    fx.env_init("prod", "no-such-token")
        .fails(4, &["no token labelled 'no-such-token'", "'prod'"]);
    assert!(!fx.store().exists());
}

#[test]
fn a_token_bound_to_another_environment() {
    let fx = Fixture::sealed();
    // Same store: the token already serves prod.
    unchanged(&fx, &["prod"], || fx.env_init("dev", "prod"))
        .fails(3, &["token 'prod'", "marked for environment 'prod'"]);
    // Another store: the marker on the token is the truth.
    let other = fx.path().join("other-store");
    let run = fx
        .zeroth()
        .env("ZEROTH_STORE", &other)
        .args(["env", "init", "dev", "--token", "prod", "--module"])
        .arg(module())
        .run();
    run.fails(3, &["marked for environment 'prod'"]);
    assert!(!other.exists(), "a refused env init creates no store");
    // The same environment name in another store needs --adopt.
    fx.zeroth()
        .env("ZEROTH_STORE", &other)
        .args(["env", "init", "prod", "--token", "prod", "--module"])
        .arg(module())
        .run()
        .fails(3, &["--adopt"]);
}

#[test]
fn an_environment_already_bound() {
    let fx = Fixture::sealed();
    fx.init_token("second");
    unchanged(&fx, &["prod", "second"], || fx.env_init("prod", "second"))
        .fails(3, &["environment 'prod' is already bound to token 'prod'"]);
}

#[test]
fn an_expired_seal() {
    let fx = Fixture::new();
    fx.env_init("prod", "prod").ok();
    fx.generate_cmd("vault-root", "prod", 3, 5)
        .args(["--expires", "2030-01-01"])
        .run()
        .ok();
    fx.unseal("vault-root", &["alice", "bob", "carol"]).ok();
    unchanged(&fx, &["prod"], || {
        fx.unseal_cmd("vault-root", &["alice", "bob", "carol"])
            .env("ZEROTH_NOW", "2030-01-02T00:00:00Z")
            .args(["--output", "-"])
            .run()
    })
    .fails(3, &["seal 'vault-root' expired at 2030-01-01T00:00:00Z"]);
}

#[test]
fn an_output_file_that_exists() {
    let fx = Fixture::sealed();
    let out = fx.path().join("existing");
    std::fs::write(&out, "keep me").unwrap();
    unchanged(&fx, &["prod"], || {
        fx.unseal_cmd("vault-root", &["alice", "bob", "carol"])
            .arg("--output")
            .arg(&out)
            .run()
    })
    .fails(3, &["existing already exists", "never overwrites"]);
    assert_eq!(std::fs::read(&out).unwrap(), b"keep me");
}

#[test]
fn stdout_on_a_terminal_is_refused_without_allow_tty() {
    // `script` gives the child a real pseudo-terminal as stdout.
    let fx = Fixture::sealed();
    let mut cmd = format!(
        "{} unseal vault-root --output -",
        env!("CARGO_BIN_EXE_zeroth")
    );
    for s in three(&fx) {
        cmd.push_str(&format!(" --share {}", s.display()));
    }
    let mut c = std::process::Command::new("script");
    c.args(["-qec", &cmd, "/dev/null"])
        .env("ZEROTH_STORE", fx.store())
        .env("ZEROTH_PIN", PIN);
    fx.module_env(&mut c);
    let out = c.output().expect("script (util-linux)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{text}");
    assert!(text.contains("stdout is a terminal"), "{text}");
}

#[test]
fn generate_refusals_leave_nothing_behind() {
    let fx = Fixture::sealed();
    // A share file in the way.
    std::fs::write(fx.share("api", "bob"), "mine").unwrap();
    unchanged(&fx, &["prod"], || fx.generate("api", "prod", 2, 3))
        .fails(3, &["api.bob.share already exists"]);
    std::fs::remove_file(fx.share("api", "bob")).unwrap();
    // The name is taken.
    unchanged(&fx, &["prod"], || {
        fx.zeroth()
            .args([
                "generate",
                "vault-root",
                "--env",
                "prod",
                "--owner",
                "o",
                "--purpose",
                "p",
                "--threshold",
                "2",
            ])
            .args([
                "--custodian",
                "x1",
                "--custodian",
                "x2",
                "--rotate-every",
                "30d",
                "--out-dir",
            ])
            .arg(fx.shares_dir())
            .run()
    })
    .fails(3, &["seal 'vault-root' already exists"]);
    // Usage errors.
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["--threshold", "4", "--custodian", "a", "--custodian", "b"],
            "more than the 2 custodians",
        ),
        (
            vec!["--threshold", "2", "--custodian", "a", "--custodian", "A"],
            "custodian 'A' is given twice",
        ),
        (
            vec![
                "--threshold",
                "2",
                "--custodian",
                "a",
                "--custodian",
                "../b",
            ],
            "custodian name '../b'",
        ),
        (
            vec![
                "--threshold",
                "2",
                "--custodian",
                "a",
                "--custodian",
                "b=age1xyz",
            ],
            "the recipient of custodian 'b' is not a valid age X25519 recipient",
        ),
        (
            vec!["--threshold", "0", "--custodian", "a", "--custodian", "b"],
            "--threshold 0",
        ),
    ];
    for (extra, msg) in cases {
        unchanged(&fx, &["prod"], || {
            fx.zeroth()
                .args([
                    "generate",
                    "new",
                    "--env",
                    "prod",
                    "--owner",
                    "o",
                    "--purpose",
                    "p",
                    "--rotate-every",
                    "30d",
                    "--out-dir",
                ])
                .arg(fx.shares_dir())
                .args(extra)
                .run()
        })
        .fails(2, &[msg]);
    }
    unchanged(&fx, &["prod"], || {
        fx.generate_cmd("new", "prod", 2, 3)
            .args(["--expires", "2001-01-01"])
            .run()
    })
    .fails(2, &["--expires 2001-01-01T00:00:00Z is not in the future"]);
    unchanged(&fx, &["prod"], || fx.generate("bad/name", "prod", 2, 3))
        .fails(2, &["seal name 'bad/name'"]);
    unchanged(&fx, &["prod"], || fx.generate("new", "staging", 2, 3))
        .fails(2, &["no environment 'staging'", "prod"]);
    unchanged(&fx, &["prod"], || {
        fx.zeroth()
            .args([
                "generate",
                "new",
                "--env",
                "prod",
                "--owner",
                "o",
                "--purpose",
                "p",
                "--threshold",
                "2",
            ])
            .args([
                "--custodian",
                "a",
                "--custodian",
                "b",
                "--rotate-every",
                "3 months",
                "--out-dir",
            ])
            .arg(fx.shares_dir())
            .run()
    })
    .fails(2, &["--rotate-every", "'3 months' is not a period"]);
}

#[test]
fn unseal_usage_errors() {
    let fx = Fixture::sealed();
    unchanged(&fx, &["prod"], || {
        fx.unseal_cmd("vault-root", &["alice", "bob", "carol"])
            .run()
    })
    .fails(2, &["say where the credential goes"]);
    unchanged(&fx, &["prod"], || {
        fx.zeroth()
            .args(["unseal", "nope", "--output", "-", "--share"])
            .arg(fx.share("vault-root", "alice"))
            .run()
    })
    .fails(2, &["no seal named 'nope'"]);
    unchanged(&fx, &["prod"], || {
        fx.zeroth()
            .args(["unseal", "vault-root", "--output", "-", "--share"])
            .arg(fx.path().join("missing.share"))
            .run()
    })
    .fails(2, &["missing.share does not exist"]);
}
