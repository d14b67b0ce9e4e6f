//! `revoke`: crypto-shredding. The HSM and its PIN, no quorum — in an emergency nobody
//! waits for five custodians. K_seal (and the K_seal of a pending operation) is
//! destroyed first, at once: from that instant every share and every copy of the blob
//! is worthless. Then the record says revoked, when, by whom and why. A crash between
//! the two leaves a seal nothing opens whose record does not say so yet; running
//! revoke again completes it.

use serde_json::json;

use super::{Context, Guard, Report, read_verified, refuse_stale, with_env_session};
use crate::audit::{self, Draft};
use crate::clock;
use crate::error::{CeremonyError, Error, Result};
use crate::fault;
use crate::seal::Revocation;

/// Revokes `seal`; `confirm` must name it too.
pub fn run(ctx: &Context, seal: &str, reason: &str, confirm: Option<&str>) -> Result<Report> {
    crate::names::check(crate::names::NameKind::Seal, seal)?;
    if confirm != Some(seal) {
        return Err(Error::Usage(format!(
            "revoke destroys the key of '{seal}' for good: add --confirm-seal {seal} to say you mean it"
        )));
    }
    let reason = reason.trim();
    if reason.is_empty() || reason.len() > 300 || reason.chars().any(char::is_control) {
        return Err(Error::Usage(
            "--reason must say why, in one line of at most 300 characters".into(),
        ));
    }
    let g = Guard::begin(ctx)?;
    let mut draft = Draft::new("revoke");
    let result = (|| {
        let store = g.store();
        let (record, key) = read_verified(ctx, store, seal, &mut draft)?;
        record.refuse_revoked()?;
        // A revocation is an emergency: an old copy of the record does not stop it
        // (every key of the seal goes, whatever the record says), but it is said.
        if let Err(e) = refuse_stale(store, &record, &key) {
            eprintln!("warning: {}; revoking all the same", e.message());
        }
        let now = clock::format(clock::now()?);
        with_env_session(
            &g,
            &record.env,
            &[],
            &mut draft,
            |session, signer, draft| {
                // Every key of the seal: all versions and sets, current, pending or
                // left behind, found by label on the token rather than by what this
                // (possibly old) record says is current.
                let prefix = format!("zeroth:{}:{}:v", record.env, record.name);
                let mut destroyed = Vec::new();
                for (h, label, _) in session.seal_key_objects(&prefix)? {
                    session.destroy(h)?;
                    destroyed.push(label);
                }
                fault::point("revoke:after-destroy");
                let mut updated = record.clone();
                updated.pending = None;
                updated.revoked = Some(Revocation {
                    time: now.clone(),
                    operator: audit::operator(),
                    reason: reason.to_string(),
                });
                signer.sign_record(session, store, &mut updated)?;
                store.write_record(&updated)?;
                fault::point("revoke:after-record");
                draft.seal(&updated);
                draft.detail = format!(
                    "revoked: {reason}; destroyed {}",
                    if destroyed.is_empty() {
                        "nothing (its keys were already gone)".to_string()
                    } else {
                        destroyed.join(", ")
                    }
                );
                Ok(destroyed)
            },
        )
    })();
    let destroyed = g.finish(&mut draft, result)?;
    let mut text = format!("seal '{seal}' revoked: ");
    if destroyed.is_empty() {
        text.push_str("its keys were already gone from the token");
    } else {
        text.push_str(&format!(
            "destroyed {} key{} on the token:\n",
            destroyed.len(),
            if destroyed.len() == 1 { "" } else { "s" }
        ));
        for label in &destroyed {
            text.push_str(&format!("  {label}\n"));
        }
    }
    text.push_str("every share and every copy of its record now opens nothing\n");
    Ok(Report::new(
        text,
        json!({ "seal": seal, "revoked": true, "destroyed": destroyed, "reason": reason }),
    ))
}

/// `revoke SEAL --drill`: proves, without revoking, that revocation would work now.
/// The environment's token is reached with its PIN and its signing key (as `revoke`
/// reaches it), the key the record names is found on it with every other key of the
/// seal, each one destroyable (`CKA_DESTROYABLE`), and a vault seal's server answers
/// and is the one recorded. Nothing is destroyed and the record is not written; the
/// drill is logged, signed when it succeeds (`check` counts the last one:
/// `revocation-untested`).
pub fn drill(ctx: &Context, seal: &str) -> Result<Report> {
    crate::names::check(crate::names::NameKind::Seal, seal)?;
    let g = Guard::begin(ctx)?;
    let mut draft = Draft::new("revoke-drill");
    let result = (|| {
        let store = g.store();
        let (record, key) = read_verified(ctx, store, seal, &mut draft)?;
        record.refuse_revoked()?;
        // A drill is not an emergency: it proves the path for the record as it is, so
        // an old copy is refused.
        refuse_stale(store, &record, &key)?;
        with_env_session(
            &g,
            &record.env,
            &[],
            &mut draft,
            |session, _signer, draft| {
                let token = &session.token_label();
                let prefix = format!("zeroth:{}:{}:v", record.env, record.name);
                let keys = session.seal_key_objects(&prefix)?;
                if !keys.iter().any(|(_, label, _)| *label == record.key.label) {
                    return Err(CeremonyError::RevokeKeyMissing {
                        seal: seal.to_string(),
                        label: record.key.label.clone(),
                        token: token.to_string(),
                    }
                    .into());
                }
                let mut labels = Vec::new();
                for (h, label, _) in &keys {
                    if !session.destroyable(*h)? {
                        return Err(CeremonyError::KeyNotDestroyable {
                            label: label.clone(),
                            seal: seal.to_string(),
                            token: token.to_string(),
                        }
                        .into());
                    }
                    labels.push(label.clone());
                }
                let server = match &record.vault {
                    Some(b) => Some(vault_answers(&record, b)?),
                    None => None,
                };
                draft.detail = format!(
                    "revocation drill: nothing destroyed; {} destroyable key{} found ({}){}",
                    labels.len(),
                    if labels.len() == 1 { "" } else { "s" },
                    labels.join(", "),
                    server
                        .as_deref()
                        .map(|s| format!("; {s}"))
                        .unwrap_or_default()
                );
                Ok((labels, server))
            },
        )
    })();
    let (labels, server) = g.finish(&mut draft, result)?;
    let mut text = format!(
        "revocation drill of '{seal}' passed: nothing was destroyed\n  the token is reached with its PIN and signs\n  {} key{} of the seal found, each destroyable:\n",
        labels.len(),
        if labels.len() == 1 { "" } else { "s" }
    );
    for l in &labels {
        text.push_str(&format!("    {l}\n"));
    }
    if let Some(s) = &server {
        text.push_str(&format!("  {s}\n"));
    }
    text.push_str(&format!(
        "revoking it would work now: zeroth revoke {seal} --reason … --confirm-seal {seal}\n"
    ));
    Ok(Report::new(
        text,
        json!({ "seal": seal, "drill": true, "revoked": false, "keys": labels, "vault": server }),
    ))
}

/// Checks that the vault server of a vault seal answers and is the one recorded.
fn vault_answers(
    record: &crate::seal::SealRecord,
    b: &crate::seal::VaultBinding,
) -> Result<String> {
    let endpoints = crate::vault::ServerArgs::default().endpoints(Some(&b.addr))?;
    let mut last = None;
    for endpoint in &endpoints {
        let vault = crate::vault::Vault::new(endpoint, None)?;
        match vault.seal_status() {
            Ok(status) => {
                crate::vault::check_binding(record, b, &vault, &status, None)?;
                return Ok(format!(
                    "vault {} answers and is the server recorded ({})",
                    vault.addr(),
                    if status.sealed { "sealed" } else { "unsealed" }
                ));
            }
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| CeremonyError::NoVaultAddress.into()))
}
