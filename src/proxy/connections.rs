//! The connections one thread serves: each accepted TCP stream (after the TLS handshake,
//! when TLS is on) becomes a hyper HTTP/1.1-or-HTTP/2 connection task whose requests go
//! to [`super::handler::handle`]; one idle for `proxy.idle_timeout_secs` is closed
//! ([`super::idle`]); a request head must arrive within `proxy.header_timeout_secs`; on
//! shutdown they are drained within a grace period (`lifecycle::draining`).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;

use super::idle::{Activity, Tracked, Watchdog};
use super::{handler, ProxyState};
use crate::lifecycle::draining::ConnectionSet;

/// The connections of one thread (one proxy worker, or the only one).
pub(crate) struct Connections {
    tls: Option<TlsAcceptor>,
    state: Arc<ProxyState>,
    worker: usize,
    builder: Arc<auto::Builder<TokioExecutor>>,
    open: ConnectionSet,
    idle_timeout: Duration,
}

impl Connections {
    /// An empty set serving calls as worker `worker`.
    pub(crate) fn new(tls: Option<TlsAcceptor>, state: Arc<ProxyState>, worker: usize) -> Self {
        let limits = &state.client_limits;
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_timeout)
            .keep_alive(true);
        builder
            .http2()
            .timer(TokioTimer::new())
            .keep_alive_interval(Some(Duration::from_secs(30)));
        Self {
            tls,
            worker,
            builder: Arc::new(builder),
            open: ConnectionSet::new(),
            idle_timeout: limits.idle_timeout,
            state,
        }
    }

    /// Serves `stream` on the current runtime. `on_close` is dropped when the connection
    /// ends (the worker pool counts its connections with it).
    pub(crate) fn serve<G: Send + 'static>(
        &mut self,
        stream: TcpStream,
        remote: SocketAddr,
        on_close: G,
    ) {
        let _ = stream.set_nodelay(true);
        let (state, worker) = (Arc::clone(&self.state), self.worker);
        let activity = Arc::new(Activity::default());
        let idle = Watchdog::new(Arc::clone(&activity), self.idle_timeout).expired();
        let service = service_fn(move |req| {
            let state = Arc::clone(&state);
            let call = activity.call();
            async move {
                let response = handler::handle(state, worker, req, remote).await;
                Ok::<_, Infallible>(response.map(|body| Tracked::new(body, call)))
            }
        });
        let builder = Arc::clone(&self.builder);
        match &self.tls {
            None => self.open.spawn(move |watcher| async move {
                let _on_close = on_close;
                let conn = builder.serve_connection(TokioIo::new(stream), service);
                tokio::select! {
                    ended = watcher.watch(conn.into_owned()) => if let Err(e) = ended {
                        tracing::debug!(error = %e, peer = %remote, "connection ended with an error");
                    },
                    () = idle => tracing::debug!(peer = %remote, "closed an idle connection"),
                }
            }),
            Some(acceptor) => {
                let acceptor = acceptor.clone();
                self.open.spawn(move |watcher| async move {
                    let _on_close = on_close;
                    let handshake =
                        tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream));
                    let stream = match handshake.await {
                        Ok(Ok(s)) => s,
                        Ok(Err(e)) => {
                            tracing::debug!(error = %e, peer = %remote, "TLS handshake failed");
                            return;
                        }
                        Err(_) => return,
                    };
                    let conn = builder.serve_connection(TokioIo::new(stream), service);
                    tokio::select! {
                        ended = watcher.watch(conn.into_owned()) => if let Err(e) = ended {
                            tracing::debug!(error = %e, peer = %remote, "connection ended with an error");
                        },
                        () = idle => tracing::debug!(peer = %remote, "closed an idle connection"),
                    }
                });
            }
        }
    }

    /// Lets in-flight calls (streams included) finish, for at most `grace`, then closes
    /// what is left.
    pub(crate) async fn drain(self, grace: Duration) {
        tracing::info!(
            worker = self.worker,
            in_flight = self.open.len(),
            "proxy stopped accepting; finishing in-flight calls"
        );
        if !self.open.drain(grace).await {
            tracing::warn!(
                worker = self.worker,
                "grace period over; closed the remaining connections"
            );
        }
    }
}
