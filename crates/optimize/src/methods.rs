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
        match self
            .ev
            .score(what, &self.text(instruction, demos), records)
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
                results: Vec::new(),
            })),
            Err(e) => Err(e),
        }
    }

    /// Dev failures of a trial, at most `n`, from dev records only.
    fn failures(&self, trial: &Trial, n: usize) -> Vec<Failure> {
        let by_id: BTreeMap<&str, &Record> = self.dev.iter().map(|r| (r.id.as_str(), r)).collect();
        trial
            .results
            .iter()
            .filter(|s| !s.correct)
            .filter_map(|s| by_id.get(s.record.as_str()).map(|r| (r, s)))
            .take(n)
            .map(|(r, s)| Failure {
                keyword: r.input_text("keyword"),
                expected: label_of(self.module, r),
                answered: answered(self.module, &s.output),
            })
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
        Ok(Some(
            trial
                .results
                .iter()
                .filter(|s| s.correct)
                .filter_map(|s| {
                    let r = by_id.get(s.record.as_str())?;
                    Some(Demo::new(r, label_of(self.module, r), s.output.clone()))
                })
                .collect(),
        ))
    }

    fn pick_demos(&self, pool: &[Demo], rng: &mut Rng) -> Vec<Demo> {
        let mut idx: Vec<usize> = (0..pool.len()).collect();
        rng.shuffle(&mut idx);
        idx.into_iter()
            .take(self.sizes.demos)
            .map(|i| pool[i].clone())
            .collect()
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
                Ok(p) => p,
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
        // 1. Instruction candidates: proposal rounds grounded in the failures of a dev
        //    minibatch, each seeded by the best instruction on that minibatch so far.
        let mini = (self.dev.len() / 4).max(4).min(self.dev.len());
        let mut rng = Rng::new(self.seed, "mipro");
        let mut instructions: Vec<(String, f64)> = vec![(self.parts.instruction.clone(), 0.0)];
        let mut seed_instruction = self.parts.instruction.clone();
        let mut last = state.last.clone();
        for round in 0..self.sizes.rounds {
            let meta = meta_prompt(
                self.module,
                &seed_instruction,
                &self.failures(&last, 8),
                self.sizes.candidates,
                false,
            );
            let proposals = match self.ev.propose(&meta).await {
                Ok(p) => p,
                Err(Error::Budget { .. }) => break,
                Err(e) => return Err(e),
            };
            let mut batch: Vec<Record> = self.dev.to_vec();
            rng.shuffle(&mut batch);
            batch.truncate(mini);
            let mut round_best = -1.0;
            for (i, instruction) in proposals.into_iter().enumerate() {
                let what = format!("mipro proposal {}.{} on a minibatch", round + 1, i + 1);
                let Some(trial) = self
                    .score(&what, &instruction, &[], &batch, state.best.dev_score)
                    .await?
                else {
                    break;
                };
                if trial.score > round_best {
                    round_best = trial.score;
                    seed_instruction = instruction.clone();
                    last = trial.clone();
                }
                instructions.push((instruction, trial.score));
            }
        }
        instructions.sort_by(|a, b| b.1.total_cmp(&a.1));
        instructions.truncate(3);
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
            .flat_map(|(i, _)| demo_sets.iter().map(move |d| (i.clone(), d.clone(), 0.0)))
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
        for (n, (instruction, demos, _)) in alive.iter().enumerate() {
            let what = format!("mipro finalist {}", n + 1);
            let Some(trial) = self
                .score(&what, instruction, demos, self.dev, state.best.dev_score)
                .await?
            else {
                state.best.budget_exhausted = true;
                return Ok(());
            };
            state.offer(instruction, demos, trial);
        }
        Ok(())
    }

    async fn gepa(&self, state: &mut State<'_>) -> Result<()> {
        let mut rng = Rng::new(self.seed, "gepa");
        // The pool: instruction and its per-dev-record results.
        let mut pool: Vec<(String, Trial)> =
            vec![(self.parts.instruction.clone(), state.last.clone())];
        for t in 0..self.sizes.trials {
            let front = pareto_front(&pool);
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
            let (instruction, trial) = pool[parent].clone();
            let failures = self.failures(&trial, 4);
            if failures.is_empty() {
                break;
            }
            let meta = meta_prompt(self.module, &instruction, &failures, 1, true);
            let child = match self.ev.propose(&meta).await {
                Ok(p) => p.into_iter().next(),
                Err(Error::Budget { .. }) => {
                    state.best.budget_exhausted = true;
                    return Ok(());
                }
                Err(e) => return Err(e),
            };
            let Some(child) = child else { continue };
            let what = format!("gepa mutation {}", t + 1);
            let Some(result) = self
                .score(&what, &child, &[], self.dev, state.best.dev_score)
                .await?
            else {
                state.best.budget_exhausted = true;
                return Ok(());
            };
            state.offer(&child, &[], result.clone());
            if result.score >= 0.0 {
                pool.push((child, result));
            }
        }
        Ok(())
    }
}

/// Candidates on the Pareto front over dev records (best on at least one record, not
/// dominated), each with the number of records it is best on.
fn pareto_front(pool: &[(String, Trial)]) -> Vec<(usize, usize)> {
    let correct = |t: &Trial, id: &str| t.results.iter().any(|s| s.record == id && s.correct);
    let ids: Vec<&str> = pool[0]
        .1
        .results
        .iter()
        .map(|s| s.record.as_str())
        .collect();
    let mut wins = vec![0usize; pool.len()];
    for id in &ids {
        for (i, (_, t)) in pool.iter().enumerate() {
            if correct(t, id) {
                wins[i] += 1;
            }
        }
    }
    let dominated = |i: usize| {
        pool.iter().enumerate().any(|(j, (_, tj))| {
            j != i
                && ids
                    .iter()
                    .all(|id| !correct(&pool[i].1, id) || correct(tj, id))
                && ids
                    .iter()
                    .any(|id| correct(tj, id) && !correct(&pool[i].1, id))
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
    fn offer(&mut self, instruction: &str, demos: &[Demo], trial: Trial) {
        self.best.trials += 1;
        if trial.score > self.best.dev_score {
            self.best.dev_score = trial.score;
            self.best.instruction = instruction.to_owned();
            self.best.demos = demos.to_vec();
        }
    }
}
