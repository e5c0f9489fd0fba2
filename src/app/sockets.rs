//! What every WebSocket (`/ws` and `/graphql/ws`) shares: the caps on how
//! many may be open at once, per client address and in total, and small
//! per-socket buffers with a bound on what a client may send.
//!
//! A socket holds a [`SocketSlot`] from its upgrade until it ends; the slot
//! is given back when it is dropped, so however the socket's task ends
//! (closed, failed, panicked, aborted at shutdown) the count stays exact.
//! A socket over a cap is accepted and closed at once with 1013 (try again
//! later) and a reason naming the cap: a browser sees the close code and
//! reason, which it never sees of an HTTP refusal of the upgrade.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade, close_code};
use axum::response::Response;
use futures_util::{SinkExt, StreamExt};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;

/// Bytes a socket reads from the network at a time. Tungstenite's default
/// (128 KiB, zero-filled on the first read) made an idle socket cost about
/// 140 KB; a message larger than this is read in several steps.
const READ_BUFFER: usize = 2 * 1024;

/// The largest message `/graphql/ws` takes before `connection_init` has
/// succeeded (a `connection_init` is a few hundred bytes).
pub const MAX_INIT_MESSAGE: usize = 16 * 1024;

/// How long a socket the server closes waits for the client's close reply.
pub const CLOSE_LINGER: Duration = Duration::from_secs(1);

/// The close reason (with 1001, going away) every WebSocket gets when the
/// server shuts down.
pub const SHUTDOWN_REASON: &str = "server shutting down";

/// After the server sent a close frame: reads (and drops) what the client
/// still sends until its close reply or the end of the stream, for at most
/// a second. Closing the TCP connection with the client's messages unread
/// would reset it, and a reset can discard the close frame before the
/// client reads it.
pub async fn await_close_reply<S>(stream: &mut S)
where
    S: futures_util::Stream<Item = Result<Message, axum::Error>> + Unpin,
{
    let _ = tokio::time::timeout(CLOSE_LINGER, async {
        while let Some(Ok(msg)) = stream.next().await {
            if matches!(msg, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
}

/// Applies the shared WebSocket settings: small read buffer, every message
/// written at once (no write buffering), and at most `max_message` bytes per
/// message and per frame from the client.
pub fn configure(upgrade: WebSocketUpgrade, max_message: usize) -> WebSocketUpgrade {
    upgrade
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(0)
        .max_message_size(max_message)
        .max_frame_size(max_message)
}

/// Whether a read error is a client message over the size limit.
pub fn is_too_big(err: &axum::Error) -> bool {
    // tungstenite's `Error::Capacity(CapacityError::MessageTooLong { .. })`;
    // axum does not re-export tungstenite to downcast to.
    err.to_string().contains("Message too long")
}

/// The close frame for a message over `limit` bytes: 1009.
pub fn too_big_close(limit: usize, when: &str) -> (u16, String) {
    (
        close_code::SIZE,
        format!("message too big: at most {limit} bytes {when}"),
    )
}

/// The key a client's sockets are counted under: its IPv4 address (an
/// IPv4-mapped IPv6 address counts as IPv4), or the /64 of its IPv6 address
/// (one host commonly holds a whole /64).
fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// Why a socket was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SocketRefusal {
    /// The client already holds this many sockets.
    PerClient(usize),
    /// The server already holds this many sockets.
    Total(usize),
}

impl fmt::Display for SocketRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Close reasons are at most 123 bytes.
        match self {
            Self::PerClient(n) => write!(
                f,
                "too many open sockets from this address (at most {n}); close one and try again"
            ),
            Self::Total(n) => write!(
                f,
                "the server has too many open sockets (at most {n}); try again later"
            ),
        }
    }
}

#[derive(Default)]
struct Counts {
    total: usize,
    by_client: HashMap<IpAddr, usize>,
}

/// The open-socket counts and their caps.
pub struct SocketSlots {
    per_client: usize,
    total: usize,
    counts: Mutex<Counts>,
    open: Gauge,
    refused: Counter,
    /// Woken whenever the last open socket closes.
    none_open: tokio::sync::Notify,
}

/// One open socket's place in the counts, given back when dropped.
pub struct SocketSlot {
    slots: Arc<SocketSlots>,
    client: Option<IpAddr>,
}

impl SocketSlots {
    /// Caps of `per_client` sockets per client address and `total` in all
    /// (0: no cap); `open` and `refused` are the metrics kept up to date.
    pub fn new(per_client: usize, total: usize, open: Gauge, refused: Counter) -> Arc<Self> {
        Arc::new(Self {
            per_client,
            total,
            counts: Mutex::new(Counts::default()),
            open,
            refused,
            none_open: tokio::sync::Notify::new(),
        })
    }

    /// Resolves once no socket is open (at once if none is): a server
    /// shutting down waits here, within its grace period, for its sockets
    /// to have sent their close frames.
    pub async fn all_closed(&self) {
        loop {
            let notified = self.none_open.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.counts().total == 0 {
                return;
            }
            notified.await;
        }
    }

    fn counts(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A slot for a new socket from `ip` (None: address unknown, counted
    /// only in the total), or why there is none.
    pub fn admit(self: &Arc<Self>, ip: Option<IpAddr>) -> Result<SocketSlot, SocketRefusal> {
        let client = ip.map(client_key);
        let mut counts = self.counts();
        if self.total > 0 && counts.total >= self.total {
            drop(counts);
            self.refused.inc();
            return Err(SocketRefusal::Total(self.total));
        }
        if let Some(client) = client {
            let held = counts.by_client.entry(client).or_default();
            if self.per_client > 0 && *held >= self.per_client {
                drop(counts);
                self.refused.inc();
                return Err(SocketRefusal::PerClient(self.per_client));
            }
            *held += 1;
        }
        counts.total += 1;
        drop(counts);
        self.open.inc();
        Ok(SocketSlot {
            slots: self.clone(),
            client,
        })
    }

    /// Sockets open now (in total, and from `ip`).
    pub fn open(&self, ip: Option<IpAddr>) -> (usize, usize) {
        let counts = self.counts();
        let mine = ip
            .and_then(|ip| counts.by_client.get(&client_key(ip)).copied())
            .unwrap_or(0);
        (counts.total, mine)
    }
}

impl Drop for SocketSlot {
    fn drop(&mut self) {
        let mut counts = self.slots.counts();
        counts.total = counts.total.saturating_sub(1);
        if let Some(client) = self.client
            && let Some(held) = counts.by_client.get_mut(&client)
        {
            *held = held.saturating_sub(1);
            if *held == 0 {
                counts.by_client.remove(&client);
            }
        }
        let none_open = counts.total == 0;
        drop(counts);
        self.slots.open.dec();
        if none_open {
            self.slots.none_open.notify_waiters();
        }
    }
}

/// Accepts the upgrade only to close it at once with 1013 and `refusal` as
/// the reason, then waits briefly for the client's close reply (closing
/// with its messages unread would reset the connection, and the client
/// might never see the reason).
pub fn refuse(upgrade: WebSocketUpgrade, refusal: &SocketRefusal) -> Response {
    let reason = refusal.to_string();
    tracing::debug!(%reason, "refusing a WebSocket");
    configure(upgrade, 1024)
        .on_upgrade(move |socket| close_at_once(socket, close_code::AGAIN, reason))
}

async fn close_at_once(mut socket: WebSocket, code: u16, reason: String) {
    let frame = CloseFrame {
        code,
        reason: Utf8Bytes::from(reason),
    };
    if socket.send(Message::Close(Some(frame))).await.is_err() {
        return;
    }
    await_close_reply(&mut socket).await;
    let _ = socket.close().await;
}

/// A socket's helper task, aborted when this handle is dropped: it must not
/// outlive its socket, however the socket's own task ends. Awaiting it
/// gives the task's result.
pub struct OwnedTask<T>(tokio::task::JoinHandle<T>);

impl<T: Send + 'static> OwnedTask<T> {
    /// Spawns `task`.
    pub fn spawn(task: impl std::future::Future<Output = T> + Send + 'static) -> Self {
        Self(tokio::spawn(task))
    }
}

impl<T> Drop for OwnedTask<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl<T> std::future::Future for OwnedTask<T> {
    type Output = Result<T, tokio::task::JoinError>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        std::pin::Pin::new(&mut self.0).poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slots(per_client: usize, total: usize) -> Arc<SocketSlots> {
        SocketSlots::new(per_client, total, Gauge::default(), Counter::default())
    }

    #[test]
    fn caps_per_client_and_in_total_and_slots_come_back() {
        let s = slots(2, 3);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let a1 = s.admit(Some(a)).unwrap();
        let a2 = s.admit(Some(a)).unwrap();
        assert_eq!(s.admit(Some(a)).err(), Some(SocketRefusal::PerClient(2)));
        let b1 = s.admit(Some(b)).unwrap();
        assert_eq!(s.admit(Some(b)).err(), Some(SocketRefusal::Total(3)));
        assert_eq!(s.admit(None).err(), Some(SocketRefusal::Total(3)));
        drop(a1);
        assert_eq!(s.open(Some(a)), (2, 1));
        let b2 = s.admit(Some(b)).unwrap();
        drop((a2, b1, b2));
        assert_eq!(s.open(Some(a)), (0, 0));
        assert!(s.counts().by_client.is_empty());
        assert_eq!(s.open.get(), 0);
        assert_eq!(s.refused.get(), 3);
    }

    #[test]
    fn zero_means_no_cap() {
        let s = slots(0, 0);
        let held: Vec<_> = (0..1000)
            .map(|_| s.admit(Some("10.0.0.1".parse().unwrap())).unwrap())
            .collect();
        assert_eq!(s.open(None).0, 1000);
        drop(held);
        assert_eq!(s.open(None).0, 0);
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_ipv4_as_ipv4() {
        let s = slots(1, 0);
        let _x = s.admit(Some("2001:db8:1:2::1".parse().unwrap())).unwrap();
        assert!(
            s.admit(Some("2001:db8:1:2::ffff".parse().unwrap()))
                .is_err()
        );
        let _y = s.admit(Some("2001:db8:1:3::1".parse().unwrap())).unwrap();
        let _z = s.admit(Some("192.0.2.1".parse().unwrap())).unwrap();
        assert!(s.admit(Some("::ffff:192.0.2.1".parse().unwrap())).is_err());
    }

    #[test]
    fn a_slot_is_given_back_when_its_task_panics() {
        let s = slots(1, 1);
        let slot = s.admit(None).unwrap();
        let handle = std::thread::spawn(move || {
            let _slot = slot;
            panic!("the socket's task failed");
        });
        assert!(handle.join().is_err());
        assert_eq!(s.open(None).0, 0);
        assert!(s.admit(None).is_ok());
    }

    #[tokio::test]
    async fn all_closed_waits_for_the_last_socket() {
        let s = slots(0, 0);
        s.all_closed().await;
        let (a, b) = (s.admit(None).unwrap(), s.admit(None).unwrap());
        let waiting = tokio::spawn({
            let s = s.clone();
            async move { s.all_closed().await }
        });
        drop(a);
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "one socket is still open");
        drop(b);
        tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("all_closed resolves when the last socket closes")
            .unwrap();
    }

    #[test]
    fn refusal_reasons_fit_a_close_frame() {
        for r in [
            SocketRefusal::PerClient(usize::MAX),
            SocketRefusal::Total(usize::MAX),
        ] {
            assert!(r.to_string().len() <= 123, "{r}");
        }
    }
}
