//! `env init` binds a token to an environment; `env list` shows the bindings.

use std::path::Path;

use serde_json::json;

use super::{Context, Report, finish, random_id};
use crate::audit::{self, Draft, Outcome};
use crate::clock;
use crate::error::{Error, Result};
use crate::hsm::{Hsm, WrapMechanism};
use crate::names::{NameKind, check};
use crate::pin::read_pin;
use crate::store::{EnvConfig, Store};

/// Arguments of `env init`.
#[derive(Debug, Clone)]
pub struct EnvInit {
    /// Environment name.
    pub env: String,
    /// PKCS#11 module path.
    pub module: std::path::PathBuf,
    /// Token label.
    pub token: String,
    /// Force a wrap mechanism instead of negotiating.
    pub wrap_mechanism: Option<WrapMechanism>,
    /// Take over a token whose marker already names this environment.
    pub adopt: bool,
}

/// Binds a token to an environment: marker, signing key, public key, mechanism.
///
/// Everything that can be refused is refused before the store is created or the token
/// written; the checks are repeated under the store lock before anything is written.
pub fn init(ctx: &Context, args: &EnvInit) -> Result<Report> {
    let mut draft = Draft::new("env-init");
    let result = bind(ctx, args, &mut draft);
    // A refusal of an environment the store already has goes into that environment's
    // log; a refused first binding has no log to go to.
    if draft.env.is_some() && !draft.logged {
        if let Ok(store) = Store::open(&ctx.store) {
            return finish(ctx, &store, &mut draft, result);
        }
    }
    result
}

fn bind(ctx: &Context, args: &EnvInit, draft: &mut Draft) -> Result<Report> {
    check(NameKind::Environment, &args.env)?;
    let module = absolute(&args.module);
    let existing_store = ctx.store.join("zeroth.toml").exists();
    if existing_store {
        refuse_bound(&Store::open(&ctx.store)?, args, draft)?;
    }
    let hsm = Hsm::load(&module)?;
    let result = (|| {
        let token = hsm.find_token(&args.token)?;
        let mechanism = hsm.negotiate(&token, args.wrap_mechanism)?;
        let session = {
            let pin = read_pin(ctx.pin_file.as_deref(), &token.label)?;
            hsm.login(&token, &pin)?
        };
        let check_marker = || -> Result<bool> {
            match (session.marker()?, args.adopt) {
                (Some(other), _) if other != args.env => Err(Error::Refused(format!(
                    "token '{}' (serial {}) is marked for environment '{other}': one token serves one environment; use another token for '{}'",
                    token.label, token.serial, args.env
                ))),
                (Some(_), false) => Err(Error::Refused(format!(
                    "token '{}' (serial {}) is already marked for environment '{}' but this store does not know it: add --adopt to use the token's existing signing key",
                    token.label, token.serial, args.env
                ))),
                (None, true) => Err(Error::Usage(format!(
                    "--adopt: token '{}' carries no marker for '{}'; leave --adopt out to initialize it",
                    token.label, args.env
                ))),
                (Some(_), true) => Ok(true),
                (None, false) => Ok(false),
            }
        };
        check_marker()?;
        if existing_store {
            refuse_token_in_use(&Store::open(&ctx.store)?, &token.label, &token.serial)?;
        }

        let store = Store::open_or_create(&ctx.store)?;
        let _lock = store.lock()?;
        let store = Store::open(&ctx.store)?;
        refuse_bound(&store, args, draft)?;
        refuse_token_in_use(&store, &token.label, &token.serial)?;
        let adopt = check_marker()?;

        // A log of this environment, with the environment not bound, is what an env
        // init that stopped between its first log entry and zeroth.toml leaves: only
        // the signing key that log was begun with may carry it on (--adopt).
        let log = audit::log_path(&store, &args.env);
        if !adopt && log.exists() {
            return Err(Error::Refused(format!(
                "{} exists but environment '{}' is not bound: an env init stopped before it finished; add --adopt to finish it with the token's signing key, or move the log away",
                log.display(),
                args.env
            )));
        }
        let mut created = Vec::new();
        let (key_id, sign_handle, public) = if adopt {
            let mut keys = session.signing_keys_by_label(&args.env)?;
            match keys.len() {
                1 => keys.remove(0),
                // Marked, but the env init that marked it stopped before it made the
                // signing key: nothing was ever signed for this environment, so the
                // key is made now.
                0 => {
                    let id = random_id()?.to_vec();
                    let (pub_h, priv_h, public) = session.generate_signing_key(&args.env, &id)?;
                    created.extend([pub_h, priv_h]);
                    (id, priv_h, public)
                }
                n => {
                    return Err(Error::Refused(format!(
                        "token '{}' holds {n} signing keys labelled for '{}'; --adopt needs exactly one",
                        token.label, args.env
                    )));
                }
            }
        } else {
            let id = random_id()?.to_vec();
            let marker = session.write_marker(&args.env)?;
            created.push(marker);
            match session.generate_signing_key(&args.env, &id) {
                Ok((pub_h, priv_h, public)) => {
                    created.extend([pub_h, priv_h]);
                    (id, priv_h, public)
                }
                Err(e) => {
                    let _ = session.destroy(marker);
                    return Err(e);
                }
            }
        };
        let cfg = EnvConfig {
            module: module.clone(),
            token: token.label.clone(),
            serial: token.serial.clone(),
            wrap_mechanism: mechanism,
            sign_key_id: hex::encode(&key_id),
            sign_key_fingerprint: public.fingerprint(),
            created: clock::format(clock::now()?),
        };
        let mut config = store.config().clone();
        config.env.insert(args.env.clone(), cfg.clone());
        draft.env = Some(args.env.clone());
        let detail = format!(
            "bound to token '{}' (serial {}) through {}; wrap mechanism {}; signing key {}{}",
            token.label,
            token.serial,
            cfg.module.display(),
            cfg.wrap_mechanism,
            cfg.sign_key_fingerprint,
            if adopt {
                " (adopted from the token)"
            } else {
                ""
            }
        );
        let signing = audit::Signing {
            session: &session,
            key: sign_handle,
            public: &public,
        };
        // The public key, the log's entry and its signed head, and only then
        // zeroth.toml: the environment is bound once its log can be vouched for. A
        // crash before zeroth.toml is written leaves a marked token (and perhaps a log)
        // that 'env init --adopt' takes up.
        let fresh_log = !log.exists();
        let written = store
            .write_public_key(&args.env, &public)
            .and_then(|_| audit::append(&store, draft, Outcome::Ok, &detail, Some(&signing), None))
            .and_then(|_| store.save_config(&config));
        if let Err(e) = written {
            // Leave token and store as they were: nothing refers to what was made.
            for h in created {
                let _ = session.destroy(h);
            }
            let _ = std::fs::remove_file(store.public_key_path(&args.env));
            if fresh_log {
                let _ = std::fs::remove_file(&log);
                let _ = std::fs::remove_file(audit::head_path(&store, &args.env));
            }
            return Err(e);
        }
        Ok((store, token, cfg, public))
    })();
    hsm.close();
    let (store, token, cfg, public) = result?;
    let text = format!(
        "environment '{}' bound to token '{}' (serial {})\n  module:      {}\n  wrap:        {}\n  signing key: {} ({})\n",
        args.env,
        token.label,
        token.serial,
        cfg.module.display(),
        cfg.wrap_mechanism,
        public.fingerprint(),
        store.public_key_path(&args.env).display()
    );
    Ok(Report::new(text, env_json(&args.env, &cfg)))
}

fn refuse_bound(store: &Store, args: &EnvInit, draft: &mut Draft) -> Result<()> {
    if let Some(existing) = store.config().env.get(&args.env) {
        draft.env = Some(args.env.clone());
        return Err(Error::Refused(format!(
            "environment '{}' is already bound to token '{}' (serial {}) in {}: an environment has one token",
            args.env,
            existing.token,
            existing.serial,
            existing.module.display()
        )));
    }
    Ok(())
}

fn refuse_token_in_use(store: &Store, label: &str, serial: &str) -> Result<()> {
    if let Some((other, _)) = store
        .config()
        .env
        .iter()
        .find(|(_, c)| c.serial == serial && c.token == label)
    {
        return Err(Error::Refused(format!(
            "token '{label}' (serial {serial}) already serves environment '{other}' in this store: one token serves one environment"
        )));
    }
    Ok(())
}

/// Lists the environments of the store.
pub fn list(ctx: &Context) -> Result<Report> {
    let store = Store::open(&ctx.store)?;
    let mut rows = vec![[
        "ENV".to_string(),
        "TOKEN".to_string(),
        "SERIAL".to_string(),
        "WRAP".to_string(),
        "MODULE".to_string(),
    ]];
    let mut json = Vec::new();
    for (name, cfg) in &store.config().env {
        rows.push([
            name.clone(),
            cfg.token.clone(),
            cfg.serial.clone(),
            cfg.wrap_mechanism.to_string(),
            cfg.module.display().to_string(),
        ]);
        json.push(env_json(name, cfg));
    }
    let text = if json.is_empty() {
        "no environments: bind one with 'zeroth env init'\n".to_string()
    } else {
        crate::table(&rows)
    };
    Ok(Report::new(text, json!({ "environments": json })))
}

fn env_json(name: &str, cfg: &EnvConfig) -> serde_json::Value {
    json!({
        "env": name,
        "module": cfg.module,
        "token": cfg.token,
        "serial": cfg.serial,
        "wrap_mechanism": cfg.wrap_mechanism,
        "sign_key_fingerprint": cfg.sign_key_fingerprint,
        "created": cfg.created,
    })
}

fn absolute(p: &Path) -> std::path::PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}
