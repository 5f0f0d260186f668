//! Liveness and readiness, as a probe asks them.
//!
//! Alive: the job's loop makes progress. A pass that ends, a file that ends or a
//! claim renewed counts as progress; a process that has done none of these for
//! three times the longer of its poll interval and its renewal interval (a third
//! of the lease) is stalled: a probe restarts it. A harvest of a large file renews
//! its claim while it runs, so it never looks stalled.
//!
//! Ready: the catalog answered and the last listing of the inputs succeeded, as
//! the loop's own last pass found them (a probe never starts a listing or a query).

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What the process last knew of its liveness and readiness.
#[derive(Debug)]
pub struct Health {
    stall_after: Duration,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    progressed: Instant,
    catalog: Result<(), String>,
    listing: Result<(), String>,
}

impl Health {
    /// A process that lists every `poll` and holds claims for `lease`.
    pub fn new(poll: Duration, lease: Duration) -> Health {
        Health {
            stall_after: stall_after(poll, lease),
            state: Mutex::new(State {
                progressed: Instant::now(),
                catalog: Err("the catalog is not open yet".into()),
                listing: Err("the inputs are not listed yet".into()),
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is plain data: a panic elsewhere cannot leave it half-written.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A pass, a file or a claim renewal ended: the loop is alive.
    pub fn progressed(&self) {
        self.state().progressed = Instant::now();
    }

    /// Whether the catalog answered its last statement, and if not, why.
    pub fn catalog(&self, answered: Result<(), String>) {
        self.state().catalog = answered;
    }

    /// Whether the last listing of the inputs succeeded, and if not, why.
    pub fn listing(&self, listed: Result<(), String>) {
        self.state().listing = listed;
    }

    /// `Ok` while the loop makes progress; else since when it has not.
    pub fn live(&self) -> Result<(), String> {
        let silent = self.state().progressed.elapsed();
        if silent > self.stall_after {
            return Err(format!(
                "stalled: no pass ended and no claim was renewed for {:.0} s (limit {:.0} s)",
                silent.as_secs_f64(),
                self.stall_after.as_secs_f64()
            ));
        }
        Ok(())
    }

    /// `Ok` when the catalog answered and the inputs were listed; else the first
    /// reason why not, in one line.
    pub fn ready(&self) -> Result<(), String> {
        let state = self.state();
        state
            .catalog
            .clone()
            .map_err(|e| format!("catalog: {e}"))
            .and(state.listing.clone().map_err(|e| format!("listing: {e}")))
            .map_err(|e| crate::error::one_line(&e))
    }
}

/// Three times the longer of the poll interval and the renewal interval.
fn stall_after(poll: Duration, lease: Duration) -> Duration {
    poll.max(lease / 3) * 3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_is_stalled_after_three_polls_or_three_renewals() {
        let poll = Duration::from_millis(500);
        assert_eq!(
            stall_after(poll, Duration::from_secs(600)),
            Duration::from_secs(600)
        );
        assert_eq!(
            stall_after(poll, Duration::from_secs(1)),
            Duration::from_millis(1500)
        );
        let health = Health::new(Duration::from_millis(10), Duration::from_millis(30));
        assert!(health.live().is_ok());
        std::thread::sleep(Duration::from_millis(40));
        let stalled = health.live().unwrap_err();
        assert!(stalled.starts_with("stalled"), "{stalled}");
        health.progressed();
        assert!(health.live().is_ok());
    }

    #[test]
    fn ready_once_the_catalog_answered_and_the_inputs_were_listed() {
        let health = Health::new(Duration::from_secs(1), Duration::from_secs(600));
        assert!(health.ready().unwrap_err().starts_with("catalog:"));
        health.catalog(Ok(()));
        assert!(health.ready().unwrap_err().starts_with("listing:"));
        health.listing(Ok(()));
        assert_eq!(health.ready(), Ok(()));
        health.catalog(Err("connection refused\n(os error 111)".into()));
        let reason = health.ready().unwrap_err();
        assert!(!reason.contains('\n'), "{reason}");
        assert!(
            reason.starts_with("catalog: connection refused"),
            "{reason}"
        );
    }
}
