//! The ceremonies, one file each, and what they share: opening an environment's token,
//! checking that it is the environment's, signing and verifying records.

pub mod drill;
pub mod env;
pub mod generate;
pub mod share_verify;
pub mod shares;
pub mod unseal;

use std::path::PathBuf;

use cryptoki::object::ObjectHandle;

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
    /// Signs `record` in place and checks the signature with the public key, so a token
    /// that signs wrongly is caught before anything is written.
    pub fn sign_record(&self, session: &HsmSession<'_>, record: &mut SealRecord) -> Result<()> {
        record.signature = None;
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
}

/// Opens the token of `env`, checks it is that environment's (serial, marker, signing
/// key), logs in and runs `f`. Before the PIN is asked, the token must offer every
/// mechanism in `needs`: a token that lost one (another module, another firmware, a
/// changed policy) is refused by name, not met halfway through the ceremony. The
/// module is finalized afterwards, whatever `f` did.
pub(crate) fn with_env_session<T>(
    ctx: &Context,
    store: &Store,
    env: &str,
    needs: &[Need],
    f: impl FnOnce(&HsmSession<'_>, &Signer) -> Result<T>,
) -> Result<T> {
    let cfg = store.env(env)?;
    let hsm = Hsm::load(&cfg.module)?;
    let result = (|| {
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
        hsm.require(&token, needs)?;
        let session = {
            let pin = read_pin(ctx.pin_file.as_deref(), &token.label)?;
            hsm.login(&token, &pin)?
        };
        let signer = check_binding(&session, store, env, cfg)?;
        f(&session, &signer)
    })();
    hsm.close();
    result
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
pub(crate) fn random_id() -> Result<[u8; 16]> {
    let mut id = [0u8; 16];
    getrandom::fill(&mut id)
        .map_err(|e| Error::Io(format!("the OS random generator failed: {e}")))?;
    Ok(id)
}
