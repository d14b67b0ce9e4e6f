//! Custodians who are not in the room: an operator opens a remote collection
//! (`--remote`), each custodian answers the signed request with `zeroth share send` on
//! their own machine (their own home, trust file and copy of the store), and the hand-ins
//! come back through a watched directory. The operator's zeroth runs in the background,
//! as it would while it waits, without a terminal; every wait here has a timeout, none
//! sleeps a fixed time to let something happen.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

/// How long any one wait may take before the test gives up and says what it saw.
const PATIENCE: Duration = Duration::from_secs(180);

/// A zeroth running in the background, in a session of its own (no terminal).
pub(crate) struct Background {
    child: Child,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Background {
    pub(crate) fn start(fx: &Fixture, args: &[OsString], env: &[(&str, OsString)]) -> Background {
        let n = std::fs::read_dir(fx.path()).unwrap().count();
        let stdout = fx.path().join(format!("bg{n}.out"));
        let stderr = fx.path().join(format!("bg{n}.err"));
        let mut c = fx.command();
        c.args(args)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&stdout).unwrap())
            .stderr(std::fs::File::create(&stderr).unwrap());
        for (k, v) in env {
            c.env(k, v);
        }
        // SAFETY: setsid is async-signal-safe; no terminal means no /dev/tty to talk to.
        unsafe {
            c.pre_exec(|| {
                rustix::process::setsid().map_err(std::io::Error::from)?;
                Ok(())
            });
        }
        Background {
            child: c.spawn().expect("start zeroth"),
            stdout,
            stderr,
        }
    }

    pub(crate) fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    pub(crate) fn signal(&self, sig: rustix::process::Signal) {
        let pid = rustix::process::Pid::from_child(&self.child);
        rustix::process::kill_process(pid, sig).unwrap();
    }

    /// Waits for the process to end and returns what it gave.
    pub(crate) fn wait(mut self) -> Run {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                use std::os::unix::process::ExitStatusExt;
                return Run {
                    code: status
                        .code()
                        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0)),
                    stdout: std::fs::read(&self.stdout).unwrap_or_default(),
                    stderr: self.stderr(),
                };
            }
            if start.elapsed() > PATIENCE {
                let _ = self.child.kill();
                panic!(
                    "zeroth did not end within {PATIENCE:?}; stderr:\n{}",
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Waits until `path` exists (written atomically), or fails with the operator's stderr.
pub(crate) fn wait_for(path: &Path, op: &Background) {
    let start = Instant::now();
    while !path.exists() {
        assert!(
            start.elapsed() < PATIENCE,
            "{} never appeared; the operator said:\n{}",
            path.display(),
            op.stderr()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until the operator's stderr says `what`.
pub(crate) fn wait_says(op: &Background, what: &str) {
    let start = Instant::now();
    while !op.stderr().contains(what) {
        assert!(
            start.elapsed() < PATIENCE,
            "the operator never said {what:?}; it said:\n{}",
            op.stderr()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A custodian's own machine: a home with their trust file (pinning the environment's
/// key, as `trust export --key-only` gives it, when `pinned`), their copy of the store
/// (when `store_copy`), and their share file.
pub(crate) struct Home {
    pub(crate) dir: PathBuf,
    pub(crate) share: PathBuf,
}

pub(crate) fn home(fx: &Fixture, who: &str, pinned: bool, store_copy: bool) -> Home {
    home_of(fx, "vault-root", who, pinned, store_copy)
}

/// [`home`] for a custodian of `seal`.
pub(crate) fn home_of(fx: &Fixture, seal: &str, who: &str, pinned: bool, store_copy: bool) -> Home {
    let dir = fx.path().join(format!("home-{who}"));
    std::fs::create_dir_all(dir.join("config").join("zeroth")).unwrap();
    if pinned {
        let pins = fx
            .zeroth()
            .args(["trust", "export", "--env", "prod", "--key-only"])
            .run()
            .ok()
            .stdout_str();
        std::fs::write(dir.join("config").join("zeroth").join("trust.toml"), pins).unwrap();
    }
    if store_copy {
        let status = Command::new("cp")
            .arg("-r")
            .arg(fx.store())
            .arg(dir.join("store"))
            .status()
            .unwrap();
        assert!(status.success());
        let _ = std::fs::remove_file(dir.join("store").join(".lock"));
    }
    let share = dir.join(format!("{who}.share"));
    std::fs::copy(fx.share(seal, who), &share).unwrap();
    Home { dir, share }
}

impl Home {
    /// `zeroth share send REQUEST --share SHARE --out OUT --yes` as the custodian, on
    /// their machine: their trust file, their store (if any), no HSM, no PIN, no
    /// terminal.
    pub(crate) fn send(&self, request: &Path, out: &Path, env: &[(&str, &str)]) -> Run {
        self.send_with(request, &self.share, out, env)
    }

    pub(crate) fn send_with(
        &self,
        request: &Path,
        share: &Path,
        out: &Path,
        env: &[(&str, &str)],
    ) -> Run {
        self.send_args(request, share, out, &["--yes"], env)
    }

    /// `zeroth --json share send REQUEST --share SHARE --out OUT EXTRA…` as the
    /// custodian.
    pub(crate) fn send_args(
        &self,
        request: &Path,
        share: &Path,
        out: &Path,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Run {
        let mut c = Command::new(env!("CARGO_BIN_EXE_zeroth"));
        c.args(["--json", "share", "send"])
            .arg(request)
            .arg("--share")
            .arg(share)
            .arg("--out")
            .arg(out)
            .args(extra)
            .current_dir(&self.dir)
            .env("XDG_CONFIG_HOME", self.dir.join("config"))
            .env("ZEROTH_STORE", self.dir.join("store"))
            .env("HOME", &self.dir)
            .env_remove("ZEROTH_TRUST")
            .env_remove("ZEROTH_PIN")
            .env_remove("ZEROTH_NOW")
            .env_remove("SOFTHSM2_CONF")
            .env_remove("KRYOPTIC_CONF")
            .stdin(Stdio::null());
        for (k, v) in env {
            c.env(k, v);
        }
        // SAFETY: as above.
        unsafe {
            c.pre_exec(|| {
                rustix::process::setsid().map_err(std::io::Error::from)?;
                Ok(())
            });
        }
        let out = c.output().unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: out.stdout,
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

pub(crate) fn os(args: &[&str]) -> Vec<OsString> {
    args.iter().map(OsString::from).collect()
}

/// Starts `zeroth unseal vault-root --remote`, writing the request to `request`,
/// watching `inbox`, delivering to `out`.
fn remote_unseal(
    fx: &Fixture,
    request: &Path,
    inbox: &Path,
    out: &Path,
    env: &[(&str, OsString)],
) -> Background {
    std::fs::create_dir_all(inbox).unwrap();
    let mut args = os(&["unseal", "vault-root", "--remote", "--request"]);
    args.push(request.into());
    args.push("--watch".into());
    args.push(inbox.into());
    args.push("--output".into());
    args.push(out.into());
    Background::start(fx, &args, env)
}

/// The fingerprint `share send --json` reported.
pub(crate) fn fingerprint(run: &Run) -> String {
    let v: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    v["fingerprint"].as_str().unwrap().to_string()
}

/// The entries of the log of prod with `event`.
pub(crate) fn entries(fx: &Fixture, event: &str) -> Vec<serde_json::Value> {
    fx.log_lines("prod")
        .into_iter()
        .filter(|e| e["event"] == event)
        .collect()
}

/// Every payload line of a share file (its characters without line number, spaces or
/// check characters), as a custodian would type them.
fn payload_lines(share: &str) -> Vec<String> {
    share
        .lines()
        .filter(|l| l.starts_with(|c: char| c.is_ascii_digit()))
        .map(|l| {
            let mut parts: Vec<&str> = l.split_whitespace().collect();
            parts.remove(0);
            parts.pop();
            parts.concat()
        })
        .filter(|l| l.len() >= 10)
        .collect()
}

/// Asserts no file under `dir` holds the share in the clear, nor an age secret key.
fn assert_nothing_secret_under(dir: &Path, shares: &[String]) {
    let mut files = std::collections::BTreeMap::new();
    walk_all(dir, &mut files);
    assert!(!files.is_empty());
    for (path, bytes) in &files {
        if path.starts_with(dir.join("shares"))
            || path.to_string_lossy().contains("/home-")
                && path.extension().is_some_and(|e| e == "share")
        {
            continue;
        }
        let text = String::from_utf8_lossy(bytes);
        assert!(
            !text.contains("AGE-SECRET-KEY"),
            "{} holds an age secret key",
            path.display()
        );
        for s in shares {
            for line in payload_lines(s) {
                assert!(
                    !text.contains(&line),
                    "{} holds a line of a share in the clear",
                    path.display()
                );
            }
        }
    }
}

fn walk_all(dir: &Path, out: &mut std::collections::BTreeMap<PathBuf, Vec<u8>>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk_all(&p, out);
        } else if let Ok(b) = std::fs::read(&p) {
            out.insert(p, b);
        }
    }
}

#[test]
fn three_custodians_on_their_own_machines_hand_in_for_an_unseal() {
    let fx = Fixture::sealed();
    // alice pins the environment's key and has no copy of the store; bob pins it and
    // has one; carol has only a copy of the store (and is warned it is not pinned).
    let alice = home(&fx, "alice", true, false);
    let bob = home(&fx, "bob", true, true);
    let carol = home(&fx, "carol", false, true);
    let request = fx.path().join("unseal.request");
    let inbox = fx.path().join("inbox");
    let out = fx.path().join("credential");
    let op = remote_unseal(&fx, &request, &inbox, &out, &[]);
    wait_for(&request, &op);
    let text = std::fs::read_to_string(&request).unwrap();
    assert!(text.starts_with("-----BEGIN ZEROTH REQUEST-----"), "{text}");

    let a = alice.send(&request, &inbox.join("alice.hand-in"), &[]).ok();
    assert!(a.stderr.contains("UNSEAL"), "{}", a.stderr);
    assert!(a.stderr.contains("your share: alice"), "{}", a.stderr);
    assert!(a.stderr.contains("pinned in"), "{}", a.stderr);
    let b = bob.send(&request, &inbox.join("bob.hand-in"), &[]).ok();
    assert!(
        b.stderr.contains("the record your copy of the store holds"),
        "{}",
        b.stderr
    );
    let c = carol.send(&request, &inbox.join("carol.hand-in"), &[]).ok();
    assert!(
        c.stderr.contains("is not pinned") && c.stderr.contains("NOT pinned"),
        "{}",
        c.stderr
    );
    let done = op.wait();
    assert_eq!(done.code, 0, "{}", done.stderr);
    assert!(done.stderr.contains("its key wiped"), "{}", done.stderr);

    // The credential is the one the same shares give in the room.
    let room = fx.unseal("vault-root", &["alice", "bob", "carol"]).ok();
    assert_eq!(std::fs::read(&out).unwrap(), room.stdout);

    // The log: the request, then the unseal with every hand-in and its fingerprint.
    let opened = entries(&fx, "remote-request");
    assert_eq!(opened.len(), 1);
    assert_eq!(opened[0]["outcome"], "ok");
    assert!(opened[0]["sig"].is_string());
    let unseal = &entries(&fx, "unseal")[0];
    assert_eq!(unseal["outcome"], "ok");
    let remote = &unseal["remote"];
    assert_eq!(remote["ceremony"], opened[0]["remote"]["ceremony"]);
    assert_eq!(remote["request"], opened[0]["remote"]["request"]);
    assert!(remote["expires"].is_string());
    let hand_ins = remote["hand_ins"].as_array().unwrap();
    assert_eq!(hand_ins.len(), 3, "{remote}");
    let mut logged: Vec<(String, String)> = hand_ins
        .iter()
        .map(|h| {
            assert_eq!(h["outcome"], "accepted");
            assert_eq!(h["via"], "directory");
            (
                h["custodian"].as_str().unwrap().to_string(),
                h["fingerprint"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    logged.sort();
    assert_eq!(
        logged,
        vec![
            ("alice".to_string(), fingerprint(&a)),
            ("bob".to_string(), fingerprint(&b)),
            ("carol".to_string(), fingerprint(&c)),
        ]
    );
    fx.audit_verify().ok();
    let report = fx
        .zeroth()
        .args(["audit", "report", "vault-root"])
        .run()
        .ok()
        .stdout_str();
    assert!(
        report.contains("**Authorised remotely** (hand-ins accepted): alice (unseal), bob (unseal), carol (unseal)"),
        "{report}"
    );
    assert!(report.contains(&fingerprint(&b)), "{report}");
}

#[test]
fn a_hand_in_never_holds_the_share_in_the_clear() {
    let fx = Fixture::sealed();
    let custodians = ["alice", "bob", "carol"];
    let homes: Vec<Home> = custodians
        .iter()
        .map(|w| home(&fx, w, true, false))
        .collect();
    let request = fx.path().join("r.request");
    let inbox = fx.path().join("inbox");
    let out = fx.path().join("credential");
    let op = remote_unseal(&fx, &request, &inbox, &out, &[]);
    wait_for(&request, &op);
    let shares: Vec<String> = custodians
        .iter()
        .map(|w| std::fs::read_to_string(fx.share("vault-root", w)).unwrap())
        .collect();
    for (h, w) in homes.iter().zip(custodians) {
        let kept = fx.path().join(format!("{w}.hand-in"));
        h.send(&request, &kept, &[]).ok();
        let bytes = std::fs::read(&kept).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.starts_with("-----BEGIN ZEROTH HAND-IN-----"), "{text}");
        assert!(!text.contains("ZEROTH SHARE"), "{text}");
        let share = std::fs::read_to_string(fx.share("vault-root", w)).unwrap();
        for line in payload_lines(&share) {
            assert!(!text.contains(&line), "a share line is in the hand-in");
            // Nor in any case, nor as base64 of the line.
            assert!(!text.to_lowercase().contains(&line.to_lowercase()));
            use base64::Engine;
            let b64 = base64::engine::general_purpose::STANDARD.encode(&line);
            assert!(!text.contains(&b64[..b64.len() - 4]));
        }
        // The hand-in is written 0600, like everything zeroth writes for a custodian.
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&kept).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        std::fs::copy(&kept, inbox.join(format!("{w}.hand-in"))).unwrap();
    }
    assert_eq!(op.wait().code, 0);
    // Neither the share nor the ceremony's key is anywhere: store, log, request, inbox,
    // the operator's output.
    assert_nothing_secret_under(fx.path(), &shares);
}

#[test]
fn a_hand_in_replayed_into_a_second_ceremony_is_refused() {
    let fx = Fixture::sealed();
    let homes: Vec<Home> = ["alice", "bob", "carol"]
        .iter()
        .map(|w| home(&fx, w, true, false))
        .collect();
    // The first ceremony takes three hand-ins and unseals.
    let first = fx.path().join("first.request");
    let inbox1 = fx.path().join("inbox1");
    let op = remote_unseal(&fx, &first, &inbox1, &fx.path().join("c1"), &[]);
    wait_for(&first, &op);
    for (i, h) in homes.iter().enumerate() {
        h.send(&first, &inbox1.join(format!("{i}.hand-in")), &[])
            .ok();
    }
    assert_eq!(op.wait().code, 0);
    let old = std::fs::read_to_string(inbox1.join("0.hand-in")).unwrap();

    // The second ceremony: alice's old hand-in is replayed as it was, and again with its
    // header edited to name the new ceremony. Both are refused; fresh hand-ins unseal.
    let second = fx.path().join("second.request");
    let inbox2 = fx.path().join("inbox2");
    let op = remote_unseal(&fx, &second, &inbox2, &fx.path().join("c2"), &[]);
    wait_for(&second, &op);
    std::fs::write(inbox2.join("a-replayed.hand-in"), &old).unwrap();
    wait_says(&op, "REFUSED: it is for ceremony");
    let new_id = {
        let t = std::fs::read_to_string(&second).unwrap();
        t.lines()
            .find_map(|l| l.strip_prefix("Ceremony: "))
            .unwrap()
            .to_string()
    };
    let old_id = old
        .lines()
        .find_map(|l| l.strip_prefix("Ceremony: "))
        .unwrap()
        .to_string();
    assert_ne!(old_id, new_id);
    std::fs::write(
        inbox2.join("b-edited.hand-in"),
        old.replace(&old_id, &new_id),
    )
    .unwrap();
    wait_says(&op, "REFUSED: it is not encrypted to this ceremony's key");
    for (i, h) in homes.iter().enumerate() {
        h.send(&second, &inbox2.join(format!("{i}.hand-in")), &[])
            .ok();
    }
    let done = op.wait();
    assert_eq!(done.code, 0, "{}", done.stderr);

    let unseals = entries(&fx, "unseal");
    assert_eq!(unseals.len(), 2);
    let hand_ins = unseals[1]["remote"]["hand_ins"].as_array().unwrap();
    let refused: Vec<&serde_json::Value> = hand_ins
        .iter()
        .filter(|h| h["outcome"] == "refused")
        .collect();
    assert_eq!(refused.len(), 2, "{hand_ins:?}");
    assert!(refused.iter().all(|h| h["custodian"] == "alice"));
    assert!(
        refused[0]["reason"]
            .as_str()
            .unwrap()
            .contains("a hand-in is good for one ceremony only")
    );
    // The replayed hand-in is the very one the first ceremony accepted: same fingerprint.
    let first_alice = unseals[0]["remote"]["hand_ins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["custodian"] == "alice")
        .unwrap()["fingerprint"]
        .clone();
    assert_eq!(refused[0]["fingerprint"], first_alice);
    assert_eq!(
        hand_ins
            .iter()
            .filter(|h| h["outcome"] == "accepted")
            .count(),
        3
    );
    // The refusals are named in the ceremony's entry, for the report.
    let rejected = unseals[1]["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 2);
    fx.audit_verify().ok();
}

#[test]
fn an_expired_hand_in_is_refused() {
    let fx = Fixture::sealed();
    let alice = home(&fx, "alice", true, false);
    let clock = fx.path().join("now");
    std::fs::write(&clock, "2031-03-01T03:00:00Z").unwrap();
    let request = fx.path().join("r.request");
    let inbox = fx.path().join("inbox");
    let mut now = OsString::from("@");
    now.push(&clock);
    let op = remote_unseal(
        &fx,
        &request,
        &inbox,
        &fx.path().join("credential"),
        &[("ZEROTH_NOW", now)],
    );
    wait_for(&request, &op);
    assert!(
        std::fs::read_to_string(&request)
            .unwrap()
            .contains("Expires: 2031-03-01T03:30:00Z")
    );
    // alice answers in time, on her clock; the hand-in reaches the operator late: the
    // operator is held still while it lands and the clock passes the expiry, so it is
    // there when the operator next looks, and the clock says it is late.
    let kept = fx.path().join("alice.hand-in");
    alice
        .send(&request, &kept, &[("ZEROTH_NOW", "2031-03-01T03:10:00Z")])
        .ok();
    op.signal(rustix::process::Signal::STOP);
    std::fs::copy(&kept, inbox.join("alice.hand-in")).unwrap();
    std::fs::write(&clock, "2031-03-01T03:31:00Z").unwrap();
    op.signal(rustix::process::Signal::CONT);
    let done = op.wait();
    assert_eq!(done.code, 3, "{}", done.stderr);
    assert!(
        done.stderr.contains(
            "arrived at 2031-03-01T03:31:00Z, after the request expired at 2031-03-01T03:30:00Z"
        ),
        "{}",
        done.stderr
    );
    assert!(
        done.stderr
            .contains("the request expired at 2031-03-01T03:30:00Z"),
        "{}",
        done.stderr
    );
    let close = entries(&fx, "remote-close");
    assert_eq!(close.len(), 1);
    assert_eq!(close[0]["outcome"], "refused");
    let h = &close[0]["remote"]["hand_ins"][0];
    assert_eq!(h["custodian"], "alice");
    assert_eq!(h["outcome"], "refused");
    assert!(
        h["reason"]
            .as_str()
            .unwrap()
            .contains("after the request expired")
    );
    assert!(!fx.path().join("credential").exists());
    assert!(entries(&fx, "unseal").is_empty());

    // A custodian whose clock is past the expiry is told so, and writes nothing.
    let late = fx.path().join("late.hand-in");
    alice
        .send(&request, &late, &[("ZEROTH_NOW", "2031-03-01T03:45:00Z")])
        .fails(3, &["expired at 2031-03-01T03:30:00Z", "ask the operator"]);
    assert!(!late.exists());
    fx.audit_verify().ok();
}

#[test]
fn share_send_refuses_a_request_signed_by_another_key() {
    let fx = Fixture::sealed();
    let alice = home(&fx, "alice", true, false);
    // Another store, with its own token and key, opens a genuine collection for a seal
    // of the same name.
    let other = Fixture::sealed();
    let theirs = other.path().join("theirs.request");
    let op = remote_unseal(
        &other,
        &theirs,
        &other.path().join("inbox"),
        &other.path().join("c"),
        &[],
    );
    wait_for(&theirs, &op);
    op.signal(rustix::process::Signal::INT);
    assert_eq!(op.wait().code, 130);
    let text = std::fs::read_to_string(&theirs).unwrap();
    let mut request = decode(&text);

    // Made to look like a request of alice's store: its key is not the one she pins.
    let ours = std::fs::read_to_string(fx.store().join("zeroth.toml")).unwrap();
    let id = ours
        .lines()
        .find_map(|l| l.strip_prefix("store_id = "))
        .unwrap()
        .trim_matches('"')
        .to_string();
    request["store"] = id.clone().into();
    let forged = fx.path().join("forged.request");
    std::fs::write(&forged, encode(&request)).unwrap();
    let out = fx.path().join("alice.hand-in");
    alice.send(&forged, &out, &[]).fails(
        3,
        &[
            "is NOT signed by environment 'prod''s key",
            "do not hand in your share",
        ],
    );
    assert!(!out.exists());

    // With the key it carries swapped for alice's environment's key, the signature,
    // made by the other key, does not verify.
    let genuine = {
        let fx_request = fx.path().join("genuine.request");
        let op = remote_unseal(
            &fx,
            &fx_request,
            &fx.path().join("inbox"),
            &fx.path().join("c"),
            &[],
        );
        wait_for(&fx_request, &op);
        op.signal(rustix::process::Signal::INT);
        assert_eq!(op.wait().code, 130);
        decode(&std::fs::read_to_string(&fx_request).unwrap())
    };
    request["public_key"] = genuine["public_key"].clone();
    request["key"] = genuine["key"].clone();
    std::fs::write(&forged, encode(&request)).unwrap();
    alice
        .send(&forged, &out, &[])
        .fails(3, &["is NOT signed by environment 'prod''s key", "altered"]);
    assert!(!out.exists());

    // A genuine request of alice's environment with one field changed (a lower
    // threshold): the signature no longer verifies either.
    let mut edited = genuine.clone();
    edited["threshold"] = 2.into();
    let edited_path = fx.path().join("edited.request");
    std::fs::write(&edited_path, encode(&edited)).unwrap();
    alice
        .send(&edited_path, &out, &[])
        .fails(3, &["is NOT signed by environment 'prod''s key"]);
    assert!(!out.exists());

    // And a share of the other store's seal, against alice's genuine request, is
    // refused by the commitment the request holds for her.
    let genuine_path = fx.path().join("genuine2.request");
    std::fs::write(&genuine_path, encode(&genuine)).unwrap();
    alice
        .send_with(
            &genuine_path,
            &other.share("vault-root", "alice"),
            &out,
            &[],
        )
        .fails(
            3,
            &[
                "not a share of set 1 of 'vault-root'",
                "no hand-in was written",
            ],
        );
    assert!(!out.exists());
}

/// The JSON inside a request's armor.
fn decode(text: &str) -> serde_json::Value {
    use base64::Engine;
    let body: String = text
        .lines()
        .skip_while(|l| !l.is_empty())
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    serde_json::from_slice(
        &base64::engine::general_purpose::STANDARD
            .decode(body.trim())
            .unwrap(),
    )
    .unwrap()
}

/// A request's armor around `v`.
fn encode(v: &serde_json::Value) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(serde_json::to_vec(v).unwrap());
    let mut out = String::from("-----BEGIN ZEROTH REQUEST-----\n\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap());
        out.push('\n');
    }
    out.push_str("-----END ZEROTH REQUEST-----\n");
    out
}

#[test]
fn a_mixed_quorum_drill_with_custodians_in_the_room_and_away() {
    let fx = Fixture::sealed();
    let away: Vec<(&str, Home)> = ["carol", "dave", "erin"]
        .into_iter()
        .map(|w| (w, home(&fx, w, true, false)))
        .collect();
    let request = fx.path().join("drill.request");
    let inbox = fx.path().join("inbox");
    std::fs::create_dir_all(&inbox).unwrap();
    let mut args = os(&["drill", "vault-root", "--remote", "--request"]);
    args.push((&request).into());
    args.push("--watch".into());
    args.push((&inbox).into());
    for w in ["alice", "bob"] {
        args.push("--share".into());
        args.push(fx.share("vault-root", w).into());
    }
    let op = Background::start(&fx, &args, &[]);
    wait_for(&request, &op);
    for (w, h) in &away {
        h.send(&request, &inbox.join(format!("{w}.hand-in")), &[])
            .ok();
    }
    let done = op.wait();
    assert_eq!(done.code, 0, "{}", done.stderr);
    assert!(
        String::from_utf8_lossy(&done.stdout).contains("5 of 5 shares proven"),
        "{}",
        done.stderr
    );
    let drill = &entries(&fx, "drill")[0];
    let mut custodians: Vec<&str> = drill["custodians"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    custodians.sort();
    assert_eq!(custodians, CUSTODIANS[..5]);
    assert_eq!(
        drill["remote"]["in_room"],
        serde_json::json!(["alice", "bob"])
    );
    assert_eq!(drill["remote"]["hand_ins"].as_array().unwrap().len(), 3);
    // Every custodian's share is proven, remote or not.
    for c in fx.record("vault-root")["custodians"].as_array().unwrap() {
        assert!(c["last_proven"].is_string(), "{c}");
    }
    // A bad share in the room refuses the collection before any request is written.
    let mut bad = os(&["drill", "vault-root", "--remote", "--request"]);
    let never = fx.path().join("never.request");
    bad.push((&never).into());
    bad.push("--watch".into());
    bad.push((&inbox).into());
    bad.push("--share".into());
    bad.push(fx.share("vault-root", "alice").into());
    bad.push("--share".into());
    bad.push(fx.share("vault-root", "alice").into());
    let refused = Background::start(&fx, &bad, &[]).wait();
    assert_eq!(refused.code, 3, "{}", refused.stderr);
    assert!(refused.stderr.contains("give each custodian's share once"));
    assert!(!never.exists());
}

#[test]
fn ctrl_c_leaves_nothing_usable_behind() {
    let fx = Fixture::sealed();
    let alice = home(&fx, "alice", true, false);
    let before = without_log_anchor(&fx.token_objects("prod"));
    let request = fx.path().join("r.request");
    let inbox = fx.path().join("inbox");
    let op = remote_unseal(&fx, &request, &inbox, &fx.path().join("credential"), &[]);
    wait_for(&request, &op);
    // alice's hand-in reaches the operator and is accepted; then the operator stops.
    let kept = fx.path().join("alice.hand-in");
    alice.send(&request, &kept, &[]).ok();
    std::fs::copy(&kept, inbox.join("alice.hand-in")).unwrap();
    wait_says(&op, "accepted");
    op.signal(rustix::process::Signal::INT);
    let done = op.wait();
    assert_eq!(done.code, 130, "{}", done.stderr);
    assert!(done.stderr.contains("its key is wiped"), "{}", done.stderr);
    let close = entries(&fx, "remote-close");
    assert_eq!(close.len(), 1, "{:?}", fx.log_lines("prod"));
    assert_eq!(close[0]["outcome"], "refused");
    assert_eq!(close[0]["custodians"], serde_json::json!(["alice"]));

    // Nothing usable is left: no credential, no secret key anywhere on disk, the token
    // as it was (but the log anchor), the store lock free.
    assert!(!fx.path().join("credential").exists());
    let share = std::fs::read_to_string(fx.share("vault-root", "alice")).unwrap();
    assert_nothing_secret_under(fx.path(), &[share]);
    assert_eq!(without_log_anchor(&fx.token_objects("prod")), before);
    // alice's hand-in, still within its expiry, opens nothing in the next collection.
    let second = fx.path().join("second.request");
    let inbox2 = fx.path().join("inbox2");
    let op = remote_unseal(&fx, &second, &inbox2, &fx.path().join("c2"), &[]);
    wait_for(&second, &op);
    std::fs::copy(&kept, inbox2.join("alice.hand-in")).unwrap();
    wait_says(&op, "a hand-in is good for one ceremony only");
    op.signal(rustix::process::Signal::TERM);
    assert_eq!(op.wait().code, 130);
    fx.unseal("vault-root", &["alice", "bob", "carol"]).ok();
    fx.audit_verify().ok();
}

#[test]
fn remote_refusals_that_need_no_custodian() {
    let fx = Fixture::sealed();
    // No terminal and nowhere for hand-ins to arrive: a usage error, nothing written.
    fx.zeroth()
        .args(["unseal", "vault-root", "--remote", "--output", "x"])
        .no_terminal()
        .run()
        .fails(2, &["--remote needs somewhere for hand-ins to arrive"]);
    fx.zeroth()
        .args([
            "unseal",
            "vault-root",
            "--remote",
            "--valid-for",
            "3d",
            "--hand-in",
            "h",
        ])
        .args(["--output", "x"])
        .no_terminal()
        .run()
        .fails(2, &["--valid-for 3d"]);
    fx.zeroth()
        .args(["unseal", "vault-root", "--watch", "w", "--output", "x"])
        .no_terminal()
        .run()
        .fails(2, &["--remote"]);
    // A first step the ceremony would refuse asks no custodian for anything: the checks
    // that need no share come before the request.
    let never = fx.path().join("never.request");
    fx.zeroth()
        .args(["rekey", "vault-root", "--remote", "--request"])
        .arg(&never)
        .args(["--hand-in", "h", "--without", "nobody", "--out-dir"])
        .arg(fx.path().join("new"))
        .no_terminal()
        .run()
        .fails(
            2,
            &["--without nobody: 'nobody' holds no share of 'vault-root'"],
        );
    fx.zeroth()
        .args(["rotate", "vault-root", "--remote", "--request"])
        .arg(&never)
        .args(["--hand-in", "h"])
        .no_terminal()
        .run()
        .fails(2, &["no terminal to show the shares on"]);
    assert!(!never.exists());
    // Refused as the requests they would have been, and logged so.
    let refused = entries(&fx, "remote-request");
    assert_eq!(refused.len(), 2);
    assert!(refused.iter().all(|e| e["outcome"] == "refused"));
    // share send without --yes and without a terminal writes nothing.
    let alice = home(&fx, "alice", true, false);
    let request = fx.path().join("r.request");
    let op = remote_unseal(
        &fx,
        &request,
        &fx.path().join("inbox"),
        &fx.path().join("c"),
        &[],
    );
    wait_for(&request, &op);
    op.signal(rustix::process::Signal::INT);
    assert_eq!(op.wait().code, 130);
    let mut c = Command::new(env!("CARGO_BIN_EXE_zeroth"));
    c.args(["share", "send"])
        .arg(&request)
        .arg("--share")
        .arg(&alice.share)
        .current_dir(&alice.dir)
        .env("XDG_CONFIG_HOME", alice.dir.join("config"))
        .env("ZEROTH_STORE", alice.dir.join("store"))
        .stdin(Stdio::null());
    unsafe {
        c.pre_exec(|| {
            rustix::process::setsid().map_err(std::io::Error::from)?;
            Ok(())
        });
    }
    let out = c.output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--yes"));
    assert_eq!(
        std::fs::read_dir(&alice.dir)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".hand-in"))
            .count(),
        0
    );
    // A custodian with neither a pin nor a copy of the store cannot tell who signed it.
    let dave = home(&fx, "dave", false, false);
    dave.send(&request, &fx.path().join("d.hand-in"), &[])
        .fails(3, &["is not pinned", "trust export --env prod --key-only"]);
}

/// `zeroth SEAL-COMMAND vault-root --remote --request REQUEST` with `extra` after it.
fn remote_args(command: &str, request: &Path, extra: &[OsString]) -> Vec<OsString> {
    let mut args = os(&[command, "vault-root", "--remote", "--request"]);
    args.push(request.into());
    args.extend(extra.iter().cloned());
    args
}

/// The pending operation's id in the record of vault-root.
fn pending_id(fx: &Fixture) -> String {
    fx.record("vault-root")["pending"]["id"]
        .as_str()
        .expect("a pending operation")
        .to_string()
}

/// The hand-ins of the last `event` entry: (custodian, outcome, via), sorted.
fn hand_ins_of(fx: &Fixture, event: &str) -> Vec<(String, String, String)> {
    let e = entries(fx, event)
        .pop()
        .unwrap_or_else(|| panic!("no {event}"));
    assert_eq!(e["outcome"], "ok", "{e}");
    let mut out: Vec<(String, String, String)> = e["remote"]["hand_ins"]
        .as_array()
        .unwrap_or_else(|| panic!("{event} has no hand-ins: {e}"))
        .iter()
        .map(|h| {
            (
                h["custodian"].as_str().unwrap().to_string(),
                h["outcome"].as_str().unwrap().to_string(),
                h["via"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn rekey_and_rotate_take_hand_ins_at_both_steps() {
    let fx = Fixture::sealed();
    let homes: std::collections::BTreeMap<&str, Home> = ["alice", "bob", "carol", "dave", "erin"]
        .into_iter()
        .map(|w| (w, home(&fx, w, true, false)))
        .collect();
    let accepted = |who: &[&str], via: &str| -> Vec<(String, String, String)> {
        who.iter()
            .map(|w| (w.to_string(), "accepted".to_string(), via.to_string()))
            .collect()
    };

    // rekey, first step: alice in the room, bob and carol away, their hand-ins saved as
    // the files the operator named with --hand-in.
    let request = fx.path().join("rekey.request");
    let new = fx.path().join("new");
    let (bob_in, carol_in) = (
        fx.path().join("bob.hand-in"),
        fx.path().join("carol.hand-in"),
    );
    let mut extra = os(&["--share"]);
    extra.push(fx.share("vault-root", "alice").into());
    for f in [&bob_in, &carol_in] {
        extra.push("--hand-in".into());
        extra.push(f.into());
    }
    extra.push("--out-dir".into());
    extra.push((&new).into());
    let op = Background::start(&fx, &remote_args("rekey", &request, &extra), &[]);
    wait_for(&request, &op);
    homes["bob"].send(&request, &bob_in, &[]).ok();
    homes["carol"].send(&request, &carol_in, &[]).ok();
    let done = op.wait();
    assert_eq!(done.code, 0, "{}", done.stderr);
    let rekey = pending_id(&fx);
    assert_eq!(
        hand_ins_of(&fx, "rekey"),
        accepted(&["bob", "carol"], "file")
    );
    assert_eq!(
        entries(&fx, "rekey")[0]["remote"]["in_room"],
        serde_json::json!(["alice"])
    );
    let new_share = |dir: &Path, w: &str| dir.join(format!("vault-root.{w}.share"));

    // rekey --confirm: the request asks for the new set; an old share is refused by
    // share send before anything is written; three new shares come through a folder.
    let request = fx.path().join("rekey-confirm.request");
    let inbox = fx.path().join("inbox");
    std::fs::create_dir_all(&inbox).unwrap();
    let mut extra = os(&["--confirm", &rekey, "--watch"]);
    extra.push((&inbox).into());
    let op = Background::start(&fx, &remote_args("rekey", &request, &extra), &[]);
    wait_for(&request, &op);
    let stale = fx.path().join("stale.hand-in");
    homes["dave"]
        .send(&request, &stale, &[])
        .fails(3, &["a confirmation takes the NEW shares"]);
    assert!(!stale.exists());
    for w in ["dave", "erin", "alice"] {
        homes[w]
            .send_with(
                &request,
                &new_share(&new, w),
                &inbox.join(format!("{w}.hand-in")),
                &[],
            )
            .ok();
    }
    let done = op.wait();
    assert_eq!(done.code, 0, "{}", done.stderr);
    assert!(fx.record("vault-root").get("pending").is_none());
    assert_eq!(
        hand_ins_of(&fx, "rekey-confirm"),
        accepted(&["alice", "dave", "erin"], "directory")
    );

    // rotate, first step, on the new set: every share through a folder.
    let request = fx.path().join("rotate.request");
    let v2 = fx.path().join("v2");
    let inbox = fx.path().join("inbox-rotate");
    std::fs::create_dir_all(&inbox).unwrap();
    let mut extra = os(&["--watch"]);
    extra.push((&inbox).into());
    extra.push("--out-dir".into());
    extra.push((&v2).into());
    let op = Background::start(&fx, &remote_args("rotate", &request, &extra), &[]);
    wait_for(&request, &op);
    for w in ["bob", "carol", "erin"] {
        homes[w]
            .send_with(
                &request,
                &new_share(&new, w),
                &inbox.join(format!("{w}.hand-in")),
                &[],
            )
            .ok();
    }
    let done = op.wait();
    assert_eq!(done.code, 0, "{}", done.stderr);
    let rotation = pending_id(&fx);
    assert_eq!(
        hand_ins_of(&fx, "rotate"),
        accepted(&["bob", "carol", "erin"], "directory")
    );

    // rotate --confirm: the new credential is delivered once three of its shares are in.
    let request = fx.path().join("rotate-confirm.request");
    let credential = fx.path().join("v2-credential");
    let hand_ins: Vec<PathBuf> = ["alice", "bob", "dave"]
        .iter()
        .map(|w| fx.path().join(format!("{w}.v2.hand-in")))
        .collect();
    let mut extra = os(&["--confirm", &rotation, "--output"]);
    extra.push((&credential).into());
    for f in &hand_ins {
        extra.push("--hand-in".into());
        extra.push(f.into());
    }
    let op = Background::start(&fx, &remote_args("rotate", &request, &extra), &[]);
    wait_for(&request, &op);
    for (w, f) in ["alice", "bob", "dave"].iter().zip(&hand_ins) {
        homes[w]
            .send_with(&request, &new_share(&v2, w), f, &[])
            .ok();
    }
    let done = op.wait();
    assert_eq!(done.code, 0, "{}", done.stderr);
    assert_eq!(
        hand_ins_of(&fx, "rotate-confirm"),
        accepted(&["alice", "bob", "dave"], "file")
    );
    assert!(fx.record("vault-root").get("pending").is_none());
    // The delivered credential is the one the new shares recover in the room.
    let room = fx
        .zeroth()
        .args(["unseal", "vault-root", "--output", "-", "--share"])
        .args(["carol", "erin", "bob"].map(|w| new_share(&v2, w)))
        .run()
        .ok();
    assert_eq!(std::fs::read(&credential).unwrap(), room.stdout);
    fx.audit_verify().ok();
}

/// Takes the store's lock as another ceremony would, until the file is dropped.
fn hold_lock(fx: &Fixture) -> std::fs::File {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(fx.store().join(".lock"))
        .unwrap();
    rustix::fs::flock(&f, rustix::fs::FlockOperation::LockExclusive).unwrap();
    f
}

#[test]
fn what_a_channel_drops_in_the_watched_folder_is_refused_by_name() {
    let fx = Fixture::sealed();
    let homes: Vec<Home> = ["alice", "bob", "carol"]
        .iter()
        .map(|w| home(&fx, w, true, false))
        .collect();
    let request = fx.path().join("r.request");
    let inbox = fx.path().join("inbox");
    std::fs::create_dir_all(&inbox).unwrap();
    // A --hand-in path that turns out to be a folder.
    let folder = fx.path().join("a-folder.hand-in");
    std::fs::create_dir_all(&folder).unwrap();
    let mut args = os(&["unseal", "vault-root", "--remote", "--request"]);
    args.push(request.clone().into());
    args.push("--watch".into());
    args.push(inbox.clone().into());
    args.push("--hand-in".into());
    args.push(folder.clone().into());
    args.push("--output".into());
    args.push(fx.path().join("credential").into());
    let op = Background::start(&fx, &args, &[]);
    wait_for(&request, &op);
    let kept = fx.path().join("alice.hand-in");
    homes[0].send(&request, &kept, &[]).ok();
    let alice = std::fs::read_to_string(&kept).unwrap();
    let id = alice
        .lines()
        .find_map(|l| l.strip_prefix("Ceremony: "))
        .unwrap()
        .to_string();

    // A link planted to a secret of the operator's: never followed, never fingerprinted.
    let secret = fx.path().join("operator-pin");
    std::fs::write(&secret, "123456\n").unwrap();
    std::os::unix::fs::symlink(&secret, inbox.join("a-planted.hand-in")).unwrap();
    // A Ceremony header that is not an id (multi-byte characters): refused, no panic.
    std::fs::write(
        inbox.join("b-euro.hand-in"),
        alice.replace(&format!("Ceremony: {id}"), "Ceremony: €€€€€€€€€€€€"),
    )
    .unwrap();
    // Escapes in a file name and in a Custodian header reach neither screen nor log.
    std::fs::write(
        inbox.join("c-\u{1b}]0;owned\u{7}.hand-in"),
        alice
            .replace(&id, &"0".repeat(32))
            .replace("Custodian: alice", "Custodian: al\u{1b}[2Jice"),
    )
    .unwrap();
    // A folder inside the watched one.
    std::fs::create_dir_all(inbox.join("d-sub")).unwrap();
    // A flood: more refusals than one entry keeps.
    for i in 0..105 {
        std::fs::write(
            inbox.join(format!("junk-{i:03}.hand-in")),
            format!("not a hand-in {i}\n"),
        )
        .unwrap();
    }
    wait_says(&op, "more than 100 hand-ins refused");
    wait_says(&op, "a-planted.hand-in: not read: it is a symbolic link");
    for (i, h) in homes.iter().enumerate() {
        h.send(&request, &inbox.join(format!("zz-{i}.hand-in")), &[])
            .ok();
    }
    let done = op.wait();
    assert_eq!(done.code, 0, "{}", done.stderr);
    let said = &done.stderr;
    assert!(
        !said.contains('\u{1b}'),
        "an escape reached the screen: {said}"
    );
    assert!(said.contains("c-\\u{1b}]0;owned\\u{7}.hand-in"), "{said}");
    assert!(said.contains("from al\\u{1b}[2Jice"), "{said}");
    assert!(
        said.contains("its 'Ceremony:' header is not a ceremony id (32 hex digits"),
        "{said}"
    );
    // Each is reported once, however many looks there were.
    for (what, why) in [
        ("a-planted.hand-in", "it is a symbolic link"),
        ("d-sub", "it is a folder"),
        ("a-folder.hand-in", "it is a folder"),
    ] {
        assert_eq!(
            said.matches(&format!("{what}: not read: {why}")).count(),
            1,
            "{what}: {said}"
        );
    }
    let entry = entries(&fx, "unseal").remove(0);
    let log = serde_json::to_string(&entry).unwrap();
    assert!(!log.contains("a-planted"), "the link was read: {log}");
    assert!(!log.contains('\u{1b}'), "{log}");
    let hand_ins = entry["remote"]["hand_ins"].as_array().unwrap();
    let refused = hand_ins
        .iter()
        .filter(|h| h["outcome"] == "refused")
        .count();
    assert_eq!(refused, 100, "{log}");
    assert_eq!(entry["remote"]["refused_not_kept"], 7, "{log}");
    assert_eq!(entry["rejected"].as_array().unwrap().len(), 100);
    assert_eq!(
        hand_ins
            .iter()
            .filter(|h| h["outcome"] == "accepted")
            .count(),
        3
    );
    fx.audit_verify().ok();
    let report = fx
        .zeroth()
        .args(["audit", "report", "vault-root"])
        .run()
        .ok()
        .stdout_str();
    assert!(
        report.contains("7 more (the entry keeps the first 100 refused)"),
        "{report}"
    );
}

#[test]
fn a_store_busy_after_the_collection_loses_neither_shares_nor_the_close() {
    let fx = Fixture::sealed();
    let homes: Vec<Home> = ["alice", "bob", "carol"]
        .iter()
        .map(|w| home(&fx, w, true, false))
        .collect();
    // A ceremony waits 300 ms for a busy store here; one after a collection waits longer.
    let wait: &[(&str, OsString)] = &[("ZEROTH_LOCK_WAIT_MS", "300".into())];
    let request = fx.path().join("r.request");
    let inbox = fx.path().join("inbox");
    let out = fx.path().join("credential");
    let op = remote_unseal(&fx, &request, &inbox, &out, wait);
    wait_for(&request, &op);
    let lock = hold_lock(&fx);
    for (i, h) in homes.iter().enumerate() {
        h.send(&request, &inbox.join(format!("{i}.hand-in")), &[])
            .ok();
    }
    wait_says(&op, "the collection is closed and its key wiped");
    // Busy for longer than a ceremony would wait.
    std::thread::sleep(Duration::from_millis(1500));
    drop(lock);
    let done = op.wait();
    assert_eq!(done.code, 0, "{}", done.stderr);
    assert!(out.exists());
    assert_eq!(entries(&fx, "unseal").len(), 1);

    // Stopped by a SIGTERM while the store is busy: the close is logged once the store
    // is free, and the signal is named.
    let second = fx.path().join("second.request");
    let op = remote_unseal(
        &fx,
        &second,
        &fx.path().join("inbox2"),
        &fx.path().join("c2"),
        wait,
    );
    wait_for(&second, &op);
    let lock = hold_lock(&fx);
    op.signal(rustix::process::Signal::TERM);
    std::thread::sleep(Duration::from_millis(1500));
    drop(lock);
    let done = op.wait();
    assert_eq!(done.code, 130, "{}", done.stderr);
    assert!(
        done.stderr.contains("stopped by SIGTERM"),
        "{}",
        done.stderr
    );
    assert!(!done.stderr.contains("Ctrl-C"), "{}", done.stderr);
    let close = entries(&fx, "remote-close");
    assert_eq!(close.len(), 1, "{:?}", fx.log_lines("prod"));
    fx.audit_verify().ok();
}

#[test]
fn share_send_names_the_store_and_checks_its_output_before_asking() {
    let fx = Fixture::sealed();
    let request = fx.path().join("r.request");
    let op = remote_unseal(
        &fx,
        &request,
        &fx.path().join("inbox"),
        &fx.path().join("c"),
        &[],
    );
    wait_for(&request, &op);
    op.signal(rustix::process::Signal::INT);
    assert_eq!(op.wait().code, 130);
    let store_id = decode(&std::fs::read_to_string(&request).unwrap())["store"]
        .as_str()
        .unwrap()
        .to_string();
    // alice's copy of the store is another store (another id): she is warned.
    let alice = home(&fx, "alice", true, true);
    let config = alice.dir.join("store").join("zeroth.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains(&store_id));
    std::fs::write(
        &config,
        text.replace(&store_id, "0123456789abcdef0123456789abcdef"),
    )
    .unwrap();
    let run = alice.send(&request, &fx.path().join("a.hand-in"), &[]).ok();
    assert!(
        run.stderr.contains(&format!(
            "store:      {store_id} (its key is the one pinned for it in"
        )),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("WARNING: your copy of the store")
            && run
                .stderr
                .contains("is another store (store id 0123456789abcdef0123456789abcdef"),
        "{}",
        run.stderr
    );
    // The output is checked before the custodian is asked anything.
    let bob = home(&fx, "bob", true, false);
    let there = fx.path().join("there.hand-in");
    std::fs::write(&there, "mine").unwrap();
    bob.send_args(&request, &bob.share, &there, &[], &[])
        .fails(3, &["there.hand-in already exists"]);
    assert_eq!(std::fs::read_to_string(&there).unwrap(), "mine");
}
