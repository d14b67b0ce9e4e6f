//! The HSM seam: everything a ceremony asks of the token that holds an environment's
//! keys, in the ceremony's terms — make and find a seal's key (K_seal), make or import
//! a credential inside the token, seal it (wrap under K_seal), open it (unwrap and read
//! back), unwrap it to seal it anew, sign, find the environment's signing key, keep the
//! log's anchor and the environment's marker, destroy what is no longer needed.
//!
//! Ceremonies hold a `&dyn KeyStore` and nothing else of the HSM; the one
//! implementation zeroth ships is PKCS#11 through cryptoki ([`crate::hsm::HsmSession`]).
//! Two places open a token: `ceremony::with_env_session`, for every ceremony of an
//! environment, and `env init`/`env pin`, which enrol one (choose the module, negotiate
//! its wrap mechanism, pin it). A second backend (a cloud KMS, YubiHSM's native API) is
//! a type that implements this trait and an opener at each of those two: no other
//! ceremony changes. What each method must guarantee is written on it; the PKCS#11
//! templates that give those guarantees are in `docs/DESIGN.md` ("Key hierarchy").
//!
//! [`Key`] is a handle that means something only to the session that gave it. The
//! environment's signing key is a [`signature::Signer`] ([`SigningKey`]), so code that
//! signs needs only that trait.

use std::cell::RefCell;

use p256::ecdsa::DerSignature;
use p256::ecdsa::signature;

use crate::audit::LogSigner;
use crate::error::{HsmError, Result};
use crate::key::PublicKey;
use crate::mechanism::WrapMechanism;
use crate::secret::Credential;

/// A key or object on the token, as the session that found or made it names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Key(pub u32);

/// A log anchor: the sequence number and line hash (hex) of a log entry.
pub type LogAnchor = (u64, String);

/// What a ceremony asks of a token (see the module's documentation).
pub trait KeyStore {
    /// The token's label, for messages.
    fn token_label(&self) -> &str;
    /// The token's serial number, for messages and records.
    fn token_serial(&self) -> &str;

    /// The environments the token's marker names (zeroth writes one per environment
    /// initialized on the token); `None` if it has none.
    fn marker(&self) -> Result<Option<String>>;
    /// Writes the marker of `env` on the token.
    fn write_marker(&self, env: &str) -> Result<Key>;

    /// Generates the signing key pair of `env` (P-256; the private half never leaves
    /// the token) with `id`; returns the private and public halves and the public key.
    fn generate_signing_key(&self, env: &str, id: &[u8]) -> Result<(Key, Key, PublicKey)>;
    /// The signing key of `env` with `id`, and its public key.
    fn signing_key(&self, env: &str, id: &[u8]) -> Result<(Key, PublicKey)>;
    /// Every signing key labelled for `env`: id, private half, public key.
    fn signing_keys_by_label(&self, env: &str) -> Result<Vec<(Vec<u8>, Key, PublicKey)>>;
    /// The DER ECDSA-P256-SHA256 signature of `message` by `key`.
    fn sign(&self, key: Key, message: &[u8]) -> Result<Vec<u8>>;
    /// Fills `buf` from the token's random generator.
    fn random(&self, buf: &mut [u8]) -> Result<()>;

    /// Generates a seal's K_seal (AES-256, wraps and unwraps only, never extractable).
    fn generate_seal_key(&self, label: &str, id: &[u8]) -> Result<Key>;
    /// The K_seal labelled `label` with `id`, if the token holds it.
    fn find_seal_key(&self, label: &str, id: &[u8]) -> Result<Option<Key>>;
    /// Every secret key labelled `label`.
    fn secret_keys_labelled(&self, label: &str) -> Result<Vec<Key>>;
    /// The label and id of every seal key whose label starts with `prefix`.
    fn seal_keys_with_prefix(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>>;
    /// [`KeyStore::seal_keys_with_prefix`] with each key's handle.
    fn seal_key_objects(&self, prefix: &str) -> Result<Vec<(Key, String, Vec<u8>)>>;

    /// The log anchor of `env` the token holds, if any.
    fn log_anchor(&self, env: &str) -> Result<Option<LogAnchor>>;
    /// Moves the log anchor of `env` to (`seq`, `hash`).
    fn set_log_anchor(&self, env: &str, seq: u64, hash: &str) -> Result<()>;

    /// Generates a credential of `length` bytes inside the token (a session object,
    /// extractable only wrapped).
    fn generate_credential(&self, length: usize) -> Result<Key>;
    /// Imports `value` as a credential (a session object).
    fn import_credential(&self, value: &[u8]) -> Result<Key>;
    /// Seals: the credential `key` wrapped under `kseal` with `mech`.
    fn wrap(&self, mech: WrapMechanism, kseal: Key, key: Key) -> Result<Vec<u8>>;
    /// Opens: `wrapped` unwrapped under `kseal` and read back; the object made on the
    /// token for it is destroyed before this returns.
    fn unwrap_credential(
        &self,
        mech: WrapMechanism,
        kseal: Key,
        wrapped: &[u8],
    ) -> Result<Credential>;
    /// `wrapped` unwrapped under `kseal` into a session object that may be wrapped
    /// again (rotation, a new K_seal), never read back.
    fn unwrap_for_rewrap(&self, mech: WrapMechanism, kseal: Key, wrapped: &[u8]) -> Result<Key>;

    /// Destroys `key`.
    fn destroy(&self, key: Key) -> Result<()>;
    /// Whether the token lets `key` be destroyed.
    fn destroyable(&self, key: Key) -> Result<bool>;
}

/// The environment's signing key on its token, as a [`signature::Signer`]: signs with
/// the token and hands back a DER signature, checked with the public key before it is
/// returned (a token that signs wrongly is caught before anything is written).
pub struct SigningKey<'a> {
    /// The session on the environment's token.
    pub store: &'a dyn KeyStore,
    /// The private half.
    pub key: Key,
    /// The public half.
    pub public: &'a PublicKey,
}

impl SigningKey<'_> {
    /// Signs `message`; an error names the token and says what failed.
    pub fn sign_checked(&self, message: &[u8], what: &str) -> Result<Vec<u8>> {
        let der = self.store.sign(self.key, message)?;
        if !self.public.verify(message, &der) {
            return Err(HsmError::SignatureDoesNotVerify {
                token: self.store.token_label().to_string(),
                what: what.to_string(),
            }
            .into());
        }
        Ok(der)
    }
}

impl signature::Signer<DerSignature> for SigningKey<'_> {
    fn try_sign(&self, message: &[u8]) -> std::result::Result<DerSignature, signature::Error> {
        let der = self
            .sign_checked(message, "message")
            .map_err(signature::Error::from_source)?;
        DerSignature::from_bytes(&der).map_err(|_| signature::Error::new())
    }
}

/// The log's signer: the environment's key on the token, and the token's log anchor.
pub struct Signing<'a> {
    /// The signing key.
    pub key: SigningKey<'a>,
    /// The token's log anchor as this ceremony last read or wrote it (`None`: not read
    /// yet): the ceremony holds the store and log locks, so nothing else moves it.
    pub anchor: &'a RefCell<Option<Option<LogAnchor>>>,
}

impl LogSigner for Signing<'_> {
    fn fingerprint(&self) -> String {
        self.key.public.fingerprint()
    }

    fn public_key(&self) -> &PublicKey {
        self.key.public
    }

    fn anchored(&self, env: &str) -> Result<Option<(u64, String)>> {
        if let Some(known) = self.anchor.borrow().clone() {
            return Ok(known);
        }
        let read = self.key.store.log_anchor(env)?;
        *self.anchor.borrow_mut() = Some(read.clone());
        Ok(read)
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>> {
        self.key.store.sign(self.key.key, message)
    }

    fn anchor(&self, env: &str, seq: u64, hash: &str) -> Result<()> {
        // Whatever happens, read it afresh next time unless it is known to be moved.
        *self.anchor.borrow_mut() = None;
        self.key.store.set_log_anchor(env, seq, hash)?;
        *self.anchor.borrow_mut() = Some(Some((seq, hash.to_string())));
        Ok(())
    }
}

/// A [`KeyStore`] in memory, for unit tests of ceremony logic only: keys are software
/// keys (AES-256-GCM stands in for the token's key wrap, `p256` for its ECDSA), so a
/// test sees what a ceremony asked of the token and what it left there. Integration
/// tests run on real modules (SoftHSM2, Kryoptic), never on this.
#[cfg(test)]
pub(crate) mod double {
    use std::cell::{Cell, RefCell};

    use aes_gcm::aead::{Aead, KeyInit};
    use aes_gcm::{Aes256Gcm, Nonce};
    use p256::ecdsa::SigningKey as EcKey;
    use p256::ecdsa::signature::Signer as _;
    use zeroize::Zeroizing;

    use super::{Key, KeyStore, LogAnchor};
    use crate::error::{Error, HsmError, Pkcs11Failure, Result};
    use crate::key::PublicKey;
    use crate::mechanism::WrapMechanism;
    use crate::secret::Credential;

    /// What one object on the double's token is.
    pub(crate) enum Object {
        /// A K_seal, with its label and id.
        SealKey(String, Vec<u8>, [u8; 32]),
        /// A credential (a session object).
        Secret(Zeroizing<Vec<u8>>),
        /// The private half of a signing key, with its environment and id.
        Signing(String, Vec<u8>, EcKey),
        /// The public half.
        Public,
        /// The environment's marker.
        Marker(String),
    }

    /// The token: its objects (a destroyed one is `None`), the log anchors, and
    /// faults to inject.
    #[derive(Default)]
    pub(crate) struct SoftToken {
        pub objects: RefCell<Vec<Option<Object>>>,
        pub anchors: RefCell<Vec<(String, LogAnchor)>>,
        /// Signs with another key than the one it names (a token that signs wrongly).
        pub sign_with_another_key: Cell<bool>,
        /// `wrap` fails.
        pub fail_wrap: Cell<bool>,
    }

    /// A call the double's token fails, as a token would: the PKCS#11 function and
    /// return value, with `message`.
    fn failed(function: &str, rv: u64, message: impl Into<String>) -> Error {
        Pkcs11Failure {
            message: message.into(),
            function: function.to_string(),
            rv,
        }
        .into()
    }

    /// `CKR_FUNCTION_FAILED`.
    const FUNCTION_FAILED: u64 = 0x06;
    /// `CKR_OBJECT_HANDLE_INVALID`.
    const OBJECT_HANDLE_INVALID: u64 = 0x82;
    /// `CKR_KEY_TYPE_INCONSISTENT`.
    const KEY_TYPE_INCONSISTENT: u64 = 0x63;
    /// `CKR_WRAPPED_KEY_INVALID`.
    const WRAPPED_KEY_INVALID: u64 = 0x110;

    impl SoftToken {
        fn add(&self, object: Object) -> Key {
            let mut objects = self.objects.borrow_mut();
            objects.push(Some(object));
            Key((objects.len() - 1) as u32)
        }

        /// Runs `f` on the object `key`, or fails as `function` does on a real token
        /// given a handle it does not know.
        fn with<T>(
            &self,
            function: &str,
            key: Key,
            f: impl FnOnce(&Object) -> Result<T>,
        ) -> Result<T> {
            match self.objects.borrow().get(key.0 as usize) {
                Some(Some(o)) => f(o),
                _ => Err(failed(
                    function,
                    OBJECT_HANDLE_INVALID,
                    format!("no object {}", key.0),
                )),
            }
        }

        fn aes(key: &[u8; 32]) -> Aes256Gcm {
            Aes256Gcm::new_from_slice(key).expect("32 bytes")
        }
    }

    impl KeyStore for SoftToken {
        fn token_label(&self) -> &str {
            "soft"
        }

        fn token_serial(&self) -> &str {
            "0"
        }

        fn marker(&self) -> Result<Option<String>> {
            Ok(self.objects.borrow().iter().find_map(|o| match o {
                Some(Object::Marker(env)) => Some(env.clone()),
                _ => None,
            }))
        }

        fn write_marker(&self, env: &str) -> Result<Key> {
            Ok(self.add(Object::Marker(env.to_string())))
        }

        fn generate_signing_key(&self, env: &str, id: &[u8]) -> Result<(Key, Key, PublicKey)> {
            let private = new_key()?;
            let public = PublicKey {
                key: private.verifying_key().into(),
            };
            let p = self.add(Object::Signing(env.into(), id.to_vec(), private));
            let q = self.add(Object::Public);
            Ok((p, q, public))
        }

        fn signing_key(&self, env: &str, id: &[u8]) -> Result<(Key, PublicKey)> {
            self.signing_keys_by_label(env)?
                .into_iter()
                .find(|(i, _, _)| i == id)
                .map(|(_, k, p)| (k, p))
                .ok_or_else(|| {
                    HsmError::SigningKeyMissing {
                        label: format!("zeroth:{env}:sign"),
                        token: self.token_label().to_string(),
                        serial: self.token_serial().to_string(),
                    }
                    .into()
                })
        }

        fn signing_keys_by_label(&self, env: &str) -> Result<Vec<(Vec<u8>, Key, PublicKey)>> {
            Ok(self
                .objects
                .borrow()
                .iter()
                .enumerate()
                .filter_map(|(i, o)| match o {
                    Some(Object::Signing(e, id, k)) if e == env => Some((
                        id.clone(),
                        Key(i as u32),
                        PublicKey {
                            key: k.verifying_key().into(),
                        },
                    )),
                    _ => None,
                })
                .collect())
        }

        fn sign(&self, key: Key, message: &[u8]) -> Result<Vec<u8>> {
            let other = new_key()?;
            self.with("C_SignInit", key, |o| match o {
                Object::Signing(_, _, k) => {
                    let k = if self.sign_with_another_key.get() {
                        &other
                    } else {
                        k
                    };
                    let sig: p256::ecdsa::Signature = k.sign(message);
                    Ok(sig.to_der().as_bytes().to_vec())
                }
                _ => Err(failed("C_Sign", KEY_TYPE_INCONSISTENT, "not a signing key")),
            })
        }

        fn random(&self, buf: &mut [u8]) -> Result<()> {
            getrandom::fill(buf)
                .map_err(|e| failed("C_GenerateRandom", FUNCTION_FAILED, e.to_string()))
        }

        fn generate_seal_key(&self, label: &str, id: &[u8]) -> Result<Key> {
            Ok(self.add(Object::SealKey(label.into(), id.to_vec(), random32())))
        }

        fn find_seal_key(&self, label: &str, id: &[u8]) -> Result<Option<Key>> {
            Ok(self
                .seal_key_objects(label)?
                .into_iter()
                .find(|(_, l, i)| l == label && i == id)
                .map(|(k, _, _)| k))
        }

        fn secret_keys_labelled(&self, label: &str) -> Result<Vec<Key>> {
            Ok(self
                .seal_key_objects(label)?
                .into_iter()
                .filter(|(_, l, _)| l == label)
                .map(|(k, _, _)| k)
                .collect())
        }

        fn seal_keys_with_prefix(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>> {
            Ok(self
                .seal_key_objects(prefix)?
                .into_iter()
                .map(|(_, l, i)| (l, i))
                .collect())
        }

        fn seal_key_objects(&self, prefix: &str) -> Result<Vec<(Key, String, Vec<u8>)>> {
            Ok(self
                .objects
                .borrow()
                .iter()
                .enumerate()
                .filter_map(|(i, o)| match o {
                    Some(Object::SealKey(l, id, _)) if l.starts_with(prefix) => {
                        Some((Key(i as u32), l.clone(), id.clone()))
                    }
                    _ => None,
                })
                .collect())
        }

        fn log_anchor(&self, env: &str) -> Result<Option<LogAnchor>> {
            Ok(self
                .anchors
                .borrow()
                .iter()
                .find(|(e, _)| e == env)
                .map(|(_, a)| a.clone()))
        }

        fn set_log_anchor(&self, env: &str, seq: u64, hash: &str) -> Result<()> {
            let mut anchors = self.anchors.borrow_mut();
            anchors.retain(|(e, _)| e != env);
            anchors.push((env.to_string(), (seq, hash.to_string())));
            Ok(())
        }

        fn generate_credential(&self, length: usize) -> Result<Key> {
            let mut value = Zeroizing::new(vec![0u8; length]);
            self.random(&mut value)?;
            Ok(self.add(Object::Secret(value)))
        }

        fn import_credential(&self, value: &[u8]) -> Result<Key> {
            Ok(self.add(Object::Secret(Zeroizing::new(value.to_vec()))))
        }

        fn wrap(&self, _mech: WrapMechanism, kseal: Key, key: Key) -> Result<Vec<u8>> {
            if self.fail_wrap.get() {
                return Err(failed(
                    "C_WrapKey",
                    FUNCTION_FAILED,
                    "wrap failed (injected)",
                ));
            }
            let secret = self.with("C_WrapKey", key, |o| match o {
                Object::Secret(v) => Ok(v.clone()),
                _ => Err(failed(
                    "C_WrapKey",
                    KEY_TYPE_INCONSISTENT,
                    "not a credential",
                )),
            })?;
            self.with("C_WrapKey", kseal, |o| match o {
                Object::SealKey(_, _, k) => {
                    // A fresh nonce per wrap, as AES-GCM needs under one key.
                    let mut nonce = [0u8; 12];
                    getrandom::fill(&mut nonce)
                        .map_err(|e| failed("C_WrapKey", FUNCTION_FAILED, e.to_string()))?;
                    let mut out = nonce.to_vec();
                    out.extend(
                        Self::aes(k)
                            .encrypt(&Nonce::from(nonce), secret.as_slice())
                            .map_err(|_| failed("C_WrapKey", FUNCTION_FAILED, "encrypt"))?,
                    );
                    Ok(out)
                }
                _ => Err(failed("C_WrapKey", KEY_TYPE_INCONSISTENT, "not a seal key")),
            })
        }

        fn unwrap_credential(
            &self,
            _mech: WrapMechanism,
            kseal: Key,
            wrapped: &[u8],
        ) -> Result<Credential> {
            self.with("C_UnwrapKey", kseal, |o| match o {
                Object::SealKey(_, _, k) if wrapped.len() > 12 => {
                    let nonce: [u8; 12] = wrapped[..12].try_into().expect("12 bytes");
                    Self::aes(k)
                        .decrypt(&Nonce::from(nonce), &wrapped[12..])
                        .map(Credential::new)
                        .map_err(|_| failed("C_UnwrapKey", WRAPPED_KEY_INVALID, "cannot unwrap"))
                }
                _ => Err(failed("C_UnwrapKey", WRAPPED_KEY_INVALID, "cannot unwrap")),
            })
        }

        fn unwrap_for_rewrap(
            &self,
            mech: WrapMechanism,
            kseal: Key,
            wrapped: &[u8],
        ) -> Result<Key> {
            let value = self.unwrap_credential(mech, kseal, wrapped)?;
            self.import_credential(value.expose())
        }

        fn destroy(&self, key: Key) -> Result<()> {
            match self.objects.borrow_mut().get_mut(key.0 as usize) {
                Some(o @ Some(_)) => {
                    *o = None;
                    Ok(())
                }
                _ => Err(failed(
                    "C_DestroyObject",
                    OBJECT_HANDLE_INVALID,
                    format!("no object {}", key.0),
                )),
            }
        }

        fn destroyable(&self, key: Key) -> Result<bool> {
            self.with("C_GetAttributeValue", key, |_| Ok(true))
        }
    }

    fn new_key() -> Result<EcKey> {
        EcKey::from_bytes(&p256::FieldBytes::from(random32()))
            .map_err(|_| failed("C_GenerateKeyPair", FUNCTION_FAILED, "bad scalar"))
    }

    fn random32() -> [u8; 32] {
        let mut b = [0u8; 32];
        getrandom::fill(&mut b).expect("OS random");
        b
    }
}
