//! The ceremonies that deliver to an OpenBao or Vault server: `vault init` (seal the
//! root key a new server hands out), `vault unseal`, `vault rotate` (a new unseal key
//! on the server, then the seal's), `vault root` (a short-lived root token). The
//! server's API client is [`crate::vault`].

pub mod init;
pub mod root;
pub mod rotate;
pub mod unseal;
