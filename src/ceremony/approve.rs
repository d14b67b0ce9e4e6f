//! `settings approve --env ENV` and `settings show`: what an environment approved of
//! `zeroth.toml`'s custodians and policy ([`crate::settings`]).

use serde_json::json;

use super::{Context, Guard, Report, with_env_session};
use crate::audit::Draft;
use crate::clock;
use crate::error::Result;
use crate::names::{NameKind, check};
use crate::settings::{self, Settings};
use crate::store::Store;

/// Signs, with the environment's HSM key, the custodians and policy `zeroth.toml` holds
/// now, after showing what changes. Approved offboardings are kept: an approval never
/// brings an offboarded custodian back.
pub fn approve(ctx: &Context, env: &str, yes: bool) -> Result<Report> {
    check(NameKind::Environment, env)?;
    let g = Guard::begin(ctx)?;
    let mut draft = Draft::new("settings-approve");
    let result = (|| {
        let store = g.store();
        store.env(env)?;
        let (key, _) = ctx.trust.env_key(store, env, None)?;
        let eff = settings::effective(store, env, &key);
        if eff.unapproved.is_empty() && eff.problem.is_none() && eff.approved.is_some() {
            return Ok(Report::new(
                format!(
                    "the settings of '{env}' are approved as zeroth.toml has them: nothing to approve\n"
                ),
                json!({ "env": env, "approved": [] }),
            ));
        }
        draft.env = Some(env.to_string());
        let mut changes = eff.unapproved.clone();
        if let Some(p) = &eff.problem {
            changes.insert(
                0,
                format!("replacing approved settings that cannot be used: {p}"),
            );
        }
        if eff.approved.is_none() && eff.problem.is_none() {
            changes.insert(
                0,
                format!(
                    "no settings approved yet: {} is made",
                    settings::path(store, env).display()
                ),
            );
        }
        eprintln!("changes to approve for environment '{env}':");
        for c in &changes {
            eprintln!("  - {}", crate::text::clean(c));
        }
        if !yes {
            super::confirm_on_terminal(
                "sign these settings with the environment's HSM key?",
                "settings approve signs the changes shown above: read them",
                "nothing approved",
            )?;
        }
        let now = clock::format(clock::now()?);
        with_env_session(&g, env, &[], &mut draft, |session, signer, draft| {
            let mut s = Settings::proposed(store, env, &now);
            if let Some(approved) = &eff.approved {
                for (name, c) in &approved.custodians {
                    if c.offboarded.is_some() {
                        let entry = s.custodians.entry(name.clone()).or_default();
                        if entry.offboarded.is_none() {
                            entry.offboarded = c.offboarded.clone();
                            entry.offboarded_by = c.offboarded_by.clone();
                        }
                    }
                }
            }
            signer.sign_settings(session, store, &mut s)?;
            settings::write(store, &s)?;
            draft.record = Some(s.fingerprint());
            draft.detail = format!("settings approved: {}", changes.join("; "));
            Ok(())
        })?;
        Ok(Report::new(
            format!(
                "the settings of '{env}' are approved and signed: {}\n{}",
                settings::path(store, env).display(),
                changes
                    .iter()
                    .map(|c| format!("  - {}\n", crate::text::clean(c)))
                    .collect::<String>()
            ),
            json!({ "env": env, "approved": changes }),
        ))
    })();
    g.finish(&mut draft, result)
}

/// Shows what counts for each environment, and what `zeroth.toml` changes that is not
/// approved. Needs no HSM.
pub fn show(ctx: &Context, env: Option<&str>) -> Result<Report> {
    let store = Store::open(&ctx.store)?;
    let envs: Vec<String> = match env {
        Some(e) => {
            store.env(e)?;
            vec![e.to_string()]
        }
        None => store.config().env.keys().cloned().collect(),
    };
    let mut text = String::new();
    let mut out = Vec::new();
    for e in envs {
        let (key, _) = ctx.trust.env_key(&store, &e, None)?;
        let eff = settings::effective(&store, &e, &key);
        text.push_str(&format!(
            "{e}: {}\n  policy: expiry_warning_days {}, recovery_test_days {}, share_proof_days {}, pending_max_age_days {}, rotation_warning_days {}, revocation_test_days {}\n",
            match (&eff.approved, &eff.problem) {
                (_, Some(p)) => format!("APPROVED SETTINGS UNUSABLE: {}", crate::text::clean(p)),
                (Some(s), None) => format!(
                    "approved {} by {}",
                    crate::text::clean(&s.approved),
                    crate::text::clean(&s.approved_by)
                ),
                (None, None) => "nothing approved yet".into(),
            },
            eff.policy.expiry_warning_days,
            eff.policy.recovery_test_days,
            eff.policy.share_proof_days,
            eff.policy.pending_max_age_days,
            eff.policy
                .rotation_warning_days
                .unwrap_or(crate::store::Policy::ROTATION_WARNING_DAYS),
            eff.policy.revocation_test()
        ));
        for (name, (when, _)) in &eff.offboarded {
            text.push_str(&format!("  offboarded: {name} ({when})\n"));
        }
        for (name, r) in &eff.recipients {
            text.push_str(&format!(
                "  recipient: {name} = {}\n",
                crate::text::clean(r)
            ));
        }
        for u in &eff.unapproved {
            text.push_str(&format!("  NOT APPROVED: {}\n", crate::text::clean(u)));
        }
        out.push(json!({
            "env": e,
            "policy": eff.policy,
            "offboarded": eff.offboarded.keys().collect::<Vec<_>>(),
            "recipients": eff.recipients,
            "unapproved": eff.unapproved,
            "problem": eff.problem,
        }));
    }
    Ok(Report::new(text, json!({ "settings": out })))
}
