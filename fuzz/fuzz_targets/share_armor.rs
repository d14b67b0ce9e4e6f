//! The share file, as a custodian's file or a pasted text: any text is refused with a
//! message or read, and what is read writes back in zeroth's own form and reads back
//! the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zeroth_core::share::Share;

fuzz_target!(|text: &str| {
    if let Ok(share) = Share::from_armor(text) {
        let armor = share.to_armor();
        let again = Share::from_armor(&armor).expect("a share zeroth wrote reads back");
        assert_eq!(again.seal, share.seal);
        assert_eq!(again.env, share.env);
        assert_eq!(again.custodian, share.custodian);
        assert_eq!(again.n, share.n);
        assert_eq!(again.set, share.set);
        assert_eq!(*again.payload.to_bytes(), *share.payload.to_bytes());
        assert_eq!(*again.to_armor(), *armor);
    }
});
