//! Governance: `list`, the inventory of every bootstrap credential, and `check`, the
//! findings an auditor or a CI job acts on.
//!
//! Secret-zero guidance names what shows the controls work: every bootstrap secret has a
//! named owner, one environment, monitored access, a tested recovery and revocation
//! path and a rotation cadence that is kept, and no secret is shared across
//! environments. `check` measures each of those from the store and its logs (and, with
//! `--hsm`, from the tokens), and reports findings with a stable id, a severity, what
//! they concern and what to do. It exits 1 when an error-level finding remains.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::audit::{self, DamageKind, Entry as LogEntry, Outcome};
use crate::ceremony::{Context, Report, verify_record};
use crate::clock;
use crate::error::{Error, Result};
use crate::hsm::{Hsm, PublicKey};
use crate::seal::{Origin, ReuseMark, SealRecord};
use crate::secret::Credential;
use crate::store::{Policy, Store};

// ---- reuse marks ------------------------------------------------------------------

/// Returns the marks that let `check` see one secret sealed in two environments, or
/// `None` when the store has no id to salt them with.
///
/// A deterministic function of a secret, stored where an attacker can read it, lets
/// them test guesses offline; for a low-entropy imported secret (a password, a short
/// token) that would give it away. So an imported secret gets only a *tag*: 16 bits of
/// scrypt (N = 2^14, r = 8, p = 1) salted with the store id. Sixteen bits cannot
/// confirm a guess — of any dictionary larger than 65,536 words, many candidates share
/// the tag — and scrypt makes each guess slow; equal tags in two environments mean
/// "the same secret, or one pair in 65,536 that matches by chance" — an error all the
/// same, since its remedy (rotating one of the two) is right either way. A
/// generated credential is random (at least 16 bytes from the HSM), so nothing is lost
/// by also storing a full salted SHA-256 *digest*, and two generated credentials are
/// told apart exactly. The tag of every seal, generated or imported, is compared, so a
/// generated credential later imported elsewhere is caught too. A generated
/// credential's plaintext never leaves the HSM at generate, so its marks are taken at
/// its first drill or rotation, which rewrite its record.
pub fn reuse_mark(store: &Store, credential: &Credential, origin: Origin) -> Option<ReuseMark> {
    let id = store.config().store_id.as_deref()?;
    let salt = Sha256::digest(format!("zeroth-reuse-tag-v1\n{id}").as_bytes());
    let params = scrypt::Params::new(14, 8, 1).ok()?;
    let mut tag = [0u8; 2];
    scrypt::scrypt(credential.expose(), &salt, &params, &mut tag).ok()?;
    let digest = (origin == Origin::Generated).then(|| {
        let mut h = Sha256::new();
        h.update(b"zeroth-reuse-digest-v1\n");
        h.update(id.as_bytes());
        h.update(credential.expose());
        hex::encode(h.finalize())
    });
    Some(ReuseMark {
        tag: hex::encode(tag),
        digest,
    })
}

// ---- what the logs say about each seal --------------------------------------------

/// What the ceremony log says about one seal.
#[derive(Debug, Clone, Default)]
struct Activity {
    last_unsealed: Option<String>,
    last_drilled: Option<String>,
    /// Refused or failed unseals after the last successful one.
    failed_since_success: u32,
}

fn activity(store: &Store, env: &str) -> BTreeMap<String, Activity> {
    let mut out: BTreeMap<String, Activity> = BTreeMap::new();
    let Ok(data) = std::fs::read(audit::log_path(store, env)) else {
        return out;
    };
    for line in data.split(|&b| b == b'\n') {
        let Ok(e) = serde_json::from_slice::<LogEntry>(line) else {
            continue;
        };
        let Some(seal) = e.seal.clone() else {
            continue;
        };
        let a = out.entry(seal).or_default();
        // The vault ceremonies recover the key when custodians are named (a vault
        // unseal of servers already unsealed recovers nothing).
        let vault_recovery = matches!(
            e.event.as_str(),
            "vault-unseal" | "vault-root" | "vault-rotate" | "vault-rotate-confirm"
        );
        match (e.event.as_str(), e.outcome) {
            ("unseal" | "rotate-confirm", Outcome::Ok) => {
                a.last_unsealed = Some(e.time.clone());
                a.failed_since_success = 0;
            }
            (_, Outcome::Ok) if vault_recovery && !e.custodians.is_empty() => {
                a.last_unsealed = Some(e.time.clone());
                a.failed_since_success = 0;
            }
            ("unseal" | "vault-unseal" | "vault-root", Outcome::Refused | Outcome::Failed) => {
                a.failed_since_success += 1
            }
            ("drill", Outcome::Ok) => a.last_drilled = Some(e.time.clone()),
            _ => {}
        }
    }
    out
}

// ---- the inventory ----------------------------------------------------------------

/// One line of the inventory.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    /// Seal name.
    pub name: String,
    /// Environment.
    pub env: String,
    /// Owner.
    pub owner: String,
    /// Purpose.
    pub purpose: String,
    /// Threshold.
    pub threshold: u8,
    /// Number of custodians.
    #[serde(rename = "n")]
    pub n: usize,
    /// The custodians, in share order.
    pub custodians: Vec<String>,
    /// Credential version.
    pub version: u32,
    /// Share set.
    pub set: u32,
    /// When created.
    pub created: String,
    /// Last successful unseal (from the log).
    pub last_unsealed: Option<String>,
    /// Last successful drill (from the log).
    pub last_drilled: Option<String>,
    /// When the next rotation is due.
    pub rotation_due: String,
    /// Expiry, if any.
    pub expires: Option<String>,
    /// The most pressing of `flags`, or active.
    pub status: String,
    /// Every state that applies: invalid (the record fails its checks), revoked,
    /// expired, needs-rekey (an offboarded custodian holds a share of the current
    /// set), pending (a rekey or rotation awaits confirmation), rotation-overdue.
    pub flags: Vec<String>,
    /// The pending operation, if any: kind, id, when written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending: Option<serde_json::Value>,
    /// Offboarded custodians still holding a share of the current set.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub offboarded_holders: Vec<String>,
    /// Why a record is invalid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

fn rotation_due(record: &SealRecord) -> Option<OffsetDateTime> {
    clock::parse_instant(&record.sealed)
        .ok()
        .map(|t| t + time::Duration::days(i64::from(record.rotate_every_days)))
}

fn entry(
    store: &Store,
    record: &SealRecord,
    problem: Option<String>,
    act: &Activity,
    now: OffsetDateTime,
) -> Entry {
    let due = rotation_due(record);
    let expired = record
        .expires
        .as_deref()
        .and_then(|e| clock::parse_instant(e).ok())
        .is_some_and(|e| e <= now);
    let offboarded_holders: Vec<String> = record
        .custodians
        .iter()
        .filter(|c| {
            store
                .config()
                .custodians
                .get(&c.name)
                .is_some_and(|k| k.offboarded.is_some())
        })
        .map(|c| c.name.clone())
        .collect();
    let live = record.revoked.is_none();
    let flags: Vec<String> = [
        (problem.is_some(), "invalid"),
        (!live, "revoked"),
        (live && expired, "expired"),
        (live && !offboarded_holders.is_empty(), "needs-rekey"),
        (live && record.pending.is_some(), "pending"),
        (live && due.is_some_and(|d| d <= now), "rotation-overdue"),
    ]
    .into_iter()
    .filter(|(on, _)| *on)
    .map(|(_, f)| f.to_string())
    .collect();
    let status = flags.first().cloned().unwrap_or_else(|| "active".into());
    Entry {
        name: record.name.clone(),
        env: record.env.clone(),
        owner: record.owner.clone(),
        purpose: record.purpose.clone(),
        threshold: record.threshold,
        n: record.custodians.len(),
        custodians: record.custodians.iter().map(|c| c.name.clone()).collect(),
        version: record.version,
        set: record.set,
        created: record.created.clone(),
        last_unsealed: act.last_unsealed.clone(),
        last_drilled: act.last_drilled.clone(),
        rotation_due: due.map(clock::format).unwrap_or_default(),
        expires: record.expires.clone(),
        status,
        flags,
        pending: record.pending.as_ref().map(|p| {
            json!({ "kind": p.kind.name(), "operation": p.id, "created": p.created, "operator": p.operator })
        }),
        offboarded_holders,
        problem,
    }
}

/// Verifies every record's signature on every core; returns each record with the
/// reason it is invalid, if it is. Each environment's key is read and checked against
/// `zeroth.toml` once, not once per record.
fn verified(store: &Store, records: Vec<SealRecord>) -> Vec<(SealRecord, Option<String>)> {
    let envs: BTreeSet<&str> = records.iter().map(|r| r.env.as_str()).collect();
    let keys: BTreeMap<String, std::result::Result<PublicKey, String>> = envs
        .into_iter()
        .map(|e| {
            (
                e.to_string(),
                env_key(store, e).map_err(|x| x.message().to_string()),
            )
        })
        .collect();
    let check = |r: &SealRecord| -> Option<String> {
        match keys.get(&r.env) {
            Some(Ok(key)) => verify_record(store, r, Some(key))
                .err()
                .map(|e| e.message().to_string()),
            Some(Err(why)) => Some(why.clone()),
            None => Some(format!("environment '{}' is not in zeroth.toml", r.env)),
        }
    };
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(16);
    if threads <= 1 || records.len() < 64 {
        return records
            .into_iter()
            .map(|r| {
                let p = check(&r);
                (r, p)
            })
            .collect();
    }
    let chunk = records.len().div_ceil(threads);
    let check = &check;
    let problems: Vec<Option<String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = records
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().map(check).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    });
    records.into_iter().zip(problems).collect()
}

/// The public key of `env` from the store, refused if it does not match the
/// fingerprint `zeroth.toml` records.
pub(crate) fn env_key(store: &Store, env: &str) -> Result<PublicKey> {
    let cfg = store.env(env)?;
    let key = store.public_key(env)?;
    if key.fingerprint() != cfg.sign_key_fingerprint {
        return Err(Error::Refused(format!(
            "{} ({}) does not match the fingerprint zeroth.toml records for environment '{env}' ({}): the store's key was replaced",
            store.public_key_path(env).display(),
            key.fingerprint(),
            cfg.sign_key_fingerprint
        )));
    }
    Ok(key)
}

/// The records of the store (optionally of one environment), verified, with their log
/// activity, and the records that could not be read.
#[allow(clippy::type_complexity)]
fn inventory(
    store: &Store,
    env: Option<&str>,
) -> Result<(Vec<(SealRecord, Option<String>, Activity)>, Vec<String>)> {
    if let Some(env) = env {
        store.env(env)?;
    }
    let mut records = Vec::new();
    let mut unreadable = Vec::new();
    for r in store.records()? {
        match r {
            Ok(record) if env.is_none_or(|e| e == record.env) => records.push(record),
            Ok(_) => {}
            Err(e) => unreadable.push(e.message().to_string()),
        }
    }
    let envs: BTreeSet<String> = records.iter().map(|r| r.env.clone()).collect();
    let activity: BTreeMap<String, BTreeMap<String, Activity>> = envs
        .into_iter()
        .map(|e| (e.clone(), activity(store, &e)))
        .collect();
    let out = verified(store, records)
        .into_iter()
        .map(|(r, p)| {
            let act = activity
                .get(&r.env)
                .and_then(|a| a.get(&r.name))
                .cloned()
                .unwrap_or_default();
            (r, p, act)
        })
        .collect();
    Ok((out, unreadable))
}

/// Lists the seals, filtered by environment, owner and custodian.
pub fn list(
    ctx: &Context,
    env: Option<&str>,
    owner: Option<&str>,
    custodian: Option<&str>,
) -> Result<Report> {
    let store = Store::open(&ctx.store)?;
    let now = clock::now()?;
    let (records, unreadable) = inventory(&store, env)?;
    let entries: Vec<Entry> = records
        .iter()
        .filter(|(r, _, _)| owner.is_none_or(|o| r.owner == o))
        .filter(|(r, _, _)| custodian.is_none_or(|c| r.custodians.iter().any(|k| k.name == c)))
        .map(|(r, p, a)| entry(&store, r, p.clone(), a, now))
        .collect();
    let day = |s: &str| s.get(..10).unwrap_or(s).to_string();
    let opt_day = |s: &Option<String>| s.as_deref().map(day).unwrap_or_else(|| "never".into());
    let mut rows = vec![
        [
            "SEAL",
            "ENV",
            "OWNER",
            "T/N",
            "VERSION",
            "CREATED",
            "UNSEALED",
            "DRILLED",
            "ROTATE BY",
            "EXPIRES",
            "STATUS",
        ]
        .map(String::from),
    ];
    for e in &entries {
        rows.push([
            e.name.clone(),
            e.env.clone(),
            e.owner.clone(),
            format!("{}/{}", e.threshold, e.n),
            format!("v{}", e.version),
            day(&e.created),
            opt_day(&e.last_unsealed),
            opt_day(&e.last_drilled),
            day(&e.rotation_due),
            e.expires
                .as_deref()
                .map(day)
                .unwrap_or_else(|| "never".into()),
            if e.flags.is_empty() {
                "active".to_string()
            } else {
                e.flags.join(",")
            },
        ]);
    }
    let mut text = if entries.is_empty() {
        "no seals\n".to_string()
    } else {
        crate::table(&rows)
    };
    for e in &entries {
        if let Some(p) = &e.problem {
            text.push_str(&format!("invalid: {p}\n"));
        }
        if let Some(p) = &e.pending {
            let id = p["operation"].as_str().unwrap_or_default();
            text.push_str(&format!(
                "pending: {} {id} of '{}', written {} by {}: confirm with --confirm {id}, or --cancel {id}\n",
                p["kind"].as_str().unwrap_or_default(),
                e.name,
                p["created"].as_str().unwrap_or_default(),
                p["operator"].as_str().unwrap_or_default(),
            ));
        }
        if !e.offboarded_holders.is_empty() {
            text.push_str(&format!(
                "needs-rekey: '{}': offboarded {} still holding a share: zeroth rekey {} --without {} …\n",
                e.name,
                e.offboarded_holders.join(", "),
                e.name,
                e.offboarded_holders.join(" --without ")
            ));
        }
    }
    for u in &unreadable {
        text.push_str(&format!("unreadable: {u}\n"));
    }
    Ok(Report::new(
        text,
        json!({ "seals": entries, "unreadable": unreadable }),
    ))
}

// ---- the findings -----------------------------------------------------------------

/// How much a finding matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// `check` exits 1 while one remains.
    Error,
    /// Worth acting on; does not fail `check`.
    Warning,
}

/// One governance finding. `id` is stable: CI configurations and dashboards key on it.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// Stable identifier (`rotation-overdue`, `secret-reuse`, …).
    pub id: &'static str,
    /// Error or warning.
    pub severity: Severity,
    /// The environment concerned.
    pub env: Option<String>,
    /// The seal concerned.
    pub seal: Option<String>,
    /// The custodian concerned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custodian: Option<String>,
    /// What is wrong.
    pub message: String,
    /// What to do.
    pub action: String,
}

/// Every finding id `check` can report, with its severity, for the documentation and
/// the tests.
pub const FINDINGS: &[(&str, Severity)] = &[
    ("record-invalid", Severity::Error),
    ("rotation-overdue", Severity::Error),
    ("expired", Severity::Error),
    ("expiring-soon", Severity::Warning),
    ("recovery-untested", Severity::Error),
    ("share-unproven", Severity::Warning),
    ("offboarded-holder", Severity::Error),
    ("threshold-one", Severity::Error),
    ("threshold-all", Severity::Warning),
    ("secret-reuse", Severity::Error),
    ("token-shared", Severity::Error),
    ("token-unmarked", Severity::Error),
    ("token-unreachable", Severity::Error),
    ("orphan-key", Severity::Warning),
    ("revoked-key-present", Severity::Error),
    ("log-damaged", Severity::Error),
    ("log-unsigned", Severity::Warning),
    ("pending-stale", Severity::Warning),
    ("failed-unseals", Severity::Warning),
];

fn severity(id: &'static str) -> Severity {
    FINDINGS
        .iter()
        .find(|(i, _)| *i == id)
        .map(|(_, s)| *s)
        .unwrap_or(Severity::Error)
}

struct Findings(Vec<Finding>);

impl Findings {
    fn add(
        &mut self,
        id: &'static str,
        env: &str,
        seal: Option<&str>,
        custodian: Option<&str>,
        message: String,
        action: String,
    ) {
        self.0.push(Finding {
            id,
            severity: severity(id),
            env: Some(env.to_string()),
            seal: seal.map(str::to_string),
            custodian: custodian.map(str::to_string),
            message,
            action,
        });
    }
}

fn days_since(t: &str, now: OffsetDateTime) -> Option<i64> {
    clock::parse_instant(t).ok().map(|t| (now - t).whole_days())
}

fn later(a: &Option<String>, b: &Option<String>) -> Option<String> {
    match (a, b) {
        (Some(x), Some(y)) => Some(if x >= y { x.clone() } else { y.clone() }),
        (x, y) => x.clone().or_else(|| y.clone()),
    }
}

fn seal_findings(
    f: &mut Findings,
    store: &Store,
    policy: &Policy,
    record: &SealRecord,
    problem: &Option<String>,
    act: &Activity,
    now: OffsetDateTime,
) {
    let (env, seal) = (record.env.as_str(), Some(record.name.as_str()));
    if let Some(p) = problem {
        f.add(
            "record-invalid",
            env,
            seal,
            None,
            p.clone(),
            "restore the record from a trusted copy (git history), then run zeroth audit verify"
                .into(),
        );
        return;
    }
    if record.revoked.is_some() {
        return;
    }
    if let Some(due) = rotation_due(record) {
        if due <= now {
            f.add(
                "rotation-overdue",
                env,
                seal,
                None,
                format!(
                    "rotation was due {} ({} days ago; every {} days)",
                    clock::format(due),
                    (now - due).whole_days(),
                    record.rotate_every_days
                ),
                format!(
                    "rotate it: zeroth rotate {} --share … --out-dir …",
                    record.name
                ),
            );
        }
    }
    if let Some(exp) = record
        .expires
        .as_deref()
        .and_then(|e| clock::parse_instant(e).ok())
    {
        if exp <= now {
            f.add(
                "expired",
                env,
                seal,
                None,
                format!("expired at {}", clock::format(exp)),
                "replace it with a new seal, then revoke this one".into(),
            );
        } else if (exp - now).whole_days() < i64::from(policy.expiry_warning_days) {
            f.add(
                "expiring-soon",
                env,
                seal,
                None,
                format!(
                    "expires at {} (in {} days)",
                    clock::format(exp),
                    (exp - now).whole_days()
                ),
                "plan its replacement".into(),
            );
        }
    }
    let created_days = days_since(&record.created, now).unwrap_or(0);
    let last_recovery = later(&act.last_unsealed, &act.last_drilled);
    let recovery_age = last_recovery
        .as_deref()
        .and_then(|t| days_since(t, now))
        .unwrap_or(created_days);
    if recovery_age > i64::from(policy.recovery_test_days) {
        f.add(
            "recovery-untested",
            env,
            seal,
            None,
            match &last_recovery {
                Some(t) => format!("last recovered {t} ({recovery_age} days ago; policy: {} days)", policy.recovery_test_days),
                None => format!(
                    "never recovered since it was created {created_days} days ago (policy: {} days)",
                    policy.recovery_test_days
                ),
            },
            format!("run a drill: zeroth drill {} --share …", record.name),
        );
    }
    // A share counts from when it was dealt (the set's confirmation or creation).
    let dealt = record
        .history
        .last()
        .map(|h| h.retired.clone())
        .unwrap_or_else(|| record.created.clone());
    for c in &record.custodians {
        let since = c.last_proven.clone().unwrap_or_else(|| dealt.clone());
        let age = days_since(&since, now).unwrap_or(0);
        if age > i64::from(policy.share_proof_days) {
            f.add(
                "share-unproven",
                env,
                seal,
                Some(&c.name),
                match &c.last_proven {
                    Some(t) => format!("the share of {} was last proven {t} ({age} days ago)", c.name),
                    None => format!("the share of {} was never proven in a drill ({age} days since it was dealt)", c.name),
                },
                format!("a drill with {}'s share: zeroth drill {} --share …", c.name, record.name),
            );
        }
        if let Some(off) = store
            .config()
            .custodians
            .get(&c.name)
            .and_then(|k| k.offboarded.as_ref())
        {
            f.add(
                "offboarded-holder",
                env,
                seal,
                Some(&c.name),
                format!(
                    "{} was offboarded at {off} and still holds a share of the current set",
                    c.name
                ),
                format!(
                    "zeroth rekey {} --without {} --share … --out-dir …",
                    record.name, c.name
                ),
            );
        }
    }
    let n = record.custodians.len();
    if record.threshold == 1 {
        f.add(
            "threshold-one",
            env,
            seal,
            None,
            format!("threshold 1 of {n}: any single custodian, with the HSM, recovers it"),
            format!(
                "rekey it with --threshold 2 or more: zeroth rekey {} --threshold 2 …",
                record.name
            ),
        );
    } else if usize::from(record.threshold) == n {
        f.add(
            "threshold-all",
            env,
            seal,
            None,
            format!("threshold {n} of {n}: one lost share locks the credential out for good"),
            format!(
                "rekey it with a spare: zeroth rekey {} --custodian NAME …",
                record.name
            ),
        );
    }
    if let Some(p) = &record.pending {
        if let Some(age) = days_since(&p.created, now) {
            if age > i64::from(policy.pending_max_age_days) {
                f.add(
                    "pending-stale",
                    env,
                    seal,
                    None,
                    format!("pending {} {} was written {} by {} ({age} days ago)", p.kind.name(), p.id, p.created, p.operator),
                    format!(
                        "confirm it (zeroth {} {} --confirm {} --share NEW…) or drop it (--cancel {})",
                        p.kind.name(),
                        record.name,
                        p.id,
                        p.id
                    ),
                );
            }
        }
    }
    if act.failed_since_success > 0 {
        f.add(
            "failed-unseals",
            env,
            seal,
            None,
            format!(
                "{} refused or failed unseal attempt{} since the last successful one",
                act.failed_since_success,
                if act.failed_since_success == 1 {
                    ""
                } else {
                    "s"
                }
            ),
            format!(
                "find out who tried and why: zeroth audit show --seal {}",
                record.name
            ),
        );
    }
}

/// Pairs of live seals in different environments with matching reuse marks. With
/// `only_env`, only the pairs with a side in it, reported on that side.
fn reuse_findings(f: &mut Findings, records: &[&SealRecord], only_env: Option<&str>) {
    let live: Vec<(&SealRecord, &ReuseMark)> = records
        .iter()
        .filter(|r| r.revoked.is_none())
        .filter_map(|r| r.credential.reuse.as_ref().map(|m| (*r, m)))
        .collect();
    let mut by_tag: BTreeMap<(&str, u32), Vec<(&SealRecord, &ReuseMark)>> = BTreeMap::new();
    for (r, m) in &live {
        by_tag
            .entry((m.tag.as_str(), r.credential.length))
            .or_default()
            .push((r, m));
    }
    for group in by_tag.values() {
        for (i, (a, ma)) in group.iter().enumerate() {
            for (b, mb) in &group[i + 1..] {
                if a.env == b.env {
                    continue;
                }
                // Report on the side in the environment asked for (the first otherwise),
                // and name the other as the one to rotate.
                let (a, b) = match only_env {
                    Some(e) if b.env == e => (b, a),
                    Some(e) if a.env != e => continue,
                    _ => (a, b),
                };
                let message = match (&ma.digest, &mb.digest) {
                    (Some(x), Some(y)) if x == y => {
                        format!(
                            "'{}' ({}) and '{}' ({}) seal the same secret",
                            a.name, a.env, b.name, b.env
                        )
                    }
                    // Two generated credentials whose digests differ are different.
                    (Some(_), Some(_)) => continue,
                    _ => format!(
                        "'{}' ({}) and '{}' ({}) seal the same secret, or one of the 1 in 65,536 pairs whose reuse tags match by chance",
                        a.name, a.env, b.name, b.env
                    ),
                };
                f.add(
                    "secret-reuse",
                    &a.env,
                    Some(&a.name),
                    None,
                    message,
                    format!(
                        "one secret per environment: rotate '{}' in {} (zeroth rotate {} …) so a compromise of one cannot open the other",
                        b.name, b.env, b.name
                    ),
                );
            }
        }
    }
}

fn env_findings(f: &mut Findings, store: &Store, env: &str, records: &[&SealRecord]) -> Result<()> {
    let key = store.public_key(env)?;
    let records: Vec<SealRecord> = records.iter().map(|r| (*r).clone()).collect();
    let v = audit::verify_with(store, env, &key, &records)?;
    if let Some(d) = &v.damage {
        let (id, action) = if d.kind == DamageKind::Unsigned {
            (
                "log-unsigned",
                format!(
                    "review the unsigned entries (zeroth audit show --env {env}) and sign over them: zeroth audit attest --env {env}"
                ),
            )
        } else {
            (
                "log-damaged",
                format!(
                    "restore {} from a trusted copy; until then its history cannot be trusted",
                    v.path.display()
                ),
            )
        };
        f.add(
            id,
            env,
            None,
            None,
            format!("entry {}: {}: {}", d.seq, d.kind.name(), d.detail),
            action,
        );
    }
    Ok(())
}

fn token_shared_findings(f: &mut Findings, store: &Store, envs: &[String]) {
    let mut by_token: BTreeMap<(String, String), Vec<&str>> = BTreeMap::new();
    for (name, cfg) in &store.config().env {
        by_token
            .entry((cfg.serial.clone(), cfg.token.clone()))
            .or_default()
            .push(name);
    }
    for ((serial, label), names) in by_token {
        if names.len() > 1 && names.iter().any(|n| envs.iter().any(|e| e == n)) {
            f.add(
                "token-shared",
                names[0],
                None,
                None,
                format!("token '{label}' (serial {serial}) serves {}: a compromise of one opens the others", names.join(" and ")),
                "give each environment its own token, then move its seals (generate anew and revoke)".into(),
            );
        }
    }
}

/// With `--hsm`: the token of `env` carries its marker, holds no key that no record
/// references, and no key of a revoked seal. Needs the PIN; logs nothing.
fn hsm_findings(
    f: &mut Findings,
    ctx: &Context,
    store: &Store,
    env: &str,
    records: &[&SealRecord],
) {
    let result = (|| -> Result<()> {
        let cfg = store.env(env)?;
        let hsm = Hsm::load(&cfg.module)?;
        let inner = (|| -> Result<()> {
            let token = hsm.find_token(&cfg.token)?;
            if token.serial != cfg.serial {
                f.add(
                    "token-unmarked",
                    env,
                    None,
                    None,
                    format!(
                        "token '{}' has serial {}, not the {} the environment is bound to",
                        token.label, token.serial, cfg.serial
                    ),
                    "find the environment's token, or bind the environment anew".into(),
                );
                return Ok(());
            }
            let session = {
                let pin = crate::pin::read_pin(ctx.pin_file.as_deref(), &token.label)?;
                hsm.login(&token, &pin)?
            };
            match session.marker()? {
                Some(m) if m == env => {}
                other => f.add(
                    "token-unmarked",
                    env,
                    None,
                    None,
                    match other {
                        Some(m) => format!("token '{}' is marked for environment '{m}', not '{env}'", token.label),
                        None => format!("token '{}' carries no zeroth environment marker: it was reset or replaced", token.label),
                    },
                    "stop using it for this environment; investigate who changed the token".into(),
                ),
            }
            let keys = session.seal_keys_with_prefix(&format!("zeroth:{env}:"))?;
            let present: BTreeSet<(String, String)> = keys
                .iter()
                .map(|(l, i)| (l.clone(), hex::encode(i)))
                .collect();
            for r in records.iter().filter(|r| r.revoked.is_some()) {
                if present.contains(&(r.key.label.clone(), r.key.id.clone())) {
                    f.add(
                        "revoked-key-present",
                        env,
                        Some(&r.name),
                        None,
                        format!(
                            "'{}' is revoked but its key '{}' is still on the token",
                            r.name, r.key.label
                        ),
                        format!("finish the revocation: zeroth cleanup --env {env} --destroy"),
                    );
                }
            }
            let referenced: BTreeSet<(String, String)> = records
                .iter()
                .filter(|r| r.revoked.is_none())
                .flat_map(|r| {
                    let mut v = vec![(r.key.label.clone(), r.key.id.clone())];
                    if let Some(p) = &r.pending {
                        v.push((p.key.label.clone(), p.key.id.clone()));
                    }
                    v
                })
                .collect();
            let revoked: BTreeSet<(String, String)> = records
                .iter()
                .filter(|r| r.revoked.is_some())
                .map(|r| (r.key.label.clone(), r.key.id.clone()))
                .collect();
            let sign = crate::hsm::signing_label(env);
            for k in present
                .iter()
                .filter(|k| k.0 != sign && !referenced.contains(*k) && !revoked.contains(*k))
            {
                f.add(
                    "orphan-key",
                    env,
                    None,
                    None,
                    format!("key '{}' (id {}) is on the token but no record references it", k.0, k.1),
                    format!("left by an interrupted ceremony: zeroth cleanup --env {env} (then --destroy)"),
                );
            }
            Ok(())
        })();
        hsm.close();
        inner
    })();
    if let Err(e) = result {
        f.add(
            "token-unreachable",
            env,
            None,
            None,
            e.message().to_string(),
            "check the module path, the token and the PIN".into(),
        );
    }
}

/// `check`: the governance findings; exit 1 when an error-level one remains.
pub fn check(ctx: &Context, env: Option<&str>, hsm: bool) -> Result<Report> {
    let store = Store::open(&ctx.store)?;
    let now = clock::now()?;
    let policy = store.config().policy.clone();
    validate_policy(&policy)?;
    let (records, unreadable) = inventory(&store, env)?;
    let envs: Vec<String> = match env {
        Some(e) => vec![e.to_string()],
        None => store.config().env.keys().cloned().collect(),
    };
    let mut f = Findings(Vec::new());
    for u in &unreadable {
        f.0.push(Finding {
            id: "record-invalid",
            severity: Severity::Error,
            env: None,
            seal: None,
            custodian: None,
            message: u.clone(),
            action: "restore the record from a trusted copy".into(),
        });
    }
    for (r, p, a) in &records {
        seal_findings(&mut f, &store, &policy, r, p, a, now);
    }
    // Reuse is across environments: compare against every seal of the store.
    let all: Vec<SealRecord> = if env.is_some() {
        store.records()?.into_iter().flatten().collect()
    } else {
        records.iter().map(|(r, _, _)| r.clone()).collect()
    };
    let all_refs: Vec<&SealRecord> = all.iter().collect();
    reuse_findings(&mut f, &all_refs, env);
    token_shared_findings(&mut f, &store, &envs);
    for e in &envs {
        let in_env: Vec<&SealRecord> = records
            .iter()
            .map(|(r, _, _)| r)
            .filter(|r| &r.env == e)
            .collect();
        env_findings(&mut f, &store, e, &in_env)?;
        if hsm {
            hsm_findings(&mut f, ctx, &store, e, &in_env);
        }
    }
    f.0.sort_by(|a, b| {
        (a.severity, &a.env, &a.seal, a.id, &a.custodian).cmp(&(
            b.severity,
            &b.env,
            &b.seal,
            b.id,
            &b.custodian,
        ))
    });
    let errors = f.0.iter().filter(|x| x.severity == Severity::Error).count();
    let warnings = f.0.len() - errors;
    let mut text = String::new();
    for x in &f.0 {
        let what = match (&x.env, &x.seal, &x.custodian) {
            (Some(e), Some(s), Some(c)) => format!("{e}/{s} ({c})"),
            (Some(e), Some(s), None) => format!("{e}/{s}"),
            (Some(e), None, _) => e.clone(),
            _ => "-".into(),
        };
        text.push_str(&format!(
            "{:<7}  {:<21}  {what}: {}\n{:>32}→ {}\n",
            match x.severity {
                Severity::Error => "ERROR",
                Severity::Warning => "warning",
            },
            x.id,
            x.message,
            "",
            x.action
        ));
    }
    text.push_str(&format!(
        "{errors} error{}, {warnings} warning{} in {} seal{} and {} environment{}{}\n",
        if errors == 1 { "" } else { "s" },
        if warnings == 1 { "" } else { "s" },
        records.len(),
        if records.len() == 1 { "" } else { "s" },
        envs.len(),
        if envs.len() == 1 { "" } else { "s" },
        if hsm { " (tokens inspected)" } else { "" }
    ));
    let mut report = Report::new(
        text,
        json!({
            "findings": f.0,
            "summary": {
                "errors": errors,
                "warnings": warnings,
                "seals": records.len(),
                "environments": envs,
                "hsm": hsm,
                "time": clock::format(now),
            },
            "policy": policy,
        }),
    );
    if errors > 0 {
        report.exit_code = 1;
    }
    Ok(report)
}

/// Refuses a policy that makes no sense.
pub fn validate_policy(policy: &Policy) -> Result<()> {
    for (name, v) in [
        ("recovery_test_days", policy.recovery_test_days),
        ("share_proof_days", policy.share_proof_days),
    ] {
        if v == 0 {
            return Err(Error::Usage(format!(
                "[policy] {name} = 0 in zeroth.toml: give a number of days above 0"
            )));
        }
    }
    Ok(())
}
