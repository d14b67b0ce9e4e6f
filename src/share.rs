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
//! The payload — version, seal id, set, threshold, x, y and a 4-byte checksum, 59 bytes —
//! is the truth; the headers are for people and must agree with it. The payload is
//! written in Crockford's base32 alphabet (no I, L, O or U; on input `I`/`L` read as
//! `1` and `O` as `0`, any case), 5 lines of up to four groups of five. Each line starts
//! with its number and ends with two check characters over that line, so a typo is
//! reported with the line it is on, and with its group when every one-character fix
//! that makes the line check agrees on one; the payload checksum then covers the whole.
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

const PAYLOAD_VERSION: u8 = 1;
const PAYLOAD_LEN: usize = 1 + 16 + 4 + 1 + 1 + 32 + 4;
const SYMBOLS: &str = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const GROUP: usize = 5;
const GROUPS_PER_LINE: usize = 4;
/// The payload in base32: 59 bytes are 95 characters.
const ENCODED_LEN: usize = (PAYLOAD_LEN * 8).div_ceil(5);

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
    /// The payload, which is the truth.
    pub payload: Payload,
}

/// The binary content of a share.
#[derive(Debug, Clone)]
pub struct Payload {
    /// The 128-bit id of the seal, unique across stores and environments.
    pub seal_id: [u8; 16],
    /// The share set number; a rekey makes a new set.
    pub set: u32,
    /// How many shares recover the unseal key.
    pub threshold: u8,
    /// The point on the sharing polynomial.
    pub point: SharePoint,
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

fn checksum(bytes: &[u8]) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(b"zeroth-share-payload-v1\n");
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
    /// Returns the 59 payload bytes, checksum included.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut v = Zeroizing::new(Vec::with_capacity(PAYLOAD_LEN));
        v.push(PAYLOAD_VERSION);
        v.extend_from_slice(&self.seal_id);
        v.extend_from_slice(&self.set.to_be_bytes());
        v.push(self.threshold);
        v.push(self.point.x);
        v.extend_from_slice(&self.point.y[..]);
        let c = checksum(&v);
        v.extend_from_slice(&c);
        v
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

    /// Parses payload bytes; the error says what is wrong in words.
    pub fn from_bytes(bytes: &[u8]) -> Result<Payload, String> {
        if bytes.len() != PAYLOAD_LEN {
            return Err(format!(
                "the share holds {} bytes where a zeroth share holds {PAYLOAD_LEN}: lines are missing or extra",
                bytes.len()
            ));
        }
        let (body, sum) = bytes.split_at(PAYLOAD_LEN - 4);
        if checksum(body) != sum {
            return Err(
                "the share's checksum does not match: the share was mistyped or altered".into(),
            );
        }
        if body[0] != PAYLOAD_VERSION {
            return Err(format!(
                "share format version {} is not known to this zeroth (it reads version {PAYLOAD_VERSION})",
                body[0]
            ));
        }
        let mut seal_id = [0u8; 16];
        seal_id.copy_from_slice(&body[1..17]);
        let set = u32::from_be_bytes([body[17], body[18], body[19], body[20]]);
        let threshold = body[21];
        let x = body[22];
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
        y.copy_from_slice(&body[23..55]);
        Ok(Payload {
            seal_id,
            set,
            threshold,
            point: SharePoint { x, y },
        })
    }
}

impl Share {
    /// Returns the armored text of this share, as written to a share file.
    pub fn to_armor(&self) -> Zeroizing<String> {
        let bytes = self.payload.to_bytes();
        let encoded = Zeroizing::new(base32().encode(&bytes));
        let mut out = Zeroizing::new(String::new());
        let _ = writeln!(out, "{BEGIN}");
        let _ = writeln!(out, "Seal: {}", self.seal);
        let _ = writeln!(out, "Environment: {}", self.env);
        let _ = writeln!(out, "Custodian: {}", self.custodian);
        let _ = writeln!(
            out,
            "Share: {} of {}, threshold {}, set {}",
            self.payload.point.x, self.n, self.payload.threshold, self.payload.set
        );
        out.push('\n');
        let per_line = GROUP * GROUPS_PER_LINE;
        for (i, chunk) in encoded.as_bytes().chunks(per_line).enumerate() {
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
        let bytes = self.payload.to_bytes();
        let encoded = Zeroizing::new(base32().encode(&bytes));
        encoded
            .as_bytes()
            .chunks(GROUP * GROUPS_PER_LINE)
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
        for (at, raw) in lines.iter().enumerate().take(end).skip(i) {
            if raw.is_empty() {
                continue;
            }
            let file_line = at + 1;
            let chars = parse_line(expect_line, raw).map_err(|fault| {
                if fault.starts_with("expected") {
                    format!("line {file_line}: {fault}")
                } else if fault.starts_with("group ") {
                    format!("line {file_line} (share line {expect_line}), {fault}")
                } else {
                    format!("line {file_line} (share line {expect_line}): {fault}")
                }
            })?;
            encoded.push_str(&chars);
            expect_line += 1;
        }
        if encoded.is_empty() {
            return Err(format!("line {}: the share has no payload lines", i + 1));
        }
        let payload = Payload::from_encoded(&encoded)?;

        if hx != payload.point.x || ht != payload.threshold || hset != payload.set {
            return Err(format!(
                "line {share_at}: the header says share {hx}, threshold {ht}, set {hset} but the share itself is share {}, threshold {}, set {}: the header was edited",
                payload.point.x, payload.threshold, payload.set
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
            payload,
        })
    }
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

/// How many characters share line `line_no` (1-based) holds, or `None` past the last.
pub fn line_length(line_no: usize) -> Option<usize> {
    let per_line = GROUP * GROUPS_PER_LINE;
    let start = (line_no.checked_sub(1)?) * per_line;
    (start < ENCODED_LEN).then(|| per_line.min(ENCODED_LEN - start))
}

/// The number of payload lines of a share.
pub const LINES: usize = ENCODED_LEN.div_ceil(GROUP * GROUPS_PER_LINE);

/// Reads one numbered payload line as written on a share ("2  YD4J6 43G00 00041 G31JX
/// 8N", any case, groups run together or not) and returns its characters once its
/// check characters match. The error says what is wrong and, when it can be told, in
/// which group: "group 3: …". The caller says which line it is.
///
/// Which group holds a typo is found by trying every single-character change and every
/// swap of neighbours on the line: when all the changes that make the check characters
/// match lie in one group, that group is named; when they spread over several (10 check
/// bits leave a few chance matches), only the line is.
pub fn parse_line(expect_line: usize, raw: &str) -> Result<Zeroizing<String>, String> {
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
    let Some(want) = line_length(expect_line) else {
        return Err(format!(
            "a share has {LINES} lines; there is no line {expect_line}: a line is extra"
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

    fn sample() -> Share {
        let mut y = Zeroizing::new([0u8; 32]);
        for (i, b) in y.iter_mut().enumerate() {
            *b = (i * 7 + 3) as u8;
        }
        Share {
            seal: "vault-root".into(),
            env: "prod".into(),
            custodian: "alice".into(),
            n: 5,
            payload: Payload {
                seal_id: [9; 16],
                set: 4,
                threshold: 3,
                point: SharePoint { x: 2, y },
            },
        }
    }

    #[test]
    fn round_trip() {
        let s = sample();
        let text = s.to_armor();
        let back = Share::from_armor(&text).unwrap();
        assert_eq!(back.seal, "vault-root");
        assert_eq!(back.custodian, "alice");
        assert_eq!(back.n, 5);
        assert_eq!(back.payload.point.x, 2);
        assert_eq!(back.payload.set, 4);
        assert_eq!(*back.payload.point.y, *s.payload.point.y);
        assert!(text.contains("Share: 2 of 5, threshold 3, set 4"));
    }

    #[test]
    fn typed_back_loosely_still_reads() {
        let text = sample().to_armor().to_lowercase().replace("  ", " ");
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

    #[test]
    fn every_single_character_change_is_caught_with_its_line() {
        let text = sample().to_armor();
        let lines: Vec<&str> = text.lines().collect();
        for (li, line) in lines.iter().enumerate().skip(6).take(5) {
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

    #[test]
    fn a_single_typo_is_named_with_its_group_when_the_fixes_agree() {
        let text = sample().to_armor();
        let lines: Vec<&str> = text.lines().collect();
        let (mut named, mut total) = (0, 0);
        for (li, line) in lines.iter().enumerate().skip(6).take(5) {
            let share_line = li - 5;
            // Data characters: after "N  ", before "  CC".
            let data_end = line.len() - 4;
            for (ci, c) in line.char_indices().skip(3) {
                if c == ' ' || ci >= data_end {
                    continue;
                }
                let replacement = if c == 'Z' { 'Y' } else { 'Z' };
                let mut l = line.to_string();
                l.replace_range(ci..ci + 1, &replacement.to_string());
                let err = parse_line(share_line, &l).unwrap_err();
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
        // Most single typos are pinned to their group; the rest name the line only.
        assert!(named * 2 > total, "{named} of {total} named their group");
    }

    #[test]
    fn a_left_out_character_names_its_group() {
        let text = sample().to_armor();
        let line = text.lines().nth(7).unwrap(); // share line 2
        let mut l = line.to_string();
        l.remove(10); // a character of group 2
        let err = parse_line(2, &l).unwrap_err();
        assert!(err.starts_with("group 2: it has 4 characters"), "{err}");
        let err = parse_line(3, line).unwrap_err();
        assert!(err.contains("expected share line 3"), "{err}");
        assert_eq!(line_length(5), Some(15));
        assert_eq!(line_length(6), None);
        assert_eq!(LINES, 5);
    }

    #[test]
    fn a_mistyped_check_character_is_named() {
        let text = sample().to_armor();
        let line = text.lines().nth(6).unwrap();
        let last = line.chars().last().unwrap();
        let mut l = line.to_string();
        l.pop();
        l.push(if last == 'Z' { 'Y' } else { 'Z' });
        let err = parse_line(1, &l).unwrap_err();
        assert!(
            err.contains("check characters (the last two)") || err.contains("on this line"),
            "{err}"
        );
    }

    #[test]
    fn header_disagreeing_with_payload_is_refused() {
        let text = sample()
            .to_armor()
            .replace("Share: 2 of 5", "Share: 3 of 5");
        let err = Share::from_armor(&text).unwrap_err();
        assert!(err.contains("header was edited"), "{err}");
    }

    #[test]
    fn garbage_and_missing_lines() {
        assert!(
            Share::from_armor("hello")
                .unwrap_err()
                .contains("not a zeroth share")
        );
        let text = sample().to_armor();
        let cut: Vec<&str> = text.lines().filter(|l| !l.starts_with("3 ")).collect();
        assert!(
            Share::from_armor(&cut.join("\n"))
                .unwrap_err()
                .contains("expected share line 3")
        );
    }

    #[test]
    fn zero_x_is_refused_even_with_valid_checksums() {
        let mut s = sample();
        s.payload.point.x = 0;
        let err = Share::from_armor(&s.to_armor()).unwrap_err();
        assert!(err.contains("x = 0"), "{err}");
    }

    #[test]
    fn commitment_depends_on_every_input() {
        let s = sample();
        let c = commitment(&s.payload.seal_id, 4, &s.payload.point);
        assert_ne!(c, commitment(&[8; 16], 4, &s.payload.point));
        assert_ne!(c, commitment(&s.payload.seal_id, 5, &s.payload.point));
        let mut p = s.payload.point.clone();
        p.y[0] ^= 1;
        assert_ne!(c, commitment(&s.payload.seal_id, 4, &p));
    }
}
