//! The ceremony log: one JSON line per ceremony, per environment, chained and signed by
//! the environment's HSM key, verifiable offline by anyone with its public key.
//!
//! `logs/<env>.jsonl` holds one entry per line. `prev` is the SHA-256 of the previous
//! line's bytes (of a per-environment genesis string for the first), so an entry cannot
//! be edited, removed or moved without breaking the link after it. `sig`, the last
//! member, is an ECDSA-P256-SHA256 signature by K_sign over `zeroth-audit-v1\n` followed
//! by the line with its `,"sig":…` member removed; `openssl dgst -sha256 -verify` checks
//! it with `keys/<env>.pem`.
//!
//! A chain cannot show its own last entries cut off, so each signed append also writes
//! `logs/<env>.head`, the signed sequence number and hash of the last line, and every
//! seal record signed in that environment carries the log head it saw: a log shorter
//! than its head, or than a record remembers, is reported truncated.
//!
//! An entry that cannot be signed — the HSM is unreachable, the PIN is wrong, or a
//! ceremony was refused before the HSM was opened and no PIN is at hand without asking —
//! is chained all the same, with `unsigned` saying why. The next signed entry covers it
//! through the chain; until one does, `audit verify` reports the log's tail as unsigned.

use std::fs::{self, File};
use std::io::{BufRead, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::clock;
use crate::error::{Error, Kind, LogError, Result};
use crate::files::write_atomic;
pub use crate::id::fingerprint;
use crate::key::PublicKey;
pub use crate::seal::LogHead;

const ENTRY_DOMAIN: &[u8] = b"zeroth-audit-v1\n";
const HEAD_DOMAIN: &[u8] = b"zeroth-audit-head-v1\n";
const SIG_MEMBER: &str = ",\"sig\":";

/// How a ceremony ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// It did what was asked.
    Ok,
    /// zeroth refused it (bad share, bad signature, wrong PIN, expired …).
    Refused,
    /// The HSM or the disk failed.
    Failed,
}

impl Outcome {
    /// The outcome an error stands for.
    pub fn of(err: &Error) -> Outcome {
        match err.kind() {
            Kind::Usage | Kind::Refused | Kind::Interrupted => Outcome::Refused,
            Kind::Failed => Outcome::Failed,
        }
    }

    /// The word in the log.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Refused => "refused",
            Outcome::Failed => "failed",
        }
    }
}

/// A share refused during a ceremony.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RejectedShare {
    /// The custodian it claims or belongs to, when known.
    pub custodian: Option<String>,
    /// The file it came from.
    pub file: String,
    /// Why it was refused.
    pub reason: String,
}

/// One line of the log. The order of the fields is the order of the members on the
/// line; `sig` is last.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// 1, 2, 3 … per environment.
    pub seq: u64,
    /// When (RFC 3339 UTC).
    pub time: String,
    /// The environment, the same on every line of one log.
    pub env: String,
    /// env-init, generate, import, unseal, drill, attest …
    pub event: String,
    /// The seal concerned, if any.
    pub seal: Option<String>,
    /// Its credential version.
    pub version: Option<u32>,
    /// Its share set.
    pub set: Option<u32>,
    /// Custodians whose shares were accepted.
    pub custodians: Vec<String>,
    /// Shares refused, with the custodian and the reason.
    pub rejected: Vec<RejectedShare>,
    /// Who ran it (`--operator`, `ZEROTH_OPERATOR`, else the login name).
    pub operator: String,
    /// Where the operator's name came from: `option` (`--operator`), `env`
    /// (`ZEROTH_OPERATOR`), `login` (the login name) or `uid`. Absent on entries
    /// written before zeroth recorded it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub operator_from: Option<String>,
    /// On which host.
    pub host: String,
    /// ok, refused or failed.
    pub outcome: Outcome,
    /// One line on what happened.
    pub detail: String,
    /// Fingerprint of the seal record involved: `sha256:` + hex of its signed bytes.
    pub record: Option<String>,
    /// Label of the HSM key (K_seal) involved.
    pub key_label: Option<String>,
    /// The rekey or rotation operation id involved, if any.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub operation: Option<String>,
    /// A remote collection: its signed request and every hand-in it received, accepted
    /// or refused. Absent on every other entry (and on entries written before it
    /// existed).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub remote: Option<crate::handin::RemoteLog>,
    /// Why the operator recovered the credential (`unseal --reason`). Absent when none
    /// was given (and on entries written before it existed).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reason: Option<String>,
    /// SHA-256 (hex) of the previous line, or of the genesis string for the first.
    pub prev: String,
    /// Fingerprint of the key that signed this entry.
    pub key: Option<String>,
    /// Why this entry is not signed.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub unsigned: Option<String>,
    /// base64 DER ECDSA signature; always the last member.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sig: Option<String>,
}

/// What a ceremony reports to the log; filled in as the ceremony goes.
#[derive(Debug, Clone)]
pub struct Draft {
    /// The event name.
    pub event: &'static str,
    /// The environment whose log receives the entry; `None` until the ceremony knows a
    /// bound environment (before that, nothing is logged).
    pub env: Option<String>,
    /// Seal.
    pub seal: Option<String>,
    /// Version.
    pub version: Option<u32>,
    /// Set.
    pub set: Option<u32>,
    /// Accepted custodians.
    pub custodians: Vec<String>,
    /// Refused shares.
    pub rejected: Vec<RejectedShare>,
    /// What happened, for a success.
    pub detail: String,
    /// Record fingerprint.
    pub record: Option<String>,
    /// K_seal label.
    pub key_label: Option<String>,
    /// Rekey or rotation operation id.
    pub operation: Option<String>,
    /// The remote collection the ceremony's shares came through, if any.
    pub remote: Option<crate::handin::RemoteLog>,
    /// Why the operator recovered the credential (`--reason`).
    pub reason: Option<String>,
    /// Set once the entry is written, so a ceremony logs exactly once.
    pub logged: bool,
}

impl Draft {
    /// A draft for `event`.
    pub fn new(event: &'static str) -> Draft {
        Draft {
            event,
            env: None,
            seal: None,
            version: None,
            set: None,
            custodians: Vec::new(),
            rejected: Vec::new(),
            detail: String::new(),
            record: None,
            key_label: None,
            operation: None,
            remote: None,
            reason: None,
            logged: false,
        }
    }

    /// Notes the seal a ceremony works on.
    pub fn seal(&mut self, record: &crate::seal::SealRecord) {
        self.env = Some(record.env.clone());
        self.seal = Some(record.name.clone());
        self.version = Some(record.version);
        self.set = Some(record.set);
        self.key_label = Some(record.key.label.clone());
        self.record = record.signed_bytes().ok().map(|b| fingerprint(&b));
    }
}

/// `logs/<env>.head`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeadFile {
    /// Environment.
    pub env: String,
    /// Last entry's sequence number.
    pub seq: u64,
    /// Last entry's line hash.
    pub hash: String,
    /// When written.
    pub time: String,
    /// Signer's fingerprint.
    pub key: String,
    /// Signature over `zeroth-audit-head-v1\n` + this object without `sig`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sig: Option<String>,
}

/// What the log's reading and verification need of a store: where it is and what it
/// holds (zeroth's `Store` is one; a test may be another).
pub trait LogStore {
    /// The store's root directory (logs are under `logs/`).
    fn root(&self) -> &Path;
    /// Whether the store's configuration declares `env` (a declared environment's log
    /// must have a signed head).
    fn declares(&self, env: &str) -> bool;
    /// The store's seal records, each parsed or the error that stopped it (their log
    /// heads are anchors the log's end is checked against).
    fn records(&self) -> Result<Vec<Result<crate::seal::SealRecord>>>;
}

/// Returns the path of the log of `env`.
pub fn log_path(store: &impl LogStore, env: &str) -> PathBuf {
    store.root().join("logs").join(format!("{env}.jsonl"))
}

/// Returns the path of the head file of `env`.
pub fn head_path(store: &impl LogStore, env: &str) -> PathBuf {
    store.root().join("logs").join(format!("{env}.head"))
}

fn genesis(env: &str) -> String {
    hex::encode(Sha256::digest(
        format!("zeroth-audit-genesis-v1\n{env}").as_bytes(),
    ))
}

fn line_hash(line: &[u8]) -> String {
    hex::encode(Sha256::digest(line))
}

/// The operator named with `--operator`, for this process.
static NAMED_OPERATOR: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Names the operator of this run (`--operator NAME`): 1 to 64 characters, no control
/// characters.
pub fn name_operator(name: &str) -> Result<()> {
    let n = name.chars().count();
    if name.trim().is_empty() || n > 64 || name.chars().any(char::is_control) {
        return Err(Error::Usage(format!(
            "--operator: give a name of 1 to 64 printable characters, not {}",
            name.escape_debug()
        )));
    }
    let _ = NAMED_OPERATOR.set(name.to_string());
    Ok(())
}

/// Who runs zeroth, and where the name came from: `--operator` (`option`),
/// `ZEROTH_OPERATOR` (`env`), else the login name (`login`), else the uid (`uid`).
fn operator_and_source() -> (String, &'static str) {
    if let Some(n) = NAMED_OPERATOR.get() {
        return (n.clone(), "option");
    }
    for (var, source) in [
        ("ZEROTH_OPERATOR", "env"),
        ("USER", "login"),
        ("LOGNAME", "login"),
    ] {
        if let Ok(v) = std::env::var(var) {
            let v: String = v.chars().filter(|c| !c.is_control()).take(64).collect();
            if !v.trim().is_empty() {
                return (v, source);
            }
        }
    }
    (format!("uid:{}", rustix::process::getuid().as_raw()), "uid")
}

/// Who runs zeroth: `--operator`, else `ZEROTH_OPERATOR`, else the login name, else the
/// uid.
pub fn operator() -> String {
    operator_and_source().0
}

/// Where [`operator`]'s name comes from: `option`, `env`, `login` or `uid`.
pub fn operator_source() -> &'static str {
    operator_and_source().1
}

/// Returns true if and only if `entry` names its operator: given with `--operator` or
/// `ZEROTH_OPERATOR` (or written before zeroth recorded where the name came from).
pub fn names_operator(entry: &Entry) -> bool {
    !matches!(entry.operator_from.as_deref(), Some("login" | "uid"))
}

/// This machine's host name (`ZEROTH_HOST` in debug builds, so tests play another host).
pub fn host() -> String {
    #[cfg(debug_assertions)]
    if let Some(h) = std::env::var("ZEROTH_HOST").ok().filter(|h| !h.is_empty()) {
        return h;
    }
    rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned()
}

/// Splits a log line into the bytes its signature covers and the signature member's
/// value (`None` for `null`). Returns `None` if the line does not end with a `sig`
/// member.
fn split_sig(line: &[u8]) -> Option<(Vec<u8>, Option<String>)> {
    let (at, _) = sig_member(line)?;
    let text = std::str::from_utf8(line).ok()?;
    let value = text[at + SIG_MEMBER.len()..].strip_suffix('}')?;
    let sig = if value == "null" {
        None
    } else {
        Some(value[1..value.len() - 1].to_string())
    };
    let mut message = ENTRY_DOMAIN.to_vec();
    message.extend_from_slice(&line[..at]);
    message.push(b'}');
    Some((message, sig))
}

/// Where a log line's `sig` member starts, and whether it holds a signature (`false`
/// for `null`). `None` if the line does not end with a well-formed `sig` member.
fn sig_member(line: &[u8]) -> Option<(usize, bool)> {
    let text = std::str::from_utf8(line).ok()?;
    let at = text.rfind(SIG_MEMBER)?;
    let value = text[at + SIG_MEMBER.len()..].strip_suffix('}')?;
    if value == "null" {
        return Some((at, false));
    }
    let inner = value.strip_prefix('"')?.strip_suffix('"')?;
    if !inner
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=')
    {
        return None;
    }
    Some((at, true))
}

/// Reads the last complete line of the log (without its newline), if any, and whether
/// the file ends in a torn, newline-less fragment after it (left by a crash during a
/// write). The next entry links to the last complete line and starts on a line of its
/// own; `audit verify` reports the fragment, and deleting it mends the chain.
fn last_line(file: &mut File) -> std::io::Result<(Option<Vec<u8>>, bool)> {
    let len = file.seek(SeekFrom::End(0))?;
    if len == 0 {
        return Ok((None, false));
    }
    let mut window: u64 = 64 * 1024;
    loop {
        let start = len.saturating_sub(window);
        file.seek(SeekFrom::Start(start))?;
        let mut buf = Vec::with_capacity((len - start) as usize);
        Read::by_ref(file).take(len - start).read_to_end(&mut buf)?;
        let torn = buf.last() != Some(&b'\n');
        // Everything up to the last newline: complete lines only.
        let complete = match buf.iter().rposition(|&b| b == b'\n') {
            Some(end) => &buf[..end],
            None if start == 0 => return Ok((None, torn)),
            None => {
                window *= 4;
                continue;
            }
        };
        if let Some(nl) = complete.iter().rposition(|&b| b == b'\n') {
            return Ok((Some(complete[nl + 1..].to_vec()), torn));
        }
        if start == 0 {
            return Ok((Some(complete.to_vec()), torn));
        }
        window *= 4;
    }
}

/// Returns the log head as it stands: the last line's sequence number and hash.
pub fn current_head(store: &impl LogStore, env: &str) -> Result<Option<LogHead>> {
    let path = log_path(store, env);
    let mut file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("read", &path, e)),
    };
    let (last, _) = last_line(&mut file).map_err(|e| Error::io("read", &path, e))?;
    Ok(last.map(|line| LogHead {
        seq: seq_of(&line).unwrap_or(0),
        hash: line_hash(&line),
    }))
}

/// Returns the hash of the entry `seq` of `env`'s log, if the log holds one: the last
/// line is read from the end (the usual case, when the log has not grown since), else
/// the log is scanned.
pub fn line_hash_at(store: &impl LogStore, env: &str, seq: u64) -> Result<Option<String>> {
    let path = log_path(store, env);
    let mut file = match crate::files::open_regular(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("read", &path, e)),
    };
    let (last, _) = last_line(&mut file).map_err(|e| Error::io("read", &path, e))?;
    if let Some(line) = &last
        && seq_of(line) == Some(seq)
    {
        return Ok(Some(line_hash(line)));
    }
    let data = read_log(store, env)?;
    Ok(data
        .split(|&b| b == b'\n')
        .find(|l| seq_of(l) == Some(seq))
        .map(line_hash))
}

/// The bytes of `env`'s log (empty when there is none); never through a symbolic link.
pub fn read_log(store: &impl LogStore, env: &str) -> Result<Vec<u8>> {
    let path = log_path(store, env);
    match crate::files::read_regular(&path) {
        Ok(d) => Ok(d),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(Error::io("read", &path, e)),
    }
}

fn seq_of(line: &[u8]) -> Option<u64> {
    #[derive(Deserialize)]
    struct Seq {
        seq: u64,
    }
    serde_json::from_slice::<Seq>(line).ok().map(|s| s.seq)
}

/// Something that signs log entries and heads.
pub trait LogSigner {
    /// Fingerprint of the signing key.
    fn fingerprint(&self) -> String;
    /// The public half of the signing key: [`append`] checks with it every entry it is
    /// about to sign over.
    fn public_key(&self) -> &PublicKey;
    /// The (`seq`, `hash`) the token's log anchor of `env` holds, if any: entries up to
    /// it were checked before it was signed. `None` by default (every entry is checked).
    fn anchored(&self, _env: &str) -> Result<Option<(u64, String)>> {
        Ok(None)
    }
    /// Returns the DER ECDSA-P256-SHA256 signature of `message`.
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>>;
    /// Records (`seq`, `hash`) as the log's head where the store cannot reach it (the
    /// token's log anchor). Nothing by default.
    fn anchor(&self, _env: &str, _seq: u64, _hash: &str) -> Result<()> {
        Ok(())
    }
}

/// Completes `entry` with its signature (when `signer` is given) and returns its line,
/// without the newline. `entry.key` and `entry.unsigned` must already be set.
pub fn seal_line(entry: &mut Entry, signer: Option<&dyn LogSigner>) -> Result<String> {
    entry.sig = None;
    let body = serde_json::to_string(&*entry).map_err(|source| LogError::EntryEncode { source })?;
    let sig = match signer {
        Some(s) => {
            let mut message = ENTRY_DOMAIN.to_vec();
            message.extend_from_slice(body.as_bytes());
            Some(base64::engine::general_purpose::STANDARD.encode(s.sign(&message)?))
        }
        None => None,
    };
    entry.sig = sig.clone();
    let mut line = body[..body.len() - 1].to_string();
    line.push_str(SIG_MEMBER);
    line.push_str(&serde_json::to_string(&sig).unwrap_or_else(|_| "null".into()));
    line.push('}');
    Ok(line)
}

/// Returns the text of a signed head file for `env` at (`seq`, `hash`).
pub fn head_text(env: &str, seq: u64, hash: &str, signer: &dyn LogSigner) -> Result<String> {
    let mut head = HeadFile {
        env: env.to_string(),
        seq,
        hash: hash.to_string(),
        time: clock::format(clock::now()?),
        key: signer.fingerprint(),
        sig: None,
    };
    let mut message = HEAD_DOMAIN.to_vec();
    message.extend(serde_json::to_vec(&head).unwrap_or_default());
    head.sig = Some(base64::engine::general_purpose::STANDARD.encode(signer.sign(&message)?));
    Ok(serde_json::to_string(&head).unwrap_or_default() + "\n")
}

/// The SHA-256 (hex) a line is linked by; `genesis_hash` for the first line's `prev`.
pub fn link_hash(line: &[u8]) -> String {
    line_hash(line)
}

/// The `prev` of the first entry of `env`'s log.
pub fn genesis_hash(env: &str) -> String {
    genesis(env)
}

/// Appends the entry for `draft` to its environment's log, signed when `signing` is
/// given, else marked unsigned with `unsigned`. Holds an exclusive lock on the log file
/// while it reads the last line and writes the new one, so two processes never
/// interleave lines or fork the chain. Returns the sequence number written.
pub fn append(
    store: &impl LogStore,
    draft: &mut Draft,
    outcome: Outcome,
    detail: &str,
    signing: Option<&dyn LogSigner>,
    unsigned: Option<String>,
) -> Result<Option<u64>> {
    let Some(env) = draft.env.clone() else {
        return Ok(None);
    };
    let path = log_path(store, &env);
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(|e| Error::io("create directory", dir, e))?;
    }
    let mut file = crate::files::open_log_for_append(&path)
        .map_err(|e| Error::io("open the log", &path, e))?;
    rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive)
        .map_err(|e| Error::io("lock the log", &path, e.into()))?;
    let (last, torn) = last_line(&mut file).map_err(|e| Error::io("read the log", &path, e))?;
    // Nothing is signed over entries nobody checked: every entry since the token's
    // anchor must verify first (see [`SignatureCheck::Checkpoints`]). Entries that do
    // not are left as they are, and this one is written unsigned, saying why.
    let mut unsigned = unsigned;
    let signing = match signing {
        Some(s) => {
            let anchor = s.anchored(&env)?;
            match tail_problem_in(&file, &env, s.public_key(), anchor.as_ref())
                .map_err(|e| Error::io("read the log", &path, e))?
            {
                None => Some(s),
                Some(problem) => {
                    eprintln!(
                        "warning: this entry of the log of '{env}' is not signed: {problem}; run zeroth audit verify --env {env}"
                    );
                    unsigned = Some(format!(
                        "not signed over entries that do not verify: {problem}"
                    ));
                    None
                }
            }
        }
        None => None,
    };
    let (seq, prev) = match &last {
        Some(line) => (seq_of(line).unwrap_or(0) + 1, line_hash(line)),
        None => (1, genesis(&env)),
    };
    let mut entry = Entry {
        seq,
        time: clock::format(clock::now()?),
        env: env.clone(),
        event: draft.event.to_string(),
        seal: draft.seal.clone(),
        version: draft.version,
        set: draft.set,
        custodians: draft.custodians.clone(),
        rejected: draft.rejected.clone(),
        operator: operator(),
        operator_from: Some(operator_source().to_string()),
        host: host(),
        outcome,
        detail: one_line(detail),
        record: draft.record.clone(),
        key_label: draft.key_label.clone(),
        operation: draft.operation.clone(),
        remote: draft.remote.clone(),
        reason: draft.reason.as_deref().map(one_line),
        prev,
        key: signing.map(|s| s.fingerprint()),
        unsigned: if signing.is_some() {
            None
        } else {
            Some(one_line(unsigned.as_deref().unwrap_or("no HSM session")))
        },
        sig: None,
    };
    let line = seal_line(&mut entry, signing)?;
    let mut out = Vec::with_capacity(line.len() + 2);
    if torn {
        // A crash cut the last write short: end that fragment so this entry starts
        // on its own line; `audit verify` reports the fragment.
        out.push(b'\n');
    }
    out.extend_from_slice(line.as_bytes());
    out.push(b'\n');
    let before = file
        .metadata()
        .map_err(|e| Error::io("read the log", &path, e))?
        .len();
    let appended = crate::fault::write_all("append", &path, &mut file, &out)
        .and_then(|_| crate::fault::io("sync-log", &path))
        .and_then(|_| file.sync_all());
    if let Err(e) = appended {
        // A full or failing disk may have taken part of the line: cut the log back to
        // where it was, so no torn fragment is left for the next entry to step over.
        let _ = file.set_len(before).and_then(|_| file.sync_all());
        return Err(Error::io("append to the log", &path, e));
    }
    draft.logged = true;
    if let Some(s) = signing {
        let hash = line_hash(line.as_bytes());
        // The entry is written: the head and the token's anchor follow the log. A
        // crash or a failure here leaves them behind the log, never ahead (which
        // verify accepts), and the next signed entry moves them on; so it is said, not
        // taken for a ceremony that failed after it was logged as done.
        let head = head_text(&env, seq, &hash, s)
            .and_then(|text| write_atomic(&head_path(store, &env), text.as_bytes(), 0o644));
        if let Err(e) = head {
            eprintln!(
                "warning: the signed head of the log of '{env}' could not be moved to entry {seq}: {}",
                e.message()
            );
        }
        if let Err(e) = s.anchor(&env, seq, &hash) {
            eprintln!(
                "warning: the token's log anchor of '{env}' could not be moved to entry {seq}: {}",
                e.message()
            );
        }
    }
    Ok(Some(seq))
}

fn one_line(s: &str) -> String {
    let mut out: String = s
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    out.retain(|c| !c.is_control());
    out
}

/// The entries of `env`'s log about `seal`, in order; lines that do not parse are
/// skipped (this is for messages, not for verification).
pub fn events_of(store: &impl LogStore, env: &str, seal: &str) -> Vec<Entry> {
    let Ok(data) = read_log(store, env) else {
        return Vec::new();
    };
    data.split(|&b| b == b'\n')
        .filter_map(|l| serde_json::from_slice::<Entry>(l).ok())
        .filter(|e| e.seal.as_deref() == Some(seal))
        .collect()
}

/// Returns true if and only if `line` (one log line) carries a signature that `key`
/// verifies over the line's signed bytes.
pub fn line_verifies(line: &[u8], key: &PublicKey) -> bool {
    let Some((message, Some(sig))) = split_sig(line) else {
        return false;
    };
    let der = base64::engine::general_purpose::STANDARD
        .decode(sig)
        .unwrap_or_default();
    key.verify(&message, &der)
}

/// A successful, vouched-for entry naming a record (a seal's, or an environment's
/// settings'), as much of it as the check that a record is not an old copy needs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecordEntry {
    /// Its sequence number.
    pub seq: u64,
    /// The fingerprint of the record it left.
    pub record: String,
    /// Its event.
    pub event: String,
    /// When.
    pub time: String,
    /// Who ran it.
    pub operator: String,
    /// What happened.
    pub detail: String,
}

impl RecordEntry {
    /// The part of `e` that names a record, if it names one (its strings moved out).
    pub fn from_entry(e: Entry) -> Option<RecordEntry> {
        let Entry {
            seq,
            record,
            event,
            time,
            operator,
            detail,
            ..
        } = e;
        record.map(|record| RecordEntry {
            seq,
            record,
            event,
            time,
            operator,
            detail,
        })
    }
}

/// The last entry of `env`'s log about `seal` that succeeded, is signed with a
/// signature `key` verifies, and names a record: its sequence number and the record's
/// fingerprint. Every successful ceremony names the record as it left it, so this is
/// the newest record the log vouches for.
pub fn last_record_entry(
    store: &impl LogStore,
    env: &str,
    seal: &str,
    key: &PublicKey,
) -> Result<Option<RecordEntry>> {
    // zeroth writes the member exactly so (a seal's name needs no escaping), and a
    // signature covers the bytes as zeroth wrote them: lines without it are skipped
    // unparsed.
    let member = format!("\"seal\":\"{seal}\",");
    last_signed_entry_where(
        store,
        env,
        key,
        |line| contains_bytes(line, member.as_bytes()),
        |e| e.seal.as_deref() == Some(seal) && e.record.is_some(),
    )
}

/// Returns true if `needle` occurs in `haystack`.
pub fn contains_bytes(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The last successful entry of `env`'s log that `wanted` picks and whose signature
/// `key` verifies, as much of it as names a record ([`RecordEntry`]). The log
/// is read from its end a block at a time ([`ReverseLines`]), and only the lines
/// `may_match` lets through (a quick look at the raw bytes) are parsed.
pub fn last_signed_entry_where(
    store: &impl LogStore,
    env: &str,
    key: &PublicKey,
    may_match: impl Fn(&[u8]) -> bool,
    wanted: impl Fn(&Entry) -> bool,
) -> Result<Option<RecordEntry>> {
    let path = log_path(store, env);
    let file = match crate::files::open_regular(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("read", &path, e)),
    };
    let mut lines = ReverseLines::new(file).map_err(|e| Error::io("read", &path, e))?;
    while let Some(line) = lines.next_line().map_err(|e| Error::io("read", &path, e))? {
        if !may_match(line) {
            continue;
        }
        let Ok(e) = serde_json::from_slice::<Entry>(line) else {
            continue;
        };
        if e.outcome != Outcome::Ok || e.env != env || !wanted(&e) {
            continue;
        }
        let Some(found) = RecordEntry::from_entry(e) else {
            continue;
        };
        if line_verifies(line, key) {
            return Ok(Some(found));
        }
    }
    Ok(None)
}

/// The lines of a file from the last to the first, read a block at a time from the
/// end: memory is a block and the longest line, whatever the file's size.
struct ReverseLines {
    file: File,
    /// Bytes of the file not read yet: [0, unread).
    unread: u64,
    /// Read bytes not yet returned as lines; a line ends where the buffer ends.
    buf: Vec<u8>,
    /// The line returned last, cut off the end of `buf` on the next call.
    returned: usize,
}

impl ReverseLines {
    const BLOCK: u64 = 256 * 1024;

    fn new(mut file: File) -> std::io::Result<ReverseLines> {
        let unread = file.seek(SeekFrom::End(0))?;
        Ok(ReverseLines {
            file,
            unread,
            buf: Vec::new(),
            returned: 0,
        })
    }

    fn next_line(&mut self) -> std::io::Result<Option<&[u8]>> {
        // Drop the line returned last, and the newline before it.
        let keep = self.buf.len() - self.returned;
        self.buf.truncate(keep);
        self.returned = 0;
        loop {
            // Skip the newline that ends the remaining bytes.
            if self.buf.last() == Some(&b'\n') {
                self.buf.pop();
                continue;
            }
            if let Some(nl) = self.buf.iter().rposition(|&b| b == b'\n') {
                self.returned = self.buf.len() - nl;
                return Ok(Some(&self.buf[nl + 1..]));
            }
            if self.unread == 0 {
                if self.buf.is_empty() {
                    return Ok(None);
                }
                self.returned = self.buf.len();
                return Ok(Some(&self.buf[..]));
            }
            let start = self.unread.saturating_sub(Self::BLOCK);
            let mut block = vec![0u8; (self.unread - start) as usize];
            self.file.seek(SeekFrom::Start(start))?;
            self.file.read_exact(&mut block)?;
            block.extend_from_slice(&self.buf);
            self.buf = block;
            self.unread = start;
        }
    }
}

/// The kinds of damage `audit verify` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DamageKind {
    /// An entry's content no longer matches its signature or the next entry's link.
    Edited,
    /// Entries are missing from the middle.
    Removed,
    /// Entries are out of order.
    Reordered,
    /// The log ends before its signed head, or before what a seal record saw.
    Truncated,
    /// An entry carries another environment's name.
    Spliced,
    /// An entry is signed by a key other than the environment's.
    SignedByAnotherKey,
    /// An entry has no signature and no later signature covers it.
    Unsigned,
    /// An unsigned entry claims that a ceremony which always signs its entry (it uses
    /// the HSM) succeeded: a line written by hand.
    UnsignedSuccess,
}

impl DamageKind {
    /// The words for it.
    pub fn name(self) -> &'static str {
        match self {
            DamageKind::Edited => "edited",
            DamageKind::Removed => "removed",
            DamageKind::Reordered => "reordered",
            DamageKind::Truncated => "truncated",
            DamageKind::Spliced => "spliced from another log",
            DamageKind::SignedByAnotherKey => "signed by another key",
            DamageKind::Unsigned => "unsigned",
            DamageKind::UnsignedSuccess => "unsigned success",
        }
    }
}

/// The first damage found.
#[derive(Debug, Clone, Serialize)]
pub struct Damage {
    /// Sequence number of the first bad entry (for truncation: the first missing one).
    pub seq: u64,
    /// What kind of damage.
    pub kind: DamageKind,
    /// In words.
    pub detail: String,
}

/// The result of verifying one log.
#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    /// Environment.
    pub env: String,
    /// The log file.
    pub path: PathBuf,
    /// Entries read.
    pub entries: u64,
    /// Signed entries the key vouches for (each verified, or covered by a later
    /// signature through the chain).
    pub signed: u64,
    /// Entry signatures verified one by one (one for a clean log checked at its
    /// checkpoint; every one with `--every-signature` or when the log is damaged).
    pub checked: u64,
    /// How signatures were checked.
    pub check: SignatureCheck,
    /// Entries whose time is earlier than the entry before them.
    pub time_backwards: Vec<u64>,
    /// Unsigned entries covered by a later signed entry.
    pub unsigned_covered: Vec<u64>,
    /// Fingerprint of the key checked against.
    pub key: String,
    /// The first damage, if any.
    pub damage: Option<Damage>,
    /// Per entry (in file order): whether its signature verified (`None` if unsigned).
    #[serde(skip)]
    pub signatures: Vec<Option<bool>>,
    /// The parsed entries, in file order (entries that did not parse are absent).
    #[serde(skip)]
    pub parsed: Vec<Entry>,
}

impl Verification {
    /// Returns true if and only if the log is whole and every entry is attested.
    pub fn ok(&self) -> bool {
        self.damage.is_none()
    }
}

/// How verification checks the entries' signatures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SignatureCheck {
    /// Every link of the chain, and the signature of the last signed entry: through the
    /// chain it covers every line before it, byte for byte. This is sound because
    /// [`append`] signs only after it has verified every entry since the token's log
    /// anchor, so no signature of this key ever covers a line whose own signature was
    /// not checked first. On any damage the log is read again with `Every`, so the
    /// first bad entry is named exactly as a full check names it.
    Checkpoints,
    /// Every entry's own signature (`audit verify --every-signature`).
    Every,
}

/// What verification says of one entry's signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attested {
    /// The entry has no signature (it says why).
    Unsigned,
    /// Its own signature verifies.
    Signed,
    /// Signed, and covered through the chain by a later signature that verifies; its
    /// own was not checked ([`SignatureCheck::Checkpoints`]).
    Covered,
    /// Its signature does not verify.
    Bad,
}

impl Attested {
    /// Returns true if the key vouches for the entry (its signature, or a later one).
    pub fn vouched(self) -> bool {
        matches!(self, Attested::Signed | Attested::Covered)
    }
}

/// Receives the entries of a log as [`scan`] reads them, in order.
pub trait Visitor {
    /// A pass begins: forget what earlier passes gave (a damaged log is read twice).
    fn start(&mut self);
    /// One entry of the whole chain, with what its signature is worth.
    fn entry(&mut self, entry: Entry, attested: Attested);
    /// One entry after the chain broke (a full pass only): its own signature checked,
    /// nothing vouched for by the chain. Ignored unless a visitor wants the lines a
    /// damaged log still holds.
    fn beyond(&mut self, _entry: Entry, _attested: Attested) {}
}

/// A visitor that keeps nothing.
pub struct Ignore;

impl Visitor for Ignore {
    fn start(&mut self) {}
    fn entry(&mut self, _: Entry, _: Attested) {}
}

/// Keeps every entry of the chain and its signature's verdict.
#[derive(Default)]
struct Collect {
    parsed: Vec<Entry>,
    signatures: Vec<Option<bool>>,
}

impl Visitor for Collect {
    fn start(&mut self) {
        self.parsed.clear();
        self.signatures.clear();
    }
    fn entry(&mut self, entry: Entry, attested: Attested) {
        self.parsed.push(entry);
        self.signatures.push(match attested {
            Attested::Unsigned => None,
            Attested::Bad => Some(false),
            Attested::Signed | Attested::Covered => Some(true),
        });
    }
}

/// Verifies the log of `env` with `key`, keeping every entry in `parsed`. Needs no HSM
/// and no PIN.
pub fn verify(store: &impl LogStore, env: &str, key: &PublicKey) -> Result<Verification> {
    let records: Vec<crate::seal::SealRecord> = store.records()?.into_iter().flatten().collect();
    verify_with(store, env, key, &records)
}

/// Like [`verify`], with each entry's own signature checked
/// ([`SignatureCheck::Every`]): for `audit report`, whose transcript says of each
/// ceremony whether its signature verified.
pub fn verify_every(store: &impl LogStore, env: &str, key: &PublicKey) -> Result<Verification> {
    let records: Vec<crate::seal::SealRecord> = store.records()?.into_iter().flatten().collect();
    collected(store, env, key, &records, SignatureCheck::Every)
}

/// Like [`verify`], with the store's records already read (their log heads are anchors).
pub fn verify_with(
    store: &impl LogStore,
    env: &str,
    key: &PublicKey,
    records: &[crate::seal::SealRecord],
) -> Result<Verification> {
    collected(store, env, key, records, SignatureCheck::Checkpoints)
}

/// The log head a seal record holds: an anchor the end of its environment's log is
/// held to (a log found shorter, or different there, was cut or rewritten).
#[derive(Debug, Clone, Copy)]
pub struct RecordHead<'a> {
    /// The seal.
    pub seal: &'a str,
    /// Its environment.
    pub env: &'a str,
    /// The head of the log when its record was signed.
    pub head: &'a LogHead,
}

/// The log heads `records` hold.
pub fn record_heads<'a>(
    records: impl IntoIterator<Item = &'a crate::seal::SealRecord>,
) -> Vec<RecordHead<'a>> {
    records
        .into_iter()
        .filter_map(|r| {
            r.log_head.as_ref().map(|head| RecordHead {
                seal: &r.name,
                env: &r.env,
                head,
            })
        })
        .collect()
}

/// [`scan`], keeping every entry of the chain in `parsed` and its verdict in
/// `signatures`.
fn collected(
    store: &impl LogStore,
    env: &str,
    key: &PublicKey,
    records: &[crate::seal::SealRecord],
    check: SignatureCheck,
) -> Result<Verification> {
    let heads = record_heads(records);
    let mut keep = Collect::default();
    let mut v = scan(store, env, key, &heads, check, &mut keep)?;
    keep.signatures.resize(v.entries as usize, None);
    v.parsed = keep.parsed;
    v.signatures = keep.signatures;
    Ok(v)
}

/// Verifies the log of `env` with `key` in one streaming pass, giving each entry to
/// `visitor`: memory does not grow with the log (`parsed` and `signatures` stay
/// empty). `heads` are the log heads the store's records hold: anchors the end of the
/// log is held to.
pub fn scan(
    store: &impl LogStore,
    env: &str,
    key: &PublicKey,
    heads: &[RecordHead<'_>],
    check: SignatureCheck,
    visitor: &mut dyn Visitor,
) -> Result<Verification> {
    scan_with_state(store, env, key, heads, check, visitor).map(|(v, _)| v)
}

/// What identifies a log that verified: its length, the hash of its last line, and the
/// SHA-256 (hex) of its head file (`None` when absent). Every line carries the hash of
/// the one before it, so the last line's hash stands for the whole chain: a log of the
/// same length ending with the same line is that log, or one edited before its end,
/// whose chain no longer holds (which a full check reports). A view of the log is keyed
/// by it (zeroth's cache of `list`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogState {
    /// The log's length in bytes.
    pub len: u64,
    /// The hash of its last line ([`link_hash`]); the genesis hash when empty.
    pub last: String,
    /// The SHA-256 of the head file's bytes.
    pub head: Option<String>,
}

/// The state of the log of `env` as it is now: `None` when there is no log.
pub fn log_state(store: &impl LogStore, env: &str) -> Result<Option<LogState>> {
    let path = log_path(store, env);
    let file = match crate::files::open_regular(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("read", &path, e)),
    };
    let len = file
        .metadata()
        .map_err(|e| Error::io("read", &path, e))?
        .len();
    let mut lines = ReverseLines::new(file).map_err(|e| Error::io("read", &path, e))?;
    let last = match lines.next_line().map_err(|e| Error::io("read", &path, e))? {
        Some(line) => line_hash(line),
        None => genesis(env),
    };
    let head = read_head(store, env)?.as_deref().map(head_hash);
    Ok(Some(LogState { len, last, head }))
}

/// The bytes of the head file of `env`, `None` when there is none.
fn read_head(store: &impl LogStore, env: &str) -> Result<Option<Vec<u8>>> {
    let hp = head_path(store, env);
    match crate::files::read_regular(&hp) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("read", &hp, e)),
    }
}

/// The SHA-256 (hex) of a head file's bytes, as [`LogState`] keeps it.
fn head_hash(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// [`scan`], with the state of the log it read ([`LogState`]) when one pass sufficed
/// (a damaged log is read twice, and gives none) and the log exists.
pub fn scan_with_state(
    store: &impl LogStore,
    env: &str,
    key: &PublicKey,
    heads: &[RecordHead<'_>],
    check: SignatureCheck,
    visitor: &mut dyn Visitor,
) -> Result<(Verification, Option<LogState>)> {
    visitor.start();
    let (v, again, state) = pass(store, env, key, heads, check, visitor)?;
    if !again {
        return Ok((v, state));
    }
    visitor.start();
    let (v, _, _) = pass(store, env, key, heads, SignatureCheck::Every, visitor)?;
    Ok((v, None))
}

/// Signatures verified together, on every core.
const BATCH: usize = 4096;

/// Entries of a full pass waiting for their batch's signatures.
struct Batch {
    entries: Vec<(Entry, Option<usize>)>,
    items: Vec<(usize, Vec<u8>, Vec<u8>)>,
}

/// One pass over the log. Returns the verification, whether a checkpoint pass found
/// damage and the log must be read again with every signature, and the state of the
/// log it read (`None` when there is none).
fn pass(
    store: &impl LogStore,
    env: &str,
    key: &PublicKey,
    heads: &[RecordHead<'_>],
    check: SignatureCheck,
    visitor: &mut dyn Visitor,
) -> Result<(Verification, bool, Option<LogState>)> {
    let path = log_path(store, env);
    let mut anchors = Anchors::read(store, env, key, heads)?;
    let mut lines = Lines::open(&path)?;
    let mut walk = Walk::new(env, key, check, path.clone(), &anchors, visitor);
    while lines.next_line()? {
        walk.line(&lines.line, lines.count - 1);
    }
    walk.flush();
    walk.v.entries = lines.count as u64;
    let state = lines.state(&walk.prev_hash, anchors.digest.take());
    walk.sequence_damage();
    if !walk.checkpoint() {
        return Ok((walk.v, true, state));
    }
    walk.v.damage = walk.first_damage();
    if walk.v.damage.is_none() {
        walk.v.damage = anchors.end_damage(store, env, walk.v.entries, &walk.hash_at);
    }
    if walk.v.damage.is_none() {
        walk.unsigned_tail();
    }
    Ok((walk.v, false, state))
}

/// The lines of a log, read one at a time into one buffer.
struct Lines<'p> {
    /// The log file, for errors.
    path: &'p Path,
    /// `None` when there is no log.
    reader: Option<std::io::BufReader<File>>,
    /// The line last read, without its newline.
    line: Vec<u8>,
    /// Bytes read.
    len: u64,
    /// Lines read.
    count: usize,
}

impl<'p> Lines<'p> {
    /// Opens the log at `path`; a log that does not exist has no lines.
    fn open(path: &'p Path) -> Result<Lines<'p>> {
        let file = match crate::files::open_regular(path) {
            Ok(f) => Some(f),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(Error::io("read", path, e)),
        };
        Ok(Lines {
            path,
            reader: file.map(|f| std::io::BufReader::with_capacity(1 << 20, f)),
            line: Vec::new(),
            len: 0,
            count: 0,
        })
    }

    /// Reads the next line into `line`; `false` at the end of the log.
    fn next_line(&mut self) -> Result<bool> {
        let Some(r) = self.reader.as_mut() else {
            return Ok(false);
        };
        self.line.clear();
        let n = r
            .read_until(b'\n', &mut self.line)
            .map_err(|e| Error::io("read", self.path, e))?;
        if n == 0 {
            return Ok(false);
        }
        self.len += n as u64;
        if self.line.last() == Some(&b'\n') {
            self.line.pop();
        }
        self.count += 1;
        Ok(true)
    }

    /// The state of the log read, whose last line hashes to `last` (`None`: no log).
    fn state(&self, last: &str, head: Option<String>) -> Option<LogState> {
        self.reader.is_some().then(|| LogState {
            len: self.len,
            last: last.to_string(),
            head,
        })
    }
}

/// The anchors the end of a log is held to: its signed head, and the heads the seal
/// records saw.
struct Anchors {
    /// The head file.
    path: PathBuf,
    /// The SHA-256 of the head file's bytes (`None` when there is none).
    digest: Option<String>,
    /// The head file, checked (`None` when there is none).
    head: Option<Result<HeadFile>>,
    /// Each head the log is held to, with who holds it, in words.
    heads: Vec<(LogHead, String)>,
}

impl Anchors {
    /// Reads the head file of `env`, and takes the heads its records saw from `heads`.
    fn read(
        store: &impl LogStore,
        env: &str,
        key: &PublicKey,
        heads: &[RecordHead<'_>],
    ) -> Result<Anchors> {
        let path = head_path(store, env);
        let head_bytes = read_head(store, env)?;
        let digest = head_bytes.as_deref().map(head_hash);
        let head = head_bytes.map(|bytes| {
            check_head(&bytes, env, key).map_err(|why| {
                LogError::HeadInvalid {
                    path: path.clone(),
                    why,
                }
                .into()
            })
        });
        let mut anchors: Vec<(LogHead, String)> = Vec::new();
        if let Some(Ok(h)) = &head {
            anchors.push((
                LogHead {
                    seq: h.seq,
                    hash: h.hash.clone(),
                },
                format!("its signed head {}", path.display()),
            ));
        }
        for h in heads {
            if h.env == env {
                anchors.push((h.head.clone(), format!("seal record '{}'", h.seal)));
            }
        }
        Ok(Anchors {
            path,
            digest,
            head,
            heads: anchors,
        })
    }

    /// The damage at the end of a log of `last` entries, its hashes in `hash_at`.
    fn end_damage(
        &self,
        store: &impl LogStore,
        env: &str,
        last: u64,
        hash_at: &std::collections::HashMap<u64, Option<String>>,
    ) -> Option<Damage> {
        match &self.head {
            Some(Err(e)) => {
                return Some(Damage {
                    seq: last,
                    kind: DamageKind::Edited,
                    detail: e.message().to_string(),
                });
            }
            None if last > 0 || store.declares(env) => {
                return Some(Damage {
                    seq: 1,
                    kind: DamageKind::Truncated,
                    detail: format!(
                        "{} is missing: the log's end cannot be vouched for",
                        self.path.display()
                    ),
                });
            }
            _ => {}
        }
        for (head, source) in &self.heads {
            if head.seq > last {
                return Some(Damage {
                    seq: last + 1,
                    kind: DamageKind::Truncated,
                    detail: format!(
                        "the log ends at entry {last} but {source} says it reached entry {}: entries {} to {} were cut off",
                        head.seq,
                        last + 1,
                        head.seq
                    ),
                });
            }
            if head.seq > 0
                && hash_at.get(&head.seq).cloned().flatten().as_deref() != Some(head.hash.as_str())
            {
                return Some(Damage {
                    seq: head.seq,
                    kind: DamageKind::Edited,
                    detail: format!(
                        "entry {} is not the one {source} saw: the log was rewritten from there",
                        head.seq
                    ),
                });
            }
        }
        None
    }
}

/// What a pass carries from one line of the log to the next.
struct Walk<'a> {
    key: &'a PublicKey,
    visitor: &'a mut dyn Visitor,
    /// The verification so far.
    v: Verification,
    /// The first line that breaks the chain.
    chain_damage: Option<(usize, Damage)>,
    /// Damage that does not break the chain (an unsigned success): the pass goes on, so
    /// the entries after it are still read and shown.
    claim_damage: Option<(usize, Damage)>,
    /// The first entry whose own signature does not verify (a full pass).
    sig_damage: Option<(usize, Damage)>,
    /// A line out of sequence: its index, the sequence number expected there, the one
    /// it holds, and whether a later line holds the one expected (reordered) or none
    /// does (removed).
    missing: Option<(usize, u64, u64, bool)>,
    /// The hash of the last line the chain holds to.
    prev_hash: String,
    /// The hashes of the lines at the anchors' sequence numbers, once read.
    hash_at: std::collections::HashMap<u64, Option<String>>,
    /// Unsigned entries: index, sequence number, and why.
    unsigned_at: Vec<(usize, u64, String)>,
    last_time: Option<time::OffsetDateTime>,
    /// Checkpoints: the last signed line (its index and bytes).
    last_signed: Option<(usize, Vec<u8>)>,
    /// Every: the last line whose own signature verified.
    last_valid: Option<usize>,
    batch: Batch,
    /// After the chain breaks, a full pass still hands the later entries (the one that
    /// broke it too) to `Visitor::beyond`, each with its own signature checked.
    beyond: bool,
}

impl<'a> Walk<'a> {
    /// A pass over the log of `env` at `path`, before its first line.
    fn new(
        env: &str,
        key: &'a PublicKey,
        check: SignatureCheck,
        path: PathBuf,
        anchors: &Anchors,
        visitor: &'a mut dyn Visitor,
    ) -> Walk<'a> {
        Walk {
            key,
            visitor,
            v: Verification {
                env: env.to_string(),
                path,
                entries: 0,
                signed: 0,
                checked: 0,
                check,
                time_backwards: Vec::new(),
                unsigned_covered: Vec::new(),
                key: key.fingerprint(),
                damage: None,
                signatures: Vec::new(),
                parsed: Vec::new(),
            },
            chain_damage: None,
            claim_damage: None,
            sig_damage: None,
            missing: None,
            prev_hash: genesis(env),
            hash_at: anchors.heads.iter().map(|(h, _)| (h.seq, None)).collect(),
            unsigned_at: Vec::new(),
            last_time: None,
            last_signed: None,
            last_valid: None,
            batch: Batch {
                entries: Vec::new(),
                items: Vec::new(),
            },
            beyond: false,
        }
    }

    /// Whether every entry's own signature is checked.
    fn every(&self) -> bool {
        self.v.check == SignatureCheck::Every
    }

    /// Whether the chain has broken: a line that does not link, or one out of sequence.
    fn broke(&self) -> bool {
        self.chain_damage.is_some() || self.missing.is_some()
    }

    /// Takes in a line: checked while the chain holds, handed on after it broke.
    fn line(&mut self, line: &[u8], index: usize) {
        if self.every() && self.batch.items.len() >= BATCH {
            self.flush();
        }
        self.look_for_missing(line);
        if self.broke() {
            if self.beyond
                && let Ok(entry) = serde_json::from_slice::<Entry>(line)
            {
                self.batch.push(entry, line, index);
            }
            return;
        }
        let broken = self.follow(line, index);
        if self.every() && self.broke() {
            self.flush();
            self.beyond = true;
            if let Some(entry) = broken {
                self.batch.push(entry, line, index);
            }
        }
    }

    /// Notes whether `line` holds the entry missing from its place (moved, not removed).
    fn look_for_missing(&mut self, line: &[u8]) {
        if let Some((_, expected, _, found)) = &mut self.missing
            && !*found
            && seq_of(line) == Some(*expected)
        {
            *found = true;
        }
    }

    /// Checks a line and takes it in; else the entry that broke the chain, if kept.
    fn follow(&mut self, line: &[u8], index: usize) -> Option<Entry> {
        let entry: Entry = match serde_json::from_slice(line) {
            Ok(e) => e,
            Err(e) => {
                self.chain_damage = damage_at(
                    index,
                    DamageKind::Edited,
                    format!("line {} is not a valid log entry ({e})", index + 1),
                );
                return None;
            }
        };
        if !self.link(&entry, index) {
            return Some(entry);
        }
        let Some((_, signed)) = sig_member(line) else {
            self.chain_damage = damage_at(
                index,
                DamageKind::Edited,
                format!("entry {} does not end with its 'sig' member", index + 1),
            );
            return None;
        };
        if !self.claim(&entry, signed, index) {
            return Some(entry);
        }
        self.take(entry, signed, line, index);
        None
    }

    /// Checks the entry's sequence number, environment and link; `false`: broken.
    fn link(&mut self, entry: &Entry, index: usize) -> bool {
        let expected = index as u64 + 1;
        if entry.seq != expected {
            self.missing = Some((index, expected, entry.seq, false));
            return false;
        }
        if entry.env != self.v.env {
            self.chain_damage = damage_at(
                index,
                DamageKind::Spliced,
                format!(
                    "entry {expected} belongs to environment '{}', not '{}'",
                    entry.env, self.v.env
                ),
            );
            return false;
        }
        if entry.prev != self.prev_hash {
            self.chain_damage = Some((
                index.saturating_sub(1),
                Damage {
                    seq: expected.saturating_sub(1).max(1),
                    kind: DamageKind::Edited,
                    detail: format!(
                        "entry {expected} links to a line other than the one before it: entry {} was changed or replaced",
                        expected.saturating_sub(1).max(1)
                    ),
                },
            ));
            return false;
        }
        true
    }

    /// Checks the entry's signature: this key's, or none for a reason; `false`: broken.
    fn claim(&mut self, entry: &Entry, signed: bool, index: usize) -> bool {
        let expected = index as u64 + 1;
        if signed {
            if entry.key.as_deref() != Some(self.v.key.as_str()) {
                self.chain_damage = damage_at(
                    index,
                    DamageKind::SignedByAnotherKey,
                    format!(
                        "entry {expected} is signed by {}, not by environment '{}' key {}",
                        entry.key.as_deref().unwrap_or("an unnamed key"),
                        self.v.env,
                        self.v.key
                    ),
                );
                return false;
            }
            return true;
        }
        if entry.outcome == Outcome::Ok
            && !may_be_unsigned(&entry.event)
            && self.claim_damage.is_none()
        {
            self.claim_damage = damage_at(
                index,
                DamageKind::UnsignedSuccess,
                format!(
                    "entry {expected} claims a successful {} without a signature: zeroth signs every successful ceremony that uses the HSM, so the line was written by hand",
                    entry.event
                ),
            );
        }
        let Some(why) = &entry.unsigned else {
            self.chain_damage = damage_at(
                index,
                DamageKind::Unsigned,
                format!(
                    "entry {expected} has no signature and says no reason: its signature was removed"
                ),
            );
            return false;
        };
        self.unsigned_at.push((index, expected, why.clone()));
        true
    }

    /// Takes in an entry the chain holds to: its time, its line's hash, its signature.
    fn take(&mut self, entry: Entry, signed: bool, line: &[u8], index: usize) {
        let expected = index as u64 + 1;
        if let Ok(t) = clock::parse_instant(&entry.time) {
            if self.last_time.is_some_and(|l| t < l) {
                self.v.time_backwards.push(expected);
            }
            self.last_time = Some(t);
        }
        self.prev_hash = line_hash(line);
        if let Some(h) = self.hash_at.get_mut(&expected) {
            *h = Some(self.prev_hash.clone());
        }
        match self.v.check {
            SignatureCheck::Checkpoints if signed => {
                let kept = self.last_signed.get_or_insert_with(|| (index, Vec::new()));
                kept.0 = index;
                kept.1.clear();
                kept.1.extend_from_slice(line);
                self.v.signed += 1;
                self.visitor.entry(entry, Attested::Covered);
            }
            SignatureCheck::Checkpoints => self.visitor.entry(entry, Attested::Unsigned),
            SignatureCheck::Every => self.batch.push(entry, line, index),
        }
    }

    /// Verifies the signatures of a full pass's batch and hands its entries on.
    fn flush(&mut self) {
        let results = verify_parallel(self.key, &self.batch.items);
        for (entry, at) in self.batch.entries.drain(..) {
            let attested = match at {
                None => Attested::Unsigned,
                Some(k) if results[k] => {
                    if !self.beyond {
                        self.v.signed += 1;
                        self.last_valid = Some(self.batch.items[k].0);
                    }
                    Attested::Signed
                }
                Some(k) => {
                    let i = self.batch.items[k].0;
                    if !self.beyond && self.sig_damage.is_none() {
                        self.sig_damage = damage_at(
                            i,
                            DamageKind::Edited,
                            format!(
                                "entry {} does not match its signature: it was changed after it was signed",
                                i + 1
                            ),
                        );
                    }
                    Attested::Bad
                }
            };
            if self.beyond {
                self.visitor.beyond(entry, attested);
            } else {
                self.visitor.entry(entry, attested);
            }
        }
        self.v.checked += self.batch.items.len() as u64;
        self.batch.items.clear();
    }

    /// Names the damage a line out of sequence did: entries removed, or reordered.
    fn sequence_damage(&mut self) {
        let Some((index, expected, found_seq, elsewhere)) = self.missing else {
            return;
        };
        let (kind, detail) = if found_seq > expected && !elsewhere {
            (
                DamageKind::Removed,
                format!(
                    "entries {expected} to {} are missing: line {} holds entry {found_seq}",
                    found_seq - 1,
                    index + 1
                ),
            )
        } else {
            (
                DamageKind::Reordered,
                format!(
                    "line {} holds entry {found_seq} where entry {expected} belongs",
                    index + 1
                ),
            )
        };
        self.chain_damage = Some((
            index,
            Damage {
                seq: expected,
                kind,
                detail,
            },
        ));
    }

    /// Checks a checkpoint pass's last signed line; `false`: read the log again.
    fn checkpoint(&mut self) -> bool {
        if self.v.check != SignatureCheck::Checkpoints {
            return true;
        }
        if self.chain_damage.is_some() || self.claim_damage.is_some() {
            return false;
        }
        if let Some((index, line)) = &self.last_signed {
            self.v.checked = 1;
            if !line_verifies(line, self.key) {
                return false;
            }
            self.last_valid = Some(*index);
        }
        true
    }

    /// The damage found on the earliest line: to the chain, to a signature, or a claim.
    fn first_damage(&mut self) -> Option<Damage> {
        [
            self.chain_damage.take(),
            self.sig_damage.take(),
            self.claim_damage.take(),
        ]
        .into_iter()
        .flatten()
        .min_by_key(|(i, _)| *i)
        .map(|(_, d)| d)
    }

    /// Unsigned entries: covered if a signed entry follows, else the tail is unattested.
    fn unsigned_tail(&mut self) {
        for (index, seq, why) in self.unsigned_at.drain(..) {
            if self.last_valid.is_some_and(|l| l > index) {
                self.v.unsigned_covered.push(seq);
            } else if self.v.damage.is_none() {
                self.v.damage = Some(Damage {
                    seq,
                    kind: DamageKind::Unsigned,
                    detail: format!(
                        "entry {seq} and any after it are not signed ({why}); the next signed ceremony, or 'zeroth audit attest', covers them"
                    ),
                });
            }
        }
    }
}

/// Damage of `kind` to the line at `index`, as a pass notes it.
fn damage_at(index: usize, kind: DamageKind, detail: String) -> Option<(usize, Damage)> {
    Some((
        index,
        Damage {
            seq: index as u64 + 1,
            kind,
            detail,
        },
    ))
}

impl Batch {
    /// Adds an entry of a full pass, its signature (if it has one) to be checked.
    fn push(&mut self, entry: Entry, line: &[u8], index: usize) {
        let at = match split_sig(line) {
            Some((message, Some(sig))) => {
                let der = base64::engine::general_purpose::STANDARD
                    .decode(sig)
                    .unwrap_or_default();
                self.items.push((index, message, der));
                Some(self.items.len() - 1)
            }
            _ => None,
        };
        self.entries.push((entry, at));
    }
}

/// What is wrong with the entries after the token's log `anchor` of `env` (after the
/// first entry when there is no anchor), if anything: an entry that does not follow
/// the one before it, is signed by another key, does not match its signature, or is an
/// unsigned success. `None` when a new entry may be signed over them. A ceremony
/// refuses to begin while there is a problem; [`append`] checks again under its lock.
pub fn tail_problem(
    store: &impl LogStore,
    env: &str,
    key: &PublicKey,
    anchor: Option<&(u64, String)>,
) -> Result<Option<String>> {
    let path = log_path(store, env);
    let file = match crate::files::open_regular(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("read", &path, e)),
    };
    tail_problem_in(&file, env, key, anchor).map_err(|e| Error::io("read", &path, e))
}

fn tail_problem_in(
    file: &File,
    env: &str,
    key: &PublicKey,
    anchor: Option<&(u64, String)>,
) -> std::io::Result<Option<String>> {
    let lines = match lines_after(file, anchor.map(|a| a.0))? {
        Ok(lines) => lines,
        // A log with no entry yet (an `env init` begun again on a token that kept the
        // anchor of the first attempt): nothing to sign over.
        Err(false) => return Ok(None),
        Err(true) => {
            return Ok(Some(format!(
                "the log does not hold entry {}, the last one the token signed",
                anchor.map(|a| a.0).unwrap_or(0)
            )));
        }
    };
    let (mut expected, mut prev) = match anchor {
        Some((seq, hash)) => (seq + 1, hash.clone()),
        None => (1, genesis(env)),
    };
    let mut lines = lines.into_iter();
    if let Some((seq, hash)) = anchor {
        let first = lines.next().unwrap_or_default();
        if line_hash(&first) != *hash {
            return Ok(Some(format!(
                "entry {seq} is not the one the token signed there"
            )));
        }
    }
    let fp = key.fingerprint();
    for line in lines {
        // A fragment a crash left is stepped over by the chain and reported by
        // `audit verify`; it is never vouched for.
        let Ok(entry) = serde_json::from_slice::<Entry>(&line) else {
            continue;
        };
        let at = format!("entry {}", entry.seq);
        let problem = if entry.seq != expected {
            Some(format!("{at} stands where entry {expected} belongs"))
        } else if entry.env != env {
            Some(format!("{at} belongs to environment '{}'", entry.env))
        } else if entry.prev != prev {
            Some(format!("{at} does not link to the entry before it"))
        } else {
            match sig_member(&line) {
                None => Some(format!("{at} does not end with its 'sig' member")),
                Some((_, true)) if entry.key.as_deref() != Some(fp.as_str()) => {
                    Some(format!("{at} is signed by another key"))
                }
                Some((_, true)) if !line_verifies(&line, key) => {
                    Some(format!("{at} does not match its signature"))
                }
                Some((_, false))
                    if entry.unsigned.is_none()
                        || (entry.outcome == Outcome::Ok && !may_be_unsigned(&entry.event)) =>
                {
                    Some(format!(
                        "{at} is unsigned and claims what only a signed entry can"
                    ))
                }
                _ => None,
            }
        };
        if problem.is_some() {
            return Ok(problem);
        }
        prev = line_hash(&line);
        expected += 1;
    }
    Ok(None)
}

/// The lines of the log from the line holding entry `seq` on (that line first), read
/// from the end ([`ReverseLines`]); every line when `seq` is `None`. `None` when no line
/// holds entry `seq`: then whether the log holds any entry at all.
fn lines_after(
    file: &File,
    seq: Option<u64>,
) -> std::io::Result<std::result::Result<Vec<Vec<u8>>, bool>> {
    let mut lines = ReverseLines::new(file.try_clone()?)?;
    let mut out = Vec::new();
    let mut any_entry = false;
    while let Some(line) = lines.next_line()? {
        let found = seq_of(line);
        any_entry |= found.is_some();
        out.push(line.to_vec());
        if seq.is_some() && found == seq {
            out.reverse();
            return Ok(Ok(out));
        }
    }
    if seq.is_some() {
        return Ok(Err(any_entry));
    }
    out.reverse();
    Ok(Ok(out))
}

/// Returns true if and only if a successful `event` may be logged unsigned: only what
/// needs no HSM (recording an offboarding without a PIN at hand). Every other
/// ceremony succeeds only with the HSM open, and signs its entry.
pub fn may_be_unsigned(event: &str) -> bool {
    matches!(event, "custodian-offboard")
}

fn check_head(bytes: &[u8], env: &str, key: &PublicKey) -> std::result::Result<HeadFile, String> {
    let head: HeadFile =
        serde_json::from_slice(bytes).map_err(|e| format!("not a valid head file ({e})"))?;
    if head.env != env {
        return Err(format!(
            "the head of environment '{}', not '{env}'",
            head.env
        ));
    }
    let sig = head.sig.clone().ok_or("the head is not signed")?;
    let mut unsigned = head.clone();
    unsigned.sig = None;
    let mut message = HEAD_DOMAIN.to_vec();
    message.extend(serde_json::to_vec(&unsigned).unwrap_or_default());
    let der = base64::engine::general_purpose::STANDARD
        .decode(sig)
        .unwrap_or_default();
    if !key.verify(&message, &der) {
        return Err(
            "the head does not match its signature: it was edited or signed by another key".into(),
        );
    }
    Ok(head)
}

fn verify_parallel(key: &PublicKey, items: &[(usize, Vec<u8>, Vec<u8>)]) -> Vec<bool> {
    crate::cores::map(items, |(_, m, s)| key.verify(m, s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signed_part_of_a_line_is_the_line_without_its_sig_member() {
        let (message, sig) = split_sig(br#"{"seq":1,"x":"a,\"sig\":b","sig":"QUJD"}"#).unwrap();
        assert_eq!(sig.as_deref(), Some("QUJD"));
        assert_eq!(
            message,
            b"zeroth-audit-v1\n{\"seq\":1,\"x\":\"a,\\\"sig\\\":b\"}".to_vec()
        );
        let (_, none) = split_sig(br#"{"seq":1,"sig":null}"#).unwrap();
        assert!(none.is_none());
        assert!(
            split_sig(br#"{"seq":1,"sig":"QUJD","x":1}"#).is_none(),
            "sig must be last"
        );
        assert!(split_sig(br#"{"seq":1,"sig":"QU\"JD"}"#).is_none());
    }

    #[test]
    fn the_last_line_is_found_whatever_the_window() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log");
        let long = "x".repeat(200_000);
        std::fs::write(&p, format!("{{\"seq\":1}}\n{long}\n")).unwrap();
        let (last, torn) = last_line(&mut File::open(&p).unwrap()).unwrap();
        assert_eq!(last.unwrap().len(), 200_000);
        assert!(!torn);
        std::fs::write(&p, "{\"seq\":1}\n{\"seq\":2}\n{\"se").unwrap();
        let (last, torn) = last_line(&mut File::open(&p).unwrap()).unwrap();
        assert_eq!(last.unwrap(), b"{\"seq\":2}");
        assert!(torn);
        std::fs::write(&p, "{\"se").unwrap();
        assert_eq!(
            last_line(&mut File::open(&p).unwrap()).unwrap(),
            (None, true)
        );
        std::fs::write(&p, "").unwrap();
        assert_eq!(
            last_line(&mut File::open(&p).unwrap()).unwrap(),
            (None, false)
        );
    }

    #[test]
    fn lines_read_from_the_end_are_the_lines_read_from_the_start() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log");
        let long = "y".repeat(300_000);
        for text in [
            String::new(),
            "a".into(),
            "a\n".into(),
            "a\nb".into(),
            "a\nb\n".into(),
            format!("{long}\nb\n{long}\n"),
            format!("x\n{long}{long}\nz"),
        ] {
            std::fs::write(&p, &text).unwrap();
            let mut r = ReverseLines::new(File::open(&p).unwrap()).unwrap();
            let mut got = Vec::new();
            while let Some(l) = r.next_line().unwrap() {
                got.push(l.to_vec());
            }
            got.reverse();
            let want: Vec<Vec<u8>> = text
                .split('\n')
                .filter(|l| !l.is_empty())
                .map(|l| l.as_bytes().to_vec())
                .collect();
            assert_eq!(got, want);
        }
    }

    #[test]
    fn details_are_one_line_without_control_characters() {
        assert_eq!(
            one_line("refused:\n  - a\n  - b\x1b[2J\n"),
            "refused:; - a; - b[2J"
        );
    }
}
