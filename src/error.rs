//! zeroth's error type (zeroth-core's `error`), and how a cryptoki error becomes one:
//! a failed PKCS#11 call keeps its function and return value as data
//! ([`HsmError::Pkcs11`]).

pub use zeroth_core::error::*;

use cryptoki::error::{Rv, RvError};

/// Wraps a cryptoki error met while doing `context`: an [`HsmError::Pkcs11`] when a
/// PKCS#11 function returned an error, else an [`HsmError::Cryptoki`] (the module could
/// not be loaded, a value could not be converted).
pub fn hsm(context: &str, err: cryptoki::error::Error) -> Error {
    hsm_with(format!("{context}: {}", describe_pkcs11(&err)), &err)
}

/// [`hsm`] with a message of the caller's own: `message` says what failed and what to
/// do, and already names the call (made with [`describe_pkcs11`]).
pub fn hsm_with(message: String, err: &cryptoki::error::Error) -> Error {
    match call(err) {
        Some((function, rv)) => Error::from(Pkcs11Failure {
            message,
            function,
            rv,
        }),
        None => Error::Hsm(HsmError::Cryptoki {
            message,
            reason: describe_pkcs11(err),
        }),
    }
}

/// The function (`C_Login`) and the return value of a failed PKCS#11 call.
pub fn call(err: &cryptoki::error::Error) -> Option<(String, u64)> {
    match err {
        cryptoki::error::Error::Pkcs11(rv, func) => Some((format!("C_{func:?}"), rv_number(*rv))),
        _ => None,
    }
}

/// The `CK_RV` of a cryptoki return value. cryptoki maps numbers to its enum but not
/// back, so the number is found by mapping the specification's range (a vendor's own
/// value carries its number).
fn rv_number(rv: RvError) -> u64 {
    match rv {
        RvError::VendorDefined(n) | RvError::UnknownErrorCode(n) => n,
        _ => (0..0x200)
            .find(|&n| Rv::from(n) == Rv::Error(rv))
            .unwrap_or(u64::MAX),
    }
}

/// Returns the PKCS#11 return value of `err` as its specification name
/// (`CKR_PIN_INCORRECT`), if `err` carries one.
pub fn rv_name(err: &cryptoki::error::Error) -> Option<String> {
    match err {
        cryptoki::error::Error::Pkcs11(rv, _) => Some(name_of(*rv)),
        _ => None,
    }
}

/// Describes a cryptoki error as `C_Function returned CKR_NAME (0x…)`, the way PKCS#11
/// documentation and vendor support speak of it.
pub fn describe_pkcs11(err: &cryptoki::error::Error) -> String {
    match err {
        cryptoki::error::Error::Pkcs11(rv, func) => {
            returned(&format!("C_{func:?}"), &name_of(*rv), rv_number(*rv))
        }
        cryptoki::error::Error::LibraryLoading(e) => {
            format!("the module could not be loaded ({e})")
        }
        other => other.to_string(),
    }
}

/// The specification's name of `rv`: zeroth-core's table, else cryptoki's variant name
/// turned into the specification's form.
fn name_of(rv: RvError) -> String {
    match ckr_name(rv_number(rv)) {
        Some(name) => name.to_string(),
        None => ckr_from_debug(&format!("{rv:?}")),
    }
}

/// `PinIncorrect` → `CKR_PIN_INCORRECT`. cryptoki names return values in CamelCase;
/// people and vendor manuals use the specification's names.
fn ckr_from_debug(camel: &str) -> String {
    let mut out = String::from("CKR_");
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use cryptoki::context::Function;

    #[test]
    fn a_failed_call_keeps_its_function_and_return_value_as_data() {
        let err = hsm(
            "cannot log in",
            cryptoki::error::Error::Pkcs11(RvError::PinIncorrect, Function::Login),
        );
        let failed = err.pkcs11().expect("a PKCS#11 failure");
        assert_eq!(failed.function, "C_Login");
        assert_eq!(failed.rv, 0xA0);
        assert_eq!(failed.rv_name(), "CKR_PIN_INCORRECT");
        assert_eq!(
            err.message(),
            "cannot log in: C_Login returned CKR_PIN_INCORRECT (0xA0)"
        );
        assert_eq!(err.exit_code(), 4);
    }

    #[test]
    fn a_cryptoki_error_without_a_return_value_is_typed_too() {
        let err = hsm(
            "cannot read the slots",
            cryptoki::error::Error::NullFunctionPointer,
        );
        assert!(
            matches!(err.cause(), Error::Hsm(HsmError::Cryptoki { .. })),
            "{err:?}"
        );
        assert!(err.pkcs11().is_none());
        assert_eq!(err.exit_code(), 4);
    }

    #[test]
    fn every_return_value_cryptoki_knows_maps_back_to_its_number() {
        for n in 1..0x200u64 {
            if let Rv::Error(e) = Rv::from(n)
                && !matches!(e, RvError::UnknownErrorCode(_))
            {
                assert_eq!(rv_number(e), n, "{e:?}");
            }
        }
        assert_eq!(rv_number(RvError::VendorDefined(0x8000_0101)), 0x8000_0101);
        assert_eq!(ckr_from_debug("TokenNotPresent"), "CKR_TOKEN_NOT_PRESENT");
    }
}
