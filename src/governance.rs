//! `list`: the inventory of seals. (Governance findings — `check` — build on it.)

use serde_json::json;
use time::OffsetDateTime;

use crate::ceremony::{Context, Report, verify_record};
use crate::clock;
use crate::error::Result;
use crate::seal::SealRecord;
use crate::store::Store;

/// One line of the inventory.
#[derive(Debug, Clone, serde::Serialize)]
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
    pub custodians: usize,
    /// Credential version.
    pub version: u32,
    /// Share set.
    pub set: u32,
    /// When created.
    pub created: String,
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

fn entry(store: &Store, record: &SealRecord, now: OffsetDateTime) -> Entry {
    let due = clock::parse_instant(&record.sealed)
        .map(|t| t + time::Duration::days(i64::from(record.rotate_every_days)))
        .ok();
    let expired = record
        .expires
        .as_deref()
        .and_then(|e| clock::parse_instant(e).ok())
        .is_some_and(|e| e <= now);
    let problem = verify_record(store, record, None)
        .err()
        .map(|e| e.message().to_string());
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
        custodians: record.custodians.len(),
        version: record.version,
        set: record.set,
        created: record.created.clone(),
        rotation_due: due.map(clock::format).unwrap_or_default(),
        expires: record.expires.clone(),
                status,
        flags,
        pending: record.pending.as_ref().map(|p| {
            serde_json::json!({ "kind": p.kind.name(), "operation": p.id, "created": p.created, "operator": p.operator })
        }),
        offboarded_holders,
        problem,
    }
}

/// Lists the seals of the store, optionally of one environment.
pub fn list(ctx: &Context, env: Option<&str>) -> Result<Report> {
    let store = Store::open(&ctx.store)?;
    if let Some(env) = env {
        store.env(env)?;
    }
    let now = clock::now()?;
    let mut entries = Vec::new();
    let mut unreadable = Vec::new();
    for r in store.records()? {
        match r {
            Ok(record) if env.is_none_or(|e| e == record.env) => {
                entries.push(entry(&store, &record, now))
            }
            Ok(_) => {}
            Err(e) => unreadable.push(e.message().to_string()),
        }
    }
    let day = |s: &str| s.get(..10).unwrap_or(s).to_string();
    let mut rows = vec![
        [
            "SEAL",
            "ENV",
            "OWNER",
            "T/N",
            "VERSION",
            "CREATED",
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
            format!("{}/{}", e.threshold, e.custodians),
            format!("v{}", e.version),
            day(&e.created),
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
            text.push_str(&format!(
                "pending: {} {} of '{}', written {} by {}: confirm with --confirm {}, or --cancel {}\n",
                p["kind"].as_str().unwrap_or_default(),
                p["operation"].as_str().unwrap_or_default(),
                e.name,
                p["created"].as_str().unwrap_or_default(),
                p["operator"].as_str().unwrap_or_default(),
                p["operation"].as_str().unwrap_or_default(),
                p["operation"].as_str().unwrap_or_default(),
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
