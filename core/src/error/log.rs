//! The log area: the ceremony log's lines, chain, signatures and anchor.

use super::{Kind, area};

/// What is wrong with the ceremony log.
#[derive(Debug, thiserror::Error)]
pub enum LogError {}

impl LogError {
    /// Who can fix it.
    pub fn kind(&self) -> Kind {
        match *self {}
    }
}

area!(LogError, Log);
