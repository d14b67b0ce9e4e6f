//! `generate` and `import`: seal a credential in the environment's HSM and split its
//! unseal key among named custodians.
//!
//! Order of work, chosen so that a failure or a crash at any step leaves nothing that
//! opens anything, and a refusal leaves store and token as they were:
//!
//! 1. every check that needs no HSM (names, threshold, files that must not exist);
//! 2. K_seal generated on the token (destroyed again if anything below fails);
//! 3. the credential generated in (or imported into) the HSM as a session object,
//!    wrapped by K_seal, destroyed;
//! 4. U = HSM random XOR OS random; blob = AES-256-GCM(U, W, aad = seal header);
//! 5. U split among the custodians, commitments taken, the record signed by the HSM;
//! 6. shares handed out (files 0600 and never over a file, plain or encrypted to their
//!    custodian; paper cards; or shown on the terminal one custodian at a time), then
//!    the record, atomically. Until the record exists the seal does not exist; a crash
//!    before it leaves at most unusable share files and an orphan K_seal that no
//!    record references.

use serde_json::json;
use time::OffsetDateTime;

use super::distribute::{Delivered, Outlets, Plan};
use super::{Context, Guard, Report, deal, distribute, random_id, with_env_session};
use crate::audit::Draft;
use crate::clock;
use crate::error::{CeremonyError, Error, Result};
use crate::hsm::{self, Need};
use crate::keystore::{Key, KeyStore};
use crate::names::{NameKind, check};
use crate::recipient::Recipient;
use crate::seal::{Blob, CredentialInfo, KeyRef, Origin, RECORD_FORMAT, SealRecord};
use crate::secret::{Credential, Encoding};
use crate::settings::Effective;
use crate::share::Share;
use crate::store::Store;

/// Bounds on a generated credential's length, in bytes.
pub const LENGTH_RANGE: std::ops::RangeInclusive<usize> = 16..=1024;
/// The largest imported secret.
pub const IMPORT_MAX: usize = 64 * 1024;

pub use crate::recipient::CustodianSpec;

impl CustodianSpec {
    /// Fills in the recipient the environment's approved settings give this custodian,
    /// when the command line gave none.
    pub fn with_settings(mut self, store: &Store, settings: &Effective) -> Result<CustodianSpec> {
        if self.recipient.is_none() {
            self.recipient = approved_recipient(store, settings, &self.name)?;
        }
        Ok(self)
    }
}

/// The recipient the approved settings give `name`, checked (a recipient `zeroth.toml`
/// gives that nobody approved is refused).
pub(crate) fn approved_recipient(
    store: &Store,
    settings: &Effective,
    name: &str,
) -> Result<Option<String>> {
    let Some(r) = settings.recipient(store, name)? else {
        return Ok(None);
    };
    let from = format!(
        "the approved settings of '{}' [custodians.{name}]",
        settings.env
    );
    Ok(Some(Recipient::parse(name, &r, &from)?.canonical()))
}

/// Refuses a custodian who was offboarded, under whatever case their name is given.
pub(crate) fn refuse_offboarded(settings: &Effective, name: &str) -> Result<()> {
    if let Some((recorded, when)) = settings.offboarded(name) {
        return Err(CeremonyError::CustodianOffboarded {
            name: name.to_string(),
            recorded: recorded.to_string(),
            when: when.to_string(),
        }
        .into());
    }
    Ok(())
}

/// What to seal and for whom.
#[derive(Debug, Clone)]
pub struct SealSpec {
    /// Seal name.
    pub seal: String,
    /// Environment.
    pub env: String,
    /// Owner.
    pub owner: String,
    /// Purpose.
    pub purpose: String,
    /// Threshold.
    pub threshold: u8,
    /// Custodians, in share order.
    pub custodians: Vec<CustodianSpec>,
    /// Rotation period in days.
    pub rotate_every_days: u32,
    /// Expiry.
    pub expires: Option<OffsetDateTime>,
    /// Permit threshold 1 (with a warning).
    pub allow_threshold_one: bool,
    /// What the credential unlocks (`--unlocks`).
    pub unlocks: Vec<String>,
    /// Where the shares go: files, paper, or the terminal.
    pub outlets: Outlets,
}

/// Where the credential comes from.
pub enum Source<'a> {
    /// Generated in the HSM, this many bytes.
    Generate {
        /// Length in bytes.
        length: usize,
    },
    /// Imported from stdin.
    Import(Credential),
    /// Obtained inside the ceremony, once every check has passed, the token has
    /// accepted the PIN and K_seal exists: for a secret that exists only once, such as
    /// a vault's unseal key in its init answer, so nothing that could still fail stands
    /// between obtaining it and sealing it.
    Fetch(Fetch<'a>),
}

/// A credential obtained inside the ceremony (see [`Source::Fetch`]).
pub struct Fetch<'a> {
    /// The log event of the ceremony.
    pub event: &'static str,
    /// Obtains the credential.
    pub get: Box<dyn FnOnce() -> Result<Fetched> + 'a>,
}

/// What a [`Fetch`] obtained.
pub struct Fetched {
    /// The credential, to be imported.
    pub credential: Credential,
    /// The encoding `unseal` delivers it in.
    pub encoding: Encoding,
    /// The vault it belongs to, recorded in the signed record.
    pub vault: Option<crate::seal::VaultBinding>,
    /// What obtaining it did, for the log entry.
    pub detail: String,
}

impl std::fmt::Debug for Source<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Generate { length } => write!(f, "Generate {{ length: {length} }}"),
            Source::Import(c) => write!(f, "Import({c:?})"),
            Source::Fetch(x) => write!(f, "Fetch({})", x.event),
        }
    }
}

impl SealSpec {
    /// Checks everything that needs neither the store nor the HSM.
    pub fn validate(&self, now: OffsetDateTime) -> Result<()> {
        check(NameKind::Seal, &self.seal)?;
        check(NameKind::Environment, &self.env)?;
        crate::seal::check_unlocks(&self.unlocks)?;
        for (field, value) in [("--owner", &self.owner), ("--purpose", &self.purpose)] {
            if value.trim().is_empty() {
                return Err(Error::Usage(format!(
                    "{field} is empty: say who or what this credential is for"
                )));
            }
            if value.len() > 200 || value.chars().any(char::is_control) {
                return Err(Error::Usage(format!(
                    "{field} must be one line of at most 200 characters"
                )));
            }
        }
        let n = self.custodians.len();
        if n == 0 {
            return Err(Error::Usage(
                "no custodians: give --custodian NAME once per custodian".into(),
            ));
        }
        if n > 255 {
            return Err(CeremonyError::TooManyCustodians { count: n }.into());
        }
        let t = usize::from(self.threshold);
        if t > n {
            return Err(Error::Usage(format!(
                "--threshold {t} is more than the {n} custodians given: nobody could ever recover the credential"
            )));
        }
        if t == 0 {
            return Err(Error::Usage(
                "--threshold 0 is meaningless: give at least 2".into(),
            ));
        }
        if t == 1 && !self.allow_threshold_one {
            return Err(Error::Usage(
                "--threshold 1 lets any single custodian recover the credential: give 2 or more, or add --allow-threshold-one if that is really meant".into(),
            ));
        }
        for (i, c) in self.custodians.iter().enumerate() {
            if let Some(first) = self.custodians[..i]
                .iter()
                .find(|o| o.name.eq_ignore_ascii_case(&c.name))
            {
                return Err(CeremonyError::CustodianGivenTwice {
                    name: c.name.clone(),
                    first: first.name.clone(),
                }
                .into());
            }
        }
        if let Some(expires) = self.expires
            && expires <= now
        {
            return Err(Error::Usage(format!(
                "--expires {} is not in the future",
                clock::format(expires)
            )));
        }
        distribute::preflight(&self.outlets, &self.seal, &self.custodians)
    }
}

/// Seals a credential: generated in the HSM or imported, per `source`.
pub fn run(ctx: &Context, spec: &SealSpec, source: Source<'_>) -> Result<Report> {
    let mut draft = Draft::new(match &source {
        Source::Generate { .. } => "generate",
        Source::Import(_) => "import",
        Source::Fetch(f) => f.event,
    });
    check(NameKind::Seal, &spec.seal)?;
    let g = Guard::begin(ctx)?;
    let result = seal(&g, spec, source, &mut draft);
    g.finish(&mut draft, result)
}

fn seal(g: &Guard<'_>, spec: &SealSpec, source: Source<'_>, draft: &mut Draft) -> Result<Report> {
    let store = g.store();
    let now = clock::now()?;
    spec.validate(now)?;
    let cfg = store.env(&spec.env)?.clone();
    draft.env = Some(spec.env.clone());
    draft.seal = Some(spec.seal.clone());
    let settings = super::effective_settings(g.ctx, store, &spec.env)?;
    let mut spec = spec.clone();
    for c in &spec.custodians {
        refuse_offboarded(&settings, &c.name)?;
    }
    spec.custodians = spec
        .custodians
        .into_iter()
        .map(|c| c.with_settings(store, &settings))
        .collect::<Result<_>>()?;
    // Where the shares go, checked again now that the approved recipients are in.
    distribute::preflight(&spec.outlets, &spec.seal, &spec.custodians)?;
    let spec = &spec;
    let length = match &source {
        Source::Generate { length } => {
            if !LENGTH_RANGE.contains(length) {
                return Err(Error::Usage(format!(
                    "--length {length}: a generated credential has {} to {} bytes",
                    LENGTH_RANGE.start(),
                    LENGTH_RANGE.end()
                )));
            }
            *length
        }
        Source::Import(c) => c.expose().len(),
        // Known once fetched; checked against the import bounds then.
        Source::Fetch(_) => 0,
    };
    if spec.threshold == 1 {
        eprintln!(
            "warning: threshold 1: any single custodian, with the HSM, recovers the credential"
        );
    }
    if store.seal_exists(&spec.seal)? {
        return Err(CeremonyError::SealExists {
            seal: spec.seal.clone(),
            store: store.root().to_path_buf(),
        }
        .into());
    }
    let verb = match &source {
        Source::Generate { .. } => "generate",
        Source::Import(_) => "import",
        Source::Fetch(f) => f.event,
    };
    let origin = match &source {
        Source::Generate { .. } => "generated in the HSM",
        Source::Import(_) | Source::Fetch(_) => "imported",
    };
    let mut plan = Plan::prepare(&spec.outlets, &spec.seal, &spec.custodians, verb)?;
    let mech = cfg.wrap_mechanism;
    let mut needs = vec![
        Need::seal_key_generation(),
        Need::wrap(
            mech,
            format!(
                "wrap the credential with the mechanism environment '{}' was bound with (zeroth.toml)",
                spec.env
            ),
        ),
    ];
    if matches!(source, Source::Generate { .. }) {
        needs.push(Need::secret_generation(
            "generate the credential in the HSM (import one instead)",
        ));
    }
    let (record, delivered) = with_env_session(
        g,
        &spec.env,
        &needs,
        draft,
        |session, signer, draft| {
            let label = hsm::seal_key_label(&spec.env, &spec.seal, 1, 1);
            if !session.secret_keys_labelled(&label)?.is_empty() {
                return Err(CeremonyError::SealKeyLabelTaken {
                    token: session.token_label().to_string(),
                    label,
                }
                .into());
            }
            let key_id = random_id()?;
            let kseal = session.generate_seal_key(&label, &key_id)?;
            crate::fault::point("generate:after-key");
            draft.key_label = Some(label.clone());
            let mut fetched_detail = String::new();
            let sealed = (|| {
                let (source, length, extra) = match source {
                    Source::Fetch(f) => {
                        let got = (f.get)()?;
                        fetched_detail = got.detail;
                        let length = got.credential.expose().len();
                        if length == 0 || length > IMPORT_MAX {
                            return Err(CeremonyError::FetchedLength {
                                length,
                                max: IMPORT_MAX,
                            }
                            .into());
                        }
                        (
                            Source::Import(got.credential),
                            length,
                            Some((got.encoding, got.vault)),
                        )
                    }
                    other => (other, length, None),
                };
                seal_with_key(
                    session, signer, store, spec, &source, now, length, &label, &key_id, kseal,
                    mech, extra,
                )
            })()
            .and_then(|record| write_out(store, &mut plan, record));
            if sealed.is_err() {
                let _ = session.destroy(kseal);
            }
            let (record, delivered) = sealed?;
            draft.seal(&record);
            draft.custodians = record.custodians.iter().map(|c| c.name.clone()).collect();
            draft.detail = format!(
                "sealed {} of {}: a {}-byte credential {}, wrapped with {}; shares dealt to the custodians listed ({})",
                record.threshold,
                record.custodians.len(),
                record.credential.length,
                match record.credential.origin {
                    Origin::Generated => "generated in the HSM",
                    Origin::Imported => "imported",
                },
                record.key.mechanism,
                delivered.how()
            );
            if !fetched_detail.is_empty() {
                draft.detail = format!("{fetched_detail}; {}", draft.detail);
            }
            Ok((record, delivered))
        },
    )?;
    Ok(report(store, &record, &delivered, origin))
}

#[allow(clippy::too_many_arguments)]
fn seal_with_key(
    session: &dyn KeyStore,
    signer: &super::Signer,
    store: &Store,
    spec: &SealSpec,
    source: &Source,
    now: OffsetDateTime,
    length: usize,
    label: &str,
    key_id: &[u8; 16],
    kseal: Key,
    mech: hsm::WrapMechanism,
    extra: Option<(Encoding, Option<crate::seal::VaultBinding>)>,
) -> Result<(SealRecord, Vec<(String, Share)>)> {
    let object = match source {
        Source::Generate { .. } => session.generate_credential(mech.object_len(length))?,
        Source::Import(c) => session.import_credential(&hsm::pad_for(mech, c.expose()))?,
        Source::Fetch(_) => {
            return Err(CeremonyError::FetchedNotObtained.into());
        }
    };
    let wrapped = session.wrap(mech, kseal, object);
    let destroyed = session.destroy(object);
    let wrapped = wrapped?;
    destroyed?;

    let seal_id = random_id()?;
    let (origin, mut encoding) = match source {
        Source::Generate { .. } => (Origin::Generated, Encoding::Hex),
        Source::Import(_) | Source::Fetch(_) => (Origin::Imported, Encoding::Raw),
    };
    let mut vault = None;
    if let Some((e, v)) = extra {
        encoding = e;
        vault = v;
    }
    let mut record = SealRecord {
        format: RECORD_FORMAT,
        name: spec.seal.clone(),
        id: hex::encode(seal_id),
        env: spec.env.clone(),
        owner: spec.owner.clone(),
        purpose: spec.purpose.clone(),
        created: clock::format(now),
        sealed: clock::format(now),
        expires: spec.expires.map(clock::format),
        rotate_every_days: spec.rotate_every_days,
        version: 1,
        set: 1,
        threshold: spec.threshold,
        custodians: Vec::new(),
        credential: CredentialInfo {
            origin,
            length: length as u32,
            encoding,
            reuse: match source {
                Source::Import(c) => crate::reuse::reuse_mark(store, c, Origin::Imported),
                Source::Generate { .. } | Source::Fetch(_) => None,
            },
        },
        key: KeyRef {
            label: label.to_string(),
            id: hex::encode(key_id),
            mechanism: mech,
        },
        blob: Blob {
            nonce: String::new(),
            ciphertext: String::new(),
        },
        history: Vec::new(),
        log_head: None,
        pending: None,
        revoked: None,
        unlocks: match (&vault, spec.unlocks.is_empty()) {
            // A vault's key unlocks that vault: its cluster, else its address.
            (Some(b), true) => vec![crate::seal::vault_target(b)],
            _ => spec.unlocks.clone(),
        },
        access: None,
        owner_offboarded: None,
        vault,
        signature: None,
    };
    let shares = deal::deal(session, &mut record, &spec.custodians, &wrapped)?;
    signer.sign_record(session, store, &mut record)?;
    Ok((record, shares))
}

/// Hands out the shares, then writes the record. On failure, removes the files it
/// wrote.
fn write_out(
    store: &Store,
    plan: &mut Plan,
    (record, shares): (SealRecord, Vec<(String, Share)>),
) -> Result<(SealRecord, Delivered)> {
    let delivered = plan.deliver(&shares, &record.created)?;
    crate::fault::point("generate:after-shares");
    if let Err(e) = store.write_record(&record) {
        delivered.undo();
        return Err(e);
    }
    Ok((record, delivered))
}

/// The lines of a report that say where each custodian's share went, and the same as
/// JSON members, for generate, import, rekey and rotate.
pub(crate) fn handed_out(
    record_custodians: &[crate::seal::Custodian],
    delivered: &Delivered,
) -> (String, Vec<serde_json::Value>) {
    let width = record_custodians
        .iter()
        .map(|c| c.name.len())
        .max()
        .unwrap_or(0);
    let mut text = String::new();
    let mut json = Vec::new();
    for c in record_custodians {
        let (file, card) = delivered
            .custodians
            .iter()
            .find(|(n, _, _)| *n == c.name)
            .map(|(_, f, p)| (f.clone(), p.clone()))
            .unwrap_or_default();
        let mut places: Vec<String> = Vec::new();
        if let Some(f) = &file {
            places.push(f.display().to_string());
        }
        if let Some(p) = &card {
            places.push(p.display().to_string());
        }
        if delivered.on_terminal {
            places.push("shown on the terminal, confirmed".into());
        }
        // Each recipient is shown by its fingerprint, for the custodian to compare with
        // the key they hold: a swapped recipient is seen at the ceremony.
        let encrypted = c
            .recipient
            .as_deref()
            .map(|r| {
                if r == crate::recipient::PASSPHRASE {
                    " (encrypted to their passphrase)".to_string()
                } else {
                    match Recipient::parse(&c.name, r, "the record") {
                        Ok(parsed) => format!(
                            " (encrypted to their {} {})",
                            parsed.describe(),
                            parsed.fingerprint()
                        ),
                        Err(_) => " (encrypted to their key)".to_string(),
                    }
                }
            })
            .unwrap_or_default();
        text.push_str(&format!(
            "    {:>3}  {:<width$}  {}{encrypted}\n",
            c.x,
            c.name,
            places.join(", ")
        ));
        json.push(json!({
            "name": c.name,
            "x": c.x,
            "share_file": file,
            "card": card,
            "recipient": c.recipient,
            "shown_on_terminal": delivered.on_terminal,
            "commitment": c.commitment,
        }));
    }
    (text, json)
}

fn report(store: &Store, record: &SealRecord, delivered: &Delivered, origin: &str) -> Report {
    let n = record.custodians.len();
    let rotate_due = clock::parse_instant(&record.sealed)
        .map(|t| clock::format(t + time::Duration::days(i64::from(record.rotate_every_days))))
        .unwrap_or_default();
    let mut text = format!(
        "sealed '{}' in environment '{}': any {} of {} custodians recover it\n  credential: {} bytes, {origin}, wrapped with {} by K_seal '{}'\n  record:     {} (signed by {})\n  rotation:   due {rotate_due}; expires {}\n  shares{}:\n",
        record.name,
        record.env,
        record.threshold,
        n,
        record.credential.length,
        record.key.mechanism,
        record.key.label,
        store.record_path(&record.name).display(),
        record
            .signature
            .as_ref()
            .map(|s| s.key.as_str())
            .unwrap_or("?"),
        record.expires.as_deref().unwrap_or("never"),
        if delivered.on_terminal {
            ""
        } else {
            " (hand each file or card to its custodian, then delete your copy)"
        },
    );
    let (lines, custodians) = handed_out(&record.custodians, delivered);
    text.push_str(&lines);
    let json = json!({
        "seal": record.name,
        "env": record.env,
        "id": record.id,
        "version": record.version,
        "set": record.set,
        "threshold": record.threshold,
        "custodians": custodians,
        "origin": record.credential.origin,
        "length": record.credential.length,
        "key_label": record.key.label,
        "mechanism": record.key.mechanism,
        "record": store.record_path(&record.name),
        "rotation_due": rotate_due,
        "expires": record.expires,
    });
    Report::new(text, json)
}
