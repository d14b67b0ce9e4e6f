//! The record area: shares, seal records, hand-ins and custodian keys.

use super::{Kind, area};

/// What is wrong with a share, a record, a hand-in or a custodian key.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {}

impl RecordError {
    /// Who can fix it.
    pub fn kind(&self) -> Kind {
        match *self {}
    }
}

area!(RecordError, Record);
