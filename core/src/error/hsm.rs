//! The HSM area: its module, token, keys, and the PKCS#11 calls that failed.

use super::{Error, Kind, area};

/// What went wrong with the HSM.
#[derive(Debug, thiserror::Error)]
pub enum HsmError {
    /// A PKCS#11 function returned an error: which one and its return value are kept as
    /// data, for a caller that acts on them.
    #[error("{}", .0.message)]
    Pkcs11(Pkcs11Failure),
}

impl HsmError {
    /// Who can fix it.
    pub fn kind(&self) -> Kind {
        match self {
            HsmError::Pkcs11(_) => Kind::Failed,
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
        ckr_name(self.rv)
            .map(str::to_string)
            .unwrap_or_else(|| format!("{:#X}", self.rv))
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
