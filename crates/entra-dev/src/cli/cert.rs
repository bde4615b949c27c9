//! `entra-dev cert create`: a certificate and private key for a confidential client's client assertions.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;

/// Options of `entra-dev cert create`.
#[derive(Debug, Args)]
#[command(after_long_help = "\
Writes NAME.crt.pem (the certificate, to register on the client) and NAME.key.pem (the private key,
mode 0600, to sign client assertions), then prints the certificate's SHA-256 thumbprint (the x5t#S256
header of every assertion) and how to register it: `entra-dev serve --client-certificate ID=NAME.crt.pem`
or a DevClient entry in Rust. The key is unencrypted: DEVELOPMENT ONLY.")]
pub(crate) struct CertCreateArgs {
    /// The client (application) id the certificate authenticates
    #[arg(long, value_name = "ID")]
    client_id: String,

    /// Directory to write the two PEM files to
    #[arg(long, value_name = "DIR", default_value = ".")]
    out: PathBuf,

    /// File name stem [default: the client id]
    #[arg(long, value_name = "NAME")]
    name: Option<String>,

    /// How long the certificate is valid (e.g. 365d, 24h)
    #[arg(long, value_name = "DURATION", value_parser = super::parse_duration, default_value = "365d")]
    validity: Duration,

    /// Overwrite existing files
    #[arg(long)]
    force: bool,
}

pub(crate) fn run(args: CertCreateArgs) -> anyhow::Result<()> {
    let name = args.name.clone().unwrap_or_else(|| args.client_id.clone());
    if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
        anyhow::bail!(
            "--name '{name}' must be a plain file name stem (no '/', not starting with '.')"
        );
    }
    let cert_path = args.out.join(format!("{name}.crt.pem"));
    let key_path = args.out.join(format!("{name}.key.pem"));
    for path in [&cert_path, &key_path] {
        if path.exists() && !args.force {
            anyhow::bail!(
                "{} exists; pass --force to overwrite it or --name to pick another name",
                path.display()
            );
        }
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let generated = entra_dev::GeneratedCertificate::generate(
        &format!("entra-dev client {}", args.client_id),
        args.validity,
    )?;
    write_file(&cert_path, generated.certificate_pem.as_bytes(), 0o644)?;
    write_file(&key_path, generated.private_key_pem.as_bytes(), 0o600)?;
    let thumbprint = generated.certificate.x5t_s256().unwrap_or_default();
    println!("Certificate  {}", cert_path.display());
    println!(
        "Private key  {} (mode 0600, unencrypted: DEVELOPMENT ONLY)",
        key_path.display()
    );
    println!("x5t#S256     {thumbprint}");
    println!();
    println!("Register it when serving:");
    println!(
        "  entra-dev serve --client-certificate {}={}",
        args.client_id,
        cert_path.display()
    );
    println!();
    println!("or in a DevIssuerConfig (Rust):");
    println!("  config.clients.push(entra_dev::DevClient {{");
    println!(
        "      certificates: vec![entra_dev::ClientCertificate::from_pem(&std::fs::read_to_string({:?})?, None)?],",
        cert_path.display().to_string()
    );
    println!(
        "      ..entra_dev::DevClient::confidential({:?}, \"client with a certificate\")",
        args.client_id
    );
    println!("  }});");
    println!();
    println!(
        "Sign client assertions (RS256 or PS256) with the key, header x5t#S256 = {thumbprint}, \
         iss = sub = {}, aud = the token endpoint, a jti and at most 10 minutes between nbf and exp.",
        args.client_id
    );
    Ok(())
}

#[cfg(unix)]
fn write_file(path: &Path, bytes: &[u8], mode: u32) -> anyhow::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    // An existing file keeps its old mode on open: set it explicitly.
    file.set_permissions(std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("cannot set the mode of {}", path.display()))?;
    file.write_all(bytes)
        .with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(not(unix))]
fn write_file(path: &Path, bytes: &[u8], _mode: u32) -> anyhow::Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))
}
