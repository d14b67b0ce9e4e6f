//! `audit verify`.

use std::path::Path;

use serde_json::json;

use super::{envs, key_for, source_words};
use crate::audit::{self, Verification};
use crate::ceremony::{Context, Report};
use crate::error::{Error, Result};
use crate::store::Store;
use crate::trust::KeySource;

fn summary(v: &Verification, source: &KeySource) -> String {
    let mut s = format!(
        "{}: {} entries in {}, checked against {} ({})",
        v.env,
        v.entries,
        v.path.display(),
        v.key,
        source_words(source)
    );
    match &v.damage {
        None => {
            s.push_str(&format!(": valid, {} signed", v.signed));
            s.push_str(&match v.check {
                audit::SignatureCheck::Every => format!(" ({} signatures checked)", v.checked),
                audit::SignatureCheck::Checkpoints if v.checked > 0 => format!(
                    " (the last signed entry's signature checked, and the chain that ties it to every line before it; --every-signature checks all {})",
                    v.signed
                ),
                audit::SignatureCheck::Checkpoints => String::new(),
            });
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
            crate::text::clean(&d.detail)
        )),
    }
    if !v.time_backwards.is_empty() {
        s.push_str(&format!(
            "\n  note: the time goes backwards at entries {} (a wrong clock, or lines written by hand)",
            join_seqs(&v.time_backwards)
        ));
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
pub fn verify(
    ctx: &Context,
    env: Option<&str>,
    pubkey: Option<&Path>,
    check: audit::SignatureCheck,
) -> Result<Report> {
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
        let (key, source) = key_for(ctx, &store, env, pubkey)?;
        let records: Vec<crate::seal::SealRecord> =
            store.records()?.into_iter().flatten().collect();
        let heads = audit::record_heads(&records);
        let v = audit::scan(&store, env, &key, &heads, check, &mut audit::Ignore)?;
        text.push_str(&summary(&v, &source));
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
