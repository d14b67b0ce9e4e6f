//! The PKCS#11 session as the ceremonies' [`KeyStore`]: each method is the session's
//! own, with its object handles named by [`Key`]s.

use cryptoki::object::ObjectHandle;

use super::HsmSession;
use crate::error::{HsmError, Result};
use crate::key::PublicKey;
use crate::keystore::{Key, KeyStore, LogAnchor};
use crate::mechanism::WrapMechanism;
use crate::secret::Credential;

impl HsmSession<'_> {
    /// The [`Key`] that names `handle` in this session.
    fn key(&self, handle: ObjectHandle) -> Key {
        let mut handles = self.handles.borrow_mut();
        if let Some(i) = handles.iter().position(|h| *h == handle) {
            return Key(i as u32);
        }
        handles.push(handle);
        Key((handles.len() - 1) as u32)
    }

    /// The object handle a [`Key`] of this session names.
    fn object(&self, key: Key) -> Result<ObjectHandle> {
        self.handles
            .borrow()
            .get(key.0 as usize)
            .copied()
            .ok_or_else(|| HsmError::UnknownKey { key: key.0 }.into())
    }
}

impl KeyStore for HsmSession<'_> {
    fn token_label(&self) -> &str {
        &self.token().label
    }

    fn token_serial(&self) -> &str {
        &self.token().serial
    }

    fn marker(&self) -> Result<Option<String>> {
        HsmSession::marker(self)
    }

    fn write_marker(&self, env: &str) -> Result<Key> {
        HsmSession::write_marker(self, env).map(|h| self.key(h))
    }

    fn generate_signing_key(&self, env: &str, id: &[u8]) -> Result<(Key, Key, PublicKey)> {
        let (private, public, key) = HsmSession::generate_signing_key(self, env, id)?;
        Ok((self.key(private), self.key(public), key))
    }

    fn signing_key(&self, env: &str, id: &[u8]) -> Result<(Key, PublicKey)> {
        let (h, public) = HsmSession::signing_key(self, env, id)?;
        Ok((self.key(h), public))
    }

    fn signing_keys_by_label(&self, env: &str) -> Result<Vec<(Vec<u8>, Key, PublicKey)>> {
        Ok(HsmSession::signing_keys_by_label(self, env)?
            .into_iter()
            .map(|(id, h, public)| (id, self.key(h), public))
            .collect())
    }

    fn sign(&self, key: Key, message: &[u8]) -> Result<Vec<u8>> {
        HsmSession::sign(self, self.object(key)?, message)
    }

    fn random(&self, buf: &mut [u8]) -> Result<()> {
        HsmSession::random(self, buf)
    }

    fn generate_seal_key(&self, label: &str, id: &[u8]) -> Result<Key> {
        HsmSession::generate_seal_key(self, label, id).map(|h| self.key(h))
    }

    fn find_seal_key(&self, label: &str, id: &[u8]) -> Result<Option<Key>> {
        Ok(HsmSession::find_seal_key(self, label, id)?.map(|h| self.key(h)))
    }

    fn secret_keys_labelled(&self, label: &str) -> Result<Vec<Key>> {
        Ok(HsmSession::secret_keys_labelled(self, label)?
            .into_iter()
            .map(|h| self.key(h))
            .collect())
    }

    fn seal_keys_with_prefix(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>> {
        HsmSession::seal_keys_with_prefix(self, prefix)
    }

    fn seal_key_objects(&self, prefix: &str) -> Result<Vec<(Key, String, Vec<u8>)>> {
        Ok(HsmSession::seal_key_objects(self, prefix)?
            .into_iter()
            .map(|(h, label, id)| (self.key(h), label, id))
            .collect())
    }

    fn log_anchor(&self, env: &str) -> Result<Option<LogAnchor>> {
        HsmSession::log_anchor(self, env)
    }

    fn set_log_anchor(&self, env: &str, seq: u64, hash: &str) -> Result<()> {
        HsmSession::set_log_anchor(self, env, seq, hash)
    }

    fn generate_credential(&self, length: usize) -> Result<Key> {
        HsmSession::generate_credential(self, length).map(|h| self.key(h))
    }

    fn import_credential(&self, value: &[u8]) -> Result<Key> {
        HsmSession::import_credential(self, value).map(|h| self.key(h))
    }

    fn wrap(&self, mech: WrapMechanism, kseal: Key, key: Key) -> Result<Vec<u8>> {
        HsmSession::wrap(self, mech, self.object(kseal)?, self.object(key)?)
    }

    fn unwrap_credential(
        &self,
        mech: WrapMechanism,
        kseal: Key,
        wrapped: &[u8],
    ) -> Result<Credential> {
        HsmSession::unwrap_credential(self, mech, self.object(kseal)?, wrapped)
    }

    fn unwrap_for_rewrap(&self, mech: WrapMechanism, kseal: Key, wrapped: &[u8]) -> Result<Key> {
        HsmSession::unwrap_for_rewrap(self, mech, self.object(kseal)?, wrapped).map(|h| self.key(h))
    }

    fn destroy(&self, key: Key) -> Result<()> {
        HsmSession::destroy(self, self.object(key)?)
    }

    fn destroyable(&self, key: Key) -> Result<bool> {
        HsmSession::destroyable(self, self.object(key)?)
    }
}
