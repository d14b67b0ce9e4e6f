//! `unseal`: a quorum of custodians and the HSM give the credential back.
//!
//! Every check that needs no PIN comes first — record signature, expiry, each share
//! against the record — so a bad share or a tampered record is refused before anyone
//! types a PIN. Then U is combined, the blob opened, and the wrapped credential
//! unwrapped by K_seal in the HSM into a session object that is read and destroyed.

use std::path::PathBuf;

use serde_json::json;

use super::shares::{self, Accepted};
use super::{Context, Report, Signer, verify_record, with_env_session};
use crate::clock;
use crate::deliver::Delivery;
use crate::error::{Error, Result};
use crate::hsm::{HsmSession, Need};
use crate::seal::{Origin, SealRecord};
use crate::secret::{Credential, Encoding};
use crate::store::Store;

/// Arguments of `unseal`.
#[derive(Debug, Clone)]
pub struct UnsealArgs {
    /// Seal name.
    pub seal: String,
    /// Share files.
    pub shares: Vec<PathBuf>,
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
}

/// Recovers the credential of `seal` from `share_paths` and runs `then` with it while
/// the HSM session is open.
pub(crate) fn recover<T>(
    ctx: &Context,
    store: &Store,
    seal: &str,
    share_paths: &[PathBuf],
    how: Recovery<'_>,
    then: impl FnOnce(&HsmSession<'_>, &Signer, &SealRecord, Credential, &[Accepted]) -> Result<T>,
) -> Result<T> {
    let record = store.read_record(seal)?;
    verify_record(store, &record, None)?;
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
    if share_paths.is_empty() {
        return Err(Error::Usage(format!(
            "no shares given: pass --share FILE for each of at least {} custodians",
            record.threshold
        )));
    }
    let verb = how.verb;
    let accepted = shares::collect(&record, share_paths, verb)?;
    let u = shares::recover(&record, &accepted)?;
    let wrapped = record.open_blob(&u)?;
    drop(u);
    let mut needs = vec![Need::unwrap(
        record.key.mechanism,
        format!("{verb} '{seal}': its credential was wrapped with it, as its signed record says"),
    )];
    needs.extend(how.also_needs);
    with_env_session(ctx, store, &record.env, &needs, |session, signer| {
        let key_id = record.key_id_bytes()?;
        let kseal = session.find_seal_key(&record.key.label, &key_id)?.ok_or_else(|| {
            Error::Refused(format!(
                "K_seal '{}' of seal '{seal}' is not on token '{}': the seal was revoked or rekeyed, or this record is an old copy; nothing can open it any more",
                record.key.label,
                session.token().label
            ))
        })?;
        let object = session.unwrap_credential(record.key.mechanism, kseal, &wrapped)?;
        let credential = trim(&record, object)?;
        then(session, signer, &record, credential, &accepted)
    })
}

/// Cuts the unwrapped object back to the credential's length, which the signed record
/// and the blob's associated data both hold.
///
/// The object may be longer than the credential: with `CKM_AES_KEY_WRAP` zeroth wraps a
/// zero-padded object (or, for a generated credential, a longer random one), and SoftHSM
/// 2.6 hands back an object unwrapped with `CKM_AES_KEY_WRAP_PAD` with its RFC 5649
/// zero padding still on. Any other length, or non-zero padding behind an imported
/// credential, means record and token disagree.
fn trim(record: &SealRecord, object: Credential) -> Result<Credential> {
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

/// Unseals and delivers the credential.
pub fn run(ctx: &Context, args: &UnsealArgs) -> Result<Report> {
    args.delivery.preflight()?;
    let store = Store::open(&ctx.store)?;
    let _lock = store.lock()?;
    let (custodians, encoding, exit_code) = recover(
        ctx,
        &store,
        &args.seal,
        &args.shares,
        Recovery {
            verb: "unseal",
            refuse_expired: true,
            also_needs: Vec::new(),
        },
        |_, _, record, credential, accepted| {
            let encoding = args.encoding.unwrap_or(record.credential.encoding);
            let custodians: Vec<String> = accepted.iter().map(|a| a.custodian.clone()).collect();
            let code = args.delivery.deliver(&credential, encoding)?;
            Ok((custodians, encoding, code))
        },
    )?;
    let to = match &args.delivery {
        Delivery::File(p) => format!("written to {} (mode 0600)", p.display()),
        Delivery::Stdout { .. } => "written to stdout".to_string(),
        Delivery::Exec(cmd) => format!(
            "given to '{}', which exited with {exit_code}",
            std::path::Path::new(&cmd[0]).display()
        ),
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
