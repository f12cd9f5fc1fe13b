//! A seeded, label-stratified train/dev/test split.

use std::collections::BTreeMap;

use core_config::{ModuleSpec, Record, Side};

/// Share of each label's records that go to test; the rest is halved into train and dev.
pub const TEST_SHARE: f64 = 0.4;

/// The three splits.
#[derive(Debug, Clone, Default)]
pub struct Splits {
    /// Demos and bootstrapping come from here.
    pub train: Vec<Record>,
    /// Candidates are scored here.
    pub dev: Vec<Record>,
    /// Held out: only the final baseline and optimized runs see it.
    pub test: Vec<Record>,
}

/// The expected label of a record (primary scored field), or `""` when it has none.
#[must_use]
pub fn label_of(module: &ModuleSpec, record: &Record) -> String {
    let field = module.primary_score();
    let value = core_config::fieldpath::lookup_dotted(&record.expected, &field.expected);
    match &field.labels {
        Some(labels) => match labels.read_json(Side::Expected, value) {
            Ok(core_config::Reading::Label(l)) => l,
            _ => String::new(),
        },
        None => String::new(),
    }
}

/// Splitmix64: the optimizer's seeded generator.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed and a purpose.
    #[must_use]
    pub fn new(seed: u64, purpose: &str) -> Self {
        let mut h = seed ^ 0x9E37_79B9_7F4A_7C15;
        for b in purpose.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3);
        }
        Self(h)
    }

    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number below `n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        #[expect(clippy::cast_possible_truncation, reason = "below n")]
        let i = (self.next_u64() % n as u64) as usize;
        i
    }

    /// Shuffles in place (Fisher–Yates).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
}

/// Splits `records` by label: within each label (in first-seen order, shuffled by `seed`)
/// [`TEST_SHARE`] goes to test, the rest alternately to train and dev.
#[must_use]
pub fn split(module: &ModuleSpec, records: Vec<Record>, seed: u64) -> Splits {
    let mut by_label: BTreeMap<String, Vec<Record>> = BTreeMap::new();
    for record in records {
        by_label
            .entry(label_of(module, &record))
            .or_default()
            .push(record);
    }
    let mut rng = Rng::new(seed, "split");
    let mut out = Splits::default();
    for (_, mut group) in by_label {
        rng.shuffle(&mut group);
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss,
            reason = "a share of a count"
        )]
        let test = (group.len() as f64 * TEST_SHARE).round() as usize;
        for (i, record) in group.into_iter().enumerate() {
            if i < test {
                out.test.push(record);
            } else if (i - test).is_multiple_of(2) {
                out.train.push(record);
            } else {
                out.dev.push(record);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_split_is_disjoint_stratified_and_seeded() {
        let catalog =
            core_config::Catalog::load(&test_support::repo_root().join("modules.toml")).unwrap();
        let module = catalog.resolve("m02").unwrap();
        let records = core_config::read_records(&catalog.dataset_path(module)).unwrap();
        let n = records.len();
        let a = split(module, records.clone(), 7);
        let b = split(module, records.clone(), 7);
        let ids = |v: &[Record]| v.iter().map(|r| r.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&a.test), ids(&b.test));
        assert_eq!(a.train.len() + a.dev.len() + a.test.len(), n);
        let mut all: Vec<String> = [ids(&a.train), ids(&a.dev), ids(&a.test)].concat();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), n, "no record in two splits");
        // Each label's share of test is 40 % of that label, give or take one record.
        for label in ["OB", "Null"] {
            let total = records
                .iter()
                .filter(|r| label_of(module, r) == label)
                .count();
            let test = a
                .test
                .iter()
                .filter(|r| label_of(module, r) == label)
                .count();
            #[expect(clippy::cast_precision_loss, reason = "counts")]
            let want = total as f64 * TEST_SHARE;
            #[expect(clippy::cast_precision_loss, reason = "counts")]
            let diff = (test as f64 - want).abs();
            assert!(diff <= 1.0, "{label}: {test} of {total}");
        }
        let c = split(module, records, 8);
        assert_ne!(ids(&a.test), ids(&c.test));
    }
}
