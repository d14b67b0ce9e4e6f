//! The vault area: the OpenBao/Vault server zeroth delivers to (its address, its TLS
//! identity, its API and its ceremonies: init, unseal, key rotation, root token), and
//! the delivery of an unsealed credential to a file, stdout or a command.

use std::path::PathBuf;

use super::{Kind, area};

/// What went wrong with the vault server, or with handing the credential over.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// The vault address is not `scheme://host:port`.
    #[error(
        "vault address '{addr}': {why}; give it as https://HOST:PORT (--addr, BAO_ADDR or VAULT_ADDR)"
    )]
    BadAddress {
        /// The address as given.
        addr: String,
        /// What is wrong with it.
        why: String,
    },
    /// A plain `http://` address to a host that is not loopback: keys and tokens would
    /// cross the network in the clear.
    #[error(
        "vault address '{addr}' is plain http to a host that is not loopback: the unseal key and tokens would cross the network in the clear; use https"
    )]
    PlainHttpNotLoopback {
        /// The address.
        addr: String,
    },
    /// A plain `http://` address given with a CA certificate or a TLS server name.
    #[error(
        "vault address '{addr}' is plain http: a CA certificate or TLS server name means nothing there; give the https address"
    )]
    PlainHttpWithTls {
        /// The address.
        addr: String,
    },
    /// The CA certificate file named does not exist.
    #[error(
        "CA certificate file {} does not exist (--ca-cert, BAO_CACERT or VAULT_CACERT)",
        .path.display()
    )]
    CaCertMissing {
        /// The file.
        path: PathBuf,
    },
    /// The CA certificate file could not be read.
    #[error("CA certificate file {}: {detail}", .path.display())]
    CaCertUnreadable {
        /// The file.
        path: PathBuf,
        /// Why it could not be read.
        detail: String,
    },
    /// The CA certificate file does not hold PEM certificates.
    #[error("CA certificate file {}: not PEM certificates: {detail}", .path.display())]
    CaCertNotPem {
        /// The file.
        path: PathBuf,
        /// What the PEM parser found wrong.
        detail: String,
    },
    /// The CA certificate file holds no certificate.
    #[error("CA certificate file {} holds no certificate", .path.display())]
    CaCertEmpty {
        /// The file.
        path: PathBuf,
    },
    /// A certificate of the CA certificate file cannot serve as a root.
    #[error(
        "CA certificate file {}: a certificate is not usable as a root: {detail}",
        .path.display()
    )]
    CaCertNotRoot {
        /// The file.
        path: PathBuf,
        /// Why the certificate is not usable.
        detail: String,
    },
    /// No CA certificate file was given and the system has no roots zeroth can read.
    #[error(
        "no CA certificates: the system has none zeroth can read; give --ca-cert FILE (or BAO_CACERT)"
    )]
    NoSystemRoots,
    /// The TLS verifier could not be built from the roots.
    #[error("cannot build the TLS verifier: {detail}")]
    TlsVerifier {
        /// The TLS library's reason.
        detail: String,
    },
    /// The TLS client could not be configured.
    #[error("cannot configure TLS: {detail}")]
    TlsConfig {
        /// The TLS library's reason.
        detail: String,
    },
    /// The name the certificate must carry is not a valid TLS server name.
    #[error(
        "'{name}' is not a valid TLS server name (BAO_TLS_SERVER_NAME or the host of the address)"
    )]
    BadServerName {
        /// The name.
        name: String,
    },
    /// A TLS connection could not be set up.
    #[error("vault {addr}: TLS set-up failed: {detail}")]
    TlsSetup {
        /// The server's address.
        addr: String,
        /// The TLS library's reason.
        detail: String,
    },
    /// The TLS handshake failed: the server's certificate could not be verified (or
    /// the server refused the connection); nothing was sent.
    #[error(
        "vault {addr}: the TLS connection was refused: {detail}; zeroth sends nothing to a server whose certificate it cannot verify (check --ca-cert/BAO_CACERT and the server name, BAO_TLS_SERVER_NAME)"
    )]
    TlsRefused {
        /// The server's address.
        addr: String,
        /// The TLS library's reason.
        detail: String,
    },
    /// The server's host name could not be resolved.
    #[error("vault {addr}: cannot resolve {host}: {source}")]
    Resolve {
        /// The server's address.
        addr: String,
        /// The host.
        host: String,
        /// The resolver's reason.
        source: std::io::Error,
    },
    /// No connection could be made to any of the host's addresses.
    #[error("vault {addr}: cannot connect: {source}")]
    Connect {
        /// The server's address.
        addr: String,
        /// The reason for the last address tried.
        source: std::io::Error,
    },
    /// The host resolved to no address.
    #[error("vault {addr}: cannot connect: no address")]
    NoAddress {
        /// The server's address.
        addr: String,
    },
    /// The request could not be sent.
    #[error("vault {addr}: cannot send the request: {source}")]
    Send {
        /// The server's address.
        addr: String,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The answer could not be read.
    #[error("vault {addr}: cannot read the answer: {source}")]
    Read {
        /// The server's address.
        addr: String,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The answer is larger than zeroth reads from a vault.
    #[error("vault {addr}: the answer is larger than 1 MiB")]
    AnswerTooLarge {
        /// The server's address.
        addr: String,
    },
    /// The connection closed before the answer's head was whole.
    #[error("vault {addr}: the connection closed before a whole HTTP answer came")]
    AnswerCutShort {
        /// The server's address.
        addr: String,
    },
    /// The answer is not an HTTP response.
    #[error("vault {addr}: the answer is not HTTP: {detail}")]
    AnswerNotHttp {
        /// The server's address.
        addr: String,
        /// What the HTTP parser found wrong.
        detail: String,
    },
    /// The connection closed before the body its length announced.
    #[error("vault {addr}: the connection closed in the middle of the answer")]
    AnswerTruncated {
        /// The server's address.
        addr: String,
    },
    /// A chunked answer ends inside a chunk.
    #[error("vault {addr}: incomplete chunk")]
    ChunkIncomplete {
        /// The server's address.
        addr: String,
    },
    /// A chunked answer has a chunk size that is not a hex number.
    #[error("vault {addr}: bad chunk size")]
    ChunkSizeBad {
        /// The server's address.
        addr: String,
    },
    /// The `--token-file` could not be read.
    #[error("--token-file {}: {source}", .path.display())]
    TokenFileUnreadable {
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The `--token-file` holds no token.
    #[error("--token-file {} is empty", .path.display())]
    TokenFileEmpty {
        /// The file.
        path: PathBuf,
    },
    /// An answer of the server is not in the form its API documents.
    #[error("vault {addr}: the answer to {what} is not what the API documents ({detail})")]
    AnswerNotDocumented {
        /// The server's address.
        addr: String,
        /// The endpoint asked (`sys/seal-status`).
        what: String,
        /// What the JSON parser found wrong.
        detail: String,
    },
    /// The server gave a nonce that is not a UUID, so it is not put into a request.
    #[error("the server gave a nonce that is not a UUID ({nonce:?})")]
    NonceNotUuid {
        /// The nonce as given.
        nonce: String,
    },
    /// A key the server gave is not base64.
    #[error("the {what} the server gave is not base64")]
    KeyNotBase64 {
        /// Which key ("unseal key", "new key").
        what: String,
    },
    /// Revoking a token with `auth/token/revoke-self` failed.
    #[error("vault {addr}: revoking {token} failed: {text}")]
    RevokeFailed {
        /// The server's address.
        addr: String,
        /// The token, in words ("the root token (accessor …)").
        token: String,
        /// The server's status and error text.
        text: String,
    },
    /// A revoked token still answers `lookup-self`.
    #[error("vault {addr}: {token} was revoked, but lookup-self still answers HTTP {status}")]
    RevokedTokenAnswers {
        /// The server's address.
        addr: String,
        /// The token, in words.
        token: String,
        /// The HTTP status of `lookup-self`.
        status: u16,
    },
    /// The server refused a request: a failure of the server when its status is 5xx,
    /// else a refusal.
    #[error("vault {addr}: {what} refused: {text}")]
    RequestRefused {
        /// The server's address.
        addr: String,
        /// The request, in words ("the unseal key was").
        what: String,
        /// The server's status and error text.
        text: String,
        /// The HTTP status.
        status: u16,
    },
    /// The server is sealed and the ceremony needs it unsealed.
    #[error(
        "vault {addr} is sealed: unseal it first (zeroth vault unseal{})",
        .seal.as_deref().map(|s| format!(" {s}")).unwrap_or_default()
    )]
    Sealed {
        /// The server's address.
        addr: String,
        /// The seal of its key, when the ceremony knows it.
        seal: Option<String>,
    },
    /// The cluster had no active node for as long as zeroth waits.
    #[error(
        "vault {addr} has had no active node for {waited_secs} s ({text}): it cannot serve the ceremony"
    )]
    NoActiveNode {
        /// The server's address.
        addr: String,
        /// How long zeroth waited, in seconds.
        waited_secs: u64,
        /// The last health answer's status and error text.
        text: String,
    },
    /// The operator's token may not use the ceremony endpoint.
    #[error(
        "vault {addr}: the token given (--token-file, BAO_TOKEN or VAULT_TOKEN) may not use {endpoint} ({text}): it needs a policy granting create, read, update and delete on {}*",
        self.endpoint_prefix()
    )]
    TokenNotPermitted {
        /// The server's address.
        addr: String,
        /// The endpoint (`sys/rotate/root/init`).
        endpoint: String,
        /// The server's status and error text.
        text: String,
    },
    /// The server's ceremony endpoints need a token and none was given.
    #[error(
        "vault {addr}: {what} needs a token here ({legacy} answers {text}): OpenBao keeps its unauthenticated ceremony endpoints off; set BAO_TOKEN (or --token-file FILE) to a token whose policy grants {current}"
    )]
    TokenNeeded {
        /// The server's address.
        addr: Box<str>,
        /// The ceremony, in words ("rotating the unseal key").
        what: String,
        /// The legacy endpoint asked (`sys/rekey/init`).
        legacy: String,
        /// Its status and error text.
        text: String,
        /// The endpoint the token must reach (`sys/rotate/root/init`).
        current: String,
    },
    /// The server is not initialized: not the seal's server, or its storage was wiped.
    #[error(
        "vault {addr} is not initialized: it is not the server of '{seal}' (cluster {}), or its storage was wiped",
        .cluster.as_deref().unwrap_or("unknown")
    )]
    NotInitialized {
        /// The server's address.
        addr: String,
        /// The seal.
        seal: String,
        /// The cluster the seal recorded, if any.
        cluster: Option<String>,
    },
    /// The server's seal type is not the one the seal recorded.
    #[error(
        "vault {addr} has a '{found}' seal; '{seal}' holds the {} of a '{recorded}' seal: this is another server, or its seal was migrated",
        .role
    )]
    SealTypeChanged {
        /// The server's address.
        addr: Box<str>,
        /// The seal type the server reports.
        found: String,
        /// The seal.
        seal: String,
        /// What the seal's credential is to the server.
        role: &'static str,
        /// The seal type recorded.
        recorded: String,
    },
    /// The server's threshold or number of key shares is not the recorded one.
    #[error(
        "vault {addr} wants {threshold} of {shares} key shares; '{seal}' holds a key for {recorded_threshold} of {recorded_shares}: the server was rekeyed outside zeroth, or it is another server"
    )]
    SharesChanged {
        /// The server's address.
        addr: String,
        /// The server's threshold.
        threshold: u32,
        /// The server's number of key shares.
        shares: u32,
        /// The seal.
        seal: String,
        /// The threshold recorded.
        recorded_threshold: u8,
        /// The number of key shares recorded.
        recorded_shares: u8,
    },
    /// The server belongs to another cluster than the recorded one.
    #[error(
        "vault {addr} belongs to cluster {found}; '{seal}' holds the {} of cluster {recorded}: this is another cluster",
        .role
    )]
    OtherCluster {
        /// The server's address.
        addr: Box<str>,
        /// The cluster id the server reports.
        found: String,
        /// The seal.
        seal: String,
        /// What the seal's credential is to the server.
        role: &'static str,
        /// The cluster id recorded.
        recorded: String,
    },
    /// The server presents another certificate than the one recorded at init.
    #[error(
        "vault {addr} presents certificate {found}, but '{seal}' recorded {recorded} at init: if the server's certificate was replaced, check the new one out of band and add --accept-certificate {found}"
    )]
    CertificateChanged {
        /// The server's address.
        addr: String,
        /// The fingerprint of the certificate presented.
        found: String,
        /// The seal.
        seal: String,
        /// The fingerprint recorded.
        recorded: String,
    },
    /// The seal holds the server's root token, not a key.
    #[error(
        "seal '{seal}' holds the {} of {addr}, not its unseal or recovery key: give the seal 'zeroth vault init' made for the key",
        .role
    )]
    NotAKey {
        /// The seal.
        seal: String,
        /// What its credential is to the server.
        role: &'static str,
        /// The server's address.
        addr: String,
    },
    /// The seal was not made by `zeroth vault init`: it records no server.
    #[error(
        "seal '{seal}' was not made by 'zeroth vault init': it has no vault server recorded (to hand its credential to a command, use 'zeroth unseal {seal} --exec -- bao write sys/unseal key=-')"
    )]
    NoServerRecorded {
        /// The seal.
        seal: String,
    },
    /// A seal `vault init` would make already exists.
    #[error("seal '{seal}' already exists in store {}: choose another name", .store.display())]
    SealExists {
        /// The seal.
        seal: String,
        /// The store.
        store: PathBuf,
    },
    /// `vault init` was asked of a server already initialized.
    #[error(
        "vault {addr} is already initialized ({summary}): its keys are wherever its init put them; zeroth initializes only a new server"
    )]
    AlreadyInitialized {
        /// The server's address.
        addr: String,
        /// Its seal status in one line.
        summary: String,
    },
    /// The server was initialized while the `vault init` ceremony was being prepared.
    #[error("vault {addr} was initialized by someone else while this ceremony was being prepared")]
    InitializedMeanwhile {
        /// The server's address.
        addr: String,
    },
    /// The server's certificate changed during `vault init`; nothing was sent.
    #[error(
        "vault {addr} now presents another certificate ({now}) than a moment ago ({before}): nothing was sent"
    )]
    CertificateChangedMeanwhile {
        /// The server's address.
        addr: String,
        /// The fingerprint presented now (empty without one).
        now: String,
        /// The fingerprint presented before (empty without one).
        before: String,
    },
    /// The server refused `sys/init`.
    #[error("vault {addr}: init refused: {text}")]
    InitRefused {
        /// The server's address.
        addr: String,
        /// The server's status and error text.
        text: String,
    },
    /// The init answer is not in the documented form: the server is initialized and its
    /// key was not understood.
    #[error(
        "vault {addr}: the init answer is not what the API documents ({detail}); the server is initialized and its key was not understood: wipe its storage and start again"
    )]
    InitAnswerNotDocumented {
        /// The server's address.
        addr: String,
        /// What the JSON parser found wrong.
        detail: String,
    },
    /// The init answer holds another number of keys than the one asked for.
    #[error("vault {addr} answered init with {count} keys where one was asked for")]
    InitKeyCount {
        /// The server's address.
        addr: String,
        /// The number of keys in the answer.
        count: usize,
    },
    /// The server stayed sealed after its own new key was sent.
    #[error("vault {addr} is still sealed after its own key was sent ({summary})")]
    SealedAfterOwnKey {
        /// The server's address.
        addr: String,
        /// Its seal status in one line.
        summary: String,
    },
    /// An auto-unseal server did not unseal itself after init.
    #[error("vault {addr} did not unseal itself within 60 s of init ({summary})")]
    NotSelfUnsealed {
        /// The server's address.
        addr: String,
        /// Its seal status in one line.
        summary: String,
    },
    /// The server was initialized but sealing its key failed: the key is lost.
    #[error(
        "vault {addr} was initialized, but sealing its key failed: {detail}. The key existed only in that answer and is lost; the server holds no data yet: stop it, wipe its storage and run vault init again"
    )]
    KeyLostAtInit {
        /// The server's address.
        addr: String,
        /// Why sealing failed.
        detail: String,
    },
    /// The key is sealed, but proving it on the server (unsealing, revoking the init
    /// root token) failed.
    #[error(
        "the {} of vault {addr} is sealed as '{seal}', but proving it failed: {detail}",
        .role
    )]
    ProofFailed {
        /// What the sealed key is to the server.
        role: &'static str,
        /// The server's address.
        addr: String,
        /// The seal of the key.
        seal: String,
        /// Why the proof failed.
        detail: String,
    },
    /// The key is sealed, but sealing the init root token failed: it is lost.
    #[error(
        "the {} of vault {addr} is sealed as '{seal}', but sealing the init root token as '{root_seal}' failed: {detail}. The root token is in memory only and is lost when zeroth exits (OpenBao lets a new one be made with the key: zeroth vault root)",
        .role
    )]
    RootTokenLost {
        /// What the sealed key is to the server.
        role: &'static str,
        /// The server's address.
        addr: Box<str>,
        /// The seal of the key.
        seal: String,
        /// The seal the root token was to go into.
        root_seal: String,
        /// Why sealing it failed.
        detail: String,
    },
    /// A root token generation zeroth did not start is in progress on the server.
    #[error(
        "vault {addr} has a root token generation in progress that zeroth did not start (nonce {nonce}, {progress} of {threshold} keys in): whoever started it holds its one-time password and would get the token; zeroth does not add its key to it. Find out whose it is, then add --reset to cancel it"
    )]
    RootGenerationInProgress {
        /// The server's address.
        addr: String,
        /// The generation's nonce.
        nonce: String,
        /// Keys given so far.
        progress: u32,
        /// Keys needed.
        threshold: u8,
    },
    /// Someone started a root token generation while the custodians gathered.
    #[error(
        "vault {addr}: someone started a root token generation (nonce {nonce}) while the custodians gathered: nothing was sent; find out whose it is, then run again with --reset"
    )]
    RootGenerationStartedMeanwhile {
        /// The server's address.
        addr: String,
        /// The generation's nonce.
        nonce: String,
    },
    /// The root token generation started without a usable one-time password.
    #[error(
        "vault {addr}: the generation started without a usable one-time password (length {length}, {expected} expected); it was cancelled"
    )]
    NoUsableOtp {
        /// The server's address.
        addr: String,
        /// The length of the one-time password given.
        length: usize,
        /// The length the server announced.
        expected: usize,
    },
    /// The root token generation did not complete with the key.
    #[error(
        "vault {addr}: the root token generation is not complete after the key ({progress} of {threshold}); it was cancelled"
    )]
    RootGenerationIncomplete {
        /// The server's address.
        addr: String,
        /// Keys given so far.
        progress: u32,
        /// Keys needed.
        threshold: u8,
    },
    /// The server refused to revoke the generated root token.
    #[error(
        "vault {addr}: revoking the generated root token (accessor {accessor}) failed: {text}; revoke it by its accessor (bao token revoke -accessor {accessor})"
    )]
    GeneratedTokenNotRevoked {
        /// The server's address.
        addr: String,
        /// The generated token's accessor ("unknown" when lookup failed).
        accessor: String,
        /// The server's status and error text.
        text: String,
    },
    /// The request to revoke the generated root token failed.
    #[error(
        "revoking the generated root token (accessor {accessor}) failed: {detail}; revoke it by its accessor"
    )]
    GeneratedTokenRevokeFailed {
        /// The generated token's accessor ("unknown" when lookup failed).
        accessor: String,
        /// Why the request failed.
        detail: String,
    },
    /// The server refused to create the time-bound root token (the generated one was
    /// revoked).
    #[error(
        "vault {addr}: creating the time-bound token failed: {text}; generated root token (accessor {generated_accessor}) revoked"
    )]
    TokenNotCreated {
        /// The server's address.
        addr: String,
        /// The server's status and error text.
        text: String,
        /// The accessor of the generated token, revoked.
        generated_accessor: String,
    },
    /// The answer to `create-orphan` holds no token.
    #[error("vault {addr}: the answer to create-orphan holds no token")]
    CreatedNoToken {
        /// The server's address.
        addr: String,
    },
    /// The encoded root token is not base64.
    #[error("the encoded root token is not base64")]
    EncodedTokenNotBase64,
    /// The encoded root token and its one-time password differ in length.
    #[error("the encoded root token has {token} bytes, its one-time password {otp}")]
    EncodedTokenLength {
        /// The encoded token's length in bytes.
        token: usize,
        /// The one-time password's length in bytes.
        otp: usize,
    },
    /// The decoded root token is not printable: the one-time password does not match.
    #[error("the decoded root token is not printable: the one-time password does not match")]
    DecodedTokenNotPrintable,
    /// The seal already has a pending operation.
    #[error(
        "seal '{seal}' already has a pending {} (operation {id}): confirm it with 'zeroth vault rotate {seal} --confirm {id}' or drop it with --cancel {id}",
        .kind
    )]
    PendingExists {
        /// The seal.
        seal: String,
        /// What the pending operation does.
        kind: &'static str,
        /// Its operation id.
        id: String,
    },
    /// A key rotation zeroth did not start is in progress on the server.
    #[error(
        "vault {addr} has a key rotation in progress that zeroth did not start (nonce {nonce}, {progress} keys in): zeroth does not add its key to someone else's rotation; find out whose it is, then add --reset to cancel it"
    )]
    RotationInProgress {
        /// The server's address.
        addr: String,
        /// The rotation's nonce.
        nonce: String,
        /// Keys given so far.
        progress: u32,
    },
    /// Someone started a key rotation while the custodians gathered.
    #[error(
        "vault {addr}: someone started a key rotation (nonce {nonce}) while the custodians gathered: nothing was sent; find out whose it is, then run again with --reset"
    )]
    RotationStartedMeanwhile {
        /// The server's address.
        addr: String,
        /// The rotation's nonce.
        nonce: String,
    },
    /// The rotation did not complete with the current key as asked.
    #[error(
        "vault {addr}: the rotation did not complete with the current key as asked (complete {complete}, {keys} keys, verification nonce {verification_nonce:?})"
    )]
    RotationIncomplete {
        /// The server's address.
        addr: String,
        /// Whether the server said complete.
        complete: bool,
        /// The number of new keys in the answer.
        keys: usize,
        /// The verification nonce in the answer.
        verification_nonce: String,
    },
    /// The pending operation to confirm is not a vault key rotation.
    #[error(
        "operation {id} of '{seal}' is not a vault key rotation: confirm it with 'zeroth rotate {seal} --confirm {id}'"
    )]
    NotVaultRotation {
        /// The operation id.
        id: String,
        /// The seal.
        seal: String,
    },
    /// The server refused the new key at verification; the old key is current.
    #[error(
        "vault {addr}: the server refused the new key at verification ({text}); nothing switched: its old key is current and the current set opens it. Run --confirm again, or drop the rotation with --cancel"
    )]
    VerificationRefused {
        /// The server's address.
        addr: String,
        /// The server's status and error text.
        text: String,
    },
    /// The verification did not complete with the new key; the old key is current.
    #[error("vault {addr}: the verification is not complete after the new key; nothing switched")]
    VerificationIncomplete {
        /// The server's address.
        addr: String,
    },
    /// Another key rotation than the pending one is in progress on the server.
    #[error(
        "vault {addr}: another key rotation (nonce {found}) is in progress there, not this one ({ours}): the server forgot this one and its old key is current, which the current set opens. Drop this one with --cancel"
    )]
    OtherRotation {
        /// The server's address.
        addr: String,
        /// The nonce of the rotation in progress.
        found: String,
        /// The nonce of the pending rotation.
        ours: String,
    },
    /// The server forgot the pending rotation and kept its old key.
    #[error(
        "vault {addr}: the server no longer has rotation {nonce} (it was restarted, sealed or the rotation cancelled since the first step) and its key is still the old one, which the current set opens: drop this rotation with 'zeroth vault rotate SEAL --cancel ID' and start again"
    )]
    RotationForgotten {
        /// The server's address.
        addr: String,
        /// The pending rotation's nonce.
        nonce: String,
    },
    /// A sealed server with an auto-unseal seal: a recovery key cannot unseal it.
    #[error(
        "vault {addr} is sealed, but its '{seal_type}' seal unseals it by itself: the recovery key '{seal}' holds cannot unseal it; make its seal (KMS) reachable again"
    )]
    AutoUnsealSealed {
        /// The server's address.
        addr: String,
        /// The server's seal type.
        seal_type: String,
        /// The seal.
        seal: String,
    },
    /// An unseal attempt zeroth did not start is in progress on the server.
    #[error(
        "vault {addr} has an unseal attempt in progress that zeroth did not start: {progress} of {threshold} keys in (nonce {}); zeroth does not add its key to someone else's attempt: find out whose it is, then add --reset to clear it",
        if .nonce.is_empty() { "none" } else { .nonce.as_str() }
    )]
    UnsealInProgress {
        /// The server's address.
        addr: String,
        /// Keys given so far.
        progress: u32,
        /// Keys needed.
        threshold: u32,
        /// The attempt's nonce (empty when the server gave none).
        nonce: String,
    },
    /// The server is still sealed after the key was sent: it wants more keys.
    #[error(
        "vault {addr} is still sealed after the key was sent (progress {progress} of {threshold}): it wants more keys than '{seal}' holds"
    )]
    StillSealed {
        /// The server's address.
        addr: String,
        /// Keys given so far.
        progress: u32,
        /// Keys needed.
        threshold: u32,
        /// The seal.
        seal: String,
    },
    /// The directory of the output file does not exist.
    #[error("cannot write {}: directory {} does not exist", .path.display(), .dir.display())]
    OutputDirMissing {
        /// The output file.
        path: PathBuf,
        /// Its directory.
        dir: PathBuf,
    },
    /// Stdout is a terminal and `--allow-tty` was not given.
    #[error(
        "stdout is a terminal: the credential would stay on screen and in scrollback; pipe it, use --output FILE or --exec, or add --allow-tty"
    )]
    StdoutIsTerminal,
    /// The `--exec` command is not found (as a path, or on `PATH`).
    #[error("--exec: command '{}' not found", .program.display())]
    CommandNotFound {
        /// The command as given.
        program: PathBuf,
    },
    /// The credential could not be written to stdout.
    #[error("cannot write the credential to stdout: {source}")]
    StdoutWrite {
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// The command could not be started.
    #[error("cannot run '{}': {source}", .command.display())]
    CommandNotStarted {
        /// The command.
        command: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// Waiting for the command to end failed.
    #[error("cannot wait for '{}': {source}", .command.display())]
    CommandNotAwaited {
        /// The command.
        command: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
}

impl VaultError {
    /// Who can fix it.
    pub fn kind(&self) -> Kind {
        use VaultError::*;
        match self {
            BadAddress { .. }
            | PlainHttpWithTls { .. }
            | CaCertMissing { .. }
            | CaCertUnreadable { .. }
            | CaCertNotPem { .. }
            | CaCertEmpty { .. }
            | CaCertNotRoot { .. }
            | NoSystemRoots
            | TlsVerifier { .. }
            | TlsConfig { .. }
            | BadServerName { .. }
            | TokenFileUnreadable { .. }
            | TokenFileEmpty { .. }
            | TokenNeeded { .. }
            | NotAKey { .. }
            | NoServerRecorded { .. }
            | NotVaultRotation { .. }
            | OutputDirMissing { .. }
            | StdoutIsTerminal
            | CommandNotFound { .. } => Kind::Usage,
            PlainHttpNotLoopback { .. }
            | TlsRefused { .. }
            | Sealed { .. }
            | TokenNotPermitted { .. }
            | NotInitialized { .. }
            | SealTypeChanged { .. }
            | SharesChanged { .. }
            | OtherCluster { .. }
            | CertificateChanged { .. }
            | SealExists { .. }
            | AlreadyInitialized { .. }
            | InitializedMeanwhile { .. }
            | CertificateChangedMeanwhile { .. }
            | InitRefused { .. }
            | RootGenerationInProgress { .. }
            | RootGenerationStartedMeanwhile { .. }
            | RootGenerationIncomplete { .. }
            | PendingExists { .. }
            | RotationInProgress { .. }
            | RotationStartedMeanwhile { .. }
            | VerificationRefused { .. }
            | VerificationIncomplete { .. }
            | OtherRotation { .. }
            | RotationForgotten { .. }
            | AutoUnsealSealed { .. }
            | UnsealInProgress { .. }
            | StillSealed { .. } => Kind::Refused,
            RequestRefused { status, .. } => {
                if *status >= 500 {
                    Kind::Failed
                } else {
                    Kind::Refused
                }
            }
            TlsSetup { .. }
            | Resolve { .. }
            | Connect { .. }
            | NoAddress { .. }
            | Send { .. }
            | Read { .. }
            | AnswerTooLarge { .. }
            | AnswerCutShort { .. }
            | AnswerNotHttp { .. }
            | AnswerTruncated { .. }
            | ChunkIncomplete { .. }
            | ChunkSizeBad { .. }
            | AnswerNotDocumented { .. }
            | NonceNotUuid { .. }
            | KeyNotBase64 { .. }
            | RevokeFailed { .. }
            | RevokedTokenAnswers { .. }
            | NoActiveNode { .. }
            | InitAnswerNotDocumented { .. }
            | InitKeyCount { .. }
            | SealedAfterOwnKey { .. }
            | NotSelfUnsealed { .. }
            | KeyLostAtInit { .. }
            | ProofFailed { .. }
            | RootTokenLost { .. }
            | NoUsableOtp { .. }
            | GeneratedTokenNotRevoked { .. }
            | GeneratedTokenRevokeFailed { .. }
            | TokenNotCreated { .. }
            | CreatedNoToken { .. }
            | EncodedTokenNotBase64
            | EncodedTokenLength { .. }
            | DecodedTokenNotPrintable
            | RotationIncomplete { .. }
            | StdoutWrite { .. }
            | CommandNotStarted { .. }
            | CommandNotAwaited { .. } => Kind::Failed,
        }
    }

    /// For [`VaultError::TokenNotPermitted`]: the endpoint's directory (`sys/rotate/root/`),
    /// which the token's policy must cover.
    fn endpoint_prefix(&self) -> String {
        match self {
            VaultError::TokenNotPermitted { endpoint, .. } => endpoint
                .rsplit_once('/')
                .map(|(p, _)| format!("{p}/"))
                .unwrap_or_default(),
            _ => String::new(),
        }
    }
}

area!(VaultError, Vault);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    #[test]
    fn exit_codes_follow_who_can_fix_it() {
        let code = |e: VaultError| Error::from(e).exit_code();
        assert_eq!(code(VaultError::StdoutIsTerminal), 2);
        assert_eq!(
            code(VaultError::PlainHttpNotLoopback {
                addr: "http://10.0.0.5:8200".into()
            }),
            3
        );
        assert_eq!(code(VaultError::EncodedTokenNotBase64), 4);
        let refused = |status| VaultError::RequestRefused {
            addr: "https://v:8200".into(),
            what: "seal-status".into(),
            text: format!("HTTP {status}: x"),
            status,
        };
        assert_eq!(code(refused(403)), 3);
        assert_eq!(code(refused(503)), 4);
    }

    #[test]
    fn messages_name_the_server_and_what_to_do() {
        let sealed = |seal: Option<&str>| {
            VaultError::Sealed {
                addr: "https://v:8200".into(),
                seal: seal.map(str::to_string),
            }
            .to_string()
        };
        assert_eq!(
            sealed(None),
            "vault https://v:8200 is sealed: unseal it first (zeroth vault unseal)"
        );
        assert_eq!(
            sealed(Some("bao")),
            "vault https://v:8200 is sealed: unseal it first (zeroth vault unseal bao)"
        );
        let e = VaultError::TokenNotPermitted {
            addr: "https://v:8200".into(),
            endpoint: "sys/rotate/root/init".into(),
            text: "HTTP 403: permission denied".into(),
        };
        assert_eq!(
            e.to_string(),
            "vault https://v:8200: the token given (--token-file, BAO_TOKEN or VAULT_TOKEN) may not use sys/rotate/root/init (HTTP 403: permission denied): it needs a policy granting create, read, update and delete on sys/rotate/root/*"
        );
        let e = VaultError::UnsealInProgress {
            addr: "https://v:8200".into(),
            progress: 1,
            threshold: 3,
            nonce: String::new(),
        };
        assert!(e.to_string().contains("1 of 3 keys in (nonce none)"), "{e}");
    }
}
