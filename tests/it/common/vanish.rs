//! A TCP forwarder in front of a server, for the fault of a server that vanishes
//! without closing its connections (a host gone, a failover behind the same address):
//! [`Vanishing::vanish`] drops the server side of every connection open at that moment
//! (the old server is gone, its transactions with it) and keeps the client side open
//! and silent, so a client waiting on one of them hears nothing, ever, as from a
//! crashed host. Connections made afterwards are forwarded as before (the new server
//! behind the same address). Everything closes when the value is dropped.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// The forwarder.
pub struct Vanishing {
    port: u16,
    generation: watch::Sender<u64>,
    _tasks: Arc<parking_lot::Mutex<JoinSet<()>>>,
    _accept: tokio::task::JoinHandle<()>,
}

impl Vanishing {
    /// Forwards a new port on 127.0.0.1 to `target`.
    pub async fn start(target: SocketAddr) -> Vanishing {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (generation, _) = watch::channel(0u64);
        let tasks = Arc::new(parking_lot::Mutex::new(JoinSet::new()));
        let (gen, set) = (generation.clone(), Arc::clone(&tasks));
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let mut gone = gen.subscribe();
                let born = *gone.borrow_and_update();
                set.lock().spawn(async move {
                    let Ok(server) = TcpStream::connect(target).await else {
                        return;
                    };
                    let (mut cr, mut cw) = client.into_split();
                    let (mut sr, mut sw) = server.into_split();
                    tokio::select! {
                        _ = tokio::io::copy(&mut cr, &mut sw) => return,
                        _ = tokio::io::copy(&mut sr, &mut cw) => return,
                        _ = gone.wait_for(|g| *g != born) => {}
                    }
                    drop((sr, sw));
                    // The client's side stays open and hears nothing.
                    let _held = (cr, cw);
                    std::future::pending::<()>().await;
                });
            }
        });
        Vanishing {
            port,
            generation,
            _tasks: tasks,
            _accept: accept,
        }
    }

    /// The port clients connect to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server vanishes from every connection open now.
    pub fn vanish(&self) {
        self.generation.send_modify(|g| *g += 1);
    }
}
