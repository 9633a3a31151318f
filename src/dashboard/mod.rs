//! The web dashboard: a page at `/` and its scripts and styles under `/assets/`, all
//! embedded in the binary (no CDN, no build step: plain ES modules). Every answer has a
//! strict Content-Security-Policy (scripts and styles only from this origin, no inline
//! script, no framing), `nosniff`, no referrer, and an `ETag` with `Cache-Control:
//! no-cache`, so browsers revalidate cheaply (304) and never run a stale script after
//! an upgrade. The dashboard reads and changes everything through the admin API
//! (`crate::api`) with its session cookie; it has no data access of its own.

use axum::extract::Path;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, ETAG, IF_NONE_MATCH, REFERRER_POLICY,
    X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use sha2::Digest;

/// The policy every dashboard answer carries.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' \
                   data:; connect-src 'self'; form-action 'self'; base-uri 'none'; \
                   frame-ancestors 'none'";

/// One embedded file.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static str,
}

macro_rules! asset {
    ($path:literal, $type:expr) => {
        Asset {
            path: $path,
            content_type: $type,
            body: include_str!(concat!("assets/", $path)),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";

/// Every file the dashboard consists of.
static ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("app.css", "text/css; charset=utf-8"),
    asset!("app.js", JS),
    asset!("api.js", JS),
    asset!("ui.js", JS),
    asset!("chart.js", JS),
    asset!("pages/overview.js", JS),
    asset!("pages/users.js", JS),
    asset!("pages/user.js", JS),
    asset!("pages/teams.js", JS),
    asset!("pages/calls.js", JS),
    asset!("pages/cost.js", JS),
    asset!("pages/blocking.js", JS),
    asset!("pages/prices.js", JS),
];

/// The dashboard's routes: `/` and `/assets/{path}`.
pub(crate) fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route(
            "/",
            get(|h: HeaderMap| async move { serve("index.html", &h) }),
        )
        .route(
            "/assets/{*path}",
            get(|Path(path): Path<String>, h: HeaderMap| async move { serve(&path, &h) }),
        )
}

fn etag(body: &str) -> String {
    let digest = sha2::Sha256::digest(body.as_bytes());
    format!("\"{}\"", crate::hash::to_hex(&digest[..12]))
}

fn serve(path: &str, headers: &HeaderMap) -> Response {
    let Some(asset) = ASSETS.iter().find(|a| a.path == path) else {
        return (
            StatusCode::NOT_FOUND,
            [(CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("no dashboard file `{path}`"),
        )
            .into_response();
    };
    let tag = etag(asset.body);
    let fresh = headers
        .get(IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            StatusCode::OK,
            [(CONTENT_TYPE, asset.content_type)],
            asset.body,
        )
            .into_response()
    };
    let h = response.headers_mut();
    h.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(v) = HeaderValue::from_str(&tag) {
        h.insert(ETAG, v);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_module_an_asset_imports_is_embedded() {
        for a in ASSETS.iter().filter(|a| a.path.ends_with(".js")) {
            for line in a.body.lines().filter(|l| l.starts_with("import ")) {
                let Some(spec) = line.split(['\'', '"']).nth(1) else {
                    continue;
                };
                let dir = a.path.rsplit_once('/').map_or("", |(d, _)| d);
                let mut parts: Vec<&str> = dir.split('/').filter(|p| !p.is_empty()).collect();
                for seg in spec.split('/') {
                    match seg {
                        "." => {}
                        ".." => {
                            parts.pop();
                        }
                        s => parts.push(s),
                    }
                }
                let target = parts.join("/");
                assert!(
                    ASSETS.iter().any(|x| x.path == target),
                    "{} imports {spec} ({target}), which is not embedded",
                    a.path
                );
            }
        }
    }

    #[test]
    fn answers_carry_the_policy_and_revalidate() {
        let r = serve("app.js", &HeaderMap::new());
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()[CONTENT_TYPE], JS);
        assert_eq!(r.headers()[CONTENT_SECURITY_POLICY], CSP);
        let tag = r.headers()[ETAG].clone();
        let mut h = HeaderMap::new();
        h.insert(IF_NONE_MATCH, tag);
        assert_eq!(serve("app.js", &h).status(), StatusCode::NOT_MODIFIED);
        assert_eq!(serve("nope.js", &h).status(), StatusCode::NOT_FOUND);
        let index = serve("index.html", &HeaderMap::new());
        assert!(!String::from_utf8_lossy(ASSETS[0].body.as_bytes()).contains("<script>"));
        assert_eq!(index.headers()[X_FRAME_OPTIONS], "DENY");
    }
}
