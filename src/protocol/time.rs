//! Time on the wire: RFC 3339 UTC timestamps with milliseconds (`2024-01-31T10:00:00.000Z`)
//! and ISO 8601 durations (`PT30S`, `P1D`).

use chrono::{DateTime, SecondsFormat, Utc};

/// Formats a time the way ONDC validators want it: UTC, milliseconds, `Z`.
pub fn format_timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Parses an RFC 3339 timestamp (any offset, any precision).
pub fn parse_timestamp(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Parses an ISO 8601 duration into milliseconds. Years count 365 days and months 30, which
/// only matters for durations nobody uses as a ttl.
pub fn parse_duration_ms(text: &str) -> Option<i64> {
    let rest = text.strip_prefix('P')?;
    if rest.is_empty() {
        return None;
    }
    let (date, time) = match rest.split_once('T') {
        Some((date, time)) if !time.is_empty() => (date, Some(time)),
        Some(_) => return None,
        None => (rest, None),
    };
    const SECOND: f64 = 1000.0;
    const DAY: f64 = 86_400.0 * SECOND;
    let mut total = 0f64;
    total += sum_units(
        date,
        &[
            ('Y', 365.0 * DAY),
            ('M', 30.0 * DAY),
            ('W', 7.0 * DAY),
            ('D', DAY),
        ],
    )?;
    if let Some(time) = time {
        total += sum_units(
            time,
            &[('H', 3600.0 * SECOND), ('M', 60.0 * SECOND), ('S', SECOND)],
        )?;
    }
    if !total.is_finite() || total > i64::MAX as f64 / 2.0 {
        return None;
    }
    Some(total.round() as i64)
}

/// Formats milliseconds as the shortest ISO 8601 duration without fractions (`PT30S`, `P1D`).
pub fn format_duration(ms: i64) -> String {
    let secs = ms.max(0) / 1000;
    if secs == 0 {
        return "PT0S".into();
    }
    let days = secs / 86_400;
    let hours = (secs % 86_400) / 3600;
    let minutes = (secs % 3600) / 60;
    let seconds = secs % 60;
    let mut out = String::from("P");
    if days > 0 {
        out.push_str(&format!("{days}D"));
    }
    if hours + minutes + seconds > 0 {
        out.push('T');
        if hours > 0 {
            out.push_str(&format!("{hours}H"));
        }
        if minutes > 0 {
            out.push_str(&format!("{minutes}M"));
        }
        if seconds > 0 {
            out.push_str(&format!("{seconds}S"));
        }
    }
    out
}

fn sum_units(mut text: &str, units: &[(char, f64)]) -> Option<f64> {
    let mut total = 0.0;
    let mut next_unit = 0;
    while !text.is_empty() {
        let end = text.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == ','))?;
        if end == 0 {
            return None;
        }
        let number: f64 = text[..end].replace(',', ".").parse().ok()?;
        let unit = text[end..].chars().next()?;
        let position = units[next_unit..].iter().position(|(u, _)| *u == unit)? + next_unit;
        total += number * units[position].1;
        next_unit = position + 1;
        text = &text[end + unit.len_utf8()..];
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_seen_in_ondc_payloads_parse() {
        for (text, ms) in [
            ("PT30S", 30_000),
            ("P1D", 86_400_000),
            ("PT15M", 900_000),
            ("P7D", 604_800_000),
            ("PT1H30M", 5_400_000),
            ("PT0.5S", 500),
            ("P1DT2H", 93_600_000),
        ] {
            assert_eq!(parse_duration_ms(text), Some(ms), "{text}");
        }
    }

    #[test]
    fn malformed_durations_are_refused() {
        for text in ["", "P", "PT", "30S", "PTS", "P1H", "PT1D", "PT1M1H", "P-1D"] {
            assert_eq!(parse_duration_ms(text), None, "{text}");
        }
    }

    #[test]
    fn durations_format_back_to_their_short_form() {
        assert_eq!(format_duration(30_000), "PT30S");
        assert_eq!(format_duration(86_400_000), "P1D");
        assert_eq!(format_duration(93_600_000), "P1DT2H");
    }

    #[test]
    fn timestamps_are_written_with_milliseconds_and_z() {
        let at = parse_timestamp("2024-01-31T10:00:00+05:30").unwrap();
        assert_eq!(format_timestamp(at), "2024-01-31T04:30:00.000Z");
    }
}
