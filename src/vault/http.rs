//! A small HTTP/1.1 client for the vault API: one request per connection, over TLS
//! (rustls) or, on loopback only, plain TCP.
//!
//! Written over rustls and `httparse` rather than with an HTTP crate because zeroth
//! needs three things of the TLS layer that ureq 3 (the blocking client that would
//! otherwise fit) does not offer: verifying the server against a name other than the
//! host in the address (`BAO_TLS_SERVER_NAME`), reading the certificate the server
//! presented (its fingerprint is recorded and pinned), and keeping every byte of a
//! request or response that carries a key or a token in a buffer zeroed on drop.
//! Verification is never optional: there is no switch to skip it.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::error::{Error, Result, VaultError};

/// The largest response zeroth reads from a vault (its answers are a few KiB).
const MAX_RESPONSE: usize = 1024 * 1024;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const IO_TIMEOUT: Duration = Duration::from_secs(60);

/// Where a vault server is and how it is to be trusted.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// The address as given (`https://vault.example:8200`).
    pub addr: String,
    /// PEM file of the CA certificates that may sign the server's certificate; the
    /// system's roots when `None`.
    pub ca_cert: Option<std::path::PathBuf>,
    /// The name the certificate must carry, when it is not the host of the address.
    pub server_name: Option<String>,
}

/// A vault server, ready to take requests.
pub struct Server {
    /// The address as given, for messages and the log.
    pub addr: String,
    host: String,
    port: u16,
    tls: Option<(Arc<ClientConfig>, ServerName<'static>)>,
    seen: Arc<Mutex<Option<Vec<u8>>>>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").field("addr", &self.addr).finish()
    }
}

/// An answer: the HTTP status and the body, which may carry a key or a token.
pub struct Response {
    /// HTTP status.
    pub status: u16,
    /// The body, zeroed on drop.
    pub body: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for Response {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Response {{ status: {}, body: [{} bytes] }}",
            self.status,
            self.body.len()
        )
    }
}

impl Response {
    /// The server's error text (`{"errors": [...]}`), or the status alone.
    pub fn error_text(&self) -> String {
        #[derive(serde::Deserialize)]
        struct Errors {
            #[serde(default)]
            errors: Vec<String>,
        }
        let text = serde_json::from_slice::<Errors>(&self.body)
            .ok()
            .map(|e| e.errors.join("; "))
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| "no error text".to_string());
        let text: String = text
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .take(300)
            .collect();
        format!("HTTP {}: {}", self.status, text.trim())
    }
}

/// Records the end-entity certificate the server presents, and leaves every decision to
/// the webpki verifier it wraps: chain to the configured roots, validity, server name.
#[derive(Debug)]
struct Recording {
    inner: Arc<WebPkiServerVerifier>,
    seen: Arc<Mutex<Option<Vec<u8>>>>,
}

impl ServerCertVerifier for Recording {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        let verified = self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        )?;
        if let Ok(mut seen) = self.seen.lock() {
            *seen = Some(end_entity.as_ref().to_vec());
        }
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Returns true if and only if `host` is a loopback address or `localhost`.
pub fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if bare.eq_ignore_ascii_case("localhost") {
        return true;
    }
    bare.parse::<std::net::IpAddr>()
        .map(|ip| ip.is_loopback())
        .unwrap_or(false)
}

impl Server {
    /// Parses the address and prepares TLS. `http://` is accepted only for a loopback
    /// address: a key sent in the clear over a network is a key given away.
    pub fn new(endpoint: &Endpoint) -> Result<Server> {
        let addr = endpoint.addr.trim_end_matches('/').to_string();
        let bad = |why: &str| {
            Error::from(VaultError::BadAddress {
                addr: addr.clone(),
                why: why.to_string(),
            })
        };
        let (scheme, rest) = addr.split_once("://").ok_or_else(|| bad("no scheme"))?;
        let secure = match scheme {
            "https" => true,
            "http" => false,
            _ => return Err(bad("the scheme must be https (or http on loopback)")),
        };
        if rest.contains('/') || rest.contains('?') || rest.contains('@') {
            return Err(bad("it must be a scheme, a host and a port, nothing more"));
        }
        let (host, port) = match rest.rfind(':') {
            Some(i) if !rest[i..].contains(']') => (
                rest[..i].to_string(),
                rest[i + 1..]
                    .parse::<u16>()
                    .map_err(|_| bad("the port is not a number"))?,
            ),
            _ => (rest.to_string(), if secure { 443 } else { 80 }),
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let seen = Arc::new(Mutex::new(None));
        let tls = if secure {
            Some(tls_config(endpoint, &host, seen.clone())?)
        } else {
            if !is_loopback(&host) {
                return Err(VaultError::PlainHttpNotLoopback { addr }.into());
            }
            if endpoint.ca_cert.is_some() || endpoint.server_name.is_some() {
                return Err(VaultError::PlainHttpWithTls { addr }.into());
            }
            None
        };
        Ok(Server {
            addr,
            host,
            port,
            tls,
            seen,
        })
    }

    /// Returns true if and only if requests go over TLS.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// The fingerprint (`sha256:` + hex of the DER) of the certificate the server
    /// presented on the last connection, verified; `None` before one or without TLS.
    pub fn fingerprint(&self) -> Option<String> {
        let seen = self.seen.lock().ok()?;
        seen.as_ref()
            .map(|der| format!("sha256:{}", hex::encode(Sha256::digest(der))))
    }

    /// Sends one request and reads the answer. `body` and the token go into buffers
    /// zeroed on drop.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&[u8]>,
    ) -> Result<Response> {
        // Sized so it never grows: a growing Vec would leave copies of the token and
        // the body behind.
        let mut head = Zeroizing::new(Vec::with_capacity(
            1024 + self.host.len() + token.map_or(0, str::len) + body.map_or(0, <[u8]>::len),
        ));
        let host_header = if (self.tls.is_some() && self.port == 443)
            || (self.tls.is_none() && self.port == 80)
        {
            self.host.clone()
        } else {
            format!("{}:{}", self.host, self.port)
        };
        head.extend_from_slice(
            format!(
                "{method} /v1/{path} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: zeroth/{}\r\nAccept: application/json\r\nConnection: close\r\n",
                env!("CARGO_PKG_VERSION")
            )
            .as_bytes(),
        );
        if let Some(t) = token {
            head.extend_from_slice(b"X-Vault-Token: ");
            head.extend_from_slice(t.as_bytes());
            head.extend_from_slice(b"\r\n");
        }
        if let Some(b) = body {
            head.extend_from_slice(b"Content-Type: application/json\r\n");
            head.extend_from_slice(format!("Content-Length: {}\r\n\r\n", b.len()).as_bytes());
            head.extend_from_slice(b);
        } else {
            head.extend_from_slice(b"Content-Length: 0\r\n\r\n");
        }
        let tcp = self.connect()?;
        let raw =
            match &self.tls {
                None => exchange(tcp, &head),
                Some((config, name)) => {
                    let conn = rustls::ClientConnection::new(config.clone(), name.clone())
                        .map_err(|e| VaultError::TlsSetup {
                            addr: self.addr.clone(),
                            detail: e.to_string(),
                        })?;
                    let mut stream = rustls::StreamOwned::new(conn, tcp);
                    // The handshake first, on its own, so a certificate problem is named
                    // as one and nothing of the request is written before it succeeded.
                    while stream.conn.is_handshaking() {
                        stream
                            .conn
                            .complete_io(&mut stream.sock)
                            .map_err(|e| self.tls_error(e))?;
                    }
                    exchange(stream, &head)
                }
            }
            .map_err(|e| e.at(&self.addr))?;
        parse_response(&raw).map_err(|e| e.at(&self.addr).into())
    }

    fn connect(&self) -> Result<TcpStream> {
        let addrs: Vec<_> = (
            self.host.trim_start_matches('[').trim_end_matches(']'),
            self.port,
        )
            .to_socket_addrs()
            .map_err(|source| VaultError::Resolve {
                addr: self.addr.clone(),
                host: self.host.clone(),
                source,
            })?
            .collect();
        let mut last = None;
        for a in addrs {
            match TcpStream::connect_timeout(&a, CONNECT_TIMEOUT) {
                Ok(s) => {
                    s.set_read_timeout(Some(IO_TIMEOUT)).ok();
                    s.set_write_timeout(Some(IO_TIMEOUT)).ok();
                    return Ok(s);
                }
                Err(e) => last = Some(e),
            }
        }
        let addr = self.addr.clone();
        Err(match last {
            Some(source) => VaultError::Connect { addr, source },
            None => VaultError::NoAddress { addr },
        }
        .into())
    }

    fn tls_error(&self, e: std::io::Error) -> Error {
        let inner = e
            .get_ref()
            .and_then(|i| i.downcast_ref::<rustls::Error>())
            .map(|r| r.to_string())
            .unwrap_or_else(|| e.to_string());
        VaultError::TlsRefused {
            addr: self.addr.clone(),
            detail: inner,
        }
        .into()
    }
}

fn tls_config(
    endpoint: &Endpoint,
    host: &str,
    seen: Arc<Mutex<Option<Vec<u8>>>>,
) -> Result<(Arc<ClientConfig>, ServerName<'static>)> {
    let mut roots = RootCertStore::empty();
    match &endpoint.ca_cert {
        Some(path) => {
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .map_err(|e| VaultError::CaCertUnreadable {
                    path: path.clone(),
                    detail: e.to_string(),
                })?
                .collect::<std::result::Result<_, _>>()
                .map_err(|e| VaultError::CaCertNotPem {
                    path: path.clone(),
                    detail: e.to_string(),
                })?;
            if certs.is_empty() {
                return Err(VaultError::CaCertEmpty { path: path.clone() }.into());
            }
            for c in certs {
                roots.add(c).map_err(|e| VaultError::CaCertNotRoot {
                    path: path.clone(),
                    detail: e.to_string(),
                })?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            for c in found.certs {
                let _ = roots.add(c);
            }
            if roots.is_empty() {
                return Err(VaultError::NoSystemRoots.into());
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| VaultError::TlsVerifier {
            detail: e.to_string(),
        })?;
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| VaultError::TlsConfig {
            detail: e.to_string(),
        })?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Recording { inner, seen }))
        .with_no_client_auth();
    let name_text = endpoint.server_name.clone().unwrap_or_else(|| {
        host.trim_start_matches('[')
            .trim_end_matches(']')
            .to_string()
    });
    let name = ServerName::try_from(name_text.clone())
        .map_err(|_| VaultError::BadServerName { name: name_text })?;
    Ok((Arc::new(config), name))
}

/// What went wrong on the wire; [`Broken::at`] names the server.
#[derive(Debug)]
enum Broken {
    Send(std::io::Error),
    Read(std::io::Error),
    TooLarge,
    CutShort,
    NotHttp(String),
    Truncated,
    IncompleteChunk,
    BadChunkSize,
}

impl Broken {
    /// The error, at the server `addr`.
    fn at(self, addr: &str) -> VaultError {
        let addr = addr.to_string();
        match self {
            Broken::Send(source) => VaultError::Send { addr, source },
            Broken::Read(source) => VaultError::Read { addr, source },
            Broken::TooLarge => VaultError::AnswerTooLarge { addr },
            Broken::CutShort => VaultError::AnswerCutShort { addr },
            Broken::NotHttp(detail) => VaultError::AnswerNotHttp { addr, detail },
            Broken::Truncated => VaultError::AnswerTruncated { addr },
            Broken::IncompleteChunk => VaultError::ChunkIncomplete { addr },
            Broken::BadChunkSize => VaultError::ChunkSizeBad { addr },
        }
    }
}

/// Writes the request and reads the whole answer (the server closes the connection).
fn exchange<S: Read + Write>(
    mut stream: S,
    request: &[u8],
) -> std::result::Result<Zeroizing<Vec<u8>>, Broken> {
    stream
        .write_all(request)
        .and_then(|_| stream.flush())
        .map_err(Broken::Send)?;
    let mut out = Zeroizing::new(Vec::with_capacity(16 * 1024));
    let mut buf = Zeroizing::new([0u8; 8192]);
    loop {
        match stream.read(&mut buf[..]) {
            Ok(0) => break,
            Ok(n) => {
                if out.len() + n > MAX_RESPONSE {
                    return Err(Broken::TooLarge);
                }
                if out.len() + n > out.capacity() {
                    // Grow by hand, so no copy of the secret bytes is left unzeroed.
                    let mut bigger = Zeroizing::new(Vec::with_capacity(out.capacity() * 2 + n));
                    bigger.extend_from_slice(&out);
                    out = bigger;
                }
                out.extend_from_slice(&buf[..n]);
                if complete(&out) {
                    break;
                }
            }
            // A TLS peer that closes without close_notify: what was read is judged by
            // its framing below.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(Broken::Read(e)),
        }
    }
    Ok(out)
}

/// Returns true if and only if `raw` holds a whole response by its own framing.
fn complete(raw: &[u8]) -> bool {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut resp = httparse::Response::new(&mut headers);
    let Ok(httparse::Status::Complete(head_len)) = resp.parse(raw) else {
        return false;
    };
    let body = &raw[head_len..];
    match framing(resp.headers) {
        Framing::Length(n) => body.len() >= n,
        Framing::Chunked => dechunk(body).is_ok(),
        Framing::Close => false,
    }
}

enum Framing {
    Length(usize),
    Chunked,
    Close,
}

fn framing(headers: &[httparse::Header<'_>]) -> Framing {
    for h in headers {
        if h.name.eq_ignore_ascii_case("transfer-encoding")
            && String::from_utf8_lossy(h.value)
                .to_ascii_lowercase()
                .contains("chunked")
        {
            return Framing::Chunked;
        }
    }
    for h in headers {
        if h.name.eq_ignore_ascii_case("content-length")
            && let Some(n) = std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse().ok())
        {
            return Framing::Length(n);
        }
    }
    Framing::Close
}

fn parse_response(raw: &[u8]) -> std::result::Result<Response, Broken> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut resp = httparse::Response::new(&mut headers);
    let head_len = match resp.parse(raw) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            return Err(Broken::CutShort);
        }
        Err(e) => return Err(Broken::NotHttp(e.to_string())),
    };
    let status = resp.code.unwrap_or(0);
    let body = &raw[head_len..];
    let body = match framing(resp.headers) {
        Framing::Length(n) => {
            if body.len() < n {
                return Err(Broken::Truncated);
            }
            Zeroizing::new(body[..n].to_vec())
        }
        Framing::Chunked => dechunk(body)?,
        Framing::Close => Zeroizing::new(body.to_vec()),
    };
    Ok(Response { status, body })
}

/// Decodes a chunked body; an error when it is incomplete.
fn dechunk(mut body: &[u8]) -> std::result::Result<Zeroizing<Vec<u8>>, Broken> {
    let mut out = Zeroizing::new(Vec::with_capacity(body.len()));
    loop {
        let line_end = body
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or(Broken::IncompleteChunk)?;
        let size_text = std::str::from_utf8(&body[..line_end]).map_err(|_| Broken::BadChunkSize)?;
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| Broken::BadChunkSize)?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        if body.len() < size + 2 {
            return Err(Broken::IncompleteChunk);
        }
        out.extend_from_slice(&body[..size]);
        body = &body[size + 2..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_on_loopback() {
        let ep = |a: &str| Endpoint {
            addr: a.into(),
            ca_cert: None,
            server_name: None,
        };
        assert!(Server::new(&ep("http://127.0.0.1:8200")).is_ok());
        assert!(Server::new(&ep("http://localhost:8200")).is_ok());
        assert!(Server::new(&ep("http://[::1]:8200")).is_ok());
        let e = Server::new(&ep("http://10.0.0.5:8200")).unwrap_err();
        assert!(
            matches!(
                e.cause(),
                Error::Vault(VaultError::PlainHttpNotLoopback { .. })
            ),
            "{e:?}"
        );
        assert_eq!(e.exit_code(), 3);
        let bad = |a: &str| {
            let e = Server::new(&ep(a)).unwrap_err();
            assert!(
                matches!(e.cause(), Error::Vault(VaultError::BadAddress { .. })),
                "{e:?}"
            );
            e.exit_code()
        };
        assert_eq!(bad("ftp://x:1"), 2);
        assert_eq!(bad("https://x:1/v1"), 2);
        let mut plain = ep("http://127.0.0.1:8200");
        plain.server_name = Some("vault.example".into());
        let e = Server::new(&plain).unwrap_err();
        assert!(
            matches!(e.cause(), Error::Vault(VaultError::PlainHttpWithTls { .. })),
            "{e:?}"
        );
    }

    #[test]
    fn chunked_and_sized_bodies() {
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n2\r\nef\r\n0\r\n\r\n";
        assert!(complete(raw));
        let r = parse_response(raw).unwrap();
        assert_eq!(&r.body[..], b"abcdef");
        let raw = b"HTTP/1.1 400 Bad\r\nContent-Length: 25\r\n\r\n{\"errors\":[\"vault is x\"]}";
        let r = parse_response(raw).unwrap();
        assert_eq!(r.status, 400);
        assert_eq!(r.error_text(), "HTTP 400: vault is x");
        assert!(!complete(
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"
        ));
        let cut = parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc").unwrap_err();
        assert_eq!(
            cut.at("https://v:8200").to_string(),
            "vault https://v:8200: the connection closed in the middle of the answer"
        );
        let chunk = parse_response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
            .unwrap_err();
        assert!(matches!(chunk, Broken::BadChunkSize), "{chunk:?}");
    }
}
