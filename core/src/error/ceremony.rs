//! The ceremony area: a ceremony's own refusals (quorum, seal state such as revoked,
//! expired or pending, approvals, owners, custodians, cleanup, the terminal).

use std::path::PathBuf;

use super::{Kind, area};

/// Why a ceremony refuses, or could not go on.
#[derive(Debug, thiserror::Error)]
pub enum CeremonyError {
    /// The token found under the pinned label has another serial than the one the trust
    /// file pins for the environment.
    /// Made by [`CeremonyError::token_serial_mismatch`].
    #[error(
        "token '{}' in {} has serial {}, but environment '{}' is pinned to serial {} ({}): this is not the environment's token",
        .0.token,
        .0.module.display(),
        .0.serial,
        .0.env,
        .0.pinned,
        .0.trust_file.display()
    )]
    TokenSerialMismatch(Box<SerialMismatch>),
    /// The token signed a log entry that the store's log lacks or holds otherwise: the
    /// store was rolled back.
    #[error(
        "the store is older than the token: token '{token}' last signed entry {seq} of the log of '{env}', but {} {}; the store was rolled back (restored from an old copy, or a ceremony's changes were lost): restore the newest copy of the store (e.g. from git) and try again",
        .log.display(),
        if *.other_entry { format!("holds another entry {seq}") } else { "ends before it".to_string() }
    )]
    StoreOlderThanToken {
        /// The token's label.
        token: String,
        /// The number of the last entry the token signed.
        seq: u64,
        /// The environment.
        env: String,
        /// The log file.
        log: PathBuf,
        /// True when the log holds another entry under that number; false when it ends
        /// before it.
        other_entry: bool,
    },
    /// The log has entries after the token's last signed one that do not verify.
    #[error(
        "{} has entries after the last one token '{token}' signed that do not verify: {problem}; zeroth signs nothing over them: see them with zeroth audit verify --env {env}, and restore the log from a trusted copy",
        .log.display()
    )]
    LogTailUnverified {
        /// The log file.
        log: PathBuf,
        /// The token's label.
        token: String,
        /// What is wrong with those entries.
        problem: String,
        /// The environment.
        env: String,
    },
    /// The ceremony did what was asked, but its log entry could not be written.
    #[error("the ceremony completed but its log entry could not be written: {detail}")]
    LogEntryNotWritten {
        /// Why the entry could not be written.
        detail: String,
    },
    /// The token carries the marker of another environment.
    #[error(
        "token '{token}' (serial {serial}) is marked for environment '{marked}', not '{env}': one token serves one environment"
    )]
    TokenMarkedForOtherEnv {
        /// The token's label.
        token: String,
        /// The token's serial.
        serial: String,
        /// The environment the token's marker names.
        marked: String,
        /// The environment the ceremony is for.
        env: String,
    },
    /// The token carries no zeroth environment marker.
    #[error(
        "token '{token}' (serial {serial}) carries no zeroth environment marker: it was reset or is not the token of '{env}'"
    )]
    TokenUnmarked {
        /// The token's label.
        token: String,
        /// The token's serial.
        serial: String,
        /// The environment the ceremony is for.
        env: String,
    },
    /// The environment's `sign_key_id` in `zeroth.toml` is not hex.
    #[error("sign_key_id of environment '{env}' in zeroth.toml is not hex")]
    SignKeyIdNotHex {
        /// The environment.
        env: String,
    },
    /// The token's signing key is not the one the trust file pins.
    /// Made by [`CeremonyError::signing_key_not_pinned`].
    #[error(
        "the signing key on token '{}' ({}) is not the key {} pins for environment '{}' ({}): this is not the token that was pinned",
        .0.token,
        .0.found,
        .0.trust_file.display(),
        .0.env,
        .0.pinned
    )]
    SigningKeyNotPinned(Box<KeyNotPinned>),
    /// The store's public key is not the public half of the token's signing key.
    #[error(
        "{} ({stored}) is not the public half of the signing key on token '{token}' ({found}): the store's key was replaced; restore it from a trusted copy",
        .path.display()
    )]
    StoreKeyReplaced {
        /// The store's public key file.
        path: PathBuf,
        /// The fingerprint of the store's key.
        stored: String,
        /// The token's label.
        token: String,
        /// The fingerprint of the key on the token.
        found: String,
    },
    /// A seal record carries no signature.
    #[error("{} is not signed: restore it from a trusted copy", .path.display())]
    RecordUnsigned {
        /// The record file.
        path: PathBuf,
    },
    /// A seal record is signed by another key than its environment's.
    #[error(
        "{} is signed by key {signer}, not by environment '{env}' key {key}: restore it from a trusted copy",
        .path.display()
    )]
    RecordSignedByOtherKey {
        /// The record file.
        path: PathBuf,
        /// The fingerprint of the key that signed it.
        signer: String,
        /// The record's environment.
        env: String,
        /// The fingerprint of the environment's key.
        key: String,
    },
    /// A seal record's signature does not verify: it was changed after signing.
    #[error(
        "{} fails its signature check: it was changed after zeroth signed it (threshold, custodians, commitments or blob); restore it from a trusted copy",
        .path.display()
    )]
    RecordSignatureInvalid {
        /// The record file.
        path: PathBuf,
    },
    /// The seal already has a pending operation.
    #[error(
        "seal '{seal}' already has a pending {kind} (operation {id}, written {created} by {operator}): confirm it with 'zeroth {kind} {seal} --confirm {id} --share NEW…' or drop it with --cancel {id} first"
    )]
    PendingExists {
        /// The seal.
        seal: String,
        /// The pending operation's kind (`rekey`, `rotate` …).
        kind: &'static str,
        /// The pending operation's id.
        id: String,
        /// When it was written.
        created: Box<str>,
        /// Who wrote it.
        operator: String,
    },
    /// The seal has no pending operation to confirm or cancel.
    #[error(
        "seal '{seal}' has no pending operation: nothing to confirm or cancel (it may have been confirmed or cancelled already)"
    )]
    NoPending {
        /// The seal.
        seal: String,
    },
    /// The pending operation is of another kind than the command's.
    #[error(
        "the pending operation of '{seal}' is a {pending}, not a {wanted}: use 'zeroth {pending} {seal} --confirm {id}'"
    )]
    PendingKindMismatch {
        /// The seal.
        seal: String,
        /// The kind of the operation pending.
        pending: &'static str,
        /// The kind the command confirms or cancels.
        wanted: &'static str,
        /// The pending operation's id.
        id: String,
    },
    /// The operation id given is not the pending operation's.
    #[error(
        "operation '{id}' is not the pending {kind} of '{seal}' (that one was written {created} by {operator}): check the id you were given"
    )]
    PendingIdMismatch {
        /// The id given.
        id: String,
        /// The pending operation's kind.
        kind: &'static str,
        /// The seal.
        seal: String,
        /// When the pending operation was written.
        created: Box<str>,
        /// Who wrote it.
        operator: String,
    },
    /// The record is a copy from before the seal was revoked.
    /// Made by [`CeremonyError::revoked_record_copy`].
    #[error(
        "seal '{}' was revoked at {} by {} ({}; log entry {}); {} is a copy from before: its keys are destroyed and nothing can open it any more",
        .0.seal,
        .0.time,
        .0.operator,
        .0.detail,
        .0.seq,
        .0.path.display()
    )]
    RevokedRecordCopy(Box<RevokedCopy>),
    /// The record is older than the log's last entry about it.
    /// Made by [`CeremonyError::record_older_than_log`].
    #[error(
        "{} is older than the log: entry {} ({} {}, {}) left record {}, and this record ({}) was signed before it; an old copy of the record was restored: restore the newest one (e.g. from git)",
        .0.path.display(),
        .0.seq,
        .0.event,
        "ok",
        .0.time,
        .0.fingerprint,
        .0.mine
    )]
    RecordOlderThanLog(Box<OlderThanLog>),
    /// The environment's approved settings cannot be used (bad signature, old copy).
    #[error("{detail}")]
    SettingsUnusable {
        /// Why, as the settings' check says it.
        detail: String,
    },
    /// The person at the terminal ended the input (Ctrl-D) at a prompt.
    #[error("stopped at the terminal (Ctrl-D)")]
    StoppedAtTerminal,
    /// Three pairs of passphrase entries at the terminal did not match.
    #[error("three passphrase entries did not match: nothing was sealed")]
    PassphraseEntriesDiffer,
    /// A line typed at the terminal is longer than zeroth reads.
    #[error("a line typed at the terminal is longer than 64 KiB")]
    TerminalLineTooLong,
    /// The terminal could not be used: polled, written, read or set.
    #[error("cannot {action}: {reason}")]
    TerminalFailed {
        /// What zeroth was doing: "write to the terminal" …
        action: &'static str,
        /// The operating system's reason.
        reason: String,
    },
    /// No signal watch is set up, so a share cannot be shown safely.
    #[error("cannot watch for signals while a share is on screen")]
    SignalWatchMissing,
    /// A step that asks first has no terminal to ask on, and `--yes` was not given.
    #[error("{without_terminal}, then run again with --yes (there is no terminal to ask on)")]
    NoTerminalToConfirm {
        /// What the person must do instead of being asked.
        without_terminal: String,
    },
    /// The person at the terminal answered no.
    #[error("{declined}")]
    Declined {
        /// What was therefore not done.
        declined: String,
    },
    /// The log is damaged: zeroth signs nothing over it.
    #[error(
        "the log of '{env}' is damaged at entry {seq} ({damage}): {detail}; zeroth does not sign over a damaged log"
    )]
    LogDamaged {
        /// The environment.
        env: String,
        /// The first damaged entry.
        seq: u64,
        /// The kind of damage.
        damage: String,
        /// What is wrong with it.
        detail: String,
    },
    /// The log is damaged: cleanup cannot read the seals' history.
    #[error(
        "the log of '{env}' is damaged at entry {seq} ({damage}): {detail}; cleanup destroys nothing while the seals' history cannot be read"
    )]
    CleanupLogDamaged {
        /// The environment.
        env: String,
        /// The first damaged entry.
        seq: u64,
        /// The kind of damage.
        damage: String,
        /// What is wrong with it.
        detail: String,
    },
    /// Cleanup met a record it cannot read.
    #[error("{detail}; cleanup destroys nothing while a record cannot be read")]
    CleanupRecordUnreadable {
        /// Why the record cannot be read.
        detail: String,
    },
    /// Cleanup met a record of the environment that fails to verify.
    #[error("{detail}; cleanup destroys nothing while a record of '{env}' fails to verify")]
    CleanupRecordUnverified {
        /// Why the record fails to verify.
        detail: String,
        /// The environment.
        env: String,
    },
    /// No share file was given and there is no terminal to enter shares on.
    #[error(
        "no shares given: pass --share FILE for each of at least {threshold} custodians, or run {verb} on a terminal for the custodians to enter their shares"
    )]
    NoSharesNoTerminal {
        /// The command.
        verb: String,
        /// The seal's threshold.
        threshold: u8,
    },
    /// Collecting shares on the terminal stopped on an error: nothing was combined.
    #[error(
        "{verb} refused: {detail} with {} of {threshold} shares entered ({}); nothing was combined",
        .entered.len(),
        names_or_none(.entered)
    )]
    CollectStopped {
        /// The command.
        verb: String,
        /// What stopped the collection.
        detail: String,
        /// The custodians whose shares were in.
        entered: Vec<String>,
        /// The seal's threshold.
        threshold: usize,
    },
    /// The approved settings do not exist yet: no environment is bound.
    #[error("the store has no environment yet: bind one first (zeroth env init)")]
    NoEnvironment,
    /// A custodian name that was offboarded is not given back.
    #[error(
        "custodian '{name}' was offboarded at {when}: a name that left is not given back; add the person under a new name"
    )]
    CustodianNameRetired {
        /// The custodian as the store knows them.
        name: String,
        /// When they were offboarded.
        when: String,
    },
    /// A custodian of that name exists under another case.
    #[error("custodian '{name}' exists already: names are unique without regard to case")]
    CustodianExistsOtherCase {
        /// The custodian as the store knows them.
        name: String,
    },
    /// The custodian exists with another recipient, and `--replace` was not given.
    #[error(
        "custodian '{name}' exists already, with recipient {recipient}: give --replace to change it"
    )]
    CustodianExists {
        /// The custodian.
        name: String,
        /// The fingerprint of their recorded recipient.
        recipient: String,
    },
    /// An environment's approved settings offboarded the custodian.
    #[error(
        "custodian '{name}' was offboarded at {when} (approved in '{env}'): add the person under a new name"
    )]
    CustodianOffboardedInEnv {
        /// The custodian as the settings know them.
        name: String,
        /// When they were offboarded.
        when: String,
        /// The environment whose settings say so.
        env: String,
    },
    /// The OS random generator failed.
    #[error("the OS random generator failed: {detail}")]
    RandomFailed {
        /// The generator's error.
        detail: String,
    },
    /// More custodians than shares can be dealt to.
    #[error("{count} custodians: at most 255 can hold shares")]
    TooManyCustodians {
        /// The number of custodians.
        count: usize,
    },
    /// An output directory given on the command line lies under a file that is not a
    /// directory.
    #[error("{flag} {}: {} is not a directory", .dir.display(), .found.display())]
    OutputNotDirectory {
        /// The option (`--out-dir`, `--paper`).
        flag: String,
        /// The directory given.
        dir: PathBuf,
        /// The file in the way.
        found: PathBuf,
    },
    /// A custodian with a recipient gets an encrypted share file, and no `--out-dir`
    /// was given.
    #[error(
        "custodian '{custodian}' has a recipient ({}): their share is an encrypted file, so give --out-dir DIR for it{}",
        if *.passphrase { "a passphrase" } else { "their key" },
        if *.terminal { " (the terminal shows shares in the clear, to custodians without a recipient)" } else { "" }
    )]
    RecipientNeedsOutDir {
        /// The custodian.
        custodian: String,
        /// True when the recipient is a passphrase, false when a key.
        passphrase: bool,
        /// True when the terminal is one of the outlets.
        terminal: bool,
    },
    /// The shares were to be shown on the terminal, and there is none.
    #[error(
        "{verb} has no terminal to show the shares on, one custodian at a time: give --out-dir DIR for share files or --paper DIR for printable cards"
    )]
    NoTerminalForShares {
        /// The command.
        verb: String,
    },
    /// Custodians protect their share with a passphrase typed on the terminal, and
    /// there is none.
    #[error(
        "custodian '{}' protects their share with a passphrase, typed on the terminal, and there is none: run {verb} on a terminal, or give them a key (NAME=age1… or an SSH public key)",
        .custodians.join("', '")
    )]
    NoTerminalForPassphrase {
        /// The custodians with a passphrase.
        custodians: Vec<String>,
        /// The command.
        verb: String,
    },
    /// The terminal the shares were to be shown on is gone.
    #[error("no terminal to show the shares on")]
    NoTerminalToShowShares,
    /// A custodian chose three passphrases too weak.
    #[error(
        "custodian '{custodian}': three passphrases too weak to protect a share of secret zero ({weakness}); nothing was sealed: choose a stronger one, or run again with --allow-weak-passphrase to accept a weak one knowingly"
    )]
    WeakPassphrases {
        /// The custodian.
        custodian: String,
        /// Why the last one was too weak.
        weakness: String,
    },
    /// A share group picked for the check is outside the share.
    #[error("a share group out of range")]
    ShareGroupOutOfRange,
    /// An offboarded custodian cannot be given a share.
    #[error(
        "custodian '{name}' was offboarded{} at {when}: an offboarded custodian cannot be given a share",
        as_recorded(.name, .recorded)
    )]
    CustodianOffboarded {
        /// The custodian as given.
        name: String,
        /// The custodian as the settings record them.
        recorded: String,
        /// When they were offboarded.
        when: String,
    },
    /// A custodian is given twice.
    #[error(
        "custodian '{name}' is given twice{}: each custodian holds one share",
        as_recorded(.name, .first)
    )]
    CustodianGivenTwice {
        /// The custodian as given the second time.
        name: String,
        /// The custodian as given the first time.
        first: String,
    },
    /// A seal of that name exists already.
    #[error("seal '{seal}' already exists in store {}: choose another name", .store.display())]
    SealExists {
        /// The seal.
        seal: String,
        /// The store's root.
        store: PathBuf,
    },
    /// The token holds a key under the label a new seal's key would get.
    #[error(
        "token '{token}' already holds a key labelled '{label}' that no record in this store references (left by an interrupted ceremony, or used by another store): make sure no store uses it, then delete it with pkcs11-tool --delete-object --type secrkey --label '{label}'"
    )]
    SealKeyLabelTaken {
        /// The token's label.
        token: String,
        /// The key's label.
        label: String,
    },
    /// The token holds a key under the label a pending set's key would get.
    #[error(
        "token '{token}' already holds a key labelled '{label}' that no record references (left by an interrupted ceremony): run 'zeroth cleanup --env {env}' first"
    )]
    PendingKeyLabelTaken {
        /// The token's label.
        token: String,
        /// The key's label.
        label: String,
        /// The environment.
        env: String,
    },
    /// The credential obtained to be sealed has a length zeroth does not seal.
    #[error("the credential obtained has {length} bytes: zeroth seals 1 to {max}")]
    FetchedLength {
        /// Its length in bytes.
        length: usize,
        /// The most zeroth seals.
        max: usize,
    },
    /// A credential to fetch reached the sealing step before it was obtained.
    #[error("a fetched credential is sealed once obtained")]
    FetchedNotObtained,
    /// The custodian was offboarded already.
    #[error("custodian '{name}' was already offboarded at {when}")]
    CustodianAlreadyOffboarded {
        /// The custodian.
        name: String,
        /// When they were offboarded.
        when: String,
    },
    /// The custodian holds no share of a live seal.
    #[error(
        "custodian '{name}' holds no share of any live seal in {}: nothing to offboard",
        .store.display()
    )]
    CustodianHoldsNothing {
        /// The custodian.
        name: String,
        /// The store's root.
        store: PathBuf,
    },
    /// The owner owns no live seal.
    #[error(
        "'{team}' owns no live seal in {}: nothing to offboard ('zeroth list' shows the owners)",
        .store.display()
    )]
    OwnerOwnsNothing {
        /// The owner.
        team: String,
        /// The store's root.
        store: PathBuf,
    },
    /// Every live seal of the owner is marked offboarded already.
    #[error(
        "'{team}' was offboarded already: {} wait for a new owner ('zeroth owner transfer SEAL --to NEW')",
        .seals.join(", ")
    )]
    OwnerAlreadyOffboarded {
        /// The owner.
        team: String,
        /// Its seals.
        seals: Vec<String>,
    },
    /// The seal is owned by the new owner already.
    #[error("'{seal}' is owned by '{owner}' already")]
    AlreadyOwned {
        /// The seal.
        seal: String,
        /// Its owner.
        owner: String,
    },
    /// The seal declares those systems already.
    #[error("'{seal}' declares that already: {}", .unlocks.join(", "))]
    UnlocksUnchanged {
        /// The seal.
        seal: String,
        /// The systems it unlocks.
        unlocks: Vec<String>,
    },
    /// The seal has that access policy already.
    #[error("'{seal}' has that access policy already")]
    AccessUnchanged {
        /// The seal.
        seal: String,
    },
    /// The operation was confirmed: there is nothing to cancel.
    #[error("operation {id} of '{seal}' was confirmed at {retired}: there is nothing to cancel")]
    OperationConfirmed {
        /// The operation's id.
        id: String,
        /// The seal.
        seal: String,
        /// When its set was made current.
        retired: String,
    },
    /// The log says the operation was confirmed, yet the record still has it pending:
    /// the record is an old copy.
    #[error(
        "the log says operation {id} of '{seal}' was confirmed (entry {seq}, {time}): this record is an old copy, and cancelling would destroy the live key; restore the newest record"
    )]
    LogSaysConfirmed {
        /// The operation's id.
        id: String,
        /// The seal.
        seal: String,
        /// The confirming log entry.
        seq: u64,
        /// Its time.
        time: String,
    },
    /// A pending vault key rotation is confirmed with `zeroth vault rotate`.
    #[error(
        "operation {id} rotates a vault's key, which the vault must verify before the switch: confirm it with 'zeroth vault rotate {seal} --confirm {id}'"
    )]
    VaultRotationConfirm {
        /// The operation's id.
        id: String,
        /// The seal.
        seal: String,
    },
    /// The K_seal of a pending operation is not on the token.
    #[error(
        "the K_seal of pending operation {id} ('{label}') is not on token '{token}': nothing can confirm it; drop it with --cancel {id}"
    )]
    PendingKeyMissing {
        /// The operation's id.
        id: String,
        /// The key's label.
        label: String,
        /// The token's label.
        token: String,
    },
    /// The record changed while the new credential was delivered.
    #[error(
        "the record of '{seal}' changed while the new credential was being delivered (another ceremony ran): nothing switched; check 'zeroth list', then confirm again"
    )]
    RecordChangedDuringDelivery {
        /// The seal.
        seal: String,
    },
    /// The K_seal of the current set is not on the token.
    #[error(
        "K_seal '{label}' of seal '{seal}' is not on token '{token}': the seal was revoked or rekeyed, or this record is an old copy"
    )]
    CurrentKeyMissing {
        /// The key's label.
        label: String,
        /// The seal.
        seal: String,
        /// The token's label.
        token: String,
    },
    /// A custodian to leave out holds no share of the seal.
    #[error(
        "--without {name}: '{name}' holds no share of '{seal}' (its custodians are {})",
        .custodians.join(", ")
    )]
    NotACustodian {
        /// The custodian given.
        name: String,
        /// The seal.
        seal: String,
        /// Its custodians.
        custodians: Vec<String>,
    },
    /// A custodian to add holds a share of the seal already.
    #[error(
        "--custodian {given}: '{existing}' already holds a share of '{seal}' (to change where their new share is encrypted to, give --custodian {existing}=RECIPIENT)"
    )]
    AlreadyHoldsShare {
        /// The custodian as given.
        given: String,
        /// The custodian as the record names them.
        existing: String,
        /// The seal.
        seal: String,
    },
    /// An offboarded custodian of the seal was not left out of the new set.
    #[error(
        "custodian '{name}' was offboarded at {when} and must be left out: add --without {name}"
    )]
    OffboardedNotLeftOut {
        /// The custodian.
        name: String,
        /// When they were offboarded.
        when: String,
    },
    /// A seal holding a vault's key is rotated with `zeroth vault rotate`.
    #[error(
        "seal '{seal}' holds a vault's key, which the vault makes itself: rotate it with 'zeroth vault rotate {seal}'"
    )]
    VaultSealRotate {
        /// The seal.
        seal: String,
    },
    /// The new set would have no custodians.
    #[error("the new set would have no custodians")]
    NoCustodiansInNewSet,
    /// The threshold does not fit the custodians of the new set.
    #[error(
        "threshold {threshold} does not fit the {custodians} custodians of the new set: give --threshold between 2 and {custodians}"
    )]
    ThresholdDoesNotFit {
        /// The threshold.
        threshold: u8,
        /// The number of custodians of the new set.
        custodians: usize,
    },
    /// A threshold of 1 for the new set.
    #[error(
        "threshold 1 would let any single custodian recover the credential: give --threshold 2 or more"
    )]
    NewSetThresholdOne,
    /// An imported credential is rotated only by importing the new one.
    #[error(
        "seal '{seal}' holds an imported credential: give the new one with --import (on stdin)"
    )]
    ImportedNeedsImport {
        /// The seal.
        seal: String,
    },
    /// The key the record names is not on the token: revoking would destroy nothing.
    #[error(
        "the key of '{seal}' that the record names, {label}, is not on token '{token}': revoking would destroy nothing that opens the seal now. If it was destroyed outside zeroth the seal already opens nothing: revoke it to say so in its record; if the token was replaced, find the one that holds it"
    )]
    RevokeKeyMissing {
        /// The seal.
        seal: String,
        /// The key's label.
        label: String,
        /// The token's label.
        token: String,
    },
    /// A key of the seal cannot be destroyed (CKA_DESTROYABLE is false).
    #[error(
        "key {label} of '{seal}' on token '{token}' cannot be destroyed (CKA_DESTROYABLE is false): revoke would leave it; ask the token's administrator to lift the restriction, or rotate the seal onto a key that can be destroyed"
    )]
    KeyNotDestroyable {
        /// The key's label.
        label: String,
        /// The seal.
        seal: String,
        /// The token's label.
        token: String,
    },
    /// The seal's vault binding names no address to reach.
    #[error("no vault address to reach")]
    NoVaultAddress,
    /// Share files failed verification.
    #[error("{report}{bad} of {total} share files failed verification")]
    SharesFailedVerification {
        /// The line of each share file, as shown.
        report: String,
        /// How many failed.
        bad: usize,
        /// How many were given.
        total: usize,
    },
    /// Share files given are bad: nothing was combined.
    #[error("{}", bad_shares(.verb, *.given, .rejected))]
    BadShares {
        /// The command.
        verb: String,
        /// How many share files were given.
        given: usize,
        /// The bad ones: each file, its custodian when known, and why it was refused.
        rejected: Vec<(PathBuf, Option<String>, String)>,
    },
    /// Fewer shares than the threshold were given.
    #[error(
        "{verb} refused: {} of {threshold} shares given ({}); {} more needed, from any of: {}",
        .given.len(),
        names_or_none(.given),
        .threshold.saturating_sub(.given.len()),
        .holders.join(", ")
    )]
    NotEnoughShares {
        /// The command.
        verb: String,
        /// The custodians whose shares were accepted.
        given: Vec<String>,
        /// The seal's threshold.
        threshold: usize,
        /// The custodians who could still give one.
        holders: Vec<String>,
    },
    /// A share matches its commitment but not the other shares.
    #[error(
        "the share of '{custodian}' ({}) matches its commitment but not the other shares: the shares were dealt inconsistently; run a drill with every share and report it",
        .path.display()
    )]
    SharesInconsistent {
        /// The custodian.
        custodian: String,
        /// Their share file.
        path: PathBuf,
    },
    /// The seal's access policy requires a reason to recover it.
    #[error(
        "seal '{seal}' requires a reason to recover it: add --reason 'why, in one line' (it goes into the signed log)"
    )]
    ReasonRequired {
        /// The seal.
        seal: String,
    },
    /// The seal expired.
    #[error(
        "seal '{seal}' expired at {expires}: zeroth does not unseal an expired credential; its owner ({owner}) must replace it"
    )]
    SealExpired {
        /// The seal.
        seal: String,
        /// When it expired.
        expires: String,
        /// Its owner.
        owner: String,
    },
    /// The seal's K_seal is gone from the token.
    #[error("K_seal '{label}' is not on token '{token}': {why}; nothing can open it any more")]
    SealKeyGone {
        /// The key's label.
        label: String,
        /// The token's label.
        token: String,
        /// What the log says became of it.
        why: String,
    },
    /// The credential unwrapped has another length than the record says.
    #[error(
        "the credential unwrapped for '{seal}' has {found} bytes where the record says {length}: record and token disagree"
    )]
    CredentialLength {
        /// The seal.
        seal: String,
        /// The length unwrapped.
        found: usize,
        /// The length recorded.
        length: usize,
    },
    /// The manual page could not be rendered.
    #[error("cannot render the manual page: {source}")]
    ManualRender {
        /// The renderer's error.
        source: std::io::Error,
    },
    /// The completion script could not be written.
    #[error("cannot write the completion script: {source}")]
    CompletionWrite {
        /// The writer's error.
        source: std::io::Error,
    },
    /// The secret to import could not be read from the terminal.
    #[error("cannot read the secret from the terminal: {source}")]
    SecretFromTerminal {
        /// The terminal's error.
        source: std::io::Error,
    },
    /// The secret to import could not be read from stdin.
    #[error("cannot read the secret from stdin: {source}")]
    SecretFromStdin {
        /// The error reading stdin.
        source: std::io::Error,
    },
    /// The two entries of the secret typed on the terminal differ.
    #[error("the two entries differ: nothing was sealed")]
    SecretEntriesDiffer,
    /// The secret typed on the terminal is empty.
    #[error("the secret is empty: nothing was sealed")]
    SecretEmpty,
    /// The secret is to be read from stdin, which is a terminal.
    #[error(
        "import reads the secret from stdin, which is a terminal: pipe it in (printf '%s' \"$SECRET\" | zeroth import …), or add --from-terminal to type it"
    )]
    StdinIsTerminal,
    /// Stdin holds no secret.
    #[error("stdin is empty: there is no secret to seal")]
    StdinEmpty,
    /// The secret on stdin is longer than zeroth seals.
    #[error(
        "the secret on stdin is longer than {max} bytes (64 KiB): seal a key to it instead of the data itself"
    )]
    SecretTooLong {
        /// The most zeroth seals, in bytes.
        max: usize,
    },
}

/// A token whose serial is not the pinned one ([`CeremonyError::TokenSerialMismatch`]).
#[derive(Debug)]
pub struct SerialMismatch {
    /// The token's label.
    pub token: String,
    /// The PKCS#11 module the token was found through.
    pub module: PathBuf,
    /// The serial the token reports.
    pub serial: String,
    /// The environment.
    pub env: String,
    /// The serial the trust file pins.
    pub pinned: String,
    /// The trust file holding the pin.
    pub trust_file: PathBuf,
}

/// A token whose signing key is not the pinned one
/// ([`CeremonyError::SigningKeyNotPinned`]).
#[derive(Debug)]
pub struct KeyNotPinned {
    /// The token's label.
    pub token: String,
    /// The fingerprint of the key on the token.
    pub found: String,
    /// The trust file holding the pin.
    pub trust_file: PathBuf,
    /// The environment.
    pub env: String,
    /// The pinned fingerprint.
    pub pinned: String,
}

/// A record copied before its seal was revoked ([`CeremonyError::RevokedRecordCopy`]).
#[derive(Debug)]
pub struct RevokedCopy {
    /// The seal.
    pub seal: String,
    /// When it was revoked.
    pub time: String,
    /// Who revoked it.
    pub operator: String,
    /// The revocation's log detail.
    pub detail: String,
    /// The log entry of the revocation.
    pub seq: u64,
    /// The record file.
    pub path: PathBuf,
}

/// A record older than the log's last entry about it
/// ([`CeremonyError::RecordOlderThanLog`]).
#[derive(Debug)]
pub struct OlderThanLog {
    /// The record file.
    pub path: PathBuf,
    /// The log entry that left a newer record.
    pub seq: u64,
    /// That entry's event.
    pub event: String,
    /// That entry's time.
    pub time: String,
    /// The fingerprint of the record that entry left.
    pub fingerprint: String,
    /// The fingerprint of the record found.
    pub mine: String,
}

/// The names joined, or "none".
fn names_or_none(names: &[String]) -> String {
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    }
}

/// " (as 'recorded')" when a name was recorded under another case.
fn as_recorded(name: &str, recorded: &str) -> String {
    if recorded != name {
        format!(" (as '{recorded}')")
    } else {
        String::new()
    }
}

/// The refusal listing each bad share file.
fn bad_shares(verb: &str, given: usize, rejected: &[(PathBuf, Option<String>, String)]) -> String {
    let mut msg = format!(
        "{verb} refused: {} of the {given} share files given {} bad; nothing was combined\n",
        rejected.len(),
        if rejected.len() == 1 { "is" } else { "are" }
    );
    for (path, custodian, reason) in rejected {
        msg.push_str(&format!(
            "  - share file {}{}: {reason}\n",
            path.display(),
            custodian
                .as_ref()
                .map(|c| format!(" (custodian {c})"))
                .unwrap_or_default(),
        ));
    }
    msg.push_str("remove or replace the bad shares and run again");
    msg
}

impl CeremonyError {
    /// The token of `env` found through `module` reports `serial`, and `trust_file`
    /// pins `pinned`.
    pub fn token_serial_mismatch(
        token: String,
        module: PathBuf,
        serial: String,
        env: String,
        pinned: String,
        trust_file: PathBuf,
    ) -> Self {
        CeremonyError::TokenSerialMismatch(Box::new(SerialMismatch {
            token,
            module,
            serial,
            env,
            pinned,
            trust_file,
        }))
    }

    /// The signing key on `token` has fingerprint `found`; `trust_file` pins `pinned`
    /// for `env`.
    pub fn signing_key_not_pinned(
        token: String,
        found: String,
        trust_file: PathBuf,
        env: String,
        pinned: String,
    ) -> Self {
        CeremonyError::SigningKeyNotPinned(Box::new(KeyNotPinned {
            token,
            found,
            trust_file,
            env,
            pinned,
        }))
    }

    /// The record of `seal` at `path` is a copy from before its revocation, log entry
    /// `seq` written at `time` by `operator` saying `detail`.
    pub fn revoked_record_copy(
        seal: String,
        time: String,
        operator: String,
        detail: String,
        seq: u64,
        path: PathBuf,
    ) -> Self {
        CeremonyError::RevokedRecordCopy(Box::new(RevokedCopy {
            seal,
            time,
            operator,
            detail,
            seq,
            path,
        }))
    }

    /// The record at `path` (fingerprint `mine`) is older than log entry `seq` (`event`
    /// at `time`), which left the record `fingerprint`.
    pub fn record_older_than_log(
        path: PathBuf,
        seq: u64,
        event: String,
        time: String,
        fingerprint: String,
        mine: String,
    ) -> Self {
        CeremonyError::RecordOlderThanLog(Box::new(OlderThanLog {
            path,
            seq,
            event,
            time,
            fingerprint,
            mine,
        }))
    }

    /// Who can fix it.
    pub fn kind(&self) -> Kind {
        use CeremonyError::*;
        match self {
            SignKeyIdNotHex { .. }
            | NoTerminalToConfirm { .. }
            | NoSharesNoTerminal { .. }
            | NoEnvironment
            | TooManyCustodians { .. }
            | OutputNotDirectory { .. }
            | RecipientNeedsOutDir { .. }
            | NoTerminalForShares { .. }
            | NoTerminalForPassphrase { .. }
            | NoTerminalToShowShares
            | CustodianGivenTwice { .. }
            | CustodianHoldsNothing { .. }
            | OwnerOwnsNothing { .. }
            | OwnerAlreadyOffboarded { .. }
            | AlreadyOwned { .. }
            | UnlocksUnchanged { .. }
            | AccessUnchanged { .. }
            | VaultRotationConfirm { .. }
            | NotACustodian { .. }
            | AlreadyHoldsShare { .. }
            | VaultSealRotate { .. }
            | NoCustodiansInNewSet
            | ThresholdDoesNotFit { .. }
            | NewSetThresholdOne
            | ImportedNeedsImport { .. }
            | NoVaultAddress
            | ReasonRequired { .. }
            | SecretEntriesDiffer
            | SecretEmpty
            | StdinIsTerminal
            | StdinEmpty
            | SecretTooLong { .. }
            | TerminalLineTooLong => Kind::Usage,
            LogEntryNotWritten { .. }
            | RandomFailed { .. }
            | ShareGroupOutOfRange
            | FetchedLength { .. }
            | FetchedNotObtained
            | ManualRender { .. }
            | CompletionWrite { .. }
            | SecretFromTerminal { .. }
            | SecretFromStdin { .. }
            | TerminalFailed { .. }
            | SignalWatchMissing => Kind::Failed,
            TokenSerialMismatch(_)
            | StoreOlderThanToken { .. }
            | LogTailUnverified { .. }
            | TokenMarkedForOtherEnv { .. }
            | TokenUnmarked { .. }
            | SigningKeyNotPinned(_)
            | StoreKeyReplaced { .. }
            | RecordUnsigned { .. }
            | RecordSignedByOtherKey { .. }
            | RecordSignatureInvalid { .. }
            | PendingExists { .. }
            | NoPending { .. }
            | PendingKindMismatch { .. }
            | PendingIdMismatch { .. }
            | RevokedRecordCopy(_)
            | RecordOlderThanLog(_)
            | SettingsUnusable { .. }
            | Declined { .. }
            | StoppedAtTerminal
            | PassphraseEntriesDiffer
            | LogDamaged { .. }
            | CleanupLogDamaged { .. }
            | CleanupRecordUnreadable { .. }
            | CleanupRecordUnverified { .. }
            | CollectStopped { .. }
            | CustodianNameRetired { .. }
            | CustodianExistsOtherCase { .. }
            | CustodianExists { .. }
            | CustodianOffboardedInEnv { .. }
            | WeakPassphrases { .. }
            | CustodianOffboarded { .. }
            | SealExists { .. }
            | SealKeyLabelTaken { .. }
            | PendingKeyLabelTaken { .. }
            | CustodianAlreadyOffboarded { .. }
            | OperationConfirmed { .. }
            | LogSaysConfirmed { .. }
            | PendingKeyMissing { .. }
            | RecordChangedDuringDelivery { .. }
            | CurrentKeyMissing { .. }
            | OffboardedNotLeftOut { .. }
            | RevokeKeyMissing { .. }
            | KeyNotDestroyable { .. }
            | SharesFailedVerification { .. }
            | BadShares { .. }
            | NotEnoughShares { .. }
            | SharesInconsistent { .. }
            | SealExpired { .. }
            | SealKeyGone { .. }
            | CredentialLength { .. } => Kind::Refused,
        }
    }
}

area!(CeremonyError, Ceremony);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    #[test]
    fn each_situation_has_its_exit_code() {
        let refused = Error::from(CeremonyError::SealExpired {
            seal: "db".into(),
            expires: "2026-01-01T00:00:00Z".into(),
            owner: "team-db".into(),
        });
        assert_eq!(refused.exit_code(), 3);
        let usage = Error::from(CeremonyError::NoSharesNoTerminal {
            verb: "unseal".into(),
            threshold: 2,
        });
        assert_eq!(usage.exit_code(), 2);
        let failed = Error::from(CeremonyError::RandomFailed {
            detail: "no entropy".into(),
        });
        assert_eq!(failed.exit_code(), 4);
        let stopped = CeremonyError::CollectStopped {
            verb: "unseal".into(),
            detail: "the token is gone".into(),
            entered: vec!["alice".into()],
            threshold: 2,
        };
        assert_eq!(stopped.kind(), Kind::Refused);
        // Results carry it by value: the largest situations are boxed to keep it small.
        assert!(std::mem::size_of::<CeremonyError>() < 128);
    }

    #[test]
    fn messages_name_what_is_at_fault() {
        let stopped = CeremonyError::CollectStopped {
            verb: "unseal".into(),
            detail: "the token is gone".into(),
            entered: vec![],
            threshold: 2,
        };
        assert_eq!(
            stopped.to_string(),
            "unseal refused: the token is gone with 0 of 2 shares entered (none); nothing was combined"
        );
        let short = CeremonyError::NotEnoughShares {
            verb: "unseal".into(),
            given: vec!["alice".into()],
            threshold: 3,
            holders: vec!["bob".into(), "carol".into()],
        };
        assert_eq!(
            short.to_string(),
            "unseal refused: 1 of 3 shares given (alice); 2 more needed, from any of: bob, carol"
        );
        let twice = CeremonyError::CustodianGivenTwice {
            name: "Alice".into(),
            first: "alice".into(),
        };
        assert_eq!(
            twice.to_string(),
            "custodian 'Alice' is given twice (as 'alice'): each custodian holds one share"
        );
    }
}
