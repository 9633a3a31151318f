//! One request at the fake upstream: read the body, give it a request id, verify its
//! SigV4 signature, record it, then answer with the rejection or the routed response.

use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use super::recorded::ReceivedRequest;
use super::responses::{error_response, RespBody};
use super::routes::respond;
use super::sigv4::verify;
use super::State;

/// Verifies, records and answers one request.
pub(super) async fn handle(
    state: Arc<State>,
    req: Request<Incoming>,
) -> Result<Response<RespBody>, Infallible> {
    let (parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => Bytes::new(),
    };
    let n = state.next_id.fetch_add(1, Ordering::Relaxed);
    let request_id = request_id(n);
    let path = parts
        .uri
        .path_and_query()
        .map(|pq| pq.as_str().to_owned())
        .unwrap_or_else(|| "/".to_owned());
    let headers = parts
        .headers
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();

    let verdict = verify(
        &state.cfg,
        parts.method.as_str(),
        &parts.uri,
        &parts.headers,
        &body,
    );
    let (signature_valid, rejection) = match &verdict {
        Ok(()) => (true, None),
        Err(r) => (r.signature_valid, Some(r.reason.clone())),
    };
    state.requests.push(ReceivedRequest {
        method: parts.method.as_str().to_owned(),
        path: path.clone(),
        headers,
        body: body.to_vec(),
        signature_valid,
        rejection,
    });

    if let Err(r) = verdict {
        return Ok(error_response(
            r.status,
            r.error_type,
            &r.message,
            &request_id,
        ));
    }
    Ok(respond(&state.cfg, &path, parts.uri.path(), &request_id, n).await)
}

/// A Bedrock-shaped request id, unique per request of this fake.
fn request_id(n: u64) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        (nanos >> 16) as u32,
        (nanos & 0xffff) as u16,
        (n >> 12) & 0xfff,
        n & 0xfff,
        n & 0xffff_ffff_ffff
    )
}
