//! What we send: chat messages, the response format and the request body, built in one place so
//! that live calls, batch files and cache keys all see exactly the same JSON.

use std::sync::Arc;

use core_config::{ResponseSchema, TokenParam};
use serde_json::{Map, Value, json};

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Instructions from the application (`developer` on newer models behaves the same).
    System,
    /// Newer name for system instructions.
    Developer,
    /// The user turn.
    User,
    /// An earlier model turn (few-shot examples).
    Assistant,
}

impl Role {
    /// The wire name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::System => "system",
            Self::Developer => "developer",
            Self::User => "user",
            Self::Assistant => "assistant",
        }
    }
}

/// One chat message with plain-text content.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Message {
    /// Author.
    pub role: Role,
    /// Text.
    pub content: String,
}

impl Message {
    /// A system message.
    #[must_use]
    pub fn system(content: impl Into<String>) -> Self {
        Self {
            role: Role::System,
            content: content.into(),
        }
    }

    /// A user message.
    #[must_use]
    pub fn user(content: impl Into<String>) -> Self {
        Self {
            role: Role::User,
            content: content.into(),
        }
    }

    /// An assistant message.
    #[must_use]
    pub fn assistant(content: impl Into<String>) -> Self {
        Self {
            role: Role::Assistant,
            content: content.into(),
        }
    }
}

/// How the model is asked to answer.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum ResponseFormat {
    /// Free text (no `response_format` is sent).
    #[default]
    Text,
    /// JSON mode: any JSON object.
    JsonObject,
    /// Structured Outputs with the module's schema; answers are validated against it. Shared,
    /// so the requests of a run do not each copy the schema.
    JsonSchema(Arc<ResponseSchema>),
}

impl ResponseFormat {
    /// The `response_format` value, or `None` for plain text.
    #[must_use]
    pub fn to_value(&self) -> Option<Value> {
        match self {
            Self::Text => None,
            Self::JsonObject => Some(json!({"type": "json_object"})),
            Self::JsonSchema(schema) => Some(schema.response_format()),
        }
    }

    /// Whether answers are expected to be JSON.
    #[must_use]
    pub fn expects_json(&self) -> bool {
        !matches!(self, Self::Text)
    }
}

/// The system line added in JSON mode when no message mentions JSON: OpenAI rejects
/// `json_object` requests whose messages never say "json".
pub const JSON_MODE_HINT: &str = "Answer with a single JSON object.";

/// A chat completion request.
///
/// [`ChatRequest::to_body`] is the exact JSON body the client sends; the batch writer puts the
/// same value into batch files and the cache key is computed from it, so the three never drift.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatRequest {
    /// Model (for Azure: the deployment name).
    pub model: String,
    /// Messages in order.
    pub messages: Vec<Message>,
    /// Sampling temperature (`None`: the server's default).
    pub temperature: Option<f64>,
    /// Cap on completion tokens.
    pub max_tokens: Option<u32>,
    /// How the cap is sent (`max_completion_tokens` or `max_tokens`).
    pub token_param: TokenParam,
    /// Response format.
    pub response_format: ResponseFormat,
    /// Best-effort determinism seed.
    pub seed: Option<i64>,
}

impl ChatRequest {
    /// A request with the given model and messages, temperature and cap unset, plain text, and
    /// the token cap sent as `max_completion_tokens`.
    #[must_use]
    pub fn new(model: impl Into<String>, messages: Vec<Message>) -> Self {
        Self {
            model: model.into(),
            messages,
            temperature: None,
            max_tokens: None,
            token_param: TokenParam::MaxCompletionTokens,
            response_format: ResponseFormat::Text,
            seed: None,
        }
    }

    /// Sets the temperature.
    #[must_use]
    pub fn temperature(mut self, temperature: f64) -> Self {
        self.temperature = Some(temperature);
        self
    }

    /// Sets the completion-token cap.
    #[must_use]
    pub fn max_tokens(mut self, max_tokens: u32) -> Self {
        self.max_tokens = Some(max_tokens);
        self
    }

    /// Sets how the cap is sent (use the provider's [`core_config::OpenAiSettings::token_param`]).
    #[must_use]
    pub fn token_param(mut self, token_param: TokenParam) -> Self {
        self.token_param = token_param;
        self
    }

    /// Sets the response format.
    #[must_use]
    pub fn response_format(mut self, format: ResponseFormat) -> Self {
        self.response_format = format;
        self
    }

    /// Sets the seed.
    #[must_use]
    pub fn seed(mut self, seed: i64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Whether some message mentions "json" in any case.
    #[must_use]
    pub fn mentions_json(&self) -> bool {
        self.messages.iter().any(|m| contains_json_word(&m.content))
    }

    /// The JSON body sent to `/chat/completions`, field for field.
    ///
    /// In JSON mode a short system line ([`JSON_MODE_HINT`]) is put first when no message
    /// mentions JSON, because the API refuses such requests.
    #[must_use]
    pub fn to_body(&self) -> Value {
        let mut body = Map::new();
        body.insert("model".to_owned(), Value::String(self.model.clone()));
        let mut messages: Vec<Value> = Vec::with_capacity(self.messages.len() + 1);
        if self.response_format == ResponseFormat::JsonObject && !self.mentions_json() {
            messages.push(json!({"role": "system", "content": JSON_MODE_HINT}));
        }
        messages.extend(
            self.messages
                .iter()
                .map(|m| json!({"role": m.role.as_str(), "content": m.content})),
        );
        body.insert("messages".to_owned(), Value::Array(messages));
        if let Some(t) = self.temperature {
            body.insert("temperature".to_owned(), json!(t));
        }
        if let Some(cap) = self.max_tokens {
            body.insert(self.token_param.field().to_owned(), json!(cap));
        }
        if let Some(format) = self.response_format.to_value() {
            body.insert("response_format".to_owned(), format);
        }
        if let Some(seed) = self.seed {
            body.insert("seed".to_owned(), json!(seed));
        }
        Value::Object(body)
    }

    /// A rough prompt-token estimate (four characters a token) used for client-side token
    /// pacing before the server reports real usage.
    #[must_use]
    pub fn estimated_prompt_tokens(&self) -> u64 {
        let chars: usize = self
            .messages
            .iter()
            .map(|m| m.content.chars().count() + 4)
            .sum();
        (chars as u64).div_ceil(4)
    }
}

/// Serialises a request exactly as `serde_json::to_vec(&request.to_body())` would, without
/// building the intermediate tree (the schema is not cloned per call).
pub(crate) struct Body<'a>(pub(crate) &'a ChatRequest);

impl serde::Serialize for Body<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        struct Messages<'a>(&'a ChatRequest);
        impl serde::Serialize for Messages<'_> {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeSeq;
                let request = self.0;
                let hint = request.response_format == ResponseFormat::JsonObject
                    && !request.mentions_json();
                let mut seq =
                    serializer.serialize_seq(Some(request.messages.len() + usize::from(hint)))?;
                if hint {
                    seq.serialize_element(&MessageRef("system", JSON_MODE_HINT))?;
                }
                for m in &request.messages {
                    seq.serialize_element(&MessageRef(m.role.as_str(), &m.content))?;
                }
                seq.end()
            }
        }
        struct MessageRef<'a>(&'a str, &'a str);
        impl serde::Serialize for MessageRef<'_> {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let mut map = serializer.serialize_map(Some(2))?;
                map.serialize_entry("role", self.0)?;
                map.serialize_entry("content", self.1)?;
                map.end()
            }
        }
        struct SchemaFormat<'a>(&'a ResponseSchema);
        impl serde::Serialize for SchemaFormat<'_> {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                struct Inner<'a>(&'a ResponseSchema);
                impl serde::Serialize for Inner<'_> {
                    fn serialize<S: serde::Serializer>(
                        &self,
                        serializer: S,
                    ) -> Result<S::Ok, S::Error> {
                        let mut map = serializer.serialize_map(Some(3))?;
                        map.serialize_entry("name", &self.0.name)?;
                        map.serialize_entry("strict", &self.0.strict)?;
                        map.serialize_entry("schema", &self.0.schema)?;
                        map.end()
                    }
                }
                let mut map = serializer.serialize_map(Some(2))?;
                map.serialize_entry("type", "json_schema")?;
                map.serialize_entry("json_schema", &Inner(self.0))?;
                map.end()
            }
        }

        let request = self.0;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("model", &request.model)?;
        map.serialize_entry("messages", &Messages(request))?;
        if let Some(t) = request.temperature {
            map.serialize_entry("temperature", &t)?;
        }
        if let Some(cap) = request.max_tokens {
            map.serialize_entry(request.token_param.field(), &cap)?;
        }
        match &request.response_format {
            ResponseFormat::Text => {}
            ResponseFormat::JsonObject => {
                map.serialize_entry("response_format", &json!({"type": "json_object"}))?;
            }
            ResponseFormat::JsonSchema(schema) => {
                map.serialize_entry("response_format", &SchemaFormat(schema))?;
            }
        }
        if let Some(seed) = request.seed {
            map.serialize_entry("seed", &seed)?;
        }
        map.end()
    }
}

impl ChatRequest {
    /// The body as sent, serialised (the same bytes as serialising [`ChatRequest::to_body`]).
    ///
    /// # Errors
    /// Only if a value cannot be written as JSON.
    pub fn to_body_bytes(&self) -> Result<Vec<u8>, serde_json::Error> {
        // Room for the messages plus the usual fields and schema, so the buffer rarely grows.
        let text: usize = self.messages.iter().map(|m| m.content.len() + 40).sum();
        let mut out = Vec::with_capacity(text + 2048);
        serde_json::to_writer(&mut out, &Body(self))?;
        Ok(out)
    }
}

fn contains_json_word(text: &str) -> bool {
    text.as_bytes()
        .windows(4)
        .any(|w| w.eq_ignore_ascii_case(b"json"))
}

/// The `url` of chat-completion lines in a batch input file (and the batch's `endpoint`).
pub const BATCH_CHAT_ENDPOINT: &str = "/v1/chat/completions";

/// One line of a Batch API input file for a chat request: `{custom_id, method, url, body}`,
/// with `body` equal to [`ChatRequest::to_body`].
#[must_use]
pub fn batch_input_line(custom_id: &str, request: &ChatRequest) -> Value {
    json!({
        "custom_id": custom_id,
        "method": "POST",
        "url": BATCH_CHAT_ENDPOINT,
        "body": request.to_body(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> ResponseSchema {
        ResponseSchema::from_value(
            json!({"name": "m12", "strict": true, "schema": {"type": "object", "properties": {"a": {"type": "boolean"}}, "required": ["a"], "additionalProperties": false}}),
            "x",
        )
        .unwrap()
    }

    #[test]
    fn body_has_exactly_the_fields_set() {
        let body = ChatRequest::new("gpt-4o-mini", vec![Message::user("hi")]).to_body();
        assert_eq!(
            body,
            json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})
        );
        let body = ChatRequest::new("m", vec![Message::system("s"), Message::user("u")])
            .temperature(0.0)
            .max_tokens(512)
            .seed(7)
            .response_format(ResponseFormat::JsonSchema(schema().into()))
            .to_body();
        assert_eq!(body["max_completion_tokens"], 512);
        assert!(body.get("max_tokens").is_none());
        assert_eq!(body["temperature"], 0.0);
        assert_eq!(body["seed"], 7);
        assert_eq!(body["response_format"]["type"], "json_schema");
        assert_eq!(body["response_format"]["json_schema"]["strict"], true);
        let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "model",
                "messages",
                "temperature",
                "max_completion_tokens",
                "response_format",
                "seed"
            ]
        );
    }

    #[test]
    fn compatible_servers_get_max_tokens() {
        let body = ChatRequest::new("llama", vec![Message::user("u")])
            .max_tokens(64)
            .token_param(TokenParam::MaxTokens)
            .to_body();
        assert_eq!(body["max_tokens"], 64);
        assert!(body.get("max_completion_tokens").is_none());
    }

    #[test]
    fn json_mode_adds_a_json_line_only_when_needed() {
        let plain = ChatRequest::new("m", vec![Message::user("classify this")])
            .response_format(ResponseFormat::JsonObject)
            .to_body();
        assert_eq!(plain["messages"][0]["role"], "system");
        assert_eq!(plain["messages"][0]["content"], JSON_MODE_HINT);
        assert_eq!(plain["messages"].as_array().unwrap().len(), 2);
        assert_eq!(plain["response_format"], json!({"type": "json_object"}));

        let mentioned = ChatRequest::new("m", vec![Message::user("Reply in Json please")])
            .response_format(ResponseFormat::JsonObject)
            .to_body();
        assert_eq!(mentioned["messages"].as_array().unwrap().len(), 1);
        // Only JSON mode needs the word: a schema request is left alone.
        let schema = ChatRequest::new("m", vec![Message::user("classify")])
            .response_format(ResponseFormat::JsonSchema(schema().into()))
            .to_body();
        assert_eq!(schema["messages"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn direct_serialisation_matches_the_body_tree() {
        let requests = [
            ChatRequest::new("m", vec![Message::user("u")]),
            ChatRequest::new("m", vec![Message::system("s \"q\" ü"), Message::user("u")])
                .temperature(0.7)
                .max_tokens(5)
                .seed(-3)
                .response_format(ResponseFormat::JsonSchema(schema().into())),
            ChatRequest::new("m", vec![Message::user("no hint word")])
                .temperature(0.0)
                .token_param(TokenParam::MaxTokens)
                .max_tokens(1)
                .response_format(ResponseFormat::JsonObject),
            ChatRequest::new(
                "m",
                vec![Message::user("JSON please"), Message::assistant("{}")],
            )
            .response_format(ResponseFormat::JsonObject),
        ];
        for request in requests {
            assert_eq!(
                String::from_utf8(request.to_body_bytes().unwrap()).unwrap(),
                serde_json::to_string(&request.to_body()).unwrap()
            );
        }
    }

    #[test]
    fn batch_lines_carry_the_same_body() {
        let request = ChatRequest::new("m", vec![Message::user("u")]).max_tokens(5);
        let line = batch_input_line("row-1", &request);
        assert_eq!(line["custom_id"], "row-1");
        assert_eq!(line["method"], "POST");
        assert_eq!(line["url"], "/v1/chat/completions");
        assert_eq!(line["body"], request.to_body());
    }
}
