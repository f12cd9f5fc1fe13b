//! CLI tests: run the real binaries in temporary project copies and snapshot their output.
#![allow(
    unreachable_pub,
    reason = "test helpers are shared between test modules"
)]

mod support;

mod analyze_results;
mod analyze_results_report;
mod annotation_roundtrip;
mod annotation_xlsx;
mod api_sim;
mod batch;
mod calculate_agreement;
mod conventions;
mod experiment_registry;
mod generate_annotation_csv;
mod import_data;
mod judge;
mod merge_annotations;
mod optimize_prompt;
mod orchestrator;
mod orchestrator_run;
mod reliability;
mod sync_braintrust;
