//! The ceremonies as custodians meet them on a terminal, driven through a real
//! pseudo-terminal (rexpect): shares dealt one custodian at a time with a confirmation
//! typed back and the screen cleared, shares collected with a typo named and corrected,
//! passphrases typed twice. Every wait has a timeout, so a prompt that never comes
//! fails the test instead of hanging it.

use std::path::{Path, PathBuf};
use std::process::Command;

use rexpect::process::WaitStatus;
use rexpect::session::PtySession;

use crate::common::*;
use crate::custody::age_decrypt;

/// How long any one prompt may take to appear: generous, for a loaded 2-core CI.
const TIMEOUT_MS: u64 = 120_000;

/// A program on a pseudo-terminal, and everything it printed so far.
struct Pty {
    session: PtySession,
    seen: String,
}

impl Pty {
    fn spawn(command: Command) -> Pty {
        let session =
            rexpect::session::spawn_command(command, Some(TIMEOUT_MS)).expect("spawn on a pty");
        Pty {
            session,
            seen: String::new(),
        }
    }

    /// Waits for `text`; returns what came before it.
    #[track_caller]
    fn expect(&mut self, text: &str) -> String {
        match self.session.exp_string(text) {
            Ok(before) => {
                self.seen.push_str(&before);
                self.seen.push_str(text);
                before
            }
            Err(e) => panic!("waiting for {text:?}: {e}\n--- seen so far:\n{}", self.seen),
        }
    }

    /// Waits for `re`; returns the match.
    #[track_caller]
    fn expect_re(&mut self, re: &str) -> String {
        match self.session.exp_regex(re) {
            Ok((before, matched)) => {
                self.seen.push_str(&before);
                self.seen.push_str(&matched);
                matched
            }
            Err(e) => panic!("waiting for /{re}/: {e}\n--- seen so far:\n{}", self.seen),
        }
    }

    fn line(&mut self, text: &str) {
        self.session.send_line(text).expect("write to the pty");
    }

    /// Waits for the end and returns the exit code.
    #[track_caller]
    fn exit_code(mut self) -> (i32, String) {
        match self.session.exp_eof() {
            Ok(rest) => self.seen.push_str(&rest),
            Err(e) => panic!("waiting for the end: {e}\n--- seen so far:\n{}", self.seen),
        }
        match self.session.process().wait() {
            Ok(WaitStatus::Exited(_, code)) => (code, self.seen),
            other => panic!("zeroth ended with {other:?}\n{}", self.seen),
        }
    }
}

/// The share text a custodian copied off the screen.
fn copied(screen: &str) -> String {
    screen
        .lines()
        .map(|l| l.trim_end_matches('\r'))
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// The numbered lines of a share, as typed from paper.
fn numbered(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.starts_with(|c: char| c.is_ascii_digit()))
        .map(String::from)
        .collect()
}

/// Colour and bold escape sequences (SGR) in `text`.
fn has_colour(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.windows(2).enumerate().any(|(i, w)| {
        w == b"\x1b["
            && bytes[i + 2..]
                .iter()
                .find(|b| !(b.is_ascii_digit() || **b == b';'))
                == Some(&b'm')
    })
}

fn generate_on_terminal(fx: &Fixture) -> Command {
    let mut c = fx.command();
    c.args([
        "generate",
        "vault-root",
        "--env",
        "prod",
        "--owner",
        "platform",
    ])
    .args(["--purpose", "unseal vault", "--rotate-every", "90d"])
    .args([
        "--threshold",
        "2",
        "--custodian",
        "alice",
        "--custodian",
        "bob",
    ])
    .args(["--custodian", "carol"]);
    c
}

#[test]
fn generate_on_a_terminal_shows_each_share_alone_and_writes_none() {
    let fx = Fixture::new();
    fx.env_init("prod", "prod").ok();
    let files_before = fx.files();
    let mut pty = Pty::spawn(generate_on_terminal(&fx));
    let mut shares = Vec::new();
    let mut asked = Vec::new();
    for (i, who) in ["alice", "bob", "carol"].iter().enumerate() {
        pty.expect(&format!("Custodian {} of 3: ", i + 1));
        pty.expect(&format!("{who}: press Enter to see your share."));
        pty.line("");
        let armor = copied(
            &pty.expect_re(r"-----BEGIN ZEROTH SHARE-----[\s\S]*?-----END ZEROTH SHARE-----"),
        );
        assert!(armor.contains(&format!("Custodian: {who}")), "{armor}");
        pty.expect("Press Enter once you have recorded it");
        pty.line("");
        let lines = numbered(&armor);
        for k in 0..2 {
            let ask = pty.expect_re(r"type group \d of line \d");
            let numbers: Vec<usize> = ask
                .split(|c: char| !c.is_ascii_digit())
                .filter(|s| !s.is_empty())
                .map(|s| s.parse().unwrap())
                .collect();
            let (group, line) = (numbers[0], numbers[1]);
            asked.push((i, line, group));
            // The screen was cleared between the share and the question.
            let cleared_at = pty.seen.rfind("\x1b[2J").unwrap();
            assert!(cleared_at > pty.seen.rfind("-----END ZEROTH SHARE-----").unwrap());
            let groups: Vec<&str> = lines[line - 1].split_whitespace().collect();
            let answer = groups[group].to_string(); // [0] is the line number
            if k == 0 {
                // A wrong answer first: refused, asked again.
                let wrong = if answer == "ZZZZZ" { "YYYYY" } else { "ZZZZZ" };
                pty.line(wrong);
                pty.expect(&format!("that is not group {group} of line {line}"));
                pty.expect(&format!("type group {group} of line {line} (not shown)"));
            }
            // Typed loosely, as people do: lower case.
            pty.line(&answer.to_lowercase());
        }
        pty.expect(&format!("{who} has confirmed their share ({} of 3)", i + 1));
        if i < 2 {
            pty.expect("hand the terminal to the next custodian");
            pty.line("");
        }
        shares.push(armor);
    }
    pty.expect("All 3 custodians have their shares; nothing was written to disk.");
    let (code, seen) = pty.exit_code();
    assert_eq!(code, 0, "{seen}");
    assert!(seen.contains("sealed 'vault-root'"), "{seen}");
    assert!(seen.contains("shown on the terminal, confirmed"), "{seen}");
    assert!(has_colour(&seen), "colour is on without NO_COLOR");
    // Two groups each, distinct, and each one only that custodian's share has: never a
    // group every share of the set has in common (the seal's set tag, the threshold).
    assert_eq!(asked.len(), 6);
    let group_of = |armor: &str, line: usize, group: usize| -> String {
        numbered(armor)[line - 1]
            .split_whitespace()
            .nth(group)
            .unwrap()
            .to_string()
    };
    for (i, line, group) in &asked {
        let mine = group_of(&shares[*i], *line, *group);
        for (j, other) in shares.iter().enumerate() {
            if j != *i {
                assert_ne!(group_of(other, *line, *group), mine, "{asked:?}");
            }
        }
    }
    for pair in asked.chunks(2) {
        assert_ne!(
            pair[0], pair[1],
            "the two groups asked of one custodian differ"
        );
    }
    // Nothing but the record (and the log) was written: no share file anywhere.
    let after = fx.files();
    let new: Vec<_> = after
        .keys()
        .filter(|p| !files_before.contains_key(*p))
        .collect();
    assert_eq!(
        new,
        vec![&fx.store().join("seals").join("vault-root.json")],
        "only the record is new"
    );
    // The shares as the custodians copied them recover the credential.
    let files: Vec<PathBuf> = shares
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let p = fx.path().join(format!("copied-{i}"));
            std::fs::write(&p, s).unwrap();
            p
        })
        .collect();
    let run = fx
        .zeroth()
        .args(["unseal", "vault-root", "--output", "-", "--share"])
        .arg(&files[0])
        .arg("--share")
        .arg(&files[2])
        .run()
        .ok();
    assert_eq!(run.stdout.len(), 64);
}

/// The screen-clearing sequence zeroth writes: home, erase the screen, erase the
/// scrollback.
const CLEAR: &str = "\x1b[H\x1b[2J\x1b[3J";

/// Asserts that after the last share shown in `seen`, the screen and its scrollback were
/// cleared, and no line of the share was written again.
#[track_caller]
fn share_cleared(seen: &str, armor: &str) {
    let end = seen
        .rfind("-----END ZEROTH SHARE-----")
        .expect("a share was shown");
    let after = &seen[end..];
    let clear = after
        .find(CLEAR)
        .unwrap_or_else(|| panic!("the share was left on screen: no clear after it\n{after:?}"));
    for line in numbered(armor) {
        assert!(!after[clear..].contains(&line), "{line:?} shown again");
    }
}

/// Starts a terminal dealing and stops at alice's share, on screen. Returns the pty and
/// the share.
fn at_alices_share(fx: &Fixture) -> (Pty, String) {
    let mut pty = Pty::spawn(generate_on_terminal(fx));
    pty.expect("alice: press Enter to see your share.");
    pty.line("");
    let armor =
        copied(&pty.expect_re(r"-----BEGIN ZEROTH SHARE-----[\s\S]*?-----END ZEROTH SHARE-----"));
    pty.expect("Press Enter once you have recorded it");
    (pty, armor)
}

#[test]
fn stopping_the_distribution_seals_nothing() {
    let fx = Fixture::new();
    fx.env_init("prod", "prod").ok();
    let before = fx.snapshot(&["prod"]);
    let mut pty = Pty::spawn(generate_on_terminal(&fx));
    pty.expect("alice: press Enter to see your share.");
    pty.line("");
    pty.expect("Press Enter once you have recorded it");
    pty.line("");
    pty.expect_re(r"type group \d of line \d");
    pty.session.send_control('c').unwrap();
    let (code, seen) = pty.exit_code();
    assert_eq!(code, 130, "{seen}");
    assert!(seen.contains("stopped at the terminal (Ctrl-C)"), "{seen}");
    let after = fx.snapshot(&["prod"]);
    assert!(before.0 == after.0, "no file changed");
    assert_eq!(before.1, after.1, "the K_seal made was destroyed again");
    let entry = fx.log_lines("prod").pop().unwrap();
    assert_eq!(entry["outcome"], "refused", "{entry}");
}

#[test]
fn ctrl_c_while_a_share_is_on_screen_clears_it_and_exits_130() {
    let fx = Fixture::new();
    fx.env_init("prod", "prod").ok();
    let before = fx.snapshot(&["prod"]);
    let (mut pty, armor) = at_alices_share(&fx);
    pty.session.send_control('c').unwrap();
    let (code, seen) = pty.exit_code();
    assert_eq!(code, 130, "{seen}");
    share_cleared(&seen, &armor);
    // The clear comes before the message saying why zeroth stopped.
    let clear = seen.rfind(CLEAR).unwrap();
    let why = seen.rfind("stopped at the terminal (Ctrl-C)").unwrap();
    assert!(clear < why, "{seen:?}");
    let after = fx.snapshot(&["prod"]);
    assert!(before.0 == after.0, "no file changed");
    assert_eq!(before.1, after.1, "the K_seal made was destroyed again");
}

#[test]
fn ctrl_d_while_a_share_is_on_screen_clears_it_and_refuses() {
    let fx = Fixture::new();
    fx.env_init("prod", "prod").ok();
    let (mut pty, armor) = at_alices_share(&fx);
    pty.session.send_control('d').unwrap();
    let (code, seen) = pty.exit_code();
    assert_eq!(code, 3, "{seen}");
    assert!(seen.contains("stopped at the terminal (Ctrl-D)"), "{seen}");
    share_cleared(&seen, &armor);
}

#[test]
fn a_signal_while_a_share_is_on_screen_clears_it_first() {
    for (signal, name) in [
        (rexpect::process::Signal::SIGTERM, "SIGTERM"),
        (rexpect::process::Signal::SIGHUP, "SIGHUP"),
    ] {
        let fx = Fixture::new();
        fx.env_init("prod", "prod").ok();
        let (mut pty, armor) = at_alices_share(&fx);
        pty.session.process_mut().signal(signal).unwrap();
        match pty.session.exp_eof() {
            Ok(rest) => pty.seen.push_str(&rest),
            Err(e) => panic!("{name}: waiting for the end: {e}\n{}", pty.seen),
        }
        match pty.session.process().wait() {
            Ok(WaitStatus::Signaled(_, s, _)) => assert_eq!(s, signal, "{name}"),
            other => panic!("{name}: zeroth ended with {other:?}\n{}", pty.seen),
        }
        share_cleared(&pty.seen, &armor);
        // Nothing was sealed: no record; the key made is what a crash leaves, listed by
        // cleanup and destroyed by cleanup --destroy.
        assert!(!fx.store().join("seals").join("vault-root.json").exists());
        let listed = fx
            .zeroth()
            .args(["cleanup", "--env", "prod", "--destroy"])
            .run()
            .ok();
        assert!(
            listed.stdout_str().contains("zeroth:prod:vault-root:v1:s1"),
            "{}",
            listed.stdout_str()
        );
    }
}

/// A copy of `line` with one character of group `group` changed such that zeroth can
/// tell the group (most single changes; see share::parse_line).
fn typo_in_group(share_line: usize, line: &str, group: usize) -> String {
    let tokens: Vec<&str> = line.split_whitespace().collect();
    for pos in 0..5 {
        for c in "0123456789ABCDEFGHJKMNPQRSTVWXYZ".chars() {
            let mut g: Vec<char> = tokens[group].chars().collect();
            if g[pos] == c {
                continue;
            }
            g[pos] = c;
            let mut t: Vec<String> = tokens.iter().map(|s| s.to_string()).collect();
            t[group] = g.into_iter().collect();
            let candidate = t.join(" ");
            if zeroth::share::parse_line(zeroth::share::CURRENT_FORMAT, share_line, &candidate)
                .err()
                .is_some_and(|e| e.starts_with(&format!("group {group}:")))
            {
                return candidate;
            }
        }
    }
    panic!("no typo in group {group} is identifiable on {line}");
}

#[test]
fn unseal_on_a_terminal_collects_shares_one_custodian_at_a_time() {
    let fx = Fixture::sealed();
    fx.generate("other", "prod", 3, 5).ok();
    let text = |who: &str| std::fs::read_to_string(fx.share("vault-root", who)).unwrap();
    let out = fx.path().join("credential");
    let mut c = fx.command();
    c.env("NO_COLOR", "1")
        .args(["unseal", "vault-root", "--output"])
        .arg(&out);
    let mut pty = Pty::spawn(c);
    pty.expect("any 3 of 5 custodians");
    pty.expect("progress: 0 of 3 shares in; still needed: 3 more, from any of: alice, bob, carol, dave, erin");
    pty.expect("your share (paste it, or type line 1)");
    // alice pastes her share file.
    for line in text("alice").lines() {
        pty.line(line);
    }
    pty.expect("share of alice accepted (share 1 of 5)");
    pty.expect(
        "progress: 1 of 3 shares in; still needed: 2 more, from any of: bob, carol, dave, erin",
    );
    // bob types his lines from paper, and gets line 2 wrong once.
    let bob = numbered(&text("bob"));
    pty.line(&bob[0].to_lowercase());
    pty.expect("line 1 of 4 ok");
    pty.line(&typo_in_group(2, &bob[1], 3));
    pty.expect("line 2, group 3: the check characters do not match");
    pty.expect("type line 2 again");
    pty.line(&bob[1]);
    pty.expect("line 2 of 4 ok");
    for l in &bob[2..] {
        pty.line(l);
    }
    pty.expect("line 4 of 4 ok");
    pty.expect("share of bob accepted (share 2 of 5)");
    pty.expect("progress: 2 of 3 shares in; still needed: 1 more, from any of: carol, dave, erin");
    // alice again by mistake, then a share of another seal: refused, the next
    // custodian is asked for.
    for line in text("alice").lines() {
        pty.line(line);
    }
    pty.expect("alice's share was entered already");
    pty.expect("your share (paste it, or type line 1)");
    for line in std::fs::read_to_string(fx.share("other", "dave"))
        .unwrap()
        .lines()
    {
        pty.line(line);
    }
    pty.expect("refused: it is a share of seal 'other', not 'vault-root'");
    // carol, whose paste is cut short, then whole.
    for line in text("carol").lines().take(8) {
        pty.line(line);
    }
    pty.line("-----END ZEROTH SHARE-----");
    pty.expect("the pasted share: ");
    pty.expect("paste it again, or type its lines");
    for line in text("carol").lines() {
        pty.line(line);
    }
    pty.expect("share of carol accepted (share 3 of 5)");
    pty.expect("3 shares in (alice, bob, carol): recovering in the HSM");
    let (code, seen) = pty.exit_code();
    assert_eq!(code, 0, "{seen}");
    assert!(!has_colour(&seen), "NO_COLOR: no colour\n{seen:?}");
    assert_eq!(std::fs::read(&out).unwrap().len(), 64);
    // Nothing typed was echoed: no share line appears in what the terminal showed.
    for who in ["alice", "bob", "carol"] {
        for l in numbered(&text(who)) {
            assert!(!seen.contains(&l), "{who}'s line {l:?} was echoed");
        }
    }
    let entry = fx.log_lines("prod").pop().unwrap();
    assert_eq!(entry["event"], "unseal");
    assert_eq!(
        entry["custodians"],
        serde_json::json!(["alice", "bob", "carol"])
    );
}

#[test]
fn a_drill_on_a_terminal_goes_on_past_the_threshold_until_told_to_stop() {
    let fx = Fixture::sealed();
    let text = |who: &str| std::fs::read_to_string(fx.share("vault-root", who)).unwrap();
    let mut c = fx.command();
    c.args(["drill", "vault-root"]);
    let mut pty = Pty::spawn(c);
    // A custodian who starts typing and gives up with an empty line.
    pty.expect("your share (paste it, or type line 1)");
    pty.line(&numbered(&text("alice"))[0]);
    pty.expect("line 1 of 4 ok");
    pty.line("");
    pty.expect("that share is dropped; start again from line 1");
    for who in ["erin", "dave", "carol", "bob"] {
        pty.expect("your share (paste it, or type line 1)");
        for line in text(who).lines() {
            pty.line(line);
        }
        pty.expect(&format!("share of {who} accepted"));
    }
    pty.expect("4 of 5 shares in, the threshold (3) is reached; alice may still prove theirs");
    pty.line("");
    let (code, seen) = pty.exit_code();
    assert_eq!(code, 0, "{seen}");
    assert!(seen.contains("not proven in this drill: alice"), "{seen}");
}

#[test]
fn stopping_the_collection_combines_nothing() {
    let fx = Fixture::sealed();
    let text = std::fs::read_to_string(fx.share("vault-root", "dave")).unwrap();
    let out = fx.path().join("credential");
    unchanged(&fx, &["prod"], || {
        let mut c = fx.command();
        c.args(["unseal", "vault-root", "--output"]).arg(&out);
        let mut pty = Pty::spawn(c);
        pty.expect("your share (paste it, or type line 1)");
        for line in text.lines() {
            pty.line(line);
        }
        pty.expect("share of dave accepted");
        pty.expect("your share (paste it, or type line 1)");
        pty.session.send_control('d').unwrap();
        let (code, seen) = pty.exit_code();
        Run {
            code,
            stdout: Vec::new(),
            stderr: seen,
        }
    })
    .fails(
        3,
        &[
            "unseal refused: stopped at the terminal (Ctrl-D) with 1 of 3 shares entered (dave); nothing was combined",
        ],
    );
    assert!(!out.exists());
}

#[test]
fn a_passphrase_share_is_typed_twice_and_opened_with_age_and_zeroth() {
    let fx = Fixture::new();
    fx.env_init("prod", "prod").ok();
    let mut c = fx.command();
    c.args([
        "generate",
        "vault-root",
        "--env",
        "prod",
        "--owner",
        "platform",
    ])
    .args(["--purpose", "unseal vault", "--rotate-every", "90d"])
    .args(["--threshold", "2", "--custodian", "alice=passphrase"])
    .args(["--custodian", "bob", "--out-dir"])
    .arg(fx.shares_dir());
    let mut pty = Pty::spawn(c);
    pty.expect(": choose the passphrase that protects your share");
    pty.expect("passphrase for alice (not shown): ");
    pty.line("plinth marmalade oscilloscope rubric");
    pty.expect("the same again: ");
    pty.line("plinth marmalade oscilloscope rebus");
    pty.expect("the two entries differ; again");
    pty.expect("passphrase for alice (not shown): ");
    pty.line("plinth marmalade oscilloscope rubric");
    pty.expect("the same again: ");
    pty.line("plinth marmalade oscilloscope rubric");
    let (code, seen) = pty.exit_code();
    assert_eq!(code, 0, "{seen}");
    assert!(
        !seen.contains("plinth marmalade"),
        "the passphrase was echoed"
    );
    let file = fx.shares_dir().join("vault-root.alice.share.age");
    assert_eq!(
        fx.record("vault-root")["custodians"][0]["recipient"],
        "passphrase"
    );

    // alice opens it with Debian's age, which asks on the terminal.
    let mut age = Command::new("age");
    age.arg("-d").arg(&file);
    let mut pty = Pty::spawn(age);
    pty.expect("passphrase");
    pty.line("plinth marmalade oscilloscope rubric");
    pty.expect("-----BEGIN ZEROTH SHARE-----");
    let (code, seen) = pty.exit_code();
    assert_eq!(code, 0, "{seen}");
    assert!(seen.contains("Custodian: alice"), "{seen}");

    // zeroth asks for it too, and lets a mistyped passphrase be typed again.
    let mut c = fx.command();
    c.args([
        "unseal",
        "vault-root",
        "--output",
        "-",
        "--allow-tty",
        "--share",
    ])
    .arg(&file)
    .arg("--share")
    .arg(fx.share("vault-root", "bob"));
    let mut pty = Pty::spawn(c);
    pty.expect("passphrase for share file");
    pty.line("plinth marmalade");
    pty.expect("that passphrase does not open it; again");
    pty.expect("passphrase for share file");
    pty.line("plinth marmalade oscilloscope rubric");
    pty.expect("unsealed 'vault-root' with the shares of alice, bob");
    let (code, seen) = pty.exit_code();
    assert_eq!(code, 0, "{seen}");

    // Without a terminal, a passphrase can be neither chosen nor typed.
    unchanged(&fx, &["prod"], || {
        fx.zeroth()
            .no_terminal()
            .args(["unseal", "vault-root", "--output", "-", "--share"])
            .arg(&file)
            .arg("--share")
            .arg(fx.share("vault-root", "bob"))
            .run()
    })
    .fails(
        2,
        &["vault-root.alice.share.age", "passphrase", "on a terminal"],
    );
    unchanged(&fx, &["prod"], || {
        fx.zeroth()
            .no_terminal()
            .args(["generate", "other", "--env", "prod", "--owner", "o"])
            .args([
                "--purpose",
                "p",
                "--rotate-every",
                "90d",
                "--threshold",
                "2",
            ])
            .args(["--custodian", "alice=passphrase", "--custodian", "bob"])
            .arg("--out-dir")
            .arg(fx.shares_dir())
            .run()
    })
    .fails(2, &["custodian 'alice'", "passphrase", "there is none"]);
    let _ = age_decrypt;
}

#[test]
fn passphrases_that_never_match_seal_nothing() {
    let fx = Fixture::new();
    fx.env_init("prod", "prod").ok();
    unchanged(&fx, &["prod"], || {
        let mut c = fx.command();
        c.args(["generate", "vault-root", "--env", "prod", "--owner", "o"])
            .args([
                "--purpose",
                "p",
                "--rotate-every",
                "90d",
                "--threshold",
                "2",
            ])
            .args(["--custodian", "alice=passphrase", "--custodian", "bob"])
            .arg("--out-dir")
            .arg(fx.shares_dir());
        let mut pty = Pty::spawn(c);
        for i in 0..3 {
            pty.expect("passphrase for alice (not shown): ");
            pty.line(&format!("first {i}"));
            pty.expect("the same again: ");
            pty.line(&format!("second {i}"));
        }
        let (code, seen) = pty.exit_code();
        Run {
            code,
            stdout: Vec::new(),
            stderr: seen,
        }
    })
    .fails(
        3,
        &["three passphrase entries did not match: nothing was sealed"],
    );
}

#[test]
fn without_a_terminal_the_terminal_ceremonies_say_what_to_give() {
    let fx = Fixture::sealed();
    unchanged(&fx, &["prod"], || {
        fx.zeroth()
            .no_terminal()
            .args(["generate", "other", "--env", "prod", "--owner", "o"])
            .args([
                "--purpose",
                "p",
                "--rotate-every",
                "90d",
                "--threshold",
                "2",
            ])
            .args(["--custodian", "alice", "--custodian", "bob"])
            .run()
    })
    .fails(
        2,
        &[
            "generate has no terminal to show the shares on",
            "--out-dir DIR",
            "--paper DIR",
        ],
    );
    unchanged(&fx, &["prod"], || {
        fx.zeroth()
            .no_terminal()
            .args(["unseal", "vault-root", "--output", "-"])
            .run()
    })
    .fails(
        2,
        &[
            "no shares given",
            "--share FILE",
            "run unseal on a terminal",
        ],
    );
    unchanged(&fx, &["prod"], || {
        fx.zeroth()
            .no_terminal()
            .args(["drill", "vault-root"])
            .run()
    })
    .fails(2, &["run drill on a terminal"]);
    unchanged(&fx, &["prod"], || {
        fx.zeroth()
            .no_terminal()
            .args(["rekey", "vault-root", "--share"])
            .args(["alice", "bob", "carol"].map(|w| fx.share("vault-root", w)))
            .run()
    })
    .fails(2, &["rekey has no terminal to show the shares on"]);
}

#[test]
fn typed_shares_of_either_version_and_of_another_seal_at_the_terminal() {
    let fx = Fixture::sealed();
    fx.generate("other", "prod", 2, 3).ok();
    let text = |seal: &str, who: &str| std::fs::read_to_string(fx.share(seal, who)).unwrap();
    let mut c = fx.command();
    c.env("NO_COLOR", "1").args(["drill", "vault-root"]);
    let mut pty = Pty::spawn(c);
    // carol types her share from an old card: version 1, five lines.
    let carol_v1 = as_version_1(&fx, "vault-root", &text("vault-root", "carol"));
    pty.expect("your share (paste it, or type line 1)");
    for l in numbered(&carol_v1) {
        pty.line(&l);
    }
    pty.expect("line 1 of 5 ok");
    pty.expect("line 5 of 5 ok");
    pty.expect("share of carol accepted (share 3 of 5)");
    // Someone types the lines of a share of another seal: its set tag names it.
    pty.expect("your share (paste it, or type line 1)");
    for l in numbered(&text("other", "bob")) {
        pty.line(&l);
    }
    pty.expect("line 4 of 4 ok");
    pty.expect("refused: it is a share of seal 'other' (prod), set 1, not of 'vault-root'");
    // The same in version 1.
    pty.expect("your share (paste it, or type line 1)");
    for l in numbered(&as_version_1(&fx, "other", &text("other", "bob"))) {
        pty.line(&l);
    }
    pty.expect("line 5 of 5 ok");
    pty.expect("refused: it is a share of seal 'other' (prod), set 1, not of 'vault-root'");
    for who in ["alice", "erin"] {
        pty.expect("your share (paste it, or type line 1)");
        for l in numbered(&text("vault-root", who)) {
            pty.line(&l);
        }
        pty.expect(&format!("share of {who} accepted"));
    }
    pty.expect("the threshold (3) is reached");
    pty.line("");
    let (code, seen) = pty.exit_code();
    assert_eq!(code, 0, "{seen}");
    let entry = fx.log_lines("prod").pop().unwrap();
    assert_eq!(entry["event"], "drill");
    assert_eq!(entry["rejected"].as_array().unwrap().len(), 2, "{entry}");
}

#[test]
fn an_encrypted_share_is_opened_with_an_identity_given_on_the_spot() {
    let fx = Fixture::new();
    fx.env_init("prod", "prod").ok();
    let keys = fx.path().join("keys");
    std::fs::create_dir(&keys).unwrap();
    let alice = crate::custody::age_key(&keys, "alice");
    let other = crate::custody::age_key(&keys, "mallory");
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
        .arg(format!("alice={}", alice.recipient))
        .args(["--custodian", "bob", "--custodian", "carol", "--out-dir"])
        .arg(fx.shares_dir())
        .run()
        .ok();
    let sealed =
        std::fs::read_to_string(crate::custody::encrypted_share(&fx, "vault-root", "alice"))
            .unwrap();
    let out = fx.path().join("credential");
    let mut c = fx.command();
    c.env("NO_COLOR", "1")
        .args(["unseal", "vault-root", "--output"])
        .arg(&out);
    let mut pty = Pty::spawn(c);
    // alice pastes her age file; no --identity was given.
    pty.expect("your share (paste it, or type line 1)");
    for l in sealed.lines() {
        pty.line(l);
    }
    pty.expect("this share is encrypted to its custodian's key: type the path of their identity");
    // A path that does not exist, then a key that is not hers, then hers.
    pty.line(fx.path().join("nowhere.key").to_str().unwrap());
    pty.expect("does not exist");
    pty.expect("or press Enter alone to skip it: ");
    pty.line(other.identity.to_str().unwrap());
    pty.expect("that identity does not open it either");
    pty.expect("or press Enter alone to skip it: ");
    pty.line(alice.identity.to_str().unwrap());
    pty.expect("share of alice accepted (share 1 of 3)");
    // bob pastes his plain share.
    pty.expect("your share (paste it, or type line 1)");
    for l in std::fs::read_to_string(fx.share("vault-root", "bob"))
        .unwrap()
        .lines()
    {
        pty.line(l);
    }
    pty.expect("share of bob accepted");
    let (code, seen) = pty.exit_code();
    assert_eq!(code, 0, "{seen}");
    assert_eq!(std::fs::read(&out).unwrap().len(), 64);
    // The identity paths typed were not secret, and were shown back; the key was not.
    assert!(seen.contains(&format!("identity file: {}", alice.identity.display())));
    let key_text = std::fs::read_to_string(&alice.identity).unwrap();
    let secret_line = key_text
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY"))
        .unwrap();
    assert!(!seen.contains(secret_line));
}

#[test]
fn an_encrypted_share_can_be_skipped_for_its_custodian_to_decrypt_it_at_home() {
    let fx = Fixture::new();
    fx.env_init("prod", "prod").ok();
    let keys = fx.path().join("keys");
    std::fs::create_dir(&keys).unwrap();
    let alice = crate::custody::age_key(&keys, "alice");
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
        .arg(format!("alice={}", alice.recipient))
        .args(["--custodian", "bob", "--out-dir"])
        .arg(fx.shares_dir())
        .run()
        .ok();
    let file = crate::custody::encrypted_share(&fx, "vault-root", "alice");
    let sealed = std::fs::read_to_string(&file).unwrap();
    let mut c = fx.command();
    c.env("NO_COLOR", "1").args(["drill", "vault-root"]);
    let mut pty = Pty::spawn(c);
    pty.expect("your share (paste it, or type line 1)");
    for l in sealed.lines() {
        pty.line(l);
    }
    pty.expect("or press Enter alone to skip it: ");
    pty.line("");
    pty.expect("age -d -i KEY FILE");
    // alice decrypts it on her own machine, as the README says, and pastes the text.
    let plain = age_decrypt(&alice.identity, &file);
    assert!(plain.status.success());
    pty.expect("your share (paste it, or type line 1)");
    for l in String::from_utf8(plain.stdout).unwrap().lines() {
        pty.line(l);
    }
    pty.expect("share of alice accepted");
    pty.expect("your share (paste it, or type line 1)");
    for l in std::fs::read_to_string(fx.share("vault-root", "bob"))
        .unwrap()
        .lines()
    {
        pty.line(l);
    }
    pty.expect("share of bob accepted");
    let (code, seen) = pty.exit_code();
    assert_eq!(code, 0, "{seen}");
}

#[test]
fn a_weak_passphrase_is_refused_with_why_unless_allowed() {
    let fx = Fixture::new();
    fx.env_init("prod", "prod").ok();
    let generate = || {
        let mut c = fx.command();
        c.args(["generate", "vault-root", "--env", "prod", "--owner", "o"])
            .args([
                "--purpose",
                "p",
                "--rotate-every",
                "90d",
                "--threshold",
                "2",
            ])
            .args(["--custodian", "alice=passphrase", "--custodian", "bob"])
            .arg("--out-dir")
            .arg(fx.shares_dir());
        c
    };
    // Three weak ones: refused, nothing sealed.
    unchanged(&fx, &["prod"], || {
        let mut pty = Pty::spawn(generate());
        for weak in ["abc", "password1", "alice-vault-root"] {
            pty.expect("passphrase for alice (not shown): ");
            pty.line(weak);
            pty.expect("the same again: ");
            pty.line(weak);
            pty.expect("too weak: ");
            pty.expect("guesses");
        }
        let (code, seen) = pty.exit_code();
        Run {
            code,
            stdout: Vec::new(),
            stderr: seen,
        }
    })
    .fails(
        3,
        &[
            "custodian 'alice': three passphrases too weak",
            "--allow-weak-passphrase",
            "nothing was sealed",
        ],
    );
    // A weak one, then a strong one: sealed.
    let mut pty = Pty::spawn(generate());
    pty.expect("passphrase for alice (not shown): ");
    pty.line("abc");
    pty.expect("the same again: ");
    pty.line("abc");
    pty.expect("too weak: ");
    pty.expect("choose a stronger one");
    pty.expect("passphrase for alice (not shown): ");
    pty.line("plinth marmalade oscilloscope rubric");
    pty.expect("the same again: ");
    pty.line("plinth marmalade oscilloscope rubric");
    let (code, seen) = pty.exit_code();
    assert_eq!(code, 0, "{seen}");
    // Allowed knowingly: kept, with a warning.
    let mut c2 = fx.command();
    c2.args(["generate", "weak-one", "--env", "prod", "--owner", "o"])
        .args([
            "--purpose",
            "p",
            "--rotate-every",
            "90d",
            "--threshold",
            "2",
        ])
        .args(["--custodian", "alice=passphrase", "--custodian", "bob"])
        .arg("--allow-weak-passphrase")
        .arg("--out-dir")
        .arg(fx.shares_dir());
    let mut pty = Pty::spawn(c2);
    pty.expect("passphrase for alice (not shown): ");
    pty.line("abc");
    pty.expect("the same again: ");
    pty.line("abc");
    pty.expect("a weak passphrase, kept as --allow-weak-passphrase says");
    let (code, seen) = pty.exit_code();
    assert_eq!(code, 0, "{seen}");
    assert!(
        seen.contains("weak passphrase (--allow-weak-passphrase)"),
        "{seen}"
    );
}

#[test]
fn a_remote_collection_on_a_terminal_takes_pasted_hand_ins_and_shares_in_the_room() {
    let fx = Fixture::sealed();
    let request = fx.path().join("r.request");
    let out = fx.path().join("credential");
    let mut c = fx.command();
    c.env("NO_COLOR", "1")
        .args(["unseal", "vault-root", "--remote", "--request"])
        .arg(&request)
        .arg("--output")
        .arg(&out);
    let mut pty = Pty::spawn(c);
    pty.expect("Hand-ins are read when pasted here (or the path of a hand-in file typed here)");
    pty.expect("progress: 0 of 3 shares in");
    assert!(request.exists());
    // bob, away, prints his hand-in (--out -) to send it by chat: the operator pastes it.
    let bob = crate::remote::home(&fx, "bob", true, false);
    let sent = bob.send(&request, Path::new("-"), &[]).ok();
    let v: serde_json::Value = serde_json::from_slice(&sent.stdout).unwrap();
    assert!(v["file"].is_null(), "{v}");
    let text = v["hand_in"].as_str().unwrap();
    assert!(text.starts_with("-----BEGIN ZEROTH HAND-IN-----"), "{text}");
    for line in text.lines() {
        pty.line(line);
    }
    // (rexpect reads bytes as Latin-1: the ellipsis after the fingerprint is 3 chars.)
    pty.expect_re(
        r"hand-in sha256:[0-9a-f]{16}.{1,3} from bob \(terminal: \(terminal\)\) accepted",
    );
    pty.expect("progress: 1 of 3 shares in");
    // alice, in the room, pastes her share.
    for line in std::fs::read_to_string(fx.share("vault-root", "alice"))
        .unwrap()
        .lines()
    {
        pty.line(line);
    }
    pty.expect("share of alice accepted (in the room)");
    pty.expect("progress: 2 of 3 shares in");
    // carol's hand-in came as a mail attachment: the operator types its path.
    let carol = crate::remote::home(&fx, "carol", true, false);
    let carol_in = fx.path().join("carol.hand-in");
    carol.send(&request, &carol_in, &[]).ok();
    pty.line(carol_in.to_str().unwrap());
    pty.expect("from carol (file: ");
    pty.expect("3 shares in (bob, alice, carol): the collection is closed and its key wiped");
    let (code, seen) = pty.exit_code();
    assert_eq!(code, 0, "{seen}");
    // Nothing pasted was echoed.
    for l in numbered(&std::fs::read_to_string(fx.share("vault-root", "alice")).unwrap()) {
        assert!(!seen.contains(&l), "alice's line {l:?} was echoed");
    }
    let room = fx.unseal("vault-root", &["alice", "bob", "carol"]).ok();
    assert_eq!(std::fs::read(&out).unwrap(), room.stdout);
    let entry = crate::remote::entries(&fx, "unseal").remove(0);
    assert_eq!(entry["remote"]["in_room"], serde_json::json!(["alice"]));
    let via: Vec<(&str, &str)> = entry["remote"]["hand_ins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h["custodian"].as_str().unwrap(), h["via"].as_str().unwrap()))
        .collect();
    assert_eq!(via, [("bob", "terminal"), ("carol", "file")]);
}

#[test]
fn a_pasted_hand_in_without_its_end_is_refused_and_the_collection_goes_on() {
    let fx = Fixture::sealed();
    let request = fx.path().join("r.request");
    let mut c = fx.command();
    c.env("NO_COLOR", "1")
        .args(["unseal", "vault-root", "--remote", "--request"])
        .arg(&request)
        .arg("--output")
        .arg(fx.path().join("credential"));
    let mut pty = Pty::spawn(c);
    pty.expect("progress: 0 of 3 shares in");
    // A paste cut short (its END line lost), then more text: it is refused once it is
    // longer than any hand-in, and what follows it is not read as a share.
    pty.line("-----BEGIN ZEROTH HAND-IN-----");
    for _ in 0..450 {
        pty.line("QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB");
    }
    pty.expect("the pasted hand-in was not read: it has no END line within a hand-in's size");
    // The collection still takes hand-ins.
    let bob = crate::remote::home(&fx, "bob", true, false);
    let sent = bob.send(&request, Path::new("-"), &[]).ok();
    let v: serde_json::Value = serde_json::from_slice(&sent.stdout).unwrap();
    for line in v["hand_in"].as_str().unwrap().lines() {
        pty.line(line);
    }
    pty.expect("from bob (terminal: (terminal)) accepted");
    pty.expect("progress: 1 of 3 shares in");
    // A paste begun and never finished does not hold off a stop.
    pty.line("-----BEGIN ZEROTH HAND-IN-----");
    pty.line("QUFB");
    pty.session
        .process_mut()
        .signal(rexpect::process::Signal::SIGTERM)
        .unwrap();
    pty.expect("stopped by SIGTERM");
    let (code, seen) = pty.exit_code();
    assert_eq!(code, 130, "{seen}");
    let close = crate::remote::entries(&fx, "remote-close");
    assert_eq!(close.len(), 1);
}

#[test]
fn after_a_remote_collection_a_signal_still_clears_a_share_on_screen() {
    let fx = Fixture::sealed();
    let request = fx.path().join("r.request");
    let inbox = fx.path().join("inbox");
    std::fs::create_dir_all(&inbox).unwrap();
    let mut c = fx.command();
    c.env("NO_COLOR", "1")
        .args(["rotate", "vault-root", "--remote", "--request"])
        .arg(&request)
        .arg("--watch")
        .arg(&inbox);
    let mut pty = Pty::spawn(c);
    pty.expect("progress: 0 of 3 shares in");
    for w in ["alice", "bob", "carol"] {
        crate::remote::home(&fx, w, true, false)
            .send(&request, &inbox.join(format!("{w}.hand-in")), &[])
            .ok();
    }
    pty.expect("the collection is closed and its key wiped");
    // The new set is dealt on this terminal: a signal while a share is on screen clears
    // it before zeroth ends, as in any ceremony.
    pty.expect("alice: press Enter to see your share.");
    pty.line("");
    let armor =
        copied(&pty.expect_re(r"-----BEGIN ZEROTH SHARE-----[\s\S]*?-----END ZEROTH SHARE-----"));
    pty.expect("Press Enter once you have recorded it");
    pty.session
        .process_mut()
        .signal(rexpect::process::Signal::SIGTERM)
        .unwrap();
    match pty.session.exp_eof() {
        Ok(rest) => pty.seen.push_str(&rest),
        Err(e) => panic!("waiting for the end: {e}\n{}", pty.seen),
    }
    match pty.session.process().wait() {
        Ok(WaitStatus::Signaled(_, s, _)) => {
            assert_eq!(s, rexpect::process::Signal::SIGTERM)
        }
        other => panic!("zeroth ended with {other:?}\n{}", pty.seen),
    }
    share_cleared(&pty.seen, &armor);
}
