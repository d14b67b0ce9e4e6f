//! Which wrap mechanism a token offers, chosen once at `env init` and recorded.

use cryptoki::context::Pkcs11;
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::slot::Slot;

use crate::error::{HsmError, Result};
pub use zeroth_core::mechanism::{WRAP_PREFERENCE, WrapMechanism};

/// How a [`WrapMechanism`] is asked of cryptoki.
pub(crate) trait Cryptoki {
    /// The mechanism's type, as a token lists what it offers.
    fn mechanism_type(self) -> MechanismType;
    /// The mechanism, as `C_WrapKey` and `C_UnwrapKey` take it.
    fn mechanism(self) -> Mechanism<'static>;
}

impl Cryptoki for WrapMechanism {
    fn mechanism_type(self) -> MechanismType {
        match self {
            WrapMechanism::AesKeyWrapPad => MechanismType::AES_KEY_WRAP_PAD,
            WrapMechanism::AesKeyWrap => MechanismType::AES_KEY_WRAP,
        }
    }

    fn mechanism(self) -> Mechanism<'static> {
        match self {
            WrapMechanism::AesKeyWrapPad => Mechanism::AesKeyWrapPad,
            WrapMechanism::AesKeyWrap => Mechanism::AesKeyWrap,
        }
    }
}

/// What a token must offer besides a wrap mechanism, and what each is for.
pub const REQUIRED: [(MechanismType, &str, &str); 3] = [
    (
        MechanismType::AES_KEY_GEN,
        "CKM_AES_KEY_GEN",
        "generate K_seal",
    ),
    (
        MechanismType::ECC_KEY_PAIR_GEN,
        "CKM_EC_KEY_PAIR_GEN",
        "generate the signing key",
    ),
    (
        MechanismType::ECDSA,
        "CKM_ECDSA",
        "sign records and log entries",
    ),
];

/// What a mechanism must be offered for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Use {
    /// `CKF_WRAP` and `CKF_UNWRAP`: sealing, so that the seal can be opened later.
    WrapAndUnwrap,
    /// `CKF_UNWRAP`: opening a seal.
    Unwrap,
    /// `CKF_SIGN`.
    Sign,
    /// `CKF_GENERATE`.
    Generate,
}

/// A mechanism a ceremony needs the token to offer, and why: checked before the PIN is
/// asked for, so a token that lacks it is named before anyone's time is spent.
#[derive(Clone, Debug)]
pub struct Need {
    mech: MechanismType,
    name: &'static str,
    usage: Use,
    why: String,
}

impl Need {
    /// The recorded wrap mechanism, for both wrap and unwrap (sealing).
    pub fn wrap(mech: WrapMechanism, why: impl Into<String>) -> Need {
        Need {
            mech: mech.mechanism_type(),
            name: mech.name(),
            usage: Use::WrapAndUnwrap,
            why: why.into(),
        }
    }

    /// The recorded wrap mechanism, for unwrap (opening a seal).
    pub fn unwrap(mech: WrapMechanism, why: impl Into<String>) -> Need {
        Need {
            mech: mech.mechanism_type(),
            name: mech.name(),
            usage: Use::Unwrap,
            why: why.into(),
        }
    }

    /// `CKM_AES_KEY_GEN`, to make K_seal.
    pub fn seal_key_generation() -> Need {
        Need {
            mech: MechanismType::AES_KEY_GEN,
            name: "CKM_AES_KEY_GEN",
            usage: Use::Generate,
            why: "generate K_seal".into(),
        }
    }

    /// `CKM_GENERIC_SECRET_KEY_GEN`, to generate the credential in the HSM.
    pub fn secret_generation(why: impl Into<String>) -> Need {
        Need {
            mech: MechanismType::GENERIC_SECRET_KEY_GEN,
            name: "CKM_GENERIC_SECRET_KEY_GEN",
            usage: Use::Generate,
            why: why.into(),
        }
    }

    /// `CKM_ECDSA`, to sign records (the digest is computed on the host).
    pub fn signing(why: impl Into<String>) -> Need {
        Need {
            mech: MechanismType::ECDSA,
            name: "CKM_ECDSA",
            usage: Use::Sign,
            why: why.into(),
        }
    }
}

/// Checks that the token in `slot` lists every mechanism of `needs` with the flags
/// asked. The first one missing is refused with its name, what it is needed for, the
/// token and the module.
pub fn require(
    ctx: &Pkcs11,
    slot: Slot,
    token: &str,
    serial: &str,
    module: &std::path::Path,
    needs: &[Need],
) -> Result<()> {
    if needs.is_empty() {
        return Ok(());
    }
    let listed = ctx.get_mechanism_list(slot).map_err(|e| {
        crate::error::hsm(
            &format!(
                "cannot list the mechanisms of token '{token}' in {}",
                module.display()
            ),
            e,
        )
    })?;
    for need in needs {
        let info = if listed.contains(&need.mech) {
            mechanism_info(ctx, slot, need.mech).map_err(|e| {
                crate::error::hsm(
                    &format!(
                        "cannot read the flags of {} on token '{token}' in {}",
                        need.name,
                        module.display()
                    ),
                    e,
                )
            })?
        } else {
            None
        };
        let (ok, missing_for) = match (&info, need.usage) {
            (None, _) => (false, None),
            (Some(i), Use::WrapAndUnwrap) => (i.wrap() && i.unwrap(), Some("both wrap and unwrap")),
            (Some(i), Use::Unwrap) => (i.unwrap(), Some("unwrap")),
            (Some(i), Use::Sign) => (i.sign(), Some("signing")),
            (Some(i), Use::Generate) => (i.generate(), Some("key generation")),
        };
        if !ok {
            return Err(HsmError::MechanismMissing {
                token: token.to_string(),
                serial: serial.to_string(),
                module: module.into(),
                mechanism: need.name,
                missing_for,
                why: need.why.as_str().into(),
            }
            .into());
        }
    }
    Ok(())
}

/// Returns true if and only if the token in `slot` has `mech` with every flag asked; a
/// failure of the token itself (anything but `CKR_MECHANISM_INVALID`) is an error, not
/// a "no".
pub fn offers(
    ctx: &Pkcs11,
    slot: Slot,
    mech: MechanismType,
    wrap_unwrap: bool,
) -> std::result::Result<bool, cryptoki::error::Error> {
    Ok(mechanism_info(ctx, slot, mech)?
        .is_some_and(|info| !wrap_unwrap || (info.wrap() && info.unwrap())))
}

/// `C_GetMechanismInfo` of `mech`: `None` when the token answers that it has no such
/// mechanism (`CKR_MECHANISM_INVALID`); any other failure is the token's, and is
/// returned, never read as "not offered".
fn mechanism_info(
    ctx: &Pkcs11,
    slot: Slot,
    mech: MechanismType,
) -> std::result::Result<Option<cryptoki::mechanism::MechanismInfo>, cryptoki::error::Error> {
    match ctx.get_mechanism_info(slot, mech) {
        Ok(info) => Ok(Some(info)),
        Err(cryptoki::error::Error::Pkcs11(cryptoki::error::RvError::MechanismInvalid, _)) => {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Picks the wrap mechanism for `token`: `forced` if given and offered, else the first
/// of [`WRAP_PREFERENCE`] the token offers with both wrap and unwrap. Also checks the
/// mechanisms every ceremony needs.
pub fn negotiate(
    ctx: &Pkcs11,
    token: &super::Token,
    module: &std::path::Path,
    forced: Option<WrapMechanism>,
) -> Result<WrapMechanism> {
    let (slot, label, serial) = (token.slot, &token.label, &token.serial);
    let listed = ctx.get_mechanism_list(slot).map_err(|e| {
        crate::error::hsm(
            &format!(
                "cannot list the mechanisms of token '{label}' in {}",
                module.display()
            ),
            e,
        )
    })?;
    for (mech, name, why) in REQUIRED {
        if !listed.contains(&mech) {
            return Err(HsmError::RequiredMechanismMissing {
                token: label.clone(),
                serial: serial.clone(),
                module: module.into(),
                mechanism: name,
                why,
            }
            .into());
        }
    }
    let mut offered_flags = Vec::new();
    for m in WRAP_PREFERENCE {
        let ok = listed.contains(&m.mechanism_type())
            && offers(ctx, slot, m.mechanism_type(), true).map_err(|e| {
                crate::error::hsm(
                    &format!(
                        "cannot read the flags of {m} on token '{label}' in {}",
                        module.display()
                    ),
                    e,
                )
            })?;
        offered_flags.push((m, ok));
    }
    let usable = |m: WrapMechanism| offered_flags.iter().any(|&(o, ok)| o == m && ok);
    let offered: Vec<&str> = WRAP_PREFERENCE
        .into_iter()
        .filter(|&m| usable(m))
        .map(WrapMechanism::name)
        .collect();
    match forced {
        Some(m) if usable(m) => Ok(m),
        Some(m) => Err(HsmError::WrapMechanismNotOffered {
            token: label.clone(),
            serial: serial.clone(),
            module: module.into(),
            mechanism: m.name(),
            offered,
        }
        .into()),
        None => WRAP_PREFERENCE
            .into_iter()
            .find(|&m| usable(m))
            .ok_or_else(|| {
                HsmError::NoWrapMechanism {
                    token: label.clone(),
                    serial: serial.clone(),
                    module: module.into(),
                }
                .into()
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_lengths() {
        assert_eq!(WrapMechanism::AesKeyWrapPad.object_len(5), 5);
        assert_eq!(WrapMechanism::AesKeyWrap.object_len(5), 16);
        assert_eq!(WrapMechanism::AesKeyWrap.object_len(16), 16);
        assert_eq!(WrapMechanism::AesKeyWrap.object_len(17), 24);
        assert_eq!(WrapMechanism::AesKeyWrap.object_len(32), 32);
    }

    #[test]
    fn names_parse() {
        assert_eq!(
            WrapMechanism::parse("ckm_aes_key_wrap").unwrap(),
            WrapMechanism::AesKeyWrap
        );
        assert_eq!(
            WrapMechanism::parse("AES-KEY-WRAP-PAD").unwrap(),
            WrapMechanism::AesKeyWrapPad
        );
        assert!(WrapMechanism::parse("CKM_DES").is_err());
    }
}
