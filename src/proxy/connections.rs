//! The connections one thread serves: each accepted TCP stream (after the TLS handshake,
//! when TLS is on) becomes a hyper HTTP/1.1-or-HTTP/2 connection task whose requests go
//! to [`super::handler::handle`]; on shutdown they are drained within a grace period.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use super::{handler, ProxyState};

/// The connections of one thread (one proxy worker, or the only one).
pub struct Connections {
    tls: Option<TlsAcceptor>,
    state: Arc<ProxyState>,
    worker: usize,
    builder: Arc<auto::Builder<TokioExecutor>>,
    graceful: GracefulShutdown,
    tasks: JoinSet<()>,
}

impl Connections {
    /// An empty set serving calls as worker `worker`.
    pub fn new(tls: Option<TlsAcceptor>, state: Arc<ProxyState>, worker: usize) -> Self {
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(Duration::from_secs(30))
            .keep_alive(true);
        builder
            .http2()
            .timer(TokioTimer::new())
            .keep_alive_interval(Some(Duration::from_secs(30)));
        Self {
            tls,
            state,
            worker,
            builder: Arc::new(builder),
            graceful: GracefulShutdown::new(),
            tasks: JoinSet::new(),
        }
    }

    /// Serves `stream` on the current runtime. `on_close` is dropped when the connection
    /// ends (the worker pool counts its connections with it).
    pub fn serve<G: Send + 'static>(&mut self, stream: TcpStream, remote: SocketAddr, on_close: G) {
        let _ = stream.set_nodelay(true);
        let (state, worker) = (Arc::clone(&self.state), self.worker);
        let service = service_fn(move |req| {
            let state = Arc::clone(&state);
            async move { Ok::<_, Infallible>(handler::handle(state, worker, req, remote).await) }
        });
        let builder = Arc::clone(&self.builder);
        match &self.tls {
            None => {
                let conn = builder
                    .serve_connection(TokioIo::new(stream), service)
                    .into_owned();
                let conn = self.graceful.watch(conn);
                self.tasks.spawn(async move {
                    let _on_close = on_close;
                    if let Err(e) = conn.await {
                        tracing::debug!(error = %e, peer = %remote, "connection ended with an error");
                    }
                });
            }
            Some(acceptor) => {
                let acceptor = acceptor.clone();
                let watcher = self.graceful.watcher();
                self.tasks.spawn(async move {
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
                    let conn = builder
                        .serve_connection(TokioIo::new(stream), service)
                        .into_owned();
                    if let Err(e) = watcher.watch(conn).await {
                        tracing::debug!(error = %e, peer = %remote, "connection ended with an error");
                    }
                });
            }
        }
        // Reap finished connection tasks so the set does not grow without bound.
        while self.tasks.try_join_next().is_some() {}
    }

    /// Lets in-flight calls (streams included) finish, for at most `grace`, then closes
    /// what is left.
    pub async fn drain(mut self, grace: Duration) {
        tracing::info!(
            worker = self.worker,
            in_flight = self.tasks.len(),
            "proxy stopped accepting; finishing in-flight calls"
        );
        if tokio::time::timeout(grace, self.graceful.shutdown())
            .await
            .is_err()
        {
            tracing::warn!("grace period over; closing the remaining connections");
        }
        self.tasks.abort_all();
        while self.tasks.join_next().await.is_some() {}
    }
}
