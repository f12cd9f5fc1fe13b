//! Building datasets for the modules: tables (CSV/TSV in any delimiter, XLSX/ODS) imported
//! into a module's dataset shape `{id, input, expected, metadata}` with the module's id scheme
//! and label rules ([`import`]), Keepa product exports turned into synthetic groups per
//! product type ([`keepa`]), chained datasets filled from an earlier run's answers and silver
//! datasets that take a run's answers as expected ([`runs`]). Every dataset is checked as `orchestrator
//! validate` checks one before it is written, atomically ([`mod@write`]).
//!
//! It must not depend on HTTP, the model client, Braintrust or terminal output; it reads runs
//! through the registry and writes only through `core_config`'s atomic writes.
#![deny(clippy::print_stdout, clippy::print_stderr)]

mod error;
pub mod import;
pub mod keepa;
pub mod runs;
pub mod table;
pub mod text;
pub mod write;

pub use error::{Error, Result};
pub use import::{ColumnMap, Shape, import_table};
pub use runs::{Built, chain, silver};
pub use table::{Row, Table, read_table};
pub use write::{Written, to_jsonl, validate, write_dataset};
