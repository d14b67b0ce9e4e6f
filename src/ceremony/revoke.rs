//! `revoke`: crypto-shredding. The HSM and its PIN, no quorum — in an emergency nobody
//! waits for five custodians. K_seal (and the K_seal of a pending operation) is
//! destroyed first, at once: from that instant every share and every copy of the blob
//! is worthless. Then the record says revoked, when, by whom and why. A crash between
//! the two leaves a seal nothing opens whose record does not say so yet; running
//! revoke again completes it.

use serde_json::json;

use super::{Context, Guard, Report, refuse_stale, verify_record, with_env_session};
use crate::audit::{self, Draft};
use crate::clock;
use crate::error::{Error, Result};
use crate::fault;
use crate::seal::Revocation;

/// Revokes `seal`; `confirm` must name it too.
pub fn run(ctx: &Context, seal: &str, reason: &str, confirm: Option<&str>) -> Result<Report> {
    crate::names::check(crate::names::NameKind::Seal, seal)?;
    if confirm != Some(seal) {
        return Err(Error::Usage(format!(
            "revoke destroys the key of '{seal}' for good: add --confirm-seal {seal} to say you mean it"
        )));
    }
    let reason = reason.trim();
    if reason.is_empty() || reason.len() > 300 || reason.chars().any(char::is_control) {
        return Err(Error::Usage(
            "--reason must say why, in one line of at most 300 characters".into(),
        ));
    }
    let g = Guard::begin(ctx)?;
    let mut draft = Draft::new("revoke");
    let result = (|| {
        let store = g.store();
        let record = store.read_record(seal)?;
        if store.env(&record.env).is_ok() {
            draft.seal(&record);
        }
        let (key, _) = verify_record(ctx, store, &record, None)?;
        record.refuse_revoked()?;
        // A revocation is an emergency: an old copy of the record does not stop it
        // (every key of the seal goes, whatever the record says), but it is said.
        if let Err(e) = refuse_stale(store, &record, &key) {
            eprintln!("warning: {}; revoking all the same", e.message());
        }
        let now = clock::format(clock::now()?);
        with_env_session(
            &g,
            &record.env,
            &[],
            &mut draft,
            |session, signer, draft| {
                // Every key of the seal: all versions and sets, current, pending or
                // left behind, found by label on the token rather than by what this
                // (possibly old) record says is current.
                let prefix = format!("zeroth:{}:{}:v", record.env, record.name);
                let mut destroyed = Vec::new();
                for (h, label, _) in session.seal_key_objects(&prefix)? {
                    session.destroy(h)?;
                    destroyed.push(label);
                }
                fault::point("revoke:after-destroy");
                let mut updated = record.clone();
                updated.pending = None;
                updated.revoked = Some(Revocation {
                    time: now.clone(),
                    operator: audit::operator(),
                    reason: reason.to_string(),
                });
                signer.sign_record(session, store, &mut updated)?;
                store.write_record(&updated)?;
                fault::point("revoke:after-record");
                draft.seal(&updated);
                draft.detail = format!(
                    "revoked: {reason}; destroyed {}",
                    if destroyed.is_empty() {
                        "nothing (its keys were already gone)".to_string()
                    } else {
                        destroyed.join(", ")
                    }
                );
                Ok(destroyed)
            },
        )
    })();
    let destroyed = g.finish(&mut draft, result)?;
    let mut text = format!("seal '{seal}' revoked: ");
    if destroyed.is_empty() {
        text.push_str("its keys were already gone from the token");
    } else {
        text.push_str(&format!(
            "destroyed {} key{} on the token:\n",
            destroyed.len(),
            if destroyed.len() == 1 { "" } else { "s" }
        ));
        for label in &destroyed {
            text.push_str(&format!("  {label}\n"));
        }
    }
    text.push_str("every share and every copy of its record now opens nothing\n");
    Ok(Report::new(
        text,
        json!({ "seal": seal, "revoked": true, "destroyed": destroyed, "reason": reason }),
    ))
}
