//! What goes on the wire for each provider: paths, query, auth headers. A one-shot TCP server
//! captures the raw request.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::thread::JoinHandle;

use core_config::{OpenAiSettings, Provider, Secret, TokenParam};
use llm_client::{CallOptions, ChatRequest, Client, Message};

const ANSWER: &str = r#"{"id":"c","object":"chat.completion","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"finish_reason":"stop","message":{"role":"assistant","content":"hi","refusal":null}}]}"#;

/// Accepts one connection, returns its request line and headers (lower-cased names).
fn capture() -> (String, JoinHandle<Vec<String>>) {
    capture_with("200 OK", ANSWER)
}

fn capture_with(status: &'static str, answer: &'static str) -> (String, JoinHandle<Vec<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let line = line.trim_end().to_owned();
            if line.is_empty() {
                break;
            }
            lines.push(line);
        }
        // Read the body too: closing with unread bytes would reset the connection.
        let length: usize = header(&lines, "content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; length];
        std::io::Read::read_exact(&mut reader, &mut body).unwrap();
        let mut stream = stream;
        write!(
            stream,
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
            answer.len()
        )
        .unwrap();
        lines
    });
    (url, handle)
}

fn settings(provider: Provider, base_url: String) -> OpenAiSettings {
    OpenAiSettings {
        provider,
        base_url,
        api_key: Some(Secret::new("key-SECRET-123")),
        organization: Some("org-1".to_owned()),
        project: Some("proj-1".to_owned()),
        api_version: Some("2024-10-21".to_owned()),
        token_param: TokenParam::MaxCompletionTokens,
    }
}

async fn send(settings: OpenAiSettings, model: &str) {
    let client = Client::builder(settings).build().unwrap();
    let request = ChatRequest::new(model, vec![Message::user("hello")]);
    let response = client
        .chat(&request, &CallOptions::default())
        .await
        .unwrap();
    assert_eq!(response.content.as_deref(), Some("hi"));
}

fn header<'a>(lines: &'a [String], name: &str) -> Option<&'a str> {
    lines.iter().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

#[tokio::test]
async fn openai_uses_bearer_auth_and_routing_headers() {
    let (url, server) = capture();
    send(
        settings(Provider::OpenAi, format!("{url}/v1")),
        "gpt-4o-mini",
    )
    .await;
    let lines = server.join().unwrap();
    assert_eq!(lines[0], "POST /v1/chat/completions HTTP/1.1");
    assert_eq!(
        header(&lines, "authorization"),
        Some("Bearer key-SECRET-123")
    );
    assert_eq!(header(&lines, "api-key"), None);
    assert_eq!(header(&lines, "openai-organization"), Some("org-1"));
    assert_eq!(header(&lines, "openai-project"), Some("proj-1"));
}

#[tokio::test]
async fn azure_uses_the_deployment_path_api_version_and_api_key_header() {
    let (url, server) = capture();
    send(settings(Provider::Azure, url), "my-deployment").await;
    let lines = server.join().unwrap();
    assert_eq!(
        lines[0],
        "POST /openai/deployments/my-deployment/chat/completions?api-version=2024-10-21 HTTP/1.1"
    );
    assert_eq!(header(&lines, "api-key"), Some("key-SECRET-123"));
    assert_eq!(header(&lines, "authorization"), None);
}

#[test]
fn azure_files_and_batches_are_not_under_deployments() {
    let client = Client::builder(settings(
        Provider::Azure,
        "https://r.openai.azure.com/".to_owned(),
    ))
    .build()
    .unwrap();
    assert_eq!(
        client.chat_url("dep"),
        "https://r.openai.azure.com/openai/deployments/dep/chat/completions?api-version=2024-10-21"
    );
    // The v1 surface takes plain paths and no api-version.
    let v1 = Client::builder(settings(
        Provider::Azure,
        "https://r.openai.azure.com/openai/v1".to_owned(),
    ))
    .build()
    .unwrap();
    assert_eq!(
        v1.chat_url("dep"),
        "https://r.openai.azure.com/openai/v1/chat/completions"
    );
    let mut no_version = settings(Provider::Azure, "https://r.openai.azure.com".to_owned());
    no_version.api_version = None;
    let err = Client::builder(no_version).build().unwrap_err().to_string();
    assert!(err.contains("OPENAI_API_VERSION"), "{err}");
    assert!(!format!("{client:?}").contains("SECRET"));
}

#[test]
fn the_real_endpoint_without_a_key_is_refused_up_front() {
    let mut s = settings(Provider::OpenAi, "https://api.openai.com/v1".to_owned());
    s.api_key = None;
    let err = Client::builder(s).build().unwrap_err().to_string();
    assert_eq!(
        err,
        "client configuration: OPENAI_API_KEY is not set (put it in the environment or the project's .env)"
    );
}

#[tokio::test]
async fn a_server_echoing_the_key_does_not_get_it_into_the_error() {
    let (url, server) = capture_with(
        "401 Unauthorized",
        r#"{"error":{"message":"Incorrect API key provided: key-SECRET-123.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}"#,
    );
    let client = Client::builder(settings(Provider::OpenAi, format!("{url}/v1")))
        .build()
        .unwrap();
    let request = ChatRequest::new("gpt-4o-mini", vec![Message::user("hello")]);
    let err = client
        .chat(&request, &CallOptions::default())
        .await
        .unwrap_err();
    server.join().unwrap();
    let text = err.to_string();
    assert!(!text.contains("SECRET"), "{text}");
    assert!(
        text.contains("HTTP 401 invalid_api_key: Incorrect API key provided: [redacted]."),
        "{text}"
    );
    assert!(text.contains("check the API key"), "{text}");
    assert!(err.is_fatal(), "a bad key stops the run");
    assert!(!format!("{err:?}").contains("SECRET"));
}
