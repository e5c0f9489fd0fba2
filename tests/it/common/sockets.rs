//! Bare WebSocket clients for the socket-limit tests: opened from a chosen
//! loopback address (every 127.0.0.0/8 address reaches the server, each
//! counting as another client), with small buffers so that a test can hold
//! thousands, and the close frame the server ends them with.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::{Instant, timeout};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

/// One bare client socket.
pub type RawWs = WebSocketStream<TcpStream>;

/// How a socket the server accepted ended, or that it did not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// A close frame with this code and reason.
    Closed(u16, String),
    /// Still open when the wait ran out.
    Open,
    /// Ended with no close frame (an error or the end of the stream).
    Dropped(String),
}

/// Opens `path` (with its query) on the server at `base` (`http://…`),
/// asking for `protocol` if given, from the local address `from` if given.
pub async fn connect(
    base: &str,
    path: &str,
    protocol: Option<&str>,
    from: Option<IpAddr>,
) -> RawWs {
    let server: SocketAddr = base
        .trim_start_matches("http://")
        .parse()
        .expect("base is http://ip:port");
    let mut req = (base.replacen("http://", "ws://", 1) + path)
        .into_client_request()
        .unwrap();
    if let Some(p) = protocol {
        req.headers_mut()
            .insert("Sec-WebSocket-Protocol", p.parse().unwrap());
    }
    let socket = TcpSocket::new_v4().unwrap();
    if let Some(ip) = from {
        socket.bind(SocketAddr::new(ip, 0)).expect("bind");
    }
    let stream = timeout(Duration::from_secs(10), socket.connect(server))
        .await
        .expect("TCP connect timed out")
        .expect("TCP connect");
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0);
    let (ws, _) = timeout(
        Duration::from_secs(10),
        tokio_tungstenite::client_async_with_config(req, stream, Some(config)),
    )
    .await
    .expect("WebSocket handshake timed out")
    .expect("WebSocket handshake");
    ws
}

/// The next JSON message, or how the socket ended, within `wait`.
pub async fn next(ws: &mut RawWs, wait: Duration) -> Result<Value, Ending> {
    let deadline = Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match timeout(left, ws.next()).await {
            Err(_) => return Err(Ending::Open),
            Ok(None) => return Err(Ending::Dropped("end of stream".to_owned())),
            Ok(Some(Err(e))) => return Err(Ending::Dropped(e.to_string())),
            Ok(Some(Ok(Message::Close(frame)))) => {
                let (code, reason) = frame.map_or((1005, String::new()), |f| {
                    (u16::from(f.code), f.reason.to_string())
                });
                return Err(Ending::Closed(code, reason));
            }
            Ok(Some(Ok(Message::Text(t)))) => {
                let v: Value = serde_json::from_str(&t).unwrap();
                if v["type"] != "ka" {
                    return Ok(v);
                }
            }
            Ok(Some(Ok(_))) => {}
        }
    }
}

/// How the socket ends within `wait`, skipping any messages before.
pub async fn ending(ws: &mut RawWs, wait: Duration) -> Ending {
    loop {
        if let Err(end) = next(ws, wait).await {
            return end;
        }
    }
}

/// Sends a text frame.
pub async fn send_text(ws: &mut RawWs, text: String) {
    timeout(Duration::from_secs(10), ws.send(Message::text(text)))
        .await
        .expect("send timed out")
        .expect("send");
}

/// A `/ws` socket with `query` (e.g. `token=…`; in open mode the actor
/// parameters): Ok once `connected` arrived, or how it ended.
pub async fn open_ws(base: &str, query: &str, from: Option<IpAddr>) -> Result<RawWs, Ending> {
    let mut ws = connect(base, &format!("/ws?{query}"), None, from).await;
    let hello = next(&mut ws, Duration::from_secs(10)).await?;
    assert_eq!(hello["type"], "connected", "{hello}");
    Ok(ws)
}

/// A `/graphql/ws` socket speaking `protocol`, initialised with `payload`
/// (`{}` in open mode, or `{"Authorization": "Bearer …"}`): Ok once
/// `connection_ack` arrived, or how it ended.
pub async fn open_gql(
    base: &str,
    protocol: &str,
    from: Option<IpAddr>,
    payload: Value,
) -> Result<RawWs, Ending> {
    let mut ws = connect(base, "/graphql/ws", Some(protocol), from).await;
    send_text(
        &mut ws,
        json!({ "type": "connection_init", "payload": payload }).to_string(),
    )
    .await;
    let ack = next(&mut ws, Duration::from_secs(10)).await?;
    assert_eq!(ack["type"], "connection_ack", "{ack}");
    Ok(ws)
}

/// Closes the socket from the client side (close frame, then the reply).
pub async fn close(mut ws: RawWs) {
    let _ = timeout(Duration::from_secs(5), ws.close(None)).await;
    let _ = timeout(Duration::from_secs(5), async {
        while let Some(Ok(_)) = ws.next().await {}
    })
    .await;
}
