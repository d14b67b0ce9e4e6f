//! `vault init SEAL`: a new vault's unseal key (or recovery key), from the init answer
//! straight into a seal.
//!
//! The init answer is the only copy of the key there will ever be, so everything that
//! can be checked is checked before the server is asked: the store, the seal names and
//! the files the shares go to (`generate`'s checks), the server (reachable, its TLS
//! identity verified, not initialized), then, inside the seal ceremony, the token, its
//! mechanisms and the PIN, and K_seal is made. Only then is the server initialized with
//! one key share (or one recovery key), the key sealed from the answer, the server
//! unsealed with it to prove it, and its address, certificate and cluster id recorded.
//! The init root token is sealed as its own seal or revoked; it is never shown.

use serde_json::json;

use crate::ceremony::distribute;
use crate::ceremony::generate::{self, Fetch, Fetched, SealSpec, Source};
use crate::ceremony::{Context, Report};
use crate::clock;
use crate::error::{Error, Result, VaultError};
use crate::names::{NameKind, check};
use crate::seal::{VaultBinding, VaultRole};
use crate::secret::{Credential, Encoding};
use crate::store::Store;
use crate::vault::{SecretText, ServerArgs, Token, Vault, describe, key_from_b64, secret_json};

/// What becomes of the root token the init answer holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RootTokenMode {
    /// Sealed as its own seal, with the same custodians and threshold.
    Seal,
    /// Revoked at once.
    Revoke,
}

/// Arguments of `vault init`.
#[derive(Debug, Clone)]
pub struct InitArgs {
    /// The seal of the key: name, environment, custodians, where shares go.
    pub spec: SealSpec,
    /// The server.
    pub server: ServerArgs,
    /// What to do with the init root token.
    pub root_token: RootTokenMode,
    /// The name of the root token's seal [default: `<SEAL>.root-token`].
    pub root_token_seal: Option<String>,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct InitAnswer {
    keys_base64: Vec<SecretText>,
    recovery_keys_base64: Vec<SecretText>,
    root_token: SecretText,
}

/// Runs `vault init`.
pub fn run(ctx: &Context, args: &InitArgs) -> Result<Report> {
    let spec = &args.spec;
    spec.validate(clock::now()?)?;
    if spec.outlets.out_dir.is_none() && spec.outlets.paper.is_none() {
        return Err(Error::Usage(
            "vault init needs --out-dir DIR or --paper DIR: the init answer is the only copy of the key, so its shares go to files written before anything else can fail, not to a terminal ceremony that can be interrupted".into(),
        ));
    }
    let store = Store::open(&ctx.store)?;
    store.env(&spec.env)?;
    let root_name = args
        .root_token_seal
        .clone()
        .unwrap_or_else(|| format!("{}.root-token", spec.seal));
    for name in [&spec.seal, &root_name] {
        if store.seal_exists(name)? {
            return Err(VaultError::SealExists {
                seal: name.clone(),
                store: store.root().to_path_buf(),
            }
            .into());
        }
    }
    if args.root_token == RootTokenMode::Seal {
        check(NameKind::Seal, &root_name)?;
        if root_name == spec.seal {
            return Err(Error::Usage(
                "--root-token-seal must differ from the seal of the key".into(),
            ));
        }
        distribute::preflight(&spec.outlets, &root_name, &spec.custodians)?;
    }
    let endpoints = args.server.endpoints(None)?;
    if endpoints.len() != 1 {
        return Err(Error::Usage(
            "vault init takes one --addr: initialize one node; the others join its cluster and are unsealed with the same key".into(),
        ));
    }
    let vault = Vault::new(&endpoints[0], None)?;
    let first = vault.seal_status()?;
    if first.initialized {
        return Err(VaultError::AlreadyInitialized {
            addr: vault.addr().to_string(),
            summary: first.summary(),
        }
        .into());
    }
    let fingerprint = vault.server.fingerprint();
    let recovery = first.recovery_seal || first.seal_type != "shamir";
    let role = if recovery {
        VaultRole::RecoveryKey
    } else {
        VaultRole::UnsealKey
    };

    let mut root: Option<Token> = None;
    let mut proof: Option<Error> = None;
    let mut binding: Option<VaultBinding> = None;
    let key_report = generate::run(
        ctx,
        spec,
        Source::Fetch(Fetch {
            event: "vault-init",
            get: Box::new(|| {
                initialize(
                    &vault,
                    recovery,
                    role,
                    fingerprint.as_deref(),
                    args.root_token,
                    &mut root,
                    &mut proof,
                    &mut binding,
                )
            }),
        }),
    );
    let mut key_report = match key_report {
        Ok(r) => r,
        Err(e) if binding.is_some() => {
            return Err(VaultError::KeyLostAtInit {
                addr: vault.addr().to_string(),
                detail: e.message(),
            }
            .into());
        }
        Err(e) => return Err(e),
    };
    if let Some(e) = proof {
        return Err(VaultError::ProofFailed {
            role: role.words(),
            addr: vault.addr().to_string(),
            seal: spec.seal.clone(),
            detail: e.message(),
        }
        .into());
    }
    let mut text = std::mem::take(&mut key_report.text);
    let mut root_json = json!({ "revoked": args.root_token == RootTokenMode::Revoke });
    if let (RootTokenMode::Seal, Some(token)) = (args.root_token, root.take()) {
        let mut root_spec = spec.clone();
        root_spec.seal = root_name.clone();
        root_spec.purpose = format!("the init root token of vault {}", vault.addr());
        let mut root_binding = binding.clone().expect("bound at init");
        root_binding.role = VaultRole::RootToken;
        let addr = vault.addr().to_string();
        let sealed = generate::run(
            ctx,
            &root_spec,
            Source::Fetch(Fetch {
                event: "vault-init",
                get: Box::new(move || {
                    Ok(Fetched {
                        credential: Credential::new(token.expose().as_bytes().to_vec()),
                        encoding: Encoding::Raw,
                        vault: Some(root_binding),
                        detail: format!("the init root token of vault {addr}"),
                    })
                }),
            }),
        );
        match sealed {
            Ok(mut r) => {
                text.push_str(&r.text);
                root_json = json!({ "seal": root_name, "report": r.take_json() });
            }
            Err(e) => {
                return Err(VaultError::RootTokenLost {
                    role: role.words(),
                    addr: vault.addr().into(),
                    seal: spec.seal.clone(),
                    root_seal: root_name,
                    detail: e.message(),
                }
                .into());
            }
        }
    }
    let b = binding.expect("bound at init");
    text.push_str(&format!(
        "vault {} initialized: its {} is sealed as '{}'; cluster {}{}\n{}",
        b.addr,
        role.words(),
        spec.seal,
        b.cluster_id.as_deref().unwrap_or("?"),
        b.tls_fingerprint
            .as_deref()
            .map(|f| format!(", certificate {f}"))
            .unwrap_or_default(),
        match args.root_token {
            RootTokenMode::Revoke => "the init root token was revoked\n".to_string(),
            RootTokenMode::Seal => format!("the init root token is sealed as '{root_name}'\n"),
        }
    ));
    Ok(Report::new(
        text,
        json!({
            "seal": spec.seal,
            "vault": b,
            "key": key_report.take_json(),
            "root_token": root_json,
        }),
    ))
}

/// Inside the seal ceremony: initializes the server, proves the key, and hands the key
/// over to be sealed. Once the server has answered, this returns the key whatever
/// happens next (a failed proof is kept in `proof`), since that answer is its only copy.
#[allow(clippy::too_many_arguments)]
fn initialize(
    vault: &Vault,
    recovery: bool,
    role: VaultRole,
    fingerprint: Option<&str>,
    root_mode: RootTokenMode,
    root: &mut Option<Token>,
    proof: &mut Option<Error>,
    binding: &mut Option<VaultBinding>,
) -> Result<Fetched> {
    let status = vault.seal_status()?;
    if status.initialized {
        return Err(VaultError::InitializedMeanwhile {
            addr: vault.addr().to_string(),
        }
        .into());
    }
    if vault.server.fingerprint().as_deref() != fingerprint {
        return Err(VaultError::CertificateChangedMeanwhile {
            addr: vault.addr().to_string(),
            now: vault.server.fingerprint().unwrap_or_default(),
            before: fingerprint.unwrap_or_default().to_string(),
        }
        .into());
    }
    let body = if recovery {
        json!({ "recovery_shares": 1, "recovery_threshold": 1 })
    } else {
        json!({ "secret_shares": 1, "secret_threshold": 1 })
    };
    let resp = vault.call("PUT", "sys/init", false, Some(&secret_json(&body)))?;
    if resp.status != 200 {
        return Err(VaultError::InitRefused {
            addr: vault.addr().to_string(),
            text: resp.error_text(),
        }
        .into());
    }
    let answer: InitAnswer =
        serde_json::from_slice(&resp.body).map_err(|e| VaultError::InitAnswerNotDocumented {
            addr: vault.addr().to_string(),
            detail: crate::vault::json_fault(&e),
        })?;
    drop(resp);
    let InitAnswer {
        keys_base64,
        recovery_keys_base64,
        root_token,
    } = answer;
    let keys = if recovery {
        &recovery_keys_base64
    } else {
        &keys_base64
    };
    if keys.len() != 1 {
        return Err(VaultError::InitKeyCount {
            addr: vault.addr().to_string(),
            count: keys.len(),
        }
        .into());
    }
    let key = key_from_b64(&keys[0], role.words())?;
    *root = Some(Token::new(root_token.0));
    drop((keys_base64, recovery_keys_base64));

    // Proof: the key unseals the server (a Shamir seal), or the server unseals itself
    // (an auto-unseal seal; the recovery key is proven at its first use).
    let after = if recovery {
        wait_unsealed(vault)
    } else {
        vault.unseal(&key).map(|(_, s)| s).and_then(|s| {
            if s.sealed {
                Err(VaultError::SealedAfterOwnKey {
                    addr: vault.addr().to_string(),
                    summary: s.summary(),
                }
                .into())
            } else {
                Ok(s)
            }
        })
    };
    let mut detail = String::new();
    let after = match after {
        Ok(s) => {
            detail.push_str(&format!(
                "vault {} initialized with 1 {} share, threshold 1, and unsealed by it",
                describe(vault, &s),
                if recovery { "recovery key" } else { "key" }
            ));
            Some(s)
        }
        Err(e) => {
            detail.push_str(&format!(
                "vault {} initialized with 1 key share, threshold 1; unsealing with the key FAILED: {}",
                vault.addr(),
                e.message()
            ));
            *proof = Some(e);
            None
        }
    };
    if root_mode == RootTokenMode::Revoke
        && proof.is_none()
        && let Some(t) = root.take()
    {
        match revoke(vault, &t) {
            Ok(line) => detail.push_str(&format!("; {line}")),
            Err(e) => {
                detail.push_str(&format!(
                    "; revoking the init root token FAILED: {}",
                    e.message()
                ));
                *proof = Some(e);
            }
        }
    }
    let b = VaultBinding {
        role,
        addr: vault.addr().to_string(),
        tls_fingerprint: fingerprint.map(str::to_string),
        cluster_id: after.as_ref().and_then(|s| s.cluster_id.clone()),
        cluster_name: after.as_ref().and_then(|s| s.cluster_name.clone()),
        seal_type: status.seal_type.clone(),
        threshold: 1,
        shares: 1,
        server_version: status.version.clone(),
    };
    *binding = Some(b.clone());
    Ok(Fetched {
        credential: key,
        encoding: Encoding::Base64,
        vault: Some(b),
        detail,
    })
}

/// Waits for an auto-unseal server to unseal itself after init.
fn wait_unsealed(vault: &Vault) -> Result<crate::vault::SealStatus> {
    let start = std::time::Instant::now();
    loop {
        let s = vault.seal_status()?;
        if !s.sealed {
            return Ok(s);
        }
        if start.elapsed() > std::time::Duration::from_secs(60) {
            return Err(VaultError::NotSelfUnsealed {
                addr: vault.addr().to_string(),
                summary: s.summary(),
            }
            .into());
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// Revokes `token` (`auth/token/revoke-self`) and checks the server then refuses it.
pub(crate) fn revoke(vault: &Vault, token: &Token) -> Result<String> {
    vault.wait_active()?;
    vault.revoke_self(token, "the token")?;
    Ok("the init root token was revoked (lookup-self: HTTP 403)".to_string())
}
