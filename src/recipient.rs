//! Custodian recipients: a share encrypted with age to the custodian who holds it.
//!
//! A recipient is an age X25519 recipient (`age1…`), an SSH public key (`ssh-ed25519`
//! or `ssh-rsa`, as age supports them), or `passphrase`: the custodian types a
//! passphrase on the terminal and the share is encrypted with age's scrypt mode. The
//! share file is then age's ASCII armor around the plain share text, so the stock `age`
//! tool decrypts it with the custodian's key (`age -d -i KEY`) and zeroth reads it with
//! `--identity FILE`, or asks the passphrase on the terminal.
//!
//! The encryption is the `age` crate's; nothing of it is written here. What is here is
//! which recipients zeroth accepts (no plugins, no post-quantum `age1pq`: Debian's age
//! 1.1 must be able to decrypt every share), how an identity file is read (age's own
//! format, else an SSH private key), and the messages.

use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use age::secrecy::SecretString;
use zeroize::Zeroizing;

use crate::error::{Error, RecordError, Result};
use crate::names::{NameKind, check};
use crate::terminal::Tty;

/// The recipient string of a custodian who protects their share with a passphrase.
pub const PASSPHRASE: &str = "passphrase";
/// The first line of an armored age file.
pub const AGE_BEGIN: &str = "-----BEGIN AGE ENCRYPTED FILE-----";
/// The largest encrypted share zeroth reads: a share is about 400 bytes.
const MAX_ENCRYPTED: u64 = 64 * 1024;

/// Whom a share is encrypted to.
pub enum Recipient {
    /// An age X25519 recipient.
    X25519(age::x25519::Recipient),
    /// An SSH public key.
    Ssh(Box<age::ssh::Recipient>),
    /// A passphrase typed on the terminal (age's scrypt mode).
    Passphrase,
}

impl std::fmt::Debug for Recipient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Recipient({})", self.canonical())
    }
}

impl Recipient {
    /// Parses a recipient given for `custodian` (on the command line or in
    /// `zeroth.toml`, which `from` names). A malformed one is a usage error naming the
    /// custodian and saying what is accepted.
    pub fn parse(custodian: &str, text: &str, from: &str) -> Result<Recipient> {
        let text = text.trim();
        let bad = |why: String| {
            Error::from(RecordError::BadRecipient {
                from: from.to_string(),
                custodian: custodian.to_string(),
                why,
            })
        };
        if text == PASSPHRASE {
            return Ok(Recipient::Passphrase);
        }
        if text.is_empty() {
            return Err(bad("is empty".into()));
        }
        if text.starts_with("age1") {
            return text
                .parse::<age::x25519::Recipient>()
                .map(Recipient::X25519)
                .map_err(|_| {
                    bad(
                        if text.starts_with("age1pq") || text.starts_with("age1tag") {
                            "is a kind of age recipient that Debian's age 1.1 cannot decrypt".into()
                        } else {
                            "is not a valid age X25519 recipient (a typo, or cut short?)".into()
                        },
                    )
                });
        }
        if text.starts_with("ssh-") || text.starts_with("ecdsa-") || text.starts_with("sk-") {
            use age::ssh::ParseRecipientKeyError as E;
            return text
                .parse::<age::ssh::Recipient>()
                .map(|r| Recipient::Ssh(Box::new(r)))
                .map_err(|e| {
                    bad(match e {
                        E::Unsupported(_) | E::Ignore if !kind_of(text).is_empty() => {
                            format!(
                                "is an SSH key of type '{}', which age does not encrypt to (use ssh-ed25519 or ssh-rsa)",
                                kind_of(text)
                            )
                        }
                        E::RsaModulusTooSmall => {
                            "is an RSA key shorter than 2048 bits, which age refuses".into()
                        }
                        E::RsaModulusTooLarge => "is an RSA key longer than age supports".into(),
                        _ => "is not a valid SSH public key (a typo, or cut short?)".into(),
                    })
                });
        }
        Err(bad(format!(
            "'{}…' is not a recipient zeroth knows",
            text.chars().take(12).collect::<String>().escape_debug()
        )))
    }

    /// The form kept in the seal record and `zeroth.toml`: the recipient without an
    /// SSH key's comment, or `passphrase`.
    pub fn canonical(&self) -> String {
        match self {
            Recipient::X25519(r) => r.to_string(),
            Recipient::Ssh(r) => r.to_string(),
            Recipient::Passphrase => PASSPHRASE.to_string(),
        }
    }

    /// A short name for the key, to compare with what the custodian holds: an age
    /// recipient is its own public key (`age1…`); an SSH key shows as `ssh-keygen -l`
    /// shows it (`SHA256:…`, the unpadded base64 SHA-256 of the key blob).
    pub fn fingerprint(&self) -> String {
        match self {
            Recipient::X25519(r) => r.to_string(),
            Recipient::Ssh(r) => {
                use base64::Engine;
                let text = r.to_string();
                let blob = text
                    .split_whitespace()
                    .nth(1)
                    .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
                    .unwrap_or_default();
                format!(
                    "SHA256:{}",
                    base64::engine::general_purpose::STANDARD_NO_PAD
                        .encode(<sha2::Sha256 as sha2::Digest>::digest(&blob))
                )
            }
            Recipient::Passphrase => PASSPHRASE.to_string(),
        }
    }

    /// What kind of recipient this is, in words.
    pub fn describe(&self) -> &'static str {
        match self {
            Recipient::X25519(_) => "age X25519 key",
            Recipient::Ssh(r) => match **r {
                age::ssh::Recipient::SshEd25519(..) => "SSH ed25519 key",
                age::ssh::Recipient::SshRsa(..) => "SSH RSA key",
            },
            Recipient::Passphrase => "passphrase",
        }
    }

    /// Encrypts the share text `plain` to this recipient (with `passphrase` for a
    /// passphrase recipient) and returns age's ASCII armor.
    pub fn encrypt(&self, plain: &[u8], passphrase: Option<&SecretString>) -> Result<String> {
        let failed = |e: &dyn std::fmt::Display| {
            Error::from(RecordError::ShareEncrypt {
                detail: e.to_string(),
            })
        };
        match self {
            Recipient::X25519(r) => age::encrypt_and_armor(r, plain).map_err(|e| failed(&e)),
            Recipient::Ssh(r) => age::encrypt_and_armor(&**r, plain).map_err(|e| failed(&e)),
            Recipient::Passphrase => {
                let p = passphrase.ok_or(RecordError::PassphraseMissing)?;
                let r = age::scrypt::Recipient::new(p.clone());
                age::encrypt_and_armor(&r, plain).map_err(|e| failed(&e))
            }
        }
    }
}

fn kind_of(text: &str) -> &str {
    text.split_whitespace().next().unwrap_or_default()
}

/// Returns true if and only if `text` is an age file (armored or binary).
pub fn is_age(text: &[u8]) -> bool {
    text.starts_with(b"age-encryption.org/")
        || std::str::from_utf8(&text[..text.len().min(200)])
            .map(|s| s.trim_start().starts_with(AGE_BEGIN))
            .unwrap_or(false)
}

/// The identities given with `--identity`, to open shares encrypted to custodians, and
/// those a custodian gives at the terminal during a collection ([`Keyring::add`]).
pub struct Keyring {
    identities: std::cell::RefCell<Vec<(PathBuf, Box<dyn age::Identity>)>>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Keyring({} identity files, redacted)",
            self.identities.borrow().len()
        )
    }
}

/// Asks the passphrase of an encrypted SSH private key on the terminal.
#[derive(Clone)]
struct TtyCallbacks;

impl age::Callbacks for TtyCallbacks {
    fn display_message(&self, message: &str) {
        if let Some(mut tty) = Tty::open() {
            let _ = tty.say(&format!("{message}\n"));
        }
    }

    fn confirm(&self, _: &str, _: &str, _: Option<&str>) -> Option<bool> {
        None
    }

    fn request_public_string(&self, _: &str) -> Option<String> {
        None
    }

    fn request_passphrase(&self, description: &str) -> Option<SecretString> {
        let mut tty = Tty::open()?;
        tty.say(&format!("{description}: ")).ok()?;
        let line = tty.read_hidden().ok()?;
        Some(SecretString::from(line.to_string()))
    }
}

impl Keyring {
    /// No identities: encrypted shares can still be opened with a passphrase.
    pub fn empty() -> Keyring {
        Keyring {
            identities: Default::default(),
        }
    }

    /// Returns true if and only if no identity was given.
    pub fn is_empty(&self) -> bool {
        self.identities.borrow().is_empty()
    }

    /// Adds the identities of the identity file `path` (read as [`Keyring::load`]
    /// reads them), for this share and those that follow.
    pub fn add(&self, path: &Path) -> Result<()> {
        let more = Keyring::load(&[path.to_path_buf()])?;
        self.identities
            .borrow_mut()
            .extend(more.identities.into_inner());
        Ok(())
    }

    /// Reads each identity file: age identities (`AGE-SECRET-KEY-1…`, one or more), or
    /// one SSH private key (ed25519 or RSA; an encrypted one asks its passphrase on the
    /// terminal when it is first needed). The bytes are read into a zeroizing buffer.
    pub fn load(paths: &[PathBuf]) -> Result<Keyring> {
        let mut identities: Vec<(PathBuf, Box<dyn age::Identity>)> = Vec::new();
        for path in paths {
            let bytes = read_limited(path, MAX_ENCRYPTED).map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => {
                    RecordError::IdentityFileMissing { path: path.clone() }.into()
                }
                std::io::ErrorKind::InvalidInput => RecordError::IdentityFileNotRegular {
                    path: path.clone(),
                    source: e,
                }
                .into(),
                _ => Error::io("read the identity file", path, e),
            })?;
            let text = String::from_utf8_lossy(&bytes);
            if text.contains("-----BEGIN OPENSSH PRIVATE KEY-----")
                || text.contains("-----BEGIN RSA PRIVATE KEY-----")
            {
                let id = age::ssh::Identity::from_buffer(
                    BufReader::new(&bytes[..]),
                    Some(path.display().to_string()),
                )
                .map_err(|_| RecordError::IdentityNotSshKey { path: path.clone() })?;
                if let age::ssh::Identity::Unsupported(_) = id {
                    return Err(
                        RecordError::IdentitySshKeyUnsupported { path: path.clone() }.into(),
                    );
                }
                identities.push((path.clone(), Box::new(id.with_callbacks(TtyCallbacks))));
                continue;
            }
            let file = age::IdentityFile::from_buffer(BufReader::new(&bytes[..]))
                .map_err(|_| RecordError::IdentityFileUnknown { path: path.clone() })?;
            let ids = file
                .into_identities()
                .map_err(|e| RecordError::IdentityFileUnreadable {
                    path: path.clone(),
                    detail: e.to_string(),
                })?;
            if ids.is_empty() {
                return Err(RecordError::IdentityFileEmpty { path: path.clone() }.into());
            }
            for id in ids {
                identities.push((path.clone(), id));
            }
        }
        Ok(Keyring {
            identities: std::cell::RefCell::new(identities),
        })
    }

    /// Decrypts the age file `ciphertext`, read from `source` (a share file's path, or
    /// the terminal), with the identities, or with a passphrase asked on the terminal
    /// when the file is passphrase-protected. The error is one line for a person,
    /// naming neither the key nor the share's content; a missing `--identity` is a
    /// usage error naming `source`, a key that does not open the share a refusal whose
    /// message leaves `source` for the caller to put in front.
    pub fn decrypt(&self, source: &str, ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        use age::armor::ArmoredReader;
        let broken = |what: &str| {
            Error::from(RecordError::ShareNotAgeFile {
                detail: what.to_string(),
            })
        };
        let decryptor = age::Decryptor::new_buffered(ArmoredReader::new(ciphertext))
            .map_err(|e| broken(&e.to_string()))?;
        let mut plain = Zeroizing::new(Vec::with_capacity(MAX_ENCRYPTED as usize + 1));
        if decryptor.is_scrypt() {
            let Some(mut tty) = Tty::open() else {
                return Err(RecordError::SharePassphraseNeedsTerminal {
                    share: source.to_string(),
                }
                .into());
            };
            let mut decryptor = Some(decryptor);
            for attempt in 1..=3 {
                tty.say(&format!("passphrase for {source} (not shown): "))?;
                let pass = tty.read_hidden()?;
                let identity = age::scrypt::Identity::new(SecretString::from(pass.to_string()));
                // A wrong passphrase consumes the decryptor: read the header again.
                let d = match decryptor.take() {
                    Some(d) => d,
                    None => age::Decryptor::new_buffered(ArmoredReader::new(ciphertext))
                        .map_err(|e| broken(&e.to_string()))?,
                };
                match d.decrypt(std::iter::once(&identity as &dyn age::Identity)) {
                    Ok(r) => {
                        r.take(MAX_ENCRYPTED)
                            .read_to_end(&mut plain)
                            .map_err(|e| broken(&e.to_string()))?;
                        return Ok(plain);
                    }
                    Err(age::DecryptError::ExcessiveWork { required, target }) => {
                        return Err(RecordError::ShareScryptTooCostly { required, target }.into());
                    }
                    Err(_) if attempt < 3 => {
                        let msg = tty.bad("  that passphrase does not open it; again");
                        tty.say(&format!("{msg}\n"))?;
                    }
                    Err(_) => {}
                }
            }
            return Err(RecordError::SharePassphrasesWrong.into());
        }
        let identities = self.identities.borrow();
        if identities.is_empty() {
            return Err(Error::Usage(format!(
                "{source} is encrypted to its custodian's key (age): give --identity FILE with the custodian's age identity or SSH private key"
            )));
        }
        match decryptor.decrypt(identities.iter().map(|(_, i)| &**i)) {
            Ok(r) => {
                r.take(MAX_ENCRYPTED)
                    .read_to_end(&mut plain)
                    .map_err(|e| broken(&e.to_string()))?;
                Ok(plain)
            }
            Err(age::DecryptError::NoMatchingKeys) => Err(RecordError::ShareNotOurs {
                identity_files: files(&identities),
            }
            .into()),
            Err(age::DecryptError::KeyDecryptionFailed) => {
                Err(RecordError::SshKeyPassphraseWrong {
                    identity_files: files(&identities),
                }
                .into())
            }
            Err(e) => Err(broken(&e.to_string())),
        }
    }
}

/// The identity files of `identities`, each once (a file's identities are together).
fn files(identities: &[(PathBuf, Box<dyn age::Identity>)]) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = identities.iter().map(|(p, _)| p.clone()).collect();
    files.dedup();
    files
}

/// Reads a share file: the plain share text, or an encrypted share decrypted with
/// `keys`. The text is held in a zeroizing buffer.
pub fn read_share(path: &Path, keys: &Keyring) -> Result<Zeroizing<String>> {
    let bytes = match read_limited(path, MAX_ENCRYPTED) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(RecordError::ShareFileMissing {
                path: path.to_path_buf(),
            }
            .into());
        }
        Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => {
            return Err(RecordError::ShareFileUnfit {
                path: path.to_path_buf(),
                source: e,
            }
            .into());
        }
        Err(e) => return Err(Error::io("read share file", path, e)),
    };
    if is_age(&bytes) {
        let plain = keys.decrypt(&format!("share file {}", path.display()), &bytes)?;
        return Ok(Zeroizing::new(String::from_utf8_lossy(&plain).into_owned()));
    }
    Ok(Zeroizing::new(String::from_utf8_lossy(&bytes).into_owned()))
}

/// Checks, before the store lock is taken, that every share file given exists and is a
/// regular file: a FIFO or a device would block a ceremony (and the store) forever.
pub fn check_share_files(paths: &[PathBuf]) -> Result<()> {
    for path in paths {
        match std::fs::metadata(path) {
            Ok(m) if m.is_file() => {}
            Ok(m) => {
                return Err(RecordError::ShareFileNotRegular {
                    path: path.clone(),
                    file_kind: file_kind(&m).to_string(),
                }
                .into());
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(RecordError::ShareFileMissing { path: path.clone() }.into());
            }
            Err(e) => return Err(Error::io("read share file", path, e)),
        }
    }
    Ok(())
}

fn file_kind(m: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = m.file_type();
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_char_device() || t.is_block_device() {
        "a device"
    } else {
        "not a file"
    }
}

/// Reads at most `limit` bytes of the regular file `path` into a zeroizing buffer
/// allocated at its full size up front, so no reallocation leaves an unwiped copy of a
/// secret in freed memory. Opens without blocking (a FIFO is refused, not waited on).
pub fn read_limited(path: &Path, limit: u64) -> std::io::Result<Zeroizing<Vec<u8>>> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("it is {}", file_kind(&meta)),
        ));
    }
    let mut bytes = Zeroizing::new(Vec::with_capacity(limit as usize + 1));
    file.take(limit).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// A custodian as given on the command line.
#[derive(Debug, Clone)]
pub struct CustodianSpec {
    /// Name.
    pub name: String,
    /// Age recipient, if any, in its canonical form (see [`Recipient::canonical`]).
    pub recipient: Option<String>,
}

impl CustodianSpec {
    /// Parses `NAME` or `NAME=RECIPIENT`, where RECIPIENT is an age X25519 recipient,
    /// an SSH public key (ed25519 or RSA) or `passphrase`. A malformed recipient is a
    /// usage error naming the custodian.
    pub fn parse(s: &str) -> Result<CustodianSpec> {
        let (name, recipient) = match s.split_once('=') {
            Some((n, r)) => (n, Some(r)),
            None => (s, None),
        };
        check(NameKind::Custodian, name)?;
        let recipient = recipient
            .map(|r| Recipient::parse(name, r, &format!("--custodian {name}=…")))
            .transpose()?
            .map(|r| r.canonical());
        Ok(CustodianSpec {
            name: name.to_string(),
            recipient,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_read_into_a_buffer_sized_up_front() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("share");
        std::fs::write(&p, vec![b'x'; 5000]).unwrap();
        let bytes = read_limited(&p, MAX_ENCRYPTED).unwrap();
        assert_eq!(bytes.len(), 5000);
        // The buffer was never grown (which would leave an unwiped copy behind): its
        // capacity is the one it was made with.
        assert_eq!(bytes.capacity(), MAX_ENCRYPTED as usize + 1);
        // A file at the limit is read whole, still without growing.
        std::fs::write(&p, vec![b'x'; MAX_ENCRYPTED as usize]).unwrap();
        let bytes = read_limited(&p, MAX_ENCRYPTED).unwrap();
        assert_eq!(bytes.capacity(), MAX_ENCRYPTED as usize + 1);
    }

    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("fifo");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &p,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        let err = read_limited(&p, MAX_ENCRYPTED).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
        let err = check_share_files(std::slice::from_ref(&p)).unwrap_err();
        assert!(
            matches!(
                err.cause(),
                Error::Record(RecordError::ShareFileNotRegular { path, .. }) if *path == p
            ),
            "{err:?}"
        );
        assert_eq!(err.exit_code(), 2);
    }

    #[test]
    fn a_share_none_of_the_identities_opens_is_refused_saying_so() {
        let err = Error::from(RecordError::ShareNotOurs {
            identity_files: vec![PathBuf::from("alice.key")],
        });
        assert!(
            err.message().starts_with("it is encrypted to another key"),
            "{err}"
        );
        assert_eq!(err.exit_code(), 3);
    }
}
