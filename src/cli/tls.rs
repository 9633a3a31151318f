//! `tls self-signed`: a certificate for trying the proxy over HTTPS on one machine
//! (current boto3 and the AWS CLI send bearer tokens only over HTTPS). It writes a
//! one-off local CA certificate (`ca.pem`, what clients trust through `AWS_CA_BUNDLE`),
//! and a server certificate (`cert.pem`) with its key (`key.pem`, mode 0600) for
//! localhost, 127.0.0.1, ::1 and any `--name`. The CA's key is never written, so it can
//! sign nothing else. Files already there are kept unless `--force`.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};

use super::args::Output;

/// The names every local certificate is for.
const LOCAL_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// What was written, as `--output json` shows it.
#[derive(serde::Serialize)]
struct Written {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
    names: Vec<String>,
}

/// Runs `tls self-signed`.
pub(super) fn self_signed(
    out: Output,
    dir: &Path,
    extra: &[String],
    force: bool,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the directory {}", dir.display()))?;
    let dir = std::fs::canonicalize(dir)
        .with_context(|| format!("cannot resolve the directory {}", dir.display()))?;
    let written = Written {
        ca: dir.join("ca.pem"),
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
        names: names(extra)?,
    };
    if !force {
        for path in [&written.ca, &written.cert, &written.key] {
            if path.exists() {
                bail!(
                    "{} already exists; pass --force to replace it, or choose another --out",
                    path.display()
                );
            }
        }
    }
    let (ca_pem, cert_pem, key_pem) =
        generate(&written.names).context("cannot generate the certificate")?;
    write_file(&written.ca, &ca_pem, 0o644)?;
    write_file(&written.cert, &cert_pem, 0o644)?;
    write_file(&written.key, &key_pem, 0o600)?;
    super::print(out, &written, text(&written));
    Ok(())
}

/// The local names plus `extra`, without duplicates; empty names are refused.
fn names(extra: &[String]) -> anyhow::Result<Vec<String>> {
    let mut names: Vec<String> = LOCAL_NAMES.iter().map(|s| s.to_string()).collect();
    for n in extra {
        let n = n.trim();
        if n.is_empty() || n.contains(char::is_whitespace) {
            bail!("--name `{n}` is not a host name or address");
        }
        if !names.iter().any(|have| have.eq_ignore_ascii_case(n)) {
            names.push(n.to_string());
        }
    }
    Ok(names)
}

/// A fresh CA and a server certificate it signed for `names`: (CA PEM, server
/// certificate PEM, server key PEM).
fn generate(names: &[String]) -> Result<(String, String, String), rcgen::Error> {
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.distinguished_name
        .push(DnType::CommonName, "bedrock-gate local trial CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_key = KeyPair::generate()?;
    let ca_cert = ca.self_signed(&ca_key)?;

    let mut server = CertificateParams::new(names.to_vec())?;
    server
        .distinguished_name
        .push(DnType::CommonName, "bedrock-gate");
    server.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    server.use_authority_key_identifier_extension = true;
    let key = KeyPair::generate()?;
    let cert = server.signed_by(&key, &ca_cert, &ca_key)?;
    Ok((ca_cert.pem(), cert.pem(), key.serialize_pem()))
}

/// Writes `text` to `path` with `mode` from the start (a key is never readable by
/// others, not even for a moment).
fn write_file(path: &Path, text: &str, mode: u32) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(mode);
        // An existing file (--force) keeps its mode on open: set it first.
        if path.exists() {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
                .with_context(|| format!("cannot set the mode of {}", path.display()))?;
        }
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// What to do next, for people.
fn text(w: &Written) -> String {
    format!(
        "Wrote {cert} and {key} (mode 0600) for {names},\n\
         signed by a local CA in {ca} (its key was not kept).\n\
         \n\
         Serve HTTPS with, in the configuration file:\n\
         \n\
         [proxy]\n\
         tls_cert = \"{cert}\"\n\
         tls_key = \"{key}\"\n\
         \n\
         or in the environment:\n\
         \n\
         export BEDROCK_GATE_PROXY__TLS_CERT={cert}\n\
         export BEDROCK_GATE_PROXY__TLS_KEY={key}\n\
         \n\
         Clients on this machine trust it with:\n\
         \n\
         export AWS_CA_BUNDLE={ca}          # AWS CLI, boto3\n\
         export NODE_EXTRA_CA_CERTS={ca}    # Claude Code, AWS SDK for JavaScript",
        cert = w.cert.display(),
        key = w.key.display(),
        ca = w.ca.display(),
        names = w.names.join(", "),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_always_cover_the_local_machine() {
        assert_eq!(names(&[]).unwrap(), LOCAL_NAMES);
        let n = names(&["gate.internal".into(), "LOCALHOST".into()]).unwrap();
        assert_eq!(n.len(), 4);
        assert_eq!(n[3], "gate.internal");
        assert!(names(&["two words".into()]).is_err());
        assert!(names(&[" ".into()]).is_err());
    }

    #[test]
    fn the_server_certificate_chains_to_the_ca() {
        let (ca, cert, key) = generate(&names(&[]).unwrap()).unwrap();
        assert!(ca.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(cert.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(key.starts_with("-----BEGIN PRIVATE KEY-----"));
        assert_ne!(ca, cert);
    }
}
