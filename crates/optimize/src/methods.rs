//! The four search methods over (instruction, demos) candidates, scored on the dev split.

use std::collections::BTreeMap;

use core_config::{ModuleSpec, Record};
use serde::Serialize;
use serde_json::Value;

use crate::engine::{Evaluator, Trial};
use crate::prompt::{Demo, PromptParts};
use crate::split::{Rng, label_of};
use crate::{Error, Method, Progress, Result, Sizes};

/// The first line of every proposer request (the simulator's test double recognises it).
pub const PROPOSAL_MARKER: &str = "# Instruction proposal";

/// A candidate and its dev score.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Best {
    /// The instruction.
    pub instruction: String,
    /// The demos (training records only).
    pub demos: Vec<Demo>,
    /// Share correct on dev.
    pub dev_score: f64,
    /// Share correct on dev of the unoptimized prompt.
    pub initial_dev_score: f64,
    /// Whether the search stopped because a cap was reached.
    pub budget_exhausted: bool,
    /// Trials scored.
    pub trials: usize,
}

/// One failure shown to the proposer: a dev record, its expected label and the answer.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The record's keyword.
    pub keyword: String,
    /// Expected label.
    pub expected: String,
    /// What the model answered (primary field) and its reasoning.
    pub answered: String,
}

/// The proposer's meta-prompt: the module's task and labels, the current instruction, and
/// failures from the dev split (never from test). `reflective` asks for a diagnosis of the
/// failures first (GEPA).
#[must_use]
pub fn meta_prompt(
    module: &ModuleSpec,
    instruction: &str,
    failures: &[Failure],
    candidates: usize,
    reflective: bool,
) -> String {
    let labels = module
        .primary_score()
        .labels
        .as_ref()
        .map(|l| l.labels().join(", "))
        .unwrap_or_default();
    let mut out = format!(
        "{PROPOSAL_MARKER}\n**Module:** {}\n**Candidates:** {candidates}\n\n\
         You improve the decision rules of the prompt of module {} ({}). {}\n\
         Labels of `{}`: {labels}.\n\n\
         Write {candidates} improved versions of the current decision rules. Each must be a \
         complete replacement, keep the output format unchanged, and must not quote any keyword \
         shown below. Answer with a JSON object: {{\"instructions\": [\"...\", ...]}}.\n",
        module.id,
        module.id,
        module.name,
        module.description,
        module.primary_score().name,
    );
    if reflective {
        out.push_str(
            "First read the failures below: for each, work out which rule was missing or \
             misleading, then write rules that fix those failures without breaking the others.\n",
        );
    }
    out.push_str("\n## Current instruction\n");
    out.push_str(instruction.trim());
    out.push_str("\n\n## Failures on the development set\n");
    if failures.is_empty() {
        out.push_str("(none)\n");
    }
    for (i, f) in failures.iter().enumerate() {
        out.push_str(&format!(
            "### Failure {}\n**Keyword:** {}\n**Expected:** {}\n**Answered:** {}\n",
            i + 1,
            f.keyword,
            f.expected,
            f.answered
        ));
    }
    out
}

/// What a search works with.
pub(crate) struct Search<'a, 'c> {
    pub ev: &'a Evaluator<'c>,
    pub module: &'a ModuleSpec,
    pub parts: &'a PromptParts,
    pub train: &'a [Record],
    pub dev: &'a [Record],
    pub sizes: Sizes,
    pub seed: u64,
    pub progress: &'a dyn Progress,
}

/// The label the answer gave (primary field), as text.
fn answered(module: &ModuleSpec, output: &Value) -> String {
    let field = module.primary_score();
    let value = output
        .as_object()
        .and_then(|o| core_config::fieldpath::lookup_dotted(o, &field.output))
        .cloned()
        .unwrap_or(Value::Null);
    let reasoning = output
        .get("reasoning")
        .and_then(Value::as_str)
        .unwrap_or_default();
    format!("{value}; reasoning: {reasoning}")
}

impl Search<'_, '_> {
    fn text(&self, instruction: &str, demos: &[Demo]) -> String {
        self.parts.compose(instruction, demos)
    }

    /// Scores a candidate on `records`; `None` when the budget is spent (the search stops).
    async fn score(
        &self,
        what: &str,
        instruction: &str,
        demos: &[Demo],
        records: &[Record],
        best: f64,
    ) -> Result<Option<Trial>> {
        let ids: Vec<String> = demos.iter().map(|d| d.record.clone()).collect();
        match self
            .ev
            .score_candidate(what, &self.text(instruction, demos), &ids, records)
            .await
        {
            Ok(trial) => {
                self.progress
                    .trial(what, &self.ev.budget.spent(), best.max(trial.score));
                Ok(Some(trial))
            }
            Err(Error::Budget { .. }) => Ok(None),
            // A candidate quoting a test keyword is dropped, never sent.
            Err(Error::Leak { .. }) => Ok(Some(Trial {
                what: format!("{what} (refused: quotes a test keyword)"),
                key: String::new(),
                score: -1.0,
                demos: ids,
                results: Vec::new(),
            })),
            Err(e) => Err(e),
        }
    }

    /// Dev failures of a trial, at most `n`, from dev records only. A failure that would
    /// quote a test keyword (a dev keyword or answer containing one) is left out, so the
    /// proposer's meta-prompt passes the contamination check.
    fn failures(&self, trial: &Trial, n: usize) -> Vec<Failure> {
        let by_id: BTreeMap<&str, &Record> = self.dev.iter().map(|r| (r.id.as_str(), r)).collect();
        trial
            .results
            .iter()
            .filter(|s| !s.correct)
            .filter_map(|s| by_id.get(s.record.as_str()).map(|r| (r, s)))
            .map(|(r, s)| Failure {
                keyword: r.input_text("keyword"),
                expected: label_of(self.module, r),
                answered: answered(self.module, &s.output),
            })
            .filter(|f| {
                self.ev
                    .check_contamination(&format!("{}\n{}", f.keyword, f.answered))
                    .is_ok()
            })
            .take(n)
            .collect()
    }

    /// Train records the unoptimized prompt answers correctly, as demos.
    async fn demo_pool(&self) -> Result<Option<Vec<Demo>>> {
        let Some(trial) = self
            .score(
                "bootstrap on train",
                &self.parts.instruction,
                &[],
                self.train,
                0.0,
            )
            .await?
        else {
            return Ok(None);
        };
        let by_id: BTreeMap<&str, &Record> =
            self.train.iter().map(|r| (r.id.as_str(), r)).collect();
        // A demo that would quote a test keyword (its keyword, fields or answer holding one)
        // is left out here rather than refused as part of a candidate later.
        Ok(Some(
            trial
                .results
                .iter()
                .filter(|s| s.correct)
                .filter_map(|s| {
                    let r = by_id.get(s.record.as_str())?;
                    Some(Demo::new(r, label_of(self.module, r), s.output.clone()))
                })
                .filter(|d| self.ev.check_contamination(&d.render(1)).is_ok())
                .collect(),
        ))
    }

    /// A demo set of at most `sizes.demos` demos from `pool`, stratified by label.
    fn pick_demos(&self, pool: &[Demo], rng: &mut Rng) -> Vec<Demo> {
        pick_stratified(pool, self.sizes.demos, rng)
    }

    pub(crate) async fn run(&self, method: Method) -> Result<Best> {
        let Some(baseline) = self
            .score(
                "baseline on dev",
                &self.parts.instruction,
                &[],
                self.dev,
                0.0,
            )
            .await?
        else {
            return Err(Error::Budget {
                cap: "max-calls",
                spent: self.ev.budget.spent().calls.to_string(),
                limit: "the baseline on dev".to_owned(),
            });
        };
        let mut best = Best {
            instruction: self.parts.instruction.clone(),
            demos: Vec::new(),
            dev_score: baseline.score,
            initial_dev_score: baseline.score,
            budget_exhausted: false,
            trials: 1,
        };
        let mut state = State {
            best: &mut best,
            last: baseline,
        };
        match method {
            Method::Bootstrap => self.bootstrap(&mut state).await?,
            Method::Instructions => self.instructions(&mut state).await?,
            Method::Mipro => self.mipro(&mut state).await?,
            Method::Gepa => self.gepa(&mut state).await?,
        }
        Ok(best)
    }

    async fn bootstrap(&self, state: &mut State<'_>) -> Result<()> {
        let Some(pool) = self.demo_pool().await? else {
            state.best.budget_exhausted = true;
            return Ok(());
        };
        let mut rng = Rng::new(self.seed, "bootstrap");
        for t in 0..self.sizes.trials {
            let demos = self.pick_demos(&pool, &mut rng);
            let instruction = self.parts.instruction.clone();
            let what = format!("demo set {}", t + 1);
            let Some(trial) = self
                .score(&what, &instruction, &demos, self.dev, state.best.dev_score)
                .await?
            else {
                state.best.budget_exhausted = true;
                break;
            };
            state.offer(&instruction, &demos, trial);
        }
        Ok(())
    }

    async fn instructions(&self, state: &mut State<'_>) -> Result<()> {
        for round in 0..self.sizes.rounds {
            let failures = self.failures(&state.last, 8);
            let meta = meta_prompt(
                self.module,
                &state.best.instruction,
                &failures,
                self.sizes.candidates,
                false,
            );
            let proposals = match self.ev.propose(&meta).await {
                // A proposer answering with more candidates than asked is held to the count.
                Ok(p) => p
                    .into_iter()
                    .take(self.sizes.candidates)
                    .collect::<Vec<_>>(),
                Err(Error::Budget { .. }) => {
                    state.best.budget_exhausted = true;
                    return Ok(());
                }
                Err(e) => return Err(e),
            };
            let mut round_best: Option<Trial> = None;
            for (i, instruction) in proposals.iter().enumerate() {
                let what = format!("round {} candidate {}", round + 1, i + 1);
                let Some(trial) = self
                    .score(&what, instruction, &[], self.dev, state.best.dev_score)
                    .await?
                else {
                    state.best.budget_exhausted = true;
                    return Ok(());
                };
                if round_best.as_ref().is_none_or(|b| trial.score > b.score) {
                    round_best = Some(trial.clone());
                }
                state.offer(instruction, &[], trial);
            }
            // The next round starts from the best so far and its failures.
            if let Some(b) = round_best
                && b.score >= state.best.dev_score
            {
                state.last = b;
            }
        }
        Ok(())
    }

    async fn mipro(&self, state: &mut State<'_>) -> Result<()> {
        // 1. Instruction candidates: proposal rounds grounded in the failures of the seed
        //    instruction. Every proposal is scored on the same dev minibatch, so the scores of
        //    different rounds compare (paired). A round's best (the proposer's earlier
        //    candidate on a tie) seeds the next round when it is not worse than the seed: the
        //    lineage walks across ties, as an evolutionary search accepts a child that is not
        //    worse than its parent. The lineage, newest first, enters the joint search; the
        //    other proposals by score fill the rest of the top 3.
        let mini = (self.dev.len() / 4).max(4).min(self.dev.len());
        let mut rng = Rng::new(self.seed, "mipro");
        let mut batch: Vec<Record> = self.dev.to_vec();
        rng.shuffle(&mut batch);
        batch.truncate(mini);
        // The unoptimized instruction's minibatch results come from its dev trial.
        let in_batch: std::collections::HashSet<&str> =
            batch.iter().map(|r| r.id.as_str()).collect();
        let mut last = state.last.clone();
        last.results
            .retain(|s| in_batch.contains(s.record.as_str()));
        #[expect(clippy::cast_precision_loss, reason = "counts")]
        let base_score = last.results.iter().filter(|s| s.correct).count() as f64
            / last.results.len().max(1) as f64;
        let mut seed = (self.parts.instruction.clone(), base_score);
        let mut lineage: Vec<String> = Vec::new();
        let mut others: Vec<(String, f64)> = vec![seed.clone()];
        'rounds: for round in 0..self.sizes.rounds {
            let meta = meta_prompt(
                self.module,
                &seed.0,
                &self.failures(&last, 8),
                self.sizes.candidates,
                false,
            );
            let proposals = match self.ev.propose(&meta).await {
                // A proposer answering with more candidates than asked is held to the count.
                Ok(p) => p
                    .into_iter()
                    .take(self.sizes.candidates)
                    .collect::<Vec<_>>(),
                Err(Error::Budget { .. }) => break,
                Err(e) => return Err(e),
            };
            let mut round_best: Option<(String, Trial)> = None;
            for (i, instruction) in proposals.into_iter().enumerate() {
                let what = format!("mipro proposal {}.{} on a minibatch", round + 1, i + 1);
                let Some(trial) = self
                    .score(&what, &instruction, &[], &batch, state.best.dev_score)
                    .await?
                else {
                    break 'rounds;
                };
                others.push((instruction.clone(), trial.score));
                if round_best
                    .as_ref()
                    .is_none_or(|(_, b)| trial.score > b.score)
                {
                    round_best = Some((instruction, trial));
                }
            }
            if let Some((instruction, trial)) = round_best
                && trial.score >= seed.1
            {
                seed = (instruction.clone(), trial.score);
                lineage.push(instruction);
                last = trial;
            }
        }
        others.sort_by(|a, b| b.1.total_cmp(&a.1));
        let mut seen = std::collections::HashSet::new();
        let instructions: Vec<String> = lineage
            .into_iter()
            .rev()
            .chain(others.into_iter().map(|(i, _)| i))
            .filter(|i| seen.insert(i.clone()))
            .take(3)
            .collect();
        // 2. Demo sets bootstrapped from train.
        let Some(pool) = self.demo_pool().await? else {
            state.best.budget_exhausted = true;
            return Ok(());
        };
        let mut demo_sets = vec![Vec::new()];
        for _ in 0..self.sizes.trials.div_ceil(2) {
            demo_sets.push(self.pick_demos(&pool, &mut rng));
        }
        // 3. Successive halving over the combinations on growing dev minibatches.
        let mut alive: Vec<(String, Vec<Demo>, f64)> = instructions
            .iter()
            .flat_map(|i| demo_sets.iter().map(move |d| (i.clone(), d.clone(), 0.0)))
            .collect();
        let mut order: Vec<Record> = self.dev.to_vec();
        rng.shuffle(&mut order);
        let mut size = mini;
        let mut rung = 0;
        while alive.len() > 2 && size < self.dev.len() {
            rung += 1;
            for (n, combo) in alive.iter_mut().enumerate() {
                let what = format!("mipro rung {rung} combination {}", n + 1);
                let Some(trial) = self
                    .score(
                        &what,
                        &combo.0,
                        &combo.1,
                        &order[..size],
                        state.best.dev_score,
                    )
                    .await?
                else {
                    state.best.budget_exhausted = true;
                    return Ok(());
                };
                combo.2 = trial.score;
            }
            alive.sort_by(|a, b| b.2.total_cmp(&a.2));
            alive.truncate(alive.len().div_ceil(2));
            size = (size * 2).min(self.dev.len());
        }
        // 4. The finalists on the whole dev split.
        let mut top: Vec<(usize, usize)> = Vec::new();
        let mut top_score = f64::NEG_INFINITY;
        for (n, (instruction, demos, _)) in alive.iter().enumerate() {
            let what = format!("mipro finalist {}", n + 1);
            let Some(trial) = self
                .score(&what, instruction, demos, self.dev, state.best.dev_score)
                .await?
            else {
                state.best.budget_exhausted = true;
                return Ok(());
            };
            let correct = trial.results.iter().filter(|s| s.correct).count();
            if trial.score > top_score {
                top_score = trial.score;
                top.clear();
            }
            if trial.score == top_score {
                top.push((n, correct));
            }
            state.offer(instruction, demos, trial);
        }
        // 5. Finalists tied at the top of dev are told apart by more evidence: the train
        //    records none of them shows as a demo (never test). The most correct on dev and
        //    those records together wins; a tie left keeps the earlier finalist.
        if top.len() < 2 || state.best.dev_score > top_score {
            return Ok(());
        }
        let shown: std::collections::HashSet<&str> = top
            .iter()
            .flat_map(|(n, _)| alive[*n].1.iter().map(|d| d.record.as_str()))
            .collect();
        let held_out: Vec<Record> = self
            .train
            .iter()
            .filter(|r| !shown.contains(r.id.as_str()))
            .cloned()
            .collect();
        if held_out.is_empty() {
            return Ok(());
        }
        let mut winner: Option<(usize, usize)> = None;
        for (n, on_dev) in top {
            let (instruction, demos, _) = &alive[n];
            let what = format!("mipro finalist {} on held-out train records", n + 1);
            let Some(trial) = self
                .score(&what, instruction, demos, &held_out, state.best.dev_score)
                .await?
            else {
                state.best.budget_exhausted = true;
                break;
            };
            state.best.trials += 1;
            let correct = on_dev + trial.results.iter().filter(|s| s.correct).count();
            if winner.is_none_or(|(_, c)| correct > c) {
                winner = Some((n, correct));
            }
        }
        if let Some((n, _)) = winner {
            state.best.instruction.clone_from(&alive[n].0);
            state.best.demos.clone_from(&alive[n].1);
        }
        Ok(())
    }

    async fn gepa(&self, state: &mut State<'_>) -> Result<()> {
        let mut rng = Rng::new(self.seed, "gepa");
        // The candidates: instruction, demos and per-dev-record results.
        let mut pool: Vec<Candidate> = vec![Candidate {
            instruction: self.parts.instruction.clone(),
            demos: Vec::new(),
            trial: state.last.clone(),
        }];
        // Worked examples the mutations may add: train records the unoptimized prompt answers
        // correctly, bootstrapped at the first demo mutation.
        let mut examples: Option<Vec<Demo>> = None;
        for t in 0..self.sizes.trials {
            let trials: Vec<&Trial> = pool.iter().map(|c| &c.trial).collect();
            let front = pareto_front(&trials);
            // Parents are drawn in proportion to the dev records on which they are best.
            let total: usize = front.iter().map(|(_, w)| *w).sum();
            let mut pick = rng.below(total.max(1));
            let mut parent = front[0].0;
            for (i, w) in &front {
                if pick < *w {
                    parent = *i;
                    break;
                }
                pick -= w;
            }
            let parent = pool[parent].clone();
            let failures = self.failures(&parent.trial, usize::MAX);
            if failures.is_empty() {
                break;
            }
            // The reflective step reads the failures by expected label: a label the parent
            // fails on that none of its worked examples shows gets one (from train); otherwise
            // the proposer rewrites the instruction.
            let unshown = failing_labels(&failures)
                .into_iter()
                .filter(|l| !parent.demos.iter().any(|d| &d.label == l))
                .collect::<Vec<_>>();
            let mut demo_child = None;
            if !unshown.is_empty() {
                if examples.is_none() {
                    let Some(bootstrapped) = self.demo_pool().await? else {
                        state.best.budget_exhausted = true;
                        return Ok(());
                    };
                    examples = Some(bootstrapped);
                }
                let examples = examples.as_deref().unwrap_or_default();
                demo_child = unshown.iter().find_map(|label| {
                    add_demo(&parent.demos, examples, label, self.sizes.demos, &mut rng)
                        .map(|demos| (label.clone(), demos))
                });
            }
            let (what, instruction, demos) = match demo_child {
                Some((label, demos)) => (
                    format!("gepa mutation {} (a demo of {label})", t + 1),
                    parent.instruction.clone(),
                    demos,
                ),
                None => {
                    let failures: Vec<Failure> = failures.into_iter().take(4).collect();
                    let meta = meta_prompt(self.module, &parent.instruction, &failures, 1, true);
                    let child = match self.ev.propose(&meta).await {
                        Ok(p) => p.into_iter().next(),
                        Err(Error::Budget { .. }) => {
                            state.best.budget_exhausted = true;
                            return Ok(());
                        }
                        Err(e) => return Err(e),
                    };
                    let Some(child) = child else { continue };
                    (
                        format!("gepa mutation {} (the instruction)", t + 1),
                        child,
                        parent.demos.clone(),
                    )
                }
            };
            if pool
                .iter()
                .any(|c| c.instruction == instruction && c.demos == demos)
            {
                continue;
            }
            let Some(result) = self
                .score(&what, &instruction, &demos, self.dev, state.best.dev_score)
                .await?
            else {
                state.best.budget_exhausted = true;
                return Ok(());
            };
            // A child that ties the best becomes the best (accept if not worse, as a (1+1)
            // evolutionary search does): on a small dev split many mutations tie, and the
            // search then keeps building on the newest candidate instead of the first.
            state.offer_with(&instruction, &demos, result.clone(), true);
            if result.score >= 0.0 {
                pool.push(Candidate {
                    instruction,
                    demos,
                    trial: result,
                });
            }
        }
        Ok(())
    }
}

/// A GEPA candidate: instruction, demos and its dev results.
#[derive(Clone)]
struct Candidate {
    instruction: String,
    demos: Vec<Demo>,
    trial: Trial,
}

/// The expected labels of `failures`, most frequent first (ties by label).
fn failing_labels(failures: &[Failure]) -> Vec<String> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for f in failures {
        *counts.entry(f.expected.as_str()).or_default() += 1;
    }
    let mut labels: Vec<(&str, usize)> = counts.into_iter().collect();
    labels.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    labels.into_iter().map(|(l, _)| l.to_owned()).collect()
}

/// `demos` plus a seeded random demo of `label` from `examples` (none when `examples` holds
/// no demo of it not shown yet); at the cap, a demo of the label shown most often makes room.
fn add_demo(
    demos: &[Demo],
    examples: &[Demo],
    label: &str,
    cap: usize,
    rng: &mut Rng,
) -> Option<Vec<Demo>> {
    let choices: Vec<&Demo> = examples
        .iter()
        .filter(|d| d.label == label && !demos.iter().any(|s| s.record == d.record))
        .collect();
    if choices.is_empty() || cap == 0 {
        return None;
    }
    let mut out = demos.to_vec();
    if out.len() >= cap {
        let mut shown: BTreeMap<&str, usize> = BTreeMap::new();
        for d in &out {
            *shown.entry(d.label.as_str()).or_default() += 1;
        }
        let most = out
            .iter()
            .enumerate()
            .max_by_key(|(i, d)| (shown[d.label.as_str()], std::cmp::Reverse(*i)))
            .map(|(i, _)| i)?;
        out.remove(most);
    }
    out.push(choices[rng.below(choices.len())].clone());
    Some(out)
}

/// At most `n` demos from `pool`, stratified by label: the labels present, in a seeded order,
/// take turns giving a seeded random demo of their own, so a set shows every label the pool
/// holds whenever `n` allows (uniform draws can miss a label, as DSPy's random demo sets can).
fn pick_stratified(pool: &[Demo], n: usize, rng: &mut Rng) -> Vec<Demo> {
    let mut by_label: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, d) in pool.iter().enumerate() {
        by_label.entry(d.label.as_str()).or_default().push(i);
    }
    let mut groups: Vec<Vec<usize>> = by_label.into_values().collect();
    for group in &mut groups {
        rng.shuffle(group);
    }
    rng.shuffle(&mut groups);
    let mut out = Vec::with_capacity(n);
    let mut turn = 0;
    while out.len() < n && groups.iter().any(|g| turn < g.len()) {
        for group in &groups {
            if out.len() < n
                && let Some(&i) = group.get(turn)
            {
                out.push(pool[i].clone());
            }
        }
        turn += 1;
    }
    out
}

/// Candidates on the Pareto front over dev records (best on at least one record, not
/// dominated), each with the number of records it is best on.
fn pareto_front(pool: &[&Trial]) -> Vec<(usize, usize)> {
    let correct = |t: &Trial, id: &str| t.results.iter().any(|s| s.record == id && s.correct);
    let ids: Vec<&str> = pool[0].results.iter().map(|s| s.record.as_str()).collect();
    let mut wins = vec![0usize; pool.len()];
    for id in &ids {
        for (i, t) in pool.iter().enumerate() {
            if correct(t, id) {
                wins[i] += 1;
            }
        }
    }
    let dominated = |i: usize| {
        pool.iter().enumerate().any(|(j, tj)| {
            j != i
                && ids
                    .iter()
                    .all(|id| !correct(pool[i], id) || correct(tj, id))
                && ids
                    .iter()
                    .any(|id| correct(tj, id) && !correct(pool[i], id))
        })
    };
    let front: Vec<(usize, usize)> = (0..pool.len())
        .filter(|i| !dominated(*i))
        .map(|i| (i, wins[i].max(1)))
        .collect();
    if front.is_empty() {
        vec![(0, 1)]
    } else {
        front
    }
}

/// The best candidate so far and the trial proposals start from.
struct State<'b> {
    best: &'b mut Best,
    last: Trial,
}

impl State<'_> {
    /// A scored candidate: the best when it beats the best so far.
    fn offer(&mut self, instruction: &str, demos: &[Demo], trial: Trial) {
        self.offer_with(instruction, demos, trial, false);
    }

    /// A scored candidate, the best also when it only ties the best so far (`ties`).
    fn offer_with(&mut self, instruction: &str, demos: &[Demo], trial: Trial, ties: bool) {
        self.best.trials += 1;
        if trial.score > self.best.dev_score || (ties && trial.score == self.best.dev_score) {
            self.best.dev_score = trial.score;
            self.best.instruction = instruction.to_owned();
            self.best.demos = demos.to_vec();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo(record: &str, label: &str) -> Demo {
        Demo {
            record: record.to_owned(),
            keyword: record.to_owned(),
            label: label.to_owned(),
            fields: Vec::new(),
            answer: Value::Null,
        }
    }

    fn labels(demos: &[Demo]) -> Vec<&str> {
        demos.iter().map(|d| d.label.as_str()).collect()
    }

    #[test]
    fn a_stratified_demo_set_shows_every_label_the_pool_holds() {
        // One rare label among many: a uniform draw of 4 from 7 misses it 3 times in 7.
        let mut pool: Vec<Demo> = (0..6).map(|i| demo(&format!("a{i}"), "a")).collect();
        pool.push(demo("b0", "b"));
        for seed in 0..20 {
            let mut rng = Rng::new(seed, "test");
            let set = pick_stratified(&pool, 4, &mut rng);
            assert_eq!(set.len(), 4);
            assert!(
                labels(&set).contains(&"b"),
                "seed {seed}: {:?}",
                labels(&set)
            );
            let mut ids: Vec<&str> = set.iter().map(|d| d.record.as_str()).collect();
            ids.sort_unstable();
            ids.dedup();
            assert_eq!(ids.len(), 4, "no demo twice");
        }
        // Seeded: the same seed gives the same set, another seed may differ.
        let a = pick_stratified(&pool, 4, &mut Rng::new(1, "x"));
        assert_eq!(a, pick_stratified(&pool, 4, &mut Rng::new(1, "x")));
        // Fewer demos than labels: one label; a one-label pool fills the set from it.
        assert_eq!(pick_stratified(&pool, 1, &mut Rng::new(1, "x")).len(), 1);
        assert_eq!(
            labels(&pick_stratified(&pool[..6], 4, &mut Rng::new(1, "x"))),
            ["a"; 4]
        );
        assert_eq!(pick_stratified(&pool, 10, &mut Rng::new(1, "x")).len(), 7);
    }

    #[test]
    fn a_demo_mutation_adds_the_failing_label_and_makes_room_at_the_cap() {
        let examples = vec![demo("a0", "a"), demo("a1", "a"), demo("b0", "b")];
        let mut rng = Rng::new(3, "test");
        let one = add_demo(&[], &examples, "b", 2, &mut rng).unwrap();
        assert_eq!(labels(&one), ["b"]);
        let two = add_demo(&one, &examples, "a", 2, &mut rng).unwrap();
        assert_eq!(labels(&two), ["b", "a"]);
        // At the cap, a demo of the label shown most often (the first of them) makes room.
        let full = vec![demo("a0", "a"), demo("a1", "a")];
        let swapped = add_demo(&full, &examples, "b", 2, &mut rng).unwrap();
        assert_eq!(
            swapped
                .iter()
                .map(|d| d.record.as_str())
                .collect::<Vec<_>>(),
            ["a1", "b0"]
        );
        // No example of the label left to add: no mutation.
        assert!(add_demo(&one, &examples, "b", 4, &mut rng).is_none());
        assert!(add_demo(&[], &examples, "c", 4, &mut rng).is_none());
    }

    #[test]
    fn failing_labels_come_most_frequent_first() {
        let failure = |expected: &str| Failure {
            keyword: "k".into(),
            expected: expected.into(),
            answered: String::new(),
        };
        let failures = [failure("b"), failure("a"), failure("b"), failure("c")];
        assert_eq!(failing_labels(&failures), ["b", "a", "c"]);
        assert!(failing_labels(&[]).is_empty());
    }
}
