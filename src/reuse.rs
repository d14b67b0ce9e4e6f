//! Reuse marks: what lets `check` see one secret sealed in two environments without
//! keeping anything that gives the secret away. Ceremonies take the marks; `check`
//! compares them ([`crate::governance`]).

use sha2::{Digest, Sha256};

use crate::seal::{Origin, ReuseMark};
use crate::secret::Credential;
use crate::store::Store;

/// Returns the marks that let `check` see one secret sealed in two environments, or
/// `None` when the store has no id to salt them with.
///
/// A deterministic function of a secret, stored where an attacker can read it, lets
/// them test guesses offline; for a low-entropy imported secret (a password, a short
/// token) that would give it away. So an imported secret gets only a *tag*: 16 bits of
/// scrypt (N = 2^14, r = 8, p = 1) salted with the store id. Sixteen bits cannot
/// confirm a guess — of any dictionary larger than 65,536 words, many candidates share
/// the tag — and scrypt makes each guess slow; equal tags in two environments mean
/// "the same secret, or one pair in 65,536 that matches by chance" — an error all the
/// same, since its remedy (rotating one of the two) is right either way. A
/// generated credential is random (at least 16 bytes from the HSM), so nothing is lost
/// by also storing a full salted SHA-256 *digest*, and two generated credentials are
/// told apart exactly. The tag of every seal, generated or imported, is compared, so a
/// generated credential later imported elsewhere is caught too. A generated
/// credential's plaintext never leaves the HSM at generate, so its marks are taken at
/// its first drill or rotation, which rewrite its record.
pub fn reuse_mark(store: &Store, credential: &Credential, origin: Origin) -> Option<ReuseMark> {
    // Too short to hide behind 16 bits: with the length known, a short secret's whole
    // space (10^4 four-digit PINs) is searched in minutes and the tag picks it out.
    // Below REUSE_MIN_LENGTH bytes no mark is kept, and `check` says it cannot judge.
    if credential.expose().len() < REUSE_MIN_LENGTH {
        return None;
    }
    let id = store.config().store_id.as_deref()?;
    let salt = Sha256::digest(format!("zeroth-reuse-tag-v1\n{id}").as_bytes());
    let params = scrypt::Params::new(14, 8, 1).ok()?;
    let mut tag = [0u8; 2];
    scrypt::scrypt(credential.expose(), &salt, &params, &mut tag).ok()?;
    let digest = (origin == Origin::Generated).then(|| {
        let mut h = Sha256::new();
        h.update(b"zeroth-reuse-digest-v1\n");
        h.update(id.as_bytes());
        h.update(credential.expose());
        hex::encode(h.finalize())
    });
    Some(ReuseMark {
        tag: hex::encode(tag),
        digest,
    })
}

/// The shortest secret that gets a reuse mark. A tag of 16 bits cannot confirm a guess
/// only while the secrets of that length the attacker must consider far outnumber the
/// 65,536 tag values: 16 bytes of even a digits-only alphabet (10^16 candidates) leave
/// about 1.5 × 10^11 candidates per tag.
pub const REUSE_MIN_LENGTH: usize = 16;
