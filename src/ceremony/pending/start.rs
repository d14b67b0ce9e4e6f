//! The first step of a rekey or rotation: a new set, written as pending.

use std::path::PathBuf;

use serde_json::json;

use super::find_current_key;
use crate::audit::{self, Draft};
use crate::ceremony::distribute::{self, Delivered, Outlets, Plan};
use crate::ceremony::generate::{CustodianSpec, approved_recipient, handed_out, refuse_offboarded};
use crate::ceremony::shares;
use crate::ceremony::{
    Context, Guard, Report, deal, random_id, refuse_pending, refuse_stale, verify_record,
    with_env_session,
};
use crate::clock;
use crate::error::{CeremonyError, Result};
use crate::fault;
use crate::hsm::{self, Need};
use crate::keystore::{Key, KeyStore};
use crate::mechanism::WrapMechanism;
use crate::names::{NameKind, check};
use crate::recipient::Keyring;
use crate::seal::{CredentialInfo, KeyRef, Origin, Pending, PendingKind, SealRecord};
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
    pub remote: Option<crate::ceremony::remote::Collected>,
}

/// Runs the first step: a new set, written as pending.
pub fn start(ctx: &Context, args: Start) -> Result<Report> {
    check(NameKind::Seal, &args.seal)?;
    crate::recipient::check_share_files(&args.shares)?;
    let g = Guard::begin(ctx)?;
    let mut draft = Draft::new(args.kind.name());
    crate::ceremony::remote::note(&args.remote, &mut draft);
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
            return Err(CeremonyError::NotACustodian {
                name: name.clone(),
                seal: record.name.clone(),
                custodians: record.custodians.iter().map(|c| c.name.clone()).collect(),
            }
            .into());
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
            return Err(CeremonyError::AlreadyHoldsShare {
                given: c.name.clone(),
                existing: existing.name.clone(),
                seal: record.name.clone(),
            }
            .into());
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
            return Err(CeremonyError::OffboardedNotLeftOut {
                name: c.name.clone(),
                when: off.to_string(),
            }
            .into());
        }
    }
    Ok(out)
}

/// Before a remote collection (`--remote`, [`crate::ceremony::remote::Precheck`]): the checks of
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
        return Err(CeremonyError::VaultSealRotate {
            seal: record.name.clone(),
        }
        .into());
    }
    let settings = crate::ceremony::effective_settings(ctx, store, &record.env)?;
    let custodians = new_custodians(store, &settings, record, args)?;
    let n = custodians.len();
    let threshold = args.threshold.unwrap_or(record.threshold);
    if n == 0 {
        return Err(CeremonyError::NoCustodiansInNewSet.into());
    }
    if usize::from(threshold) > n || threshold == 0 {
        return Err(CeremonyError::ThresholdDoesNotFit {
            threshold,
            custodians: n,
        }
        .into());
    }
    if threshold == 1 {
        return Err(CeremonyError::NewSetThresholdOne.into());
    }
    if args.kind == PendingKind::Rotate
        && record.credential.origin == Origin::Imported
        && !matches!(args.credential, Some(NewCredential::Import(_)))
    {
        return Err(CeremonyError::ImportedNeedsImport {
            seal: record.name.clone(),
        }
        .into());
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
    let needs = start_needs(&record, &args, mech);
    let (pending, written) =
        with_env_session(g, &record.env, &needs, draft, |session, signer, draft| {
            let old_key = find_current_key(session, &record)?;
            let (version, set) = next_version_and_set(&record, args.kind);
            let label = hsm::seal_key_label(&record.env, &record.name, version, set);
            if !session.secret_keys_labelled(&label)?.is_empty() {
                return Err(CeremonyError::PendingKeyLabelTaken {
                    token: session.token_label().to_string(),
                    label,
                    env: record.env.clone(),
                }
                .into());
            }
            let key_id = random_id()?;
            let new_key = session.generate_seal_key(&label, &key_id)?;
            fault::point(&format!("{}:after-key", args.kind.name()));
            // From here on a failure destroys the new K_seal again.
            let made = (|| {
                let (object, credential) =
                    new_credential_object(session, store, &record, &args, old_key, &wrapped, mech)?;
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
                    draft.detail = pending_detail(&pending);
                    Ok((pending, written))
                }
                Err(e) => {
                    let _ = session.destroy(new_key);
                    Err(e)
                }
            }
        })?;
    Ok(started(&record, &pending, &written))
}

/// What the first step asks of the token: a new K_seal and wrapping under it with the
/// environment's mechanism, and for the credential, the current one unwrapped (rekey) or
/// a new one generated (rotate, unless imported).
fn start_needs(record: &SealRecord, args: &Start, mech: WrapMechanism) -> Vec<Need> {
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
    needs
}

/// The version and share set the new set gets: a rotation makes a new version, and the
/// set number is past every set the seal has had.
fn next_version_and_set(record: &SealRecord, kind: PendingKind) -> (u32, u32) {
    let version = match kind {
        PendingKind::Rekey => record.version,
        PendingKind::Rotate => record.version + 1,
    };
    let set = record
        .set
        .max(record.history.iter().map(|h| h.set).max().unwrap_or(0))
        + 1;
    (version, set)
}

/// The credential the new set seals, as an object on the token to wrap under the new
/// K_seal, with what the record says of it: a rekey unwraps the current one (`wrapped`,
/// under `old_key`); a rotation imports the new one, or generates it (as long as the
/// current one unless `--length` says otherwise).
fn new_credential_object(
    session: &dyn KeyStore,
    store: &Store,
    record: &SealRecord,
    args: &Start,
    old_key: Key,
    wrapped: &[u8],
    mech: WrapMechanism,
) -> Result<(Key, CredentialInfo)> {
    Ok(match (&args.kind, &args.credential) {
        (PendingKind::Rekey, _) => (
            session.unwrap_for_rewrap(record.key.mechanism, old_key, wrapped)?,
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
    })
}

/// The log entry's detail of a first step.
fn pending_detail(pending: &Pending) -> String {
    format!(
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
    )
}

/// What the first step reports: the new set, where its shares went, and how to confirm
/// or drop it.
fn started(record: &SealRecord, pending: &Pending, written: &Delivered) -> Report {
    let verb = pending.kind.name();
    let (lines, custodians_json) = handed_out(&pending.custodians, written);
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
        if pending.kind == PendingKind::Rotate { " (--output FILE|- or --exec -- CMD)" } else { "" },
        record.name,
        pending.id
    ));
    Report::new(
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
    )
}
