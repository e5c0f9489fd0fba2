//! Retention of the event log: one row, `log_retention`, that says how far
//! the front of the log has been pruned. Every event with a position up to
//! `pruned_through` is gone (and the log holds every committed event after
//! it), so a cursor before it can be told it expired even when the events
//! table is empty. The pruner moves it forward in the transaction that
//! deletes the events.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("log_retention")
                    .if_not_exists()
                    .col(integer("id").primary_key())
                    .col(big_integer("pruned_through").default(0))
                    .col(timestamp_with_time_zone_null("pruned_at"))
                    .check(Expr::col("id").eq(1))
                    .to_owned(),
            )
            .await?;
        manager
            .exec_stmt(
                Query::insert()
                    .into_table("log_retention")
                    .columns(["id", "pruned_through"])
                    .values_panic([1.into(), 0i64.into()])
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table("log_retention").if_exists().to_owned())
            .await
    }
}
