//! The formats of a remote collection: the **request** an operator sends to custodians
//! who are not in the room, and the **hand-in** each of them sends back.
//!
//! A request is signed by the environment's HSM key. It names the ceremony (a 128-bit
//! id), what it is for (unseal, drill, rekey …), the seal, its record's fingerprint, the
//! share set with its threshold and every custodian's commitment, the operator, when it
//! expires, and the ephemeral age X25519 recipient the hand-ins are encrypted to. A
//! custodian's zeroth checks the signature against the key their trust file pins, and
//! their share against the commitments the request carries, before anything is written.
//!
//! A hand-in is the custodian's share, with the ceremony id, the request's fingerprint
//! and the custodian's name, encrypted with age to the request's recipient. Its clear
//! header only says where it goes (ceremony, seal, custodian): everything that counts is
//! inside the encryption and checked again after decryption. Its **fingerprint** is
//! SHA-256 over the age ciphertext itself, not over the text around it, so it is the
//! same whatever a channel did to the armor (line endings, re-wrapping, indentation):
//! custodian and operator read the same fingerprint, and the log keeps it.
//!
//! Both are ASCII armor: a `-----BEGIN …-----` line, header lines for people, a blank
//! line, base64 lines, an `-----END …-----` line; text around them (a chat message, a
//! mail quote) is ignored, and so is whitespace inside the base64.

use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::error::{Error, RecordError, Result};
use crate::key::PublicKey;

/// The first line of a request.
pub const REQUEST_BEGIN: &str = "-----BEGIN ZEROTH REQUEST-----";
/// The last line of a request.
pub const REQUEST_END: &str = "-----END ZEROTH REQUEST-----";
/// The first line of a hand-in.
pub const HAND_IN_BEGIN: &str = "-----BEGIN ZEROTH HAND-IN-----";
/// The last line of a hand-in.
pub const HAND_IN_END: &str = "-----END ZEROTH HAND-IN-----";
/// The request format this zeroth writes and reads.
pub const REQUEST_FORMAT: u32 = 1;
/// What the request's signature covers, before the canonical JSON.
const REQUEST_DOMAIN: &[u8] = b"zeroth-remote-request-v1\n";
/// The first line of a hand-in's plaintext, and the domain of its fingerprint.
const HAND_IN_DOMAIN: &str = "zeroth-hand-in-v1";
/// The largest request or hand-in zeroth reads.
pub const MAX_TEXT: u64 = 64 * 1024;
/// How long a request is good for unless told otherwise: 30 minutes.
pub const DEFAULT_VALID_SECS: i64 = 30 * 60;
/// The longest a request may be good for: 24 hours.
pub const MAX_VALID_SECS: i64 = 24 * 60 * 60;

/// One custodian of the share set a request collects: what their share must match.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestCustodian {
    /// Name.
    pub name: String,
    /// Their share's x.
    pub x: u8,
    /// The commitment the record holds for their share (hex).
    pub commitment: String,
}

/// A request for hand-ins, signed by the environment's HSM key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// [`REQUEST_FORMAT`].
    pub format: u32,
    /// The ceremony id: 128 random bits, hex.
    pub ceremony: String,
    /// What the shares are for: the ceremony's log event (`unseal`, `drill`, `rekey`,
    /// `rotate`, `rekey-confirm`, `rotate-confirm`, `vault-unseal`).
    pub purpose: String,
    /// The rekey or rotation operation a confirmation makes current.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    /// The store's id (`store_id`): with `env`, what a trust file pins.
    pub store: String,
    /// Environment.
    pub env: String,
    /// Seal name.
    pub seal: String,
    /// Seal id (hex).
    pub seal_id: String,
    /// The seal's owner, from its record.
    pub owner: String,
    /// The seal's purpose, from its record.
    pub seal_purpose: String,
    /// Credential version of the set collected.
    pub version: u32,
    /// The share set collected.
    pub set: u32,
    /// Its threshold.
    pub threshold: u8,
    /// Its custodians, in x order, with their commitments.
    pub custodians: Vec<RequestCustodian>,
    /// Fingerprint of the seal record the request was made from (`sha256:` + hex of its
    /// signed bytes).
    pub record: String,
    /// The ephemeral age X25519 recipient hand-ins are encrypted to.
    pub recipient: String,
    /// Who opened the collection.
    pub operator: String,
    /// On which host.
    pub host: String,
    /// When (RFC 3339 UTC).
    pub created: String,
    /// Until when hand-ins are taken (RFC 3339 UTC).
    pub expires: String,
    /// Fingerprint of the environment's signing key.
    pub key: String,
    /// The signing key's public half: base64 DER SubjectPublicKeyInfo, for a custodian
    /// whose trust file pins only its fingerprint.
    pub public_key: String,
    /// base64 DER ECDSA signature over [`Request::signed_bytes`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

impl Request {
    /// What the signature covers: a domain line, then the request as JSON without
    /// `signature`, keys sorted, no whitespace.
    pub fn signed_bytes(&self) -> Result<Vec<u8>> {
        let mut value =
            serde_json::to_value(self).map_err(|source| RecordError::RequestEncode { source })?;
        if let Some(obj) = value.as_object_mut() {
            obj.remove("signature");
        }
        let mut out = REQUEST_DOMAIN.to_vec();
        out.extend(
            serde_json::to_vec(&value).map_err(|source| RecordError::RequestEncode { source })?,
        );
        Ok(out)
    }

    /// `sha256:` + hex SHA-256 of the signed bytes: what a hand-in binds itself to.
    pub fn fingerprint(&self) -> Result<String> {
        Ok(crate::id::fingerprint(&self.signed_bytes()?))
    }

    /// The public key the request carries.
    pub fn public_key(&self) -> std::result::Result<PublicKey, String> {
        use p256::pkcs8::DecodePublicKey;
        let der = base64::engine::general_purpose::STANDARD
            .decode(&self.public_key)
            .map_err(|_| "its public_key is not base64".to_string())?;
        p256::PublicKey::from_public_key_der(&der)
            .map(|key| PublicKey { key })
            .map_err(|_| "its public_key is not a P-256 public key".to_string())
    }

    /// Returns true if and only if the signature verifies with `key`.
    pub fn verifies_with(&self, key: &PublicKey) -> bool {
        let Some(sig) = &self.signature else {
            return false;
        };
        let Ok(der) = base64::engine::general_purpose::STANDARD.decode(sig) else {
            return false;
        };
        self.signed_bytes()
            .map(|m| key.verify(&m, &der))
            .unwrap_or(false)
    }

    /// The short form of the ceremony id people read out: its first 8 characters.
    pub fn short_id(&self) -> String {
        short(&self.ceremony)
    }

    /// The request as armored text: informative headers, then the signed JSON in base64.
    pub fn to_armor(&self) -> Result<String> {
        let json =
            serde_json::to_vec(self).map_err(|source| RecordError::RequestEncode { source })?;
        let headers = [
            ("Ceremony", self.ceremony.clone()),
            (
                "For",
                format!("{} of '{}' ({})", self.purpose, self.seal, self.env),
            ),
            ("Expires", self.expires.clone()),
        ];
        Ok(armor(REQUEST_BEGIN, REQUEST_END, &headers, &json))
    }

    /// Parses a request from its armored text. The headers are ignored: the signed JSON
    /// is the truth.
    pub fn from_armor(text: &str) -> std::result::Result<Request, String> {
        let (_, body) = dearmor(text, REQUEST_BEGIN, REQUEST_END, "request")?;
        let request: Request = serde_json::from_slice(&body).map_err(|e| {
            format!(
                "its content is not a zeroth request ({})",
                crate::text::clean(&e.to_string())
            )
        })?;
        if request.format != REQUEST_FORMAT {
            return Err(format!(
                "it is a request of format {}, which this zeroth does not read (it reads {REQUEST_FORMAT}): update zeroth",
                request.format
            ));
        }
        if !is_ceremony_id(&request.ceremony) {
            return Err("its ceremony id is not 32 hex digits".into());
        }
        Ok(request)
    }
}

/// A hand-in, as it travels: a clear header saying where it goes, and the age
/// ciphertext.
#[derive(Debug, Clone)]
pub struct HandIn {
    /// The ceremony it is for, as its header says.
    pub ceremony: String,
    /// Seal, as its header says.
    pub seal: String,
    /// Environment, as its header says.
    pub env: String,
    /// Custodian, as its header says.
    pub custodian: String,
    /// The age file (binary) holding the [`Inner`] text.
    pub ciphertext: Vec<u8>,
}

impl HandIn {
    /// The channel-free fingerprint: `sha256:` + hex SHA-256 over a domain line and
    /// the age ciphertext.
    pub fn fingerprint(&self) -> String {
        fingerprint_of(&self.ciphertext)
    }

    /// The hand-in as armored text.
    pub fn to_armor(&self) -> String {
        let headers = [
            ("Ceremony", self.ceremony.clone()),
            ("Seal", self.seal.clone()),
            ("Environment", self.env.clone()),
            ("Custodian", self.custodian.clone()),
        ];
        armor(HAND_IN_BEGIN, HAND_IN_END, &headers, &self.ciphertext)
    }

    /// Parses a hand-in from its armored text.
    pub fn from_armor(text: &str) -> std::result::Result<HandIn, String> {
        let (headers, ciphertext) = dearmor(text, HAND_IN_BEGIN, HAND_IN_END, "hand-in")?;
        let get = |k: &str| {
            headers
                .iter()
                .find(|(h, _)| h.eq_ignore_ascii_case(k))
                .map(|(_, v)| v.clone())
                .ok_or_else(|| format!("its header has no '{k}:' line"))
        };
        let ceremony = get("Ceremony")?;
        if !is_ceremony_id(&ceremony) {
            return Err(format!(
                "its 'Ceremony:' header is not a ceremony id (32 hex digits, as the request's): '{}'",
                crate::text::clean(&ceremony)
            ));
        }
        Ok(HandIn {
            ceremony,
            seal: get("Seal")?,
            env: get("Environment")?,
            custodian: get("Custodian")?,
            ciphertext,
        })
    }
}

/// Returns true if and only if `s` is a ceremony id: 32 hex digits (ASCII, so its first
/// 8 characters can be sliced off as its short form).
pub fn is_ceremony_id(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The short form of a ceremony id people read out: its first 8 characters (by
/// characters, never by bytes, so any text is safe here).
pub fn short(s: &str) -> String {
    s.chars().take(8).collect()
}

/// The fingerprint of a hand-in whose age ciphertext is `ciphertext`.
pub fn fingerprint_of(ciphertext: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(HAND_IN_DOMAIN.as_bytes());
    h.update(b"\n");
    h.update(ciphertext);
    format!("sha256:{}", hex::encode(h.finalize()))
}

/// The fingerprint of text that is not a readable hand-in: SHA-256 over it without
/// whitespace, so the same text gives the same value whatever the channel did to its
/// lines.
pub fn fingerprint_of_text(text: &str) -> String {
    let squeezed: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    format!(
        "sha256:{}",
        hex::encode(Sha256::digest(
            [b"zeroth-unreadable-hand-in-v1\n".as_slice(), &squeezed].concat()
        ))
    )
}

/// What a hand-in holds, once decrypted.
pub struct Inner {
    /// The ceremony id.
    pub ceremony: String,
    /// The fingerprint of the request it answers.
    pub request: String,
    /// The custodian who made it.
    pub custodian: String,
    /// When (the custodian's clock; informative).
    pub made: String,
    /// The share's armored text.
    pub share: Zeroizing<String>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Inner({}, {}, share redacted)",
            self.ceremony, self.custodian
        )
    }
}

impl Inner {
    /// The plaintext that is encrypted: a domain line, four `key: value` lines, a
    /// blank line, the share's armored text.
    pub fn to_text(&self) -> Zeroizing<String> {
        let mut out = Zeroizing::new(String::with_capacity(256 + self.share.len()));
        out.push_str(HAND_IN_DOMAIN);
        out.push('\n');
        for (k, v) in [
            ("ceremony", &self.ceremony),
            ("request", &self.request),
            ("custodian", &self.custodian),
            ("made", &self.made),
        ] {
            out.push_str(k);
            out.push_str(": ");
            out.push_str(v);
            out.push('\n');
        }
        out.push('\n');
        out.push_str(self.share.trim());
        out.push('\n');
        out
    }

    /// Parses decrypted plaintext.
    pub fn from_text(text: &str) -> std::result::Result<Inner, String> {
        let mut lines = text.split('\n');
        if lines.next().map(str::trim) != Some(HAND_IN_DOMAIN) {
            return Err("its content is not a zeroth hand-in".into());
        }
        let mut fields: Vec<(String, String)> = Vec::new();
        for line in lines.by_ref() {
            let line = line.trim();
            if line.is_empty() {
                break;
            }
            let (k, v) = line
                .split_once(": ")
                .ok_or("its content has a malformed line")?;
            fields.push((k.to_string(), v.to_string()));
        }
        let get = |k: &str| {
            fields
                .iter()
                .find(|(h, _)| h == k)
                .map(|(_, v)| v.clone())
                .ok_or_else(|| format!("its content has no '{k}' line"))
        };
        let mut share = Zeroizing::new(String::with_capacity(text.len()));
        for line in lines {
            share.push_str(line);
            share.push('\n');
        }
        Ok(Inner {
            ceremony: get("ceremony")?,
            request: get("request")?,
            custodian: get("custodian")?,
            made: get("made")?,
            share,
        })
    }
}

/// What the log keeps of a remote collection (the `remote` member of an entry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteLog {
    /// The ceremony id.
    pub ceremony: String,
    /// What the shares were for.
    pub purpose: String,
    /// Fingerprint of the signed request.
    pub request: String,
    /// The ephemeral recipient (public).
    pub recipient: String,
    /// When the request expires.
    pub expires: String,
    /// Every hand-in received, in the order received.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hand_ins: Vec<HandInLog>,
    /// Custodians whose shares were entered in the room (a mixed quorum).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub in_room: Vec<String>,
    /// Refused hand-ins beyond the first [`MAX_REFUSED_KEPT`], counted and not kept (a
    /// flooded channel cannot make one log entry grow without bound).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub refused_not_kept: u64,
}

/// How many refused hand-ins a collection keeps in its log entry; the rest are counted.
pub const MAX_REFUSED_KEPT: usize = 100;

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// One hand-in as the log keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HandInLog {
    /// Its channel-free fingerprint.
    pub fingerprint: String,
    /// The custodian it is from, when known (from its content once decrypted, else its
    /// header).
    pub custodian: Option<String>,
    /// `accepted` or `refused`.
    pub outcome: String,
    /// Why it was refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// When it was received (the operator's clock).
    pub received: String,
    /// How it arrived: `file`, `directory` or `terminal`.
    pub via: String,
}

/// Parses how long a request is good for: `30m`, `2h`, `90s`; from a minute to 24 hours.
pub fn parse_validity(s: &str) -> Result<i64> {
    let bad = || {
        Error::Usage(format!(
            "--valid-for {s}: write a duration such as 30m, 2h or 90s (a minute to 24 hours)"
        ))
    };
    let (num, unit) = s.split_at(s.len().saturating_sub(1));
    let n: i64 = num.parse().map_err(|_| bad())?;
    let secs = match unit {
        "s" => Some(n),
        "m" => n.checked_mul(60),
        "h" => n.checked_mul(3600),
        _ => None,
    }
    .ok_or_else(bad)?;
    if !(60..=MAX_VALID_SECS).contains(&secs) {
        return Err(bad());
    }
    Ok(secs)
}

/// Writes armor: BEGIN, `Key: value` headers, a blank line, base64 in lines of 64, END.
fn armor(begin: &str, end: &str, headers: &[(&str, String)], body: &[u8]) -> String {
    let mut out = String::new();
    out.push_str(begin);
    out.push('\n');
    for (k, v) in headers {
        out.push_str(&format!("{k}: {}\n", crate::text::clean(v)));
    }
    out.push('\n');
    let b64 = base64::engine::general_purpose::STANDARD.encode(body);
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(end);
    out.push('\n');
    out
}

/// Armor's header lines, and its decoded body.
type Dearmored = (Vec<(String, String)>, Vec<u8>);

/// Reads armor anywhere in `text`: returns the headers and the decoded body. Lines are
/// trimmed; whitespace inside the base64 is ignored.
fn dearmor(
    text: &str,
    begin: &str,
    end: &str,
    what: &str,
) -> std::result::Result<Dearmored, String> {
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    let start = lines
        .iter()
        .position(|l| *l == begin)
        .ok_or_else(|| format!("no '{begin}' line: this is not a zeroth {what}"))?;
    let stop = lines[start..]
        .iter()
        .position(|l| *l == end)
        .map(|p| p + start)
        .ok_or_else(|| format!("no '{end}' line: the {what} was cut short"))?;
    let mut headers = Vec::new();
    let mut body = String::new();
    let mut in_body = false;
    for line in &lines[start + 1..stop] {
        if !in_body {
            if line.is_empty() {
                in_body = true;
                continue;
            }
            // base64 has no ':': a line with one before the blank line is a header.
            if let Some((k, v)) = line.split_once(':') {
                headers.push((k.trim().to_string(), v.trim().to_string()));
                continue;
            }
            in_body = true;
        }
        body.extend(line.chars().filter(|c| !c.is_whitespace()));
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(body.as_bytes())
        .map_err(|_| format!("its body is not base64: the {what} was altered or cut short"))?;
    Ok((headers, decoded))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ceremony_header_that_is_not_an_id_is_refused_not_sliced() {
        let h = HandIn {
            ceremony: "0123456789abcdef0123456789abcdef".into(),
            seal: "s".into(),
            env: "e".into(),
            custodian: "c".into(),
            ciphertext: vec![1, 2, 3],
        };
        let text = h.to_armor();
        assert!(HandIn::from_armor(&text).is_ok());
        let euro = text.replace("0123456789abcdef0123456789abcdef", "€€€€€€€€€€€");
        let err = HandIn::from_armor(&euro).unwrap_err();
        assert!(err.contains("not a ceremony id"), "{err}");
        assert_eq!(short("€€€€€€€€€€€"), "€€€€€€€€");
    }

    fn sample() -> Request {
        Request {
            format: REQUEST_FORMAT,
            ceremony: "0123456789abcdef0123456789abcdef".into(),
            purpose: "unseal".into(),
            operation: None,
            store: "s".into(),
            env: "prod".into(),
            seal: "vault-root".into(),
            seal_id: "00".repeat(16),
            owner: "platform".into(),
            seal_purpose: "unseal vault".into(),
            version: 1,
            set: 1,
            threshold: 2,
            custodians: vec![RequestCustodian {
                name: "alice".into(),
                x: 1,
                commitment: "ab".repeat(32),
            }],
            record: "sha256:00".into(),
            recipient: "age1xyz".into(),
            operator: "op".into(),
            host: "h".into(),
            created: "2030-01-01T00:00:00Z".into(),
            expires: "2030-01-01T00:30:00Z".into(),
            key: "sha256:11".into(),
            public_key: "AA==".into(),
            signature: Some("c2ln".into()),
        }
    }

    #[test]
    fn a_request_survives_its_armor_and_a_channel_that_rewraps_it() {
        let r = sample();
        let text = r.to_armor().unwrap();
        assert_eq!(Request::from_armor(&text).unwrap(), r);
        // A chat client indents it, ends lines with CRLF and adds words around it.
        let mangled = format!(
            "here it is:\r\n{}\r\nthanks",
            text.lines()
                .map(|l| format!("  {l}  "))
                .collect::<Vec<_>>()
                .join("\r\n")
        );
        assert_eq!(Request::from_armor(&mangled).unwrap(), r);
    }

    #[test]
    fn the_signature_covers_everything_but_itself() {
        let mut r = sample();
        let a = r.signed_bytes().unwrap();
        r.signature = None;
        assert_eq!(a, r.signed_bytes().unwrap());
        r.set = 2;
        assert_ne!(a, r.signed_bytes().unwrap());
    }

    #[test]
    fn a_hand_in_keeps_its_fingerprint_whatever_the_channel_does_to_its_lines() {
        let h = HandIn {
            ceremony: "0123456789abcdef0123456789abcdef".into(),
            seal: "s".into(),
            env: "e".into(),
            custodian: "bob".into(),
            ciphertext: (0..=255u8).cycle().take(700).collect(),
        };
        let text = h.to_armor();
        let back = HandIn::from_armor(&text).unwrap();
        assert_eq!(back.fingerprint(), h.fingerprint());
        let rewrapped: String = text
            .replace('\n', "\r\n")
            .replace("\r\n\r\n", "\r\n\r\n   ");
        assert_eq!(
            HandIn::from_armor(&rewrapped).unwrap().fingerprint(),
            h.fingerprint()
        );
        let cut = text.replace(HAND_IN_END, "");
        assert!(HandIn::from_armor(&cut).unwrap_err().contains("cut short"));
    }

    #[test]
    fn inner_round_trip_and_redacted_debug() {
        let inner = Inner {
            ceremony: "c".into(),
            request: "sha256:r".into(),
            custodian: "bob".into(),
            made: "t".into(),
            share: Zeroizing::new("-----BEGIN ZEROTH SHARE-----\nSECRET\n".into()),
        };
        let text = inner.to_text();
        let back = Inner::from_text(&text).unwrap();
        assert_eq!(back.custodian, "bob");
        assert!(back.share.contains("SECRET"));
        assert!(!format!("{back:?}").contains("SECRET"));
    }

    #[test]
    fn validity() {
        assert_eq!(parse_validity("30m").unwrap(), 1800);
        assert_eq!(parse_validity("2h").unwrap(), 7200);
        for bad in ["", "m", "30", "10s", "25h", "-5m", "5d"] {
            assert!(parse_validity(bad).is_err(), "{bad}");
        }
    }
}
