//! Reading the ceremony log: `audit verify`, `audit show` and `audit report`. None of
//! them needs the HSM or a PIN: the environment's public key is enough.

use std::fmt::Write as _;
use std::path::Path;

use serde_json::json;

use crate::audit::{self, Entry, Verification};
use crate::ceremony::{Context, Report};
use crate::clock;
use crate::error::{Error, Result};
use crate::hsm::PublicKey;
use crate::store::Store;

fn key_for(store: &Store, env: &str, pubkey: Option<&Path>) -> Result<PublicKey> {
    match pubkey {
        Some(p) => {
            let pem = std::fs::read_to_string(p).map_err(|e| Error::io("read", p, e))?;
            PublicKey::from_pem(&pem, &p.display().to_string())
        }
        None => crate::governance::env_key(store, env).map_err(|e| match e {
            Error::Refused(m) => Error::Refused(format!(
                "{m}; verify with --pubkey FILE and a key you trust"
            )),
            other => other,
        }),
    }
}

fn envs(store: &Store, env: Option<&str>) -> Result<Vec<String>> {
    match env {
        Some(e) => {
            store.env(e)?;
            Ok(vec![e.to_string()])
        }
        None => Ok(store.config().env.keys().cloned().collect()),
    }
}

fn summary(v: &Verification) -> String {
    let mut s = format!(
        "{}: {} entries in {}, checked against {}",
        v.env,
        v.entries,
        v.path.display(),
        v.key
    );
    match &v.damage {
        None => {
            s.push_str(&format!(": valid, {} signed", v.signed));
            if !v.unsigned_covered.is_empty() {
                s.push_str(&format!(
                    "; {} unsigned (entries {}) covered by later signed entries",
                    v.unsigned_covered.len(),
                    join_seqs(&v.unsigned_covered)
                ));
            }
        }
        Some(d) => s.push_str(&format!(
            "\n  DAMAGED at entry {}: {}: {}",
            d.seq,
            d.kind.name(),
            d.detail
        )),
    }
    s.push('\n');
    s
}

fn join_seqs(seqs: &[u64]) -> String {
    seqs.iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// `audit verify`: every link and signature of each log; exit 0 only when all are whole.
pub fn verify(ctx: &Context, env: Option<&str>, pubkey: Option<&Path>) -> Result<Report> {
    let store = Store::open(&ctx.store)?;
    let envs = envs(&store, env)?;
    if pubkey.is_some() && envs.len() != 1 {
        return Err(Error::Usage(
            "--pubkey checks one environment's log: add --env ENV".into(),
        ));
    }
    let mut text = String::new();
    let mut results = Vec::new();
    let mut damaged = 0;
    for env in &envs {
        let key = key_for(&store, env, pubkey)?;
        let v = audit::verify(&store, env, &key)?;
        text.push_str(&summary(&v));
        if !v.ok() {
            damaged += 1;
        }
        results.push(v);
    }
    if envs.is_empty() {
        text.push_str("no environments, no logs\n");
    }
    let mut report = Report::new(text, json!({ "logs": results }));
    if damaged > 0 {
        eprintln!(
            "zeroth: {damaged} of {} logs failed verification",
            envs.len()
        );
        report.exit_code = 3;
    }
    Ok(report)
}

fn signature_word(v: &Verification, index: usize) -> &'static str {
    match v.signatures.get(index).copied().flatten() {
        Some(true) => "signed",
        Some(false) => "BAD",
        None => "unsigned",
    }
}

/// `audit show`: the entries, filtered, as a table or JSON.
pub fn show(
    ctx: &Context,
    env: Option<&str>,
    seal: Option<&str>,
    since: Option<&str>,
) -> Result<Report> {
    let store = Store::open(&ctx.store)?;
    let since = since.map(clock::parse_instant).transpose()?;
    let mut rows = vec![
        [
            "ENV",
            "SEQ",
            "TIME",
            "EVENT",
            "SEAL",
            "V/SET",
            "OUTCOME",
            "SIG",
            "OPERATOR",
            "CUSTODIANS",
            "DETAIL",
        ]
        .map(String::from),
    ];
    let mut json_entries = Vec::new();
    let mut notes = String::new();
    for env in envs(&store, env)? {
        let key = key_for(&store, &env, None)?;
        let v = audit::verify(&store, &env, &key)?;
        if let Some(d) = &v.damage {
            notes.push_str(&format!(
                "warning: the log of '{env}' is damaged at entry {} ({}): {}\n",
                d.seq,
                d.kind.name(),
                d.detail
            ));
        }
        for (i, e) in v.parsed.iter().enumerate() {
            if seal.is_some_and(|s| e.seal.as_deref() != Some(s)) {
                continue;
            }
            if let Some(since) = since {
                if clock::parse_instant(&e.time).is_ok_and(|t| t < since) {
                    continue;
                }
            }
            let sig = signature_word(&v, i);
            let mut custodians = e.custodians.join(",");
            for r in &e.rejected {
                let _ = write!(
                    custodians,
                    "{}{}(refused)",
                    if custodians.is_empty() { "" } else { "," },
                    r.custodian.as_deref().unwrap_or("?")
                );
            }
            rows.push([
                env.clone(),
                e.seq.to_string(),
                e.time.clone(),
                e.event.clone(),
                e.seal.clone().unwrap_or_else(|| "-".into()),
                match (e.version, e.set) {
                    (Some(v), Some(s)) => format!("v{v}/s{s}"),
                    _ => "-".into(),
                },
                e.outcome.name().to_string(),
                sig.to_string(),
                format!("{}@{}", e.operator, e.host),
                if custodians.is_empty() {
                    "-".into()
                } else {
                    custodians
                },
                e.detail.chars().take(100).collect(),
            ]);
            let mut value = serde_json::to_value(e).unwrap_or_default();
            if let Some(obj) = value.as_object_mut() {
                obj.insert("signature".into(), json!(sig.to_lowercase()));
            }
            json_entries.push(value);
        }
    }
    let mut text = if rows.len() == 1 {
        "no entries\n".to_string()
    } else {
        crate::table(&rows)
    };
    text.push_str(&notes);
    if !notes.is_empty() {
        eprint!("{notes}");
    }
    Ok(Report::new(text, json!({ "entries": json_entries })))
}

/// `audit report SEAL`: a Markdown transcript of every ceremony of one seal, for an
/// auditor to file — what a key-ceremony script records, produced from the log.
pub fn report(ctx: &Context, seal: &str) -> Result<Report> {
    let store = Store::open(&ctx.store)?;
    let record = store.read_record(seal)?;
    let env = record.env.clone();
    let key = key_for(&store, &env, None)?;
    let record_ok = crate::ceremony::verify_record(&store, &record, Some(&key)).map(|_| ());
    let v = audit::verify(&store, &env, &key)?;
    let cfg = store.env(&env)?;
    let now = clock::format(clock::now()?);
    let entries: Vec<(usize, &Entry)> = v
        .parsed
        .iter()
        .enumerate()
        .filter(|(_, e)| e.seal.as_deref() == Some(seal))
        .collect();

    let mut md = String::new();
    let _ = writeln!(md, "# Ceremony transcript: `{seal}` ({env})\n");
    let _ = writeln!(md, "| | |\n| --- | --- |");
    let rows: Vec<(&str, String)> = vec![
        ("Seal", format!("`{}` (id `{}`)", record.name, record.id)),
        (
            "Environment",
            format!("{env}: token '{}', serial {}", cfg.token, cfg.serial),
        ),
        ("Owner", record.owner.clone()),
        ("Purpose", record.purpose.clone()),
        (
            "Current state",
            format!(
                "version {}, share set {}, {} of {} custodians ({})",
                record.version,
                record.set,
                record.threshold,
                record.custodians.len(),
                record
                    .custodians
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ),
        (
            "HSM key",
            format!("`{}` ({})", record.key.label, record.key.mechanism),
        ),
        (
            "Record",
            format!(
                "`{}`, {}",
                record
                    .signed_bytes()
                    .map(|b| audit::fingerprint(&b))
                    .unwrap_or_default(),
                match &record_ok {
                    Ok(()) => "signature verified".to_string(),
                    Err(e) => format!("**signature NOT verified**: {}", e.message()),
                }
            ),
        ),
        (
            "Signing key",
            format!(
                "`{}` ({})",
                key.fingerprint(),
                store.public_key_path(&env).display()
            ),
        ),
        (
            "Log",
            format!(
                "{}, {} entries: {}",
                v.path.display(),
                v.entries,
                match &v.damage {
                    None => "whole, every entry attested".to_string(),
                    Some(d) => format!(
                        "**DAMAGED** at entry {} ({}): {}",
                        d.seq,
                        d.kind.name(),
                        d.detail
                    ),
                }
            ),
        ),
        (
            "Produced",
            format!("{now} by {} on {}", audit::operator(), audit::host()),
        ),
    ];
    for (k, val) in rows {
        let _ = writeln!(md, "| {k} | {} |", val.replace('|', "\\|"));
    }
    let _ = writeln!(md, "\n## Ceremonies\n");
    if entries.is_empty() {
        let _ = writeln!(md, "The log holds no ceremony of this seal.");
    }
    for (n, (i, e)) in entries.iter().enumerate() {
        let _ = writeln!(md, "### {}. {} — {}\n", n + 1, e.event, e.time);
        let mut item = |k: &str, val: String| {
            let _ = writeln!(md, "- **{k}**: {val}");
        };
        item("Log entry", format!("{} of {}", e.seq, v.path.display()));
        item("Outcome", e.outcome.name().to_string());
        item("Operator", format!("{} on {}", e.operator, e.host));
        if let (Some(ver), Some(set)) = (e.version, e.set) {
            item("Version / set", format!("{ver} / {set}"));
        }
        item(
            "Custodians present",
            if e.custodians.is_empty() {
                "none".into()
            } else {
                e.custodians.join(", ")
            },
        );
        for r in &e.rejected {
            item(
                "Share refused",
                format!(
                    "{} ({}): {}",
                    r.custodian.as_deref().unwrap_or("unknown custodian"),
                    r.file,
                    r.reason
                ),
            );
        }
        if let Some(r) = &e.record {
            item("Record", format!("`{r}`"));
        }
        if let Some(k) = &e.key_label {
            item("HSM key", format!("`{k}`"));
        }
        item(
            "Signature",
            match v.signatures.get(*i).copied().flatten() {
                Some(true) => format!("verified, key `{}`", e.key.as_deref().unwrap_or("?")),
                Some(false) => "**INVALID**".into(),
                None if v.unsigned_covered.contains(&e.seq) => format!(
                    "unsigned ({}); covered by a later signed entry",
                    e.unsigned.as_deref().unwrap_or("no reason given")
                ),
                None => format!(
                    "**unsigned** ({})",
                    e.unsigned.as_deref().unwrap_or("no reason given")
                ),
            },
        );
        item("Detail", e.detail.clone());
        md.push('\n');
    }
    let all_good = v.ok() && record_ok.is_ok();
    let _ = writeln!(
        md,
        "## Conclusion\n\n{}",
        if all_good {
            "Every signature verified: the record and each ceremony above are as the HSM signed them."
        } else {
            "**Verification failed**: see the Record and Log rows above. Do not rely on this transcript."
        }
    );
    let mut report = Report::new(
        md,
        json!({
            "seal": seal,
            "env": env,
            "verified": all_good,
            "entries": entries.iter().map(|(_, e)| e).collect::<Vec<_>>(),
        }),
    );
    if !all_good {
        report.exit_code = 3;
    }
    Ok(report)
}
