//! `zeroth.toml`, the store's configuration: its environments (the module, token and
//! signing key each is bound to), the thresholds of `check`, and what the store knows of
//! custodians. The store (`zeroth`'s `store` module) reads and writes it; its types are
//! here so that code built on the core alone (the fuzz targets, an auditor's tool) reads
//! a store's configuration with a TOML parser of its own (the core has none).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::mechanism::WrapMechanism;

/// `zeroth.toml`. Unknown keys are errors: a typo in a config is not silently ignored.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Config format version.
    pub format: u32,
    /// A random id for this store (hex), salting the reuse marks of its seals so they
    /// cannot be compared with another store's or looked up in precomputed tables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_id: Option<String>,
    /// Thresholds of `check`.
    #[serde(default)]
    pub policy: Policy,
    /// The environments, by name.
    #[serde(default)]
    pub env: BTreeMap<String, EnvConfig>,
    /// What the store knows of custodians beyond the seal records.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub custodians: BTreeMap<String, CustodianConfig>,
}

/// The `[policy]` table: when `check` calls something overdue. Every key is optional;
/// the defaults are below.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    /// Warn this many days before a seal expires (30).
    pub expiry_warning_days: u32,
    /// The recovery path must have been proven (a successful drill or unseal) within
    /// this many days (180).
    pub recovery_test_days: u32,
    /// Each custodian's share must have been proven in a drill within this many days
    /// (365).
    pub share_proof_days: u32,
    /// A pending rekey or rotation older than this many days is stale (7).
    pub pending_max_age_days: u32,
    /// Warn this many days before a seal's rotation falls due (14; never more than a
    /// quarter of the seal's rotation period). Optional, so that settings signed before
    /// it existed keep their signed bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotation_warning_days: Option<u32>,
    /// Each seal's revocation path must have been drilled (`revoke --drill`) within
    /// this many days (365). Optional, like `rotation_warning_days`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revocation_test_days: Option<u32>,
}

impl Policy {
    /// The default of `rotation_warning_days`.
    pub const ROTATION_WARNING_DAYS: u32 = 14;

    /// The default of `revocation_test_days`.
    pub const REVOCATION_TEST_DAYS: u32 = 365;

    /// Within how many days a seal's revocation path must have been drilled.
    pub fn revocation_test(&self) -> u32 {
        self.revocation_test_days
            .unwrap_or(Self::REVOCATION_TEST_DAYS)
    }

    /// How many days before a rotation falls due `check` warns, for a seal rotated
    /// every `period` days: `rotation_warning_days` (14), at most a quarter of the
    /// period, so a short period is not warned about for most of its length.
    pub fn rotation_warning(&self, period: u32) -> u32 {
        self.rotation_warning_days
            .unwrap_or(Self::ROTATION_WARNING_DAYS)
            .min(period / 4)
    }
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            expiry_warning_days: 30,
            recovery_test_days: 180,
            share_proof_days: 365,
            pending_max_age_days: 7,
            rotation_warning_days: None,
            revocation_test_days: None,
        }
    }
}

/// A custodian, as the store knows them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustodianConfig {
    /// When they left (`custodian offboard`); every seal in which they still hold a
    /// share of the current set needs a rekey.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offboarded: Option<String>,
    /// Who recorded it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offboarded_by: Option<String>,
    /// The age recipient (X25519, SSH public key) their shares are encrypted to, or
    /// `passphrase`; a recipient on the command line wins over this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient: Option<String>,
}

/// One environment: the token it is bound to and what was negotiated with it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvConfig {
    /// Path of the PKCS#11 module.
    pub module: PathBuf,
    /// Token label.
    pub token: String,
    /// Token serial number; a token with the right label but another serial is refused.
    pub serial: String,
    /// The wrap mechanism negotiated at `env init`.
    pub wrap_mechanism: WrapMechanism,
    /// `CKA_ID` of the signing key pair, hex.
    pub sign_key_id: String,
    /// Fingerprint of the signing public key (see `PublicKey::fingerprint`).
    pub sign_key_fingerprint: String,
    /// When the environment was bound.
    pub created: String,
}
