//! Signature verification runs on `ring`; the `p256` crate (RustCrypto) is the second
//! opinion. Over generated keys, messages and signatures — valid, high-S, from another
//! key, over another message, and damaged in every way the bytes allow — the two agree
//! on every verdict.

use p256::ecdsa::signature::Signer;
use proptest::prelude::*;
use zeroth::key::PublicKey;

fn key(seed: [u8; 32]) -> Option<(p256::ecdsa::SigningKey, PublicKey)> {
    let sk = p256::ecdsa::SigningKey::from_slice(&seed).ok()?;
    let public = PublicKey {
        key: p256::PublicKey::from(sk.verifying_key()),
    };
    Some((sk, public))
}

/// The same signature with `n - s`: valid in ECDSA, and what some HSMs return.
fn high_s(sig: &p256::ecdsa::Signature) -> p256::ecdsa::Signature {
    let (r, s) = sig.split_scalars();
    let neg = -s;
    p256::ecdsa::Signature::from_scalars(r, neg).unwrap()
}

fn agree(public: &PublicKey, message: &[u8], der: &[u8]) -> bool {
    let fast = public.verify(message, der);
    let second = public.verify_rustcrypto(message, der);
    assert_eq!(
        fast,
        second,
        "ring says {fast}, p256 says {second} for signature {}",
        hex::encode(der)
    );
    fast
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn ring_and_p256_agree_on_every_verdict(
        seed in any::<[u8; 32]>(),
        other in any::<[u8; 32]>(),
        message in proptest::collection::vec(any::<u8>(), 0..512),
        at in any::<usize>(),
        flip in 1u8..=255,
        extra in any::<u8>(),
    ) {
        let Some((sk, public)) = key(seed) else { return Ok(()) };
        let sig: p256::ecdsa::Signature = sk.sign(&message);
        let der = sig.to_der().as_bytes().to_vec();
        prop_assert!(agree(&public, &message, &der), "a valid signature is refused");
        let high = high_s(&sig).to_der().as_bytes().to_vec();
        prop_assert!(agree(&public, &message, &high), "a high-S signature is refused");

        let mut other_message = message.clone();
        other_message.push(extra);
        prop_assert!(!agree(&public, &other_message, &der));
        if let Some((other_sk, _)) = key(other)
            && other != seed {
                let theirs: p256::ecdsa::Signature = other_sk.sign(&message);
                prop_assert!(!agree(&public, &message, theirs.to_der().as_bytes()));
            }
        // Every byte damaged, the encoding cut short or lengthened, raw r||s, nothing.
        let mut damaged = der.clone();
        damaged[at % der.len()] ^= flip;
        agree(&public, &message, &damaged);
        agree(&public, &message, &der[..at % der.len()]);
        let mut longer = der.clone();
        longer.push(extra);
        prop_assert!(!agree(&public, &message, &longer));
        agree(&public, &message, &sig.to_bytes());
        prop_assert!(!agree(&public, &message, &[]));
    }
}
