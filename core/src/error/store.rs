//! The store area: its configuration, layout, locks and files; and where the token PIN
//! comes from.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{Kind, area};

/// What went wrong with the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No `zeroth.toml` in the directory given as the store.
    #[error(
        "no zeroth store at {}: give your store's directory with --store DIR or ZEROTH_STORE (without either, ./zeroth), or run 'zeroth env init' to create one there",
        shown_root(.root)
    )]
    NoStore {
        /// The directory given as the store.
        root: PathBuf,
    },
    /// One of the store's directories (`seals`, `keys`, …) is a file or a link.
    #[error(
        "{} is not a directory{}: zeroth does not follow links inside the store; restore the store from a trusted copy",
        .path.display(),
        link_words(.symlink)
    )]
    NotADirectory {
        /// The directory of the store that is not one.
        path: PathBuf,
        /// It is a symbolic link.
        symlink: bool,
    },
    /// `zeroth.toml` is not UTF-8.
    #[error("{} is not UTF-8 text", .path.display())]
    ConfigNotText {
        /// `zeroth.toml`.
        path: PathBuf,
    },
    /// `zeroth.toml` does not parse as a zeroth config.
    #[error("{} is not a valid zeroth config: {detail}", .path.display())]
    ConfigInvalid {
        /// `zeroth.toml`.
        path: PathBuf,
        /// What the TOML parser found.
        detail: String,
    },
    /// `zeroth.toml` has a format this zeroth does not read.
    #[error("{} has format {found}; this zeroth reads format {supported}", .path.display())]
    ConfigFormat {
        /// `zeroth.toml`.
        path: PathBuf,
        /// The format it declares.
        found: u32,
        /// The format this zeroth reads.
        supported: u32,
    },
    /// `zeroth.toml` could not be encoded.
    #[error("cannot encode {file}: {detail}")]
    ConfigEncode {
        /// The config's file name (`zeroth.toml`).
        file: String,
        /// What the encoder said.
        detail: String,
    },
    /// The store has no environment of that name.
    #[error("no environment '{env}' in {}: {}", .config.display(), known_hint(.known))]
    NoEnvironment {
        /// The environment asked for.
        env: String,
        /// `zeroth.toml`.
        config: PathBuf,
        /// The environments the store has.
        known: Vec<String>,
    },
    /// The store has no record of that seal.
    #[error("no seal named '{seal}' in store {}: 'zeroth list' shows the seals", .store.display())]
    NoSeal {
        /// The seal asked for.
        seal: String,
        /// The store's directory.
        store: PathBuf,
    },
    /// A seal record is not UTF-8.
    #[error("{} is not UTF-8 text: restore it from a trusted copy", .path.display())]
    RecordNotText {
        /// The record file.
        path: PathBuf,
    },
    /// A seal record does not parse.
    #[error("{} is not a valid seal record ({detail}): restore it from a trusted copy", .path.display())]
    RecordInvalid {
        /// The record file.
        path: PathBuf,
        /// What the JSON parser found.
        detail: String,
    },
    /// A seal's record file holds another seal's record.
    #[error(
        "{} holds the record of seal '{holds}', not '{seal}': the file was renamed or replaced",
        .path.display()
    )]
    RecordOfOtherSeal {
        /// The record file.
        path: PathBuf,
        /// The seal the record in it names.
        holds: String,
        /// The seal the file is named for.
        seal: String,
    },
    /// A file of the `seals` directory could not be read as a seal's record (its name is
    /// not a seal name, or it went away while the store was listed).
    #[error("{}: {detail}", .path.display())]
    RecordFileUnreadable {
        /// The file.
        path: PathBuf,
        /// Why it could not be read.
        detail: String,
    },
    /// A seal record could not be encoded.
    #[error("cannot encode record '{seal}': {detail}")]
    RecordEncode {
        /// The seal.
        seal: String,
        /// What the encoder said.
        detail: String,
    },
    /// An environment's public key file is not text.
    #[error("{} is not a PEM file", .path.display())]
    PublicKeyNotPem {
        /// The key file.
        path: PathBuf,
    },
    /// The store's lock file is not a regular file.
    #[error("{} is not a regular file: remove it (zeroth makes it again)", .path.display())]
    LockNotAFile {
        /// The lock file.
        path: PathBuf,
    },
    /// Another ceremony held the store's lock for as long as zeroth waited.
    #[error(
        "store {} is busy: another ceremony{} holds {} (waited {} s); retry when it has finished",
        .root.display(),
        holder_words(.holder),
        .lock.display(),
        .waited.as_secs_f32()
    )]
    Busy {
        /// The store's directory.
        root: PathBuf,
        /// What the lock file says of its holder (its process id), if anything.
        holder: Option<String>,
        /// The lock file.
        lock: PathBuf,
        /// How long zeroth waited.
        waited: Duration,
    },
    /// The lock, let go while a command ran, was held by another process for as long as
    /// zeroth waited to take it again.
    #[error(
        "cannot take {} again: another process has held it for {} s",
        .lock.display(),
        .waited.as_secs_f32()
    )]
    LockNotRetaken {
        /// The lock file.
        lock: PathBuf,
        /// How long zeroth waited.
        waited: Duration,
    },
    /// A file zeroth would have to overwrite.
    #[error(
        "{} already exists: zeroth never overwrites a file; move it away or choose another path",
        .path.display()
    )]
    FileExists {
        /// The file.
        path: PathBuf,
    },
    /// An environment's settings do not parse.
    #[error("{} is not valid ({detail}): restore it from a trusted copy", .path.display())]
    SettingsInvalid {
        /// The settings file.
        path: PathBuf,
        /// What the JSON parser found.
        detail: String,
    },
    /// An environment's settings file holds another environment's settings.
    #[error(
        "{} holds the settings of environment '{holds}', not '{env}': restore it from a trusted copy",
        .path.display()
    )]
    SettingsOfOtherEnv {
        /// The settings file.
        path: PathBuf,
        /// The environment the settings in it name.
        holds: String,
        /// The environment the file is named for.
        env: String,
    },
    /// An environment's settings carry no signature.
    #[error("{} is not signed: restore it from a trusted copy", .path.display())]
    SettingsUnsigned {
        /// The settings file.
        path: PathBuf,
    },
    /// An environment's settings fail their signature check.
    #[error(
        "{} fails its signature check with the key of environment '{env}': it was edited or replaced; restore it from a trusted copy",
        .path.display()
    )]
    SettingsSignatureBad {
        /// The settings file.
        path: PathBuf,
        /// The environment whose key checked them.
        env: String,
    },
    /// An environment's settings are older than the log's last settings entry: an old
    /// copy was restored.
    #[error(
        "{} is older than the log: entry {seq} ({event}, {time}) approved other settings; an old copy was restored: restore the newest one (e.g. from git)",
        .path.display()
    )]
    SettingsOlderThanLog {
        /// The settings file.
        path: PathBuf,
        /// The sequence number of the log entry that approved other settings.
        seq: u64,
        /// That entry's event.
        event: String,
        /// That entry's time.
        time: String,
    },
    /// An environment's settings could not be encoded.
    #[error("cannot encode the settings: {detail}")]
    SettingsEncode {
        /// What the encoder said.
        detail: String,
    },
    /// `zeroth.toml` gives a custodian a recipient the environment has not approved.
    #[error(
        "zeroth.toml gives custodian '{custodian}' the recipient {recipient}, which environment '{env}' has not approved ({}): approve the change with 'zeroth settings approve --env {env}' (it shows the change and signs it with the HSM), or give --custodian {custodian}=RECIPIENT on the command line",
        approved_words(.approved)
    )]
    RecipientNotApproved {
        /// The custodian.
        custodian: String,
        /// The recipient `zeroth.toml` gives them.
        recipient: String,
        /// The environment.
        env: String,
        /// Their approved recipient, if they have one.
        approved: Option<String>,
    },
    /// A log of an environment the store does not bind: an `env init` stopped before it
    /// finished.
    #[error(
        "{} exists but environment '{env}' is not bound: an env init stopped before it finished; add --adopt to finish it with the token's signing key, or move the log away",
        .log.display()
    )]
    UnfinishedInit {
        /// The log.
        log: PathBuf,
        /// The environment.
        env: String,
    },
    /// The environment is bound already.
    #[error(
        "environment '{env}' is already bound to token '{token}' (serial {serial}) in {}: an environment has one token",
        .module.display()
    )]
    EnvAlreadyBound {
        /// The environment.
        env: String,
        /// The label of the token it is bound to.
        token: String,
        /// That token's serial number.
        serial: String,
        /// The PKCS#11 module it is reached through.
        module: PathBuf,
    },
    /// The token serves another environment of the store already.
    #[error(
        "token '{token}' (serial {serial}) already serves environment '{other}' in this store: one token serves one environment"
    )]
    TokenInUse {
        /// The token's label.
        token: String,
        /// The token's serial number.
        serial: String,
        /// The environment it serves.
        other: String,
    },
    /// The signed head of a new environment's log could not be written.
    #[error(
        "the signed head {} of the new log could not be written (see the warning above)",
        .head.display()
    )]
    HeadNotWritten {
        /// The head file.
        head: PathBuf,
    },
    /// The PIN file is empty.
    #[error("PIN file {} is empty", .path.display())]
    PinFileEmpty {
        /// The PIN file.
        path: PathBuf,
    },
    /// The PIN variable is set but empty.
    #[error("{variable} is set but empty")]
    PinVariableEmpty {
        /// The environment variable (`ZEROTH_PIN`).
        variable: String,
    },
    /// No PIN from a file, the environment or a terminal.
    #[error(
        "no PIN for token '{token}': give --pin-file FILE, set {variable}, or run on a terminal to be asked"
    )]
    NoPin {
        /// The token's label.
        token: String,
        /// The environment variable a PIN may come from (`ZEROTH_PIN`).
        variable: String,
    },
}

/// A relative store directory as a person would type it: "./zeroth", not "zeroth".
fn shown_root(root: &Path) -> String {
    if root.is_relative() && !root.starts_with(".") && !root.starts_with("..") {
        format!("./{}", root.display())
    } else {
        root.display().to_string()
    }
}

/// " but a symbolic link" for a store directory that is a link.
fn link_words(symlink: &bool) -> &'static str {
    if *symlink { " but a symbolic link" } else { "" }
}

/// What to do when an environment is unknown: the known ones, or how to bind one.
fn known_hint(known: &[String]) -> String {
    if known.is_empty() {
        "bind one with 'zeroth env init'".to_string()
    } else {
        format!("known environments are {}", known.join(", "))
    }
}

/// " (process N)" for the holder of the lock, when it is known.
fn holder_words(holder: &Option<String>) -> String {
    match holder {
        Some(h) => format!(" (process {h})"),
        None => String::new(),
    }
}

/// A custodian's approved recipient, in words.
fn approved_words(approved: &Option<String>) -> String {
    match approved {
        Some(a) => format!("its approved recipient is {a}"),
        None => "it has no approved recipient".to_string(),
    }
}

impl StoreError {
    /// Who can fix it.
    pub fn kind(&self) -> Kind {
        use StoreError::*;
        match self {
            NoStore { .. }
            | ConfigNotText { .. }
            | ConfigInvalid { .. }
            | ConfigFormat { .. }
            | NoEnvironment { .. }
            | NoSeal { .. }
            | PinFileEmpty { .. }
            | PinVariableEmpty { .. }
            | NoPin { .. } => Kind::Usage,
            NotADirectory { .. }
            | RecordNotText { .. }
            | RecordInvalid { .. }
            | RecordOfOtherSeal { .. }
            | RecordFileUnreadable { .. }
            | PublicKeyNotPem { .. }
            | LockNotAFile { .. }
            | FileExists { .. }
            | SettingsInvalid { .. }
            | SettingsOfOtherEnv { .. }
            | SettingsUnsigned { .. }
            | SettingsSignatureBad { .. }
            | SettingsOlderThanLog { .. }
            | RecipientNotApproved { .. }
            | UnfinishedInit { .. }
            | EnvAlreadyBound { .. }
            | TokenInUse { .. } => Kind::Refused,
            ConfigEncode { .. }
            | RecordEncode { .. }
            | SettingsEncode { .. }
            | Busy { .. }
            | LockNotRetaken { .. }
            | HeadNotWritten { .. } => Kind::Failed,
        }
    }
}

area!(StoreError, Store);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    #[test]
    fn exit_codes_follow_the_situation() {
        let code = |e: StoreError| Error::from(e).exit_code();
        assert_eq!(
            code(StoreError::NoStore {
                root: PathBuf::from("zeroth")
            }),
            2
        );
        assert_eq!(
            code(StoreError::FileExists {
                path: PathBuf::from("a.share")
            }),
            3
        );
        assert_eq!(
            code(StoreError::Busy {
                root: PathBuf::from("s"),
                holder: None,
                lock: PathBuf::from("s/.lock"),
                waited: Duration::from_secs(1),
            }),
            4
        );
    }

    #[test]
    fn messages_read_as_before() {
        assert_eq!(
            StoreError::NoStore {
                root: PathBuf::from("zeroth")
            }
            .to_string(),
            "no zeroth store at ./zeroth: give your store's directory with --store DIR or ZEROTH_STORE (without either, ./zeroth), or run 'zeroth env init' to create one there"
        );
        assert_eq!(
            StoreError::Busy {
                root: PathBuf::from("/s"),
                holder: Some("42".into()),
                lock: PathBuf::from("/s/.lock"),
                waited: Duration::from_millis(1500),
            }
            .to_string(),
            "store /s is busy: another ceremony (process 42) holds /s/.lock (waited 1.5 s); retry when it has finished"
        );
        assert_eq!(
            StoreError::NoEnvironment {
                env: "prod".into(),
                config: PathBuf::from("/s/zeroth.toml"),
                known: vec!["ci".into(), "stage".into()],
            }
            .to_string(),
            "no environment 'prod' in /s/zeroth.toml: known environments are ci, stage"
        );
        assert_eq!(
            StoreError::NotADirectory {
                path: PathBuf::from("/s/seals"),
                symlink: true,
            }
            .to_string(),
            "/s/seals is not a directory but a symbolic link: zeroth does not follow links inside the store; restore the store from a trusted copy"
        );
    }
}
