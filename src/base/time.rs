//! Time values as the policy and the evidence write them: RFC 3339 timestamps and Go-style
//! durations (`168h`, `1h30m`). Seconds since the Unix epoch throughout; no clock is read
//! here except by [`now`], so every check takes its instant as an argument (`--now`).

/// Seconds since the Unix epoch, now.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Why a timestamp did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimestampError {
    /// Not of the `YYYY-MM-DDTHH:MM:SS…` shape.
    #[error("expected YYYY-MM-DDTHH:MM:SSZ")]
    Layout,
    /// A date or time field holds something other than digits.
    #[error("expected digits in {0:?}")]
    NotDigits(String),
    /// A month, day, hour, minute or second out of range.
    #[error("field out of range")]
    OutOfRange,
    /// A `.` with no digits after it.
    #[error("empty fraction")]
    EmptyFraction,
    /// Neither `Z` nor a `±HH:MM` offset.
    #[error("expected Z or ±HH:MM offset")]
    Offset,
    /// A `±HH:MM` offset with hours or minutes out of range.
    #[error("offset out of range")]
    OffsetOutOfRange,
}

/// Why a duration did not parse; `input` is the text given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// Nothing but white space.
    #[error("empty duration")]
    Empty,
    /// A unit with no number before it.
    #[error("{input:?}: expected a number before a unit")]
    NoNumber { input: String },
    /// Digits and dots that are not a number.
    #[error("{input:?}: bad number {number:?}")]
    BadNumber { input: String, number: String },
    /// A number with no unit after it.
    #[error("{input:?}: missing unit (h, m, s, d, w)")]
    NoUnit { input: String },
    /// A unit other than `ms`, `s`, `m`, `h`, `d`, `w`.
    #[error("{input:?}: unknown unit {unit:?} (h, m, s, d, w)")]
    UnknownUnit { input: String, unit: String },
    /// More than ~30,000 years.
    #[error("{input:?}: too long")]
    TooLong { input: String },
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)` into seconds since the epoch (fractions
/// dropped). Years 0001–9999, so Go's zero time `0001-01-01T00:00:00Z` parses.
///
/// # Errors
/// Which part is wrong.
pub fn parse_rfc3339(s: &str) -> Result<i64, TimestampError> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Result<i64, TimestampError> {
        let t = s.get(r).ok_or(TimestampError::Layout)?;
        if !t.bytes().all(|c| c.is_ascii_digit()) {
            return Err(TimestampError::NotDigits(t.to_owned()));
        }
        t.parse::<i64>()
            .map_err(|_| TimestampError::NotDigits(t.to_owned()))
    };
    if b.len() < 20
        || b.get(4) != Some(&b'-')
        || b.get(7) != Some(&b'-')
        || !matches!(b.get(10), Some(b'T' | b't' | b' '))
        || b.get(13) != Some(&b':')
        || b.get(16) != Some(&b':')
    {
        return Err(TimestampError::Layout);
    }
    let (y, mo, d, h, mi, se) = (
        num(0..4)?,
        num(5..7)?,
        num(8..10)?,
        num(11..13)?,
        num(14..16)?,
        num(17..19)?,
    );
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return Err(TimestampError::OutOfRange);
    }
    let mut rest = s.get(19..).unwrap_or_default();
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return Err(TimestampError::EmptyFraction);
        }
        rest = frac.get(n..).unwrap_or_default();
    }
    let offset = match rest {
        "Z" | "z" => 0,
        o if o.len() == 6
            && (o.starts_with('+') || o.starts_with('-'))
            && o.as_bytes().get(3) == Some(&b':') =>
        {
            let sign = if o.starts_with('-') { -1 } else { 1 };
            let hh: i64 = o[1..3].parse().map_err(|_| TimestampError::Offset)?;
            let mm: i64 = o[4..6].parse().map_err(|_| TimestampError::Offset)?;
            if hh > 23 || mm > 59 {
                return Err(TimestampError::OffsetOutOfRange);
            }
            sign * (hh * 3600 + mm * 60)
        }
        _ => return Err(TimestampError::Offset),
    };
    Ok(days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + se - offset)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let (y, m) = if month <= 2 {
        (year - 1, month + 9)
    } else {
        (year, month - 3)
    };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Formats seconds since the epoch as RFC 3339 UTC (`2026-11-25T15:04:05Z`).
pub fn format_rfc3339(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // civil from days (Howard Hinnant)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Parses a Go-style duration (`168h`, `1h30m`, `90s`, `500ms` rounded down) plus `d`
/// (24h) and `w` (7d) into whole seconds. Negative durations are refused.
///
/// # Errors
/// Which part is wrong.
pub fn parse_duration(s: &str) -> Result<u64, DurationError> {
    let s = s.trim();
    let input = || s.to_owned();
    if s.is_empty() {
        return Err(DurationError::Empty);
    }
    if s == "0" {
        return Ok(0);
    }
    let mut total_ms: u128 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let n = rest
            .bytes()
            .take_while(|c| c.is_ascii_digit() || *c == b'.')
            .count();
        if n == 0 {
            return Err(DurationError::NoNumber { input: input() });
        }
        let value: f64 = rest[..n].parse().map_err(|_| DurationError::BadNumber {
            input: input(),
            number: rest[..n].to_owned(),
        })?;
        rest = &rest[n..];
        let u = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit_ms: f64 = match &rest[..u] {
            "ms" => 1.0,
            "s" => 1e3,
            "m" => 60e3,
            "h" => 3600e3,
            "d" => 86_400e3,
            "w" => 604_800e3,
            "" => return Err(DurationError::NoUnit { input: input() }),
            other => {
                return Err(DurationError::UnknownUnit {
                    input: input(),
                    unit: other.to_owned(),
                });
            }
        };
        rest = &rest[u..];
        let ms = value * unit_ms;
        if !ms.is_finite() || ms > 1e15 {
            return Err(DurationError::TooLong { input: input() });
        }
        total_ms += ms as u128;
    }
    u64::try_from(total_ms / 1000).map_err(|_| DurationError::TooLong { input: input() })
}

/// `8d8h`, `7d`, `1h30m`, `45s`, `0s`.
pub fn format_duration(secs: u128) -> String {
    if secs == 0 {
        return "0s".into();
    }
    let parts = [
        (secs / 86_400, "d"),
        (secs % 86_400 / 3600, "h"),
        (secs % 3600 / 60, "m"),
        (secs % 60, "s"),
    ];
    parts
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, unit)| format!("{n}{unit}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z").ok(), Some(0));
        assert_eq!(
            parse_rfc3339("2024-05-30T12:00:00.5+02:00").ok(),
            Some(1_717_063_200)
        );
        assert!(parse_rfc3339("0001-01-01T00:00:00Z").is_ok_and(|t| t < 0));
        assert!(parse_rfc3339("2024-13-01T00:00:00Z").is_err());
        assert!(parse_rfc3339("2024-12-01T00:00:00").is_err());
        assert!(parse_rfc3339("yesterday").is_err());
        assert!(parse_rfc3339("2024-12-01T00:00:00+2:00").is_err());
        for t in [0, 1_717_063_200, 1_000_000_000, 4_102_444_799] {
            assert_eq!(parse_rfc3339(&format_rfc3339(t)).ok(), Some(t));
        }
        assert_eq!(format_rfc3339(1_717_063_200), "2024-05-30T10:00:00Z");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("168h").ok(), Some(168 * 3600));
        assert_eq!(parse_duration("1h30m").ok(), Some(5400));
        assert_eq!(parse_duration("7d").ok(), Some(7 * 86_400));
        assert_eq!(parse_duration("1.5h").ok(), Some(5400));
        assert_eq!(parse_duration("0").ok(), Some(0));
        assert_eq!(parse_duration("1500ms").ok(), Some(1));
        for bad in ["", "h", "10", "10y", "-1h", "1h-", "1e400h"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
