//! How strong a custodian's passphrase is, judged by zxcvbn (the `zxcvbn` crate, a port
//! of Dropbox's estimator): dictionaries of common passwords, names and words, keyboard
//! patterns, dates, repeats and l33t substitutions, and the number of guesses an
//! attacker needs.
//!
//! A passphrase share is an age file anyone who reads the store's neighbourhood (a
//! backup, a laptop) may hold; age's scrypt makes each guess cost about a second on one
//! core, but an attacker with the file guesses offline, in parallel, for as long as
//! they like. So zeroth asks for zxcvbn's best score: more than 10^10 guesses, about
//! 30 years at 10^4 guesses a second. A weaker one is refused, with why, unless the
//! ceremony was run with `--allow-weak-passphrase`.

/// The verdict on a passphrase that is too weak: why, and how to do better. `None`
/// when the passphrase is strong enough. `context` holds words an attacker would try
/// first (the custodian's and the seal's names).
pub fn weakness(passphrase: &str, context: &[&str]) -> Option<String> {
    let entropy = zxcvbn::zxcvbn(passphrase, context);
    if entropy.score() >= zxcvbn::Score::Four {
        return None;
    }
    let mut why = Vec::new();
    if let Some(feedback) = entropy.feedback()
        && let Some(w) = feedback.warning()
    {
        why.push(w.to_string());
    }
    why.push(format!(
        "about {} guesses find it, {} at 10,000 guesses a second against the share file; a passphrase for secret zero needs more than 10^10",
        human(entropy.guesses()),
        entropy.crack_times().offline_slow_hashing_1e4_per_second()
    ));
    let mut text = why.join("; ");
    if let Some(feedback) = entropy.feedback() {
        let tips: Vec<String> = feedback
            .suggestions()
            .iter()
            .map(|s| s.to_string())
            .collect();
        if !tips.is_empty() {
            text.push_str(&format!(" ({})", tips.join(" ")));
        }
    }
    Some(text)
}

/// A guess count in words a person reads at a glance: 1200, 3.4 million, 10^12.
fn human(n: u64) -> String {
    match n {
        0..=99_999 => n.to_string(),
        100_000..=999_999_999 => format!("{:.1} million", n as f64 / 1e6),
        _ => format!("10^{}", (n as f64).log10().floor() as u32),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_common_and_patterned_passphrases_are_weak() {
        for weak in [
            "abc",
            "password1",
            "qwertyuiop",
            "alice2024",
            "correct horse",
            "11111111111",
        ] {
            assert!(weakness(weak, &["alice", "vault-root"]).is_some(), "{weak}");
        }
        let why = weakness("abc", &[]).unwrap();
        assert!(why.contains("guesses"), "{why}");
        // The custodian's own name counts against them.
        assert!(weakness("alice-vault-root", &["alice", "vault-root"]).is_some());
    }

    #[test]
    fn long_uncommon_passphrases_are_strong() {
        for strong in [
            "plinth marmalade oscilloscope rubric",
            "Tz8#qv!w2Lp0@xR4",
            "granite-wombat-calliope-1987-thimble",
        ] {
            assert_eq!(weakness(strong, &["alice"]), None, "{strong}");
        }
    }
}
