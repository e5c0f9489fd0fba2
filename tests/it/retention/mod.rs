//! Retention (issue 16): the background job prunes events older than
//! `ATS_RETAIN_EVENTS` from the front of the log, finished tasks after
//! `ATS_RETAIN_FINISHED_TASKS`, and expired one-time tokens, in batches of
//! `ATS_RETENTION_BATCH`; a cursor before the retained log is refused with
//! `CURSOR_EXPIRED` on every surface. The tests age rows in the database
//! directly (`common::sql`) and let a job running every 50 ms find them
//! (`common::retention`).

mod events;
mod replay;
mod rows;
mod tasks;
