//! A claim kept while its worker works, and given up the moment the catalog says
//! another worker has taken it over (this one was stopped, or cut off from the
//! catalog, for longer than the lease).
//!
//! The claim is renewed every third of the lease while work runs, and once more
//! right before each step that cannot be undone (moving outputs into place,
//! uploading them), so that such a step starts with a whole lease ahead of it. A
//! worker that finds its claim taken over writes nothing more: its uploads stop,
//! multipart ones are aborted, and what it made is dropped.

use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;

use crate::catalog::{Catalog, Claim};
use crate::metrics::Health;
use crate::storage::remote::Stop;

/// Another worker holds the claim now, or has harvested the content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Lost;

/// A held claim and its renewals.
pub(super) struct Lease<'a> {
    catalog: &'a Catalog,
    claim: &'a Claim,
    duration: Duration,
    lost: watch::Sender<bool>,
    /// Renewals are the progress of a long harvest.
    health: &'a Health,
}

impl<'a> Lease<'a> {
    pub(super) fn new(
        catalog: &'a Catalog,
        claim: &'a Claim,
        duration: Duration,
        health: &'a Health,
    ) -> Lease<'a> {
        Lease {
            catalog,
            claim,
            duration,
            lost: watch::Sender::new(false),
            health,
        }
    }

    /// What work that can stop early (an upload) watches: true once the claim is lost.
    pub(super) fn stop(&self) -> Stop {
        self.lost.subscribe()
    }

    /// Runs `work` to its end while renewing the claim every third of the lease. A
    /// renewal that finds the claim taken over ends the renewals and tells the work
    /// to stop; what the work gives is then dropped. Work that cannot stop early
    /// (a harvest on a blocking thread) still runs to its end, so that it has
    /// cleaned up after itself when this returns. A renewal that fails (the catalog
    /// unreachable) is only a warning: the claim may still outlast the work.
    pub(super) async fn hold<T>(&self, work: impl Future<Output = T>) -> Result<T, Lost> {
        tokio::pin!(work);
        let mut heartbeat = tokio::time::interval(self.duration / 3);
        heartbeat.tick().await;
        loop {
            tokio::select! {
                // Renewals first: a worker resumed after a long stop finds its claim
                // lost before its work takes another step; the work waits meanwhile.
                biased;
                _ = heartbeat.tick() => {
                    if self.confirm().await.is_err() {
                        let _ = (&mut work).await;
                        return Err(Lost);
                    }
                }
                done = &mut work => return Ok(done),
            }
        }
    }

    /// Renews the claim now; `Err(Lost)` (and the work told to stop) if it is no
    /// longer this worker's. A renewal that fails is only a warning, as in
    /// [`Lease::hold`]: the completion checks the claim again.
    pub(super) async fn confirm(&self) -> Result<(), Lost> {
        match self.catalog.renew(self.claim, self.duration).await {
            Ok(true) => {
                self.health.progressed();
                Ok(())
            }
            Ok(false) => {
                self.lost.send_replace(true);
                Err(Lost)
            }
            Err(e) => {
                tracing::warn!(content_hash = self.claim.content_hash, error = %e, "could not renew the claim");
                Ok(())
            }
        }
    }
}
