//! `entra-dev cert create`: a certificate and private key for a confidential client's client
//! assertions, written in the form the client will load (PEM, PKCS#1, encrypted PEM, PKCS#12),
//! optionally issued by a generated CA (a chain) and optionally expired or not yet valid.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use entra_dev::CertificateFileFormat;

/// How the key (and, for PKCS#12, the certificate and chain) is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// NAME.key.pem: PKCS#8 PRIVATE KEY, unencrypted
    Pem,
    /// NAME.key.pem: PKCS#1 RSA PRIVATE KEY, unencrypted
    Pkcs1,
    /// NAME.key.pem: ENCRYPTED PRIVATE KEY (PBES2, PBKDF2-HMAC-SHA256, AES-256-CBC); needs a password
    EncryptedPem,
    /// NAME.pfx: PKCS#12 with certificate, chain and key (PBES2 AES-256-CBC, MAC SHA-256)
    Pfx,
    /// NAME.pfx: PKCS#12 as older exporters write it (RC2-40 certificates, 3DES key, MAC SHA-1)
    LegacyPfx,
}

impl Format {
    fn file_format(self) -> CertificateFileFormat {
        match self {
            Self::Pem => CertificateFileFormat::Pem,
            Self::Pkcs1 => CertificateFileFormat::Pkcs1Pem,
            Self::EncryptedPem => CertificateFileFormat::EncryptedPem,
            Self::Pfx => CertificateFileFormat::Pfx,
            Self::LegacyPfx => CertificateFileFormat::LegacyPfx,
        }
    }
}

/// Options of `entra-dev cert create`.
#[derive(Debug, Args)]
#[command(after_long_help = "\
Writes NAME.crt.pem (the certificate, to register on the client; with --chain followed by its issuing
CA) and the private key: NAME.key.pem (mode 0600) for --format pem, pkcs1 and encrypted-pem, or NAME.pfx
(mode 0600: certificate, chain and key) for --format pfx and legacy-pfx. With --chain, NAME.ca.crt.pem is
the issuing CA (what a client registered by subject name and issuer trusts). Then prints the
certificate's SHA-256 thumbprint (the x5t#S256 header of every assertion) and how to register it.

The password of encrypted-pem and pfx comes from --password-stdin or the ENTRA_DEV_CERT_PASSWORD
environment variable (never a command-line value: other users see command lines); it is never printed.
A pfx without a password is written with an empty one, as Key Vault's downloads are.
DEVELOPMENT ONLY.")]
pub(crate) struct CertCreateArgs {
    /// The client (application) id the certificate authenticates
    #[arg(long, value_name = "ID")]
    client_id: String,

    /// Directory to write the files to
    #[arg(long, value_name = "DIR", default_value = ".")]
    out: PathBuf,

    /// File name stem [default: the client id]
    #[arg(long, value_name = "NAME")]
    name: Option<String>,

    /// How the key is written
    #[arg(long, value_enum, default_value = "pem")]
    format: Format,

    /// Read the password from the first line of standard input
    #[arg(long)]
    password_stdin: bool,

    /// The password (taken from the environment only, never printed)
    #[arg(
        long = "password-from-env",
        env = "ENTRA_DEV_CERT_PASSWORD",
        hide = true,
        hide_env_values = true
    )]
    password_env: Option<String>,

    /// Issue the certificate from a generated CA (written as NAME.ca.crt.pem) and include the CA as
    /// its chain
    #[arg(long)]
    chain: bool,

    /// How long the certificate is valid (e.g. 365d, 24h)
    #[arg(long, value_name = "DURATION", value_parser = super::parse_duration, default_value = "365d")]
    validity: Duration,

    /// Make the certificate expired: valid for --validity, ending one day ago (to test refusals)
    #[arg(long, conflicts_with = "not_yet_valid")]
    expired: bool,

    /// Make the certificate not valid yet: valid for --validity, starting in one day
    #[arg(long)]
    not_yet_valid: bool,

    /// Overwrite existing files
    #[arg(long)]
    force: bool,
}

impl CertCreateArgs {
    fn password(&self) -> anyhow::Result<Option<String>> {
        if self.password_stdin {
            let mut line = String::new();
            std::io::stdin()
                .take(4096)
                .read_to_string(&mut line)
                .context("cannot read the password from standard input")?;
            let line = line.lines().next().unwrap_or_default().to_owned();
            return Ok(Some(line));
        }
        Ok(self.password_env.clone())
    }

    fn dates(&self) -> (SystemTime, SystemTime) {
        let now = SystemTime::now();
        let day = Duration::from_secs(86_400);
        if self.expired {
            let end = now - day;
            (end - self.validity, end)
        } else if self.not_yet_valid {
            (now + day, now + day + self.validity)
        } else {
            (now, now + self.validity)
        }
    }
}

pub(crate) fn run(args: CertCreateArgs) -> anyhow::Result<()> {
    let name = args.name.clone().unwrap_or_else(|| args.client_id.clone());
    if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
        anyhow::bail!(
            "--name '{name}' must be a plain file name stem (no '/', not starting with '.')"
        );
    }
    let password = args.password()?;
    if args.format == Format::EncryptedPem && password.as_deref().is_none_or(str::is_empty) {
        anyhow::bail!(
            "--format encrypted-pem needs a password: pipe it with --password-stdin or set \
             ENTRA_DEV_CERT_PASSWORD"
        );
    }
    let cert_path = args.out.join(format!("{name}.crt.pem"));
    let key_path = if args.format.file_format().is_pkcs12() {
        args.out.join(format!("{name}.pfx"))
    } else {
        args.out.join(format!("{name}.key.pem"))
    };
    let ca_path = args.out.join(format!("{name}.ca.crt.pem"));
    let mut paths = vec![&cert_path, &key_path];
    if args.chain {
        paths.push(&ca_path);
    }
    for path in paths {
        if path.exists() && !args.force {
            anyhow::bail!(
                "{} exists; pass --force to overwrite it or --name to pick another name",
                path.display()
            );
        }
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let (not_before, not_after) = args.dates();
    let subject = format!("entra-dev client {}", args.client_id);
    let key = || rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048);
    let (generated, ca) = if args.chain {
        let now = SystemTime::now();
        let ca = entra_dev::GeneratedCertificate::with_dates(
            key()?,
            &format!("entra-dev CA for {}", args.client_id),
            now.min(not_before) - Duration::from_secs(60),
            now.max(not_after) + Duration::from_secs(86_400),
        )?;
        (ca.issue(key()?, &subject, not_before, not_after)?, Some(ca))
    } else {
        (
            entra_dev::GeneratedCertificate::with_dates(key()?, &subject, not_before, not_after)?,
            None,
        )
    };
    let file = generated.to_file(args.format.file_format(), password.as_deref())?;
    let mut certificates = generated.certificate_pem.clone();
    if let Some(ca) = &ca {
        certificates.push_str(&ca.certificate_pem);
        write_file(&ca_path, ca.certificate_pem.as_bytes(), 0o644)?;
    }
    write_file(&cert_path, certificates.as_bytes(), 0o644)?;
    let key_file = if args.format.file_format().is_pkcs12() {
        file
    } else {
        // The PEM bundle is certificates then key: keep the key block alone.
        let text = String::from_utf8(file).context("BUG: PEM is text")?;
        let at = text.rfind("-----BEGIN").unwrap_or_default();
        text.as_bytes()[at..].to_vec()
    };
    write_file(&key_path, &key_file, 0o600)?;
    let thumbprint = generated.certificate.x5t_s256().unwrap_or_default();
    let protection = match (args.format, password.as_deref()) {
        (Format::Pem | Format::Pkcs1, _) => "unencrypted: DEVELOPMENT ONLY",
        (Format::Pfx | Format::LegacyPfx, None | Some("")) => "empty password: DEVELOPMENT ONLY",
        _ => "password-protected",
    };
    println!("Certificate  {}", cert_path.display());
    println!(
        "Private key  {} (mode 0600, {protection})",
        key_path.display()
    );
    if ca.is_some() {
        println!("Issuing CA   {}", ca_path.display());
        println!("Subject      {}", generated.subject());
    }
    let validity = |t: SystemTime| {
        entra_dev::format_unix_time(
            t.duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)),
        )
    };
    println!(
        "Valid        {} to {}",
        validity(not_before),
        validity(not_after)
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
