//! The budgeted evaluator: every candidate prompt is checked for contamination, rendered and
//! scored exactly as `orchestrator run` does (the runner's plan, request and scorer), every call
//! goes through the response cache, and the caps are checked before each call.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Mutex;

use core_config::Record;
use core_config::contamination::Keywords;
use core_config::template::Template;
use futures::StreamExt as _;
use llm_client::{
    CacheMode, CallOptions, ChatRequest, Client, Message, PriceTable, ResponseFormat, Tier, Usage,
};
use runner::Plan;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Error, Result};

/// What a run has spent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Spent {
    /// Calls sent to the server (cache hits excluded).
    pub calls: u64,
    /// Answers taken from the cache.
    pub cache_hits: u64,
    /// USD (actual where the answer was priced, the estimate otherwise).
    pub cost: f64,
}

/// The caps and what was spent and reserved against them.
#[derive(Debug)]
pub struct Budget {
    max_calls: u64,
    max_cost: f64,
    state: Mutex<(Spent, f64)>,
}

impl Budget {
    /// A budget of at most `max_calls` calls and `max_cost` USD.
    #[must_use]
    pub fn new(max_calls: u64, max_cost: f64) -> Self {
        Self {
            max_calls,
            max_cost,
            state: Mutex::new((Spent::default(), 0.0)),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (Spent, f64)> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Reserves one call estimated at `cost` (an upper bound); refused when the spent and
    /// reserved calls or cost would pass a cap.
    ///
    /// # Errors
    /// [`Error::Budget`].
    pub fn reserve(&self, cost: f64) -> Result<()> {
        let mut state = self.lock();
        let (spent, reserved) = &mut *state;
        if spent.calls + 1 > self.max_calls {
            return Err(Error::Budget {
                cap: "max-calls",
                spent: spent.calls.to_string(),
                limit: self.max_calls.to_string(),
            });
        }
        if spent.cost + *reserved + cost > self.max_cost {
            return Err(Error::Budget {
                cap: "max-cost",
                spent: format!("${:.4}", spent.cost + *reserved),
                limit: format!("${:.4}", self.max_cost),
            });
        }
        spent.calls += 1;
        *reserved += cost;
        Ok(())
    }

    /// Replaces a reservation of `reserved` with the actual `cost` (which the reservation, an
    /// upper bound, covers).
    pub fn settle(&self, reserved: f64, cost: f64) {
        let mut state = self.lock();
        state.1 -= reserved;
        state.0.cost += cost;
    }

    /// Counts an answer from the cache.
    pub fn cache_hit(&self) {
        self.lock().0.cache_hits += 1;
    }

    /// What was spent so far.
    #[must_use]
    pub fn spent(&self) -> Spent {
        self.lock().0
    }

    /// Calls left.
    #[must_use]
    pub fn calls_left(&self) -> u64 {
        self.max_calls.saturating_sub(self.lock().0.calls)
    }
}

/// One record's result under a candidate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scored {
    /// Record id.
    pub record: String,
    /// Whether the answer scored correct.
    pub correct: bool,
    /// The answer (or the error object).
    pub output: Value,
}

/// A line of `trials.jsonl`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Trial {
    /// What the trial was (`baseline`, `demo set 3`, …).
    pub what: String,
    /// Hash of the candidate's prompt text and the records scored.
    pub key: String,
    /// Share correct.
    pub score: f64,
    /// Record ids of the candidate's demos (training records only; empty without demos).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub demos: Vec<String>,
    /// Per record.
    pub results: Vec<Scored>,
}

/// Scores candidates: the runner's plan (module, schema, settings), the client, the budget,
/// the test keywords to refuse, and the trial log.
pub struct Evaluator<'a> {
    /// The runner's plan of the module (its template is replaced per candidate).
    pub plan: Plan,
    /// The model client (with its cache).
    pub client: &'a Client,
    /// Prices for the estimates.
    pub prices: Option<&'a PriceTable>,
    /// The caps.
    pub budget: Budget,
    /// Test keywords no candidate may quote.
    pub test_keywords: Keywords,
    /// Model writing instructions.
    pub proposer_model: String,
    /// Calls in flight.
    pub concurrency: usize,
    trials_path: PathBuf,
    done: Mutex<HashMap<String, Trial>>,
}

fn hash_key(parts: &[&str]) -> String {
    use std::hash::{Hash, Hasher};
    // Two different hashers make a 128-bit key; collisions are not a concern here.
    let mut a = std::collections::hash_map::DefaultHasher::new();
    let mut b = std::collections::hash_map::DefaultHasher::new();
    0xA5u8.hash(&mut b);
    for p in parts {
        p.hash(&mut a);
        p.hash(&mut b);
    }
    format!("{:016x}{:016x}", a.finish(), b.finish())
}

impl<'a> Evaluator<'a> {
    /// An evaluator logging to `trials_path`; the trials already there (a resumed run) answer
    /// their candidates again without a call.
    ///
    /// # Errors
    /// When the log exists but cannot be read.
    #[expect(clippy::too_many_arguments, reason = "one call site")]
    pub fn new(
        plan: Plan,
        client: &'a Client,
        prices: Option<&'a PriceTable>,
        budget: Budget,
        test_keywords: Keywords,
        proposer_model: String,
        concurrency: usize,
        trials_path: PathBuf,
    ) -> Result<Self> {
        let mut done = HashMap::new();
        match std::fs::read_to_string(&trials_path) {
            Ok(text) => {
                // A line cut short by a kill is ignored; its candidate is scored again.
                for trial in text
                    .lines()
                    .filter_map(|l| serde_json::from_str::<Trial>(l).ok())
                {
                    done.insert(trial.key.clone(), trial);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(&trials_path, e)),
        }
        Ok(Self {
            plan,
            client,
            prices,
            budget,
            test_keywords,
            proposer_model,
            concurrency: concurrency.max(1),
            trials_path,
            done: Mutex::new(done),
        })
    }

    /// Trials read back from an earlier attempt.
    #[must_use]
    pub fn resumed_trials(&self) -> usize {
        self.done.lock().map_or(0, |d| d.len())
    }

    /// Refuses a prompt that quotes a test keyword.
    ///
    /// # Errors
    /// [`Error::Leak`].
    pub fn check_contamination(&self, prompt_text: &str) -> Result<()> {
        let hits = self.test_keywords.find(prompt_text);
        match hits.first() {
            Some(first) => Err(Error::Leak {
                count: hits.len(),
                first: first.keyword.clone(),
            }),
            None => Ok(()),
        }
    }

    /// An upper bound of a request's cost: prompt and schema characters ÷ 3 and the whole
    /// token cap.
    fn estimate(&self, model: &str, prompt_chars: usize, max_tokens: u32) -> f64 {
        let prompt_tokens = prompt_chars as u64 / 3 + 64;
        let usage = Usage {
            prompt_tokens,
            cached_prompt_tokens: 0,
            completion_tokens: u64::from(max_tokens),
            reasoning_tokens: 0,
            total_tokens: prompt_tokens + u64::from(max_tokens),
        };
        self.prices
            .and_then(|p| p.cost(model, &usage, Tier::Standard))
            .unwrap_or(0.0)
    }

    /// Sends one request within the budget, through the cache.
    async fn call(&self, request: &ChatRequest, label: &str) -> Result<llm_client::ChatResponse> {
        let cached = self
            .client
            .cache()
            .is_some_and(|c| c.get(&self.client.cache_key(request, 0)).is_some());
        let schema_chars = match &request.response_format {
            ResponseFormat::JsonSchema(schema) => schema.schema.to_string().len(),
            _ => 0,
        };
        let chars: usize = request
            .messages
            .iter()
            .map(|m| m.content.len())
            .sum::<usize>()
            + schema_chars;
        let max_tokens = request.max_tokens.unwrap_or(1024);
        let reserved = if cached {
            0.0
        } else {
            let estimate = self.estimate(&request.model, chars, max_tokens);
            self.budget.reserve(estimate)?;
            estimate
        };
        let options = CallOptions {
            repeat: 0,
            cache: CacheMode::Use,
            label: Some(label.to_owned()),
            invalid_retries: 0,
        };
        let result = self.client.chat(request, &options).await;
        if cached {
            self.budget.cache_hit();
            return result.map_err(Error::Call);
        }
        let actual = match &result {
            Ok(r) => r.cost_usd.or_else(|| {
                let usage = r.usage.as_ref()?;
                self.prices?.cost(&request.model, usage, Tier::Standard)
            }),
            Err(_) => None,
        }
        .unwrap_or(reserved);
        self.budget.settle(reserved, actual);
        result.map_err(Error::Call)
    }

    /// Scores `prompt_text` on `records` (a trial named `what`), or answers from the trial log.
    ///
    /// # Errors
    /// A contaminated candidate, a template that does not parse, the budget, or a fatal call.
    pub async fn score(&self, what: &str, prompt_text: &str, records: &[Record]) -> Result<Trial> {
        self.score_candidate(what, prompt_text, &[], records).await
    }

    /// [`Evaluator::score`] of a candidate whose demos are the records `demos` (logged with
    /// the trial).
    pub(crate) async fn score_candidate(
        &self,
        what: &str,
        prompt_text: &str,
        demos: &[String],
        records: &[Record],
    ) -> Result<Trial> {
        let ids: Vec<&str> = records.iter().map(|r| r.id.as_str()).collect();
        let key = hash_key(&[prompt_text, &ids.join("\n")]);
        if let Some(trial) = self.done.lock().ok().and_then(|d| d.get(&key).cloned()) {
            return Ok(trial);
        }
        self.check_contamination(prompt_text)?;
        let template = Template::parse(prompt_text).map_err(|e| Error::Invalid(e.to_string()))?;
        let mut plan = self.plan.clone();
        plan.template = template;
        let plan = &plan;
        let results: Vec<Result<Scored>> = futures::stream::iter(records.iter().cloned())
            .map(|record| async move {
                let request = plan
                    .request(&record.input)
                    .map_err(|e| Error::Invalid(format!("record `{}`: {e}", record.id)))?;
                let id = record.id.clone();
                let row = match self.call(&request, &id).await {
                    Ok(response) => runner::score_answer(
                        plan,
                        record,
                        &response.outcome,
                        response.content.as_deref(),
                        Value::Null,
                    ),
                    Err(Error::Call(e)) if !e.is_fatal() => {
                        runner::error_row(plan, record, "error", &e.to_string(), Value::Null)
                    }
                    Err(e) => return Err(e),
                };
                Ok(Scored {
                    record: id,
                    correct: row.row.correct == Some(true),
                    output: row.row.output,
                })
            })
            .buffered(self.concurrency)
            .collect()
            .await;
        let results: Vec<Scored> = results.into_iter().collect::<Result<_>>()?;
        #[expect(clippy::cast_precision_loss, reason = "counts")]
        let score = if results.is_empty() {
            0.0
        } else {
            results.iter().filter(|s| s.correct).count() as f64 / results.len() as f64
        };
        let trial = Trial {
            what: what.to_owned(),
            key: key.clone(),
            score,
            demos: demos.to_vec(),
            results,
        };
        self.log(&trial)?;
        if let Ok(mut done) = self.done.lock() {
            done.insert(key, trial.clone());
        }
        Ok(trial)
    }

    fn log(&self, trial: &Trial) -> Result<()> {
        let mut line = serde_json::to_string(trial).unwrap_or_default();
        line.push('\n');
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.trials_path)
            .map_err(|e| Error::io(&self.trials_path, e))?;
        file.write_all(line.as_bytes())
            .and_then(|()| file.sync_data())
            .map_err(|e| Error::io(&self.trials_path, e))
    }

    /// Asks the proposer model for instructions (JSON mode, cached, within the budget).
    ///
    /// # Errors
    /// A contaminated meta-prompt, the budget, a failed call or an answer that is not a list.
    pub async fn propose(&self, meta_prompt: &str) -> Result<Vec<String>> {
        self.check_contamination(meta_prompt)?;
        let request = ChatRequest::new(
            self.proposer_model.clone(),
            vec![Message::user(meta_prompt)],
        )
        .temperature(0.0)
        .max_tokens(2048)
        .token_param(self.plan.settings.token_param)
        .response_format(ResponseFormat::JsonObject);
        let response = self.call(&request, "proposer").await?;
        let content = response.content.unwrap_or_default();
        let value: Value =
            serde_json::from_str(&content).map_err(|e| Error::Proposer(e.to_string()))?;
        let list = value
            .get("instructions")
            .and_then(Value::as_array)
            .ok_or_else(|| Error::Proposer(content.chars().take(200).collect()))?;
        Ok(list
            .iter()
            .filter_map(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_refuses_the_call_that_would_pass_a_cap() {
        let budget = Budget::new(2, 1.0);
        budget.reserve(0.4).unwrap();
        budget.settle(0.4, 0.3);
        assert!(matches!(
            budget.reserve(0.8),
            Err(Error::Budget {
                cap: "max-cost",
                ..
            })
        ));
        budget.reserve(0.5).unwrap();
        assert!(matches!(
            budget.reserve(0.0),
            Err(Error::Budget {
                cap: "max-calls",
                ..
            })
        ));
        budget.settle(0.5, 0.4);
        assert!((budget.spent().cost - 0.7).abs() < 1e-12);
        assert_eq!(budget.spent().calls, 2);
    }
}
