//! Time: the current instant, dates and rotation periods as people write them.
//!
//! Debug builds (the ones the test suite drives) read the current time from
//! `ZEROTH_NOW` when it is set (or, with `ZEROTH_NOW=@FILE`, from that file at every
//! call), so rotation and expiry are tested without waiting.
//! Release builds ignore it: in production, the clock is the system's.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::error::{Error, RecordError, Result};

/// Returns the current time in UTC, truncated to whole seconds.
pub fn now() -> Result<OffsetDateTime> {
    #[cfg(debug_assertions)]
    if let Ok(fake) = std::env::var("ZEROTH_NOW") {
        // `@FILE`: the time is read from FILE at every call, so a test moves the clock
        // of a process that is already running (a remote collection waiting).
        let fake = match fake.strip_prefix('@') {
            Some(file) => std::fs::read_to_string(file)
                .map_err(|source| RecordError::ClockFileUnreadable {
                    file: file.into(),
                    source,
                })?
                .trim()
                .to_string(),
            None => fake,
        };
        return parse_instant(&fake).map_err(|e| e.map_message(|m| format!("ZEROTH_NOW: {m}")));
    }
    let now = OffsetDateTime::now_utc();
    Ok(now.replace_nanosecond(0).unwrap_or(now))
}

/// Formats an instant as RFC 3339 in UTC (`2026-11-23T14:56:02Z`), the one form that
/// appears in records and logs.
pub fn format(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(&Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

/// Parses an RFC 3339 instant, or a calendar date `YYYY-MM-DD` meaning its midnight UTC.
pub fn parse_instant(s: &str) -> Result<OffsetDateTime> {
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Ok(t.to_offset(time::UtcOffset::UTC));
    }
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    if let Ok(d) = time::Date::parse(s, &fmt) {
        return Ok(d.midnight().assume_utc());
    }
    Err(RecordError::NotADate {
        text: s.to_string(),
    }
    .into())
}

/// Parses a period such as `90d`, `12w` or `1y` (365 days) into whole days.
pub fn parse_days(s: &str) -> Result<u32> {
    let bad = || {
        Error::from(RecordError::NotAPeriod {
            text: s.to_string(),
        })
    };
    let (num, unit) = s.split_at(s.len().saturating_sub(1));
    let n: u32 = num.parse().map_err(|_| bad())?;
    let days = match unit {
        "d" => Some(n),
        "w" => n.checked_mul(7),
        "y" => n.checked_mul(365),
        _ => None,
    }
    .ok_or_else(bad)?;
    if days == 0 || days > 36500 {
        return Err(RecordError::PeriodOutOfRange {
            text: s.to_string(),
        }
        .into());
    }
    Ok(days)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods() {
        assert_eq!(parse_days("90d").unwrap(), 90);
        assert_eq!(parse_days("12w").unwrap(), 84);
        assert_eq!(parse_days("1y").unwrap(), 365);
        for bad in ["", "d", "90", "0d", "-3d", "3m", "999999y"] {
            assert!(parse_days(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn instants_round_trip() {
        let t = parse_instant("2027-01-31T12:00:00Z").unwrap();
        assert_eq!(format(t), "2027-01-31T12:00:00Z");
        assert_eq!(
            format(parse_instant("2027-01-31").unwrap()),
            "2027-01-31T00:00:00Z"
        );
        assert_eq!(
            format(parse_instant("2027-01-31T14:00:00+02:00").unwrap()),
            "2027-01-31T12:00:00Z"
        );
        assert!(parse_instant("31/01/2027").is_err());
    }
}
