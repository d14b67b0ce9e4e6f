//! Shamir secret sharing of the unseal key over GF(2^8), through `vsss-rs`.
//!
//! `vsss-rs` is constant-time, draws polynomial coefficients from the whole field and
//! refuses zero and duplicate x coordinates. zeroth still validates every share itself
//! (checksum, seal, set, commitment) before it gets here; this module only does the
//! arithmetic and keeps every intermediate buffer zeroized.

use std::fmt;

use vsss_rs::{Gf256, IdentifierGf256};
use zeroize::{Zeroize, Zeroizing};

use crate::error::{RecordError, Result};
use crate::secret::UnsealKey;

/// One point (x, y) of the sharing polynomial: one custodian's share of U.
#[derive(Clone)]
pub struct SharePoint {
    /// The x coordinate, 1..=255; custodian number i (1-based) holds x = i.
    pub x: u8,
    /// The 32 bytes of y, one per byte of U.
    pub y: Zeroizing<[u8; 32]>,
}

impl fmt::Debug for SharePoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SharePoint {{ x: {}, y: [redacted] }}", self.x)
    }
}

/// Splits `key` into `n` shares, any `threshold` of which recover it. The shares have
/// x = 1..=n, in custodian order.
pub fn split(key: &UnsealKey, threshold: u8, n: u8) -> Result<Vec<SharePoint>> {
    if threshold < 1 || threshold > n {
        return Err(RecordError::ThresholdDoesNotFit {
            threshold,
            custodians: n,
        }
        .into());
    }
    if threshold == 1 {
        // A 1-of-n "sharing" is n copies of the key; vsss-rs refuses a degree-0
        // polynomial, and rightly, so the copies are made here, on purpose and only
        // behind the explicit flag the ceremony requires.
        return Ok((1..=n)
            .map(|x| SharePoint {
                x,
                y: Zeroizing::new(*key.expose()),
            })
            .collect());
    }
    let rng = rand::rand_core::UnwrapErr(rand::rngs::SysRng);
    let ids = (1..=n).map(|x| IdentifierGf256(Gf256(x)));
    let mut raw = Gf256::split_bytes_with_participant_ids_iter(
        usize::from(threshold),
        usize::from(n),
        key.expose(),
        rng,
        ids,
    )
    .map_err(|e| RecordError::SplitFailed {
        detail: e.to_string(),
    })?;
    let points = raw.iter().map(|share| point_from_raw(share)).collect();
    raw.iter_mut().for_each(|s| s.zeroize());
    points
}

/// Recovers U from shares with distinct, non-zero x coordinates. The caller has
/// checked each share against its commitment and that there are at least threshold of
/// them; Lagrange interpolation then yields U from any such set.
pub fn combine(points: &[&SharePoint]) -> Result<UnsealKey> {
    if points.len() == 1 {
        return Ok(UnsealKey::new(Box::new(*points[0].y)));
    }
    let mut raw: Vec<Vec<u8>> = points
        .iter()
        .map(|p| {
            let mut v = Vec::with_capacity(33);
            v.push(p.x);
            v.extend_from_slice(&p.y[..]);
            v
        })
        .collect();
    let result = Gf256::combine_bytes(&raw);
    raw.iter_mut().for_each(|s| s.zeroize());
    let mut secret = result.map_err(|e| RecordError::SharesDoNotCombine {
        detail: e.to_string(),
    })?;
    let mut key = Box::new([0u8; 32]);
    if secret.len() != 32 {
        secret.zeroize();
        return Err(RecordError::SharesHoldNoKey.into());
    }
    key.copy_from_slice(&secret);
    secret.zeroize();
    Ok(UnsealKey::new(key))
}

fn point_from_raw(share: &[u8]) -> Result<SharePoint> {
    if share.len() != 33 {
        return Err(RecordError::SplitShareSize.into());
    }
    let mut y = Zeroizing::new([0u8; 32]);
    y.copy_from_slice(&share[1..]);
    Ok(SharePoint { x: share[0], y })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use proptest::prelude::*;

    fn key(b: u8) -> UnsealKey {
        let mut k = [0u8; 32];
        for (i, v) in k.iter_mut().enumerate() {
            *v = b.wrapping_add(i as u8);
        }
        UnsealKey::new(Box::new(k))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Any `t` of the `n` shares give U back; any `t - 1` give something else.
        #[test]
        fn any_quorum_recovers_and_less_does_not(
            (t, n) in (2u8..=9).prop_flat_map(|n| (2u8..=n, Just(n))),
            seed in any::<u8>(),
            pick in any::<u64>(),
        ) {
            let u = key(seed);
            let shares = split(&u, t, n).unwrap();
            prop_assert_eq!(shares.len(), usize::from(n));
            // A pseudo-random choice of t distinct shares, driven by `pick`.
            let mut order: Vec<usize> = (0..usize::from(n)).collect();
            let mut p = pick;
            for i in (1..order.len()).rev() {
                order.swap(i, (p % (i as u64 + 1)) as usize);
                p /= i as u64 + 1;
            }
            let chosen: Vec<&SharePoint> = order[..usize::from(t)].iter().map(|&i| &shares[i]).collect();
            let got = combine(&chosen).unwrap();
            prop_assert_eq!(got.expose(), u.expose());
            let fewer = &chosen[..usize::from(t) - 1];
            if fewer.len() >= 2 {
                let wrong = combine(fewer).unwrap();
                prop_assert_ne!(wrong.expose(), u.expose());
            }
        }
    }

    #[test]
    fn one_of_n_is_copies() {
        let u = key(7);
        let shares = split(&u, 1, 3).unwrap();
        for s in &shares {
            assert_eq!(combine(&[s]).unwrap().expose(), u.expose());
        }
    }

    #[test]
    fn duplicate_x_is_refused() {
        let u = key(1);
        let shares = split(&u, 2, 3).unwrap();
        let err = combine(&[&shares[0], &shares[0]]).unwrap_err();
        assert!(
            matches!(
                err.cause(),
                Error::Record(RecordError::SharesDoNotCombine { .. })
            ),
            "{err:?}"
        );
        assert_eq!(err.exit_code(), 3);
    }

    #[test]
    fn threshold_above_n_is_refused() {
        let err = split(&key(1), 4, 3).unwrap_err();
        assert!(
            matches!(
                err.cause(),
                Error::Record(RecordError::ThresholdDoesNotFit {
                    threshold: 4,
                    custodians: 3
                })
            ),
            "{err:?}"
        );
    }
}
