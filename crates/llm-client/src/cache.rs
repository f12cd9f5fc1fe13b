//! The response cache: one JSON file per answer, named by a hash of everything that changes the
//! answer, written atomically so a crash or a second process never leaves a torn entry behind.
//!
//! Layout: `<dir>/v1/<first two hex digits>/<64 hex digits>.json`. A writer puts the entry in a
//! hidden temporary file beside its final name and renames it into place; readers only open
//! `*.json` names, so a writer killed mid-write leaves a stray temporary file and nothing else.
//! Entries hold the request body and the response body; API keys are sent in headers and never
//! reach them.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::error::Error;

/// The folder below the cache directory that holds entries of the current format.
const LAYOUT: &str = "v1";

/// What the cache remembers about servers (see [`Cache::server_announces_limits`]).
const SERVERS: &str = "servers.json";

/// A server's key in `servers.json`: its base URL without credentials, query or trailing `/`.
fn server_key(base_url: &str) -> String {
    match reqwest::Url::parse(base_url) {
        Ok(mut url) => {
            let _ = url.set_username("");
            let _ = url.set_password(None);
            url.set_query(None);
            url.set_fragment(None);
            url.as_str().trim_end_matches('/').to_owned()
        }
        Err(_) => String::new(),
    }
}

/// A cache key: SHA-256 over the endpoint URL, the exact request body and the repeat index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CacheKey([u8; 32]);

impl CacheKey {
    /// The key of a request body sent to `url`. `repeat` tells repeated samples of the same
    /// request apart, so asking for five samples never returns one answer five times.
    #[must_use]
    pub fn new(url: &str, body: &Value, repeat: u32) -> Self {
        // The body is built in a fixed field order, so its serialisation is canonical.
        Self::from_serialized(url, &serde_json::to_vec(body).unwrap_or_default(), repeat)
    }

    /// The same key from the body already serialised (what the client sends anyway).
    #[must_use]
    pub fn from_serialized(url: &str, body: &[u8], repeat: u32) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(b"kw-llm-cache/1\0");
        hasher.update(url.as_bytes());
        hasher.update(b"\0");
        hasher.update(body);
        hasher.update(b"\0");
        hasher.update(repeat.to_le_bytes());
        Self(hasher.finalize().into())
    }

    /// 64 lower-case hex digits.
    #[must_use]
    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses 64 hex digits.
    #[must_use]
    pub fn from_hex(text: &str) -> Option<Self> {
        let bytes = hex::decode(text).ok()?;
        Some(Self(bytes.try_into().ok()?))
    }
}

/// One cached answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CacheEntry {
    /// The key, repeated inside the file so a misplaced or damaged file is noticed.
    pub key: String,
    /// When the answer was received (RFC 3339).
    pub created_at: String,
    /// The endpoint URL the request went to.
    pub url: String,
    /// The repeat index.
    pub repeat: u32,
    /// The request body as sent.
    pub request: Value,
    /// The response body as received.
    pub response: Value,
}

/// What `stats` found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CacheStats {
    /// The cache directory.
    pub dir: PathBuf,
    /// Readable entries.
    pub entries: u64,
    /// Their size on disk.
    pub bytes: u64,
    /// Entry files that cannot be read back (damaged by something other than this crate);
    /// they are treated as misses.
    pub unreadable: u64,
    /// Temporary files left by writers that were killed mid-write.
    pub temp_files: u64,
}

/// What `clear` removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ClearReport {
    /// Entry files removed (readable or not).
    pub entries: u64,
    /// Temporary files removed.
    pub temp_files: u64,
    /// Bytes freed.
    pub bytes: u64,
}

/// An on-disk response cache. Cheap to clone; safe to share between tasks and processes.
#[derive(Debug, Clone)]
pub struct Cache {
    dir: PathBuf,
}

impl Cache {
    /// Opens (and creates) a cache directory.
    ///
    /// # Errors
    /// When the directory cannot be created.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, Error> {
        let dir = dir.into();
        std::fs::create_dir_all(dir.join(LAYOUT)).map_err(|source| Error::Cache {
            path: dir.clone(),
            source,
        })?;
        Ok(Self { dir })
    }

    /// The default directory: `KW_CACHE_DIR` when set, else `<root>/.cache/llm`.
    #[must_use]
    pub fn default_dir(paths: &core_config::ProjectPaths, env: &core_config::Env) -> PathBuf {
        env.get(core_config::EnvVars::KW_CACHE_DIR)
            .map_or_else(|| paths.default_cache_dir(), PathBuf::from)
    }

    /// The cache directory.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether the server at `base_url` announced rate limits (`x-ratelimit-limit-*`) when
    /// this cache last saw it; `None` when it has not seen it. Kept in `servers.json` beside the
    /// entries, so that a run against a server known to announce none (a local vLLM, Ollama or
    /// the simulator) need not hold back a probe wave to find out.
    #[must_use]
    pub fn server_announces_limits(&self, base_url: &str) -> Option<bool> {
        let text = std::fs::read_to_string(self.dir.join(SERVERS)).ok()?;
        let notes: serde_json::Map<String, Value> = serde_json::from_str(&text).ok()?;
        notes
            .get(&server_key(base_url))?
            .get("announces_rate_limits")?
            .as_bool()
    }

    /// Remembers whether the server at `base_url` announced rate limits. A failure to write
    /// only costs the next run its probe wave, so it is returned for logging, not acted on.
    ///
    /// # Errors
    /// When `servers.json` cannot be written.
    pub fn remember_server(&self, base_url: &str, announces_limits: bool) -> std::io::Result<()> {
        let path = self.dir.join(SERVERS);
        let mut notes: serde_json::Map<String, Value> = std::fs::read_to_string(&path)
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default();
        notes.insert(
            server_key(base_url),
            serde_json::json!({
                "announces_rate_limits": announces_limits,
                "seen_at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            }),
        );
        let mut text = serde_json::to_vec_pretty(&Value::Object(notes)).unwrap_or_default();
        text.push(b'\n');
        core_config::write_atomic(path, &text).map(drop)
    }

    /// Where an entry lives.
    #[must_use]
    pub fn path_of(&self, key: &CacheKey) -> PathBuf {
        let hex = key.hex();
        self.dir
            .join(LAYOUT)
            .join(&hex[..2])
            .join(format!("{hex}.json"))
    }

    /// The entry for a key. Missing, unreadable and mismatched files are all misses: the cache
    /// can only ever cost a repeated request, never a wrong answer.
    #[must_use]
    pub fn get(&self, key: &CacheKey) -> Option<CacheEntry> {
        let bytes = std::fs::read(self.path_of(key)).ok()?;
        let entry: CacheEntry = serde_json::from_slice(&bytes).ok()?;
        (entry.key == key.hex())
            .then_some(entry)
            .inspect(|_| tracing::info!(key = %key.hex(), "cache hit"))
    }

    /// Stores an entry (atomically: temporary file, fsync, rename). Two processes writing the
    /// same key both succeed and one complete file wins.
    ///
    /// # Errors
    /// When the file cannot be written.
    pub fn put(&self, key: &CacheKey, entry: &CacheEntry) -> Result<(), Error> {
        let path = self.path_of(key);
        let bytes = serde_json::to_vec(entry).map_err(|e| Error::Cache {
            path: path.clone(),
            source: std::io::Error::other(e),
        })?;
        core_config::write_atomic(&path, &bytes)
            .map(drop)
            .map_err(|source| Error::Cache { path, source })
    }

    /// Counts entries, bytes, damaged entries and leftover temporary files.
    ///
    /// # Errors
    /// When the directory cannot be listed.
    pub fn stats(&self) -> Result<CacheStats, Error> {
        let mut stats = CacheStats {
            dir: self.dir.clone(),
            ..CacheStats::default()
        };
        self.walk(|path, kind, size| {
            match kind {
                FileKind::Entry => {
                    let readable = std::fs::read(path)
                        .ok()
                        .and_then(|b| serde_json::from_slice::<CacheEntry>(&b).ok())
                        .is_some_and(|e| {
                            path.file_stem().and_then(|s| s.to_str()) == Some(e.key.as_str())
                        });
                    if readable {
                        stats.entries += 1;
                        stats.bytes += size;
                    } else {
                        stats.unreadable += 1;
                    }
                }
                FileKind::Temp => stats.temp_files += 1,
            }
            Ok(())
        })?;
        Ok(stats)
    }

    /// Removes every entry and leftover temporary file.
    ///
    /// # Errors
    /// When a file cannot be removed.
    pub fn clear(&self) -> Result<ClearReport, Error> {
        let mut report = ClearReport::default();
        self.walk(|path, kind, size| {
            match std::fs::remove_file(path) {
                Ok(()) => {}
                // Another process got there first.
                Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
                Err(source) => {
                    return Err(Error::Cache {
                        path: path.to_owned(),
                        source,
                    });
                }
            }
            match kind {
                FileKind::Entry => report.entries += 1,
                FileKind::Temp => report.temp_files += 1,
            }
            report.bytes += size;
            Ok(())
        })?;
        Ok(report)
    }

    fn walk(
        &self,
        mut visit: impl FnMut(&Path, FileKind, u64) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let root = self.dir.join(LAYOUT);
        let shards = match std::fs::read_dir(&root) {
            Ok(shards) => shards,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(source) => return Err(Error::Cache { path: root, source }),
        };
        for shard in shards {
            let shard = shard.map_err(|source| Error::Cache {
                path: root.clone(),
                source,
            })?;
            if !shard.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let files = match std::fs::read_dir(shard.path()) {
                Ok(files) => files,
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(source) => {
                    return Err(Error::Cache {
                        path: shard.path(),
                        source,
                    });
                }
            };
            for file in files.flatten() {
                let name = file.file_name();
                let name = name.to_string_lossy();
                let kind = if name.starts_with('.') && name.ends_with(".tmp") {
                    FileKind::Temp
                } else if name.ends_with(".json") {
                    FileKind::Entry
                } else {
                    continue;
                };
                let size = file.metadata().map_or(0, |m| m.len());
                visit(&file.path(), kind, size)?;
            }
        }
        Ok(())
    }
}

#[derive(Clone, Copy)]
enum FileKind {
    Entry,
    Temp,
}

#[cfg(test)]
mod tests {
    #[test]
    fn servers_are_remembered_by_base_url_without_credentials() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path()).unwrap();
        assert_eq!(cache.server_announces_limits("http://127.0.0.1:9/v1"), None);
        cache
            .remember_server("http://user:secret@127.0.0.1:9/v1/?key=x", false)
            .unwrap();
        cache
            .remember_server("https://api.openai.com/v1", true)
            .unwrap();
        assert_eq!(
            cache.server_announces_limits("http://127.0.0.1:9/v1"),
            Some(false)
        );
        assert_eq!(
            cache.server_announces_limits("https://api.openai.com/v1/"),
            Some(true)
        );
        let text = std::fs::read_to_string(dir.path().join(SERVERS)).unwrap();
        assert!(
            !text.contains("secret") && !text.contains("key=x"),
            "{text}"
        );
        // A damaged file is as good as none.
        std::fs::write(dir.path().join(SERVERS), "{not json").unwrap();
        assert_eq!(cache.server_announces_limits("http://127.0.0.1:9/v1"), None);
    }

    use serde_json::json;

    use super::*;

    fn entry(key: &CacheKey) -> CacheEntry {
        CacheEntry {
            key: key.hex(),
            created_at: "2026-01-01T00:00:00Z".to_owned(),
            url: "http://x/v1/chat/completions".to_owned(),
            repeat: 0,
            request: json!({"model": "m"}),
            response: json!({"choices": []}),
        }
    }

    #[test]
    fn keys_change_with_url_body_and_repeat() {
        let body = json!({"model": "m", "messages": [{"role": "user", "content": "x"}]});
        let a = CacheKey::new("http://a/v1/chat/completions", &body, 0);
        assert_eq!(a, CacheKey::new("http://a/v1/chat/completions", &body, 0));
        assert_ne!(a, CacheKey::new("http://b/v1/chat/completions", &body, 0));
        assert_ne!(a, CacheKey::new("http://a/v1/chat/completions", &body, 1));
        let other = json!({"model": "m", "messages": [{"role": "user", "content": "y"}]});
        assert_ne!(a, CacheKey::new("http://a/v1/chat/completions", &other, 0));
        assert_eq!(CacheKey::from_hex(&a.hex()), Some(a));
    }

    #[test]
    fn round_trip_stats_and_clear() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path()).unwrap();
        let key = CacheKey::new("u", &json!(1), 0);
        assert!(cache.get(&key).is_none());
        cache.put(&key, &entry(&key)).unwrap();
        assert_eq!(cache.get(&key), Some(entry(&key)));
        let stats = cache.stats().unwrap();
        assert_eq!(
            (stats.entries, stats.unreadable, stats.temp_files),
            (1, 0, 0)
        );
        assert!(stats.bytes > 0);
        let cleared = cache.clear().unwrap();
        assert_eq!((cleared.entries, cleared.temp_files), (1, 0));
        assert!(cache.get(&key).is_none());
        assert_eq!(cache.stats().unwrap().entries, 0);
    }

    #[test]
    fn torn_entries_and_leftover_temp_files_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path()).unwrap();
        let good = CacheKey::new("u", &json!("good"), 0);
        cache.put(&good, &entry(&good)).unwrap();
        // What a writer killed mid-write leaves behind, plus a truncated entry file.
        let torn = CacheKey::new("u", &json!("torn"), 0);
        let torn_path = cache.path_of(&torn);
        std::fs::create_dir_all(torn_path.parent().unwrap()).unwrap();
        let full = serde_json::to_vec(&entry(&torn)).unwrap();
        std::fs::write(&torn_path, &full[..full.len() / 2]).unwrap();
        std::fs::write(
            torn_path.with_file_name(format!(".{}.json.abc123.tmp", torn.hex())),
            &full[..10],
        )
        .unwrap();
        // A whole entry stored under the wrong name is not trusted either.
        let moved = CacheKey::new("u", &json!("moved"), 0);
        std::fs::create_dir_all(cache.path_of(&moved).parent().unwrap()).unwrap();
        std::fs::write(
            cache.path_of(&moved),
            serde_json::to_vec(&entry(&good)).unwrap(),
        )
        .unwrap();

        assert!(cache.get(&torn).is_none());
        assert!(cache.get(&moved).is_none());
        assert_eq!(cache.get(&good), Some(entry(&good)));
        let stats = cache.stats().unwrap();
        assert_eq!(
            (stats.entries, stats.unreadable, stats.temp_files),
            (1, 2, 1)
        );
        // Writing the torn key again repairs it.
        cache.put(&torn, &entry(&torn)).unwrap();
        assert_eq!(cache.get(&torn), Some(entry(&torn)));
        let cleared = cache.clear().unwrap();
        assert_eq!((cleared.entries, cleared.temp_files), (3, 1));
    }

    #[test]
    fn default_dir_honours_kw_cache_dir() {
        let paths = core_config::ProjectPaths::new("/proj");
        let env = core_config::Env::default();
        assert_eq!(
            Cache::default_dir(&paths, &env),
            Path::new("/proj/.cache/llm")
        );
        let env = core_config::Env::from_pairs([("KW_CACHE_DIR", "/tmp/c")]);
        assert_eq!(Cache::default_dir(&paths, &env), Path::new("/tmp/c"));
    }
}
