//! `share verify`: a custodian checks their share against the record, alone, without
//! a quorum and without the HSM. The record's signature is checked with the
//! environment's public key — from the store, or pinned with `--pubkey` to a key the
//! custodian got at the ceremony — and its fingerprint is printed to compare.

use std::path::PathBuf;

use serde_json::json;

use super::shares::check_share;
use super::{Context, Report, verify_record};
use crate::error::{CeremonyError, Error, Kind, Result};
use crate::recipient::{Keyring, read_share};
use crate::share::Share;
use crate::store::Store;
use crate::trust::KeySource;

/// Checks each share file; refuses (exit 3) if any is bad, after reporting all.
pub fn run(
    ctx: &Context,
    files: &[PathBuf],
    pubkey: Option<&PathBuf>,
    identities: &[PathBuf],
) -> Result<Report> {
    if files.is_empty() {
        return Err(Error::Usage("give at least one share file".into()));
    }
    let store = Store::open(&ctx.store)?;
    if let Some(p) = pubkey {
        crate::trust::read_pubkey(p)?;
    }
    let keys = Keyring::load(identities)?;
    let mut lines = String::new();
    let mut results = Vec::new();
    let mut bad = 0;
    for path in files {
        // A share another key opens is a bad share; a missing file or --identity is a
        // usage error at once.
        let read = match read_share(path, &keys) {
            Ok(t) => Ok(t),
            Err(e) if e.kind() == Kind::Refused => Err(e.message()),
            Err(e) => return Err(e),
        };
        let outcome = (|| -> std::result::Result<(String, serde_json::Value), String> {
            let text = read?;
            let share = Share::from_armor(&text)?;
            let record = store
                .read_record(&share.seal)
                .map_err(|e| e.message().to_string())?;
            let (key, source) = verify_record(ctx, &store, &record, pubkey.map(|p| p.as_path()))
                .map_err(|e| e.message().to_string())?;
            let source = match source {
                KeySource::Pinned(file) => format!("pinned in {}", file.display()),
                KeySource::Given(file) => format!("given with --pubkey {}", file.display()),
                KeySource::Unpinned => "NOT pinned: the store's own key".to_string(),
            };
            let custodian = check_share(&record, &share).map_err(|(_, reason)| reason)?;
            let proven = record
                .custodian_at(share.payload.point.x)
                .and_then(|c| c.last_proven.clone());
            Ok((
                format!(
                    "ok    {}: share {} of {} of '{}' ({}), custodian {custodian}, set {}, threshold {}; record signed by {} ({source}){}\n",
                    path.display(),
                    share.payload.point.x,
                    record.custodians.len(),
                    record.name,
                    record.env,
                    record.set,
                    record.threshold,
                    key.fingerprint(),
                    proven
                        .as_deref()
                        .map(|p| format!("; last proven in a drill {p}"))
                        .unwrap_or_default()
                ),
                json!({
                    "file": path,
                    "ok": true,
                    "seal": record.name,
                    "env": record.env,
                    "custodian": custodian,
                    "x": share.payload.point.x,
                    "set": record.set,
                    "threshold": record.threshold,
                    "signed_by": key.fingerprint(),
                    "key_source": source,
                    "last_proven": proven,
                }),
            ))
        })();
        match outcome {
            Ok((line, json)) => {
                lines.push_str(&line);
                results.push(json);
            }
            Err(reason) => {
                bad += 1;
                lines.push_str(&format!("BAD   {}: {reason}\n", path.display()));
                results.push(json!({ "file": path, "ok": false, "reason": reason }));
            }
        }
    }
    if bad > 0 {
        return Err(CeremonyError::SharesFailedVerification {
            report: lines,
            bad,
            total: files.len(),
        }
        .into());
    }
    Ok(Report::new(lines, json!({ "shares": results })))
}
