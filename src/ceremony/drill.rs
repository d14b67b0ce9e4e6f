//! `drill`: the whole recovery path, with the credential discarded at the end.
//!
//! A drill proves the shares presented: each matched its commitment, all combined to
//! the unseal key that opens the blob, and the HSM unwrapped the credential. The record
//! then notes, per custodian, when their share was last proven, so `check` can name the
//! shares nobody has looked at for too long.

use std::path::PathBuf;

use serde_json::json;

use super::unseal::{Recovery, recover};
use super::{Context, Guard, Report};
use crate::audit::Draft;
use crate::clock;
use crate::error::Result;

/// Runs a drill of `seal` with `shares`.
/// Shares come from `shares`, or, when none are given, from the custodians at the
/// terminal; `identities` open shares encrypted to custodians.
pub fn run(
    ctx: &Context,
    seal: &str,
    shares: &[PathBuf],
    identities: &[PathBuf],
    remote: Option<super::remote::Collected>,
) -> Result<Report> {
    crate::names::check(crate::names::NameKind::Seal, seal)?;
    crate::recipient::check_share_files(shares)?;
    let g = Guard::begin(ctx)?;
    let mut draft = Draft::new("drill");
    super::remote::note(&remote, &mut draft);
    let result = drill(&g, seal, shares, identities, remote, &mut draft);
    g.finish(&mut draft, result)
}

fn drill(
    g: &Guard<'_>,
    seal: &str,
    shares: &[PathBuf],
    identities: &[PathBuf],
    remote: Option<super::remote::Collected>,
    draft: &mut Draft,
) -> Result<Report> {
    let store = g.store();
    let keys = crate::recipient::Keyring::load(identities)?;
    let now = clock::format(clock::now()?);
    let (record, proven) = recover(
        g,
        seal,
        shares,
        Recovery {
            verb: "drill",
            refuse_expired: false,
            also_needs: Vec::new(),
            keys: &keys,
            all: true,
            remote,
            for_use: false,
            reason: None,
        },
        draft,
        Box::new(|session, signer, record, credential, accepted, draft| {
            let mut record = record.clone();
            if record.credential.reuse.is_none() {
                record.credential.reuse =
                    crate::reuse::reuse_mark(store, &credential, record.credential.origin);
            }
            drop(credential);
            let proven: Vec<String> = accepted.iter().map(|a| a.custodian.clone()).collect();
            for c in record.custodians.iter_mut() {
                if proven.contains(&c.name) {
                    c.last_proven = Some(now.clone());
                }
            }
            signer.sign_record(session, store, &mut record)?;
            store.write_record(&record)?;
            draft.seal(&record);
            draft.detail = format!(
                "{} of {} shares proven; credential recovered in the HSM and discarded",
                proven.len(),
                record.custodians.len()
            );
            Ok((record, proven))
        }),
    )?;
    let missing: Vec<&str> = record
        .custodians
        .iter()
        .filter(|c| !proven.contains(&c.name))
        .map(|c| c.name.as_str())
        .collect();
    let mut text = format!(
        "drill of '{}' passed: {} of {} shares proven ({}); the credential was recovered in the HSM and discarded\n",
        seal,
        proven.len(),
        record.custodians.len(),
        proven.join(", ")
    );
    if missing.is_empty() {
        text.push_str("every custodian's share is proven\n");
    } else {
        text.push_str(&format!(
            "not proven in this drill: {}\n",
            missing.join(", ")
        ));
    }
    Ok(Report::new(
        text,
        json!({
            "seal": seal,
            "proven": proven,
            "not_proven": missing,
            "at": now,
        }),
    ))
}
