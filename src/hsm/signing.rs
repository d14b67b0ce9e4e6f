//! The environment's signing key on the token, as the log signs with it.

use zeroth_core::audit::LogSigner;

use super::HsmSession;
use crate::error::Result;
use crate::key::PublicKey;

/// The environment's HSM key: the session, the key handle and its public key.
pub struct Signing<'a> {
    /// The logged-in session on the environment's token.
    pub session: &'a HsmSession<'a>,
    /// The signing key.
    pub key: cryptoki::object::ObjectHandle,
    /// Its public half.
    pub public: &'a PublicKey,
    /// The token's log anchor as this ceremony last read or wrote it (`None`: not read
    /// yet): the ceremony holds the store and log locks, so nothing else moves it.
    pub anchor: &'a std::cell::RefCell<Option<Option<(u64, String)>>>,
}

impl LogSigner for Signing<'_> {
    fn fingerprint(&self) -> String {
        self.public.fingerprint()
    }

    fn public_key(&self) -> &PublicKey {
        self.public
    }

    fn anchored(&self, env: &str) -> Result<Option<(u64, String)>> {
        if let Some(known) = self.anchor.borrow().clone() {
            return Ok(known);
        }
        let read = self.session.log_anchor(env)?;
        *self.anchor.borrow_mut() = Some(read.clone());
        Ok(read)
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>> {
        self.session.sign(self.key, message)
    }

    fn anchor(&self, env: &str, seq: u64, hash: &str) -> Result<()> {
        // Whatever happens, read it afresh next time unless it is known to be moved.
        *self.anchor.borrow_mut() = None;
        self.session.set_log_anchor(env, seq, hash)?;
        *self.anchor.borrow_mut() = Some(Some((seq, hash.to_string())));
        Ok(())
    }
}
