//! Reading the ceremony log: `audit verify`, `audit show` and `audit report`, each in
//! its own module. None of them needs the HSM or a PIN: the environment's public key is
//! enough.

mod report;
mod show;
mod verify;

pub use report::report;
pub use show::show;
pub use verify::verify;

use std::path::Path;

use crate::ceremony::Context;
use crate::error::{Kind, Result};
use crate::key::PublicKey;
use crate::store::Store;
use crate::trust::KeySource;

fn key_for(
    ctx: &Context,
    store: &Store,
    env: &str,
    pubkey: Option<&Path>,
) -> Result<(PublicKey, KeySource)> {
    ctx.trust
        .env_key(store, env, pubkey)
        .map_err(|e| match e.kind() {
            Kind::Refused => {
                e.map_message(|m| format!("{m}; verify with --pubkey FILE and a key you trust"))
            }
            _ => e,
        })
}

fn source_words(source: &KeySource) -> String {
    match source {
        KeySource::Pinned(f) => format!("pinned in {}", f.display()),
        KeySource::Given(f) => format!("given with --pubkey {}", f.display()),
        KeySource::Unpinned => "NOT pinned: the store's own key".to_string(),
    }
}

fn envs(store: &Store, env: Option<&str>) -> Result<Vec<String>> {
    match env {
        Some(e) => {
            store.env(e)?;
            Ok(vec![e.to_string()])
        }
        None => Ok(store.config().env.keys().cloned().collect()),
    }
}
