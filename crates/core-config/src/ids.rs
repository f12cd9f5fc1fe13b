//! Module ids: parsing the many ways users type them, and the folder names derived from them.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A canonical module id such as `m12` or `m02b`: lower case, `m`, two digits, an optional
/// letter.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ModuleId(String);

impl ModuleId {
    /// Parses any spelling users type (`m12`, `M12`, `12`, `m02b`, `2b`, `M02B`) into the canonical
    /// form. Returns `None` when the text does not have the shape of a module id at all.
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        let rest = text
            .strip_prefix('m')
            .or_else(|| text.strip_prefix('M'))
            .unwrap_or(text);
        let digits_end = rest
            .char_indices()
            .find(|(_, c)| !c.is_ascii_digit())
            .map_or(rest.len(), |(i, _)| i);
        let (digits, suffix) = rest.split_at(digits_end);
        if digits.is_empty() || digits.len() > 2 || suffix.len() > 1 {
            return None;
        }
        if !suffix.chars().all(|c| c.is_ascii_alphabetic()) {
            return None;
        }
        let number: u32 = digits.parse().ok()?;
        Some(Self(format!("m{number:02}{}", suffix.to_ascii_lowercase())))
    }

    /// The canonical lower-case form, e.g. `m02b`.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The upper-case form used in file and folder names, e.g. `M02B`.
    #[must_use]
    pub fn upper(&self) -> String {
        self.0.to_ascii_uppercase()
    }
}

impl fmt::Display for ModuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for ModuleId {
    type Error = String;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        let id = Self::parse(&value).ok_or_else(|| format!("`{value}` is not a module id"))?;
        if id.0 != value {
            return Err(format!(
                "module id `{value}` must be written in canonical form `{id}`"
            ));
        }
        Ok(id)
    }
}

impl From<ModuleId> for String {
    fn from(value: ModuleId) -> Self {
        value.0
    }
}

/// The folder a module's results live in under `experiment_results/`, e.g.
/// `M12_HardConstraintViolationCheck` or `M02B_ClassifyOwnBrandKeywords_PathB`.
#[must_use]
pub fn folder_name(id: &ModuleId, name: &str) -> String {
    format!("{}_{name}", id.upper())
}

/// The closest of `candidates` to `input`, if it is close enough to be worth suggesting.
#[must_use]
pub fn closest<'a>(input: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let input = input.trim().to_ascii_lowercase();
    let common_prefix = |c: &str| {
        input
            .chars()
            .zip(c.to_ascii_lowercase().chars())
            .take_while(|(a, b)| a == b)
            .count()
    };
    // Ties go to the longer shared prefix: `m17` suggests `m16`, not `m07`.
    candidates
        .into_iter()
        .map(|c| {
            (
                strsim::damerau_levenshtein(&input, &c.to_ascii_lowercase()),
                c,
            )
        })
        .filter(|(distance, c)| *distance <= 2.max(c.len() / 3))
        .min_by_key(|(distance, c)| (*distance, std::cmp::Reverse(common_prefix(c))))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_spelling() {
        for (text, want) in [
            ("m12", "m12"),
            ("M12", "m12"),
            ("12", "m12"),
            (" 12 ", "m12"),
            ("m02b", "m02b"),
            ("2b", "m02b"),
            ("M02B", "m02b"),
            ("m2B", "m02b"),
            ("1", "m01"),
            ("m01a", "m01a"),
            ("m16", "m16"),
        ] {
            assert_eq!(
                ModuleId::parse(text).map(|m| m.0),
                Some(want.to_owned()),
                "{text}"
            );
        }
    }

    #[test]
    fn rejects_non_ids() {
        for text in ["", "m", "mx", "123", "m12bb", "m1-2", "12 b", "kappa"] {
            assert_eq!(ModuleId::parse(text), None, "{text}");
        }
    }

    #[test]
    fn folder_names_use_the_upper_id() {
        let m12 = ModuleId::parse("m12").unwrap();
        assert_eq!(
            folder_name(&m12, "HardConstraintViolationCheck"),
            "M12_HardConstraintViolationCheck"
        );
        let m02b = ModuleId::parse("2b").unwrap();
        assert_eq!(
            folder_name(&m02b, "ClassifyOwnBrandKeywords_PathB"),
            "M02B_ClassifyOwnBrandKeywords_PathB"
        );
    }

    #[test]
    fn deserialising_insists_on_the_canonical_form() {
        assert!(ModuleId::try_from("m12".to_owned()).is_ok());
        assert!(ModuleId::try_from("M12".to_owned()).is_err());
    }

    #[test]
    fn suggests_the_closest_candidate() {
        let ids = ["m12", "m12b", "m13"];
        assert_eq!(closest("m12c", ids), Some("m12"));
        assert_eq!(closest("m21", ids), Some("m12"));
        assert_eq!(closest("m17", ["m07", "m16"]), Some("m16"));
        assert_eq!(closest("completely different", ids), None);
    }
}
