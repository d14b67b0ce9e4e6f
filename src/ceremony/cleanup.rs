//! `cleanup --env ENV [--destroy]`: what interrupted ceremonies leave on a token.
//!
//! A key labelled `zeroth:<env>:…` that no record of this store references — neither
//! as a current K_seal nor as the K_seal of a pending operation — opens nothing that
//! should be opened: it is left by a crash (a generate or rekey that never wrote its
//! record, a confirm that switched the record but did not get to destroy the old key,
//! a cancel or revoke cut short). Without `--destroy` they are listed; with it, they
//! are destroyed. Stale pending operations are listed too; they are dropped with
//! `rekey|rotate SEAL --cancel ID`, not here.
//!
//! This assumes the store is the only one using the token (`env init --adopt` can make
//! two): another store's keys would look orphaned. The list says what would go.

use std::collections::BTreeSet;

use serde_json::json;

use super::{Context, Report, finish, with_env_session};
use crate::audit::Draft;
use crate::clock;
use crate::error::Result;
use crate::hsm::HsmSession;
use crate::store::Store;

/// A key on the token no record references.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Orphan {
    /// `CKA_LABEL`.
    pub label: String,
    /// `CKA_ID`, hex.
    pub id: String,
}

/// The keys labelled for `env` that no record references.
pub(crate) fn orphans(
    session: &HsmSession<'_>,
    store: &Store,
    env: &str,
) -> Result<Vec<(cryptoki::object::ObjectHandle, Orphan)>> {
    let mut referenced = BTreeSet::new();
    for record in store.records()?.into_iter().flatten() {
        if record.env != env || record.revoked.is_some() {
            continue;
        }
        referenced.insert((record.key.label.clone(), record.key.id.clone()));
        if let Some(p) = &record.pending {
            referenced.insert((p.key.label.clone(), p.key.id.clone()));
        }
    }
    let prefix = format!("zeroth:{env}:");
    let sign_label = crate::hsm::signing_label(env);
    Ok(session
        .seal_key_objects(&prefix)?
        .into_iter()
        .filter(|(_, label, _)| *label != sign_label)
        .filter(|(_, label, id)| !referenced.contains(&(label.clone(), hex::encode(id))))
        .map(|(h, label, id)| {
            (
                h,
                Orphan {
                    label,
                    id: hex::encode(id),
                },
            )
        })
        .collect())
}

/// Lists (and with `destroy`, destroys) the orphan keys of `env`.
pub fn run(ctx: &Context, env: &str, destroy: bool) -> Result<Report> {
    let store = Store::open(&ctx.store)?;
    store.env(env)?;
    let mut draft = Draft::new("cleanup");
    let result = (|| {
        let _lock = store.lock()?;
        let stale: Vec<(String, String, String, String)> = store
            .records()?
            .into_iter()
            .flatten()
            .filter(|r| r.env == env)
            .filter_map(|r| {
                r.pending
                    .map(|p| (r.name.clone(), p.kind.name().to_string(), p.id, p.created))
            })
            .collect();
        let found = with_env_session(ctx, &store, env, &[], &mut draft, |session, _, draft| {
            let found = orphans(session, &store, env)?;
            if destroy {
                for (h, _) in &found {
                    session.destroy(*h)?;
                }
            }
            draft.detail = if found.is_empty() {
                "no orphan keys".to_string()
            } else {
                format!(
                    "{} {} orphan keys: {}",
                    if destroy { "destroyed" } else { "found" },
                    found.len(),
                    found
                        .iter()
                        .map(|(_, o)| o.label.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            Ok(found.into_iter().map(|(_, o)| o).collect::<Vec<_>>())
        })?;
        Ok((found, stale))
    })();
    let (found, stale) = finish(ctx, &store, &mut draft, result)?;
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
            text.push_str(&format!("  {} (id {})\n", o.label, o.id));
        }
        if !destroy {
            text.push_str(&format!(
                "destroy them with: zeroth cleanup --env {env} --destroy\n"
            ));
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
            "destroyed": destroy,
            "pending": stale.iter().map(|(s, k, i, c)| json!({"seal": s, "kind": k, "operation": i, "created": c})).collect::<Vec<_>>(),
        }),
    ))
}
