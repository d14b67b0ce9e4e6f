//! The remote-quorum area: requests, and hand-ins sent and received.

use super::{Kind, area};

/// What went wrong in a remote quorum.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {}

impl RemoteError {
    /// Who can fix it.
    pub fn kind(&self) -> Kind {
        match *self {}
    }
}

area!(RemoteError, Remote);
