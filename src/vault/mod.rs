//! OpenBao and HashiCorp Vault, as zeroth talks to them: where the server is, the API
//! calls, and the checks of a server against the seal record's [`VaultBinding`];
//! `http.rs` is the HTTP client and its TLS. The ceremonies that use them (`vault
//! init`, `unseal`, `rotate`, `root`) are in [`crate::ceremony::vault`].

pub mod http;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde::de::DeserializeOwned;
use zeroize::Zeroizing;

use crate::error::{Error, Result, VaultError};
use crate::seal::{SealRecord, VaultBinding, VaultRole};
use crate::secret::Credential;
pub use http::{Endpoint, Server};

/// How long zeroth waits for a server that was just unsealed to have an active node.
const ACTIVE_WAIT: Duration = Duration::from_secs(60);

/// Where the server is, from the command line or the environment, as the `bao` and
/// `vault` clients take it: the `BAO_*` names first, then the `VAULT_*` ones.
#[derive(Debug, Clone, Default)]
pub struct ServerArgs {
    /// `--addr` (repeatable).
    pub addrs: Vec<String>,
    /// `--ca-cert`.
    pub ca_cert: Option<PathBuf>,
    /// `--tls-server-name`.
    pub server_name: Option<String>,
}

fn env_first(names: &[&str]) -> Option<String> {
    names
        .iter()
        .find_map(|n| std::env::var(n).ok().filter(|v| !v.is_empty()))
}

impl ServerArgs {
    /// The endpoints to talk to: each `--addr`, else `BAO_ADDR`, else `VAULT_ADDR`,
    /// else (`fallback`) the address the record holds.
    pub fn endpoints(&self, fallback: Option<&str>) -> Result<Vec<Endpoint>> {
        let addrs = if !self.addrs.is_empty() {
            self.addrs.clone()
        } else if let Some(a) = env_first(&["BAO_ADDR", "VAULT_ADDR"]) {
            vec![a]
        } else if let Some(a) = fallback {
            vec![a.to_string()]
        } else {
            return Err(Error::Usage(
                "which vault? give --addr https://HOST:PORT, or set BAO_ADDR (or VAULT_ADDR)"
                    .into(),
            ));
        };
        let ca_cert = self
            .ca_cert
            .clone()
            .or_else(|| env_first(&["BAO_CACERT", "VAULT_CACERT"]).map(PathBuf::from));
        if let Some(ca) = &ca_cert
            && !ca.is_file()
        {
            return Err(VaultError::CaCertMissing { path: ca.clone() }.into());
        }
        let server_name = self
            .server_name
            .clone()
            .or_else(|| env_first(&["BAO_TLS_SERVER_NAME", "VAULT_TLS_SERVER_NAME"]));
        Ok(addrs
            .into_iter()
            .map(|addr| Endpoint {
                addr,
                ca_cert: ca_cert.clone(),
                server_name: server_name.clone(),
            })
            .collect())
    }
}

/// A token (root, orphan, or the operator's): zeroed on drop, never shown.
pub struct Token(Zeroizing<String>);

impl Token {
    /// Wraps a token.
    pub fn new(t: Zeroizing<String>) -> Token {
        Token(t)
    }

    /// The token's text, for the request header or a child's environment.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token([redacted])")
    }
}

/// The operator's own token, which OpenBao's authenticated ceremony endpoints
/// (`sys/rotate/root`, `sys/generate-root-token`) need: `--token-file`, else
/// `BAO_TOKEN`, else `VAULT_TOKEN`; never argv.
pub fn operator_token(token_file: Option<&Path>) -> Result<Option<Token>> {
    if let Some(path) = token_file {
        let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|source| {
            VaultError::TokenFileUnreadable {
                path: path.to_path_buf(),
                source,
            }
        })?);
        let t = text.trim();
        if t.is_empty() {
            return Err(VaultError::TokenFileEmpty {
                path: path.to_path_buf(),
            }
            .into());
        }
        return Ok(Some(Token(Zeroizing::new(t.to_string()))));
    }
    Ok(env_first(&["BAO_TOKEN", "VAULT_TOKEN"]).map(|t| Token(Zeroizing::new(t))))
}

/// Text from the server that is a secret (a key, a token, an OTP): zeroed on drop.
#[derive(Default)]
pub struct SecretText(pub Zeroizing<String>);

impl<'de> Deserialize<'de> for SecretText {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        String::deserialize(d).map(|s| SecretText(Zeroizing::new(s)))
    }
}

impl std::fmt::Debug for SecretText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

/// `GET sys/seal-status`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default)]
pub struct SealStatus {
    /// Seal type: shamir, or an auto-unseal type.
    #[serde(rename = "type")]
    pub seal_type: String,
    /// Initialized.
    pub initialized: bool,
    /// Sealed.
    pub sealed: bool,
    /// Threshold.
    pub t: u32,
    /// Shares.
    pub n: u32,
    /// Keys submitted so far towards the threshold.
    pub progress: u32,
    /// The unseal attempt's nonce.
    pub nonce: String,
    /// Server version.
    pub version: String,
    /// An auto-unseal seal: the keys are recovery keys.
    pub recovery_seal: bool,
    /// Only once unsealed.
    pub cluster_id: Option<String>,
    /// Only once unsealed.
    pub cluster_name: Option<String>,
}

impl SealStatus {
    /// One line for messages and the log.
    pub fn summary(&self) -> String {
        format!(
            "{}, {}, {} {} of {}, progress {}, version {}{}",
            if self.initialized {
                "initialized"
            } else {
                "not initialized"
            },
            if self.sealed { "sealed" } else { "unsealed" },
            self.seal_type,
            self.t,
            self.n,
            self.progress,
            self.version,
            self.cluster_id
                .as_deref()
                .map(|c| format!(", cluster {c}"))
                .unwrap_or_default()
        )
    }
}

/// Reads an API answer, whether it comes wrapped in `{"data": …}` (OpenBao's newer
/// endpoints) or bare (the legacy ones).
pub(crate) fn payload<T: DeserializeOwned>(
    resp: &http::Response,
    what: &str,
    addr: &str,
) -> Result<T> {
    #[derive(Deserialize)]
    struct Wrapped<T> {
        data: Option<T>,
    }
    if let Ok(Wrapped { data: Some(d) }) = serde_json::from_slice::<Wrapped<T>>(&resp.body) {
        return Ok(d);
    }
    serde_json::from_slice::<T>(&resp.body).map_err(|e| {
        VaultError::AnswerNotDocumented {
            addr: addr.to_string(),
            what: what.to_string(),
            detail: json_fault(&e),
        }
        .into()
    })
}

/// Where and how an answer of the server fails to parse, without its words: serde_json's
/// own message can quote the value at fault ("invalid type: string \"…\""), and in an
/// answer that value can be a key or a token.
pub(crate) fn json_fault(e: &serde_json::Error) -> String {
    let what = match e.classify() {
        serde_json::error::Category::Io => "unreadable",
        serde_json::error::Category::Syntax => "not JSON",
        serde_json::error::Category::Data => "a field of the wrong type, or missing",
        serde_json::error::Category::Eof => "cut short",
    };
    format!("{what} at line {} column {}", e.line(), e.column())
}

/// Writes `value` as JSON into a buffer zeroed on drop, large enough that it never
/// grows (a growing Vec leaves copies behind).
pub(crate) fn secret_json(value: &serde_json::Value) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(64 * 1024));
    let _ = serde_json::to_writer(&mut *out, value);
    out
}

/// The body `{"key": "<base64>"}` (with `"nonce"` when given), written by hand into a
/// buffer zeroed on drop: a `serde_json::Value` would hold a copy of the key in a
/// plain `String`. A nonce is the server's and is checked to need no escaping.
pub(crate) fn key_body(key: &Credential, nonce: Option<&str>) -> Result<Zeroizing<Vec<u8>>> {
    let k = b64(key);
    let mut out = Zeroizing::new(Vec::with_capacity(k.len() + 256));
    out.extend_from_slice(b"{\"key\":\"");
    out.extend_from_slice(k.as_bytes());
    out.push(b'"');
    if let Some(n) = nonce {
        if n.len() > 128 || !n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(VaultError::NonceNotUuid {
                nonce: n.to_string(),
            }
            .into());
        }
        out.extend_from_slice(b",\"nonce\":\"");
        out.extend_from_slice(n.as_bytes());
        out.push(b'"');
    }
    out.push(b'}');
    Ok(out)
}

/// The credential as base64, in a buffer zeroed on drop.
pub(crate) fn b64(credential: &Credential) -> Zeroizing<String> {
    use base64::Engine;
    let mut out = Zeroizing::new(String::with_capacity(credential.expose().len() * 2 + 8));
    base64::engine::general_purpose::STANDARD.encode_string(credential.expose(), &mut out);
    out
}

/// Decodes a key the server gave in base64 into a credential.
pub(crate) fn key_from_b64(text: &SecretText, what: &str) -> Result<Credential> {
    use base64::Engine;
    let mut bytes = Zeroizing::new(Vec::with_capacity(text.0.len()));
    base64::engine::general_purpose::STANDARD
        .decode_vec(text.0.as_bytes(), &mut bytes)
        .map_err(|_| VaultError::KeyNotBase64 {
            what: what.to_string(),
        })?;
    Ok(Credential::new(std::mem::take(&mut *bytes)))
}

/// A server, with the operator's token when there is one.
pub struct Vault {
    /// The connection details.
    pub server: Server,
    /// The token for authenticated endpoints.
    pub token: Option<Token>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("server", &self.server)
            .finish()
    }
}

/// Which flavour of the ceremony endpoints a server offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// OpenBao ≥ 2.4/2.5: `sys/rotate/root`, `sys/generate-root-token`; a token needed.
    Current,
    /// `sys/rekey`, `sys/generate-root`: Vault, or OpenBao with the unauthenticated
    /// endpoints switched on.
    Legacy,
}

impl Vault {
    /// Connects to `endpoint` (nothing is sent yet).
    pub fn new(endpoint: &Endpoint, token: Option<Token>) -> Result<Vault> {
        Ok(Vault {
            server: Server::new(endpoint)?,
            token,
        })
    }

    /// The address.
    pub fn addr(&self) -> &str {
        &self.server.addr
    }

    /// Sends a request, with the operator's token when `auth`.
    pub fn call(
        &self,
        method: &str,
        path: &str,
        auth: bool,
        body: Option<&[u8]>,
    ) -> Result<http::Response> {
        let token = if auth {
            self.token.as_ref().map(Token::expose)
        } else {
            None
        };
        self.server.request(method, path, token, body)
    }

    /// Revokes `token` (`auth/token/revoke-self`) and checks the server refuses it
    /// now (`lookup-self` answers 403); `what` names the token in errors.
    pub(crate) fn revoke_self(&self, token: &Token, what: &str) -> Result<()> {
        let resp =
            self.server
                .request("POST", "auth/token/revoke-self", Some(token.expose()), None)?;
        if resp.status != 204 && resp.status != 200 {
            return Err(VaultError::RevokeFailed {
                addr: self.addr().to_string(),
                token: what.to_string(),
                text: resp.error_text(),
            }
            .into());
        }
        let check =
            self.server
                .request("GET", "auth/token/lookup-self", Some(token.expose()), None)?;
        if check.status != 403 {
            return Err(VaultError::RevokedTokenAnswers {
                addr: self.addr().to_string(),
                token: what.to_string(),
                status: check.status,
            }
            .into());
        }
        Ok(())
    }

    /// The error for a request the server refused: an I/O failure when the server failed
    /// (5xx), else a refusal; `what` names the request.
    pub(crate) fn refused(&self, what: &str, resp: &http::Response) -> Error {
        VaultError::RequestRefused {
            addr: self.addr().to_string(),
            what: what.to_string(),
            text: resp.error_text(),
            status: resp.status,
        }
        .into()
    }

    /// `GET sys/seal-status`.
    pub fn seal_status(&self) -> Result<SealStatus> {
        let resp = self.call("GET", "sys/seal-status", false, None)?;
        if resp.status != 200 {
            return Err(self.refused("seal-status", &resp));
        }
        payload(&resp, "sys/seal-status", self.addr())
    }

    /// `PUT sys/unseal` with `key`; returns the status after it.
    pub fn unseal(&self, key: &Credential) -> Result<(u16, SealStatus)> {
        let body = key_body(key, None)?;
        let resp = self.call("PUT", "sys/unseal", false, Some(&body))?;
        if resp.status != 200 {
            return Err(self.refused("the unseal key was", &resp));
        }
        Ok((resp.status, payload(&resp, "sys/unseal", self.addr())?))
    }

    /// `PUT sys/unseal {"reset": true}`: clears an unseal attempt in progress.
    pub fn unseal_reset(&self) -> Result<SealStatus> {
        let resp = self.call("PUT", "sys/unseal", false, Some(br#"{"reset":true}"#))?;
        if resp.status != 200 {
            return Err(self.refused("resetting the unseal progress was", &resp));
        }
        payload(&resp, "sys/unseal", self.addr())
    }

    /// Waits until the cluster has an active node that answers (`sys/health` 200, or
    /// a standby that knows its leader), as a node just unsealed takes a moment to
    /// elect one: until then its health says standby (429) and requests that need the
    /// active node fail. Fails at once on a sealed server.
    pub fn wait_active(&self) -> Result<()> {
        #[derive(Deserialize, Default)]
        #[serde(default)]
        struct Leader {
            leader_address: String,
        }
        let start = Instant::now();
        loop {
            let resp = self.call("GET", "sys/health", false, None)?;
            match resp.status {
                200 => return Ok(()),
                429 | 473 => {
                    let leader = self.call("GET", "sys/leader", false, None)?;
                    if leader.status == 200
                        && !payload::<Leader>(&leader, "sys/leader", self.addr())?
                            .leader_address
                            .is_empty()
                    {
                        return Ok(());
                    }
                }
                503 => {
                    let st = self.seal_status()?;
                    if st.sealed {
                        return Err(VaultError::Sealed {
                            addr: self.addr().to_string(),
                            seal: None,
                        }
                        .into());
                    }
                }
                _ => {}
            }
            if start.elapsed() > ACTIVE_WAIT {
                return Err(VaultError::NoActiveNode {
                    addr: self.addr().to_string(),
                    waited_secs: ACTIVE_WAIT.as_secs(),
                    text: resp.error_text(),
                }
                .into());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Finds which ceremony endpoints the server offers, by asking the current ones
    /// with the operator's token, else the legacy ones without: `current` and `legacy`
    /// are the two paths to read (e.g. `sys/rotate/root/init` and `sys/rekey/init`).
    pub fn detect(&self, current: &str, legacy: &str, what: &str) -> Result<Api> {
        if self.token.is_some() {
            let resp = self.call("GET", current, true, None)?;
            match resp.status {
                200 => return Ok(Api::Current),
                404 | 405 => {}
                403 => {
                    return Err(VaultError::TokenNotPermitted {
                        addr: self.addr().to_string(),
                        endpoint: current.to_string(),
                        text: resp.error_text(),
                    }
                    .into());
                }
                _ => return Err(self.refused(&format!("reading {current} was"), &resp)),
            }
        }
        let resp = self.call("GET", legacy, true, None)?;
        match resp.status {
            200 => Ok(Api::Legacy),
            405 | 403 if self.token.is_none() => Err(VaultError::TokenNeeded {
                addr: self.addr().into(),
                what: what.to_string(),
                legacy: legacy.to_string(),
                text: resp.error_text(),
                current: current.to_string(),
            }
            .into()),
            _ => Err(self.refused(&format!("reading {legacy} was"), &resp)),
        }
    }
}

/// Checks a server's seal status against the record's binding; `pinned` when the
/// address is the one the record holds, so the certificate must be the recorded one
/// (or `accept`, the new fingerprint the operator checked).
pub fn check_binding(
    record: &SealRecord,
    binding: &VaultBinding,
    vault: &Vault,
    status: &SealStatus,
    accept: Option<&str>,
) -> Result<()> {
    let addr = vault.addr();
    let seal = &record.name;
    if !status.initialized {
        return Err(VaultError::NotInitialized {
            addr: addr.to_string(),
            seal: seal.clone(),
            cluster: binding.cluster_id.clone(),
        }
        .into());
    }
    if status.seal_type != binding.seal_type {
        return Err(VaultError::SealTypeChanged {
            addr: addr.into(),
            found: status.seal_type.clone(),
            seal: seal.clone(),
            role: binding.role.words(),
            recorded: binding.seal_type.clone(),
        }
        .into());
    }
    if status.t != u32::from(binding.threshold) || status.n != u32::from(binding.shares) {
        return Err(VaultError::SharesChanged {
            addr: addr.to_string(),
            threshold: status.t,
            shares: status.n,
            seal: seal.clone(),
            recorded_threshold: binding.threshold,
            recorded_shares: binding.shares,
        }
        .into());
    }
    if let (Some(have), Some(want)) = (&status.cluster_id, &binding.cluster_id)
        && have != want
    {
        return Err(VaultError::OtherCluster {
            addr: addr.into(),
            found: have.clone(),
            seal: seal.clone(),
            role: binding.role.words(),
            recorded: want.clone(),
        }
        .into());
    }
    let same_addr = addr.trim_end_matches('/') == binding.addr.trim_end_matches('/');
    if same_addr
        && let (Some(want), Some(have)) = (&binding.tls_fingerprint, vault.server.fingerprint())
        && &have != want
        && accept != Some(have.as_str())
    {
        return Err(VaultError::CertificateChanged {
            addr: addr.to_string(),
            found: have,
            seal: seal.clone(),
            recorded: want.clone(),
        }
        .into());
    }
    Ok(())
}

/// The binding of a seal whose credential is a vault's key, or a refusal.
pub fn key_binding(record: &SealRecord) -> Result<&VaultBinding> {
    match &record.vault {
        Some(b) if b.role != VaultRole::RootToken => Ok(b),
        Some(b) => Err(VaultError::NotAKey {
            seal: record.name.clone(),
            role: b.role.words(),
            addr: b.addr.clone(),
        }
        .into()),
        None => Err(VaultError::NoServerRecorded {
            seal: record.name.clone(),
        }
        .into()),
    }
}

/// Where a server stands, for the log: address, certificate, status.
pub fn describe(vault: &Vault, status: &SealStatus) -> String {
    format!(
        "{} ({}): {}",
        vault.addr(),
        vault
            .server
            .fingerprint()
            .map(|f| format!("certificate {f}"))
            .unwrap_or_else(|| "plain http on loopback".into()),
        status.summary()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_that_does_not_parse_is_told_without_its_values() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Init {
            keys_base64: Vec<String>,
        }
        let secret = "c2VjcmV0LWtleS1tYXRlcmlhbA==";
        let body = format!(r#"{{"keys_base64": "{secret}"}}"#);
        let e = serde_json::from_str::<Init>(&body).unwrap_err();
        assert!(e.to_string().contains(secret), "serde_json quotes it: {e}");
        let told = json_fault(&e);
        assert!(!told.contains(secret), "{told}");
        assert_eq!(
            told,
            "a field of the wrong type, or missing at line 1 column 46"
        );
    }

    #[test]
    fn key_bodies_are_json_and_refuse_odd_nonces() {
        let key = Credential::new(vec![0xfb; 32]);
        let body = key_body(&key, Some("9b96b517-0944-cffd-36bf-e2a3d2d11d29")).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["key"], "+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/v7+/s=");
        assert_eq!(v["nonce"], "9b96b517-0944-cffd-36bf-e2a3d2d11d29");
        let v: serde_json::Value = serde_json::from_slice(&key_body(&key, None).unwrap()).unwrap();
        assert_eq!(v.as_object().unwrap().len(), 1);
        let e = key_body(&key, Some("x\",\"reset\":true,\"y\":\"")).unwrap_err();
        assert!(
            matches!(e.cause(), Error::Vault(VaultError::NonceNotUuid { .. })),
            "{e:?}"
        );
    }

    #[test]
    fn secrets_from_the_server_do_not_show_in_debug() {
        let t: SecretText = serde_json::from_str("\"s.abcdefabcdefabcdefabcdef\"").unwrap();
        assert!(!format!("{t:?}").contains("abcdef"));
        let tok = Token::new(t.0);
        assert!(!format!("{tok:?}").contains("abcdef"));
    }
}
