//! The client: one shared connection pool, the retry loop, pacing, the cache and the running
//! totals behind a cheap-to-clone handle.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use core_config::{OpenAiSettings, Provider};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::time::Instant;

use crate::cache::{Cache, CacheEntry, CacheKey};
use crate::error::{Error, FailureKind};
use crate::files::{Batch, BatchList, CreateBatch, FileObject};
use crate::pacing::{Pacer, PacingConfig, RateHeaders};
use crate::prices::{PriceTable, Tier};
use crate::reporter::{CallEvent, NoReporter, Reporter, RetryEvent, WaitReason};
use crate::request::ChatRequest;
use crate::response::{
    ApiErrorBody, ChatResponse, Outcome, ParsedCompletion, SchemaCheck, classify, excerpt,
    parse_completion, parse_completion_bytes,
};
use crate::retry::{Decision, Hints, RetryPolicy, decide};
use crate::totals::{Counters, Totals};
use core_config::ResponseSchema;

/// Whether a call may read and write the response cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CacheMode {
    /// Answer from the cache when possible; store new answers.
    #[default]
    Use,
    /// Always ask the server, then store the new answer.
    Refresh,
    /// Neither read nor write.
    Off,
}

/// Per-call options.
#[derive(Debug, Clone, Default)]
pub struct CallOptions {
    /// Repeat index: calls that differ only here are separate samples with separate cache
    /// entries.
    pub repeat: u32,
    /// Cache use.
    pub cache: CacheMode,
    /// A label for progress events (e.g. the record id).
    pub label: Option<String>,
    /// How many times to ask again when the answer is invalid JSON or breaks the schema.
    pub invalid_retries: u32,
}

/// A chat request made ready to send by [`Client::prepare`]: its body serialised and its cache
/// key computed, once.
#[derive(Debug, Clone)]
pub struct PreparedChat {
    request: ChatRequest,
    body: Bytes,
    repeat: u32,
    key: CacheKey,
    url: Arc<str>,
    parsed_url: reqwest::Url,
    estimate: u64,
}

impl PreparedChat {
    /// The request as it was prepared.
    #[must_use]
    pub fn request(&self) -> &ChatRequest {
        &self.request
    }

    /// The request body, as it is sent.
    #[must_use]
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The cache key of the call.
    #[must_use]
    pub fn key(&self) -> CacheKey {
        self.key
    }
}

/// Configures a [`Client`].
pub struct ClientBuilder {
    settings: OpenAiSettings,
    pacing: PacingConfig,
    retry: RetryPolicy,
    cache: Option<Cache>,
    prices: Option<PriceTable>,
    reporter: Arc<dyn Reporter>,
}

impl ClientBuilder {
    /// Pacing (concurrency, RPM, TPM, adaptivity).
    #[must_use]
    pub fn pacing(mut self, pacing: PacingConfig) -> Self {
        self.pacing = pacing;
        self
    }

    /// Retry policy.
    #[must_use]
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The response cache (no cache when not set).
    #[must_use]
    pub fn cache(mut self, cache: Cache) -> Self {
        self.cache = Some(cache);
        self
    }

    /// The price table (costs are unknown when not set).
    #[must_use]
    pub fn prices(mut self, prices: PriceTable) -> Self {
        self.prices = Some(prices);
        self
    }

    /// Where progress events go.
    #[must_use]
    pub fn reporter(mut self, reporter: Arc<dyn Reporter>) -> Self {
        self.reporter = reporter;
        self
    }

    /// Builds the client.
    ///
    /// # Errors
    /// [`Error::Config`] when the settings cannot work: Azure without `api-version`, a key that
    /// is not a valid header value, or the real OpenAI endpoint without a key.
    pub fn build(self) -> Result<Client, Error> {
        let settings = self.settings;
        let azure_classic = settings.provider == Provider::Azure
            && !settings
                .base_url
                .trim_end_matches('/')
                .ends_with("/openai/v1");
        if azure_classic && settings.api_version.is_none() {
            return Err(Error::Config(
                "Azure OpenAI needs an api-version: set OPENAI_API_VERSION (e.g. 2024-10-21), or use the v1 endpoint https://<resource>.openai.azure.com/openai/v1".to_owned(),
            ));
        }
        if settings.api_key.is_none()
            && settings.provider == Provider::OpenAi
            && settings.base_url.contains("api.openai.com")
        {
            return Err(Error::Config(
                "OPENAI_API_KEY is not set (put it in the environment or the project's .env)"
                    .to_owned(),
            ));
        }
        let mut headers = HeaderMap::new();
        if let Some(key) = &settings.api_key {
            let (name, value) = if settings.provider == Provider::Azure && azure_classic {
                ("api-key", key.expose().to_owned())
            } else {
                ("authorization", format!("Bearer {}", key.expose()))
            };
            let mut value = HeaderValue::from_str(&value).map_err(|_| {
                Error::Config("the API key holds characters a header cannot carry".to_owned())
            })?;
            value.set_sensitive(true);
            headers.insert(HeaderName::from_static(name), value);
        }
        for (name, value) in [
            ("openai-organization", &settings.organization),
            ("openai-project", &settings.project),
        ] {
            if let Some(value) = value {
                let value = HeaderValue::from_str(value)
                    .map_err(|_| Error::Config(format!("{name}: not a valid header value")))?;
                headers.insert(HeaderName::from_static(name), value);
            }
        }
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .user_agent(concat!("kw-toolkit/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .tcp_nodelay(true)
            .pool_max_idle_per_host(self.pacing.max_concurrency.max(1) * 2)
            .build()
            .map_err(|e| Error::Config(format!("cannot start the HTTP client: {e}")))?;
        let base = settings.base_url.trim_end_matches('/').to_owned();
        let follow = self.pacing.follow_server_limits;
        let pacer = Pacer::new(self.pacing);
        let server_known = self
            .cache
            .as_ref()
            .and_then(|cache| cache.server_announces_limits(&base));
        if follow && server_known == Some(false) {
            tracing::debug!(
                "pacing: no probe wave (this server announced no rate limits last time)"
            );
            pacer.skip_probe();
        }
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                base,
                azure_classic,
                settings,
                retry: self.retry,
                pacer,
                cache: self.cache,
                server_known,
                server_noted: std::sync::atomic::AtomicBool::new(false),
                prices: self.prices,
                reporter: self.reporter,
                counters: Counters::default(),
                halted: Mutex::new(None),
                schemas: Mutex::new(Vec::new()),
                chat_urls: Mutex::new(HashMap::new()),
            }),
        })
    }
}

struct Inner {
    http: reqwest::Client,
    base: String,
    azure_classic: bool,
    settings: OpenAiSettings,
    retry: RetryPolicy,
    pacer: Arc<Pacer>,
    cache: Option<Cache>,
    /// Whether the server announced rate limits when the cache last saw it.
    server_known: Option<bool>,
    /// Whether this client has told the cache what the server announces.
    server_noted: std::sync::atomic::AtomicBool,
    prices: Option<PriceTable>,
    reporter: Arc<dyn Reporter>,
    counters: Counters,
    halted: Mutex<Option<String>>,
    /// Compiled schemas; a run uses one or a few, so a list compared by value is enough and
    /// needs no serialisation per call.
    schemas: Mutex<Vec<(Arc<ResponseSchema>, SchemaCheck)>>,
    /// Parsed chat URLs per model (Azure puts the deployment in the path).
    chat_urls: Mutex<HashMap<String, (Arc<str>, reqwest::Url)>>,
}

/// An OpenAI-compatible API client. Cloning is cheap and clones share the connection pool,
/// pacing, cache and totals.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The settings' Debug redacts the key.
        f.debug_struct("Client")
            .field("settings", &self.inner.settings)
            .field("cache", &self.inner.cache)
            .finish_non_exhaustive()
    }
}

/// A successful HTTP exchange.
struct Exchange {
    request_id: Option<String>,
    body: Bytes,
}

/// What one `execute` call is about, for the helpers of its retry loop.
struct CallInfo<'a> {
    endpoint: &'a str,
    label: Option<&'a str>,
    start: Instant,
    paced: bool,
}

/// One attempt the API answered with an error status.
struct Rejection<'a> {
    status: StatusCode,
    body: &'a ApiErrorBody,
    request_id: &'a Option<String>,
    attempt: u32,
}

impl Rejection<'_> {
    fn error(&self, call: &CallInfo<'_>, kind: FailureKind) -> Error {
        Error::Api {
            endpoint: call.endpoint.to_owned(),
            status: self.status.as_u16(),
            kind,
            body: Box::new(self.body.clone()),
            request_id: self.request_id.clone(),
            attempts: self.attempt,
            elapsed: call.start.elapsed(),
        }
    }
}

/// Where a request goes.
struct Target {
    method: Method,
    url: String,
    query: Vec<(&'static str, String)>,
    endpoint: String,
}

impl Client {
    /// Tells the cache, once per client, whether the server announces rate limits, so the next
    /// run knows whether a probe wave can learn anything.
    fn note_server(&self, rate: &RateHeaders) {
        let inner = &self.inner;
        let Some(cache) = &inner.cache else { return };
        if inner
            .server_noted
            .swap(true, std::sync::atomic::Ordering::Relaxed)
        {
            return;
        }
        let announces = rate.limit_requests.is_some() || rate.limit_tokens.is_some();
        if inner.server_known != Some(announces)
            && let Err(e) = cache.remember_server(&inner.base, announces)
        {
            tracing::debug!(error = %e, "cache: could not remember the server's rate limits");
        }
    }

    /// Whether the client is still holding back to a probe wave because no answer has yet said
    /// what the server's rate limits are (false from the start when the cache remembers that
    /// this server announces none).
    #[must_use]
    pub fn probing(&self) -> bool {
        self.inner.pacer.probing()
    }

    /// Starts configuring a client for the given settings.
    #[must_use]
    pub fn builder(settings: OpenAiSettings) -> ClientBuilder {
        ClientBuilder {
            settings,
            pacing: PacingConfig::default(),
            retry: RetryPolicy::default(),
            cache: None,
            prices: None,
            reporter: Arc::new(NoReporter),
        }
    }

    /// The settings in use.
    #[must_use]
    pub fn settings(&self) -> &OpenAiSettings {
        &self.inner.settings
    }

    /// The response cache, if one is configured.
    #[must_use]
    pub fn cache(&self) -> Option<&Cache> {
        self.inner.cache.as_ref()
    }

    /// The price table, if one is configured.
    #[must_use]
    pub fn prices(&self) -> Option<&PriceTable> {
        self.inner.prices.as_ref()
    }

    /// Running totals so far.
    #[must_use]
    pub fn totals(&self) -> Totals {
        self.inner.counters.snapshot()
    }

    /// The adaptive concurrency limit right now.
    #[must_use]
    pub fn concurrency(&self) -> usize {
        self.inner.pacer.limit()
    }

    /// The reason the client stopped sending, after a quota or key failure.
    #[must_use]
    pub fn halted(&self) -> Option<String> {
        self.inner
            .halted
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The full chat-completions URL for a model (Azure puts the deployment in the path).
    #[must_use]
    pub fn chat_url(&self, model: &str) -> String {
        let target = self.target(Method::POST, "/chat/completions", Some(model));
        if target.query.is_empty() {
            target.url
        } else {
            let query: Vec<String> = target
                .query
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            format!("{}?{}", target.url, query.join("&"))
        }
    }

    /// The cache key a call with this request and repeat index uses; the batch runner stores
    /// batch answers under the same key so a later live run finds them.
    #[must_use]
    pub fn cache_key(&self, request: &ChatRequest, repeat: u32) -> CacheKey {
        CacheKey::new(&self.chat_url(&request.model), &request.to_body(), repeat)
    }

    /// Stores an answer obtained elsewhere (a batch output line's body) in the cache, if it is
    /// worth keeping. Returns whether it was stored.
    ///
    /// # Errors
    /// When the request's schema does not compile or the file cannot be written.
    pub fn cache_answer(
        &self,
        request: &ChatRequest,
        repeat: u32,
        response: Value,
    ) -> Result<bool, Error> {
        let Some(cache) = &self.inner.cache else {
            return Ok(false);
        };
        let schema = self.schema_for(request)?;
        let Ok(parsed) = parse_completion(&response) else {
            return Ok(false);
        };
        if !classify(&parsed, &request.response_format, schema.as_ref()).is_cacheable() {
            return Ok(false);
        }
        let key = self.cache_key(request, repeat);
        cache.put(
            &key,
            &CacheEntry {
                key: key.hex(),
                created_at: chrono::Utc::now().to_rfc3339(),
                url: self.chat_url(&request.model),
                repeat,
                request: request.to_body(),
                response,
            },
        )?;
        Ok(true)
    }

    fn target(&self, method: Method, path: &str, deployment: Option<&str>) -> Target {
        let inner = &self.inner;
        let endpoint = format!("{method} {path}");
        if !inner.azure_classic {
            return Target {
                method,
                url: format!("{}{path}", inner.base),
                query: Vec::new(),
                endpoint,
            };
        }
        let query = vec![(
            "api-version",
            inner.settings.api_version.clone().unwrap_or_default(),
        )];
        let url = match deployment {
            // Only model calls go through the deployment; files and batches do not.
            Some(model) => format!("{}/openai/deployments/{model}{path}", inner.base),
            None => format!("{}/openai{path}", inner.base),
        };
        Target {
            method,
            url,
            query,
            endpoint,
        }
    }

    fn schema_for(&self, request: &ChatRequest) -> Result<Option<SchemaCheck>, Error> {
        let crate::request::ResponseFormat::JsonSchema(schema) = &request.response_format else {
            return Ok(None);
        };
        let mut schemas = self
            .inner
            .schemas
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // The requests of a run share one schema: the pointer check spares comparing it.
        if let Some((_, check)) = schemas
            .iter()
            .find(|(known, _)| Arc::ptr_eq(known, schema) || known == schema)
        {
            return Ok(Some(check.clone()));
        }
        let check = SchemaCheck::new(&schema.schema).map_err(|e| {
            Error::InvalidRequest(format!("schema `{}` does not compile: {e}", schema.name))
        })?;
        schemas.push((Arc::clone(schema), check.clone()));
        Ok(Some(check))
    }

    /// The chat URL of a model as text (for cache keys) and parsed (for requests), made once.
    fn parsed_chat_url(&self, model: &str) -> Result<(Arc<str>, reqwest::Url), Error> {
        let mut urls = self
            .inner
            .chat_urls
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(known) = urls.get(model) {
            return Ok(known.clone());
        }
        let text = self.chat_url(model);
        let url = reqwest::Url::parse(&text)
            .map_err(|e| Error::Config(format!("`{text}` is not a valid URL: {e}")))?;
        let text: Arc<str> = Arc::from(text);
        urls.insert(model.to_owned(), (Arc::clone(&text), url.clone()));
        Ok((text, url))
    }

    fn check_halted(&self) -> Result<(), Error> {
        match self.halted() {
            Some(reason) => Err(Error::Halted { reason }),
            None => Ok(()),
        }
    }

    fn halt(&self, error: &Error) {
        let mut halted = self
            .inner
            .halted
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if halted.is_none() {
            *halted = Some(error.to_string());
        }
    }

    /// Sends a chat completion, or answers it from the cache.
    ///
    /// Server errors, timeouts and rate limits are retried per the [`RetryPolicy`]; an answer
    /// that arrives is always returned as `Ok`, with its [`Outcome`] saying whether it is usable.
    ///
    /// # Errors
    /// When no answer arrives: the error names the endpoint, the server's message, what to do,
    /// the attempts and the time spent. After a quota or key failure every later call fails with
    /// [`Error::Halted`] without being sent.
    pub async fn chat(
        &self,
        request: &ChatRequest,
        options: &CallOptions,
    ) -> Result<ChatResponse, Error> {
        match self.prepare(request.clone(), options.repeat) {
            Ok(prepared) => self.chat_prepared(&prepared, options).await,
            // Counted and reported as a call that failed, as a failure to send is.
            Err(error) => {
                self.inner.counters.call_started();
                self.finish_call(Err(error), options, Instant::now())
            }
        }
    }

    /// Serialises a request once and computes its cache key, ready for
    /// [`Client::chat_prepared`]. It needs no runtime and does no I/O: a caller with many calls
    /// to make can prepare them ahead on a thread of its own (the runner does, while earlier
    /// calls are in flight), and leave the tasks that send them with nothing but the sending.
    ///
    /// # Errors
    /// When the request cannot be serialised or the client's base URL gives no valid chat URL.
    pub fn prepare(&self, request: ChatRequest, repeat: u32) -> Result<PreparedChat, Error> {
        let body = Bytes::from(request.to_body_bytes().map_err(|e| {
            Error::InvalidRequest(format!("the request cannot be serialised: {e}"))
        })?);
        let (url, parsed_url) = self.parsed_chat_url(&request.model)?;
        let key = CacheKey::from_serialized(&url, &body, repeat);
        let estimate =
            request.estimated_prompt_tokens() + u64::from(request.max_tokens.unwrap_or(0));
        Ok(PreparedChat {
            request,
            body,
            repeat,
            key,
            url,
            parsed_url,
            estimate,
        })
    }

    /// Sends a prepared chat completion, or answers it from the cache: [`Client::chat`] without
    /// the serialising. The repeat index is the one the call was prepared with
    /// (`options.repeat` is not read).
    ///
    /// # Errors
    /// As [`Client::chat`].
    pub async fn chat_prepared(
        &self,
        prepared: &PreparedChat,
        options: &CallOptions,
    ) -> Result<ChatResponse, Error> {
        let start = Instant::now();
        self.inner.counters.call_started();
        let result = self.chat_inner(prepared, options, start).await;
        self.finish_call(result, options, start)
    }

    /// Reports a finished call to the reporter and the counters.
    fn finish_call(
        &self,
        result: Result<ChatResponse, Error>,
        options: &CallOptions,
        start: Instant,
    ) -> Result<ChatResponse, Error> {
        let inner = &self.inner;
        let reporter = inner.reporter.as_ref();
        match &result {
            Ok(response) => reporter.call_done(&CallEvent {
                label: options.label.as_deref(),
                cached: response.cached,
                attempts: response.attempts,
                elapsed: response.elapsed,
                usage: response.usage.as_ref(),
                cost_usd: response.cost_usd,
                outcome: response.outcome.kind(),
            }),
            Err(error) => {
                inner.counters.failure();
                reporter.call_done(&CallEvent {
                    label: options.label.as_deref(),
                    cached: false,
                    attempts: error.attempts().unwrap_or(0),
                    elapsed: start.elapsed(),
                    usage: None,
                    cost_usd: None,
                    outcome: "error",
                });
            }
        }
        result
    }

    async fn chat_inner(
        &self,
        prepared: &PreparedChat,
        options: &CallOptions,
        start: Instant,
    ) -> Result<ChatResponse, Error> {
        let inner = &self.inner;
        let PreparedChat {
            request,
            body: payload,
            repeat,
            key,
            url,
            parsed_url,
            estimate,
        } = prepared;
        let (key, estimate) = (*key, *estimate);
        let endpoint = "POST /chat/completions";
        let schema = self.schema_for(request)?;
        let cache = inner
            .cache
            .as_ref()
            .filter(|_| options.cache != CacheMode::Off);

        if options.cache == CacheMode::Use
            && let Some(hit) = self.cache_hit(cache, request, options, &key, schema.as_ref(), start)
        {
            return Ok(hit);
        }

        self.check_halted()?;
        let mut attempts = 0;
        let mut invalid_left = options.invalid_retries;
        loop {
            // The parsed URL already carries Azure's api-version.
            let make = || {
                inner
                    .http
                    .post(parsed_url.clone())
                    .header("content-type", "application/json")
                    .body(payload.clone())
            };
            let exchange = self
                .execute(
                    endpoint,
                    &make,
                    Some(estimate),
                    options.label.as_deref(),
                    start,
                    &mut attempts,
                )
                .await?;
            let request_id = exchange.request_id;
            let (parsed, cost) =
                self.decode_and_bill(request, endpoint, &exchange.body, estimate)?;
            let outcome = classify(&parsed, &request.response_format, schema.as_ref());
            if matches!(
                outcome,
                Outcome::InvalidJson { .. } | Outcome::SchemaMismatch { .. }
            ) && invalid_left > 0
            {
                invalid_left -= 1;
                self.report_unusable(options, attempts, &outcome);
                continue;
            }
            let raw = exchange.body;
            if outcome.is_cacheable()
                && let Some(cache) = cache
            {
                self.store_in_cache(cache, key, url, *repeat, payload, &raw)
                    .await;
            }
            return Ok(ChatResponse {
                id: parsed.id,
                model: parsed.model,
                finish_reason: parsed.finish_reason,
                content: parsed.content,
                refusal: parsed.refusal,
                outcome,
                usage: parsed.usage,
                cost_usd: cost,
                cached: false,
                attempts,
                elapsed: start.elapsed(),
                request_id,
                cache_key: key.hex(),
                raw,
            });
        }
    }

    /// Decodes a chat answer, books its usage and cost, and gives the pacer back what the
    /// token `estimate` overshot.
    fn decode_and_bill(
        &self,
        request: &ChatRequest,
        endpoint: &str,
        body: &[u8],
        estimate: u64,
    ) -> Result<(ParsedCompletion, Option<f64>), Error> {
        let parsed = parse_completion_bytes(body).map_err(|message| Error::Decode {
            endpoint: endpoint.to_owned(),
            message,
            excerpt: excerpt(&String::from_utf8_lossy(body), 200),
        })?;
        let cost = self.cost_of(
            &parsed.model,
            &request.model,
            parsed.usage.as_ref(),
            Tier::Standard,
        );
        self.inner.counters.billed(parsed.usage.as_ref(), cost);
        if let Some(usage) = &parsed.usage {
            self.inner.pacer.refund_tokens(estimate, usage.total_tokens);
        }
        Ok((parsed, cost))
    }

    /// The cached answer for `key`, when there is one and it is usable.
    fn cache_hit(
        &self,
        cache: Option<&Cache>,
        request: &ChatRequest,
        options: &CallOptions,
        key: &CacheKey,
        schema: Option<&SchemaCheck>,
        start: Instant,
    ) -> Option<ChatResponse> {
        let entry = cache?.get(key)?;
        let parsed = parse_completion(&entry.response).ok()?;
        let outcome = classify(&parsed, &request.response_format, schema);
        if !outcome.is_cacheable() {
            return None;
        }
        let cost = self.cost_of(
            &parsed.model,
            &request.model,
            parsed.usage.as_ref(),
            Tier::Standard,
        );
        self.inner.counters.cache_hit(cost);
        tracing::debug!(
            label = options.label.as_deref(),
            key = %key.hex(),
            "response cache hit"
        );
        Some(ChatResponse {
            id: parsed.id,
            model: parsed.model,
            finish_reason: parsed.finish_reason,
            content: parsed.content,
            refusal: parsed.refusal,
            outcome,
            usage: parsed.usage,
            cost_usd: cost,
            cached: true,
            attempts: 0,
            elapsed: start.elapsed(),
            request_id: None,
            cache_key: key.hex(),
            raw: Bytes::from(serde_json::to_vec(&entry.response).unwrap_or_default()),
        })
    }

    /// Reports that an unusable (invalid JSON or off-schema) answer is being asked again.
    fn report_unusable(&self, options: &CallOptions, attempts: u32, outcome: &Outcome) {
        tracing::debug!(
            label = options.label.as_deref(),
            attempt = attempts,
            outcome = outcome.kind(),
            "asking again: the answer was unusable"
        );
        self.inner.counters.retry();
        self.inner.reporter.retrying(&RetryEvent {
            label: options.label.as_deref(),
            attempt: attempts,
            delay: Duration::ZERO,
            reason: format!("answer was {}", outcome.kind().replace('_', " ")),
        });
    }

    /// Writes a usable answer to the response cache; a failed write is only counted.
    async fn store_in_cache(
        &self,
        cache: &Cache,
        key: CacheKey,
        url: &str,
        repeat: u32,
        payload: &[u8],
        raw: &[u8],
    ) {
        let Ok(response) = serde_json::from_slice::<Value>(raw) else {
            return;
        };
        let entry = CacheEntry {
            key: key.hex(),
            created_at: chrono::Utc::now().to_rfc3339(),
            url: url.to_string(),
            repeat,
            request: serde_json::from_slice(payload).unwrap_or_default(),
            response,
        };
        let cache = cache.clone();
        // fsync and rename block; keep them off the async workers.
        let written = tokio::task::spawn_blocking(move || cache.put(&key, &entry)).await;
        if !matches!(written, Ok(Ok(()))) {
            self.inner.counters.cache_write_error();
        }
    }

    fn cost_of(
        &self,
        reported_model: &str,
        requested_model: &str,
        usage: Option<&crate::response::Usage>,
        tier: Tier,
    ) -> Option<f64> {
        let prices = self.inner.prices.as_ref()?;
        let usage = usage?;
        prices
            .cost(reported_model, usage, tier)
            .or_else(|| prices.cost(requested_model, usage, tier))
    }

    /// The retry loop around one logical request. `pace` carries the token estimate of a chat
    /// call (other endpoints are not paced).
    async fn execute(
        &self,
        endpoint: &str,
        make: &(dyn Fn() -> reqwest::RequestBuilder + Sync),
        pace: Option<u64>,
        label: Option<&str>,
        start: Instant,
        attempts: &mut u32,
    ) -> Result<Exchange, Error> {
        let inner = &self.inner;
        let policy = &inner.retry;
        let reporter = inner.reporter.as_ref();
        let call = CallInfo {
            endpoint,
            label,
            start,
            paced: pace.is_some(),
        };
        let mut rate_limited = 0;
        loop {
            let slot = match pace {
                Some(tokens) => Some(inner.pacer.acquire(tokens, reporter).await),
                None => None,
            };
            self.check_halted()?;
            *attempts += 1;
            inner.counters.http_request();
            let sent = make().timeout(policy.timeout).send().await;
            let response = match sent {
                Ok(response) => response,
                Err(e) => {
                    drop(slot);
                    let kind = if e.is_timeout() {
                        FailureKind::Timeout
                    } else {
                        FailureKind::Connection
                    };
                    self.transport_retry(&call, kind, describe(&e), *attempts, rate_limited)
                        .await?;
                    continue;
                }
            };
            let status = response.status();
            // Read what the headers say before the body consumes the response.
            let headers = response.headers();
            let request_id = header_string(headers, "x-request-id");
            let rate = pace.is_some().then(|| RateHeaders::parse(headers));
            let hints = Hints::from_headers(headers);
            let body = match response.bytes().await {
                Ok(body) => body,
                Err(e) => {
                    drop(slot);
                    let (kind, message) = (FailureKind::Connection, describe(&e));
                    self.transport_retry(&call, kind, message, *attempts, rate_limited)
                        .await?;
                    continue;
                }
            };
            drop(slot);
            if let Some(rate) = &rate {
                inner.pacer.observe(rate, pace.unwrap_or(0), reporter);
                self.note_server(rate);
            }
            if status.is_success() {
                if pace.is_some() {
                    inner.pacer.on_success(reporter);
                }
                return Ok(Exchange { request_id, body });
            }
            let error_body = self.redacted_error_body(&body);
            let rejection = Rejection {
                status,
                body: &error_body,
                request_id: &request_id,
                attempt: *attempts,
            };
            self.rejected(&call, &rejection, &hints, &mut rate_limited)
                .await?;
        }
    }

    /// After an error status: fail (halting the client on a fatal kind) or wait to retry.
    async fn rejected(
        &self,
        call: &CallInfo<'_>,
        rejection: &Rejection<'_>,
        hints: &Hints,
        rate_limited: &mut u32,
    ) -> Result<(), Error> {
        match decide(rejection.status, rejection.body, hints) {
            Decision::Fail(kind) => {
                let error = rejection.error(call, kind);
                if kind.is_fatal() {
                    self.halt(&error);
                }
                Err(error)
            }
            Decision::Retry {
                kind,
                server_wait,
                slow_down,
            } => {
                let retry = (kind, server_wait, slow_down);
                self.api_retry(call, rejection, retry, rate_limited).await
            }
        }
    }

    /// After a connection failure or timeout: give up once the retry budget is spent, or
    /// report the retry and wait out the backoff.
    async fn transport_retry(
        &self,
        call: &CallInfo<'_>,
        kind: FailureKind,
        message: String,
        attempts: u32,
        rate_limited: u32,
    ) -> Result<(), Error> {
        let policy = &self.inner.retry;
        // 429s have their own budget: a rate-limit storm must not use up the
        // retries meant for broken connections and server errors.
        let failures = attempts - rate_limited;
        if failures >= policy.max_attempts {
            return Err(Error::Transport {
                endpoint: call.endpoint.to_owned(),
                kind,
                message,
                attempts,
                elapsed: call.start.elapsed(),
            });
        }
        let delay = policy.backoff(failures);
        self.report_retry(call.label, attempts, delay, message);
        tokio::time::sleep(delay).await;
        Ok(())
    }

    /// The API's error body, with the key taken out should the server echo it back.
    fn redacted_error_body(&self, body: &[u8]) -> ApiErrorBody {
        let mut error_body = ApiErrorBody::parse(body);
        // A server that echoes the key back must not get it into our messages.
        if let Some(key) = &self.inner.settings.api_key
            && !key.expose().is_empty()
            && error_body.message.contains(key.expose())
        {
            error_body.message = error_body.message.replace(key.expose(), "[redacted]");
        }
        error_body
    }

    /// After a retryable API error (`retry` is the decision's kind, server wait and
    /// slow-down flag): give up once its budget is spent or the server asks for too long a
    /// wait, else slow the pacer down as needed, report the retry and wait.
    async fn api_retry(
        &self,
        call: &CallInfo<'_>,
        rejection: &Rejection<'_>,
        retry: (FailureKind, Option<Duration>, bool),
        rate_limited: &mut u32,
    ) -> Result<(), Error> {
        let (kind, server_wait, slow_down) = retry;
        let inner = &self.inner;
        let policy = &inner.retry;
        let reporter = inner.reporter.as_ref();
        let status = rejection.status;
        let attempts = rejection.attempt;
        let is_rate_limit = status == StatusCode::TOO_MANY_REQUESTS;
        if is_rate_limit {
            *rate_limited += 1;
            if *rate_limited > policy.max_rate_limit_retries {
                return Err(rejection.error(call, FailureKind::RateLimited));
            }
        } else if attempts - *rate_limited >= policy.max_attempts {
            return Err(rejection.error(call, kind));
        }
        if let Some(wait) = server_wait
            && wait > policy.max_retry_after
        {
            return Err(Error::WaitTooLong {
                endpoint: call.endpoint.to_owned(),
                wait,
                limit: policy.max_retry_after,
                attempts,
                elapsed: call.start.elapsed(),
            });
        }
        let step = if is_rate_limit {
            *rate_limited
        } else {
            attempts - *rate_limited
        };
        let delay = server_wait.unwrap_or_else(|| policy.backoff(step));
        if call.paced && (is_rate_limit || slow_down) {
            let window = delay.max(Duration::from_millis(500));
            inner.pacer.on_overload(slow_down, window, reporter);
        }
        if call.paced && is_rate_limit {
            // Everyone waits, not just this call: the limit is shared.
            inner.pacer.pause(delay, WaitReason::RateLimited, reporter);
        }
        let reason = match rejection.body.label(status.as_u16()) {
            Some(code) => format!("HTTP {} {code}", status.as_u16()),
            None => format!("HTTP {}", status.as_u16()),
        };
        self.report_retry(call.label, attempts, delay, reason);
        tokio::time::sleep(delay).await;
        Ok(())
    }

    fn report_retry(&self, label: Option<&str>, attempt: u32, delay: Duration, reason: String) {
        tracing::debug!(
            label,
            attempt,
            delay_ms = delay.as_millis() as u64,
            reason = %reason,
            "retrying"
        );
        self.inner.counters.retry();
        self.inner.reporter.retrying(&RetryEvent {
            label,
            attempt,
            delay,
            reason,
        });
    }

    async fn call_json<T: DeserializeOwned>(
        &self,
        target: &Target,
        make: &(dyn Fn() -> reqwest::RequestBuilder + Sync),
    ) -> Result<T, Error> {
        let start = Instant::now();
        let mut attempts = 0;
        let exchange = self
            .execute(&target.endpoint, make, None, None, start, &mut attempts)
            .await?;
        serde_json::from_slice(&exchange.body).map_err(|e| Error::Decode {
            endpoint: target.endpoint.clone(),
            message: e.to_string(),
            excerpt: excerpt(&String::from_utf8_lossy(&exchange.body), 200),
        })
    }

    /// Uploads a file (multipart `file` + `purpose`; use purpose `batch` for batch input).
    ///
    /// # Errors
    /// As [`Client::chat`], without the cache.
    pub async fn upload_file(
        &self,
        filename: &str,
        content: Bytes,
        purpose: &str,
    ) -> Result<FileObject, Error> {
        let target = self.target(Method::POST, "/files", None);
        let http = &self.inner.http;
        let make = || {
            let part = reqwest::multipart::Part::stream_with_length(
                reqwest::Body::from(content.clone()),
                content.len() as u64,
            )
            .file_name(filename.to_owned());
            let form = reqwest::multipart::Form::new()
                .text("purpose", purpose.to_owned())
                .part("file", part);
            with_query(http.request(target.method.clone(), &target.url), &target).multipart(form)
        };
        self.call_json(&target, &make).await
    }

    /// A file's metadata.
    ///
    /// # Errors
    /// As [`Client::upload_file`].
    pub async fn file(&self, file_id: &str) -> Result<FileObject, Error> {
        let target = self.target(Method::GET, &format!("/files/{file_id}"), None);
        let make = || self.plain(&target);
        self.call_json(&target, &make).await
    }

    /// A file's content (batch output and error files are JSONL).
    ///
    /// # Errors
    /// As [`Client::upload_file`].
    pub async fn file_content(&self, file_id: &str) -> Result<Bytes, Error> {
        let target = self.target(Method::GET, &format!("/files/{file_id}/content"), None);
        let make = || self.plain(&target);
        let mut attempts = 0;
        let exchange = self
            .execute(
                &target.endpoint,
                &make,
                None,
                None,
                Instant::now(),
                &mut attempts,
            )
            .await?;
        Ok(exchange.body)
    }

    /// Deletes a file; returns whether the server says it was deleted.
    ///
    /// # Errors
    /// As [`Client::upload_file`].
    pub async fn delete_file(&self, file_id: &str) -> Result<bool, Error> {
        let target = self.target(Method::DELETE, &format!("/files/{file_id}"), None);
        let make = || self.plain(&target);
        let value: Value = self.call_json(&target, &make).await?;
        Ok(value
            .get("deleted")
            .and_then(Value::as_bool)
            .unwrap_or(false))
    }

    /// Creates a batch.
    ///
    /// # Errors
    /// As [`Client::upload_file`].
    pub async fn create_batch(&self, create: &CreateBatch) -> Result<Batch, Error> {
        let target = self.target(Method::POST, "/batches", None);
        let make = || self.plain(&target).json(create);
        self.call_json(&target, &make).await
    }

    /// A batch's current state.
    ///
    /// # Errors
    /// As [`Client::upload_file`].
    pub async fn batch(&self, batch_id: &str) -> Result<Batch, Error> {
        let target = self.target(Method::GET, &format!("/batches/{batch_id}"), None);
        let make = || self.plain(&target);
        self.call_json(&target, &make).await
    }

    /// Asks for a batch to be cancelled (it passes through `cancelling`).
    ///
    /// # Errors
    /// As [`Client::upload_file`].
    pub async fn cancel_batch(&self, batch_id: &str) -> Result<Batch, Error> {
        let target = self.target(Method::POST, &format!("/batches/{batch_id}/cancel"), None);
        let make = || self.plain(&target);
        self.call_json(&target, &make).await
    }

    /// A page of batches, newest first.
    ///
    /// # Errors
    /// As [`Client::upload_file`].
    pub async fn list_batches(
        &self,
        after: Option<&str>,
        limit: Option<u32>,
    ) -> Result<BatchList, Error> {
        let mut target = self.target(Method::GET, "/batches", None);
        if let Some(after) = after {
            target.query.push(("after", after.to_owned()));
        }
        if let Some(limit) = limit {
            target.query.push(("limit", limit.to_string()));
        }
        let make = || self.plain(&target);
        self.call_json(&target, &make).await
    }

    fn plain(&self, target: &Target) -> reqwest::RequestBuilder {
        with_query(
            self.inner.http.request(target.method.clone(), &target.url),
            target,
        )
    }
}

/// Adds the target's query (Azure's api-version, list paging); none leaves the URL alone.
fn with_query(builder: reqwest::RequestBuilder, target: &Target) -> reqwest::RequestBuilder {
    if target.query.is_empty() {
        builder
    } else {
        builder.query(&target.query)
    }
}

fn header_string(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// A transport error's chain, without the URL (it may carry query parameters).
fn describe(error: &reqwest::Error) -> String {
    let mut parts = Vec::new();
    if error.is_timeout() {
        parts.push("timed out".to_owned());
    }
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !parts.contains(&text) {
            parts.push(text);
        }
        source = cause.source();
    }
    if parts.is_empty() {
        parts.push(error.to_string());
    }
    parts.join(": ")
}
