//! The ceremonies, one file each, and what they share: opening an environment's token,
//! checking that it is the environment's, signing and verifying records.

pub mod approve;
pub mod attest;
pub mod cleanup;
pub mod collect;
pub mod custodian;
pub mod deal;
pub mod distribute;
pub mod drill;
pub mod env;
pub mod generate;
pub mod offboard;
pub mod owner;
pub mod pending;
pub mod remote;
pub mod revoke;
pub mod share_send;
pub mod share_verify;
pub mod shares;
pub mod unseal;
pub mod vault;

use std::path::PathBuf;

use crate::audit::{self, Draft, Outcome};
use crate::error::{CeremonyError, Error, Result};
use crate::hsm::{Hsm, HsmSession, Need};
use crate::key::PublicKey;
use crate::keystore::{Key, KeyStore, SigningKey};
use crate::pin::read_pin;
use crate::seal::{RecordSignature, SealRecord};
use crate::store::{EnvConfig, Store, StoreLock};
use crate::trust::{HsmPin, KeySource, Trust};

/// What every command gets from the command line besides its own arguments.
#[derive(Debug, Clone)]
pub struct Context {
    /// The store directory.
    pub store: PathBuf,
    /// `--pin-file`, if given.
    pub pin_file: Option<PathBuf>,
    /// The trust anchors outside the store: the trust file(s) read for this run.
    pub trust: Trust,
}

/// What a command hands back to the binary to print.
#[derive(Debug)]
pub struct Report {
    /// For people.
    pub text: String,
    /// For machines (`--json`): [`Report::take_json`].
    json: Json,
    /// The exit code: 0, or a child's code after `unseal --exec`.
    pub exit_code: u8,
    /// Print on stderr instead of stdout: stdout carries the credential or belongs to
    /// a child process.
    pub on_stderr: bool,
}

/// A report's JSON, or how to make it: a large one (`list` of 100,000 seals) is made
/// only when `--json` asks for it.
enum Json {
    Value(serde_json::Value),
    Later(Box<dyn FnOnce() -> serde_json::Value>),
}

impl std::fmt::Debug for Json {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Json::Value(v) => v.fmt(f),
            Json::Later(_) => f.write_str("<made when asked for>"),
        }
    }
}

impl Report {
    pub(crate) fn new(text: String, json: serde_json::Value) -> Report {
        Report {
            text,
            json: Json::Value(json),
            exit_code: 0,
            on_stderr: false,
        }
    }

    /// A report whose JSON `json` makes when it is asked for.
    pub(crate) fn later(
        text: String,
        json: impl FnOnce() -> serde_json::Value + 'static,
    ) -> Report {
        Report {
            text,
            json: Json::Later(Box::new(json)),
            exit_code: 0,
            on_stderr: false,
        }
    }

    /// The report for machines (`--json`).
    pub fn take_json(&mut self) -> serde_json::Value {
        std::mem::take(self.json_mut())
    }

    /// The report for machines, made now if it was left for later.
    pub fn json_mut(&mut self) -> &mut serde_json::Value {
        if let Json::Later(_) = self.json
            && let Json::Later(f) =
                std::mem::replace(&mut self.json, Json::Value(serde_json::Value::Null))
        {
            self.json = Json::Value(f());
        }
        match &mut self.json {
            Json::Value(v) => v,
            Json::Later(_) => unreachable!("made above"),
        }
    }
}

/// The environment's signing key, found on its token.
pub(crate) struct Signer {
    pub handle: Key,
    pub public: PublicKey,
    /// The token's log anchor, once read ([`crate::keystore::Signing::anchor`]).
    pub anchor: std::cell::RefCell<Option<Option<crate::keystore::LogAnchor>>>,
}

impl Signer {
    /// Signs `record` in place, with the ceremony log's current head in it, and checks
    /// the signature with the public key, so a token that signs wrongly is caught before
    /// anything is written.
    pub fn sign_record(
        &self,
        session: &dyn KeyStore,
        store: &Store,
        record: &mut SealRecord,
    ) -> Result<()> {
        record.signature = None;
        record.log_head = audit::current_head(store, &record.env)?;
        let message = record.signed_bytes()?;
        let der = self.key(session).sign_checked(&message, "record")?;
        use base64::Engine;
        record.signature = Some(RecordSignature {
            key: self.public.fingerprint(),
            value: base64::engine::general_purpose::STANDARD.encode(der),
        });
        Ok(())
    }

    /// Signs an environment's settings in place, with the log's current head in them,
    /// and checks the signature with the public key.
    pub fn sign_settings(
        &self,
        session: &dyn KeyStore,
        store: &Store,
        settings: &mut crate::settings::Settings,
    ) -> Result<()> {
        settings.signature = None;
        settings.log_head = audit::current_head(store, &settings.env)?;
        let message = settings.signed_bytes()?;
        let der = self.key(session).sign_checked(&message, "settings")?;
        use base64::Engine;
        settings.signature = Some(RecordSignature {
            key: self.public.fingerprint(),
            value: base64::engine::general_purpose::STANDARD.encode(der),
        });
        Ok(())
    }

    /// The signing side of a log append.
    pub fn signing<'a>(&'a self, session: &'a dyn KeyStore) -> crate::keystore::Signing<'a> {
        crate::keystore::Signing {
            key: self.key(session),
            anchor: &self.anchor,
        }
    }

    /// The signing key on `session`'s token, as a [`signature::Signer`](p256::ecdsa::signature::Signer).
    pub fn key<'a>(&'a self, session: &'a dyn KeyStore) -> SigningKey<'a> {
        SigningKey {
            store: session,
            key: self.handle,
            public: &self.public,
        }
    }
}

/// A ceremony in progress on one store: the store lock, taken **before** anything of
/// the store is read, and held until the ceremony's log entry is written — on every
/// path, refusals included — so two ceremonies never interleave on one store, and no
/// two processes touch the store's tokens at once (a soft token that rewrites its files
/// at login cannot be read half-written by another ceremony).
pub(crate) struct Guard<'c> {
    /// The command line's context.
    pub ctx: &'c Context,
    store: Store,
    lock: StoreLock,
}

impl<'c> Guard<'c> {
    /// Takes the store's lock, then reads the store.
    pub fn begin(ctx: &'c Context) -> Result<Guard<'c>> {
        let lock = Store::lock_root(&ctx.store)?;
        let store = Store::open(&ctx.store)?;
        Ok(Guard { ctx, store, lock })
    }

    /// Takes over a lock held already (a store created by `env init`).
    pub fn with_lock(ctx: &'c Context, lock: StoreLock) -> Result<Guard<'c>> {
        let store = Store::open(&ctx.store)?;
        Ok(Guard { ctx, store, lock })
    }

    /// The store, as read under the lock.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Runs `f` with the store lock released (a command zeroth hands a credential to
    /// may use the store itself), then takes the lock again. Records and logs changed
    /// meanwhile must be read again by the caller; the configuration is kept as read.
    pub fn released<T>(&self, f: impl FnOnce() -> T) -> Result<T> {
        self.lock.released(f)
    }

    /// Ends the ceremony: writes its log entry if it stopped before writing one
    /// (signed when a PIN is at hand without asking, else unsigned), then releases the
    /// lock.
    pub fn finish<T>(self, draft: &mut Draft, result: Result<T>) -> Result<T> {
        let out = finish(self.ctx, &self.store, draft, result);
        drop(self.lock);
        out
    }
}

/// Opens the token of `env`, checks it is that environment's (the pin outside the
/// store, then serial, marker, signing key and log anchor on the token), logs in and
/// runs `f`; then writes the ceremony's log entry, signed, unless `f` wrote it already.
/// Before the module is loaded, it must be the module the trust file pins, unchanged;
/// before the PIN is asked, the token must offer every mechanism in `needs` (and
/// `CKM_ECDSA`, which signs the log): a token that lost one is refused by name, not met
/// halfway through the ceremony. A failure to open the token is logged unsigned, with
/// why. The module is finalized afterwards, whatever happened.
pub(crate) fn with_env_session<T>(
    g: &Guard<'_>,
    env: &str,
    needs: &[Need],
    draft: &mut Draft,
    f: impl FnOnce(&dyn KeyStore, &Signer, &mut Draft) -> Result<T>,
) -> Result<T> {
    let store = g.store();
    draft.env = Some(env.to_string());
    let hsm = match load_pinned(g.ctx, store, env) {
        Ok(h) => h,
        Err(e) => return Err(log_unsigned(store, draft, e)),
    };
    let result = match open(g.ctx, store, env, &hsm, needs) {
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
    hsm.0.close();
    result
}

/// Loads the module the trust file pins for `env` — after checking it is the file
/// that was pinned — and says which module and token the ceremony uses.
pub(crate) fn load_pinned(ctx: &Context, store: &Store, env: &str) -> Result<(Hsm, HsmPin)> {
    let pin = ctx.trust.hsm_pin(store, env)?;
    let cfg = store.env(env)?;
    if cfg.module != pin.module {
        eprintln!(
            "warning: zeroth.toml names module {} for environment '{env}', but this machine pins {} ({}): the pinned one is used",
            cfg.module.display(),
            pin.module.display(),
            pin.source.display()
        );
    }
    let module = crate::trust::pinned_module(&pin, env, store)?;
    eprintln!(
        "zeroth: environment '{env}': token '{}' (serial {}) through {} (sha256 {}), as pinned in {}",
        pin.token,
        pin.serial,
        module.path.display(),
        module.sha256,
        pin.source.display()
    );
    let hsm = Hsm::load(&module)?;
    Ok((hsm, pin))
}

fn open<'h>(
    ctx: &Context,
    store: &Store,
    env: &str,
    hsm: &'h (Hsm, HsmPin),
    needs: &[Need],
) -> Result<(HsmSession<'h>, Signer)> {
    let (hsm, pin) = (&hsm.0, &hsm.1);
    let token = hsm.find_token(&pin.token)?;
    if token.serial != pin.serial {
        return Err(CeremonyError::token_serial_mismatch(
            token.label.clone(),
            hsm.path().to_path_buf(),
            token.serial.clone(),
            env.to_string(),
            pin.serial.clone(),
            pin.source.clone(),
        )
        .into());
    }
    let mut all = needs.to_vec();
    all.push(Need::signing("sign the ceremony's log entry"));
    hsm.require(&token, &all)?;
    let session = {
        let pin = read_pin(ctx.pin_file.as_deref(), &token.label)?;
        hsm.login(&token, &pin)?
    };
    let signer = check_binding(&session, store, env, store.env(env)?, Some(pin))?;
    let anchor = check_anchor(&session, store, env)?;
    check_tail(&session, store, env, &signer.public, anchor.as_ref())?;
    *signer.anchor.borrow_mut() = Some(anchor);
    Ok((session, signer))
}

/// Refuses a store older than its token: the log must still hold, at the sequence
/// number the token's log anchor names, the very entry the token signed there. A
/// store restored from an older copy (log, head and records rolled back together,
/// which nothing in the store can show) is caught here.
pub(crate) fn check_anchor(
    session: &dyn KeyStore,
    store: &Store,
    env: &str,
) -> Result<Option<crate::keystore::LogAnchor>> {
    let Some((seq, hash)) = session.log_anchor(env)? else {
        return Ok(None);
    };
    match audit::line_hash_at(store, env, seq)? {
        Some(h) if h == hash => Ok(Some((seq, hash))),
        found => Err(CeremonyError::StoreOlderThanToken {
            token: session.token_label().to_string(),
            seq,
            env: env.to_string(),
            log: audit::log_path(store, env),
            other_entry: found.is_some(),
        }
        .into()),
    }
}

/// Refuses to begin a ceremony whose log entry would be signed over entries that do
/// not verify: every entry after the token's log anchor must, so that one later
/// signature vouches for every line before it.
pub(crate) fn check_tail(
    session: &dyn KeyStore,
    store: &Store,
    env: &str,
    key: &crate::key::PublicKey,
    anchor: Option<&crate::keystore::LogAnchor>,
) -> Result<()> {
    match audit::tail_problem(store, env, key, anchor)? {
        None => Ok(()),
        Some(problem) => Err(CeremonyError::LogTailUnverified {
            log: audit::log_path(store, env),
            token: session.token_label().to_string(),
            problem,
            env: env.to_string(),
        }
        .into()),
    }
}

/// Logs a ceremony that could not open its token: unsigned, saying why. Returns the
/// error for the caller to pass on.
fn log_unsigned(store: &Store, draft: &mut Draft, err: Error) -> Error {
    let why = format!("the HSM could not be used: {}", err.message());
    if let Err(e) = audit::append(
        store,
        draft,
        Outcome::of(&err),
        &err.message(),
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
/// Called with the store lock held ([`Guard::finish`]).
fn finish<T>(ctx: &Context, store: &Store, draft: &mut Draft, result: Result<T>) -> Result<T> {
    if draft.logged {
        return result;
    }
    let Some(env) = draft.env.clone() else {
        return result;
    };
    if store.env(&env).is_err() {
        return result;
    }
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
        match load_pinned(ctx, store, &env) {
            Err(e) => unsigned(draft, format!("the HSM could not sign: {}", e.message())),
            Ok(hsm) => {
                let r = match open(ctx, store, &env, &hsm, &[]) {
                    Ok((session, signer)) => {
                        let signing = signer.signing(&session);
                        audit::append(store, draft, outcome, &detail, Some(&signing), None)
                    }
                    Err(e) => unsigned(draft, format!("the HSM could not sign: {}", e.message())),
                };
                hsm.0.close();
                r
            }
        }
    };
    settle(result, logged)
}

/// Logs a step that happens outside any ceremony guard's own entry (an offboarding
/// recorded in several environments): like the end of a ceremony, signed when a PIN is
/// at hand without asking.
pub(crate) fn log_event(g: &Guard<'_>, draft: &mut Draft) -> Result<()> {
    finish(g.ctx, g.store(), draft, Ok(()))
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
        (Ok(_), Err(e)) => Err(CeremonyError::LogEntryNotWritten {
            detail: e.message(),
        }
        .into()),
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
/// holds — and, with a pin, the one pinned; returns the signing key.
pub(crate) fn check_binding(
    session: &dyn KeyStore,
    store: &Store,
    env: &str,
    cfg: &EnvConfig,
    pin: Option<&HsmPin>,
) -> Result<Signer> {
    match session.marker()? {
        Some(marker) if marker == env => {}
        Some(other) => {
            return Err(CeremonyError::TokenMarkedForOtherEnv {
                token: session.token_label().to_string(),
                serial: session.token_serial().to_string(),
                marked: other,
                env: env.to_string(),
            }
            .into());
        }
        None => {
            return Err(CeremonyError::TokenUnmarked {
                token: session.token_label().to_string(),
                serial: session.token_serial().to_string(),
                env: env.to_string(),
            }
            .into());
        }
    }
    let id = hex::decode(&cfg.sign_key_id).map_err(|_| {
        Error::from(CeremonyError::SignKeyIdNotHex {
            env: env.to_string(),
        })
    })?;
    let (handle, public) = session.signing_key(env, &id)?;
    if let Some(pin) = pin
        && public.fingerprint() != pin.signing_key
    {
        return Err(CeremonyError::signing_key_not_pinned(
            session.token_label().to_string(),
            public.fingerprint(),
            pin.source.clone(),
            env.to_string(),
            pin.signing_key.clone(),
        )
        .into());
    }
    let stored = store.public_key(env)?;
    if public.fingerprint() != stored.fingerprint() {
        return Err(CeremonyError::StoreKeyReplaced {
            path: store.public_key_path(env),
            stored: stored.fingerprint(),
            token: session.token_label().to_string(),
            found: public.fingerprint(),
        }
        .into());
    }
    Ok(Signer {
        handle,
        public,
        anchor: std::cell::RefCell::new(None),
    })
}

/// Verifies the signature of `record` with its environment's public key, checked
/// against the trust file's pin ([`Trust::env_key`]) or given as `pubkey`. A record of
/// an environment `zeroth.toml` does not have is refused. Returns the key that
/// verified it and where that key was checked against.
/// Reads the record of `seal` for a ceremony: notes it in `draft` (when its
/// environment is known, so that a refusal is logged there) and verifies its signature
/// with the environment's pinned key.
pub(crate) fn read_verified(
    ctx: &Context,
    store: &Store,
    seal: &str,
    draft: &mut Draft,
) -> Result<(SealRecord, PublicKey)> {
    let record = store.read_record(seal)?;
    if store.env(&record.env).is_ok() {
        draft.seal(&record);
    }
    let (key, _) = verify_record(ctx, store, &record, None)?;
    Ok((record, key))
}

pub(crate) fn verify_record(
    ctx: &Context,
    store: &Store,
    record: &SealRecord,
    pubkey: Option<&std::path::Path>,
) -> Result<(PublicKey, KeySource)> {
    let (key, source) = ctx.trust.env_key(store, &record.env, pubkey)?;
    verify_record_with(store, record, &key)?;
    Ok((key, source))
}

/// Verifies the signature of `record` with `key`.
pub(crate) fn verify_record_with(
    store: &Store,
    record: &SealRecord,
    key: &PublicKey,
) -> Result<()> {
    verify_record_signed(store, record, key, &record.signed_bytes()?)
}

/// [`verify_record_with`], given the record's signed bytes.
pub(crate) fn verify_record_signed(
    store: &Store,
    record: &SealRecord,
    key: &PublicKey,
    signed: &[u8],
) -> Result<()> {
    let path = store.record_path(&record.name);
    let sig = record
        .signature
        .as_ref()
        .ok_or_else(|| Error::from(CeremonyError::RecordUnsigned { path: path.clone() }))?;
    if sig.key != key.fingerprint() {
        return Err(CeremonyError::RecordSignedByOtherKey {
            path,
            signer: sig.key.clone(),
            env: record.env.clone(),
            key: key.fingerprint(),
        }
        .into());
    }
    use base64::Engine;
    let der = base64::engine::general_purpose::STANDARD
        .decode(&sig.value)
        .unwrap_or_default();
    if !key.verify(signed, &der) {
        return Err(CeremonyError::RecordSignatureInvalid { path }.into());
    }
    Ok(())
}

/// Refuses to start an operation on a seal that already has one pending, saying how to
/// confirm or drop that one.
pub(crate) fn refuse_pending(record: &SealRecord) -> Result<()> {
    if let Some(p) = &record.pending {
        return Err(CeremonyError::PendingExists {
            seal: record.name.clone(),
            kind: p.kind.name(),
            id: p.id.clone(),
            created: p.created.as_str().into(),
            operator: p.operator.clone(),
        }
        .into());
    }
    Ok(())
}

/// The pending operation of `record` named `id`, of `kind`, or a refusal saying why not.
pub(crate) fn matching_pending<'r>(
    record: &'r SealRecord,
    kind: crate::seal::PendingKind,
    id: &str,
) -> Result<&'r crate::seal::Pending> {
    let p = record.pending.as_ref().ok_or_else(|| {
        Error::from(CeremonyError::NoPending {
            seal: record.name.clone(),
        })
    })?;
    if p.kind != kind {
        return Err(CeremonyError::PendingKindMismatch {
            seal: record.name.clone(),
            pending: p.kind.name(),
            wanted: kind.name(),
            id: p.id.clone(),
        }
        .into());
    }
    if p.id != id {
        return Err(CeremonyError::PendingIdMismatch {
            id: id.to_string(),
            kind: kind.name(),
            seal: record.name.clone(),
            created: p.created.as_str().into(),
            operator: p.operator.clone(),
        }
        .into());
    }
    Ok(p)
}

pub use zeroth_core::id::random_id;

/// Refuses a record older than the log: the last successful, signed ceremony of the
/// seal named the record it left behind; a record that is not that one and was signed
/// before that entry is an old copy (a record restored from git history or a backup,
/// from before a rekey, a rotation or a revocation). A record signed after that entry
/// (a crash between a record's write and its log entry) is newer, not stale.
pub(crate) fn refuse_stale(store: &Store, record: &SealRecord, key: &PublicKey) -> Result<()> {
    let last = audit::last_record_entry(store, &record.env, &record.name, key)?;
    judge_stale(store, record, last.as_ref())
}

/// [`refuse_stale`], given the last successful, vouched-for entry of the seal that
/// names a record (its sequence number, the record's fingerprint and the entry).
pub(crate) fn judge_stale(
    store: &Store,
    record: &SealRecord,
    last: Option<&audit::RecordEntry>,
) -> Result<()> {
    if last.is_none() {
        return Ok(());
    }
    judge_stale_as(
        store,
        &record.name,
        record.log_head.as_ref(),
        &audit::fingerprint(&record.signed_bytes()?),
        last,
    )
}

/// [`judge_stale`], given the fingerprint of the record's signed bytes.
pub(crate) fn judge_stale_as(
    store: &Store,
    seal: &str,
    log_head: Option<&audit::LogHead>,
    mine: &str,
    last: Option<&audit::RecordEntry>,
) -> Result<()> {
    let Some(entry) = last else {
        return Ok(());
    };
    let (seq, fingerprint) = (entry.seq, &entry.record);
    if mine == *fingerprint || log_head.is_some_and(|h| h.seq >= seq) {
        return Ok(());
    }
    if entry.event == "revoke" {
        return Err(CeremonyError::revoked_record_copy(
            seal.to_string(),
            entry.time.clone(),
            crate::text::clean(&entry.operator).to_string(),
            crate::text::clean(&entry.detail).to_string(),
            seq,
            store.record_path(seal),
        )
        .into());
    }
    Err(CeremonyError::record_older_than_log(
        store.record_path(seal),
        seq,
        crate::text::clean(&entry.event).to_string(),
        entry.time.clone(),
        fingerprint.clone(),
        mine.to_string(),
    )
    .into())
}

/// The settings that count for `env` ([`crate::settings::effective`]), for a ceremony
/// that deals shares: refused when the approved settings do not verify; changes in
/// `zeroth.toml` nobody approved are named on stderr.
pub(crate) fn effective_settings(
    ctx: &Context,
    store: &Store,
    env: &str,
) -> Result<crate::settings::Effective> {
    let (key, _) = ctx.trust.env_key(store, env, None)?;
    let eff = crate::settings::effective(store, env, &key);
    if let Some(p) = &eff.problem {
        return Err(CeremonyError::SettingsUnusable { detail: p.clone() }.into());
    }
    if !eff.unapproved.is_empty() {
        eprintln!(
            "note: zeroth.toml has changes environment '{env}' has not approved (only those that make things stricter count): {}; approve them with 'zeroth settings approve --env {env}'",
            eff.unapproved.join("; ")
        );
    }
    Ok(eff)
}

/// Asks on the terminal before a deliberate step whose details were just shown (loading
/// a module to pin it, signing settings); without a terminal, `--yes` is needed.
pub(crate) fn confirm_on_terminal(
    question: &str,
    without_terminal: &str,
    declined: &str,
) -> Result<()> {
    let Some(mut tty) = crate::terminal::Tty::open() else {
        return Err(CeremonyError::NoTerminalToConfirm {
            without_terminal: without_terminal.to_string(),
        }
        .into());
    };
    if tty.confirm(question)? {
        Ok(())
    } else {
        Err(CeremonyError::Declined {
            declined: declined.to_string(),
        }
        .into())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::keystore::double::SoftToken;

    /// The signed record of the frozen vector store, for unit tests of ceremonies.
    pub(crate) fn record() -> SealRecord {
        serde_json::from_str(include_str!(
            "../../tests/vectors/store/seals/vault-root.json"
        ))
        .unwrap()
    }

    fn signer(token: &SoftToken) -> Signer {
        let (handle, _, public) = token.generate_signing_key("prod", b"id").unwrap();
        Signer {
            handle,
            public,
            anchor: std::cell::RefCell::new(None),
        }
    }

    #[test]
    fn a_record_is_signed_with_the_log_head_and_verifies() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_or_create(dir.path()).unwrap();
        let token = SoftToken::default();
        let signer = signer(&token);
        let mut record = record();
        record.signature = None;
        signer.sign_record(&token, &store, &mut record).unwrap();
        let sig = record.signature.clone().expect("signed");
        assert_eq!(sig.key, signer.public.fingerprint());
        use base64::Engine;
        let der = base64::engine::general_purpose::STANDARD
            .decode(&sig.value)
            .unwrap();
        assert!(signer.public.verify(&record.signed_bytes().unwrap(), &der));
        // Through the `signature` crate's trait, the same key.
        use p256::ecdsa::signature::{Signer as _, Verifier as _};
        let by_trait: p256::ecdsa::DerSignature = signer.key(&token).sign(b"message");
        let vk = p256::ecdsa::VerifyingKey::from(&signer.public.key);
        let sig = p256::ecdsa::Signature::from_der(by_trait.as_bytes()).unwrap();
        assert!(vk.verify(b"message", &sig).is_ok());
    }

    #[test]
    fn a_token_that_signs_wrongly_is_caught_before_anything_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_or_create(dir.path()).unwrap();
        let token = SoftToken::default();
        let signer = signer(&token);
        token.sign_with_another_key.set(true);
        let mut record = record();
        let err = signer.sign_record(&token, &store, &mut record).unwrap_err();
        assert!(
            matches!(
                err.cause(),
                Error::Hsm(crate::error::HsmError::SignatureDoesNotVerify { .. })
            ),
            "{err:?}"
        );
        assert!(record.signature.is_none(), "the record is left unsigned");
        let key = signer.key(&token);
        assert!(
            p256::ecdsa::signature::Signer::<p256::ecdsa::DerSignature>::try_sign(&key, b"m")
                .is_err()
        );
    }

    #[test]
    fn each_signed_log_entry_moves_the_tokens_anchor_to_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_or_create(dir.path()).unwrap();
        let token = SoftToken::default();
        let signer = signer(&token);
        for n in 1..=3 {
            let mut draft = Draft::new("drill");
            draft.env = Some("prod".into());
            let signing = signer.signing(&token);
            let seq = audit::append(
                &store,
                &mut draft,
                audit::Outcome::Ok,
                "",
                Some(&signing),
                None,
            )
            .unwrap();
            assert_eq!(seq, Some(n));
            let head = audit::current_head(&store, "prod").unwrap().unwrap();
            assert_eq!(token.log_anchor("prod").unwrap(), Some((n, head.hash)));
        }
        let v = audit::verify(&store, "prod", &signer.public).unwrap();
        assert!(v.damage.is_none(), "{:?}", v.damage);
        assert_eq!(v.entries, 3);
    }
}
