//! The trust anchors that live outside the store.
//!
//! The store is untrusted input: whoever can edit it can point `zeroth.toml` at another
//! PKCS#11 module, replace `keys/<env>.pem` and re-sign records and log with a key of
//! their own. So, like ssh's `known_hosts`, each machine keeps a **trust file** that
//! pins, per store and environment, what that environment is:
//!
//! - the PKCS#11 module: its absolute path and the SHA-256 of the file;
//! - the token: its label and serial number;
//! - the environment's signing key: the fingerprint of its public key.
//!
//! `env init` writes the pin; `env pin` writes it again, deliberately (a package upgrade
//! changes the module's hash). Every ceremony checks the pin **before loading the
//! module**, and the commands that need no HSM verify records and logs against the
//! pinned key. The trust file is `--trust FILE` or `$ZEROTH_TRUST` when given (CI keeps
//! one beside its pipeline), else `$XDG_CONFIG_HOME/zeroth/trust.toml` or
//! `~/.config/zeroth/trust.toml`; a system-wide `/etc/zeroth/trust.toml`, when present,
//! is read too (never written), and a pin there must agree with the user's.
//!
//! A trust file is refused when another user could have written it: it must be owned
//! by the user running zeroth or by root, and not be writable by group or others.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result, TrustError};
use crate::key::PublicKey;
use crate::store::{EnvConfig, Store};

/// The trust file format this zeroth reads and writes.
pub const TRUST_FORMAT: u32 = 1;
/// The environment variable naming the trust file.
pub const TRUST_ENV: &str = "ZEROTH_TRUST";
/// The system-wide trust file, read when present.
pub const SYSTEM_TRUST: &str = "/etc/zeroth/trust.toml";
/// The largest trust file zeroth reads.
const TRUST_MAX: u64 = 4 * 1024 * 1024;
/// The largest PKCS#11 module zeroth hashes.
const MODULE_MAX: u64 = 512 * 1024 * 1024;

/// What one machine pins for one environment of one store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvPin {
    /// The store's id (`store_id` in its `zeroth.toml`).
    pub store: String,
    /// The environment.
    pub env: String,
    /// Fingerprint of the environment's signing public key (`sha256:` + hex).
    pub signing_key: String,
    /// Token label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Token serial number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    /// Absolute path of the PKCS#11 module.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub module: Option<PathBuf>,
    /// Hex SHA-256 of the module file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub module_sha256: Option<String>,
    /// When it was pinned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pinned: Option<String>,
    /// Who pinned it, on which host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pinned_by: Option<String>,
}

/// What a ceremony needs from a pin: the module and the token, besides the key.
#[derive(Debug, Clone)]
pub struct HsmPin {
    /// Absolute path of the module.
    pub module: PathBuf,
    /// Its pinned SHA-256, hex.
    pub module_sha256: String,
    /// Token label.
    pub token: String,
    /// Token serial.
    pub serial: String,
    /// Signing key fingerprint.
    pub signing_key: String,
    /// The trust file that pins it.
    pub source: PathBuf,
}

/// A trust file as written on disk.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TrustDoc {
    format: u32,
    #[serde(default, rename = "pin")]
    pins: Vec<EnvPin>,
}

/// One trust file, read.
#[derive(Debug, Clone)]
struct TrustFile {
    path: PathBuf,
    doc: TrustDoc,
}

/// A pin and where it was found.
#[derive(Debug, Clone)]
pub struct Pinned {
    /// The pin.
    pub pin: EnvPin,
    /// The trust file it is in.
    pub source: PathBuf,
}

/// Where an environment's public key was checked against.
#[derive(Debug, Clone)]
pub enum KeySource {
    /// A pin in this trust file.
    Pinned(PathBuf),
    /// Nothing outside the store: the store's key, consistent with `zeroth.toml`.
    Unpinned,
    /// A key file given on the command line (`--pubkey`).
    Given(PathBuf),
}

/// The trust files of this run: the user's (or the one given) and the system's.
#[derive(Debug)]
pub struct Trust {
    /// The file pins are written to: the one given, else the user's.
    path: PathBuf,
    /// Given with `--trust` or `ZEROTH_TRUST`: pins missing from it are errors, not
    /// warnings, and it must exist.
    explicit: bool,
    files: Vec<TrustFile>,
    /// Environments already warned about, so each warning is printed once.
    warned: Mutex<BTreeSet<String>>,
}

impl Clone for Trust {
    fn clone(&self) -> Trust {
        Trust {
            path: self.path.clone(),
            explicit: self.explicit,
            files: self.files.clone(),
            warned: Mutex::new(BTreeSet::new()),
        }
    }
}

/// The user's trust file: `$XDG_CONFIG_HOME/zeroth/trust.toml`, else
/// `~/.config/zeroth/trust.toml`.
pub fn user_trust_path() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("XDG_CONFIG_HOME").filter(|d| !d.is_empty()) {
        let dir = PathBuf::from(dir);
        if dir.is_absolute() {
            return Ok(dir.join("zeroth").join("trust.toml"));
        }
    }
    match std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        Some(home) => Ok(PathBuf::from(home)
            .join(".config")
            .join("zeroth")
            .join("trust.toml")),
        None => Err(TrustError::NoHome {
            variable: TRUST_ENV.to_string(),
        }
        .into()),
    }
}

impl Trust {
    /// Reads the trust files: `given` (from `--trust` or `ZEROTH_TRUST`), which must
    /// exist, else the user's, which may not exist yet; and the system's when present.
    pub fn load(given: Option<&Path>) -> Result<Trust> {
        let (path, explicit) = match given {
            Some(p) => (
                std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf()),
                true,
            ),
            None => (user_trust_path()?, false),
        };
        let mut files = Vec::new();
        // A trust file that does not exist yet pins nothing; 'env init' and 'env pin'
        // create it.
        if let Some(f) = read_trust_file(&path)? {
            files.push(f);
        }
        if Path::new(SYSTEM_TRUST) != path
            && let Some(f) = read_trust_file(Path::new(SYSTEM_TRUST))?
        {
            files.push(f);
        }
        Ok(Trust {
            path,
            explicit,
            files,
            warned: Mutex::new(BTreeSet::new()),
        })
    }

    /// A trust context with no file at all, for unit tests.
    #[cfg(test)]
    pub fn none() -> Trust {
        Trust {
            path: PathBuf::from("/nonexistent/trust.toml"),
            explicit: false,
            files: Vec::new(),
            warned: Mutex::new(BTreeSet::new()),
        }
    }

    /// The file pins are written to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Returns true if and only if the trust file was given explicitly.
    pub fn explicit(&self) -> bool {
        self.explicit
    }

    /// Returns the pin of `env` in `store`, if a trust file has one. Two files that pin
    /// the environment differently are refused.
    pub fn pin(&self, store: &Store, env: &str) -> Result<Option<Pinned>> {
        let Some(id) = store.config().store_id.as_deref() else {
            return Ok(None);
        };
        self.pin_by_id(id, env)
    }

    /// Returns the pin of `env` in the store whose id is `id`, if a trust file has one:
    /// for a custodian who checks a request without a copy of the store.
    pub fn pin_by_id(&self, id: &str, env: &str) -> Result<Option<Pinned>> {
        let mut found: Option<Pinned> = None;
        for f in &self.files {
            for p in f.doc.pins.iter().filter(|p| p.store == id && p.env == env) {
                match &found {
                    None => {
                        found = Some(Pinned {
                            pin: p.clone(),
                            source: f.path.clone(),
                        })
                    }
                    Some(first)
                        if first.pin.signing_key != p.signing_key
                            || (first.pin.module_sha256.is_some()
                                && p.module_sha256.is_some()
                                && (first.pin.module_sha256 != p.module_sha256
                                    || first.pin.module != p.module
                                    || first.pin.serial != p.serial)) =>
                    {
                        return Err(TrustError::PinnedTwice {
                            env: env.to_string(),
                            pins: Box::new([
                                (
                                    first.source.clone(),
                                    first.pin.signing_key.clone(),
                                    show_module(&first.pin),
                                ),
                                (f.path.clone(), p.signing_key.clone(), show_module(p)),
                            ]),
                        }
                        .into());
                    }
                    Some(_) => {}
                }
            }
        }
        Ok(found)
    }

    /// Returns the pin a ceremony needs to load the module of `env`, or refuses: zeroth
    /// loads no module that a trust file does not pin.
    pub fn hsm_pin(&self, store: &Store, env: &str) -> Result<HsmPin> {
        let pinned = self
            .pin(store, env)?
            .ok_or_else(|| self.unpinned_error(store, env))?;
        let p = &pinned.pin;
        match (&p.module, &p.module_sha256, &p.token, &p.serial) {
            (Some(module), Some(sha), Some(token), Some(serial)) => Ok(HsmPin {
                module: module.clone(),
                module_sha256: sha.clone(),
                token: token.clone(),
                serial: serial.clone(),
                signing_key: p.signing_key.clone(),
                source: pinned.source.clone(),
            }),
            _ => Err(TrustError::KeyOnlyPin {
                trust_file: pinned.source.clone(),
                env: env.to_string(),
            }
            .into()),
        }
    }

    fn unpinned_error(&self, store: &Store, env: &str) -> Error {
        TrustError::NotPinned {
            env: env.to_string(),
            store: store.root().to_path_buf(),
            trust_file: self.path.clone(),
            trust_file_exists: self.exists(),
        }
        .into()
    }

    /// Returns true if and only if the trust file pins are written to exists.
    fn exists(&self) -> bool {
        self.files.iter().any(|f| f.path == self.path)
    }

    /// Returns the public key of `env` from the store, checked against its pin (or, when
    /// the environment is not pinned, against `zeroth.toml`, with a warning), and where
    /// it was checked against. `pubkey`, when given, is used instead.
    pub fn env_key(
        &self,
        store: &Store,
        env: &str,
        pubkey: Option<&Path>,
    ) -> Result<(PublicKey, KeySource)> {
        if let Some(p) = pubkey {
            return Ok((read_pubkey(p)?, KeySource::Given(p.to_path_buf())));
        }
        let cfg = store.env(env)?;
        let key = store.public_key(env)?;
        let fp = key.fingerprint();
        match self.pin(store, env)? {
            Some(pinned) => {
                if fp != pinned.pin.signing_key {
                    return Err(TrustError::KeyNotPinned {
                        key_file: store.public_key_path(env),
                        found: fp.into(),
                        trust_file: pinned.source,
                        env: env.to_string(),
                        pinned: pinned.pin.signing_key.into(),
                    }
                    .into());
                }
                if cfg.sign_key_fingerprint != fp {
                    return Err(key_mismatch(store, env, cfg, &fp));
                }
                Ok((key, KeySource::Pinned(pinned.source)))
            }
            None => {
                if cfg.sign_key_fingerprint != fp {
                    return Err(key_mismatch(store, env, cfg, &fp));
                }
                if self.explicit {
                    return Err(TrustError::NotPinnedInGivenFile {
                        env: env.to_string(),
                        trust_file: self.path.clone(),
                        trust_file_exists: self.exists(),
                    }
                    .into());
                }
                self.warn_unpinned(store, env);
                Ok((key, KeySource::Unpinned))
            }
        }
    }

    /// Like [`Trust::env_key`], but an environment not pinned is returned as
    /// [`KeySource::Unpinned`] without a warning or an error, even with a trust file
    /// given: for `check`, which reports it as a finding.
    pub fn env_key_any(&self, store: &Store, env: &str) -> Result<(PublicKey, KeySource)> {
        if self.pin(store, env)?.is_some() {
            return self.env_key(store, env, None);
        }
        let cfg = store.env(env)?;
        let key = store.public_key(env)?;
        let fp = key.fingerprint();
        if cfg.sign_key_fingerprint != fp {
            return Err(key_mismatch(store, env, cfg, &fp));
        }
        Ok((key, KeySource::Unpinned))
    }

    /// Prints, once per environment, that `env` is checked against the store's own key.
    pub fn warn_unpinned(&self, store: &Store, env: &str) {
        let mut warned = self.warned.lock().unwrap_or_else(|e| e.into_inner());
        if warned.insert(env.to_string()) {
            eprintln!(
                "warning: environment '{env}' is not pinned in {}: its records and log are checked against the store's own key ({}), which whoever edits the store can replace; pin it with 'zeroth env pin {env}', or give --trust FILE",
                self.path.display(),
                store.public_key_path(env).display()
            );
        }
    }

    /// Writes `pin` into the trust file (replacing the pin of the same store and
    /// environment), creating the file (0600) and its directory (0700) if needed.
    pub fn save_pin(&self, pin: EnvPin) -> Result<PathBuf> {
        let path = self.path.clone();
        let mut doc = match read_trust_file(&path)? {
            Some(f) => f.doc,
            None => TrustDoc {
                format: TRUST_FORMAT,
                pins: Vec::new(),
            },
        };
        doc.pins
            .retain(|p| !(p.store == pin.store && p.env == pin.env));
        doc.pins.push(pin);
        doc.pins
            .sort_by(|a, b| (&a.store, &a.env).cmp(&(&b.store, &b.env)));
        if let Some(dir) = path.parent()
            && !dir.exists()
        {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| Error::io("create directory", dir, e))?;
        }
        let text = format!(
            "# zeroth trust file: what this machine trusts for each environment of each store\n# (written by 'zeroth env init' and 'zeroth env pin'; keep it outside every store).\n{}",
            toml::to_string_pretty(&doc).map_err(encode_error)?
        );
        crate::store::write_atomic(&path, text.as_bytes(), 0o600)?;
        Ok(path)
    }

    /// The pins of `store` (of `env` only, if given), as a trust file's text.
    pub fn export(&self, store: &Store, env: Option<&str>, key_only: bool) -> Result<String> {
        let mut pins = Vec::new();
        for name in store.config().env.keys() {
            if env.is_some_and(|e| e != name) {
                continue;
            }
            match self.pin(store, name)? {
                Some(p) => {
                    let mut pin = p.pin;
                    if key_only {
                        pin.module = None;
                        pin.module_sha256 = None;
                        pin.token = None;
                        pin.serial = None;
                    }
                    pins.push(pin);
                }
                None => {
                    return Err(TrustError::NothingToExport {
                        env: name.clone(),
                        trust_file: self.path.clone(),
                    }
                    .into());
                }
            }
        }
        let doc = TrustDoc {
            format: TRUST_FORMAT,
            pins,
        };
        Ok(format!(
            "# zeroth trust file for store {}\n{}",
            store.config().store_id.as_deref().unwrap_or("?"),
            toml::to_string_pretty(&doc).map_err(encode_error)?
        ))
    }
}

fn key_mismatch(store: &Store, env: &str, cfg: &EnvConfig, fp: &str) -> Error {
    TrustError::KeyNotAsRecorded {
        key_file: store.public_key_path(env),
        found: fp.to_string(),
        env: env.to_string(),
        recorded: cfg.sign_key_fingerprint.clone(),
    }
    .into()
}

/// The error of a trust file that could not be encoded.
fn encode_error(e: toml::ser::Error) -> TrustError {
    TrustError::Encode {
        detail: e.to_string(),
    }
}

fn show_module(p: &EnvPin) -> String {
    match (&p.module, &p.module_sha256) {
        (Some(m), Some(h)) => format!("{} sha256:{h}", m.display()),
        _ => "not pinned".into(),
    }
}

/// Reads a PEM public key given on the command line.
pub fn read_pubkey(path: &Path) -> Result<PublicKey> {
    let pem = std::fs::read_to_string(path).map_err(|e| Error::io("read", path, e))?;
    PublicKey::from_pem(&pem, &path.display().to_string())
}

/// Refuses a file another user could have written: it must be owned by the user running
/// zeroth or by root, and not be writable by group or others. `what` names it.
fn check_owner_and_mode(meta: &std::fs::Metadata, path: &Path, what: &str) -> Result<()> {
    let uid = rustix::process::getuid().as_raw();
    if meta.uid() != uid && meta.uid() != 0 {
        return Err(TrustError::ForeignOwner {
            what: what.to_string(),
            path: path.to_path_buf(),
            owner: meta.uid(),
            uid,
        }
        .into());
    }
    let mode = meta.permissions().mode();
    if mode & 0o022 != 0 {
        return Err(TrustError::Writable {
            what: what.to_string(),
            path: path.to_path_buf(),
            mode: mode & 0o7777,
        }
        .into());
    }
    Ok(())
}

fn read_trust_file(path: &Path) -> Result<Option<TrustFile>> {
    let file = match crate::store::open_regular(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("read the trust file", path, e)),
    };
    let meta = file
        .metadata()
        .map_err(|e| Error::io("read the trust file", path, e))?;
    check_owner_and_mode(&meta, path, "trust file")?;
    let mut text = String::new();
    file.take(TRUST_MAX)
        .read_to_string(&mut text)
        .map_err(|e| Error::io("read the trust file", path, e))?;
    let doc: TrustDoc = toml::from_str(&text).map_err(|e| TrustError::Invalid {
        path: path.to_path_buf(),
        detail: e.message().to_string(),
    })?;
    if doc.format != TRUST_FORMAT {
        return Err(TrustError::Format {
            path: path.to_path_buf(),
            found: doc.format,
            supported: TRUST_FORMAT,
        }
        .into());
    }
    Ok(Some(TrustFile {
        path: path.to_path_buf(),
        doc,
    }))
}

/// A PKCS#11 module file, checked and hashed, held open so that what is loaded is the
/// file that was hashed.
#[derive(Debug)]
pub struct ModuleFile {
    /// The path as given (absolute).
    pub path: PathBuf,
    /// Hex SHA-256 of its bytes.
    pub sha256: String,
    file: File,
}

impl ModuleFile {
    /// The path to load the module from: the open file itself (`/proc/self/fd/N`), so a
    /// file swapped after it was hashed is not what gets loaded; the path as given when
    /// `/proc` is not mounted (then the inode is compared right before loading).
    pub fn load_path(&self) -> Result<PathBuf> {
        use std::os::fd::AsRawFd;
        let via_fd = PathBuf::from(format!("/proc/self/fd/{}", self.file.as_raw_fd()));
        if via_fd.exists() {
            return Ok(via_fd);
        }
        let now = std::fs::metadata(&self.path).map_err(|e| Error::io("read", &self.path, e))?;
        let held = self
            .file
            .metadata()
            .map_err(|e| Error::io("read", &self.path, e))?;
        if now.ino() != held.ino() || now.dev() != held.dev() {
            return Err(TrustError::ModuleReplaced {
                module: self.path.clone(),
            }
            .into());
        }
        Ok(self.path.clone())
    }
}

/// Checks that `path` may be loaded as a PKCS#11 module, and hashes it: an absolute
/// path, outside the store, a regular file owned by the user or root and writable by
/// neither group nor others (nor is its directory). Returns the open, hashed file.
pub fn check_module(path: &Path, store_root: &Path) -> Result<ModuleFile> {
    if !path.is_absolute() {
        return Err(TrustError::ModuleRelative {
            module: path.to_path_buf(),
        }
        .into());
    }
    let real = std::fs::canonicalize(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            TrustError::ModuleMissing {
                module: path.to_path_buf(),
            }
            .into()
        } else {
            Error::io("resolve", path, e)
        }
    })?;
    if let Ok(root) = std::fs::canonicalize(store_root)
        && real.starts_with(&root)
    {
        return Err(TrustError::ModuleInsideStore {
            module: path.to_path_buf(),
            store: store_root.to_path_buf(),
        }
        .into());
    }
    let file = File::open(&real).map_err(|e| Error::io("open the PKCS#11 module", path, e))?;
    let meta = file
        .metadata()
        .map_err(|e| Error::io("read the PKCS#11 module", path, e))?;
    if !meta.is_file() {
        return Err(TrustError::ModuleNotAFile {
            module: path.to_path_buf(),
        }
        .into());
    }
    check_owner_and_mode(&meta, &real, "PKCS#11 module")?;
    if let Some(dir) = real.parent() {
        let dmeta = std::fs::metadata(dir).map_err(|e| Error::io("read", dir, e))?;
        // A sticky directory (/tmp) lets nobody but a file's owner replace it.
        if dmeta.permissions().mode() & 0o1000 == 0 {
            check_owner_and_mode(&dmeta, dir, "the directory of PKCS#11 module")?;
        }
    }
    if meta.len() > MODULE_MAX {
        return Err(TrustError::ModuleTooLarge {
            module: path.to_path_buf(),
            max_mib: MODULE_MAX / (1024 * 1024),
        }
        .into());
    }
    let mut hasher = Sha256::new();
    let mut reader = &file;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = reader
            .read(&mut buf)
            .map_err(|e| Error::io("read the PKCS#11 module", path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(ModuleFile {
        path: path.to_path_buf(),
        sha256: hex::encode(hasher.finalize()),
        file,
    })
}

/// Checks `module` against the pin and returns it ready to load; refuses a module whose
/// hash or path is not the pinned one, naming both and how to re-pin.
pub fn pinned_module(pin: &HsmPin, env: &str, store: &Store) -> Result<ModuleFile> {
    let module = check_module(&pin.module, store.root())?;
    if module.sha256 != pin.module_sha256 {
        return Err(TrustError::ModuleHashChanged {
            env: env.to_string(),
            module: pin.module.clone(),
            found: module.sha256.into(),
            pinned: pin.module_sha256.as_str().into(),
            trust_file: pin.source.clone(),
        }
        .into());
    }
    Ok(module)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trust_file_others_can_write_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("trust.toml");
        std::fs::write(&p, "format = 1\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o666)).unwrap();
        let err = read_trust_file(&p).unwrap_err();
        assert!(
            matches!(
                err.cause(),
                Error::Trust(TrustError::Writable { mode: 0o666, .. })
            ),
            "{err:?}"
        );
        assert_eq!(err.exit_code(), 3);
        assert!(
            err.message().contains("writable by others"),
            "{}",
            err.message()
        );
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(read_trust_file(&p).unwrap().is_some());
    }

    #[test]
    fn unknown_trust_keys_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("trust.toml");
        std::fs::write(&p, "format = 1\n[[pin]]\nstore = \"a\"\nenv = \"b\"\nsigning_key = \"c\"\nmodul = \"/x\"\n").unwrap();
        let err = read_trust_file(&p).unwrap_err();
        assert!(
            matches!(err.cause(), Error::Trust(TrustError::Invalid { .. })),
            "{err:?}"
        );
        // The message names the key at fault.
        assert!(err.message().contains("modul"), "{}", err.message());
    }

    #[test]
    fn modules_must_be_absolute_and_outside_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("store");
        std::fs::create_dir(&store).unwrap();
        let inside = store.join("evil.so");
        std::fs::write(&inside, b"not a module").unwrap();
        let err = check_module(Path::new("evil.so"), &store).unwrap_err();
        assert!(
            matches!(err.cause(), Error::Trust(TrustError::ModuleRelative { .. })),
            "{err:?}"
        );
        assert_eq!(err.exit_code(), 2);
        let err = check_module(&inside, &store).unwrap_err();
        assert!(
            matches!(
                err.cause(),
                Error::Trust(TrustError::ModuleInsideStore { .. })
            ),
            "{err:?}"
        );
        let outside = dir.path().join("m.so");
        std::fs::write(&outside, b"module bytes").unwrap();
        std::fs::set_permissions(&outside, std::fs::Permissions::from_mode(0o664)).unwrap();
        let err = check_module(&outside, &store).unwrap_err();
        assert!(
            matches!(
                err.cause(),
                Error::Trust(TrustError::Writable { mode: 0o664, .. })
            ),
            "{err:?}"
        );
        assert!(
            err.message().contains("writable by its group"),
            "{}",
            err.message()
        );
        std::fs::set_permissions(&outside, std::fs::Permissions::from_mode(0o644)).unwrap();
        let m = check_module(&outside, &store).unwrap();
        assert_eq!(m.sha256, hex::encode(Sha256::digest(b"module bytes")));
    }
}
