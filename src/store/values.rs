//! Named values shared between the node and its commands (for instance the request id of
//! the latest `/subscribe`, which the site-verification page signs).

use super::{now_ms, on_reader, on_writer, Store, StoreError};

impl Store {
    pub async fn set_value(&self, name: &str, value: &str) -> Result<(), StoreError> {
        on_writer!(self, pool => {
            sqlx::query(
                "INSERT INTO node_values (name, value, updated_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            )
            .bind(name)
            .bind(value)
            .bind(now_ms())
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    pub async fn value(&self, name: &str) -> Result<Option<String>, StoreError> {
        let value = on_reader!(self, pool => {
            sqlx::query_scalar("SELECT value FROM node_values WHERE name = $1").bind(name).fetch_optional(pool).await?
        });
        Ok(value)
    }
}
