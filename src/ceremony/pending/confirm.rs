//! The second step of a rekey or rotation: the pending set, proven by a quorum of its
//! new shares, becomes current.

use std::path::PathBuf;

use serde_json::json;

use crate::audit::{self, Draft};
use crate::ceremony::shares::{self, Accepted};
use crate::ceremony::unseal::{Handover, log_and_deliver, trim};
use crate::ceremony::{
    Context, Guard, Report, Signer, matching_pending, refuse_stale, verify_record,
    verify_record_with, with_env_session,
};
use crate::clock;
use crate::deliver::Delivery;
use crate::error::{CeremonyError, Error, Result};
use crate::fault;
use crate::hsm::Need;
use crate::key::PublicKey;
use crate::keystore::KeyStore;
use crate::names::{NameKind, check};
use crate::recipient::Keyring;
use crate::seal::{HistoryEntry, Pending, PendingKind, ReuseMark, SealRecord};
use crate::secret::{Credential, Encoding};
use crate::store::Store;

/// The second step: confirm a pending operation with a quorum of its new shares.
///
/// A rotation delivers first: the new credential goes to its consumer (`--output`,
/// `--exec`) while the old version is still current, and the record switches only once
/// the delivery succeeded (the command exited 0, the file was written and synced). A
/// consumer that refuses the new credential leaves the old version current and the
/// operation pending. Confirming an operation already confirmed (a crash between the
/// switch and the destruction of the old key) finishes it.
#[allow(clippy::too_many_arguments)]
pub fn confirm(
    ctx: &Context,
    kind: PendingKind,
    seal: &str,
    id: &str,
    new_shares: &[PathBuf],
    identities: &[PathBuf],
    delivery: Option<&Delivery>,
    encoding: Option<Encoding>,
    remote: Option<crate::ceremony::remote::Collected>,
) -> Result<Report> {
    if let Some(d) = delivery {
        d.preflight()?;
    }
    check(NameKind::Seal, seal)?;
    crate::recipient::check_share_files(new_shares)?;
    let g = Guard::begin(ctx)?;
    let event = match kind {
        PendingKind::Rekey => "rekey-confirm",
        PendingKind::Rotate => "rotate-confirm",
    };
    let mut draft = Draft::new(event);
    crate::ceremony::remote::note(&remote, &mut draft);
    let result = confirm_inner(
        &g, kind, seal, id, new_shares, identities, delivery, encoding, None, remote, &mut draft,
    );
    g.finish(&mut draft, result)
}

/// What a confirmation runs with the proven new credential before the record switches
/// (a vault's verification of its new key): its result goes into the log entry, and an
/// error stops the confirmation with nothing switched.
pub(crate) type BeforeSwitch<'a> = dyn FnMut(&SealRecord, &Credential) -> Result<String> + 'a;

/// `confirm` for a rotation whose new credential goes to a vault rather than to a
/// delivery: `before_switch` hands it over, and only once it succeeded does the record
/// switch and the old K_seal go.
#[allow(clippy::too_many_arguments)]
pub(crate) fn confirm_with(
    ctx: &Context,
    event: &'static str,
    seal: &str,
    id: &str,
    new_shares: &[PathBuf],
    identities: &[PathBuf],
    before_switch: &mut BeforeSwitch<'_>,
) -> Result<Report> {
    check(NameKind::Seal, seal)?;
    crate::recipient::check_share_files(new_shares)?;
    let g = Guard::begin(ctx)?;
    let mut draft = Draft::new(event);
    let result = confirm_inner(
        &g,
        PendingKind::Rotate,
        seal,
        id,
        new_shares,
        identities,
        None,
        None,
        Some(before_switch),
        None,
        &mut draft,
    );
    g.finish(&mut draft, result)
}

/// How the switch of a confirmation ended.
enum Switched {
    /// The new set is current; the old K_seal is destroyed.
    Done { updated: Box<SealRecord>, code: u8 },
    /// The new credential's consumer refused it: nothing switched.
    DeliveryFailed { code: u8, why: String },
}

#[allow(clippy::too_many_arguments)]
fn confirm_inner(
    g: &Guard<'_>,
    kind: PendingKind,
    seal: &str,
    id: &str,
    new_shares: &[PathBuf],
    identities: &[PathBuf],
    delivery: Option<&Delivery>,
    encoding: Option<Encoding>,
    mut before_switch: Option<&mut BeforeSwitch<'_>>,
    remote: Option<crate::ceremony::remote::Collected>,
    draft: &mut Draft,
) -> Result<Report> {
    let store = g.store();
    let record = store.read_record(seal)?;
    if store.env(&record.env).is_ok() {
        draft.seal(&record);
    }
    draft.operation = Some(id.to_string());
    let (key, _) = verify_record(g.ctx, store, &record, None)?;
    record.refuse_revoked()?;
    refuse_stale(store, &record, &key)?;
    if record.pending.is_none()
        && let Some(done) = record
            .history
            .iter()
            .find(|h| h.operation.as_deref() == Some(id))
    {
        return complete(g, kind, &record, id, done.clone(), draft);
    }
    let pending = matching_pending(&record, kind, id)?.clone();
    if pending.vault.is_some() && before_switch.is_none() {
        return Err(CeremonyError::VaultRotationConfirm {
            id: id.to_string(),
            seal: seal.to_string(),
        }
        .into());
    }
    let view = record
        .pending_view()
        .expect("a pending operation has a view");
    if kind == PendingKind::Rotate && delivery.is_none() && before_switch.is_none() {
        return Err(Error::Usage(
            "confirming a rotation delivers the new credential: say where it goes with --output FILE, --output - or --exec -- CMD ARGS".into(),
        ));
    }
    if new_shares.is_empty() && remote.is_none() {
        return Err(Error::Usage(format!(
            "give a quorum ({}) of the new shares with --share",
            view.threshold
        )));
    }
    let verb = format!("{} --confirm", kind.name());
    let keys = Keyring::load(identities)?;
    let accepted = match remote {
        Some(c) => c.take(&view, &verb, draft)?,
        None => shares::collect_with(&view, new_shares, &keys, &verb, draft, Some(record.set))?,
    };
    let u = shares::recover(&view, &accepted)?;
    let wrapped = view.open_blob(&u)?;
    drop(u);
    let now = clock::format(clock::now()?);
    let needs = [Need::unwrap(
        view.key.mechanism,
        format!("unwrap the credential of pending operation {id} to prove its new set"),
    )];
    let switched = with_env_session(g, &record.env, &needs, draft, |session, signer, draft| {
        let new_key_id = view.key_id_bytes()?;
        let new_key = session
            .find_seal_key(&view.key.label, &new_key_id)?
            .ok_or_else(|| {
                Error::from(CeremonyError::PendingKeyMissing {
                    id: id.to_string(),
                    label: view.key.label.clone(),
                    token: session.token_label().to_string(),
                })
            })?;
        let object = session.unwrap_credential(view.key.mechanism, new_key, &wrapped)?;
        let credential = trim(&view, object)?;
        let reuse = match view.credential.reuse.clone() {
            Some(mark) => Some(mark),
            None => crate::reuse::reuse_mark(store, &credential, view.credential.origin),
        };
        draft.custodians = accepted.iter().map(|a| a.custodian.clone()).collect();

        // A rotation hands the new credential over first: until its consumer has
        // it, the old version stays current and this operation stays pending.
        let mut delivered = None;
        let mut handed = None;
        if let Some(d) = delivery {
            let mut handover = deliver_first(
                g,
                session,
                signer,
                draft,
                id,
                &view,
                d,
                &credential,
                encoding,
            )?;
            drop(credential);
            if let Some(why) = handover.failure.clone() {
                let detail = format!(
                    "delivery failed: {why}; nothing switched: version {} (set {}) stays current and operation {id} is still pending; confirm again once the consumer accepts the new credential, or drop it with --cancel {id}",
                    record.version, record.set
                );
                audit::append(
                    store,
                    draft,
                    audit::Outcome::Failed,
                    &detail,
                    Some(&signer.signing(session)),
                    None,
                )?;
                if let Some(e) = handover.error.take() {
                    return Err(e);
                }
                return Ok(Switched::DeliveryFailed {
                    code: handover.code,
                    why,
                });
            }
            fault::point(&format!("{}:after-deliver", kind.name()));
            if matches!(d, Delivery::Exec(_)) {
                refuse_changed_meanwhile(store, seal, &key, &record)?;
            }
            delivered = Some(handover.code);
        } else if let Some(f) = before_switch.as_mut() {
            // A vault's new key: the vault verifies it, and only then does it switch.
            handed = Some(f(&view, &credential)?);
            drop(credential);
        } else {
            drop(credential);
        }
        fault::point(&format!("{}:before-switch", kind.name()));

        let mut updated = switched_record(&record, &view, kind, id, &now, &accepted, reuse);
        signer.sign_record(session, store, &mut updated)?;
        store.write_record(&updated)?;
        fault::point(&format!("{}:after-switch", kind.name()));
        // The old set's key goes: an old share set with an old copy of the record now
        // opens nothing, even with the HSM.
        let old_id = record.key_id_bytes()?;
        if let Some(old) = session.find_seal_key(&record.key.label, &old_id)? {
            session.destroy(old)?;
        }
        fault::point(&format!("{}:after-destroy", kind.name()));
        draft.seal(&updated);
        draft.operation = Some(id.to_string());
        draft.detail = confirmed_detail(&record, &updated, id, delivered, handed, delivery);
        Ok(Switched::Done {
            updated: Box::new(updated),
            code: delivered.unwrap_or(0),
        })
    })?;
    match switched {
        Switched::Done { updated, code } => Ok(confirmed(
            seal, id, kind, &record, &pending, &updated, code, delivery,
        )),
        Switched::DeliveryFailed { code, why } => {
            Ok(not_switched(seal, id, kind, &record, code, &why, delivery))
        }
    }
}

/// A rotation's delivery before the switch: the new credential goes to its consumer
/// under a log entry of its own (`rotate-deliver`), while the old version is current.
#[allow(clippy::too_many_arguments)]
fn deliver_first(
    g: &Guard<'_>,
    session: &dyn KeyStore,
    signer: &Signer,
    draft: &Draft,
    id: &str,
    view: &SealRecord,
    d: &Delivery,
    credential: &Credential,
    encoding: Option<Encoding>,
) -> Result<Handover> {
    let encoding = encoding.unwrap_or(view.credential.encoding);
    let mut handing = draft.clone();
    handing.event = "rotate-deliver";
    handing.version = Some(view.version);
    handing.set = Some(view.set);
    handing.key_label = Some(view.key.label.clone());
    let detail = format!(
        "new credential of pending operation {id} (version {}, {}) {}; the switch follows a successful delivery",
        view.version,
        encoding.name(),
        crate::ceremony::unseal::describe(d)
    );
    log_and_deliver(
        g,
        session,
        signer,
        &mut handing,
        &detail,
        d,
        credential,
        encoding,
    )
}

/// After an `--exec` delivery: the lock was released while the command ran, so the
/// record is read again, and the switch happens only on the record the delivery started
/// from.
fn refuse_changed_meanwhile(
    store: &Store,
    seal: &str,
    key: &PublicKey,
    record: &SealRecord,
) -> Result<()> {
    let again = store.read_record(seal)?;
    verify_record_with(store, &again, key)?;
    if again.signed_bytes()? != record.signed_bytes()? {
        return Err(CeremonyError::RecordChangedDuringDelivery {
            seal: seal.to_string(),
        }
        .into());
    }
    Ok(())
}

/// The record once the pending set is current: the pending view, with the set it
/// replaces in its history, and the custodians who proved it marked so.
fn switched_record(
    record: &SealRecord,
    view: &SealRecord,
    kind: PendingKind,
    id: &str,
    now: &str,
    accepted: &[Accepted],
    reuse: Option<ReuseMark>,
) -> SealRecord {
    let mut updated = view.clone();
    updated.credential.reuse = reuse;
    updated.history.push(HistoryEntry {
        version: record.version,
        set: record.set,
        sealed: record.sealed.clone(),
        retired: now.to_string(),
        why: match kind {
            PendingKind::Rekey => format!(
                "rekeyed to set {} ({} of {}: {})",
                view.set,
                view.threshold,
                view.custodians.len(),
                view.custodians
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            PendingKind::Rotate => format!("rotated to version {}", view.version),
        },
        key_label: record.key.label.clone(),
        operation: Some(id.to_string()),
    });
    if kind == PendingKind::Rotate {
        updated.sealed = now.to_string();
    }
    for c in updated.custodians.iter_mut() {
        if accepted.iter().any(|a| a.custodian == c.name) {
            c.last_proven = Some(now.to_string());
        }
    }
    updated
}

/// The log entry's detail of a confirmation: the set that is current, the old K_seal
/// destroyed, and what the delivery or the vault said.
fn confirmed_detail(
    record: &SealRecord,
    updated: &SealRecord,
    id: &str,
    delivered: Option<u8>,
    handed: Option<String>,
    delivery: Option<&Delivery>,
) -> String {
    match delivered {
        None => format!(
            "operation {id} confirmed: set {} is current; K_seal '{}' of set {} destroyed{}",
            updated.set,
            record.key.label,
            record.set,
            handed
                .as_ref()
                .map(|h| format!("; {h}"))
                .unwrap_or_default()
        ),
        Some(code) => format!(
            "operation {id} confirmed after the new credential was delivered{}: version {} is current; K_seal '{}' of version {} destroyed",
            if matches!(delivery, Some(Delivery::Exec(_))) {
                format!(" ('{}' exited with {code})", exec_name(delivery))
            } else {
                String::new()
            },
            updated.version,
            record.key.label,
            record.version
        ),
    }
}

/// What a rotation reports when the consumer refused the new credential: nothing
/// switched, and the operation can be confirmed again or dropped.
fn not_switched(
    seal: &str,
    id: &str,
    kind: PendingKind,
    record: &SealRecord,
    code: u8,
    why: &str,
    delivery: Option<&Delivery>,
) -> Report {
    let mut report = Report::new(
        format!(
            "the new credential of '{seal}' was NOT accepted: {why}\nnothing switched: version {} (set {}) stays current and operation {id} is still pending\nconfirm again once the consumer accepts it, or drop it with: zeroth {} {seal} --cancel {id}\n",
            record.version,
            record.set,
            kind.name()
        ),
        json!({
            "seal": seal,
            "operation": id,
            "confirmed": false,
            "delivery_failed": why,
            "exit_code": code,
        }),
    );
    report.exit_code = if code == 0 { 4 } else { code };
    report.on_stderr = matches!(delivery, Some(Delivery::Stdout { .. }));
    if !report.on_stderr {
        eprint!("{}", std::mem::take(&mut report.text));
    }
    report
}

/// What a confirmation reports: the set that is current, the old K_seal destroyed; for
/// a rotation, the consumer's exit code, and the text on stderr unless the credential
/// went elsewhere than stdout.
#[allow(clippy::too_many_arguments)]
fn confirmed(
    seal: &str,
    id: &str,
    kind: PendingKind,
    record: &SealRecord,
    pending: &Pending,
    updated: &SealRecord,
    code: u8,
    delivery: Option<&Delivery>,
) -> Report {
    let text = format!(
        "{} of '{}' confirmed (operation {id}): version {}, set {} is current, any {} of {} ({}); the old K_seal '{}' is destroyed and the old shares open nothing\n",
        kind.name(),
        seal,
        updated.version,
        updated.set,
        updated.threshold,
        updated.custodians.len(),
        updated
            .custodians
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        record.key.label
    );
    let mut report = Report::new(
        text,
        json!({
            "seal": seal,
            "operation": id,
            "confirmed": true,
            "version": updated.version,
            "set": updated.set,
            "retired_key": record.key.label,
            "exit_code": code,
            "pending_was": pending.created,
        }),
    );
    report.exit_code = code;
    if let Some(d) = delivery {
        report.on_stderr = matches!(d, Delivery::Stdout { .. });
        if !report.on_stderr {
            eprint!("{}", std::mem::take(&mut report.text));
        }
    }
    report
}

fn exec_name(delivery: Option<&Delivery>) -> String {
    match delivery {
        Some(Delivery::Exec(cmd)) => std::path::Path::new(&cmd[0]).display().to_string(),
        _ => String::new(),
    }
}

/// Finishes an operation that was confirmed but whose old K_seal a crash left on the
/// token: destroys it. Needs no quorum: the switch happened already.
fn complete(
    g: &Guard<'_>,
    kind: PendingKind,
    record: &SealRecord,
    id: &str,
    done: HistoryEntry,
    draft: &mut Draft,
) -> Result<Report> {
    let left = with_env_session(g, &record.env, &[], draft, |session, _, draft| {
        let left = session.secret_keys_labelled(&done.key_label)?;
        for h in &left {
            session.destroy(*h)?;
        }
        draft.detail = if left.is_empty() {
            format!(
                "operation {id} was confirmed at {}; nothing was left to do",
                done.retired
            )
        } else {
            format!(
                "operation {id} was confirmed at {}; completed it: destroyed the retired K_seal '{}' a crash had left",
                done.retired, done.key_label
            )
        };
        Ok(left.len())
    })?;
    let text = if left == 0 {
        format!(
            "{} operation {id} of '{}' was confirmed at {}: nothing left to do (version {}, set {} is current)\n",
            kind.name(),
            record.name,
            done.retired,
            record.version,
            record.set
        )
    } else {
        format!(
            "{} operation {id} of '{}' was confirmed at {}, but its old K_seal '{}' was still on the token: destroyed now; the old shares open nothing\n",
            kind.name(),
            record.name,
            done.retired,
            done.key_label
        )
    };
    Ok(Report::new(
        text,
        json!({
            "seal": record.name,
            "operation": id,
            "confirmed": true,
            "completed": left > 0,
            "version": record.version,
            "set": record.set,
        }),
    ))
}
