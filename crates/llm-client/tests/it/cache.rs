//! The response cache end to end: a second identical run sends nothing, repeats are separate
//! samples, keys never reach the files, and a writer killed mid-write leaves the cache readable.

use std::time::Duration;

use api_sim::SimConfig;
use llm_client::{Cache, CacheEntry, CacheKey, CacheMode, CallOptions};
use serde_json::json;

use crate::support::{cached_client, request, run_all, sim};

const CHAT: &str = "POST /v1/chat/completions";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_identical_run_sends_zero_requests() {
    let server = sim(SimConfig::default());
    let dir = tempfile::tempdir().unwrap();
    let n = 40;
    let first_client = cached_client(&server, dir.path());
    let first = run_all(
        &first_client,
        (0..n).map(request).collect(),
        CallOptions::default(),
    )
    .await;
    assert_eq!(server.stats().total(CHAT), n as u64);
    let spent = first_client.totals().spent_usd;
    assert!(spent > 0.0);

    server.reset_stats();
    // A new client (as in a new process) over the same cache directory.
    let second_client = cached_client(&server, dir.path());
    let second = run_all(
        &second_client,
        (0..n).map(request).collect(),
        CallOptions::default(),
    )
    .await;
    assert_eq!(server.stats().total(CHAT), 0, "{:?}", server.stats());
    for (a, b) in first.iter().zip(&second) {
        let (a, b) = (a.as_ref().unwrap(), b.as_ref().unwrap());
        assert!(!a.cached);
        assert!(b.cached);
        assert_eq!(b.attempts, 0);
        assert_eq!(a.content, b.content);
        assert_eq!(a.outcome, b.outcome);
        assert_eq!(a.cache_key, b.cache_key);
    }
    let totals = second_client.totals();
    assert_eq!(totals.cache_hits, n as u64);
    assert_eq!(totals.http_requests, 0);
    assert_eq!(totals.spent_usd, 0.0);
    assert!((totals.saved_usd - spent).abs() < 1e-9);

    // Repeat indexes are separate samples; --no-cache style calls bypass it entirely.
    let repeat = CallOptions {
        repeat: 1,
        ..CallOptions::default()
    };
    second_client.chat(&request(0), &repeat).await.unwrap();
    let off = CallOptions {
        cache: CacheMode::Off,
        ..CallOptions::default()
    };
    second_client.chat(&request(0), &off).await.unwrap();
    assert_eq!(server.stats().total(CHAT), 2);
    let stats = Cache::open(dir.path()).unwrap().stats().unwrap();
    assert_eq!(stats.entries, n as u64 + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prepared_call_sends_the_same_body_under_the_same_key_as_a_plain_one() {
    let server = sim(SimConfig::default());
    let dir = tempfile::tempdir().unwrap();
    let client = cached_client(&server, dir.path());
    let prepared = client.prepare(request(3), 2).unwrap();
    assert_eq!(prepared.key(), client.cache_key(&request(3), 2));
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(prepared.body()).unwrap(),
        request(3).to_body()
    );
    assert_eq!(prepared.request(), &request(3));

    // The prepared call is answered by the server and cached under the key a plain call with
    // the same repeat index looks up; `options.repeat` does not override the prepared one.
    let options = CallOptions {
        repeat: 7,
        ..CallOptions::default()
    };
    let sent = client.chat_prepared(&prepared, &options).await.unwrap();
    assert!(!sent.cached);
    assert_eq!(sent.cache_key, prepared.key().hex());
    let again = CallOptions {
        repeat: 2,
        ..CallOptions::default()
    };
    let hit = client.chat(&request(3), &again).await.unwrap();
    assert!(
        hit.cached,
        "the plain call finds the prepared call's answer"
    );
    assert_eq!(hit.content, sent.content);
    assert_eq!(server.stats().total(CHAT), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unusable_answers_are_not_cached_and_keys_never_reach_the_files() {
    let server = sim(SimConfig {
        invalid_json_rate: 1.0,
        ..SimConfig::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let client = cached_client(&server, dir.path());
    let broken = client
        .chat(&request(0), &CallOptions::default())
        .await
        .unwrap();
    assert_eq!(broken.outcome.kind(), "invalid_json");
    assert_eq!(Cache::open(dir.path()).unwrap().stats().unwrap().entries, 0);
    // The next run asks again instead of replaying the broken answer.
    client
        .chat(&request(0), &CallOptions::default())
        .await
        .unwrap();
    assert_eq!(server.stats().total(CHAT), 2);

    let healthy = sim(SimConfig::default());
    let client = cached_client(&healthy, dir.path());
    client
        .chat(&request(1), &CallOptions::default())
        .await
        .unwrap();
    let mut entries = 0;
    for entry in walk(dir.path()) {
        let text = std::fs::read_to_string(&entry).unwrap();
        assert!(!text.contains("DO-NOT-LEAK"), "{}", entry.display());
        // Besides the entries, only the note of what the servers announce (`servers.json`).
        if entry.file_name().is_some_and(|n| n != "servers.json") {
            entries += 1;
        }
    }
    assert_eq!(entries, 1);
    assert!(!format!("{client:?}").contains("DO-NOT-LEAK"));
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        if entry.file_type().unwrap().is_dir() {
            out.extend(walk(&entry.path()));
        } else {
            out.push(entry.path());
        }
    }
    out
}

fn entry(key: &CacheKey, size: usize) -> CacheEntry {
    CacheEntry {
        key: key.hex(),
        created_at: "2026-01-01T00:00:00Z".to_owned(),
        url: "http://sim/v1/chat/completions".to_owned(),
        repeat: 0,
        request: json!({"model": "m"}),
        // Large entries make it likely that the kill lands in the middle of a write.
        response: json!({"choices": [], "padding": "x".repeat(size)}),
    }
}

fn key(i: u64) -> CacheKey {
    CacheKey::new("http://sim/v1/chat/completions", &json!({"i": i}), 0)
}

const CHILD_DIR: &str = "KW_TEST_CACHE_WRITER_DIR";

/// Kills the child even when an assertion fails first.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs as the parent (spawns this same test in a child process, kills it while it writes)
/// or, when the child variable is set, as the writer.
#[test]
fn a_writer_killed_mid_write_leaves_the_cache_readable() {
    let env = core_config::Env::load(None).unwrap();
    if let Some(dir) = env.get(CHILD_DIR) {
        let cache = Cache::open(dir).unwrap();
        // Bounded, so a child whose parent died cannot fill the disk.
        let until = std::time::Instant::now() + Duration::from_secs(30);
        for i in 0..1000 {
            if std::time::Instant::now() > until {
                break;
            }
            cache.put(&key(i), &entry(&key(i), 64 * 1024)).unwrap();
        }
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::open(dir.path()).unwrap();
    let child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "cache::a_writer_killed_mid_write_leaves_the_cache_readable",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DIR, dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut child = KillOnDrop(child);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while cache.stats().unwrap().entries < 10 {
        assert!(
            std::time::Instant::now() < deadline,
            "the child wrote nothing"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.0.kill().unwrap();
    child.0.wait().unwrap();

    let stats = cache.stats().unwrap();
    assert_eq!(stats.unreadable, 0, "no torn entry: {stats:?}");
    assert!(stats.entries >= 10);
    let readable = (0..).take_while(|i| cache.get(&key(*i)).is_some()).count() as u64;
    assert_eq!(
        readable, stats.entries,
        "entries are written in order, none missing"
    );
    assert!(cache.get(&key(readable + 1)).is_none());
    // What a kill at the worst moment would leave on top: a temporary file and, from some
    // other damage, a truncated entry. Both are ignored; the rest still reads.
    let victim = key(readable);
    let path = cache.path_of(&victim);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, b"{\"key\": \"trunc").unwrap();
    std::fs::write(
        path.with_file_name(format!(".{}.json.x1.tmp", victim.hex())),
        b"{",
    )
    .unwrap();
    let after = cache.stats().unwrap();
    assert_eq!(after.entries, stats.entries);
    assert_eq!(after.unreadable, 1);
    assert!(after.temp_files >= 1);
    assert!(cache.get(&victim).is_none());
    assert!(cache.get(&key(0)).is_some());
    let cleared = cache.clear().unwrap();
    assert_eq!(cleared.entries, stats.entries + 1);
    assert_eq!(
        cache.stats().unwrap(),
        llm_client::CacheStats {
            dir: dir.path().to_owned(),
            ..llm_client::CacheStats::default()
        }
    );
}

#[test]
fn two_writers_of_the_same_keys_never_tear_an_entry() {
    let dir = tempfile::tempdir().unwrap();
    let handles: Vec<_> = (0..4)
        .map(|w| {
            let cache = Cache::open(dir.path()).unwrap();
            std::thread::spawn(move || {
                for round in 0..20 {
                    for i in 0..5 {
                        cache.put(&key(i), &entry(&key(i), 1000 * (w + 1))).unwrap();
                        if round > 0 {
                            assert!(cache.get(&key(i)).is_some(), "a reader saw no entry");
                        }
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let stats = Cache::open(dir.path()).unwrap().stats().unwrap();
    assert_eq!(
        (stats.entries, stats.unreadable, stats.temp_files),
        (5, 0, 0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_known_to_announce_no_limits_gets_no_probe_wave_next_time() {
    let dir = tempfile::tempdir().unwrap();
    // The simulator without limits sends no `x-ratelimit-*` headers.
    let plain = sim(SimConfig::default());
    let first = cached_client(&plain, dir.path());
    assert!(first.probing(), "nothing is known about a new server");
    first
        .chat(&request(0), &CallOptions::default())
        .await
        .unwrap();
    assert!(!first.probing());
    let next = cached_client(&plain, dir.path());
    assert!(
        !next.probing(),
        "the cache remembers this server announces no limits"
    );

    // A server that announces limits keeps its probe wave, run after run.
    let limited = sim(SimConfig {
        rpm: Some(6000),
        ..SimConfig::default()
    });
    let first = cached_client(&limited, dir.path());
    first
        .chat(&request(1), &CallOptions::default())
        .await
        .unwrap();
    let next = cached_client(&limited, dir.path());
    assert!(
        next.probing(),
        "a server with limits is probed for what is left of them"
    );
    let known = Cache::open(dir.path()).unwrap();
    assert_eq!(
        known.server_announces_limits(&crate::support::settings(&plain).base_url),
        Some(false)
    );
}
