//! `unseal`: a quorum of custodians and the HSM give the credential back.
//!
//! Every check that needs no PIN comes first — record signature, expiry, each share
//! against the record — so a bad share or a tampered record is refused before anyone
//! types a PIN. Shares come from files (`--share`, plain or encrypted to their
//! custodian), or, without `--share` on a terminal, from the custodians themselves,
//! one at a time (`collect`). Then U is combined, the blob opened, and the wrapped credential
//! unwrapped by K_seal in the HSM into a session object that is read and destroyed.

use std::path::PathBuf;

use serde_json::json;

use super::shares::{self, Accepted};
use super::{Context, Guard, Report, Signer, refuse_stale, verify_record, with_env_session};
use crate::audit::{self, Draft, Outcome};
use crate::clock;
use crate::deliver::Delivery;
use crate::error::{CeremonyError, Error, Result};
use crate::hsm::Need;
use crate::keystore::KeyStore;
use crate::recipient::Keyring;
use crate::seal::{Origin, SealRecord};
use crate::secret::{Credential, Encoding};
use crate::store::Store;

/// Arguments of `unseal`.
#[derive(Debug, Clone)]
pub struct UnsealArgs {
    /// Seal name.
    pub seal: String,
    /// Share files; none means the custodians enter their shares on the terminal.
    pub shares: Vec<PathBuf>,
    /// `--identity` files, to open shares encrypted to custodians.
    pub identities: Vec<PathBuf>,
    /// Where the credential goes.
    pub delivery: Delivery,
    /// Encoding, if not the seal's default.
    pub encoding: Option<Encoding>,
    /// Shares collected remotely (`--remote`), instead of `shares` or the terminal.
    pub remote: Option<super::remote::Collected>,
    /// Why (`--reason`).
    pub reason: Option<String>,
}

/// The ceremony that recovers a credential, and what it does besides.
pub(crate) struct Recovery<'a> {
    /// Names the ceremony in messages.
    pub verb: &'a str,
    /// Refuses an expired seal (unseal), or warns and goes on (drill).
    pub refuse_expired: bool,
    /// The mechanisms the ceremony uses besides unwrapping with the recorded one.
    pub also_needs: Vec<Need>,
    /// Opens shares encrypted to custodians.
    pub keys: &'a Keyring,
    /// At the terminal, goes on past the threshold until every custodian has entered
    /// their share or an empty line ends it (drill).
    pub all: bool,
    /// Shares collected remotely, checked again here against the record.
    pub remote: Option<super::remote::Collected>,
    /// A recovery for use (unseal): a seal that requires a reason refuses one without
    /// (`reason`). A drill recovers nothing for use and needs none.
    pub for_use: bool,
    /// Why the operator recovers the credential (`--reason`).
    pub reason: Option<&'a str>,
}

/// What a ceremony does with the recovered credential, inside the HSM session.
pub(crate) type Then<'a, T> = dyn FnOnce(&dyn KeyStore, &Signer, &SealRecord, Credential, &[Accepted], &mut Draft) -> Result<T>
    + 'a;

/// Recovers the credential of `seal` from `share_paths` and runs `then` with it while
/// the HSM session is open. `draft` collects what the log entry will say.
pub(crate) fn recover<T>(
    g: &Guard<'_>,
    seal: &str,
    share_paths: &[PathBuf],
    how: Recovery<'_>,
    draft: &mut Draft,
    then: Box<Then<'_, T>>,
) -> Result<T> {
    let store = g.store();
    let record = store.read_record(seal)?;
    if store.env(&record.env).is_ok() {
        draft.seal(&record);
    }
    let (key, _) = verify_record(g.ctx, store, &record, None)?;
    record.refuse_revoked()?;
    refuse_stale(store, &record, &key)?;
    if how.for_use
        && how.reason.is_none()
        && record.access.as_ref().is_some_and(|a| a.require_reason)
    {
        return Err(CeremonyError::ReasonRequired {
            seal: record.name.clone(),
        }
        .into());
    }
    draft.reason = how.reason.map(str::to_string);
    if let Some(expires) = &record.expires {
        let at = clock::parse_instant(expires)?;
        if at <= clock::now()? {
            if how.refuse_expired {
                return Err(CeremonyError::SealExpired {
                    seal: seal.to_string(),
                    expires: expires.clone(),
                    owner: record.owner.clone(),
                }
                .into());
            }
            eprintln!("warning: seal '{seal}' expired at {expires}");
        }
    }
    let verb = how.verb;
    let accepted = if let Some(c) = how.remote {
        c.take(&record, verb, draft)?
    } else if share_paths.is_empty() {
        super::collect::collect(store, &record, verb, how.keys, how.all, draft)?
    } else {
        shares::collect(&record, share_paths, how.keys, verb, draft)?
    };
    let u = shares::recover(&record, &accepted)?;
    let wrapped = record.open_blob(&u)?;
    drop(u);
    let mut needs = vec![Need::unwrap(
        record.key.mechanism,
        format!("{verb} '{seal}': its credential was wrapped with it, as its signed record says"),
    )];
    needs.extend(how.also_needs);
    with_env_session(g, &record.env, &needs, draft, |session, signer, draft| {
        let key_id = record.key_id_bytes()?;
        let kseal = session
            .find_seal_key(&record.key.label, &key_id)?
            .ok_or_else(|| missing_key(store, &record, session.token_label()))?;
        let object = session.unwrap_credential(record.key.mechanism, kseal, &wrapped)?;
        let credential = trim(&record, object)?;
        then(session, signer, &record, credential, &accepted, draft)
    })
}

/// The refusal for a record whose K_seal is gone from the token: the log says whether
/// the seal was revoked or its set replaced, and this record is then an old copy.
pub(crate) fn missing_key(store: &Store, record: &SealRecord, token: &str) -> Error {
    let events = audit::events_of(store, &record.env, &record.name);
    let revoked = events
        .iter()
        .rev()
        .find(|e| e.event == "revoke" && e.outcome == Outcome::Ok);
    let replaced = events.iter().rev().find(|e| {
        matches!(
            e.event.as_str(),
            "rekey-confirm" | "rotate-confirm" | "vault-rotate-confirm"
        ) && e.outcome == Outcome::Ok
            && e.set.is_some_and(|s| s > record.set)
    });
    let why = match (revoked, replaced) {
        (Some(r), _) => format!(
            "seal '{}' was revoked at {} by {} ({}); this record is a copy from before",
            record.name, r.time, r.operator, r.detail
        ),
        (None, Some(r)) => format!(
            "set {} of '{}' was replaced at {} by {} (set {} is current); this record is an old copy",
            record.set,
            record.name,
            r.time,
            r.operator,
            r.set.unwrap_or_default()
        ),
        (None, None) => {
            "the seal was revoked or rekeyed, or this record is an old copy".to_string()
        }
    };
    Error::from(CeremonyError::SealKeyGone {
        label: record.key.label.clone(),
        token: token.to_string(),
        why,
    })
}

/// How a hand-over ended.
pub(crate) struct Handover {
    /// The exit code zeroth ends with: the command's for `--exec`, else 0.
    pub code: u8,
    /// Why the delivery failed, if it did: a command that exited non-zero (or was
    /// killed), or a file or stdout that could not be written.
    pub failure: Option<String>,
    /// The error of a file or stdout that could not be written, for the caller to end
    /// with once the failure is logged.
    pub error: Option<Error>,
}

/// Logs the ceremony as done, then hands the credential over: no credential leaves
/// zeroth unlogged. A command (`--exec`) runs with the store lock released, so it may
/// use the store itself; the lock is taken again before anything else is written.
#[allow(clippy::too_many_arguments)]
pub(crate) fn log_and_deliver(
    g: &Guard<'_>,
    session: &dyn KeyStore,
    signer: &Signer,
    draft: &mut Draft,
    detail: &str,
    delivery: &Delivery,
    credential: &Credential,
    encoding: Encoding,
) -> Result<Handover> {
    audit::append(
        g.store(),
        draft,
        Outcome::Ok,
        detail,
        Some(&signer.signing(session)),
        None,
    )?;
    let delivered = match delivery {
        Delivery::Exec(_) => g.released(|| delivery.deliver(credential, encoding))?,
        _ => delivery.deliver(credential, encoding),
    };
    Ok(match (delivered, delivery) {
        (Ok(0), _) => Handover {
            code: 0,
            failure: None,
            error: None,
        },
        (Ok(code), Delivery::Exec(cmd)) => Handover {
            code,
            failure: Some(format!(
                "'{}' {}",
                std::path::Path::new(&cmd[0]).display(),
                crate::deliver::exit_words(code)
            )),
            error: None,
        },
        (Ok(code), _) => Handover {
            code,
            failure: Some(format!("delivery ended with code {code}")),
            error: None,
        },
        (Err(e), _) => Handover {
            code: e.exit_code(),
            failure: Some(e.message().to_string()),
            error: Some(e),
        },
    })
}

/// Logs how a hand-over ended, as its own entry (`delivery`): for a command, always
/// (with its exit status); for a file or stdout, when it failed.
pub(crate) fn log_handover(
    g: &Guard<'_>,
    session: &dyn KeyStore,
    signer: &Signer,
    after: &Draft,
    delivery: &Delivery,
    handover: &Handover,
) -> Result<()> {
    if handover.failure.is_none() && !matches!(delivery, Delivery::Exec(_)) {
        return Ok(());
    }
    let mut draft = after.clone();
    draft.event = "delivery";
    draft.logged = false;
    let (outcome, detail) = match &handover.failure {
        None => (
            Outcome::Ok,
            format!("{}; it exited with 0", describe(delivery)),
        ),
        Some(why) => (Outcome::Failed, format!("delivery failed: {why}")),
    };
    audit::append(
        g.store(),
        &mut draft,
        outcome,
        &detail,
        Some(&signer.signing(session)),
        None,
    )?;
    Ok(())
}

/// How a delivery is described in summaries and log entries.
pub(crate) fn describe(delivery: &Delivery) -> String {
    match delivery {
        Delivery::File(p) => format!("written to {} (mode 0600)", p.display()),
        Delivery::Stdout { .. } => "written to stdout".to_string(),
        Delivery::Exec(cmd) => format!(
            "given to '{}' on its stdin",
            std::path::Path::new(&cmd[0]).display()
        ),
    }
}

/// Cuts the unwrapped object back to the credential's length, which the signed record
/// and the blob's associated data both hold.
///
/// The object may be longer than the credential: with `CKM_AES_KEY_WRAP` zeroth wraps a
/// zero-padded object (or, for a generated credential, a longer random one), and SoftHSM
/// 2.6 hands back an object unwrapped with `CKM_AES_KEY_WRAP_PAD` with its RFC 5649
/// zero padding still on. Any other length, or non-zero padding behind an imported
/// credential, means record and token disagree.
pub(crate) fn trim(record: &SealRecord, object: Credential) -> Result<Credential> {
    let length = record.credential.length as usize;
    let bytes = object.expose();
    let acceptable = [
        length,
        length.div_ceil(8) * 8,
        record.key.mechanism.object_len(length),
    ];
    let padding_ok = acceptable.contains(&bytes.len())
        && (record.credential.origin == Origin::Generated
            || bytes[length..].iter().all(|&b| b == 0));
    if !padding_ok {
        return Err(CeremonyError::CredentialLength {
            seal: record.name.clone(),
            found: bytes.len(),
            length,
        }
        .into());
    }
    if bytes.len() == length {
        return Ok(object);
    }
    Ok(Credential::new(bytes[..length].to_vec()))
}

/// Unseals and delivers the credential. The log entry is written before the
/// credential leaves zeroth: no unseal goes unlogged.
pub fn run(ctx: &Context, args: &UnsealArgs) -> Result<Report> {
    args.delivery.preflight()?;
    crate::names::check(crate::names::NameKind::Seal, &args.seal)?;
    crate::recipient::check_share_files(&args.shares)?;
    let g = Guard::begin(ctx)?;
    let mut draft = Draft::new("unseal");
    super::remote::note(&args.remote, &mut draft);
    let result = unseal(&g, args, &mut draft);
    g.finish(&mut draft, result)
}

fn unseal(g: &Guard<'_>, args: &UnsealArgs, draft: &mut Draft) -> Result<Report> {
    let keys = Keyring::load(&args.identities)?;
    let to = describe(&args.delivery);
    let (custodians, encoding, handover) = recover(
        g,
        &args.seal,
        &args.shares,
        Recovery {
            verb: "unseal",
            refuse_expired: true,
            also_needs: Vec::new(),
            keys: &keys,
            all: false,
            remote: args.remote.clone(),
            for_use: true,
            reason: args.reason.as_deref(),
        },
        draft,
        Box::new(|session, signer, record, credential, accepted, draft| {
            let encoding = args.encoding.unwrap_or(record.credential.encoding);
            let custodians: Vec<String> = accepted.iter().map(|a| a.custodian.clone()).collect();
            let detail = format!("credential ({}) {to}", encoding.name());
            let mut handover = log_and_deliver(
                g,
                session,
                signer,
                draft,
                &detail,
                &args.delivery,
                &credential,
                encoding,
            )?;
            drop(credential);
            log_handover(g, session, signer, draft, &args.delivery, &handover)?;
            if let Some(e) = handover.error.take() {
                return Err(e);
            }
            Ok((custodians, encoding, handover))
        }),
    )?;
    let text = match &handover.failure {
        None => format!(
            "unsealed '{}' with the shares of {}; credential ({}) {to}{}\n",
            args.seal,
            custodians.join(", "),
            encoding.name(),
            if matches!(args.delivery, Delivery::Exec(_)) {
                ", which exited with 0"
            } else {
                ""
            }
        ),
        Some(why) => format!(
            "unsealed '{}' with the shares of {}, but the delivery FAILED: {why}; the credential left zeroth ({to}); the log records both\n",
            args.seal,
            custodians.join(", "),
        ),
    };
    let mut report = Report::new(
        text,
        json!({
            "seal": args.seal,
            "custodians": custodians,
            "encoding": encoding,
            "exit_code": handover.code,
            "delivered": handover.failure.is_none(),
            "failure": handover.failure,
        }),
    );
    report.exit_code = handover.code;
    // stdout carries the credential or belongs to the child: people read the summary
    // on stderr, and machines get JSON on stdout only when stdout is free.
    report.on_stderr = matches!(args.delivery, Delivery::Stdout { .. });
    if !report.on_stderr {
        eprint!("{}", std::mem::take(&mut report.text));
    }
    Ok(report)
}
