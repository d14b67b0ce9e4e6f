//! The one error type of zeroth, and the exit code each kind of error maps to.
//!
//! Every message is written for the person at the terminal: it names the file, the
//! custodian, the field or the token at fault and says what to do next. A message never
//! contains a secret: callers build messages from names, paths and public metadata only.

use std::fmt;
use std::path::Path;

/// What went wrong, sorted by who can fix it; each kind has its own exit code.
#[derive(Debug)]
pub enum Error {
    /// The command line or its inputs are malformed or inconsistent (exit 2).
    Usage(String),
    /// zeroth understood the request and refuses it: a bad share, a bad signature, an
    /// expired or revoked seal, a wrong environment, a file it will not overwrite, a
    /// wrong PIN (exit 3).
    Refused(String),
    /// The HSM could not do what was asked: module missing, token absent, a PKCS#11
    /// function failed (exit 4).
    Hsm(String),
    /// A file or directory could not be read or written, or the store is locked (exit 4).
    Io(String),
    /// The person at the terminal stopped the ceremony with Ctrl-C (exit 130, as a
    /// shell reports an interrupted command); logged as refused.
    Interrupted(String),
}

/// Shorthand for results in zeroth.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Returns the process exit code for this error, as the design fixes them.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) => 2,
            Error::Refused(_) => 3,
            Error::Hsm(_) | Error::Io(_) => 4,
            Error::Interrupted(_) => 130,
        }
    }

    /// The same kind of error with its message rewritten by `f`.
    pub fn map_message(self, f: impl FnOnce(&str) -> String) -> Error {
        match self {
            Error::Usage(m) => Error::Usage(f(&m)),
            Error::Refused(m) => Error::Refused(f(&m)),
            Error::Hsm(m) => Error::Hsm(f(&m)),
            Error::Io(m) => Error::Io(f(&m)),
            Error::Interrupted(m) => Error::Interrupted(f(&m)),
        }
    }

    /// Returns the message without the kind.
    pub fn message(&self) -> &str {
        match self {
            Error::Usage(m)
            | Error::Refused(m)
            | Error::Hsm(m)
            | Error::Io(m)
            | Error::Interrupted(m) => m,
        }
    }

    /// An I/O error on `path`, while doing `action` ("read", "write", "create" …).
    pub fn io(action: &str, path: &Path, err: std::io::Error) -> Error {
        Error::Io(format!("cannot {action} {}: {err}", path.display()))
    }

    /// Wraps a PKCS#11 failure, keeping which function failed and its return value.
    pub fn hsm(context: &str, err: cryptoki::error::Error) -> Error {
        Error::Hsm(format!("{context}: {}", describe_pkcs11(&err)))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for Error {}

/// Returns the PKCS#11 return value of `err` as its specification name
/// (`CKR_PIN_INCORRECT`), if `err` carries one.
pub fn ckr_name(err: &cryptoki::error::Error) -> Option<String> {
    match err {
        cryptoki::error::Error::Pkcs11(rv, _) => Some(ckr_from_debug(&format!("{rv:?}"))),
        _ => None,
    }
}

/// Describes a cryptoki error as `C_Function returned CKR_NAME`, the way PKCS#11
/// documentation and vendor support speak of it.
pub fn describe_pkcs11(err: &cryptoki::error::Error) -> String {
    match err {
        cryptoki::error::Error::Pkcs11(rv, func) => {
            format!("C_{func:?} returned {}", ckr_from_debug(&format!("{rv:?}")))
        }
        cryptoki::error::Error::LibraryLoading(e) => {
            format!("the module could not be loaded ({e})")
        }
        other => other.to_string(),
    }
}

/// `PinIncorrect` → `CKR_PIN_INCORRECT`. cryptoki names return values in CamelCase;
/// people and vendor manuals use the specification's names.
fn ckr_from_debug(camel: &str) -> String {
    let mut out = String::from("CKR_");
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_values_are_named_as_in_the_specification() {
        assert_eq!(ckr_from_debug("PinIncorrect"), "CKR_PIN_INCORRECT");
        assert_eq!(ckr_from_debug("TokenNotPresent"), "CKR_TOKEN_NOT_PRESENT");
    }

    #[test]
    fn exit_codes_follow_the_design() {
        assert_eq!(Error::Usage(String::new()).exit_code(), 2);
        assert_eq!(Error::Refused(String::new()).exit_code(), 3);
        assert_eq!(Error::Hsm(String::new()).exit_code(), 4);
        assert_eq!(Error::Io(String::new()).exit_code(), 4);
        assert_eq!(Error::Interrupted(String::new()).exit_code(), 130);
    }
}
