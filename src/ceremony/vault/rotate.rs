//! `vault rotate SEAL` and `--confirm ID`, `--cancel ID`: a new unseal key for the
//! vault, with the server's verification, mapped onto zeroth's two steps.
//!
//! Step 1 recovers the current key (quorum and HSM), starts the server's rotation with
//! verification required and hands it the current key; the server answers with the new
//! key, which is *not yet* current. zeroth seals it as the seal's pending rotation (new
//! K_seal, new shares), recording the server's nonces in the signed record.
//!
//! Step 2 recovers the pending key from a quorum of the new shares, has the server
//! verify it — only then is the new key the server's — and only then switches the
//! record and destroys the old K_seal. Every way this can be interrupted ends with a
//! key that opens the server:
//!
//! - the server refuses the verification (its verification nonce then changes, and is
//!   read back before each try): nothing switched, the old key is current;
//! - the server restarted or was sealed between the steps, or the rotation was
//!   cancelled there: the server forgot it and kept the old key; `--confirm` finds
//!   that out (a live key check) and refuses, and `--cancel` drops the pending set;
//! - a crash after the server verified but before the record switched: `--confirm`
//!   again finds the new key already current (the same live check) and switches.
//!
//! OpenBao's authenticated `sys/rotate/root` (or `sys/rotate/recovery`) API is used
//! when the operator's token reaches it; otherwise the legacy `sys/rekey`
//! (`sys/rekey-recovery-key`) API, Vault's.

use std::path::PathBuf;

use serde::Deserialize;
use serde_json::json;

use crate::audit::Draft;
use crate::ceremony::distribute::{self, Outlets};
use crate::ceremony::generate::CustodianSpec;
use crate::ceremony::pending::{self, NewCredential, Start};
use crate::ceremony::unseal::{Recovery, recover};
use crate::ceremony::{Context, Guard, Report, verify_record};
use crate::error::{Error, Result, VaultError};
use crate::recipient::Keyring;
use crate::seal::{PendingKind, SealRecord, VaultBinding, VaultRole, VaultRotation};
use crate::secret::Credential;
use crate::store::Store;
use crate::vault::{
    Api, SecretText, ServerArgs, Vault, check_binding, describe, key_binding, key_body,
    key_from_b64, operator_token, secret_json,
};

/// Arguments shared by the three forms of `vault rotate`.
#[derive(Debug, Clone)]
pub struct RotateArgs {
    /// Seal holding the vault's key.
    pub seal: String,
    /// Shares: the current set to start; the new set to confirm.
    pub shares: Vec<PathBuf>,
    /// `--identity` files.
    pub identities: Vec<PathBuf>,
    /// Where the new shares go (start).
    pub outlets: Outlets,
    /// The server.
    pub server: ServerArgs,
    /// `--token-file`.
    pub token_file: Option<PathBuf>,
    /// Cancel someone else's rotation on the server first.
    pub reset: bool,
    /// A new certificate fingerprint the operator checked.
    pub accept_certificate: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RekeyStatus {
    started: bool,
    nonce: String,
    progress: u32,
    verification_nonce: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RekeyUpdate {
    complete: bool,
    keys_base64: Vec<SecretText>,
    verification_nonce: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct VerifyStatus {
    started: bool,
    nonce: String,
    complete: bool,
}

/// The API prefix for a binding's key on a server of this flavour.
fn prefix(api: Api, binding: &VaultBinding) -> &'static str {
    match (api, binding.role) {
        (Api::Current, VaultRole::RecoveryKey) => "sys/rotate/recovery",
        (Api::Current, _) => "sys/rotate/root",
        (Api::Legacy, VaultRole::RecoveryKey) => "sys/rekey-recovery-key",
        (Api::Legacy, _) => "sys/rekey",
    }
}

/// The server with its binding checked: unsealed, active, its API found.
fn open(
    record: &SealRecord,
    args: &RotateArgs,
) -> Result<(Vault, VaultBinding, &'static str, crate::vault::SealStatus)> {
    let binding = key_binding(record)?.clone();
    let endpoints = args.server.endpoints(Some(&binding.addr))?;
    if endpoints.len() != 1 {
        return Err(Error::Usage(
            "vault rotate takes one --addr: the cluster's active node, or any node that forwards to it".into(),
        ));
    }
    let vault = Vault::new(&endpoints[0], operator_token(args.token_file.as_deref())?)?;
    let status = vault.seal_status()?;
    check_binding(
        record,
        &binding,
        &vault,
        &status,
        args.accept_certificate.as_deref(),
    )?;
    if status.sealed {
        return Err(VaultError::Sealed {
            addr: vault.addr().to_string(),
            seal: Some(record.name.clone()),
        }
        .into());
    }
    vault.wait_active()?;
    let (current, legacy) = match binding.role {
        VaultRole::RecoveryKey => ("sys/rotate/recovery/init", "sys/rekey-recovery-key/init"),
        _ => ("sys/rotate/root/init", "sys/rekey/init"),
    };
    let api = vault.detect(current, legacy, "rotating the unseal key")?;
    let p = prefix(api, &binding);
    Ok((vault, binding, p, status))
}

fn rekey_status(vault: &Vault, prefix: &str) -> Result<RekeyStatus> {
    let path = format!("{prefix}/init");
    let resp = vault.call("GET", &path, true, None)?;
    if resp.status != 200 {
        return Err(vault.refused(&format!("reading {path} was"), &resp));
    }
    crate::vault::payload(&resp, &path, vault.addr())
}

fn cancel_server(vault: &Vault, prefix: &str) -> Result<()> {
    let path = format!("{prefix}/init");
    let resp = vault.call("DELETE", &path, true, None)?;
    if resp.status != 204 && resp.status != 200 {
        return Err(vault.refused("cancelling the rotation was", &resp));
    }
    Ok(())
}

fn rekey_init(vault: &Vault, prefix: &str, binding: &VaultBinding) -> Result<RekeyStatus> {
    let path = format!("{prefix}/init");
    let body = json!({
        "secret_shares": binding.shares,
        "secret_threshold": binding.threshold,
        "require_verification": true,
    });
    let resp = vault.call("PUT", &path, true, Some(&secret_json(&body)))?;
    if resp.status != 200 {
        return Err(vault.refused("starting the rotation was", &resp));
    }
    crate::vault::payload(&resp, &path, vault.addr())
}

/// Hands `key` to the started rotation `nonce`: the raw answer.
fn rekey_update(
    vault: &Vault,
    prefix: &str,
    key: &Credential,
    nonce: &str,
) -> Result<crate::vault::http::Response> {
    let body = key_body(key, Some(nonce))?;
    vault.call("PUT", &format!("{prefix}/update"), true, Some(&body))
}

/// Runs the first step.
pub fn start(ctx: &Context, args: &RotateArgs) -> Result<Report> {
    if args.shares.is_empty() {
        return Err(Error::Usage(
            "vault rotate needs a quorum of the current shares: give --share FILE for each".into(),
        ));
    }
    let g = Guard::begin(ctx)?;
    let mut draft = Draft::new("vault-rotate");
    let result = start_server(&g, args, &mut draft);
    let (vault, p, new_key, rotation) = g.finish(&mut draft, result)?;
    let nonce = rotation.nonce.clone();
    let sealed = pending::start(
        ctx,
        Start {
            kind: PendingKind::Rotate,
            seal: args.seal.clone(),
            shares: args.shares.clone(),
            identities: args.identities.clone(),
            add: Vec::new(),
            without: Vec::new(),
            threshold: None,
            outlets: args.outlets.clone(),
            credential: Some(NewCredential::Import(new_key)),
            vault: Some(rotation),
            remote: None,
        },
    );
    match sealed {
        Ok(mut report) => {
            report.text = format!(
                "vault {}: rotation {nonce} started with verification; the new key is sealed as pending and is not current until it is verified\n{}",
                vault.addr(),
                report
                    .text
                    .replace(
                        &format!("zeroth rotate {} --confirm", args.seal),
                        &format!("zeroth vault rotate {} --confirm", args.seal)
                    )
                    .replace(" (--output FILE|- or --exec -- CMD)", "")
                    .replace(
                        &format!("zeroth rotate {} --cancel", args.seal),
                        &format!("zeroth vault rotate {} --cancel", args.seal)
                    )
            );
            if let Some(obj) = report.json_mut().as_object_mut() {
                obj.insert(
                    "vault".into(),
                    json!({ "addr": vault.addr(), "api": p, "nonce": nonce }),
                );
            }
            Ok(report)
        }
        Err(e) => {
            let note = match cancel_server(&vault, p) {
                Ok(()) => "the server's rotation was cancelled: its key is unchanged".to_string(),
                Err(c) => format!(
                    "cancelling the server's rotation failed too ({}): its key is unchanged until a verification, which nothing can give it now; cancel it with DELETE {p}/init or restart the server",
                    c.message()
                ),
            };
            Err(note_on(e, &note))
        }
    }
}

fn note_on(e: Error, note: &str) -> Error {
    let m = format!("{}; {note}", e.message());
    e.map_message(|_| m)
}

fn start_server(
    g: &Guard<'_>,
    args: &RotateArgs,
    draft: &mut Draft,
) -> Result<(Vault, &'static str, Credential, VaultRotation)> {
    let store = g.store();
    let record = store.read_record(&args.seal)?;
    if store.env(&record.env).is_ok() {
        draft.seal(&record);
    }
    verify_record(g.ctx, store, &record, None)?;
    record.refuse_revoked()?;
    if let Some(p) = &record.pending {
        return Err(VaultError::PendingExists {
            seal: record.name.clone(),
            kind: p.kind.name(),
            id: p.id.clone(),
        }
        .into());
    }
    let specs: Vec<CustodianSpec> = record
        .custodians
        .iter()
        .map(|c| CustodianSpec {
            name: c.name.clone(),
            recipient: c.recipient.clone(),
        })
        .collect();
    distribute::preflight(&args.outlets, &record.name, &specs)?;
    let (vault, binding, p, _status) = open(&record, args)?;
    let current = rekey_status(&vault, p)?;
    let mut reset_note = String::new();
    if current.started {
        if !args.reset {
            return Err(VaultError::RotationInProgress {
                addr: vault.addr().to_string(),
                nonce: current.nonce,
                progress: current.progress,
            }
            .into());
        }
        cancel_server(&vault, p)?;
        reset_note = format!(
            "; someone else's rotation (nonce {}) cancelled first",
            current.nonce
        );
    }
    let keys = Keyring::load(&args.identities)?;
    let (new_key, rotation) = recover(
        g,
        &args.seal,
        &args.shares,
        Recovery {
            verb: "vault rotate",
            refuse_expired: true,
            also_needs: Vec::new(),
            keys: &keys,
            all: false,
            remote: None,
            // A rotation replaces the key; it does not put it to use.
            for_use: false,
            reason: None,
        },
        draft,
        Box::new(|_session, _signer, _record, key, accepted, draft| {
            draft.custodians = accepted.iter().map(|a| a.custodian.clone()).collect();
            let again = rekey_status(&vault, p)?;
            if again.started {
                return Err(VaultError::RotationStartedMeanwhile {
                    addr: vault.addr().to_string(),
                    nonce: again.nonce,
                }
                .into());
            }
            let started = rekey_init(&vault, p, &binding)?;
            let nonce = started.nonce.clone();
            let update = rekey_update(&vault, p, &key, &nonce);
            drop(key);
            let outcome = update.and_then(|resp| {
                if resp.status != 200 {
                    return Err(vault.refused("the current key was", &resp));
                }
                let u: RekeyUpdate =
                    crate::vault::payload(&resp, &format!("{p}/update"), vault.addr())?;
                if !u.complete || u.keys_base64.len() != 1 || u.verification_nonce.is_empty() {
                    return Err(VaultError::RotationIncomplete {
                        addr: vault.addr().to_string(),
                        complete: u.complete,
                        keys: u.keys_base64.len(),
                        verification_nonce: u.verification_nonce.clone(),
                    }
                    .into());
                }
                let new_key = key_from_b64(&u.keys_base64[0], "new key")?;
                Ok((new_key, u.verification_nonce.clone()))
            });
            let (new_key, verification_nonce) = match outcome {
                Ok(x) => x,
                Err(e) => {
                    let _ = cancel_server(&vault, p);
                    return Err(note_on(
                        e,
                        "the server's rotation was cancelled: its key is unchanged",
                    ));
                }
            };
            draft.detail = format!(
                "{}: rotation started on {p} with verification{reset_note}: nonce {nonce}, verification nonce {verification_nonce}; the new key is not current until verified",
                describe(&vault, &vault.seal_status().unwrap_or_default())
            );
            Ok((
                new_key,
                VaultRotation {
                    api: p.to_string(),
                    nonce,
                    verification_nonce,
                },
            ))
        }),
    )?;
    Ok((vault, p, new_key, rotation))
}

/// Runs the second step.
pub fn confirm(ctx: &Context, args: &RotateArgs, id: &str) -> Result<Report> {
    let g = Guard::begin(ctx)?;
    let store = g.store();
    let record = store.read_record(&args.seal)?;
    let rotation = record
        .pending
        .as_ref()
        .filter(|p| p.id == id)
        .and_then(|p| p.vault.clone());
    let mut draft = Draft::new("vault-rotate-confirm");
    let opened = (|| {
        if store.env(&record.env).is_ok() {
            draft.seal(&record);
        }
        verify_record(ctx, store, &record, None)?;
        open(&record, args)
    })();
    let (vault, binding, _, _) = match opened {
        Ok(x) => x,
        Err(e) => return g.finish(&mut draft, Err(e)),
    };
    // The confirmation takes the store lock itself.
    drop(g);
    let mut verify = |_view: &SealRecord, new_key: &Credential| -> Result<String> {
        let rot = rotation
            .as_ref()
            .ok_or_else(|| VaultError::NotVaultRotation {
                id: id.to_string(),
                seal: args.seal.clone(),
            })?;
        verify_new(&vault, &binding, rot, new_key)
    };
    let mut report = pending::confirm_with(
        ctx,
        "vault-rotate-confirm",
        &args.seal,
        id,
        &args.shares,
        &args.identities,
        &mut verify,
    )?;
    report.text = format!(
        "vault {}: the new key is verified and current\n{}",
        vault.addr(),
        report.text
    );
    Ok(report)
}

/// Has the server verify `new_key` for the rotation `rot`, or finds out that it is
/// already current. Errors leave the server's old key current.
fn verify_new(
    vault: &Vault,
    binding: &VaultBinding,
    rot: &VaultRotation,
    new_key: &Credential,
) -> Result<String> {
    let p = rot.api.as_str();
    let status = rekey_status(vault, p)?;
    if status.started && status.nonce == rot.nonce {
        // The verification nonce changes after every refused verification: read the
        // current one.
        let path = format!("{p}/verify");
        let resp = vault.call("GET", &path, true, None)?;
        if resp.status != 200 {
            return Err(vault.refused("reading the verification was", &resp));
        }
        let v: VerifyStatus = crate::vault::payload(&resp, &path, vault.addr())?;
        let vnonce = if v.started && !v.nonce.is_empty() {
            v.nonce
        } else {
            status.verification_nonce.clone()
        };
        let body = key_body(new_key, Some(&vnonce))?;
        let resp = vault.call("PUT", &path, true, Some(&body))?;
        drop(body);
        if resp.status != 200 {
            return Err(VaultError::VerificationRefused {
                addr: vault.addr().to_string(),
                text: resp.error_text(),
            }
            .into());
        }
        let done: VerifyStatus = crate::vault::payload(&resp, &path, vault.addr())?;
        if !done.complete {
            return Err(VaultError::VerificationIncomplete {
                addr: vault.addr().to_string(),
            }
            .into());
        }
        return Ok(format!(
            "vault {} ({}) verified the new key on {p} (rotation {}, verification nonce {vnonce}{}): it is current",
            vault.addr(),
            vault
                .server
                .fingerprint()
                .unwrap_or_else(|| "plain http on loopback".into()),
            rot.nonce,
            if vnonce != rot.verification_nonce {
                format!(
                    ", changed from {} by a refused verification",
                    rot.verification_nonce
                )
            } else {
                String::new()
            }
        ));
    }
    if status.started {
        return Err(VaultError::OtherRotation {
            addr: vault.addr().to_string(),
            found: status.nonce,
            ours: rot.nonce.clone(),
        }
        .into());
    }
    if live_check(vault, p, binding, new_key)? {
        Ok(format!(
            "vault {}: rotation {} had already completed on the server (the new key is current there, found by a live key check): zeroth now switches to it",
            vault.addr(),
            rot.nonce
        ))
    } else {
        Err(VaultError::RotationForgotten {
            addr: vault.addr().to_string(),
            nonce: rot.nonce.clone(),
        }
        .into())
    }
}

/// Returns true if and only if `key` is the server's current key: a rotation with
/// verification is started, given `key`, and cancelled; nothing changes.
fn live_check(vault: &Vault, p: &str, binding: &VaultBinding, key: &Credential) -> Result<bool> {
    let started = rekey_init(vault, p, binding)?;
    let resp = rekey_update(vault, p, key, &started.nonce);
    let cancelled = cancel_server(vault, p);
    let resp = resp?;
    cancelled?;
    match resp.status {
        200 => Ok(true),
        // A wrong key: "failed to read root key" (500), or an authentication failure.
        400 | 500 => Ok(false),
        _ => Err(vault.refused("the live key check was", &resp)),
    }
}

/// Drops the pending rotation: the server's side first (when it still has it), then
/// the pending set.
pub fn cancel(ctx: &Context, args: &RotateArgs, id: &str) -> Result<Report> {
    let store = Store::open(&ctx.store)?;
    let record = store.read_record(&args.seal)?;
    let rotation = record
        .pending
        .as_ref()
        .filter(|p| p.id == id)
        .and_then(|p| p.vault.clone());
    let mut note = String::new();
    if let Some(rot) = &rotation {
        let server: Result<String> = (|| {
            verify_record(ctx, &store, &record, None)?;
            let binding = key_binding(&record)?;
            let endpoints = args.server.endpoints(Some(&binding.addr))?;
            let vault = Vault::new(&endpoints[0], operator_token(args.token_file.as_deref())?)?;
            let status = vault.seal_status()?;
            check_binding(
                &record,
                binding,
                &vault,
                &status,
                args.accept_certificate.as_deref(),
            )?;
            if status.sealed {
                return Ok(format!(
                    "vault {} is sealed: it forgot rotation {} already",
                    vault.addr(),
                    rot.nonce
                ));
            }
            let st = rekey_status(&vault, &rot.api)?;
            if st.started && st.nonce == rot.nonce {
                cancel_server(&vault, &rot.api)?;
                Ok(format!(
                    "vault {}: rotation {} cancelled; its key is unchanged",
                    vault.addr(),
                    rot.nonce
                ))
            } else {
                Ok(format!(
                    "vault {}: rotation {} is no longer there; its key is unchanged",
                    vault.addr(),
                    rot.nonce
                ))
            }
        })();
        note = match server {
            Ok(line) => line,
            Err(e) => format!(
                "the server's side could not be cancelled ({}); a server forgets a rotation when it restarts",
                e.message()
            ),
        };
    }
    let mut report = pending::cancel(ctx, PendingKind::Rotate, &args.seal, id)?;
    if !note.is_empty() {
        report.text = format!("{note}\n{}", report.text);
        if let Some(obj) = report.json_mut().as_object_mut() {
            obj.insert("vault".into(), json!(note));
        }
    }
    Ok(report)
}
