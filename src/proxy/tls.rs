//! TLS for the proxy listener: a rustls server config from PEM files, offering HTTP/2 and
//! HTTP/1.1 by ALPN.

use std::sync::Arc;

use tokio_rustls::TlsAcceptor;

use crate::config::TlsFiles;

/// Builds the acceptor; errors name the file that is wrong.
pub(crate) fn acceptor(files: &TlsFiles) -> Result<TlsAcceptor, String> {
    let cert_text = std::fs::read(&files.cert)
        .map_err(|e| format!("proxy.tls_cert {}: {e}", files.cert.display()))?;
    let certs = rustls_pemfile::certs(&mut cert_text.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("proxy.tls_cert {}: {e}", files.cert.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "proxy.tls_cert {}: no PEM certificate found",
            files.cert.display()
        ));
    }
    let key_text = std::fs::read(&files.key)
        .map_err(|e| format!("proxy.tls_key {}: {e}", files.key.display()))?;
    let key = rustls_pemfile::private_key(&mut key_text.as_slice())
        .map_err(|e| format!("proxy.tls_key {}: {e}", files.key.display()))?
        .ok_or_else(|| {
            format!(
                "proxy.tls_key {}: no PEM private key found",
                files.key.display()
            )
        })?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .map_err(|e| format!("proxy.tls_cert/proxy.tls_key: {e}"))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
