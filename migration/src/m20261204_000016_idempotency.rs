//! Idempotency keys (`Idempotency-Key`): one row per key a caller sent with
//! a write, holding a fingerprint of the request and the answer it got. The
//! row is inserted first in the write's own transaction and filled in before
//! it commits, so a key is never stored without its write, nor the write
//! without its key. Rows older than a day are pruned by the retention job.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("idempotency_keys")
                    .if_not_exists()
                    .col(big_pk_auto("id"))
                    .col(string("caller"))
                    .col(string("idem_key"))
                    .col(string("fingerprint"))
                    .col(text_null("answer"))
                    .col(timestamp_with_time_zone("created_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_idempotency_keys_caller_key")
                    .table("idempotency_keys")
                    .col("caller")
                    .col("idem_key")
                    .unique()
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_idempotency_keys_created_at")
                    .table("idempotency_keys")
                    .col("created_at")
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table("idempotency_keys")
                    .if_exists()
                    .to_owned(),
            )
            .await
    }
}
