//! `check --metrics`: the governance state in the Prometheus text exposition format, as
//! node_exporter's textfile collector reads it (a `*.prom` file replaced whole, never
//! seen half-written), so an alert fires without anyone reading `check`.
//!
//! Every series is a gauge. Per seal (labels `env`, `seal`): the days since its last
//! successful, signed unseal, drill and revocation drill (absent when there was none:
//! `zeroth_seal_info` and the `*_never` series say so), the days to its rotation and to
//! its expiry (negative once passed), and its findings by severity. For the store: the
//! findings by id and severity, and when the check ran.

use std::fmt::Write as _;
use std::path::Path;

use time::OffsetDateTime;

use crate::error::{Error, Result};

/// One seal's figures.
pub struct SealFigures<'a> {
    /// Its environment.
    pub env: &'a str,
    /// Its name.
    pub seal: &'a str,
    /// Who answers for it.
    pub owner: &'a str,
    /// active, invalid, revoked or expired.
    pub status: &'a str,
    /// Its last successful, signed unseal (RFC 3339).
    pub last_unseal: Option<&'a str>,
    /// Its last successful, signed drill.
    pub last_drill: Option<&'a str>,
    /// Its last successful, signed revocation drill.
    pub last_revocation_drill: Option<&'a str>,
    /// When its rotation falls due.
    pub rotation_due: Option<OffsetDateTime>,
    /// When it expires.
    pub expires: Option<OffsetDateTime>,
    /// Its error-level findings.
    pub errors: usize,
    /// Its warnings.
    pub warnings: usize,
}

/// A finding, as the metrics count it.
pub struct FindingFigure<'a> {
    /// Its id.
    pub id: &'a str,
    /// error or warning.
    pub severity: &'a str,
}

/// A label value, escaped as the text format wants (backslash, double quote, newline).
fn label(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

fn days(seconds: i64) -> f64 {
    seconds as f64 / 86_400.0
}

fn since(t: Option<&str>, now: OffsetDateTime) -> Option<f64> {
    let t = crate::clock::parse_instant(t?).ok()?;
    Some(days((now - t).whole_seconds()))
}

struct Family {
    name: &'static str,
    help: &'static str,
    samples: Vec<(String, f64)>,
}

impl Family {
    fn new(name: &'static str, help: &'static str) -> Family {
        Family {
            name,
            help,
            samples: Vec::new(),
        }
    }

    fn add(&mut self, labels: String, value: f64) {
        self.samples.push((labels, value));
    }
}

/// The text of the metrics.
pub fn render(
    now: OffsetDateTime,
    seals: &[SealFigures<'_>],
    findings: &[FindingFigure<'_>],
) -> String {
    let mut info = Family::new(
        "zeroth_seal_info",
        "A seal of the store (value 1), with its owner and status.",
    );
    let mut unseal = Family::new(
        "zeroth_seal_days_since_unseal",
        "Days since the seal's last successful, signed unseal (absent: never unsealed).",
    );
    let mut drill = Family::new(
        "zeroth_seal_days_since_drill",
        "Days since the seal's last successful, signed drill (absent: never drilled).",
    );
    let mut revocation = Family::new(
        "zeroth_seal_days_since_revocation_drill",
        "Days since the seal's last successful, signed revocation drill (absent: never).",
    );
    let mut never = Family::new(
        "zeroth_seal_never",
        "1 when the seal was never unsealed, drilled or revocation-drilled (label what), else 0.",
    );
    let mut rotation = Family::new(
        "zeroth_seal_days_to_rotation",
        "Days until the seal's rotation falls due (negative: overdue).",
    );
    let mut expiry = Family::new(
        "zeroth_seal_days_to_expiry",
        "Days until the seal expires (negative: expired; absent: no expiry).",
    );
    let mut per_seal = Family::new(
        "zeroth_seal_findings",
        "Findings of check about the seal, by severity.",
    );
    for s in seals {
        let key = format!("env=\"{}\",seal=\"{}\"", label(s.env), label(s.seal));
        info.add(
            format!(
                "{key},owner=\"{}\",status=\"{}\"",
                label(s.owner),
                label(s.status)
            ),
            1.0,
        );
        for (family, what, t) in [
            (&mut unseal, "unseal", s.last_unseal),
            (&mut drill, "drill", s.last_drill),
            (&mut revocation, "revocation_drill", s.last_revocation_drill),
        ] {
            let d = since(t, now);
            if let Some(d) = d {
                family.add(key.clone(), d);
            }
            never.add(
                format!("{key},what=\"{what}\""),
                if d.is_some() { 0.0 } else { 1.0 },
            );
        }
        if let Some(t) = s.rotation_due {
            rotation.add(key.clone(), days((t - now).whole_seconds()));
        }
        if let Some(t) = s.expires {
            expiry.add(key.clone(), days((t - now).whole_seconds()));
        }
        per_seal.add(format!("{key},severity=\"error\""), s.errors as f64);
        per_seal.add(format!("{key},severity=\"warning\""), s.warnings as f64);
    }
    let mut by_id = Family::new(
        "zeroth_findings",
        "Findings of check, by id and severity (only ids found).",
    );
    let mut counts: std::collections::BTreeMap<(&str, &str), usize> = Default::default();
    for f in findings {
        *counts.entry((f.id, f.severity)).or_default() += 1;
    }
    for ((id, severity), n) in counts {
        by_id.add(
            format!("id=\"{}\",severity=\"{}\"", label(id), label(severity)),
            n as f64,
        );
    }
    let mut totals = Family::new(
        "zeroth_findings_by_severity",
        "Findings of check, by severity (0 when none).",
    );
    for severity in ["error", "warning"] {
        totals.add(
            format!("severity=\"{severity}\""),
            findings.iter().filter(|f| f.severity == severity).count() as f64,
        );
    }
    let mut when = Family::new(
        "zeroth_check_timestamp_seconds",
        "When check ran (Unix time): a file that stops changing means check stopped running.",
    );
    when.add(String::new(), now.unix_timestamp() as f64);

    let mut out = String::new();
    for family in [
        info, unseal, drill, revocation, never, rotation, expiry, per_seal, by_id, totals, when,
    ] {
        let _ = writeln!(out, "# HELP {} {}", family.name, family.help);
        let _ = writeln!(out, "# TYPE {} gauge", family.name);
        for (labels, value) in family.samples {
            if labels.is_empty() {
                let _ = writeln!(out, "{} {value}", family.name);
            } else {
                let _ = writeln!(out, "{}{{{labels}}} {value}", family.name);
            }
        }
    }
    out
}

/// Writes `text` to `path` as the textfile collector wants: a temporary file in the same
/// directory renamed over `path`, so the collector never reads half a file. The
/// metrics name seals and findings, no secret: the file is 0644.
pub fn write(path: &Path, text: &str) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        return Err(Error::Usage(format!(
            "--metrics {}: the directory {} does not exist",
            path.display(),
            dir.display()
        )));
    }
    let fail = |e: std::io::Error| Error::io("write", path, e);
    let mut tmp = tempfile::Builder::new()
        .prefix(".zeroth-metrics")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(fail)?;
    use std::io::Write;
    tmp.write_all(text.as_bytes()).map_err(fail)?;
    use std::os::unix::fs::PermissionsExt;
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o644))
        .map_err(fail)?;
    tmp.persist(path).map_err(|e| fail(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn a_seal_never_unsealed_has_no_days_since_but_says_never() {
        let now = crate::clock::parse_instant("2030-01-10T00:00:00Z").unwrap();
        let due = crate::clock::parse_instant("2030-01-05T12:00:00Z").unwrap();
        let seals = [SealFigures {
            env: "prod",
            seal: "s",
            owner: "o",
            status: "rotation-overdue",
            last_unseal: None,
            last_drill: Some("2030-01-09T00:00:00Z"),
            last_revocation_drill: None,
            rotation_due: Some(due),
            expires: None,
            errors: 1,
            warnings: 0,
        }];
        let text = render(
            now,
            &seals,
            &[FindingFigure {
                id: "rotation-overdue",
                severity: "error",
            }],
        );
        assert!(!text.contains("zeroth_seal_days_since_unseal{"), "{text}");
        assert!(text.contains("zeroth_seal_never{env=\"prod\",seal=\"s\",what=\"unseal\"} 1\n"));
        assert!(text.contains("zeroth_seal_days_since_drill{env=\"prod\",seal=\"s\"} 1\n"));
        assert!(text.contains("zeroth_seal_days_to_rotation{env=\"prod\",seal=\"s\"} -4.5\n"));
        assert!(text.contains("zeroth_findings{id=\"rotation-overdue\",severity=\"error\"} 1\n"));
        assert!(text.contains("zeroth_findings_by_severity{severity=\"warning\"} 0\n"));
    }
}
