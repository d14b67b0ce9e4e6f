//! `revoke`: crypto-shredding. The HSM and its PIN, no quorum — in an emergency nobody
//! waits for five custodians. K_seal (and the K_seal of a pending operation) is
//! destroyed first, at once: from that instant every share and every copy of the blob
//! is worthless. Then the record says revoked, when, by whom and why. A crash between
//! the two leaves a seal nothing opens whose record does not say so yet; running
//! revoke again completes it.

use serde_json::json;

use super::{Context, Report, finish, verify_record, with_env_session};
use crate::audit::{self, Draft};
use crate::clock;
use crate::error::{Error, Result};
use crate::fault;
use crate::seal::Revocation;
use crate::store::Store;

/// Revokes `seal`; `confirm` must name it too.
pub fn run(ctx: &Context, seal: &str, reason: &str, confirm: Option<&str>) -> Result<Report> {
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
    let store = Store::open(&ctx.store)?;
    let mut draft = Draft::new("revoke");
    let result = (|| {
        let _lock = store.lock()?;
        let record = store.read_record(seal)?;
        if store.env(&record.env).is_ok() {
            draft.seal(&record);
        }
        verify_record(&store, &record, None)?;
        record.refuse_revoked()?;
        let now = clock::format(clock::now()?);
        with_env_session(
            ctx,
            &store,
            &record.env,
            &[],
            &mut draft,
            |session, signer, draft| {
                let mut destroyed = Vec::new();
                let mut keys = vec![(record.key.label.clone(), record.key_id_bytes()?)];
                if let Some(p) = &record.pending {
                    keys.push((
                        p.key.label.clone(),
                        hex::decode(&p.key.id).unwrap_or_default(),
                    ));
                }
                for (label, id) in keys {
                    if let Some(h) = session.find_seal_key(&label, &id)? {
                        session.destroy(h)?;
                        destroyed.push(label);
                    }
                }
                fault::point("revoke:after-destroy");
                let mut updated = record.clone();
                updated.pending = None;
                updated.revoked = Some(Revocation {
                    time: now.clone(),
                    operator: audit::operator(),
                    reason: reason.to_string(),
                });
                signer.sign_record(session, &store, &mut updated)?;
                store.write_record(&updated)?;
                fault::point("revoke:after-record");
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
    let destroyed = finish(ctx, &store, &mut draft, result)?;
    Ok(Report::new(
        format!(
            "seal '{seal}' revoked: {}; every share and every copy of its record now opens nothing\n",
            if destroyed.is_empty() {
                "its keys were already gone".to_string()
            } else {
                format!("destroyed {}", destroyed.join(", "))
            }
        ),
        json!({ "seal": seal, "revoked": true, "destroyed": destroyed, "reason": reason }),
    ))
}
