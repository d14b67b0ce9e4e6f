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
use super::{Context, Report, Signer, finish, verify_record, with_env_session};
use crate::audit::{self, Draft, Outcome};
use crate::clock;
use crate::deliver::Delivery;
use crate::error::{Error, Result};
use crate::hsm::{HsmSession, Need};
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
}

/// What a ceremony does with the recovered credential, inside the HSM session.
pub(crate) type Then<'a, T> = dyn FnOnce(&HsmSession<'_>, &Signer, &SealRecord, Credential, &[Accepted], &mut Draft) -> Result<T>
    + 'a;

/// Recovers the credential of `seal` from `share_paths` and runs `then` with it while
/// the HSM session is open. `draft` collects what the log entry will say.
pub(crate) fn recover<T>(
    ctx: &Context,
    store: &Store,
    seal: &str,
    share_paths: &[PathBuf],
    how: Recovery<'_>,
    draft: &mut Draft,
    then: Box<Then<'_, T>>,
) -> Result<T> {
    let record = store.read_record(seal)?;
    if store.env(&record.env).is_ok() {
        draft.seal(&record);
    }
    verify_record(store, &record, None)?;
    record.refuse_revoked()?;
    if let Some(expires) = &record.expires {
        let at = clock::parse_instant(expires)?;
        if at <= clock::now()? {
            if how.refuse_expired {
                return Err(Error::Refused(format!(
                    "seal '{seal}' expired at {expires}: zeroth does not unseal an expired credential; its owner ({}) must replace it",
                    record.owner
                )));
            }
            eprintln!("warning: seal '{seal}' expired at {expires}");
        }
    }
    let verb = how.verb;
    let accepted = if share_paths.is_empty() {
        super::collect::collect(&record, verb, how.keys, how.all, draft)?
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
    with_env_session(
        ctx,
        store,
        &record.env,
        &needs,
        draft,
        |session, signer, draft| {
            let key_id = record.key_id_bytes()?;
            let kseal = session
                .find_seal_key(&record.key.label, &key_id)?
                .ok_or_else(|| missing_key(store, &record, &session.token().label))?;
            let object = session.unwrap_credential(record.key.mechanism, kseal, &wrapped)?;
            let credential = trim(&record, object)?;
            then(session, signer, &record, credential, &accepted, draft)
        },
    )
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
    Error::Refused(format!(
        "K_seal '{}' is not on token '{token}': {why}; nothing can open it any more",
        record.key.label
    ))
}

/// Logs the ceremony as done, then hands the credential over: no credential leaves
/// zeroth unlogged. A delivery that fails after that is logged too, as a failure.
#[allow(clippy::too_many_arguments)]
pub(crate) fn log_and_deliver(
    store: &Store,
    session: &HsmSession<'_>,
    signer: &Signer,
    draft: &mut Draft,
    detail: &str,
    delivery: &Delivery,
    credential: &Credential,
    encoding: Encoding,
) -> Result<u8> {
    audit::append(
        store,
        draft,
        Outcome::Ok,
        detail,
        Some(&signer.signing(session)),
        None,
    )?;
    delivery
        .deliver(credential, encoding)
        .inspect_err(|_| draft.logged = false)
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
        return Err(Error::Refused(format!(
            "the credential unwrapped for '{}' has {} bytes where the record says {length}: record and token disagree",
            record.name,
            bytes.len()
        )));
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
    let store = Store::open(&ctx.store)?;
    let mut draft = Draft::new("unseal");
    let result = unseal(ctx, &store, args, &mut draft);
    finish(ctx, &store, &mut draft, result)
}

fn unseal(ctx: &Context, store: &Store, args: &UnsealArgs, draft: &mut Draft) -> Result<Report> {
    let _lock = store.lock()?;
    let keys = Keyring::load(&args.identities)?;
    let to = describe(&args.delivery);
    let (custodians, encoding, exit_code) = recover(
        ctx,
        store,
        &args.seal,
        &args.shares,
        Recovery {
            verb: "unseal",
            refuse_expired: true,
            also_needs: Vec::new(),
            keys: &keys,
            all: false,
        },
        draft,
        Box::new(|session, signer, record, credential, accepted, draft| {
            let encoding = args.encoding.unwrap_or(record.credential.encoding);
            let custodians: Vec<String> = accepted.iter().map(|a| a.custodian.clone()).collect();
            let detail = format!("credential ({}) {to}", encoding.name());
            let code = log_and_deliver(
                store,
                session,
                signer,
                draft,
                &detail,
                &args.delivery,
                &credential,
                encoding,
            )?;
            Ok((custodians, encoding, code))
        }),
    )?;
    let to = match &args.delivery {
        Delivery::Exec(_) => format!("{to}, which exited with {exit_code}"),
        _ => to,
    };
    let text = format!(
        "unsealed '{}' with the shares of {}; credential ({}) {to}\n",
        args.seal,
        custodians.join(", "),
        encoding.name(),
    );
    let mut report = Report::new(
        text,
        json!({
            "seal": args.seal,
            "custodians": custodians,
            "encoding": encoding,
            "exit_code": exit_code,
        }),
    );
    report.exit_code = exit_code;
    // stdout carries the credential or belongs to the child: people read the summary
    // on stderr, and machines get JSON on stdout only when stdout is free.
    report.on_stderr = matches!(args.delivery, Delivery::Stdout { .. });
    if !report.on_stderr {
        eprint!("{}", std::mem::take(&mut report.text));
    }
    Ok(report)
}
