//! Checking presented shares against a seal record, before anything is combined.
//!
//! A share file encrypted to its custodian (age) is decrypted first, with the
//! `--identity` files given or a passphrase asked on the terminal. Each share is then
//! checked for its armor and checksum, then against the record: seal
//! name and id, environment, set, threshold, custodian, and finally the commitment the
//! record holds for that custodian. Every bad share is named with its reason; only a
//! set of good, distinct shares reaching the threshold is combined.

use std::path::PathBuf;

use crate::audit::{Draft, RejectedShare};
use crate::error::{CeremonyError, Kind, Result};
use crate::recipient::{Keyring, read_share};
use crate::seal::SealRecord;
use crate::secret::UnsealKey;
use crate::shamir::{self, SharePoint};
use crate::share::{Binding, Share, commitment};

/// A share that passed every check.
#[derive(Debug, Clone)]
pub struct Accepted {
    /// Where it came from.
    pub path: PathBuf,
    /// The custodian holding it.
    pub custodian: String,
    /// The share.
    pub share: Share,
}

/// A share that failed a check.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Rejected {
    /// Where it came from.
    pub path: PathBuf,
    /// The custodian it claims or belongs to, when known.
    pub custodian: Option<String>,
    /// Why it was refused.
    pub reason: String,
}

/// Checks one parsed share against `record`. Returns the custodian it belongs to.
pub fn check_share(
    record: &SealRecord,
    share: &Share,
) -> std::result::Result<String, (Option<String>, String)> {
    let claimed = Some(share.custodian.clone());
    if share.seal != record.name {
        return Err((
            claimed,
            format!(
                "it is a share of seal '{}', not '{}'",
                share.seal, record.name
            ),
        ));
    }
    if share.env != record.env {
        return Err((
            claimed,
            format!(
                "it is for environment '{}'; seal '{}' is in '{}'",
                share.env, share.seal, record.env
            ),
        ));
    }
    let seal_id = record
        .id_bytes()
        .map_err(|e| (claimed.clone(), e.message().to_string()))?;
    match share_set(record, share) {
        Some(set) if set == record.set => {}
        Some(set) if set < record.set => {
            return Err((
                claimed,
                format!(
                    "it is from share set {set} of '{}'; the current set is {}: it was replaced by a rekey",
                    record.name, record.set
                ),
            ));
        }
        Some(set) => {
            return Err((
                claimed,
                format!(
                    "it is from share set {set} of '{}', which is not current: the current set is {}; a pending rekey or rotation makes set {set} current once confirmed with its new shares",
                    record.name, record.set
                ),
            ));
        }
        None => {
            return Err((
                claimed,
                match share.payload.binding {
                    Binding::Full { seal_id: other, .. } => format!(
                        "it belongs to another seal named '{}' (id {}…; this one is {}…): a share of a re-created seal or of another store",
                        record.name,
                        &hex::encode(other)[..8],
                        &record.id[..8.min(record.id.len())]
                    ),
                    Binding::Tag(tag) => format!(
                        "it belongs to another seal named '{}' (its set tag {} is none of the share sets of this one, id {}…): a share of a re-created seal or of another store",
                        record.name,
                        hex::encode(tag),
                        &record.id[..8.min(record.id.len())]
                    ),
                },
            ));
        }
    }
    // A version 2 share names its set only in its header (the payload has the tag):
    // a header whose set is not the set the tag says was edited.
    if let Some(claimed_set) = share.set
        && claimed_set != record.set
    {
        return Err((
            claimed,
            format!(
                "its header says set {claimed_set} but the share itself is of set {} of '{}': the header was edited",
                record.set, record.name
            ),
        ));
    }
    if share.payload.threshold != record.threshold {
        return Err((
            claimed,
            format!(
                "it says threshold {} but the record says {}: the share or the record was altered",
                share.payload.threshold, record.threshold
            ),
        ));
    }
    let Some(owner) = record.custodian_at(share.payload.point.x) else {
        return Err((
            claimed,
            format!(
                "it is share number {}, which '{}' does not have (it has {})",
                share.payload.point.x,
                record.name,
                record.custodians.len()
            ),
        ));
    };
    if share.custodian != owner.name {
        return Err((
            Some(owner.name.clone()),
            format!(
                "its header names custodian '{}' in its header but share {} belongs to '{}': the header was edited",
                share.custodian, share.payload.point.x, owner.name
            ),
        ));
    }
    if usize::from(share.n) != record.custodians.len() {
        return Err((
            Some(owner.name.clone()),
            format!(
                "its header says {} shares in all but '{}' has {}: the header was edited",
                share.n,
                record.name,
                record.custodians.len()
            ),
        ));
    }
    let c = commitment(&seal_id, record.set, &share.payload.point);
    if hex::encode(c) != owner.commitment {
        return Err((
            Some(owner.name.clone()),
            format!(
                "it does not match the commitment the record holds for '{}': it is corrupt or forged",
                owner.name
            ),
        ));
    }
    Ok(owner.name.clone())
}

/// Which share set of `record`'s seal `share` belongs to, if it is one of them: the
/// payload's seal id and set (version 1), or the set whose tag the payload carries
/// (version 2), looked for among every set the seal has had and the pending one.
pub fn share_set(record: &SealRecord, share: &Share) -> Option<u32> {
    let seal_id = record.id_bytes().ok()?;
    let newest = record
        .pending
        .as_ref()
        .map_or(record.set, |p| p.set.max(record.set))
        .max(record.set.saturating_add(1));
    match share.payload.binding {
        Binding::Full { seal_id: id, set } => (id == seal_id).then_some(set),
        Binding::Tag(_) => (1..=newest)
            .rev()
            .find(|s| share.payload.binding.names(&seal_id, *s)),
    }
}

/// Names the seal and set of another seal in `store` that `share` belongs to, for a
/// share refused as not of `record`'s seal: "it is a share of seal 'other' (prod), set
/// 2". Typed lines carry no header to say it.
pub fn identify_elsewhere(
    store: &crate::store::Store,
    record: &SealRecord,
    share: &Share,
) -> Option<String> {
    let records = store.records().ok()?;
    records
        .into_iter()
        .flatten()
        .filter(|r| r.name != record.name || r.id != record.id)
        .find_map(|r| share_set(&r, share).map(|set| (r, set)))
        .map(|(r, set)| {
            format!(
                "it is a share of seal '{}' ({}), set {set}, not of '{}'",
                r.name, r.env, record.name
            )
        })
}

/// Reads and checks every share file. Returns the accepted shares, or an error naming
/// every bad file and why; with too few good shares, says how many more are needed and
/// who holds them.
pub fn collect(
    record: &SealRecord,
    paths: &[PathBuf],
    keys: &Keyring,
    verb: &str,
    draft: &mut Draft,
) -> Result<Vec<Accepted>> {
    collect_with(record, paths, keys, verb, draft, None)
}

/// Like [`collect`], for the confirmation of a pending operation: `record` is the
/// pending view, and a share of `in_use` (the set still in use) is named as such.
pub fn collect_with(
    record: &SealRecord,
    paths: &[PathBuf],
    keys: &Keyring,
    verb: &str,
    draft: &mut Draft,
    in_use: Option<u32>,
) -> Result<Vec<Accepted>> {
    let mut accepted: Vec<Accepted> = Vec::new();
    let mut rejected: Vec<Rejected> = Vec::new();
    for path in paths {
        // A share that cannot be decrypted (another custodian's key, a wrong
        // passphrase) is a bad share, named with the others; a missing file or a
        // missing --identity is a usage error at once.
        let text = match read_share(path, keys) {
            Ok(t) => t,
            Err(e) if e.kind() == Kind::Refused => {
                rejected.push(Rejected {
                    path: path.clone(),
                    custodian: None,
                    reason: e.message(),
                });
                continue;
            }
            Err(e) => return Err(e),
        };
        let share = match Share::from_armor(&text) {
            Ok(s) => s,
            Err(reason) => {
                rejected.push(Rejected {
                    path: path.clone(),
                    custodian: None,
                    reason,
                });
                continue;
            }
        };
        if in_use.is_some_and(|set| share_set(record, &share) == Some(set)) {
            rejected.push(Rejected {
                path: path.clone(),
                custodian: Some(share.custodian.clone()),
                reason: format!(
                    "it belongs to set {}, the one still in use; this confirms the new set {}: give the new shares",
                    in_use.unwrap_or_default(), record.set
                ),
            });
            continue;
        }
        match check_share(record, &share) {
            Ok(custodian) => {
                if let Some(first) = accepted.iter().find(|a| a.custodian == custodian) {
                    rejected.push(Rejected {
                        path: path.clone(),
                        custodian: Some(custodian.clone()),
                        reason: format!(
                            "it is '{custodian}''s share again (also given as {}): give each custodian's share once",
                            first.path.display()
                        ),
                    });
                    continue;
                }
                accepted.push(Accepted {
                    path: path.clone(),
                    custodian,
                    share,
                });
            }
            Err((custodian, reason)) => rejected.push(Rejected {
                path: path.clone(),
                custodian,
                reason,
            }),
        }
    }
    draft.custodians = accepted.iter().map(|a| a.custodian.clone()).collect();
    draft.rejected = rejected
        .iter()
        .map(|r| RejectedShare {
            custodian: r.custodian.clone(),
            file: r.path.display().to_string(),
            reason: r.reason.clone(),
        })
        .collect();
    if !rejected.is_empty() {
        return Err(CeremonyError::BadShares {
            verb: verb.to_string(),
            given: paths.len(),
            rejected: rejected
                .into_iter()
                .map(|r| (r.path, r.custodian, r.reason))
                .collect(),
        }
        .into());
    }
    let t = usize::from(record.threshold);
    if accepted.len() < t {
        let holders = record
            .custodians
            .iter()
            .filter(|c| !accepted.iter().any(|a| a.custodian == c.name))
            .map(|c| c.name.clone())
            .collect();
        return Err(CeremonyError::NotEnoughShares {
            verb: verb.to_string(),
            given: accepted.iter().map(|a| a.custodian.clone()).collect(),
            threshold: t,
            holders,
        }
        .into());
    }
    Ok(accepted)
}

/// Recovers U from the accepted shares. With more than the threshold, every extra
/// share is proven to lie on the same polynomial: it must give the same U together
/// with threshold - 1 of the others.
pub fn recover(record: &SealRecord, accepted: &[Accepted]) -> Result<UnsealKey> {
    let t = usize::from(record.threshold);
    let points: Vec<&SharePoint> = accepted.iter().map(|a| &a.share.payload.point).collect();
    let u = shamir::combine(&points[..t])?;
    for (i, extra) in points.iter().enumerate().skip(t) {
        let mut subset: Vec<&SharePoint> = points[..t - 1].to_vec();
        subset.push(extra);
        let v = shamir::combine(&subset)?;
        let same = u
            .expose()
            .iter()
            .zip(v.expose())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
        if !same {
            return Err(CeremonyError::SharesInconsistent {
                custodian: accepted[i].custodian.clone(),
                path: accepted[i].path.clone(),
            }
            .into());
        }
    }
    Ok(u)
}
