//! Shares encrypted to their custodians with age: to an age X25519 recipient, an SSH
//! ed25519 key and an SSH RSA key. Debian's `age` opens each with the custodian's key,
//! as the custodian would; zeroth opens them with `--identity`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::*;

/// A custodian's key pair, made with the tools a custodian would use.
pub struct Key {
    /// The private key file: `--identity`, `age -i`.
    pub identity: PathBuf,
    /// The recipient string: what `--custodian NAME=…` takes.
    pub recipient: String,
}

fn tool(c: &mut Command, what: &str) -> String {
    let out = c
        .output()
        .unwrap_or_else(|e| panic!("{what}: {e}; scripts/test.sh installs it"));
    assert!(
        out.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// An age X25519 key made with `age-keygen`.
pub fn age_key(dir: &Path, name: &str) -> Key {
    let identity = dir.join(format!("{name}.agekey"));
    tool(
        Command::new("age-keygen").arg("-o").arg(&identity),
        "age-keygen",
    );
    let recipient = tool(
        Command::new("age-keygen").arg("-y").arg(&identity),
        "age-keygen -y",
    )
    .trim()
    .to_string();
    Key {
        identity,
        recipient,
    }
}

/// An SSH key made with `ssh-keygen` (`ed25519` or `rsa`), no passphrase; the
/// recipient is the public key line, comment included, as people paste it.
pub fn ssh_key(dir: &Path, name: &str, kind: &str) -> Key {
    let identity = dir.join(format!("{name}_{kind}"));
    let mut c = Command::new("ssh-keygen");
    c.args(["-q", "-t", kind, "-N", "", "-C"])
        .arg(format!("{name}@ceremony"))
        .arg("-f")
        .arg(&identity);
    if kind == "rsa" {
        c.args(["-b", "2048"]);
    }
    tool(&mut c, "ssh-keygen");
    let recipient = std::fs::read_to_string(identity.with_extension("pub"))
        .unwrap_or_else(|_| std::fs::read_to_string(format!("{}.pub", identity.display())).unwrap())
        .trim()
        .to_string();
    Key {
        identity,
        recipient,
    }
}

/// What Debian's `age -d -i KEY FILE` prints.
pub fn age_decrypt(identity: &Path, file: &Path) -> std::process::Output {
    Command::new("age")
        .arg("-d")
        .arg("-i")
        .arg(identity)
        .arg(file)
        .output()
        .expect("run age (scripts/test.sh installs it)")
}

pub fn encrypted_share(fx: &Fixture, seal: &str, who: &str) -> PathBuf {
    fx.shares_dir().join(format!("{seal}.{who}.share.age"))
}

fn generate_with<'f>(fx: &'f Fixture, seal: &str, t: u8, custodians: &[String]) -> Cmd<'f> {
    let mut c = fx
        .zeroth()
        .args(["generate", seal, "--env", "prod", "--owner", "platform"])
        .args(["--purpose", "unseal vault", "--rotate-every", "90d"])
        .args(["--threshold", &t.to_string(), "--out-dir"])
        .arg(fx.shares_dir());
    for s in custodians {
        c = c.arg("--custodian").arg(s);
    }
    c
}

struct Keys {
    alice: Key,
    bob: Key,
    carol: Key,
}

/// vault-root, 3 of 4: alice to an age key, bob to an SSH ed25519 key, carol to an
/// SSH RSA key, dave in the clear.
fn sealed_to_keys() -> (Fixture, Keys) {
    let fx = Fixture::new();
    fx.env_init("prod", "prod").ok();
    let keys_dir = fx.path().join("keys");
    std::fs::create_dir(&keys_dir).unwrap();
    let keys = Keys {
        alice: age_key(&keys_dir, "alice"),
        bob: ssh_key(&keys_dir, "bob", "ed25519"),
        carol: ssh_key(&keys_dir, "carol", "rsa"),
    };
    generate_with(
        &fx,
        "vault-root",
        3,
        &[
            format!("alice={}", keys.alice.recipient),
            format!("bob={}", keys.bob.recipient),
            format!("carol={}", keys.carol.recipient),
            "dave".to_string(),
        ],
    )
    .run()
    .ok();
    (fx, keys)
}

#[test]
fn shares_encrypted_to_age_and_ssh_keys_open_with_debian_age_and_unseal_with_identity() {
    let (fx, keys) = sealed_to_keys();
    use std::os::unix::fs::PermissionsExt;
    for (who, key) in [
        ("alice", &keys.alice),
        ("bob", &keys.bob),
        ("carol", &keys.carol),
    ] {
        let file = encrypted_share(&fx, "vault-root", who);
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(
            text.starts_with("-----BEGIN AGE ENCRYPTED FILE-----"),
            "{who}: {text}"
        );
        assert!(
            !text.contains("ZEROTH SHARE"),
            "{who}'s share is in the clear"
        );
        assert_eq!(
            std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(!fx.share("vault-root", who).exists(), "no plain copy");
        // The custodian opens it with the stock age tool and their own key.
        let out = age_decrypt(&key.identity, &file);
        assert!(
            out.status.success(),
            "age -d {who}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let plain = String::from_utf8(out.stdout).unwrap();
        assert!(plain.starts_with("-----BEGIN ZEROTH SHARE-----"), "{plain}");
        assert!(plain.contains(&format!("Custodian: {who}")), "{plain}");
        zeroth::share::Share::from_armor(&plain).unwrap();
    }
    assert!(
        fx.share("vault-root", "dave").exists(),
        "dave has no recipient"
    );

    // The record keeps each recipient (an SSH key without its comment).
    let record = fx.record("vault-root");
    let recipients: Vec<&str> = record["custodians"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["recipient"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(recipients[0], keys.alice.recipient);
    assert!(keys.bob.recipient.starts_with(recipients[1]));
    assert!(recipients[1].starts_with("ssh-ed25519 ") && !recipients[1].contains('@'));
    assert!(recipients[2].starts_with("ssh-rsa "));
    assert_eq!(recipients[3], "");

    // Three encrypted shares and their custodians' keys unseal it.
    let out = fx
        .zeroth()
        .args(["unseal", "vault-root", "--output", "-", "--share"])
        .args(["alice", "bob", "carol"].map(|w| encrypted_share(&fx, "vault-root", w)))
        .arg("--identity")
        .arg(&keys.alice.identity)
        .arg("--identity")
        .arg(&keys.bob.identity)
        .arg("--identity")
        .arg(&keys.carol.identity)
        .run()
        .ok();
    assert_eq!(out.stdout.len(), 64, "a hex credential");
    // Mixed with a plain share, one identity file each.
    let again = fx
        .zeroth()
        .args(["unseal", "vault-root", "--output", "-", "--share"])
        .arg(fx.share("vault-root", "dave"))
        .arg("--share")
        .arg(encrypted_share(&fx, "vault-root", "bob"))
        .arg("--share")
        .arg(encrypted_share(&fx, "vault-root", "alice"))
        .arg("--identity")
        .arg(&keys.bob.identity)
        .arg("--identity")
        .arg(&keys.alice.identity)
        .run()
        .ok();
    assert_eq!(again.stdout, out.stdout);
    // A custodian checks their encrypted share alone.
    fx.zeroth()
        .args(["share", "verify"])
        .arg(encrypted_share(&fx, "vault-root", "carol"))
        .arg("--identity")
        .arg(&keys.carol.identity)
        .run()
        .ok();
    // A drill with every share, encrypted or not.
    fx.zeroth()
        .args(["drill", "vault-root", "--share"])
        .args(["alice", "bob", "carol"].map(|w| encrypted_share(&fx, "vault-root", w)))
        .arg(fx.share("vault-root", "dave"))
        .args(["--identity"])
        .arg(&keys.alice.identity)
        .args(["--identity"])
        .arg(&keys.bob.identity)
        .args(["--identity"])
        .arg(&keys.carol.identity)
        .run()
        .ok();
}

#[test]
fn a_wrong_or_missing_identity_names_the_share() {
    let (fx, keys) = sealed_to_keys();
    let alice = encrypted_share(&fx, "vault-root", "alice");
    let unseal = |identity: Option<&Path>| {
        let mut c = fx
            .zeroth()
            .args(["unseal", "vault-root", "--output", "-", "--share"])
            .arg(&alice)
            .arg("--share")
            .arg(fx.share("vault-root", "dave"))
            .arg("--share")
            .arg(encrypted_share(&fx, "vault-root", "bob"))
            .arg("--identity")
            .arg(&keys.bob.identity);
        if let Some(i) = identity {
            c = c.arg("--identity").arg(i);
        }
        c.run()
    };
    // alice's share with carol's key: refused, naming the file and the keys tried.
    unchanged(&fx, &["prod"], || unseal(Some(&keys.carol.identity))).fails(
        3,
        &[
            "vault-root.alice.share.age",
            "is encrypted to another key",
            "carol_rsa",
            "nothing was combined",
        ],
    );
    // No --identity at all.
    unchanged(&fx, &["prod"], || {
        fx.zeroth()
            .args(["unseal", "vault-root", "--output", "-", "--share"])
            .arg(&alice)
            .run()
    })
    .fails(
        2,
        &[
            "share file",
            "vault-root.alice.share.age",
            "give --identity FILE",
        ],
    );
    // share verify says which file is bad.
    unchanged(&fx, &["prod"], || {
        fx.zeroth()
            .args(["share", "verify"])
            .arg(&alice)
            .arg("--identity")
            .arg(&keys.bob.identity)
            .run()
    })
    .fails(3, &["BAD", "vault-root.alice.share.age", "another key"]);
    // An encrypted share cut short.
    let text = std::fs::read_to_string(&alice).unwrap();
    let cut = fx.path().join("cut.share.age");
    std::fs::write(&cut, &text[..text.len() / 2]).unwrap();
    unchanged(&fx, &["prod"], || {
        fx.zeroth()
            .args(["unseal", "vault-root", "--output", "-", "--share"])
            .arg(&cut)
            .arg("--identity")
            .arg(&keys.alice.identity)
            .run()
    })
    .fails(3, &["cut.share.age", "is not a readable age file"]);
    // An identity file that is none, or is not there.
    let junk = fx.path().join("junk.key");
    std::fs::write(&junk, "not a key\n").unwrap();
    unchanged(&fx, &["prod"], || unseal(Some(&junk))).fails(
        2,
        &["--identity", "junk.key", "neither an age identity file"],
    );
    unchanged(&fx, &["prod"], || unseal(Some(Path::new("missing.key"))))
        .fails(2, &["--identity missing.key", "does not exist"]);
}

#[test]
fn malformed_recipients_are_usage_errors_naming_the_custodian() {
    let fx = Fixture::new();
    fx.env_init("prod", "prod").ok();
    for (bad, says) in [
        (
            "bob=age1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq",
            "not a valid age X25519 recipient",
        ),
        (
            "bob=ssh-ed25519 AAAAnotbase64",
            "not a valid SSH public key",
        ),
        (
            "bob=ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBHFliOyIZs1gxGF3fmDxFykQhE88wy6AKDGFBfn0R6ZuvRmENABZQa9+pj9hMki+LX0qDJbmHTiWDbYv/cmFt/Q=",
            "'ecdsa-sha2-nistp256', which age does not encrypt to",
        ),
        ("bob=hunter2", "is not a recipient zeroth knows"),
        ("bob=", "is empty"),
    ] {
        unchanged(&fx, &["prod"], || {
            generate_with(&fx, "vault-root", 2, &["alice".into(), bad.into()]).run()
        })
        .fails(2, &["custodian 'bob'", says]);
    }
    // A recipient needs a file to encrypt: paper alone, or the terminal, will not do.
    let key = age_key(fx.path(), "alice");
    let cards = fx.path().join("cards");
    std::fs::create_dir(&cards).unwrap();
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
            .arg("--custodian")
            .arg(format!("alice={}", key.recipient))
            .args(["--custodian", "bob", "--paper"])
            .arg(&cards)
            .run()
    })
    .fails(2, &["custodian 'alice' has a recipient", "--out-dir"]);
}

#[test]
fn recipients_come_from_the_config_and_the_command_line_wins() {
    let fx = Fixture::new();
    fx.env_init("prod", "prod").ok();
    let alice = age_key(fx.path(), "alice");
    let bob_old = age_key(fx.path(), "bob-old");
    let bob = age_key(fx.path(), "bob");
    let config = fx.store().join("zeroth.toml");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!(
        "\n[custodians.alice]\nrecipient = \"{}\"\n\n[custodians.bob]\nrecipient = \"{}\"\n",
        alice.recipient, bob_old.recipient
    ));
    std::fs::write(&config, &text).unwrap();
    let generate = || {
        generate_with(
            &fx,
            "vault-root",
            2,
            &[
                "alice".into(),
                format!("bob={}", bob.recipient),
                "carol".into(),
            ],
        )
        .run()
    };
    // A recipient in zeroth.toml counts only once the environment approved it: whoever
    // edits the store cannot send alice's share to their own key.
    unchanged(&fx, &["prod"], generate).fails(
        3,
        &[
            "custodian 'alice'",
            "has not approved",
            "zeroth settings approve --env prod",
        ],
    );
    let approved = fx.approve_settings("prod").ok();
    assert!(
        approved.stderr.contains(&alice.recipient),
        "{}",
        approved.stderr
    );
    generate().ok();
    let alice_file = encrypted_share(&fx, "vault-root", "alice");
    let bob_file = encrypted_share(&fx, "vault-root", "bob");
    assert!(age_decrypt(&alice.identity, &alice_file).status.success());
    assert!(age_decrypt(&bob.identity, &bob_file).status.success());
    assert!(
        !age_decrypt(&bob_old.identity, &bob_file).status.success(),
        "the command line's recipient wins over zeroth.toml's"
    );
    assert!(fx.share("vault-root", "carol").exists());

    // A broken recipient in zeroth.toml is named with the file and the custodian.
    std::fs::write(
        &config,
        text.replace(&alice.recipient, "age1brokenbrokenbroken"),
    )
    .unwrap();
    unchanged(&fx, &["prod"], || {
        generate_with(&fx, "other", 2, &["alice".into(), "carol".into()]).run()
    })
    .fails(2, &["zeroth.toml [custodians.alice]", "custodian 'alice'"]);
}

#[test]
fn rekey_keeps_recipients_and_takes_new_ones() {
    let (fx, keys) = sealed_to_keys();
    let erin = age_key(fx.path(), "erin");
    let dave = age_key(fx.path(), "dave");
    let new_dir = fx.path().join("new");
    std::fs::create_dir(&new_dir).unwrap();
    let started = fx
        .zeroth()
        .args(["--json", "rekey", "vault-root", "--share"])
        .args(["alice", "bob"].map(|w| encrypted_share(&fx, "vault-root", w)))
        .arg("--share")
        .arg(fx.share("vault-root", "dave"))
        .arg("--identity")
        .arg(&keys.alice.identity)
        .arg("--identity")
        .arg(&keys.bob.identity)
        .arg("--custodian")
        .arg(format!("erin={}", erin.recipient))
        .arg("--custodian")
        .arg(format!("dave={}", dave.recipient))
        .arg("--out-dir")
        .arg(&new_dir)
        .run()
        .ok();
    let json: serde_json::Value = serde_json::from_slice(&started.stdout).unwrap();
    let id = json["operation"].as_str().unwrap().to_string();
    let new = |who: &str, ext: &str| new_dir.join(format!("vault-root.{who}.share{ext}"));
    // alice keeps her age key, bob his SSH key; erin gets hers; dave, in the clear
    // until now, gets the key given for him.
    assert!(
        age_decrypt(&dave.identity, &new("dave", ".age"))
            .status
            .success()
    );
    assert!(
        age_decrypt(&keys.alice.identity, &new("alice", ".age"))
            .status
            .success()
    );
    assert!(
        age_decrypt(&keys.bob.identity, &new("bob", ".age"))
            .status
            .success()
    );
    assert!(
        age_decrypt(&erin.identity, &new("erin", ".age"))
            .status
            .success()
    );
    assert!(!new("dave", "").exists());
    fx.zeroth()
        .args(["rekey", "vault-root", "--confirm", &id, "--share"])
        .arg(new("erin", ".age"))
        .arg("--share")
        .arg(new("dave", ".age"))
        .arg("--share")
        .arg(new("carol", ".age"))
        .arg("--identity")
        .arg(&dave.identity)
        .arg("--identity")
        .arg(&erin.identity)
        .arg("--identity")
        .arg(&keys.carol.identity)
        .run()
        .ok();
    let record = fx.record("vault-root");
    assert_eq!(
        record["custodians"][3]["recipient"],
        dave.recipient.as_str()
    );
    assert_eq!(
        record["custodians"][4]["recipient"],
        erin.recipient.as_str()
    );
    // A current custodian given again without a recipient is still refused.
    fx.zeroth()
        .args(["rekey", "vault-root", "--share"])
        .arg(new("dave", ".age"))
        .arg("--identity")
        .arg(&dave.identity)
        .args(["--custodian", "dave"])
        .run()
        .fails(
            2,
            &["'dave' already holds a share", "--custodian dave=RECIPIENT"],
        );
}
