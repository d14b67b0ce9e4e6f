//! The HSM area: its module, token, keys, and the PKCS#11 calls that failed.

use super::{Error, Kind, area};

use std::path::{Path, PathBuf};

/// What went wrong with the HSM.
#[derive(Debug, thiserror::Error)]
pub enum HsmError {
    /// A PKCS#11 function returned an error: which one and its return value are kept as
    /// data, for a caller that acts on them.
    #[error("{}", .0.message)]
    Pkcs11(Pkcs11Failure),
    /// cryptoki failed before any PKCS#11 function returned: the module could not be
    /// loaded, it lacks a function, or a value could not be converted.
    #[error("{message}")]
    Cryptoki {
        /// The whole message, what zeroth was doing first.
        message: String,
        /// What cryptoki reported, in words (`the module could not be loaded (…)`).
        reason: String,
    },
    /// No initialized token with the label asked for is in the module's slots.
    #[error("{}", token_not_found(.label, .module, .present, .unreadable))]
    TokenNotFound {
        /// The label looked for.
        label: String,
        /// The PKCS#11 module searched.
        module: PathBuf,
        /// The other initialized tokens found: label and serial number.
        present: Vec<(String, String)>,
        /// The slots whose token could not be read: `slot 3: C_GetTokenInfo returned …`.
        unreadable: Vec<String>,
    },
    /// Several tokens carry the label asked for.
    #[error(
        "{} tokens are labelled '{label}' in {} (serials {}): relabel all but one",
        .serials.len(),
        .module.display(),
        .serials.join(", ")
    )]
    TokenLabelAmbiguous {
        /// The label.
        label: String,
        /// The PKCS#11 module.
        module: PathBuf,
        /// The serial numbers of the tokens that carry it.
        serials: Vec<String>,
    },
    /// The token refused the user PIN: wrong, locked, expired or malformed.
    #[error(
        "{} for token '{token}' (serial {serial}) ({}){}",
        pin_problem(*.rv),
        returned(.function, &name_or_number(*.rv), *.rv),
        pin_flags(*.pin_locked, *.pin_final_try, *.pin_count_low)
            .map(|words| format!(": {words}"))
            .unwrap_or_default()
    )]
    PinRefused {
        /// The token's label.
        token: String,
        /// The token's serial number.
        serial: String,
        /// The function that refused it, as the specification names it (`C_Login`).
        function: String,
        /// Its return value (`CK_RV`), which says what is wrong with the PIN:
        /// `CKR_PIN_INCORRECT` (0xA0), `CKR_PIN_LOCKED`, `CKR_PIN_EXPIRED`,
        /// `CKR_PIN_LEN_RANGE` or `CKR_PIN_INVALID`.
        rv: u64,
        /// `CKF_USER_PIN_LOCKED`: no user PIN opens the token any more.
        pin_locked: bool,
        /// `CKF_USER_PIN_FINAL_TRY`: one more wrong PIN locks the user PIN.
        pin_final_try: bool,
        /// `CKF_USER_PIN_COUNT_LOW`: the token counts wrong PINs and few tries are left.
        pin_count_low: bool,
    },
    /// The token does not offer a mechanism a ceremony needs, or not with the flags it
    /// needs it for.
    #[error(
        "token '{token}' (serial {serial}) in {} does not offer {mechanism}{}, which zeroth needs to {why}: see what it offers with pkcs11-tool --module {} --token-label '{token}' -M",
        .module.display(),
        .missing_for.map(|u| format!(" for {u}")).unwrap_or_default(),
        .module.display()
    )]
    MechanismMissing {
        /// The token's label.
        token: String,
        /// The token's serial number.
        serial: String,
        /// The PKCS#11 module.
        module: Box<Path>,
        /// The mechanism (`CKM_ECDSA`).
        mechanism: &'static str,
        /// What the token does not offer it for (`both wrap and unwrap`, `signing`),
        /// when it lists the mechanism without that flag; `None` when it does not list
        /// it at all.
        missing_for: Option<&'static str>,
        /// What zeroth needs it for (`sign records and log entries`).
        why: Box<str>,
    },
    /// At `env init`, the token lacks a mechanism every ceremony needs.
    #[error(
        "token '{token}' (serial {serial}) in {} does not offer {mechanism}, which zeroth needs to {why}: use a token that lists it (check with pkcs11-tool -M)",
        .module.display()
    )]
    RequiredMechanismMissing {
        /// The token's label.
        token: String,
        /// The token's serial number.
        serial: String,
        /// The PKCS#11 module.
        module: Box<Path>,
        /// The mechanism (`CKM_AES_KEY_GEN`).
        mechanism: &'static str,
        /// What zeroth needs it for.
        why: &'static str,
    },
    /// The wrap mechanism asked for with `--wrap-mechanism` is not offered for both wrap
    /// and unwrap.
    #[error(
        "token '{token}' (serial {serial}) in {} does not offer {mechanism} for both wrap and unwrap; {}",
        .module.display(),
        if .offered.is_empty() {
            "it offers no wrap mechanism zeroth can use".to_string()
        } else {
            format!("it offers {}: choose that --wrap-mechanism or leave the option out", .offered.join(" and "))
        }
    )]
    WrapMechanismNotOffered {
        /// The token's label.
        token: String,
        /// The token's serial number.
        serial: String,
        /// The PKCS#11 module.
        module: Box<Path>,
        /// The mechanism asked for.
        mechanism: &'static str,
        /// The wrap mechanisms zeroth can use that the token does offer.
        offered: Vec<&'static str>,
    },
    /// The token offers no wrap mechanism zeroth can seal with.
    #[error(
        "token '{token}' (serial {serial}) in {} offers neither CKM_AES_KEY_WRAP_PAD nor CKM_AES_KEY_WRAP with wrap and unwrap: zeroth cannot seal on it",
        .module.display()
    )]
    NoWrapMechanism {
        /// The token's label.
        token: String,
        /// The token's serial number.
        serial: String,
        /// The PKCS#11 module.
        module: Box<Path>,
    },
    /// The token carries environment markers for more than one environment.
    #[error(
        "token '{token}' carries markers for several environments ({}): one token serves one environment; remove the wrong marker with pkcs11-tool",
        .envs.join(", ")
    )]
    SeveralMarkers {
        /// The token's label.
        token: String,
        /// The environments the markers name.
        envs: Vec<String>,
    },
    /// More than one object on the token looks like the one zeroth looks for.
    #[error(
        "token '{token}' holds {count} objects that look like {what}: zeroth expects exactly one; inspect the token with pkcs11-tool -O"
    )]
    DuplicateObjects {
        /// The token's label.
        token: String,
        /// How many objects look like it.
        count: usize,
        /// What was looked for: `K_seal 'zeroth:prod:db:v1:s1'`, `the signing key
        /// 'zeroth:prod:sign'`.
        what: String,
    },
    /// The environment's signing key is not on the token.
    #[error(
        "the signing key '{label}' is not on token '{token}' (serial {serial}): the token was reset or is not this environment's"
    )]
    SigningKeyMissing {
        /// The key's label (`zeroth:prod:sign`).
        label: String,
        /// The token's label.
        token: String,
        /// The token's serial number.
        serial: String,
    },
    /// The signing key's public half has no `CKA_EC_POINT`.
    #[error("token '{token}' gave no CKA_EC_POINT for the signing key")]
    NoEcPoint {
        /// The token's label.
        token: String,
    },
    /// The signing key's `CKA_EC_POINT` is not a P-256 point.
    #[error("token '{token}' gave a signing key that is not a P-256 point")]
    EcPointNotP256 {
        /// The token's label.
        token: String,
    },
    /// `C_Sign` returned a signature of the wrong length for ECDSA P-256.
    #[error("token '{token}' returned a {len}-byte ECDSA signature where r||s is 64 bytes")]
    SignatureLength {
        /// The token's label.
        token: String,
        /// The signature's length in bytes.
        len: usize,
    },
    /// A signature the token made does not verify with the key's own public key.
    #[error(
        "token '{token}' produced a {what} signature that does not verify with its own public key"
    )]
    SignatureDoesNotVerify {
        /// The token's label.
        token: String,
        /// What was signed (`record`, `request`).
        what: String,
    },
    /// K_seal is extractable or not sensitive: zeroth never makes it so.
    #[error(
        "K_seal '{label}' on token '{token}' is {}: it was not made by zeroth or was altered; treat the credential as exposed",
        if *.extractable { "extractable" } else { "not sensitive" }
    )]
    SealKeyExposed {
        /// K_seal's label.
        label: String,
        /// The token's label.
        token: String,
        /// Whether it is extractable (else: not sensitive).
        extractable: bool,
    },
    /// A log anchor on the token does not hold what zeroth writes in one.
    #[error(
        "the log anchor '{label}' on token '{token}' is not one zeroth wrote: inspect the token with pkcs11-tool -O"
    )]
    ForeignLogAnchor {
        /// The anchor's label (`zeroth:prod:log-head`).
        label: String,
        /// The token's label.
        token: String,
    },
    /// The token unwrapped the credential but gave no `CKA_VALUE` for it.
    #[error("token '{token}' did not give back the unwrapped value")]
    NoUnwrappedValue {
        /// The token's label.
        token: String,
    },
    /// A key handle that the session asked with did not come from it.
    #[error("key {key} is not one this session gave")]
    UnknownKey {
        /// The handle's number in the session.
        key: u32,
    },
}

/// What a PIN return value says is wrong with the PIN, in words.
fn pin_problem(rv: u64) -> &'static str {
    match ckr_name(rv) {
        Some("CKR_PIN_INCORRECT") => "wrong PIN",
        Some("CKR_PIN_LOCKED") => "the user PIN is locked",
        Some("CKR_PIN_EXPIRED") => "the PIN has expired",
        Some("CKR_PIN_LEN_RANGE" | "CKR_PIN_INVALID") => {
            "the PIN has an invalid length or characters"
        }
        _ => "login failed",
    }
}

/// The token's user-PIN flags in words, most serious first; `None` when none is set.
/// SoftHSM 2.6 raises COUNT_LOW after any wrong PIN and never locks; Kryoptic raises
/// COUNT_LOW with 3 tries left, FINAL_TRY with 1, and locks after 10.
fn pin_flags(locked: bool, final_try: bool, count_low: bool) -> Option<&'static str> {
    if locked {
        Some(
            "the user PIN is locked (CKF_USER_PIN_LOCKED): no PIN opens the token until the security officer unlocks it with the SO PIN",
        )
    } else if final_try {
        Some("one more wrong PIN locks the user PIN (CKF_USER_PIN_FINAL_TRY)")
    } else if count_low {
        Some("the token counts wrong PINs and few tries are left (CKF_USER_PIN_COUNT_LOW)")
    } else {
        None
    }
}

/// A failed call as PKCS#11 documentation and vendors' support speak of it:
/// `C_Login returned CKR_PIN_INCORRECT (0xA0)`. `name` is the return value's name
/// (`CKR_…`, or its number when it has none).
pub fn returned(function: &str, name: &str, rv: u64) -> String {
    format!("{function} returned {name} ({rv:#X})")
}

/// The return value's name in the specification, or its number in hex when the
/// specification has no name for it (a vendor's own).
fn name_or_number(rv: u64) -> String {
    ckr_name(rv)
        .map(str::to_string)
        .unwrap_or_else(|| format!("{rv:#X}"))
}

/// The message of [`HsmError::TokenNotFound`].
fn token_not_found(
    label: &str,
    module: &Path,
    present: &[(String, String)],
    unreadable: &[String],
) -> String {
    format!(
        "no token labelled '{label}' in {}; {}{}",
        module.display(),
        if present.is_empty() {
            format!(
                "the module shows no initialized token{}",
                HsmError::config_hint(module)
            )
        } else {
            format!(
                "tokens present: {}",
                present
                    .iter()
                    .map(|(label, serial)| format!("'{label}' (serial {serial})"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        },
        if unreadable.is_empty() {
            String::new()
        } else {
            format!("; slots that could not be read: {}", unreadable.join(", "))
        }
    )
}

impl HsmError {
    /// Where the soft tokens of the test matrix read their configuration from, in words
    /// with a leading space, for messages about a module that finds no token; empty for
    /// a module zeroth knows nothing of.
    pub fn config_hint(module: &Path) -> &'static str {
        let name = module
            .file_name()
            .map(|n| n.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        if name.contains("softhsm") {
            " (SoftHSM reads its configuration from SOFTHSM2_CONF, default /etc/softhsm/softhsm2.conf: check that it exists and names a token directory)"
        } else if name.contains("kryoptic") {
            " (Kryoptic reads its configuration from KRYOPTIC_CONF, else ~/.config/kryoptic/token.conf: a token database ending in .sql, or a file of [[slots]]; check that it exists and every database in it can be opened)"
        } else {
            ""
        }
    }

    /// The token's user-PIN flags in words, most serious first; empty when none is set.
    pub fn pin_flags_in_words(locked: bool, final_try: bool, count_low: bool) -> &'static str {
        pin_flags(locked, final_try, count_low).unwrap_or_default()
    }

    /// Who can fix it.
    pub fn kind(&self) -> Kind {
        match self {
            HsmError::Pkcs11(_)
            | HsmError::Cryptoki { .. }
            | HsmError::TokenNotFound { .. }
            | HsmError::NoEcPoint { .. }
            | HsmError::EcPointNotP256 { .. }
            | HsmError::SignatureLength { .. }
            | HsmError::SignatureDoesNotVerify { .. }
            | HsmError::NoUnwrappedValue { .. }
            | HsmError::UnknownKey { .. } => Kind::Failed,
            HsmError::TokenLabelAmbiguous { .. }
            | HsmError::PinRefused { .. }
            | HsmError::MechanismMissing { .. }
            | HsmError::RequiredMechanismMissing { .. }
            | HsmError::WrapMechanismNotOffered { .. }
            | HsmError::NoWrapMechanism { .. }
            | HsmError::SeveralMarkers { .. }
            | HsmError::DuplicateObjects { .. }
            | HsmError::SigningKeyMissing { .. }
            | HsmError::SealKeyExposed { .. }
            | HsmError::ForeignLogAnchor { .. } => Kind::Refused,
        }
    }
}

area!(HsmError, Hsm);

impl From<Pkcs11Failure> for Error {
    fn from(p: Pkcs11Failure) -> Error {
        Error::Hsm(HsmError::Pkcs11(p))
    }
}

/// A PKCS#11 call that returned an error, as the specification and vendors' manuals
/// name it: `C_Login returned CKR_PIN_INCORRECT (0xA0)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pkcs11Failure {
    /// The whole message, what zeroth was doing first.
    pub message: String,
    /// The function, as the specification names it (`C_Login`).
    pub function: String,
    /// The return value (`CK_RV`): `0xA0` for `CKR_PIN_INCORRECT`.
    pub rv: u64,
}

impl Pkcs11Failure {
    /// The return value's name in the specification (`CKR_PIN_INCORRECT`), or its
    /// number in hex when the specification has no name for it (a vendor's own).
    pub fn rv_name(&self) -> String {
        name_or_number(self.rv)
    }
}

/// The specification's name of a PKCS#11 return value, for those zeroth meets or
/// tells apart (PKCS#11 3.1, section 5.1); others are printed as numbers. Written out
/// here, not taken from cryptoki, so the format-and-verify core builds without it.
pub fn ckr_name(rv: u64) -> Option<&'static str> {
    Some(match rv {
        0x000 => "CKR_OK",
        0x001 => "CKR_CANCEL",
        0x002 => "CKR_HOST_MEMORY",
        0x003 => "CKR_SLOT_ID_INVALID",
        0x005 => "CKR_GENERAL_ERROR",
        0x006 => "CKR_FUNCTION_FAILED",
        0x007 => "CKR_ARGUMENTS_BAD",
        0x010 => "CKR_ATTRIBUTE_READ_ONLY",
        0x011 => "CKR_ATTRIBUTE_SENSITIVE",
        0x012 => "CKR_ATTRIBUTE_TYPE_INVALID",
        0x013 => "CKR_ATTRIBUTE_VALUE_INVALID",
        0x020 => "CKR_DATA_INVALID",
        0x021 => "CKR_DATA_LEN_RANGE",
        0x030 => "CKR_DEVICE_ERROR",
        0x031 => "CKR_DEVICE_MEMORY",
        0x032 => "CKR_DEVICE_REMOVED",
        0x040 => "CKR_ENCRYPTED_DATA_INVALID",
        0x041 => "CKR_ENCRYPTED_DATA_LEN_RANGE",
        0x050 => "CKR_FUNCTION_CANCELED",
        0x054 => "CKR_FUNCTION_NOT_SUPPORTED",
        0x060 => "CKR_KEY_HANDLE_INVALID",
        0x062 => "CKR_KEY_SIZE_RANGE",
        0x063 => "CKR_KEY_TYPE_INCONSISTENT",
        0x068 => "CKR_KEY_FUNCTION_NOT_PERMITTED",
        0x069 => "CKR_KEY_NOT_WRAPPABLE",
        0x06A => "CKR_KEY_UNEXTRACTABLE",
        0x070 => "CKR_MECHANISM_INVALID",
        0x071 => "CKR_MECHANISM_PARAM_INVALID",
        0x082 => "CKR_OBJECT_HANDLE_INVALID",
        0x090 => "CKR_OPERATION_ACTIVE",
        0x091 => "CKR_OPERATION_NOT_INITIALIZED",
        0x0A0 => "CKR_PIN_INCORRECT",
        0x0A1 => "CKR_PIN_INVALID",
        0x0A2 => "CKR_PIN_LEN_RANGE",
        0x0A3 => "CKR_PIN_EXPIRED",
        0x0A4 => "CKR_PIN_LOCKED",
        0x0B0 => "CKR_SESSION_CLOSED",
        0x0B1 => "CKR_SESSION_COUNT",
        0x0B3 => "CKR_SESSION_HANDLE_INVALID",
        0x0B5 => "CKR_SESSION_READ_ONLY",
        0x0B6 => "CKR_SESSION_EXISTS",
        0x0C0 => "CKR_SIGNATURE_INVALID",
        0x0C1 => "CKR_SIGNATURE_LEN_RANGE",
        0x0D0 => "CKR_TEMPLATE_INCOMPLETE",
        0x0D1 => "CKR_TEMPLATE_INCONSISTENT",
        0x0E0 => "CKR_TOKEN_NOT_PRESENT",
        0x0E1 => "CKR_TOKEN_NOT_RECOGNIZED",
        0x0E2 => "CKR_TOKEN_WRITE_PROTECTED",
        0x0F0 => "CKR_UNWRAPPING_KEY_HANDLE_INVALID",
        0x0F1 => "CKR_UNWRAPPING_KEY_SIZE_RANGE",
        0x0F2 => "CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT",
        0x100 => "CKR_USER_ALREADY_LOGGED_IN",
        0x101 => "CKR_USER_NOT_LOGGED_IN",
        0x102 => "CKR_USER_PIN_NOT_INITIALIZED",
        0x103 => "CKR_USER_TYPE_INVALID",
        0x110 => "CKR_WRAPPED_KEY_INVALID",
        0x112 => "CKR_WRAPPED_KEY_LEN_RANGE",
        0x113 => "CKR_WRAPPING_KEY_HANDLE_INVALID",
        0x114 => "CKR_WRAPPING_KEY_SIZE_RANGE",
        0x115 => "CKR_WRAPPING_KEY_TYPE_INCONSISTENT",
        0x120 => "CKR_RANDOM_SEED_NOT_SUPPORTED",
        0x121 => "CKR_RANDOM_NO_RNG",
        0x130 => "CKR_DOMAIN_PARAMS_INVALID",
        0x150 => "CKR_BUFFER_TOO_SMALL",
        0x190 => "CKR_CRYPTOKI_NOT_INITIALIZED",
        0x191 => "CKR_CRYPTOKI_ALREADY_INITIALIZED",
        0x1A0 => "CKR_MUTEX_BAD",
        0x1A1 => "CKR_MUTEX_NOT_LOCKED",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_give_the_exit_codes_of_the_design() {
        let missing = HsmError::TokenNotFound {
            label: "prod".into(),
            module: PathBuf::from("/usr/lib/softhsm/libsofthsm2.so"),
            present: Vec::new(),
            unreadable: Vec::new(),
        };
        assert_eq!(Error::from(missing).exit_code(), 4);
        let pin = HsmError::PinRefused {
            token: "prod".into(),
            serial: "1234".into(),
            function: "C_Login".into(),
            rv: 0xA0,
            pin_locked: false,
            pin_final_try: false,
            pin_count_low: false,
        };
        assert_eq!(Error::from(pin).exit_code(), 3);
        let exposed = HsmError::SealKeyExposed {
            label: "zeroth:prod:db:v1:s1".into(),
            token: "prod".into(),
            extractable: true,
        };
        assert_eq!(exposed.kind(), Kind::Refused);
        assert_eq!(HsmError::UnknownKey { key: 7 }.kind(), Kind::Failed);
    }

    #[test]
    fn a_refused_pin_is_told_with_its_call_and_the_tokens_flags() {
        let pin = HsmError::PinRefused {
            token: "prod".into(),
            serial: "1234".into(),
            function: "C_Login".into(),
            rv: 0xA0,
            pin_locked: false,
            pin_final_try: true,
            pin_count_low: true,
        };
        assert_eq!(
            pin.to_string(),
            "wrong PIN for token 'prod' (serial 1234) (C_Login returned CKR_PIN_INCORRECT (0xA0)): one more wrong PIN locks the user PIN (CKF_USER_PIN_FINAL_TRY)"
        );
        assert_eq!(HsmError::pin_flags_in_words(false, false, false), "");
        assert!(HsmError::pin_flags_in_words(true, true, true).contains("locked"));
        assert!(HsmError::pin_flags_in_words(false, false, true).contains("few tries are left"));
    }

    #[test]
    fn a_missing_token_names_the_others_or_where_the_module_looks() {
        let none = HsmError::TokenNotFound {
            label: "prod".into(),
            module: PathBuf::from("/usr/lib/softhsm/libsofthsm2.so"),
            present: Vec::new(),
            unreadable: vec!["slot 2: C_GetTokenInfo returned CKR_DEVICE_ERROR (0x30)".into()],
        };
        let text = none.to_string();
        assert!(
            text.starts_with("no token labelled 'prod' in /usr/lib/softhsm/libsofthsm2.so; the module shows no initialized token (SoftHSM reads its configuration from SOFTHSM2_CONF"),
            "{text}"
        );
        assert!(
            text.ends_with("; slots that could not be read: slot 2: C_GetTokenInfo returned CKR_DEVICE_ERROR (0x30)"),
            "{text}"
        );
        let others = HsmError::TokenNotFound {
            label: "prod".into(),
            module: PathBuf::from("/m.so"),
            present: vec![("test".into(), "1".into()), ("dev".into(), "2".into())],
            unreadable: Vec::new(),
        };
        assert_eq!(
            others.to_string(),
            "no token labelled 'prod' in /m.so; tokens present: 'test' (serial 1), 'dev' (serial 2)"
        );
    }

    #[test]
    fn a_missing_mechanism_says_what_for() {
        let e = HsmError::MechanismMissing {
            token: "prod".into(),
            serial: "1234".into(),
            module: Path::new("/m.so").into(),
            mechanism: "CKM_ECDSA",
            missing_for: Some("signing"),
            why: "sign the log entry".into(),
        };
        assert_eq!(
            e.to_string(),
            "token 'prod' (serial 1234) in /m.so does not offer CKM_ECDSA for signing, which zeroth needs to sign the log entry: see what it offers with pkcs11-tool --module /m.so --token-label 'prod' -M"
        );
        assert_eq!(e.kind(), Kind::Refused);
    }
}
