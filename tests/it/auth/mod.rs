//! Authentication and authorisation (SPEC §5): required mode, credentials,
//! the permission matrix, guardians, invitations, event isolation between
//! orgs, and secrets kept out of the logs.

mod credentials;
mod guardians;
mod hardening;
mod invitations;
mod isolation;
mod limits;
mod logs;
mod matrix;
mod required_mode;
mod sessions;
mod sockets;
