//! `custodian add` and `custodian list`: custodians as data, not lines edited by hand
//! in `zeroth.toml`.
//!
//! A recipient counts once an environment approved it (signed settings). So `custodian
//! add NAME --recipient R` writes the proposal to `zeroth.toml` and, in each
//! environment asked for (all of them by default) whose token opens with a PIN at hand
//! (`--pin-file`, `ZEROTH_PIN`), signs it into the approved settings at once, logged as
//! `custodian-add`; elsewhere it says that `zeroth settings approve --env ENV` is
//! needed. `custodian list` shows, per custodian, the recipient's fingerprint, the
//! seals they hold a share of, when it was last proven, and whether they left.

use std::collections::BTreeMap;

use serde_json::json;

use super::{Context, Guard, Report, with_env_session};
use crate::audit::{self, Draft};
use crate::clock;
use crate::error::{CeremonyError, Result};
use crate::names::{NameKind, check};
use crate::recipient::Recipient;
use crate::settings::{self, Settings};
use crate::store::Store;

/// Signs a change to custodian `name` into the approved settings of `env`, in a session
/// on its token (logged through `draft`): the approved settings as they verify against
/// the pinned key (none yet: an empty set), with `change` made to `name`'s entry and
/// nothing else of `zeroth.toml`. Refused while the approved settings do not verify.
/// Used by `custodian add` and `custodian offboard`.
#[allow(clippy::too_many_arguments)]
pub(super) fn sign_change(
    ctx: &Context,
    g: &Guard,
    env: &str,
    now: &str,
    by: &str,
    draft: &mut Draft,
    name: &str,
    change: impl FnOnce(&mut crate::store::CustodianConfig),
) -> Result<()> {
    let store = g.store();
    let (key, _) = ctx.trust.env_key(store, env, None)?;
    let eff = settings::effective(store, env, &key);
    if let Some(p) = &eff.problem {
        return Err(CeremonyError::SettingsUnusable { detail: p.clone() }.into());
    }
    with_env_session(g, env, &[], draft, |session, signer, draft| {
        let mut s = eff.approved.clone().unwrap_or_else(|| Settings {
            policy: Default::default(),
            custodians: Default::default(),
            ..Settings::proposed(store, env, now)
        });
        change(s.custodians.entry(name.to_string()).or_default());
        s.approved = now.to_string();
        s.approved_by = by.to_string();
        signer.sign_settings(session, store, &mut s)?;
        settings::write(store, &s)?;
        draft.record = Some(s.fingerprint());
        Ok(())
    })
}

/// Adds custodian `name` with `recipient` (or none: plain shares), or with `replace`
/// changes the recipient of one the store has.
pub fn add(
    ctx: &Context,
    name: &str,
    recipient: Option<&str>,
    envs: &[String],
    replace: bool,
) -> Result<Report> {
    check(NameKind::Custodian, name)?;
    let canonical = recipient
        .map(|r| Recipient::parse(name, r, "--recipient").map(|r| r.canonical()))
        .transpose()?;
    let g = Guard::begin(ctx)?;
    let store = g.store();
    let envs: Vec<String> = if envs.is_empty() {
        store.config().env.keys().cloned().collect()
    } else {
        for e in envs {
            store.env(e)?;
        }
        envs.to_vec()
    };
    if envs.is_empty() {
        return Err(CeremonyError::NoEnvironment.into());
    }
    let mut config = store.config().clone();
    // The name, under any case, as the store and the approved settings know it.
    let known = config
        .custodians
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(k, c)| (k.clone(), c.clone()));
    if let Some((k, c)) = &known {
        if let Some(when) = &c.offboarded {
            return Err(CeremonyError::CustodianNameRetired {
                name: k.clone(),
                when: when.clone(),
            }
            .into());
        }
        if k != name {
            return Err(CeremonyError::CustodianExistsOtherCase { name: k.clone() }.into());
        }
        if c.recipient != canonical && c.recipient.is_some() && !replace {
            return Err(CeremonyError::CustodianExists {
                name: name.to_string(),
                recipient: fingerprint(name, c.recipient.as_deref()),
            }
            .into());
        }
    }
    for env in &envs {
        if let Ok((key, _)) = ctx.trust.env_key_any(store, env) {
            let eff = settings::effective(store, env, &key);
            if let Some((k, when)) = eff.offboarded(name) {
                return Err(CeremonyError::CustodianOffboardedInEnv {
                    name: k.to_string(),
                    when: when.to_string(),
                    env: env.to_string(),
                }
                .into());
            }
        }
    }
    config
        .custodians
        .entry(name.to_string())
        .or_default()
        .recipient = canonical.clone();
    store.save_config(&config)?;
    let now = clock::format(clock::now()?);
    let by = audit::operator();
    let pin_at_hand = ctx.pin_file.is_some() || std::env::var_os(crate::pin::PIN_ENV).is_some();
    let mut signed_in = Vec::new();
    let mut to_approve = Vec::new();
    for env in &envs {
        if !pin_at_hand {
            to_approve.push(env.clone());
            continue;
        }
        let mut draft = Draft::new("custodian-add");
        draft.env = Some(env.clone());
        draft.detail = format!(
            "custodian '{name}' added, recipient {}",
            fingerprint(name, canonical.as_deref())
        );
        let signed = sign_change(ctx, &g, env, &now, &by, &mut draft, name, |c| {
            c.recipient = canonical.clone();
        });
        match signed {
            Ok(()) => signed_in.push(env.clone()),
            Err(e) => {
                eprintln!(
                    "warning: custodian '{name}' could not be signed into the settings of '{env}': {}",
                    e.message()
                );
                to_approve.push(env.clone());
            }
        }
    }
    let mut text = format!(
        "custodian '{name}' {} in zeroth.toml, recipient {}\n",
        if known.is_some() { "updated" } else { "added" },
        fingerprint(name, canonical.as_deref())
    );
    if !signed_in.is_empty() {
        text.push_str(&format!(
            "approved (signed into the settings) in: {}\n",
            signed_in.join(", ")
        ));
    }
    for env in &to_approve {
        text.push_str(&format!(
            "not approved yet in '{env}': a share is encrypted to it only once approved: zeroth settings approve --env {env}\n"
        ));
    }
    Ok(Report::new(
        text,
        json!({
            "custodian": name,
            "recipient": canonical,
            "fingerprint": canonical.as_deref().map(|r| fingerprint(name, Some(r))),
            "approved_in": signed_in,
            "to_approve_in": to_approve,
        }),
    ))
}

/// The fingerprint of a recipient, as dealings print it: the `age1…` recipient, an SSH
/// key's `SHA256:…`, `passphrase`; `-` for none.
fn fingerprint(name: &str, recipient: Option<&str>) -> String {
    match recipient {
        None => "-".into(),
        Some(r) => Recipient::parse(name, r, "zeroth.toml")
            .map(|r| r.fingerprint())
            .unwrap_or_else(|_| "(not valid)".into()),
    }
}

/// What `custodian list` shows of one custodian.
#[derive(Default, serde::Serialize)]
struct Row {
    name: String,
    recipient: Option<String>,
    fingerprint: String,
    /// Environments that approved the recipient.
    approved_in: Vec<String>,
    seals: Vec<String>,
    last_proven: Option<String>,
    offboarded: Option<String>,
}

/// The row of `name`, made when it is not there yet.
fn row<'a>(rows: &'a mut BTreeMap<String, Row>, name: &str) -> &'a mut Row {
    rows.entry(name.to_string()).or_insert_with(|| Row {
        name: name.to_string(),
        ..Row::default()
    })
}

/// Lists the custodians the store knows: from `zeroth.toml`, the approved settings and
/// the seal records.
pub fn list(ctx: &Context, env: Option<&str>) -> Result<Report> {
    let store = Store::open(&ctx.store)?;
    if let Some(e) = env {
        store.env(e)?;
    }
    let mut rows: BTreeMap<String, Row> = BTreeMap::new();
    for (name, c) in &store.config().custodians {
        let r = row(&mut rows, name);
        r.recipient = c.recipient.clone();
        r.offboarded = c.offboarded.clone();
    }
    for e in store.config().env.keys() {
        if env.is_some_and(|only| only != e) {
            continue;
        }
        let Ok((key, _)) = ctx.trust.env_key_any(&store, e) else {
            continue;
        };
        let eff = settings::effective(&store, e, &key);
        for (name, r) in &eff.recipients {
            let row = row(&mut rows, name);
            if row.recipient.is_none() {
                row.recipient = Some(r.clone());
            }
            if row.recipient.as_deref() == Some(r.as_str()) {
                row.approved_in.push(e.clone());
            }
        }
        for (name, (when, _)) in &eff.offboarded {
            let row = row(&mut rows, name);
            if row.offboarded.is_none() {
                row.offboarded = Some(when.clone());
            }
        }
    }
    for record in store.records()?.into_iter().flatten() {
        if record.revoked.is_some() || env.is_some_and(|only| only != record.env) {
            continue;
        }
        for c in &record.custodians {
            let row = row(&mut rows, &c.name);
            row.seals.push(format!("{} ({})", record.name, record.env));
            if let Some(p) = &c.last_proven
                && row.last_proven.as_ref().is_none_or(|l| p > l)
            {
                row.last_proven = Some(p.clone());
            }
        }
    }
    let mut table = vec![
        [
            "NAME",
            "RECIPIENT",
            "APPROVED IN",
            "SEALS",
            "LAST PROVEN",
            "OFFBOARDED",
        ]
        .map(String::from),
    ];
    let clean = |s: &str| crate::text::clean(s).into_owned();
    for r in rows.values_mut() {
        r.fingerprint = fingerprint(&r.name, r.recipient.as_deref());
        table.push([
            clean(&r.name),
            clean(&r.fingerprint),
            if r.recipient.is_none() {
                "-".into()
            } else if r.approved_in.is_empty() {
                "NOT APPROVED".into()
            } else {
                r.approved_in.join(",")
            },
            if r.seals.is_empty() {
                "-".into()
            } else {
                clean(&r.seals.join(", "))
            },
            r.last_proven
                .as_deref()
                .map(clean)
                .unwrap_or_else(|| "never".into()),
            r.offboarded
                .as_deref()
                .map(clean)
                .unwrap_or_else(|| "-".into()),
        ]);
    }
    let text = if table.len() == 1 {
        "no custodians\n".to_string()
    } else {
        crate::table(&table)
    };
    Ok(Report::new(
        text,
        json!({ "custodians": rows.values().collect::<Vec<_>>() }),
    ))
}
