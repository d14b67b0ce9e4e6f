//! What a seal declares of itself, changed by signed record changes: who answers for it
//! and what it unlocks.
//!
//! `owner offboard TEAM` and `owner transfer SEAL --to NEW`: offboarding bound to the
//! credentials a team answers for. Offboarding marks each live seal the team owns, in
//! its record, signed by the environment's HSM key (so removing the mark from the store
//! is a record that fails its signature, and restoring an old copy is a stale record);
//! `check` reports every marked seal as an error until it is handed over to a new owner
//! (a signed record change) or revoked.
//!
//! `reach SEAL --unlocks SYSTEM…`: declares (replaces) what the credential unlocks, for a
//! seal made before it was declared or whose reach changed.

use serde_json::json;

use super::{Context, Guard, Report, read_verified, refuse_stale, with_env_session};
use crate::audit::{self, Draft};
use crate::clock;
use crate::error::{CeremonyError, Error, Result};
use crate::seal::{OwnerOffboarded, SealRecord};

/// An owner's name: one line of at most 200 characters, as `--owner` takes it.
fn check_owner(owner: &str, what: &str) -> Result<()> {
    if owner.trim().is_empty() || owner.len() > 200 || owner.chars().any(char::is_control) {
        return Err(Error::Usage(format!(
            "{what} must be one line of at most 200 characters, not empty"
        )));
    }
    Ok(())
}

/// Writes `change` into the record of `seal` (read afresh, verified, current), signed,
/// in one session of its environment's token, with a log entry `event` saying
/// `detail`.
fn resign(
    ctx: &Context,
    g: &Guard<'_>,
    seal: &str,
    event: &'static str,
    change: impl FnOnce(&mut SealRecord) -> Result<String>,
) -> Result<SealRecord> {
    let mut draft = Draft::new(event);
    let result = (|| {
        let store = g.store();
        let (record, key) = read_verified(ctx, store, seal, &mut draft)?;
        record.refuse_revoked()?;
        refuse_stale(store, &record, &key)?;
        let mut updated = record.clone();
        let detail = change(&mut updated)?;
        with_env_session(g, &record.env, &[], &mut draft, |session, signer, draft| {
            signer.sign_record(session, store, &mut updated)?;
            store.write_record(&updated)?;
            draft.seal(&updated);
            draft.detail = detail;
            Ok(updated)
        })
    })();
    super::finish(g.ctx, g.store(), &mut draft, result)
}

/// `owner offboard TEAM`: marks every live seal TEAM owns.
pub fn offboard(ctx: &Context, team: &str) -> Result<Report> {
    check_owner(team, "the team")?;
    let g = Guard::begin(ctx)?;
    let store = g.store();
    let mut owned = Vec::new();
    let mut already = Vec::new();
    for record in store.records()?.into_iter().flatten() {
        if record.owner != team || record.revoked.is_some() {
            continue;
        }
        if record.owner_offboarded.is_some() {
            already.push(record.name.clone());
        } else {
            owned.push(record.name.clone());
        }
    }
    if owned.is_empty() {
        return Err(if already.is_empty() {
            CeremonyError::OwnerOwnsNothing {
                team: team.to_string(),
                store: store.root().to_path_buf(),
            }
        } else {
            CeremonyError::OwnerAlreadyOffboarded {
                team: team.to_string(),
                seals: already,
            }
        }
        .into());
    }
    let now = clock::format(clock::now()?);
    let by = audit::operator();
    let mut marked = Vec::new();
    for seal in &owned {
        let mark = OwnerOffboarded {
            time: now.clone(),
            operator: by.clone(),
        };
        let team = team.to_string();
        resign(ctx, &g, seal, "owner-offboard", move |r| {
            r.owner_offboarded = Some(mark);
            Ok(format!(
                "owner '{team}' offboarded: the seal needs a new owner or its revocation"
            ))
        })
        .map_err(|e| {
            e.map_message(|m| {
                let done = if marked.is_empty() {
                    String::new()
                } else {
                    format!(
                        " (marked before it: {}; owner offboard again marks the rest)",
                        marked.join(", ")
                    )
                };
                format!("{seal}: {m}{done}")
            })
        })?;
        marked.push(seal.clone());
    }
    let mut text = format!(
        "owner '{team}' offboarded at {now}: {} seal{} need a new owner or their revocation:\n",
        marked.len(),
        if marked.len() == 1 { "" } else { "s" }
    );
    for s in &marked {
        text.push_str(&format!(
            "  zeroth owner transfer {s} --to NEW-OWNER   (or zeroth revoke {s} …)\n"
        ));
    }
    Ok(Report::new(
        text,
        json!({ "owner": team, "offboarded": now, "seals": marked }),
    ))
}

/// `owner transfer SEAL --to NEW`: hands the seal to a new owner (clearing an
/// offboarding mark).
pub fn transfer(ctx: &Context, seal: &str, to: &str) -> Result<Report> {
    crate::names::check(crate::names::NameKind::Seal, seal)?;
    check_owner(to, "--to")?;
    let g = Guard::begin(ctx)?;
    let to_owner = to.to_string();
    let mut from = String::new();
    let from_ref = &mut from;
    let updated = resign(ctx, &g, seal, "owner-transfer", move |r| {
        if r.owner == to_owner {
            return Err(CeremonyError::AlreadyOwned {
                seal: r.name.clone(),
                owner: to_owner.clone(),
            }
            .into());
        }
        *from_ref = std::mem::replace(&mut r.owner, to_owner.clone());
        r.owner_offboarded = None;
        Ok(format!(
            "owner '{from_ref}' handed the seal to '{to_owner}'"
        ))
    })?;
    Ok(Report::new(
        format!(
            "seal '{seal}' now owned by '{}' (was '{from}'), the record signed by environment '{}'\n",
            updated.owner, updated.env
        ),
        json!({ "seal": seal, "owner": updated.owner, "previous_owner": from }),
    ))
}

/// `reach SEAL --unlocks SYSTEM…`: declares what the seal's credential unlocks,
/// replacing what it declared.
pub fn reach(ctx: &Context, seal: &str, unlocks: &[String]) -> Result<Report> {
    crate::names::check(crate::names::NameKind::Seal, seal)?;
    if unlocks.is_empty() {
        return Err(Error::Usage(
            "name what the credential unlocks: --unlocks SYSTEM (repeat)".into(),
        ));
    }
    crate::seal::check_unlocks(unlocks)?;
    let g = Guard::begin(ctx)?;
    let targets = unlocks.to_vec();
    let updated = resign(ctx, &g, seal, "reach", move |r| {
        if r.unlocks == targets {
            return Err(CeremonyError::UnlocksUnchanged {
                seal: r.name.clone(),
                unlocks: targets.clone(),
            }
            .into());
        }
        let before = if r.unlocks.is_empty() {
            "nothing".to_string()
        } else {
            r.unlocks.join(", ")
        };
        r.unlocks = targets.clone();
        Ok(format!(
            "unlocks {} (declared before: {before})",
            targets.join(", ")
        ))
    })?;
    Ok(Report::new(
        format!(
            "seal '{seal}' unlocks {}, the record signed by environment '{}'\n",
            updated.unlocks.join(", "),
            updated.env
        ),
        json!({ "seal": seal, "unlocks": updated.unlocks }),
    ))
}

/// `access SEAL …`: sets when and how the credential is expected to be recovered
/// (replacing what was set; `clear` removes it): a signed record change.
pub fn access(
    ctx: &Context,
    seal: &str,
    access: Option<crate::seal::SealAccess>,
) -> Result<Report> {
    crate::names::check(crate::names::NameKind::Seal, seal)?;
    let g = Guard::begin(ctx)?;
    let wanted = access.clone();
    let updated = resign(ctx, &g, seal, "access", move |r| {
        if r.access == wanted {
            return Err(CeremonyError::AccessUnchanged {
                seal: r.name.clone(),
            }
            .into());
        }
        r.access = wanted.clone();
        Ok(match &wanted {
            Some(a) => format!("access policy: {}", access_words(a)),
            None => "access policy cleared".into(),
        })
    })?;
    let text = match &updated.access {
        Some(a) => format!("seal '{seal}': {}\n", access_words(a)),
        None => format!("seal '{seal}': no access policy\n"),
    };
    Ok(Report::new(
        text,
        json!({ "seal": seal, "access": updated.access }),
    ))
}

/// An access policy in words.
pub fn access_words(a: &crate::seal::SealAccess) -> String {
    let mut parts = Vec::new();
    if a.require_reason {
        parts.push("a reason required".to_string());
    }
    if let Some(r) = &a.max_recoveries {
        parts.push(format!("at most {} recoveries in {} days", r.count, r.days));
    }
    if let Some(w) = &a.window {
        parts.push(format!("recovered within {}", w.words()));
    }
    if parts.is_empty() {
        "no constraint".into()
    } else {
        parts.join("; ")
    }
}
