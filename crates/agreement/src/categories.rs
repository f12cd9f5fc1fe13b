//! The declared label set of a field, in the caller's order.

use std::collections::HashMap;

use crate::Error;

/// The most categories a label set may have.
///
/// Tables are dense `k × k` arrays of counts; 1024 categories keep one table at 8 MiB.
/// Annotation fields have a handful of labels, so the limit only guards against passing free
/// text where labels were meant.
pub const MAX_CATEGORIES: usize = 1024;

const LINEAR_SEARCH_MAX: usize = 12;

/// The categories a rater may choose from, in their declared order.
///
/// The order matters twice: weighted kappa measures distance by position in this list (never
/// by sorting the strings, which would put `high` before `low` before `medium`), and PABAK and
/// AC1 count every declared category, including ones nobody used.
///
/// Labels match exactly (case-sensitive); reading raw cells into labels belongs to the caller.
///
/// ```
/// use agreement::Categories;
///
/// let relevance = Categories::new(["R", "S", "C", "N"])?;
/// assert_eq!(relevance.len(), 4);
/// assert_eq!(relevance.index_of("C"), Some(2));
/// assert_eq!(relevance.index_of("c"), None);
/// # Ok::<(), agreement::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Categories {
    labels: Vec<String>,
    index: HashMap<String, u16>,
}

impl Categories {
    /// Declares the categories, in order.
    ///
    /// # Errors
    /// [`Error::NoCategories`] for an empty list, [`Error::DuplicateCategory`] when a label is
    /// repeated, [`Error::TooManyCategories`] beyond [`MAX_CATEGORIES`].
    pub fn new<I, S>(labels: I) -> Result<Self, Error>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let labels: Vec<String> = labels.into_iter().map(Into::into).collect();
        if labels.is_empty() {
            return Err(Error::NoCategories);
        }
        if labels.len() > MAX_CATEGORIES {
            return Err(Error::TooManyCategories {
                count: labels.len(),
                max: MAX_CATEGORIES,
            });
        }
        let mut index = HashMap::with_capacity(labels.len());
        for (position, label) in labels.iter().enumerate() {
            let position = u16::try_from(position).unwrap_or(u16::MAX);
            if index.insert(label.clone(), position).is_some() {
                return Err(Error::DuplicateCategory {
                    label: label.clone(),
                });
            }
        }
        Ok(Self { labels, index })
    }

    /// How many categories are declared.
    #[must_use]
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Always false: a label set has at least one category.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The labels in declared order.
    #[must_use]
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// The label at `index`, if there is one.
    #[must_use]
    pub fn label(&self, index: usize) -> Option<&str> {
        self.labels.get(index).map(String::as_str)
    }

    /// The position of `label` in the declared order.
    #[must_use]
    pub fn index_of(&self, label: &str) -> Option<usize> {
        // Field label sets are tiny; comparing a few short strings beats hashing one.
        if self.labels.len() <= LINEAR_SEARCH_MAX {
            return self.labels.iter().position(|l| l == label);
        }
        self.index.get(label).map(|&i| usize::from(i))
    }

    /// The position of `label`, or an [`Error::UnknownLabel`] naming the rater and item.
    pub(crate) fn lookup(&self, label: &str, rater: &str, index: u64) -> Result<usize, Error> {
        self.index_of(label).ok_or_else(|| Error::UnknownLabel {
            label: label.to_owned(),
            rater: rater.to_owned(),
            index,
            allowed: self.labels.clone(),
        })
    }

    /// Checks a category index given directly.
    pub(crate) fn check_index(
        &self,
        category: usize,
        rater: &str,
        index: u64,
    ) -> Result<usize, Error> {
        if category < self.labels.len() {
            Ok(category)
        } else {
            Err(Error::IndexOutOfRange {
                category,
                rater: rater.to_owned(),
                index,
                count: self.labels.len(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_declared_order_and_rejects_bad_sets() {
        let c = Categories::new(["high", "low", "medium"]).unwrap();
        assert_eq!(c.labels(), ["high", "low", "medium"]);
        assert_eq!(c.index_of("medium"), Some(2));
        assert_eq!(c.label(1), Some("low"));
        assert_eq!(c.label(3), None);
        assert!(!c.is_empty());

        assert_eq!(
            Categories::new(Vec::<String>::new()),
            Err(Error::NoCategories)
        );
        assert_eq!(
            Categories::new(["a", "b", "a"]),
            Err(Error::DuplicateCategory { label: "a".into() })
        );
        let many: Vec<String> = (0..=MAX_CATEGORIES).map(|i| i.to_string()).collect();
        assert!(matches!(
            Categories::new(many),
            Err(Error::TooManyCategories { count, .. }) if count == MAX_CATEGORIES + 1
        ));
    }

    #[test]
    fn large_sets_are_looked_up_by_hash() {
        let labels: Vec<String> = (0..100).map(|i| format!("label-{i}")).collect();
        let c = Categories::new(labels).unwrap();
        assert_eq!(c.index_of("label-0"), Some(0));
        assert_eq!(c.index_of("label-99"), Some(99));
        assert_eq!(c.index_of("label-100"), None);
    }

    #[test]
    fn unknown_labels_name_rater_item_and_choices() {
        let c = Categories::new(["true", "false"]).unwrap();
        let err = c.lookup("maybe", "rater B", 7).unwrap_err();
        assert_eq!(
            err.to_string(),
            "rater B at index 7: `maybe` is not a declared category (expected one of: true, false)"
        );
        let err = c.check_index(5, "rater A", 0).unwrap_err();
        assert_eq!(
            err.to_string(),
            "rater A at index 0: category index 5 is out of range (there are 2 categories)"
        );
    }
}
