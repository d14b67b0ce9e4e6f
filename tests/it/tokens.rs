//! Where PKCS#11 tokens differ: the mechanisms they offer, how they count wrong PINs,
//! how they fail to start, what a reset does. Each test runs on every module of the
//! matrix; a path one module cannot show on its own is provoked through the module's
//! own configuration (SoftHSM's `slots.mechanisms`, Kryoptic's per-slot `mechanisms`
//! deny list), never by a stand-in.

use crate::common::*;

/// True if `pkcs11-tool -M` lists the mechanism `code`, under its OpenSC name (e.g.
/// `AES-KEY-WRAP`) or, for names the installed OpenSC does not know, as `mechtype-0x…`
/// (OpenSC 0.23 prints `CKM_AES_KEY_WRAP_PAD` that way).
fn lists(mechanisms: &str, name: &str, code: u32) -> bool {
    let unnamed = format!("mechtype-{code:#X}").replace("0X", "0x");
    mechanisms.lines().any(|l| {
        let l = l.trim_start();
        l.starts_with(&format!("{name},")) || l.starts_with(&format!("{unnamed},"))
    })
}

const AES_KEY_WRAP: u32 = 0x2109;
const AES_KEY_WRAP_PAD: u32 = 0x210A;

fn env_init_with(fx: &Fixture, wrap: &str) -> Run {
    fx.zeroth()
        .args([
            "env",
            "init",
            "prod",
            "--token",
            "prod",
            "--wrap-mechanism",
            wrap,
        ])
        .arg("--module")
        .arg(module())
        .run()
}

#[test]
fn the_default_wrap_mechanism_is_the_best_the_token_lists() {
    let fx = Fixture::new();
    let listed = fx.mechanisms("prod");
    assert!(lists(&listed, "AES-KEY-WRAP", AES_KEY_WRAP), "{listed}");
    // SoftHSM 2.6 lists RFC 5649 as CKM_AES_KEY_WRAP_PAD; Kryoptic does not (it has
    // the PKCS#11 3.0 CKM_AES_KEY_WRAP_KWP instead, which zeroth does not use).
    assert_eq!(
        lists(&listed, "AES-KEY-WRAP-PAD", AES_KEY_WRAP_PAD),
        fx.kind == Kind::SoftHsm,
        "{listed}"
    );
    let wrap = fx.kind.default_wrap();
    let run = fx.env_init("prod", "prod").ok();
    assert!(
        run.stdout_str().contains(&format!("wrap:        {wrap}\n")),
        "{}",
        run.stdout_str()
    );
}

#[test]
fn wrap_pad_where_the_token_lacks_it_is_refused_and_the_default_falls_back() {
    let fx = Fixture::new();
    if fx.kind == Kind::SoftHsm {
        // SoftHSM offers it: hide it, so SoftHSM takes the path Kryoptic takes as is.
        fx.deny_mechanisms(&["CKM_AES_KEY_WRAP_PAD"]);
    }
    let listed = fx.mechanisms("prod");
    assert!(
        !lists(&listed, "AES-KEY-WRAP-PAD", AES_KEY_WRAP_PAD),
        "{listed}"
    );

    let module = module().display().to_string();
    let run = env_init_with(&fx, "CKM_AES_KEY_WRAP_PAD").fails(
        3,
        &[
            "token 'prod' (serial ",
            &format!("in {module} does not offer CKM_AES_KEY_WRAP_PAD"),
            "it offers CKM_AES_KEY_WRAP: choose that --wrap-mechanism",
        ],
    );
    assert!(run.stdout.is_empty());
    assert!(!fx.store().exists(), "a refused env init creates no store");

    let run = fx.env_init("prod", "prod").ok();
    assert!(
        run.stdout_str().contains("wrap:        CKM_AES_KEY_WRAP\n"),
        "{}",
        run.stdout_str()
    );
    let config = std::fs::read_to_string(fx.store().join("zeroth.toml")).unwrap();
    assert!(
        config.contains("wrap_mechanism = \"CKM_AES_KEY_WRAP\""),
        "{config}"
    );

    // Sealing and unsealing hold on the fallback, whatever the length.
    fx.generate_cmd("odd", "prod", 2, 3)
        .args(["--length", "17"])
        .run()
        .ok();
    assert_eq!(fx.record("odd")["key"]["mechanism"], "CKM_AES_KEY_WRAP");
    assert_eq!(fx.unseal("odd", &["alice", "carol"]).ok().stdout.len(), 34);
    for secret in [
        &b"x"[..],
        &b"sixteen-bytes-ok"[..],
        &b"\x00\x00trailing zeros\x00"[..],
    ] {
        let name = format!("imp{}", secret.len());
        fx.import_cmd(&name, "prod", 2, 2, secret).run().ok();
        assert_eq!(fx.unseal(&name, &["alice", "bob"]).ok().stdout, secret);
    }
}

#[test]
fn a_token_with_no_usable_wrap_mechanism_is_refused() {
    let fx = Fixture::new();
    fx.deny_mechanisms(&["CKM_AES_KEY_WRAP_PAD", "CKM_AES_KEY_WRAP"]);
    fx.env_init("prod", "prod").fails(
        3,
        &[
            "token 'prod'",
            "offers neither CKM_AES_KEY_WRAP_PAD nor CKM_AES_KEY_WRAP",
        ],
    );
    env_init_with(&fx, "CKM_AES_KEY_WRAP").fails(
        3,
        &[
            "does not offer CKM_AES_KEY_WRAP for both wrap and unwrap",
            "it offers no wrap mechanism zeroth can use",
        ],
    );
    assert!(!fx.store().exists());
}

#[test]
fn a_token_without_ecdsa_cannot_hold_an_environment() {
    let fx = Fixture::new();
    fx.deny_mechanisms(&["CKM_ECDSA"]);
    fx.env_init("prod", "prod").fails(
        3,
        &["token 'prod'", "does not offer CKM_ECDSA", "sign records"],
    );
    assert!(!fx.store().exists());
}

#[test]
fn unseal_and_drill_refuse_when_the_recorded_mechanism_is_gone() {
    let fx = Fixture::sealed();
    let wrap = fx.kind.default_wrap();
    let module = module().display().to_string();
    fx.deny_mechanisms(&[wrap]);
    // Refused before the PIN is asked (no PIN source at all), naming the mechanism,
    // the token and the module; store and token unchanged.
    let run = unchanged(&fx, &["prod"], || {
        fx.unseal_cmd("vault-root", &["alice", "bob", "carol"])
            .args(["--output", "-"])
            .without_pin()
            .run()
    });
    run.fails(
        3,
        &[
            &format!("token 'prod' (serial {})", fx.serial("prod")),
            &format!(
                "in {module} does not offer {wrap}, which zeroth needs to unseal 'vault-root'"
            ),
            "wrapped with it, as its signed record says",
            "-M",
        ],
    );
    let run = unchanged(&fx, &["prod"], || {
        fx.zeroth()
            .args(["drill", "vault-root", "--share"])
            .args(["alice", "bob", "carol"].map(|w| fx.share("vault-root", w)))
            .without_pin()
            .run()
    });
    run.fails(
        3,
        &[&format!(
            "does not offer {wrap}, which zeroth needs to drill 'vault-root'"
        )],
    );
    let run = unchanged(&fx, &["prod"], || fx.generate("other", "prod", 2, 3));
    run.fails(
        3,
        &[&format!(
            "does not offer {wrap}, which zeroth needs to wrap the credential with the mechanism environment 'prod' was bound with"
        )],
    );

    // The same token with the mechanism back: the seal opens, nothing was lost.
    fx.allow_all_mechanisms();
    assert_eq!(
        fx.unseal("vault-root", &["alice", "bob", "carol"])
            .ok()
            .stdout
            .len(),
        64
    );
}

#[test]
fn every_ceremony_needs_signing_for_its_log_entry() {
    let fx = Fixture::sealed();
    fx.deny_mechanisms(&["CKM_ECDSA"]);
    // unseal signs its log entry before the credential leaves: refused by name, before
    // the PIN, and logged unsigned with why.
    unchanged(&fx, &["prod"], || {
        fx.zeroth()
            .args(["unseal", "vault-root", "--output", "-", "--share"])
            .args(["alice", "bob", "carol"].map(|w| fx.share("vault-root", w)))
            .without_pin()
            .run()
    })
    .fails(
        3,
        &["does not offer CKM_ECDSA, which zeroth needs to sign the ceremony's log entry"],
    );
    let entry = fx.log_lines("prod").pop().unwrap();
    assert!(
        entry["unsigned"].as_str().unwrap().contains("CKM_ECDSA"),
        "{entry}"
    );
    // drill re-signs the record too: refused first, the record untouched.
    unchanged(&fx, &["prod"], || {
        fx.zeroth()
            .args(["drill", "vault-root", "--share"])
            .args(["alice", "bob", "carol"].map(|w| fx.share("vault-root", w)))
            .without_pin()
            .run()
    })
    .fails(
        3,
        &["does not offer CKM_ECDSA, which zeroth needs to sign the ceremony's log entry"],
    );
}

#[test]
fn generate_needs_generic_secret_generation_and_import_does_not() {
    let fx = Fixture::new();
    fx.deny_mechanisms(&["CKM_GENERIC_SECRET_KEY_GEN"]);
    fx.env_init("prod", "prod").ok();
    unchanged(&fx, &["prod"], || fx.generate("vault-root", "prod", 2, 3)).fails(
        3,
        &[
            "token 'prod'",
            "does not offer CKM_GENERIC_SECRET_KEY_GEN",
            "import one instead",
        ],
    );
    let secret = b"root-token-from-elsewhere".to_vec();
    fx.import_cmd("imported", "prod", 2, 3, &secret).run().ok();
    assert_eq!(fx.unseal("imported", &["bob", "carol"]).ok().stdout, secret);
}

fn unseal_with_pin(fx: &Fixture, pin: &str) -> Run {
    fx.unseal_cmd("vault-root", &["alice", "bob", "carol"])
        .env("ZEROTH_PIN", pin)
        .args(["--output", "-"])
        .run()
}

#[test]
fn wrong_pins_are_counted_in_words_and_a_locked_pin_is_named() {
    let fx = Fixture::sealed();
    match fx.kind.pin_tries() {
        Some(tries) => {
            // Kryoptic: COUNT_LOW with 3 tries left, FINAL_TRY with 1, then locked.
            for attempt in 1..tries {
                let run = unseal_with_pin(&fx, "00000000").fails(
                    3,
                    &[
                        "wrong PIN for token 'prod'",
                        "C_Login returned CKR_PIN_INCORRECT",
                    ],
                );
                let left = tries - attempt;
                let expected = match left {
                    1 => Some("one more wrong PIN locks the user PIN (CKF_USER_PIN_FINAL_TRY)"),
                    2 | 3 => Some("few tries are left (CKF_USER_PIN_COUNT_LOW)"),
                    _ => None,
                };
                match expected {
                    Some(words) => assert!(
                        run.stderr.contains(words),
                        "attempt {attempt}, {left} left: {}",
                        run.stderr
                    ),
                    None => assert!(
                        !run.stderr.contains("CKF_USER_PIN"),
                        "attempt {attempt}, {left} left: {}",
                        run.stderr
                    ),
                }
            }
            unseal_with_pin(&fx, "00000000").fails(
                3,
                &[
                    "the user PIN is locked for token 'prod'",
                    "CKR_PIN_LOCKED",
                    "security officer unlocks it",
                ],
            );
            // Locked means locked: the right PIN is refused too, in the same words.
            let run = unseal_with_pin(&fx, PIN).fails(
                3,
                &["the user PIN is locked for token 'prod'", "CKR_PIN_LOCKED"],
            );
            assert!(run.stdout.is_empty());
        }
        None => {
            // SoftHSM 2.6 raises COUNT_LOW after a wrong PIN and never locks.
            for _ in 0..12 {
                unseal_with_pin(&fx, "00000000").fails(
                    3,
                    &[
                        "wrong PIN for token 'prod'",
                        "few tries are left (CKF_USER_PIN_COUNT_LOW)",
                    ],
                );
            }
            assert_eq!(unseal_with_pin(&fx, PIN).ok().stdout.len(), 64);
        }
    }
}

#[test]
fn a_module_that_fails_to_initialize_is_named_with_its_path() {
    let fx = Fixture::sealed();
    let module = module().display().to_string();
    let (broken, rv) = fx.kind.broken_conf();
    let mut expected = vec![
        format!("PKCS#11 module {module} failed to initialize"),
        format!("C_Initialize returned {rv}"),
        fx.kind.conf_var().to_string(),
    ];
    if rv == "CKR_TOKEN_NOT_PRESENT" {
        expected.push("the token is not present".to_string());
    }
    let expected: Vec<&str> = expected.iter().map(String::as_str).collect();
    unchanged(&fx, &["prod"], || {
        fx.unseal_cmd("vault-root", &["alice", "bob", "carol"])
            .env(fx.kind.conf_var(), broken)
            .args(["--output", "-"])
            .run()
    })
    .fails(4, &expected);
    let other = fx.path().join("other-store");
    fx.zeroth()
        .env("ZEROTH_STORE", &other)
        .env(fx.kind.conf_var(), broken)
        .args(["env", "init", "dev", "--token", "dev", "--module"])
        .arg(module)
        .run()
        .fails(4, &expected);
    assert!(!other.exists(), "a refused env init creates no store");
}

#[test]
fn a_reset_token_is_refused_by_serial_or_marker() {
    let fx = Fixture::sealed();
    let before = fx.serial("prod");
    fx.reinit_token("prod");
    let after = fx.serial("prod");
    let run = fx
        .unseal("vault-root", &["alice", "bob", "carol"])
        .fails(3, &["token 'prod'"]);
    match fx.kind {
        // SoftHSM keeps the serial across C_InitToken: the missing marker tells.
        Kind::SoftHsm => {
            assert_eq!(before, after);
            assert!(
                run.stderr.contains("carries no zeroth environment marker"),
                "{}",
                run.stderr
            );
        }
        // Kryoptic draws a new serial at C_InitToken: the serial tells first.
        Kind::Kryoptic => {
            assert_ne!(before, after);
            assert!(
                run.stderr.contains(&format!(
                    "has serial {after}, but environment 'prod' is pinned to serial {before}"
                )),
                "{}",
                run.stderr
            );
        }
    }
}

#[test]
fn labels_are_matched_without_their_padding_and_serials_recorded() {
    // 32 characters: the whole CK_TOKEN_INFO label field, no blank padding left.
    let label = "a-label-of-thirty-two-characters";
    assert_eq!(label.len(), 32);
    let fx = Fixture::empty();
    fx.init_token("short");
    fx.init_token(label);
    for (env, token) in [("dev", "short"), ("prod", label)] {
        fx.env_init(env, token).ok();
        let json: serde_json::Value = serde_json::from_slice(
            &fx.zeroth()
                .args(["--json", "env", "list"])
                .run()
                .ok()
                .stdout,
        )
        .unwrap();
        let row = json["environments"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["env"] == env)
            .unwrap()
            .clone();
        assert_eq!(row["token"], token, "label recorded without padding");
        assert_eq!(row["serial"], fx.serial(token).as_str());
    }
    fx.generate("s", "prod", 2, 2).ok();
    fx.unseal("s", &["alice", "bob"]).ok();
}
