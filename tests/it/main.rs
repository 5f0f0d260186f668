//! The integration tests, one crate with a module per area. They run the real
//! `harvest` and `view` binaries (`CARGO_BIN_EXE_*`) and the library, on logs built
//! in memory or by `harvester_generator`:
//!
//! * [`analytic`]: logs whose every statistic is known exactly, with both alignments;
//! * [`browser`]: the HTML page in headless Chromium, and `view --plot`;
//! * [`catalog`]: exactly-once with racing and killed workers, on PostgreSQL and SQLite;
//! * [`cli`]: exit codes, one-line errors, directory mode, crashes and a full disk;
//! * [`copies`]: a run in several files counts once: copies give way, rotated parts stay;
//! * [`corpus`]: every kind of bad input, kept or rejected as documented;
//! * [`db_outage`]: the catalog's database stopped or restarted mid-harvest;
//! * [`encoding`]: `--encoding split` read back value for value by DuckDB, polars and `view`;
//! * [`fleet`]: cells and labels, the dataset read back by DuckDB and polars, fleet views;
//! * [`fleet_view`]: `view --fleet` per cell and day, `view --jobs`, the fleet gauges' queries;
//! * [`fuzz`]: property tests of loading, validation and the whole pipeline;
//! * [`jobs`]: job records: states, heartbeats, pruning, redacted arguments, job ids;
//! * [`labels`]: labels follow the source: kept without `--label`, relabelled, moved;
//! * [`metrics`]: `--metrics` scraped by a real Prometheus, probes, `promtool`, alerting rules;
//! * [`readings`]: conflicting duplicates, spikes and slow logs: the reading the robot made;
//! * [`sources`]: a path holds one current content: edits, re-exports, copies, renames;
//! * [`s3`]: inputs and outputs in an S3 bucket on a local server, exactly once across workers;
//! * [`realistic`]: production-sized generated logs, every row accounted for;
//! * [`repair`]: deleted outputs rebuilt by a rescan, or recorded as missing;
//! * [`security`]: nothing written outside `--out`, no leaked password, safe SQL;
//! * [`triggering`]: watch mode, files copied in slowly, several watchers;
//! * [`view`]: the `view` binary, with insta snapshots in `tests/it/snapshots/`.
//!
//! [`util`] holds the shared helpers. Tests needing PostgreSQL use
//! `HARVESTER_TEST_PG_URL` (`scripts/ensure-postgres.sh` provides one). Run one area
//! by its module path:
//!
//! ```sh
//! cargo test --test it view::
//! cargo test --test it corpus::truncated   # tests whose path contains this
//! ```

#[macro_use]
mod util;

mod analytic;
mod browser;
mod catalog;
mod cli;
mod copies;
mod corpus;
mod db_outage;
mod encoding;
mod fleet;
mod fleet_view;
mod fuzz;
mod jobs;
mod labels;
mod metrics;
mod readings;
mod realistic;
mod repair;
mod s3;
mod security;
mod sources;
mod triggering;
mod view;
