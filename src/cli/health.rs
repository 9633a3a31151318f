//! `health`: asks the running service's admin listener for `/healthz` (or `/readyz`
//! with `--ready`) and exits 0 when it answers 200, else 1. It is the container's
//! `HEALTHCHECK` (the distroless image has no shell or curl), so it needs no database,
//! no credentials and no other program: one HTTP/1.1 request over TCP.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use anyhow::{bail, Context};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::args::Output;
use crate::config::Config;

/// How long the whole check may take.
const DEADLINE: Duration = Duration::from_secs(5);

/// Checks `admin.listen` (or `addr`) and prints the answer.
pub(super) async fn health(
    config: &Config,
    out: Output,
    addr: Option<SocketAddr>,
    ready: bool,
) -> anyhow::Result<()> {
    let addr = addr.unwrap_or_else(|| reachable(config.admin.listen));
    let path = if ready { "/readyz" } else { "/healthz" };
    let (status, body) = tokio::time::timeout(DEADLINE, get(addr, path))
        .await
        .map_err(|_| anyhow::anyhow!("http://{addr}{path} did not answer within 5 s"))??;
    let body_json: serde_json::Value =
        serde_json::from_str(&body).unwrap_or_else(|_| serde_json::Value::String(body.clone()));
    if status != 200 {
        bail!("http://{addr}{path} answered {status}: {}", body.trim());
    }
    super::print(
        out,
        &serde_json::json!({"url": format!("http://{addr}{path}"), "status": status, "answer": body_json}),
        format!("http://{addr}{path}: {status} {}", body.trim()),
    );
    Ok(())
}

/// A listener bound to every interface is asked on loopback.
fn reachable(listen: SocketAddr) -> SocketAddr {
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, listen.port())
}

/// One `GET` with `Connection: close`: the status code and the body.
async fn get(addr: SocketAddr, path: &str) -> anyhow::Result<(u16, String)> {
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .with_context(|| format!("cannot connect to the admin listener at {addr}"))?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .with_context(|| format!("cannot send the request to {addr}"))?;
    let mut answer = Vec::new();
    stream
        .take(64 * 1024)
        .read_to_end(&mut answer)
        .await
        .with_context(|| format!("cannot read the answer from {addr}"))?;
    let text = String::from_utf8_lossy(&answer);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|code| code.parse::<u16>().ok())
        .with_context(|| format!("{addr} did not answer HTTP"))?;
    Ok((status, body.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listener_on_every_interface_is_asked_on_loopback() {
        let any: SocketAddr = "0.0.0.0:8081".parse().unwrap();
        assert_eq!(reachable(any), "127.0.0.1:8081".parse().unwrap());
        let any6: SocketAddr = "[::]:8081".parse().unwrap();
        assert_eq!(reachable(any6), "[::1]:8081".parse().unwrap());
        let one: SocketAddr = "10.0.0.5:9000".parse().unwrap();
        assert_eq!(reachable(one), one);
    }
}
