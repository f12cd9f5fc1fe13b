//! An OpenAI-compatible API client: chat completions, files and batches, with retries that
//! honour the server's hints, client-side pacing, an on-disk response cache and cost
//! accounting.
//!
//! - [`Client`] (built by [`Client::builder`] from [`core_config::OpenAiSettings`]) is cheap to
//!   clone; [`Client::chat`] takes a [`ChatRequest`] and [`CallOptions`] and returns a
//!   [`ChatResponse`] whose [`Outcome`] tells a usable answer from invalid JSON, a schema
//!   mismatch, a refusal, a truncated answer or a filtered one, each with the raw content.
//!   [`Client::prepare`] does the serialising and keying ahead (no runtime needed, so on a
//!   thread of the caller's) and [`Client::chat_prepared`] sends the [`PreparedChat`].
//! - [`ChatRequest::to_body`] is the exact body sent; batch files ([`batch_input_line`]) and
//!   cache keys ([`CacheKey`]) are built from it.
//! - [`RetryPolicy`] and [`PacingConfig`] say how hard to push; [`Cache`] stores answers;
//!   [`PriceTable`] prices them; [`Client::totals`] sums them up; [`Reporter`] receives
//!   progress events.
//!
//! It must not depend on the module catalogue's scoring, the registry, Braintrust or terminal
//! output; progress is reported through a trait.
#![deny(clippy::print_stdout, clippy::print_stderr)]

mod cache;
mod client;
mod duration;
mod error;
mod files;
mod pacing;
mod prices;
mod reporter;
mod request;
mod response;
mod retry;
mod totals;

pub use cache::{Cache, CacheEntry, CacheKey, CacheStats, ClearReport};
pub use client::{CacheMode, CallOptions, Client, ClientBuilder, PreparedChat};
pub use duration::{format_duration, parse_duration};
pub use error::{Error, FailureKind};
pub use files::{
    Batch, BatchError, BatchErrors, BatchLineError, BatchLineResponse, BatchList, BatchOutputLine,
    BatchStatus, CreateBatch, FileObject, RequestCounts,
};
pub use pacing::PacingConfig;
pub use prices::{DEFAULT_BATCH_MULTIPLIER, ModelPrice, PriceTable, Tier};
pub use reporter::{CallEvent, NoReporter, Reporter, RetryEvent, WaitReason};
pub use request::{
    BATCH_CHAT_ENDPOINT, ChatRequest, JSON_MODE_HINT, Message, ResponseFormat, Role,
    batch_input_line,
};
pub use response::{
    ApiErrorBody, ChatResponse, FinishReason, Outcome, ParsedCompletion, SchemaCheck, Usage,
    classify, parse_completion, parse_completion_bytes,
};
pub use retry::RetryPolicy;
pub use totals::Totals;
