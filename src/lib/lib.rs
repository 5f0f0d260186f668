//! harvester: turns robot machine logs into clean, analysis-ready datasets, exactly
//! once per file.
//!
//! The modules, from the top of the import graph down (each imports only those
//! below it):
//!
//! * [`jobs`]: one file, a list, or a watched directory: which files to take, and
//!   the catalog's exactly-once protocol around each harvest; [`view`] reads what
//!   was harvested.
//! * [`pipeline`]: the harvest of one file: load → validate → runs → align and
//!   features → stats → report → store.
//! * [`catalog`]: which contents were harvested, by whom, with what result.
//! * foundations: [`storage`] (the file system behind inputs and outputs),
//!   [`model`] (the log's schema, readings, run statistics, report and layout),
//!   [`metrics`] (counters, health and their HTTP endpoints), [`error`], [`time`], [`parallel`], [`host`], [`logging`], [`cli`] (what both
//!   binaries share) and [`build`] (the version and commit built).

pub mod build;
pub mod catalog;
pub mod cli;
pub mod error;
pub mod host;
pub mod jobs;
pub mod logging;
pub mod metrics;
pub mod model;
pub mod parallel;
pub mod pipeline;
pub mod storage;
pub mod text;
pub mod time;
pub mod view;
