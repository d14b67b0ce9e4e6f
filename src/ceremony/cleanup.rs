//! `cleanup --env ENV [--destroy]`: what interrupted ceremonies leave on a token.
//!
//! A key labelled `zeroth:<env>:…` that no record of this store references — neither
//! as a current K_seal nor as the K_seal of a pending operation — is a candidate. The
//! store is untrusted input, so a candidate is destroyed only when verified state says
//! it is dead, never merely because no record mentions it (a record can be deleted,
//! replaced by an old copy, or forged):
//!
//! - the seal's verified record is revoked, or its verified history retired that key
//!   (a revocation or a confirm cut short by a crash);
//! - the key is of a set newer than anything the seal's verified record knows, and the
//!   signed log holds no confirmation of that set (a rekey or rotation that crashed
//!   before its record was written, or a cancel cut short);
//! - no record of the seal exists and the signed log holds no successful generate or
//!   import of it (a generate that crashed before its record was written).
//!
//! Any other unreferenced key is listed with why it is kept. `cleanup` refuses while
//! any record fails to parse or any record of the environment fails to verify, while a
//! record is older than the log, and while the log is damaged. Stale pending operations
//! are listed too; they are dropped with `rekey|rotate SEAL --cancel ID`, not here.
//!
//! This assumes the store is the only one using the token (`env init --adopt` can make
//! two): another store's keys would look unreferenced.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::json;

use super::{Context, Guard, Report, refuse_stale, verify_record_with, with_env_session};
use crate::audit::{self, DamageKind, Draft, Outcome};
use crate::clock;
use crate::error::{CeremonyError, Result};
use crate::keystore::Key;
use crate::seal::SealRecord;

/// A key on the token no record references.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Orphan {
    /// `CKA_LABEL`.
    pub label: String,
    /// `CKA_ID`, hex.
    pub id: String,
    /// Why it may go, or why it is kept.
    pub why: String,
}

/// `zeroth:<env>:<seal>:v<version>:s<set>` → (seal, version, set).
fn parse_label<'l>(env: &str, label: &'l str) -> Option<(&'l str, u32, u32)> {
    let rest = label
        .strip_prefix("zeroth:")?
        .strip_prefix(env)?
        .strip_prefix(':')?;
    let (seal, vs) = rest.rsplit_once(":v")?;
    let (v, s) = vs.split_once(":s")?;
    Some((seal, v.parse().ok()?, s.parse().ok()?))
}

/// What the signed log says of the seals of one environment.
#[derive(Default)]
struct History {
    /// Seals with a successful, signed generate or import.
    created: BTreeSet<String>,
    /// (seal, set) with a successful, signed confirmation.
    confirmed: BTreeSet<(String, u32)>,
}

fn history(store: &crate::store::Store, env: &str, key: &crate::key::PublicKey) -> Result<History> {
    let v = audit::verify(store, env, key)?;
    if let Some(d) = &v.damage
        && d.kind != DamageKind::Unsigned
    {
        return Err(CeremonyError::CleanupLogDamaged {
            env: env.to_string(),
            seq: d.seq,
            damage: d.kind.name().to_string(),
            detail: d.detail.clone(),
        }
        .into());
    }
    let mut h = History::default();
    for (i, e) in v.parsed.iter().enumerate() {
        if e.outcome != Outcome::Ok || v.signatures.get(i).copied().flatten() != Some(true) {
            continue;
        }
        let Some(seal) = e.seal.clone() else { continue };
        match e.event.as_str() {
            "generate" | "import" => {
                h.created.insert(seal);
            }
            "rekey-confirm" | "rotate-confirm" => {
                if let Some(set) = e.set {
                    h.confirmed.insert((seal, set));
                }
            }
            _ => {}
        }
    }
    Ok(h)
}

/// Sorts the unreferenced keys of `env` into those that may go and those kept.
fn classify(
    keys: Vec<(Key, String, Vec<u8>)>,
    env: &str,
    records: &BTreeMap<String, SealRecord>,
    history: &History,
) -> (Vec<(Key, Orphan)>, Vec<Orphan>) {
    let mut referenced = BTreeSet::new();
    for record in records.values().filter(|r| r.revoked.is_none()) {
        referenced.insert((record.key.label.clone(), record.key.id.clone()));
        if let Some(p) = &record.pending {
            referenced.insert((p.key.label.clone(), p.key.id.clone()));
        }
    }
    let sign_label = crate::hsm::signing_label(env);
    let mut dead = Vec::new();
    let mut kept = Vec::new();
    for (h, label, id) in keys {
        let id = hex::encode(id);
        if label == sign_label || referenced.contains(&(label.clone(), id.clone())) {
            continue;
        }
        let verdict: std::result::Result<String, String> = match parse_label(env, &label) {
            None => Err("its label is not one zeroth gives a seal's key".into()),
            Some((seal, version, set)) => match records.get(seal) {
                Some(r) if r.revoked.is_some() => Ok(format!("seal '{seal}' is revoked")),
                Some(r) if r.history.iter().any(|x| x.key_label == label) => Ok(format!(
                    "version {version}, set {set} of '{seal}' was retired (its record's history says so)"
                )),
                // A set number names one split of one version: if the record gives
                // this set to another key, this one is from a start that was cut short
                // before its record, whose set number the next start took again.
                Some(r) if set_holder(r, set).is_some_and(|held| held != label) => Ok(format!(
                    "set {set} of '{seal}' belongs to key '{}': this one is from an interrupted start that took the same set number",
                    set_holder(r, set).unwrap_or_default()
                )),
                Some(r) => {
                    let newest = r
                        .history
                        .iter()
                        .map(|x| x.set)
                        .chain([r.set])
                        .chain(r.pending.as_ref().map(|p| p.set))
                        .max()
                        .unwrap_or(0);
                    if set > newest && !history.confirmed.contains(&(seal.to_string(), set)) {
                        Ok(format!(
                            "set {set} of '{seal}' was never confirmed (an interrupted rekey, rotation or cancel)"
                        ))
                    } else {
                        Err(format!(
                            "the record of '{seal}' does not reference it, yet the signed log or its set number says it may be live: the record may be an old copy"
                        ))
                    }
                }
                None if history.created.contains(seal) => Err(format!(
                    "the signed log says seal '{seal}' was created, but its record is missing: restore the record"
                )),
                None => Ok(format!(
                    "no record of '{seal}' and no signed generate of it (an interrupted generate)"
                )),
            },
        };
        match verdict {
            Ok(why) => dead.push((h, Orphan { label, id, why })),
            Err(why) => kept.push(Orphan { label, id, why }),
        }
    }
    (dead, kept)
}

/// The label of the key the record gives share set `set`: current, pending, or retired.
fn set_holder(r: &SealRecord, set: u32) -> Option<String> {
    if r.set == set {
        return Some(r.key.label.clone());
    }
    if let Some(p) = r.pending.as_ref().filter(|p| p.set == set) {
        return Some(p.key.label.clone());
    }
    r.history
        .iter()
        .find(|x| x.set == set)
        .map(|x| x.key_label.clone())
}

/// Lists (and with `destroy`, destroys) the orphan keys of `env`.
pub fn run(ctx: &Context, env: &str, destroy: bool) -> Result<Report> {
    crate::names::check(crate::names::NameKind::Environment, env)?;
    let g = Guard::begin(ctx)?;
    let mut draft = Draft::new("cleanup");
    let result = (|| {
        let store = g.store();
        store.env(env)?;
        draft.env = Some(env.to_string());
        let (key, _) = ctx.trust.env_key(store, env, None)?;
        let mut records = BTreeMap::new();
        for r in store.records()? {
            let record = r.map_err(|e| CeremonyError::CleanupRecordUnreadable {
                detail: e.message(),
            })?;
            if record.env != env {
                continue;
            }
            verify_record_with(store, &record, &key).map_err(|e| {
                CeremonyError::CleanupRecordUnverified {
                    detail: e.message(),
                    env: env.to_string(),
                }
            })?;
            refuse_stale(store, &record, &key)?;
            records.insert(record.name.clone(), record);
        }
        let history = history(store, env, &key)?;
        let stale: Vec<(String, String, String, String)> = records
            .values()
            .filter_map(|r| {
                r.pending.as_ref().map(|p| {
                    (
                        r.name.clone(),
                        p.kind.name().to_string(),
                        p.id.clone(),
                        p.created.clone(),
                    )
                })
            })
            .collect();
        let (found, kept) = with_env_session(&g, env, &[], &mut draft, |session, _, draft| {
            let keys = session.seal_key_objects(&format!("zeroth:{env}:"))?;
            let (dead, kept) = classify(keys, env, &records, &history);
            if destroy {
                for (h, _) in &dead {
                    session.destroy(*h)?;
                }
            }
            draft.detail = if dead.is_empty() {
                "no orphan keys".to_string()
            } else {
                format!(
                    "{} {} orphan keys: {}",
                    if destroy { "destroyed" } else { "found" },
                    dead.len(),
                    dead.iter()
                        .map(|(_, o)| o.label.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            if !kept.is_empty() {
                draft.detail.push_str(&format!(
                    "; kept {} unreferenced: {}",
                    kept.len(),
                    kept.iter()
                        .map(|o| o.label.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            Ok((dead.into_iter().map(|(_, o)| o).collect::<Vec<_>>(), kept))
        })?;
        Ok((found, kept, stale))
    })();
    let (found, kept, stale) = g.finish(&mut draft, result)?;
    let now = clock::now()?;
    let mut text = String::new();
    if found.is_empty() {
        text.push_str(&format!("no orphan keys on the token of '{env}'\n"));
    } else {
        text.push_str(&format!(
            "{} keys on the token of '{env}' that no record references{}:\n",
            found.len(),
            if destroy { ", destroyed" } else { "" }
        ));
        for o in &found {
            text.push_str(&format!("  {} (id {}): {}\n", o.label, o.id, o.why));
        }
        if !destroy {
            text.push_str(&format!(
                "destroy them with: zeroth cleanup --env {env} --destroy\n"
            ));
        }
    }
    if !kept.is_empty() {
        text.push_str(&format!(
            "{} unreferenced keys kept (cleanup never destroys these):\n",
            kept.len()
        ));
        for o in &kept {
            text.push_str(&format!("  {} (id {}): {}\n", o.label, o.id, o.why));
        }
    }
    for (seal, kind, id, created) in &stale {
        let age = clock::parse_instant(created)
            .map(|t| (now - t).whole_days())
            .unwrap_or(0);
        text.push_str(&format!(
            "pending {kind} {id} of '{seal}', written {created} ({age} days ago): confirm it, or drop it with 'zeroth {kind} {seal} --cancel {id}'\n"
        ));
    }
    Ok(Report::new(
        text,
        json!({
            "env": env,
            "orphans": found,
            "kept": kept,
            "destroyed": destroy,
            "pending": stale.iter().map(|(s, k, i, c)| json!({"seal": s, "kind": k, "operation": i, "created": c})).collect::<Vec<_>>(),
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_key_labels_are_read_back() {
        assert_eq!(
            parse_label("prod", "zeroth:prod:vault-root.v2:v3:s7"),
            Some(("vault-root.v2", 3, 7))
        );
        assert_eq!(parse_label("prod", "zeroth:dev:x:v1:s1"), None);
        assert_eq!(parse_label("prod", "zeroth:prod:sign"), None);
        assert_eq!(parse_label("prod", "zeroth:prod:x:v1:sx"), None);
    }
}
