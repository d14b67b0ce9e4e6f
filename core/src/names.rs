//! The names people give: environments, seals and custodians.
//!
//! Names end up in file names (`<seal>.<custodian>.share`), token object labels
//! (`zeroth:<env>:<seal>:…`), share headers and log lines, so they are restricted to a
//! set that is safe in all of them: ASCII letters, digits, `-` and `_` (and `.` inside a
//! seal name), starting with a letter or digit.

use crate::error::{Error, RecordError, Result};

/// What a name is used for; decides its length limit and the characters it may hold.
#[derive(Clone, Copy, Debug)]
pub enum NameKind {
    /// An environment (dev, test, prod).
    Environment,
    /// A seal (one bootstrap credential).
    Seal,
    /// A custodian (one person holding a share).
    Custodian,
}

impl NameKind {
    /// What the name is of, in a message: `environment`, `seal`, `custodian`.
    pub(crate) fn noun(self) -> &'static str {
        match self {
            NameKind::Environment => "environment",
            NameKind::Seal => "seal",
            NameKind::Custodian => "custodian",
        }
    }

    /// The longest such name, in characters.
    pub(crate) fn max_len(self) -> usize {
        match self {
            NameKind::Environment => 32,
            NameKind::Seal => 64,
            NameKind::Custodian => 32,
        }
    }
}

/// Returns `Ok` if and only if `name` is a valid name of `kind`.
pub fn check(kind: NameKind, name: &str) -> Result<()> {
    let bad = |why: &str| {
        Error::from(RecordError::BadName {
            noun: kind.noun(),
            max_len: kind.max_len(),
            dots: matches!(kind, NameKind::Seal),
            name: name.to_string(),
            why: why.to_string(),
        })
    };
    if name.is_empty() {
        return Err(bad("is empty"));
    }
    if name.len() > kind.max_len() {
        return Err(bad("is too long"));
    }
    if !name.as_bytes()[0].is_ascii_alphanumeric() {
        return Err(bad("does not start with a letter or digit"));
    }
    let dot_ok = matches!(kind, NameKind::Seal);
    let ok = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_' || (dot_ok && c == '.');
    if let Some(c) = name.chars().find(|&c| !ok(c)) {
        return Err(bad(&format!("contains '{}'", c.escape_debug())));
    }
    if dot_ok && (name.ends_with('.') || name.contains("..")) {
        return Err(bad("has a misplaced '.'"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_names() {
        check(NameKind::Custodian, "alice").unwrap();
        check(NameKind::Custodian, "Bob_2").unwrap();
        check(NameKind::Seal, "vault-root.v2").unwrap();
        check(NameKind::Environment, "prod").unwrap();
    }

    #[test]
    fn refuses_what_breaks_paths_labels_or_terminals() {
        for bad in [
            "",
            "-x",
            ".x",
            "a/b",
            "a b",
            "a:b",
            "é",
            "a\nb",
            "../x",
            "a\u{1b}[2J",
        ] {
            assert!(check(NameKind::Custodian, bad).is_err(), "{bad:?}");
        }
        assert!(check(NameKind::Custodian, "a.b").is_err());
        assert!(check(NameKind::Seal, "a..b").is_err());
        assert!(check(NameKind::Seal, "a.").is_err());
        assert!(check(NameKind::Custodian, &"a".repeat(33)).is_err());
    }

    #[test]
    fn a_bad_name_is_a_usage_error_naming_it_and_what_is_wrong() {
        let err = check(NameKind::Environment, "a\nb").unwrap_err();
        assert!(
            matches!(
                err.cause(),
                Error::Record(RecordError::BadName { name, why, .. })
                    if name == "a\nb" && why == "contains '\\n'"
            ),
            "{err:?}"
        );
        assert_eq!(err.exit_code(), 2);
        // Control characters are escaped: the message cannot move the terminal.
        assert!(
            err.message()
                .starts_with("environment name 'a\\nb' contains")
        );
    }
}
