//! `share send`: a custodian who is not in the room answers an operator's request with
//! a hand-in, on their own machine.
//!
//! Before anything is written: the request's signature is checked against the
//! environment's key as this machine's trust file pins it (by the store's id and the
//! environment, so no copy of the store is needed), or, when it pins nothing, against
//! the key of the custodian's own copy of the store, with the warning zeroth gives
//! wherever an environment is not pinned; the request must not have expired; the
//! custodian is shown what they authorise; their share (decrypted here, with their own
//! identity, when it is encrypted) must match the commitment the signed request holds
//! for them. The hand-in is then their share, bound to the ceremony id and the request's
//! fingerprint, encrypted to the ceremony's ephemeral key: the share never leaves this
//! machine in the clear, and the hand-in opens only in that one ceremony.

use std::path::{Path, PathBuf};

use serde_json::json;
use zeroize::Zeroizing;

use super::{Context, Report};
use crate::clock;
use crate::error::{Error, RemoteError, Result};
use crate::handin::{self, HandIn, Inner, Request};
use crate::key::PublicKey;
use crate::recipient::{Keyring, read_limited, read_share};
use crate::share::{Share, commitment};
use crate::store::Store;

/// Arguments of `share send`.
#[derive(Debug, Clone)]
pub struct SendArgs {
    /// The request file, or `-` for stdin.
    pub request: PathBuf,
    /// The custodian's share file.
    pub share: PathBuf,
    /// Identities that open an encrypted share.
    pub identities: Vec<PathBuf>,
    /// Where the hand-in goes [default: `<seal>.<custodian>.<ceremony8>.hand-in`], or `-`.
    pub out: Option<PathBuf>,
    /// A public key (PEM) to check the request with instead of the pinned one.
    pub pubkey: Option<PathBuf>,
    /// Authorise without asking on the terminal.
    pub yes: bool,
}

/// Where the key that checked the request came from.
enum From {
    Pinned(PathBuf),
    Given(PathBuf),
    StoreUnpinned(PathBuf),
}

/// Checks the request and the share, shows what is authorised, and writes the hand-in.
pub fn run(ctx: &Context, args: &SendArgs) -> Result<Report> {
    crate::recipient::check_share_files(std::slice::from_ref(&args.share))?;
    let request = read_request(&args.request)?;
    // The request file as named to the custodian.
    let named = clean(&args.request.display().to_string());
    let (key, from) = request_key(ctx, &request, args.pubkey.as_deref(), &named)?;
    if !request.verifies_with(&key) {
        return Err(RemoteError::RequestNotSigned {
            request: named.into(),
            env: clean(&request.env),
            key: key.fingerprint(),
            key_source: from_words(&from),
        }
        .into());
    }
    let now = clock::now()?;
    let expires = clock::parse_instant(&request.expires)?;
    if now > expires {
        return Err(RemoteError::HandInTooLate {
            request: named.into(),
            expires: request.expires.clone(),
            operator: clean(&request.operator),
        }
        .into());
    }

    let keys = Keyring::load(&args.identities)?;
    let text = read_share(&args.share, &keys)?;
    let share = Share::from_armor(&text).map_err(|r| RemoteError::ShareUnreadable {
        path: args.share.clone(),
        reason: clean(&r),
    })?;
    let custodian = check_share(&request, &share).map_err(|r| RemoteError::ShareNotRequested {
        path: args.share.clone(),
        reason: clean(&r),
    })?;
    let (copy, other_store) = own_record(ctx, &request, &key);
    // Where the hand-in goes is checked before the custodian is asked: a file there
    // already is never written over, and they are not made to authorise for nothing.
    let out = args.out.clone().unwrap_or_else(|| {
        PathBuf::from(format!(
            "{}.{custodian}.{}.hand-in",
            request.seal,
            request.short_id()
        ))
    });
    let to_stdout = out.as_os_str() == "-";
    if !to_stdout && out.symlink_metadata().is_ok() {
        return Err(crate::store::exists_error(&out));
    }

    let minutes = (expires - now).whole_minutes();
    let summary = format!(
        "zeroth: request {} — check it before you hand in your share\n  ceremony:   {}\n  store:      {} ({})\n  for:        {}\n  seal:       '{}' ({}), owner {}: {}\n  quorum:     any {} of {} (version {}, set {}): {}\n  record:     {}{}\n  operator:   {} on {}, {}\n  expires:    {} (in {} minute{})\n  signed by:  {} ({})\n  your share: {custodian}, share {} of {}: it matches the commitment the signed request holds for you\n",
        request.short_id(),
        request.ceremony,
        clean(&request.store),
        store_words(&from),
        super::remote::purpose_words(&request.purpose),
        clean(&request.seal),
        clean(&request.env),
        clean(&request.owner),
        clean(&request.seal_purpose),
        request.threshold,
        request.custodians.len(),
        request.version,
        request.set,
        request
            .custodians
            .iter()
            .map(|c| clean(&c.name))
            .collect::<Vec<_>>()
            .join(", "),
        request.record,
        copy,
        clean(&request.operator),
        clean(&request.host),
        request.created,
        request.expires,
        minutes,
        if minutes == 1 { "" } else { "s" },
        key.fingerprint(),
        from_words(&from),
        share.payload.point.x,
        request.custodians.len(),
    );
    eprint!("{summary}{other_store}");
    if !args.yes {
        super::confirm_on_terminal(
            &format!(
                "Hand in your share of '{}' for this {}?",
                clean(&request.seal),
                request.purpose
            ),
            "share send writes a hand-in only once you have seen what it authorises: read the summary above",
            "not authorised: no hand-in was written",
        )?;
    }

    let inner = Inner {
        ceremony: request.ceremony.clone(),
        request: request.fingerprint()?,
        custodian: custodian.clone(),
        made: clock::format(now),
        share: Zeroizing::new(text.trim().to_string()),
    };
    drop(text);
    let recipient: age::x25519::Recipient =
        request
            .recipient
            .parse()
            .map_err(|_| RemoteError::BadRecipient {
                request: named.into(),
            })?;
    let plaintext = inner.to_text();
    drop(inner);
    let ciphertext = handin::encrypt(&recipient, plaintext.as_bytes())?;
    drop(plaintext);
    let hand_in = HandIn {
        ceremony: request.ceremony.clone(),
        seal: request.seal.clone(),
        env: request.env.clone(),
        custodian: custodian.clone(),
        ciphertext,
    };
    let fingerprint = hand_in.fingerprint();
    let armored = hand_in.to_armor();
    if !to_stdout {
        crate::store::write_new_secret(&out, armored.as_bytes())?;
    }
    let text = format!(
        "hand-in of {custodian} for ceremony {} {}; its fingerprint is {fingerprint}\nSend it to the operator by any channel: it opens only in this ceremony, until {}. Read the fingerprint to them to compare.\n",
        request.short_id(),
        if to_stdout {
            "written to stdout".to_string()
        } else {
            format!("written to {}", out.display())
        },
        request.expires
    );
    let mut report = Report::new(
        if to_stdout {
            armored.clone()
        } else {
            text.clone()
        },
        json!({
            "ceremony": request.ceremony,
            "seal": request.seal,
            "env": request.env,
            "custodian": custodian,
            "purpose": request.purpose,
            "expires": request.expires,
            "fingerprint": fingerprint,
            "file": if to_stdout { None } else { Some(out) },
            // With --out -, the hand-in itself (encrypted: nothing in it is secret).
            "hand_in": if to_stdout { Some(&armored) } else { None },
            "signed_by": key.fingerprint(),
        }),
    );
    if to_stdout {
        eprint!("{text}");
        report.on_stderr = false;
    }
    Ok(report)
}

fn clean(s: &str) -> String {
    crate::text::clean(s).into_owned()
}

/// Where the key that checks the request came from, for the request's store id.
fn store_words(from: &From) -> String {
    match from {
        From::Pinned(p) => format!("its key is the one pinned for it in {}", p.display()),
        From::Given(p) => format!("its key is the one given with --pubkey {}", p.display()),
        From::StoreUnpinned(p) => format!(
            "its key is NOT pinned: it is the one in your copy of the store, {}",
            p.display()
        ),
    }
}

fn from_words(from: &From) -> String {
    match from {
        From::Pinned(p) => format!("pinned in {}", p.display()),
        From::Given(p) => format!("given with --pubkey {}", p.display()),
        From::StoreUnpinned(p) => format!(
            "NOT pinned: the key of your copy of the store, {}",
            p.display()
        ),
    }
}

/// Reads a request file, or stdin for `-`.
fn read_request(path: &Path) -> Result<Request> {
    let bytes = if path.as_os_str() == "-" {
        use std::io::Read;
        let mut buf = Vec::with_capacity(handin::MAX_TEXT as usize + 1);
        std::io::stdin()
            .take(handin::MAX_TEXT)
            .read_to_end(&mut buf)
            .map_err(|source| RemoteError::StdinUnreadable { source })?;
        buf
    } else {
        read_limited(path, handin::MAX_TEXT)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => {
                    Error::Usage(format!("request file {} does not exist", path.display()))
                }
                _ => Error::io("read the request", path, e),
            })?
            .to_vec()
    };
    Request::from_armor(&String::from_utf8_lossy(&bytes)).map_err(|r| {
        RemoteError::RequestUnreadable {
            request: clean(&path.display().to_string()).into(),
            reason: clean(&r),
        }
        .into()
    })
}

/// The key to check the request with: `--pubkey`; else the pin of the request's store
/// and environment in the trust file (with the key the request carries, which must be
/// the pinned one); else the custodian's own copy of the store, with a warning (an
/// error when the trust file was given explicitly).
fn request_key(
    ctx: &Context,
    request: &Request,
    pubkey: Option<&Path>,
    named: &str,
) -> Result<(PublicKey, From)> {
    if let Some(p) = pubkey {
        return Ok((crate::trust::read_pubkey(p)?, From::Given(p.to_path_buf())));
    }
    if let Some(pinned) = ctx.trust.pin_by_id(&request.store, &request.env)? {
        let carried = request
            .public_key()
            .map_err(|reason| RemoteError::RequestKeyUnreadable {
                request: named.into(),
                reason,
            })?;
        if carried.fingerprint() != pinned.pin.signing_key {
            return Err(RemoteError::RequestKeyMismatch {
                request: named.into(),
                env: clean(&request.env),
                trust_file: pinned.source.as_path().into(),
                pinned: pinned.pin.signing_key.clone(),
                carried: carried.fingerprint(),
            }
            .into());
        }
        return Ok((carried, From::Pinned(pinned.source)));
    }
    let store = Store::open(&ctx.store).ok().filter(|s| {
        s.config().store_id.as_deref() == Some(request.store.as_str())
            && s.env(&request.env).is_ok()
    });
    let Some(store) = store else {
        return Err(RemoteError::RequestKeyUnknown {
            request: named.into(),
            env: clean(&request.env),
            store: clean(&request.store),
            trust_file: ctx.trust.path().into(),
            store_dir: ctx.store.as_path().into(),
        }
        .into());
    };
    let (key, _) = ctx.trust.env_key(&store, &request.env, None)?;
    Ok((key, From::StoreUnpinned(store.root().to_path_buf())))
}

/// Checks the custodian's share against the request: seal, environment, set,
/// threshold, custodian and the commitment the signed request holds for them.
fn check_share(request: &Request, share: &Share) -> std::result::Result<String, String> {
    if share.seal != request.seal || share.env != request.env {
        return Err(format!(
            "it is a share of seal '{}' ({}), and the request is for '{}' ({}): this request does not ask for this share",
            clean(&share.seal),
            clean(&share.env),
            clean(&request.seal),
            clean(&request.env)
        ));
    }
    let seal_id: [u8; 16] = hex::decode(&request.seal_id)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or("the request's seal id is not 32 hex digits")?;
    if !share.payload.binding.names(&seal_id, request.set) {
        return Err(format!(
            "it is not a share of set {} of '{}', the set the request collects{}",
            request.set,
            clean(&request.seal),
            if request.purpose.ends_with("-confirm") {
                " (a confirmation takes the NEW shares)"
            } else {
                " (an old set, replaced by a rekey, or another seal of that name)"
            }
        ));
    }
    if share.payload.threshold != request.threshold {
        return Err(format!(
            "it says threshold {} but the request says {}",
            share.payload.threshold, request.threshold
        ));
    }
    let x = share.payload.point.x;
    let owner = request
        .custodians
        .iter()
        .find(|c| c.x == x)
        .ok_or_else(|| format!("it is share number {x}, which the request's set does not have"))?;
    if owner.name != share.custodian {
        return Err(format!(
            "its header names '{}' but share {x} belongs to '{}'",
            clean(&share.custodian),
            clean(&owner.name)
        ));
    }
    let c = commitment(&seal_id, request.set, &share.payload.point);
    if hex::encode(c) != owner.commitment {
        return Err(format!(
            "it does not match the commitment the signed request holds for '{}': it is corrupt, forged, or of another seal",
            clean(&owner.name)
        ));
    }
    Ok(owner.name.clone())
}

/// What the custodian's own copy of the store says of the request's record, if they
/// have one: informative, since the request's commitments are signed by the HSM. And a
/// warning when their copy is another store than the request's (another store id).
fn own_record(ctx: &Context, request: &Request, key: &PublicKey) -> (String, String) {
    let Ok(store) = Store::open(&ctx.store) else {
        return (String::new(), String::new());
    };
    if store.config().store_id.as_deref() != Some(request.store.as_str()) {
        return (
            String::new(),
            format!(
                "  WARNING: your copy of the store, {}, is another store (store id {}, and the request is for store {}): it says nothing of this request; check you were sent the request of your own team's store\n",
                store.root().display(),
                clean(store.config().store_id.as_deref().unwrap_or("none")),
                clean(&request.store)
            ),
        );
    }
    let Ok(record) = store.read_record(&request.seal) else {
        return (String::new(), String::new());
    };
    if super::verify_record_with(&store, &record, key).is_err() {
        return (
            format!(
                " (your copy of the store, {}, has a record of '{}' that does not verify: ignored)",
                store.root().display(),
                clean(&request.seal)
            ),
            String::new(),
        );
    }
    let fp = record
        .signed_bytes()
        .map(|b| crate::audit::fingerprint(&b))
        .unwrap_or_default();
    let copy = if fp == request.record {
        ", the record your copy of the store holds".to_string()
    } else {
        format!(" (your copy of the store holds another version of the record, {fp}: pull it)")
    };
    (copy, String::new())
}

#[cfg(test)]
mod tests {
    #[test]
    fn purposes_are_named() {
        for p in [
            "unseal",
            "drill",
            "rekey",
            "rotate",
            "rekey-confirm",
            "rotate-confirm",
            "vault-unseal",
        ] {
            assert!(!super::super::remote::purpose_words(p).contains("does not know"));
        }
    }
}
