//! Contract test: the bodies the client sends validate against OpenAI's published schemas
//! (`fixtures/specs/openai-chat-files-batches.json`, converted from the spec subset).

use std::path::Path;

use llm_client::{ChatRequest, Message, ResponseFormat, batch_input_line};
use serde_json::{Value, json};

use crate::support::{request, schema};

fn spec() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/specs/openai-chat-files-batches.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A validator for one component schema, with every `$ref` resolved inside the spec.
fn validator(spec: &Value, component: &str) -> jsonschema::Validator {
    let root = json!({
        "$ref": format!("#/components/schemas/{component}"),
        "components": spec["components"],
    });
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .build(&root)
        .unwrap_or_else(|e| panic!("{component}: {e}"))
}

fn problems(validator: &jsonschema::Validator, value: &Value) -> Vec<String> {
    validator
        .iter_errors(value)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

fn bodies() -> Vec<(&'static str, Value)> {
    let plain = ChatRequest::new("gpt-4o-mini", vec![Message::user("hi")]);
    let json_mode = ChatRequest::new(
        "gpt-4.1-mini",
        vec![Message::system("You sort keywords."), Message::user("mug")],
    )
    .temperature(0.3)
    .max_tokens(100)
    .seed(42)
    .response_format(ResponseFormat::JsonObject);
    let compatible = ChatRequest::new("llama3", vec![Message::user("x")])
        .max_tokens(64)
        .token_param(core_config::TokenParam::MaxTokens);
    let few_shot = ChatRequest::new(
        "gpt-4o",
        vec![
            Message::system("s"),
            Message::user("example"),
            Message::assistant("{\"a\": 1}"),
            Message::user("real"),
        ],
    )
    .response_format(ResponseFormat::JsonSchema(schema().into()));
    vec![
        ("plain", plain.to_body()),
        ("schema", request(0).to_body()),
        ("json mode", json_mode.to_body()),
        ("compatible", compatible.to_body()),
        ("few shot", few_shot.to_body()),
    ]
}

#[test]
fn chat_bodies_match_create_chat_completion_request() {
    let spec = spec();
    let v = validator(&spec, "CreateChatCompletionRequest");
    for (name, body) in bodies() {
        assert_eq!(problems(&v, &body), Vec::<String>::new(), "{name}: {body}");
    }
    // The validator is not a rubber stamp.
    let mut broken = request(0).to_body();
    broken["messages"] = json!([]);
    assert!(!problems(&v, &broken).is_empty());
    let mut broken = request(0).to_body();
    broken["response_format"] = json!({"type": "xml"});
    assert!(!problems(&v, &broken).is_empty());
    let mut broken = request(0).to_body();
    broken["temperature"] = json!(7);
    assert!(!problems(&v, &broken).is_empty());
}

#[test]
fn batch_lines_match_batch_request_input() {
    let spec = spec();
    let line_schema = validator(&spec, "BatchRequestInput");
    let body_schema = validator(&spec, "CreateChatCompletionRequest");
    let batch = validator(&spec, "CreateBatchRequest");
    for (name, body) in bodies() {
        let request = ChatRequest::new("m", vec![Message::user("u")]);
        let mut line = batch_input_line(&format!("row-{name}"), &request);
        line["body"] = body;
        assert_eq!(
            problems(&line_schema, &line),
            Vec::<String>::new(),
            "{name}"
        );
        assert_eq!(
            problems(&body_schema, &line["body"]),
            Vec::<String>::new(),
            "{name}"
        );
        assert_eq!(line["url"], "/v1/chat/completions");
    }
    let bad_line = json!({"custom_id": "x", "method": "GET", "url": "/v1/chat/completions"});
    assert!(!problems(&line_schema, &bad_line).is_empty());
    let create = serde_json::to_value(llm_client::CreateBatch::chat("file-abc")).unwrap();
    assert_eq!(problems(&batch, &create), Vec::<String>::new());
}

#[test]
fn simulator_answers_match_create_chat_completion_response() {
    let spec = spec();
    let v = validator(&spec, "CreateChatCompletionResponse");
    let server = api_sim::spawn(api_sim::SimConfig::default()).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = crate::support::client_builder(&server, 2).build().unwrap();
    let response = runtime
        .block_on(client.chat(&request(0), &llm_client::CallOptions::default()))
        .unwrap();
    let raw: Value = serde_json::from_slice(&response.raw).unwrap();
    assert_eq!(problems(&v, &raw), Vec::<String>::new());
}
