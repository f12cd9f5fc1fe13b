//! The experiment naming convention: `root_{module_id}_{ModuleName}_{YYYYmmdd_HHMMSS}`, with the
//! run's own timestamp (from its local id, else its `created_at`).

use core_config::ModuleId;
use registry::Entry;

/// The timestamp part of a local id (`exp_{YYYYmmdd_HHMMSS}_{module}`) and the same-second
/// suffix (`_2`, `_3`) when there is one.
#[must_use]
pub fn local_id_parts(local_id: &str) -> Option<(&str, Option<u32>)> {
    let rest = local_id.strip_prefix("exp_")?;
    let stamp = rest.get(..15)?;
    let (date, time) = stamp.split_once('_')?;
    if date.len() != 8
        || time.len() != 6
        || !date.bytes().chain(time.bytes()).all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let tail = rest.get(15..)?.strip_prefix('_')?;
    let suffix = tail
        .rsplit_once('_')
        .and_then(|(_, n)| n.parse::<u32>().ok())
        .filter(|n| *n >= 2);
    Some((stamp, suffix))
}

/// The run's timestamp as `YYYYmmdd_HHMMSS`.
#[must_use]
pub fn run_timestamp(entry: &Entry) -> Option<String> {
    if let Some((stamp, _)) = local_id_parts(&entry.local_id) {
        return Some(stamp.to_owned());
    }
    entry
        .created()
        .map(|at| at.format("%Y%m%d_%H%M%S").to_string())
}

/// The experiment name for a run: `root_m12_HardConstraintViolationCheck_20260116_123456`, and
/// `…_123456_2` for the second run of a module started in the same second, so two runs never
/// share an experiment.
#[must_use]
pub fn experiment_name(entry: &Entry, module: &ModuleId, module_name: &str) -> String {
    let suffix = local_id_parts(&entry.local_id)
        .and_then(|(_, n)| n)
        .map_or_else(String::new, |n| format!("_{n}"));
    match run_timestamp(entry) {
        Some(stamp) => format!("root_{module}_{module_name}_{stamp}{suffix}"),
        None => format!("root_{module}_{module_name}_{}", entry.local_id),
    }
}

/// The module an experiment name following the convention (ours or the earlier tool's) is
/// about: `root_m12_…` → `m12`.
#[must_use]
pub fn module_of_name(name: &str) -> Option<ModuleId> {
    let rest = name.strip_prefix("root_")?;
    let token = rest.split('_').next()?;
    ModuleId::parse(token).filter(|_| token.starts_with(['m', 'M']))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(local_id: &str, created_at: &str) -> Entry {
        let mut e = Entry::new(local_id);
        e.module_id = "m12".into();
        e.created_at = created_at.into();
        e
    }

    #[test]
    fn names_use_the_runs_own_timestamp() {
        let m12 = ModuleId::parse("m12").unwrap();
        let name = |id: &str, at: &str| {
            experiment_name(&entry(id, at), &m12, "HardConstraintViolationCheck")
        };
        assert_eq!(
            name("exp_20260116_123456_m12", "2026-01-17T00:00:00"),
            "root_m12_HardConstraintViolationCheck_20260116_123456"
        );
        assert_eq!(
            name("exp_20260116_123456_m12_2", ""),
            "root_m12_HardConstraintViolationCheck_20260116_123456_2"
        );
        assert_eq!(
            name("hand-made", "2026-01-16T09:08:07.5"),
            "root_m12_HardConstraintViolationCheck_20260116_090807"
        );
        assert_eq!(
            name("hand-made", ""),
            "root_m12_HardConstraintViolationCheck_hand-made"
        );
    }

    #[test]
    fn local_ids_split_into_stamp_and_suffix() {
        assert_eq!(
            local_id_parts("exp_20260116_123456_m02b"),
            Some(("20260116_123456", None))
        );
        assert_eq!(
            local_id_parts("exp_20260116_123456_m02b_3"),
            Some(("20260116_123456", Some(3)))
        );
        assert_eq!(local_id_parts("exp_2026_m12"), None);
        assert_eq!(local_id_parts("run_20260116_123456_m12"), None);
    }

    #[test]
    fn module_ids_come_back_from_names() {
        assert_eq!(
            module_of_name("root_m02b_ClassifyOwnBrandKeywords_PathB_20260116_123456")
                .map(|m| m.to_string()),
            Some("m02b".to_owned())
        );
        assert_eq!(module_of_name("root_12_x"), None);
        assert_eq!(module_of_name("nightly"), None);
    }
}
