//! Reading what was asked (the request files) and what came back (the result files), joined
//! by `custom_id` only: output order says nothing.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::PathBuf;

use llm_client::BatchOutputLine;
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::layout::{BatchDir, GroupEntry, errors_file, results_file};

#[derive(Deserialize)]
struct RequestLine {
    custom_id: String,
    #[serde(default)]
    body: Option<RequestBody>,
}

#[derive(Deserialize)]
struct RequestBody {
    #[serde(default)]
    model: Option<String>,
}

/// The requests of a group, from its generated request files.
pub(crate) struct Requested {
    /// Custom ids, each with its position in the files.
    pub(crate) ids: HashMap<String, usize>,
    /// The model of the first line.
    pub(crate) model: Option<String>,
    /// The files read.
    pub(crate) files: Vec<PathBuf>,
}

/// Calls `each(custom_id, raw line)` for every line of a request file.
pub(crate) fn for_each_request(
    path: &std::path::Path,
    mut each: impl FnMut(&str, Option<String>, &[u8], usize) -> Result<()>,
) -> Result<()> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut buffer = Vec::new();
    let mut line_no = 0;
    loop {
        buffer.clear();
        let n = reader
            .read_until(b'\n', &mut buffer)
            .map_err(|e| Error::io(path, e))?;
        if n == 0 {
            return Ok(());
        }
        line_no += 1;
        if buffer.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let parsed: RequestLine = serde_json::from_slice(&buffer).map_err(|e| Error::Line {
            path: path.to_owned(),
            line: line_no,
            message: format!("not a batch request line ({e})"),
        })?;
        each(
            &parsed.custom_id,
            parsed.body.and_then(|b| b.model),
            &buffer,
            line_no,
        )?;
    }
}

/// Reads which custom ids a group asked for (its generated files; resubmissions repeat them).
pub(crate) fn read_requested(dir: &BatchDir, group: &GroupEntry) -> Result<Requested> {
    let mut requested = Requested {
        ids: HashMap::new(),
        model: None,
        files: Vec::new(),
    };
    let mut first_line: HashMap<String, (String, usize)> = HashMap::new();
    for name in group.file_names() {
        let path = dir.join(&name);
        if !path.is_file() {
            return Err(Error::NotABatchDir {
                dir: dir.path.clone(),
                message: format!(
                    "{}: request file {name} is missing; it says which requests were sent",
                    group.key()
                ),
            });
        }
        for_each_request(&path, |custom_id, model, _, line| {
            if requested.model.is_none() {
                requested.model = model;
            }
            let position = requested.ids.len();
            if requested
                .ids
                .insert(custom_id.to_owned(), position)
                .is_some()
            {
                let (file, first) = first_line.get(custom_id).cloned().unwrap_or_default();
                return Err(Error::Line {
                    path: path.clone(),
                    line,
                    message: format!(
                        "custom_id `{custom_id}` is used twice (first in {file} line {first}); answers could not be told apart"
                    ),
                });
            }
            first_line.insert(custom_id.to_owned(), (name.clone(), line));
            Ok(())
        })?;
        requested.files.push(path);
    }
    Ok(requested)
}

/// Where the best line for a custom id is.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LineRef {
    file: usize,
    offset: u64,
    /// 1-based line in its file.
    line: usize,
    /// Whether it holds an answer (HTTP 2xx, no error).
    pub(crate) success: bool,
    /// A digest of the answer's `choices` (what was answered), to tell a repeated answer from
    /// a different one.
    answer: u64,
}

/// Two answers for one request that say different things. The first is kept (a later one
/// must not silently replace what may already have been looked at); the request is reported.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Conflict {
    /// The request.
    pub custom_id: String,
    /// `file:line` of the answer kept.
    pub kept: String,
    /// `file:line` of the answer ignored.
    pub ignored: String,
}

fn answer_digest(body: &serde_json::Value) -> u64 {
    use std::hash::{Hash as _, Hasher as _};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    body.get("choices")
        .map(ToString::to_string)
        .unwrap_or_default()
        .hash(&mut hasher);
    hasher.finish()
}

/// A group's result lines, indexed by custom id.
pub(crate) struct Outcomes {
    paths: Vec<PathBuf>,
    readers: Vec<BufReader<File>>,
    pub(crate) index: HashMap<String, LineRef>,
    /// Custom ids in the results that were never asked for.
    pub(crate) unexpected: Vec<String>,
    /// Requests answered twice with different answers.
    pub(crate) conflicts: Vec<Conflict>,
}

impl Outcomes {
    /// Indexes `results/{key}_results.jsonl` and `.errors.jsonl`; `None` when neither exists.
    ///
    /// Every line is classified by its content, not by its file. An answer beats a failure
    /// for the same id, and a later failure beats an earlier one (resubmitted requests come
    /// later). Of two answers the first is kept; when they differ, the request is listed in
    /// `conflicts` (identical repeats are harmless).
    pub(crate) fn read(
        dir: &BatchDir,
        key: &str,
        requested: &HashMap<String, usize>,
    ) -> Result<Option<Self>> {
        let candidates = [results_file(&dir.path, key), errors_file(&dir.path, key)];
        let paths: Vec<PathBuf> = candidates.into_iter().filter(|p| p.is_file()).collect();
        if paths.is_empty() {
            return Ok(None);
        }
        let mut index: HashMap<String, LineRef> = HashMap::new();
        let mut unexpected = Vec::new();
        let mut conflicts = Vec::new();
        let mut readers = Vec::new();
        for (file, path) in paths.iter().enumerate() {
            let handle = File::open(path).map_err(|e| Error::io(path, e))?;
            let mut reader = BufReader::with_capacity(1 << 20, handle);
            let mut buffer = Vec::new();
            let mut offset = 0u64;
            let mut line_no = 0;
            loop {
                buffer.clear();
                let n = reader
                    .read_until(b'\n', &mut buffer)
                    .map_err(|e| Error::io(path, e))?;
                if n == 0 {
                    break;
                }
                line_no += 1;
                let at = offset;
                offset += n as u64;
                if buffer.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                let text = String::from_utf8_lossy(&buffer);
                let parsed = BatchOutputLine::parse(text.trim_end()).map_err(|e| Error::Line {
                    path: path.clone(),
                    line: line_no,
                    message: format!("not a batch output line ({e})"),
                })?;
                if !requested.contains_key(&parsed.custom_id) {
                    unexpected.push(parsed.custom_id);
                    continue;
                }
                let body = parsed.success_body();
                let new = LineRef {
                    file,
                    offset: at,
                    line: line_no,
                    success: body.is_some(),
                    answer: body.map_or(0, answer_digest),
                };
                match index.get(&parsed.custom_id) {
                    Some(old) if old.success && !new.success => {}
                    Some(old) if old.success => {
                        if old.answer != new.answer {
                            let place =
                                |r: &LineRef| format!("{}:{}", paths[r.file].display(), r.line);
                            conflicts.push(Conflict {
                                custom_id: parsed.custom_id,
                                kept: place(old),
                                ignored: place(&new),
                            });
                        }
                    }
                    _ => {
                        index.insert(parsed.custom_id, new);
                    }
                }
            }
            reader
                .seek(SeekFrom::Start(0))
                .map_err(|e| Error::io(path, e))?;
            readers.push(reader);
        }
        Ok(Some(Self {
            paths,
            readers,
            index,
            unexpected,
            conflicts,
        }))
    }

    /// Reads the line a reference points to.
    pub(crate) fn line(&mut self, at: LineRef) -> Result<BatchOutputLine> {
        let path = &self.paths[at.file];
        let reader = &mut self.readers[at.file];
        reader
            .seek(SeekFrom::Start(at.offset))
            .map_err(|e| Error::io(path, e))?;
        let mut text = String::new();
        reader
            .read_line(&mut text)
            .map_err(|e| Error::io(path, e))?;
        BatchOutputLine::parse(text.trim_end()).map_err(|message| Error::Line {
            path: path.clone(),
            line: 0,
            message,
        })
    }
}
