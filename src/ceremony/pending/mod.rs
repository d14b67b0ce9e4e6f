//! Two-step ceremonies, as in a vault's rekey with verification: the first step writes
//! a new share set as *pending* under an operation id while the current set keeps
//! working; `--confirm ID` with a quorum of the **new** shares makes it current and
//! destroys the old K_seal; `--cancel ID` drops it. Rekey and rotate both go through
//! here.
//!
//! Order of work, so that a crash at any step leaves the credential recoverable by the
//! old set or the new one, never neither:
//!
//! start:   new K_seal → new share files → record with `pending` (atomic).
//!          Before the record is written the old set is untouched; what was made (a
//!          key no record references, share files that open nothing) is reported and
//!          removed by `zeroth cleanup`.
//! confirm: new set proven (combine, open, unwrap) → record switched (atomic) → old
//!          K_seal destroyed. Until the switch the old set works and confirm can be
//!          run again; after it the new set works, and an old K_seal a crash left
//!          behind is an orphan `zeroth cleanup` destroys.
//! cancel:  record without `pending` (atomic) → pending K_seal destroyed (or left as an
//!          orphan for `cleanup`).
//!
//! Each step has its own module (`start`, `confirm`, `cancel`); what they share is
//! here.

mod cancel;
mod confirm;
mod start;

pub use cancel::cancel;
pub use confirm::confirm;
pub(crate) use confirm::confirm_with;
pub use start::{NewCredential, Start, precheck, start};

use crate::error::{CeremonyError, Error, Result};
use crate::keystore::{Key, KeyStore};
use crate::seal::SealRecord;

/// Finds the K_seal of the current set, or refuses saying it is gone.
fn find_current_key(session: &dyn KeyStore, record: &SealRecord) -> Result<Key> {
    let key_id = record.key_id_bytes()?;
    session
        .find_seal_key(&record.key.label, &key_id)?
        .ok_or_else(|| {
            Error::from(CeremonyError::CurrentKeyMissing {
                label: record.key.label.clone(),
                seal: record.name.clone(),
                token: session.token_label().to_string(),
            })
        })
}
