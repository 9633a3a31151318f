//! The SigV4 canonical request, built the same way to verify a caller and to sign for
//! upstream: the method, the path double URI-encoded (what is `v1%3A0` on the wire is
//! `v1%253A0` here), the query decoded, re-encoded and sorted, the signed headers with
//! their values as received (trimmed, inner spaces collapsed, repeated headers joined by
//! commas; `host` taken from the authority on HTTP/2 when no `Host` header came, and
//! `:authority`, which HTTP/2 callers may sign instead, is the request's authority), the
//! signed-header list and the hex SHA-256 of the body.

use std::fmt::Write as _;

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// The HTTP/2 pseudo-header a caller signs in place of `host` (the AWS SDK for
/// JavaScript v3 over HTTP/2 does); its canonical value is the request's authority.
pub(crate) const AUTHORITY: &str = ":authority";

/// Characters AWS leaves unencoded: A-Z a-z 0-9 - _ . ~
const AWS_URI: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// The canonical request for a request head as received.
pub(crate) fn canonical_request(
    parts: &http::request::Parts,
    signed_headers: &str,
    names: &[&str],
    body_sha256: &str,
) -> String {
    canonical_request_for(
        &parts.method,
        &parts.uri,
        &parts.headers,
        signed_headers,
        names,
        body_sha256,
    )
}

/// The canonical request for a method, URI and headers; `names` are the signed header
/// names (lowercase, sorted) and `signed_headers` the same joined by `;`.
pub(crate) fn canonical_request_for(
    method: &http::Method,
    uri: &http::Uri,
    headers: &http::HeaderMap,
    signed_headers: &str,
    names: &[&str],
    body_sha256: &str,
) -> String {
    let mut out = String::with_capacity(512);
    out.push_str(method.as_str());
    out.push('\n');
    canonical_uri(uri.path(), &mut out);
    out.push('\n');
    canonical_query(uri.query().unwrap_or(""), &mut out);
    out.push('\n');
    for name in names {
        out.push_str(name);
        out.push(':');
        if *name == AUTHORITY || (*name == "host" && !headers.contains_key(http::header::HOST)) {
            // HTTP/2 carries the host in :authority (hyper puts it in the URI); a caller
            // may sign it under either name. Without an authority in the URI (HTTP/1.1)
            // the Host header is the request's authority.
            push_trimmed(authority(uri, headers), &mut out);
        } else {
            let mut first = true;
            for value in headers.get_all(*name) {
                if !first {
                    out.push(',');
                }
                first = false;
                push_trimmed(&String::from_utf8_lossy(value.as_bytes()), &mut out);
            }
        }
        out.push('\n');
    }
    out.push('\n');
    out.push_str(signed_headers);
    out.push('\n');
    out.push_str(body_sha256);
    out
}

/// The request's authority: the URI's (`:authority` on HTTP/2, an absolute-form target
/// on HTTP/1.1), else the `Host` header; empty when it has neither.
fn authority<'a>(uri: &'a http::Uri, headers: &'a http::HeaderMap) -> &'a str {
    match uri.authority() {
        Some(a) => a.as_str(),
        None => headers
            .get(http::header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or(""),
    }
}

/// The path as received, each segment URI-encoded once more (AWS's double encoding).
fn canonical_uri(path: &str, out: &mut String) {
    if path.is_empty() {
        out.push('/');
        return;
    }
    let mut first = true;
    for segment in path.split('/') {
        if !first {
            out.push('/');
        }
        first = false;
        let _ = write!(out, "{}", utf8_percent_encode(segment, AWS_URI));
    }
}

/// Query parameters decoded, re-encoded the AWS way, sorted by name then value.
fn canonical_query(query: &str, out: &mut String) {
    if query.is_empty() {
        return;
    }
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (aws_reencode(k), aws_reencode(v))
        })
        .collect();
    pairs.sort();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
}

fn aws_reencode(s: &str) -> String {
    let decoded = percent_decode_str(s).decode_utf8_lossy();
    utf8_percent_encode(&decoded, AWS_URI).to_string()
}

/// Trims the value and collapses inner runs of spaces, as SigV4 canonical headers want.
fn push_trimmed(value: &str, out: &mut String) {
    let mut last_space = false;
    for c in value.trim().chars() {
        if c == ' ' {
            if !last_space {
                out.push(' ');
            }
            last_space = true;
        } else {
            out.push(c);
            last_space = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::sha256_hex;

    fn parts(path: &str, headers: &[(&str, &str)]) -> http::request::Parts {
        let mut b = http::Request::builder().method("POST").uri(path);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    #[test]
    fn path_is_double_encoded() {
        let mut out = String::new();
        canonical_uri(
            "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse",
            &mut out,
        );
        assert_eq!(
            out,
            "/model/anthropic.claude-3-haiku-20240307-v1%253A0/converse"
        );
        let mut out = String::new();
        canonical_uri(
            "/model/arn%3Aaws%3Abedrock%3Aeu-west-1%3A1%3Ainference-profile%2Fx/invoke",
            &mut out,
        );
        assert_eq!(
            out,
            "/model/arn%253Aaws%253Abedrock%253Aeu-west-1%253A1%253Ainference-profile%252Fx/invoke"
        );
    }

    #[test]
    fn query_is_sorted_and_encoded() {
        let mut out = String::new();
        canonical_query("b=2&a=x%20y&a=1", &mut out);
        assert_eq!(out, "a=1&a=x%20y&b=2");
    }

    #[test]
    fn header_values_are_trimmed_and_joined() {
        let p = parts(
            "http://h/x",
            &[
                ("host", "h"),
                ("x-a", "  a   b  "),
                ("x-b", "1"),
                ("x-b", "2"),
            ],
        );
        let c = canonical_request(&p, "host;x-a;x-b", &["host", "x-a", "x-b"], "abc");
        assert_eq!(
            c,
            "POST\n/x\n\nhost:h\nx-a:a b\nx-b:1,2\n\nhost;x-a;x-b\nabc"
        );
    }

    #[test]
    fn host_comes_from_the_authority_without_a_host_header() {
        let p = parts("http://h2.example:8443/x", &[("x-a", "1")]);
        let c = canonical_request(&p, "host;x-a", &["host", "x-a"], "abc");
        assert_eq!(
            c,
            "POST\n/x\n\nhost:h2.example:8443\nx-a:1\n\nhost;x-a\nabc"
        );
    }

    /// The canonical request of AWS's SigV4 documentation example (IAM ListUsers).
    #[test]
    fn matches_the_aws_documentation_example() {
        let mut p = parts(
            "https://iam.amazonaws.com/?Action=ListUsers&Version=2010-05-08",
            &[
                ("host", "iam.amazonaws.com"),
                (
                    "content-type",
                    "application/x-www-form-urlencoded; charset=utf-8",
                ),
                ("x-amz-date", "20150830T123600Z"),
            ],
        );
        p.method = http::Method::GET;
        let names = ["content-type", "host", "x-amz-date"];
        let canonical =
            canonical_request(&p, "content-type;host;x-amz-date", &names, &sha256_hex(b""));
        assert_eq!(
            sha256_hex(canonical.as_bytes()),
            "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59"
        );
    }
}
