//! The share file: an armored text a person can read, print and type back.
//!
//! ```text
//! -----BEGIN ZEROTH SHARE-----
//! Seal: vault-root
//! Environment: prod
//! Custodian: alice
//! Share: 2 of 5, threshold 3, set 1
//!
//! 1  0A3F9 KQ7MZ 2RTX8 BB3C1  9F
//! 2  …
//! -----END ZEROTH SHARE-----
//! ```
//!
//! The payload is the truth; the headers are for people and must agree with it. Two
//! versions exist, told apart by the payload's first byte:
//!
//! - version 1: version, seal id (16 bytes), set (u32), threshold, x, y (32 bytes) and
//!   a 4-byte checksum: 59 bytes, 5 typed lines;
//! - version 2, written since: version, a 4-byte *set tag* (SHA-256 of the seal id and
//!   set number, cut to 32 bits) in place of the seal id and set, threshold, x, y and a
//!   4-byte checksum: 43 bytes, 4 typed lines.
//!
//! The set tag is not what makes a share acceptable: the signed record's commitment to
//! each share (SHA-256 over the seal id, set, x and y) does that, whatever the version.
//! The tag tells which seal and set a share belongs to, so a share of another seal or
//! an old set is refused by name, and checks the header's set number.
//!
//! The payload is written in Crockford's base32 alphabet (no I, L, O or U; on input
//! `I`/`L` read as `1` and `O` as `0`, any case), in lines of up to four groups of five.
//! Each line starts with its number and ends with two check characters over that line,
//! so a typo is reported with the line it is on, and with its group when every
//! one-character fix that makes the line check agrees on one; the payload checksum then
//! covers the whole.
//!
//! The per-line check is written here because no crate offers a line-checked base32 a
//! person can type back; the base32 itself is `data-encoding`'s.

use std::fmt::Write as _;

use data_encoding::{BitOrder, Encoding, Specification};
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, Zeroizing};

use crate::shamir::SharePoint;

/// The first and last lines of a share file.
pub const BEGIN: &str = "-----BEGIN ZEROTH SHARE-----";
/// The last line of a share file.
pub const END: &str = "-----END ZEROTH SHARE-----";

/// Share format version 1: the seal id and set in full (59 bytes, 5 lines).
pub const FORMAT_V1: u8 = 1;
/// Share format version 2: a 32-bit set tag instead (43 bytes, 4 lines).
pub const FORMAT_V2: u8 = 2;
/// The version new shares are written in.
pub const CURRENT_FORMAT: u8 = FORMAT_V2;
const SYMBOLS: &str = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const GROUP: usize = 5;
const GROUPS_PER_LINE: usize = 4;
const PER_LINE: usize = GROUP * GROUPS_PER_LINE;

/// The byte layout of one payload version.
#[derive(Debug, Clone, Copy)]
struct Layout {
    /// All the payload's bytes, checksum included.
    len: usize,
    /// The bytes before y: version, seal id and set (or set tag), threshold, x. They
    /// are the same in every share of a set, but for x.
    prefix: usize,
    /// The domain of the payload checksum.
    checksum_domain: &'static [u8],
}

impl Layout {
    fn of(version: u8) -> Option<Layout> {
        match version {
            FORMAT_V1 => Some(Layout {
                len: 1 + 16 + 4 + 1 + 1 + 32 + 4,
                prefix: 1 + 16 + 4 + 1 + 1,
                checksum_domain: b"zeroth-share-payload-v1\n",
            }),
            FORMAT_V2 => Some(Layout {
                len: 1 + 4 + 1 + 1 + 32 + 4,
                prefix: 1 + 4 + 1 + 1,
                checksum_domain: b"zeroth-share-payload-v2\n",
            }),
            _ => None,
        }
    }

    /// How many base32 characters the payload takes.
    fn encoded_len(self) -> usize {
        (self.len * 8).div_ceil(5)
    }
}

/// What a share file says: the people-facing headers and the payload.
#[derive(Debug, Clone)]
pub struct Share {
    /// `Seal:` header.
    pub seal: String,
    /// `Environment:` header.
    pub env: String,
    /// `Custodian:` header.
    pub custodian: String,
    /// The `n` of `Share: x of n`: how many custodians hold a share of this set.
    pub n: u8,
    /// The `set` of the `Share:` header, when the share came with headers: for a
    /// version 1 share the payload's own, for version 2 what the header claims (checked
    /// against the set tag once the seal id is known). `None` for typed lines.
    pub set: Option<u32>,
    /// The payload, which is the truth.
    pub payload: Payload,
}

/// Which seal and share set a share says it belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binding {
    /// Version 1: the seal's 128-bit id and the set number, in full.
    Full {
        /// The seal id.
        seal_id: [u8; 16],
        /// The share set number.
        set: u32,
    },
    /// Version 2: the set tag of the seal id and set number ([`set_tag`]).
    Tag([u8; 4]),
}

impl Binding {
    /// The binding of a share of `set` of the seal `seal_id`, in payload `version`.
    pub fn new(version: u8, seal_id: [u8; 16], set: u32) -> Binding {
        match version {
            FORMAT_V1 => Binding::Full { seal_id, set },
            _ => Binding::Tag(set_tag(&seal_id, set)),
        }
    }

    /// The payload version this binding is written in.
    pub fn version(&self) -> u8 {
        match self {
            Binding::Full { .. } => FORMAT_V1,
            Binding::Tag(_) => FORMAT_V2,
        }
    }

    /// Returns true if and only if this binding names set `set` of seal `seal_id`.
    pub fn names(&self, seal_id: &[u8; 16], set: u32) -> bool {
        match self {
            Binding::Full {
                seal_id: id,
                set: s,
            } => id == seal_id && *s == set,
            Binding::Tag(t) => *t == set_tag(seal_id, set),
        }
    }
}

/// The binary content of a share.
#[derive(Debug, Clone)]
pub struct Payload {
    /// The seal and set it belongs to (and with it, the format version).
    pub binding: Binding,
    /// How many shares recover the unseal key.
    pub threshold: u8,
    /// The point on the sharing polynomial.
    pub point: SharePoint,
}

/// The set tag of version 2 shares: the first 4 bytes of SHA-256 over a domain tag,
/// the seal id and the set number (u32 big-endian). It names the set a share belongs
/// to; a share of another seal or set carries another tag but for one chance in 2^32,
/// and is then refused by its commitment all the same.
pub fn set_tag(seal_id: &[u8; 16], set: u32) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(b"zeroth-share-set-tag-v2\n");
    h.update(seal_id);
    h.update(set.to_be_bytes());
    let d = h.finalize();
    [d[0], d[1], d[2], d[3]]
}

fn base32() -> Encoding {
    let mut spec = Specification::new();
    spec.symbols.push_str(SYMBOLS);
    spec.bit_order = BitOrder::MostSignificantFirst;
    spec.check_trailing_bits = true;
    spec.encoding()
        .expect("the share alphabet is a valid base32 specification")
}

/// Returns the commitment to a share: SHA-256 over a domain tag, the seal id, the set
/// number, x and y. The record keeps one per custodian, so each presented share is
/// checked before it is combined.
pub fn commitment(seal_id: &[u8; 16], set: u32, point: &SharePoint) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"zeroth-share-commitment-v1\n");
    h.update(seal_id);
    h.update(set.to_be_bytes());
    h.update([point.x]);
    h.update(&point.y[..]);
    h.finalize().into()
}

fn checksum(domain: &[u8], bytes: &[u8]) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(domain);
    h.update(bytes);
    let d = h.finalize();
    [d[0], d[1], d[2], d[3]]
}

fn line_check(line_no: usize, chars: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"zeroth-share-line-v1\n");
    h.update([line_no as u8]);
    h.update(chars.as_bytes());
    let d = h.finalize();
    let bits = (usize::from(d[0]) << 2) | (usize::from(d[1]) >> 6);
    let sym = SYMBOLS.as_bytes();
    let mut s = String::with_capacity(2);
    s.push(char::from(sym[bits >> 5]));
    s.push(char::from(sym[bits & 31]));
    s
}

impl Payload {
    /// The payload format version.
    pub fn version(&self) -> u8 {
        self.binding.version()
    }

    /// The set number, when the payload holds it (version 1).
    pub fn set(&self) -> Option<u32> {
        match self.binding {
            Binding::Full { set, .. } => Some(set),
            Binding::Tag(_) => None,
        }
    }

    /// Returns the payload bytes, checksum included.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let layout = Layout::of(self.version()).expect("a binding has a known version");
        let mut v = Zeroizing::new(Vec::with_capacity(layout.len));
        v.push(self.version());
        match &self.binding {
            Binding::Full { seal_id, set } => {
                v.extend_from_slice(seal_id);
                v.extend_from_slice(&set.to_be_bytes());
            }
            Binding::Tag(tag) => v.extend_from_slice(tag),
        }
        v.push(self.threshold);
        v.push(self.point.x);
        v.extend_from_slice(&self.point.y[..]);
        let c = checksum(layout.checksum_domain, &v);
        v.extend_from_slice(&c);
        v
    }

    /// Returns the payload in base32, without line numbers or check characters.
    fn encoded(&self) -> Zeroizing<String> {
        let bytes = self.to_bytes();
        Zeroizing::new(base32().encode(&bytes))
    }

    /// Decodes the base32 characters of all payload lines, run together, and parses
    /// them.
    pub fn from_encoded(encoded: &str) -> Result<Payload, String> {
        let mut bytes = base32().decode(encoded.as_bytes()).map_err(|_| {
            "the share payload has the wrong length: a line is missing or cut short".to_string()
        })?;
        let parsed = Payload::from_bytes(&bytes);
        bytes.zeroize();
        parsed
    }

    /// Parses payload bytes of either version; the error says what is wrong in words.
    pub fn from_bytes(bytes: &[u8]) -> Result<Payload, String> {
        let version = *bytes
            .first()
            .ok_or_else(|| "the share payload is empty".to_string())?;
        let layout = Layout::of(version).ok_or_else(|| unknown_version(version))?;
        if bytes.len() != layout.len {
            return Err(format!(
                "the share holds {} bytes where a version {version} zeroth share holds {}: lines are missing or extra",
                bytes.len(),
                layout.len
            ));
        }
        let (body, sum) = bytes.split_at(layout.len - 4);
        if checksum(layout.checksum_domain, body) != sum {
            return Err(
                "the share's checksum does not match: the share was mistyped or altered".into(),
            );
        }
        let (binding, rest) = match version {
            FORMAT_V1 => {
                let mut seal_id = [0u8; 16];
                seal_id.copy_from_slice(&body[1..17]);
                let set = u32::from_be_bytes([body[17], body[18], body[19], body[20]]);
                (Binding::Full { seal_id, set }, &body[21..])
            }
            _ => (
                Binding::Tag([body[1], body[2], body[3], body[4]]),
                &body[5..],
            ),
        };
        let threshold = rest[0];
        let x = rest[1];
        if x == 0 {
            return Err(
                "the share has x = 0, which would be the secret itself: it is forged or corrupt"
                    .into(),
            );
        }
        if threshold == 0 {
            return Err("the share says threshold 0: it is forged or corrupt".into());
        }
        let mut y = Zeroizing::new([0u8; 32]);
        y.copy_from_slice(&rest[2..34]);
        Ok(Payload {
            binding,
            threshold,
            point: SharePoint { x, y },
        })
    }
}

fn unknown_version(version: u8) -> String {
    format!(
        "share format version {version} is not known to this zeroth (it reads versions {FORMAT_V1} and {FORMAT_V2}): the share was mistyped, or made by a newer zeroth"
    )
}

/// The format version a share's first typed line says, from its characters (without
/// number and check characters): the first byte of the payload.
pub fn version_of_first_line(chars: &str) -> Result<u8, String> {
    let head: String = chars.chars().take(2).collect();
    let sym = SYMBOLS.as_bytes();
    let value = |c: char| sym.iter().position(|&s| char::from(s) == c);
    match head.chars().map(value).collect::<Option<Vec<usize>>>() {
        Some(v) if v.len() == 2 => {
            let version = u8::try_from(((v[0] << 5) | v[1]) >> 2).unwrap_or(u8::MAX);
            Layout::of(version)
                .map(|_| version)
                .ok_or_else(|| unknown_version(version))
        }
        _ => Err("the first line is too short to hold a share".into()),
    }
}

impl Share {
    /// The set this share belongs to, as far as it says: the payload's (version 1), else
    /// its header's.
    pub fn claimed_set(&self) -> Option<u32> {
        self.payload.set().or(self.set)
    }

    /// Returns the armored text of this share, as written to a share file.
    pub fn to_armor(&self) -> Zeroizing<String> {
        let encoded = self.payload.encoded();
        let mut out = Zeroizing::new(String::new());
        let _ = writeln!(out, "{BEGIN}");
        let _ = writeln!(out, "Seal: {}", self.seal);
        let _ = writeln!(out, "Environment: {}", self.env);
        let _ = writeln!(out, "Custodian: {}", self.custodian);
        let _ = writeln!(
            out,
            "Share: {} of {}, threshold {}, set {}",
            self.payload.point.x,
            self.n,
            self.payload.threshold,
            self.claimed_set().unwrap_or_default()
        );
        out.push('\n');
        for (i, chunk) in encoded.as_bytes().chunks(PER_LINE).enumerate() {
            let line_no = i + 1;
            let chars = std::str::from_utf8(chunk).unwrap_or_default();
            let _ = write!(out, "{line_no}  ");
            for (g, group) in chunk.chunks(GROUP).enumerate() {
                if g > 0 {
                    out.push(' ');
                }
                out.push_str(std::str::from_utf8(group).unwrap_or_default());
            }
            let _ = writeln!(out, "  {}", line_check(line_no, chars));
        }
        let _ = writeln!(out, "{END}");
        out
    }

    /// The characters of each payload line, without numbers, spaces or check
    /// characters: what a custodian types back, line by line.
    pub fn payload_lines(&self) -> Vec<Zeroizing<String>> {
        let encoded = self.payload.encoded();
        encoded
            .as_bytes()
            .chunks(PER_LINE)
            .map(|c| Zeroizing::new(String::from_utf8_lossy(c).into_owned()))
            .collect()
    }

    /// Parses the armored text of a share. Errors name the line of the text at fault
    /// (1-based) and never quote the share's payload.
    pub fn from_armor(text: &str) -> Result<Share, String> {
        let lines: Vec<&str> = text.lines().map(|l| l.trim()).collect();
        let begin = lines.iter().position(|l| *l == BEGIN).ok_or_else(|| {
            if text.contains("BEGIN AGE ENCRYPTED FILE") {
                "this share is encrypted with age: decrypt it first (age -d -i KEY)".to_string()
            } else if text.contains("<svg") {
                "this is a paper card (SVG), not a share file: scan its QR code (or type its numbered lines) into a file, and give that file".to_string()
            } else {
                format!("no '{BEGIN}' line: this is not a zeroth share file")
            }
        })?;
        let end = lines[begin..]
            .iter()
            .position(|l| *l == END)
            .map(|p| p + begin)
            .ok_or_else(|| {
                format!(
                    "no '{END}' line after line {}: the share is cut short",
                    begin + 1
                )
            })?;

        let mut seal = None;
        let mut env = None;
        let mut custodian = None;
        let mut share_line = None;
        let mut i = begin + 1;
        while i < end && !lines[i].is_empty() {
            let (key, value) = lines[i].split_once(':').ok_or_else(|| {
                format!(
                    "line {}: expected a header 'Name: value' or a blank line",
                    i + 1
                )
            })?;
            let value = value.trim().to_string();
            let slot = match key.trim() {
                "Seal" => &mut seal,
                "Environment" => &mut env,
                "Custodian" => &mut custodian,
                "Share" => &mut share_line,
                other => {
                    return Err(format!(
                        "line {}: unknown header '{}': a share has Seal, Environment, Custodian and Share",
                        i + 1,
                        other.escape_debug()
                    ));
                }
            };
            if slot.is_some() {
                return Err(format!(
                    "line {}: header '{}' given twice",
                    i + 1,
                    key.trim()
                ));
            }
            *slot = Some((i + 1, value));
            i += 1;
        }
        let missing = |name: &str| format!("the '{name}:' header is missing");
        let (_, seal) = seal.ok_or_else(|| missing("Seal"))?;
        let (_, env) = env.ok_or_else(|| missing("Environment"))?;
        let (_, custodian) = custodian.ok_or_else(|| missing("Custodian"))?;
        let (share_at, share_value) = share_line.ok_or_else(|| missing("Share"))?;
        // Header values name files, token labels and log entries, and are shown on
        // terminals: each must be a valid name, so nothing else (a path, an escape
        // sequence) gets through.
        for (header, value, kind) in [
            ("Seal", &seal, crate::names::NameKind::Seal),
            ("Environment", &env, crate::names::NameKind::Environment),
            ("Custodian", &custodian, crate::names::NameKind::Custodian),
        ] {
            crate::names::check(kind, value)
                .map_err(|e| format!("the '{header}:' header is not valid: {}", e.message()))?;
        }
        let (hx, hn, ht, hset) = parse_share_header(&share_value).ok_or_else(|| {
            format!("line {share_at}: expected 'Share: X of N, threshold T, set S'")
        })?;

        let mut encoded = Zeroizing::new(String::new());
        let mut expect_line = 1usize;
        // The first line says the version, and with it how many lines follow.
        let mut version = CURRENT_FORMAT;
        for (at, raw) in lines.iter().enumerate().take(end).skip(i) {
            if raw.is_empty() {
                continue;
            }
            let file_line = at + 1;
            let chars = parse_line(version, expect_line, raw).map_err(|fault| {
                if fault.starts_with("expected") {
                    format!("line {file_line}: {fault}")
                } else if fault.starts_with("group ") {
                    format!("line {file_line} (share line {expect_line}), {fault}")
                } else {
                    format!("line {file_line} (share line {expect_line}): {fault}")
                }
            })?;
            if expect_line == 1 {
                version = version_of_first_line(&chars)
                    .map_err(|fault| format!("line {file_line} (share line 1): {fault}"))?;
            }
            encoded.push_str(&chars);
            expect_line += 1;
        }
        if encoded.is_empty() {
            return Err(format!("line {}: the share has no payload lines", i + 1));
        }
        let payload = Payload::from_encoded(&encoded)?;

        let payload_set = payload.set().unwrap_or(hset);
        if hx != payload.point.x || ht != payload.threshold || hset != payload_set {
            return Err(format!(
                "line {share_at}: the header says share {hx}, threshold {ht}, set {hset} but the share itself is share {}, threshold {}, set {}: the header was edited",
                payload.point.x, payload.threshold, payload_set
            ));
        }
        if hn < payload.threshold || hn < hx {
            return Err(format!(
                "line {share_at}: the header says {hn} shares in all, fewer than the share's own number or threshold"
            ));
        }
        Ok(Share {
            seal,
            env,
            custodian,
            n: hn,
            set: Some(hset),
            payload,
        })
    }
}

/// The groups of the `index`-th share of `set` (all the shares of one set) that its
/// custodian may be asked to type back, as (line, group), both 1-based: the groups
/// that carry only bits of y and of the checksum — never the version, set, threshold
/// or x that are the same in every share of a set, or can be told from the header —
/// and that differ from the same group of every other share of the set. Typing one of
/// them back proves the custodian wrote down their own share, not a field they could
/// read off anyone's.
pub fn challenge_groups(set: &[Share], index: usize) -> Vec<(usize, usize)> {
    let Some(share) = set.get(index) else {
        return Vec::new();
    };
    let Some(layout) = Layout::of(share.payload.version()) else {
        return Vec::new();
    };
    let encoded: Vec<Zeroizing<String>> = set.iter().map(|s| s.payload.encoded()).collect();
    let mine = encoded[index].as_bytes();
    let group_at = |text: &[u8], g: usize| -> Vec<u8> {
        text.iter().skip(g * GROUP).take(GROUP).copied().collect()
    };
    let prefix_bits = layout.prefix * 8;
    let mut out = Vec::new();
    for g in 0..mine.len().div_ceil(GROUP) {
        if g * GROUP * 5 < prefix_bits {
            continue;
        }
        let ours = Zeroizing::new(group_at(mine, g));
        let unique = encoded
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != index)
            .all(|(_, other)| *Zeroizing::new(group_at(other.as_bytes(), g)) != *ours);
        if unique {
            out.push((g / GROUPS_PER_LINE + 1, g % GROUPS_PER_LINE + 1));
        }
    }
    out
}

/// The characters of group `group` of line `line` (both 1-based) of `share`.
pub fn group_text(share: &Share, line: usize, group: usize) -> Option<Zeroizing<String>> {
    let lines = share.payload_lines();
    let l = lines.get(line.checked_sub(1)?)?;
    let start = (group.checked_sub(1)?) * GROUP;
    (start < l.len()).then(|| Zeroizing::new(l[start..(start + GROUP).min(l.len())].to_string()))
}

/// Upper-cases, maps look-alikes (I and L to 1, O to 0), drops hyphens, and refuses
/// anything else outside the alphabet, returning the offending character.
fn normalize(token: &str) -> Result<Zeroizing<String>, char> {
    let mut out = Zeroizing::new(String::with_capacity(token.len()));
    for c in token.chars() {
        let c = match c.to_ascii_uppercase() {
            'I' | 'L' => '1',
            'O' => '0',
            '-' => continue,
            c => c,
        };
        if !SYMBOLS.contains(c) {
            return Err(c);
        }
        out.push(c);
    }
    Ok(out)
}

/// A group or line typed by a person, as the share alphabet reads it: spaces and
/// hyphens dropped, upper case, `I`/`L` as `1`, `O` as `0`. Characters outside the
/// alphabet are kept, so the comparison that follows fails.
pub fn normalize_typed(typed: &str) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::with_capacity(typed.len()));
    for c in typed.chars() {
        match c.to_ascii_uppercase() {
            ' ' | '\t' | '-' => {}
            'I' | 'L' => out.push('1'),
            'O' => out.push('0'),
            c => out.push(c),
        }
    }
    out
}

/// How many characters share line `line_no` (1-based) of a version `version` share
/// holds, or `None` past the last.
pub fn line_length(version: u8, line_no: usize) -> Option<usize> {
    let total = Layout::of(version)?.encoded_len();
    let start = (line_no.checked_sub(1)?) * PER_LINE;
    (start < total).then(|| PER_LINE.min(total - start))
}

/// The number of payload lines of a version `version` share (0 for an unknown one).
pub fn lines(version: u8) -> usize {
    Layout::of(version).map_or(0, |l| l.encoded_len().div_ceil(PER_LINE))
}

/// Reads one numbered payload line of a version `version` share as written on it ("2
/// YD4J6 43G00 00041 G31JX  8N", any case, groups run together or not) and returns its
/// characters once its check characters match. The error says what is wrong and, when
/// it can be told, in which group: "group 3: …". The caller says which line it is; line
/// 1 is as long in every version, and says which version the share is
/// ([`version_of_first_line`]).
///
/// Which group holds a typo is found by trying every single-character change and every
/// swap of neighbours on the line: when all the changes that make the check characters
/// match lie in one group, that group is named; when they spread over several (10 check
/// bits leave a few chance matches), only the line is.
pub fn parse_line(version: u8, expect_line: usize, raw: &str) -> Result<Zeroizing<String>, String> {
    let mut tokens: Vec<&str> = raw.split_whitespace().collect();
    if tokens.len() < 2 {
        return Err(
            "expected a line number, groups of five characters and two check characters".into(),
        );
    }
    let number = tokens.remove(0).trim_end_matches([':', '.']);
    if number.parse::<usize>().ok() != Some(expect_line) {
        return Err(format!(
            "expected share line {expect_line} here: a line is missing or out of order"
        ));
    }
    let Some(want) = line_length(version, expect_line) else {
        return Err(format!(
            "a version {version} share has {} lines; there is no line {expect_line}: a line is extra",
            lines(version)
        ));
    };
    let check_token = tokens.pop().unwrap_or_default();
    let mut chars = Zeroizing::new(String::new());
    let mut group_of_token = Vec::new();
    for (g, t) in tokens.iter().enumerate() {
        let n = normalize(t).map_err(|c| {
            format!(
                "group {}: '{}' is not a share character (a share uses 0-9 and A-Z without I, L, O, U)",
                chars.len() / GROUP + 1,
                c.escape_debug()
            )
        })?;
        group_of_token.push((g + 1, n.len()));
        chars.push_str(&n);
    }
    let check = normalize(check_token).map_err(|c| {
        format!(
            "check characters: '{}' is not a share character (a share uses 0-9 and A-Z without I, L, O, U)",
            c.escape_debug()
        )
    })?;
    if chars.len() != want || check.len() != 2 {
        // A character left out or doubled: name the group if the groups were typed
        // apart and exactly one has the wrong length.
        let odd: Vec<usize> = group_of_token
            .iter()
            .filter(|(_, len)| *len != GROUP)
            .map(|(g, _)| *g)
            .collect();
        let expected_groups = want.div_ceil(GROUP);
        if check.len() != 2 && chars.len() + check.len() == want + 2 {
            return Err(format!(
                "the line should end with two check characters, not {}",
                check.len()
            ));
        }
        if group_of_token.len() == expected_groups && odd.len() == 1 {
            let (g, len) = group_of_token[odd[0] - 1];
            return Err(format!(
                "group {g}: it has {len} characters where a group has {GROUP}: a character was left out or typed twice"
            ));
        }
        return Err(format!(
            "it has {} characters before its check characters where share line {expect_line} has {want}: a character was left out or typed twice",
            chars.len()
        ));
    }
    if line_check(expect_line, &chars) != *check {
        return Err(match locate_typo(expect_line, &chars, &check) {
            Some(Place::Group(g)) => format!(
                "group {g}: the check characters do not match: a character in group {g} was mistyped or altered"
            ),
            Some(Place::Check) => "the check characters (the last two) do not match the line: they look mistyped".into(),
            None => "the check characters do not match: a character on this line was mistyped or altered".into(),
        });
    }
    Ok(chars)
}

/// Where on a line a typo lies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// In this group (1-based).
    Group(usize),
    /// In the two check characters.
    Check,
}

/// Finds the one place every single-character fix of the line agrees on, if any.
fn locate_typo(line_no: usize, chars: &str, check: &str) -> Option<Place> {
    let mut places: Vec<Place> = Vec::new();
    let mut note = |p: Place| {
        if !places.contains(&p) {
            places.push(p);
        }
    };
    let mut buf = Zeroizing::new(chars.as_bytes().to_vec());
    for i in 0..buf.len() {
        let original = buf[i];
        for &s in SYMBOLS.as_bytes() {
            if s == original {
                continue;
            }
            buf[i] = s;
            if line_check(line_no, std::str::from_utf8(&buf).unwrap_or_default()) == check {
                note(Place::Group(i / GROUP + 1));
            }
        }
        buf[i] = original;
    }
    for i in 0..buf.len().saturating_sub(1) {
        if buf[i] == buf[i + 1] {
            continue;
        }
        buf.swap(i, i + 1);
        if line_check(line_no, std::str::from_utf8(&buf).unwrap_or_default()) == check {
            note(Place::Group(i / GROUP + 1));
            note(Place::Group((i + 1) / GROUP + 1));
        }
        buf.swap(i, i + 1);
    }
    let actual = line_check(line_no, chars);
    let differing = actual
        .chars()
        .zip(check.chars())
        .filter(|(a, b)| a != b)
        .count();
    if differing == 1 {
        note(Place::Check);
    }
    match places[..] {
        [one] => Some(one),
        _ => None,
    }
}

fn parse_share_header(v: &str) -> Option<(u8, u8, u8, u32)> {
    // "2 of 5, threshold 3, set 4"
    let mut parts = v.split(',').map(str::trim);
    let (x, n) = parts.next()?.split_once(" of ")?;
    let t = parts.next()?.strip_prefix("threshold ")?;
    let s = parts.next()?.strip_prefix("set ")?;
    if parts.next().is_some() {
        return None;
    }
    Some((
        x.trim().parse().ok()?,
        n.trim().parse().ok()?,
        t.trim().parse().ok()?,
        s.trim().parse().ok()?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample_in(version: u8) -> Share {
        let mut y = Zeroizing::new([0u8; 32]);
        for (i, b) in y.iter_mut().enumerate() {
            *b = (i * 7 + 3) as u8;
        }
        Share {
            seal: "vault-root".into(),
            env: "prod".into(),
            custodian: "alice".into(),
            n: 5,
            set: Some(4),
            payload: Payload {
                binding: Binding::new(version, [9; 16], 4),
                threshold: 3,
                point: SharePoint { x: 2, y },
            },
        }
    }

    fn sample() -> Share {
        sample_in(CURRENT_FORMAT)
    }

    /// The numbered payload lines of an armored share.
    fn numbered(text: &str) -> Vec<&str> {
        text.lines()
            .filter(|l| l.starts_with(|c: char| c.is_ascii_digit()))
            .collect()
    }

    #[test]
    fn round_trip_in_both_versions() {
        for version in [FORMAT_V1, FORMAT_V2] {
            let s = sample_in(version);
            let text = s.to_armor();
            let back = Share::from_armor(&text).unwrap();
            assert_eq!(back.seal, "vault-root");
            assert_eq!(back.custodian, "alice");
            assert_eq!(back.n, 5);
            assert_eq!(back.payload.point.x, 2);
            assert_eq!(back.claimed_set(), Some(4));
            assert_eq!(back.payload.version(), version);
            assert_eq!(back.payload.binding, s.payload.binding);
            assert!(back.payload.binding.names(&[9; 16], 4));
            assert!(!back.payload.binding.names(&[9; 16], 5));
            assert!(!back.payload.binding.names(&[8; 16], 4));
            assert_eq!(*back.payload.point.y, *s.payload.point.y);
            assert!(text.contains("Share: 2 of 5, threshold 3, set 4"));
        }
    }

    #[test]
    fn version_2_is_a_line_and_26_characters_shorter() {
        let v1 = sample_in(FORMAT_V1);
        let v2 = sample_in(FORMAT_V2);
        assert_eq!(v1.payload.to_bytes().len(), 59);
        assert_eq!(v2.payload.to_bytes().len(), 43);
        assert_eq!(lines(FORMAT_V1), 5);
        assert_eq!(lines(FORMAT_V2), 4);
        assert_eq!(numbered(&v1.to_armor()).len(), 5);
        assert_eq!(numbered(&v2.to_armor()).len(), 4);
        let typed = |s: &Share| s.payload_lines().iter().map(|l| l.len()).sum::<usize>();
        assert_eq!(typed(&v1), 95);
        assert_eq!(typed(&v2), 69);
        assert_eq!(line_length(FORMAT_V2, 4), Some(9));
        assert_eq!(line_length(FORMAT_V2, 5), None);
        assert_eq!(line_length(FORMAT_V1, 5), Some(15));
        assert_eq!(line_length(FORMAT_V1, 6), None);
        for version in [FORMAT_V1, FORMAT_V2] {
            let s = sample_in(version);
            assert_eq!(
                version_of_first_line(&s.payload_lines()[0]).unwrap(),
                version
            );
        }
        assert!(
            version_of_first_line("ZZ")
                .unwrap_err()
                .contains("version 255 is not known")
        );
    }

    #[test]
    fn the_set_tag_depends_on_the_seal_and_the_set() {
        let t = set_tag(&[1; 16], 1);
        assert_ne!(t, set_tag(&[1; 16], 2));
        assert_ne!(t, set_tag(&[2; 16], 1));
        assert_eq!(t, set_tag(&[1; 16], 1));
    }

    #[test]
    fn a_version_2_header_names_its_set_unchecked_until_the_record_is_known() {
        // The header's set is only a claim in version 2: the share parses, and the set
        // tag is what ceremonies check it against (ceremony::shares).
        let text = sample_in(FORMAT_V2)
            .to_armor()
            .replace("threshold 3, set 4", "threshold 3, set 7");
        let back = Share::from_armor(&text).unwrap();
        assert_eq!(back.claimed_set(), Some(7));
        assert!(!back.payload.binding.names(&[9; 16], 7));
        // In version 1 the payload holds the set, and a header that disagrees is refused.
        let text = sample_in(FORMAT_V1)
            .to_armor()
            .replace("threshold 3, set 4", "threshold 3, set 7");
        let err = Share::from_armor(&text).unwrap_err();
        assert!(err.contains("header was edited"), "{err}");
    }

    #[test]
    fn typed_back_loosely_still_reads() {
        for version in [FORMAT_V1, FORMAT_V2] {
            let text = sample_in(version)
                .to_armor()
                .to_lowercase()
                .replace("  ", " ");
            let text = text
                .replace("-----begin zeroth share-----", BEGIN)
                .replace("-----end zeroth share-----", END)
                .replace("seal:", "Seal:")
                .replace("environment:", "Environment:")
                .replace("custodian:", "Custodian:")
                .replace("share:", "Share:");
            let back = Share::from_armor(&format!("  {text}\r\n")).unwrap();
            assert_eq!(back.payload.point.x, 2);
        }
    }

    #[test]
    fn every_single_character_change_is_caught_with_its_line() {
        for version in [FORMAT_V1, FORMAT_V2] {
            let text = sample_in(version).to_armor();
            let lines: Vec<&str> = text.lines().collect();
            for (li, line) in lines.iter().enumerate().skip(6).take(super::lines(version)) {
                for (ci, c) in line.char_indices().skip(3) {
                    if c == ' ' {
                        continue;
                    }
                    let replacement = if c == 'Z' { 'Y' } else { 'Z' };
                    let mut changed = lines.clone();
                    let mut l = line.to_string();
                    l.replace_range(ci..ci + 1, &replacement.to_string());
                    changed[li] = &l;
                    let err = Share::from_armor(&changed.join("\n")).unwrap_err();
                    assert!(err.contains(&format!("line {}", li + 1)), "{err}");
                }
            }
        }
    }

    #[test]
    fn a_single_typo_is_named_with_its_group_when_the_fixes_agree() {
        let (mut named, mut total) = (0, 0);
        for version in [FORMAT_V1, FORMAT_V2] {
            let text = sample_in(version).to_armor();
            for (i, line) in numbered(&text).into_iter().enumerate() {
                let share_line = i + 1;
                // Data characters: after "N  ", before "  CC".
                let data_end = line.len() - 4;
                for (ci, c) in line.char_indices().skip(3) {
                    if c == ' ' || ci >= data_end {
                        continue;
                    }
                    let replacement = if c == 'Z' { 'Y' } else { 'Z' };
                    let mut l = line.to_string();
                    l.replace_range(ci..ci + 1, &replacement.to_string());
                    let err = parse_line(version, share_line, &l).unwrap_err();
                    let group = (ci - 3) / 6 + 1;
                    total += 1;
                    if err.starts_with("group ") {
                        assert!(
                            err.starts_with(&format!("group {group}:")),
                            "{err} (group {group})"
                        );
                        named += 1;
                    } else {
                        assert!(err.contains("on this line"), "{err}");
                    }
                }
            }
        }
        // Most single typos are pinned to their group; the rest name the line only.
        assert!(named * 2 > total, "{named} of {total} named their group");
    }

    #[test]
    fn a_left_out_character_names_its_group() {
        let text = sample().to_armor();
        let line = numbered(&text)[1]; // share line 2
        let mut l = line.to_string();
        l.remove(10); // a character of group 2
        let err = parse_line(CURRENT_FORMAT, 2, &l).unwrap_err();
        assert!(err.starts_with("group 2: it has 4 characters"), "{err}");
        let err = parse_line(CURRENT_FORMAT, 3, line).unwrap_err();
        assert!(err.contains("expected share line 3"), "{err}");
        let err = parse_line(FORMAT_V2, 5, "5  AAAAA  AA").unwrap_err();
        assert!(err.contains("a version 2 share has 4 lines"), "{err}");
    }

    #[test]
    fn a_mistyped_check_character_is_named() {
        let text = sample().to_armor();
        let line = numbered(&text)[0];
        let last = line.chars().last().unwrap();
        let mut l = line.to_string();
        l.pop();
        l.push(if last == 'Z' { 'Y' } else { 'Z' });
        let err = parse_line(CURRENT_FORMAT, 1, &l).unwrap_err();
        assert!(
            err.contains("check characters (the last two)") || err.contains("on this line"),
            "{err}"
        );
    }

    #[test]
    fn header_disagreeing_with_payload_is_refused() {
        for version in [FORMAT_V1, FORMAT_V2] {
            let text = sample_in(version)
                .to_armor()
                .replace("Share: 2 of 5", "Share: 3 of 5");
            let err = Share::from_armor(&text).unwrap_err();
            assert!(err.contains("header was edited"), "{err}");
        }
    }

    #[test]
    fn garbage_and_missing_lines() {
        assert!(
            Share::from_armor("hello")
                .unwrap_err()
                .contains("not a zeroth share")
        );
        for version in [FORMAT_V1, FORMAT_V2] {
            let text = sample_in(version).to_armor();
            let cut: Vec<&str> = text.lines().filter(|l| !l.starts_with("3 ")).collect();
            assert!(
                Share::from_armor(&cut.join("\n"))
                    .unwrap_err()
                    .contains("expected share line 3")
            );
            let last = lines(version);
            let short: Vec<&str> = text
                .lines()
                .filter(|l| !l.starts_with(&format!("{last} ")))
                .collect();
            let err = Share::from_armor(&short.join("\n")).unwrap_err();
            assert!(err.contains("missing"), "{err}");
        }
    }

    #[test]
    fn zero_x_is_refused_even_with_valid_checksums() {
        for version in [FORMAT_V1, FORMAT_V2] {
            let mut s = sample_in(version);
            s.payload.point.x = 0;
            let err = Share::from_armor(&s.to_armor()).unwrap_err();
            assert!(err.contains("x = 0"), "{err}");
        }
    }

    #[test]
    fn commitment_depends_on_every_input() {
        let s = sample();
        let c = commitment(&[9; 16], 4, &s.payload.point);
        assert_ne!(c, commitment(&[8; 16], 4, &s.payload.point));
        assert_ne!(c, commitment(&[9; 16], 5, &s.payload.point));
        let mut p = s.payload.point.clone();
        p.y[0] ^= 1;
        assert_ne!(c, commitment(&[9; 16], 4, &p));
    }

    /// The shares of one freshly split set, as a dealing makes them.
    fn dealt(version: u8, seal_id: [u8; 16], set: u32, t: u8, n: u8, u: [u8; 32]) -> Vec<Share> {
        let key = crate::secret::UnsealKey::new(Box::new(u));
        crate::shamir::split(&key, t, n)
            .unwrap()
            .into_iter()
            .map(|point| Share {
                seal: "s".into(),
                env: "e".into(),
                custodian: format!("c{}", point.x),
                n,
                set: Some(set),
                payload: Payload {
                    binding: Binding::new(version, seal_id, set),
                    threshold: t,
                    point,
                },
            })
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Over many seals (ids, sets, thresholds, custodian counts, keys) and both
        /// versions: every custodian has at least two groups to be asked, and each lies
        /// past the fields common to the set and differs from the same group of every
        /// other share — so it is never a group equal across the set's shares. (Each
        /// such group holds 25 bits of y or checksum, random for t ≥ 2; a custodian
        /// left with fewer than two of the 11 would need nine chance collisions of 25
        /// bits. Threshold 1, where every y is U itself, is the test below.)
        #[test]
        fn the_challenge_lands_only_on_groups_the_custodian_alone_holds(
            seal_id in any::<[u8; 16]>(),
            set in 1u32..5000,
            n in 2u8..=12,
            t_pick in any::<u8>(),
            u in any::<[u8; 32]>(),
            v1 in any::<bool>(),
        ) {
            let t = 2 + t_pick % (n - 1);
            let version = if v1 { FORMAT_V1 } else { FORMAT_V2 };
            let shares = dealt(version, seal_id, set, t, n, u);
            let prefix = Layout::of(version).unwrap().prefix * 8;
            for (i, share) in shares.iter().enumerate() {
                let groups = challenge_groups(&shares, i);
                prop_assert!(groups.len() >= 2, "{groups:?}");
                for (line, group) in groups {
                    let g = (line - 1) * GROUPS_PER_LINE + (group - 1);
                    prop_assert!(g * GROUP * 5 >= prefix);
                    let mine = group_text(share, line, group).unwrap();
                    for (j, other) in shares.iter().enumerate() {
                        if j != i {
                            prop_assert_ne!(&*group_text(other, line, group).unwrap(), &*mine);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn with_threshold_one_only_the_checksum_tells_the_shares_apart() {
        // Every y is U itself: only the groups holding checksum bits differ, and only
        // those are asked.
        for version in [FORMAT_V1, FORMAT_V2] {
            let shares = dealt(version, [3; 16], 1, 1, 3, [0x11; 32]);
            for i in 0..3 {
                let groups = challenge_groups(&shares, i);
                assert!(!groups.is_empty(), "share {i} in version {version}");
                let last = lines(version);
                assert!(groups.iter().all(|(l, _)| *l == last || *l == last - 1));
            }
        }
    }

    #[test]
    fn the_groups_every_share_of_a_set_has_in_common_are_never_asked() {
        // The failure this guards against: in version 1, group 3 of line 2 held the set
        // and threshold ("00041" in every share of set 4, threshold 3).
        for version in [FORMAT_V1, FORMAT_V2] {
            let shares = dealt(version, [7; 16], 4, 3, 5, [0x5a; 32]);
            let asked: Vec<(usize, usize)> =
                (0..5).flat_map(|i| challenge_groups(&shares, i)).collect();
            let layout = Layout::of(version).unwrap();
            let lines = shares[0].payload_lines();
            for (li, line) in lines.iter().enumerate() {
                for g in 0..line.len().div_ceil(GROUP) {
                    let at = (li + 1, g + 1);
                    let common = shares
                        .iter()
                        .all(|s| group_text(s, at.0, at.1) == group_text(&shares[0], at.0, at.1));
                    if common {
                        assert!(!asked.contains(&at), "{at:?} asked in version {version}");
                    }
                }
            }
            // The fixed prefix lies in the first groups, which are common to the set.
            assert!(group_text(&shares[0], 1, 1) == group_text(&shares[4], 1, 1));
            assert!(layout.prefix * 8 > 25);
        }
    }
}

/// The frozen vectors of version 2 (`tests/vectors/share-v2/`), made once and never
/// written by a test.
#[cfg(test)]
mod vectors_v2 {
    use super::*;

    const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/vectors/share-v2/");

    fn read(name: &str) -> String {
        std::fs::read_to_string(format!("{DIR}{name}")).unwrap()
    }

    fn unhex<const N: usize>(v: &serde_json::Value) -> [u8; N] {
        hex::decode(v.as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap()
    }

    #[test]
    fn the_frozen_shares_parse_match_their_commitments_and_recover_the_key() {
        let expected: serde_json::Value = serde_json::from_str(&read("expected.json")).unwrap();
        let seal_id: [u8; 16] = unhex(&expected["seal_id"]);
        let set = expected["set"].as_u64().unwrap() as u32;
        assert_eq!(
            hex::encode(set_tag(&seal_id, set)),
            expected["set_tag"].as_str().unwrap()
        );
        let mut points = Vec::new();
        for want in expected["shares"].as_array().unwrap() {
            let who = want["custodian"].as_str().unwrap();
            let share = Share::from_armor(&read(&format!("vault-root.{who}.share"))).unwrap();
            assert_eq!(share.payload.version(), FORMAT_V2);
            assert_eq!(share.custodian, who);
            assert_eq!(share.claimed_set(), Some(set));
            assert!(share.payload.binding.names(&seal_id, set));
            assert_eq!(
                u64::from(share.payload.threshold),
                expected["threshold"].as_u64().unwrap()
            );
            assert_eq!(
                u64::from(share.payload.point.x),
                want["x"].as_u64().unwrap()
            );
            assert_eq!(
                share.payload.point.y[..],
                unhex::<32>(&want["y"])[..],
                "{who}"
            );
            assert_eq!(
                hex::encode(commitment(&seal_id, set, &share.payload.point)),
                want["commitment"].as_str().unwrap()
            );
            points.push(share.payload.point);
        }
        let key: [u8; 32] = unhex(&expected["unseal_key"]);
        for pair in [[0, 1], [0, 2], [1, 2]] {
            let u = crate::shamir::combine(&[&points[pair[0]], &points[pair[1]]]).unwrap();
            assert_eq!(u.expose()[..], key[..], "{pair:?}");
        }
    }

    #[test]
    fn the_frozen_bad_shares_are_refused_with_their_fault() {
        let err = Share::from_armor(&read("bad-typo-line-2.share")).unwrap_err();
        assert!(err.starts_with("line 8 (share line 2)"), "{err}");
        let err = Share::from_armor(&read("bad-line-4-missing.share")).unwrap_err();
        assert!(err.contains("missing"), "{err}");
    }
}
