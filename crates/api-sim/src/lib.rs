//! A local server that speaks the OpenAI (chat completions, files, batches) and Braintrust REST
//! protocols, so tests, the demo and benchmarks run without the real services. The OpenAI side
//! lives in `openai`; the Braintrust side (projects, experiments, datasets, prompts, event
//! insert/fetch, summarize; bearer auth; insert faults) lives in `braintrust` and joins the same
//! router.
//!
//! - [`SimConfig`] sets latency, fault injection (request and token rate limits with real
//!   headers, 500/503s,
//!   invalid JSON, quota exhaustion), batch timing and answer-key mode.
//! - [`spawn`] starts a server on its own thread for tests ([`SimServer::base_url`]); [`serve`]
//!   runs one on a listener the caller owns (the `api-sim` binary).
//! - Answers are a pure function of the request; in answer-key mode ([`AnswerKey`]) the
//!   simulator recognises the dataset record a prompt was rendered from and answers with its
//!   expected labels, wrong at a seeded rate. Model names carry a `sim-` prefix.
//! - `GET /_sim/stats` ([`StatsSnapshot`]) counts requests by endpoint and status and chat
//!   requests by recognised record.
//!
//! - Not simulated: streaming (`"stream": true` is refused with a 400), embeddings, tools,
//!   audio and images.
//!
//! It may read the module catalogue and datasets (answer-key mode) but must not depend on the
//! toolkit's own clients: it stands in for the far side of the wire.
#![deny(clippy::print_stdout, clippy::print_stderr)]

mod answer;
mod braintrust;
mod error;
mod judge;
mod openai;
pub mod sensitive;
mod stats;
mod util;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

pub use answer::{AnswerKey, Recognised};
pub use error::Error;
pub use stats::StatsSnapshot;

/// The prefix of every model name the simulator reports, so no output can be mistaken for a
/// real model's.
pub const MODEL_PREFIX: &str = "sim-";

/// How the simulator behaves.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Delay before every chat answer (and before injected 500/503s).
    pub latency: Duration,
    /// Requests per minute before 429s, if limited.
    pub rpm: Option<u32>,
    /// Tokens per minute before 429s, if limited. A request is charged what OpenAI's limiter
    /// estimates before answering: its message characters ÷ 4 plus its completion cap.
    pub tpm: Option<u64>,
    /// How much of the per-minute budget may be used at once, as time (one second's worth by
    /// default, like a provider enforcing its limit over short windows).
    pub burst: Duration,
    /// Share of chat requests answered 500.
    pub error_rate: f64,
    /// Share answered 503 "overloaded".
    pub overload_rate: f64,
    /// Share answered 503 "Slow Down".
    pub slow_down_rate: f64,
    /// Share of JSON answers whose content is cut in half (invalid JSON).
    pub invalid_json_rate: f64,
    /// After this many answered chat requests, every request gets 429 `insufficient_quota`
    /// (`Some(0)`: from the start).
    pub quota_after: Option<u64>,
    /// Project root whose datasets make the answer key.
    pub answer_key: Option<PathBuf>,
    /// Share of recognised records answered wrongly (answer-key mode).
    pub wrong_rate: f64,
    /// Prompt-sensitive answers in answer-key mode (a test double for prompt optimization; see
    /// [`sensitive`]).
    pub prompt_sensitive: bool,
    /// Share of judge verdicts flipped (judge mode: requests whose schema is named `judge_…`
    /// get verdicts that follow whether the judged answer matches the expected one).
    pub judge_noise: f64,
    /// Seed of every random choice.
    pub seed: u64,
    /// Time a batch takes from creation to `completed`.
    pub batch_duration: Duration,
    /// Batches still unfinished this long after creation expire (partial results).
    pub batch_expire_after: Option<Duration>,
    /// Most lines in a batch input file.
    pub batch_max_lines: usize,
    /// Largest batch input file, bytes.
    pub batch_max_bytes: usize,
    /// Share of Braintrust event inserts answered 500 (half of them after storing the rows).
    pub braintrust_insert_error_rate: f64,
    /// Answer this many Braintrust inserts, then 500 every one after (nothing stored).
    pub braintrust_insert_fail_after: Option<u64>,
    /// The only Braintrust API key accepted; any non-empty bearer key when `None`.
    pub braintrust_api_key: Option<String>,
    /// Base of the experiment URLs `summarize` returns; the simulator's own address when `None`.
    pub braintrust_app_url: Option<String>,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            latency: Duration::ZERO,
            rpm: None,
            tpm: None,
            burst: Duration::from_secs(1),
            error_rate: 0.0,
            overload_rate: 0.0,
            slow_down_rate: 0.0,
            invalid_json_rate: 0.0,
            quota_after: None,
            answer_key: None,
            wrong_rate: 0.0,
            prompt_sensitive: false,
            judge_noise: 0.0,
            seed: 42,
            batch_duration: Duration::from_secs(10),
            batch_expire_after: None,
            batch_max_lines: 50_000,
            batch_max_bytes: 200 * 1024 * 1024,
            braintrust_insert_error_rate: 0.0,
            braintrust_insert_fail_after: None,
            braintrust_api_key: None,
            braintrust_app_url: None,
        }
    }
}

impl SimConfig {
    fn check(&self) -> Result<(), Error> {
        for (name, rate) in [
            ("error_rate", self.error_rate),
            ("overload_rate", self.overload_rate),
            ("slow_down_rate", self.slow_down_rate),
            ("invalid_json_rate", self.invalid_json_rate),
            ("wrong_rate", self.wrong_rate),
            ("judge_noise", self.judge_noise),
            (
                "braintrust_insert_error_rate",
                self.braintrust_insert_error_rate,
            ),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(Error::Config {
                    name,
                    message: format!("must be a share within 0..1, not {rate}"),
                });
            }
        }
        if self.error_rate + self.overload_rate + self.slow_down_rate > 1.0 {
            return Err(Error::Config {
                name: "error_rate",
                message: "the 500 and 503 shares add up to more than 1".to_owned(),
            });
        }
        if self.rpm == Some(0) {
            return Err(Error::Config {
                name: "rpm",
                message: "must be at least 1".to_owned(),
            });
        }
        if self.tpm == Some(0) {
            return Err(Error::Config {
                name: "tpm",
                message: "must be at least 1".to_owned(),
            });
        }
        Ok(())
    }
}

/// Everything the handlers share.
pub(crate) struct Shared {
    pub(crate) config: SimConfig,
    pub(crate) stats: stats::Stats,
    pub(crate) answer_key: Option<AnswerKey>,
    pub(crate) validators: answer::Validators,
    pub(crate) arrivals: AtomicU64,
    pub(crate) admitted: AtomicU64,
    pub(crate) ids: AtomicU64,
    /// Random per simulator, so request ids of two simulators never collide.
    pub(crate) instance: u64,
    pub(crate) limiters: Mutex<openai::chat::Limiters>,
    pub(crate) seen_prompts: Mutex<HashSet<u64>>,
    pub(crate) files: Mutex<openai::files::FileStore>,
    pub(crate) batches: Mutex<openai::batches::BatchStore>,
    pub(crate) braintrust: Mutex<braintrust::Store>,
}

/// The state handed to every route (shared by the OpenAI and Braintrust sides).
pub(crate) type SimState = Arc<Shared>;

impl Shared {
    fn new(config: SimConfig) -> Result<Self, Error> {
        config.check()?;
        let answer_key = match &config.answer_key {
            Some(root) => {
                let key = AnswerKey::load(root, config.wrong_rate, config.seed)?;
                Some(if config.prompt_sensitive {
                    key.prompt_sensitive()
                } else {
                    key
                })
            }
            None => None,
        };
        let limiters = openai::chat::Limiters {
            requests: config
                .rpm
                .map(|rpm| openai::chat::Limiter::new(u64::from(rpm), config.burst)),
            tokens: config
                .tpm
                .map(|tpm| openai::chat::Limiter::new(tpm, config.burst)),
        };
        Ok(Self {
            stats: stats::Stats::default(),
            answer_key,
            validators: answer::Validators::default(),
            arrivals: AtomicU64::new(0),
            admitted: AtomicU64::new(0),
            ids: AtomicU64::new(0),
            instance: instance_id(),
            limiters: Mutex::new(limiters),
            seen_prompts: Mutex::new(HashSet::new()),
            files: Mutex::new(openai::files::FileStore::default()),
            batches: Mutex::new(openai::batches::BatchStore::default()),
            braintrust: Mutex::new(braintrust::Store::new(&config)),
            config,
        })
    }

    /// A fresh id with a prefix, e.g. `file-sim0000000000000001`: deterministic within a run.
    pub(crate) fn next_id(&self, prefix: &str) -> String {
        let n = self.ids.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        format!("{prefix}sim{n:016x}")
    }
}

/// A number no other simulator (in this process or another) is likely to have: the clock, the
/// process id and a counter, hashed. Only request ids use it; answers stay a function of the
/// request and the seed.
fn instance_id() -> u64 {
    static STARTED: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let n = STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    util::hash64(&[
        &nanos.to_le_bytes(),
        &std::process::id().to_le_bytes(),
        &n.to_le_bytes(),
    ])
}

/// A prepared simulator: configuration checked and answer key loaded, ready to serve.
pub struct Simulator {
    state: SimState,
}

impl Simulator {
    /// Checks the configuration and loads the answer key.
    ///
    /// # Errors
    /// When a share is out of range or the answer key cannot be loaded.
    pub fn new(config: SimConfig) -> Result<Self, Error> {
        Ok(Self {
            state: Arc::new(Shared::new(config)?),
        })
    }

    /// `(modules, records)` of the answer key, when answer-key mode is on.
    #[must_use]
    pub fn answer_key_size(&self) -> Option<(usize, usize)> {
        self.state.answer_key.as_ref().map(AnswerKey::size)
    }

    /// Problems met while loading the answer key.
    #[must_use]
    pub fn warnings(&self) -> Vec<String> {
        self.state
            .answer_key
            .as_ref()
            .map(|k| k.warnings.clone())
            .unwrap_or_default()
    }

    /// The current counters.
    #[must_use]
    pub fn stats(&self) -> StatsSnapshot {
        self.state.stats.snapshot()
    }

    /// The HTTP routes.
    pub fn router(&self) -> Router {
        router(Arc::clone(&self.state))
    }
}

fn router(state: SimState) -> Router {
    let body_limit = state.config.batch_max_bytes.max(8 * 1024 * 1024) + 1024 * 1024;
    Router::new()
        .merge(openai::routes())
        .merge(braintrust::routes(&state))
        .route("/_sim/stats", get(stats_handler))
        .route("/_sim/reset", post(reset_handler))
        .route("/", get(index))
        .route_layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            count_requests,
        ))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state)
}

async fn count_requests(
    State(state): State<SimState>,
    matched: Option<MatchedPath>,
    request: Request,
    next: Next,
) -> Response {
    let endpoint = format!(
        "{} {}",
        request.method(),
        matched
            .as_ref()
            .map_or_else(|| request.uri().path(), MatchedPath::as_str)
    );
    let response = next.run(request).await;
    if !endpoint.ends_with(" /_sim/stats") {
        state.stats.request(endpoint, response.status().as_u16());
    }
    response
}

async fn stats_handler(State(state): State<SimState>) -> Response {
    axum::Json(state.stats.snapshot()).into_response()
}

async fn reset_handler(State(state): State<SimState>) -> Response {
    state.stats.reset();
    axum::Json(serde_json::json!({"reset": true})).into_response()
}

async fn index() -> Response {
    (
        [("content-type", "text/plain; charset=utf-8")],
        "api-sim: a local API simulator. Answers are synthetic; no model is consulted. Stats: GET /_sim/stats\n",
    )
        .into_response()
}

async fn not_found(request: Request) -> Response {
    util::api_error(
        axum::http::StatusCode::NOT_FOUND,
        &format!(
            "Unknown request URL: {} {}. The simulator serves /v1/chat/completions, /v1/files, /v1/batches, /v1/project and /v1/experiment.",
            request.method(),
            request.uri().path()
        ),
        "invalid_request_error",
        None,
        Some("unknown_url"),
    )
}

/// Serves on a listener until `shutdown` completes.
///
/// # Errors
/// When the server fails.
pub async fn serve(
    simulator: Simulator,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::serve::ListenerExt as _;
    let app = simulator.router();
    // Small answers must leave at once, not wait for Nagle's algorithm.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    tokio::select! {
        result = axum::serve(listener, app) => result,
        () = shutdown => Ok(()),
    }
}

/// A simulator running on its own thread and runtime; stopped when dropped.
pub struct SimServer {
    addr: SocketAddr,
    state: SimState,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for SimServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimServer")
            .field("addr", &self.addr)
            .finish()
    }
}

/// Starts a simulator on `127.0.0.1` at a free port, on a thread of its own.
///
/// # Errors
/// When the configuration is invalid, the answer key does not load, or no port can be bound.
pub fn spawn(config: SimConfig) -> Result<SimServer, Error> {
    let simulator = Simulator::new(config)?;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|source| Error::Bind {
        addr: "127.0.0.1:0".to_owned(),
        source,
    })?;
    listener.set_nonblocking(true).map_err(Error::Runtime)?;
    let addr = listener.local_addr().map_err(Error::Runtime)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("api-sim")
        .enable_all()
        .build()
        .map_err(Error::Runtime)?;
    let state = Arc::clone(&simulator.state);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("api-sim".to_owned())
        .spawn(move || {
            runtime.block_on(async move {
                if let Ok(listener) = tokio::net::TcpListener::from_std(listener) {
                    let _ = serve(simulator, listener, async {
                        let _ = stopped.await;
                    })
                    .await;
                }
            });
            // Open keep-alive connections must not hold the test up.
            runtime.shutdown_timeout(Duration::from_millis(200));
        })
        .map_err(Error::Runtime)?;
    Ok(SimServer {
        addr,
        state,
        stop: Some(stop),
        thread: Some(thread),
    })
}

impl SimServer {
    /// `http://127.0.0.1:PORT`.
    #[must_use]
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://127.0.0.1:PORT/v1`, the value for `OPENAI_BASE_URL`.
    #[must_use]
    pub fn base_url(&self) -> String {
        format!("{}/v1", self.url())
    }

    /// The socket address.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The current counters (the same as `GET /_sim/stats`).
    #[must_use]
    pub fn stats(&self) -> StatsSnapshot {
        self.state.stats.snapshot()
    }

    /// Zeroes the counters.
    pub fn reset_stats(&self) {
        self.state.stats.reset();
    }
}

impl Drop for SimServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
