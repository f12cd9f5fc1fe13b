//! Durations as servers write them in rate-limit headers: Go's `time.Duration` strings
//! (`6m0s`, `2s81ms`, `1.5s`), bare numbers meaning seconds (Azure, LiteLLM), and `-1` for
//! "unknown".

use std::time::Duration;

/// Parses a Go-style duration (`1h2m3.5s`, `250ms`, `12us`, `7ns`), or a bare number of seconds.
///
/// Returns `None` for negative values (servers send `-1` when they do not know), empty text and
/// anything that does not parse.
#[must_use]
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    if text.is_empty() || text.starts_with('-') {
        return None;
    }
    if let Ok(seconds) = text.parse::<f64>() {
        return seconds_to_duration(seconds);
    }
    let mut total = 0.0_f64;
    let mut rest = text.strip_prefix('+').unwrap_or(text);
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if number_len == 0 {
            return None;
        }
        let value: f64 = rest[..number_len].parse().ok()?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        // `ms` must be tried before `m`, which the table order takes care of.
        let scale = match &rest[..unit_len] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" | "μs" => 1e-6,
            "ns" => 1e-9,
            _ => return None,
        };
        total += value * scale;
        rest = &rest[unit_len..];
    }
    seconds_to_duration(total)
}

fn seconds_to_duration(seconds: f64) -> Option<Duration> {
    (seconds.is_finite() && (0.0..1e12).contains(&seconds))
        .then(|| Duration::from_secs_f64(seconds))
}

/// Writes a duration compactly for people: `850ms`, `2.4s`, `3m05s`, `1h02m`.
#[must_use]
pub fn format_duration(duration: Duration) -> String {
    let ms = duration.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 && ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else if ms < 60_000 {
        format!("{:.1}s", duration.as_secs_f64())
    } else if ms < 3_600_000 {
        let s = duration.as_secs();
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        let m = duration.as_secs() / 60;
        format!("{}h{:02}m", m / 60, m % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(text: &str) -> Option<u128> {
        parse_duration(text).map(|d| d.as_millis())
    }

    #[test]
    fn go_durations_parse() {
        assert_eq!(ms("6m0s"), Some(360_000));
        assert_eq!(ms("2s81ms"), Some(2_081));
        assert_eq!(ms("1s"), Some(1_000));
        assert_eq!(ms("12ms"), Some(12));
        assert_eq!(ms("1.5s"), Some(1_500));
        assert_eq!(ms("5h50m30ms"), Some(5 * 3_600_000 + 50 * 60_000 + 30));
        assert_eq!(parse_duration("250us"), Some(Duration::from_micros(250)));
        assert_eq!(parse_duration("7ns"), Some(Duration::from_nanos(7)));
    }

    #[test]
    fn bare_numbers_are_seconds_and_minus_one_is_unknown() {
        assert_eq!(ms("2"), Some(2_000));
        assert_eq!(ms("0.25"), Some(250));
        assert_eq!(ms("-1"), None);
        assert_eq!(ms(""), None);
        assert_eq!(ms("soon"), None);
        assert_eq!(ms("3x"), None);
        assert_eq!(ms("s"), None);
    }

    #[test]
    fn formats_for_people() {
        assert_eq!(format_duration(Duration::from_millis(850)), "850ms");
        assert_eq!(format_duration(Duration::from_millis(2_400)), "2.4s");
        assert_eq!(format_duration(Duration::from_secs(10)), "10s");
        assert_eq!(format_duration(Duration::from_secs(185)), "3m05s");
        assert_eq!(format_duration(Duration::from_secs(3_720)), "1h02m");
    }
}
