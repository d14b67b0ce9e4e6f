//! Governance: `list`, the inventory of every bootstrap credential, and `check`, the
//! findings an auditor or a CI job acts on.
//!
//! Secret-zero guidance names what shows the controls work: every bootstrap secret has a
//! named owner, one environment, monitored access, a tested recovery and revocation
//! path and a rotation cadence that is kept, and no secret is shared across
//! environments. `check` measures each of those from the store and its logs (and, with
//! `--hsm`, from the tokens), and reports findings with a stable id, a severity, what
//! they concern and what to do. It exits 1 when an error-level finding remains.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;

use crate::audit::{self, DamageKind, Entry as LogEntry, Outcome};
use crate::cache::{RecordDigest, Rows};
use crate::ceremony::{Context, Report, judge_stale_as, verify_record_signed};
use crate::clock;
use crate::error::{Error, RecordError, Result};
use crate::key::PublicKey;
use crate::seal::{Origin, ReuseMark, SealRecord};
use crate::store::{Policy, Store};
use crate::trust::KeySource;

pub use crate::reuse::{REUSE_MIN_LENGTH, reuse_mark};

// ---- what the logs say about each seal --------------------------------------------

/// What the ceremony log says about one seal.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Activity {
    last_unsealed: Option<String>,
    last_drilled: Option<String>,
    /// Last successful revocation drill (`revoke --drill`).
    last_revocation_drill: Option<String>,
    /// Refused or failed unseals after the last successful one.
    failed_since_success: u32,
    /// What `check` judges of who recovered the seal from where, and of refused
    /// attempts (`list` and its cache need none of it). Boxed, and only made when
    /// there is something to keep: `list` holds an activity for each of 10,000 seals.
    #[serde(skip)]
    access: Option<Box<Access>>,
}

impl Activity {
    /// The access record, made on first use.
    fn access_mut(&mut self) -> &mut Access {
        self.access.get_or_insert_with(Box::default)
    }

    /// The access record, empty when nothing was kept.
    fn access(&self) -> &Access {
        static NONE: Access = Access {
            operators: BTreeSet::new(),
            hosts: BTreeSet::new(),
            unfamiliar: Vec::new(),
            refused: std::collections::VecDeque::new(),
            bursts: Vec::new(),
            recoveries: Vec::new(),
        };
        self.access.as_deref().unwrap_or(&NONE)
    }
}

/// How many refused attempts to recover a seal within [`BURST_WINDOW_MINUTES`] are a
/// burst (`access-refused-burst`).
const BURST_ATTEMPTS: usize = 3;
/// The window of a burst.
const BURST_WINDOW_MINUTES: i64 = 60;
/// How far back `check` reports unfamiliar recoveries and bursts (a finding about an
/// event older than this has been seen or is moot).
const ACCESS_REVIEW_DAYS: i64 = 30;

/// The access to one seal the log shows: the operators and hosts seen in its
/// successful, vouched-for ceremonies; recoveries by an operator or from a host none of
/// the earlier ones had; bursts of refused attempts.
#[derive(Debug, Clone, Default)]
struct Access {
    operators: BTreeSet<String>,
    hosts: BTreeSet<String>,
    /// (time, event, operator if new, host if new).
    unfamiliar: Vec<(OffsetDateTime, String, Option<String>, Option<String>)>,
    /// The refused attempts within the last window.
    refused: std::collections::VecDeque<OffsetDateTime>,
    /// (first, last, attempts) of each burst.
    bursts: Vec<(OffsetDateTime, OffsetDateTime, usize)>,
    /// Every successful, vouched-for recovery: when, its event, and whether it said why.
    recoveries: Vec<(OffsetDateTime, String, bool)>,
}

impl Access {
    fn recovered(&mut self, e: &LogEntry) {
        if let Ok(t) = clock::parse_instant(&e.time) {
            self.recoveries
                .push((t, e.event.clone(), e.reason.is_some()));
            let op = (!self.operators.contains(&e.operator)).then(|| e.operator.clone());
            let host = (!self.hosts.contains(&e.host)).then(|| e.host.clone());
            if op.is_some() || host.is_some() {
                self.unfamiliar.push((t, e.event.clone(), op, host));
            }
        }
    }

    fn seen(&mut self, e: &LogEntry) {
        if !self.operators.contains(&e.operator) {
            self.operators.insert(e.operator.clone());
        }
        if !self.hosts.contains(&e.host) {
            self.hosts.insert(e.host.clone());
        }
    }

    fn refused(&mut self, e: &LogEntry) {
        let Ok(t) = clock::parse_instant(&e.time) else {
            return;
        };
        let window = time::Duration::minutes(BURST_WINDOW_MINUTES);
        while self.refused.front().is_some_and(|f| t - *f > window) {
            self.refused.pop_front();
        }
        self.refused.push_back(t);
        if self.refused.len() >= BURST_ATTEMPTS {
            let first = self.refused.front().copied().unwrap_or(t);
            match self.bursts.last_mut() {
                // The same burst going on.
                Some(b) if first <= b.1 => {
                    b.1 = t;
                    b.2 += 1;
                }
                _ => self.bursts.push((first, t, self.refused.len())),
            }
        }
    }
}

/// What one pass over the log of an environment gives `list` and `check`: each seal's
/// activity and the last entry that names its record (for the staleness check), the
/// verification, and the entries that name no operator. Only entries the key vouches
/// for count as evidence that something was done (an unseal, a drill): an unsigned or
/// forged line can raise a finding, never clear one.
///
/// `list` keeps the view of a log that verified without damage in its cache
/// ([`crate::cache`]): the members it uses, not the verification or the unnamed
/// entries, which only `check` reports.
#[derive(Default, Serialize, Deserialize)]
struct LogView {
    /// Each seal the log names, in the order of their names: `list` and `check` take
    /// them out in the order of their rows, which is the same, so finding each is a
    /// step forward ([`LogView::take`]), with no hashing.
    seals: Vec<(String, SealLog)>,
    /// The last vouched-for entry that wrote the environment's settings.
    last_settings: crate::settings::LastSettings,
    /// Where [`LogView::take`] found the last seal.
    #[serde(skip)]
    cursor: usize,
    /// Whether the log was read with a key (a view from the cache was).
    #[serde(skip)]
    read: bool,
    #[serde(skip)]
    verification: Option<audit::Verification>,
    #[serde(skip)]
    unnamed: usize,
    #[serde(skip)]
    last_unnamed: Option<LogEntry>,
}

/// What the log says of one seal.
#[derive(Default, Serialize, Deserialize)]
struct SealLog {
    activity: Activity,
    /// The last vouched-for entry that names the seal's record.
    last_record: Option<audit::RecordEntry>,
}

impl LogView {
    /// Where `seal` is in [`LogView::seals`], by bisection.
    fn find(&self, seal: &str) -> Option<usize> {
        self.seals
            .binary_search_by(|(name, _)| name.as_str().cmp(seal))
            .ok()
    }

    /// Takes out what the log says of `seal` (an empty [`SealLog`] is left behind). Seals
    /// asked for in the order of their names are each found at or just after the one
    /// before; any other is looked up by bisection.
    fn take(&mut self, seal: &str) -> SealLog {
        // The cursor is one past a found seal, so never past the end.
        let at = self.seals[self.cursor..]
            .iter()
            .take(2)
            .position(|(name, _)| name == seal)
            .map(|i| self.cursor + i)
            .or_else(|| self.find(seal));
        match at {
            Some(i) => {
                self.cursor = i + 1;
                std::mem::take(&mut self.seals[i].1)
            }
            None => SealLog::default(),
        }
    }

    /// What the log says of `seal`, left in place.
    fn get(&self, seal: &str) -> Option<&SealLog> {
        self.find(seal).map(|i| &self.seals[i].1)
    }
}

/// Builds a [`LogView`] from the entries [`audit::scan`] hands it.
struct ViewBuilder<'v> {
    env: &'v str,
    view: LogView,
    /// The seals, by name, while the log is read ([`ViewBuilder::finish`] sorts them).
    seals: HashMap<String, SealLog>,
}

impl ViewBuilder<'_> {
    /// The view, its seals in the order of their names.
    fn finish(self) -> LogView {
        let mut view = self.view;
        view.seals = self.seals.into_iter().collect();
        view.seals.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        view
    }

    fn take(&mut self, mut e: LogEntry, attested: audit::Attested) {
        if e.env != self.env {
            return;
        }
        let vouched = attested.vouched();
        let Some(seal) = e.seal.take() else {
            if vouched
                && e.outcome == Outcome::Ok
                && crate::settings::SETTINGS_EVENTS.contains(&e.event.as_str())
                && let Some(found) = audit::RecordEntry::from_entry(e)
            {
                self.view.last_settings = Some(found);
            }
            return;
        };
        // A seal's name is copied once, at its first entry (100,000 entries name
        // 10,000 seals).
        if !self.seals.contains_key(&seal) {
            self.seals.insert(seal.clone(), SealLog::default());
        }
        let Some(log) = self.seals.get_mut(&seal) else {
            return;
        };
        let a = &mut log.activity;
        // The vault ceremonies recover the key when custodians are named (a vault
        // unseal of servers already unsealed recovers nothing).
        let vault_recovery = matches!(
            e.event.as_str(),
            "vault-unseal" | "vault-root" | "vault-rotate" | "vault-rotate-confirm"
        ) && !e.custodians.is_empty();
        match (e.event.as_str(), e.outcome) {
            ("unseal" | "rotate-confirm", Outcome::Ok) if vouched => {
                a.last_unsealed = Some(e.time.clone());
                a.failed_since_success = 0;
                if e.event == "unseal" {
                    a.access_mut().recovered(&e);
                }
            }
            (_, Outcome::Ok) if vault_recovery && vouched => {
                a.last_unsealed = Some(e.time.clone());
                a.failed_since_success = 0;
                // A rotation replaces the key rather than putting it to use.
                if matches!(e.event.as_str(), "vault-unseal" | "vault-root") {
                    a.access_mut().recovered(&e);
                }
            }
            (
                "unseal" | "delivery" | "vault-unseal" | "vault-root",
                Outcome::Refused | Outcome::Failed,
            ) => {
                a.failed_since_success += 1;
                if e.outcome == Outcome::Refused && e.event != "delivery" {
                    a.access_mut().refused(&e);
                }
            }
            ("drill", Outcome::Ok) if vouched => {
                a.last_drilled = Some(e.time.clone());
            }
            ("revoke-drill", Outcome::Ok) if vouched => {
                a.last_revocation_drill = Some(e.time.clone());
            }
            _ => {}
        }
        if e.outcome == Outcome::Ok && vouched {
            a.access_mut().seen(&e);
            if let Some(found) = audit::RecordEntry::from_entry(e) {
                log.last_record = Some(found);
            }
        }
    }
}

impl audit::Visitor for ViewBuilder<'_> {
    fn start(&mut self) {
        self.view = LogView::default();
        self.seals.clear();
    }

    fn entry(&mut self, e: LogEntry, attested: audit::Attested) {
        if !audit::names_operator(&e) {
            self.view.unnamed += 1;
            self.view.last_unnamed = Some(e.clone());
        }
        self.take(e, attested);
    }

    fn beyond(&mut self, e: LogEntry, attested: audit::Attested) {
        self.take(e, attested);
    }
}

/// Reads the log of `env` once ([`LogView`]); with no key, nothing can be vouched for
/// and the view is empty.
fn log_view(
    store: &Store,
    env: &str,
    key: Option<&PublicKey>,
    heads: &[audit::RecordHead<'_>],
) -> Result<LogView> {
    log_view_with_state(store, env, key, heads).map(|(view, _)| view)
}

/// [`log_view`], with the digest of the log it read when it verified without damage
/// (the view is then fit for `list`'s cache).
fn log_view_with_state(
    store: &Store,
    env: &str,
    key: Option<&PublicKey>,
    heads: &[audit::RecordHead<'_>],
) -> Result<(LogView, Option<audit::LogState>)> {
    let Some(key) = key else {
        return Ok((LogView::default(), None));
    };
    let mut b = ViewBuilder {
        env,
        view: LogView::default(),
        seals: HashMap::new(),
    };
    let (v, digest) = audit::scan_with_state(
        store,
        env,
        key,
        heads,
        audit::SignatureCheck::Checkpoints,
        &mut b,
    )?;
    let digest = digest.filter(|_| v.damage.is_none());
    let mut view = b.finish();
    view.read = true;
    view.verification = Some(v);
    Ok((view, digest))
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
    /// What it declares it unlocks.
    pub unlocks: Vec<String>,
    /// When created.
    pub created: String,
    /// Last successful unseal (from the log).
    pub last_unsealed: Option<String>,
    /// Last successful drill (from the log).
    pub last_drilled: Option<String>,
    /// Last successful revocation drill (from the log).
    pub last_revocation_drill: Option<String>,
    /// When the next rotation is due.
    pub rotation_due: String,
    /// Expiry, if any.
    pub expires: Option<String>,
    /// The most pressing of `flags`, or active.
    pub status: &'static str,
    /// Every state that applies: invalid (the record fails its checks), stale,
    /// revoked, owner-offboarded (`owner offboard`), expired, needs-rekey (an offboarded custodian holds a share of the current
    /// set), pending (a rekey or rotation awaits confirmation), rotation-overdue.
    pub flags: Vec<&'static str>,
    /// The pending operation, if any: kind, id, when written, by whom.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending: Option<PendingRow>,
    /// Offboarded custodians still holding a share of the current set.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub offboarded_holders: Vec<String>,
    /// Why a record is invalid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// Why a record is older than the log says it should be (an old copy restored).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stale: Option<String>,
}

fn rotation_due(record: &SealRecord) -> Option<OffsetDateTime> {
    due(&record.sealed, record.rotate_every_days)
}

fn due(sealed: &str, every_days: u32) -> Option<OffsetDateTime> {
    clock::parse_instant(sealed)
        .ok()
        .map(|t| t + time::Duration::days(i64::from(every_days)))
}

/// What `list` shows of a record: the members it reads, and the fingerprint of its
/// signed bytes (for the staleness check). `list` keeps the rows of records that
/// verified in its cache ([`crate::cache`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Row {
    name: String,
    env: String,
    owner: String,
    purpose: String,
    threshold: u8,
    custodians: Vec<String>,
    version: u32,
    set: u32,
    created: String,
    sealed: String,
    rotate_every_days: u32,
    expires: Option<String>,
    revoked: bool,
    owner_offboarded: bool,
    unlocks: Vec<String>,
    pending: Option<PendingRow>,
    log_head: Option<audit::LogHead>,
    fingerprint: String,
    /// When the next rotation is due (RFC 3339, empty when `sealed` is not a time),
    /// and as a Unix time: worked out once, when the row is made.
    rotation_due: String,
    due_at: Option<i64>,
    /// `expires` as a Unix time.
    expires_at: Option<i64>,
}

impl Row {
    fn of(record: &SealRecord, fingerprint: String) -> Row {
        let due = rotation_due(record);
        Row {
            name: record.name.clone(),
            env: record.env.clone(),
            owner: record.owner.clone(),
            purpose: record.purpose.clone(),
            threshold: record.threshold,
            custodians: record.custodians.iter().map(|c| c.name.clone()).collect(),
            version: record.version,
            set: record.set,
            created: record.created.clone(),
            sealed: record.sealed.clone(),
            rotate_every_days: record.rotate_every_days,
            expires: record.expires.clone(),
            revoked: record.revoked.is_some(),
            owner_offboarded: record.owner_offboarded.is_some(),
            unlocks: record.unlocks.clone(),
            pending: record.pending.as_ref().map(|p| PendingRow {
                kind: p.kind.name().to_string(),
                operation: p.id.clone(),
                created: p.created.clone(),
                operator: p.operator.clone(),
            }),
            log_head: record.log_head.clone(),
            fingerprint,
            rotation_due: due.map(clock::format).unwrap_or_default(),
            due_at: due.map(OffsetDateTime::unix_timestamp),
            expires_at: record
                .expires
                .as_deref()
                .and_then(|e| clock::parse_instant(e).ok())
                .map(OffsetDateTime::unix_timestamp),
        }
    }

    fn head(&self) -> Option<audit::RecordHead<'_>> {
        self.log_head.as_ref().map(|head| audit::RecordHead {
            seal: &self.name,
            env: &self.env,
            head,
        })
    }
}

/// A rekey or rotation of a seal written but not confirmed, as `list` shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingRow {
    /// rekey or rotate.
    pub kind: String,
    /// The operation's id.
    pub operation: String,
    /// When it was written.
    pub created: String,
    /// Who wrote it.
    pub operator: String,
}

/// A row of `list`, with what the checks of its record found.
struct Listed {
    /// Boxed: 10,000 rows move between vectors as pointers.
    row: Box<Row>,
    /// Why the record is invalid (signature, key, environment), if it is.
    problem: Option<String>,
    /// Why it is older than the log, if it is.
    stale: Option<String>,
    /// Made from a record parsed and verified in this run (not taken from the cache).
    fresh: bool,
}

fn entry(settings: &Settings, v: Listed, act: Activity, now: OffsetDateTime) -> Entry {
    let Listed {
        row,
        problem,
        stale,
        ..
    } = v;
    let now = now.unix_timestamp();
    let expired = row.expires_at.is_some_and(|e| e <= now);
    let offboarded_holders: Vec<String> = match settings.get(&row.env) {
        Some(eff) => row
            .custodians
            .iter()
            .filter(|c| eff.offboarded(c).is_some())
            .cloned()
            .collect(),
        None => Vec::new(),
    };
    let live = !row.revoked;
    let flags: Vec<&'static str> = [
        (problem.is_some(), "invalid"),
        (stale.is_some(), "stale"),
        (!live, "revoked"),
        (live && row.owner_offboarded, "owner-offboarded"),
        (live && expired, "expired"),
        (live && !offboarded_holders.is_empty(), "needs-rekey"),
        (live && row.pending.is_some(), "pending"),
        (
            live && row.due_at.is_some_and(|d| d <= now),
            "rotation-overdue",
        ),
    ]
    .into_iter()
    .filter(|(on, _)| *on)
    .map(|(_, f)| f)
    .collect();
    let status = flags.first().copied().unwrap_or("active");
    Entry {
        name: row.name,
        env: row.env,
        owner: row.owner,
        purpose: row.purpose,
        threshold: row.threshold,
        n: row.custodians.len(),
        custodians: row.custodians,
        version: row.version,
        set: row.set,
        unlocks: row.unlocks,
        created: row.created,
        last_unsealed: act.last_unsealed,
        last_drilled: act.last_drilled,
        last_revocation_drill: act.last_revocation_drill,
        rotation_due: row.rotation_due,
        expires: row.expires,
        status,
        flags,
        pending: row.pending,
        offboarded_holders,
        problem,
        stale,
    }
}

/// A record, with what its checks found.
struct Checked {
    record: SealRecord,
    /// Why it is invalid (signature, key, environment), if it is.
    problem: Option<String>,
    /// Why it is older than the log, if it is.
    stale: Option<String>,
}

/// The verified records with their activity, the records that could not be read,
/// each environment's key, its effective settings, and what its log says.
type Inventory = (
    Vec<(Checked, Activity)>,
    Vec<String>,
    EnvKeys,
    Settings,
    BTreeMap<String, LogView>,
);

/// Each environment's effective settings ([`crate::settings::effective`]).
type Settings = BTreeMap<String, crate::settings::Effective>;

fn settings_of(store: &Store, keys: &EnvKeys, views: &BTreeMap<String, LogView>) -> Settings {
    keys.iter()
        .filter_map(|(env, k)| {
            k.as_ref().ok().map(|(key, _)| {
                // The log's last settings entry, when the one pass over the log found it
                // with this key.
                let known = views.get(env).filter(|v| v.read).map(|v| &v.last_settings);
                (
                    env.clone(),
                    crate::settings::effective_given(store, env, key, known),
                )
            })
        })
        .collect()
}

/// Each environment's public key, checked against its pin (or `zeroth.toml`), once.
type EnvKeys = BTreeMap<String, std::result::Result<(PublicKey, KeySource), String>>;

fn env_keys(
    ctx: &Context,
    store: &Store,
    envs: impl IntoIterator<Item = String>,
    lenient: bool,
) -> EnvKeys {
    envs.into_iter()
        .map(|e| {
            let k = if lenient {
                ctx.trust.env_key_any(store, &e)
            } else {
                ctx.trust.env_key(store, &e, None)
            };
            (e, k.map_err(|x| x.message().to_string()))
        })
        .collect()
}

/// Verifies every record's signature on every core: for each, why it is invalid (if
/// it is) and the fingerprint of its signed bytes (for the staleness check). A record of
/// an environment `zeroth.toml` does not have is invalid.
fn signatures(
    store: &Store,
    keys: &EnvKeys,
    records: &[&SealRecord],
) -> Vec<(Option<String>, Option<String>)> {
    let check = |r: &&SealRecord| -> (Option<String>, Option<String>) {
        match keys.get(&r.env) {
            Some(Ok((key, _))) => {
                let signed = match r.signed_bytes() {
                    Ok(s) => s,
                    Err(e) => return (Some(e.message().to_string()), None),
                };
                let fp = audit::fingerprint(&signed);
                match verify_record_signed(store, r, key, &signed) {
                    Err(e) => (Some(e.message().to_string()), None),
                    Ok(()) => (None, Some(fp)),
                }
            }
            Some(Err(why)) => (Some(why.clone()), None),
            None => (
                Some(format!(
                    "{} belongs to environment '{}', which zeroth.toml does not have: a record of an unknown environment is refused",
                    store.record_path(&r.name).display(),
                    r.env
                )),
                None,
            ),
        }
    };
    crate::cores::map(records, check)
}

/// The records of the store (optionally of one environment), verified, with their log
/// activity, and the records that could not be read.
fn inventory(ctx: &Context, store: &Store, env: Option<&str>) -> Result<Inventory> {
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
    let envs: BTreeSet<String> = records
        .iter()
        .map(|r| r.env.clone())
        .filter(|e| store.config().env.contains_key(e))
        .chain(env.map(str::to_string))
        .collect();
    let keys = env_keys(ctx, store, envs.clone(), true);
    let refs: Vec<&SealRecord> = records.iter().collect();
    let heads = audit::record_heads(records.iter());
    // The logs are read while the records' signatures are checked: the two do not
    // depend on each other, and each alone leaves a core idle part of the time.
    let (views, sigs) = std::thread::scope(|scope| {
        let logs = scope.spawn(|| -> Result<BTreeMap<String, LogView>> {
            let mut views = BTreeMap::new();
            for e in &envs {
                let key = keys.get(e).and_then(|k| k.as_ref().ok()).map(|(k, _)| k);
                views.insert(e.clone(), log_view(store, e, key, &heads)?);
            }
            Ok(views)
        });
        let sigs = signatures(store, &keys, &refs);
        (
            logs.join().unwrap_or_else(|p| std::panic::resume_unwind(p)),
            sigs,
        )
    });
    drop(heads);
    let views = views?;
    let settings = settings_of(store, &keys, &views);
    let mut out = Vec::with_capacity(records.len());
    for (record, (problem, fp)) in records.into_iter().zip(sigs) {
        let stale = match (&problem, &fp) {
            (None, Some(fp)) => {
                let last = views
                    .get(&record.env)
                    .and_then(|v| v.get(&record.name))
                    .and_then(|s| s.last_record.as_ref());
                judge_stale_as(store, &record.name, record.log_head.as_ref(), fp, last)
                    .err()
                    .map(|e| e.message().to_string())
            }
            _ => None,
        };
        out.push(Checked {
            record,
            problem,
            stale,
        });
    }
    let mut views = views;
    let out = out
        .into_iter()
        .map(|c| {
            let act = views
                .get_mut(&c.record.env)
                .map(|v| v.take(&c.record.name).activity)
                .unwrap_or_default();
            (c, act)
        })
        .collect();
    Ok((out, unreadable, keys, settings, views))
}

/// A record file as `list` reads it: unchanged since it verified (its row from the
/// cache, its digest, which cache), or to be parsed and verified (seal, bytes, digest).
enum Read {
    Known(Box<Row>, RecordDigest, usize),
    Changed(String, Vec<u8>, RecordDigest),
}

/// What `list` shows: each record's row with its log activity, the records that could
/// not be read, and each environment's effective settings.
type Listing = (Vec<(Listed, Activity)>, Vec<String>, Settings);

/// The rows of `list`. Records and logs unchanged since a run that verified them are
/// taken from this user's cache ([`crate::cache`]), which only environments whose key is
/// pinned have; everything else is read, parsed and verified as `check` does.
fn listing(ctx: &Context, store: &Store, env: Option<&str>) -> Result<Listing> {
    if let Some(env) = env {
        store.env(env)?;
    }
    // The pinned keys of every environment (a cache holds the rows of all of them, also
    // when one is listed), each with its fingerprint. Only a pinned key names a cache:
    // the store's own key is the store's.
    let all_keys = env_keys(ctx, store, store.config().env.keys().cloned(), true);
    let pinned: BTreeMap<&str, (&PublicKey, String)> = all_keys
        .iter()
        .filter_map(|(e, k)| match k {
            Ok((k, KeySource::Pinned(_))) => Some((e.as_str(), (k, k.fingerprint()))),
            _ => None,
        })
        .collect();

    // The caches of rows are opened (one file each, its rows decoded only when used)
    // while the store's directory of records is listed; the views of the logs are read
    // while the record files are read and hashed, and each unchanged file's row
    // decoded, on every core.
    let (caches, record_files): (Vec<Rows>, _) = std::thread::scope(|scope| {
        let caches = scope.spawn(|| {
            let mut caches: Vec<Rows> = Vec::new();
            for (k, fp) in pinned.values() {
                if !caches.iter().any(|r| r.fingerprint() == fp) {
                    caches.push(Rows::open(k, store.root()));
                }
            }
            caches
        });
        let files = store.record_files();
        (
            caches
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p)),
            files,
        )
    });
    let record_files = record_files?;
    let (cached_views, files) = std::thread::scope(|scope| {
        let views = scope.spawn(|| {
            pinned
                .iter()
                .filter_map(|(e, (k, _))| {
                    crate::cache::view::<LogView>(k, store.root(), e).map(|v| (*e, v))
                })
                .collect::<BTreeMap<&str, _>>()
        });
        let files = record_files.read(|seal, bytes| {
            let digest = crate::cache::digest(bytes);
            let known = caches.iter().enumerate().find_map(|(i, c)| {
                let row: Box<Row> = c.get(&digest)?;
                let fits = row.name == seal
                    && pinned
                        .get(row.env.as_str())
                        .is_some_and(|(_, p)| p == c.fingerprint());
                fits.then_some((row, i))
            });
            Ok(match known {
                Some((row, cache)) => Read::Known(row, digest, cache),
                None => Read::Changed(seal.to_string(), bytes.to_vec(), digest),
            })
        });
        let views = views
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        (views, files)
    });

    // Each file unchanged since it verified gives its cached row; the others are parsed.
    let mut known: Vec<(Box<Row>, RecordDigest)> = Vec::new();
    let mut used = vec![0usize; caches.len()];
    let mut changed = Vec::new();
    let mut unreadable = Vec::new();
    for f in files {
        match f {
            Ok(Read::Known(row, digest, cache)) => {
                used[cache] += 1;
                known.push((row, digest));
            }
            Ok(Read::Changed(seal, bytes, digest)) => changed.push((seal, bytes, digest)),
            Err(e) => unreadable.push(e.message().to_string()),
        }
    }
    let mut parsed: Vec<(SealRecord, RecordDigest)> = Vec::new();
    let parses = crate::cores::map_owned(changed, |(seal, bytes, digest)| {
        store.parse_record(&seal, &bytes).map(|r| (r, digest))
    });
    for p in parses {
        match p {
            Ok((record, d)) => parsed.push((record, d)),
            Err(e) => unreadable.push(e.message().to_string()),
        }
    }
    let wanted = |e: &str| env.is_none_or(|w| w == e);

    // The keys the records are checked with (warning of an environment not pinned, as
    // every command that reads its records does).
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    let mut last = None;
    for e in parsed
        .iter()
        .map(|(r, _)| r.env.as_str())
        .chain(known.iter().map(|(row, _)| row.env.as_str()))
    {
        // Neighbouring rows are mostly of one environment: a set insert only when it
        // changes (100,000 string compares less).
        if last != Some(e) {
            seen.insert(e);
            last = Some(e);
        }
    }
    let envs: BTreeSet<String> = seen
        .into_iter()
        .filter(|e| wanted(e) && store.config().env.contains_key(*e))
        .chain(env)
        .map(str::to_string)
        .collect();
    // A pinned key was read and checked above; the others are read again as every
    // command reads them, with the warning that they are not pinned.
    let (checked, unpinned): (Vec<String>, Vec<String>) = envs
        .iter()
        .cloned()
        .partition(|e| pinned.contains_key(e.as_str()));
    let mut keys = env_keys(ctx, store, unpinned, false);
    for e in checked {
        if let Some(k) = all_keys.get(&e) {
            keys.insert(e, k.clone());
        }
    }
    let heads: Vec<audit::RecordHead<'_>> = audit::record_heads(parsed.iter().map(|(r, _)| r))
        .into_iter()
        .chain(known.iter().filter_map(|(row, _)| row.head()))
        .collect();
    let refs: Vec<&SealRecord> = parsed
        .iter()
        .map(|(r, _)| r)
        .filter(|r| wanted(&r.env))
        .collect();
    let mut cached_views = cached_views;
    let (views, sigs) = std::thread::scope(|scope| {
        let logs = scope.spawn(|| -> Result<BTreeMap<String, LogView>> {
            let mut views = BTreeMap::new();
            for e in &envs {
                let key = keys.get(e).and_then(|k| k.as_ref().ok()).map(|(k, _)| k);
                let cached = cached_views.remove(e.as_str());
                let view = cached_view(store, e, key, &pinned, cached, &heads)?;
                views.insert(e.clone(), view);
            }
            Ok(views)
        });
        let sigs = signatures(store, &keys, &refs);
        (
            logs.join().unwrap_or_else(|p| std::panic::resume_unwind(p)),
            sigs,
        )
    });
    drop(heads);
    let views = views?;
    let settings = settings_of(store, &keys, &views);

    let mut sigs = sigs.into_iter();
    let mut rows: Vec<(Listed, RecordDigest)> = Vec::with_capacity(parsed.len() + known.len());
    for (record, d) in parsed {
        if !wanted(&record.env) {
            continue;
        }
        let (problem, fp) = sigs.next().unwrap_or_default();
        rows.push((
            Listed {
                row: Box::new(Row::of(&record, fp.unwrap_or_default())),
                problem,
                stale: None,
                fresh: true,
            },
            d,
        ));
    }
    // Rows of the environments not listed stay in the cache as they were.
    let mut others: Vec<(Box<Row>, RecordDigest)> = Vec::new();
    for (row, d) in known {
        if wanted(&row.env) {
            rows.push((
                Listed {
                    row,
                    problem: None,
                    stale: None,
                    fresh: false,
                },
                d,
            ));
        } else {
            others.push((row, d));
        }
    }
    rows.sort_by(|a, b| a.0.row.name.cmp(&b.0.row.name));

    // The cache of a key is written again when a record of its environments verified
    // in full, or one it held changed or went away.
    for (c, used) in caches.iter().zip(used) {
        let fp = c.fingerprint();
        let mine = |e: &str| pinned.get(e).is_some_and(|(_, p)| p == fp);
        let rewrite = used < c.len()
            || rows
                .iter()
                .any(|(l, _)| l.problem.is_none() && mine(&l.row.env) && l.fresh);
        if rewrite {
            c.save(
                rows.iter()
                    .filter(|(l, _)| l.problem.is_none() && mine(&l.row.env))
                    .map(|(l, d)| (d, &l.row))
                    .chain(
                        others
                            .iter()
                            .filter(|(row, _)| mine(&row.env))
                            .map(|(row, d)| (d, row)),
                    ),
            );
        }
    }
    drop(others);

    // Each row judged against its log's view, whose parts about the seal are taken
    // out of it (moved, not copied).
    let mut views = views;
    let mut out = Vec::with_capacity(rows.len());
    for (mut listed, _) in rows {
        let view = views.get_mut(&listed.row.env);
        let SealLog {
            activity: act,
            last_record: last,
        } = view.map(|v| v.take(&listed.row.name)).unwrap_or_default();
        if listed.problem.is_none() {
            listed.stale = judge_stale_as(
                store,
                &listed.row.name,
                listed.row.log_head.as_ref(),
                &listed.row.fingerprint,
                last.as_ref(),
            )
            .err()
            .map(|e| e.message().to_string());
        }
        out.push((listed, act));
    }
    Ok((out, unreadable, settings))
}

/// The view of the log of `env` for `list`: the cached one when the log and its head are
/// in the state it was computed from and the records hold the same log heads; else read
/// (and kept in the cache when the key is pinned and the log verified without damage).
fn cached_view(
    store: &Store,
    env: &str,
    key: Option<&PublicKey>,
    pinned: &BTreeMap<&str, (&PublicKey, String)>,
    cached: Option<crate::cache::CachedView<LogView>>,
    heads: &[audit::RecordHead<'_>],
) -> Result<LogView> {
    let pinned = pinned
        .get(env)
        .map(|(k, _)| *k)
        .filter(|p| key.is_some_and(|k| k.fingerprint() == p.fingerprint()));
    let Some(k) = pinned else {
        return log_view(store, env, key, heads);
    };
    let anchors = crate::cache::anchors_digest(
        heads
            .iter()
            .filter(|h| h.env == env)
            .map(|h| (h.head.seq, h.head.hash.as_str())),
    );
    if let Some(c) = cached
        && c.anchors == anchors
        && audit::log_state(store, env)?.as_ref() == Some(&c.state)
    {
        let mut view = c.view;
        view.read = true;
        return Ok(view);
    }
    let (view, state) = log_view_with_state(store, env, Some(k), heads)?;
    if let Some(state) = state {
        crate::cache::keep_view(k, store.root(), env, &state, &anchors, &view);
    }
    Ok(view)
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
    let (rows, unreadable, settings) = listing(ctx, &store, env)?;
    let rows: Vec<(Listed, Activity)> = rows
        .into_iter()
        .filter(|(c, _)| owner.is_none_or(|o| c.row.owner == o))
        .filter(|(c, _)| custodian.is_none_or(|n| c.row.custodians.iter().any(|k| k == n)))
        .collect();
    let entries: Vec<Entry> = crate::cores::map_owned(rows, |(c, a)| entry(&settings, c, a, now));
    fn day(s: &str) -> &str {
        s.get(..10).unwrap_or(s)
    }
    fn opt_day(s: &Option<String>) -> &str {
        s.as_deref().map_or("never", day)
    }
    use crate::{Cell, Short};
    const HEADER: [&str; 12] = [
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
        "UNLOCKS",
    ];
    let row = |i: usize| -> [Cell<'_>; 12] {
        let Some(e) = i.checked_sub(1).and_then(|i| entries.get(i)) else {
            return HEADER.map(Cell::Str);
        };
        [
            Cell::Str(&e.name),
            Cell::Str(&e.env),
            Cell::Str(&e.owner),
            Cell::Short(Short::of(format_args!("{}/{}", e.threshold, e.n))),
            Cell::Short(Short::of(format_args!("v{}", e.version))),
            Cell::Str(day(&e.created)),
            Cell::Str(opt_day(&e.last_unsealed)),
            Cell::Str(opt_day(&e.last_drilled)),
            Cell::Str(day(&e.rotation_due)),
            Cell::Str(opt_day(&e.expires)),
            match e.flags.as_slice() {
                [] => Cell::Str("active"),
                [one] => Cell::Str(one),
                many => Cell::Own(many.join(",")),
            },
            if e.unlocks.is_empty() {
                Cell::Str("-")
            } else {
                Cell::Own(crate::text::clean(&e.unlocks.join(",")).into_owned())
            },
        ]
    };
    let mut text = if entries.is_empty() {
        "no seals\n".to_string()
    } else {
        crate::table_by(entries.len() + 1, row)
    };
    for e in &entries {
        if let Some(p) = &e.problem {
            text.push_str(&format!("invalid: {p}\n"));
        }
        if let Some(p) = &e.stale {
            text.push_str(&format!("stale: {p}\n"));
        }
        if let Some(p) = &e.pending {
            let id = &p.operation;
            text.push_str(&format!(
                "pending: {} {id} of '{}', written {} by {}: confirm with --confirm {id}, or --cancel {id}\n",
                p.kind, e.name, p.created, p.operator,
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
    // The JSON of 100,000 rows takes longer to make than the table: made only for
    // `--json`.
    Ok(Report::later(
        text,
        move || json!({ "seals": entries, "unreadable": unreadable }),
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
    pub id: FindingId,
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

/// What `check` found: each finding's stable id, as JSON, metrics and the design name
/// it (`rotation-overdue`, `secret-reuse`, …), and its severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FindingId {
    /// `record-invalid` (error).
    RecordInvalid,
    /// `rotation-overdue` (error).
    RotationOverdue,
    /// `expired` (error).
    Expired,
    /// `expiring-soon` (warning).
    ExpiringSoon,
    /// `recovery-untested` (error).
    RecoveryUntested,
    /// `share-unproven` (warning).
    ShareUnproven,
    /// `offboarded-holder` (error).
    OffboardedHolder,
    /// `threshold-one` (error).
    ThresholdOne,
    /// `threshold-all` (warning).
    ThresholdAll,
    /// `secret-reuse` (error).
    SecretReuse,
    /// `token-shared` (error).
    TokenShared,
    /// `token-unmarked` (error).
    TokenUnmarked,
    /// `token-unreachable` (error).
    TokenUnreachable,
    /// `orphan-key` (warning).
    OrphanKey,
    /// `revoked-key-present` (error).
    RevokedKeyPresent,
    /// `log-damaged` (error).
    LogDamaged,
    /// `log-unsigned` (warning).
    LogUnsigned,
    /// `pending-stale` (warning).
    PendingStale,
    /// `failed-unseals` (warning).
    FailedUnseals,
    /// `record-stale` (error).
    RecordStale,
    /// `retired-key-present` (error).
    RetiredKeyPresent,
    /// `token-key-mismatch` (error).
    TokenKeyMismatch,
    /// `store-rollback` (error).
    StoreRollback,
    /// `env-unpinned` (warning).
    EnvUnpinned,
    /// `log-time-backwards` (warning).
    LogTimeBackwards,
    /// `reuse-unchecked` (warning).
    ReuseUnchecked,
    /// `settings-invalid` (error).
    SettingsInvalid,
    /// `settings-unapproved` (warning).
    SettingsUnapproved,
    /// `operator-unnamed` (warning).
    OperatorUnnamed,
    /// `rotation-due-soon` (warning).
    RotationDueSoon,
    /// `revocation-untested` (warning).
    RevocationUntested,
    /// `owner-offboarded` (error).
    OwnerOffboarded,
    /// `access-unfamiliar` (warning).
    AccessUnfamiliar,
    /// `access-refused-burst` (error).
    AccessRefusedBurst,
    /// `access-no-reason` (warning).
    AccessNoReason,
    /// `access-outside-window` (warning).
    AccessOutsideWindow,
    /// `access-rate` (error).
    AccessRate,
    /// `reach-undeclared` (warning).
    ReachUndeclared,
    /// `reach-crosses-env` (error).
    ReachCrossesEnv,
    /// `reach-shared` (error).
    ReachShared,
}

impl FindingId {
    /// Every finding id `check` can report, for the documentation and the tests.
    pub const ALL: &[FindingId] = &[
        FindingId::RecordInvalid,
        FindingId::RotationOverdue,
        FindingId::Expired,
        FindingId::ExpiringSoon,
        FindingId::RecoveryUntested,
        FindingId::ShareUnproven,
        FindingId::OffboardedHolder,
        FindingId::ThresholdOne,
        FindingId::ThresholdAll,
        FindingId::SecretReuse,
        FindingId::TokenShared,
        FindingId::TokenUnmarked,
        FindingId::TokenUnreachable,
        FindingId::OrphanKey,
        FindingId::RevokedKeyPresent,
        FindingId::LogDamaged,
        FindingId::LogUnsigned,
        FindingId::PendingStale,
        FindingId::FailedUnseals,
        FindingId::RecordStale,
        FindingId::RetiredKeyPresent,
        FindingId::TokenKeyMismatch,
        FindingId::StoreRollback,
        FindingId::EnvUnpinned,
        FindingId::LogTimeBackwards,
        FindingId::ReuseUnchecked,
        FindingId::SettingsInvalid,
        FindingId::SettingsUnapproved,
        FindingId::OperatorUnnamed,
        FindingId::RotationDueSoon,
        FindingId::RevocationUntested,
        FindingId::OwnerOffboarded,
        FindingId::AccessUnfamiliar,
        FindingId::AccessRefusedBurst,
        FindingId::AccessNoReason,
        FindingId::AccessOutsideWindow,
        FindingId::AccessRate,
        FindingId::ReachUndeclared,
        FindingId::ReachCrossesEnv,
        FindingId::ReachShared,
    ];

    /// The id as reports print it.
    pub fn as_str(self) -> &'static str {
        match self {
            FindingId::RecordInvalid => "record-invalid",
            FindingId::RotationOverdue => "rotation-overdue",
            FindingId::Expired => "expired",
            FindingId::ExpiringSoon => "expiring-soon",
            FindingId::RecoveryUntested => "recovery-untested",
            FindingId::ShareUnproven => "share-unproven",
            FindingId::OffboardedHolder => "offboarded-holder",
            FindingId::ThresholdOne => "threshold-one",
            FindingId::ThresholdAll => "threshold-all",
            FindingId::SecretReuse => "secret-reuse",
            FindingId::TokenShared => "token-shared",
            FindingId::TokenUnmarked => "token-unmarked",
            FindingId::TokenUnreachable => "token-unreachable",
            FindingId::OrphanKey => "orphan-key",
            FindingId::RevokedKeyPresent => "revoked-key-present",
            FindingId::LogDamaged => "log-damaged",
            FindingId::LogUnsigned => "log-unsigned",
            FindingId::PendingStale => "pending-stale",
            FindingId::FailedUnseals => "failed-unseals",
            FindingId::RecordStale => "record-stale",
            FindingId::RetiredKeyPresent => "retired-key-present",
            FindingId::TokenKeyMismatch => "token-key-mismatch",
            FindingId::StoreRollback => "store-rollback",
            FindingId::EnvUnpinned => "env-unpinned",
            FindingId::LogTimeBackwards => "log-time-backwards",
            FindingId::ReuseUnchecked => "reuse-unchecked",
            FindingId::SettingsInvalid => "settings-invalid",
            FindingId::SettingsUnapproved => "settings-unapproved",
            FindingId::OperatorUnnamed => "operator-unnamed",
            FindingId::RotationDueSoon => "rotation-due-soon",
            FindingId::RevocationUntested => "revocation-untested",
            FindingId::OwnerOffboarded => "owner-offboarded",
            FindingId::AccessUnfamiliar => "access-unfamiliar",
            FindingId::AccessRefusedBurst => "access-refused-burst",
            FindingId::AccessNoReason => "access-no-reason",
            FindingId::AccessOutsideWindow => "access-outside-window",
            FindingId::AccessRate => "access-rate",
            FindingId::ReachUndeclared => "reach-undeclared",
            FindingId::ReachCrossesEnv => "reach-crosses-env",
            FindingId::ReachShared => "reach-shared",
        }
    }

    /// Error or warning.
    pub fn severity(self) -> Severity {
        match self {
            FindingId::RecordInvalid
            | FindingId::RotationOverdue
            | FindingId::Expired
            | FindingId::RecoveryUntested
            | FindingId::OffboardedHolder
            | FindingId::ThresholdOne
            | FindingId::SecretReuse
            | FindingId::TokenShared
            | FindingId::TokenUnmarked
            | FindingId::TokenUnreachable
            | FindingId::RevokedKeyPresent
            | FindingId::LogDamaged
            | FindingId::RecordStale
            | FindingId::RetiredKeyPresent
            | FindingId::TokenKeyMismatch
            | FindingId::StoreRollback
            | FindingId::SettingsInvalid
            | FindingId::OwnerOffboarded
            | FindingId::AccessRefusedBurst
            | FindingId::AccessRate
            | FindingId::ReachCrossesEnv
            | FindingId::ReachShared => Severity::Error,
            FindingId::ExpiringSoon
            | FindingId::ShareUnproven
            | FindingId::ThresholdAll
            | FindingId::OrphanKey
            | FindingId::LogUnsigned
            | FindingId::PendingStale
            | FindingId::FailedUnseals
            | FindingId::EnvUnpinned
            | FindingId::LogTimeBackwards
            | FindingId::ReuseUnchecked
            | FindingId::SettingsUnapproved
            | FindingId::OperatorUnnamed
            | FindingId::RotationDueSoon
            | FindingId::RevocationUntested
            | FindingId::AccessUnfamiliar
            | FindingId::AccessNoReason
            | FindingId::AccessOutsideWindow
            | FindingId::ReachUndeclared => Severity::Warning,
        }
    }
}

impl std::fmt::Display for FindingId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for FindingId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

struct Findings(Vec<Finding>);

impl Findings {
    fn add(
        &mut self,
        id: FindingId,
        env: &str,
        seal: Option<&str>,
        custodian: Option<&str>,
        message: String,
        action: String,
    ) {
        self.add_as(id.severity(), id, env, seal, custodian, message, action);
    }

    #[allow(clippy::too_many_arguments)]
    fn add_as(
        &mut self,
        severity: Severity,
        id: FindingId,
        env: &str,
        seal: Option<&str>,
        custodian: Option<&str>,
        message: String,
        action: String,
    ) {
        self.0.push(Finding {
            id,
            severity,
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

/// One live seal whose record verified, as its checks see it: the record, its
/// environment's settings and policy, what the log says of it, and the time of the check.
#[derive(Clone, Copy)]
struct Judged<'a> {
    record: &'a SealRecord,
    env: &'a str,
    seal: Option<&'a str>,
    eff: &'a crate::settings::Effective,
    policy: &'a Policy,
    act: &'a Activity,
    now: OffsetDateTime,
}

/// The findings about one seal, in the order `check` has always reported them: its
/// record's soundness first, then (for a live seal) each control in turn.
fn seal_findings(
    f: &mut Findings,
    settings: &Settings,
    checked: &Checked,
    act: &Activity,
    now: OffsetDateTime,
) {
    let record = &checked.record;
    if let Some(p) = &checked.problem {
        record_invalid_finding(f, record, p);
        return;
    }
    // A record that verified has its environment's key, hence its settings.
    let Some(eff) = settings.get(&record.env) else {
        return;
    };
    if let Some(p) = &checked.stale {
        record_stale_finding(f, record, p);
    }
    if record.revoked.is_some() {
        return;
    }
    let s = Judged {
        record,
        env: record.env.as_str(),
        seal: Some(record.name.as_str()),
        eff,
        policy: &eff.policy,
        act,
        now,
    };
    owner_findings(f, s);
    reuse_unchecked_findings(f, s);
    rotation_findings(f, s);
    expiry_findings(f, s);
    recovery_findings(f, s);
    access_findings(f, s);
    access_policy_findings(f, s);
    revocation_findings(f, s);
    custodian_findings(f, s);
    threshold_findings(f, s);
    pending_findings(f, s);
    failed_unseal_findings(f, s);
}

/// A record whose signature, key or environment does not check out (`record-invalid`).
fn record_invalid_finding(f: &mut Findings, record: &SealRecord, problem: &str) {
    f.add(
        FindingId::RecordInvalid,
        &record.env,
        Some(&record.name),
        None,
        problem.to_string(),
        "restore the record from a trusted copy (git history), then run zeroth audit verify".into(),
    );
}

/// A record older than what the log says of it (`record-stale`).
fn record_stale_finding(f: &mut Findings, record: &SealRecord, problem: &str) {
    f.add(
        FindingId::RecordStale,
        &record.env,
        Some(&record.name),
        None,
        problem.to_string(),
        "restore the newest record (git history); zeroth refuses ceremonies on an old copy".into(),
    );
}

/// Whether the seal's owner is still there to answer for it (`owner-offboarded`).
fn owner_findings(f: &mut Findings, s: Judged<'_>) {
    let Judged {
        record, env, seal, ..
    } = s;
    if let Some(o) = &record.owner_offboarded {
        f.add(
            FindingId::OwnerOffboarded,
            env,
            seal,
            None,
            format!(
                "its owner '{}' was offboarded at {} (recorded by {}): nobody answers for it",
                crate::text::clean(&record.owner),
                o.time,
                crate::text::clean(&o.operator)
            ),
            format!(
                "hand it over: zeroth owner transfer {} --to NEW-OWNER (or revoke it)",
                record.name
            ),
        );
    }
}

/// Whether an imported secret keeps a reuse mark, so reuse across environments can be
/// judged at all (`reuse-unchecked`).
fn reuse_unchecked_findings(f: &mut Findings, s: Judged<'_>) {
    let Judged {
        record, env, seal, ..
    } = s;
    if record.credential.reuse.is_none() && record.credential.origin == Origin::Imported {
        f.add(
            FindingId::ReuseUnchecked,
            env,
            seal,
            None,
            format!(
                "its imported secret ({} bytes) is shorter than {REUSE_MIN_LENGTH} bytes, too short to keep a reuse mark that would not give it away: whether it is also sealed in another environment cannot be judged",
                record.credential.length
            ),
            format!(
                "rotate it to a secret of {REUSE_MIN_LENGTH} bytes or more: zeroth rotate {} --import …",
                record.name
            ),
        );
    }
}

/// Whether the rotation cadence is kept: due soon, or overdue.
fn rotation_findings(f: &mut Findings, s: Judged<'_>) {
    let Judged {
        record,
        env,
        seal,
        policy,
        now,
        ..
    } = s;
    if let Some(due) = rotation_due(record) {
        let window = i64::from(policy.rotation_warning(record.rotate_every_days));
        if due > now && (due - now).whole_days() < window {
            f.add(
                FindingId::RotationDueSoon,
                env,
                seal,
                None,
                format!(
                    "rotation falls due {} (in {} days; every {} days)",
                    clock::format(due),
                    (due - now).whole_days(),
                    record.rotate_every_days
                ),
                format!(
                    "plan the rotation with its custodians: zeroth rotate {} --share … --out-dir …",
                    record.name
                ),
            );
        }
        if due <= now {
            f.add(
                FindingId::RotationOverdue,
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
}

/// Whether the seal has expired, or expires within the policy's warning.
fn expiry_findings(f: &mut Findings, s: Judged<'_>) {
    let Judged {
        record,
        env,
        seal,
        policy,
        now,
        ..
    } = s;
    if let Some(exp) = record
        .expires
        .as_deref()
        .and_then(|e| clock::parse_instant(e).ok())
    {
        if exp <= now {
            f.add(
                FindingId::Expired,
                env,
                seal,
                None,
                format!("expired at {}", clock::format(exp)),
                "replace it with a new seal, then revoke this one".into(),
            );
        } else if (exp - now).whole_days() < i64::from(policy.expiry_warning_days) {
            f.add(
                FindingId::ExpiringSoon,
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
}

/// Whether the seal was recovered (unsealed or drilled) within the policy's days
/// (`recovery-untested`).
fn recovery_findings(f: &mut Findings, s: Judged<'_>) {
    let Judged {
        record,
        env,
        seal,
        policy,
        act,
        now,
        ..
    } = s;
    let created_days = days_since(&record.created, now).unwrap_or(0);
    let last_recovery = later(&act.last_unsealed, &act.last_drilled);
    let recovery_age = last_recovery
        .as_deref()
        .and_then(|t| days_since(t, now))
        .unwrap_or(created_days);
    if recovery_age > i64::from(policy.recovery_test_days) {
        f.add(
            FindingId::RecoveryUntested,
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
}

/// Monitored access, from the signed log: recent recoveries by an operator or from a
/// host the seal's earlier ceremonies never had, and bursts of refused attempts.
fn access_findings(f: &mut Findings, s: Judged<'_>) {
    let Judged {
        record,
        env,
        seal,
        act,
        now,
        ..
    } = s;
    let review = time::Duration::days(ACCESS_REVIEW_DAYS);
    for (t, event, op, host) in &act.access().unfamiliar {
        if now - *t > review {
            continue;
        }
        let who = match (op, host) {
            (Some(o), Some(h)) => format!(
                "by operator '{}', from host '{}', neither seen for this seal before",
                crate::text::clean(o),
                crate::text::clean(h)
            ),
            (Some(o), None) => format!(
                "by operator '{}', never seen for this seal before",
                crate::text::clean(o)
            ),
            (None, Some(h)) => format!(
                "from host '{}', never seen for this seal before",
                crate::text::clean(h)
            ),
            (None, None) => continue,
        };
        f.add(
            FindingId::AccessUnfamiliar,
            env,
            seal,
            None,
            format!("recovered ({event}) at {} {who}", clock::format(*t)),
            format!(
                "confirm with the operator that it was planned: zeroth audit show --seal {} --since {}",
                record.name,
                clock::format(*t).get(..10).unwrap_or_default()
            ),
        );
    }
    for (first, last, attempts) in &act.access().bursts {
        if now - *last > review {
            continue;
        }
        f.add(
            FindingId::AccessRefusedBurst,
            env,
            seal,
            None,
            format!(
                "{attempts} refused attempts to recover it between {} and {} ({BURST_ATTEMPTS} or more within {BURST_WINDOW_MINUTES} minutes)",
                clock::format(*first),
                clock::format(*last)
            ),
            format!(
                "find out who tried and why: zeroth audit show --seal {} --since {}",
                record.name,
                clock::format(*first).get(..10).unwrap_or_default()
            ),
        );
    }
}

/// Whether recent recoveries kept the seal's own access policy (`zeroth access`): a
/// reason when it requires one, its time window, its rate.
fn access_policy_findings(f: &mut Findings, s: Judged<'_>) {
    let Judged {
        record,
        env,
        seal,
        act,
        now,
        ..
    } = s;
    let review = time::Duration::days(ACCESS_REVIEW_DAYS);
    if let Some(policy) = &record.access {
        let recent = act
            .access()
            .recoveries
            .iter()
            .filter(|(t, _, _)| now - *t <= review);
        for (t, event, with_reason) in recent {
            if policy.require_reason && !with_reason {
                f.add(
                    FindingId::AccessNoReason,
                    env,
                    seal,
                    None,
                    format!(
                        "recovered ({event}) at {} without a reason, though the seal requires one",
                        clock::format(*t)
                    ),
                    format!(
                        "ask the operator why and note it; zeroth audit show --seal {}",
                        record.name
                    ),
                );
            }
            if let Some(w) = &policy.window
                && w.contains(*t) == Some(false)
            {
                f.add(
                    FindingId::AccessOutsideWindow,
                    env,
                    seal,
                    None,
                    format!(
                        "recovered ({event}) at {}, outside its window ({})",
                        clock::format(*t),
                        w.words()
                    ),
                    format!(
                        "confirm it was a planned break-glass: zeroth audit show --seal {}",
                        record.name
                    ),
                );
            }
        }
        if let Some(rate) = &policy.max_recoveries {
            let period = time::Duration::days(i64::from(rate.days));
            let within: Vec<&OffsetDateTime> = act
                .access()
                .recoveries
                .iter()
                .map(|(t, _, _)| t)
                .filter(|t| now - **t <= period)
                .collect();
            if within.len() > rate.count as usize {
                f.add(
                    FindingId::AccessRate,
                    env,
                    seal,
                    None,
                    format!(
                        "recovered {} times in the last {} days; it allows {}",
                        within.len(),
                        rate.days,
                        rate.count
                    ),
                    format!(
                        "find out why it is recovered so often: zeroth audit show --seal {}",
                        record.name
                    ),
                );
            }
        }
    }
}

/// Whether the revocation path was proven by `revoke --drill` within the policy's days
/// (`revocation-untested`).
fn revocation_findings(f: &mut Findings, s: Judged<'_>) {
    let Judged {
        record,
        env,
        seal,
        policy,
        act,
        now,
        ..
    } = s;
    let revocation_days = policy.revocation_test();
    let untested = match act.last_revocation_drill.as_deref() {
        None => Some("its revocation path was never drilled: nobody has shown that revoking it would work".to_string()),
        Some(t) => days_since(t, now)
            .filter(|age| *age > i64::from(revocation_days))
            .map(|age| {
                format!(
                    "its revocation path was last drilled {t} ({age} days ago; policy: {revocation_days} days)"
                )
            }),
    };
    if let Some(message) = untested {
        f.add(
            FindingId::RevocationUntested,
            env,
            seal,
            None,
            message,
            format!(
                "prove that revoking it would work, without revoking: zeroth revoke {} --drill",
                record.name
            ),
        );
    }
}

/// Each custodian of the current set: whether their share was proven in a drill within
/// the policy's days, and whether they were offboarded while still holding it.
fn custodian_findings(f: &mut Findings, s: Judged<'_>) {
    let Judged {
        record,
        env,
        seal,
        eff,
        policy,
        now,
        ..
    } = s;
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
                FindingId::ShareUnproven,
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
        if let Some((_, off)) = eff.offboarded(&c.name) {
            f.add(
                FindingId::OffboardedHolder,
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
}

/// Whether the threshold leaves neither a single custodian able to recover the seal
/// alone nor one lost share able to lock it out.
fn threshold_findings(f: &mut Findings, s: Judged<'_>) {
    let Judged {
        record, env, seal, ..
    } = s;
    let n = record.custodians.len();
    if record.threshold == 1 {
        f.add(
            FindingId::ThresholdOne,
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
            FindingId::ThresholdAll,
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
}

/// Whether a pending rotation or rekey has waited longer than the policy allows
/// (`pending-stale`).
fn pending_findings(f: &mut Findings, s: Judged<'_>) {
    let Judged {
        record,
        env,
        seal,
        policy,
        now,
        ..
    } = s;
    if let Some(p) = &record.pending
        && let Some(age) = days_since(&p.created, now)
        && age > i64::from(policy.pending_max_age_days)
    {
        f.add(
            FindingId::PendingStale,
            env,
            seal,
            None,
            format!(
                "pending {} {} was written {} by {} ({age} days ago)",
                p.kind.name(),
                p.id,
                p.created,
                p.operator
            ),
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

/// Whether unseal attempts were refused or failed since the last successful one
/// (`failed-unseals`).
fn failed_unseal_findings(f: &mut Findings, s: Judged<'_>) {
    let Judged {
        record,
        env,
        seal,
        act,
        ..
    } = s;
    if act.failed_since_success > 0 {
        f.add(
            FindingId::FailedUnseals,
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

/// What seals declare they unlock: none declared (`reach-undeclared`), a system named
/// for another environment of the store (`reach-crosses-env`: a token per environment
/// means a prod credential never opens a dev system, nor the reverse), and one system
/// unlocked by seals of two environments (`reach-shared`, the cross-environment coupling
/// seen from the consumer's side). Live seals only; with `only_env`, the seals of that
/// environment, compared with every other.
fn reach_findings(
    f: &mut Findings,
    records: &[&SealRecord],
    envs: &[String],
    only_env: Option<&str>,
) {
    let live: Vec<&SealRecord> = records
        .iter()
        .copied()
        .filter(|r| r.revoked.is_none())
        .collect();
    let mine = |r: &SealRecord| only_env.is_none_or(|e| r.env == e);
    for r in live.iter().filter(|r| mine(r)) {
        if r.unlocks.is_empty() {
            f.add(
                FindingId::ReachUndeclared,
                &r.env,
                Some(&r.name),
                None,
                "it does not say what it unlocks: nobody can tell from the store what a compromise of it would open".into(),
                format!("declare it: zeroth reach {} --unlocks SYSTEM", r.name),
            );
        }
        for target in &r.unlocks {
            let words: Vec<String> = target
                .split(|c: char| !c.is_ascii_alphanumeric())
                .filter(|w| !w.is_empty())
                .map(str::to_ascii_lowercase)
                .collect();
            let own = r.env.to_ascii_lowercase();
            if let Some(other) = envs.iter().find(|e| {
                let e = e.to_ascii_lowercase();
                e != own && words.contains(&e)
            }) {
                f.add(
                    FindingId::ReachCrossesEnv,
                    &r.env,
                    Some(&r.name),
                    None,
                    format!(
                        "a seal of environment '{}' unlocks '{}', which names environment '{other}': one credential must not open two environments",
                        r.env,
                        crate::text::clean(target)
                    ),
                    format!(
                        "give '{other}' its own credential, sealed in '{other}', and declare this seal's reach without it: zeroth reach {} --unlocks …",
                        r.name
                    ),
                );
            }
        }
    }
    let mut by_target: BTreeMap<String, Vec<&SealRecord>> = BTreeMap::new();
    for r in &live {
        for t in &r.unlocks {
            by_target.entry(t.to_ascii_lowercase()).or_default().push(r);
        }
    }
    for (target, seals) in &by_target {
        for r in seals.iter().filter(|r| mine(r)) {
            let others: Vec<String> = seals
                .iter()
                .filter(|o| o.env != r.env)
                .map(|o| format!("'{}' ({})", o.name, o.env))
                .collect();
            if others.is_empty() {
                continue;
            }
            f.add(
                FindingId::ReachShared,
                &r.env,
                Some(&r.name),
                None,
                format!(
                    "'{}' unlocks '{}', as {} of another environment does: one system opened from two environments couples them",
                    r.name,
                    crate::text::clean(target),
                    others.join(", ")
                ),
                "give each environment its own system (or its own credential on it) and declare each seal's reach".into(),
            );
        }
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
                    FindingId::SecretReuse,
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

fn env_findings(
    f: &mut Findings,
    ctx: &Context,
    store: &Store,
    env: &str,
    keys: &EnvKeys,
    records: &[&SealRecord],
    view: Option<LogView>,
) -> Result<()> {
    let (key, source) = match keys.get(env) {
        Some(Ok(k)) => k.clone(),
        Some(Err(why)) => {
            f.add(
                FindingId::LogDamaged,
                env,
                None,
                None,
                format!("the log of '{env}' cannot be checked: {why}"),
                "restore the store's key from a trusted copy, or pin the environment".into(),
            );
            return Ok(());
        }
        None => ctx.trust.env_key_any(store, env)?,
    };
    if matches!(source, KeySource::Unpinned) {
        f.add(
            FindingId::EnvUnpinned,
            env,
            None,
            None,
            format!(
                "environment '{env}' is not pinned in {}: its records and log were checked against the store's own key, which whoever edits the store can replace",
                ctx.trust.path().display()
            ),
            format!("pin it: zeroth env pin {env} (or give the trust file with --trust)"),
        );
    }
    let view = match view.filter(|v| v.verification.is_some()) {
        Some(v) => v,
        None => log_view(
            store,
            env,
            Some(&key),
            &audit::record_heads(records.iter().copied()),
        )?,
    };
    let Some(v) = &view.verification else {
        return Ok(());
    };
    if let Some(d) = &v.damage {
        let (id, action) = if d.kind == DamageKind::Unsigned {
            (
                FindingId::LogUnsigned,
                format!(
                    "review the unsigned entries (zeroth audit show --env {env}) and sign over them: zeroth audit attest --env {env}"
                ),
            )
        } else {
            (
                FindingId::LogDamaged,
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
    if let Some(last) = &view.last_unnamed {
        let unnamed = view.unnamed;
        f.add(
            FindingId::OperatorUnnamed,
            env,
            None,
            None,
            format!(
                "{} entr{} of the log of '{env}' name no operator, only the account that ran {} (the latest: entry {}, {} {}, by '{}' on {})",
                unnamed,
                if unnamed == 1 { "y" } else { "ies" },
                if unnamed == 1 { "it" } else { "them" },
                last.seq,
                crate::text::clean(&last.event),
                crate::text::clean(&last.time),
                crate::text::clean(&last.operator),
                crate::text::clean(&last.host)
            ),
            "name the person who runs each ceremony: zeroth --operator NAME …, or ZEROTH_OPERATOR=NAME in their environment (entries already written stay as they are)".into(),
        );
    }
    if !v.time_backwards.is_empty() {
        f.add(
            FindingId::LogTimeBackwards,
            env,
            None,
            None,
            format!(
                "the time goes backwards at entr{} {} of the log of '{env}': a clock was wrong, or entries were written by hand",
                if v.time_backwards.len() == 1 { "y" } else { "ies" },
                v.time_backwards
                    .iter()
                    .map(u64::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            format!("look at those entries: zeroth audit show --env {env}"),
        );
    }
    Ok(())
}

/// The environment's approved settings: unusable ones are an error, changes in
/// `zeroth.toml` nobody approved a warning.
fn settings_findings(f: &mut Findings, store: &Store, env: &str, eff: &crate::settings::Effective) {
    if let Some(p) = &eff.problem {
        f.add(
            FindingId::SettingsInvalid,
            env,
            None,
            None,
            p.clone(),
            format!(
                "restore {} from a trusted copy, or approve the settings anew: zeroth settings approve --env {env}",
                crate::settings::path(store, env).display()
            ),
        );
    } else if eff.approved.is_none() {
        f.add(
            FindingId::SettingsUnapproved,
            env,
            None,
            None,
            format!(
                "environment '{env}' has no approved settings: only the defaults, made stricter by zeroth.toml, count, and no custodian recipient is approved"
            ),
            format!("approve them: zeroth settings approve --env {env}"),
        );
    }
    if !eff.unapproved.is_empty() {
        f.add(
            FindingId::SettingsUnapproved,
            env,
            None,
            None,
            format!(
                "zeroth.toml changes what environment '{env}' approved (only what makes things stricter counts until approved): {}",
                eff.unapproved.join("; ")
            ),
            format!(
                "review the changes (zeroth settings show --env {env}) and approve them: zeroth settings approve --env {env}"
            ),
        );
    }
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
                FindingId::TokenShared,
                names[0],
                None,
                None,
                format!("token '{label}' (serial {serial}) serves {}: a compromise of one opens the others", names.join(" and ")),
                "give each environment its own token, then move its seals (generate anew and revoke)".into(),
            );
        }
    }
}

/// With `--hsm`: the token of `env` is the pinned one, carries its marker and the
/// store's signing key, has not seen a newer log than the store's, and holds no key
/// that no record references, no key of a revoked seal and no key a rekey or rotation
/// retired. Needs the PIN; takes the store lock while it uses the token; logs nothing.
fn hsm_findings(
    f: &mut Findings,
    ctx: &Context,
    store: &Store,
    env: &str,
    records: &[&SealRecord],
) {
    let result = (|| -> Result<()> {
        let _lock = store.lock()?;
        let cfg = store.env(env)?;
        let (hsm, pin) = crate::ceremony::load_pinned(ctx, store, env)?;
        let inner = (|| -> Result<()> {
            let token = hsm.find_token(&pin.token)?;
            if token.serial != pin.serial {
                f.add(
                    FindingId::TokenUnmarked,
                    env,
                    None,
                    None,
                    format!(
                        "token '{}' has serial {}, not the {} the environment is pinned to",
                        token.label, token.serial, pin.serial
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
                other => {
                    f.add(
                        FindingId::TokenUnmarked,
                        env,
                        None,
                        None,
                        match other {
                            Some(m) => format!("token '{}' is marked for environment '{m}', not '{env}'", token.label),
                            None => format!("token '{}' carries no zeroth environment marker: it was reset or replaced", token.label),
                        },
                        "stop using it for this environment; investigate who changed the token".into(),
                    );
                    return Ok(());
                }
            }
            // A token that fails to answer is unreachable: the findings below are for
            // its answers (a key that does not match says the store's key was replaced),
            // not for its failures.
            let failed = |e: &Error| e.kind() == crate::error::Kind::Failed;
            match crate::ceremony::check_binding(&session, store, env, cfg, Some(&pin)) {
                Err(e) if failed(&e) => return Err(e),
                Err(e) => f.add(
                    FindingId::TokenKeyMismatch,
                    env,
                    None,
                    None,
                    e.message().to_string(),
                    "restore the store's key from a trusted copy, or find the environment's token"
                        .into(),
                ),
                Ok(_) => {}
            }
            match crate::ceremony::check_anchor(&session, store, env) {
                Err(e) if failed(&e) => return Err(e),
                Ok(_) => {}
                Err(e) => f.add(
                    FindingId::StoreRollback,
                    env,
                    None,
                    None,
                    e.message().to_string(),
                    "restore the newest copy of the store (git); ceremonies refuse this one".into(),
                ),
            }
            let keys = session.seal_keys_with_prefix(&format!("zeroth:{env}:"))?;
            let present: BTreeSet<(String, String)> = keys
                .iter()
                .map(|(l, i)| (l.clone(), hex::encode(i)))
                .collect();
            let mut accounted: BTreeSet<(String, String)> = BTreeSet::new();
            for r in records {
                let prefix = format!("zeroth:{env}:{}:v", r.name);
                let of_seal: Vec<&(String, String)> = present
                    .iter()
                    .filter(|k| k.0.starts_with(&prefix))
                    .collect();
                if r.revoked.is_some() {
                    for k in &of_seal {
                        accounted.insert((*k).clone());
                        f.add(
                            FindingId::RevokedKeyPresent,
                            env,
                            Some(&r.name),
                            None,
                            format!(
                                "'{}' is revoked but its key '{}' is still on the token",
                                r.name, k.0
                            ),
                            format!("finish the revocation: zeroth cleanup --env {env} --destroy"),
                        );
                    }
                    continue;
                }
                for k in &of_seal {
                    if let Some(h) = r.history.iter().find(|h| h.key_label == k.0) {
                        accounted.insert((*k).clone());
                        f.add(
                            FindingId::RetiredKeyPresent,
                            env,
                            Some(&r.name),
                            None,
                            format!(
                                "key '{}' of '{}' was retired at {} ({}) but is still on the token: the old share set still opens an old copy of the record",
                                k.0, r.name, h.retired, h.why
                            ),
                            match &h.operation {
                                Some(op) => format!(
                                    "finish it: zeroth {} {} --confirm {op} (or zeroth cleanup --env {env} --destroy)",
                                    if h.why.starts_with("rotated") { "rotate" } else { "rekey" },
                                    r.name
                                ),
                                None => format!("destroy it: zeroth cleanup --env {env} --destroy"),
                            },
                        );
                    }
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
            let sign = crate::hsm::signing_label(env);
            for k in present
                .iter()
                .filter(|k| k.0 != sign && !referenced.contains(*k) && !accounted.contains(*k))
            {
                f.add(
                    FindingId::OrphanKey,
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
            FindingId::TokenUnreachable,
            env,
            None,
            None,
            e.message().to_string(),
            "check the module path, the token, the PIN and the trust file".into(),
        );
    }
}

/// What `check` is asked for.
#[derive(Debug, Clone, Copy, Default)]
pub struct CheckArgs<'a> {
    /// Only this environment.
    pub env: Option<&'a str>,
    /// Also inspect the tokens.
    pub hsm: bool,
    /// Also write Prometheus metrics here (`-`: print them instead).
    pub metrics: Option<&'a std::path::Path>,
    /// Only the seals this owner answers for.
    pub owner: Option<&'a str>,
}

/// `check`: the governance findings; exit 1 when an error-level one remains.
///
/// With `metrics`, the state is also written as Prometheus metrics ([`crate::metrics`])
/// to that file, or printed instead of the findings when it is `-`.
pub fn check(ctx: &Context, args: &CheckArgs<'_>) -> Result<Report> {
    let CheckArgs {
        env,
        hsm,
        metrics,
        owner,
    } = *args;
    let store = Store::open(&ctx.store)?;
    let now = clock::now()?;
    let policy = store.config().policy.clone();
    validate_policy(&policy)?;
    let (mut records, unreadable, keys, _, mut views) = inventory(ctx, &store, env)?;
    let envs: Vec<String> = match env {
        Some(e) => vec![e.to_string()],
        None => store.config().env.keys().cloned().collect(),
    };
    let keys = {
        let mut keys = keys;
        let missing: Vec<String> = envs
            .iter()
            .filter(|e| !keys.contains_key(*e))
            .cloned()
            .collect();
        keys.extend(env_keys(ctx, &store, missing, true));
        keys
    };
    let settings = settings_of(&store, &keys, &views);
    for eff in settings.values() {
        validate_policy(&eff.policy)?;
    }
    let mut f = Findings(Vec::new());
    for u in &unreadable {
        f.0.push(Finding {
            id: FindingId::RecordInvalid,
            severity: Severity::Error,
            env: None,
            seal: None,
            custodian: None,
            message: u.clone(),
            action: "restore the record from a trusted copy".into(),
        });
    }
    for (c, a) in &records {
        seal_findings(&mut f, &settings, c, a, now);
    }
    // Reuse is across environments: compare against every seal of the store.
    let others: Vec<SealRecord>;
    let all_refs: Vec<&SealRecord> = if env.is_some() {
        others = store.records()?.into_iter().flatten().collect();
        others.iter().collect()
    } else {
        records.iter().map(|(c, _)| &c.record).collect()
    };
    reuse_findings(&mut f, &all_refs, env);
    let env_names: Vec<String> = store.config().env.keys().cloned().collect();
    reach_findings(&mut f, &all_refs, &env_names, env);
    token_shared_findings(&mut f, &store, &envs);
    for e in &envs {
        let in_env: Vec<&SealRecord> = records
            .iter()
            .map(|(c, _)| &c.record)
            .filter(|r| &r.env == e)
            .collect();
        env_findings(&mut f, ctx, &store, e, &keys, &in_env, views.remove(e))?;
        if let Some(eff) = settings.get(e) {
            settings_findings(&mut f, &store, e, eff);
        }
        if hsm {
            let valid: Vec<&SealRecord> = records
                .iter()
                .filter(|(c, _)| &c.record.env == e && c.problem.is_none())
                .map(|(c, _)| &c.record)
                .collect();
            hsm_findings(&mut f, ctx, &store, e, &valid);
        }
    }
    if ctx.trust.explicit() {
        for x in f.0.iter_mut().filter(|x| x.id == FindingId::EnvUnpinned) {
            x.severity = Severity::Error;
        }
    }
    // A team's view: the findings about the seals it owns.
    if let Some(o) = owner {
        records.retain(|(c, _)| c.record.owner == o);
        if records.is_empty() {
            return Err(RecordError::NoSealOwned {
                owner: o.to_string(),
                env: env.map(str::to_string),
            }
            .into());
        }
        let mine: BTreeSet<(&str, &str)> = records
            .iter()
            .map(|(c, _)| (c.record.env.as_str(), c.record.name.as_str()))
            .collect();
        f.0.retain(|x| match (&x.env, &x.seal) {
            (Some(e), Some(s)) => mine.contains(&(e.as_str(), s.as_str())),
            _ => false,
        });
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
    let mut text = String::with_capacity(f.0.len() * 160);
    for x in &f.0 {
        use std::fmt::Write as _;
        let _ = write!(
            text,
            "{:<7}  {:<21}  ",
            match x.severity {
                Severity::Error => "ERROR",
                Severity::Warning => "warning",
            },
            x.id,
        );
        match (&x.env, &x.seal, &x.custodian) {
            (Some(e), Some(s), Some(c)) => {
                let _ = write!(text, "{e}/{s} ({c})");
            }
            (Some(e), Some(s), None) => {
                let _ = write!(text, "{e}/{s}");
            }
            (Some(e), None, _) => text.push_str(e),
            _ => text.push('-'),
        }
        let _ = writeln!(text, ": {}\n{:>32}→ {}", x.message, "", x.action);
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
    let metrics_text = metrics.map(|_| seal_metrics(&records, &f.0, now));
    // The JSON of 50,000 findings takes longer to make than the text: made only for
    // `--json`.
    let seals = records.len();
    let effective_policy: serde_json::Map<String, serde_json::Value> = settings
        .iter()
        .map(|(e, s)| (e.clone(), json!(s.policy)))
        .collect();
    let findings = f.0;
    let mut report = Report::later(text, move || {
        json!({
            "findings": findings,
            "summary": {
                "errors": errors,
                "warnings": warnings,
                "seals": seals,
                "environments": envs,
                "hsm": hsm,
                "time": clock::format(now),
            },
            "policy": policy,
            "effective_policy": effective_policy,
        })
    });
    if errors > 0 {
        report.exit_code = 1;
    }
    if let (Some(path), Some(text)) = (metrics, metrics_text) {
        if path == std::path::Path::new("-") {
            report.text = text;
        } else {
            crate::metrics::write(path, &text)?;
        }
    }
    Ok(report)
}

/// The metrics of `check --metrics`: each seal's figures and the findings.
fn seal_metrics(
    records: &[(Checked, Activity)],
    findings: &[Finding],
    now: OffsetDateTime,
) -> String {
    let severity = |s: Severity| match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    let seals: Vec<crate::metrics::SealFigures<'_>> = records
        .iter()
        .map(|(c, a)| {
            let r = &c.record;
            let expires = r
                .expires
                .as_deref()
                .and_then(|e| clock::parse_instant(e).ok());
            let of_seal = |s: Severity| {
                findings
                    .iter()
                    .filter(|f| {
                        f.severity == s
                            && f.env.as_deref() == Some(r.env.as_str())
                            && f.seal.as_deref() == Some(r.name.as_str())
                    })
                    .count()
            };
            crate::metrics::SealFigures {
                env: &r.env,
                seal: &r.name,
                owner: &r.owner,
                status: if c.problem.is_some() {
                    "invalid"
                } else if r.revoked.is_some() {
                    "revoked"
                } else if expires.is_some_and(|e| e <= now) {
                    "expired"
                } else {
                    "active"
                },
                last_unseal: a.last_unsealed.as_deref(),
                last_drill: a.last_drilled.as_deref(),
                last_revocation_drill: a.last_revocation_drill.as_deref(),
                rotation_due: rotation_due(r),
                expires,
                errors: of_seal(Severity::Error),
                warnings: of_seal(Severity::Warning),
            }
        })
        .collect();
    let figures: Vec<crate::metrics::FindingFigure<'_>> = findings
        .iter()
        .map(|f| crate::metrics::FindingFigure {
            id: f.id.as_str(),
            severity: severity(f.severity),
        })
        .collect();
    crate::metrics::render(now, &seals, &figures)
}

/// Refuses a policy that makes no sense.
pub fn validate_policy(policy: &Policy) -> Result<()> {
    for (name, v) in [
        ("recovery_test_days", policy.recovery_test_days),
        ("share_proof_days", policy.share_proof_days),
        ("revocation_test_days", policy.revocation_test()),
    ] {
        if v == 0 {
            return Err(RecordError::PolicyDaysZero {
                name: name.to_string(),
            }
            .into());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finding_ids_are_distinct_printed_as_in_json_and_each_in_the_design() {
        let design = include_str!("../docs/DESIGN.md");
        let mut seen = std::collections::BTreeSet::new();
        for id in FindingId::ALL {
            assert!(seen.insert(id.as_str()), "{id} twice");
            assert_eq!(
                serde_json::to_string(id).unwrap(),
                format!("\"{}\"", id.as_str())
            );
            assert!(
                design.contains(&format!("`{id}`")),
                "{id} is not in docs/DESIGN.md"
            );
        }
        assert_eq!(FindingId::RotationOverdue.severity(), Severity::Error);
        assert_eq!(FindingId::RotationDueSoon.severity(), Severity::Warning);
    }

    /// A view whose seals `names` (in that order) each record when they were drilled:
    /// their own name.
    fn view_of(names: &[&str]) -> LogView {
        let mut b = ViewBuilder {
            env: "prod",
            view: LogView::default(),
            seals: HashMap::new(),
        };
        for name in names {
            let log = b.seals.entry(name.to_string()).or_default();
            log.activity.last_drilled = Some(name.to_string());
        }
        b.finish()
    }

    fn drilled(log: SealLog) -> Option<String> {
        log.activity.last_drilled
    }

    #[test]
    fn a_view_gives_each_seal_once_in_any_order_and_nothing_for_a_stranger() {
        let names = ["b", "a", "d", "c", "f"];
        let mut v = view_of(&names);
        let sorted: Vec<&str> = v.seals.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(sorted, ["a", "b", "c", "d", "f"]);
        // In name order, with seals the log does not name between them.
        for (seal, found) in [
            ("a", Some("a")),
            ("aa", None),
            ("c", Some("c")),
            ("e", None),
            ("f", Some("f")),
            ("g", None),
        ] {
            assert_eq!(drilled(v.take(seal)).as_deref(), found, "{seal}");
        }
        // Out of order, after the cursor has passed them; a seal taken is gone.
        assert_eq!(drilled(v.take("b")).as_deref(), Some("b"));
        assert_eq!(drilled(v.take("d")).as_deref(), Some("d"));
        assert_eq!(drilled(v.take("a")), None);
        assert_eq!(drilled(v.take("")), None);
        // `get` leaves it in place.
        let v = view_of(&names);
        assert_eq!(
            v.get("d").and_then(|s| s.activity.last_drilled.clone()),
            Some("d".to_string())
        );
        assert!(v.get("e").is_none());
        assert!(view_of(&[]).get("a").is_none());
        assert_eq!(drilled(view_of(&[]).take("a")), None);
    }
}
