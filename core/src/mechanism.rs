//! The wrap mechanisms K_seal may wrap a credential with, as records name them.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{RecordError, Result};

/// How K_seal wraps the credential.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum WrapMechanism {
    /// `CKM_AES_KEY_WRAP_PAD` (RFC 5649): any length.
    #[serde(rename = "CKM_AES_KEY_WRAP_PAD")]
    AesKeyWrapPad,
    /// `CKM_AES_KEY_WRAP` (RFC 3394): multiples of 8 bytes, at least 16; zeroth pads the
    /// credential with zeros and keeps its length in the signed record.
    #[serde(rename = "CKM_AES_KEY_WRAP")]
    AesKeyWrap,
}

/// In order of preference.
pub const WRAP_PREFERENCE: [WrapMechanism; 2] =
    [WrapMechanism::AesKeyWrapPad, WrapMechanism::AesKeyWrap];

impl WrapMechanism {
    /// The PKCS#11 name, as `pkcs11-tool -M` prints it (without the `CKM_`).
    pub fn name(self) -> &'static str {
        match self {
            WrapMechanism::AesKeyWrapPad => "CKM_AES_KEY_WRAP_PAD",
            WrapMechanism::AesKeyWrap => "CKM_AES_KEY_WRAP",
        }
    }

    /// Parses a name given on the command line (with or without `CKM_`, any case).
    pub fn parse(s: &str) -> Result<WrapMechanism> {
        let up = s.to_ascii_uppercase().replace('-', "_");
        let up = up.strip_prefix("CKM_").unwrap_or(&up);
        match up {
            "AES_KEY_WRAP_PAD" => Ok(WrapMechanism::AesKeyWrapPad),
            "AES_KEY_WRAP" => Ok(WrapMechanism::AesKeyWrap),
            _ => Err(RecordError::UnknownWrapMechanism {
                name: s.to_string(),
            }
            .into()),
        }
    }

    /// Returns how many bytes the object wrapped for a credential of `length` bytes
    /// holds: the length itself with the padding mechanism, else the next multiple of 8,
    /// at least 16.
    pub fn object_len(self, length: usize) -> usize {
        match self {
            WrapMechanism::AesKeyWrapPad => length,
            WrapMechanism::AesKeyWrap => length.div_ceil(8).max(2) * 8,
        }
    }
}

impl fmt::Display for WrapMechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
