//! Evaluation contamination: a prompt must not quote the records it is evaluated on. When a
//! dataset keyword appears in a module's prompt (typically inside a worked example), the model
//! is shown the test item and its accuracy on that item measures nothing.
//!
//! The rule, shared by `orchestrator validate` and anything that writes demos into a prompt:
//! a keyword longer than [`MIN_KEYWORD_CHARS`]` - 1` characters is *quoted* when it occurs in the
//! prompt text case-insensitively and on word boundaries (the characters on either side of the
//! occurrence are not letters, digits or `_`, where the keyword itself starts or ends with one).
//! Shorter keywords ("32", "mitts") are too common to mean a leak.

use std::collections::BTreeSet;

/// Keywords shorter than this many characters are not checked.
pub const MIN_KEYWORD_CHARS: usize = 9;

/// One dataset keyword found in a prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// The keyword as written in the dataset.
    pub keyword: String,
    /// 1-based line of the prompt text it occurs on.
    pub line: usize,
    /// 1-based column (in characters) where it starts.
    pub column: usize,
}

/// A set of dataset keywords prepared for matching: lower-cased, deduplicated, the short ones
/// dropped. Build it once and match it against many prompts.
#[derive(Debug, Clone, Default)]
pub struct Keywords {
    /// (lower-cased, original)
    items: Vec<(String, String)>,
}

impl Keywords {
    /// Prepares keywords for [`Keywords::find`].
    pub fn new<I, S>(keywords: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut seen = BTreeSet::new();
        let mut items = Vec::new();
        for keyword in keywords {
            let original = keyword.as_ref().trim();
            if original.chars().count() < MIN_KEYWORD_CHARS {
                continue;
            }
            let lower = original.to_lowercase();
            if seen.insert(lower.clone()) {
                items.push((lower, original.to_owned()));
            }
        }
        Self { items }
    }

    /// How many keywords are checked.
    #[must_use]
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether no keyword is long enough to be checked.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Every occurrence of a keyword in `prompt_text`, in line order.
    #[must_use]
    pub fn find(&self, prompt_text: &str) -> Vec<Hit> {
        let mut hits = Vec::new();
        for (line_no, line) in prompt_text.lines().enumerate() {
            // Lower-casing can change byte lengths outside ASCII, so matching is done on the
            // lower-cased line and columns are counted in its characters.
            let lower = line.to_lowercase();
            for (keyword, original) in &self.items {
                let mut from = 0;
                while let Some(offset) = lower[from..].find(keyword.as_str()) {
                    let start = from + offset;
                    let end = start + keyword.len();
                    if on_boundaries(&lower, start, end) {
                        hits.push(Hit {
                            keyword: original.clone(),
                            line: line_no + 1,
                            column: lower[..start].chars().count() + 1,
                        });
                        break;
                    }
                    from = start + lower[start..].chars().next().map_or(1, char::len_utf8);
                }
            }
        }
        hits.sort_by_key(|h| (h.line, h.column));
        hits
    }
}

/// Every dataset keyword (longer than eight characters) quoted in `prompt_text`, matched
/// case-insensitively on word boundaries. For many prompts, build [`Keywords`] once instead.
#[must_use]
pub fn find<S: AsRef<str>>(prompt_text: &str, dataset_keywords: &[S]) -> Vec<Hit> {
    Keywords::new(dataset_keywords).find(prompt_text)
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn on_boundaries(text: &str, start: usize, end: usize) -> bool {
    let first = text[start..end].chars().next();
    let last = text[start..end].chars().next_back();
    let before = text[..start].chars().next_back();
    let after = text[end..].chars().next();
    let open = !(first.is_some_and(is_word) && before.is_some_and(is_word));
    let close = !(last.is_some_and(is_word) && after.is_some_and(is_word));
    open && close
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quoted_keyword_is_found_with_line_and_column() {
        let prompt = "# Examples\nKeyword \"Oven Mitt 800 Degrees\" is N.\n";
        assert_eq!(
            find(prompt, &["oven mitt 800 degrees"]),
            [Hit {
                keyword: "oven mitt 800 degrees".to_owned(),
                line: 2,
                column: 10
            }]
        );
    }

    #[test]
    fn matches_respect_word_boundaries() {
        let keywords = ["silicone mitt"];
        assert!(find("siliconemitt and silicone mitts", &keywords).is_empty());
        assert!(find("xsilicone mitt", &keywords).is_empty());
        assert_eq!(find("(silicone mitt)", &keywords).len(), 1);
        // A later occurrence on boundaries is found after an earlier one inside a word.
        assert_eq!(
            find("silicone mitts, silicone mitt", &keywords)[0].column,
            17
        );
        // Edges that are not word characters need no boundary.
        assert_eq!(find("enclose-match-", &["close-match-"]).len(), 0);
        assert_eq!(find("as-close-match-here", &["close-match-"]).len(), 1);
        assert_eq!(find("x close-match-here", &["-match-here"]).len(), 1);
    }

    #[test]
    fn short_keywords_are_not_checked() {
        assert!(find("egg cups", &["egg cups"]).is_empty());
        assert_eq!(find("ice maker", &["ice maker"]).len(), 1);
    }

    #[test]
    fn non_ascii_case_folding_and_columns() {
        let hits = find("ÄÖ «CAFÉ CRÈME POT»", &["café crème pot"]);
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].column, 5);
    }
}
