//! Whether the catalog answers: what a readiness probe reports, asked by the job's
//! own loop rather than by each probe.

use crate::error::CatalogError;

use super::Catalog;

impl Catalog {
    /// One round trip to the database: `Ok` when it answers.
    pub async fn ping(&self) -> Result<(), CatalogError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(self.err())
    }
}
