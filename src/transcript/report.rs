//! `audit report SEAL`: a seal's ceremony transcript, in Markdown.

use std::fmt::Write as _;

use serde_json::json;

use super::{key_for, source_words};
use crate::audit::{self, Entry, Verification};
use crate::ceremony::{Context, Report};
use crate::clock;
use crate::error::{Error, Result};
use crate::handin::RemoteLog;
use crate::key::PublicKey;
use crate::seal::SealRecord;
use crate::store::{EnvConfig, Store};
use crate::text::{code, md};
use crate::trust::KeySource;

/// `audit report SEAL`: a Markdown transcript of every ceremony of one seal, for an
/// auditor to file — what a key-ceremony script records, produced from the log. Every
/// value from the store or the log is escaped; unsigned entries are marked as what they
/// are: claims nobody vouches for.
pub fn report(ctx: &Context, seal: &str) -> Result<Report> {
    crate::names::check(crate::names::NameKind::Seal, seal)?;
    let store = Store::open(&ctx.store)?;
    let record = store.read_record(seal)?;
    let env = record.env.clone();
    let cfg = store.env(&env)?;
    let (key, source) = key_for(ctx, &store, &env, None)?;
    let record_ok = crate::ceremony::verify_record_with(&store, &record, &key);
    let stale = match &record_ok {
        Ok(()) => crate::ceremony::refuse_stale(&store, &record, &key).err(),
        Err(_) => None,
    };
    let v = audit::verify_every(&store, &env, &key)?;
    let now = clock::format(clock::now()?);
    let entries: Vec<(usize, &Entry)> = v
        .parsed
        .iter()
        .enumerate()
        .filter(|(_, e)| e.seal.as_deref() == Some(seal))
        .collect();

    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Ceremony transcript: {} ({}){}\n",
        code(seal),
        md(&env),
        if record.revoked.is_some() {
            " — REVOKED"
        } else {
            ""
        }
    );
    out.push_str(&summary_block(&record, &entries, &v));
    let _ = writeln!(out, "| | |\n| --- | --- |");
    let verdict = record_verdict(&record_ok, &stale);
    for (k, val) in about_rows(&store, &record, cfg, &key, &source, verdict, &v, &now) {
        let _ = writeln!(out, "| {k} | {val} |");
    }
    let _ = writeln!(out, "\n## Ceremonies\n");
    if entries.is_empty() {
        let _ = writeln!(out, "The log holds no ceremony of this seal.");
    }
    let mut unsigned = 0;
    for (n, (i, e)) in entries.iter().enumerate() {
        let signature = v.signatures.get(*i).copied().flatten();
        if signature.is_none() {
            unsigned += 1;
        }
        let _ = writeln!(
            out,
            "### {}. {} — {}{}\n",
            n + 1,
            md(&e.event),
            md(&e.time),
            if signature.is_none() {
                " (UNSIGNED: not evidence)"
            } else {
                ""
            }
        );
        for (k, val) in ceremony_items(e, signature, &v) {
            let _ = writeln!(out, "- **{k}**: {val}");
        }
        out.push('\n');
    }
    let all_good = v.ok() && record_ok.is_ok() && stale.is_none();
    let _ = writeln!(out, "## Conclusion\n\n{}", conclusion(all_good, unsigned));
    out.push_str(SIGN_OFF);
    let mut report = Report::new(
        out,
        json!({
            "seal": seal,
            "revoked": record.revoked.is_some(),
            "remote": remotely(&entries)
                .into_iter()
                .map(|(who, events)| json!({"custodian": who, "ceremonies": events}))
                .collect::<Vec<_>>(),
            "participation": participation(&entries)
                .into_iter()
                .map(|(who, p)| json!({"custodian": who, "accepted": p.accepted, "refused": p.refused}))
                .collect::<Vec<_>>(),
            "env": env,
            "verified": all_good,
            "unsigned_entries": unsigned,
            "entries": entries.iter().map(|(_, e)| e).collect::<Vec<_>>(),
        }),
    );
    if !all_good {
        report.exit_code = 3;
    }
    Ok(report)
}

/// What the report says of the record: whether its signature verified, and whether it
/// is the current one.
fn record_verdict(record_ok: &Result<()>, stale: &Option<Error>) -> String {
    match (record_ok, stale) {
        (Ok(()), None) => "signature verified".to_string(),
        (Ok(()), Some(e)) => format!("signature verified, but **STALE**: {}", md(&e.message())),
        (Err(e), _) => format!("**signature NOT verified**: {}", md(&e.message())),
    }
}

/// The table under the summary: the seal, its environment and token, its state, the
/// record (`verdict`: see [`record_verdict`]), the signing key and the log checked, and
/// when the report was produced.
#[allow(clippy::too_many_arguments)]
fn about_rows(
    store: &Store,
    record: &SealRecord,
    cfg: &EnvConfig,
    key: &PublicKey,
    source: &KeySource,
    verdict: String,
    v: &Verification,
    now: &str,
) -> Vec<(&'static str, String)> {
    let env = &record.env;
    vec![
        (
            "Seal",
            format!("{} (id {})", code(&record.name), code(&record.id)),
        ),
        (
            "Environment",
            format!(
                "{}: token '{}', serial {}",
                md(env),
                md(&cfg.token),
                md(&cfg.serial)
            ),
        ),
        ("Owner", md(&record.owner)),
        ("Purpose", md(&record.purpose)),
        (
            "Current state",
            format!(
                "version {}, share set {}, {} of {} custodians ({}){}",
                record.version,
                record.set,
                record.threshold,
                record.custodians.len(),
                record
                    .custodians
                    .iter()
                    .map(|c| md(&c.name))
                    .collect::<Vec<_>>()
                    .join(", "),
                if record.revoked.is_some() {
                    "; **REVOKED**"
                } else {
                    ""
                }
            ),
        ),
        (
            "HSM key",
            format!("{} ({})", code(&record.key.label), record.key.mechanism),
        ),
        (
            "Record",
            format!(
                "{}, {}",
                code(
                    &record
                        .signed_bytes()
                        .map(|b| audit::fingerprint(&b))
                        .unwrap_or_default()
                ),
                verdict
            ),
        ),
        (
            "Signing key",
            format!(
                "{} ({}; {})",
                code(&key.fingerprint()),
                md(&store.public_key_path(env).display().to_string()),
                md(&source_words(source))
            ),
        ),
        (
            "Log",
            format!(
                "{}, {} entries: {}",
                md(&v.path.display().to_string()),
                v.entries,
                match &v.damage {
                    None => "whole, every entry attested".to_string(),
                    Some(d) => format!(
                        "**DAMAGED** at entry {} ({}): {}",
                        d.seq,
                        d.kind.name(),
                        md(&d.detail)
                    ),
                }
            ),
        ),
        (
            "Produced",
            format!(
                "{now} by {} on {}",
                md(&audit::operator()),
                md(&audit::host())
            ),
        ),
    ]
}

/// The items of one ceremony in the report: its log entry, who ran it and who was
/// present, what was collected remotely and what was refused, and its signature.
fn ceremony_items(
    e: &Entry,
    signature: Option<bool>,
    v: &Verification,
) -> Vec<(&'static str, String)> {
    let mut items = vec![
        (
            "Log entry",
            format!("{} of {}", e.seq, md(&v.path.display().to_string())),
        ),
        ("Outcome", e.outcome.name().to_string()),
        (
            "Operator",
            format!("{} on {}", md(&e.operator), md(&e.host)),
        ),
    ];
    if let (Some(ver), Some(set)) = (e.version, e.set) {
        items.push(("Version / set", format!("{ver} / {set}")));
    }
    if let Some(op) = &e.operation {
        items.push(("Operation", code(op)));
    }
    items.push((
        "Custodians present",
        if e.custodians.is_empty() {
            "none".into()
        } else {
            e.custodians
                .iter()
                .map(|c| md(c))
                .collect::<Vec<_>>()
                .join(", ")
        },
    ));
    if !is_handover(e) && (!e.custodians.is_empty() || !e.rejected.is_empty()) {
        items.push((
            "Presenters",
            format!(
                "{} accepted, {} refused",
                e.custodians.len(),
                e.rejected.len()
            ),
        ));
    }
    if let Some(status) = consumer_status(e) {
        items.push(("Consumer exit status", status));
    }
    if let Some(r) = &e.remote {
        items.extend(remote_items(r));
    }
    for r in &e.rejected {
        items.push((
            "Share refused",
            format!(
                "{} ({}): {}",
                md(r.custodian.as_deref().unwrap_or("unknown custodian")),
                md(&r.file),
                md(&r.reason)
            ),
        ));
    }
    if let Some(r) = &e.record {
        items.push(("Record", code(r)));
    }
    if let Some(k) = &e.key_label {
        items.push(("HSM key", code(k)));
    }
    if v.time_backwards.contains(&e.seq) {
        items.push((
            "Time",
            "**earlier than the entry before it** (a wrong clock, or a line written by hand)"
                .into(),
        ));
    }
    items.push(("Signature", signature_words(e, signature, v)));
    items.push(("Detail", md(&e.detail)));
    items
}

/// The items of a ceremony's remote collection: the request, who was in the room, each
/// hand-in and what became of it.
fn remote_items(r: &RemoteLog) -> Vec<(&'static str, String)> {
    let mut items = vec![(
        "Remote collection",
        format!(
            "ceremony {} for {}, request {}, hand-ins encrypted to {} until {}",
            code(&r.ceremony),
            md(&r.purpose),
            code(&r.request),
            code(&r.recipient),
            md(&r.expires)
        ),
    )];
    if !r.in_room.is_empty() {
        items.push((
            "In the room",
            r.in_room
                .iter()
                .map(|c| md(c))
                .collect::<Vec<_>>()
                .join(", "),
        ));
    }
    for h in &r.hand_ins {
        items.push((
            "Hand-in",
            format!(
                "{} from {}, received {} by {}: {}",
                code(&h.fingerprint),
                md(h.custodian.as_deref().unwrap_or("unknown custodian")),
                md(&h.received),
                md(&h.via),
                match &h.reason {
                    None => h.outcome.clone(),
                    Some(why) => format!("**{}**: {}", md(&h.outcome), md(why)),
                }
            ),
        ));
    }
    if r.refused_not_kept > 0 {
        items.push((
            "Hand-ins refused and not kept",
            format!(
                "{} more (the entry keeps the first {} refused)",
                r.refused_not_kept,
                crate::handin::MAX_REFUSED_KEPT
            ),
        ));
    }
    items
}

/// What a ceremony's signature is worth: verified (and by which key), invalid, or
/// absent, which the chain alone cannot make up for.
fn signature_words(e: &Entry, signature: Option<bool>, v: &Verification) -> String {
    match signature {
        Some(true) => format!("verified, key {}", code(e.key.as_deref().unwrap_or("?"))),
        Some(false) => "**INVALID**".into(),
        None if v.unsigned_covered.contains(&e.seq) => format!(
            "**UNSIGNED** ({}); chained under a later signed entry, but nothing vouches for what it says",
            md(e.unsigned.as_deref().unwrap_or("no reason given"))
        ),
        None => format!(
            "**UNSIGNED** ({})",
            md(e.unsigned.as_deref().unwrap_or("no reason given"))
        ),
    }
}

/// The report's conclusion: whether it can be relied on, and how many of its entries
/// nothing but the chain vouches for.
fn conclusion(all_good: bool, unsigned: usize) -> String {
    if !all_good {
        "**Verification failed**: see the Record and Log rows above. Do not rely on this transcript.".to_string()
    } else if unsigned > 0 {
        format!(
            "Every signature verified: the record and each signed ceremony above are as the HSM signed them. {unsigned} entr{} marked UNSIGNED {} not signed: nothing but the chain vouches for {}.",
            if unsigned == 1 { "y" } else { "ies" },
            if unsigned == 1 { "is" } else { "are" },
            if unsigned == 1 { "it" } else { "them" }
        )
    } else {
        "Every signature verified: the record and each ceremony above are as the HSM signed them."
            .to_string()
    }
}

/// The block an auditor, the operator and the witnesses sign, at the end of a report.
const SIGN_OFF: &str = "\n## Sign-off\n\nWe were present at, or have reviewed, the ceremonies above, and this transcript is a true record of them.\n\n| role | name | signature | date |\n| --- | --- | --- | --- |\n| Operator | | | |\n| Witness | | | |\n| Witness | | | |\n| Auditor | | | |\n";

/// What one custodian did in a seal's ceremonies.
#[derive(Default)]
struct Participation {
    /// Event names of the ceremonies where their share was accepted, in order.
    accepted: Vec<String>,
    /// Event names of the ceremonies where a share presented as theirs was refused.
    refused: Vec<String>,
}

/// Who took part in what, from the log entries of one seal.
fn participation(entries: &[(usize, &Entry)]) -> std::collections::BTreeMap<String, Participation> {
    let mut out: std::collections::BTreeMap<String, Participation> = Default::default();
    for (_, e) in entries.iter().filter(|(_, e)| !is_handover(e)) {
        for c in &e.custodians {
            out.entry(c.clone())
                .or_default()
                .accepted
                .push(e.event.clone());
        }
        for r in &e.rejected {
            let who = r.custodian.clone().unwrap_or_else(|| "(unknown)".into());
            out.entry(who).or_default().refused.push(e.event.clone());
        }
    }
    out
}

/// Who handed in their share remotely, and for which ceremonies: the accepted hand-ins
/// of the ceremonies that went on (not of a collection that closed without one).
fn remotely(entries: &[(usize, &Entry)]) -> std::collections::BTreeMap<String, Vec<String>> {
    let mut out: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for (_, e) in entries.iter().filter(|(_, e)| e.event != "remote-close") {
        let Some(r) = &e.remote else { continue };
        for h in r.hand_ins.iter().filter(|h| h.outcome == "accepted") {
            if let Some(c) = &h.custodian {
                out.entry(c.clone()).or_default().push(e.event.clone());
            }
        }
    }
    out
}

/// "generate, drill ×2": event names with how many times each, in first-seen order.
fn counted(events: &[String]) -> String {
    let mut seen: Vec<(&str, usize)> = Vec::new();
    for e in events {
        match seen.iter_mut().find(|(n, _)| n == e) {
            Some((_, k)) => *k += 1,
            None => seen.push((e, 1)),
        }
    }
    seen.iter()
        .map(|(n, k)| {
            if *k == 1 {
                md(n)
            } else {
                format!("{} ×{k}", md(n))
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The summary at the head of a report: the seal, its state, versions, custodians, the
/// ceremonies and who took part in what.
fn summary_block(
    record: &crate::seal::SealRecord,
    entries: &[(usize, &Entry)],
    v: &Verification,
) -> String {
    let mut out = String::from("## Summary\n\n");
    let rows = [
        (
            "Seal",
            format!(
                "{}, owner {}, environment {}: {}",
                code(&record.name),
                md(&record.owner),
                md(&record.env),
                md(&record.purpose)
            ),
        ),
        ("State", state_words(record)),
        ("Versions", versions(record).join("; ")),
        (
            "Custodians",
            format!(
                "any {} of {}: {}",
                record.threshold,
                record.custodians.len(),
                record
                    .custodians
                    .iter()
                    .map(|c| md(&c.name))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ),
        ("Ceremonies", ceremony_counts(entries, v)),
        (
            "Operators",
            operators(entries)
                .iter()
                .map(|(n, k)| format!("{} ({k})", md(n)))
                .collect::<Vec<_>>()
                .join(", "),
        ),
    ];
    for (k, val) in rows {
        let _ = writeln!(out, "- **{k}**: {val}");
    }
    let remote = remotely(entries);
    if !remote.is_empty() {
        let _ = writeln!(
            out,
            "- **Authorised remotely** (hand-ins accepted): {}",
            remote
                .iter()
                .map(|(who, events)| format!("{} ({})", md(who), counted(events)))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    out.push_str(&participation_table(entries));
    out.push('\n');
    out
}

/// The seal's state: revoked (when, by whom, why), or active, with a pending operation
/// if one awaits confirmation.
fn state_words(record: &crate::seal::SealRecord) -> String {
    match (&record.revoked, &record.pending) {
        (Some(r), _) => format!(
            "**REVOKED** at {} by {}: {}",
            md(&r.time),
            md(&r.operator),
            md(&r.reason)
        ),
        (None, Some(p)) => format!(
            "active; a {} ({}) awaits confirmation",
            md(p.kind.name()),
            code(&p.id)
        ),
        (None, None) => "active".to_string(),
    }
}

/// Every version and share set the seal has had, the current one last.
fn versions(record: &crate::seal::SealRecord) -> Vec<String> {
    let mut versions: Vec<String> = record
        .history
        .iter()
        .map(|h| {
            format!(
                "v{} set {} (sealed {}, retired {}: {})",
                h.version,
                h.set,
                md(&h.sealed),
                md(&h.retired),
                md(&h.why)
            )
        })
        .collect();
    versions.push(format!(
        "v{} set {} (current, sealed {})",
        record.version,
        record.set,
        md(&record.sealed)
    ));
    versions
}

/// How many ceremonies the log holds, by outcome, and how many are unsigned.
fn ceremony_counts(entries: &[(usize, &Entry)], v: &Verification) -> String {
    let (mut ok, mut refused, mut failed, mut unsigned) = (0, 0, 0, 0);
    for (i, e) in entries {
        match e.outcome {
            audit::Outcome::Ok => ok += 1,
            audit::Outcome::Refused => refused += 1,
            audit::Outcome::Failed => failed += 1,
        }
        if v.signatures.get(*i).copied().flatten().is_none() {
            unsigned += 1;
        }
    }
    format!(
        "{} in the log: {ok} ok, {refused} refused, {failed} failed; {unsigned} unsigned",
        entries.len()
    )
}

/// Who ran the ceremonies, with how many each, in first-seen order; an operator the
/// log does not name (its login name stands in) is marked so.
fn operators(entries: &[(usize, &Entry)]) -> Vec<(String, usize)> {
    let mut operators: Vec<(String, usize)> = Vec::new();
    for (_, e) in entries {
        let name = format!(
            "{}{}",
            e.operator,
            if audit::names_operator(e) {
                ""
            } else {
                " (login name, not named)"
            }
        );
        match operators.iter_mut().find(|(n, _)| *n == name) {
            Some((_, k)) => *k += 1,
            None => operators.push((name, 1)),
        }
    }
    operators
}

/// The table of which custodian's share was accepted or refused in which ceremonies;
/// nothing when no share was presented.
fn participation_table(entries: &[(usize, &Entry)]) -> String {
    let mut out = String::new();
    let parts = participation(entries);
    if !parts.is_empty() {
        let _ = writeln!(
            out,
            "\n| custodian | share accepted in | share refused in |\n| --- | --- | --- |"
        );
        for (who, p) in &parts {
            let _ = writeln!(
                out,
                "| {} | {} | {} |",
                md(who),
                if p.accepted.is_empty() {
                    "—".to_string()
                } else {
                    counted(&p.accepted)
                },
                if p.refused.is_empty() {
                    "—".to_string()
                } else {
                    counted(&p.refused)
                }
            );
        }
    }
    out
}

/// Returns true if and only if `e` records how a credential recovered by the entry
/// before it was handed over (its custodians are that entry's, not new presenters).
fn is_handover(e: &Entry) -> bool {
    matches!(e.event.as_str(), "delivery" | "rotate-deliver")
}

/// The exit status of the consumer a credential was handed to, for the log entries
/// that record a hand-over (`delivery`, `rotate-deliver`, `rotate-confirm`,
/// `vault-root-end`), as their detail states it.
fn consumer_status(e: &Entry) -> Option<String> {
    if !matches!(
        e.event.as_str(),
        "delivery" | "rotate-deliver" | "rotate-confirm" | "vault-root-end"
    ) {
        return None;
    }
    let d = &e.detail;
    if let Some(at) = d.find("killed by signal ") {
        let rest: String = d[at..]
            .chars()
            .take_while(|c| *c != ')' && *c != ';')
            .collect();
        return Some(md(&format!("{rest})")).replace("))", ")"));
    }
    let at = d.find("exited with ")?;
    let code: String = d[at + "exited with ".len()..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    (!code.is_empty()).then(|| {
        format!(
            "{code} ({})",
            if code == "0" { "success" } else { "failure" }
        )
    })
}
