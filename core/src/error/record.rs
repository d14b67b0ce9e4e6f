//! The record area: shares, seal records, hand-ins, custodian keys and recipients, and
//! the names, ids, dates and periods they hold.

use std::path::PathBuf;

use super::{Kind, area};

/// What is wrong with a share, a record, a hand-in, a custodian key, a name or a date.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// A name (environment, seal, custodian) breaks the rules names follow.
    #[error(
        "{} name '{}' {why}: use 1 to {} ASCII letters, digits, '-' or '_'{}, starting with a letter or digit",
        .noun,
        .name.escape_debug(),
        .max_len,
        if *.dots { " ('.' inside)" } else { "" }
    )]
    BadName {
        /// What the name is of: `environment`, `seal`, `custodian`.
        noun: &'static str,
        /// The longest such name, in characters.
        max_len: usize,
        /// Whether such a name may hold a '.' (a seal's may).
        dots: bool,
        /// The name as given.
        name: String,
        /// What is wrong with it: `is empty`, `is too long`, `contains ' '` …
        why: String,
    },
    /// A text that should be a date or an RFC 3339 instant is neither.
    #[error(
        "'{text}' is not a date: write YYYY-MM-DD or an RFC 3339 time such as 2027-01-31T12:00:00Z"
    )]
    NotADate {
        /// The text as given.
        text: String,
    },
    /// A text that should be a period (`90d`, `12w`, `1y`) is not one.
    #[error(
        "'{text}' is not a period: write a number of days, weeks or years such as 90d, 12w or 1y"
    )]
    NotAPeriod {
        /// The text as given.
        text: String,
    },
    /// A period is shorter than a day or longer than 100 years.
    #[error("period '{text}' is out of range: give between 1 day and 100 years")]
    PeriodOutOfRange {
        /// The period as given.
        text: String,
    },
    /// The file `ZEROTH_NOW=@FILE` names (the clock of the test suite) cannot be read.
    #[error("ZEROTH_NOW: cannot read {}: {source}", .file.display())]
    ClockFileUnreadable {
        /// The file.
        file: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// A wrap mechanism zeroth does not know was named.
    #[error("unknown wrap mechanism '{name}': choose CKM_AES_KEY_WRAP_PAD or CKM_AES_KEY_WRAP")]
    UnknownWrapMechanism {
        /// The name as given.
        name: String,
    },
    /// The operating system's random generator failed.
    #[error("the OS random generator failed: {source}")]
    RandomFailed {
        /// Its reason.
        source: getrandom::Error,
    },
    /// A public key could not be written as PEM.
    #[error("cannot encode the public key as PEM: {detail}")]
    PublicKeyPemEncode {
        /// The encoder's reason.
        detail: String,
    },
    /// A text that should hold an environment's public key does not.
    #[error("{what} is not a P-256 public key in PEM form")]
    NotAPublicKey {
        /// Where the text came from, in words (a file's path).
        what: String,
    },
    /// A hand-in request could not be encoded as JSON.
    #[error("cannot encode the request: {source}")]
    RequestEncode {
        /// The encoder's reason.
        source: serde_json::Error,
    },
    /// A seal record could not be encoded as JSON.
    #[error("cannot encode record '{seal}': {source}")]
    RecordEncode {
        /// The seal.
        seal: String,
        /// The encoder's reason.
        source: serde_json::Error,
    },
    /// A seal record holds a value of the wrong form: it was damaged or altered.
    #[error("record of seal '{seal}' is malformed: {what}; restore it from a trusted copy")]
    RecordMalformed {
        /// The seal.
        seal: String,
        /// The value at fault and what is wrong with it.
        what: String,
    },
    /// The seal was revoked: its key is destroyed.
    #[error(
        "seal '{seal}' was revoked at {time} by {operator}: {reason}; its key is destroyed and nothing opens it"
    )]
    SealRevoked {
        /// The seal.
        seal: String,
        /// When it was revoked.
        time: String,
        /// Who revoked it.
        operator: String,
        /// Why, as they said.
        reason: String,
    },
    /// AES-GCM refused to encrypt the sealed blob.
    #[error("AES-GCM encryption failed")]
    BlobEncrypt,
    /// The sealed blob does not open with the unseal key the shares give.
    #[error(
        "the sealed blob of '{seal}' does not open with the unseal key the shares give: the blob or its header was altered; restore the record from a trusted copy"
    )]
    BlobDoesNotOpen {
        /// The seal.
        seal: String,
    },
    /// A threshold above the number of custodians, or zero.
    #[error(
        "threshold {threshold} does not fit {custodians} custodians: give 1 <= threshold <= custodians"
    )]
    ThresholdDoesNotFit {
        /// The threshold asked for.
        threshold: u8,
        /// The number of custodians.
        custodians: u8,
    },
    /// Splitting the unseal key into shares failed.
    #[error("cannot split the unseal key: {detail}")]
    SplitFailed {
        /// The secret-sharing library's reason.
        detail: String,
    },
    /// Splitting the unseal key produced a share of the wrong size.
    #[error("split produced a share of unexpected size")]
    SplitShareSize,
    /// The shares given cannot be combined.
    #[error("the shares cannot be combined: {detail}")]
    SharesDoNotCombine {
        /// The secret-sharing library's reason.
        detail: String,
    },
    /// The shares combine to something that is not a 32-byte unseal key.
    #[error("the shares do not hold a 32-byte unseal key")]
    SharesHoldNoKey,
    /// A custodian's recipient (on the command line or in `zeroth.toml`) is malformed
    /// or of a kind zeroth does not encrypt to.
    #[error(
        "{from}: the recipient of custodian '{custodian}' {why}; give an age recipient (age1…), an SSH public key (ssh-ed25519 … or ssh-rsa …), or 'passphrase'"
    )]
    BadRecipient {
        /// Where the recipient was given (an option, or `zeroth.toml`).
        from: String,
        /// The custodian.
        custodian: String,
        /// What is wrong with it.
        why: String,
    },
    /// age could not encrypt a share to its custodian.
    #[error("age encryption failed: {detail}")]
    ShareEncrypt {
        /// age's reason.
        detail: String,
    },
    /// A share for a passphrase custodian was to be encrypted without the passphrase.
    #[error("a passphrase share needs its passphrase")]
    PassphraseMissing,
    /// An identity file given with `--identity` does not exist.
    #[error("--identity {}: the file does not exist", .path.display())]
    IdentityFileMissing {
        /// The file.
        path: PathBuf,
    },
    /// An identity file given with `--identity` is not a regular file.
    #[error("--identity {}: {source}: give the identity file itself", .path.display())]
    IdentityFileNotRegular {
        /// The file.
        path: PathBuf,
        /// What it is instead.
        source: std::io::Error,
    },
    /// An identity file looks like an SSH private key that age cannot read.
    #[error("--identity {}: not an SSH private key age can read", .path.display())]
    IdentityNotSshKey {
        /// The file.
        path: PathBuf,
    },
    /// An identity file holds an SSH key of a type age does not decrypt with.
    #[error(
        "--identity {}: an SSH key of a type age does not decrypt with (use ed25519 or RSA)",
        .path.display()
    )]
    IdentitySshKeyUnsupported {
        /// The file.
        path: PathBuf,
    },
    /// An identity file is neither an age identity file nor an SSH private key.
    #[error(
        "--identity {}: neither an age identity file (AGE-SECRET-KEY-1…) nor an SSH private key",
        .path.display()
    )]
    IdentityFileUnknown {
        /// The file.
        path: PathBuf,
    },
    /// The identities of an age identity file cannot be read.
    #[error("--identity {}: {detail}", .path.display())]
    IdentityFileUnreadable {
        /// The file.
        path: PathBuf,
        /// age's reason.
        detail: String,
    },
    /// An age identity file holds no identity.
    #[error("--identity {}: the file holds no age identity", .path.display())]
    IdentityFileEmpty {
        /// The file.
        path: PathBuf,
    },
    /// An encrypted share is not a readable age file.
    #[error("it is not a readable age file ({detail}): it was cut short or altered")]
    ShareNotAgeFile {
        /// age's reason.
        detail: String,
    },
    /// A passphrase-protected share was given where no terminal can ask the passphrase.
    #[error(
        "{share} is protected by its custodian's passphrase: run zeroth on a terminal to type it"
    )]
    SharePassphraseNeedsTerminal {
        /// The share, in words: `share file PATH`, `the pasted share`.
        share: String,
    },
    /// A passphrase-protected share asks for more scrypt work than zeroth ever sets.
    #[error(
        "it asks for scrypt work factor {required}, far above this machine's {target}: it was not made by zeroth"
    )]
    ShareScryptTooCostly {
        /// The work factor the share asks for.
        required: u8,
        /// The work factor this machine does in about a second.
        target: u8,
    },
    /// Three passphrases were typed for a share and none opens it.
    #[error("three passphrases typed, none opens it")]
    SharePassphrasesWrong,
    /// None of the identities given opens an encrypted share. The message begins with
    /// `it is encrypted to another key`, which a collection tells apart.
    #[error(
        "it is encrypted to another key: none of the identities given ({}) opens it; give the key of the custodian it belongs to",
        paths(.identity_files)
    )]
    ShareNotOurs {
        /// The identity files given.
        identity_files: Vec<PathBuf>,
    },
    /// The passphrase typed for an encrypted SSH identity does not open it.
    #[error(
        "the passphrase typed does not open the SSH key given ({})",
        paths(.identity_files)
    )]
    SshKeyPassphraseWrong {
        /// The identity files given.
        identity_files: Vec<PathBuf>,
    },
    /// A share file does not exist.
    #[error("share file {} does not exist", .path.display())]
    ShareFileMissing {
        /// The file.
        path: PathBuf,
    },
    /// A share file is not a regular file (found when it is read).
    #[error("share file {}: {source}: give the share's file itself", .path.display())]
    ShareFileUnfit {
        /// The file.
        path: PathBuf,
        /// What it is instead.
        source: std::io::Error,
    },
    /// A share file is not a regular file (found before the store is locked).
    #[error(
        "share file {} is not a regular file ({file_kind}): give the share's file itself",
        .path.display()
    )]
    ShareFileNotRegular {
        /// The file.
        path: PathBuf,
        /// What it is: `a directory`, `a FIFO` …
        file_kind: String,
    },
    /// age could not encrypt a hand-in to the ceremony's key.
    #[error("cannot encrypt the hand-in: {detail}")]
    HandInEncrypt {
        /// age's reason.
        detail: String,
    },
    /// The QR code of a share could not be made.
    #[error("cannot make the QR code of a share: {detail}")]
    ShareQrCode {
        /// The QR encoder's reason.
        detail: String,
    },
    /// The QR renderer's output holds no drawing to place on the paper.
    #[error("the QR renderer wrote no drawing")]
    ShareQrDrawingMissing,
    /// No seal has the owner asked for.
    #[error(
        "no seal{} is owned by '{owner}': 'zeroth list' shows the owners",
        of_env(.env)
    )]
    NoSealOwned {
        /// The owner asked for.
        owner: String,
        /// The environment looked in, if one was given.
        env: Option<String>,
    },
    /// A period of the `[policy]` of `zeroth.toml` is zero days.
    #[error("[policy] {name} = 0 in zeroth.toml: give a number of days above 0")]
    PolicyDaysZero {
        /// The policy's key: `recovery_test_days` …
        name: String,
    },
}

/// ` of environment 'ENV'` when an environment was given.
fn of_env(env: &Option<String>) -> String {
    env.as_ref()
        .map(|e| format!(" of environment '{e}'"))
        .unwrap_or_default()
}

/// The paths of `files`, for a message: separated by commas.
fn paths(files: &[PathBuf]) -> String {
    files
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

impl RecordError {
    /// Who can fix it.
    pub fn kind(&self) -> Kind {
        use RecordError::*;
        match self {
            BadName { .. }
            | NotADate { .. }
            | NotAPeriod { .. }
            | PeriodOutOfRange { .. }
            | ClockFileUnreadable { .. }
            | UnknownWrapMechanism { .. }
            | ThresholdDoesNotFit { .. }
            | SplitFailed { .. }
            | SplitShareSize
            | BadRecipient { .. }
            | PassphraseMissing
            | IdentityFileMissing { .. }
            | IdentityFileNotRegular { .. }
            | IdentityNotSshKey { .. }
            | IdentitySshKeyUnsupported { .. }
            | IdentityFileUnknown { .. }
            | IdentityFileUnreadable { .. }
            | IdentityFileEmpty { .. }
            | SharePassphraseNeedsTerminal { .. }
            | ShareFileMissing { .. }
            | ShareFileUnfit { .. }
            | ShareFileNotRegular { .. }
            | NoSealOwned { .. }
            | PolicyDaysZero { .. } => Kind::Usage,
            NotAPublicKey { .. }
            | RecordMalformed { .. }
            | SealRevoked { .. }
            | BlobDoesNotOpen { .. }
            | SharesDoNotCombine { .. }
            | SharesHoldNoKey
            | ShareNotAgeFile { .. }
            | ShareScryptTooCostly { .. }
            | SharePassphrasesWrong
            | ShareNotOurs { .. }
            | SshKeyPassphraseWrong { .. } => Kind::Refused,
            RandomFailed { .. }
            | PublicKeyPemEncode { .. }
            | RequestEncode { .. }
            | RecordEncode { .. }
            | BlobEncrypt
            | ShareEncrypt { .. }
            | HandInEncrypt { .. }
            | ShareQrCode { .. }
            | ShareQrDrawingMissing => Kind::Failed,
        }
    }
}

area!(RecordError, Record);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    #[test]
    fn exit_codes_follow_the_kind_of_fault() {
        let usage = Error::from(RecordError::NotADate { text: "x".into() });
        assert_eq!(usage.exit_code(), 2);
        let refused = Error::from(RecordError::SealRevoked {
            seal: "db".into(),
            time: "2030-01-01T00:00:00Z".into(),
            operator: "alice".into(),
            reason: "left".into(),
        });
        assert_eq!(refused.exit_code(), 3);
        assert_eq!(Error::from(RecordError::BlobEncrypt).exit_code(), 4);
        assert_eq!(
            Error::from(RecordError::ShareFileMissing {
                path: "a.share".into()
            })
            .exit_code(),
            2
        );
    }

    #[test]
    fn messages_name_what_is_at_fault() {
        let e = RecordError::BadName {
            noun: "seal",
            max_len: 64,
            dots: true,
            name: "a b".into(),
            why: "contains ' '".into(),
        };
        assert_eq!(
            e.to_string(),
            "seal name 'a b' contains ' ': use 1 to 64 ASCII letters, digits, '-' or '_' ('.' inside), starting with a letter or digit"
        );
        let e = RecordError::ShareNotOurs {
            identity_files: vec!["a.key".into(), "b.key".into()],
        };
        assert_eq!(
            e.to_string(),
            "it is encrypted to another key: none of the identities given (a.key, b.key) opens it; give the key of the custodian it belongs to"
        );
        let e = RecordError::NoSealOwned {
            owner: "team".into(),
            env: Some("prod".into()),
        };
        assert_eq!(
            e.to_string(),
            "no seal of environment 'prod' is owned by 'team': 'zeroth list' shows the owners"
        );
    }
}
