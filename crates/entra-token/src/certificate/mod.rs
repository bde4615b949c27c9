//! Certificate credentials from the files people have: PEM (the certificate, any chain, and the
//! key as PKCS#8, PKCS#1 or encrypted PKCS#8) and PKCS#12 / PFX (what the Azure portal, Key Vault
//! and Windows export), password-protected or not.
//!
//! This module only parses: it yields the RSA key as PKCS#8 DER and the certificates as DER, the
//! leaf (the certificate whose public key is the key's) first, then its chain. Building the
//! signing key from that is [`Certificate::from_der`]'s job.

mod pbe;
mod pem_bundle;
mod pfx;

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use der::Decode as _;
use entra_core::crypto::{self, RsaPrivateKey, RsaSignature};
use entra_core::SecretString;
use url::Url;
use zeroize::Zeroizing;

use crate::error::{CertificateError, CredentialError};

/// `rsaEncryption`, the algorithm of RSA keys in PKCS#8 and X.509.
const RSA_ENCRYPTION: der::oid::ObjectIdentifier =
    der::oid::ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");

/// How far a certificate's `notBefore` may be ahead of this machine's clock (Entra's skew).
const NOT_BEFORE_SKEW: Duration = Duration::from_secs(300);

/// What a certificate file holds once parsed and decrypted.
pub(crate) struct KeyMaterial {
    /// The RSA private key, PKCS#8 DER.
    pub(crate) key_pkcs8: Zeroizing<Vec<u8>>,
    /// The certificates, DER, in the order of the input.
    pub(crate) certificates: Vec<Vec<u8>>,
}

/// The leaf and its chain, in order.
pub(crate) struct Chain {
    /// The certificate whose public key is the private key's.
    pub(crate) leaf: Vec<u8>,
    /// The other certificates: the leaf's issuer first when it is present, then the rest.
    pub(crate) chain: Vec<Vec<u8>>,
    pub(crate) not_before: SystemTime,
    pub(crate) not_after: SystemTime,
}

impl Certificate {
    /// Reads a certificate with its private key from the bytes of a file in any supported form:
    /// PEM text (certificate, chain and key in any order; the key PKCS#8, PKCS#1 or encrypted
    /// PKCS#8) or PKCS#12 / PFX. `password` opens an encrypted key or a PKCS#12 file (a PFX
    /// exported without a password, as Key Vault does, opens with `None`). The leaf (the
    /// certificate whose public key is the key's) signs; the others are kept as its chain (see
    /// [`with_send_x5c`](Self::with_send_x5c)).
    ///
    /// Decryption runs the file's key derivation (PBKDF2 or PKCS#12's, typically 2,048 to
    /// 10,000 iterations): load at start-up, not per request.
    ///
    /// # Errors
    /// A [`CertificateError`] that names what is wrong and how to fix it: no certificate, no key,
    /// a missing or wrong password, an unsupported encryption algorithm, a key that matches no
    /// certificate, an expired or not yet valid leaf, or input in no known form.
    pub fn parse(bytes: &[u8], password: Option<&SecretString>) -> Result<Self, CertificateError> {
        let material = if looks_like_pem(bytes) {
            let text =
                std::str::from_utf8(bytes).map_err(|_| CertificateError::UnrecognizedFormat)?;
            pem_bundle::parse(text, text, password)?
        } else if bytes.first() == Some(&0x30) {
            pfx::parse(bytes, password)?
        } else {
            return Err(CertificateError::UnrecognizedFormat);
        };
        Self::from_material(material)
    }

    /// [`parse`](Self::parse) of the file at `path` (read synchronously: call it at start-up or
    /// in `spawn_blocking`).
    ///
    /// # Errors
    /// [`CertificateError::Io`] when the file cannot be read; otherwise as
    /// [`parse`](Self::parse).
    pub fn from_file(
        path: impl AsRef<Path>,
        password: Option<&SecretString>,
    ) -> Result<Self, CertificateError> {
        let path = path.as_ref();
        let bytes = Zeroizing::new(std::fs::read(path).map_err(|source| CertificateError::Io {
            path: path.to_owned(),
            source,
        })?);
        Self::parse(&bytes, password)
    }

    /// A PKCS#12 / PFX file (DER), with its password (`None` for a file exported without one).
    ///
    /// # Errors
    /// As [`parse`](Self::parse); [`CertificateError::Pkcs12WithoutKey`] for a certificate-only
    /// export.
    pub fn from_pkcs12(
        der: &[u8],
        password: Option<&SecretString>,
    ) -> Result<Self, CertificateError> {
        Self::from_material(pfx::parse(der, password)?)
    }

    /// As [`from_pem`](Self::from_pem), with the password of an `ENCRYPTED PRIVATE KEY`.
    ///
    /// # Errors
    /// As [`parse`](Self::parse).
    pub fn from_pem_with_password(
        certificate_pem: &str,
        key_pem: &str,
        password: Option<&SecretString>,
    ) -> Result<Self, CertificateError> {
        Self::from_material(pem_bundle::parse(certificate_pem, key_pem, password)?)
    }

    fn from_material(material: KeyMaterial) -> Result<Self, CertificateError> {
        let chain = order_chain(&material.key_pkcs8, material.certificates)?;
        check_validity(&chain, SystemTime::now())?;
        Self::from_chain(chain, &material.key_pkcs8)
    }
}

fn looks_like_pem(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(64 * 1024)];
    head.windows(10).any(|w| w == b"-----BEGIN")
}

/// Refuses an expired leaf, and one not valid yet beyond [`NOT_BEFORE_SKEW`].
pub(crate) fn check_validity(chain: &Chain, now: SystemTime) -> Result<(), CertificateError> {
    if now > chain.not_after {
        return Err(CertificateError::Expired {
            not_before: chain.not_before,
            not_after: chain.not_after,
        });
    }
    if now + NOT_BEFORE_SKEW < chain.not_before {
        return Err(CertificateError::NotYetValid {
            not_before: chain.not_before,
            not_after: chain.not_after,
        });
    }
    if chain.not_after.duration_since(now).unwrap_or_default() < Duration::from_secs(30 * 86_400) {
        tracing::warn!(
            target: "entra_token",
            not_after = %crate::error::utc(chain.not_after),
            "the client certificate expires within 30 days: renew it and register the new one"
        );
    }
    Ok(())
}

/// The RSA modulus and public exponent of a PKCS#8 key, or `InvalidKey`.
fn key_public_numbers(key_pkcs8: &[u8]) -> Result<(Vec<u8>, Vec<u8>), CertificateError> {
    let info =
        pkcs8::PrivateKeyInfo::from_der(key_pkcs8).map_err(|_| CertificateError::InvalidKey)?;
    if info.algorithm.oid != RSA_ENCRYPTION {
        return Err(CertificateError::InvalidKey);
    }
    let key = pkcs1::RsaPrivateKey::from_der(info.private_key)
        .map_err(|_| CertificateError::InvalidKey)?;
    Ok((
        key.modulus.as_bytes().to_vec(),
        key.public_exponent.as_bytes().to_vec(),
    ))
}

/// Picks the leaf (the certificate holding the key's public key) and orders the rest issuer
/// first.
pub(crate) fn order_chain(
    key_pkcs8: &[u8],
    certificates: Vec<Vec<u8>>,
) -> Result<Chain, CertificateError> {
    if certificates.is_empty() {
        return Err(CertificateError::NoCertificate);
    }
    let (modulus, exponent) = key_public_numbers(key_pkcs8)?;
    let parsed = certificates
        .iter()
        .map(|der| {
            x509_cert::Certificate::from_der(der).map_err(|_| CertificateError::InvalidCertificate)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let holds_key = |cert: &x509_cert::Certificate| {
        let spki = &cert.tbs_certificate.subject_public_key_info;
        spki.algorithm.oid == RSA_ENCRYPTION
            && spki.subject_public_key.as_bytes().is_some_and(|bytes| {
                pkcs1::RsaPublicKey::from_der(bytes).is_ok_and(|p| {
                    p.modulus.as_bytes() == modulus.as_slice()
                        && p.public_exponent.as_bytes() == exponent.as_slice()
                })
            })
    };
    let leaf_index = parsed
        .iter()
        .position(holds_key)
        .ok_or(CertificateError::KeyMismatch)?;
    let validity = &parsed[leaf_index].tbs_certificate.validity;
    let (not_before, not_after) = (
        validity.not_before.to_system_time(),
        validity.not_after.to_system_time(),
    );
    // Walk up from the leaf by issuer name; whatever is left keeps the input's order.
    let mut rest: Vec<usize> = (0..parsed.len()).filter(|&i| i != leaf_index).collect();
    let mut order = Vec::with_capacity(rest.len());
    let mut current = leaf_index;
    while let Some(pos) = rest.iter().position(|&i| {
        parsed[i].tbs_certificate.subject == parsed[current].tbs_certificate.issuer
            && parsed[current].tbs_certificate.subject != parsed[current].tbs_certificate.issuer
    }) {
        current = rest.remove(pos);
        order.push(current);
    }
    order.extend(rest);
    let mut certificates: Vec<Option<Vec<u8>>> = certificates.into_iter().map(Some).collect();
    let leaf = certificates[leaf_index].take().unwrap_or_default();
    let chain = order
        .into_iter()
        .filter_map(|i| certificates[i].take())
        .collect();
    Ok(Chain {
        leaf,
        chain,
        not_before,
        not_after,
    })
}

/// PKCS#1 `RSAPrivateKey` DER wrapped as PKCS#8 (`rsaEncryption`, NULL parameters).
pub(crate) fn pkcs1_to_pkcs8(pkcs1_der: &[u8]) -> Result<Zeroizing<Vec<u8>>, CertificateError> {
    use der::Encode as _;
    pkcs1::RsaPrivateKey::from_der(pkcs1_der).map_err(|_| CertificateError::InvalidKey)?;
    let info = pkcs8::PrivateKeyInfo::new(
        pkcs8::AlgorithmIdentifierRef {
            oid: RSA_ENCRYPTION,
            parameters: Some(der::asn1::AnyRef::NULL),
        },
        pkcs1_der,
    );
    info.to_der()
        .map(Zeroizing::new)
        .map_err(|_| CertificateError::InvalidKey)
}

/// A DER private key as found in a file: PKCS#8, or PKCS#1 wrapped to PKCS#8.
pub(crate) fn normalise_key(
    der: Zeroizing<Vec<u8>>,
) -> Result<Zeroizing<Vec<u8>>, CertificateError> {
    if pkcs8::PrivateKeyInfo::from_der(&der).is_ok() {
        Ok(der)
    } else {
        pkcs1_to_pkcs8(&der)
    }
}

/// The signature algorithm of a certificate assertion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum AssertionAlgorithm {
    /// RSASSA-PSS with SHA-256 (Microsoft's recommendation; the default).
    #[default]
    Ps256,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
}

impl AssertionAlgorithm {
    /// The JOSE `alg` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ps256 => "PS256",
            Self::Rs256 => "RS256",
        }
    }

    fn scheme(self) -> RsaSignature {
        match self {
            Self::Ps256 => RsaSignature::Ps256,
            Self::Rs256 => RsaSignature::Rs256,
        }
    }
}

/// A certificate and its RSA private key, signing client assertions; with the certificate's
/// chain when the input held one. Load it from a file with [`Certificate::from_file`] (PEM or
/// PKCS#12, password-protected or not) or from text with [`Certificate::from_pem`].
pub struct Certificate {
    key: RsaPrivateKey,
    x5t_s256: String,
    algorithm: AssertionAlgorithm,
    /// The leaf then its chain, standard base64 DER (the `x5c` header).
    x5c: Vec<String>,
    send_x5c: bool,
    not_after: SystemTime,
}

impl std::fmt::Debug for Certificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certificate")
            .field("x5t#S256", &self.x5t_s256)
            .field("algorithm", &self.algorithm)
            .field("chain", &(self.x5c.len() - 1))
            .field("send_x5c", &self.send_x5c)
            .field("key", &"[REDACTED]")
            .finish()
    }
}

impl Certificate {
    /// Loads a certificate (`-----BEGIN CERTIFICATE-----`, with its chain if any) and its RSA
    /// private key: `PRIVATE KEY` (PKCS#8) or `RSA PRIVATE KEY` (PKCS#1). Both may be in the same
    /// text. The certificate whose public key is the key's signs; it must be valid now.
    /// Assertions are signed with PS256; see [`with_algorithm`](Self::with_algorithm). For an
    /// `ENCRYPTED PRIVATE KEY` see [`from_pem_with_password`](Self::from_pem_with_password); for
    /// files, [`from_file`](Self::from_file).
    ///
    /// # Errors
    /// [`CertificateError`]: no certificate, no key, unparsable input, a key that is not RSA
    /// (2048 bits or more), a key that matches no certificate, an expired or not yet valid
    /// certificate, an encrypted key ([`CertificateError::PasswordRequired`]).
    pub fn from_pem(certificate_pem: &str, key_pem: &str) -> Result<Self, CertificateError> {
        Self::from_pem_with_password(certificate_pem, key_pem, None)
    }

    /// As [`from_pem`](Self::from_pem), from DER bytes (the key PKCS#8).
    ///
    /// # Errors
    /// As [`from_pem`](Self::from_pem).
    pub fn from_der(
        certificate_der: &[u8],
        pkcs8_key_der: &[u8],
    ) -> Result<Self, CertificateError> {
        let chain = crate::certificate::order_chain(pkcs8_key_der, vec![certificate_der.to_vec()])?;
        crate::certificate::check_validity(&chain, SystemTime::now())?;
        Self::from_chain(chain, pkcs8_key_der)
    }

    /// The signing key from parsed material: the leaf's thumbprint, the `x5c` chain.
    pub(crate) fn from_chain(
        chain: crate::certificate::Chain,
        pkcs8_key_der: &[u8],
    ) -> Result<Self, CertificateError> {
        use base64::engine::general_purpose::STANDARD;
        let key = RsaPrivateKey::from_pkcs8_der(pkcs8_key_der)
            .map_err(|_| CertificateError::InvalidKey)?;
        let x5c = std::iter::once(&chain.leaf)
            .chain(&chain.chain)
            .map(|der| STANDARD.encode(der))
            .collect();
        Ok(Self {
            key,
            x5t_s256: URL_SAFE_NO_PAD.encode(crypto::sha256(&chain.leaf)),
            algorithm: AssertionAlgorithm::default(),
            x5c,
            send_x5c: false,
            not_after: chain.not_after,
        })
    }

    /// Sends the certificate and its chain in each assertion's `x5c` header (leaf first, standard
    /// base64 DER), as subject name and issuer authentication requires: the app registration
    /// trusts a subject name and issuer instead of one certificate, so a renewed certificate
    /// works without registering it again. MSAL's `send_x5c`.
    pub fn with_send_x5c(mut self, send: bool) -> Self {
        self.send_x5c = send;
        self
    }

    /// The certificates the input held besides the signing one, standard base64 DER, issuer
    /// first: `x5c` without its first entry.
    pub fn chain(&self) -> &[String] {
        &self.x5c[1..]
    }

    /// When the certificate expires.
    pub fn not_after(&self) -> SystemTime {
        self.not_after
    }

    /// Signs assertions with `algorithm` instead of PS256.
    pub fn with_algorithm(mut self, algorithm: AssertionAlgorithm) -> Self {
        self.algorithm = algorithm;
        self
    }

    /// The certificate's SHA-256 thumbprint, base64url (the `x5t#S256` header).
    pub fn thumbprint_sha256(&self) -> &str {
        &self.x5t_s256
    }

    /// The signature algorithm.
    pub fn algorithm(&self) -> AssertionAlgorithm {
        self.algorithm
    }

    /// A signed client assertion: header `{alg, typ: JWT, x5t#S256}` (and `x5c` with
    /// [`with_send_x5c`](Self::with_send_x5c)), claims `aud` = the token endpoint, `iss` = `sub` =
    /// the client id, a random `jti`, `iat` = `nbf` = `now`, `exp` = `now + lifetime`.
    ///
    /// # Errors
    /// [`CredentialError::CertificateExpired`] after the certificate's `notAfter`;
    /// [`CredentialError::Signing`] if the signature fails.
    pub fn assertion(
        &self,
        client_id: &str,
        audience: &Url,
        now: SystemTime,
        lifetime: Duration,
    ) -> Result<String, CredentialError> {
        if now > self.not_after {
            return Err(CredentialError::CertificateExpired {
                not_after: self.not_after,
            });
        }
        let iat = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let mut header = serde_json::json!({
            "alg": self.algorithm.as_str(),
            "typ": "JWT",
            "x5t#S256": self.x5t_s256,
        });
        if self.send_x5c {
            header["x5c"] = serde_json::json!(self.x5c);
        }
        let claims = serde_json::json!({
            "aud": audience.as_str(),
            "iss": client_id,
            "sub": client_id,
            "jti": uuid::Uuid::new_v4().to_string(),
            "iat": iat,
            "nbf": iat,
            "exp": iat + lifetime.as_secs(),
        });
        let mut signing_input = URL_SAFE_NO_PAD.encode(header.to_string());
        signing_input.push('.');
        signing_input.push_str(&URL_SAFE_NO_PAD.encode(claims.to_string()));
        let sig = self
            .key
            .sign(self.algorithm.scheme(), signing_input.as_bytes())
            .map_err(|_| CredentialError::Signing)?;
        signing_input.push('.');
        signing_input.push_str(&URL_SAFE_NO_PAD.encode(&sig));
        Ok(signing_input)
    }
}
