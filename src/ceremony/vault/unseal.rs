//! `vault unseal SEAL`: the seal-status of every node is read first and checked against
//! the record; a node already unsealed gets nothing (a 200 there proves nothing); an
//! unseal attempt someone else left half-done is refused unless `--reset`; only then is
//! the key recovered by the quorum and the HSM, and sent by the API, node by node. It
//! succeeds only when every node reports unsealed.

use std::path::PathBuf;

use serde_json::json;

use crate::audit::Draft;
use crate::ceremony::unseal::{Recovery, recover};
use crate::ceremony::{Context, Guard, Report, verify_record};
use crate::error::{Error, Kind, Result, VaultError};
use crate::recipient::Keyring;
use crate::seal::{SealRecord, VaultRole};
use crate::vault::{ServerArgs, Vault, check_binding, describe, key_binding};

/// Arguments of `vault unseal`.
#[derive(Debug, Clone)]
pub struct UnsealArgs {
    /// Seal holding the vault's unseal key.
    pub seal: String,
    /// Share files; none means the custodians enter theirs on the terminal.
    pub shares: Vec<PathBuf>,
    /// `--identity` files.
    pub identities: Vec<PathBuf>,
    /// The nodes.
    pub server: ServerArgs,
    /// Clear someone else's unseal progress first.
    pub reset: bool,
    /// A new certificate fingerprint the operator checked.
    pub accept_certificate: Option<String>,
    /// Shares collected remotely (`--remote`).
    pub remote: Option<crate::ceremony::remote::Collected>,
    /// Why (`--reason`).
    pub reason: Option<String>,
}

/// Runs `vault unseal`.
pub fn run(ctx: &Context, args: &UnsealArgs) -> Result<Report> {
    let g = Guard::begin(ctx)?;
    let mut draft = Draft::new("vault-unseal");
    crate::ceremony::remote::note(&args.remote, &mut draft);
    let result = unseal(&g, args, &mut draft);
    g.finish(&mut draft, result)
}

/// Whether a remote collection for `vault unseal` should be opened at all: the nodes'
/// seal-status is read and checked as the ceremony checks it, before any custodian is
/// asked for a hand-in. When every node is unsealed already, or a node is refused (an
/// auto-unseal seal, someone else's unseal attempt, another server), the answer is no,
/// and the ceremony runs without a collection to say so and log it; nobody is woken for
/// nothing. The record is read and verified under the ceremony guard, as the ceremony
/// reads it (the lock is let go without a log entry: nothing happened yet). Any other
/// failure here says yes: the collection, then the ceremony, read everything again
/// under the lock and report it there.
pub fn needs_collection(ctx: &Context, args: &UnsealArgs) -> bool {
    let check = || -> Result<bool> {
        let g = Guard::begin(ctx)?;
        let store = g.store();
        let record = store.read_record(&args.seal)?;
        verify_record(ctx, store, &record, None)?;
        let binding = key_binding(&record)?.clone();
        for endpoint in args.server.endpoints(Some(&binding.addr))? {
            let vault = Vault::new(&endpoint, None)?;
            match needs_key(&record, &vault, args) {
                Ok((true, _)) => return Ok(true),
                Ok((false, _)) => {}
                Err(e) if e.kind() == Kind::Refused => return Ok(false),
                Err(e) => return Err(e),
            }
        }
        Ok(false)
    };
    check().unwrap_or(true)
}

/// What happened at one node.
struct Node {
    addr: String,
    fingerprint: Option<String>,
    sent: bool,
    line: String,
}

/// Checks a node before anything is sent: the record's server, not sealed by an
/// auto-unseal seal, no one else's progress (or `--reset`). Returns true if and only if
/// the node needs the key.
fn needs_key(
    record: &SealRecord,
    vault: &Vault,
    args: &UnsealArgs,
) -> Result<(bool, crate::vault::SealStatus)> {
    let binding = key_binding(record)?;
    let status = vault.seal_status()?;
    check_binding(
        record,
        binding,
        vault,
        &status,
        args.accept_certificate.as_deref(),
    )?;
    if !status.sealed {
        return Ok((false, status));
    }
    if binding.role == VaultRole::RecoveryKey || status.recovery_seal {
        return Err(VaultError::AutoUnsealSealed {
            addr: vault.addr().to_string(),
            seal_type: status.seal_type,
            seal: record.name.clone(),
        }
        .into());
    }
    if status.progress > 0 && !args.reset {
        return Err(VaultError::UnsealInProgress {
            addr: vault.addr().to_string(),
            progress: status.progress,
            threshold: status.t,
            nonce: status.nonce,
        }
        .into());
    }
    Ok((true, status))
}

fn unseal(g: &Guard<'_>, args: &UnsealArgs, draft: &mut Draft) -> Result<Report> {
    let store = g.store();
    let record = store.read_record(&args.seal)?;
    if store.env(&record.env).is_ok() {
        draft.seal(&record);
    }
    verify_record(g.ctx, store, &record, None)?;
    let binding = key_binding(&record)?.clone();
    let endpoints = args.server.endpoints(Some(&binding.addr))?;
    let vaults = endpoints
        .iter()
        .map(|e| Vault::new(e, None))
        .collect::<Result<Vec<_>>>()?;
    let mut nodes: Vec<Node> = Vec::new();
    let mut todo = Vec::new();
    for (i, v) in vaults.iter().enumerate() {
        let (needs, status) = needs_key(&record, v, args)?;
        if needs {
            todo.push(i);
        } else {
            nodes.push(Node {
                addr: v.addr().to_string(),
                fingerprint: v.server.fingerprint(),
                sent: false,
                line: format!("{}: already unsealed, nothing sent", describe(v, &status)),
            });
        }
    }
    let custodians = if todo.is_empty() {
        draft.detail = nodes
            .iter()
            .map(|n| n.line.as_str())
            .collect::<Vec<_>>()
            .join("; ");
        Vec::new()
    } else {
        let keys = Keyring::load(&args.identities)?;
        recover(
            g,
            &args.seal,
            &args.shares,
            Recovery {
                verb: "vault unseal",
                refuse_expired: true,
                also_needs: Vec::new(),
                keys: &keys,
                all: false,
                remote: args.remote.clone(),
                for_use: true,
                reason: args.reason.as_deref(),
            },
            draft,
            Box::new(|session, signer, record, key, accepted, draft| {
                for &i in &todo {
                    let v = &vaults[i];
                    let done = send(v, record, args, &key).inspect_err(|e| {
                        draft.detail = e.message().to_string();
                    });
                    let line = match done {
                        Ok(line) => line,
                        Err(e) => {
                            let before: Vec<&str> = nodes.iter().map(|n| n.line.as_str()).collect();
                            return Err(with_progress(e, &before));
                        }
                    };
                    nodes.push(Node {
                        addr: v.addr().to_string(),
                        fingerprint: v.server.fingerprint(),
                        sent: !line.contains("nothing sent"),
                        line,
                    });
                }
                // A certificate accepted by the operator replaces the recorded one.
                let main_fp = vaults
                    .iter()
                    .find(|v| v.addr() == binding.addr.trim_end_matches('/'))
                    .and_then(|v| v.server.fingerprint());
                if let (Some(accepted_fp), Some(seen)) = (&args.accept_certificate, &main_fp)
                    && accepted_fp == seen
                    && binding.tls_fingerprint.as_ref() != Some(seen)
                {
                    let mut updated = record.clone();
                    if let Some(b) = updated.vault.as_mut() {
                        b.tls_fingerprint = Some(seen.clone());
                    }
                    signer.sign_record(session, store, &mut updated)?;
                    store.write_record(&updated)?;
                    // The log entry names the record as it is now.
                    draft.seal(&updated);
                    nodes.push(Node {
                        addr: binding.addr.clone(),
                        fingerprint: Some(seen.clone()),
                        sent: false,
                        line: format!(
                            "record now pins certificate {seen} for {} (was {})",
                            binding.addr,
                            binding.tls_fingerprint.as_deref().unwrap_or("none")
                        ),
                    });
                }
                drop(key);
                draft.custodians = accepted.iter().map(|a| a.custodian.clone()).collect();
                draft.detail = nodes
                    .iter()
                    .map(|n| n.line.as_str())
                    .collect::<Vec<_>>()
                    .join("; ");
                Ok(draft.custodians.clone())
            }),
        )?
    };
    let mut text = String::new();
    for n in &nodes {
        text.push_str(&format!("{}\n", n.line));
    }
    if !custodians.is_empty() {
        text.push_str(&format!(
            "unsealed with '{}', recovered with the shares of {}\n",
            args.seal,
            custodians.join(", ")
        ));
    }
    Ok(Report::new(
        text,
        json!({
            "seal": args.seal,
            "custodians": custodians,
            "nodes": nodes.iter().map(|n| json!({
                "addr": n.addr,
                "certificate": n.fingerprint,
                "key_sent": n.sent,
                "detail": n.line,
            })).collect::<Vec<_>>(),
        }),
    ))
}

/// Sends the key to one node, after reading its status again (it may have changed
/// while the custodians gathered). Returns the line for the log.
fn send(
    v: &Vault,
    record: &SealRecord,
    args: &UnsealArgs,
    key: &crate::secret::Credential,
) -> Result<String> {
    let (needs, status) = needs_key(record, v, args)?;
    if !needs {
        return Ok(format!(
            "{}: unsealed meanwhile by someone else, nothing sent",
            describe(v, &status)
        ));
    }
    let mut reset = String::new();
    if status.progress > 0 {
        v.unseal_reset()?;
        reset = format!(
            "; someone else's progress ({} of {}, nonce {}) reset first",
            status.progress, status.t, status.nonce
        );
    }
    let (code, mut after) = v.unseal(key)?;
    if after.sealed && after.progress == 0 {
        // The key was taken (the progress went back to 0) but the node is not unsealed
        // yet: a raft node joining its cluster does that while it joins.
        after = wait_unsealed(v)?;
    }
    if after.sealed {
        return Err(VaultError::StillSealed {
            addr: v.addr().to_string(),
            progress: after.progress,
            threshold: after.t,
            seal: record.name.clone(),
        }
        .into());
    }
    Ok(format!(
        "{}: key sent, HTTP {code}, unsealed{reset}",
        describe(v, &after)
    ))
}

/// Waits up to a minute for a node that took the key to report unsealed.
fn wait_unsealed(v: &Vault) -> Result<crate::vault::SealStatus> {
    let start = std::time::Instant::now();
    loop {
        let s = v.seal_status()?;
        if !s.sealed || s.progress > 0 || start.elapsed() > std::time::Duration::from_secs(60) {
            return Ok(s);
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// Adds what was done before a failure to its message.
fn with_progress(e: Error, before: &[&str]) -> Error {
    if before.is_empty() {
        return e;
    }
    let note = format!("{} (before that: {})", e.message(), before.join("; "));
    e.map_message(|_| note)
}
