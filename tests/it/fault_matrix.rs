//! The fault matrix: every ceremony run with a fault at each of its steps in turn — a
//! PKCS#11 call that fails or aborts the process (through the shim of
//! tests/pkcs11-shim), or a file write that fails (ENOSPC, EIO; zeroth's own fault hook,
//! `ZEROTH_IO_FAIL_AT`) — and, after each, the checks that nothing was lost:
//!
//! - the ceremony exits 4 and names what failed (the PKCS#11 function, the disk's
//!   error), or, where zeroth rightly goes on (a call whose failure changes nothing,
//!   such as `C_Finalize`), it succeeds as it would have;
//! - store and token are consistent: no temporary or torn file is left, every record
//!   verifies, `audit verify` finds the log whole (an unsigned tail at most, which
//!   `audit attest` then covers), no record refers to a key the token lacks, `cleanup`
//!   tidies the orphans, and `check --hsm` then agrees with the token;
//! - the credential is recoverable by the old share set or the new one, and is the one
//!   recovered before the fault (for a rotation, the new credential).
//!
//! Each ceremony's store and tokens are prepared once, copied aside, and put back
//! before every run, so each run starts from the same state. A first, fault-free run
//! with the shim's record (or zeroth's write trace) lists the steps to fault.
//!
//! `ZEROTH_FAULT_MATRIX=full` runs every step of every ceremony (by hand: it takes a
//! while); otherwise a sample runs (see [`Sample`]). Each case prints its figures.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::common::*;

/// The seal the ceremonies work on.
pub const SEAL: &str = "vault-root";
const IMPORTED: &[u8] = b"hvs.imported-root-token";

/// What a prepared fixture holds, for the ceremony and the checks after it.
#[derive(Clone, Default)]
pub struct State {
    /// The credential of the seal before the ceremony, when it is known.
    pub credential: Option<Vec<u8>>,
    /// The pending operation of the seal, if one was prepared.
    pub op: Option<String>,
    /// The new credential a rotation confirms, learnt from the fault-free run.
    pub rotated: Option<Vec<u8>>,
}

/// One ceremony of the matrix.
pub struct Case {
    pub name: &'static str,
    pub prepare: fn(&Fixture) -> State,
    pub command: for<'f> fn(&'f Fixture, &State) -> Cmd<'f>,
}

/// Where a new share set goes (rekey, rotate), or is (confirm, cancel).
pub fn new_dir(fx: &Fixture) -> PathBuf {
    fx.path().join("new")
}

fn delivered(fx: &Fixture) -> PathBuf {
    fx.path().join("out").join("credential")
}

fn shares_from(fx: &Fixture, dir: &Path, who: &[&str]) -> Vec<PathBuf> {
    let _ = fx;
    who.iter()
        .map(|w| dir.join(format!("{SEAL}.{w}.share")))
        .collect()
}

fn unseal_from(fx: &Fixture, dir: &Path, who: &[&str]) -> Run {
    fx.zeroth()
        .args(["unseal", SEAL, "--output", "-", "--share"])
        .args(shares_from(fx, dir, who))
        .run()
}

fn bind(fx: &Fixture) -> State {
    fx.env_init_through_shim("prod", "prod").ok();
    State::default()
}

fn seal(fx: &Fixture) -> State {
    bind(fx);
    fx.generate(SEAL, "prod", 3, 5).ok();
    let credential = fx.unseal(SEAL, &["alice", "bob", "carol"]).ok().stdout;
    State {
        credential: Some(credential),
        ..State::default()
    }
}

fn pend(fx: &Fixture, kind: &str) -> State {
    let mut state = seal(fx);
    fx.zeroth()
        .args([kind, SEAL, "--share"])
        .args(["alice", "bob", "carol"].map(|w| fx.share(SEAL, w)))
        .arg("--out-dir")
        .arg(new_dir(fx))
        .run()
        .ok();
    state.op = Some(pending_id(fx).expect("a pending operation"));
    state
}

fn pending_id(fx: &Fixture) -> Option<String> {
    fx.record(SEAL)
        .get("pending")
        .and_then(|p| p["id"].as_str())
        .map(str::to_string)
}

fn start<'f>(fx: &'f Fixture, kind: &str) -> Cmd<'f> {
    fx.zeroth()
        .args([kind, SEAL, "--share"])
        .args(["alice", "bob", "carol"].map(|w| fx.share(SEAL, w)))
        .arg("--out-dir")
        .arg(new_dir(fx))
}

fn confirm<'f>(fx: &'f Fixture, kind: &str, op: &str) -> Cmd<'f> {
    let mut c = fx
        .zeroth()
        .args([kind, SEAL, "--confirm", op, "--share"])
        .args(shares_from(fx, &new_dir(fx), &["alice", "bob", "carol"]));
    if kind == "rotate" {
        c = c.args(["--output", "-"]);
    }
    c
}

/// The ceremonies of the matrix, each from the state it needs.
pub fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "env-init",
            prepare: |_| State::default(),
            command: |fx, _| {
                fx.zeroth()
                    .args(["env", "init", "prod", "--token", "prod", "--module"])
                    .arg(shim())
            },
        },
        Case {
            name: "generate",
            prepare: bind,
            command: |fx, _| fx.generate_cmd(SEAL, "prod", 3, 5),
        },
        Case {
            name: "import",
            prepare: |fx| State {
                credential: Some(IMPORTED.to_vec()),
                ..bind(fx)
            },
            command: |fx, _| fx.import_cmd(SEAL, "prod", 3, 5, IMPORTED),
        },
        Case {
            name: "unseal",
            prepare: seal,
            command: |fx, _| {
                fx.unseal_cmd(SEAL, &["alice", "bob", "carol"])
                    .arg("--output")
                    .arg(delivered(fx))
            },
        },
        Case {
            name: "drill",
            prepare: seal,
            command: |fx, _| {
                fx.zeroth()
                    .args(["drill", SEAL, "--share"])
                    .args(CUSTODIANS[..5].iter().map(|w| fx.share(SEAL, w)))
            },
        },
        Case {
            name: "rekey-start",
            prepare: seal,
            command: |fx, _| start(fx, "rekey"),
        },
        Case {
            name: "rekey-confirm",
            prepare: |fx| pend(fx, "rekey"),
            command: |fx, s| confirm(fx, "rekey", s.op.as_deref().unwrap()),
        },
        Case {
            name: "rekey-cancel",
            prepare: |fx| pend(fx, "rekey"),
            command: |fx, s| {
                fx.zeroth()
                    .args(["rekey", SEAL, "--cancel", s.op.as_deref().unwrap()])
            },
        },
        Case {
            name: "rotate-start",
            prepare: seal,
            command: |fx, _| start(fx, "rotate"),
        },
        Case {
            name: "rotate-confirm",
            prepare: |fx| pend(fx, "rotate"),
            command: |fx, s| confirm(fx, "rotate", s.op.as_deref().unwrap()),
        },
        Case {
            name: "rotate-cancel",
            prepare: |fx| pend(fx, "rotate"),
            command: |fx, s| {
                fx.zeroth()
                    .args(["rotate", SEAL, "--cancel", s.op.as_deref().unwrap()])
            },
        },
        Case {
            name: "revoke",
            prepare: seal,
            command: |fx, _| {
                fx.zeroth().args([
                    "revoke",
                    SEAL,
                    "--reason",
                    "fault matrix",
                    "--confirm-seal",
                    SEAL,
                ])
            },
        },
        Case {
            name: "cleanup-destroy",
            prepare: |fx| {
                let state = seal(fx);
                // An interrupted generate leaves a key no record references.
                let run = fx
                    .generate_cmd("orphan", "prod", 2, 3)
                    .env("ZEROTH_CRASH_AT", "generate:after-key")
                    .run();
                assert_eq!(run.code, -1, "{}", run.stderr);
                state
            },
            command: |fx, _| fx.zeroth().args(["cleanup", "--env", "prod", "--destroy"]),
        },
        Case {
            name: "audit-attest",
            prepare: |fx| {
                let state = seal(fx);
                // A refusal with no PIN at hand is logged unsigned.
                fx.unseal_cmd(SEAL, &["alice"])
                    .args(["--output", "-"])
                    .without_pin()
                    .run()
                    .fails(3, &[]);
                state
            },
            command: |fx, _| fx.zeroth().args(["audit", "attest", "--env", "prod"]),
        },
        Case {
            name: "check-hsm",
            prepare: seal,
            command: |fx, _| fx.zeroth().args(["check", "--hsm"]),
        },
    ]
}

/// The fault of one run.
#[derive(Clone, Debug)]
pub enum Fault {
    /// PKCS#11 call n fails with CKR_DEVICE_ERROR (the shim).
    Fail(u64, String),
    /// The process aborts at PKCS#11 call n (the shim).
    Abort(u64, String),
    /// File-writing step n fails with this errno (zeroth's hook).
    Write(u64, String, &'static str),
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fault::Fail(n, func) => write!(f, "fail at call {n} ({func})"),
            Fault::Abort(n, func) => write!(f, "abort at call {n} ({func})"),
            Fault::Write(n, step, errno) => write!(f, "{errno} at write step {n} ({step})"),
        }
    }
}

/// Which faults a matrix run injects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sample {
    /// Every step, failed and aborted (PKCS#11) or failed (writes).
    Full,
    /// PKCS#11: the first and the last call of each function that changes the token
    /// or signs, failed, and the first of those aborted. Writes: each write of a record,
    /// of zeroth.toml, of a public key, of the log and of its head, and the first of
    /// the share files, failed.
    Some,
}

impl Sample {
    pub fn from_env() -> Sample {
        match std::env::var("ZEROTH_FAULT_MATRIX").as_deref() {
            Ok("full") => Sample::Full,
            _ => Sample::Some,
        }
    }
}

/// The PKCS#11 functions that change the token or sign.
const MUTATING: [&str; 7] = [
    "C_GenerateKey",
    "C_GenerateKeyPair",
    "C_CreateObject",
    "C_DestroyObject",
    "C_WrapKey",
    "C_UnwrapKey",
    "C_Sign",
];

/// PKCS#11 calls whose failure may rightly leave the ceremony succeeding as it would
/// have, and why.
pub const TOLERATED: [(&str, &str); 5] = [
    (
        "C_GetSlotList",
        "a token not found is looked for again, the module initialized anew, for about a second: the next try finds it",
    ),
    (
        "C_Finalize",
        "the work is done and the module is being unloaded: zeroth ignores its result",
    ),
    (
        "C_CloseSession",
        "the session's work is done: cryptoki closes it when the session is dropped and drops the result",
    ),
    (
        "C_GetTokenInfo",
        "a slot other than the environment's could not be read: the token was found in its own slot",
    ),
    (
        "C_FindObjectsFinal",
        "cryptoki ends every search in a Drop and drops the result; a session left with a search open refuses the next operation (CKR_OPERATION_ACTIVE, which zeroth names), and a search that was the session's last harms nothing",
    ),
];

/// What the matrix of one case found.
#[derive(Default, Debug)]
pub struct Figures {
    pub steps: usize,
    pub runs: usize,
    pub tolerated: BTreeSet<String>,
    pub problems: Vec<String>,
}

/// A copy of a fixture's directory (tokens, store, shares), to put back before each run.
struct Snapshot(tempfile::TempDir);

fn copy_tree(from: &Path, to: &Path) {
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            std::fs::create_dir(&target).unwrap();
            copy_tree(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

impl Snapshot {
    fn take(fx: &Fixture) -> Snapshot {
        let dir = tempfile::tempdir().unwrap();
        copy_tree(fx.path(), dir.path());
        Snapshot(dir)
    }

    fn restore(&self, fx: &Fixture) {
        for e in std::fs::read_dir(fx.path()).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                std::fs::remove_dir_all(&p).unwrap();
            } else {
                std::fs::remove_file(&p).unwrap();
            }
        }
        copy_tree(self.0.path(), fx.path());
    }
}

/// Runs `case` with the PKCS#11 faults `sample` asks for; returns its figures.
pub fn pkcs11_matrix(case: &Case, sample: Sample) -> Figures {
    let (fx, mut state, snap, base) = prepared(case);
    let calls = shim_calls(&base.record);
    let mut faults = Vec::new();
    match sample {
        Sample::Full => {
            for (n, func) in &calls {
                faults.push(Fault::Fail(*n, func.clone()));
                faults.push(Fault::Abort(*n, func.clone()));
            }
        }
        Sample::Some => {
            let mutating = |f: &&(u64, String)| MUTATING.contains(&f.1.as_str());
            if let Some((n, func)) = calls.iter().find(mutating) {
                faults.push(Fault::Abort(*n, func.clone()));
            }
            for func in MUTATING {
                let of: Vec<&(u64, String)> = calls.iter().filter(|c| c.1 == func).collect();
                let ends: BTreeSet<&(u64, String)> =
                    of.first().into_iter().chain(of.last()).copied().collect();
                for (n, func) in ends {
                    faults.push(Fault::Fail(*n, func.clone()));
                }
            }
        }
    }
    if case.name == "rotate-confirm" {
        state.rotated = Some(base.run.stdout.clone());
    }
    let mut figures = Figures {
        steps: calls.len(),
        ..Figures::default()
    };
    for fault in faults {
        snap.restore(&fx);
        run_one(case, &fx, &state, &fault, &base.run, &mut figures);
    }
    report(case, "PKCS#11 calls", &figures);
    figures
}

/// Runs `case` with a failing write at the steps `sample` asks for.
pub fn write_matrix(case: &Case, sample: Sample) -> Figures {
    let (fx, mut state, snap, base) = prepared(case);
    let steps = write_steps(&base.trace);
    if case.name == "rotate-confirm" {
        state.rotated = Some(base.run.stdout.clone());
    }
    let mut figures = Figures {
        steps: steps.len(),
        ..Figures::default()
    };
    let mut shares_sampled = false;
    for (i, (n, step)) in steps.iter().enumerate() {
        let errno = if i % 2 == 0 { "ENOSPC" } else { "EIO" };
        let fault = Fault::Write(*n, step.clone(), errno);
        if sample == Sample::Some {
            if !step.starts_with("write") && !step.starts_with("append") {
                continue;
            }
            let share_file = step.ends_with(".share") || step.ends_with(".svg");
            if share_file && std::mem::replace(&mut shares_sampled, true) {
                continue;
            }
        }
        snap.restore(&fx);
        run_one(case, &fx, &state, &fault, &base.run, &mut figures);
    }
    report(case, "file-writing steps", &figures);
    figures
}

fn report(case: &Case, what: &str, f: &Figures) {
    eprintln!(
        "fault matrix [{:?}] {}: {} {what}, {} faulted runs, tolerated: {:?}, problems: {}",
        kind(),
        case.name,
        f.steps,
        f.runs,
        f.tolerated,
        f.problems.len()
    );
    for p in &f.problems {
        eprintln!("  PROBLEM {p}");
    }
}

struct Base {
    run: Run,
    record: PathBuf,
    trace: PathBuf,
    _dir: tempfile::TempDir,
}

/// A fixture prepared for `case`, its snapshot, and the fault-free run with its shim
/// record and write trace (the fixture is put back to the snapshot afterwards).
fn prepared(case: &Case) -> (Fixture, State, Snapshot, Base) {
    let fx = Fixture::new();
    std::fs::create_dir(new_dir(&fx)).unwrap();
    std::fs::create_dir(fx.path().join("out")).unwrap();
    let state = (case.prepare)(&fx);
    let snap = Snapshot::take(&fx);
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("calls");
    let trace = dir.path().join("writes");
    let run = (case.command)(&fx, &state)
        .env("ZEROTH_SHIM_LOG", &record)
        .env("ZEROTH_IO_TRACE", &trace)
        .run();
    let ok_code = if case.name == "check-hsm" {
        run.code
    } else {
        0
    };
    assert!(
        run.code == ok_code && run.code <= 1,
        "{}: the fault-free run failed: {}",
        case.name,
        run.stderr
    );
    let problems = consistent(case, &fx, &state, &run);
    assert!(
        problems.is_empty(),
        "{}: the fault-free run leaves problems: {problems:?}",
        case.name
    );
    snap.restore(&fx);
    (
        fx,
        state,
        snap,
        Base {
            run,
            record,
            trace,
            _dir: dir,
        },
    )
}

/// The calls of the shim record: (number, function).
fn shim_calls(record: &Path) -> Vec<(u64, String)> {
    std::fs::read_to_string(record)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            let n: u64 = w.get(1)?.parse().ok()?;
            (n > 0).then(|| (n, w[2].to_string()))
        })
        .collect()
}

/// The steps of zeroth's write trace: (number, "step path").
fn write_steps(trace: &Path) -> Vec<(u64, String)> {
    std::fs::read_to_string(trace)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let (n, rest) = l.split_once(' ')?;
            Some((n.parse().ok()?, rest.to_string()))
        })
        .collect()
}

fn run_one(case: &Case, fx: &Fixture, state: &State, fault: &Fault, base: &Run, f: &mut Figures) {
    f.runs += 1;
    let logged_before = log_entries(fx).len();
    let cmd = (case.command)(fx, state);
    let run = match fault {
        Fault::Fail(n, _) => cmd.env("ZEROTH_SHIM_FAIL_AT", n.to_string()).run(),
        Fault::Abort(n, _) => cmd.env("ZEROTH_SHIM_ABORT_AT", n.to_string()).run(),
        Fault::Write(n, _, errno) => cmd
            .env("ZEROTH_IO_FAIL_AT", n.to_string())
            .env("ZEROTH_IO_FAIL_ERRNO", *errno)
            .run(),
    };
    let what = format!("{} [{fault}]", case.name);
    // How it ended.
    let output = format!("{}{}", run.stderr, run.stdout_str());
    match fault {
        Fault::Abort(..) => {
            if run.code != -1 {
                f.problems.push(format!(
                    "{what}: not aborted (exit {}): {}",
                    run.code, run.stderr
                ));
            }
        }
        Fault::Fail(_, func) => {
            // cryptoki drops C_FindObjectsFinal's result (see TOLERATED): the failure
            // shows at the session's next operation.
            let named = output.contains(&format!("{func} returned CKR_DEVICE_ERROR"))
                || (func == "C_FindObjectsFinal"
                    && output.contains("returned CKR_OPERATION_ACTIVE"));
            if run.code == base.code && named {
                // Said, as a warning, of a step that follows the work: the log's head
                // or the token's anchor, which lag behind and move on at the next entry.
                f.tolerated.insert(format!("{func} (warned)"));
            } else if run.code == base.code {
                f.tolerated.insert(func.clone());
                if !TOLERATED.iter().any(|(t, _)| t == func) {
                    f.problems.push(format!(
                        "{what}: the failure went unnoticed (exit {}): {}",
                        run.code, run.stderr
                    ));
                }
            } else if case.name == "check-hsm" {
                if run.code != 1 || !named || !run.stdout_str().contains("token-unreachable") {
                    f.problems.push(format!(
                        "{what}: check --hsm did not report token-unreachable naming {func} (exit {}): {output}",
                        run.code
                    ));
                }
            } else if run.code != 4 || !named {
                f.problems.push(format!(
                    "{what}: expected exit 4 naming {func}, got exit {}: {}",
                    run.code, run.stderr
                ));
            }
        }
        Fault::Write(_, step, errno) => {
            let words = if *errno == "EIO" {
                "Input/output error"
            } else {
                "No space left on device"
            };
            // The directory's fsync after a rename or link (the file is in place, the
            // entry may not survive a power cut), or the log's head (it lags behind
            // the log, which verify accepts, and moves on at the next entry): zeroth
            // says so and goes on.
            let warned = run
                .stderr
                .lines()
                .any(|l| l.starts_with("warning:") && l.contains(words));
            let lagging = step.starts_with("sync-dir") || step.ends_with(".head");
            if lagging && run.code == base.code && warned {
                let what = if step.ends_with(".head") {
                    "head"
                } else {
                    "sync-dir"
                };
                f.tolerated.insert(format!("{what} (warned)"));
            } else if run.code != 4 || !run.stderr.contains(words) {
                f.problems.push(format!(
                    "{what}: expected exit 4 saying '{words}', got exit {}: {}",
                    run.code, run.stderr
                ));
            }
        }
    }
    if !matches!(fault, Fault::Abort(..))
        && let Some(p) = logged(case, fx, logged_before, &run)
    {
        f.problems.push(format!("{what}: {p}"));
    }
    for p in consistent(case, fx, state, &run) {
        f.problems.push(format!("{what}: {p}"));
    }
}

/// A ceremony that ran to its end, well or not, is logged: one entry (two for a
/// delivery that failed after its entry was written), the last saying how it ended.
/// `check` logs nothing; a refused first `env init` has no log to go to.
fn logged(case: &Case, fx: &Fixture, before: usize, run: &Run) -> Option<String> {
    let lines = log_entries(fx);
    let added = lines.len().saturating_sub(before);
    match case.name {
        "check-hsm" => return (added != 0).then(|| format!("check logged {added} entries")),
        "env-init" if added == 0 && run.code != 0 => return None,
        _ => {}
    }
    if !(1..=2).contains(&added) {
        return Some(format!(
            "{added} log entries for one ceremony (exit {})",
            run.code
        ));
    }
    let last = &lines[lines.len() - 1];
    let ok = last["outcome"] == "ok";
    if ok != (run.code == 0) {
        return Some(format!(
            "the log says {} for a ceremony that exited {}: {last}",
            last["outcome"], run.code
        ));
    }
    None
}

/// The lines of the log of prod, each parsed if it parses (a torn line is `null`).
fn log_entries(fx: &Fixture) -> Vec<serde_json::Value> {
    std::fs::read_to_string(fx.store().join("logs/prod.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or(serde_json::Value::Null))
        .collect()
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            files_under(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// The labels of the keys on the token.
fn labels(fx: &Fixture) -> BTreeSet<String> {
    fx.token_objects("prod")
        .lines()
        .filter_map(|l| l.trim().strip_prefix("label:"))
        .map(|l| l.trim().to_string())
        .collect()
}

/// The records of the store, as JSON.
fn records(fx: &Fixture) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    let mut files = Vec::new();
    files_under(&fx.store().join("seals"), &mut files);
    for p in files {
        if p.extension().is_some_and(|e| e == "json")
            && let Ok(v) = serde_json::from_slice(&std::fs::read(&p).unwrap())
        {
            out.push(v);
        }
    }
    out
}

/// The checks after a run (faulted or not): what is wrong, in words; empty when all
/// holds. Runs fault-free ceremonies on the fixture (attest, cleanup, confirm, unseal).
fn consistent(case: &Case, fx: &Fixture, state: &State, run: &Run) -> Vec<String> {
    let mut problems = Vec::new();
    let mut files = Vec::new();
    for dir in [
        fx.store(),
        fx.shares_dir(),
        new_dir(fx),
        fx.path().join("out"),
    ] {
        files_under(&dir, &mut files);
    }
    for p in &files {
        let name = p.file_name().unwrap().to_string_lossy();
        if name.starts_with(".tmp") {
            problems.push(format!("temporary file left: {}", p.display()));
        }
    }
    let aborted = run.code == -1;
    // The environment: bound, or (env init) not bound and bindable.
    let bound = std::fs::read_to_string(fx.store().join("zeroth.toml"))
        .is_ok_and(|t| t.contains("[env.prod]"));
    if !bound {
        if case.name != "env-init" {
            problems.push("environment prod is no longer bound".into());
            return problems;
        }
        let mut again = fx.env_init_through_shim("prod", "prod");
        if again.code == 3 && again.stderr.contains("add --adopt") {
            // An env init that stopped after marking the token: --adopt finishes it.
            again = fx
                .zeroth()
                .args([
                    "env", "init", "prod", "--token", "prod", "--adopt", "--module",
                ])
                .arg(shim())
                .run();
        }
        if again.code != 0 {
            problems.push(format!(
                "env init cannot be run again: exit {}: {}",
                again.code, again.stderr
            ));
            return problems;
        }
    }
    // Every record verifies.
    let list = fx.zeroth().arg("list").run();
    if list.code != 0 || list.stdout_str().contains("invalid") {
        problems.push(format!(
            "list: exit {}: {}{}",
            list.code,
            list.stdout_str(),
            list.stderr
        ));
    }
    // The log is whole; an unsigned tail is attested.
    let verify = fx.zeroth().args(["--json", "audit", "verify"]).run();
    let damage: serde_json::Value = serde_json::from_slice(&verify.stdout)
        .map(|v: serde_json::Value| v["logs"][0]["damage"].clone())
        .unwrap_or(serde_json::Value::Null);
    if verify.code != 0 {
        if damage["kind"] == "unsigned" {
            let attest = fx.zeroth().args(["audit", "attest", "--env", "prod"]).run();
            let again = fx.audit_verify();
            if attest.code != 0 || again.code != 0 {
                problems.push(format!(
                    "an unsigned tail that attest does not mend: {}{}",
                    attest.stderr,
                    again.stdout_str()
                ));
            }
        } else {
            problems.push(format!(
                "audit verify: exit {}: {damage} {}",
                verify.code, verify.stderr
            ));
        }
    }
    // A revocation cut short completes when run again.
    let revoked_record = |fx: &Fixture| {
        fx.store()
            .join("seals")
            .join(format!("{SEAL}.json"))
            .exists()
            && fx.record(SEAL).get("revoked").is_some()
    };
    if case.name == "revoke" && !revoked_record(fx) {
        let key = fx.record(SEAL)["key"]["label"]
            .as_str()
            .unwrap()
            .to_string();
        if !labels(fx).contains(&key) {
            let again = (case.command)(fx, state).run();
            if again.code != 0 || !revoked_record(fx) {
                problems.push(format!(
                    "a revocation cut short does not complete: {}",
                    again.stderr
                ));
            }
        }
    }
    // No record refers to a key the token lacks.
    let present = labels(fx);
    for r in records(fx) {
        if r.get("revoked").is_some() {
            continue;
        }
        let mut keys = vec![r["key"]["label"].as_str().unwrap_or("?").to_string()];
        if let Some(p) = r.get("pending") {
            keys.push(p["key"]["label"].as_str().unwrap_or("?").to_string());
        }
        for k in keys {
            if !present.contains(&k) {
                problems.push(format!(
                    "record {} refers to key {k}, which is not on the token",
                    r["name"]
                ));
            }
        }
    }
    // Orphans are tidied, and check --hsm agrees with the token.
    let cleanup = fx
        .zeroth()
        .args(["cleanup", "--env", "prod", "--destroy"])
        .run();
    let after = fx.zeroth().args(["cleanup", "--env", "prod"]).run();
    if cleanup.code != 0 || !after.stdout_str().contains("no orphan keys") {
        problems.push(format!(
            "cleanup: exit {}: {}{}{}",
            cleanup.code,
            cleanup.stderr,
            after.stdout_str(),
            after.stderr
        ));
    }
    let check = fx.zeroth().args(["--json", "check", "--hsm"]).run();
    match serde_json::from_slice::<serde_json::Value>(&check.stdout) {
        Ok(v) => {
            for finding in v["findings"].as_array().cloned().unwrap_or_default() {
                let id = finding["id"].as_str().unwrap_or("");
                if [
                    "record-invalid",
                    "token-unmarked",
                    "token-unreachable",
                    "orphan-key",
                    "revoked-key-present",
                    "log-damaged",
                    "log-unsigned",
                ]
                .contains(&id)
                {
                    problems.push(format!("check --hsm: {id}: {}", finding["message"]));
                }
            }
        }
        Err(_) => problems.push(format!(
            "check --hsm: exit {}: {}",
            check.code, check.stderr
        )),
    }
    problems.extend(recoverable(case, fx, state, aborted));
    problems
}

/// The credential opens with the current set (and the pending one, once confirmed),
/// and is the one it was.
fn recoverable(case: &Case, fx: &Fixture, state: &State, aborted: bool) -> Vec<String> {
    let mut problems = Vec::new();
    let record_path = fx.store().join("seals").join(format!("{SEAL}.json"));
    if !record_path.exists() {
        if !matches!(case.name, "env-init" | "generate" | "import") {
            problems.push("the record is gone".into());
        } else if !aborted {
            // A generate that failed leaves no share file behind.
            let mut left = Vec::new();
            files_under(&fx.shares_dir(), &mut left);
            if !left.is_empty() {
                problems.push(format!(
                    "share files left by a failed {}: {left:?}",
                    case.name
                ));
            }
        }
        return problems;
    }
    let record = fx.record(SEAL);
    if record.get("revoked").is_some() {
        if case.name != "revoke" {
            problems.push("the seal is revoked".into());
        }
        return problems;
    }
    let set = record["set"].as_u64().unwrap();
    let expect = |got: &[u8], what: &str, problems: &mut Vec<String>, want: Option<&Vec<u8>>| {
        if let Some(want) = want
            && got != &want[..]
        {
            problems.push(format!("{what} gives another credential"));
        }
    };
    let (dir, want) = if set == 1 {
        (fx.shares_dir(), state.credential.clone())
    } else if record["version"] == 1 {
        (new_dir(fx), state.credential.clone())
    } else {
        (new_dir(fx), state.rotated.clone())
    };
    let now = unseal_from(fx, &dir, &["carol", "dave", "erin"]);
    if now.code != 0 {
        problems.push(format!(
            "the current set (set {set}) does not unseal: {}",
            now.stderr
        ));
        return problems;
    }
    expect(
        &now.stdout,
        &format!("set {set}"),
        &mut problems,
        want.as_ref(),
    );
    if let Some(p) = record.get("pending") {
        let kind = p["kind"].as_str().unwrap().to_string();
        let op = p["id"].as_str().unwrap().to_string();
        let confirmed = confirm(fx, &kind, &op).run();
        if confirmed.code != 0 {
            problems.push(format!(
                "the pending {kind} does not confirm: {}",
                confirmed.stderr
            ));
            return problems;
        }
        let new = unseal_from(fx, &new_dir(fx), &["carol", "dave", "erin"]);
        if new.code != 0 {
            problems.push(format!("the new set does not unseal: {}", new.stderr));
            return problems;
        }
        if kind == "rekey" {
            expect(&new.stdout, "the new set", &mut problems, want.as_ref());
        } else {
            expect(
                &new.stdout,
                "the new set",
                &mut problems,
                Some(&confirmed.stdout),
            );
            expect(
                &new.stdout,
                "the new set",
                &mut problems,
                state.rotated.as_ref(),
            );
        }
    }
    problems
}
