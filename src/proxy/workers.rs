//! Proxy worker threads: each runs a single-threaded tokio runtime with its own
//! [`Connections`] and its own upstream connection pool, so a call, its client connection
//! and its upstream connection are driven by one thread, with no work stealing or
//! cross-thread wake-ups on the way.
//!
//! The accept loop (on the runtime that called [`super::run`]) hands each new connection
//! to the worker serving the fewest connections at that moment: with a shared listening
//! socket, whichever thread woke first took the connection, and uneven splits (40 of 64
//! connections on one thread) cost a third of the throughput in the load benchmark.
//! Database work never runs on a worker: the quota ledger sends it to the runtime that
//! created it.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio_rustls::TlsAcceptor;

use super::cap::Slot;
use super::connections::Connections;
use super::ProxyState;

/// A connection handed to a worker, with its place under the connection cap.
type Handoff = (std::net::TcpStream, SocketAddr, Slot);

/// The running workers.
pub(crate) struct Workers {
    workers: Vec<Worker>,
}

struct Worker {
    handoff: mpsc::UnboundedSender<Handoff>,
    open: Arc<AtomicUsize>,
    done: oneshot::Receiver<()>,
}

/// Counts one open connection of a worker until dropped.
struct OpenConnection(Arc<AtomicUsize>);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Workers {
    /// Starts `count` worker threads. Threads that cannot start are logged and left out;
    /// `None` when none could start.
    pub(crate) fn start(
        count: usize,
        tls: &Option<TlsAcceptor>,
        state: &Arc<ProxyState>,
        grace: Duration,
    ) -> Option<Self> {
        let workers: Vec<Worker> = (0..count)
            .filter_map(|n| match start_one(n, tls.clone(), Arc::clone(state), grace) {
                Ok(w) => Some(w),
                Err(e) => {
                    tracing::error!(worker = n, error = %e, "cannot start a proxy worker thread");
                    None
                }
            })
            .collect();
        (!workers.is_empty()).then_some(Self { workers })
    }

    /// Hands `stream` to the worker with the fewest open connections. Returns the stream
    /// if no worker can take it.
    pub(crate) fn dispatch(
        &self,
        stream: tokio::net::TcpStream,
        remote: SocketAddr,
        slot: Slot,
    ) -> Result<(), std::io::Error> {
        let stream = stream.into_std()?;
        let mut handoff = (stream, remote, slot);
        let open: Vec<usize> = self
            .workers
            .iter()
            .map(|w| w.open.load(Ordering::Relaxed))
            .collect();
        for worker in least_loaded_first(&open).filter_map(|i| self.workers.get(i)) {
            worker.open.fetch_add(1, Ordering::Relaxed);
            match worker.handoff.send(handoff) {
                Ok(()) => return Ok(()),
                Err(mpsc::error::SendError(back)) => {
                    // That worker's thread has ended; try the next.
                    worker.open.fetch_sub(1, Ordering::Relaxed);
                    handoff = back;
                }
            }
        }
        Err(std::io::Error::other("no proxy worker thread is running"))
    }

    /// Stops handing out connections and waits until every worker has drained its own.
    pub(crate) async fn shutdown(self) {
        let mut done = Vec::with_capacity(self.workers.len());
        for worker in self.workers {
            drop(worker.handoff);
            done.push(worker.done);
        }
        for d in done {
            let _ = d.await;
        }
    }
}

/// Worker indexes by open connections, fewest first (ties in index order).
fn least_loaded_first(open: &[usize]) -> impl Iterator<Item = usize> {
    let mut order: Vec<usize> = (0..open.len()).collect();
    order.sort_by_key(|&i| open.get(i).copied().unwrap_or(usize::MAX));
    order.into_iter()
}

fn start_one(
    n: usize,
    tls: Option<TlsAcceptor>,
    state: Arc<ProxyState>,
    grace: Duration,
) -> std::io::Result<Worker> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (handoff, mut incoming) = mpsc::unbounded_channel::<Handoff>();
    let (done_tx, done) = oneshot::channel();
    let open = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&open);
    std::thread::Builder::new()
        .name(format!("proxy-worker-{n}"))
        .spawn(move || {
            runtime.block_on(async move {
                let mut connections = Connections::new(tls, state, n);
                // Ends when the accept loop drops the sender: shutdown.
                while let Some((stream, remote, slot)) = incoming.recv().await {
                    let guard = OpenConnection(Arc::clone(&counter));
                    match tokio::net::TcpStream::from_std(stream) {
                        Ok(stream) => connections.serve(stream, remote, (guard, slot)),
                        Err(e) => {
                            tracing::warn!(worker = n, error = %e, "cannot take over a connection")
                        }
                    }
                }
                connections.drain(grace).await;
            });
            drop(runtime);
            let _ = done_tx.send(());
        })?;
    Ok(Worker {
        handoff,
        open,
        done,
    })
}

#[cfg(test)]
mod tests {
    use super::least_loaded_first;

    #[test]
    fn connections_go_to_the_least_loaded_worker() {
        assert_eq!(
            least_loaded_first(&[3, 1, 2]).collect::<Vec<_>>(),
            [1, 2, 0]
        );
        assert_eq!(
            least_loaded_first(&[0, 0, 0]).collect::<Vec<_>>(),
            [0, 1, 2]
        );
        // Handing out 64 connections one by one leaves every worker with 32.
        let mut open = [0usize; 2];
        for _ in 0..64 {
            let first = least_loaded_first(&open).next().unwrap();
            open[first] += 1;
        }
        assert_eq!(open, [32, 32]);
    }
}
