//! The trust area: the trust file and the pins it holds (signing keys, modules, tokens).

use super::{Kind, area};

/// What went wrong with the trust file or a pin.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {}

impl TrustError {
    /// Who can fix it.
    pub fn kind(&self) -> Kind {
        match *self {}
    }
}

area!(TrustError, Trust);
