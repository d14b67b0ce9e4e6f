//! The seal record (`seals/<name>.json`) and its sealed blob.
//!
//! The record holds everything public about one credential: its metadata, the
//! custodians and their share commitments, which HSM key wraps it, and the sealed blob
//! S = AES-256-GCM(U, nonce, W, aad = seal header), where W is the credential wrapped
//! by K_seal in the HSM and U the unseal key the custodians' shares recover.
//!
//! The record is signed by the environment's HSM key over its canonical form: the
//! record as JSON with the `signature` member removed, object keys sorted, no
//! whitespace, prefixed by `zeroth-record-v1\n`. A record whose signature fails is
//! refused, so nobody lowers a threshold or swaps a commitment by editing JSON.

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{Aead, KeyInit, Nonce, Payload};
use base64::Engine;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::error::{Error, RecordError, Result};
use crate::mechanism::WrapMechanism;
use crate::secret::{Encoding, UnsealKey};

/// The record format this zeroth writes and reads.
pub const RECORD_FORMAT: u32 = 1;
const RECORD_DOMAIN: &[u8] = b"zeroth-record-v1\n";
const HEADER_DOMAIN: &[u8] = b"zeroth-seal-v1\n";

/// One seal: one bootstrap credential, its current version and share set.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealRecord {
    /// Record format version.
    pub format: u32,
    /// The seal's name, unique in the store.
    pub name: String,
    /// 128-bit random id, hex; unique across stores and environments.
    pub id: String,
    /// The environment, hence the token, this seal lives in.
    pub env: String,
    /// Who answers for this credential.
    pub owner: String,
    /// What the credential unlocks.
    pub purpose: String,
    /// When the seal was first created (RFC 3339 UTC).
    pub created: String,
    /// When the current version was sealed (RFC 3339 UTC); rotation is due
    /// `rotate_every_days` after it.
    pub sealed: String,
    /// After this instant the seal is refused (RFC 3339 UTC).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub expires: Option<String>,
    /// The rotation period, in days.
    pub rotate_every_days: u32,
    /// Credential version, 1 at generate; rotation makes the next.
    pub version: u32,
    /// Share set number, 1 at generate; rekey makes the next.
    pub set: u32,
    /// How many shares recover the unseal key.
    pub threshold: u8,
    /// The custodians, in x order (custodian i holds x = i).
    pub custodians: Vec<Custodian>,
    /// What the credential is.
    pub credential: CredentialInfo,
    /// The HSM key that wraps the credential.
    pub key: KeyRef,
    /// The sealed blob.
    pub blob: Blob,
    /// Earlier versions and share sets.
    #[serde(default)]
    pub history: Vec<HistoryEntry>,
    /// The head of the environment's ceremony log when this record was signed: a log
    /// found shorter later was cut.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub log_head: Option<LogHead>,
    /// A rekey or rotation written but not yet confirmed with the new shares.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub pending: Option<Pending>,
    /// Set when the seal was revoked: its K_seal is destroyed and nothing opens it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub revoked: Option<Revocation>,
    /// When and how the credential is expected to be recovered (`zeroth access`):
    /// `check` reports recoveries outside it. Absent unless set.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub access: Option<SealAccess>,
    /// What the credential unlocks (`--unlocks`, e.g. `vault:prod-cluster`): the
    /// systems it opens, by name. Absent unless declared, so records signed before it
    /// existed keep their bytes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unlocks: Vec<String>,
    /// Set when its owner was offboarded (`owner offboard`): `check` reports the seal
    /// until it is handed over (`owner transfer`) or revoked.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub owner_offboarded: Option<OwnerOffboarded>,
    /// The vault server this credential belongs to (`zeroth vault init`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub vault: Option<VaultBinding>,
    /// Signature by the environment's HSM key; absent only while the record is built.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub signature: Option<RecordSignature>,
}

/// The head of a log: its last sequence number and line hash. A record keeps the head
/// its ceremony wrote, which the log's end must still reach.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogHead {
    /// Sequence number of the last entry.
    pub seq: u64,
    /// SHA-256 (hex) of that entry's line.
    pub hash: String,
}

/// A custodian of the current share set.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Custodian {
    /// The custodian's name.
    pub name: String,
    /// The x coordinate of their share.
    pub x: u8,
    /// The age recipient their share is encrypted to, if any.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub recipient: Option<String>,
    /// SHA-256 commitment to their share, hex.
    pub commitment: String,
    /// When their share was last proven in a drill (RFC 3339 UTC).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub last_proven: Option<String>,
}

/// Where the credential came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// Generated inside the HSM.
    Generated,
    /// Read from stdin and imported into the HSM.
    Imported,
}

/// What the credential is.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialInfo {
    /// Generated in the HSM or imported.
    pub origin: Origin,
    /// Its length in bytes. With `CKM_AES_KEY_WRAP`, which wraps only multiples of 8
    /// bytes, the wrapped object is zero-padded and this length cuts it back.
    pub length: u32,
    /// The encoding `unseal` delivers unless told otherwise.
    pub encoding: Encoding,
    /// Marks that let `check` find one secret sealed in two environments without making
    /// a low-entropy secret guessable (see `governance::reuse_mark`). Taken whenever
    /// the plaintext is in zeroth's hands: import, drill, rotation.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reuse: Option<ReuseMark>,
}

/// What `check` compares across environments to find a reused secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReuseMark {
    /// 16 bits (hex) of a slow salted hash: equal tags mean "possibly the same secret".
    pub tag: String,
    /// For a generated credential only (random, so unguessable): a full salted
    /// SHA-256; equal digests mean "the same secret".
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub digest: Option<String>,
}

/// The HSM key (K_seal) of the current version and set.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRef {
    /// `CKA_LABEL`.
    pub label: String,
    /// `CKA_ID`, hex.
    pub id: String,
    /// The wrap mechanism.
    pub mechanism: WrapMechanism,
}

/// S = AES-256-GCM(U, nonce, W, aad = seal header).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Blob {
    /// 96-bit nonce, base64.
    pub nonce: String,
    /// Ciphertext and tag, base64.
    pub ciphertext: String,
}

/// An earlier version or share set.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryEntry {
    /// Credential version.
    pub version: u32,
    /// Share set number.
    pub set: u32,
    /// When it was sealed.
    pub sealed: String,
    /// When it stopped being current.
    pub retired: String,
    /// Why (rekey, rotation).
    pub why: String,
    /// The key label it used (destroyed on the token when it was retired).
    pub key_label: String,
    /// The rekey or rotation operation that retired it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub operation: Option<String>,
}

/// What a pending operation does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PendingKind {
    /// A new share set (custodians, threshold) for the same credential.
    Rekey,
    /// A new credential version with its own share set.
    Rotate,
}

impl PendingKind {
    /// The command that made it.
    pub fn name(self) -> &'static str {
        match self {
            PendingKind::Rekey => "rekey",
            PendingKind::Rotate => "rotate",
        }
    }
}

/// A rekey or rotation waiting for a quorum of its new shares. Until then the current
/// set keeps working and this changes nothing.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pending {
    /// The operation id `--confirm` and `--cancel` name.
    pub id: String,
    /// Rekey or rotation.
    pub kind: PendingKind,
    /// When it was written.
    pub created: String,
    /// Who wrote it.
    pub operator: String,
    /// The credential version it makes current.
    pub version: u32,
    /// Its share set.
    pub set: u32,
    /// Its threshold.
    pub threshold: u8,
    /// Its custodians, in x order.
    pub custodians: Vec<Custodian>,
    /// The credential it seals.
    pub credential: CredentialInfo,
    /// Its K_seal.
    pub key: KeyRef,
    /// Its sealed blob.
    pub blob: Blob,
    /// For a vault key rotation: the server-side operation it waits on.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub vault: Option<VaultRotation>,
}

/// What the credential is to a vault server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VaultRole {
    /// The server's unseal key (a Shamir seal with one key share).
    UnsealKey,
    /// The server's recovery key (an auto-unseal seal with one recovery key).
    RecoveryKey,
    /// The root token the server gave at init.
    RootToken,
}

impl VaultRole {
    /// Words for messages.
    pub fn words(self) -> &'static str {
        match self {
            VaultRole::UnsealKey => "unseal key",
            VaultRole::RecoveryKey => "recovery key",
            VaultRole::RootToken => "init root token",
        }
    }
}

/// The vault server a seal's credential belongs to, as `vault init` found it. Every
/// `zeroth vault` ceremony checks the server against it before sending anything.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VaultBinding {
    /// What the credential is to the server.
    pub role: VaultRole,
    /// The address the server was initialized at.
    pub addr: String,
    /// `sha256:` + hex of the DER certificate the server presented there (https only).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub tls_fingerprint: Option<String>,
    /// The cluster id the server reported once unsealed.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub cluster_id: Option<String>,
    /// Its cluster name.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub cluster_name: Option<String>,
    /// The server's seal type (`shamir`, or an auto-unseal type such as `static`).
    pub seal_type: String,
    /// How many key shares unseal it (or recovery key shares authorize), t of n.
    pub threshold: u8,
    /// How many key shares (recovery key shares) it has.
    pub shares: u8,
    /// The server version at init.
    pub server_version: String,
}

/// A vault key rotation started on the server and waiting for its verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VaultRotation {
    /// The API it runs on: `rotate-root` (OpenBao's `sys/rotate/root`), `rekey`
    /// (`sys/rekey`), or their recovery-key forms.
    pub api: String,
    /// The rotation's nonce.
    pub nonce: String,
    /// The verification nonce the server gave with the new key (it changes after a
    /// refused verification; the current one is read back before verifying).
    pub verification_nonce: String,
}

/// Why and when a seal was revoked.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Revocation {
    /// When.
    pub time: String,
    /// Who.
    pub operator: String,
    /// Why.
    pub reason: String,
}

/// When and how a seal's credential is expected to be recovered.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealAccess {
    /// A recovery must say why (`unseal --reason`): `unseal` refuses one without.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub require_reason: bool,
    /// At most `count` recoveries in any `days` days.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub max_recoveries: Option<Rate>,
    /// When recoveries are expected: days of the week and hours in a named time zone.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub window: Option<Window>,
}

/// `count` per `days` days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rate {
    /// How many.
    pub count: u32,
    /// In how many days.
    pub days: u32,
}

impl Rate {
    /// Parses `2/30d` (a count, then a period as `--rotate-every` takes it).
    pub fn parse(s: &str) -> Result<Rate> {
        let bad = || {
            Error::Usage(format!(
                "--max-recoveries '{s}': give a count and a period, e.g. 2/30d"
            ))
        };
        let (count, period) = s.split_once('/').ok_or_else(bad)?;
        let count: u32 = count.trim().parse().map_err(|_| bad())?;
        let days = crate::clock::parse_days(period.trim()).map_err(|_| bad())?;
        if count == 0 || days == 0 {
            return Err(bad());
        }
        Ok(Rate { count, days })
    }
}

/// Days of the week and hours, in a time zone of the IANA database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Window {
    /// The days, 1 = Monday … 7 = Sunday.
    pub days: Vec<u8>,
    /// From this minute of the day (0..1440).
    pub from: u16,
    /// To this minute of the day, exclusive (from < to).
    pub to: u16,
    /// The time zone, e.g. Europe/Berlin.
    pub tz: String,
}

const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

impl Window {
    /// Parses `Mon-Fri 08:00-18:00 Europe/Berlin` (days as a range or a list,
    /// `Mon,Wed`; hours from-to, the end exclusive; a time zone name).
    pub fn parse(s: &str) -> Result<Window> {
        let bad = |why: &str| {
            Error::Usage(format!(
                "--window '{s}': {why}; give days, hours and a time zone, e.g. 'Mon-Fri 08:00-18:00 Europe/Berlin'"
            ))
        };
        let parts: Vec<&str> = s.split_whitespace().collect();
        let [days, hours, tz] = parts[..] else {
            return Err(bad("three parts expected"));
        };
        let day = |d: &str| {
            WEEKDAYS
                .iter()
                .position(|w| d.eq_ignore_ascii_case(w))
                .map(|i| i as u8 + 1)
                .ok_or_else(|| bad(&format!("'{d}' is not a day (Mon … Sun)")))
        };
        let mut list = Vec::new();
        for part in days.split(',') {
            match part.split_once('-') {
                Some((a, b)) => {
                    let (a, b) = (day(a)?, day(b)?);
                    if a > b {
                        return Err(bad(&format!("'{part}' runs backwards")));
                    }
                    list.extend(a..=b);
                }
                None => list.push(day(part)?),
            }
        }
        list.sort_unstable();
        list.dedup();
        let minute = |t: &str| -> Result<u16> {
            let (h, m) = t
                .split_once(':')
                .ok_or_else(|| bad(&format!("'{t}' is not HH:MM")))?;
            let (h, m): (u16, u16) = (
                h.parse().map_err(|_| bad(&format!("'{t}' is not HH:MM")))?,
                m.parse().map_err(|_| bad(&format!("'{t}' is not HH:MM")))?,
            );
            if h > 24 || m > 59 || (h == 24 && m != 0) {
                return Err(bad(&format!("'{t}' is not a time of day")));
            }
            Ok(h * 60 + m)
        };
        let (from, to) = hours
            .split_once('-')
            .ok_or_else(|| bad("hours as HH:MM-HH:MM"))?;
        let (from, to) = (minute(from)?, minute(to)?);
        if from >= to {
            return Err(bad("the hours end before they begin"));
        }
        jiff::tz::TimeZone::get(tz)
            .map_err(|_| bad(&format!("'{tz}' is not a time zone of the IANA database")))?;
        Ok(Window {
            days: list,
            from,
            to,
            tz: tz.to_string(),
        })
    }

    /// Whether the instant `t` falls inside the window (`None`: the time zone is not
    /// known here).
    pub fn contains(&self, t: time::OffsetDateTime) -> Option<bool> {
        let tz = jiff::tz::TimeZone::get(&self.tz).ok()?;
        let ts = jiff::Timestamp::from_second(t.unix_timestamp()).ok()?;
        let local = ts.to_zoned(tz);
        let day = local.weekday().to_monday_one_offset() as u8;
        let minute = local.hour() as u16 * 60 + local.minute() as u16;
        Some(self.days.contains(&day) && minute >= self.from && minute < self.to)
    }

    /// The window in words, as `--window` takes it.
    pub fn words(&self) -> String {
        let days: Vec<&str> = self
            .days
            .iter()
            .filter_map(|d| WEEKDAYS.get(usize::from(*d).wrapping_sub(1)).copied())
            .collect();
        format!(
            "{} {:02}:{:02}-{:02}:{:02} {}",
            days.join(","),
            self.from / 60,
            self.from % 60,
            self.to / 60,
            self.to % 60,
            self.tz
        )
    }
}

/// What a vault seal unlocks: `vault:` and the cluster id the server reported, else
/// its address.
pub fn vault_target(b: &VaultBinding) -> String {
    format!(
        "vault:{}",
        b.cluster_id.as_deref().unwrap_or(b.addr.as_str())
    )
}

/// Checks `--unlocks` targets: each one line of at most 200 characters, not empty, none
/// twice.
pub fn check_unlocks(targets: &[String]) -> Result<()> {
    for (i, t) in targets.iter().enumerate() {
        if t.trim().is_empty() || t.len() > 200 || t.chars().any(char::is_control) {
            return Err(Error::Usage(format!(
                "--unlocks '{}' must name a system in one line of at most 200 characters (e.g. vault:prod-cluster)",
                t.escape_debug()
            )));
        }
        if targets[..i].iter().any(|o| o.eq_ignore_ascii_case(t)) {
            return Err(Error::Usage(format!("--unlocks '{t}' is given twice")));
        }
    }
    Ok(())
}

/// When and by whom a seal's owner was offboarded.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OwnerOffboarded {
    /// When.
    pub time: String,
    /// Who recorded it.
    pub operator: String,
}

/// The record's signature.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordSignature {
    /// `sha256:` + hex of the SHA-256 of the signing public key's SubjectPublicKeyInfo.
    pub key: String,
    /// ECDSA P-256 signature, DER, base64.
    pub value: String,
}

/// The fields bound into the blob as AES-GCM associated data. Changing any of them
/// makes the blob fail to decrypt, on top of the record signature failing.
#[derive(Serialize)]
struct SealHeader<'a> {
    id: &'a str,
    name: &'a str,
    env: &'a str,
    version: u32,
    set: u32,
    threshold: u8,
    custodians: usize,
    key_label: &'a str,
    key_id: &'a str,
    mechanism: WrapMechanism,
    origin: Origin,
    length: u32,
}

impl SealRecord {
    /// Returns the record as it will be once its pending operation is confirmed: the
    /// pending version, set, custodians, key and blob in place of the current ones.
    pub fn pending_view(&self) -> Option<SealRecord> {
        let p = self.pending.as_ref()?;
        let mut view = self.clone();
        view.version = p.version;
        view.set = p.set;
        view.threshold = p.threshold;
        view.custodians = p.custodians.clone();
        view.credential = p.credential.clone();
        view.key = p.key.clone();
        view.blob = p.blob.clone();
        view.pending = None;
        Some(view)
    }

    /// Refuses a revoked seal, saying when, by whom and why.
    pub fn refuse_revoked(&self) -> Result<()> {
        match &self.revoked {
            Some(r) => Err(RecordError::SealRevoked {
                seal: self.name.clone(),
                time: r.time.clone(),
                operator: r.operator.clone(),
                reason: r.reason.clone(),
            }
            .into()),
            None => Ok(()),
        }
    }

    /// Returns the seal id as bytes.
    pub fn id_bytes(&self) -> Result<[u8; 16]> {
        let mut id = [0u8; 16];
        hex::decode_to_slice(&self.id, &mut id)
            .map_err(|_| self.corrupt("its id is not 32 hex digits"))?;
        Ok(id)
    }

    /// Returns the key id as bytes.
    pub fn key_id_bytes(&self) -> Result<Vec<u8>> {
        hex::decode(&self.key.id).map_err(|_| self.corrupt("its key id is not hex"))
    }

    fn corrupt(&self, what: &str) -> Error {
        RecordError::RecordMalformed {
            seal: self.name.clone(),
            what: what.to_string(),
        }
        .into()
    }

    /// Returns the bytes the record signature covers.
    pub fn signed_bytes(&self) -> Result<Vec<u8>> {
        let mut value = serde_json::to_value(self).map_err(|source| RecordError::RecordEncode {
            seal: self.name.clone(),
            source,
        })?;
        if let Some(obj) = value.as_object_mut() {
            obj.remove("signature");
        }
        // serde_json's Value keeps object keys sorted (BTreeMap), so this is canonical.
        let mut out = RECORD_DOMAIN.to_vec();
        out.extend(
            serde_json::to_vec(&value).map_err(|source| RecordError::RecordEncode {
                seal: self.name.clone(),
                source,
            })?,
        );
        Ok(out)
    }

    /// Returns the associated data of the blob.
    pub fn header_aad(&self) -> Vec<u8> {
        let header = SealHeader {
            id: &self.id,
            name: &self.name,
            env: &self.env,
            version: self.version,
            set: self.set,
            threshold: self.threshold,
            custodians: self.custodians.len(),
            key_label: &self.key.label,
            key_id: &self.key.id,
            mechanism: self.key.mechanism,
            origin: self.credential.origin,
            length: self.credential.length,
        };
        let mut out = HEADER_DOMAIN.to_vec();
        out.extend(serde_json::to_vec(&header).unwrap_or_default());
        out
    }

    /// Encrypts the wrapped credential `w` under `u` into the record's blob.
    pub fn seal_blob(&mut self, u: &UnsealKey, w: &[u8]) -> Result<()> {
        let mut nonce = [0u8; 12];
        getrandom::fill(&mut nonce).map_err(|source| RecordError::RandomFailed { source })?;
        let cipher = Aes256Gcm::new(&(*u.expose()).into());
        let ct = cipher
            .encrypt(
                &Nonce::<Aes256Gcm>::from(nonce),
                Payload {
                    msg: w,
                    aad: &self.header_aad(),
                },
            )
            .map_err(|_| RecordError::BlobEncrypt)?;
        let b64 = base64::engine::general_purpose::STANDARD;
        self.blob = Blob {
            nonce: b64.encode(nonce),
            ciphertext: b64.encode(ct),
        };
        Ok(())
    }

    /// Decrypts the blob with `u`, returning the wrapped credential W. Fails, releasing
    /// nothing, when the tag does not verify.
    pub fn open_blob(&self, u: &UnsealKey) -> Result<Zeroizing<Vec<u8>>> {
        let b64 = base64::engine::general_purpose::STANDARD;
        let nonce: [u8; 12] = b64
            .decode(&self.blob.nonce)
            .ok()
            .and_then(|n| n.try_into().ok())
            .ok_or_else(|| self.corrupt("its blob nonce is not 12 bytes of base64"))?;
        let ct = b64
            .decode(&self.blob.ciphertext)
            .map_err(|_| self.corrupt("its blob is not base64"))?;
        let cipher = Aes256Gcm::new(&(*u.expose()).into());
        cipher
            .decrypt(
                &Nonce::<Aes256Gcm>::from(nonce),
                Payload {
                    msg: &ct,
                    aad: &self.header_aad(),
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| {
                RecordError::BlobDoesNotOpen {
                    seal: self.name.clone(),
                }
                .into()
            })
    }

    /// Returns the custodian holding x, if any.
    pub fn custodian_at(&self, x: u8) -> Option<&Custodian> {
        self.custodians.iter().find(|c| c.x == x)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn windows_parse_days_as_ranges_and_lists_and_judge_in_their_time_zone() {
        let w = Window::parse("Mon,Wed-Thu,Sat 09:30-17:00 America/New_York").unwrap();
        assert_eq!(w.days, vec![1, 3, 4, 6]);
        assert_eq!((w.from, w.to), (570, 1020));
        assert_eq!(w.words(), "Mon,Wed,Thu,Sat 09:30-17:00 America/New_York");
        let t = |s: &str| crate::clock::parse_instant(s).unwrap();
        // Wednesday 14:00 UTC is 09:00 in New York in winter (outside), 10:00 in summer.
        assert_eq!(w.contains(t("2030-01-02T14:00:00Z")), Some(false));
        assert_eq!(w.contains(t("2030-07-03T14:00:00Z")), Some(true));
        // Tuesday is not in it.
        assert_eq!(w.contains(t("2030-07-02T15:00:00Z")), Some(false));
        for bad in [
            "Mon-Fri 08:00-18:00",
            "Fri-Mon 08:00-18:00 UTC",
            "Mon 8-18 UTC",
            "Mon 08:00-24:01 UTC",
            "Funday 08:00-18:00 UTC",
            "Mon 08:00-18:00 Nowhere/City",
        ] {
            assert!(Window::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(Rate::parse("3/2w").unwrap(), Rate { count: 3, days: 14 });
        assert!(Rate::parse("3").is_err());
        assert!(Rate::parse("0/30d").is_err());
    }

    use super::*;

    pub(crate) fn sample() -> SealRecord {
        SealRecord {
            format: RECORD_FORMAT,
            name: "vault-root".into(),
            id: "00112233445566778899aabbccddeeff".into(),
            env: "prod".into(),
            owner: "platform".into(),
            purpose: "unseal vault".into(),
            created: "2026-11-23T00:00:00Z".into(),
            sealed: "2026-11-23T00:00:00Z".into(),
            expires: None,
            rotate_every_days: 90,
            version: 1,
            set: 1,
            threshold: 2,
            custodians: vec![],
            credential: CredentialInfo {
                origin: Origin::Generated,
                length: 32,
                encoding: Encoding::Hex,
                reuse: None,
            },
            key: KeyRef {
                label: "zeroth:prod:vault-root:v1:s1".into(),
                id: "aa".into(),
                mechanism: WrapMechanism::AesKeyWrapPad,
            },
            blob: Blob {
                nonce: String::new(),
                ciphertext: String::new(),
            },
            history: vec![],
            log_head: None,
            pending: None,
            revoked: None,
            unlocks: Vec::new(),
            access: None,
            owner_offboarded: None,
            vault: None,
            signature: None,
        }
    }

    #[test]
    fn blob_round_trip_and_header_binding() {
        let u = UnsealKey::new(Box::new([3; 32]));
        let mut r = sample();
        r.seal_blob(&u, b"wrapped-bytes").unwrap();
        assert_eq!(&*r.open_blob(&u).unwrap(), b"wrapped-bytes");
        let mut lowered = r.clone();
        lowered.threshold = 1;
        let err = lowered.open_blob(&u).unwrap_err();
        assert!(
            matches!(
                err.cause(),
                Error::Record(RecordError::BlobDoesNotOpen { seal }) if *seal == r.name
            ),
            "{err:?}"
        );
        assert_eq!(err.exit_code(), 3);
        let other = UnsealKey::new(Box::new([4; 32]));
        assert!(r.open_blob(&other).is_err());
    }

    #[test]
    fn signed_bytes_ignore_the_signature_and_nothing_else() {
        let mut r = sample();
        let a = r.signed_bytes().unwrap();
        r.signature = Some(RecordSignature {
            key: "k".into(),
            value: "v".into(),
        });
        assert_eq!(a, r.signed_bytes().unwrap());
        r.owner = "someone-else".into();
        assert_ne!(a, r.signed_bytes().unwrap());
    }
}
