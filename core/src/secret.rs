//! Newtypes for the secrets zeroth handles. None implements `Display`; each `Debug`
//! prints only a redaction marker; each zeroizes its memory on drop; the bytes are read
//! only through `expose`, so every place that touches a secret is easy to find.

use std::fmt;

use secrecy::{ExposeSecret, SecretBox, SecretSlice, SecretString};
use zeroize::Zeroizing;

/// The bootstrap credential itself (secret zero), in plaintext.
pub struct Credential(SecretSlice<u8>);

impl Credential {
    /// Takes ownership of `bytes`; the caller's buffer is moved, not copied.
    pub fn new(bytes: Vec<u8>) -> Credential {
        Credential(SecretSlice::from(bytes))
    }

    /// Returns the credential's bytes.
    pub fn expose(&self) -> &[u8] {
        self.0.expose_secret()
    }

    /// Returns the credential encoded for delivery.
    pub fn encode(&self, encoding: Encoding) -> Zeroizing<Vec<u8>> {
        use base64::Engine;
        let bytes = self.expose();
        Zeroizing::new(match encoding {
            Encoding::Raw => bytes.to_vec(),
            Encoding::Hex => hex::encode(bytes).into_bytes(),
            Encoding::Base64 => base64::engine::general_purpose::STANDARD
                .encode(bytes)
                .into_bytes(),
        })
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Credential([redacted, {} bytes])", self.expose().len())
    }
}

/// How a delivered credential is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// The bytes as they are (default for imported credentials).
    Raw,
    /// Lower-case hexadecimal (default for generated credentials).
    Hex,
    /// Standard base64 with padding.
    Base64,
}

impl Encoding {
    /// The name used on the command line and in records.
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Raw => "raw",
            Encoding::Hex => "hex",
            Encoding::Base64 => "base64",
        }
    }
}

/// The 32-byte unseal key U: the AES-256-GCM key of the sealed blob and the secret
/// that Shamir splits among the custodians. It exists only in memory.
pub struct UnsealKey(SecretBox<[u8; 32]>);

impl UnsealKey {
    /// Wraps 32 bytes; the array is zeroized by its new owner.
    pub fn new(bytes: Box<[u8; 32]>) -> UnsealKey {
        UnsealKey(SecretBox::new(bytes))
    }

    /// Returns the key bytes.
    pub fn expose(&self) -> &[u8; 32] {
        self.0.expose_secret()
    }
}

impl fmt::Debug for UnsealKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("UnsealKey([redacted])")
    }
}

/// A token user PIN.
pub struct Pin(SecretString);

impl Pin {
    /// Wraps a PIN read from a file, the environment or the terminal.
    pub fn new(pin: String) -> Pin {
        Pin(SecretString::from(pin))
    }

    /// Returns the PIN, for the one call that logs in with it.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pin([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_secret() {
        let c = Credential::new(b"hunter2-hunter2".to_vec());
        let u = UnsealKey::new(Box::new([0x41; 32]));
        let p = Pin::new("123456".into());
        let all = format!("{c:?} {u:?} {p:?}");
        assert!(!all.contains("hunter2"));
        assert!(!all.contains("AAAA") && !all.contains("65, 65"));
        assert!(!all.contains("123456"));
    }

    #[test]
    fn encodings() {
        let c = Credential::new(vec![0xde, 0xad, 0xbe, 0xef]);
        assert_eq!(&*c.encode(Encoding::Hex), b"deadbeef");
        assert_eq!(&*c.encode(Encoding::Base64), b"3q2+7w==");
        assert_eq!(&*c.encode(Encoding::Raw), &[0xde, 0xad, 0xbe, 0xef]);
    }
}
