//! One module per binary.

pub mod analyze_results;
pub mod api_sim;
pub mod batch;
pub mod calculate_agreement;
pub mod experiment_registry;
pub mod generate_annotation_csv;
pub mod import_data;
pub mod merge_annotations;
pub mod optimize_prompt;
pub mod orchestrator;
pub mod simulate_annotators;
pub mod sync_braintrust;
