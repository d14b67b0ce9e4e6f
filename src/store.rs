//! The store: a directory of plain files, fit to be kept in git, none secret alone.
//!
//! ```text
//! zeroth.toml          environments (module, token, serial, mechanism, signing key)
//! seals/<name>.json    one signed record per seal
//! keys/<env>.pem       each environment's public signing key
//! settings/<env>.json  the custodians and policy each environment approved (signed)
//! logs/<env>.jsonl     each environment's ceremony log
//! .lock                held by the ceremony in progress
//! ```
//!
//! Every write is atomic: a temporary file in the same directory, fsync, rename, fsync
//! of the directory. A reader sees the old file or the new one, never half of either.
//! Files that must never be replaced (share files, delivered credentials) are written
//! the same way but linked into place only if nothing is there yet.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use zeroth_core::fault;
pub use zeroth_core::files::{
    exists_error, open_log_for_append, open_regular, read_regular, sync_directory, write_atomic,
    write_new_secret, write_new_secret_unsynced,
};
use zeroth_core::files::{nofollow_error, read_regular_at_into};

use crate::error::{Error, Kind, Result, StoreError};
use crate::key::PublicKey;
use crate::names::{NameKind, check};
use crate::seal::SealRecord;

// The configuration's types are zeroth-core's, so that code built on the core alone
// (the fuzz targets) reads a store's config with a TOML parser of its own.
pub use zeroth_core::config::{Config, CustodianConfig, EnvConfig, Policy};

/// The configuration format this zeroth writes and reads.
pub const CONFIG_FORMAT: u32 = 1;
const CONFIG_FILE: &str = "zeroth.toml";
const LOCK_FILE: &str = ".lock";
const DEFAULT_LOCK_WAIT: Duration = Duration::from_secs(10);

/// A store directory.
#[derive(Debug)]
pub struct Store {
    root: PathBuf,
    config: Config,
}

/// Holds the store's lock until dropped.
#[derive(Debug)]
pub struct StoreLock {
    file: File,
    path: PathBuf,
    wait: Duration,
}

/// The record files of a store as its directory listed them ([`Store::record_files`]).
pub struct RecordFiles<'s> {
    store: &'s Store,
    dir: PathBuf,
    /// The directory, open (none when the store has no `seals/`).
    fd: Option<rustix::fd::OwnedFd>,
    names: Vec<String>,
}

impl RecordFiles<'_> {
    /// Reads each file on every core and hands it to `f` ([`Store::each_record_file`]).
    pub fn read<R: Send>(
        self,
        f: impl Fn(&str, &[u8]) -> Result<R> + Sync,
    ) -> Vec<std::result::Result<R, Error>> {
        let RecordFiles {
            store,
            dir,
            fd,
            names,
        } = self;
        let Some(fd) = fd else {
            return Vec::new();
        };
        let read = |buf: &mut Vec<u8>, n: String| {
            store
                .read_record_file(Some(rustix::fd::AsFd::as_fd(&fd)), &n, buf)
                .map_err(|e| match e.kind() {
                    // A name that is no seal's, or a file gone since the listing: the
                    // store is not as listed, whatever was asked.
                    Kind::Usage => StoreError::RecordFileUnreadable {
                        path: dir.join(format!("{n}.json")),
                        detail: e.message(),
                    }
                    .into(),
                    _ => e,
                })
                .and_then(|()| f(&n, buf))
        };
        crate::cores::map_owned_with(names, Vec::new, read)
    }
}

impl Store {
    /// Returns the error for a directory that holds no store.
    fn no_store(root: &Path) -> Error {
        StoreError::NoStore {
            root: root.to_path_buf(),
        }
        .into()
    }

    /// Opens an existing store. Every name in `zeroth.toml` that becomes part of a path
    /// or a token label (environments, custodians) is checked first.
    pub fn open(root: &Path) -> Result<Store> {
        let path = root.join(CONFIG_FILE);
        if path.symlink_metadata().is_err() {
            return Err(Store::no_store(root));
        }
        for dir in ["seals", "keys", "logs", "settings"] {
            let d = root.join(dir);
            if let Ok(meta) = d.symlink_metadata()
                && !meta.is_dir()
            {
                return Err(StoreError::NotADirectory {
                    path: d,
                    symlink: meta.file_type().is_symlink(),
                }
                .into());
            }
        }
        let text = String::from_utf8(read_regular(&path).map_err(|e| Error::io("read", &path, e))?)
            .map_err(|_| StoreError::ConfigNotText { path: path.clone() })?;
        let config: Config = toml::from_str(&text).map_err(|e| StoreError::ConfigInvalid {
            path: path.clone(),
            detail: e.message().to_string(),
        })?;
        if config.format != CONFIG_FORMAT {
            return Err(StoreError::ConfigFormat {
                path,
                found: config.format,
                supported: CONFIG_FORMAT,
            }
            .into());
        }
        for name in config.env.keys() {
            check(NameKind::Environment, name)
                .map_err(|e| e.map_message(|m| format!("{} [env.…]: {m}", path.display())))?;
        }
        for name in config.custodians.keys() {
            check(NameKind::Custodian, name).map_err(|e| {
                e.map_message(|m| format!("{} [custodians.…]: {m}", path.display()))
            })?;
        }
        Ok(Store {
            root: root.to_path_buf(),
            config,
        })
    }

    /// Takes the lock of the store at `root` before anything of it is read, waiting
    /// briefly (`ZEROTH_LOCK_WAIT_MS`, default 10 s) for a ceremony in progress.
    pub fn lock_root(root: &Path) -> Result<StoreLock> {
        if root.join(CONFIG_FILE).symlink_metadata().is_err() {
            return Err(Store::no_store(root));
        }
        lock_file(root, lock_wait())
    }

    /// Opens the store at `root`, creating an empty one if there is none.
    pub fn open_or_create(root: &Path) -> Result<Store> {
        if root.join(CONFIG_FILE).exists() {
            return Store::open(root);
        }
        for dir in [
            root.to_path_buf(),
            root.join("seals"),
            root.join("keys"),
            root.join("logs"),
            root.join("settings"),
        ] {
            fault::io("mkdir", &dir)
                .and_then(|_| fs::create_dir_all(&dir))
                .map_err(|e| Error::io("create directory", &dir, e))?;
        }
        let ignore = root.join(".gitignore");
        if !ignore.exists() {
            write_atomic(&ignore, b".lock\n.tmp*\n", 0o644)?;
        }
        let store = Store {
            root: root.to_path_buf(),
            config: Config {
                format: CONFIG_FORMAT,
                store_id: Some(hex::encode(zeroth_core::id::random_id()?)),
                policy: Policy::default(),
                env: BTreeMap::new(),
                custodians: BTreeMap::new(),
            },
        };
        store.save_config(&store.config)?;
        Ok(store)
    }

    /// Returns the store directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Returns the configuration as read when the store was opened.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Returns the configuration of `env`, or an error naming the known environments.
    pub fn env(&self, env: &str) -> Result<&EnvConfig> {
        self.config.env.get(env).ok_or_else(|| {
            StoreError::NoEnvironment {
                env: env.to_string(),
                config: self.root.join(CONFIG_FILE),
                known: self.config.env.keys().cloned().collect(),
            }
            .into()
        })
    }

    /// Replaces the configuration, atomically.
    pub fn save_config(&self, config: &Config) -> Result<()> {
        let text = toml::to_string_pretty(config).map_err(|e| StoreError::ConfigEncode {
            file: CONFIG_FILE.to_string(),
            detail: e.to_string(),
        })?;
        write_atomic(&self.root.join(CONFIG_FILE), text.as_bytes(), 0o644)
    }

    /// Sets the configuration in memory after a successful save.
    pub fn set_config(&mut self, config: Config) {
        self.config = config;
    }

    /// Takes the store's lock, waiting briefly (`ZEROTH_LOCK_WAIT_MS`, default 10 s)
    /// for a ceremony in progress to finish.
    pub fn lock(&self) -> Result<StoreLock> {
        lock_file(&self.root, lock_wait())
    }

    /// Takes the store's lock, waiting at most `wait`.
    pub fn lock_waiting(&self, wait: Duration) -> Result<StoreLock> {
        lock_file(&self.root, wait)
    }

    /// Returns the path of the record of `seal`. `seal` must be a valid seal name
    /// ([`crate::names::check`]); callers check it before it becomes a path.
    pub fn record_path(&self, seal: &str) -> PathBuf {
        self.root.join("seals").join(format!("{seal}.json"))
    }

    /// Returns true if and only if a record for `seal` exists (`seal` is checked).
    pub fn seal_exists(&self, seal: &str) -> Result<bool> {
        check(NameKind::Seal, seal)?;
        Ok(self.record_path(seal).symlink_metadata().is_ok())
    }

    /// Reads the record of `seal` (its signature is checked separately). The name is
    /// checked before it becomes a path, and the file must be a regular file.
    pub fn read_record(&self, seal: &str) -> Result<SealRecord> {
        let mut bytes = Vec::new();
        self.read_record_file(None, seal, &mut bytes)?;
        self.parse_record(seal, &bytes)
    }

    /// Reads the record file of `seal` into `buf` (emptied first), through `dir`, the
    /// store's `seals` directory, when it is open.
    fn read_record_file(
        &self,
        dir: Option<rustix::fd::BorrowedFd<'_>>,
        seal: &str,
        buf: &mut Vec<u8>,
    ) -> Result<()> {
        check(NameKind::Seal, seal)?;
        let read = match dir {
            Some(dir) => read_regular_at_into(dir, format!("{seal}.json"), buf),
            None => read_regular_at_into(rustix::fs::CWD, self.record_path(seal), buf),
        };
        match read {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(StoreError::NoSeal {
                seal: seal.to_string(),
                store: self.root.clone(),
            }
            .into()),
            Err(e) => Err(Error::io("read", &self.record_path(seal), e)),
        }
    }

    /// Parses the bytes of the record file of `seal`: a seal record, of that seal.
    pub fn parse_record(&self, seal: &str, bytes: &[u8]) -> Result<SealRecord> {
        let path = || self.record_path(seal);
        let text =
            std::str::from_utf8(bytes).map_err(|_| StoreError::RecordNotText { path: path() })?;
        let record: SealRecord =
            serde_json::from_str(text).map_err(|e| StoreError::RecordInvalid {
                path: path(),
                detail: e.to_string(),
            })?;
        if record.name != seal {
            return Err(StoreError::RecordOfOtherSeal {
                path: path(),
                holds: record.name,
                seal: seal.to_string(),
            }
            .into());
        }
        Ok(record)
    }

    /// Writes the record of a seal, atomically.
    pub fn write_record(&self, record: &SealRecord) -> Result<()> {
        let text = serde_json::to_string_pretty(record).map_err(|e| StoreError::RecordEncode {
            seal: record.name.clone(),
            detail: e.to_string(),
        })?;
        write_atomic(
            &self.record_path(&record.name),
            format!("{text}\n").as_bytes(),
            0o644,
        )
    }

    /// Reads every record, sorted by name. Unreadable records are returned as errors
    /// beside the good ones so a listing still shows the rest.
    pub fn records(&self) -> Result<Vec<std::result::Result<SealRecord, Error>>> {
        self.each_record_file(|seal, bytes| self.parse_record(seal, bytes))
    }

    /// Every record file, sorted by seal name, read on every core (each thread into
    /// one buffer it reuses) and handed to `f` with its seal's name; a file that cannot
    /// be read is an error in its place. `records` parses each; `list` hashes each and
    /// parses only those its cache does not hold ([`crate::cache`]).
    pub fn each_record_file<R: Send>(
        &self,
        f: impl Fn(&str, &[u8]) -> Result<R> + Sync,
    ) -> Result<Vec<std::result::Result<R, Error>>> {
        Ok(self.record_files()?.read(f))
    }

    /// The record files of the store, listed (their names, sorted) but not yet read:
    /// [`RecordFiles::read`] reads them. `list` opens its cache while the directory is
    /// listed.
    pub fn record_files(&self) -> Result<RecordFiles<'_>> {
        let dir = self.root.join("seals");
        let fd = match rustix::fs::open(
            &dir,
            rustix::fs::OFlags::RDONLY
                | rustix::fs::OFlags::DIRECTORY
                | rustix::fs::OFlags::NOFOLLOW
                | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::NOENT) => {
                return Ok(RecordFiles {
                    store: self,
                    dir,
                    fd: None,
                    names: Vec::new(),
                });
            }
            Err(e) => return Err(Error::io("open directory", &dir, nofollow_error(e))),
        };
        // The names straight from the directory's entries (one allocation each).
        let mut names = Vec::new();
        let entries = rustix::fs::Dir::read_from(&fd)
            .map_err(|e| Error::io("read directory", &dir, e.into()))?;
        for entry in entries {
            let entry = entry.map_err(|e| Error::io("read directory", &dir, e.into()))?;
            if let Some(seal) = entry.file_name().to_bytes().strip_suffix(b".json")
                && !seal.starts_with(b".")
            {
                names.push(String::from_utf8_lossy(seal).into_owned());
            }
        }
        names.sort_unstable();
        Ok(RecordFiles {
            store: self,
            dir,
            fd: Some(fd),
            names,
        })
    }

    /// Returns the path of the public key of `env`.
    pub fn public_key_path(&self, env: &str) -> PathBuf {
        self.root.join("keys").join(format!("{env}.pem"))
    }

    /// Reads the public signing key of `env` from the store.
    pub fn public_key(&self, env: &str) -> Result<PublicKey> {
        let path = self.public_key_path(env);
        let pem = String::from_utf8(read_regular(&path).map_err(|e| Error::io("read", &path, e))?)
            .map_err(|_| StoreError::PublicKeyNotPem { path: path.clone() })?;
        PublicKey::from_pem(&pem, &path.display().to_string())
    }

    /// Writes the public signing key of `env`.
    pub fn write_public_key(&self, env: &str, key: &PublicKey) -> Result<()> {
        write_atomic(&self.public_key_path(env), key.to_pem()?.as_bytes(), 0o644)
    }
}

impl zeroth_core::audit::LogStore for Store {
    fn root(&self) -> &Path {
        Store::root(self)
    }

    fn declares(&self, env: &str) -> bool {
        self.config().env.contains_key(env)
    }

    fn records(&self) -> Result<Vec<std::result::Result<SealRecord, Error>>> {
        Store::records(self)
    }
}

/// The least this process waits for the store lock from now on, in milliseconds (0:
/// no floor); see [`wait_at_least`].
static LOCK_WAIT_FLOOR_MS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// From now on, every wait for the store lock in this process lasts at least `wait`:
/// after a remote collection, whose shares would be lost to a store busy for a moment,
/// the ceremony waits longer for the lock than one started at the terminal.
pub fn wait_at_least(wait: Duration) {
    LOCK_WAIT_FLOOR_MS.fetch_max(
        u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
        std::sync::atomic::Ordering::SeqCst,
    );
}

fn lock_wait() -> Duration {
    let wait = std::env::var("ZEROTH_LOCK_WAIT_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map(Duration::from_millis)
        .unwrap_or(DEFAULT_LOCK_WAIT);
    wait.max(Duration::from_millis(
        LOCK_WAIT_FLOOR_MS.load(std::sync::atomic::Ordering::SeqCst),
    ))
}

/// Opens `<root>/.lock` (never through a symbolic link) and takes it, waiting at most
/// `wait`.
fn lock_file(root: &Path, wait: Duration) -> Result<StoreLock> {
    let path = root.join(LOCK_FILE);
    let fd = rustix::fs::open(
        &path,
        rustix::fs::OFlags::RDWR
            | rustix::fs::OFlags::CREATE
            | rustix::fs::OFlags::NOFOLLOW
            | rustix::fs::OFlags::NONBLOCK
            | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::from_raw_mode(0o600),
    )
    .map_err(|e| Error::io("open the lock file", &path, nofollow_error(e)))?;
    let mut file = File::from(fd);
    let meta = file
        .metadata()
        .map_err(|e| Error::io("open the lock file", &path, e))?;
    if !meta.is_file() {
        return Err(StoreError::LockNotAFile { path }.into());
    }
    let start = Instant::now();
    loop {
        match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => break,
            Err(rustix::io::Errno::WOULDBLOCK) if start.elapsed() < wait => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(rustix::io::Errno::WOULDBLOCK) => {
                let mut holder = String::new();
                let _ = (&file).take(64).read_to_string(&mut holder);
                let holder = holder.trim();
                return Err(StoreError::Busy {
                    root: root.to_path_buf(),
                    holder: (!holder.is_empty()).then(|| holder.to_string()),
                    lock: path,
                    waited: wait,
                }
                .into());
            }
            Err(e) => return Err(Error::io("lock", &path, e.into())),
        }
    }
    let _ = file.set_len(0);
    let _ = file.write_all(std::process::id().to_string().as_bytes());
    Ok(StoreLock { file, path, wait })
}

impl StoreLock {
    /// Runs `f` with the lock released, and takes it again afterwards (waiting as long
    /// as a new lock would): a command zeroth runs (`--exec`) may then use the store
    /// itself. What was read from the store before must be read again after.
    pub fn released<T>(&self, f: impl FnOnce() -> T) -> Result<T> {
        rustix::fs::flock(&self.file, rustix::fs::FlockOperation::Unlock)
            .map_err(|e| Error::io("unlock", &self.path, e.into()))?;
        let out = f();
        let start = Instant::now();
        loop {
            match rustix::fs::flock(
                &self.file,
                rustix::fs::FlockOperation::NonBlockingLockExclusive,
            ) {
                Ok(()) => return Ok(out),
                Err(rustix::io::Errno::WOULDBLOCK) if start.elapsed() < self.wait => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(rustix::io::Errno::WOULDBLOCK) => {
                    return Err(StoreError::LockNotRetaken {
                        lock: self.path.clone(),
                        waited: self.wait,
                    }
                    .into());
                }
                Err(e) => return Err(Error::io("lock", &self.path, e.into())),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_config_keys_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(CONFIG_FILE), "format = 1\ntypo = 3\n").unwrap();
        let err = Store::open(dir.path()).unwrap_err();
        assert!(
            matches!(err.cause(), Error::Store(StoreError::ConfigInvalid { .. })),
            "{err:?}"
        );
        // The message names the key at fault.
        assert!(err.message().contains("typo"), "{}", err.message());
    }

    #[test]
    fn a_second_lock_waits_then_fails() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_or_create(dir.path()).unwrap();
        let held = store.lock().unwrap();
        let other = Store::open(dir.path()).unwrap();
        let start = Instant::now();
        let err = other.lock_waiting(Duration::from_millis(200)).unwrap_err();
        assert!(start.elapsed() >= Duration::from_millis(200));
        let pid = std::process::id().to_string();
        assert!(
            matches!(
                err.cause(),
                Error::Store(StoreError::Busy { holder: Some(h), .. }) if *h == pid
            ),
            "{err:?}"
        );
        assert!(err.message().contains(&pid), "{}", err.message());
        drop(held);
        other.lock_waiting(Duration::from_millis(200)).unwrap();
    }
}
