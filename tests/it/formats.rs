//! Share format versions: version 2 (a set tag in place of the seal id and set, four
//! typed lines) is what zeroth writes; version 1 shares, as earlier zeroth wrote them,
//! keep working, alone or mixed with version 2 shares of the same set.

use std::path::PathBuf;

use crate::common::*;

/// Writes `text` as a share file named `name` in the test's directory.
fn file(fx: &Fixture, name: &str, text: &str) -> PathBuf {
    let p = fx.path().join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn text(fx: &Fixture, who: &str) -> String {
    std::fs::read_to_string(fx.share("vault-root", who)).unwrap()
}

#[test]
fn zeroth_writes_version_2_shares_of_four_lines() {
    let fx = Fixture::sealed();
    let alice = zeroth::share::Share::from_armor(&text(&fx, "alice")).unwrap();
    assert_eq!(alice.payload.version(), zeroth::share::FORMAT_V2);
    let numbered = text(&fx, "alice")
        .lines()
        .filter(|l| l.starts_with(|c: char| c.is_ascii_digit()))
        .count();
    assert_eq!(numbered, 4);
}

#[test]
fn version_1_and_2_shares_recover_alike() {
    let fx = Fixture::sealed();
    let v1_alice = file(
        &fx,
        "alice.v1.share",
        &as_version_1(&fx, "vault-root", &text(&fx, "alice")),
    );
    let v1_bob = file(
        &fx,
        "bob.v1.share",
        &as_version_1(&fx, "vault-root", &text(&fx, "bob")),
    );
    let v1_carol = file(
        &fx,
        "carol.v1.share",
        &as_version_1(&fx, "vault-root", &text(&fx, "carol")),
    );
    assert_eq!(
        std::fs::read_to_string(&v1_alice)
            .unwrap()
            .lines()
            .filter(|l| l.starts_with(|c: char| c.is_ascii_digit()))
            .count(),
        5
    );
    // Version 1 alone, version 2 alone, and mixed: the same credential.
    let only_v1 = fx
        .zeroth()
        .args(["unseal", "vault-root", "--output", "-", "--share"])
        .args([&v1_alice, &v1_bob, &v1_carol])
        .run()
        .ok();
    let only_v2 = fx.unseal("vault-root", &["alice", "bob", "carol"]).ok();
    let mixed = fx
        .zeroth()
        .args(["unseal", "vault-root", "--output", "-", "--share"])
        .arg(&v1_alice)
        .arg(fx.share("vault-root", "dave"))
        .arg(&v1_bob)
        .run()
        .ok();
    assert_eq!(only_v1.stdout.len(), 64);
    assert_eq!(only_v1.stdout, only_v2.stdout);
    assert_eq!(only_v1.stdout, mixed.stdout);
    // A custodian checks a version 1 share alone, too.
    fx.zeroth()
        .args(["share", "verify"])
        .arg(&v1_alice)
        .run()
        .ok();
    // A drill with every share, two of them version 1.
    fx.zeroth()
        .args(["drill", "vault-root", "--share"])
        .arg(&v1_alice)
        .arg(&v1_bob)
        .args(["carol", "dave", "erin"].map(|w| fx.share("vault-root", w)))
        .run()
        .ok();
}

#[test]
fn an_old_set_is_named_in_either_version() {
    let fx = Fixture::sealed();
    let old_v2 = text(&fx, "alice");
    let old_v1 = as_version_1(&fx, "vault-root", &old_v2);
    let new_dir = fx.path().join("new");
    std::fs::create_dir(&new_dir).unwrap();
    let started = fx
        .zeroth()
        .args(["rekey", "vault-root", "--share"])
        .args(["alice", "bob", "carol"].map(|w| fx.share("vault-root", w)))
        .arg("--out-dir")
        .arg(&new_dir)
        .run()
        .ok();
    let id = started
        .stdout_str()
        .split_whitespace()
        .find(|w| w.len() == 16 && w.chars().all(|c| c.is_ascii_hexdigit()))
        .expect("an operation id")
        .to_string();
    fx.zeroth()
        .args(["rekey", "vault-root", "--confirm", &id, "--share"])
        .args(["alice", "bob", "carol"].map(|w| new_dir.join(format!("vault-root.{w}.share"))))
        .run()
        .ok();
    for (name, old) in [("old.v2.share", &old_v2), ("old.v1.share", &old_v1)] {
        let old = file(&fx, name, old);
        unchanged(&fx, &["prod"], || {
            fx.zeroth()
                .args(["unseal", "vault-root", "--output", "-", "--share"])
                .arg(&old)
                .args(["bob", "carol"].map(|w| new_dir.join(format!("vault-root.{w}.share"))))
                .run()
        })
        .fails(
            3,
            &[
                name,
                "it is from share set 1 of 'vault-root'; the current set is 2",
            ],
        );
    }
}

#[test]
fn a_version_2_header_that_names_another_set_was_edited() {
    let fx = Fixture::sealed();
    let edited = file(
        &fx,
        "edited.share",
        &text(&fx, "bob").replace("threshold 3, set 1", "threshold 3, set 2"),
    );
    unchanged(&fx, &["prod"], || {
        fx.zeroth()
            .args(["unseal", "vault-root", "--output", "-", "--share"])
            .arg(&edited)
            .args(["alice", "carol"].map(|w| fx.share("vault-root", w)))
            .run()
    })
    .fails(
        3,
        &[
            "edited.share",
            "its header says set 2",
            "the header was edited",
        ],
    );
}
