//! Progress events: the library reports, the binary decides what to show.

use std::time::Duration;

use crate::status::BatchState;

/// Something worth telling the user while a command works.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event<'a> {
    /// Requests of a group being written (`done` of `total`).
    Generating {
        /// Group key.
        key: &'a str,
        /// Requests written so far.
        done: u64,
        /// Requests the group will have.
        total: u64,
    },
    /// A file is being uploaded.
    Uploading {
        /// Request file.
        file: &'a str,
        /// Its size.
        bytes: u64,
    },
    /// A file needs nothing more (already uploaded and submitted).
    Skipped {
        /// Request file.
        file: &'a str,
        /// Why.
        reason: &'a str,
    },
    /// A batch was created (or found again after an uncertain failure).
    Submitted {
        /// Request file.
        file: &'a str,
        /// The batch.
        batch_id: &'a str,
        /// Whether it was found by its metadata rather than created now.
        found: bool,
    },
    /// A file could not be uploaded or submitted; the others go on.
    Failed {
        /// Request file.
        file: &'a str,
        /// What went wrong.
        message: &'a str,
    },
    /// Every batch was checked once.
    Polled {
        /// Their states.
        states: &'a [BatchState],
        /// When the next check comes, while watching.
        next: Option<Duration>,
    },
    /// A result file was downloaded.
    Downloaded {
        /// The file id.
        file_id: &'a str,
        /// Lines in it.
        lines: u64,
    },
}

/// Receives progress events. The default does nothing.
pub trait Reporter: Send + Sync {
    /// One event.
    fn event(&self, event: &Event<'_>) {
        let _ = event;
    }
}

/// Reports nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct Quiet;

impl Reporter for Quiet {}
