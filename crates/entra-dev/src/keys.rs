//! Signing keys: generation, the self-signed certificate behind `x5c`/`x5t`, the published key set, rotation
//! and persistence in the development data directory.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use der::{Decode as _, Encode as _};
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _, LineEnding};
use rsa::signature::{SignatureEncoding as _, Signer as _};
use rsa::traits::PublicKeyParts as _;
use rsa::RsaPrivateKey;
use serde::{Deserialize, Serialize};
use sha1::{Digest as _, Sha1};
use sha2::Sha256;
use x509_cert::builder::{Builder as _, CertificateBuilder, Profile};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::SubjectPublicKeyInfoOwned;
use x509_cert::time::Validity;
use x509_cert::Certificate;

use crate::error::DevIssuerError;

/// The name of the key file inside the data directory.
pub(crate) const KEY_FILE_NAME: &str = "signing-keys.json";

/// How long the self-signed certificate claims to be valid (it is never checked by anyone, but a real
/// certificate has a validity period).
const CERT_VALIDITY: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// One RSA signing key with its certificate and the values published in the key set.
pub(crate) struct KeyEntry {
    /// Key id: like Entra's, the base64url SHA-1 thumbprint of the certificate (equal to `x5t`).
    pub(crate) kid: String,
    /// base64url SHA-1 thumbprint of the certificate DER.
    pub(crate) x5t: String,
    /// base64url big-endian modulus.
    pub(crate) n: String,
    /// base64url big-endian public exponent.
    pub(crate) e: String,
    /// DER of the self-signed certificate.
    pub(crate) cert_der: Vec<u8>,
    /// Creation time, seconds since the epoch.
    pub(crate) created_at: u64,
    /// When the key stopped being the current key (rotation), seconds since the epoch.
    pub(crate) retired_at: Option<u64>,
    /// When a retired key stops being published, seconds since the epoch (set at rotation).
    pub(crate) unpublish_at: Option<u64>,
    private: RsaPrivateKey,
    signer: SigningKey<Sha256>,
}

impl std::fmt::Debug for KeyEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyEntry")
            .field("kid", &self.kid)
            .field("created_at", &self.created_at)
            .field("retired_at", &self.retired_at)
            .finish_non_exhaustive()
    }
}

pub(crate) fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Generates a new RSA-2048 private key. Costs roughly 100 ms or more.
pub(crate) fn generate_private_key() -> Result<RsaPrivateKey, DevIssuerError> {
    RsaPrivateKey::new(&mut rand::thread_rng(), 2048).map_err(DevIssuerError::KeyGeneration)
}

impl KeyEntry {
    /// Wraps a private key: builds its self-signed certificate and the published values.
    pub(crate) fn from_private_key(
        private: RsaPrivateKey,
        now: SystemTime,
    ) -> Result<Self, DevIssuerError> {
        let signer = SigningKey::<Sha256>::new(private.clone());
        let cert_der = self_signed_certificate(
            &signer,
            "CN=entra-dev development signing key,O=DEVELOPMENT ONLY",
            CERT_VALIDITY,
        )?;
        Ok(Self::assemble(
            private,
            signer,
            cert_der,
            unix_secs(now),
            (None, None),
        ))
    }

    fn assemble(
        private: RsaPrivateKey,
        signer: SigningKey<Sha256>,
        cert_der: Vec<u8>,
        created_at: u64,
        (retired_at, unpublish_at): (Option<u64>, Option<u64>),
    ) -> Self {
        let x5t = URL_SAFE_NO_PAD.encode(Sha1::digest(&cert_der));
        let n = URL_SAFE_NO_PAD.encode(private.n().to_bytes_be());
        let e = URL_SAFE_NO_PAD.encode(private.e().to_bytes_be());
        Self {
            kid: x5t.clone(),
            x5t,
            n,
            e,
            cert_der,
            created_at,
            retired_at,
            unpublish_at,
            private,
            signer,
        }
    }

    /// Whether the key is published at `now` (seconds since the epoch).
    pub(crate) fn is_published(&self, now: u64, grace: Duration) -> bool {
        match (self.retired_at, self.unpublish_at) {
            (None, _) => true,
            (Some(_), Some(until)) => now < until,
            (Some(retired), None) => now < retired.saturating_add(grace.as_secs()),
        }
    }

    /// Signs `message` with RSASSA-PKCS1-v1_5 SHA-256 (RS256) and returns the raw signature.
    pub(crate) fn sign(&self, message: &[u8]) -> Result<Vec<u8>, DevIssuerError> {
        let signature = self
            .signer
            .try_sign(message)
            .map_err(DevIssuerError::Signing)?;
        Ok(signature.to_vec())
    }

    /// The public half (to verify tokens the issuer signed, e.g. on-behalf-of assertions).
    pub(crate) fn public_key(&self) -> rsa::RsaPublicKey {
        self.private.to_public_key()
    }

    /// The certificate as standard base64 (the `x5c` element).
    pub(crate) fn x5c(&self) -> String {
        STANDARD.encode(&self.cert_der)
    }
}

/// A self-signed X.509 certificate (DER) for `signer`'s key, with `subject` (an RFC 4514 name).
pub(crate) fn self_signed_certificate(
    signer: &SigningKey<Sha256>,
    subject: &str,
    validity: Duration,
) -> Result<Vec<u8>, DevIssuerError> {
    let mut serial = [0u8; 16];
    rand::Rng::fill(&mut rand::thread_rng(), &mut serial[..]);
    serial[0] = (serial[0] & 0x7f) | 0x01;
    let serial = SerialNumber::new(&serial).map_err(DevIssuerError::CertificateEncoding)?;
    let validity = Validity::from_now(validity).map_err(DevIssuerError::CertificateEncoding)?;
    let subject: Name = subject
        .parse()
        .map_err(DevIssuerError::CertificateEncoding)?;
    let spki = SubjectPublicKeyInfoOwned::from_key(signer.verifying_key())
        .map_err(|e| DevIssuerError::Certificate(e.into()))?;
    let builder = CertificateBuilder::new(Profile::Root, serial, validity, subject, spki, signer)
        .map_err(DevIssuerError::Certificate)?;
    let cert: Certificate = builder
        .build::<rsa::pkcs1v15::Signature>()
        .map_err(DevIssuerError::Certificate)?;
    cert.to_der().map_err(DevIssuerError::CertificateEncoding)
}

use rsa::signature::Keypair as _;

/// The issuer's keys: the last one signs, all that are within their grace period are published.
#[derive(Debug)]
pub(crate) struct KeyRing {
    entries: Vec<KeyEntry>,
}

impl KeyRing {
    /// A ring with a single key.
    pub(crate) fn single(entry: KeyEntry) -> Self {
        Self {
            entries: vec![entry],
        }
    }

    /// Every key held, oldest first (the current one last).
    pub(crate) fn all(&self) -> &[KeyEntry] {
        &self.entries
    }

    /// The key that signs new tokens.
    pub(crate) fn current(&self) -> &KeyEntry {
        self.entries
            .last()
            .expect("BUG: a key ring always holds at least one key")
    }

    /// The keys to publish at `now`: the current one and every retired key still in its grace period
    /// (`grace` applies to retired keys whose end of publication was not recorded at rotation).
    pub(crate) fn published(&self, now: SystemTime, grace: Duration) -> Vec<&KeyEntry> {
        let now = unix_secs(now);
        self.entries
            .iter()
            .rev()
            .filter(|k| k.is_published(now, grace))
            .collect()
    }

    /// Makes `entry` the current key; the previous one stays published for `grace`. Keys past their grace
    /// period are dropped.
    pub(crate) fn rotate(&mut self, entry: KeyEntry, now: SystemTime, grace: Duration) {
        let now_secs = unix_secs(now);
        for k in &mut self.entries {
            if k.retired_at.is_none() {
                k.retired_at = Some(now_secs);
                k.unpublish_at = Some(now_secs.saturating_add(grace.as_secs()));
            }
        }
        self.entries.retain(|k| k.is_published(now_secs, grace));
        self.entries.push(entry);
    }

    /// Loads the ring from `dir`, or returns `None` if there is no key file yet.
    pub(crate) fn load(dir: &Path) -> Result<Option<Self>, DevIssuerError> {
        let path = dir.join(KEY_FILE_NAME);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(DevIssuerError::Io { path, source }),
        };
        let bad = |source: Box<dyn std::error::Error + Send + Sync>| DevIssuerError::KeyFile {
            path: path.clone(),
            source,
        };
        let file: KeyFile = serde_json::from_slice(&bytes).map_err(|e| bad(e.into()))?;
        let mut entries = Vec::with_capacity(file.keys.len());
        for stored in file.keys {
            let private = RsaPrivateKey::from_pkcs8_pem(&stored.private_key_pem)
                .map_err(|e| bad(e.into()))?;
            let cert_der = STANDARD
                .decode(stored.certificate.as_bytes())
                .map_err(|e| bad(e.into()))?;
            Certificate::from_der(&cert_der).map_err(|e| bad(e.into()))?;
            let signer = SigningKey::<Sha256>::new(private.clone());
            entries.push(KeyEntry::assemble(
                private,
                signer,
                cert_der,
                stored.created_at,
                (stored.retired_at, stored.unpublish_at),
            ));
        }
        if entries.is_empty() {
            return Err(bad("the key file holds no key".into()));
        }
        // The current key is the one not retired; keep it last.
        entries.sort_by_key(|k| (k.retired_at.is_none(), k.retired_at, k.created_at));
        Ok(Some(Self { entries }))
    }

    /// Writes the ring to `dir/signing-keys.json` with mode 0600 (directory 0700), atomically.
    pub(crate) fn save(&self, dir: &Path) -> Result<PathBuf, DevIssuerError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| DevIssuerError::Io { path, source }
        };
        create_private_dir(dir).map_err(io(dir))?;
        let mut keys = Vec::with_capacity(self.entries.len());
        for k in &self.entries {
            let pem =
                k.private
                    .to_pkcs8_pem(LineEnding::LF)
                    .map_err(|e| DevIssuerError::KeyFile {
                        path: dir.join(KEY_FILE_NAME),
                        source: e.into(),
                    })?;
            keys.push(StoredKey {
                kid: k.kid.clone(),
                created_at: k.created_at,
                retired_at: k.retired_at,
                unpublish_at: k.unpublish_at,
                certificate: k.x5c(),
                private_key_pem: pem.to_string(),
            });
        }
        let file = KeyFile {
            warning: "entra-dev development signing keys. NEVER use them in production.".to_owned(),
            keys,
        };
        let json = serde_json::to_vec_pretty(&file).map_err(DevIssuerError::Json)?;
        let path = dir.join(KEY_FILE_NAME);
        let tmp = dir.join(format!("{KEY_FILE_NAME}.tmp{}", std::process::id()));
        write_private_file(&tmp, &json).map_err(io(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(io(&path))?;
        Ok(path)
    }
}

#[derive(Serialize, Deserialize)]
struct KeyFile {
    warning: String,
    keys: Vec<StoredKey>,
}

#[derive(Serialize, Deserialize)]
struct StoredKey {
    kid: String,
    created_at: u64,
    retired_at: Option<u64>,
    #[serde(default)]
    unpublish_at: Option<u64>,
    certificate: String,
    private_key_pem: String,
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

#[cfg(unix)]
fn write_private_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    // The mode above only applies to new files; make sure a leftover file is private too.
    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(not(unix))]
fn write_private_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

/// Public facts about one signing key.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeyInfo {
    /// Key id.
    pub kid: String,
    /// base64url SHA-1 thumbprint of the certificate.
    pub x5t: String,
    /// Creation time, seconds since the Unix epoch.
    pub created_at: u64,
    /// When the key was rotated out, seconds since the Unix epoch.
    pub retired_at: Option<u64>,
    /// When a rotated-out key stops being published, seconds since the Unix epoch.
    pub published_until: Option<u64>,
    /// Whether this key signs new tokens.
    pub is_current: bool,
    /// Whether the key set publishes the key now.
    pub is_published: bool,
}
