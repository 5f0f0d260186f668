//! harvester: turns robot machine logs into clean, analysis-ready datasets, exactly
//! once per file.
//!
//! The pipeline, one module per stage: [`load`] → [`validate`] → [`runs`] (split,
//! [`align`], [`features`]) → [`stats`] → [`store`] → [`catalog`]; [`pipeline`] runs it
//! for one file and [`job`] wraps it in the catalog's exactly-once protocol.

pub mod align;
pub mod catalog;
pub mod error;
pub mod features;
pub mod generator;
pub mod job;
pub mod load;
pub mod logging;
pub mod pipeline;
pub mod process;
pub mod report;
pub mod runs;
pub mod schema;
pub mod stats;
pub mod store;
pub mod timestamp;
pub mod validate;
pub mod view;
pub mod watch;
