//! A hand-in or a request, as it arrives from any channel (a watched folder, a paste, a
//! custodian's mail): any text is refused with a message or read, never a panic (a
//! header of any bytes included), and what is read writes back in zeroth's own form and
//! reads back the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zeroth_core::handin::{HandIn, Inner, Request, fingerprint_of_text, is_ceremony_id, short};

fuzz_target!(|text: &str| {
    let _ = fingerprint_of_text(text);
    let _ = short(text);
    if let Ok(h) = HandIn::from_armor(text) {
        assert!(is_ceremony_id(&h.ceremony));
        let _ = short(&h.ceremony);
        let again = HandIn::from_armor(&h.to_armor()).expect("a hand-in zeroth wrote reads back");
        assert_eq!(again.ceremony, h.ceremony);
        assert_eq!(again.ciphertext, h.ciphertext);
        assert_eq!(again.fingerprint(), h.fingerprint());
    }
    if let Ok(inner) = Inner::from_text(text) {
        let again = Inner::from_text(&inner.to_text()).expect("a hand-in's content reads back");
        assert_eq!(again.ceremony, inner.ceremony);
        assert_eq!(again.custodian, inner.custodian);
    }
    if let Ok(r) = Request::from_armor(text) {
        let _ = r.short_id();
        if let Ok(armor) = r.to_armor() {
            let again = Request::from_armor(&armor).expect("a request zeroth wrote reads back");
            assert_eq!(again, r);
        }
    }
});
