//! `custodian offboard NAME`: records that NAME has left. Every seal in which NAME
//! still holds a share of the current set is then marked as needing a rekey (`list`,
//! `check`) until a rekey without them is confirmed. Nothing is destroyed: their share
//! still counts until that rekey, which is the point of recording it.
//!
//! The offboarding is written to `zeroth.toml` (where it counts at once: an offboarding
//! only makes things stricter) and, in each environment concerned whose token can be
//! opened without asking for a PIN that is not at hand, signed into that environment's
//! approved settings, so that removing it from `zeroth.toml` later changes nothing.

use serde_json::json;

use super::{Context, Guard, Report, log_event};
use crate::audit::{self, Draft};
use crate::clock;
use crate::error::{CeremonyError, Result};
use crate::names::{NameKind, check};
use crate::settings;

/// Marks `name` as offboarded.
pub fn run(ctx: &Context, name: &str) -> Result<Report> {
    check(NameKind::Custodian, name)?;
    let g = Guard::begin(ctx)?;
    let store = g.store();
    let mut config = store.config().clone();
    // Offboarded already, under any case of the name: in zeroth.toml, or in the
    // approved settings of an environment (whatever zeroth.toml says now).
    let mut known = config.custodians.iter().find_map(|(k, c)| {
        (k.eq_ignore_ascii_case(name))
            .then(|| c.offboarded.clone().map(|w| (k.clone(), w)))
            .flatten()
    });
    for env in store.config().env.keys() {
        if known.is_some() {
            break;
        }
        if let Ok((key, _)) = ctx.trust.env_key_any(store, env) {
            let eff = settings::effective(store, env, &key);
            known = eff
                .offboarded(name)
                .map(|(k, w)| (k.to_string(), w.to_string()));
        }
    }
    if let Some((known, when)) = known {
        return Err(CeremonyError::CustodianAlreadyOffboarded { name: known, when }.into());
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
        return Err(CeremonyError::CustodianHoldsNothing {
            name: name.to_string(),
            store: store.root().to_path_buf(),
        }
        .into());
    }
    let now = clock::format(clock::now()?);
    let by = audit::operator();
    let entry = config.custodians.entry(name.to_string()).or_default();
    entry.offboarded = Some(now.clone());
    entry.offboarded_by = Some(by.clone());
    store.save_config(&config)?;
    let seals: Vec<&str> = holding.iter().map(|(_, s)| s.as_str()).collect();
    let mut envs: Vec<&str> = holding.iter().map(|(e, _)| e.as_str()).collect();
    envs.sort();
    envs.dedup();
    let pin_at_hand = ctx.pin_file.is_some() || std::env::var_os(crate::pin::PIN_ENV).is_some();
    let mut signed_in = Vec::new();
    let mut unsigned_in = Vec::new();
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
        if !pin_at_hand {
            log_event(&g, &mut draft)?;
            unsigned_in.push(env.to_string());
            continue;
        }
        // Signed into the environment's approved settings: the approved ones with this
        // offboarding added, nothing else of zeroth.toml.
        let signed =
            super::custodian::sign_change(ctx, &g, env, &now, &by, &mut draft, name, |c| {
                c.offboarded = Some(now.clone());
                c.offboarded_by = Some(by.clone());
            });
        match signed {
            Ok(()) => signed_in.push(env.to_string()),
            Err(e) => {
                eprintln!(
                    "warning: the offboarding of '{name}' could not be signed into the settings of '{env}': {}; it counts all the same (zeroth.toml), and 'zeroth settings approve --env {env}' signs it",
                    e.message()
                );
                unsigned_in.push(env.to_string());
            }
        }
    }
    let mut text = format!(
        "custodian '{name}' offboarded at {now}\nseals in which '{name}' holds a share and that need a rekey without them:\n{}",
        seals
            .iter()
            .map(|s| format!("  zeroth rekey {s} --without {name} --share … --out-dir …\n"))
            .collect::<String>()
    );
    if !signed_in.is_empty() {
        text.push_str(&format!(
            "signed into the approved settings of: {}\n",
            signed_in.join(", ")
        ));
    }
    if !unsigned_in.is_empty() {
        text.push_str(&format!(
            "not signed yet in: {} (it counts already; sign it with 'zeroth settings approve --env ENV')\n",
            unsigned_in.join(", ")
        ));
    }
    Ok(Report::new(
        text,
        json!({
            "custodian": name,
            "offboarded": now,
            "needs_rekey": seals,
            "signed_in": signed_in,
            "unsigned_in": unsigned_in,
        }),
    ))
}
