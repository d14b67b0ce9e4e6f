//! Two-step ceremonies, as in a vault's rekey with verification: the first step writes
//! a new share set as *pending* under an operation id while the current set keeps
//! working; `--confirm ID` with a quorum of the **new** shares makes it current and
//! destroys the old K_seal; `--cancel ID` drops it. Rekey and rotate both go through
//! here.
//!
//! Order of work, so that a crash at any step leaves the credential recoverable by the
//! old set or the new one, never neither:
//!
//! start:   new K_seal → new share files → record with `pending` (atomic).
//!          Before the record is written the old set is untouched; what was made (a
//!          key no record references, share files that open nothing) is reported and
//!          removed by `zeroth cleanup`.
//! confirm: new set proven (combine, open, unwrap) → record switched (atomic) → old
//!          K_seal destroyed. Until the switch the old set works and confirm can be
//!          run again; after it the new set works, and an old K_seal a crash left
//!          behind is an orphan `zeroth cleanup` destroys.
//! cancel:  record without `pending` (atomic) → pending K_seal destroyed (or left as an
//!          orphan for `cleanup`).

use std::path::PathBuf;

use serde_json::json;

use super::distribute::{self, Outlets, Plan};
use super::generate::{CustodianSpec, approved_recipient, handed_out, refuse_offboarded};
use super::shares;
use super::unseal::{log_and_deliver, trim};
use super::{
    Context, Guard, Report, deal, matching_pending, random_id, read_verified, refuse_pending,
    refuse_stale, verify_record, verify_record_with, with_env_session,
};
use crate::audit::{self, Draft};
use crate::clock;
use crate::deliver::Delivery;
use crate::error::{Error, Result};
use crate::fault;
use crate::hsm::{self, Need};
use crate::keystore::{Key, KeyStore};
use crate::names::{NameKind, check};
use crate::recipient::Keyring;
use crate::seal::{CredentialInfo, HistoryEntry, KeyRef, Origin, Pending, PendingKind, SealRecord};
use crate::secret::{Credential, Encoding};
use crate::store::Store;

/// What the new credential of a rotation is.
#[derive(Debug)]
pub enum NewCredential {
    /// Generated in the HSM, this many bytes.
    Generate(usize),
    /// Imported from stdin.
    Import(Credential),
}

/// The first step of a rekey or a rotation.
#[derive(Debug)]
pub struct Start {
    /// Rekey or rotate.
    pub kind: PendingKind,
    /// Seal.
    pub seal: String,
    /// A quorum of the current shares.
    pub shares: Vec<PathBuf>,
    /// `--identity` files, to open shares encrypted to custodians.
    pub identities: Vec<PathBuf>,
    /// Custodians to add (rekey), or, given with a recipient, existing custodians whose
    /// new share goes to that recipient.
    pub add: Vec<CustodianSpec>,
    /// Custodians to leave out (rekey).
    pub without: Vec<String>,
    /// New threshold (rekey); the current one if not given.
    pub threshold: Option<u8>,
    /// Where the new shares go: files, paper, or the terminal.
    pub outlets: Outlets,
    /// The new credential (rotate).
    pub credential: Option<NewCredential>,
    /// For a vault key rotation: the server-side operation the pending one waits on.
    pub vault: Option<crate::seal::VaultRotation>,
    /// A quorum of the current shares collected remotely (`--remote`).
    pub remote: Option<super::remote::Collected>,
}

/// Runs the first step: a new set, written as pending.
pub fn start(ctx: &Context, args: Start) -> Result<Report> {
    check(NameKind::Seal, &args.seal)?;
    crate::recipient::check_share_files(&args.shares)?;
    let g = Guard::begin(ctx)?;
    let mut draft = Draft::new(args.kind.name());
    super::remote::note(&args.remote, &mut draft);
    let result = start_inner(&g, args, &mut draft);
    g.finish(&mut draft, result)
}

/// The custodians of the new set: the current ones, less `without`, plus `add`. Each
/// keeps the recipient the record has for them, unless `add` gives them a new one; a
/// custodian without one takes the recipient `zeroth.toml` has for them, if any.
fn new_custodians(
    store: &Store,
    settings: &crate::settings::Effective,
    record: &SealRecord,
    args: &Start,
) -> Result<Vec<CustodianSpec>> {
    for name in &args.without {
        check(NameKind::Custodian, name)?;
        if !record.custodians.iter().any(|c| &c.name == name) {
            return Err(Error::Usage(format!(
                "--without {name}: '{name}' holds no share of '{}' (its custodians are {})",
                record.name,
                record
                    .custodians
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }
    let mut out: Vec<CustodianSpec> = record
        .custodians
        .iter()
        .filter(|c| !args.without.contains(&c.name))
        .map(|c| CustodianSpec {
            name: c.name.clone(),
            recipient: c.recipient.clone(),
        })
        .collect();
    for c in &args.add {
        if let Some(existing) = out
            .iter_mut()
            .find(|o| o.name.eq_ignore_ascii_case(&c.name))
        {
            if c.recipient.is_some() && existing.name == c.name {
                existing.recipient = c.recipient.clone();
                continue;
            }
            return Err(Error::Usage(format!(
                "--custodian {}: '{}' already holds a share of '{}' (to change where their new share is encrypted to, give --custodian {}=RECIPIENT)",
                c.name, existing.name, record.name, existing.name
            )));
        }
        out.push(c.clone());
    }
    for c in out.iter_mut() {
        if c.recipient.is_none() {
            c.recipient = approved_recipient(store, settings, &c.name)?;
        }
    }
    for c in &out {
        if settings.offboarded(&c.name).is_some() {
            let is_new = args.add.iter().any(|a| a.name == c.name)
                && !record.custodians.iter().any(|r| r.name == c.name);
            if is_new {
                refuse_offboarded(settings, &c.name)?;
            }
            let (_, off) = settings.offboarded(&c.name).unwrap_or_default();
            return Err(Error::Refused(format!(
                "custodian '{}' was offboarded at {off} and must be left out: add --without {}",
                c.name, c.name
            )));
        }
    }
    Ok(out)
}

/// Before a remote collection (`--remote`, [`super::remote::Precheck`]): the checks of
/// the first step that need no share (the new set's custodians and threshold, where its
/// shares go), so that no custodian is asked for a hand-in the ceremony would refuse
/// anyway. The ceremony makes them all again once the shares are in.
pub fn precheck(
    ctx: &Context,
    store: &Store,
    record: &SealRecord,
    key: &crate::key::PublicKey,
    args: &Start,
) -> Result<()> {
    let (_, custodians) = before_shares(ctx, store, record, key, args)?;
    if !crate::terminal::Tty::available() {
        // What dealing the new shares will need: a terminal, unless they go to files.
        Plan::needs_no_terminal(&args.outlets, &custodians, args.kind.name())?;
    }
    Ok(())
}

/// The checks of the first step before any share is read: the record may be changed
/// this way, and the new set (returned: its threshold and custodians) is sound.
fn before_shares(
    ctx: &Context,
    store: &Store,
    record: &SealRecord,
    key: &crate::key::PublicKey,
    args: &Start,
) -> Result<(u8, Vec<CustodianSpec>)> {
    record.refuse_revoked()?;
    refuse_stale(store, record, key)?;
    refuse_pending(record)?;
    if args.kind == PendingKind::Rotate && record.vault.is_some() && args.vault.is_none() {
        return Err(Error::Usage(format!(
            "seal '{}' holds a vault's key, which the vault makes itself: rotate it with 'zeroth vault rotate {}'",
            record.name, record.name
        )));
    }
    let settings = super::effective_settings(ctx, store, &record.env)?;
    let custodians = new_custodians(store, &settings, record, args)?;
    let n = custodians.len();
    let threshold = args.threshold.unwrap_or(record.threshold);
    if n == 0 {
        return Err(Error::Usage("the new set would have no custodians".into()));
    }
    if usize::from(threshold) > n || threshold == 0 {
        return Err(Error::Usage(format!(
            "threshold {threshold} does not fit the {n} custodians of the new set: give --threshold between 2 and {n}"
        )));
    }
    if threshold == 1 {
        return Err(Error::Usage(
            "threshold 1 would let any single custodian recover the credential: give --threshold 2 or more".into(),
        ));
    }
    if args.kind == PendingKind::Rotate
        && record.credential.origin == Origin::Imported
        && !matches!(args.credential, Some(NewCredential::Import(_)))
    {
        return Err(Error::Usage(format!(
            "seal '{}' holds an imported credential: give the new one with --import (on stdin)",
            record.name
        )));
    }
    distribute::preflight(&args.outlets, &record.name, &custodians)?;
    Ok((threshold, custodians))
}

fn start_inner(g: &Guard<'_>, mut args: Start, draft: &mut Draft) -> Result<Report> {
    let store = g.store();
    let record = store.read_record(&args.seal)?;
    if store.env(&record.env).is_ok() {
        draft.seal(&record);
    }
    let (key, _) = verify_record(g.ctx, store, &record, None)?;
    let (threshold, custodians) = before_shares(g.ctx, store, &record, &key, &args)?;
    let keys = Keyring::load(&args.identities)?;

    let accepted = match args.remote.take() {
        Some(c) => c.take(&record, args.kind.name(), draft)?,
        None => shares::collect(&record, &args.shares, &keys, args.kind.name(), draft)?,
    };
    let u = shares::recover(&record, &accepted)?;
    let wrapped = record.open_blob(&u)?;
    drop(u);
    let mut plan = Plan::prepare(&args.outlets, &record.name, &custodians, args.kind.name())?;
    let cfg = store.env(&record.env)?.clone();
    let now = clock::now()?;
    let mech = cfg.wrap_mechanism;
    let mut needs = vec![
        Need::seal_key_generation(),
        Need::wrap(
            mech,
            format!(
                "wrap the credential of the new set with the mechanism environment '{}' was bound with (zeroth.toml)",
                record.env
            ),
        ),
    ];
    match (&args.kind, &args.credential) {
        (PendingKind::Rekey, _) => needs.push(Need::unwrap(
            record.key.mechanism,
            format!("unwrap the credential of '{}' to wrap it anew", record.name),
        )),
        (PendingKind::Rotate, Some(NewCredential::Import(_))) => {}
        (PendingKind::Rotate, _) => needs.push(Need::secret_generation(
            "generate the new credential in the HSM (rotate --import instead)",
        )),
    }
    let (pending, written) = with_env_session(
        g,
        &record.env,
        &needs,
        draft,
        |session, signer, draft| {
            let old_key = find_current_key(session, &record)?;
            let version = match args.kind {
                PendingKind::Rekey => record.version,
                PendingKind::Rotate => record.version + 1,
            };
            let set = record
                .set
                .max(record.history.iter().map(|h| h.set).max().unwrap_or(0))
                + 1;
            let label = hsm::seal_key_label(&record.env, &record.name, version, set);
            if !session.secret_keys_labelled(&label)?.is_empty() {
                return Err(Error::Refused(format!(
                    "token '{}' already holds a key labelled '{label}' that no record references (left by an interrupted ceremony): run 'zeroth cleanup --env {}' first",
                    session.token_label(),
                    record.env
                )));
            }
            let key_id = random_id()?;
            let new_key = session.generate_seal_key(&label, &key_id)?;
            fault::point(&format!("{}:after-key", args.kind.name()));
            let made = (|| {
                let (object, credential) = match (&args.kind, &args.credential) {
                    (PendingKind::Rekey, _) => (
                        session.unwrap_for_rewrap(record.key.mechanism, old_key, &wrapped)?,
                        record.credential.clone(),
                    ),
                    (PendingKind::Rotate, Some(NewCredential::Import(c))) => (
                        session.import_credential(&hsm::pad_for(mech, c.expose()))?,
                        CredentialInfo {
                            origin: Origin::Imported,
                            length: c.expose().len() as u32,
                            // An imported credential keeps the encoding it is delivered
                            // in (a vault's key, base64).
                            encoding: if record.credential.origin == Origin::Imported {
                                record.credential.encoding
                            } else {
                                Encoding::Raw
                            },
                            reuse: crate::reuse::reuse_mark(store, c, Origin::Imported),
                        },
                    ),
                    (PendingKind::Rotate, other) => {
                        let length = match other {
                            Some(NewCredential::Generate(l)) => *l,
                            _ => record.credential.length as usize,
                        };
                        (
                            session.generate_credential(mech.object_len(length))?,
                            CredentialInfo {
                                origin: Origin::Generated,
                                length: length as u32,
                                encoding: Encoding::Hex,
                                reuse: None,
                            },
                        )
                    }
                };
                let rewrapped = session.wrap(mech, new_key, object);
                let destroyed = session.destroy(object);
                let rewrapped = rewrapped?;
                destroyed?;
                let mut view = record.clone();
                view.version = version;
                view.set = set;
                view.threshold = threshold;
                view.credential = credential;
                view.key = KeyRef {
                    label: label.clone(),
                    id: hex::encode(key_id),
                    mechanism: mech,
                };
                let new_shares = deal::deal(session, &mut view, &custodians, &rewrapped)?;
                let pending = Pending {
                    id: hex::encode(&random_id()?[..8]),
                    kind: args.kind,
                    created: clock::format(now),
                    operator: audit::operator(),
                    version,
                    set,
                    threshold,
                    custodians: view.custodians.clone(),
                    credential: view.credential.clone(),
                    key: view.key.clone(),
                    blob: view.blob.clone(),
                    vault: args.vault.clone(),
                };
                let mut updated = record.clone();
                updated.pending = Some(pending.clone());
                signer.sign_record(session, store, &mut updated)?;
                let written = plan.deliver(&new_shares, &pending.created)?;
                fault::point(&format!("{}:after-shares", args.kind.name()));
                if let Err(e) = store.write_record(&updated) {
                    written.undo();
                    return Err(e);
                }
                fault::point(&format!("{}:after-record", args.kind.name()));
                Ok((pending, written, updated))
            })();
            match made {
                Ok((pending, written, updated)) => {
                    draft.seal(&updated);
                    draft.operation = Some(pending.id.clone());
                    draft.detail = format!(
                        "pending {} {}: version {}, set {}, {} of {} ({}); the current set keeps working until it is confirmed",
                        pending.kind.name(),
                        pending.id,
                        pending.version,
                        pending.set,
                        pending.threshold,
                        pending.custodians.len(),
                        pending
                            .custodians
                            .iter()
                            .map(|c| c.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    );
                    Ok((pending, written))
                }
                Err(e) => {
                    let _ = session.destroy(new_key);
                    Err(e)
                }
            }
        },
    )?;
    let verb = args.kind.name();
    let (lines, custodians_json) = handed_out(&pending.custodians, &written);
    let mut text = format!(
        "pending {verb} of '{}' written: operation {}\n  new set {} (version {}): any {} of {} custodians\n  the current set keeps working until the new one is confirmed\n  new shares{}:\n",
        record.name,
        pending.id,
        pending.set,
        pending.version,
        pending.threshold,
        pending.custodians.len(),
        if written.on_terminal {
            ""
        } else {
            " (hand each file or card to its custodian)"
        }
    );
    text.push_str(&lines);
    text.push_str(&format!(
        "confirm with a quorum of the NEW shares:\n  zeroth {verb} {} --confirm {} --share NEW…{}\nor drop it: zeroth {verb} {} --cancel {}\n",
        record.name,
        pending.id,
        if args.kind == PendingKind::Rotate { " (--output FILE|- or --exec -- CMD)" } else { "" },
        record.name,
        pending.id
    ));
    Ok(Report::new(
        text,
        json!({
            "seal": record.name,
            "operation": pending.id,
            "kind": verb,
            "version": pending.version,
            "set": pending.set,
            "threshold": pending.threshold,
            "custodians": custodians_json,
        }),
    ))
}

/// Finds the K_seal of the current set, or refuses saying it is gone.
fn find_current_key(session: &dyn KeyStore, record: &SealRecord) -> Result<Key> {
    let key_id = record.key_id_bytes()?;
    session.find_seal_key(&record.key.label, &key_id)?.ok_or_else(|| {
        Error::Refused(format!(
            "K_seal '{}' of seal '{}' is not on token '{}': the seal was revoked or rekeyed, or this record is an old copy",
            record.key.label,
            record.name,
            session.token_label()
        ))
    })
}

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
    remote: Option<super::remote::Collected>,
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
    super::remote::note(&remote, &mut draft);
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
    remote: Option<super::remote::Collected>,
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
    if record.pending.is_none() {
        if let Some(done) = record
            .history
            .iter()
            .find(|h| h.operation.as_deref() == Some(id))
        {
            return complete(g, kind, &record, id, done.clone(), draft);
        }
    }
    let pending = matching_pending(&record, kind, id)?.clone();
    if pending.vault.is_some() && before_switch.is_none() {
        return Err(Error::Usage(format!(
            "operation {id} rotates a vault's key, which the vault must verify before the switch: confirm it with 'zeroth vault rotate {seal} --confirm {id}'"
        )));
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
        let new_key = session.find_seal_key(&view.key.label, &new_key_id)?.ok_or_else(|| {
                Error::Refused(format!(
                    "the K_seal of pending operation {id} ('{}') is not on token '{}': nothing can confirm it; drop it with --cancel {id}",
                    view.key.label,
                    session.token_label()
                ))
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
                super::unseal::describe(d)
            );
            let mut handover = log_and_deliver(
                g,
                session,
                signer,
                &mut handing,
                &detail,
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
            // The lock was released while a command ran: the record is read again,
            // and the switch happens only on the record the delivery started from.
            if matches!(d, Delivery::Exec(_)) {
                let again = store.read_record(seal)?;
                verify_record_with(store, &again, &key)?;
                if again.signed_bytes()? != record.signed_bytes()? {
                    return Err(Error::Refused(format!(
                        "the record of '{seal}' changed while the new credential was being delivered (another ceremony ran): nothing switched; check 'zeroth list', then confirm again"
                    )));
                }
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

        let mut updated = view.clone();
        updated.credential.reuse = reuse;
        updated.history.push(HistoryEntry {
            version: record.version,
            set: record.set,
            sealed: record.sealed.clone(),
            retired: now.clone(),
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
            updated.sealed = now.clone();
        }
        for c in updated.custodians.iter_mut() {
            if accepted.iter().any(|a| a.custodian == c.name) {
                c.last_proven = Some(now.clone());
            }
        }
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
        draft.detail = match delivered {
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
        };
        Ok(Switched::Done {
            updated: Box::new(updated),
            code: delivered.unwrap_or(0),
        })
    })?;
    let (updated, code) = match switched {
        Switched::Done { updated, code } => (*updated, code),
        Switched::DeliveryFailed { code, why } => {
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
            return Ok(report);
        }
    };
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
    Ok(report)
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
        if record.pending.is_none() {
            if let Some(done) = record
                .history
                .iter()
                .find(|h| h.operation.as_deref() == Some(id))
            {
                return Err(Error::Refused(format!(
                    "operation {id} of '{seal}' was confirmed at {}: there is nothing to cancel",
                    done.retired
                )));
            }
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
            return Err(Error::Refused(format!(
                "the log says operation {id} of '{seal}' was confirmed (entry {}, {}): this record is an old copy, and cancelling would destroy the live key; restore the newest record",
                e.seq, e.time
            )));
        }
        with_env_session(
            &g,
            &record.env,
            &[],
            &mut draft,
            |session, signer, draft| {
                // A key that is not there refuses; a token that fails to answer is
                // the token's failure (exit 4), not a record that is not current.
                find_current_key(session, &record).map_err(|e| match e {
                    Error::Refused(m) => Error::Refused(format!(
                        "{m}; cancel destroys nothing on a record that is not current"
                    )),
                    other => other,
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
