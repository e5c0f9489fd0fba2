//! Outbound: webhooks (signed, retried deliveries written as an outbox), the
//! dispatch cursor that turns events of the log into deliveries, and the
//! audit log of every org.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Partial and composite indexes, the same SQL on both backends.
const INDEXES: &[&str] = &[
    "CREATE INDEX ix_webhooks_org ON webhooks (org_id, id)",
    // The delivery worker's queue: only pending rows, by when they are due.
    "CREATE INDEX ix_webhook_deliveries_due ON webhook_deliveries (next_attempt_at, id) \
     WHERE status = 'pending'",
    "CREATE INDEX ix_webhook_deliveries_webhook ON webhook_deliveries (webhook_id, id)",
    "CREATE INDEX ix_webhook_deliveries_created ON webhook_deliveries (created_at)",
    "CREATE INDEX ix_audit_log_org ON audit_log (org_id, id)",
    "CREATE INDEX ix_audit_log_created ON audit_log (created_at)",
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// One transaction, so SQLite's DDL runs on one connection.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("webhooks")
                    .col(big_pk_auto("id"))
                    .col(integer("org_id"))
                    .col(text("url"))
                    // JSON arrays: event names (or "*"), project slugs (NULL: all).
                    .col(text("events"))
                    .col(text_null("projects"))
                    .col(text_null("description"))
                    .col(boolean("active").default(true))
                    // The signing key must be read to sign: it is stored as
                    // issued (`whsec_…`) and never shown again.
                    .col(string("secret"))
                    .col(string_null("previous_secret"))
                    .col(timestamp_with_time_zone_null("previous_secret_expires_at"))
                    // Events up to this log position predate the webhook.
                    .col(big_integer("after_position").default(0))
                    // The first failed attempt since the last success.
                    .col(timestamp_with_time_zone_null("failing_since"))
                    .col(timestamp_with_time_zone_null("disabled_at"))
                    .col(string("created_by_type"))
                    .col(string("created_by_id"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_webhooks_org")
                            .from("webhooks", "org_id")
                            .to("orgs", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("webhook_deliveries")
                    .col(big_pk_auto("id"))
                    .col(big_integer("webhook_id"))
                    // The `webhook-id` header: one per event and webhook,
                    // the same on every attempt.
                    .col(string_uniq("message_id"))
                    .col(big_integer_null("event_id"))
                    .col(big_integer_null("audit_id"))
                    .col(string("event_type"))
                    // The body, frozen when the delivery is queued.
                    .col(text("payload"))
                    .col(string("status"))
                    .col(integer("attempts").default(0))
                    .col(timestamp_with_time_zone("next_attempt_at"))
                    .col(timestamp_with_time_zone_null("last_attempt_at"))
                    .col(integer_null("last_status"))
                    .col(text_null("last_error"))
                    .col(timestamp_with_time_zone("created_at"))
                    .col(timestamp_with_time_zone("updated_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_webhook_deliveries_webhook")
                            .from("webhook_deliveries", "webhook_id")
                            .to("webhooks", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("webhook_dispatch")
                    .col(integer("id").primary_key())
                    // Every event up to this position has been turned into
                    // deliveries (or matched no webhook).
                    .col(big_integer("position").default(0))
                    .check(Expr::col("id").eq(1))
                    .to_owned(),
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared(
                "INSERT INTO webhook_dispatch (id, position) \
                 SELECT 1, COALESCE(MAX(position), 0) FROM events",
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("audit_log")
                    .col(big_pk_auto("id"))
                    // No foreign key: the record of an org's deletion outlives it.
                    .col(integer("org_id"))
                    .col(string("action"))
                    .col(string("actor_type"))
                    .col(string("actor_id"))
                    .col(string_null("target_type"))
                    .col(string_null("target_id"))
                    .col(text("data"))
                    .col(string_null("request_id"))
                    .col(string_null("client_ip"))
                    .col(timestamp_with_time_zone("created_at"))
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        for sql in INDEXES {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            "audit_log",
            "webhook_dispatch",
            "webhook_deliveries",
            "webhooks",
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
