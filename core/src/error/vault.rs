//! The vault area: the OpenBao/Vault server zeroth delivers to.

use super::{Kind, area};

/// What went wrong with the vault server.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {}

impl VaultError {
    /// Who can fix it.
    pub fn kind(&self) -> Kind {
        match *self {}
    }
}

area!(VaultError, Vault);
