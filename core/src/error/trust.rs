//! The trust area: the trust file and the pins it holds (signing keys, modules, tokens).

use std::path::PathBuf;

use super::{Kind, area};

/// What went wrong with the trust file or a pin.
///
/// A fingerprint or hash that sits beside four other fields is a `Box<str>`, so that
/// no variant makes every `Result` of zeroth larger.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    /// No trust file was given and there is no home directory to find the user's in.
    #[error("no trust file: HOME is not set; give --trust FILE or set {variable}")]
    NoHome {
        /// The environment variable naming the trust file (`ZEROTH_TRUST`).
        variable: String,
    },
    /// Two trust files pin the same environment differently.
    #[error(
        "environment '{env}' is pinned twice, differently: {} and {}; remove the wrong pin",
        pin_words(.pins, 0),
        pin_words(.pins, 1)
    )]
    PinnedTwice {
        /// The environment.
        env: String,
        /// The two pins, each as (the trust file it is in, the signing key it names,
        /// the module it names with its hash or "not pinned").
        pins: Box<[(PathBuf, String, String); 2]>,
    },
    /// The pin names the signing key only, and a ceremony needs the module and token.
    #[error(
        "{} pins only the signing key of environment '{env}', not its module and token: zeroth loads no PKCS#11 module that is not pinned; pin them on this machine with 'zeroth env pin {env}'",
        .trust_file.display()
    )]
    KeyOnlyPin {
        /// The trust file of the pin.
        trust_file: PathBuf,
        /// The environment.
        env: String,
    },
    /// A ceremony needs a pin the trust file does not have.
    #[error(
        "environment '{env}' of store {} is not pinned in {}{}: zeroth loads no PKCS#11 module and trusts no key that a trust file outside the store does not pin; pin it on this machine with 'zeroth env pin {env}' (it shows the module's hash and the token's key first)",
        .store.display(),
        .trust_file.display(),
        missing_words(.trust_file_exists)
    )]
    NotPinned {
        /// The environment.
        env: String,
        /// The store's directory.
        store: PathBuf,
        /// The trust file.
        trust_file: PathBuf,
        /// The trust file exists.
        trust_file_exists: bool,
    },
    /// The trust file given (`--trust`, `ZEROTH_TRUST`) does not pin the environment.
    #[error(
        "environment '{env}' is not pinned in {}, the trust file given{}: add its pin ('zeroth trust export --env {env}' on a machine that pins it)",
        .trust_file.display(),
        missing_words(.trust_file_exists)
    )]
    NotPinnedInGivenFile {
        /// The environment.
        env: String,
        /// The trust file given.
        trust_file: PathBuf,
        /// The trust file exists.
        trust_file_exists: bool,
    },
    /// The store's public key is not the one the trust file pins.
    #[error(
        "{} ({found}) is not the signing key {} pins for environment '{env}' ({pinned}): the store's key was replaced; restore the store from a trusted copy (if the environment was bound anew on purpose, pin it again with 'zeroth env pin {env}')",
        .key_file.display(),
        .trust_file.display()
    )]
    KeyNotPinned {
        /// The store's public key file.
        key_file: PathBuf,
        /// Its fingerprint.
        found: Box<str>,
        /// The trust file.
        trust_file: PathBuf,
        /// The environment.
        env: String,
        /// The fingerprint pinned.
        pinned: Box<str>,
    },
    /// The store's public key is not the one `zeroth.toml` records.
    #[error(
        "{} ({found}) does not match the fingerprint zeroth.toml records for environment '{env}' ({recorded}): the store's key was replaced",
        .key_file.display()
    )]
    KeyNotAsRecorded {
        /// The store's public key file.
        key_file: PathBuf,
        /// Its fingerprint.
        found: String,
        /// The environment.
        env: String,
        /// The fingerprint `zeroth.toml` records.
        recorded: String,
    },
    /// An environment to export has no pin.
    #[error(
        "environment '{env}' is not pinned in {}: nothing to export for it",
        .trust_file.display()
    )]
    NothingToExport {
        /// The environment.
        env: String,
        /// The trust file.
        trust_file: PathBuf,
    },
    /// A trust file could not be encoded.
    #[error("cannot encode the trust file: {detail}")]
    Encode {
        /// What the encoder said.
        detail: String,
    },
    /// A trust file or module (or its directory) is owned by another user.
    #[error(
        "{what} {} is owned by uid {owner}, neither you (uid {uid}) nor root: another user could have replaced it; zeroth does not trust it",
        .path.display()
    )]
    ForeignOwner {
        /// What the file is ("trust file", "PKCS#11 module" …).
        what: String,
        /// The file.
        path: PathBuf,
        /// Its owner's uid.
        owner: u32,
        /// The uid zeroth runs as.
        uid: u32,
    },
    /// A trust file or module (or its directory) is writable by group or others.
    #[error(
        "{what} {} is writable by {} (mode {mode:o}): another user could have replaced it; 'chmod go-w {}' if its content is still what you trust",
        .path.display(),
        writers(.mode),
        .path.display()
    )]
    Writable {
        /// What the file is ("trust file", "PKCS#11 module" …).
        what: String,
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A trust file does not parse.
    #[error("trust file {} is not valid: {detail}", .path.display())]
    Invalid {
        /// The trust file.
        path: PathBuf,
        /// What the TOML parser found.
        detail: String,
    },
    /// A trust file has a format this zeroth does not read.
    #[error("trust file {} has format {found}; this zeroth reads format {supported}", .path.display())]
    Format {
        /// The trust file.
        path: PathBuf,
        /// The format it declares.
        found: u32,
        /// The format this zeroth reads.
        supported: u32,
    },
    /// The module file was replaced between its check and its load.
    #[error("PKCS#11 module {} was replaced while zeroth checked it: run again", .module.display())]
    ModuleReplaced {
        /// The module.
        module: PathBuf,
    },
    /// The module path is relative.
    #[error(
        "PKCS#11 module path '{}' is relative: give its absolute path, so that the module loaded does not depend on the directory zeroth runs in",
        .module.display()
    )]
    ModuleRelative {
        /// The module path.
        module: PathBuf,
    },
    /// The module file does not exist.
    #[error(
        "PKCS#11 module {} does not exist: install the token's module or fix the path",
        .module.display()
    )]
    ModuleMissing {
        /// The module path.
        module: PathBuf,
    },
    /// The module lies inside the store, which whoever edits the store could replace.
    #[error(
        "PKCS#11 module {} lies inside the store {}: whoever edits the store could replace it; install the module outside the store",
        .module.display(),
        .store.display()
    )]
    ModuleInsideStore {
        /// The module path.
        module: PathBuf,
        /// The store's directory.
        store: PathBuf,
    },
    /// The module is not a regular file.
    #[error("PKCS#11 module {} is not a regular file", .module.display())]
    ModuleNotAFile {
        /// The module path.
        module: PathBuf,
    },
    /// The module is larger than any module zeroth loads.
    #[error("PKCS#11 module {} is larger than {max_mib} MiB: not a module zeroth loads", .module.display())]
    ModuleTooLarge {
        /// The module path.
        module: PathBuf,
        /// The largest size zeroth loads, in MiB.
        max_mib: u64,
    },
    /// The module's hash is not the pinned one.
    #[error(
        "PKCS#11 module {} has SHA-256 {found}, but {} pins {pinned} for environment '{env}': the module changed since it was pinned; if that is a package upgrade you expect, pin it again with 'zeroth env pin {env}' (it shows the new hash and the token's key), otherwise do not use this machine",
        .module.display(),
        .trust_file.display()
    )]
    ModuleHashChanged {
        /// The environment.
        env: String,
        /// The module path.
        module: PathBuf,
        /// The module's SHA-256, hex.
        found: Box<str>,
        /// The pinned SHA-256, hex.
        pinned: Box<str>,
        /// The trust file of the pin.
        trust_file: PathBuf,
    },
    /// The token is marked for another environment.
    #[error(
        "token '{token}' (serial {serial}) is marked for environment '{marked}': one token serves one environment; use another token for '{env}'"
    )]
    TokenMarkedForOther {
        /// The token's label.
        token: String,
        /// The token's serial number.
        serial: String,
        /// The environment its marker names.
        marked: String,
        /// The environment being bound.
        env: String,
    },
    /// The token is marked for the environment, which the store does not bind.
    #[error(
        "token '{token}' (serial {serial}) is already marked for environment '{env}' but this store does not know it: add --adopt to use the token's existing signing key"
    )]
    TokenMarkedAlready {
        /// The token's label.
        token: String,
        /// The token's serial number.
        serial: String,
        /// The environment.
        env: String,
    },
    /// The token holds more than one signing key for the environment to adopt.
    #[error(
        "token '{token}' holds {count} signing keys labelled for '{env}'; --adopt needs exactly one"
    )]
    AdoptAmbiguous {
        /// The token's label.
        token: String,
        /// How many signing keys carry the environment's label.
        count: usize,
        /// The environment.
        env: String,
    },
    /// The token found has another serial number than the pinned or bound one.
    #[error(
        "token '{token}' has serial {found}, but environment '{env}' is {} serial {expected}: this is not the environment's token",
        pinned_words(.pinned)
    )]
    TokenSerialMismatch {
        /// The token's label.
        token: String,
        /// The serial number it has.
        found: String,
        /// The environment.
        env: String,
        /// The serial number pinned (or bound, when not pinned).
        expected: String,
        /// The serial number is this machine's pin (not the store's binding).
        pinned: bool,
    },
    /// The token's signing key is not the pinned one.
    #[error(
        "the signing key on token '{token}' ({found}) is not the key {} pins for '{env}' ({pinned}): this is not the token that was pinned; zeroth does not re-pin a different token",
        .trust_file.display()
    )]
    TokenKeyNotPinned {
        /// The token's label.
        token: String,
        /// The fingerprint of its signing key.
        found: Box<str>,
        /// The trust file.
        trust_file: PathBuf,
        /// The environment.
        env: String,
        /// The fingerprint pinned.
        pinned: Box<str>,
    },
}

/// "in FILE (key K, module M)" for pin `i` of two that disagree.
fn pin_words(pins: &[(PathBuf, String, String); 2], i: usize) -> String {
    let (file, key, module) = &pins[i];
    format!("in {} (key {key}, module {module})", file.display())
}

/// " (which does not exist)" when the trust file is not there.
fn missing_words(exists: &bool) -> &'static str {
    if *exists {
        ""
    } else {
        " (which does not exist)"
    }
}

/// Who may write a file of permission bits `mode`: others, else its group.
fn writers(mode: &u32) -> &'static str {
    if *mode & 0o002 != 0 {
        "others"
    } else {
        "its group"
    }
}

/// How an environment holds a token's serial: pinned on this machine, or bound.
fn pinned_words(pinned: &bool) -> &'static str {
    if *pinned { "pinned to" } else { "bound to" }
}

impl TrustError {
    /// Who can fix it.
    pub fn kind(&self) -> Kind {
        use TrustError::*;
        match self {
            NoHome { .. } | Invalid { .. } | Format { .. } | ModuleRelative { .. } => Kind::Usage,
            PinnedTwice { .. }
            | KeyOnlyPin { .. }
            | NotPinned { .. }
            | NotPinnedInGivenFile { .. }
            | KeyNotPinned { .. }
            | KeyNotAsRecorded { .. }
            | NothingToExport { .. }
            | ForeignOwner { .. }
            | Writable { .. }
            | ModuleReplaced { .. }
            | ModuleInsideStore { .. }
            | ModuleNotAFile { .. }
            | ModuleTooLarge { .. }
            | ModuleHashChanged { .. }
            | TokenMarkedForOther { .. }
            | TokenMarkedAlready { .. }
            | AdoptAmbiguous { .. }
            | TokenSerialMismatch { .. }
            | TokenKeyNotPinned { .. } => Kind::Refused,
            Encode { .. } | ModuleMissing { .. } => Kind::Failed,
        }
    }
}

area!(TrustError, Trust);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    #[test]
    fn exit_codes_follow_the_situation() {
        let code = |e: TrustError| Error::from(e).exit_code();
        assert_eq!(
            code(TrustError::ModuleRelative {
                module: PathBuf::from("m.so")
            }),
            2
        );
        assert_eq!(
            code(TrustError::ModuleInsideStore {
                module: PathBuf::from("/s/m.so"),
                store: PathBuf::from("/s"),
            }),
            3
        );
        assert_eq!(
            code(TrustError::ModuleMissing {
                module: PathBuf::from("/m.so")
            }),
            4
        );
    }

    #[test]
    fn messages_read_as_before() {
        assert_eq!(
            TrustError::Writable {
                what: "trust file".into(),
                path: PathBuf::from("/t.toml"),
                mode: 0o664,
            }
            .to_string(),
            "trust file /t.toml is writable by its group (mode 664): another user could have replaced it; 'chmod go-w /t.toml' if its content is still what you trust"
        );
        assert_eq!(
            TrustError::NotPinnedInGivenFile {
                env: "prod".into(),
                trust_file: PathBuf::from("/t.toml"),
                trust_file_exists: false,
            }
            .to_string(),
            "environment 'prod' is not pinned in /t.toml, the trust file given (which does not exist): add its pin ('zeroth trust export --env prod' on a machine that pins it)"
        );
        assert_eq!(
            TrustError::TokenSerialMismatch {
                token: "t".into(),
                found: "2".into(),
                env: "prod".into(),
                expected: "1".into(),
                pinned: true,
            }
            .to_string(),
            "token 't' has serial 2, but environment 'prod' is pinned to serial 1: this is not the environment's token"
        );
    }
}
