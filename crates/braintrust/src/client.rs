//! A small client for the documented `/v1` REST endpoints: projects, experiments, event insert
//! and fetch, summarize. Each call retries what can succeed on a second try and nothing else.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::HeaderMap;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use crate::config::{Config, FETCH_PAGE_SIZE};
use crate::error::{Error, Result};
use crate::progress::{Progress, RetryNotice, Silent};
use crate::types::{
    Dataset, Experiment, FetchPage, NewDataset, NewExperiment, NewPrompt, Project, Prompt, Summary,
};

/// Longest piece of an error body kept in an error.
const MAX_ERROR_BODY: usize = 300;

/// Experiments asked for per list page.
const LIST_PAGE_SIZE: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verb {
    Get,
    Post,
    Put,
    Patch,
}

/// The objects that hold rows: experiments (one row per result) and datasets (one row per
/// record). Their insert and fetch endpoints work alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowStore {
    /// `/v1/experiment/{id}/…`
    Experiment,
    /// `/v1/dataset/{id}/…`
    Dataset,
}

impl RowStore {
    fn path(self, id: &str, action: &str) -> String {
        let kind = match self {
            Self::Experiment => "experiment",
            Self::Dataset => "dataset",
        };
        format!("/v1/{kind}/{}/{action}", encode_segment(id))
    }
}

impl Verb {
    fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Patch => "PATCH",
        }
    }

    fn method(self) -> reqwest::Method {
        match self {
            Self::Get => reqwest::Method::GET,
            Self::Post => reqwest::Method::POST,
            Self::Put => reqwest::Method::PUT,
            Self::Patch => reqwest::Method::PATCH,
        }
    }
}

/// A Braintrust REST client. Cheap to clone; clones share the connection pool.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    config: Config,
    progress: Arc<dyn Progress>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("api_url", &self.config.api_url)
            .field("project", &self.config.project)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client for `config`, reporting nothing.
    ///
    /// # Errors
    /// When the HTTP client cannot be built (no TLS backend).
    pub fn new(config: Config) -> Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("kw-toolkit/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Config {
                name: "BRAINTRUST_API_URL",
                message: format!("cannot build an HTTP client: {e}"),
            })?;
        Ok(Self {
            http,
            config,
            progress: Arc::new(Silent),
        })
    }

    /// Reports retries (and the upload and download progress of this crate's higher-level
    /// functions) to `progress`.
    #[must_use]
    pub fn with_progress(mut self, progress: Arc<dyn Progress>) -> Self {
        self.progress = progress;
        self
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &Config {
        &self.config
    }

    pub(crate) fn progress(&self) -> &dyn Progress {
        self.progress.as_ref()
    }

    /// The configured project, created if it does not exist (`POST /v1/project` returns an
    /// existing project of the same name unchanged).
    ///
    /// # Errors
    /// When the request fails.
    pub async fn project(&self) -> Result<Project> {
        let mut body = json!({ "name": self.config.project });
        if let Some(org) = &self.config.org_name {
            body["org_name"] = json!(org);
        }
        self.call(Verb::Post, "/v1/project", &[], Some(body.to_string()))
            .await
    }

    /// The configured project, if it exists (nothing is created).
    ///
    /// # Errors
    /// When the request fails.
    pub async fn find_project(&self) -> Result<Option<Project>> {
        let mut query = vec![("project_name", self.config.project.clone())];
        if let Some(org) = &self.config.org_name {
            query.push(("org_name", org.clone()));
        }
        let list: Objects<Project> = self.call(Verb::Get, "/v1/project", &query, None).await?;
        Ok(list
            .objects
            .into_iter()
            .find(|p| p.name == self.config.project))
    }

    /// Creates an experiment, or returns the existing one of that name in the project unless
    /// `ensure_new` is set (then the service picks a fresh name: read it from the answer).
    ///
    /// # Errors
    /// When the request fails.
    pub async fn create_experiment(&self, experiment: &NewExperiment) -> Result<Experiment> {
        let body = serde_json::to_string(experiment).map_err(|e| Error::Protocol {
            method: "POST",
            path: "/v1/experiment".to_owned(),
            message: e.to_string(),
        })?;
        self.call(Verb::Post, "/v1/experiment", &[], Some(body))
            .await
    }

    /// One experiment by id.
    ///
    /// # Errors
    /// When the request fails (HTTP 404 for an unknown id).
    pub async fn experiment(&self, id: &str) -> Result<Experiment> {
        let path = format!("/v1/experiment/{}", encode_segment(id));
        self.call(Verb::Get, &path, &[], None).await
    }

    /// The experiment of that name in the project, if there is one.
    ///
    /// # Errors
    /// When the request fails.
    pub async fn find_experiment(
        &self,
        project_id: &str,
        name: &str,
    ) -> Result<Option<Experiment>> {
        let query = [
            ("project_id", project_id.to_owned()),
            ("experiment_name", name.to_owned()),
        ];
        let list: Objects<Experiment> =
            self.call(Verb::Get, "/v1/experiment", &query, None).await?;
        Ok(list.objects.into_iter().find(|e| e.name == name))
    }

    /// Every experiment of the project, newest first, following the list's pages.
    ///
    /// # Errors
    /// When a request fails.
    pub async fn experiments(&self, project_id: &str) -> Result<Vec<Experiment>> {
        let mut all: Vec<Experiment> = Vec::new();
        loop {
            let mut query = vec![
                ("project_id", project_id.to_owned()),
                ("limit", LIST_PAGE_SIZE.to_string()),
            ];
            if let Some(last) = all.last() {
                query.push(("starting_after", last.id.clone()));
            }
            let page: Objects<Experiment> =
                self.call(Verb::Get, "/v1/experiment", &query, None).await?;
            let full = page.objects.len() >= LIST_PAGE_SIZE;
            let before = all.len();
            for experiment in page.objects {
                if !all.iter().any(|e| e.id == experiment.id) {
                    all.push(experiment);
                }
            }
            if !full || all.len() == before {
                return Ok(all);
            }
        }
    }

    /// Inserts events (at most [`crate::MAX_EVENTS_PER_INSERT`] per call is the caller's job)
    /// and returns their row ids, in order. Events with an `id` replace the row of that id.
    ///
    /// # Errors
    /// When the request fails, or the answer does not hold one row id per event.
    pub async fn insert(&self, experiment_id: &str, events: &[Value]) -> Result<Vec<String>> {
        self.insert_into(RowStore::Experiment, experiment_id, events)
            .await
    }

    /// Inserts events into an experiment or a dataset, as [`Client::insert`] does.
    ///
    /// # Errors
    /// As [`Client::insert`].
    pub async fn insert_into(
        &self,
        store: RowStore,
        id: &str,
        events: &[Value],
    ) -> Result<Vec<String>> {
        let path = store.path(id, "insert");
        // Serialised from the borrowed events: a large chunk is not copied on its way out.
        let body = serde_json::to_string(&InsertBody { events }).map_err(|e| Error::Protocol {
            method: "POST",
            path: path.clone(),
            message: e.to_string(),
        })?;
        let answer: RowIds = self.call(Verb::Post, &path, &[], Some(body)).await?;
        if answer.row_ids.len() != events.len() {
            return Err(Error::Protocol {
                method: "POST",
                path,
                message: format!(
                    "{} row ids for {} events",
                    answer.row_ids.len(),
                    events.len()
                ),
            });
        }
        Ok(answer.row_ids)
    }

    /// One page of an experiment's events.
    ///
    /// # Errors
    /// When the request fails.
    pub async fn fetch_page(
        &self,
        experiment_id: &str,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<FetchPage> {
        self.fetch_page_of(RowStore::Experiment, experiment_id, limit, cursor)
            .await
    }

    /// One page of an experiment's or a dataset's events.
    ///
    /// # Errors
    /// When the request fails.
    pub async fn fetch_page_of(
        &self,
        store: RowStore,
        id: &str,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<FetchPage> {
        let path = store.path(id, "fetch");
        let mut body = json!({ "limit": limit });
        if let Some(cursor) = cursor {
            body["cursor"] = json!(cursor);
        }
        self.call(Verb::Post, &path, &[], Some(body.to_string()))
            .await
    }

    /// Every current row of an experiment: pages followed to the end, rows de-duplicated by
    /// `id` keeping the newest `_xact_id` (later pages can repeat rows in older versions).
    /// Rows come in the order they were first seen.
    ///
    /// # Errors
    /// When a request fails, or the service hands back a cursor it already gave.
    pub async fn fetch_all(&self, experiment_id: &str, page_size: usize) -> Result<Vec<Value>> {
        self.fetch_all_of(RowStore::Experiment, experiment_id, page_size)
            .await
    }

    /// Every current row of an experiment or a dataset, as [`Client::fetch_all`].
    ///
    /// # Errors
    /// As [`Client::fetch_all`].
    pub async fn fetch_all_of(
        &self,
        store: RowStore,
        experiment_id: &str,
        page_size: usize,
    ) -> Result<Vec<Value>> {
        let mut rows = Dedup::default();
        let mut cursor: Option<String> = None;
        let mut seen_cursors = std::collections::HashSet::new();
        loop {
            let page = self
                .fetch_page_of(store, experiment_id, page_size.max(1), cursor.as_deref())
                .await?;
            if page.events.is_empty() {
                break;
            }
            for event in page.events {
                rows.add(event);
            }
            self.progress.rows_fetched(rows.len());
            match page.cursor {
                Some(next) if !next.is_empty() => {
                    if !seen_cursors.insert(next.clone()) {
                        return Err(Error::Protocol {
                            method: "POST",
                            path: store.path(experiment_id, "fetch"),
                            message: "the same cursor came back twice; stopping".to_owned(),
                        });
                    }
                    cursor = Some(next);
                }
                _ => break,
            }
        }
        Ok(rows.into_rows())
    }

    /// Every current row, in pages of [`FETCH_PAGE_SIZE`].
    ///
    /// # Errors
    /// As [`Client::fetch_all`].
    pub async fn fetch_rows(&self, experiment_id: &str) -> Result<Vec<Value>> {
        self.fetch_all(experiment_id, FETCH_PAGE_SIZE).await
    }

    /// Names, links and mean scores of an experiment; `experiment_url` is the link to store.
    ///
    /// # Errors
    /// When the request fails.
    pub async fn summarize(&self, experiment_id: &str) -> Result<Summary> {
        let path = format!("/v1/experiment/{}/summarize", encode_segment(experiment_id));
        let query = [("summarize_scores", "true".to_owned())];
        self.call(Verb::Get, &path, &query, None).await
    }

    /// Creates a dataset, or returns the existing one of that name in the project unchanged
    /// (its metadata too: [`Client::update_dataset`] changes that).
    ///
    /// # Errors
    /// When the request fails.
    pub async fn create_dataset(&self, dataset: &NewDataset) -> Result<Dataset> {
        let body = serde_json::to_string(dataset).map_err(|e| Error::Protocol {
            method: "POST",
            path: "/v1/dataset".to_owned(),
            message: e.to_string(),
        })?;
        self.call(Verb::Post, "/v1/dataset", &[], Some(body)).await
    }

    /// Replaces a dataset's description and metadata (`PATCH /v1/dataset/{id}`).
    ///
    /// # Errors
    /// When the request fails.
    pub async fn update_dataset(
        &self,
        id: &str,
        description: Option<&str>,
        metadata: &Map<String, Value>,
    ) -> Result<Dataset> {
        let path = format!("/v1/dataset/{}", encode_segment(id));
        let mut body = json!({ "metadata": metadata });
        if let Some(description) = description {
            body["description"] = json!(description);
        }
        self.call(Verb::Patch, &path, &[], Some(body.to_string()))
            .await
    }

    /// The project's datasets (only the one of that name, when `name` is given), newest first,
    /// following the list's pages.
    ///
    /// # Errors
    /// When a request fails.
    pub async fn datasets(&self, project_id: &str, name: Option<&str>) -> Result<Vec<Dataset>> {
        let mut query = vec![("project_id", project_id.to_owned())];
        if let Some(name) = name {
            query.push(("dataset_name", name.to_owned()));
        }
        self.list_all("/v1/dataset", query, |d: &Dataset| d.id.clone())
            .await
    }

    /// The project's prompts (only the one of that slug, when `slug` is given), newest first.
    ///
    /// # Errors
    /// When a request fails.
    pub async fn prompts(&self, project_id: &str, slug: Option<&str>) -> Result<Vec<Prompt>> {
        let mut query = vec![("project_id", project_id.to_owned())];
        if let Some(slug) = slug {
            query.push(("slug", slug.to_owned()));
        }
        self.list_all("/v1/prompt", query, |p: &Prompt| p.id.clone())
            .await
    }

    /// Creates the prompt, or replaces the project's prompt of that slug with a new version
    /// (`PUT /v1/prompt`); the answer holds the version (`_xact_id`).
    ///
    /// # Errors
    /// When the request fails.
    pub async fn replace_prompt(&self, prompt: &NewPrompt) -> Result<Prompt> {
        let body = serde_json::to_string(prompt).map_err(|e| Error::Protocol {
            method: "PUT",
            path: "/v1/prompt".to_owned(),
            message: e.to_string(),
        })?;
        self.call(Verb::Put, "/v1/prompt", &[], Some(body)).await
    }

    /// Every object of a list endpoint, page by page (`limit`, `starting_after`).
    async fn list_all<T: DeserializeOwned>(
        &self,
        path: &str,
        query: Vec<(&str, String)>,
        id_of: impl Fn(&T) -> String,
    ) -> Result<Vec<T>> {
        let mut all: Vec<T> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        loop {
            let mut page_query = query.clone();
            page_query.push(("limit", LIST_PAGE_SIZE.to_string()));
            if let Some(last) = all.last() {
                page_query.push(("starting_after", id_of(last)));
            }
            let page: Objects<T> = self.call(Verb::Get, path, &page_query, None).await?;
            let full = page.objects.len() >= LIST_PAGE_SIZE;
            let before = all.len();
            for object in page.objects {
                if seen.insert(id_of(&object)) {
                    all.push(object);
                }
            }
            if !full || all.len() == before {
                return Ok(all);
            }
        }
    }

    /// One request with retries, decoded as `T`.
    async fn call<T: DeserializeOwned>(
        &self,
        verb: Verb,
        path: &str,
        query: &[(&str, String)],
        payload: Option<String>,
    ) -> Result<T> {
        let url = format!("{}{path}", self.config.api_url);
        let policy = &self.config.retry;
        let mut retry = 0u32;
        loop {
            let mut request = self
                .http
                .request(verb.method(), &url)
                .bearer_auth(self.config.api_key.expose());
            if !query.is_empty() {
                request = request.query(query);
            }
            if let Some(payload) = &payload {
                request = request
                    .header("content-type", "application/json")
                    .body(payload.clone());
            }
            let (reason, wait) = match request.send().await {
                Err(e) => {
                    let message = transport_message(&e);
                    if retry >= policy.max_retries {
                        return Err(Error::Network {
                            method: verb.as_str(),
                            path: path.to_owned(),
                            message,
                            attempts: retry + 1,
                        });
                    }
                    (message, policy.backoff(retry))
                }
                Ok(response) => {
                    let status = response.status();
                    if status.is_success() {
                        let bytes = response.bytes().await.map_err(|e| Error::Network {
                            method: verb.as_str(),
                            path: path.to_owned(),
                            message: transport_message(&e),
                            attempts: retry + 1,
                        })?;
                        return serde_json::from_slice(&bytes).map_err(|e| Error::Protocol {
                            method: verb.as_str(),
                            path: path.to_owned(),
                            message: format!("{e} in {}", self.scrub(&bytes)),
                        });
                    }
                    let retry_after = retry_after(response.headers());
                    let text = response.bytes().await.unwrap_or_default();
                    let code = status.as_u16();
                    let retryable = code == 429 || code == 408 || status.is_server_error();
                    if !retryable || retry >= policy.max_retries {
                        return Err(Error::Http {
                            method: verb.as_str(),
                            path: path.to_owned(),
                            status: code,
                            body: self.scrub(&text),
                            attempts: retry + 1,
                        });
                    }
                    let wait = match retry_after {
                        Some(wait) if wait > policy.max_retry_after => {
                            return Err(Error::WaitTooLong {
                                method: verb.as_str(),
                                path: path.to_owned(),
                                status: code,
                                seconds: wait.as_secs(),
                            });
                        }
                        Some(wait) => wait,
                        None => policy.backoff(retry),
                    };
                    (format!("HTTP {code}"), wait)
                }
            };
            retry += 1;
            self.progress.retrying(&RetryNotice {
                method: verb.as_str(),
                path,
                reason: &reason,
                retry,
                max_retries: policy.max_retries,
                wait,
            });
            tokio::time::sleep(wait).await;
        }
    }

    /// The start of a body as one line, with the key (should a server echo it) removed.
    fn scrub(&self, bytes: &[u8]) -> String {
        let text = String::from_utf8_lossy(bytes);
        let key = self.config.api_key.expose();
        let text = if key.is_empty() {
            text.into_owned()
        } else {
            text.replace(key, "[redacted]")
        };
        let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
        match line.char_indices().nth(MAX_ERROR_BODY) {
            Some((cut, _)) => format!("{}…", &line[..cut]),
            None => line,
        }
    }
}

/// A transport failure in words, without the URL (the path is reported beside it).
fn transport_message(error: &reqwest::Error) -> String {
    let mut parts = Vec::new();
    if error.is_timeout() {
        parts.push("timed out".to_owned());
    } else if error.is_connect() {
        parts.push("cannot connect".to_owned());
    }
    // The innermost cause says what happened ("Connection refused"); the layers above it only
    // say where it was noticed.
    let mut innermost = None;
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        innermost = Some(cause.to_string());
        source = cause.source();
    }
    parts.extend(innermost);
    if parts.is_empty() {
        parts.push("the request failed".to_owned());
    }
    parts.join(": ")
}

/// `Retry-After` as seconds (integer or fractional) or an HTTP date.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let text = headers.get("retry-after")?.to_str().ok()?.trim();
    if let Ok(seconds) = text.parse::<f64>() {
        return (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds));
    }
    let at = chrono::DateTime::parse_from_rfc2822(text).ok()?;
    let wait = at.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

/// Percent-encodes one URL path segment.
pub(crate) fn encode_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[derive(serde::Deserialize)]
struct Objects<T> {
    objects: Vec<T>,
}

#[derive(serde::Serialize)]
struct InsertBody<'a> {
    events: &'a [Value],
}

#[derive(serde::Deserialize)]
struct RowIds {
    row_ids: Vec<String>,
}

/// Transaction ids compare as numbers when they are numbers (they are, today), as text
/// otherwise; a missing one is the oldest.
fn xact_key(event: &Value) -> (u128, String) {
    let text = event
        .get("_xact_id")
        .and_then(Value::as_str)
        .unwrap_or_default();
    (text.parse::<u128>().unwrap_or(0), text.to_owned())
}

/// Rows by id, keeping each id's newest version and the order ids were first seen.
#[derive(Default)]
struct Dedup {
    index: HashMap<String, usize>,
    rows: Vec<Value>,
}

impl Dedup {
    fn add(&mut self, event: Value) {
        let Some(id) = event.get("id").and_then(Value::as_str).map(str::to_owned) else {
            // A row without an id cannot repeat anything; keep it.
            self.rows.push(event);
            return;
        };
        match self.index.get(&id) {
            Some(&at) => {
                if xact_key(&event) > xact_key(&self.rows[at]) {
                    self.rows[at] = event;
                }
            }
            None => {
                self.index.insert(id, self.rows.len());
                self.rows.push(event);
            }
        }
    }

    fn len(&self) -> usize {
        self.rows.len()
    }

    fn into_rows(self) -> Vec<Value> {
        self.rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dedup_keeps_the_newest_version_in_first_seen_order() {
        let mut rows = Dedup::default();
        rows.add(json!({"id": "a", "_xact_id": "1000000000000000010", "v": "new"}));
        rows.add(json!({"id": "b", "_xact_id": "1000000000000000009", "v": "b"}));
        rows.add(json!({"id": "a", "_xact_id": "1000000000000000002", "v": "old"}));
        rows.add(json!({"id": "c", "_xact_id": "999", "v": "c1"}));
        rows.add(json!({"id": "c", "_xact_id": "1000", "v": "c2"}));
        let rows = rows.into_rows();
        let values: Vec<&str> = rows.iter().map(|r| r["v"].as_str().unwrap()).collect();
        assert_eq!(values, ["new", "b", "c2"]);
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", "2".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(2)));
        headers.insert("retry-after", "0.25".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_millis(250)));
        headers.insert(
            "retry-after",
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&headers), Some(Duration::ZERO));
        headers.insert("retry-after", "soon".parse().unwrap());
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn segments_are_encoded() {
        assert_eq!(encode_segment("a b/c"), "a%20b%2Fc");
    }
}
