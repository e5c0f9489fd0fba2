//! The `/ws` event WebSocket (SPEC §7): the protocol, the event shape,
//! every subscription filter, several subscriptions on one connection, and
//! replay with `after`.

mod filters;
mod protocol;
mod replay;
mod shape;
mod subscriptions;
