//! The HTTP/1.1 server loop: hyper's connection builder instead of `axum::serve`, because
//! `axum::serve` exposes neither a header-read timeout nor a header size cap.
//!
//! * A client that does not finish sending its request head within `header_read_timeout` is
//!   disconnected (hyper answers 408 when it can): a slowloris holds a connection for a bounded time.
//! * Request heads (request line, headers and the empty line, as sent) larger than
//!   `max_header_bytes` are answered 431 by hyper before any routing, whether they arrive in one
//!   write or in pieces; malformed request lines and headers get hyper's automatic 400.
//! * Each request carries `ConnectInfo<SocketAddr>` (the peer), as `into_make_service_with_connect_info`.
//! * Graceful shutdown: when `shutdown` resolves the listener stops accepting, idle keep-alive
//!   connections are closed and in-flight requests finish.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::ServiceExt as _;

/// Connection-level limits of [`serve`].
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Time a client has to send the whole request head (line and headers).
    pub header_read_timeout: Duration,
    /// Largest request head in bytes, as sent: request line, headers and the empty line (431
    /// beyond).
    pub max_header_bytes: usize,
}

/// Serves `router` on `listener` until `shutdown` resolves, then lets in-flight requests finish.
///
/// # Errors
/// Never in practice: accept errors (e.g. too many open files) are logged and retried after a pause.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let graceful = GracefulShutdown::new();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_header_size(limits.max_header_bytes)
        // Room to read a whole head just over the limit before answering 431, so the client is not
        // reset with part of its head unread (hyper's minimum buffer is 8 KiB).
        .max_buf_size(limits.max_header_bytes.saturating_add(8192));
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service = router.clone().map_request(
            move |mut request: axum::extract::Request<hyper::body::Incoming>| {
                request
                    .extensions_mut()
                    .insert(ConnectInfo::<SocketAddr>(peer));
                request.map(axum::body::Body::new)
            },
        );
        let connection =
            builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, %peer, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}
