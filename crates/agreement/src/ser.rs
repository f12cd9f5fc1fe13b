//! Serialisation helpers: undefined values become JSON `null`, their reasons are listed apart.

use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::{Undefined, Value};

/// A value as a number, or `null` when undefined.
pub(crate) fn value<S: Serializer>(value: &Value, serializer: S) -> Result<S::Ok, S::Error> {
    match value {
        Ok(v) => serializer.serialize_f64(*v),
        Err(_) => serializer.serialize_none(),
    }
}

/// An interval as `[low, high]`, or `null` when undefined.
pub(crate) fn interval<S: Serializer>(
    value: &Result<[f64; 2], Undefined>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Ok(v) => v.serialize(serializer),
        Err(_) => serializer.serialize_none(),
    }
}

/// Why each `null` in a report is `null`: field name → reason, in field order.
///
/// Serialised as an object, e.g. `{"cohen_kappa": {"code": "single_label", "message": "..."}}`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Reasons(Vec<(&'static str, Undefined)>);

impl Reasons {
    /// The reason `field` is undefined, if it is.
    #[must_use]
    pub fn get(&self, field: &str) -> Option<&Undefined> {
        self.0
            .iter()
            .find(|(name, _)| *name == field)
            .map(|(_, reason)| reason)
    }

    /// Every undefined field with its reason.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &Undefined)> {
        self.0.iter().map(|(name, reason)| (*name, reason))
    }

    /// Whether every field has a value.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn note<T>(&mut self, field: &'static str, value: &Result<T, Undefined>) {
        if let Err(reason) = value {
            self.0.push((field, reason.clone()));
        }
    }

    pub(crate) fn push(&mut self, field: &'static str, reason: Undefined) {
        self.0.push((field, reason));
    }
}

impl Serialize for Reasons {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, reason) in &self.0 {
            map.serialize_entry(name, reason)?;
        }
        map.end()
    }
}

/// Counts per label, in declared order; serialised as an object `{"R": 40, "N": 55}`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Distribution(pub Vec<(String, u64)>);

impl Distribution {
    /// The count for `label` (0 when absent).
    #[must_use]
    pub fn get(&self, label: &str) -> u64 {
        self.0
            .iter()
            .find(|(l, _)| l == label)
            .map_or(0, |(_, c)| *c)
    }
}

impl Serialize for Distribution {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (label, count) in &self.0 {
            map.serialize_entry(label, count)?;
        }
        map.end()
    }
}
