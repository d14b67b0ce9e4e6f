//! The ceremonies, one file each, and what they share: opening an environment's token,
//! checking that it is the environment's, signing and verifying records.

pub mod attest;
pub mod cleanup;
pub mod collect;
pub mod deal;
pub mod distribute;
pub mod drill;
pub mod env;
pub mod generate;
pub mod offboard;
pub mod pending;
pub mod revoke;
pub mod share_verify;
pub mod shares;
pub mod unseal;

use std::path::PathBuf;

use cryptoki::object::ObjectHandle;

use crate::audit::{self, Draft, Outcome};
use crate::error::{Error, Result};
use crate::hsm::{Hsm, HsmSession, Need, PublicKey};
use crate::pin::read_pin;
use crate::seal::{RecordSignature, SealRecord};
use crate::store::{EnvConfig, Store};

/// What every command gets from the command line besides its own arguments.
#[derive(Debug, Clone)]
pub struct Context {
    /// The store directory.
    pub store: PathBuf,
    /// `--pin-file`, if given.
    pub pin_file: Option<PathBuf>,
}

/// What a command hands back to the binary to print.
#[derive(Debug)]
pub struct Report {
    /// For people.
    pub text: String,
    /// For machines (`--json`).
    pub json: serde_json::Value,
    /// The exit code: 0, or a child's code after `unseal --exec`.
    pub exit_code: u8,
    /// Print on stderr instead of stdout: stdout carries the credential or belongs to
    /// a child process.
    pub on_stderr: bool,
}

impl Report {
    pub(crate) fn new(text: String, json: serde_json::Value) -> Report {
        Report {
            text,
            json,
            exit_code: 0,
            on_stderr: false,
        }
    }
}

/// The environment's signing key, found on its token.
pub(crate) struct Signer {
    pub handle: ObjectHandle,
    pub public: PublicKey,
}

impl Signer {
    /// Signs `record` in place, with the ceremony log's current head in it, and checks
    /// the signature with the public key, so a token that signs wrongly is caught before
    /// anything is written.
    pub fn sign_record(
        &self,
        session: &HsmSession<'_>,
        store: &Store,
        record: &mut SealRecord,
    ) -> Result<()> {
        record.signature = None;
        record.log_head = audit::current_head(store, &record.env)?;
        let message = record.signed_bytes()?;
        let der = session.sign(self.handle, &message)?;
        if !self.public.verify(&message, &der) {
            return Err(Error::Hsm(format!(
                "token '{}' produced a record signature that does not verify with its own public key",
                session.token().label
            )));
        }
        use base64::Engine;
        record.signature = Some(RecordSignature {
            key: self.public.fingerprint(),
            value: base64::engine::general_purpose::STANDARD.encode(der),
        });
        Ok(())
    }

    /// The signing side of a log append.
    pub fn signing<'a>(&'a self, session: &'a HsmSession<'a>) -> audit::Signing<'a> {
        audit::Signing {
            session,
            key: self.handle,
            public: &self.public,
        }
    }
}

/// Opens the token of `env`, checks it is that environment's (serial, marker, signing
/// key), logs in and runs `f`; then writes the ceremony's log entry, signed, unless `f`
/// wrote it already. Before the PIN is asked, the token must offer every mechanism in
/// `needs` (and `CKM_ECDSA`, which signs the log): a token that lost one (another
/// module, another firmware, a changed policy) is refused by name, not met halfway
/// through the ceremony. A failure to open the token is logged unsigned, with why. The
/// module is finalized afterwards, whatever happened.
pub(crate) fn with_env_session<T>(
    ctx: &Context,
    store: &Store,
    env: &str,
    needs: &[Need],
    draft: &mut Draft,
    f: impl FnOnce(&HsmSession<'_>, &Signer, &mut Draft) -> Result<T>,
) -> Result<T> {
    let cfg = store.env(env)?;
    draft.env = Some(env.to_string());
    let hsm = match Hsm::load(&cfg.module) {
        Ok(h) => h,
        Err(e) => return Err(log_unsigned(store, draft, e)),
    };
    let result = match open(ctx, store, env, cfg, &hsm, needs) {
        Err(e) => Err(log_unsigned(store, draft, e)),
        Ok((session, signer)) => {
            let result = f(&session, &signer, draft);
            if draft.logged {
                result
            } else {
                let (outcome, detail) = outcome_of(&result, draft);
                let logged = audit::append(
                    store,
                    draft,
                    outcome,
                    &detail,
                    Some(&signer.signing(&session)),
                    None,
                );
                settle(result, logged)
            }
        }
    };
    hsm.close();
    result
}

fn open<'h>(
    ctx: &Context,
    store: &Store,
    env: &str,
    cfg: &EnvConfig,
    hsm: &'h Hsm,
    needs: &[Need],
) -> Result<(HsmSession<'h>, Signer)> {
    let token = hsm.find_token(&cfg.token)?;
    if token.serial != cfg.serial {
        return Err(Error::Refused(format!(
            "token '{}' in {} has serial {}, but environment '{env}' is bound to serial {}: this is not the environment's token",
            token.label,
            cfg.module.display(),
            token.serial,
            cfg.serial
        )));
    }
    let mut all = needs.to_vec();
    all.push(Need::signing("sign the ceremony's log entry"));
    hsm.require(&token, &all)?;
    let session = {
        let pin = read_pin(ctx.pin_file.as_deref(), &token.label)?;
        hsm.login(&token, &pin)?
    };
    let signer = check_binding(&session, store, env, cfg)?;
    Ok((session, signer))
}

/// Logs a ceremony that could not open its token: unsigned, saying why. Returns the
/// error for the caller to pass on.
fn log_unsigned(store: &Store, draft: &mut Draft, err: Error) -> Error {
    let why = format!("the HSM could not be used: {}", err.message());
    if let Err(e) = audit::append(
        store,
        draft,
        Outcome::of(&err),
        err.message(),
        None,
        Some(why),
    ) {
        eprintln!(
            "warning: the log entry of this ceremony could not be written: {}",
            e.message()
        );
    }
    err
}

/// Ends a ceremony: if it stopped before its log entry was written (refused before the
/// HSM was opened), writes it now — signed when a PIN is at hand without asking
/// (`--pin-file`, `ZEROTH_PIN`), else unsigned, for the next signed entry to cover.
/// Nothing is logged for a ceremony that never got as far as a bound environment.
pub(crate) fn finish<T>(
    ctx: &Context,
    store: &Store,
    draft: &mut Draft,
    result: Result<T>,
) -> Result<T> {
    if draft.logged {
        return result;
    }
    let Some(env) = draft.env.clone() else {
        return result;
    };
    let Ok(cfg) = store.env(&env) else {
        return result;
    };
    let (outcome, detail) = outcome_of(&result, draft);
    let pin_at_hand = ctx.pin_file.is_some() || std::env::var_os(crate::pin::PIN_ENV).is_some();
    let unsigned = |draft: &mut Draft, why: String| {
        audit::append(store, draft, outcome, &detail, None, Some(why))
    };
    let logged = if !pin_at_hand {
        unsigned(
            draft,
            "stopped before the HSM was opened, and no PIN was at hand without asking".into(),
        )
    } else {
        match Hsm::load(&cfg.module) {
            Err(e) => unsigned(draft, format!("the HSM could not sign: {}", e.message())),
            Ok(hsm) => {
                let r = match open(ctx, store, &env, cfg, &hsm, &[]) {
                    Ok((session, signer)) => {
                        let signing = signer.signing(&session);
                        audit::append(store, draft, outcome, &detail, Some(&signing), None)
                    }
                    Err(e) => unsigned(draft, format!("the HSM could not sign: {}", e.message())),
                };
                hsm.close();
                r
            }
        }
    };
    settle(result, logged)
}

/// What the log entry of a ceremony that ended with `result` says: ok with the draft's
/// detail, or the error's outcome and message.
fn outcome_of<T>(result: &Result<T>, draft: &Draft) -> (Outcome, String) {
    match result {
        Ok(_) => (Outcome::Ok, draft.detail.clone()),
        Err(e) => (Outcome::of(e), e.message().to_string()),
    }
}

/// The result of a ceremony once its log entry was (or could not be) written: a
/// ceremony that succeeded but could not be logged fails; a failed one keeps its own
/// error, with a warning about the log.
fn settle<T>(result: Result<T>, logged: Result<Option<u64>>) -> Result<T> {
    match (result, logged) {
        (r, Ok(_)) => r,
        (Ok(_), Err(e)) => Err(Error::Io(format!(
            "the ceremony completed but its log entry could not be written: {}",
            e.message()
        ))),
        (Err(r), Err(e)) => {
            eprintln!(
                "warning: the log entry of this ceremony could not be written: {}",
                e.message()
            );
            Err(r)
        }
    }
}

/// Checks the token's marker names `env` and its signing key is the one the store
/// holds; returns the signing key.
fn check_binding(
    session: &HsmSession<'_>,
    store: &Store,
    env: &str,
    cfg: &EnvConfig,
) -> Result<Signer> {
    let token = session.token();
    match session.marker()? {
        Some(marker) if marker == env => {}
        Some(other) => {
            return Err(Error::Refused(format!(
                "token '{}' (serial {}) is marked for environment '{other}', not '{env}': one token serves one environment",
                token.label, token.serial
            )));
        }
        None => {
            return Err(Error::Refused(format!(
                "token '{}' (serial {}) carries no zeroth environment marker: it was reset or is not the token of '{env}'",
                token.label, token.serial
            )));
        }
    }
    let id = hex::decode(&cfg.sign_key_id).map_err(|_| {
        Error::Usage(format!(
            "sign_key_id of environment '{env}' in zeroth.toml is not hex"
        ))
    })?;
    let (handle, public) = session.signing_key(env, &id)?;
    let stored = store.public_key(env)?;
    if public.fingerprint() != stored.fingerprint() {
        return Err(Error::Refused(format!(
            "{} ({}) is not the public half of the signing key on token '{}' ({}): the store's key was replaced; restore it from a trusted copy",
            store.public_key_path(env).display(),
            stored.fingerprint(),
            token.label,
            public.fingerprint()
        )));
    }
    Ok(Signer { handle, public })
}

/// Verifies the signature of `record` with the environment's public key (from the
/// store, or `pinned` when given). Returns the key that verified it.
pub(crate) fn verify_record(
    store: &Store,
    record: &SealRecord,
    pinned: Option<&PublicKey>,
) -> Result<PublicKey> {
    let path = store.record_path(&record.name);
    let key = match pinned {
        Some(k) => k.clone(),
        None => {
            let key = store.public_key(&record.env)?;
            if let Ok(cfg) = store.env(&record.env) {
                if cfg.sign_key_fingerprint != key.fingerprint() {
                    return Err(Error::Refused(format!(
                        "{} ({}) does not match the fingerprint zeroth.toml records for environment '{}' ({}): the store's key was replaced",
                        store.public_key_path(&record.env).display(),
                        key.fingerprint(),
                        record.env,
                        cfg.sign_key_fingerprint
                    )));
                }
            }
            key
        }
    };
    let sig = record.signature.as_ref().ok_or_else(|| {
        Error::Refused(format!(
            "{} is not signed: restore it from a trusted copy",
            path.display()
        ))
    })?;
    if sig.key != key.fingerprint() {
        return Err(Error::Refused(format!(
            "{} is signed by key {}, not by environment '{}' key {}: restore it from a trusted copy",
            path.display(),
            sig.key,
            record.env,
            key.fingerprint()
        )));
    }
    use base64::Engine;
    let der = base64::engine::general_purpose::STANDARD
        .decode(&sig.value)
        .unwrap_or_default();
    if !key.verify(&record.signed_bytes()?, &der) {
        return Err(Error::Refused(format!(
            "{} fails its signature check: it was changed after zeroth signed it (threshold, custodians, commitments or blob); restore it from a trusted copy",
            path.display()
        )));
    }
    Ok(key)
}

/// Returns a fresh 128-bit id from the OS random generator.
pub fn random_id() -> Result<[u8; 16]> {
    let mut id = [0u8; 16];
    getrandom::fill(&mut id)
        .map_err(|e| Error::Io(format!("the OS random generator failed: {e}")))?;
    Ok(id)
}
