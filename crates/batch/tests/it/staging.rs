//! The hidden staging folder a batch is written into: what an interrupted generator leaves
//! behind is removed by the next one, and a generator still at work is left alone.

use std::fs::{File, OpenOptions};
use std::time::{Duration, SystemTime};

use batch::{Limits, Quiet, STAGING_PREFIX};

use crate::support::Tiny;

fn staging_folders(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(STAGING_PREFIX))
        .collect();
    names.sort();
    names
}

#[test]
fn the_next_generate_removes_what_a_killed_one_left_and_spares_a_running_one() {
    let tiny = Tiny::new(5, 10);
    let parent = tiny.root().join("batch_requests");

    // A generator killed by Ctrl-C: a staging folder, half-written, whose lock nobody holds.
    let killed = parent.join(format!("{STAGING_PREFIX}killed"));
    std::fs::create_dir_all(&killed).unwrap();
    std::fs::write(killed.join("m02_batch.jsonl"), "{\"custom_id\": \"half").unwrap();
    File::create(killed.join(".owner.lock")).unwrap();
    // A generator of an earlier version, killed long ago: no lock file, old.
    let ancient = parent.join(format!("{STAGING_PREFIX}ancient"));
    std::fs::create_dir_all(&ancient).unwrap();
    File::open(&ancient)
        .unwrap()
        .set_modified(SystemTime::now() - Duration::from_secs(3600))
        .unwrap();
    // A generator still at work: it holds its lock.
    let running = parent.join(format!("{STAGING_PREFIX}running"));
    std::fs::create_dir_all(&running).unwrap();
    let held = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(running.join(".owner.lock"))
        .unwrap();
    held.lock().unwrap();
    // One that has just been created and has no lock yet.
    let fresh = parent.join(format!("{STAGING_PREFIX}fresh"));
    std::fs::create_dir_all(&fresh).unwrap();

    let generated = batch::generate(
        &tiny.catalog(),
        None,
        &tiny.options(Limits::default()),
        &Quiet,
    )
    .unwrap();
    assert_eq!(generated.leftovers_removed, 2);
    assert_eq!(
        staging_folders(&parent),
        [
            format!("{STAGING_PREFIX}fresh"),
            format!("{STAGING_PREFIX}running")
        ]
    );
    // The batch folder itself carries no lock file.
    assert!(generated.dir.join("manifest.json").is_file());
    assert!(!generated.dir.join(".owner.lock").exists());

    // Once the other generator is gone, its folder goes too.
    drop(held);
    let again = batch::generate(
        &tiny.catalog(),
        None,
        &tiny.options(Limits::default()),
        &Quiet,
    )
    .unwrap();
    assert_eq!(again.leftovers_removed, 1);
    assert_eq!(staging_folders(&parent), [format!("{STAGING_PREFIX}fresh")]);
}
