//! The ceremony area: a ceremony's own refusals (quorum, state, approvals).

use super::{Kind, area};

/// Why a ceremony refuses.
#[derive(Debug, thiserror::Error)]
pub enum CeremonyError {}

impl CeremonyError {
    /// Who can fix it.
    pub fn kind(&self) -> Kind {
        match *self {}
    }
}

area!(CeremonyError, Ceremony);
