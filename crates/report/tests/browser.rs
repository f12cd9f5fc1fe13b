//! The demo's report in a real browser: headless Chromium (Debian's `chromium`) driven by
//! `chromedriver` over the W3C WebDriver protocol. Run with `make test-browser`; it needs the
//! `browser` feature, so `cargo test --workspace` (and `make test`) never needs a browser.
//!
//! The test runs `scripts/demo.sh` in a temporary copy of the project against the simulator,
//! loads every page of the report it writes over `file://`, and checks that each page says it
//! is ready with no script error, that each chart has one mark per figure of the analysis, that
//! the errors table sorts and filters by scripted clicks and typing, and that nothing
//! references an `http(s)://` resource. It saves screenshots of the index and of the m12 page
//! and prints their paths.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};

/// Where the binaries are: `make test-browser` builds them first.
fn bin_dir() -> PathBuf {
    test_support::repo_root().join("target/debug")
}

/// A copy of the project's files in a temporary folder, with the demo script.
fn demo_project() -> tempfile::TempDir {
    let repo = test_support::repo_root();
    let dir = tempfile::tempdir().unwrap();
    for file in ["modules.toml", "prices.toml"] {
        if repo.join(file).is_file() {
            std::fs::copy(repo.join(file), dir.path().join(file)).unwrap();
        }
    }
    for folder in ["datasets", "prompts"] {
        test_support::copy_dir(&repo.join(folder), &dir.path().join(folder));
    }
    std::fs::create_dir(dir.path().join("scripts")).unwrap();
    std::fs::copy(
        repo.join("scripts/demo.sh"),
        dir.path().join("scripts/demo.sh"),
    )
    .unwrap();
    dir
}

/// Runs the demo in `project` and returns the report's folder from the URL it prints.
fn run_demo(project: &Path) -> PathBuf {
    let out = Command::new("bash")
        .arg("scripts/demo.sh")
        .current_dir(project)
        .env("BIN", bin_dir())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "demo failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let url = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("HTML report"))
        .map(str::trim)
        .unwrap_or_else(|| panic!("the demo printed no report URL:\n{stdout}"));
    let path = url.strip_prefix("file://").unwrap();
    PathBuf::from(path).parent().unwrap().to_owned()
}

struct Driver {
    child: Child,
    base: String,
    http: reqwest::Client,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Driver {
    async fn start() -> Self {
        let port = free_port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver is installed (apt-get install chromium chromium-driver)");
        let driver = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
        };
        for _ in 0..100 {
            if let Ok(r) = driver
                .http
                .get(format!("{}/status", driver.base))
                .send()
                .await
                && r.status().is_success()
            {
                return driver;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("chromedriver did not start");
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response: Value = request.send().await.unwrap().json().await.unwrap();
        if let Some(error) = response["value"].get("error") {
            panic!("WebDriver {path}: {error} {}", response["value"]["message"]);
        }
        response["value"].clone()
    }
}

struct Session<'d> {
    driver: &'d Driver,
    id: String,
}

impl<'d> Session<'d> {
    async fn new(driver: &'d Driver) -> Self {
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium_binary(),
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1300,2400",
                         "--allow-file-access-from-files"]
            }
        }}});
        let value = driver
            .call(reqwest::Method::POST, "/session", Some(caps))
            .await;
        Self {
            driver,
            id: value["sessionId"].as_str().unwrap().to_owned(),
        }
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.driver
            .call(
                reqwest::Method::POST,
                &format!("/session/{}{path}", self.id),
                Some(body),
            )
            .await
    }

    async fn go(&self, url: &str) {
        self.post("/url", json!({"url": url})).await;
    }

    async fn script(&self, script: &str) -> Value {
        self.post("/execute/sync", json!({"script": script, "args": []}))
            .await
    }

    async fn element(&self, css: &str) -> String {
        let found = self
            .post("/element", json!({"using": "css selector", "value": css}))
            .await;
        found
            .as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .unwrap()
            .to_owned()
    }

    async fn click(&self, css: &str) {
        let id = self.element(css).await;
        self.post(&format!("/element/{id}/click"), json!({})).await;
    }

    async fn type_into(&self, css: &str, text: &str, clear: bool) {
        let id = self.element(css).await;
        if clear {
            self.post(&format!("/element/{id}/clear"), json!({})).await;
        }
        self.post(&format!("/element/{id}/value"), json!({"text": text}))
            .await;
    }

    /// A screenshot of the whole page: the window is first made as tall as the page.
    async fn screenshot(&self, to: &Path) {
        let height = self
            .script("return document.body.scrollHeight;")
            .await
            .as_u64()
            .unwrap();
        self.post(
            "/window/rect",
            json!({"width": 1300, "height": height.clamp(500, 8000) + 160}),
        )
        .await;
        let value = self
            .driver
            .call(
                reqwest::Method::GET,
                &format!("/session/{}/screenshot", self.id),
                None,
            )
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(value.as_str().unwrap())
            .unwrap();
        assert!(png.starts_with(b"\x89PNG"));
        std::fs::write(to, png).unwrap();
    }

    async fn end(self) {
        self.driver
            .call(
                reqwest::Method::DELETE,
                &format!("/session/{}", self.id),
                None,
            )
            .await;
    }
}

fn chromium_binary() -> String {
    for candidate in ["/usr/bin/chromium", "/usr/bin/chromium-browser"] {
        if Path::new(candidate).is_file() {
            return candidate.to_owned();
        }
    }
    panic!("no chromium binary (apt-get install chromium chromium-driver)");
}

/// The page's readiness, script errors, network references and chart marks, read in the page.
const INSPECT: &str = r#"
const root = document.documentElement;
const refs = [];
for (const el of document.querySelectorAll('*')) {
  for (const attr of el.getAttributeNames()) {
    const v = el.getAttribute(attr) || '';
    if (/^(src|href|xlink:href|srcset|action|poster|data|style)$/.test(attr) && /https?:|\/\/|url\(/i.test(v)) {
      refs.push(el.tagName + ' ' + attr + '=' + v);
    }
  }
}
const resources = performance.getEntriesByType('resource').map(r => r.name);
const marks = sel => Array.from(document.querySelectorAll(sel)).map(e => Number(e.getAttribute('data-value')));
return {
  ready: root.getAttribute('data-ready'),
  errors: root.getAttribute('data-script-errors'),
  refs: refs,
  resources: resources,
  svgs: document.querySelectorAll('svg').length,
  titled: document.querySelectorAll('svg > title:first-child').length,
  cells: marks('#confusion-figure svg rect.cell'),
  annotation_cells: Array.from(document.querySelectorAll('figure.annotation-heatmap svg')).map(s => s.querySelectorAll('rect.cell').length),
  bars_p: document.querySelectorAll('svg rect.bar.p').length,
  bars_r: document.querySelectorAll('svg rect.bar.r').length,
  bars_f: document.querySelectorAll('svg rect.bar.f').length,
  ci_bars: document.querySelectorAll('svg.ci rect.bar').length,
  spark_points: document.querySelectorAll('svg.spark circle.point').length,
  error_rows: document.querySelectorAll('#errors-table tbody tr').length,
};
"#;

const VISIBLE_ROWS: &str = r#"
return Array.from(document.querySelectorAll('#errors-table tbody tr'))
  .filter(r => !r.hidden)
  .map(r => Array.from(r.cells).map(c => c.textContent.trim()));
"#;

fn newest_json(dir: &Path, suffix: &str) -> Value {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    files.sort();
    serde_json::from_str(&std::fs::read_to_string(files.last().unwrap()).unwrap()).unwrap()
}

fn file_url(path: &Path) -> String {
    report::file_url(path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_report_works_in_headless_chromium() {
    let project = demo_project();
    let dir = run_demo(project.path());
    let errors = newest_json(
        &project
            .path()
            .join("analysis/M12_HardConstraintViolationCheck"),
        "_errors.json",
    );
    let labels = errors["labels"].as_array().unwrap().len();
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("browser");
    std::fs::create_dir_all(&out).unwrap();

    let driver = Driver::start().await;
    let session = Session::new(&driver).await;

    let mut pages: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".html"))
        .collect();
    pages.sort();
    assert_eq!(pages, ["index.html", "m12.html"]);
    for page in &pages {
        session.go(&file_url(&dir.join(page))).await;
        let seen = session.script(INSPECT).await;
        assert_eq!(seen["ready"], "true", "{page}: {seen}");
        assert!(
            seen["errors"].is_null(),
            "{page}: script errors {}",
            seen["errors"]
        );
        assert_eq!(seen["refs"], json!([]), "{page}");
        assert!(
            seen["resources"]
                .as_array()
                .unwrap()
                .iter()
                .all(|r| !r.as_str().unwrap().starts_with("http")),
            "{page}: {}",
            seen["resources"]
        );
        assert_eq!(
            seen["svgs"], seen["titled"],
            "{page}: every chart has a <title>"
        );
        if page == "index.html" {
            assert_eq!(seen["ci_bars"], 1, "one interval bar for m12");
            assert!(seen["spark_points"].as_u64().unwrap() >= 1);
        } else {
            // One cell per (expected, predicted) pair, holding the analysis' counts.
            assert_eq!(seen["cells"].as_array().unwrap().len(), labels * labels);
            let counts: Vec<u64> = errors["confusion_matrix"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|r| r.as_array().unwrap().iter().map(|c| c.as_u64().unwrap()))
                .collect();
            let cells: Vec<u64> = seen["cells"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c.as_f64().unwrap() as u64)
                .collect();
            assert_eq!(cells, counts);
            // The demo's annotation sheet: A × B over the field's labels.
            let annotation = seen["annotation_cells"].as_array().unwrap();
            assert!(
                !annotation.is_empty(),
                "annotation section with its heatmap"
            );
            for cells in annotation {
                let n = cells.as_u64().unwrap();
                let side = (n as f64).sqrt() as u64;
                assert!(n >= 4 && side * side == n, "{n} cells");
            }
            for bars in ["bars_p", "bars_r", "bars_f"] {
                assert_eq!(seen[bars], labels, "{bars}");
            }
            let in_file =
                errors["error_count"].as_u64().unwrap() + errors["errored"].as_u64().unwrap();
            assert_eq!(seen["error_rows"], in_file.min(2000));
        }
        let shot = out.join(page.replace(".html", ".png"));
        session.screenshot(&shot).await;
        println!("screenshot: {}", shot.display());
    }

    // The errors table sorts by a scripted click on the Confidence header (ascending, then
    // descending), and filters by typing a record id.
    session.go(&file_url(&dir.join("m12.html"))).await;
    let before = session.script(VISIBLE_ROWS).await;
    let confidence = |rows: &Value| -> Vec<f64> {
        rows.as_array()
            .unwrap()
            .iter()
            .map(|r| r[4].as_str().unwrap().parse().unwrap_or(f64::NEG_INFINITY))
            .collect()
    };
    session.click("#errors-table thead th:nth-child(5)").await;
    let up = confidence(&session.script(VISIBLE_ROWS).await);
    assert!(up.windows(2).all(|w| w[0] <= w[1]), "ascending: {up:?}");
    session.click("#errors-table thead th:nth-child(5)").await;
    let down = confidence(&session.script(VISIBLE_ROWS).await);
    assert!(
        down.windows(2).all(|w| w[0] >= w[1]),
        "descending: {down:?}"
    );
    assert_eq!(up.len(), before.as_array().unwrap().len());
    session.click("#errors-table thead th:nth-child(2)").await;
    let in_order = session
        .script(
            "const k = Array.from(document.querySelectorAll('#errors-table tbody tr'))\
             .map(r => r.cells[1].textContent.trim());\
             return k.length > 1 && k.every((x, i) => i === 0 || k[i - 1].localeCompare(x) <= 0);",
        )
        .await;
    assert_eq!(in_order, true, "sorted by keyword");

    let record = before[0][0].as_str().unwrap().to_owned();
    session.type_into("input.filter", &record, true).await;
    let filtered = session.script(VISIBLE_ROWS).await;
    assert_eq!(filtered.as_array().unwrap().len(), 1, "{filtered}");
    assert_eq!(filtered[0][0], record);
    let count = session
        .script("return document.getElementById('errors-count').textContent;")
        .await;
    assert_eq!(count, "1");
    // Deleting the text with Backspace, as a user would, shows every row again.
    session
        .type_into(
            "input.filter",
            &"\u{E003}".repeat(record.chars().count()),
            false,
        )
        .await;
    let all = session.script(VISIBLE_ROWS).await;
    assert_eq!(
        all.as_array().unwrap().len(),
        before.as_array().unwrap().len()
    );
    let seen = session.script(INSPECT).await;
    assert!(
        seen["errors"].is_null(),
        "script errors after clicks: {}",
        seen["errors"]
    );

    session.end().await;
}
