//! `vault root SEAL --ttl 15m -- CMD`: a root token for one command, that expires by
//! itself.
//!
//! The quorum and the HSM recover the key; the server's generate-root ceremony runs with
//! a one-time password and that key; the encoded token is decoded in memory and
//! exchanged at once for an orphan root token with an explicit maximum TTL, which is
//! what CMD gets (in `BAO_TOKEN` and `VAULT_TOKEN`); the generated token, which would
//! never expire, is revoked before CMD starts; the short one is revoked when CMD ends,
//! whatever CMD did, and zeroth exits with CMD's code. The log says which token (by
//! accessor), until when, for whom; never a token or the OTP.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use serde::Deserialize;
use serde_json::json;
use zeroize::Zeroizing;

use crate::audit::{self, Draft, Outcome};
use crate::ceremony::unseal::{Recovery, recover};
use crate::ceremony::{Context, Guard, Report, verify_record};
use crate::deliver::Delivery;
use crate::error::{Error, Result, VaultError};
use crate::recipient::Keyring;
use crate::secret::Credential;
use crate::vault::{
    Api, SecretText, ServerArgs, Token, Vault, check_binding, describe, key_binding, key_body,
    operator_token, secret_json,
};

/// The longest a break-glass token may live.
const MAX_TTL_SECONDS: u64 = 24 * 3600;

/// Arguments of `vault root`.
#[derive(Debug, Clone)]
pub struct RootArgs {
    /// Seal holding the vault's unseal (or recovery) key.
    pub seal: String,
    /// Share files.
    pub shares: Vec<PathBuf>,
    /// `--identity` files.
    pub identities: Vec<PathBuf>,
    /// The server.
    pub server: ServerArgs,
    /// `--token-file`.
    pub token_file: Option<PathBuf>,
    /// The token's lifetime: `15m`, `1h`, `90s`.
    pub ttl: String,
    /// Cancel someone else's generate-root attempt first.
    pub reset: bool,
    /// A new certificate fingerprint the operator checked.
    pub accept_certificate: Option<String>,
    /// Why (`--reason`).
    pub reason: Option<String>,
    /// The command to run with the token.
    pub command: Vec<OsString>,
}

/// Parses a TTL: a number and a unit (s, m, h), at most 24 h.
pub fn parse_ttl(text: &str) -> Result<u64> {
    let bad = || {
        Error::Usage(format!(
            "--ttl {text}: give a number and a unit, s, m or h (15m, 1h, 90s), at most 24h"
        ))
    };
    let (digits, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?);
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let secs = match unit {
        "s" => n,
        "m" => n.checked_mul(60).ok_or_else(bad)?,
        "h" => n.checked_mul(3600).ok_or_else(bad)?,
        _ => return Err(bad()),
    };
    if secs == 0 || secs > MAX_TTL_SECONDS {
        return Err(bad());
    }
    Ok(secs)
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Attempt {
    started: bool,
    nonce: String,
    otp: SecretText,
    otp_length: usize,
    progress: u32,
    complete: bool,
    encoded_token: SecretText,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Auth {
    client_token: SecretText,
    accessor: String,
    lease_duration: u64,
}

#[derive(Deserialize)]
struct Created {
    auth: Option<Auth>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Lookup {
    accessor: String,
    expire_time: Option<String>,
}

fn paths(api: Api) -> &'static str {
    match api {
        Api::Current => "sys/generate-root-token/attempt",
        Api::Legacy => "sys/generate-root/attempt",
    }
}

fn update_path(api: Api) -> &'static str {
    match api {
        Api::Current => "sys/generate-root-token/update",
        Api::Legacy => "sys/generate-root/update",
    }
}

/// Runs `vault root`.
pub fn run(ctx: &Context, args: &RootArgs) -> Result<Report> {
    let ttl = parse_ttl(&args.ttl)?;
    Delivery::Exec(args.command.clone()).preflight()?;
    let g = Guard::begin(ctx)?;
    let mut draft = Draft::new("vault-root");
    let result = root(&g, args, ttl, &mut draft);
    g.finish(&mut draft, result)
}

fn root(g: &Guard<'_>, args: &RootArgs, ttl: u64, draft: &mut Draft) -> Result<Report> {
    let store = g.store();
    let record = store.read_record(&args.seal)?;
    if store.env(&record.env).is_ok() {
        draft.seal(&record);
    }
    verify_record(g.ctx, store, &record, None)?;
    let binding = key_binding(&record)?.clone();
    let endpoints = args.server.endpoints(Some(&binding.addr))?;
    if endpoints.len() != 1 {
        return Err(Error::Usage(
            "vault root takes one --addr: the cluster's active node, or any node that forwards to it".into(),
        ));
    }
    let endpoint = endpoints[0].clone();
    let vault = Vault::new(&endpoint, operator_token(args.token_file.as_deref())?)?;
    let status = vault.seal_status()?;
    check_binding(
        &record,
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
    let api = vault.detect(
        "sys/generate-root-token/attempt",
        "sys/generate-root/attempt",
        "generating a root token",
    )?;
    let current = read_attempt(&vault, api)?;
    if current.started {
        if !args.reset {
            return Err(VaultError::RootGenerationInProgress {
                addr: vault.addr().to_string(),
                nonce: current.nonce.clone(),
                progress: current.progress,
                threshold: binding.threshold,
            }
            .into());
        }
        cancel(&vault, api)?;
    }
    let reset_note = if current.started {
        format!(
            "; someone else's generation (nonce {}) cancelled first",
            current.nonce
        )
    } else {
        String::new()
    };
    let keys = Keyring::load(&args.identities)?;
    let stop = Arc::new(AtomicBool::new(false));
    recover(
        g,
        &args.seal,
        &args.shares,
        Recovery {
            verb: "vault root",
            refuse_expired: true,
            also_needs: Vec::new(),
            keys: &keys,
            all: false,
            remote: None,
            for_use: true,
            reason: args.reason.as_deref(),
        },
        draft,
        Box::new(|session, signer, record, key, accepted, draft| {
            draft.custodians = accepted.iter().map(|a| a.custodian.clone()).collect();
            let (short, accessor, expires, generated_line) =
                mint(&vault, api, record, &key, ttl, &draft.custodians)?;
            drop(key);
            let base = format!(
                "{}; root token (accessor {accessor}, ttl {ttl}s, expires {expires}) for '{}'{reset_note}; {generated_line}",
                describe(&vault, &vault.seal_status().unwrap_or_default()),
                std::path::Path::new(&args.command[0]).display()
            );
            audit::append(
                store,
                draft,
                Outcome::Ok,
                &base,
                Some(&signer.signing(session)),
                None,
            )?;
            // Ctrl-C and the like reach CMD (its own process); zeroth outlives it to
            // revoke the token.
            for sig in [
                signal_hook::consts::SIGINT,
                signal_hook::consts::SIGTERM,
                signal_hook::consts::SIGHUP,
                signal_hook::consts::SIGQUIT,
            ] {
                let _ = signal_hook::flag::register(sig, stop.clone());
            }
            // The store lock is released while CMD runs (it may run zeroth itself);
            // the token is revoked afterwards whatever happened.
            let code = g
                .released(|| run_command(&args.command, &short, &endpoint))
                .and_then(|c| c);
            let revoked = revoke_short(&vault, &short, &accessor);
            drop(short);
            draft.event = "vault-root-end";
            let (outcome, detail) = match (&code, &revoked) {
                (Ok(c), Ok(r)) => (Outcome::Ok, format!("'{}' exited with {c}; {r}", std::path::Path::new(&args.command[0]).display())),
                (Err(e), Ok(r)) => (Outcome::Failed, format!("{}; {r}", e.message())),
                (_, Err(e)) => (Outcome::Failed, format!("{}; the token expires by itself at {expires}", e.message())),
            };
            audit::append(
                store,
                draft,
                outcome,
                &detail,
                Some(&signer.signing(session)),
                None,
            )?;
            revoked?;
            let code = code?;
            Ok((code, accessor, expires, detail))
        }),
    )
    .map(|(code, accessor, expires, detail)| {
        let mut report = Report::new(
            format!("vault root: the root token with accessor {accessor} (it would have expired at {expires}) is revoked; {detail}\n"),
            json!({
                "seal": args.seal,
                "accessor": accessor,
                "expires": expires,
                "exit_code": code,
            }),
        );
        report.exit_code = code;
        report.on_stderr = true;
        report
    })
}

fn read_attempt(vault: &Vault, api: Api) -> Result<Attempt> {
    let resp = vault.call("GET", paths(api), true, None)?;
    if resp.status != 200 {
        return Err(vault.refused("reading the root token generation was", &resp));
    }
    crate::vault::payload(&resp, paths(api), vault.addr())
}

fn cancel(vault: &Vault, api: Api) -> Result<()> {
    let resp = vault.call("DELETE", paths(api), true, None)?;
    if resp.status != 204 && resp.status != 200 {
        return Err(vault.refused("cancelling the root token generation was", &resp));
    }
    Ok(())
}

/// The server's generate-root ceremony, then the exchange for a short-lived orphan
/// token and the revocation of the generated one. Returns the short token, its
/// accessor, its expiry and a line for the log.
fn mint(
    vault: &Vault,
    api: Api,
    record: &crate::seal::SealRecord,
    key: &Credential,
    ttl: u64,
    custodians: &[String],
) -> Result<(Token, String, String, String)> {
    let again = read_attempt(vault, api)?;
    if again.started {
        return Err(VaultError::RootGenerationStartedMeanwhile {
            addr: vault.addr().to_string(),
            nonce: again.nonce,
        }
        .into());
    }
    let resp = vault.call("PUT", paths(api), true, Some(b"{}"))?;
    if resp.status != 200 {
        return Err(vault.refused("starting a root token generation was", &resp));
    }
    let attempt: Attempt = crate::vault::payload(&resp, paths(api), vault.addr())?;
    drop(resp);
    let otp = attempt.otp;
    if otp.0.is_empty() || (attempt.otp_length != 0 && otp.0.len() != attempt.otp_length) {
        let _ = cancel(vault, api);
        return Err(VaultError::NoUsableOtp {
            addr: vault.addr().to_string(),
            length: otp.0.len(),
            expected: attempt.otp_length,
        }
        .into());
    }
    let nonce = attempt.nonce.clone();
    let body = key_body(key, Some(&nonce))?;
    let resp = vault.call("PUT", update_path(api), true, Some(&body))?;
    drop(body);
    if resp.status != 200 {
        let e = vault.refused("the key was", &resp);
        let _ = cancel(vault, api);
        return Err(e);
    }
    let done: Attempt = crate::vault::payload(&resp, update_path(api), vault.addr())?;
    drop(resp);
    if !done.complete || done.encoded_token.0.is_empty() {
        let _ = cancel(vault, api);
        return Err(VaultError::RootGenerationIncomplete {
            addr: vault.addr().to_string(),
            progress: done.progress,
            threshold: record.vault.as_ref().map(|b| b.threshold).unwrap_or(1),
        }
        .into());
    }
    let generated = decode(&done.encoded_token, &otp)?;
    drop(done);
    drop(otp);

    // The generated token never expires: exchange it at once, then revoke it.
    let gen_accessor = lookup(vault, &generated)
        .map(|l| l.accessor)
        .unwrap_or_else(|_| "unknown".into());
    let created = vault.server.request(
        "POST",
        "auth/token/create-orphan",
        Some(generated.expose()),
        Some(&secret_json(&json!({
            "policies": ["root"],
            "ttl": format!("{ttl}s"),
            "explicit_max_ttl": format!("{ttl}s"),
            "renewable": false,
            "no_default_policy": true,
            "display_name": format!("zeroth-{}", record.name),
            "meta": {
                "zeroth_seal": record.name,
                "operator": audit::operator(),
                "custodians": custodians.join(","),
            },
        }))),
    );
    let revoked_gen = vault.server.request(
        "POST",
        "auth/token/revoke-self",
        Some(generated.expose()),
        None,
    );
    drop(generated);
    let created = created?;
    let gen_line = match &revoked_gen {
        Ok(r) if r.status == 204 || r.status == 200 => {
            format!("generated root token (accessor {gen_accessor}) revoked")
        }
        Ok(r) => {
            return Err(VaultError::GeneratedTokenNotRevoked {
                addr: vault.addr().to_string(),
                accessor: gen_accessor,
                text: r.error_text(),
            }
            .into());
        }
        Err(e) => {
            return Err(VaultError::GeneratedTokenRevokeFailed {
                accessor: gen_accessor,
                detail: e.message(),
            }
            .into());
        }
    };
    if created.status != 200 {
        return Err(VaultError::TokenNotCreated {
            addr: vault.addr().to_string(),
            text: created.error_text(),
            generated_accessor: gen_accessor,
        }
        .into());
    }
    let auth = serde_json::from_slice::<Created>(&created.body)
        .ok()
        .and_then(|c| c.auth)
        .ok_or_else(|| VaultError::CreatedNoToken {
            addr: vault.addr().to_string(),
        })?;
    drop(created);
    let short = Token::new(auth.client_token.0);
    let expires = lookup(vault, &short)
        .ok()
        .and_then(|l| l.expire_time)
        .unwrap_or_else(|| format!("in {}s", auth.lease_duration));
    Ok((short, auth.accessor, expires, gen_line))
}

/// encoded_token is unpadded base64; XOR with the OTP's bytes gives the token.
fn decode(encoded: &SecretText, otp: &SecretText) -> Result<Token> {
    use base64::Engine;
    let mut bytes = Zeroizing::new(Vec::with_capacity(encoded.0.len()));
    let trimmed = encoded.0.trim_end_matches('=');
    base64::engine::general_purpose::STANDARD_NO_PAD
        .decode_vec(trimmed.as_bytes(), &mut bytes)
        .map_err(|_| VaultError::EncodedTokenNotBase64)?;
    let otp = otp.0.as_bytes();
    if bytes.len() != otp.len() {
        return Err(VaultError::EncodedTokenLength {
            token: bytes.len(),
            otp: otp.len(),
        }
        .into());
    }
    for (b, o) in bytes.iter_mut().zip(otp) {
        *b ^= o;
    }
    let mut text = Zeroizing::new(String::with_capacity(bytes.len()));
    for &b in bytes.iter() {
        if !b.is_ascii_graphic() {
            return Err(VaultError::DecodedTokenNotPrintable.into());
        }
        text.push(b as char);
    }
    Ok(Token::new(text))
}

fn lookup(vault: &Vault, token: &Token) -> Result<Lookup> {
    let resp = vault
        .server
        .request("GET", "auth/token/lookup-self", Some(token.expose()), None)?;
    if resp.status != 200 {
        return Err(vault.refused("lookup-self was", &resp));
    }
    crate::vault::payload(&resp, "auth/token/lookup-self", vault.addr())
}

/// Runs CMD with the token in its environment; its exit code (128 + signal).
fn run_command(cmd: &[OsString], token: &Token, endpoint: &crate::vault::Endpoint) -> Result<u8> {
    let mut c = Command::new(&cmd[0]);
    c.args(&cmd[1..])
        .env_remove(crate::pin::PIN_ENV)
        .env("BAO_TOKEN", token.expose())
        .env("VAULT_TOKEN", token.expose())
        .env("BAO_ADDR", &endpoint.addr)
        .env("VAULT_ADDR", &endpoint.addr);
    if let Some(ca) = &endpoint.ca_cert {
        c.env("BAO_CACERT", ca).env("VAULT_CACERT", ca);
    }
    if let Some(n) = &endpoint.server_name {
        c.env("BAO_TLS_SERVER_NAME", n)
            .env("VAULT_TLS_SERVER_NAME", n);
    }
    let status = c.status().map_err(|source| VaultError::CommandNotStarted {
        command: PathBuf::from(&cmd[0]),
        source,
    })?;
    use std::os::unix::process::ExitStatusExt;
    Ok(match (status.code(), status.signal()) {
        (Some(code), _) => u8::try_from(code).unwrap_or(1),
        (None, Some(sig)) => u8::try_from(128 + sig).unwrap_or(255),
        _ => 1,
    })
}

/// Revokes the short token and checks the server refuses it now.
fn revoke_short(vault: &Vault, token: &Token, accessor: &str) -> Result<String> {
    vault.revoke_self(token, &format!("the root token (accessor {accessor})"))?;
    Ok(format!(
        "root token (accessor {accessor}) revoked (lookup-self: HTTP 403)"
    ))
}
