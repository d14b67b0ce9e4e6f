//! Dropping a pending rekey or rotation.

use serde_json::json;

use super::find_current_key;
use crate::audit::{self, Draft};
use crate::ceremony::{
    Context, Guard, Report, matching_pending, read_verified, refuse_stale, with_env_session,
};
use crate::error::{CeremonyError, Kind, Result};
use crate::fault;
use crate::names::{NameKind, check};
use crate::seal::PendingKind;

/// Drops a pending operation: its K_seal is destroyed, its shares open nothing. Refused
/// on a record that is not current (its current K_seal is gone from the token) and for
/// an operation the log says was confirmed: its key would then be the live one.
pub fn cancel(ctx: &Context, kind: PendingKind, seal: &str, id: &str) -> Result<Report> {
    check(NameKind::Seal, seal)?;
    let g = Guard::begin(ctx)?;
    let event = match kind {
        PendingKind::Rekey => "rekey-cancel",
        PendingKind::Rotate => "rotate-cancel",
    };
    let mut draft = Draft::new(event);
    draft.operation = Some(id.to_string());
    let result = (|| {
        let store = g.store();
        let (record, key) = read_verified(ctx, store, seal, &mut draft)?;
        refuse_stale(store, &record, &key)?;
        if record.pending.is_none()
            && let Some(done) = record
                .history
                .iter()
                .find(|h| h.operation.as_deref() == Some(id))
        {
            return Err(CeremonyError::OperationConfirmed {
                id: id.to_string(),
                seal: seal.to_string(),
                retired: done.retired.clone(),
            }
            .into());
        }
        let pending = matching_pending(&record, kind, id)?.clone();
        let confirm_event = format!("{}-confirm", kind.name());
        let v = audit::verify(store, &record.env, &key)?;
        if let Some((i, e)) = v.parsed.iter().enumerate().find(|(i, e)| {
            e.event == confirm_event
                && e.outcome == audit::Outcome::Ok
                && e.operation.as_deref() == Some(id)
                && v.signatures.get(*i).copied().flatten() == Some(true)
        }) {
            let _ = i;
            return Err(CeremonyError::LogSaysConfirmed {
                id: id.to_string(),
                seal: seal.to_string(),
                seq: e.seq,
                time: e.time.clone(),
            }
            .into());
        }
        with_env_session(
            &g,
            &record.env,
            &[],
            &mut draft,
            |session, signer, draft| {
                // A key that is not there refuses; a token that fails to answer is
                // the token's failure (exit 4), not a record that is not current.
                find_current_key(session, &record).map_err(|e| {
                    if e.kind() == Kind::Refused {
                        e.map_message(|m| {
                            format!("{m}; cancel destroys nothing on a record that is not current")
                        })
                    } else {
                        e
                    }
                })?;
                let mut updated = record.clone();
                updated.pending = None;
                signer.sign_record(session, store, &mut updated)?;
                store.write_record(&updated)?;
                fault::point("cancel:after-record");
                let key_id = hex::decode(&pending.key.id).unwrap_or_default();
                if let Some(h) = session.find_seal_key(&pending.key.label, &key_id)? {
                    session.destroy(h)?;
                }
                draft.seal(&updated);
                draft.detail = format!(
                    "pending {} {id} dropped; its K_seal '{}' destroyed",
                    kind.name(),
                    pending.key.label
                );
                Ok(())
            },
        )?;
        Ok(pending)
    })();
    let pending = g.finish(&mut draft, result)?;
    Ok(Report::new(
        format!(
            "pending {} {id} of '{seal}' dropped: its K_seal '{}' is destroyed and its shares open nothing; the current set is unchanged\n",
            kind.name(),
            pending.key.label
        ),
        json!({ "seal": seal, "operation": id, "cancelled": true }),
    ))
}
