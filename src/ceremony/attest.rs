//! `audit attest`: an operator with the HSM signs an entry that covers the unsigned
//! entries before it (written when the HSM could not sign), after reading them.

use serde_json::json;

use super::{Context, Guard, Report, with_env_session};
use crate::audit::Draft;
use crate::error::Result;

/// Appends a signed `attest` entry to the log of `env`.
pub fn run(ctx: &Context, env: &str) -> Result<Report> {
    let g = Guard::begin(ctx)?;
    let mut draft = Draft::new("attest");
    let result = (|| {
        let store = g.store();
        store.env(env)?;
        let (key, _) = ctx.trust.env_key(store, env, None)?;
        let before = crate::audit::verify(store, env, &key)?;
        let pending: Vec<u64> = match &before.damage {
            Some(d) if d.kind == crate::audit::DamageKind::Unsigned => {
                (d.seq..=before.entries).collect()
            }
            Some(d) => {
                return Err(crate::error::CeremonyError::LogDamaged {
                    env: env.to_string(),
                    seq: d.seq,
                    damage: d.kind.name().to_string(),
                    detail: d.detail.clone(),
                }
                .into());
            }
            None => Vec::new(),
        };
        draft.detail = if pending.is_empty() {
            "attested the log: no unsigned entries were pending".to_string()
        } else {
            format!(
                "attested unsigned entries {} to {} after review",
                pending[0],
                pending[pending.len() - 1]
            )
        };
        with_env_session(&g, env, &[], &mut draft, |_, _, _| Ok(()))?;
        Ok(pending)
    })();
    let pending = g.finish(&mut draft, result)?;
    Ok(Report::new(
        format!("{}\n", draft.detail),
        json!({ "env": env, "attested": pending }),
    ))
}
