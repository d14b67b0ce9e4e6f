//! The ceremony log for the systems that watch it: `audit export` writes it in a SIEM's
//! format (OCSF JSON, CEF, RFC 5424 syslog), and `audit follow` streams new entries as
//! JSON lines from a stored position, for a log shipper. Every entry carries what its
//! signature is worth (`signed`: its own signature verifies with the environment's
//! pinned key; `unsigned`; `bad`).

use std::io::{BufRead, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::audit::{self, Entry, Outcome};
use crate::ceremony::{Context, Report};
use crate::clock;
use crate::error::{Error, LogError, Result};
use crate::key::PublicKey;
use crate::store::Store;

/// The formats of `audit export`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// OCSF 1.5 events of class Entity Management (3004), one JSON object per line.
    Ocsf,
    /// ArcSight Common Event Format, one event per line.
    Cef,
    /// RFC 5424 syslog lines, the entry in structured data.
    Syslog,
}

/// The OCSF version the events follow.
const OCSF_VERSION: &str = "1.5.0";

/// What an entry's signature is worth, in words.
fn signature(line: &[u8], entry: &Entry, key: &PublicKey) -> &'static str {
    match &entry.sig {
        None => "unsigned",
        Some(_) if audit::line_verifies(line, key) => "signed",
        Some(_) => "bad",
    }
}

/// An entry as `audit follow` writes it: the entry's members, then `signature`.
fn follow_line(env: &str, entry: &Entry, sig: &str) -> Result<String> {
    let mut v = serde_json::to_value(entry).map_err(|source| LogError::EntryExport {
        env: env.to_string(),
        seq: entry.seq,
        source,
    })?;
    if let Some(o) = v.as_object_mut() {
        o.insert("signature".into(), json!(sig));
    }
    Ok(v.to_string())
}

fn millis(time: &str) -> i64 {
    clock::parse_instant(time)
        .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
        .unwrap_or(0)
}

/// OCSF activity of a ceremony: what it does to the seal.
fn activity(event: &str) -> (u8, &'static str) {
    match event {
        "generate" | "import" | "vault-init" => (1, "Create"),
        "unseal" | "drill" | "delivery" | "vault-unseal" | "vault-root" | "revoke-drill" => {
            (2, "Read")
        }
        "rekey"
        | "rekey-confirm"
        | "rotate"
        | "rotate-confirm"
        | "vault-rotate"
        | "vault-rotate-confirm"
        | "settings-approve"
        | "attest"
        | "owner-offboard"
        | "owner-transfer"
        | "reach"
        | "access" => (3, "Update"),
        "revoke" => (4, "Delete"),
        _ => (99, "Other"),
    }
}

/// OCSF severity: a refusal is worth a look, a failure less so, a success is news.
fn severity(outcome: Outcome) -> (u8, &'static str) {
    match outcome {
        Outcome::Ok => (1, "Informational"),
        Outcome::Failed => (2, "Low"),
        Outcome::Refused => (3, "Medium"),
    }
}

fn ocsf(env: &str, e: &Entry, sig: &str) -> serde_json::Value {
    let (activity_id, activity_name) = activity(&e.event);
    let (severity_id, severity_name) = severity(e.outcome);
    let target = e.seal.clone().unwrap_or_else(|| env.to_string());
    json!({
        "activity_id": activity_id,
        "activity_name": activity_name,
        "category_uid": 3,
        "category_name": "Identity & Access Management",
        "class_uid": 3004,
        "class_name": "Entity Management",
        "type_uid": 300400 + u32::from(activity_id),
        "type_name": format!("Entity Management: {activity_name}"),
        "severity_id": severity_id,
        "severity": severity_name,
        "status_id": if e.outcome == Outcome::Ok { 1 } else { 2 },
        "status": if e.outcome == Outcome::Ok { "Success" } else { "Failure" },
        "status_detail": e.detail,
        "time": millis(&e.time),
        "message": format!("{} {} of '{target}': {}", e.event, e.outcome.name(), e.detail),
        "metadata": {
            "version": OCSF_VERSION,
            "product": {
                "name": "zeroth",
                "vendor_name": "zeroth",
                "version": env!("CARGO_PKG_VERSION"),
            },
            "uid": format!("{env}:{}", e.seq),
            "log_name": format!("zeroth ceremony log of '{env}'"),
            "sequence": e.seq,
        },
        "actor": { "user": { "name": e.operator } },
        "device": { "hostname": e.host, "type_id": 0 },
        "entity": {
            "name": target,
            "type": if e.seal.is_some() { "seal" } else { "environment" },
            "version": match (e.version, e.set) {
                (Some(v), Some(s)) => Some(format!("v{v}/set {s}")),
                _ => None,
            },
        },
        "comment": e.detail,
        "unmapped": {
            "zeroth": {
                "env": env,
                "seq": e.seq,
                "event": e.event,
                "outcome": e.outcome.name(),
                "signature": sig,
                "record": e.record,
                "key_label": e.key_label,
                "custodians": e.custodians,
                "refused_shares": e.rejected.len(),
                "operator_from": e.operator_from,
            }
        },
    })
}

/// A CEF header field: `\` and `|` escaped.
fn cef_header(s: &str) -> String {
    s.replace('\\', "\\\\").replace('|', "\\|")
}

/// A CEF extension value: `\`, `=` and line breaks escaped.
fn cef_value(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('=', "\\=")
        .replace('\r', "\\r")
        .replace('\n', "\\n")
}

fn cef(env: &str, e: &Entry, sig: &str) -> String {
    // CEF severity 0-10.
    let sev = match e.outcome {
        Outcome::Ok => 3,
        Outcome::Failed => 5,
        Outcome::Refused => 7,
    };
    let target = e.seal.clone().unwrap_or_else(|| env.to_string());
    let name = format!("{} {} of {target}", e.event, e.outcome.name());
    let mut ext = vec![
        ("rt", millis(&e.time).to_string()),
        ("suser", e.operator.clone()),
        ("shost", e.host.clone()),
        ("outcome", e.outcome.name().to_string()),
        ("msg", e.detail.clone()),
        ("cs1Label", "env".into()),
        ("cs1", env.to_string()),
        ("cs2Label", "seal".into()),
        ("cs2", e.seal.clone().unwrap_or_default()),
        ("cs3Label", "signature".into()),
        ("cs3", sig.to_string()),
        ("cs4Label", "custodians".into()),
        ("cs4", e.custodians.join(",")),
        ("cn1Label", "seq".into()),
        ("cn1", e.seq.to_string()),
    ];
    if let Some(r) = &e.record {
        ext.push(("cs5Label", "record".into()));
        ext.push(("cs5", r.clone()));
    }
    let ext: Vec<String> = ext
        .into_iter()
        .map(|(k, v)| format!("{k}={}", cef_value(&v)))
        .collect();
    format!(
        "CEF:0|zeroth|zeroth|{}|{}|{}|{sev}|{}",
        cef_header(env!("CARGO_PKG_VERSION")),
        cef_header(&e.event),
        cef_header(&name),
        ext.join(" ")
    )
}

/// An RFC 5424 structured-data parameter value: `"`, `\` and `]` escaped.
fn sd_value(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace(']', "\\]")
}

/// An RFC 5424 header field: printable US-ASCII without spaces, at most `max`
/// characters, `-` when empty.
fn header_field(s: &str, max: usize) -> String {
    let v: String = s
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(max)
        .collect();
    if v.is_empty() { "-".into() } else { v }
}

fn syslog(env: &str, e: &Entry, sig: &str) -> String {
    // Facility authpriv (10); severity informational, warning or error.
    let severity = match e.outcome {
        Outcome::Ok => 6,
        Outcome::Refused => 4,
        Outcome::Failed => 3,
    };
    let target = e.seal.clone().unwrap_or_else(|| env.to_string());
    let params = [
        ("env", env.to_string()),
        ("seq", e.seq.to_string()),
        ("event", e.event.clone()),
        ("seal", e.seal.clone().unwrap_or_default()),
        ("outcome", e.outcome.name().to_string()),
        ("operator", e.operator.clone()),
        ("signature", sig.to_string()),
        ("record", e.record.clone().unwrap_or_default()),
    ];
    let sd: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", sd_value(v)))
        .collect();
    let text = crate::text::clean(&e.detail);
    format!(
        "<{}>1 {} {} zeroth - {} [zeroth@32473 {}] {} {} of '{target}': {text}",
        10 * 8 + severity,
        e.time,
        header_field(&e.host, 255),
        header_field(&e.event, 32),
        sd.join(" "),
        e.event,
        e.outcome.name()
    )
}

/// `audit export`: every entry of each environment's log, each with its signature's
/// worth, in `format`, one per line; a damaged log is said on stderr.
pub fn export(
    ctx: &Context,
    env: Option<&str>,
    format: Format,
    since: Option<&str>,
) -> Result<Report> {
    let store = Store::open(&ctx.store)?;
    let since = since.map(clock::parse_instant).transpose()?;
    let envs: Vec<String> = match env {
        Some(e) => {
            store.env(e)?;
            vec![e.to_string()]
        }
        None => store.config().env.keys().cloned().collect(),
    };
    let mut out = String::new();
    let mut count = 0usize;
    for env in &envs {
        let (key, _) = ctx.trust.env_key(&store, env, None)?;
        let v = audit::verify_every(&store, env, &key)?;
        if let Some(d) = &v.damage {
            eprintln!(
                "warning: the log of '{env}' is damaged at entry {} ({}): {}; exported up to there",
                d.seq,
                d.kind.name(),
                crate::text::clean(&d.detail)
            );
        }
        for (i, e) in v.parsed.iter().enumerate() {
            if let Some(since) = since
                && clock::parse_instant(&e.time).is_ok_and(|t| t < since)
            {
                continue;
            }
            let sig = match v.signatures.get(i).copied().flatten() {
                Some(true) => "signed",
                Some(false) => "bad",
                None => "unsigned",
            };
            let line = match format {
                Format::Ocsf => ocsf(env, e, sig).to_string(),
                Format::Cef => cef(env, e, sig),
                Format::Syslog => syslog(env, e, sig),
            };
            out.push_str(&line);
            out.push('\n');
            count += 1;
        }
    }
    Ok(Report::new(out, json!({ "exported": count, "envs": envs })))
}

/// Where `audit follow` stopped: the last entry it wrote (its sequence number and line
/// hash) and the byte offset after it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Position {
    env: String,
    seq: u64,
    hash: String,
    offset: u64,
}

fn read_position(path: &Path, env: &str) -> Result<Option<Position>> {
    match std::fs::read(path) {
        Ok(bytes) => {
            let p: Position = serde_json::from_slice(&bytes).map_err(|source| {
                LogError::FollowStateUnreadable {
                    path: path.to_path_buf(),
                    source,
                }
            })?;
            if p.env != env {
                return Err(LogError::FollowStateOtherEnv {
                    path: path.to_path_buf(),
                    found: p.env,
                    env: env.to_string(),
                }
                .into());
            }
            Ok(Some(p))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("read", path, e)),
    }
}

fn write_position(path: &Path, p: &Position) -> Result<()> {
    let text = serde_json::to_vec(p).map_err(|source| LogError::FollowStateEncode { source })?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let fail = |e: std::io::Error| Error::io("write", path, e);
    let mut tmp = tempfile::Builder::new()
        .prefix(".zeroth-follow")
        .tempfile_in(&dir)
        .map_err(fail)?;
    tmp.write_all(&text).map_err(fail)?;
    tmp.persist(path).map_err(|e| fail(e.error))?;
    Ok(())
}

/// `audit follow`: writes each entry of `env`'s log after the position in `state` (all
/// of them without one) as a JSON line, the entry with its `signature`, and stores the
/// position after each batch (an entry written just before a crash may be written
/// again: at least once). Each new entry must follow the one before it; a log cut or
/// rewritten under the position stops it (exit 3); a line that is no entry (a fragment a
/// crash left) is stepped over with a warning. With `once`, it returns when it has caught up;
/// else it looks for new entries every `interval`.
pub fn follow(
    ctx: &Context,
    env: &str,
    state: Option<&Path>,
    once: bool,
    interval: std::time::Duration,
) -> Result<Report> {
    let store = Store::open(&ctx.store)?;
    store.env(env)?;
    let (key, _) = ctx.trust.env_key(&store, env, None)?;
    // Nothing written yet: before the first entry, which links to the genesis hash.
    let start = Position {
        env: env.to_string(),
        seq: 0,
        hash: audit::genesis_hash(env),
        offset: 0,
    };
    let mut pos = match state {
        Some(p) => read_position(p, env)?.unwrap_or(start),
        None => start,
    };
    let path = audit::log_path(&store, env);
    let stdout = std::io::stdout();
    let mut written = 0u64;
    loop {
        let file = match crate::store::open_regular(&path) {
            Ok(f) => Some(f),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(Error::io("read", &path, e)),
        };
        if let Some(mut file) = file {
            let len = file
                .metadata()
                .map_err(|e| Error::io("read", &path, e))?
                .len();
            if len < pos.offset {
                return Err(LogError::FollowLogShorter {
                    path: path.clone(),
                    offset: pos.offset,
                    seq: pos.seq,
                }
                .into());
            }
            file.seek(SeekFrom::Start(pos.offset))
                .map_err(|e| Error::io("read", &path, e))?;
            let mut reader = std::io::BufReader::new(file);
            let mut line = Vec::new();
            let mut batch = String::new();
            let mut next = pos.clone();
            loop {
                line.clear();
                let n = reader
                    .read_until(b'\n', &mut line)
                    .map_err(|e| Error::io("read", &path, e))?;
                // A line still being written is read on a later round.
                if n == 0 || line.last() != Some(&b'\n') {
                    break;
                }
                next.offset += n as u64;
                line.pop();
                let Ok(entry) = serde_json::from_slice::<Entry>(&line) else {
                    // A fragment a crash left (the next entry starts on its own line and
                    // links to the one before the fragment): stepped over, and said. A
                    // rewritten log is caught by the next entry's link.
                    eprintln!(
                        "warning: {}: the line after entry {} is not a log entry (a fragment a crash left?); skipped; zeroth audit verify names it",
                        path.display(),
                        next.seq
                    );
                    continue;
                };
                if entry.seq != next.seq + 1 || entry.prev != next.hash || entry.env != env {
                    return Err(LogError::FollowLogRewritten {
                        path: path.clone(),
                        seq: entry.seq,
                        after: next.seq,
                    }
                    .into());
                }
                let sig = signature(&line, &entry, &key);
                batch.push_str(&follow_line(env, &entry, sig)?);
                batch.push('\n');
                next.seq = entry.seq;
                next.hash = audit::link_hash(&line);
                written += 1;
            }
            if !batch.is_empty() {
                let mut out = stdout.lock();
                out.write_all(batch.as_bytes())
                    .and_then(|()| out.flush())
                    .map_err(|source| LogError::StdoutWrite { source })?;
            }
            if next.offset != pos.offset {
                if let Some(p) = state {
                    write_position(p, &next)?;
                }
                pos = next;
            }
        }
        if once {
            break;
        }
        std::thread::sleep(interval);
    }
    Ok(Report::new(
        String::new(),
        json!({ "followed": written, "seq": pos.seq }),
    ))
}
