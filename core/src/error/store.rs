//! The store area: its configuration, layout, locks and files.

use super::{Kind, area};

/// What went wrong with the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {}

impl StoreError {
    /// Who can fix it.
    pub fn kind(&self) -> Kind {
        match *self {}
    }
}

area!(StoreError, Store);
