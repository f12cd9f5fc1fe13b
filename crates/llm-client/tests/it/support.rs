//! Shared helpers: a simulator, a client pointed at it, and request builders.

use std::sync::Arc;
use std::time::Duration;

use api_sim::{SimConfig, SimServer};
use core_config::{OpenAiSettings, Provider, ResponseSchema, Secret, TokenParam};
use llm_client::{
    Cache, ChatRequest, Client, ClientBuilder, Message, PacingConfig, PriceTable, ResponseFormat,
    RetryPolicy,
};
use serde_json::json;

pub(crate) fn sim(config: SimConfig) -> SimServer {
    api_sim::spawn(config).expect("simulator starts")
}

pub(crate) fn settings(server: &SimServer) -> OpenAiSettings {
    settings_for(&server.base_url())
}

pub(crate) fn settings_for(base_url: &str) -> OpenAiSettings {
    OpenAiSettings {
        provider: Provider::OpenAi,
        base_url: base_url.to_owned(),
        api_key: Some(Secret::new("sk-test-DO-NOT-LEAK-0123456789")),
        organization: None,
        project: None,
        api_version: None,
        token_param: TokenParam::MaxCompletionTokens,
    }
}

/// Fast retries so fault tests take seconds.
pub(crate) fn quick_retries() -> RetryPolicy {
    RetryPolicy {
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(50),
        ..RetryPolicy::default()
    }
}

pub(crate) fn client_builder(server: &SimServer, concurrency: usize) -> ClientBuilder {
    let prices = PriceTable::load(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../prices.toml"),
    )
    .expect("prices.toml loads");
    Client::builder(settings(server))
        .pacing(PacingConfig {
            max_concurrency: concurrency,
            ..PacingConfig::default()
        })
        .retry(quick_retries())
        .prices(prices)
}

pub(crate) fn cached_client(server: &SimServer, dir: &std::path::Path) -> Client {
    client_builder(server, 8)
        .cache(Cache::open(dir).unwrap())
        .build()
        .unwrap()
}

pub(crate) fn schema() -> ResponseSchema {
    ResponseSchema::from_value(
        json!({
            "name": "keyword_check",
            "strict": true,
            "schema": {
                "type": "object",
                "additionalProperties": false,
                "required": ["relevant", "label", "confidence", "reasoning"],
                "properties": {
                    "relevant": {"type": "boolean"},
                    "label": {"type": "string", "enum": ["R", "S", "C", "N"]},
                    "confidence": {"type": "number"},
                    "reasoning": {"type": "string"}
                }
            }
        }),
        "x",
    )
    .unwrap()
}

/// A distinct schema request per index.
pub(crate) fn request(i: usize) -> ChatRequest {
    ChatRequest::new(
        "gpt-4o-mini",
        vec![
            Message::system("You classify Amazon search keywords."),
            Message::user(format!("Keyword #{i}: stainless steel water bottle {i}")),
        ],
    )
    .temperature(0.0)
    .max_tokens(256)
    .response_format(ResponseFormat::JsonSchema(schema().into()))
}

/// Runs `requests` through `client` concurrently, keeping results in input order.
pub(crate) async fn run_all(
    client: &Client,
    requests: Vec<ChatRequest>,
    options: llm_client::CallOptions,
) -> Vec<Result<llm_client::ChatResponse, llm_client::Error>> {
    let options = Arc::new(options);
    let tasks: Vec<_> = requests
        .into_iter()
        .enumerate()
        .map(|(i, request)| {
            let client = client.clone();
            let mut options = (*options).clone();
            options.label = Some(format!("row-{i}"));
            tokio::spawn(async move { client.chat(&request, &options).await })
        })
        .collect();
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.expect("task finishes"));
    }
    results
}
