//! Remote collection: custodians who are not in the room hand in their shares, each
//! from their own machine, for one ceremony only.
//!
//! A ceremony run with `--remote` has three phases:
//!
//! 1. **Open**, under the ceremony guard: the record is read and verified as the
//!    ceremony itself will read it; an ephemeral age X25519 key pair is made in memory
//!    for this ceremony alone; the request (seal, set, commitments, record fingerprint,
//!    the ephemeral recipient, a ceremony id, the expiry) is signed by the
//!    environment's HSM key, written, and logged (`remote-request`). The lock is then
//!    released: a collection that waits half an hour holds no lock.
//! 2. **Collect**, without the lock: hand-ins arrive in any order, from files
//!    (`--hand-in FILE`, read once they exist), watched directories (`--watch DIR`), or
//!    pasted at the terminal, where custodians in the room may also enter their shares
//!    (a mixed quorum). Each hand-in is decrypted in memory with the ephemeral key and
//!    checked (ceremony id, request fingerprint, expiry, custodian, commitment); a
//!    refused one is named with its fingerprint and why. The ephemeral secret key
//!    exists only in this process's memory (core dumps off, not dumpable) and is wiped
//!    (zeroized on drop) the moment the collection ends, whatever ends it: the
//!    threshold reached, the expiry, Ctrl-C or a signal. It is never written anywhere, so
//!    a hand-in captured later opens nothing.
//! 3. **Ceremony**, under the guard again: the ceremony runs as it does with share
//!    files, on the shares collected, each checked once more against the record read
//!    under the lock; the HSM has the last word. Its log entry carries the collection:
//!    the request, every hand-in accepted or refused with its fingerprint, the expiry.
//!    A collection that ends without a ceremony is logged as `remote-close`, refused.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use base64::Engine;
use zeroize::Zeroizing;

use super::shares::{Accepted, check_share, share_set};
use super::{Context, Guard, random_id, refuse_stale, verify_record, with_env_session};
use crate::audit::{Draft, RejectedShare};
use crate::clock;
use crate::error::{CeremonyError, Error, HsmError, Kind, RemoteError, Result};
use crate::handin::{self, HandIn, HandInLog, Inner, OpenError, RemoteLog, Request};
use crate::recipient::{Keyring, read_share};
use crate::seal::{PendingKind, SealRecord};
use crate::share::Share;
use crate::terminal::Tty;

/// How often the watched files and directories are looked at.
const TICK: Duration = Duration::from_millis(200);

/// The most lines a hand-in pasted at the terminal may have (one zeroth writes has a
/// few dozen, however a channel re-wraps it): a paste without its END line is refused
/// past this, or past [`handin::MAX_TEXT`].
const MAX_PASTE_LINES: usize = 400;

/// The error of a collection stopped by a signal, if one came: named, so a SIGTERM sent
/// by a service manager is not reported as a Ctrl-C.
fn stopped(stop: &AtomicUsize) -> Option<Error> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let name = match stop.load(Ordering::SeqCst) {
        0 => return None,
        s if s == SIGINT as usize => "SIGINT (Ctrl-C)",
        s if s == SIGTERM as usize => "SIGTERM",
        s if s == SIGHUP as usize => "SIGHUP (the terminal hung up)",
        _ => "a signal",
    };
    Some(Error::Interrupted(format!("stopped by {name}")))
}

/// SIGINT, SIGTERM and SIGHUP, watched while a collection is open: each sets `stop`
/// (to the signal's number) instead of ending zeroth, so the collection ends with its
/// key wiped and its close logged. When dropped, the signals are handed to the terminal
/// module's watcher ([`crate::terminal::watch_signals`]) first, then these flags go: a
/// signal during the ceremony that follows does what it does in every ceremony (a share
/// on screen is cleared, then the signal ends zeroth), and there is no moment without a
/// handler that does one or the other.
struct StopFlags {
    stop: Arc<AtomicUsize>,
    ids: Vec<signal_hook::SigId>,
}

impl StopFlags {
    fn register() -> Result<StopFlags> {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        let mut flags = StopFlags {
            stop: Arc::new(AtomicUsize::new(0)),
            ids: Vec::new(),
        };
        for sig in [SIGINT, SIGTERM, SIGHUP] {
            let id = signal_hook::flag::register_usize(sig, Arc::clone(&flags.stop), sig as usize)
                .map_err(|source| RemoteError::SignalWatch { source })?;
            flags.ids.push(id);
        }
        Ok(flags)
    }
}

impl Drop for StopFlags {
    fn drop(&mut self) {
        crate::terminal::watch_signals();
        for id in self.ids.drain(..) {
            signal_hook::low_level::unregister(id);
        }
    }
}

/// What a directory entry that is not a regular file is, and why it is not read.
fn not_a_file(meta: &std::fs::Metadata) -> String {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    let what = if t.is_symlink() {
        "a symbolic link, and zeroth reads a hand-in only from a regular file, never through a link; put the hand-in file itself there"
    } else if t.is_dir() {
        "a folder; hand-ins are read from the files of the watched folder itself"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    };
    format!("it is {what}")
}

/// Reads a hand-in file: opened without following a symbolic link and without blocking
/// (a FIFO is not waited on), only a regular file (as the opened file says, so one
/// swapped for a link after it was looked at is refused too), and at most
/// [`handin::MAX_TEXT`] bytes. The reason it is not read, otherwise.
fn read_hand_in_file(path: &Path) -> std::result::Result<Zeroizing<String>, String> {
    use std::io::Read;
    let fd = rustix::fs::open(
        path,
        rustix::fs::OFlags::RDONLY
            | rustix::fs::OFlags::NOFOLLOW
            | rustix::fs::OFlags::NONBLOCK
            | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(|e| {
        if e == rustix::io::Errno::LOOP {
            "it is a symbolic link, and zeroth reads a hand-in only from a regular file, never through a link; put the hand-in file itself there".to_string()
        } else {
            format!("it cannot be opened: {}", std::io::Error::from(e))
        }
    })?;
    let file = std::fs::File::from(fd);
    let meta = file
        .metadata()
        .map_err(|e| format!("it cannot be read: {e}"))?;
    if !meta.is_file() {
        return Err(not_a_file(&meta));
    }
    let mut bytes = Zeroizing::new(Vec::with_capacity(handin::MAX_TEXT as usize + 1));
    file.take(handin::MAX_TEXT + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("it cannot be read: {e}"))?;
    if bytes.len() as u64 > handin::MAX_TEXT {
        return Err(format!(
            "it is larger than {} KiB, which no hand-in is",
            handin::MAX_TEXT / 1024
        ));
    }
    Ok(Zeroizing::new(String::from_utf8_lossy(&bytes).into_owned()))
}

/// The `--remote` options of a ceremony.
#[derive(Debug, Clone, Default)]
pub struct RemoteOpts {
    /// Where the request is written [default: `<seal>.<ceremony8>.request`].
    pub request: Option<PathBuf>,
    /// Directories where hand-ins arrive.
    pub watch: Vec<PathBuf>,
    /// Hand-in files, read once they exist.
    pub hand_ins: Vec<PathBuf>,
    /// How long the request is good for (`30m`).
    pub valid_for: Option<String>,
}

/// What a collection's shares are for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// `unseal`.
    Unseal,
    /// `drill`.
    Drill,
    /// The first step of `rekey` or `rotate`.
    Start(PendingKind),
    /// `rekey --confirm` or `rotate --confirm`.
    Confirm(PendingKind),
    /// `vault unseal`.
    VaultUnseal,
}

impl Purpose {
    /// The ceremony's log event, which the request names.
    pub fn event(self) -> &'static str {
        match self {
            Purpose::Unseal => "unseal",
            Purpose::Drill => "drill",
            Purpose::Start(k) => k.name(),
            Purpose::Confirm(PendingKind::Rekey) => "rekey-confirm",
            Purpose::Confirm(PendingKind::Rotate) => "rotate-confirm",
            Purpose::VaultUnseal => "vault-unseal",
        }
    }
}

/// What a custodian is shown a request is for.
pub fn purpose_words(purpose: &str) -> &'static str {
    match purpose {
        "unseal" => "UNSEAL: the credential is recovered and delivered by the operator",
        "drill" => "DRILL: the credential is recovered in the HSM and discarded",
        "rekey" => "REKEY: a new share set is dealt (the credential stays)",
        "rotate" => "ROTATE: a new credential version with its own share set",
        "rekey-confirm" => "confirm a REKEY: the new share set becomes current",
        "rotate-confirm" => {
            "confirm a ROTATION: the new credential is delivered and becomes current"
        }
        "vault-unseal" => "VAULT UNSEAL: the key is recovered and sent to the vault's servers",
        _ => "a ceremony this zeroth does not know",
    }
}

/// The shares a remote collection gathered, for the ceremony to use.
#[derive(Debug, Clone)]
pub struct Collected {
    accepted: Vec<Accepted>,
    refused: Vec<RejectedShare>,
    log: RemoteLog,
    seal_id: String,
    set: u32,
}

impl Collected {
    /// Notes the collection in a ceremony's draft, so that whatever ends the ceremony,
    /// its log entry names the request and every hand-in.
    pub(crate) fn note(&self, draft: &mut Draft) {
        draft.remote = Some(self.log.clone());
        draft.rejected = self.refused.clone();
    }

    /// Hands the shares to the ceremony, each checked again against `record` (the set
    /// the ceremony uses, as read under the lock): a record that changed during the
    /// collection is caught here.
    pub(crate) fn take(
        self,
        record: &SealRecord,
        verb: &str,
        draft: &mut Draft,
    ) -> Result<Vec<Accepted>> {
        self.note(draft);
        draft.custodians = self.accepted.iter().map(|a| a.custodian.clone()).collect();
        if record.id != self.seal_id || record.set != self.set {
            return Err(RemoteError::RecordChanged {
                verb: verb.to_string(),
                seal: record.name.clone(),
                collected_set: self.set,
                set: record.set,
            }
            .into());
        }
        for a in &self.accepted {
            match check_share(record, &a.share) {
                Ok(c) if c == a.custodian => {}
                Ok(_) | Err(_) => {
                    return Err(RemoteError::ShareChanged {
                        verb: verb.to_string(),
                        custodian: a.custodian.clone(),
                        seal: record.name.clone(),
                    }
                    .into());
                }
            }
        }
        Ok(self.accepted)
    }
}

/// Notes `remote` in `draft`, if there is one.
pub(crate) fn note(remote: &Option<Collected>, draft: &mut Draft) {
    if let Some(c) = remote {
        c.note(draft);
    }
}

/// The set being collected, and what a share of another set is.
struct Target {
    record: SealRecord,
    /// The set itself: the record, or the pending view for a confirmation.
    view: SealRecord,
    /// For a confirmation, the set still in use.
    in_use: Option<u32>,
}

/// Opens a remote collection for `purpose` on `seal`, collects the shares, and returns
/// them once the threshold is reached (for a drill: every custodian, or the operator
/// ends it at the terminal, or the expiry comes with the threshold reached). `room` are
/// share files of custodians present.
#[allow(clippy::too_many_arguments)]
pub fn collect(
    ctx: &Context,
    purpose: Purpose,
    seal: &str,
    operation: Option<&str>,
    room: &[PathBuf],
    identities: &[PathBuf],
    opts: &RemoteOpts,
) -> Result<Collected> {
    collect_checked(ctx, purpose, seal, operation, room, identities, opts, None)
}

/// A check of the ceremony's own that needs no share (the new set of a rekey, say),
/// made when the collection opens, under the guard, on the record as verified: a
/// ceremony that would be refused asks no custodian for anything, and the refusal is
/// logged as the request's.
pub type Precheck<'a> =
    &'a dyn Fn(&Context, &crate::store::Store, &SealRecord, &crate::key::PublicKey) -> Result<()>;

/// [`collect`], with the ceremony's `precheck`.
#[allow(clippy::too_many_arguments)]
pub fn collect_checked(
    ctx: &Context,
    purpose: Purpose,
    seal: &str,
    operation: Option<&str>,
    room: &[PathBuf],
    identities: &[PathBuf],
    opts: &RemoteOpts,
    precheck: Option<Precheck<'_>>,
) -> Result<Collected> {
    crate::names::check(crate::names::NameKind::Seal, seal)?;
    crate::recipient::check_share_files(room)?;
    let valid = match &opts.valid_for {
        Some(v) => handin::parse_validity(v)?,
        None => handin::DEFAULT_VALID_SECS,
    };
    for d in &opts.watch {
        if !d.is_dir() {
            return Err(Error::Usage(format!(
                "--watch {}: not a directory: give the directory hand-ins arrive in",
                d.display()
            )));
        }
    }
    if opts.watch.is_empty() && opts.hand_ins.is_empty() && !Tty::available() {
        return Err(Error::Usage(
            "--remote needs somewhere for hand-ins to arrive: --watch DIR, --hand-in FILE, or a terminal to paste them on".into(),
        ));
    }
    let keys = Keyring::load(identities)?;
    // The signals that stop a collection are watched before its request exists: a
    // SIGTERM that comes once the request is written (or while it is being written and
    // logged) stops the collection with its close logged, never kills zeroth with the
    // request out and no end to it.
    let flags = StopFlags::register()?;
    let ceremony = hex::encode(random_id()?);
    let request_path = opts
        .request
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{seal}.{}.request", &ceremony[..8])));
    if request_path.exists() {
        return Err(crate::store::exists_error(&request_path));
    }
    // The ephemeral key: in this process's memory only, on the heap so it is not moved
    // about, and wiped (zeroized) when it is dropped.
    let identity = Box::new(age::x25519::Identity::generate());

    let g = Guard::begin(ctx)?;
    let mut draft = Draft::new("remote-request");
    draft.operation = operation.map(str::to_string);
    let result = open(
        &g,
        purpose,
        seal,
        operation,
        room,
        &keys,
        &identity,
        &ceremony,
        valid,
        &request_path,
        precheck,
        &mut draft,
    );
    let (target, request, room_accepted) = g.finish(&mut draft, result)?;

    // From here on the request is out and logged: whatever ends the collection without
    // its ceremony is logged as its close.
    let record = target.record.clone();
    let mut waiter = match Waiter::new(
        &request,
        identity,
        target,
        &keys,
        room_accepted,
        purpose == Purpose::Drill,
    ) {
        Ok(w) => w,
        Err(e) => return Err(close(ctx, &record, operation, &request, None, e)),
    };
    let ended = announce(&request, &request_path, opts, &waiter)
        .and_then(|()| waiter.wait(opts, &flags.stop));
    // The signals go back to the terminal module's watcher for the ceremony that follows.
    drop(flags);
    // The key is gone before anything else happens, whatever ended the collection.
    waiter.wipe();
    match ended {
        Ok(()) => {
            waiter.say(&format!(
                "{} shares in ({}): the collection is closed and its key wiped; the {} goes on\n",
                waiter.accepted.len(),
                names(&waiter.accepted),
                purpose.event()
            ));
            // The shares are lost if the ceremony finds the store busy for a moment
            // (another ceremony's quick look at it): it waits longer for the lock.
            crate::store::wait_at_least(AFTER_COLLECTION_LOCK_WAIT);
            Ok(waiter.collected())
        }
        Err(e) => Err(close(ctx, &record, operation, &request, Some(&waiter), e)),
    }
}

/// How long the store lock is waited for once a collection has ended: its shares (or
/// the record of its close) would otherwise be lost to a store busy for a moment.
const AFTER_COLLECTION_LOCK_WAIT: Duration = Duration::from_secs(60);

/// Logs the end of a collection without its ceremony (`remote-close`, refused) and
/// returns the error that ended it, told as the collection's end. The store lock is
/// waited for longer than a ceremony waits ([`AFTER_COLLECTION_LOCK_WAIT`]); should it
/// stay busy even so, the error that ended the collection is still the one returned,
/// saying the close could not be logged.
fn close(
    ctx: &Context,
    record: &SealRecord,
    operation: Option<&str>,
    request: &Request,
    waiter: Option<&Waiter<'_>>,
    e: Error,
) -> Error {
    let (have, threshold) = match waiter {
        Some(w) => (w.accepted.len(), w.threshold),
        None => (0, usize::from(request.threshold)),
    };
    let accepted = waiter.map(|w| names(&w.accepted)).unwrap_or_default();
    let e = e.map_message(|m| {
        format!(
            "the remote collection {} ended without the ceremony: {m} ({have} of {threshold} shares in{}); its key is wiped, and no hand-in of it opens anything any more",
            request.short_id(),
            if accepted.is_empty() {
                String::new()
            } else {
                format!(": {accepted}")
            }
        )
    });
    crate::store::wait_at_least(AFTER_COLLECTION_LOCK_WAIT);
    let g = match Guard::begin(ctx) {
        Ok(g) => g,
        Err(busy) => {
            let why = busy.to_string();
            return e.map_message(|m| {
                format!(
                    "{m}; and its close could not be logged (remote-close): {why}; `zeroth audit report` shows its request without an end"
                )
            });
        }
    };
    let mut draft = Draft::new("remote-close");
    if g.store().env(&record.env).is_ok() {
        draft.seal(record);
    }
    draft.operation = operation.map(str::to_string);
    let log = match waiter {
        Some(w) => {
            draft.custodians = w.accepted.iter().map(|a| a.custodian.clone()).collect();
            draft.rejected = w.refused.clone();
            w.log.clone()
        }
        None => RemoteLog {
            ceremony: request.ceremony.clone(),
            purpose: request.purpose.clone(),
            request: request.fingerprint().unwrap_or_default(),
            recipient: request.recipient.clone(),
            expires: request.expires.clone(),
            hand_ins: Vec::new(),
            in_room: Vec::new(),
            refused_not_kept: 0,
        },
    };
    draft.remote = Some(log);
    match g.finish::<()>(&mut draft, Err(e)) {
        Err(e) => e,
        Ok(()) => RemoteError::EndedWithoutCeremony.into(),
    }
}

/// Phase 1, under the guard: checks the record, checks the room's share files, signs
/// and writes the request, and logs it.
#[allow(clippy::too_many_arguments)]
fn open(
    g: &Guard<'_>,
    purpose: Purpose,
    seal: &str,
    operation: Option<&str>,
    room: &[PathBuf],
    keys: &Keyring,
    identity: &age::x25519::Identity,
    ceremony: &str,
    valid: i64,
    request_path: &Path,
    precheck: Option<Precheck<'_>>,
    draft: &mut Draft,
) -> Result<(Target, Request, Vec<Accepted>)> {
    let store = g.store();
    let record = store.read_record(seal)?;
    if store.env(&record.env).is_ok() {
        draft.seal(&record);
    }
    let (key, _) = verify_record(g.ctx, store, &record, None)?;
    record.refuse_revoked()?;
    refuse_stale(store, &record, &key)?;
    if let Some(check) = precheck {
        check(g.ctx, store, &record, &key)?;
    }
    let now = clock::now()?;
    let (view, in_use) = match purpose {
        Purpose::Unseal | Purpose::VaultUnseal => {
            if let Some(expires) = &record.expires
                && clock::parse_instant(expires)? <= now
            {
                return Err(CeremonyError::SealExpired {
                    seal: seal.to_string(),
                    expires: expires.clone(),
                    owner: record.owner.clone(),
                }
                .into());
            }
            (record.clone(), None)
        }
        Purpose::Drill => (record.clone(), None),
        Purpose::Start(_) => {
            super::refuse_pending(&record)?;
            (record.clone(), None)
        }
        Purpose::Confirm(kind) => {
            let id = operation.unwrap_or_default();
            super::matching_pending(&record, kind, id)?;
            let view = record
                .pending_view()
                .expect("a pending operation has a view");
            (view, Some(record.set))
        }
    };
    let target = Target {
        record: record.clone(),
        view,
        in_use,
    };
    let room_accepted = room_shares(&target, room, keys, purpose.event())?;
    draft.custodians = room_accepted.iter().map(|a| a.custodian.clone()).collect();

    let store_id = store
        .config()
        .store_id
        .clone()
        .ok_or_else(|| RemoteError::NoStoreId {
            config: store.root().join("zeroth.toml"),
        })?;
    let expires = now + time::Duration::seconds(valid);
    let public_der = {
        use p256::pkcs8::EncodePublicKey;
        key.key
            .to_public_key_der()
            .map_err(|e| RemoteError::PublicKeyEncoding {
                reason: e.to_string(),
            })?
    };
    let view = &target.view;
    let mut request = Request {
        format: handin::REQUEST_FORMAT,
        ceremony: ceremony.to_string(),
        purpose: purpose.event().to_string(),
        operation: operation.map(str::to_string),
        store: store_id,
        env: record.env.clone(),
        seal: record.name.clone(),
        seal_id: view.id.clone(),
        owner: record.owner.clone(),
        seal_purpose: record.purpose.clone(),
        version: view.version,
        set: view.set,
        threshold: view.threshold,
        custodians: view
            .custodians
            .iter()
            .map(|c| handin::RequestCustodian {
                name: c.name.clone(),
                x: c.x,
                commitment: c.commitment.clone(),
            })
            .collect(),
        record: record
            .signed_bytes()
            .map(|b| crate::audit::fingerprint(&b))?,
        recipient: identity.to_public().to_string(),
        operator: crate::audit::operator(),
        host: crate::audit::host(),
        created: clock::format(now),
        expires: clock::format(expires),
        key: key.fingerprint(),
        public_key: base64::engine::general_purpose::STANDARD.encode(public_der.as_bytes()),
        signature: None,
    };
    with_env_session(g, &record.env, &[], draft, |session, signer, draft| {
        let message = request.signed_bytes()?;
        let der = session.sign(signer.handle, &message)?;
        if !signer.public.verify(&message, &der) {
            return Err(HsmError::SignatureDoesNotVerify {
                token: session.token_label().to_string(),
                what: "request".into(),
            }
            .into());
        }
        request.signature = Some(base64::engine::general_purpose::STANDARD.encode(der));
        let fingerprint = request.fingerprint()?;
        crate::store::write_new_secret(request_path, request.to_armor()?.as_bytes())?;
        draft.remote = Some(RemoteLog {
            ceremony: request.ceremony.clone(),
            purpose: request.purpose.clone(),
            request: fingerprint,
            recipient: request.recipient.clone(),
            expires: request.expires.clone(),
            hand_ins: Vec::new(),
            in_room: Vec::new(),
            refused_not_kept: 0,
        });
        draft.detail = format!(
            "remote collection {} opened for {} of '{}' (set {}, {} of {}): request written to {}, hand-ins encrypted to {} until {}",
            request.short_id(),
            request.purpose,
            request.seal,
            request.set,
            request.threshold,
            request.custodians.len(),
            request_path.display(),
            request.recipient,
            request.expires
        );
        Ok(())
    })?;
    Ok((target, request, room_accepted))
}

/// Reads and checks the share files of the custodians in the room: any bad one refuses
/// the ceremony before anyone is asked for a hand-in.
fn room_shares(
    target: &Target,
    room: &[PathBuf],
    keys: &Keyring,
    verb: &str,
) -> Result<Vec<Accepted>> {
    let mut accepted: Vec<Accepted> = Vec::new();
    for path in room {
        let bad = |custodian: Option<&str>, reason: &str| -> Error {
            RemoteError::RoomShareRefused {
                verb: verb.to_string(),
                path: path.clone(),
                custodian: custodian.map(str::to_string),
                reason: reason.to_string(),
            }
            .into()
        };
        let text = match read_share(path, keys) {
            Ok(t) => t,
            // A share file read and refused is named as the room's; a file that cannot
            // be read at all keeps its own error.
            Err(e) if e.kind() == Kind::Refused => return Err(bad(None, &e.message())),
            Err(e) => return Err(e),
        };
        let share = Share::from_armor(&text).map_err(|r| bad(None, &r))?;
        let custodian = check_in_target(target, &share).map_err(|(c, r)| bad(c.as_deref(), &r))?;
        if accepted.iter().any(|a| a.custodian == custodian) {
            return Err(bad(
                Some(&custodian),
                &format!("it is '{custodian}''s share again: give each custodian's share once"),
            ));
        }
        accepted.push(Accepted {
            path: path.clone(),
            custodian,
            share,
        });
    }
    Ok(accepted)
}

/// Checks a share against the set collected, naming a share of the set still in use
/// at a confirmation.
fn check_in_target(
    target: &Target,
    share: &Share,
) -> std::result::Result<String, (Option<String>, String)> {
    if let Some(set) = target.in_use
        && share_set(&target.view, share) == Some(set)
    {
        return Err((
            Some(share.custodian.clone()),
            format!(
                "it belongs to set {set}, the one still in use; this confirms the new set {}: give the new shares",
                target.view.set
            ),
        ));
    }
    check_share(&target.view, share)
}

/// "alice, bob".
fn names(accepted: &[Accepted]) -> String {
    accepted
        .iter()
        .map(|a| a.custodian.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Tells the operator what to send and how custodians answer.
fn announce(request: &Request, path: &Path, opts: &RemoteOpts, w: &Waiter<'_>) -> Result<()> {
    let mut text = format!(
        "\nzeroth: remote collection {} for {} of '{}' ({}): any {} of {} custodians, until {}\n",
        request.short_id(),
        request.purpose,
        request.seal,
        request.env,
        request.threshold,
        request.custodians.len(),
        request.expires
    );
    text.push_str(&format!(
        "The request is in {} (signed by the HSM; it holds nothing secret). Send it to the\ncustodians by any channel; each runs, on their own machine:\n\n    zeroth share send {} --share THEIR-SHARE-FILE\n\nand sends back the hand-in it writes. ",
        path.display(),
        path.file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default()
    ));
    let mut ways = Vec::new();
    for d in &opts.watch {
        ways.push(format!("dropped in {}", d.display()));
    }
    for f in &opts.hand_ins {
        ways.push(format!("saved as {}", f.display()));
    }
    if w.tty.is_some() {
        ways.push("pasted here (or the path of a hand-in file typed here)".into());
    }
    text.push_str(&format!("Hand-ins are read when {}.\n", ways.join(", or ")));
    if w.tty.is_some() {
        text.push_str(
            "A custodian in the room pastes or types their share here too. Input is hidden. Ctrl-C stops.\n",
        );
    }
    text.push('\n');
    text.push_str(&request.to_armor()?);
    eprint!("{text}");
    Ok(())
}

/// A file or directory entry seen, and whether it changed since.
#[derive(PartialEq, Eq, Clone, Copy)]
struct Seen {
    len: u64,
    modified: Option<SystemTime>,
}

/// Phase 2: the collection, with the ephemeral key.
struct Waiter<'k> {
    request: Request,
    request_fp: String,
    expires: time::OffsetDateTime,
    identity: Option<Box<age::x25519::Identity>>,
    target: Target,
    keys: &'k Keyring,
    threshold: usize,
    all: bool,
    accepted: Vec<Accepted>,
    refused: Vec<RejectedShare>,
    log: RemoteLog,
    /// Fingerprints of the hand-ins accepted: the same hand-in through two channels
    /// counts once.
    fingerprints: BTreeSet<String>,
    /// Files read, and how they were then.
    files: BTreeMap<PathBuf, Seen>,
    /// Files seen once and not read yet, and how they were then: a file is read once it
    /// is the same at two looks in a row, so one still being written (copied into a
    /// watched folder, not renamed there) is not read half-way.
    settling: BTreeMap<PathBuf, Seen>,
    /// Files and folders reported as not read, each reported once.
    reported: BTreeSet<PathBuf>,
    tty: Option<Tty>,
}

impl<'k> Waiter<'k> {
    fn new(
        request: &Request,
        identity: Box<age::x25519::Identity>,
        target: Target,
        keys: &'k Keyring,
        room: Vec<Accepted>,
        all: bool,
    ) -> Result<Waiter<'k>> {
        let request_fp = request.fingerprint()?;
        let in_room = room.iter().map(|a| a.custodian.clone()).collect();
        let mut tty = Tty::open();
        if let Some(t) = tty.as_mut() {
            t.quiet()?;
        }
        Ok(Waiter {
            expires: clock::parse_instant(&request.expires)?,
            log: RemoteLog {
                ceremony: request.ceremony.clone(),
                purpose: request.purpose.clone(),
                request: request_fp.clone(),
                recipient: request.recipient.clone(),
                expires: request.expires.clone(),
                hand_ins: Vec::new(),
                in_room,
                refused_not_kept: 0,
            },
            request: request.clone(),
            request_fp,
            identity: Some(identity),
            threshold: usize::from(target.view.threshold),
            target,
            keys,
            all,
            accepted: room,
            refused: Vec::new(),
            fingerprints: BTreeSet::new(),
            files: BTreeMap::new(),
            settling: BTreeMap::new(),
            reported: BTreeSet::new(),
            tty,
        })
    }

    /// Drops the ephemeral key (its secret is zeroized on drop) and gives the terminal
    /// its settings back.
    fn wipe(&mut self) {
        self.identity = None;
        if let Some(t) = self.tty.as_mut() {
            t.loud();
        }
    }

    fn collected(self) -> Collected {
        Collected {
            seal_id: self.target.view.id.clone(),
            set: self.target.view.set,
            accepted: self.accepted,
            refused: self.refused,
            log: self.log,
        }
    }

    /// Says `text` on the terminal if there is one, else on stderr.
    fn say(&mut self, text: &str) {
        match self.tty.as_mut() {
            Some(t) => {
                let _ = t.say(text);
            }
            None => eprint!("{text}"),
        }
    }

    fn done(&self) -> bool {
        let n = self.target.view.custodians.len();
        self.accepted.len() >= n || (!self.all && self.accepted.len() >= self.threshold)
    }

    fn progress(&mut self) {
        if self.done() {
            return;
        }
        let have = self.accepted.len();
        let missing: Vec<String> = self
            .target
            .view
            .custodians
            .iter()
            .filter(|c| !self.accepted.iter().any(|a| a.custodian == c.name))
            .map(|c| c.name.clone())
            .collect();
        let line = if have < self.threshold {
            format!(
                "progress: {have} of {} shares in; still needed: {} more, from any of: {}\n",
                self.threshold,
                self.threshold - have,
                missing.join(", ")
            )
        } else {
            format!(
                "progress: {have} of {} shares in, the threshold ({}) is reached; {} may still prove theirs until {} (Enter on an empty line ends the drill)\n",
                self.target.view.custodians.len(),
                self.threshold,
                missing.join(", "),
                self.request.expires
            )
        };
        self.say(&line);
    }

    /// Waits for hand-ins until the collection is done, expires, or is stopped by one of
    /// the signals `stop` records ([`StopFlags`]).
    fn wait(&mut self, opts: &RemoteOpts, stop: &AtomicUsize) -> Result<()> {
        self.wait_loop(opts, stop)?;
        // A signal that came after the last look still stops the collection.
        match stopped(stop) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn wait_loop(&mut self, opts: &RemoteOpts, stop: &AtomicUsize) -> Result<()> {
        self.progress();
        loop {
            if let Some(e) = stopped(stop) {
                return Err(e);
            }
            if self.done() {
                return Ok(());
            }
            // The files are looked at first and the clock read after: a hand-in that
            // is there when the expiry is seen is refused as late, never missed.
            let found = self.scan(opts, false);
            let now = clock::now()?;
            for (path, via, text) in found {
                self.hand_in(&text, via, &path.display().to_string(), now);
                if self.done() {
                    return Ok(());
                }
            }
            if now > self.expires {
                for (path, via, text) in self.scan(opts, true) {
                    self.hand_in(&text, via, &path.display().to_string(), now);
                }
                if self.all && self.accepted.len() >= self.threshold {
                    return Ok(());
                }
                return Err(RemoteError::RequestExpired {
                    expires: self.request.expires.clone(),
                }
                .into());
            }
            let ready = match self.tty.as_ref() {
                Some(t) => t.line_ready(TICK)?,
                None => {
                    std::thread::sleep(TICK);
                    false
                }
            };
            if ready && let Some(end) = self.terminal(stop)? {
                return end;
            }
        }
    }

    /// Reports `path` once (not again at every look): a file or folder that cannot be
    /// read, or is not one zeroth reads a hand-in from.
    fn problem(&mut self, path: &Path, why: &str) {
        if self.reported.insert(path.to_path_buf()) {
            self.say(&format!(
                "  {}: not read: {}\n",
                crate::text::clean(&path.display().to_string()),
                crate::text::clean(why)
            ));
        }
    }

    /// The files to read: in watched directories, every regular file not hidden and not
    /// a temporary one (`.tmp`, `~`, `.part`); the `--hand-in` files that exist. A file
    /// is read once its size and time are the same at two looks in a row, and again
    /// only when they changed; one that is empty or whose armor is not complete yet
    /// (still being written) is left for the next look. The `last` look, at the expiry,
    /// reads what is there without waiting for it to settle.
    fn scan(
        &mut self,
        opts: &RemoteOpts,
        last: bool,
    ) -> Vec<(PathBuf, &'static str, Zeroizing<String>)> {
        let mut candidates: Vec<(PathBuf, &'static str)> = Vec::new();
        for dir in &opts.watch {
            let entries = match std::fs::read_dir(dir) {
                Ok(e) => e,
                Err(e) => {
                    self.problem(
                        dir,
                        &format!(
                            "the folder cannot be read ({e}): no hand-in in it is seen until it can"
                        ),
                    );
                    continue;
                }
            };
            let mut paths: Vec<PathBuf> = Vec::new();
            for entry in entries {
                match entry {
                    Ok(e) => paths.push(e.path()),
                    Err(e) => {
                        self.problem(dir, &format!("an entry of the folder cannot be read ({e})"))
                    }
                }
            }
            paths.sort();
            for p in paths {
                let name = p
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                if name.starts_with('.')
                    || name.ends_with(".tmp")
                    || name.ends_with('~')
                    || name.ends_with(".part")
                {
                    continue;
                }
                candidates.push((p, "directory"));
            }
        }
        for f in &opts.hand_ins {
            candidates.push((f.clone(), "file"));
        }
        let mut out = Vec::new();
        for (path, via) in candidates {
            // The entry itself, never what a link points to.
            let meta = match std::fs::symlink_metadata(&path) {
                Ok(m) => m,
                // A --hand-in file not there yet, or a file gone since the listing.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => {
                    self.problem(&path, &e.to_string());
                    continue;
                }
            };
            if !meta.is_file() {
                self.problem(&path, &not_a_file(&meta));
                continue;
            }
            let seen = Seen {
                len: meta.len(),
                modified: meta.modified().ok(),
            };
            if self.files.get(&path) == Some(&seen) {
                continue;
            }
            if !last && self.settling.insert(path.clone(), seen) != Some(seen) {
                // Seen like this for the first time: read it at the next look if it
                // stays so.
                continue;
            }
            self.settling.remove(&path);
            let text = match read_hand_in_file(&path) {
                Ok(t) => t,
                Err(why) => {
                    self.files.insert(path.clone(), seen);
                    self.problem(&path, &why);
                    continue;
                }
            };
            let partial =
                text.contains(handin::HAND_IN_BEGIN) && !text.contains(handin::HAND_IN_END);
            if partial || (!last && text.trim().is_empty()) {
                // Still being written: look again when it changes.
                self.files.insert(path, seen);
                continue;
            }
            self.files.insert(path.clone(), seen);
            out.push((path, via, text));
        }
        out
    }

    /// Deals with one line entered at the terminal: a pasted hand-in, the path of a
    /// hand-in file, a share of a custodian in the room, or Enter alone. Returns
    /// `Some` when the collection ends here.
    fn terminal(&mut self, stop: &AtomicUsize) -> Result<Option<Result<()>>> {
        let Some(tty) = self.tty.as_mut() else {
            return Ok(None);
        };
        let line = tty.read_hidden()?;
        let first = line.trim().to_string();
        if first.is_empty() {
            if self.all && self.accepted.len() >= self.threshold {
                return Ok(Some(Ok(())));
            }
            return Ok(None);
        }
        if super::collect::is_header(&first) {
            return Ok(None);
        }
        if first == handin::HAND_IN_BEGIN {
            let mut text = Zeroizing::new(format!("{first}\n"));
            let mut lines = 1;
            // The paste ends at its END line. One without (cut short, or not a hand-in)
            // is refused once it passes a hand-in's size, and dropped when the collection
            // is stopped or expires meanwhile: the terminal is read only when a whole line
            // is there, so neither waits on it.
            let cut = loop {
                if stop.load(Ordering::SeqCst) != 0 || clock::now()? > self.expires {
                    break Some("it was not finished when the collection ended");
                }
                if !tty.line_ready(TICK)? {
                    continue;
                }
                let l = tty.read_hidden()?;
                lines += 1;
                if lines > MAX_PASTE_LINES || text.len() + l.len() >= handin::MAX_TEXT as usize {
                    // The rest of the paste, if it is still coming, is not read as shares.
                    let mut more = 0;
                    while more < MAX_PASTE_LINES && tty.line_ready(TICK)? {
                        let l = tty.read_hidden()?;
                        more += 1;
                        if l.trim() == handin::HAND_IN_END {
                            break;
                        }
                    }
                    break Some("it has no END line within a hand-in's size");
                }
                text.push_str(l.trim());
                text.push('\n');
                if l.trim() == handin::HAND_IN_END {
                    break None;
                }
            };
            if let Some(why) = cut {
                drop(text);
                self.say(&format!(
                    "  the pasted hand-in was not read: {why} ({} lines or {} KiB at most, ending with '{}'); paste it again whole\n",
                    MAX_PASTE_LINES,
                    handin::MAX_TEXT / 1024,
                    handin::HAND_IN_END
                ));
                return Ok(None);
            }
            let now = clock::now()?;
            self.hand_in(&text, "terminal", crate::ceremony::collect::SOURCE, now);
            return Ok(None);
        }
        if first.starts_with('/') || first.starts_with("~/") || first.starts_with("./") {
            let path = PathBuf::from(match first.strip_prefix("~/") {
                Some(rest) => format!("{}/{rest}", std::env::var("HOME").unwrap_or_default()),
                None => first.clone(),
            });
            let text = match read_hand_in_file(&path) {
                Ok(t) => t,
                Err(why) => {
                    self.say(&format!(
                        "  {}: not read: {}\n",
                        crate::text::clean(&path.display().to_string()),
                        crate::text::clean(&why)
                    ));
                    return Ok(None);
                }
            };
            let now = clock::now()?;
            self.hand_in(&text, "file", &path.display().to_string(), now);
            return Ok(None);
        }
        // A custodian in the room: their share, pasted or typed.
        let entry = super::collect::read_entry_after(tty, &first, self.keys, &self.target.view)?;
        let super::collect::Entry::Share(share) = entry else {
            return Ok(None);
        };
        match check_in_target(&self.target, &share) {
            Ok(custodian) if self.accepted.iter().any(|a| a.custodian == custodian) => {
                self.say(&format!(
                    "  {custodian}'s share is in already: the next custodian, please\n"
                ));
            }
            Ok(custodian) => {
                self.say(&format!("  share of {custodian} accepted (in the room)\n"));
                self.log.in_room.push(custodian.clone());
                self.accepted.push(Accepted {
                    path: PathBuf::from(crate::ceremony::collect::SOURCE),
                    custodian,
                    share,
                });
                self.progress();
            }
            Err((custodian, reason)) => {
                self.say(&format!("  refused: {reason}\n"));
                self.refused.push(RejectedShare {
                    custodian,
                    file: crate::ceremony::collect::SOURCE.into(),
                    reason,
                });
            }
        }
        Ok(None)
    }

    /// Checks one hand-in and takes its share, or refuses it, naming it by its
    /// fingerprint and saying why.
    fn hand_in(&mut self, text: &str, via: &'static str, source: &str, now: time::OffsetDateTime) {
        let received = clock::format(now);
        // A file name (or anything else from a channel) cannot drive the terminal, nor
        // reach the log as it is.
        let source = crate::text::clean(source).into_owned();
        let parsed = HandIn::from_armor(text);
        let fingerprint = match &parsed {
            Ok(h) => h.fingerprint(),
            Err(_) => handin::fingerprint_of_text(text),
        };
        if self.fingerprints.contains(&fingerprint) {
            self.say(&format!(
                "  hand-in {} ({via}: {source}) is in already\n",
                fingerprint.chars().take(23).collect::<String>()
            ));
            return;
        }
        let outcome = self.check_hand_in(parsed, now).map_err(|(c, r)| {
            (
                c.map(|c| crate::text::clean(&c).into_owned()),
                crate::text::clean(&r).into_owned(),
            )
        });
        let (custodian, result) = match outcome {
            Ok((custodian, share)) => {
                self.fingerprints.insert(fingerprint.clone());
                self.accepted.push(Accepted {
                    path: PathBuf::from(format!("hand-in {fingerprint}")),
                    custodian: custodian.clone(),
                    share,
                });
                (Some(custodian), None)
            }
            Err((custodian, reason)) => (custodian, Some(reason)),
        };
        let short: String = fingerprint.chars().take(23).collect();
        match &result {
            None => {
                let who = custodian.clone().unwrap_or_default();
                self.say(&format!(
                    "  hand-in {short}… from {who} ({via}: {source}) accepted\n"
                ));
            }
            Some(reason) => {
                self.say(&format!(
                    "  hand-in {short}…{} ({via}: {source}) REFUSED: {reason}\n",
                    custodian
                        .as_deref()
                        .map(|c| format!(" from {c}"))
                        .unwrap_or_default()
                ));
            }
        }
        let refused = result.is_some();
        if refused && self.refused.len() >= handin::MAX_REFUSED_KEPT {
            // A flooded channel cannot make the log entry grow without bound: past the
            // first refusals, the rest are counted.
            if self.log.refused_not_kept == 0 {
                self.say(&format!(
                    "  (more than {} hand-ins refused: the log keeps the first {} and counts the rest)\n",
                    handin::MAX_REFUSED_KEPT,
                    handin::MAX_REFUSED_KEPT
                ));
            }
            self.log.refused_not_kept += 1;
            self.progress();
            return;
        }
        if let Some(reason) = &result {
            self.refused.push(RejectedShare {
                custodian: custodian.clone(),
                file: format!("hand-in {fingerprint} ({via}: {source})"),
                reason: reason.clone(),
            });
        }
        self.log.hand_ins.push(HandInLog {
            fingerprint,
            custodian,
            outcome: if refused { "refused" } else { "accepted" }.into(),
            reason: result,
            received,
            via: via.into(),
        });
        self.progress();
    }

    #[allow(clippy::type_complexity)]
    fn check_hand_in(
        &self,
        parsed: std::result::Result<HandIn, String>,
        now: time::OffsetDateTime,
    ) -> std::result::Result<(String, Share), (Option<String>, String)> {
        let h = parsed.map_err(|r| (None, format!("it is not a readable hand-in: {r}")))?;
        let claimed = Some(h.custodian.clone());
        if h.ceremony != self.request.ceremony {
            return Err((
                claimed,
                format!(
                    "it is for ceremony {}…, not this one ({}…): a hand-in is good for one ceremony only; ask {} to hand in again with this ceremony's request",
                    handin::short(&h.ceremony),
                    self.request.short_id(),
                    crate::text::clean(&h.custodian)
                ),
            ));
        }
        if now > self.expires {
            return Err((
                claimed,
                format!(
                    "it arrived at {}, after the request expired at {}",
                    clock::format(now),
                    self.request.expires
                ),
            ));
        }
        let Some(identity) = self.identity.as_ref() else {
            return Err((claimed, "the collection is closed".into()));
        };
        let plain = match handin::decrypt(identity, &h.ciphertext) {
            Ok(p) => p,
            Err(OpenError::NotOurs) => {
                return Err((
                    claimed,
                    "it is not encrypted to this ceremony's key: it was made for another ceremony (its header was edited)".into(),
                ));
            }
            Err(OpenError::Broken(why)) => {
                return Err((
                    claimed,
                    format!("it does not decrypt ({why}): it was altered or cut short"),
                ));
            }
        };
        let text = Zeroizing::new(String::from_utf8_lossy(&plain).into_owned());
        drop(plain);
        let inner = Inner::from_text(&text).map_err(|r| (claimed.clone(), r))?;
        if inner.ceremony != self.request.ceremony || inner.request != self.request_fp {
            return Err((
                claimed,
                "its content answers another request than this ceremony's: it was not made with this request".into(),
            ));
        }
        if inner.custodian != h.custodian {
            return Err((
                Some(inner.custodian.clone()),
                format!(
                    "its header names custodian '{}' but it was made by '{}': the header was edited",
                    crate::text::clean(&h.custodian),
                    crate::text::clean(&inner.custodian)
                ),
            ));
        }
        let share = Share::from_armor(&inner.share).map_err(|r| {
            (
                Some(inner.custodian.clone()),
                format!("the share in it: {r}"),
            )
        })?;
        let custodian = check_in_target(&self.target, &share)
            .map_err(|(c, r)| (c.or(Some(inner.custodian.clone())), r))?;
        if custodian != inner.custodian {
            return Err((
                Some(custodian.clone()),
                format!(
                    "it was made by '{}' but holds the share of '{custodian}'",
                    crate::text::clean(&inner.custodian)
                ),
            ));
        }
        if self.accepted.iter().any(|a| a.custodian == custodian) {
            return Err((
                Some(custodian.clone()),
                format!("{custodian}'s share is in already: this one is not needed"),
            ));
        }
        Ok((custodian, share))
    }
}
