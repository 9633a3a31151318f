//! The narrow entry points the fuzz targets in `fuzz/` call (and `tests/it/fuzz_corpus.rs`
//! replays their corpora through): one function per parser that takes arbitrary bytes,
//! runs the real code on them and panics only when a property the code promises is
//! broken. Hidden from the documentation; nothing else in the crate uses it, so the
//! parsers themselves stay `pub(crate)`. See `docs/FUZZING.md`.
//!
//! Files: `sigv4` (the `Authorization` header parser, the verifier and the canonical
//! request, signed and verified round trip), `eventstream` (the frame decoder, fed in
//! pieces), `tap` (the usage tap on any body), `config` (the configuration loader),
//! `cloudtrail` (log files and EventBridge deliveries) and `journal` (crash journal
//! segments).

mod cloudtrail;
mod config;
mod eventstream;
mod journal;
mod sigv4;
mod tap;

pub use cloudtrail::cloudtrail;
pub use config::config;
pub use eventstream::eventstream;
pub use journal::journal;
pub use sigv4::{sigv4_canonical, sigv4_verify};
pub use tap::usage_tap;

/// A fuzz target's entry point.
pub type Target = fn(&[u8]);

/// The fuzz targets by name, each with its entry point: what `fuzz/` builds and the
/// corpus replay runs (`fuzz/corpus/<name>/`).
pub const TARGETS: [(&str, Target); 7] = [
    ("sigv4_verify", sigv4_verify),
    ("sigv4_canonical", sigv4_canonical),
    ("eventstream", eventstream),
    ("usage_tap", usage_tap),
    ("config", config),
    ("cloudtrail", cloudtrail),
    ("journal", journal),
];

/// The first `\n`-terminated line of `data` and the rest (all of `data` and nothing
/// when there is no newline).
fn line(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|b| *b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[]),
    }
}

/// `METHOD\nURI\nname: value\n...`: a request head, or `None` when the bytes do not make
/// one (an invalid method, URI or header is the HTTP layer's to refuse, not ours).
fn request_head(data: &[u8]) -> Option<http::request::Parts> {
    let (method, rest) = line(data);
    let (uri, mut rest) = line(rest);
    let mut builder = http::Request::builder()
        .method(http::Method::from_bytes(method).ok()?)
        .uri(http::Uri::try_from(uri).ok()?);
    while !rest.is_empty() {
        let (header, next) = line(rest);
        rest = next;
        let colon = header.iter().position(|b| *b == b':')?;
        let value = header[colon + 1..].trim_ascii_start();
        builder = builder.header(
            http::HeaderName::from_bytes(&header[..colon]).ok()?,
            http::HeaderValue::from_bytes(value).ok()?,
        );
    }
    builder.body(()).ok().map(|r| r.into_parts().0)
}
