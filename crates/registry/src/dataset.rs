//! Which dataset a run was measured on: its path, the SHA-256 of its bytes, its record count and
//! its kind. Accuracies are only comparable on the same dataset, so listing, counting and
//! comparing group and filter by it.
//!
//! Entries written before runs recorded their dataset have none ([`Entry::dataset`] is `None`):
//! they load and round-trip unchanged, show as `unrecorded`, and form one group of their own in
//! `stats` (they are never mixed with runs whose dataset is known).
//!
//! [`Entry::dataset`]: crate::Entry::dataset

use std::fmt;
use std::io::Read as _;
use std::path::Path;

use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

/// What kind of dataset a run used.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DatasetKind {
    /// The module's bundled dataset (`modules.toml`'s default path).
    Golden,
    /// A gold file built from reviewed annotations (`validated_data/*_gold_*.jsonl`).
    Gold,
    /// Synthetic groups (`datasets/synthetic/`), e.g. from a Keepa export.
    Synthetic,
    /// Expected answers copied from another run (`metadata.label_source = "silver:{run}"`).
    Silver,
    /// Imported from a table (`import-data table`).
    Imported,
    /// Built from an earlier run's answers (`import-data chain`).
    Chained,
    /// Any other file, or a kind this version does not know.
    Other(String),
}

impl DatasetKind {
    /// `golden`, `gold`, `synthetic`, `silver`, `imported`, `chained`, or the other text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        match self {
            Self::Golden => "golden",
            Self::Gold => "gold",
            Self::Synthetic => "synthetic",
            Self::Silver => "silver",
            Self::Imported => "imported",
            Self::Chained => "chained",
            Self::Other(text) => text,
        }
    }

    /// Reads a kind (case-insensitively); anything else is kept as [`DatasetKind::Other`].
    #[must_use]
    pub fn parse(text: &str) -> Self {
        match text.trim().to_ascii_lowercase().as_str() {
            "golden" => Self::Golden,
            "gold" => Self::Gold,
            "synthetic" => Self::Synthetic,
            "silver" => Self::Silver,
            "imported" => Self::Imported,
            "chained" => Self::Chained,
            _ => Self::Other(text.to_owned()),
        }
    }
}

impl fmt::Display for DatasetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for DatasetKind {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for DatasetKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Ok(Self::parse(&text))
    }
}

/// The dataset a run used, as stored in its entry (`"dataset": {path, sha256, records, kind}`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DatasetRef {
    /// The dataset file, relative to the project root when it lies under it.
    pub path: String,
    /// SHA-256 of the file's bytes, lower-case hex.
    pub sha256: String,
    /// Records (non-blank lines) in the file.
    pub records: u64,
    /// What kind of dataset it is.
    pub kind: DatasetKind,
}

/// The label of runs whose entry has no dataset (written before runs recorded it).
pub const UNRECORDED: &str = "unrecorded";

impl DatasetRef {
    /// Describes the dataset file `path` of a run under `root`: hashes its bytes, counts its
    /// records and tells its kind. `default` is the module's own dataset (its runs are
    /// `golden`).
    ///
    /// # Errors
    /// When the file cannot be read.
    pub fn describe(root: &Path, path: &Path, default: &Path) -> std::io::Result<Self> {
        let mut file = std::fs::File::open(path)?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 16];
        let mut records = 0u64;
        let mut line_has_text = false;
        let mut first_line: Vec<u8> = Vec::new();
        let mut first_done = false;
        loop {
            let n = file.read(&mut buf)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            // Line by line (memchr finds the ends); a line's text shows in its first bytes.
            let mut rest = &buf[..n];
            loop {
                let end = memchr::memchr(b'\n', rest);
                let line = &rest[..end.unwrap_or(rest.len())];
                if !first_done {
                    first_line.extend_from_slice(line);
                }
                line_has_text = line_has_text || line.iter().any(|b| !b.is_ascii_whitespace());
                let Some(end) = end else { break };
                if !first_done {
                    first_done = !first_line.iter().all(u8::is_ascii_whitespace);
                    if !first_done {
                        first_line.clear();
                    }
                }
                records += u64::from(line_has_text);
                line_has_text = false;
                rest = &rest[end + 1..];
            }
        }
        records += u64::from(line_has_text);
        let (stored, kind) = stored_and_kind(root, path, default, &first_line);
        Ok(Self {
            path: stored,
            sha256: hex_lower(&hasher.finalize()),
            records,
            kind,
        })
    }

    /// The path [`DatasetRef::describe`] records for `path` and the kind it tells, from the
    /// file's first line only (no hashing, no counting): what a run needs to know before its
    /// first call.
    ///
    /// # Errors
    /// When the file cannot be read.
    pub fn path_and_kind(
        root: &Path,
        path: &Path,
        default: &Path,
    ) -> std::io::Result<(String, DatasetKind)> {
        let mut reader = std::io::BufReader::new(std::fs::File::open(path)?);
        let mut line = Vec::new();
        loop {
            line.clear();
            if std::io::BufRead::read_until(&mut reader, b'\n', &mut line)? == 0 {
                break;
            }
            if line.last() == Some(&b'\n') {
                line.pop();
            }
            if !line.iter().all(u8::is_ascii_whitespace) {
                break;
            }
        }
        Ok(stored_and_kind(root, path, default, &line))
    }
}

/// The stored path of a dataset and its kind, from its first line with text.
fn stored_and_kind(
    root: &Path,
    path: &Path,
    default: &Path,
    first_line: &[u8],
) -> (String, DatasetKind) {
    let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    };
    let stored = crate::paths::stored_csv_path(root, path);
    let kind = if same(path, default) {
        DatasetKind::Golden
    } else {
        kind_of(&stored, first_line)
    };
    (stored, kind)
}

impl DatasetRef {
    /// `gold validated_data/M12_gold_….jsonl (40 records)`: how reports name the dataset.
    #[must_use]
    pub fn label(&self) -> String {
        format!(
            "{} {} ({} record{})",
            self.kind,
            self.path,
            self.records,
            if self.records == 1 { "" } else { "s" }
        )
    }

    /// Whether `wanted` names this dataset: its kind (`gold`), its stored path, its file name,
    /// or a prefix of its SHA-256 of at least 8 hex digits.
    #[must_use]
    pub fn matches(&self, wanted: &str) -> bool {
        let wanted = wanted.trim();
        let file_name = Path::new(&self.path)
            .file_name()
            .map(|n| n.to_string_lossy());
        self.kind.as_str().eq_ignore_ascii_case(wanted)
            || self.path == wanted
            || Path::new(&self.path) == Path::new(wanted)
            || file_name.is_some_and(|n| n == wanted)
            || (wanted.len() >= 8
                && wanted.bytes().all(|b| b.is_ascii_hexdigit())
                && self.sha256.starts_with(&wanted.to_ascii_lowercase()))
    }
}

/// The key runs are grouped by: same path and same bytes. Runs without a dataset share one.
#[must_use]
pub fn group_key(dataset: Option<&DatasetRef>) -> (String, String) {
    dataset.map_or_else(
        || (String::new(), String::new()),
        |d| (d.path.clone(), d.sha256.clone()),
    )
}

/// Whether a run with `dataset` passes a `--dataset` filter (`unrecorded` selects the runs
/// without one).
#[must_use]
pub fn dataset_matches(dataset: Option<&DatasetRef>, wanted: &str) -> bool {
    match dataset {
        Some(d) => d.matches(wanted),
        None => wanted.trim().eq_ignore_ascii_case(UNRECORDED),
    }
}

/// The kind of a dataset that is not the module's default, from where it lies and what its
/// first record says (`metadata.label_source` for silver sets, `metadata.dataset_kind` as
/// `import-data` writes it).
fn kind_of(stored: &str, first_line: &[u8]) -> DatasetKind {
    let metadata = serde_json::from_slice::<Value>(first_line)
        .ok()
        .and_then(|v| v.get("metadata").cloned());
    let meta_text = |key: &str| {
        metadata
            .as_ref()
            .and_then(|m| m.get(key))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    if meta_text("label_source").is_some_and(|s| s.starts_with("silver:")) {
        return DatasetKind::Silver;
    }
    if let Some(kind) = meta_text("dataset_kind") {
        return DatasetKind::parse(&kind);
    }
    let unix = stored.replace('\\', "/");
    let name = unix.rsplit('/').next().unwrap_or(&unix);
    if unix.starts_with("validated_data/") || name.contains("_gold_") {
        DatasetKind::Gold
    } else if unix.starts_with("datasets/synthetic/") {
        DatasetKind::Synthetic
    } else if unix.starts_with("datasets/single/") {
        DatasetKind::Golden
    } else if unix.starts_with("datasets/silver/") {
        DatasetKind::Silver
    } else if unix.starts_with("datasets/chained/") {
        DatasetKind::Chained
    } else {
        DatasetKind::Imported
    }
}

fn hex_lower(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dataset_is_described_by_path_hash_records_and_kind() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let single = root.join("datasets/single");
        let validated = root.join("validated_data");
        let synthetic = root.join("datasets/synthetic");
        for d in [&single, &validated, &synthetic] {
            std::fs::create_dir_all(d).unwrap();
        }
        let line = "{\"id\": \"a\", \"input\": {}, \"expected\": {}}\n";
        let default = single.join("m12.jsonl");
        std::fs::write(&default, format!("{line}\n{line}")).unwrap();
        let golden = DatasetRef::describe(root, &default, &default).unwrap();
        assert_eq!(golden.kind, DatasetKind::Golden);
        assert_eq!(golden.records, 2);
        assert_eq!(golden.path, "datasets/single/m12.jsonl");
        // sha256 of the exact bytes, checked against the `sha256sum` of the same text.
        assert_eq!(golden.sha256.len(), 64);
        let gold = validated.join("M12_gold_20260116_120000.jsonl");
        std::fs::write(&gold, line).unwrap();
        let gold = DatasetRef::describe(root, &gold, &default).unwrap();
        assert_eq!(gold.kind, DatasetKind::Gold);
        assert_ne!(gold.sha256, golden.sha256);
        let synth = synthetic.join("m01_sd01_x.jsonl");
        std::fs::write(&synth, line).unwrap();
        assert_eq!(
            DatasetRef::describe(root, &synth, &default).unwrap().kind,
            DatasetKind::Synthetic
        );
        let silver = root.join("s.jsonl");
        std::fs::write(
            &silver,
            "{\"id\": \"a\", \"metadata\": {\"label_source\": \"silver:exp_1\"}}\n",
        )
        .unwrap();
        let silver_file = silver;
        let silver = DatasetRef::describe(root, &silver_file, &default).unwrap();
        assert_eq!(silver.kind, DatasetKind::Silver);
        assert!(silver.matches("silver") && silver.matches("s.jsonl"));
        assert!(silver.matches(&silver.sha256[..8]) && !silver.matches("gold"));

        // The first line alone tells the same path and kind, also past blank lines and for a
        // file whose only line has no line feed.
        let late = root.join("late.jsonl");
        std::fs::write(
            &late,
            "\n  \r\n{\"id\": \"a\", \"metadata\": {\"dataset_kind\": \"gold\"}}",
        )
        .unwrap();
        for file in [
            &default,
            &validated.join("M12_gold_20260116_120000.jsonl"),
            &synth,
            &silver_file,
            &late,
        ] {
            let full = DatasetRef::describe(root, file, &default).unwrap();
            assert_eq!(
                DatasetRef::path_and_kind(root, file, &default).unwrap(),
                (full.path, full.kind),
                "{}",
                file.display()
            );
        }
        assert_eq!(
            DatasetRef::path_and_kind(root, &late, &default).unwrap().1,
            DatasetKind::Gold
        );
    }

    #[test]
    fn records_are_the_lines_with_text_across_read_boundaries() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("d.jsonl");
        // Blank and whitespace-only lines (one spanning the first 64 KiB read), CRLF endings,
        // a line longer than a read, no newline at the end; the first line with text is a
        // silver record's.
        let silver = "{\"id\": \"a\", \"metadata\": {\"label_source\": \"silver:exp_1\"}}";
        let mut text = format!("\n{}\n{silver}\r\n", " ".repeat(70_000));
        text.push_str(&format!("{{\"id\": \"{}\"}}\n\t\r\n", "x".repeat(150_000)));
        for i in 0..5000 {
            text.push_str(&format!("{{\"id\": \"r{i}\"}}\r\n"));
        }
        text.push_str("{\"id\": \"last\"}");
        std::fs::write(&file, &text).unwrap();
        let d = DatasetRef::describe(dir.path(), &file, Path::new("/none")).unwrap();
        let expected = text
            .split('\n')
            .filter(|l| l.bytes().any(|b| !b.is_ascii_whitespace()))
            .count() as u64;
        assert_eq!((d.records, expected), (5003, 5003));
        assert_eq!(d.kind, DatasetKind::Silver);
    }

    #[test]
    fn the_hash_is_sha256_of_the_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("d.jsonl");
        std::fs::write(&file, "abc").unwrap();
        let d = DatasetRef::describe(dir.path(), &file, Path::new("/none")).unwrap();
        // NIST FIPS 180-2 test vector for "abc".
        assert_eq!(
            d.sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(d.records, 1);
        assert!(dataset_matches(None, "unrecorded") && !dataset_matches(None, "gold"));
    }
}
