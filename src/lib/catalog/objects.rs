//! Claims on the objects of an object store, taken before an object is fetched:
//! the content hash that keys everything else is known only once its bytes are
//! downloaded, so without these N workers listing one prefix would each download
//! every object before finding it claimed.

use std::time::Duration;

use sqlx::any::{Any, AnyArguments};
use sqlx::query::Query;
use sqlx::Row;

use super::{dead_holder, now, now_plus, Catalog, Holder};
use crate::error::CatalogError;

/// What a worker may do with a listed object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectClaim {
    /// Fetch it: this worker holds the claim until it records the content.
    Acquired,
    /// Another live worker is fetching it.
    HeldElsewhere { holder: Holder },
    /// It was fetched before and held this content, whose state the content's own
    /// claim tells.
    Fetched { content_hash: String },
}

impl Catalog {
    /// Claims the object at `url` with `etag` for `lease`. A claim held by a dead
    /// process on this host, or expired, is taken over.
    pub async fn claim_object(
        &self,
        url: &str,
        etag: &str,
        lease: Duration,
    ) -> Result<ObjectClaim, CatalogError> {
        let host = crate::host::hostname();
        let pid = std::process::id() as i64;
        let held = sqlx::query(
            "SELECT claimed_by_host, claimed_by_pid FROM object_claims
             WHERE url = $1 AND etag = $2 AND content_hash IS NULL",
        )
        .bind(url)
        .bind(etag)
        .fetch_optional(&self.pool)
        .await
        .map_err(self.err())?;
        let dead_pid = dead_holder(held, &host);
        // The row may change between the upsert and the look that follows (its holder
        // gives it up): claim again then.
        for _ in 0..3 {
            let acquired = sqlx::query(
                "INSERT INTO object_claims (url, etag, content_hash, claimed_by_host, claimed_by_pid, claim_expires_at)
                 VALUES ($1, $2, NULL, $3, $4, $5)
                 ON CONFLICT (url, etag) DO UPDATE SET
                     claimed_by_host = excluded.claimed_by_host, claimed_by_pid = excluded.claimed_by_pid,
                     claim_expires_at = excluded.claim_expires_at
                 WHERE object_claims.content_hash IS NULL
                   AND (object_claims.claim_expires_at < $6
                        OR (object_claims.claimed_by_host = $3
                            AND object_claims.claimed_by_pid IN ($4, $7)))
                 RETURNING claimed_by_pid",
            )
            .bind(url)
            .bind(etag)
            .bind(&host)
            .bind(pid)
            .bind(now_plus(lease))
            .bind(now())
            .bind(dead_pid)
            .fetch_optional(&self.pool)
            .await
            .map_err(self.err())?;
            if acquired.is_some() {
                return Ok(ObjectClaim::Acquired);
            }
            let row = sqlx::query(
                "SELECT content_hash, claimed_by_host, claimed_by_pid FROM object_claims
                 WHERE url = $1 AND etag = $2",
            )
            .bind(url)
            .bind(etag)
            .fetch_optional(&self.pool)
            .await
            .map_err(self.err())?;
            if let Some(row) = row {
                let content_hash: Option<String> =
                    row.try_get("content_hash").map_err(self.err())?;
                return Ok(match content_hash {
                    Some(content_hash) => ObjectClaim::Fetched { content_hash },
                    None => ObjectClaim::HeldElsewhere {
                        holder: Holder {
                            host: row.try_get("claimed_by_host").map_err(self.err())?,
                            pid: row.try_get("claimed_by_pid").map_err(self.err())?,
                        },
                    },
                });
            }
        }
        Err(CatalogError::Refused {
            location: self.location.clone(),
            reason: format!("the claim on {url} kept changing hands"),
        })
    }

    /// Records what an object held (when this worker fetched it, or found it changed
    /// after an earlier fetch); a claim this worker holds on it ends.
    pub async fn object_fetched(
        &self,
        url: &str,
        etag: &str,
        content_hash: &str,
    ) -> Result<(), CatalogError> {
        let query = sqlx::query(
            "UPDATE object_claims SET content_hash = $5
             WHERE url = $1 AND etag = $2
               AND (content_hash IS NOT NULL OR (claimed_by_host = $3 AND claimed_by_pid = $4))",
        );
        this_worker(query, url, etag)
            .bind(content_hash)
            .execute(&self.pool)
            .await
            .map_err(self.err())?;
        Ok(())
    }

    /// Gives up this worker's claim on an object that could not be fetched, so any
    /// worker may try again.
    pub async fn release_object(&self, url: &str, etag: &str) -> Result<(), CatalogError> {
        let query = sqlx::query(
            "DELETE FROM object_claims
             WHERE url = $1 AND etag = $2 AND content_hash IS NULL
               AND claimed_by_host = $3 AND claimed_by_pid = $4",
        );
        this_worker(query, url, etag)
            .execute(&self.pool)
            .await
            .map_err(self.err())?;
        Ok(())
    }
}

/// Binds an object's claim by this worker: `$1` the URL, `$2` the ETag, `$3` this
/// host and `$4` this process.
fn this_worker<'q>(
    query: Query<'q, Any, AnyArguments<'q>>,
    url: &'q str,
    etag: &'q str,
) -> Query<'q, Any, AnyArguments<'q>> {
    query
        .bind(url)
        .bind(etag)
        .bind(crate::host::hostname())
        .bind(std::process::id() as i64)
}
