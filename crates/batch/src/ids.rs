//! `custom_id`s: the only key that joins a batch answer back to its record, so they must be
//! unique within a file, stable across commands, and readable enough to trace by eye.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

/// How a group's `custom_id`s are made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdScheme {
    /// `{key}_{record id}`, with characters outside `A-Z a-z 0-9 _ - . :` replaced by `_`.
    RecordId,
    /// `{key}_{index}`: the record's 0-based position in the dataset, zero-padded to five
    /// digits (`m12_00042`; longer numbers are written out). The earlier tool used this form,
    /// so it is the default when a manifest does not say.
    #[default]
    Index,
}

impl IdScheme {
    /// The name written in manifests and shown to users.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RecordId => "record_id",
            Self::Index => "index",
        }
    }
}

/// Longest record id used as is; longer ones make the group fall back to indexes, because
/// custom ids end up in tables, file names of reports and URLs of dashboards.
pub const MAX_ID_CHARS: usize = 96;

fn is_safe(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':')
}

/// A record id with unsafe characters replaced by `_`, or `None` when it cannot serve
/// (empty or too long).
#[must_use]
pub fn safe_id(id: &str) -> Option<Cow<'_, str>> {
    if id.is_empty() || id.chars().count() > MAX_ID_CHARS {
        return None;
    }
    if id.chars().all(is_safe) {
        return Some(Cow::Borrowed(id));
    }
    Some(Cow::Owned(
        id.chars()
            .map(|c| if is_safe(c) { c } else { '_' })
            .collect(),
    ))
}

/// The custom id of one record.
#[must_use]
pub fn custom_id(key: &str, scheme: IdScheme, record_id: &str, index: u64) -> String {
    match scheme {
        IdScheme::RecordId => match safe_id(record_id) {
            Some(safe) => format!("{key}_{safe}"),
            // A scheme is chosen only when every id is usable; this keeps the function total.
            None => format!("{key}_{index:05}"),
        },
        IdScheme::Index => format!("{key}_{index:05}"),
    }
}

/// A fixed-size Bloom filter: memory does not grow with the dataset, and it never misses a
/// repeat (it may only suspect one that is not, which a second look settles). Blocked: all
/// bits of an item sit in one 64-byte block, so an insert touches one cache line.
pub(crate) struct Bloom {
    blocks: Vec<[u64; 8]>,
}

/// 4 MiB of 512-bit blocks. A false suspicion costs one more read of the dataset; at 500,000
/// ids fewer than one is expected per run.
const BLOOM_BLOCKS: usize = (1 << 25) / 512;
const BLOOM_HASHES: u32 = 7;

/// Where an item's bits are; computed where the item is (on the workers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BloomKey(u64, u64);

impl BloomKey {
    pub(crate) fn of(item: &str) -> Self {
        Self(
            hash64(item.as_bytes(), 0x243f_6a88_85a3_08d3),
            hash64(item.as_bytes(), 0x1319_8a2e_0370_7344),
        )
    }
}

impl Bloom {
    pub(crate) fn new() -> Self {
        Self {
            blocks: vec![[0; 8]; BLOOM_BLOCKS],
        }
    }

    /// Adds an item; returns whether it may have been added before.
    pub(crate) fn insert(&mut self, key: BloomKey) -> bool {
        let block = &mut self.blocks[(key.0 % BLOOM_BLOCKS as u64) as usize];
        let mut seen = true;
        for i in 0..BLOOM_HASHES {
            // Seven 9-bit slices of the second hash pick bits inside the block.
            let bit = ((key.1 >> (i * 9)) & 511) as usize;
            let (word, mask) = (bit / 64, 1u64 << (bit % 64));
            if block[word] & mask == 0 {
                seen = false;
                block[word] |= mask;
            }
        }
        seen
    }
}

/// A fast, fixed 64-bit hash (eight bytes at a time, finished with the SplitMix64 mixer): the
/// same on every run and machine, so suspicions are reproducible.
fn hash64(bytes: &[u8], seed: u64) -> u64 {
    let mut h = seed ^ (bytes.len() as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        h = (h ^ u64::from_le_bytes(word))
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .rotate_left(29);
    }
    let mut tail = [0u8; 8];
    tail[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
    h ^= u64::from_le_bytes(tail);
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_made_safe_or_refused() {
        assert_eq!(safe_id("rec-001").as_deref(), Some("rec-001"));
        assert_eq!(
            safe_id("M12_SD01_B08J8GZXKZ__silicone pot holder set").as_deref(),
            Some("M12_SD01_B08J8GZXKZ__silicone_pot_holder_set")
        );
        assert_eq!(safe_id("ä/b").as_deref(), Some("__b"));
        assert_eq!(safe_id(""), None);
        assert_eq!(safe_id(&"x".repeat(MAX_ID_CHARS + 1)), None);
    }

    #[test]
    fn custom_ids_follow_the_scheme() {
        assert_eq!(custom_id("m12", IdScheme::RecordId, "a b", 3), "m12_a_b");
        assert_eq!(
            custom_id("m12_sd01", IdScheme::Index, "a b", 3),
            "m12_sd01_00003"
        );
        assert_eq!(custom_id("m02", IdScheme::Index, "", 123_456), "m02_123456");
        assert_eq!(custom_id("m02", IdScheme::RecordId, "", 7), "m02_00007");
    }

    #[test]
    fn the_hash_separates_close_inputs() {
        assert_eq!(hash64(b"", 0), 0);
        assert_ne!(hash64(b"kw-1", 1), hash64(b"kw-2", 1));
        assert_ne!(hash64(b"kw-1", 1), hash64(b"kw-1", 2));
        assert_ne!(hash64(b"abcdefgh1", 1), hash64(b"abcdefgh2", 1));
    }

    #[test]
    fn the_bloom_filter_never_misses_a_repeat() {
        let mut bloom = Bloom::new();
        // The size the benchmark uses: false suspicions must stay rare there.
        let ids: Vec<String> = (0..500_000).map(|i| format!("rec_{i}")).collect();
        let suspected = ids
            .iter()
            .filter(|id| bloom.insert(BloomKey::of(id)))
            .count();
        assert!(suspected <= 1, "{suspected} false suspicions");
        assert!(ids.iter().all(|id| bloom.insert(BloomKey::of(id))));
    }

    #[test]
    fn schemes_serialise_in_snake_case() {
        assert_eq!(
            serde_json::to_string(&IdScheme::RecordId).unwrap(),
            "\"record_id\""
        );
        assert_eq!(IdScheme::default(), IdScheme::Index);
    }
}
