//! `custodian offboard NAME`: records in the store that NAME has left. Every seal in
//! which NAME still holds a share of the current set is then marked as needing a rekey
//! (`list`, `check`) until a rekey without them is confirmed. Nothing is destroyed:
//! their share still counts until that rekey, which is the point of recording it.

use serde_json::json;

use super::{Context, Guard, Report, log_event};
use crate::audit::{self, Draft};
use crate::clock;
use crate::error::{Error, Result};
use crate::names::{NameKind, check};

/// Marks `name` as offboarded.
pub fn run(ctx: &Context, name: &str) -> Result<Report> {
    check(NameKind::Custodian, name)?;
    let g = Guard::begin(ctx)?;
    let store = g.store();
    let mut config = store.config().clone();
    if let Some((known, when)) = config.custodians.iter().find_map(|(k, c)| {
        (k.eq_ignore_ascii_case(name))
            .then(|| c.offboarded.clone().map(|w| (k.clone(), w)))
            .flatten()
    }) {
        return Err(Error::Refused(format!(
            "custodian '{known}' was already offboarded at {when}"
        )));
    }
    let mut holding: Vec<(String, String)> = Vec::new();
    for record in store.records()?.into_iter().flatten() {
        if record.revoked.is_some() {
            continue;
        }
        let current = record.custodians.iter().any(|c| c.name == name);
        let pending = record
            .pending
            .as_ref()
            .is_some_and(|p| p.custodians.iter().any(|c| c.name == name));
        if current || pending {
            holding.push((record.env.clone(), record.name.clone()));
        }
    }
    if holding.is_empty() {
        return Err(Error::Usage(format!(
            "custodian '{name}' holds no share of any live seal in {}: nothing to offboard",
            store.root().display()
        )));
    }
    let now = clock::format(clock::now()?);
    let entry = config.custodians.entry(name.to_string()).or_default();
    entry.offboarded = Some(now.clone());
    entry.offboarded_by = Some(audit::operator());
    store.save_config(&config)?;
    let seals: Vec<&str> = holding.iter().map(|(_, s)| s.as_str()).collect();
    let mut envs: Vec<&str> = holding.iter().map(|(e, _)| e.as_str()).collect();
    envs.sort();
    envs.dedup();
    for env in envs {
        let mut draft = Draft::new("custodian-offboard");
        draft.env = Some(env.to_string());
        let in_env: Vec<&str> = holding
            .iter()
            .filter(|(e, _)| e == env)
            .map(|(_, s)| s.as_str())
            .collect();
        draft.detail = format!(
            "custodian '{name}' offboarded; needing a rekey without them: {}",
            in_env.join(", ")
        );
        log_event(&g, &mut draft)?;
    }
    Ok(Report::new(
        format!(
            "custodian '{name}' offboarded at {now}\nseals in which '{name}' holds a share and that need a rekey without them:\n{}",
            seals
                .iter()
                .map(|s| format!("  zeroth rekey {s} --without {name} --share … --out-dir …\n"))
                .collect::<String>()
        ),
        json!({ "custodian": name, "offboarded": now, "needs_rekey": seals }),
    ))
}
