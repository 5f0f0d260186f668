//! The shared vocabulary of every stage: what a log holds ([`schema`]), what
//! validation keeps and drops ([`readings`]), what a run's statistics are
//! ([`run_stats`]), the choices a harvest records ([`options`]), the labels a file
//! carries ([`labels`]), where its outputs go ([`layout`]) and the report that
//! describes them ([`report`]).
//!
//! Takes nothing from the rest of the crate but [`crate::time`]; every stage, the
//! catalog and `view` speak these types, so none of them imports another for a type.

pub mod labels;
pub mod layout;
pub mod options;
pub mod readings;
pub mod report;
pub mod run_stats;
pub mod schema;
