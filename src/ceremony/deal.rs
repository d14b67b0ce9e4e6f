//! Dealing a share set: what generate, import, rekey and rotate share.
//!
//! A new set always comes with a new unseal key U (HSM random XOR OS random), a new
//! blob sealed under it, and commitments to every share, bound to the seal id and the
//! set number. How the shares reach their custodians is `distribute`'s business.

use zeroize::Zeroize;

use crate::error::{CeremonyError, Result};
use crate::keystore::KeyStore;
use crate::recipient::CustodianSpec;
use crate::seal::{Custodian, SealRecord};
use crate::secret::UnsealKey;
use crate::shamir;
use crate::share::{Binding, Payload, Share, commitment};

/// U = HSM random XOR OS random: neither a weak token RNG nor a weak OS RNG alone
/// makes U guessable.
pub(crate) fn unseal_key(session: &dyn KeyStore) -> Result<UnsealKey> {
    let mut from_hsm = [0u8; 32];
    session.random(&mut from_hsm)?;
    let mut u = Box::new([0u8; 32]);
    getrandom::fill(&mut u[..]).map_err(|e| CeremonyError::RandomFailed {
        detail: e.to_string(),
    })?;
    for (a, b) in u.iter_mut().zip(&from_hsm) {
        *a ^= b;
    }
    from_hsm.zeroize();
    Ok(UnsealKey::new(u))
}

/// Deals a new share set for `view`, the record as it will be with this set (its id,
/// env, version, set, threshold, key and credential already filled in): draws U, splits
/// it among `custodians` in order, fills `view.custodians` with their commitments, and
/// seals `wrapped` into `view.blob` under U. Returns each custodian's share.
pub(crate) fn deal(
    session: &dyn KeyStore,
    view: &mut SealRecord,
    custodians: &[CustodianSpec],
    wrapped: &[u8],
) -> Result<Vec<(String, Share)>> {
    let u = unseal_key(session)?;
    let seal_id = view.id_bytes()?;
    let n = u8::try_from(custodians.len()).map_err(|_| CeremonyError::TooManyCustodians {
        count: custodians.len(),
    })?;
    let points = shamir::split(&u, view.threshold, n)?;
    view.custodians = custodians
        .iter()
        .zip(&points)
        .map(|(c, p)| Custodian {
            name: c.name.clone(),
            x: p.x,
            recipient: c.recipient.clone(),
            commitment: hex::encode(commitment(&seal_id, view.set, p)),
            last_proven: None,
        })
        .collect();
    view.seal_blob(&u, wrapped)?;
    Ok(custodians
        .iter()
        .zip(points)
        .map(|(c, point)| {
            (
                c.name.clone(),
                Share {
                    seal: view.name.clone(),
                    env: view.env.clone(),
                    custodian: c.name.clone(),
                    n,
                    set: Some(view.set),
                    payload: Payload {
                        binding: Binding::new(crate::share::CURRENT_FORMAT, seal_id, view.set),
                        threshold: view.threshold,
                        point,
                    },
                },
            )
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keystore::double::SoftToken;

    fn custodians(names: &[&str]) -> Vec<CustodianSpec> {
        names
            .iter()
            .map(|n| CustodianSpec {
                name: n.to_string(),
                recipient: None,
            })
            .collect()
    }

    #[test]
    fn any_quorum_of_a_dealt_set_opens_the_blob_and_no_less() {
        let token = SoftToken::default();
        let mut view = crate::ceremony::tests::record();
        view.threshold = 2;
        let shares = deal(
            &token,
            &mut view,
            &custodians(&["ann", "ben", "cat"]),
            b"wrapped",
        )
        .unwrap();
        assert_eq!(shares.len(), 3);
        assert_eq!(view.custodians.len(), 3);
        let seal_id = view.id_bytes().unwrap();
        for ((name, share), c) in shares.iter().zip(&view.custodians) {
            assert_eq!(name, &c.name);
            assert_eq!(share.custodian, c.name);
            let expected = hex::encode(commitment(&seal_id, view.set, &share.payload.point));
            assert_eq!(c.commitment, expected, "{name}'s commitment");
        }
        for pair in [[0, 1], [0, 2], [1, 2]] {
            let points: Vec<_> = pair.iter().map(|&i| &shares[i].1.payload.point).collect();
            let u = shamir::combine(&points).unwrap();
            assert_eq!(&*view.open_blob(&u).unwrap(), b"wrapped", "{pair:?}");
        }
        let one = shamir::combine(&[&shares[0].1.payload.point]);
        assert!(one.is_err() || view.open_blob(&one.unwrap()).is_err());
    }

    #[test]
    fn two_deals_draw_two_unseal_keys() {
        let token = SoftToken::default();
        let a = unseal_key(&token).unwrap();
        let b = unseal_key(&token).unwrap();
        assert_ne!(a.expose(), b.expose());
    }
}
