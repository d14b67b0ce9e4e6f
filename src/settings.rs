//! The settings an environment has approved: custodian recipients, offboardings and the
//! `[policy]` of `check`, signed by the environment's HSM key.
//!
//! `zeroth.toml` is where people edit them, but `zeroth.toml` is part of the store, and
//! whoever can edit the store could send alice's next share to their own key, remove an
//! offboarding, or relax `[policy]` until every finding goes quiet. So what counts is
//! `settings/<env>.json`, signed by the environment's key over `zeroth-settings-v1\n`
//! followed by its JSON (keys sorted, no whitespace, without `signature`). It is written
//! by `env init`, by `custodian offboard` (when the token can be opened) and by
//! `settings approve --env ENV`, which shows what changed and signs it with the HSM.
//!
//! Until approved, a change in `zeroth.toml` counts only where it makes things stricter:
//! a stricter `[policy]` value and a new offboarding take effect at once (an unsigned
//! line may raise a finding, never clear one); a relaxed value, a removed offboarding and
//! a new or changed recipient wait for approval, and ceremonies refuse to encrypt a share
//! to a recipient that is not approved.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::audit::{self, LogHead};
use crate::error::{Error, Result, StoreError};
use crate::key::PublicKey;
use crate::seal::RecordSignature;
use crate::store::{CustodianConfig, Policy, Store};

/// The settings format this zeroth writes and reads.
pub const SETTINGS_FORMAT: u32 = 1;
const SETTINGS_DOMAIN: &[u8] = b"zeroth-settings-v1\n";
/// The log events that write an environment's settings.
pub const SETTINGS_EVENTS: &[&str] = &[
    "env-init",
    "settings-approve",
    "custodian-offboard",
    "custodian-add",
];

/// `settings/<env>.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Format version.
    pub format: u32,
    /// The environment whose key signs them.
    pub env: String,
    /// The thresholds of `check`.
    pub policy: Policy,
    /// Custodians: recipients and offboardings.
    #[serde(default)]
    pub custodians: BTreeMap<String, CustodianConfig>,
    /// When they were approved.
    pub approved: String,
    /// By whom.
    pub approved_by: String,
    /// The head of the environment's log when they were signed.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub log_head: Option<LogHead>,
    /// Signature by the environment's HSM key.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub signature: Option<RecordSignature>,
}

impl Settings {
    /// What `zeroth.toml` proposes for `env` now, unsigned.
    pub fn proposed(store: &Store, env: &str, now: &str) -> Settings {
        Settings {
            format: SETTINGS_FORMAT,
            env: env.to_string(),
            policy: store.config().policy.clone(),
            custodians: store.config().custodians.clone(),
            approved: now.to_string(),
            approved_by: audit::operator(),
            log_head: None,
            signature: None,
        }
    }

    /// The bytes the signature covers.
    pub fn signed_bytes(&self) -> Result<Vec<u8>> {
        let mut value = serde_json::to_value(self).map_err(encode_error)?;
        if let Some(obj) = value.as_object_mut() {
            obj.remove("signature");
        }
        let mut out = SETTINGS_DOMAIN.to_vec();
        out.extend(serde_json::to_vec(&value).map_err(encode_error)?);
        Ok(out)
    }

    /// `sha256:` + hex of the signed bytes.
    pub fn fingerprint(&self) -> String {
        self.signed_bytes()
            .map(|b| audit::fingerprint(&b))
            .unwrap_or_default()
    }
}

/// The error of settings that could not be encoded.
fn encode_error(e: serde_json::Error) -> StoreError {
    StoreError::SettingsEncode {
        detail: e.to_string(),
    }
}

/// Returns the path of the settings of `env`.
pub fn path(store: &Store, env: &str) -> PathBuf {
    store.root().join("settings").join(format!("{env}.json"))
}

/// Reads the settings of `env`, if there are any.
pub fn read(store: &Store, env: &str) -> Result<Option<Settings>> {
    let p = path(store, env);
    let bytes = match crate::store::read_regular(&p) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("read", &p, e)),
    };
    let s: Settings = serde_json::from_slice(&bytes).map_err(|e| StoreError::SettingsInvalid {
        path: p.clone(),
        detail: e.to_string(),
    })?;
    if s.env != env {
        return Err(StoreError::SettingsOfOtherEnv {
            path: p,
            holds: s.env,
            env: env.to_string(),
        }
        .into());
    }
    Ok(Some(s))
}

/// Writes the settings, atomically.
pub fn write(store: &Store, s: &Settings) -> Result<()> {
    let p = path(store, &s.env);
    if let Some(dir) = p.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io("create directory", dir, e))?;
    }
    let text = serde_json::to_string_pretty(s).map_err(encode_error)?;
    crate::store::write_atomic(&p, format!("{text}\n").as_bytes(), 0o644)
}

/// Checks the signature of `s` with `key`, and that the log vouches for it: the last
/// successful, signed entry that wrote the settings of its environment named these
/// (or they were signed after it, a crash between the two).
pub fn verify(store: &Store, s: &Settings, key: &PublicKey) -> Result<()> {
    verify_given(store, s, key, None)
}

/// The last successful entry that wrote the settings of `env`, vouched for by `key`:
/// what [`verify`] holds the settings to.
pub type LastSettings = Option<crate::audit::RecordEntry>;

/// [`verify`], with the log's last settings entry already found (by one pass over the
/// log, `list` and `check`), or `None` to look for it.
pub fn verify_given(
    store: &Store,
    s: &Settings,
    key: &PublicKey,
    known: Option<&LastSettings>,
) -> Result<()> {
    let p = path(store, &s.env);
    let sig = s
        .signature
        .as_ref()
        .ok_or_else(|| StoreError::SettingsUnsigned { path: p.clone() })?;
    use base64::Engine;
    let der = base64::engine::general_purpose::STANDARD
        .decode(&sig.value)
        .unwrap_or_default();
    if sig.key != key.fingerprint() || !key.verify(&s.signed_bytes()?, &der) {
        return Err(StoreError::SettingsSignatureBad {
            path: p,
            env: s.env.clone(),
        }
        .into());
    }
    if let Some(known) = known {
        return judge(&p, s, known.as_ref());
    }
    // zeroth writes `"seal":null,` on every entry about no seal.
    let last = audit::last_signed_entry_where(
        store,
        &s.env,
        key,
        |line| audit::contains_bytes(line, b"\"seal\":null,"),
        |e| SETTINGS_EVENTS.contains(&e.event.as_str()) && e.seal.is_none() && e.record.is_some(),
    )?;
    judge(&p, s, last.as_ref())
}

/// Refuses settings older than the log's last settings entry.
fn judge(
    p: &std::path::Path,
    s: &Settings,
    last: Option<&crate::audit::RecordEntry>,
) -> Result<()> {
    if let Some(entry) = last {
        let seq = entry.seq;
        if entry.record != s.fingerprint() && s.log_head.as_ref().is_none_or(|h| h.seq < seq) {
            return Err(StoreError::SettingsOlderThanLog {
                path: p.to_path_buf(),
                seq,
                event: entry.event.clone(),
                time: entry.time.clone(),
            }
            .into());
        }
    }
    Ok(())
}

/// What counts for an environment: its approved settings, made stricter by what
/// `zeroth.toml` proposes and nobody approved yet.
#[derive(Debug, Clone)]
pub struct Effective {
    /// The environment.
    pub env: String,
    /// The policy `check` applies: each value the stricter of approved and proposed.
    pub policy: Policy,
    /// Offboarded custodians (approved or proposed), by name as written: when, by whom.
    pub offboarded: BTreeMap<String, (String, Option<String>)>,
    /// Approved recipients, by custodian.
    pub recipients: BTreeMap<String, String>,
    /// What `zeroth.toml` changes that is not approved, in words.
    pub unapproved: Vec<String>,
    /// Why the approved settings cannot be used (bad signature, old copy), if so.
    pub problem: Option<String>,
    /// The approved settings, when they verified.
    pub approved: Option<Settings>,
}

/// The stricter of two policies, value by value: warn earlier, demand tests sooner.
fn stricter(a: &Policy, b: &Policy) -> Policy {
    Policy {
        expiry_warning_days: a.expiry_warning_days.max(b.expiry_warning_days),
        recovery_test_days: a.recovery_test_days.min(b.recovery_test_days),
        share_proof_days: a.share_proof_days.min(b.share_proof_days),
        pending_max_age_days: a.pending_max_age_days.min(b.pending_max_age_days),
        rotation_warning_days: match (a.rotation_warning_days, b.rotation_warning_days) {
            (None, None) => None,
            (x, y) => Some(
                x.unwrap_or(Policy::ROTATION_WARNING_DAYS)
                    .max(y.unwrap_or(Policy::ROTATION_WARNING_DAYS)),
            ),
        },
        revocation_test_days: match (a.revocation_test_days, b.revocation_test_days) {
            (None, None) => None,
            _ => Some(a.revocation_test().min(b.revocation_test())),
        },
    }
}

/// The effective settings of `env`, its approved settings checked with `key`.
pub fn effective(store: &Store, env: &str, key: &PublicKey) -> Effective {
    effective_given(store, env, key, None)
}

/// [`effective`], with the log's last settings entry already found ([`verify_given`]).
pub fn effective_given(
    store: &Store,
    env: &str,
    key: &PublicKey,
    known: Option<&LastSettings>,
) -> Effective {
    let mut problem = None;
    let approved = match read(store, env) {
        Ok(Some(s)) => match verify_given(store, &s, key, known) {
            Ok(()) => Some(s),
            Err(e) => {
                problem = Some(e.message().to_string());
                None
            }
        },
        Ok(None) => None,
        Err(e) => {
            problem = Some(e.message().to_string());
            None
        }
    };
    let base_policy = approved
        .as_ref()
        .map(|s| s.policy.clone())
        .unwrap_or_default();
    let base_custodians = approved
        .as_ref()
        .map(|s| s.custodians.clone())
        .unwrap_or_default();
    let proposed = &store.config().policy;
    let policy = stricter(&base_policy, proposed);
    let mut unapproved = Vec::new();
    for (name, a, p) in [
        (
            "expiry_warning_days",
            base_policy.expiry_warning_days,
            proposed.expiry_warning_days,
        ),
        (
            "recovery_test_days",
            base_policy.recovery_test_days,
            proposed.recovery_test_days,
        ),
        (
            "share_proof_days",
            base_policy.share_proof_days,
            proposed.share_proof_days,
        ),
        (
            "pending_max_age_days",
            base_policy.pending_max_age_days,
            proposed.pending_max_age_days,
        ),
        (
            "rotation_warning_days",
            base_policy
                .rotation_warning_days
                .unwrap_or(Policy::ROTATION_WARNING_DAYS),
            proposed
                .rotation_warning_days
                .unwrap_or(Policy::ROTATION_WARNING_DAYS),
        ),
        (
            "revocation_test_days",
            base_policy.revocation_test(),
            proposed.revocation_test(),
        ),
    ] {
        if a != p {
            unapproved.push(format!("[policy] {name} = {p} (approved: {a})"));
        }
    }
    let mut offboarded = BTreeMap::new();
    let mut recipients = BTreeMap::new();
    for (name, c) in &base_custodians {
        if let Some(when) = &c.offboarded {
            offboarded.insert(name.clone(), (when.clone(), c.offboarded_by.clone()));
        }
        if let Some(r) = &c.recipient {
            recipients.insert(name.clone(), r.clone());
        }
    }
    let proposed_custodians = &store.config().custodians;
    let names: BTreeSet<&String> = base_custodians
        .keys()
        .chain(proposed_custodians.keys())
        .collect();
    for name in names {
        let a = base_custodians.get(name);
        let p = proposed_custodians.get(name);
        let a_off = a.and_then(|c| c.offboarded.as_ref());
        let p_off = p.and_then(|c| c.offboarded.as_ref());
        match (a_off, p_off) {
            (None, Some(when)) => {
                offboarded.insert(
                    name.clone(),
                    (when.clone(), p.and_then(|c| c.offboarded_by.clone())),
                );
                unapproved.push(format!(
                    "[custodians.{name}] offboarded = {when} (counts already; not approved yet)"
                ));
            }
            (Some(_), None) => unapproved.push(format!(
                "[custodians.{name}] offboarded is gone from zeroth.toml (the approved offboarding still counts)"
            )),
            _ => {}
        }
        let a_rec = a.and_then(|c| c.recipient.as_ref());
        let p_rec = p.and_then(|c| c.recipient.as_ref());
        if a_rec != p_rec {
            unapproved.push(format!(
                "[custodians.{name}] recipient = {} (approved: {})",
                p_rec.map(String::as_str).unwrap_or("none"),
                a_rec.map(String::as_str).unwrap_or("none")
            ));
        }
    }
    Effective {
        env: env.to_string(),
        policy,
        offboarded,
        recipients,
        unapproved,
        problem,
        approved,
    }
}

impl Effective {
    /// The offboarding of `name`, whatever the case it was written in: the name as
    /// recorded, and when.
    pub fn offboarded(&self, name: &str) -> Option<(&str, &str)> {
        self.offboarded
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(k, (when, _))| (k.as_str(), when.as_str()))
    }

    /// The recipient the approved settings give `name`. A recipient `zeroth.toml`
    /// gives that is not the approved one is refused: a share is never encrypted to a
    /// key nobody with the HSM approved.
    pub fn recipient(&self, store: &Store, name: &str) -> Result<Option<String>> {
        let approved = self.recipients.get(name);
        let proposed = store
            .config()
            .custodians
            .get(name)
            .and_then(|c| c.recipient.as_ref());
        if let Some(p) = proposed.filter(|p| approved != Some(*p)) {
            // Checked for form first: a malformed recipient is named as such.
            let from = format!(
                "{} [custodians.{name}]",
                store.root().join("zeroth.toml").display()
            );
            crate::recipient::Recipient::parse(name, p, &from)?;
            return Err(StoreError::RecipientNotApproved {
                custodian: name.to_string(),
                recipient: p.clone(),
                env: self.env.clone(),
                approved: approved.cloned(),
            }
            .into());
        }
        Ok(approved.cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stricter_policy_wins_value_by_value() {
        let a = Policy::default();
        let b = Policy {
            expiry_warning_days: 10,
            recovery_test_days: 400,
            share_proof_days: 100,
            pending_max_age_days: 30,
            rotation_warning_days: Some(3),
            revocation_test_days: Some(90),
        };
        let s = stricter(&a, &b);
        assert_eq!(s.rotation_warning_days, Some(14));
        assert_eq!(stricter(&a, &a).rotation_warning_days, None);
        assert_eq!(s.revocation_test_days, Some(90));
        assert_eq!(stricter(&a, &a).revocation_test_days, None);
        let c = Policy {
            revocation_test_days: Some(400),
            ..Policy::default()
        };
        assert_eq!(stricter(&a, &c).revocation_test(), 365);
        assert_eq!(s.expiry_warning_days, 30);
        assert_eq!(s.recovery_test_days, 180);
        assert_eq!(s.share_proof_days, 100);
        assert_eq!(s.pending_max_age_days, 7);
    }

    #[test]
    fn settings_signed_before_rotation_warnings_keep_their_bytes() {
        // A policy without rotation_warning_days (or revocation_test_days) serializes
        // as it did before the member existed, so settings signed then still verify.
        let json = serde_json::to_string(&Policy::default()).unwrap();
        assert_eq!(
            json,
            r#"{"expiry_warning_days":30,"recovery_test_days":180,"share_proof_days":365,"pending_max_age_days":7}"#
        );
        assert_eq!(Policy::default().rotation_warning(90), 14);
        assert_eq!(Policy::default().rotation_warning(28), 7);
    }
}
