//! The git state of the project (commit, branch, tag, uncommitted changes, last commit), for
//! records of where a run came from. Read by running `git`; absent when the project is not a
//! git checkout or git is not installed.

use std::path::Path;
use std::process::{Command, Stdio};

/// What `git` says about the checkout. Every field is `None` when git could not tell.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GitState {
    /// Commit SHA of `HEAD`.
    pub commit: Option<String>,
    /// Branch name (not set on a detached `HEAD`).
    pub branch: Option<String>,
    /// A tag on the commit.
    pub tag: Option<String>,
    /// Whether tracked files have uncommitted changes.
    pub dirty: Option<bool>,
    /// Author of the last commit.
    pub author_name: Option<String>,
    /// Their email.
    pub author_email: Option<String>,
    /// Commit time (ISO 8601).
    pub commit_time: Option<String>,
    /// First line of the commit message.
    pub commit_message: Option<String>,
}

/// The git state of the checkout holding `root`, or `None` when it is not one.
#[must_use]
pub fn git_state(root: &Path) -> Option<GitState> {
    let git = |args: &[&str]| -> Option<String> {
        let output = Command::new("git")
            .arg("-C")
            .arg(root)
            .args(args)
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .ok()?;
        output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
    };
    if git(&["rev-parse", "--is-inside-work-tree"])? != "true" {
        return None;
    }
    let log = git(&["log", "-1", "--format=%an%x00%ae%x00%cI%x00%s"]).unwrap_or_default();
    let mut fields = log
        .split('\0')
        .map(|s| (!s.is_empty()).then(|| s.to_owned()));
    let mut next = || fields.next().flatten();
    Some(GitState {
        commit: git(&["rev-parse", "HEAD"]),
        branch: git(&["rev-parse", "--abbrev-ref", "HEAD"]).filter(|b| b != "HEAD"),
        tag: git(&["describe", "--tags", "--exact-match"]),
        dirty: git(&["status", "--porcelain", "--untracked-files=no"]).map(|s| !s.is_empty()),
        author_name: next(),
        author_email: next(),
        commit_time: next(),
        commit_message: next(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_state_is_read_from_a_checkout_and_absent_elsewhere() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(git_state(dir.path()), None);
        let git = |args: &[&str]| {
            let ok = Command::new("git")
                .arg("-C")
                .arg(dir.path())
                .args([
                    "-c",
                    "user.name=Ann Otator",
                    "-c",
                    "user.email=ann@example.com",
                ])
                .args(args)
                .output()
                .unwrap()
                .status
                .success();
            assert!(ok, "git {args:?}");
        };
        git(&["init", "-q", "-b", "main"]);
        std::fs::write(dir.path().join("modules.toml"), "version = 1\n").unwrap();
        git(&["add", "modules.toml"]);
        git(&["commit", "-q", "-m", "First commit"]);
        git(&["tag", "v1"]);
        let info = git_state(dir.path()).unwrap();
        assert_eq!(info.commit.as_deref().map(str::len), Some(40));
        assert_eq!(info.branch.as_deref(), Some("main"));
        assert_eq!(info.tag.as_deref(), Some("v1"));
        assert_eq!(info.dirty, Some(false));
        assert_eq!(info.author_name.as_deref(), Some("Ann Otator"));
        assert_eq!(info.author_email.as_deref(), Some("ann@example.com"));
        assert_eq!(info.commit_message.as_deref(), Some("First commit"));
        assert!(info.commit_time.is_some());
        std::fs::write(dir.path().join("modules.toml"), "version = 2\n").unwrap();
        assert_eq!(git_state(dir.path()).unwrap().dirty, Some(true));
    }
}
