//! Tests of the shared accept loop: backoff doubling to a second on accept errors, logged
//! once per burst; connections handed off; the socket closed when stopped.

use std::io;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::{accept_until_stopped, AfterFailure, Backoff, FIRST_DELAY, MAX_DELAY};

fn emfile() -> io::Error {
    io::Error::from_raw_os_error(24) // EMFILE: too many open files
}

#[test]
fn out_of_descriptors_backs_off_doubling_up_to_a_second_and_logs_once() {
    let mut backoff = Backoff::default();
    let after: Vec<AfterFailure> = (0..12).map(|_| backoff.failed(&emfile())).collect();
    let pauses: Vec<u64> = after.iter().map(|a| a.pause.as_millis() as u64).collect();
    assert_eq!(
        pauses,
        [5, 10, 20, 40, 80, 160, 320, 640, 1000, 1000, 1000, 1000]
    );
    assert_eq!(after[0].pause, FIRST_DELAY);
    assert_eq!(after[11].pause, MAX_DELAY);
    let logged = after.iter().filter(|a| a.first_in_burst).count();
    assert_eq!(logged, 1, "one log line per burst");
    assert!(after[0].first_in_burst);
}

#[test]
fn an_accepted_connection_ends_the_burst_and_the_next_one_starts_small() {
    let mut backoff = Backoff::default();
    assert_eq!(backoff.succeeded(), None, "no burst, nothing to report");
    for _ in 0..3 {
        backoff.failed(&io::Error::from_raw_os_error(23)); // ENFILE
    }
    assert_eq!(backoff.succeeded(), Some(3));
    assert_eq!(backoff.succeeded(), None);
    assert_eq!(
        backoff.failed(&emfile()),
        AfterFailure {
            pause: FIRST_DELAY,
            first_in_burst: true
        }
    );
}

#[test]
fn a_connection_that_failed_on_its_own_is_skipped_without_pause() {
    let mut backoff = Backoff::default();
    for kind in [
        io::ErrorKind::ConnectionAborted,
        io::ErrorKind::ConnectionReset,
    ] {
        assert_eq!(
            backoff.failed(&io::Error::from(kind)),
            AfterFailure {
                pause: Duration::ZERO,
                first_in_burst: false
            }
        );
    }
    assert_eq!(backoff.succeeded(), None, "not a burst");
}

#[tokio::test]
async fn the_loop_hands_off_connections_and_closes_the_socket_when_stopped() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let loop_stop = stop.clone();
    let task = tokio::spawn(async move {
        accept_until_stopped("test", listener, &loop_stop, |stream, _| {
            let _ = tx.send(stream);
        })
        .await;
    });
    let _client = tokio::net::TcpStream::connect(addr).await.unwrap();
    assert!(
        rx.recv().await.is_some(),
        "the accepted connection is handed off"
    );
    stop.cancel();
    task.await.unwrap();
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "nothing listens after the stop"
    );
}
