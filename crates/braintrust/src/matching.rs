//! Linking local runs to experiments that are already on Braintrust (uploaded by the earlier
//! tool, from another machine, or by an upload whose answer was lost), without guessing.
//!
//! For each run that is not recorded as uploaded, in this order:
//! 1. **name**: the experiment named by the convention (`root_{module}_{Name}_{timestamp}`);
//! 2. **earlier tool's name**: `root_{module}_{local_id}_…`, the earlier sync's scheme;
//! 3. **metadata**: an experiment whose metadata names the run's `local_id`.
//!
//! The first rule that finds exactly one experiment decides. Several candidates, copies renamed
//! by Braintrust (`…-1`), or one experiment fitting several runs are reported as ambiguous and
//! left alone. Experiments this toolkit created are linked only when every row of the run is in
//! them; otherwise the run should be uploaded again. Runs the earlier tool recorded as uploaded
//! with the experiment's *name* as its id get the real id and link.

use std::collections::{BTreeMap, HashSet};

use core_config::Catalog;
use registry::{Entry, Registry, RegistryFile, Status};
use serde::Serialize;

use crate::client::Client;
use crate::download::resolve_experiment;
use crate::error::{Error, Result};
use crate::event::event_id;
use crate::naming::experiment_name;
use crate::types::Experiment;
use crate::upload::looks_like_uuid;

/// Which rule found the experiment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// The naming convention.
    Name,
    /// The earlier tool's sync naming (`root_{module}_{local_id}_…`).
    EarlierToolName,
    /// The experiment's metadata names the run.
    Metadata,
    /// The registry held the experiment's name where its id belongs.
    StoredName,
    /// Chosen by the user (`link`).
    ByHand,
}

impl Rule {
    /// Words for reports.
    #[must_use]
    pub fn describe(self) -> &'static str {
        match self {
            Self::Name => "by name",
            Self::EarlierToolName => "by the earlier tool's name",
            Self::Metadata => "by metadata local_id",
            Self::StoredName => "by the name stored as its id",
            Self::ByHand => "by hand",
        }
    }
}

/// An experiment in a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Candidate {
    /// Experiment id.
    pub id: String,
    /// Experiment name.
    pub name: String,
}

impl From<&Experiment> for Candidate {
    fn from(e: &Experiment) -> Self {
        Self {
            id: e.id.clone(),
            name: e.name.clone(),
        }
    }
}

/// A run linked (or, in a dry run, to be linked) to an experiment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Link {
    /// Local id.
    pub local_id: String,
    /// Module id.
    pub module: String,
    /// The experiment.
    pub experiment: Candidate,
    /// How it was found.
    pub rule: Rule,
    /// Link to the experiment (filled when linking).
    pub url: Option<String>,
}

/// A run with more than one plausible experiment (or one experiment fitting several runs).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ambiguous {
    /// Local id.
    pub local_id: String,
    /// Module id.
    pub module: String,
    /// The plausible experiments.
    pub candidates: Vec<Candidate>,
    /// Why no single one was chosen.
    pub why: String,
}

/// A run whose own experiment (created by this toolkit) lacks some of its rows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Incomplete {
    /// Local id.
    pub local_id: String,
    /// The experiment.
    pub experiment: Candidate,
    /// Rows of the run found in it.
    pub found: usize,
    /// Rows the run has.
    pub expected: usize,
}

/// A run with no experiment on Braintrust.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Unmatched {
    /// Local id.
    pub local_id: String,
    /// Module id.
    pub module: String,
    /// The name its experiment would have.
    pub expected_name: Option<String>,
}

/// What `match` found and did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MatchReport {
    /// Nothing was written.
    pub dry_run: bool,
    /// Project searched.
    pub project: String,
    /// Experiments in it.
    pub experiments: usize,
    /// Runs considered.
    pub runs: usize,
    /// Links made (or to be made).
    pub linked: Vec<Link>,
    /// Left alone: several candidates.
    pub ambiguous: Vec<Ambiguous>,
    /// Left alone: our own experiment misses rows (upload the run again).
    pub incomplete: Vec<Incomplete>,
    /// No experiment found.
    pub unmatched: Vec<Unmatched>,
}

/// The pure part of matching: proposals from the registry and the project's experiments.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Proposals {
    /// Runs considered.
    pub runs: usize,
    /// One experiment each.
    pub links: Vec<Link>,
    /// Several candidates.
    pub ambiguous: Vec<Ambiguous>,
    /// Nothing found.
    pub unmatched: Vec<Unmatched>,
}

/// Proposes links between runs not recorded as uploaded and `experiments` (see the module
/// docs for the rules).
#[must_use]
pub fn propose(registry: &Registry, catalog: &Catalog, experiments: &[Experiment]) -> Proposals {
    let linked: HashSet<&str> = registry
        .entries()
        .filter_map(|e| e.braintrust_id.as_deref())
        .collect();
    let free: Vec<&Experiment> = experiments
        .iter()
        .filter(|e| !linked.contains(e.id.as_str()))
        .collect();
    let mut out = Proposals::default();
    for entry in registry.entries() {
        let legacy_name = entry
            .braintrust_id
            .as_deref()
            .filter(|id| entry.status == Status::Uploaded && !looks_like_uuid(id));
        if entry.status == Status::Uploaded && legacy_name.is_none() {
            continue;
        }
        out.runs += 1;
        if let Some(name) = legacy_name {
            if let Some(e) = free.iter().find(|e| e.name == name) {
                out.links.push(proposal(entry, e, Rule::StoredName));
            }
            continue;
        }
        propose_for(entry, catalog, &free, &mut out);
    }
    demote_shared(&mut out);
    out
}

/// Proposes a link for one run not recorded as uploaded (or records it as
/// ambiguous or unmatched).
fn propose_for(entry: &Entry, catalog: &Catalog, free: &[&Experiment], out: &mut Proposals) {
    let expected = entry.module().and_then(|id| {
        catalog
            .get(&id)
            .map(|m| experiment_name(entry, &m.id, &m.name))
    });
    let not_someone_elses =
        |e: &&&Experiment| e.local_id().is_none_or(|owner| owner == entry.local_id);
    let by_name: Vec<&Experiment> = expected
        .as_deref()
        .map(|name| {
            free.iter()
                .filter(|e| e.name == name)
                .filter(not_someone_elses)
                .copied()
                .collect()
        })
        .unwrap_or_default();
    let legacy_prefix = format!("root_{}_{}", entry.module_id, entry.local_id);
    let by_legacy: Vec<&Experiment> = free
        .iter()
        .filter(|e| {
            e.name == legacy_prefix
                || e.name
                    .strip_prefix(&legacy_prefix)
                    .is_some_and(|rest| rest.starts_with('_'))
        })
        .filter(not_someone_elses)
        .copied()
        .collect();
    let by_metadata: Vec<&Experiment> = free
        .iter()
        .filter(|e| e.local_id() == Some(entry.local_id.as_str()))
        .copied()
        .collect();
    let renamed = renamed_copies(free, expected.as_deref());
    let decided = [
        (by_name, Rule::Name),
        (by_legacy, Rule::EarlierToolName),
        (by_metadata, Rule::Metadata),
    ]
    .into_iter()
    .find(|(found, _)| !found.is_empty());
    match decided {
        Some((found, rule)) if found.len() == 1 => {
            out.links.push(proposal(entry, found[0], rule));
        }
        Some((found, rule)) => out.ambiguous.push(Ambiguous {
            local_id: entry.local_id.clone(),
            module: entry.module_id.clone(),
            candidates: found.iter().map(|e| Candidate::from(*e)).collect(),
            why: format!("{} experiments fit {}", found.len(), rule.describe()),
        }),
        None if !renamed.is_empty() => out.ambiguous.push(Ambiguous {
            local_id: entry.local_id.clone(),
            module: entry.module_id.clone(),
            candidates: renamed.iter().map(|e| Candidate::from(*e)).collect(),
            why: "only renamed copies of the expected name exist; nothing says which is this run"
                .to_owned(),
        }),
        None => out.unmatched.push(Unmatched {
            local_id: entry.local_id.clone(),
            module: entry.module_id.clone(),
            expected_name: expected,
        }),
    }
}

/// Experiments without a run id named like the expected name plus `-<digits>`: copies the
/// server renamed, any of which could be this run.
fn renamed_copies<'a>(free: &[&'a Experiment], expected: Option<&str>) -> Vec<&'a Experiment> {
    expected
        .map(|name| {
            free.iter()
                .filter(|e| e.local_id().is_none())
                .filter(|e| {
                    e.name.strip_prefix(name).is_some_and(|rest| {
                        rest.strip_prefix('-')
                            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
                    })
                })
                .copied()
                .collect()
        })
        .unwrap_or_default()
}

/// One experiment proposed for several runs belongs to none of them for sure.
fn demote_shared(out: &mut Proposals) {
    let mut per_experiment: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, l) in out.links.iter().enumerate() {
        per_experiment
            .entry(l.experiment.id.clone())
            .or_default()
            .push(i);
    }
    let shared: HashSet<usize> = per_experiment
        .values()
        .filter(|v| v.len() > 1)
        .flatten()
        .copied()
        .collect();
    if !shared.is_empty() {
        let links = std::mem::take(&mut out.links);
        for (i, l) in links.into_iter().enumerate() {
            if shared.contains(&i) {
                out.ambiguous.push(Ambiguous {
                    local_id: l.local_id,
                    module: l.module,
                    why: "the same experiment fits several runs".to_owned(),
                    candidates: vec![l.experiment],
                });
            } else {
                out.links.push(l);
            }
        }
    }
}

fn proposal(entry: &Entry, experiment: &Experiment, rule: Rule) -> Link {
    Link {
        local_id: entry.local_id.clone(),
        module: entry.module_id.clone(),
        experiment: Candidate::from(experiment),
        rule,
        url: None,
    }
}

/// Lists the project's experiments, proposes links, checks that experiments this toolkit
/// created hold every row of their run, and (unless `dry_run`) records the links in the
/// registry as uploads, with the experiment's link from `summarize`.
///
/// # Errors
/// Request and registry failures.
pub async fn match_runs(
    client: &Client,
    registry_file: &RegistryFile,
    catalog: &Catalog,
    dry_run: bool,
) -> Result<MatchReport> {
    let project = client.project().await?;
    let experiments = client.experiments(&project.id).await?;
    let registry = registry_file.load()?;
    let proposals = propose(&registry, catalog, &experiments);
    let mut report = MatchReport {
        dry_run,
        project: project.name,
        experiments: experiments.len(),
        runs: proposals.runs,
        linked: Vec::new(),
        ambiguous: proposals.ambiguous,
        incomplete: Vec::new(),
        unmatched: proposals.unmatched,
    };
    for mut link in proposals.links {
        let ours = experiments
            .iter()
            .find(|e| e.id == link.experiment.id)
            .is_some_and(|e| e.local_id().is_some());
        if ours
            && let Some(entry) = registry.get(&link.local_id)
            && let Some((found, expected)) =
                rows_present(client, registry_file, entry, &link.experiment.id).await?
            && found < expected
        {
            report.incomplete.push(Incomplete {
                local_id: link.local_id,
                experiment: link.experiment,
                found,
                expected,
            });
            continue;
        }
        if !dry_run {
            let summary = client.summarize(&link.experiment.id).await?;
            registry_file.mark_uploaded(
                &link.local_id,
                &link.experiment.id,
                &summary.experiment_url,
            )?;
            link.url = Some(summary.experiment_url);
        }
        report.linked.push(link);
    }
    Ok(report)
}

/// Links one run to the experiment a user chose (an id or a name in the project): the way to
/// settle what [`match_runs`] left ambiguous. The run is recorded as uploaded there.
///
/// # Errors
/// Unknown run or experiment, [`Error::AlreadyLinked`] when another run holds the experiment,
/// request and registry failures.
pub async fn link(
    client: &Client,
    registry_file: &RegistryFile,
    local_id: &str,
    reference: &str,
) -> Result<Link> {
    let project = client.project().await?;
    let registry = registry_file.load()?;
    let entry = registry.find(local_id)?.clone();
    let experiment = resolve_experiment(client, &project, &registry, reference).await?;
    if let Some(holder) = registry.find_by_braintrust_id(&experiment.id)
        && holder.local_id != entry.local_id
    {
        return Err(Error::AlreadyLinked {
            experiment: experiment.name,
            local_id: holder.local_id.clone(),
        });
    }
    let summary = client.summarize(&experiment.id).await?;
    registry_file.mark_uploaded(&entry.local_id, &experiment.id, &summary.experiment_url)?;
    Ok(Link {
        local_id: entry.local_id,
        module: entry.module_id,
        experiment: Candidate::from(&experiment),
        rule: Rule::ByHand,
        url: Some(summary.experiment_url),
    })
}

/// How many of the run's rows the experiment holds, and how many the run has; `None` when the
/// run's CSV cannot be read (nothing to compare with).
async fn rows_present(
    client: &Client,
    registry_file: &RegistryFile,
    entry: &Entry,
    experiment_id: &str,
) -> Result<Option<(usize, usize)>> {
    let Some(rows) = registry_file
        .resolve_csv(entry)
        .and_then(|csv| core_config::read_results(&csv).ok())
    else {
        return Ok(None);
    };
    let wanted: HashSet<String> = rows
        .iter()
        .map(|r| event_id(&entry.local_id, &r.record_id))
        .collect();
    let present = client
        .fetch_rows(experiment_id)
        .await?
        .iter()
        .filter_map(|e| e.get("id").and_then(serde_json::Value::as_str))
        .filter(|id| wanted.contains(*id))
        .count();
    Ok(Some((present, wanted.len())))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn catalog() -> Catalog {
        Catalog::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../modules.toml"))
            .unwrap()
    }

    fn entry(id: &str, module: &str, status: Status, bt: Option<&str>) -> Entry {
        let mut e = Entry::new(id);
        e.module_id = module.into();
        e.status = status;
        e.braintrust_id = bt.map(str::to_owned);
        e
    }

    fn experiment(id: &str, name: &str, local_id: Option<&str>) -> Experiment {
        Experiment {
            id: id.into(),
            project_id: "p".into(),
            name: name.into(),
            description: None,
            created: None,
            metadata: local_id.map(|l| json!({"local_id": l}).as_object().unwrap().clone()),
            base_exp_id: None,
            dataset_id: None,
        }
    }

    #[test]
    fn links_by_name_first_and_reports_what_is_ambiguous() {
        let mut registry = Registry::new();
        for e in [
            entry("exp_20260116_120000_m12", "m12", Status::LocalOnly, None),
            entry("exp_20260116_130000_m12", "m12", Status::Failed, None),
            entry("exp_20260116_140000_m12", "m12", Status::LocalOnly, None),
            entry("exp_20260116_150000_m14", "m14", Status::LocalOnly, None),
            entry("exp_20260116_160000_m14", "m14", Status::LocalOnly, None),
            entry(
                "exp_20260115_090000_m12",
                "m12",
                Status::Uploaded,
                Some("root_m12_HardConstraintViolationCheck_20260115_090000"),
            ),
            entry(
                "exp_20260114_090000_m12",
                "m12",
                Status::Uploaded,
                Some("00000000-0000-4000-8000-000000000099"),
            ),
        ] {
            registry.insert(e);
        }
        let experiments = [
            experiment(
                "e1",
                "root_m12_HardConstraintViolationCheck_20260116_120000",
                None,
            ),
            experiment(
                "e2",
                "root_m12_exp_20260116_130000_m12_20260117_080000",
                None,
            ),
            experiment(
                "e3",
                "root_m12_exp_20260116_130000_m12_20260118_080000",
                None,
            ),
            experiment(
                "e4",
                "root_m12_HardConstraintViolationCheck_20260116_140000-1",
                None,
            ),
            experiment("e5", "anything", Some("exp_20260116_150000_m14")),
            experiment(
                "e6",
                "root_m12_HardConstraintViolationCheck_20260115_090000",
                None,
            ),
            experiment(
                "00000000-0000-4000-8000-000000000099",
                "linked already",
                None,
            ),
            experiment(
                "e7",
                "root_m14_PrimaryUseCheckSameType_20260116_160000",
                Some("exp_someone_else"),
            ),
        ];
        let p = propose(&registry, &catalog(), &experiments);
        let links: Vec<(&str, &str, Rule)> = p
            .links
            .iter()
            .map(|l| (l.local_id.as_str(), l.experiment.id.as_str(), l.rule))
            .collect();
        assert_eq!(
            links,
            [
                ("exp_20260116_120000_m12", "e1", Rule::Name),
                ("exp_20260116_150000_m14", "e5", Rule::Metadata),
                ("exp_20260115_090000_m12", "e6", Rule::StoredName),
            ]
        );
        let ambiguous: Vec<(&str, usize)> = p
            .ambiguous
            .iter()
            .map(|a| (a.local_id.as_str(), a.candidates.len()))
            .collect();
        assert_eq!(
            ambiguous,
            [
                ("exp_20260116_130000_m12", 2),
                ("exp_20260116_140000_m12", 1)
            ]
        );
        assert_eq!(p.unmatched.len(), 1);
        assert_eq!(p.unmatched[0].local_id, "exp_20260116_160000_m14");
        assert_eq!(
            p.unmatched[0].expected_name.as_deref(),
            Some("root_m14_PrimaryUseCheckSameType_20260116_160000")
        );
        assert_eq!(p.runs, 6);
    }

    #[test]
    fn one_experiment_for_two_runs_links_neither() {
        let mut registry = Registry::new();
        registry.insert(entry(
            "exp_20260116_120000_m12",
            "m12",
            Status::LocalOnly,
            None,
        ));
        registry.insert(entry(
            "exp_20260116_130000_m12",
            "m12",
            Status::LocalOnly,
            None,
        ));
        let experiments = [
            experiment("e1", "x", Some("exp_20260116_120000_m12")),
            experiment(
                "e1",
                "root_m12_HardConstraintViolationCheck_20260116_130000",
                None,
            ),
        ];
        // The same id seen twice stands for an experiment proposed for both runs.
        let p = propose(&registry, &catalog(), &experiments);
        assert!(p.links.is_empty(), "{:?}", p.links);
        assert_eq!(p.ambiguous.len(), 2);
        assert!(
            p.ambiguous
                .iter()
                .all(|a| a.why == "the same experiment fits several runs")
        );
    }
}
