//! `env init` binds a token to an environment; `env list` shows the bindings.

use serde_json::json;

use super::{Context, Guard, Report, check_anchor, check_binding, random_id};
use crate::audit::{self, Draft, Outcome};
use crate::clock;
use crate::error::{Error, Result, StoreError, TrustError};
use crate::hsm::{Hsm, Need};
use crate::keystore::KeyStore;
use crate::mechanism::WrapMechanism;
use crate::names::{NameKind, check};
use crate::pin::read_pin;
use crate::store::{EnvConfig, Store};
use crate::trust::{EnvPin, check_module};

/// Arguments of `env init`.
#[derive(Debug, Clone)]
pub struct EnvInit {
    /// Environment name.
    pub env: String,
    /// PKCS#11 module path (absolute).
    pub module: std::path::PathBuf,
    /// Token label.
    pub token: String,
    /// Force a wrap mechanism instead of negotiating.
    pub wrap_mechanism: Option<WrapMechanism>,
    /// Take over a token whose marker already names this environment.
    pub adopt: bool,
}

/// Binds a token to an environment: marker, signing key, public key, mechanism, log
/// anchor; and pins module, token and key in this machine's trust file.
///
/// In an existing store the store lock is taken before anything is read. A new store
/// is created only once nothing can be refused any more; the checks are repeated under
/// its lock before anything is written.
pub fn init(ctx: &Context, args: &EnvInit) -> Result<Report> {
    check(NameKind::Environment, &args.env)?;
    let module = check_module(&args.module, &ctx.store)?;
    let mut draft = Draft::new("env-init");
    if ctx.store.join("zeroth.toml").symlink_metadata().is_ok() {
        let g = Guard::begin(ctx)?;
        let result = bind(ctx, Some(&g), &module, args, &mut draft);
        // A refusal of an environment the store already has goes into that
        // environment's log; a refused first binding has no log to go to.
        return g.finish(&mut draft, result.map(|(_, report)| report));
    }
    let (g, report) = bind(ctx, None, &module, args, &mut draft)?;
    drop(g);
    Ok(report)
}

/// Binds, with the store's guard when the store exists; returns the guard of the
/// store it created otherwise.
fn bind<'c>(
    ctx: &'c Context,
    existing: Option<&Guard<'c>>,
    module: &crate::trust::ModuleFile,
    args: &EnvInit,
    draft: &mut Draft,
) -> Result<(Option<Guard<'c>>, Report)> {
    if let Some(g) = existing {
        refuse_bound(g.store(), args, draft)?;
    }
    eprintln!(
        "zeroth: module {} (sha256 {})",
        module.path.display(),
        module.sha256
    );
    let hsm = Hsm::load(module)?;
    let result = (|| {
        let token = hsm.find_token(&args.token)?;
        let mechanism = hsm.negotiate(&token, args.wrap_mechanism)?;
        let opened = {
            let pin = read_pin(ctx.pin_file.as_deref(), &token.label)?;
            hsm.login(&token, &pin)?
        };
        let session: &dyn KeyStore = &opened;
        let check_marker = || -> Result<bool> {
            match (session.marker()?, args.adopt) {
                (Some(other), _) if other != args.env => Err(TrustError::TokenMarkedForOther {
                    token: token.label.clone(),
                    serial: token.serial.clone(),
                    marked: other,
                    env: args.env.clone(),
                }
                .into()),
                (Some(_), false) => Err(TrustError::TokenMarkedAlready {
                    token: token.label.clone(),
                    serial: token.serial.clone(),
                    env: args.env.clone(),
                }
                .into()),
                (None, true) => Err(Error::Usage(format!(
                    "--adopt: token '{}' carries no marker for '{}'; leave --adopt out to initialize it",
                    token.label, args.env
                ))),
                (Some(_), true) => Ok(true),
                (None, false) => Ok(false),
            }
        };
        check_marker()?;
        if let Some(g) = existing {
            refuse_token_in_use(g.store(), &token.label, &token.serial)?;
        }

        let created_guard = match existing {
            Some(_) => None,
            None => {
                Store::open_or_create(&ctx.store)?;
                let lock = Store::lock_root(&ctx.store)?;
                Some(Guard::with_lock(ctx, lock)?)
            }
        };
        let g = existing.or(created_guard.as_ref()).expect("a guard");
        let store = g.store();
        refuse_bound(store, args, draft)?;
        refuse_token_in_use(store, &token.label, &token.serial)?;
        let adopt = check_marker()?;

        // A log of this environment, with the environment not bound, is what an env
        // init that stopped between its first log entry and zeroth.toml leaves: only
        // the signing key that log was begun with may carry it on (--adopt).
        let log = audit::log_path(store, &args.env);
        if !adopt && log.symlink_metadata().is_ok() {
            return Err(StoreError::UnfinishedInit {
                log,
                env: args.env.clone(),
            }
            .into());
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
                    return Err(TrustError::AdoptAmbiguous {
                        token: token.label.clone(),
                        count: n,
                        env: args.env.clone(),
                    }
                    .into());
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
        let now = clock::format(clock::now()?);
        let cfg = EnvConfig {
            module: module.path.clone(),
            token: token.label.clone(),
            serial: token.serial.clone(),
            wrap_mechanism: mechanism,
            sign_key_id: hex::encode(&key_id),
            sign_key_fingerprint: public.fingerprint(),
            created: now.clone(),
        };
        let mut config = store.config().clone();
        config.env.insert(args.env.clone(), cfg.clone());
        let pin = EnvPin {
            store: config.store_id.clone().unwrap_or_default(),
            env: args.env.clone(),
            signing_key: public.fingerprint(),
            token: Some(token.label.clone()),
            serial: Some(token.serial.clone()),
            module: Some(module.path.clone()),
            module_sha256: Some(module.sha256.clone()),
            pinned: Some(now),
            pinned_by: Some(format!("{}@{}", audit::operator(), audit::host())),
        };
        draft.env = Some(args.env.clone());
        let signer = super::Signer {
            handle: sign_handle,
            public: public.clone(),
            anchor: std::cell::RefCell::new(None),
        };
        let detail = format!(
            "bound to token '{}' (serial {}) through {} (sha256 {}); wrap mechanism {}; signing key {}{}; pinned in {}",
            token.label,
            token.serial,
            cfg.module.display(),
            module.sha256,
            cfg.wrap_mechanism,
            cfg.sign_key_fingerprint,
            if adopt {
                " (adopted from the token)"
            } else {
                ""
            },
            ctx.trust.path().display()
        );
        let signing = signer.signing(session);
        // The pin first: a pin of an environment not bound yet is harmless, a bound
        // environment this machine does not pin is not usable. Then the public key, the
        // approved settings (the custodians and policy zeroth.toml holds now, signed by
        // the new key), the log's first entry with its signed head and the token's
        // anchor, and only then zeroth.toml: the environment is bound once its log can
        // be vouched for. A crash before zeroth.toml is written leaves a marked token
        // (and perhaps a log) that 'env init --adopt' takes up.
        let fresh_log = log.symlink_metadata().is_err();
        let settings_path = crate::settings::path(store, &args.env);
        let fresh_settings = settings_path.symlink_metadata().is_err();
        let written = (|| -> Result<()> {
            ctx.trust.save_pin(pin)?;
            store.write_public_key(&args.env, &public)?;
            let mut settings = crate::settings::Settings::proposed(store, &args.env, &cfg.created);
            signer.sign_settings(session, store, &mut settings)?;
            crate::settings::write(store, &settings)?;
            draft.record = Some(settings.fingerprint());
            audit::append(store, draft, Outcome::Ok, &detail, Some(&signing), None)?;
            // A later entry may leave the head behind (a warning); the first may not:
            // a bound environment whose log has no head verifies as truncated.
            let head = audit::head_path(store, &args.env);
            if head.symlink_metadata().is_err() {
                return Err(StoreError::HeadNotWritten { head }.into());
            }
            store.save_config(&config)
        })();
        if let Err(e) = written {
            // Leave token and store as they were: nothing refers to what was made.
            for h in created {
                let _ = session.destroy(h);
            }
            let _ = std::fs::remove_file(store.public_key_path(&args.env));
            if fresh_settings {
                let _ = std::fs::remove_file(&settings_path);
            }
            if fresh_log {
                let _ = std::fs::remove_file(&log);
                let _ = std::fs::remove_file(audit::head_path(store, &args.env));
            }
            return Err(e);
        }
        let store = Store::open(&ctx.store)?;
        Ok((created_guard, store, token, cfg, public))
    })();
    hsm.close();
    let (guard, store, token, cfg, public) = result?;
    let text = format!(
        "environment '{}' bound to token '{}' (serial {})\n  module:      {} (sha256 {})\n  wrap:        {}\n  signing key: {} ({})\n  pinned in:   {}\n",
        args.env,
        token.label,
        token.serial,
        cfg.module.display(),
        module.sha256,
        cfg.wrap_mechanism,
        public.fingerprint(),
        store.public_key_path(&args.env).display(),
        ctx.trust.path().display()
    );
    Ok((guard, Report::new(text, env_json(&args.env, &cfg))))
}

/// `env pin`: pins, on this machine, the module, token and signing key of an
/// environment the store already has. The module's hash is shown before the module is
/// loaded (and asked about, on a terminal, unless `--yes`); the token must be the one
/// already pinned (or, on a new machine, the one the store names, with the store's
/// signing key on it), and the PIN must open it.
pub fn pin(
    ctx: &Context,
    env: &str,
    module_arg: Option<&std::path::Path>,
    yes: bool,
) -> Result<Report> {
    check(NameKind::Environment, env)?;
    let g = Guard::begin(ctx)?;
    let mut draft = Draft::new("env-pin");
    let result = (|| {
        let store = g.store();
        let cfg = store.env(env)?.clone();
        draft.env = Some(env.to_string());
        let existing = ctx.trust.pin(store, env)?;
        let module_path = module_arg
            .map(std::path::Path::to_path_buf)
            .or_else(|| existing.as_ref().and_then(|p| p.pin.module.clone()))
            .unwrap_or_else(|| cfg.module.clone());
        let module = check_module(&module_path, store.root())?;
        let was = existing.as_ref().and_then(|p| {
            p.pin
                .module_sha256
                .clone()
                .map(|h| (p.pin.module.clone(), h))
        });
        eprintln!(
            "environment '{env}': module {}\n  sha256 {}\n  {}",
            module.path.display(),
            module.sha256,
            match &was {
                Some((m, h)) if *h == module.sha256 && m.as_deref() == Some(&module.path) =>
                    "the same module as pinned now".to_string(),
                Some((m, h)) => format!(
                    "pinned now: {} sha256 {h}",
                    m.as_ref()
                        .map(|m| m.display().to_string())
                        .unwrap_or_default()
                ),
                None => format!(
                    "not pinned on this machine yet ({})",
                    ctx.trust.path().display()
                ),
            }
        );
        if !yes {
            super::confirm_on_terminal(
                "load this module and pin it for this environment?",
                "env pin loads the module shown above: check its hash",
                "not pinned: the module was not loaded",
            )?;
        }
        let hsm = Hsm::load(&module)?;
        let inner = (|| {
            let label = existing
                .as_ref()
                .and_then(|p| p.pin.token.clone())
                .unwrap_or_else(|| cfg.token.clone());
            let serial = existing
                .as_ref()
                .and_then(|p| p.pin.serial.clone())
                .unwrap_or_else(|| cfg.serial.clone());
            let token = hsm.find_token(&label)?;
            if token.serial != serial {
                return Err(Error::from(TrustError::TokenSerialMismatch {
                    token: token.label,
                    found: token.serial,
                    env: env.to_string(),
                    expected: serial,
                    pinned: existing.is_some(),
                }));
            }
            hsm.require(&token, &[Need::signing("sign the log entry of the pin")])?;
            let session = {
                let pin = read_pin(ctx.pin_file.as_deref(), &token.label)?;
                hsm.login(&token, &pin)?
            };
            let signer = check_binding(&session, store, env, &cfg, None)?;
            if let Some(p) = &existing
                && p.pin.signing_key != signer.public.fingerprint()
            {
                return Err(Error::from(TrustError::TokenKeyNotPinned {
                    token: token.label,
                    found: signer.public.fingerprint().into(),
                    trust_file: p.source.clone(),
                    env: env.to_string(),
                    pinned: p.pin.signing_key.as_str().into(),
                }));
            }
            check_anchor(&session, store, env)?;
            let pin = EnvPin {
                store: store.config().store_id.clone().unwrap_or_default(),
                env: env.to_string(),
                signing_key: signer.public.fingerprint(),
                token: Some(token.label.clone()),
                serial: Some(token.serial.clone()),
                module: Some(module.path.clone()),
                module_sha256: Some(module.sha256.clone()),
                pinned: Some(clock::format(clock::now()?)),
                pinned_by: Some(format!("{}@{}", audit::operator(), audit::host())),
            };
            let path = ctx.trust.save_pin(pin)?;
            let detail = format!(
                "pinned on {}: module {} sha256 {}{}; token '{}' serial {}; signing key {}",
                audit::host(),
                module.path.display(),
                module.sha256,
                match &was {
                    Some((_, h)) if *h != module.sha256 => format!(" (was {h})"),
                    Some(_) => " (unchanged)".to_string(),
                    None => " (first pin on this host)".to_string(),
                },
                token.label,
                token.serial,
                signer.public.fingerprint()
            );
            audit::append(
                store,
                &mut draft,
                Outcome::Ok,
                &detail,
                Some(&signer.signing(&session)),
                None,
            )?;
            Ok((path, token, signer.public.fingerprint()))
        })();
        hsm.close();
        let (path, token, key) = inner?;
        Ok(Report::new(
            format!(
                "environment '{env}' pinned in {}\n  module:      {} (sha256 {})\n  token:       '{}' (serial {})\n  signing key: {key}\n",
                path.display(),
                module.path.display(),
                module.sha256,
                token.label,
                token.serial
            ),
            json!({
                "env": env,
                "trust_file": path,
                "module": module.path,
                "module_sha256": module.sha256,
                "token": token.label,
                "serial": token.serial,
                "signing_key": key,
            }),
        ))
    })();
    g.finish(&mut draft, result)
}

fn refuse_bound(store: &Store, args: &EnvInit, draft: &mut Draft) -> Result<()> {
    if let Some(existing) = store.config().env.get(&args.env) {
        draft.env = Some(args.env.clone());
        return Err(StoreError::EnvAlreadyBound {
            env: args.env.clone(),
            token: existing.token.clone(),
            serial: existing.serial.clone(),
            module: existing.module.clone(),
        }
        .into());
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
        return Err(StoreError::TokenInUse {
            token: label.to_string(),
            serial: serial.to_string(),
            other: other.clone(),
        }
        .into());
    }
    Ok(())
}

/// Lists the environments of the store.
pub fn list(ctx: &Context) -> Result<Report> {
    let store = Store::open(&ctx.store)?;
    let _ = &ctx.trust;
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
