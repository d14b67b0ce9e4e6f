//! The HSM, through PKCS#11 (`cryptoki`). Every PKCS#11 call zeroth makes is a method
//! here; ceremonies never call `cryptoki` themselves.
//!
//! Objects zeroth keeps on a token:
//!
//! | object | class | label | attributes |
//! | --- | --- | --- | --- |
//! | environment marker | `CKO_DATA` | `zeroth:environment` | public, not modifiable, value = env name |
//! | signing key pair | EC P-256 | `zeroth:<env>:sign` | private key sensitive, never extractable |
//! | K_seal | AES-256 | `zeroth:<env>:<seal>:v<version>:s<set>` | sensitive, never extractable, wrap/unwrap only |
//!
//! The credential itself is only ever a session object, destroyed after use.
//!
//! Where PKCS#11 implementations differ (SoftHSM 2.6 and Kryoptic are both in the test
//! matrix; docs/DESIGN.md lists what was met), the difference is handled here, so the
//! ceremonies see one behaviour:
//!
//! - wrap mechanisms: negotiated at `env init` and recorded; every ceremony checks the
//!   token still offers what it needs before the PIN is asked ([`Hsm::require`]);
//! - unwrapped padding: SoftHSM leaves RFC 5649 padding on after
//!   `CKM_AES_KEY_WRAP_PAD` (trimmed by the unseal ceremony against the signed length);
//! - `CKA_EC_POINT`: DER OCTET STRING or the bare point, told apart by length;
//! - labels and serial numbers: blank-padded fixed fields, trimmed;
//! - object searches: Kryoptic also lists `CKO_MECHANISM` objects, so every search
//!   zeroth makes names a class;
//! - PIN counters: SoftHSM raises `CKF_USER_PIN_COUNT_LOW` and never locks, Kryoptic
//!   locks after 10 wrong PINs; both are reported in words;
//! - a module that fails `C_Initialize` or a token that is gone
//!   (`CKR_TOKEN_NOT_PRESENT`, which Kryoptic returns when it finds no configuration)
//!   is reported with the module's path.

mod mechanism;
mod seam;

use std::path::{Path, PathBuf};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::RvError;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, Zeroizing};

use crate::keystore::LogAnchor;
use mechanism::Cryptoki;
pub use mechanism::{Need, WRAP_PREFERENCE, WrapMechanism};

use crate::error::{Error, HsmError, Kind, Result, rv_name};
use crate::key::PublicKey;
use crate::secret::{Credential, Pin};

/// `CKA_LABEL` of the environment marker.
pub const MARKER_LABEL: &str = "zeroth:environment";
const APPLICATION: &[u8] = b"zeroth";
/// DER of the P-256 curve OID (1.2.840.10045.3.1.7), the `CKA_EC_PARAMS` of the key.
const P256_PARAMS: [u8; 10] = [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];

/// Returns the label of the signing key pair of `env`.
pub fn signing_label(env: &str) -> String {
    format!("zeroth:{env}:sign")
}

/// Returns the label of the data object anchoring `env`'s log head on its token.
pub fn anchor_label(env: &str) -> String {
    format!("zeroth:{env}:log-head")
}

const ANCHOR_DOMAIN: &str = "zeroth-log-head-v1\n";

fn parse_anchor(value: &[u8]) -> Option<LogAnchor> {
    let text = std::str::from_utf8(value).ok()?;
    let rest = text.strip_prefix(ANCHOR_DOMAIN)?;
    let mut lines = rest.lines();
    let seq = lines.next()?.parse().ok()?;
    let hash = lines.next()?;
    (hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| (seq, hash.to_string()))
}

/// Returns the label of K_seal for one seal version and share set.
pub fn seal_key_label(env: &str, seal: &str, version: u32, set: u32) -> String {
    format!("zeroth:{env}:{seal}:v{version}:s{set}")
}

/// A loaded PKCS#11 module.
pub struct Hsm {
    ctx: Pkcs11,
    path: PathBuf,
}

/// A token found in a slot of the module.
#[derive(Debug, Clone)]
pub struct Token {
    /// The slot holding it.
    pub slot: Slot,
    /// `CKA_LABEL` of the token (its label in `C_GetTokenInfo`).
    pub label: String,
    /// Its serial number.
    pub serial: String,
}

/// A logged-in read-write session on a token.
pub struct HsmSession<'h> {
    hsm: &'h Hsm,
    session: Session,
    token: Token,
    /// zeroth's data objects on the token ([`HsmSession::data_objects`]), once read.
    data: std::cell::RefCell<Option<Vec<DataObject>>>,
    /// The objects this session named by a [`crate::keystore::Key`] (its index here).
    handles: std::cell::RefCell<Vec<ObjectHandle>>,
}

/// A data object zeroth wrote (the environment marker, a log anchor): its handle,
/// label and value.
#[derive(Clone)]
struct DataObject {
    handle: ObjectHandle,
    label: Vec<u8>,
    value: Vec<u8>,
}

impl Hsm {
    /// Loads and initializes a PKCS#11 module that was checked and hashed
    /// ([`crate::trust::check_module`]): the file loaded is the file that was hashed.
    pub fn load(module: &crate::trust::ModuleFile) -> Result<Hsm> {
        let path = module.path.as_path();
        let ctx = Pkcs11::new(module.load_path()?).map_err(|e| {
            crate::error::hsm_with(
                format!(
                    "cannot load PKCS#11 module {}: {}",
                    path.display(),
                    crate::error::describe_pkcs11(&e)
                ),
                &e,
            )
        })?;
        initialize(&ctx).map_err(|e| {
            crate::error::hsm_with(
                format!(
                    "PKCS#11 module {} failed to initialize: {}{}{}",
                    path.display(),
                    crate::error::describe_pkcs11(&e),
                    device_reason(&e)
                        .map(|what| format!("; {what}"))
                        .unwrap_or_default(),
                    HsmError::config_hint(path)
                ),
                &e,
            )
        })?;
        Ok(Hsm {
            ctx,
            path: path.to_path_buf(),
        })
    }

    /// Returns the module's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Wraps a PKCS#11 failure of this module: which function failed, its return value,
    /// and, when the token or device is gone, the module's path.
    fn fail(&self, context: &str, e: cryptoki::error::Error) -> Error {
        crate::error::hsm_with(
            format!(
                "{context}: {}{}",
                crate::error::describe_pkcs11(&e),
                device_words(&self.path, &e)
            ),
            &e,
        )
    }

    /// Finds the one token labelled `label`. A token that is momentarily not found
    /// (a soft token whose files another process is rewriting; a device that is slow
    /// to answer) is looked for again, with the module initialized anew, for about a
    /// second before it is reported missing.
    pub fn find_token(&self, label: &str) -> Result<Token> {
        let mut delay = std::time::Duration::from_millis(25);
        let mut waited = std::time::Duration::ZERO;
        loop {
            match self.find_token_once(label) {
                // A failure (no token, a failed call) is looked at again; a refusal
                // (several tokens with that label) is final.
                Err(Error::Hsm(ref e))
                    if e.kind() == Kind::Failed
                        && waited < std::time::Duration::from_millis(1200) =>
                {
                    std::thread::sleep(delay);
                    waited += delay;
                    delay = (delay * 2).min(std::time::Duration::from_millis(400));
                    // The slot list is read at C_Initialize: start the module afresh.
                    let _ = self.ctx.clone().finalize();
                    let _ = initialize(&self.ctx);
                }
                other => return other,
            }
        }
    }

    fn find_token_once(&self, label: &str) -> Result<Token> {
        let slots = self.ctx.get_slots_with_token().map_err(|e| {
            self.fail(
                &format!("cannot list the slots of {}", self.path.display()),
                e,
            )
        })?;
        let mut found = Vec::new();
        let mut others = Vec::new();
        let mut unreadable = Vec::new();
        for slot in slots {
            let info = match self.ctx.get_token_info(slot) {
                Ok(info) => info,
                Err(e) => {
                    // A slot whose token went away between the two calls, or that the
                    // module cannot read: said, not skipped in silence.
                    unreadable.push(format!(
                        "slot {}: {}",
                        slot.id(),
                        crate::error::describe_pkcs11(&e)
                    ));
                    continue;
                }
            };
            if !info.token_initialized() {
                continue;
            }
            let token = Token {
                slot,
                label: info.label().trim_end().to_string(),
                serial: info.serial_number().trim_end().to_string(),
            };
            if token.label == label {
                found.push(token);
            } else {
                others.push((token.label, token.serial));
            }
        }
        match found.len() {
            1 => Ok(found.remove(0)),
            0 => Err(HsmError::TokenNotFound {
                label: label.to_string(),
                module: self.path.clone(),
                present: others,
                unreadable,
            }
            .into()),
            _ => Err(HsmError::TokenLabelAmbiguous {
                label: label.to_string(),
                module: self.path.clone(),
                serials: found.into_iter().map(|t| t.serial).collect(),
            }
            .into()),
        }
    }

    /// Lists what `token` offers and picks a wrap mechanism.
    pub fn negotiate(&self, token: &Token, forced: Option<WrapMechanism>) -> Result<WrapMechanism> {
        mechanism::negotiate(&self.ctx, token, &self.path, forced)
    }

    /// Refuses, naming the mechanism, the token and the module, unless `token` offers
    /// every mechanism in `needs` for what it is needed for. Needs no login: ceremonies
    /// call it before the PIN is asked.
    pub fn require(&self, token: &Token, needs: &[Need]) -> Result<()> {
        mechanism::require(
            &self.ctx,
            token.slot,
            &token.label,
            &token.serial,
            &self.path,
            needs,
        )
    }

    /// Opens a read-write session on `token` and logs the user in with `pin`. A wrong
    /// PIN is refused with the token's PIN-count flags in words.
    pub fn login(&self, token: &Token, pin: &Pin) -> Result<HsmSession<'_>> {
        let session = self.ctx.open_rw_session(token.slot).map_err(|e| {
            self.fail(
                &format!("cannot open a session on token '{}'", token.label),
                e,
            )
        })?;
        match session.login(
            UserType::User,
            Some(&cryptoki::types::AuthPin::from(pin.expose())),
        ) {
            Ok(()) => {}
            Err(cryptoki::error::Error::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
            Err(e) => return Err(self.login_error(token, e)),
        }
        Ok(HsmSession {
            hsm: self,
            session,
            token: token.clone(),
            data: std::cell::RefCell::new(None),
            handles: std::cell::RefCell::new(Vec::new()),
        })
    }

    fn login_error(&self, token: &Token, e: cryptoki::error::Error) -> Error {
        let (locked, final_try, count_low) = self
            .ctx
            .get_token_info(token.slot)
            .map(|i| {
                (
                    i.user_pin_locked(),
                    i.user_pin_final_try(),
                    i.user_pin_count_low(),
                )
            })
            .unwrap_or_default();
        if let Some((function, rv)) = crate::error::call(&e)
            && matches!(
                rv_name(&e).as_deref(),
                Some(
                    "CKR_PIN_INCORRECT"
                        | "CKR_PIN_LOCKED"
                        | "CKR_PIN_EXPIRED"
                        | "CKR_PIN_LEN_RANGE"
                        | "CKR_PIN_INVALID"
                )
            )
        {
            return HsmError::PinRefused {
                token: token.label.clone(),
                serial: token.serial.clone(),
                function,
                rv,
                pin_locked: locked,
                pin_final_try: final_try,
                pin_count_low: count_low,
            }
            .into();
        }
        let flags = HsmError::pin_flags_in_words(locked, final_try, count_low);
        let msg = format!(
            "login failed for token '{}' (serial {}) ({}{}){}",
            token.label,
            token.serial,
            crate::error::describe_pkcs11(&e),
            device_words(&self.path, &e),
            if flags.is_empty() {
                String::new()
            } else {
                format!(": {flags}")
            }
        );
        crate::error::hsm_with(msg, &e)
    }

    /// Finalizes the module. cryptoki no longer does this on drop.
    pub fn close(self) {
        let _ = self.ctx.finalize();
    }
}

impl HsmSession<'_> {
    /// Returns the token this session is on.
    pub fn token(&self) -> &Token {
        &self.token
    }

    fn err(&self, what: &str) -> impl FnOnce(cryptoki::error::Error) -> Error + '_ {
        let what = what.to_string();
        move |e| {
            self.hsm
                .fail(&format!("{what} on token '{}'", self.token.label), e)
        }
    }

    /// zeroth's data objects on the token (each carries `CKA_APPLICATION` "zeroth":
    /// the environment marker and the log anchors), found by one search and kept for
    /// the session. A ceremony reads the marker and the anchor as it starts, and a
    /// search costs some modules a read of every object on the token (SoftHSM2 opens
    /// each object's file twice per search). Forgotten when zeroth writes one
    /// ([`HsmSession::write_marker`], [`HsmSession::set_log_anchor`]).
    fn data_objects(&self) -> Result<Vec<DataObject>> {
        if let Some(known) = self.data.borrow().as_ref() {
            return Ok(known.clone());
        }
        let found = self
            .session
            .find_objects(&[
                Attribute::Class(ObjectClass::DATA),
                Attribute::Application(APPLICATION.to_vec()),
            ])
            .map_err(self.err("cannot search for zeroth's data objects"))?;
        let mut out = Vec::with_capacity(found.len());
        for handle in found {
            let attrs = self
                .session
                .get_attributes(handle, &[AttributeType::Label, AttributeType::Value])
                .map_err(self.err("cannot read a zeroth data object"))?;
            let mut object = DataObject {
                handle,
                label: Vec::new(),
                value: Vec::new(),
            };
            for a in attrs {
                match a {
                    Attribute::Label(l) => object.label = l,
                    Attribute::Value(v) => object.value = v,
                    _ => {}
                }
            }
            out.push(object);
        }
        *self.data.borrow_mut() = Some(out.clone());
        Ok(out)
    }

    /// Returns the environment named by the token's marker, if it has one.
    pub fn marker(&self) -> Result<Option<String>> {
        let mut envs: Vec<String> = self
            .data_objects()?
            .into_iter()
            .filter(|o| o.label == MARKER_LABEL.as_bytes())
            .map(|o| String::from_utf8_lossy(&o.value).into_owned())
            .collect();
        envs.sort();
        envs.dedup();
        match envs.len() {
            0 => Ok(None),
            1 => Ok(envs.pop()),
            _ => Err(HsmError::SeveralMarkers {
                token: self.token.label.clone(),
                envs,
            }
            .into()),
        }
    }

    /// Writes the marker binding this token to `env`.
    pub fn write_marker(&self, env: &str) -> Result<ObjectHandle> {
        *self.data.borrow_mut() = None;
        self.session
            .create_object(&[
                Attribute::Class(ObjectClass::DATA),
                Attribute::Token(true),
                Attribute::Private(false),
                Attribute::Modifiable(false),
                Attribute::Label(MARKER_LABEL.as_bytes().to_vec()),
                Attribute::Application(APPLICATION.to_vec()),
                Attribute::Value(env.as_bytes().to_vec()),
            ])
            .map_err(self.err("cannot write the environment marker"))
    }

    /// Generates the environment's P-256 signing key pair: the private key token-resident,
    /// sensitive and never extractable. Returns the handles and the public key.
    pub fn generate_signing_key(
        &self,
        env: &str,
        id: &[u8],
    ) -> Result<(ObjectHandle, ObjectHandle, PublicKey)> {
        let label = signing_label(env).into_bytes();
        let public = [
            Attribute::Token(true),
            Attribute::Private(false),
            Attribute::Verify(true),
            Attribute::Encrypt(false),
            Attribute::Wrap(false),
            Attribute::Derive(false),
            Attribute::EcParams(P256_PARAMS.to_vec()),
            Attribute::Label(label.clone()),
            Attribute::Id(id.to_vec()),
        ];
        let private = [
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Sign(true),
            Attribute::Decrypt(false),
            Attribute::Unwrap(false),
            Attribute::Derive(false),
            Attribute::Label(label),
            Attribute::Id(id.to_vec()),
        ];
        let (pub_h, priv_h) = self
            .session
            .generate_key_pair(&Mechanism::EccKeyPairGen, &public, &private)
            .map_err(self.err("cannot generate the P-256 signing key pair"))?;
        let key = self.read_public_key(pub_h)?;
        Ok((pub_h, priv_h, key))
    }

    fn read_public_key(&self, handle: ObjectHandle) -> Result<PublicKey> {
        let attrs = self
            .session
            .get_attributes(handle, &[AttributeType::EcPoint])
            .map_err(self.err("cannot read the signing public key"))?;
        let point = attrs
            .into_iter()
            .find_map(|a| match a {
                Attribute::EcPoint(p) => Some(p),
                _ => None,
            })
            .ok_or_else(|| HsmError::NoEcPoint {
                token: self.token.label.clone(),
            })?;
        ec_point_to_key(&point)
            .map(|key| PublicKey { key })
            .ok_or_else(|| {
                HsmError::EcPointNotP256 {
                    token: self.token.label.clone(),
                }
                .into()
            })
    }

    fn find_one(&self, template: &[Attribute], what: &str) -> Result<Option<ObjectHandle>> {
        let mut found = self
            .session
            .find_objects(template)
            .map_err(self.err(&format!("cannot search for {what}")))?;
        match found.len() {
            0 => Ok(None),
            1 => Ok(found.pop()),
            n => Err(HsmError::DuplicateObjects {
                token: self.token.label.clone(),
                count: n,
                what: what.to_string(),
            }
            .into()),
        }
    }

    /// Finds the environment's signing key pair by label and id: (private, public).
    /// One search for the label and id finds both halves (and anything else bearing
    /// them, which is passed over); each half's class is read.
    pub fn signing_key(&self, env: &str, id: &[u8]) -> Result<(ObjectHandle, PublicKey)> {
        let label = signing_label(env).into_bytes();
        let what = format!("the signing key '{}'", signing_label(env));
        let found = self
            .session
            .find_objects(&[Attribute::Label(label), Attribute::Id(id.to_vec())])
            .map_err(self.err(&format!("cannot search for {what}")))?;
        // The class of each (one call: its size is fixed); the public key's point
        // read after. No request a half cannot answer: some HSMs log every error.
        let mut private = Vec::new();
        let mut public = Vec::new();
        for h in found {
            let class = self
                .session
                .get_attributes(h, &[AttributeType::Class])
                .map_err(self.err(&format!("cannot read {what}")))?
                .into_iter()
                .find_map(|a| match a {
                    Attribute::Class(c) => Some(c),
                    _ => None,
                });
            match class {
                Some(ObjectClass::PRIVATE_KEY) => private.push(h),
                Some(ObjectClass::PUBLIC_KEY) => public.push(h),
                _ => {}
            }
        }
        let one = |n: usize| -> Result<()> {
            if n > 1 {
                return Err(HsmError::DuplicateObjects {
                    token: self.token.label.clone(),
                    count: n,
                    what: what.clone(),
                }
                .into());
            }
            Ok(())
        };
        one(private.len())?;
        one(public.len())?;
        let private = private.pop().ok_or_else(|| self.missing(env))?;
        let public = public.pop().ok_or_else(|| self.missing(env))?;
        Ok((private, self.read_public_key(public)?))
    }

    /// Finds the signing key pairs labelled for `env`, whatever their id: (id, private,
    /// public key). Used to adopt a token whose marker already names the environment.
    pub fn signing_keys_by_label(
        &self,
        env: &str,
    ) -> Result<Vec<(Vec<u8>, ObjectHandle, PublicKey)>> {
        let label = signing_label(env).into_bytes();
        let privs = self
            .session
            .find_objects(&[
                Attribute::Class(ObjectClass::PRIVATE_KEY),
                Attribute::Label(label),
            ])
            .map_err(self.err("cannot search for signing keys"))?;
        let mut out = Vec::new();
        for h in privs {
            let id = self
                .session
                .get_attributes(h, &[AttributeType::Id])
                .map_err(self.err("cannot read a signing key id"))?
                .into_iter()
                .find_map(|a| match a {
                    Attribute::Id(v) => Some(v),
                    _ => None,
                })
                .unwrap_or_default();
            let (priv_h, public) = self.signing_key(env, &id)?;
            out.push((id, priv_h, public));
        }
        Ok(out)
    }

    /// The error for `env`'s signing key not found on the token.
    fn missing(&self, env: &str) -> Error {
        HsmError::SigningKeyMissing {
            label: signing_label(env),
            token: self.token.label.clone(),
            serial: self.token.serial.clone(),
        }
        .into()
    }

    /// Signs `message` with ECDSA P-256: SHA-256 on the host, `CKM_ECDSA` on the token
    /// (SoftHSM offers no `CKM_ECDSA_SHA256`). Returns the DER signature.
    pub fn sign(&self, key: ObjectHandle, message: &[u8]) -> Result<Vec<u8>> {
        let digest = Sha256::digest(message);
        let raw = self
            .session
            .sign(&Mechanism::Ecdsa, key, &digest)
            .map_err(self.err("cannot sign"))?;
        let sig =
            p256::ecdsa::Signature::from_slice(&raw).map_err(|_| HsmError::SignatureLength {
                token: self.token.label.clone(),
                len: raw.len(),
            })?;
        Ok(sig.to_der().as_bytes().to_vec())
    }

    /// Fills `buf` from the token's random generator.
    pub fn random(&self, buf: &mut [u8]) -> Result<()> {
        self.session
            .generate_random_slice(buf)
            .map_err(self.err("cannot draw random bytes"))
    }

    /// Generates K_seal: AES-256, token-resident, sensitive, never extractable, for wrap
    /// and unwrap only.
    pub fn generate_seal_key(&self, label: &str, id: &[u8]) -> Result<ObjectHandle> {
        self.session
            .generate_key(
                &Mechanism::AesKeyGen,
                &[
                    Attribute::Class(ObjectClass::SECRET_KEY),
                    Attribute::KeyType(KeyType::AES),
                    Attribute::ValueLen(32u64.into()),
                    Attribute::Token(true),
                    Attribute::Private(true),
                    Attribute::Sensitive(true),
                    Attribute::Extractable(false),
                    Attribute::Wrap(true),
                    Attribute::Unwrap(true),
                    Attribute::Encrypt(false),
                    Attribute::Decrypt(false),
                    Attribute::Sign(false),
                    Attribute::Verify(false),
                    Attribute::Derive(false),
                    Attribute::Label(label.as_bytes().to_vec()),
                    Attribute::Id(id.to_vec()),
                ],
            )
            .map_err(self.err(&format!("cannot generate K_seal '{label}'")))
    }

    /// Finds K_seal by label and id and checks it is still sensitive and unextractable.
    pub fn find_seal_key(&self, label: &str, id: &[u8]) -> Result<Option<ObjectHandle>> {
        let Some(h) = self.find_one(
            &[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::Label(label.as_bytes().to_vec()),
                Attribute::Id(id.to_vec()),
            ],
            &format!("K_seal '{label}'"),
        )?
        else {
            return Ok(None);
        };
        let attrs = self
            .session
            .get_attributes(h, &[AttributeType::Sensitive, AttributeType::Extractable])
            .map_err(self.err(&format!("cannot read the attributes of K_seal '{label}'")))?;
        let mut sensitive = false;
        let mut extractable = true;
        for a in attrs {
            match a {
                Attribute::Sensitive(v) => sensitive = v,
                Attribute::Extractable(v) => extractable = v,
                _ => {}
            }
        }
        if !sensitive || extractable {
            return Err(HsmError::SealKeyExposed {
                label: label.to_string(),
                token: self.token.label.clone(),
                extractable,
            }
            .into());
        }
        Ok(Some(h))
    }

    /// Finds the secret keys labelled exactly `label`, whatever their id. One search with
    /// the label in its template: what it costs does not grow with the other keys on the
    /// token, as listing them and reading each one's label does (two calls per key).
    pub fn secret_keys_labelled(&self, label: &str) -> Result<Vec<ObjectHandle>> {
        self.session
            .find_objects(&[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::Label(label.as_bytes().to_vec()),
            ])
            .map_err(self.err(&format!("cannot search for keys labelled '{label}'")))
    }

    /// Lists the labels and ids of every secret key on the token whose label starts
    /// with `prefix`. PKCS#11 matches whole attribute values only, so this reads every
    /// secret key's label: for an exact label, [`HsmSession::secret_keys_labelled`].
    pub fn seal_keys_with_prefix(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>> {
        Ok(self
            .seal_key_objects(prefix)?
            .into_iter()
            .map(|(_, label, id)| (label, id))
            .collect())
    }

    /// Like `seal_keys_with_prefix`, with the object handles: (handle, label, id).
    pub fn seal_key_objects(&self, prefix: &str) -> Result<Vec<(ObjectHandle, String, Vec<u8>)>> {
        let found = self
            .session
            .find_objects(&[Attribute::Class(ObjectClass::SECRET_KEY)])
            .map_err(self.err("cannot list secret keys"))?;
        let mut out = Vec::new();
        for h in found {
            let attrs = self
                .session
                .get_attributes(h, &[AttributeType::Label, AttributeType::Id])
                .map_err(self.err("cannot read a key label"))?;
            let mut label = String::new();
            let mut id = Vec::new();
            for a in attrs {
                match a {
                    Attribute::Label(l) => label = String::from_utf8_lossy(&l).into_owned(),
                    Attribute::Id(i) => id = i,
                    _ => {}
                }
            }
            if label.starts_with(prefix) {
                out.push((h, label, id));
            }
        }
        Ok(out)
    }

    /// The log anchors of `env` on the token: one, or two after a crash between the
    /// creation of a new anchor and the destruction of the old one.
    fn anchor_objects(&self, env: &str) -> Result<Vec<(ObjectHandle, Option<LogAnchor>)>> {
        let label = anchor_label(env);
        Ok(self
            .data_objects()?
            .into_iter()
            .filter(|o| o.label == label.as_bytes())
            .map(|o| (o.handle, parse_anchor(&o.value)))
            .collect())
    }

    /// Reads the environment's log anchor: the sequence number and line hash of the
    /// last log entry this token signed, kept on the token where editing the store
    /// cannot reach it. `None` for a token that has none yet.
    pub fn log_anchor(&self, env: &str) -> Result<Option<LogAnchor>> {
        let mut best: Option<LogAnchor> = None;
        for (_, value) in self.anchor_objects(env)? {
            let Some(v) = value else {
                return Err(HsmError::ForeignLogAnchor {
                    label: anchor_label(env),
                    token: self.token.label.clone(),
                }
                .into());
            };
            if best.as_ref().is_none_or(|b| v.0 > b.0) {
                best = Some(v);
            }
        }
        Ok(best)
    }

    /// Records (`seq`, `hash`) as the environment's log anchor: a new private data
    /// object is made, then the old one destroyed (tokens such as SoftHSM do not let
    /// `CKA_VALUE` of a data object change). A crash between the two leaves both, and
    /// the newer one counts.
    pub fn set_log_anchor(&self, env: &str, seq: u64, hash: &str) -> Result<()> {
        *self.data.borrow_mut() = None;
        let label = anchor_label(env);
        // Only the handles: whatever the old anchors hold, they go.
        let old = self
            .session
            .find_objects(&[
                Attribute::Class(ObjectClass::DATA),
                Attribute::Label(label.as_bytes().to_vec()),
            ])
            .map_err(self.err(&format!("cannot search for the log anchor '{label}'")))?;
        let value = format!("{ANCHOR_DOMAIN}{seq}\n{hash}\n").into_bytes();
        self.session
            .create_object(&[
                Attribute::Class(ObjectClass::DATA),
                Attribute::Token(true),
                Attribute::Private(true),
                Attribute::Modifiable(false),
                Attribute::Label(label.as_bytes().to_vec()),
                Attribute::Application(APPLICATION.to_vec()),
                Attribute::Value(value),
            ])
            .map_err(self.err(&format!("cannot write the log anchor '{label}'")))?;
        for h in old {
            self.session
                .destroy_object(h)
                .map_err(self.err(&format!("cannot replace the log anchor '{label}'")))?;
        }
        Ok(())
    }

    /// Generates a `length`-byte generic secret as a session object: sensitive, and
    /// extractable only so it can be wrapped.
    pub fn generate_credential(&self, length: usize) -> Result<ObjectHandle> {
        self.session
            .generate_key(
                &Mechanism::GenericSecretKeyGen,
                &[
                    Attribute::Class(ObjectClass::SECRET_KEY),
                    Attribute::KeyType(KeyType::GENERIC_SECRET),
                    Attribute::ValueLen((length as u64).into()),
                    Attribute::Token(false),
                    Attribute::Private(true),
                    Attribute::Sensitive(true),
                    Attribute::Extractable(true),
                ],
            )
            .map_err(self.err("cannot generate the credential (CKM_GENERIC_SECRET_KEY_GEN)"))
    }

    /// Creates a session object holding `value`, to be wrapped.
    pub fn import_credential(&self, value: &[u8]) -> Result<ObjectHandle> {
        let mut template = vec![
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::GENERIC_SECRET),
            Attribute::Token(false),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(true),
            Attribute::Value(value.to_vec()),
        ];
        let result = self.session.create_object(&template);
        wipe(&mut template);
        result.map_err(self.err("cannot import the credential into the token"))
    }

    /// Wraps `key` with K_seal.
    pub fn wrap(
        &self,
        mech: WrapMechanism,
        kseal: ObjectHandle,
        key: ObjectHandle,
    ) -> Result<Vec<u8>> {
        self.session
            .wrap_key(&mech.mechanism(), kseal, key)
            .map_err(self.err(&format!("cannot wrap the credential with {mech}")))
    }

    /// Unwraps `wrapped` with K_seal into a session object, reads its value and destroys
    /// the object. Some HSMs refuse to unwrap into a non-sensitive object; that is
    /// reported with the mechanism.
    pub fn unwrap_credential(
        &self,
        mech: WrapMechanism,
        kseal: ObjectHandle,
        wrapped: &[u8],
    ) -> Result<Credential> {
        let handle = self
            .session
            .unwrap_key(&mech.mechanism(), kseal, wrapped, &session_secret(false))
            .map_err(|e| unwrap_error(&self.token.label, &self.hsm.path, mech, e))?;
        let attrs = self.session.get_attributes(handle, &[AttributeType::Value]);
        let destroyed = self.session.destroy_object(handle);
        let attrs =
            attrs.map_err(|e| read_back_error(&self.token.label, &self.hsm.path, mech, e))?;
        destroyed.map_err(self.err("cannot destroy the unwrapped credential object"))?;
        let mut value = None;
        for a in attrs {
            if let Attribute::Value(v) = a {
                value = Some(v);
            }
        }
        value.map(Credential::new).ok_or_else(|| {
            HsmError::NoUnwrappedValue {
                token: self.token.label.clone(),
            }
            .into()
        })
    }

    /// Unwraps `wrapped` with K_seal into a session object that stays sensitive and is
    /// extractable only so it can be wrapped again, by another K_seal (rekey).
    pub fn unwrap_for_rewrap(
        &self,
        mech: WrapMechanism,
        kseal: ObjectHandle,
        wrapped: &[u8],
    ) -> Result<ObjectHandle> {
        self.session
            .unwrap_key(&mech.mechanism(), kseal, wrapped, &session_secret(true))
            .map_err(self.err(&format!(
                "cannot unwrap the credential with {mech} to wrap it anew"
            )))
    }

    /// Destroys an object.
    pub fn destroy(&self, handle: ObjectHandle) -> Result<()> {
        *self.data.borrow_mut() = None;
        self.session
            .destroy_object(handle)
            .map_err(self.err("cannot destroy an object"))
    }

    /// Whether the token lets `handle` be destroyed: its `CKA_DESTROYABLE`, true when
    /// the module does not keep the attribute (PKCS#11 before 2.40, whose objects are
    /// all destroyable).
    pub fn destroyable(&self, handle: ObjectHandle) -> Result<bool> {
        let attrs = self
            .session
            .get_attributes(handle, &[AttributeType::Destroyable])
            .map_err(self.err("cannot read whether a key may be destroyed"))?;
        Ok(attrs
            .into_iter()
            .find_map(|a| match a {
                Attribute::Destroyable(d) => Some(d),
                _ => None,
            })
            .unwrap_or(true))
    }

    /// Returns the module this session belongs to.
    pub fn hsm(&self) -> &Hsm {
        self.hsm
    }
}

/// The template zeroth unwraps the credential into, in words for messages.
const UNWRAP_TEMPLATE_WORDS: &str =
    "a session object with CKA_SENSITIVE false and CKA_EXTRACTABLE true";

/// The error for a failed `C_UnwrapKey` of the credential. A token that refuses the
/// template (some HSMs never create a non-sensitive key) is told apart from other
/// failures: zeroth cannot read the credential back on such a token.
fn unwrap_error(
    token: &str,
    module: &Path,
    mech: WrapMechanism,
    e: cryptoki::error::Error,
) -> Error {
    let refused_template = matches!(
        rv_name(&e).as_deref(),
        Some(
            "CKR_TEMPLATE_INCONSISTENT"
                | "CKR_ATTRIBUTE_VALUE_INVALID"
                | "CKR_TEMPLATE_INCOMPLETE"
                | "CKR_ATTRIBUTE_READ_ONLY"
        )
    );
    if refused_template {
        crate::error::hsm_with(
            format!(
                "token '{token}' in {} refuses to unwrap with {mech} into {UNWRAP_TEMPLATE_WORDS} ({}): zeroth reads the credential back from that object, so it cannot unseal on this token; K_seal and the record are unchanged",
                module.display(),
                crate::error::describe_pkcs11(&e)
            ),
            &e,
        )
    } else {
        crate::error::hsm_with(
            format!(
                "cannot unwrap the credential with {mech} on token '{token}': {}{}",
                crate::error::describe_pkcs11(&e),
                device_words(module, &e)
            ),
            &e,
        )
    }
}

/// The error for a failed read of the unwrapped credential's `CKA_VALUE`. A token that
/// accepted the template but made the object sensitive anyway (a policy that forces
/// every key sensitive, as some HSMs and FIPS modes have) answers
/// `CKR_ATTRIBUTE_SENSITIVE`.
fn read_back_error(
    token: &str,
    module: &Path,
    mech: WrapMechanism,
    e: cryptoki::error::Error,
) -> Error {
    if rv_name(&e).as_deref() == Some("CKR_ATTRIBUTE_SENSITIVE") {
        crate::error::hsm_with(
            format!(
                "token '{token}' in {} unwrapped the credential with {mech} but made it sensitive, although zeroth asked for {UNWRAP_TEMPLATE_WORDS} ({}): the token's policy forces keys sensitive, so zeroth cannot unseal on it",
                module.display(),
                crate::error::describe_pkcs11(&e)
            ),
            &e,
        )
    } else {
        crate::error::hsm_with(
            format!(
                "cannot read the unwrapped credential on token '{token}': {}{}",
                crate::error::describe_pkcs11(&e),
                device_words(module, &e)
            ),
            &e,
        )
    }
}

/// `C_Initialize` with OS locking; a module another part of the process initialized
/// already is fine.
fn initialize(ctx: &Pkcs11) -> std::result::Result<(), cryptoki::error::Error> {
    match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(cryptoki::error::Error::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// Words for the return values that mean the token or the device is gone.
fn device_reason(e: &cryptoki::error::Error) -> Option<&'static str> {
    match rv_name(e).as_deref() {
        Some("CKR_TOKEN_NOT_PRESENT") => Some(
            "the token is not present (unplugged, unreachable, or not in the module's configuration)",
        ),
        Some("CKR_DEVICE_REMOVED") => Some("the device was removed"),
        Some("CKR_DEVICE_ERROR" | "CKR_DEVICE_MEMORY") => Some("the device reported a failure"),
        Some("CKR_TOKEN_NOT_RECOGNIZED") => Some("the module does not recognize the token"),
        _ => None,
    }
}

/// [`device_reason`] and the module's path, for messages that do not name the module
/// yet; empty for any other error.
fn device_words(module: &Path, e: &cryptoki::error::Error) -> String {
    device_reason(e)
        .map(|what| format!("; {what}; module {}", module.display()))
        .unwrap_or_default()
}

/// Returns the P-256 key in a `CKA_EC_POINT`: a DER OCTET STRING around the SEC1 point
/// (what PKCS#11 asks for, and what SoftHSM and Kryoptic give), or the bare point (what
/// some tokens give). The two are told apart by trying the DER reading first and falling
/// back to the bare one: a bare uncompressed point whose X starts with 0x3f also looks
/// like an OCTET STRING header, so the first byte pair alone cannot decide.
fn ec_point_to_key(point: &[u8]) -> Option<p256::PublicKey> {
    let der = match point {
        [0x04, len, rest @ ..] if usize::from(*len) == rest.len() => Some(rest),
        [0x04, 0x81, len, rest @ ..] if usize::from(*len) == rest.len() => Some(rest),
        _ => None,
    };
    der.and_then(|sec1| p256::PublicKey::from_sec1_bytes(sec1).ok())
        .or_else(|| p256::PublicKey::from_sec1_bytes(point).ok())
}

/// The template of a credential unwrapped as a session object: a generic secret,
/// extractable (to be read back, or wrapped anew), sensitive or not.
fn session_secret(sensitive: bool) -> [Attribute; 6] {
    [
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::GENERIC_SECRET),
        Attribute::Token(false),
        Attribute::Private(true),
        Attribute::Sensitive(sensitive),
        Attribute::Extractable(true),
    ]
}

/// Zeroizes every `CKA_VALUE` in a template once the token has it.
fn wipe(template: &mut [Attribute]) {
    for a in template.iter_mut() {
        if let Attribute::Value(v) = a {
            v.zeroize();
        }
    }
}

/// Returns `length` zero-padded to what `mech` wraps, as a zeroizing buffer.
pub fn pad_for(mech: WrapMechanism, value: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut v = Zeroizing::new(value.to_vec());
    v.resize(mech.object_len(value.len()), 0);
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use cryptoki::context::Function;
    use p256::elliptic_curve::sec1::ToSec1Point;

    /// A P-256 point whose uncompressed encoding starts 04 3f: the bare form looks like
    /// a DER OCTET STRING of 63 bytes.
    fn point_with_x_starting(byte: u8) -> p256::PublicKey {
        (1u64..)
            .map(|k| {
                let mut bytes = [0u8; 32];
                bytes[24..].copy_from_slice(&k.to_be_bytes());
                p256::SecretKey::from_slice(&bytes).unwrap().public_key()
            })
            .find(|p| p.to_sec1_point(false).as_bytes()[1] == byte)
            .unwrap()
    }

    #[test]
    fn ec_points_in_der_and_bare_forms() {
        for first in [0x3f, 0x41, 0x00, 0xff] {
            let key = point_with_x_starting(first);
            let bare = key.to_sec1_point(false).as_bytes().to_vec();
            let mut der = vec![0x04, bare.len() as u8];
            der.extend_from_slice(&bare);
            assert_eq!(ec_point_to_key(&bare), Some(key), "bare, x[0] = {first:#x}");
            assert_eq!(ec_point_to_key(&der), Some(key), "DER, x[0] = {first:#x}");
            let compressed = key.to_sec1_point(true).as_bytes().to_vec();
            assert_eq!(ec_point_to_key(&compressed), Some(key));
        }
        assert_eq!(ec_point_to_key(&[0x04, 0x02, 0x01, 0x02]), None);
        assert_eq!(ec_point_to_key(&[]), None);
    }

    #[test]
    fn an_unwrap_refused_for_its_template_names_mechanism_and_token() {
        let e = cryptoki::error::Error::Pkcs11(RvError::TemplateInconsistent, Function::UnwrapKey);
        let msg =
            unwrap_error("prod", Path::new("/m.so"), WrapMechanism::AesKeyWrap, e).to_string();
        for part in [
            "token 'prod' in /m.so refuses to unwrap with CKM_AES_KEY_WRAP",
            "CKA_SENSITIVE false",
            "C_UnwrapKey returned CKR_TEMPLATE_INCONSISTENT",
        ] {
            assert!(msg.contains(part), "{part:?} not in {msg}");
        }
        let e = cryptoki::error::Error::Pkcs11(
            RvError::AttributeSensitive,
            Function::GetAttributeValue,
        );
        let msg = read_back_error("prod", Path::new("/m.so"), WrapMechanism::AesKeyWrapPad, e)
            .to_string();
        assert!(
            msg.contains("CKM_AES_KEY_WRAP_PAD but made it sensitive")
                && msg.contains("CKR_ATTRIBUTE_SENSITIVE"),
            "{msg}"
        );
    }

    #[test]
    fn a_missing_token_names_the_module() {
        let e = cryptoki::error::Error::Pkcs11(RvError::TokenNotPresent, Function::OpenSession);
        let words = device_words(Path::new("/opt/hsm/lib.so"), &e);
        assert!(
            words.contains("not present") && words.contains("/opt/hsm/lib.so"),
            "{words}"
        );
        let e = cryptoki::error::Error::Pkcs11(RvError::PinIncorrect, Function::Login);
        assert_eq!(device_words(Path::new("/m.so"), &e), "");
    }
}
