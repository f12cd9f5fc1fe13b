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

/// At most `n` of `records`, stratified by label: each label keeps its share of `n` (largest
/// remainders round; every label present keeps at least one record while `n` allows), in
/// the records' order. Cutting the first `n` instead would drop whole labels, since a split
/// lists its records label by label.
#[must_use]
pub fn cap(module: &ModuleSpec, records: Vec<Record>, n: usize) -> Vec<Record> {
    if records.len() <= n {
        return records;
    }
    let labels: Vec<String> = records.iter().map(|r| label_of(module, r)).collect();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for l in &labels {
        *counts.entry(l.clone()).or_default() += 1;
    }
    let total = records.len();
    // Whole shares first, then one more to the largest remainders (ties by label).
    let mut keep: BTreeMap<String, usize> = counts
        .iter()
        .map(|(l, c)| (l.clone(), c * n / total))
        .collect();
    let mut rest: Vec<(&String, usize)> = counts.iter().map(|(l, c)| (l, c * n % total)).collect();
    rest.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let mut left = n - keep.values().sum::<usize>();
    for (l, _) in rest {
        if left == 0 {
            break;
        }
        if let Some(k) = keep.get_mut(l) {
            *k += 1;
            left -= 1;
        }
    }
    // A label rounded down to nothing takes one from the label keeping the most.
    let empty: Vec<String> = keep
        .iter()
        .filter(|(_, k)| **k == 0)
        .map(|(l, _)| l.clone())
        .collect();
    for l in empty {
        let Some(big) = keep
            .iter()
            .filter(|(_, k)| **k > 1)
            .max_by_key(|(_, k)| **k)
            .map(|(b, _)| b.clone())
        else {
            break;
        };
        if let Some(k) = keep.get_mut(&big) {
            *k -= 1;
        }
        keep.insert(l, 1);
    }
    let mut taken: BTreeMap<String, usize> = BTreeMap::new();
    records
        .into_iter()
        .zip(labels)
        .filter(|(_, l)| {
            let t = taken.entry(l.clone()).or_default();
            let ok = *t < keep.get(l).copied().unwrap_or(0);
            *t += usize::from(ok);
            ok
        })
        .map(|(r, _)| r)
        .collect()
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

    #[test]
    fn the_preset_cap_keeps_every_label_in_its_share() {
        let catalog =
            core_config::Catalog::load(&test_support::repo_root().join("modules.toml")).unwrap();
        let module = catalog.resolve("m12").unwrap();
        let records = core_config::read_records(&catalog.dataset_path(module)).unwrap();
        let train = split(module, records, 42).train;
        let count =
            |v: &[Record], label: &str| v.iter().filter(|r| label_of(module, r) == label).count();
        let (yes, no) = (count(&train, "true"), count(&train, "false"));
        assert!(yes > 0 && train.len() > 40, "{yes} of {}", train.len());
        // The split lists its records label by label: the first 40 would hold no violation.
        assert_eq!(count(&train[..40], "true"), 0);
        let capped = cap(module, train.clone(), 40);
        assert_eq!(capped.len(), 40);
        let want = yes * 40 / train.len();
        assert!((want..=want + 1).contains(&count(&capped, "true")));
        assert_eq!(count(&capped, "true") + count(&capped, "false"), 40);
        assert!(count(&capped, "false") <= no);
        // Order kept; under the cap, nothing changes.
        let pos = |r: &Record| train.iter().position(|t| t.id == r.id).unwrap();
        assert!(capped.windows(2).all(|w| pos(&w[0]) < pos(&w[1])));
        assert_eq!(cap(module, train.clone(), 1000).len(), train.len());
        // A label too rare for its share still keeps one record.
        let one = cap(module, train, 3);
        assert_eq!((count(&one, "true"), one.len()), (1, 3));
    }
}
