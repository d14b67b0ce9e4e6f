//! `audit show`.

use std::fmt::Write as _;

use serde_json::json;

use super::{envs, key_for};
use crate::audit::{self, Entry, Verification};
use crate::ceremony::{Context, Report};
use crate::clock;
use crate::error::Result;
use crate::store::Store;

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
    let cut_detail = std::io::IsTerminal::is_terminal(&std::io::stdout());
    for env in envs(&store, env)? {
        let (key, _) = key_for(ctx, &store, &env, None)?;
        let v = audit::verify(&store, &env, &key)?;
        if let Some(d) = &v.damage {
            notes.push_str(&format!(
                "warning: the log of '{env}' is damaged at entry {} ({}): {}\n",
                d.seq,
                d.kind.name(),
                crate::text::clean(&d.detail)
            ));
        }
        for (i, e) in v.parsed.iter().enumerate() {
            if seal.is_some_and(|s| e.seal.as_deref() != Some(s)) {
                continue;
            }
            if let Some(since) = since
                && clock::parse_instant(&e.time).is_ok_and(|t| t < since)
            {
                continue;
            }
            let sig = signature_word(&v, i);
            rows.push(row(&env, e, sig, &v, cut_detail));
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

/// One entry's row of the table, each value from the log with its control characters
/// escaped.
fn row(env: &str, e: &Entry, sig: &str, v: &Verification, cut_detail: bool) -> [String; 11] {
    let mut custodians = e.custodians.join(",");
    for r in &e.rejected {
        let _ = write!(
            custodians,
            "{}{}(refused)",
            if custodians.is_empty() { "" } else { "," },
            r.custodian.as_deref().unwrap_or("?")
        );
    }
    let c = |s: &str| crate::text::clean(s).into_owned();
    [
        env.to_string(),
        e.seq.to_string(),
        c(&e.time),
        c(&e.event),
        e.seal.as_deref().map(c).unwrap_or_else(|| "-".into()),
        match (e.version, e.set) {
            (Some(v), Some(s)) => format!("v{v}/s{s}"),
            _ => "-".into(),
        },
        e.outcome.name().to_string(),
        if v.time_backwards.contains(&e.seq) {
            format!("{sig},time<")
        } else {
            sig.to_string()
        },
        c(&format!("{}@{}", e.operator, e.host)),
        if custodians.is_empty() {
            "-".into()
        } else {
            c(&custodians)
        },
        // Cut to fit a terminal; whole when read by a program or a file.
        if cut_detail {
            c(&e.detail.chars().take(100).collect::<String>())
        } else {
            c(&e.detail)
        },
    ]
}
