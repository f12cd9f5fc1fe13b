//! `match` against the simulator: links by name, leaves ambiguity and incomplete experiments
//! alone, and writes nothing in a dry run.

use api_sim::SimConfig;
use braintrust::event::event_id;
use braintrust::matching::{Rule, link, match_runs};
use registry::Status;
use serde_json::json;

use crate::support::{self, catalog, client, fixture_rows, json_ok, sim};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_are_linked_by_name_and_doubtful_ones_are_reported() {
    let server = sim(SimConfig::default());
    let project = support::Project::new();
    let rows = fixture_rows("m12_results.csv");
    let by_name = project.register("m12", "2026-01-16T08:00:00", &rows);
    let partial = project.register("m12", "2026-01-16T09:00:00", &rows);
    let two_legacy = project.register("m12", "2026-01-16T10:00:00", &rows);
    let nothing = project.register("m12", "2026-01-16T11:00:00", &rows);
    let client = client(&server, 0);
    let pid = client.project().await.unwrap().id;
    let create = |name: &str, metadata: serde_json::Value| {
        let body = json!({"project_id": pid, "name": name, "metadata": metadata});
        let server = &server;
        async move { json_ok(server, "POST", "/v1/experiment", Some(&body)).await }
    };
    // Uploaded by the earlier tool under the conventional name.
    create(
        "root_m12_HardConstraintViolationCheck_20260116_080000",
        json!({"module": "m12"}),
    )
    .await;
    // Our own upload of `partial`, cut off after five rows.
    let ours = create(
        "root_m12_HardConstraintViolationCheck_20260116_090000",
        json!({"local_id": partial.local_id}),
    )
    .await;
    let events: Vec<_> = rows[..5]
        .iter()
        .map(|r| json!({"id": event_id(&partial.local_id, &r.record_id)}))
        .collect();
    json_ok(
        &server,
        "POST",
        &format!("/v1/experiment/{}/insert", ours["id"].as_str().unwrap()),
        Some(&json!({ "events": events })),
    )
    .await;
    // The earlier tool's sync naming, twice.
    for stamp in ["20260117_080000", "20260118_080000"] {
        create(
            &format!("root_m12_{}_{stamp}", two_legacy.local_id),
            json!({}),
        )
        .await;
    }

    let registry = project.registry();
    let catalog = catalog();
    let dry = match_runs(&client, &registry, &catalog, true)
        .await
        .unwrap();
    assert!(dry.dry_run);
    assert_eq!((dry.experiments, dry.runs), (4, 4));
    assert_eq!(dry.linked.len(), 1);
    assert_eq!(dry.linked[0].local_id, by_name.local_id);
    assert_eq!(dry.linked[0].rule, Rule::Name);
    assert_eq!(dry.linked[0].url, None);
    assert_eq!(dry.incomplete.len(), 1);
    assert_eq!(
        (
            dry.incomplete[0].local_id.as_str(),
            dry.incomplete[0].found,
            dry.incomplete[0].expected
        ),
        (partial.local_id.as_str(), 5, 12)
    );
    assert_eq!(dry.ambiguous.len(), 1);
    assert_eq!(dry.ambiguous[0].local_id, two_legacy.local_id);
    assert_eq!(dry.ambiguous[0].candidates.len(), 2);
    assert_eq!(dry.unmatched.len(), 1);
    assert_eq!(dry.unmatched[0].local_id, nothing.local_id);
    assert!(
        registry
            .load()
            .unwrap()
            .entries()
            .all(|e| e.status == Status::LocalOnly),
        "a dry run writes nothing"
    );

    let done = match_runs(&client, &registry, &catalog, false)
        .await
        .unwrap();
    assert_eq!(done.linked.len(), 1);
    let saved = registry.load().unwrap();
    let linked = saved.get(&by_name.local_id).unwrap();
    assert_eq!(linked.status, Status::Uploaded);
    assert_eq!(linked.braintrust_url, done.linked[0].url);
    assert!(
        linked
            .braintrust_url
            .as_deref()
            .unwrap()
            .ends_with("/experiments/root_m12_HardConstraintViolationCheck_20260116_080000")
    );
    for other in [&partial, &two_legacy, &nothing] {
        assert_eq!(
            saved.get(&other.local_id).unwrap().status,
            Status::LocalOnly
        );
    }
    // Matching again finds the link already made and proposes nothing new for it.
    let again = match_runs(&client, &registry, &catalog, true)
        .await
        .unwrap();
    assert!(again.linked.is_empty());
    assert_eq!(again.runs, 3);

    // The ambiguous run is settled by hand; its experiment cannot then go to another run.
    let chosen = format!("root_m12_{}_20260118_080000", two_legacy.local_id);
    let made = link(&client, &registry, &two_legacy.local_id, &chosen)
        .await
        .unwrap();
    assert_eq!(
        (made.rule, made.experiment.name.as_str()),
        (Rule::ByHand, chosen.as_str())
    );
    let saved = registry.load().unwrap();
    let entry = saved.get(&two_legacy.local_id).unwrap();
    assert_eq!(entry.status, Status::Uploaded);
    assert_eq!(entry.braintrust_url, made.url);
    let err = link(&client, &registry, &nothing.local_id, &chosen)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "experiment `{chosen}` is already linked to run `{}`",
            two_legacy.local_id
        )
    );
}
