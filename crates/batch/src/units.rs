//! Sizes, waits, metadata and batch folders as users write them on the command line.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Map, Value};

/// Reads a file size such as `200MiB`, `50MB`, `1.5k` or `1048576`. Units count in 1024s
/// (`200MB` = `200MiB` = 209,715,200 bytes); the error says what to write instead.
///
/// # Errors
/// Text that is not a number with an optional B/KiB/MiB/GiB unit, or that comes to 0 bytes.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let digits_end = t
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_digit() || *c == '.'))
        .map_or(t.len(), |(i, _)| i);
    let (number, unit) = t.split_at(digits_end);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a size (write e.g. 200MiB, 50MB or 1048576)"))?;
    let factor: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" | "kib" => 1024.0,
        "m" | "mb" | "mib" => 1024.0 * 1024.0,
        "g" | "gb" | "gib" => 1024.0 * 1024.0 * 1024.0,
        other => {
            return Err(format!(
                "unknown size unit `{other}` (use B, KiB, MiB or GiB)"
            ));
        }
    };
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "sizes are small positive numbers"
    )]
    let bytes = (number * factor).round() as u64;
    if bytes == 0 {
        return Err(format!(
            "`{text}` is 0 bytes: a file must hold at least one request"
        ));
    }
    Ok(bytes)
}

/// Reads one `KEY=VALUE` metadata pair, split at the first `=`.
///
/// # Errors
/// No `=`, or nothing before it.
pub fn parse_metadata_pair(text: &str) -> Result<(String, String), String> {
    let (key, value) = text
        .split_once('=')
        .ok_or_else(|| format!("`{text}` is not KEY=VALUE"))?;
    if key.trim().is_empty() {
        return Err(format!("`{text}` has no KEY before the `=`"));
    }
    Ok((key.trim().to_owned(), value.to_owned()))
}

/// Reads a duration such as `500ms`, `30s`, `5m` or `2h`.
///
/// # Errors
/// Text that is not a duration.
pub fn parse_wait(text: &str) -> Result<Duration, String> {
    llm_client::parse_duration(text)
        .ok_or_else(|| format!("`{text}` is not a duration (write e.g. 500ms, 30s, 5m, 2h)"))
}

/// Reads a wait between checks: 0 would poll the API in a busy loop.
///
/// # Errors
/// Text that is not a duration, or no wait at all.
pub fn parse_interval(text: &str) -> Result<Duration, String> {
    match parse_wait(text)? {
        d if d.is_zero() => Err(format!("`{text}` is no wait at all; give at least e.g. 1s")),
        d => Ok(d),
    }
}

/// Where a batch folder named on the command line is: as given, else under `batch_requests`,
/// else under its `synthetic/` folder; `None` when none of them is a folder.
#[must_use]
pub fn find_dir(batch_requests: &Path, arg: &Path) -> Option<PathBuf> {
    let candidates = [
        arg.to_owned(),
        batch_requests.join(arg),
        batch_requests.join("synthetic").join(arg),
    ];
    let found = candidates.into_iter().find(|c| c.is_dir())?;
    Some(found.canonicalize().unwrap_or(found))
}

/// Metadata pairs as the JSON object batches carry.
#[must_use]
pub fn metadata_map(pairs: &[(String, String)]) -> Map<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::OPENAI_MAX_BYTES;

    #[test]
    fn sizes_count_in_1024s() {
        assert_eq!(parse_size("200MiB"), Ok(OPENAI_MAX_BYTES));
        assert_eq!(parse_size("200MB"), Ok(OPENAI_MAX_BYTES));
        assert_eq!(parse_size("1.5k"), Ok(1536));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("12 parsecs").is_err());
        assert!(parse_size("MB").is_err());
        assert!(parse_size("0.0001").is_err());
    }

    #[test]
    fn metadata_pairs_split_at_the_first_equals_sign() {
        assert_eq!(
            parse_metadata_pair("owner=ads=team"),
            Ok(("owner".to_owned(), "ads=team".to_owned()))
        );
        assert!(parse_metadata_pair("owner").is_err());
        assert!(parse_metadata_pair(" =x").is_err());
        let map = metadata_map(&[("owner".to_owned(), "ads".to_owned())]);
        assert_eq!(map["owner"], "ads");
    }

    #[test]
    fn waits_between_checks_are_never_zero() {
        assert_eq!(parse_interval("30s"), Ok(Duration::from_secs(30)));
        assert!(parse_interval("0s").is_err());
        assert_eq!(parse_wait("0s"), Ok(Duration::ZERO));
        assert!(parse_wait("soon").is_err());
    }

    #[test]
    fn folders_are_found_under_batch_requests_and_synthetic() {
        let root = tempfile::tempdir().unwrap();
        let base = root.path().join("batch_requests");
        std::fs::create_dir_all(base.join("synthetic/s1")).unwrap();
        std::fs::create_dir_all(base.join("d1")).unwrap();
        let d1 = find_dir(&base, Path::new("d1")).unwrap();
        assert!(d1.ends_with("batch_requests/d1"), "{}", d1.display());
        let s1 = find_dir(&base, Path::new("s1")).unwrap();
        assert!(s1.ends_with("synthetic/s1"), "{}", s1.display());
        assert_eq!(find_dir(&base, Path::new("nope")), None);
    }
}
