//! Credentials a client can register besides a secret: a certificate (or bare RSA public key) for RFC 7523
//! client assertions, and federated credentials that trust another issuer's tokens (workload identity).
//! Parsed once, when the configuration is built: a bad PEM or key set fails there, not at the first token
//! request. A leaf module.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use der::{Decode as _, DecodePem as _, Encode as _};
use rsa::pkcs8::DecodePublicKey as _;
use rsa::{BigUint, RsaPublicKey};
use sha1::Sha1;
use sha2::{Digest as _, Sha256};

use crate::error::DevIssuerError;

/// The audience Entra requires in a federated credential's external token.
pub const TOKEN_EXCHANGE_AUDIENCE: &str = "api://AzureADTokenExchange";

/// What [`FederatedCredential::managed_identity`] shows as its issuer: the issuer's own URL is known
/// only once it serves.
const MANAGED_IDENTITY_ISSUER_LABEL: &str = "(this issuer: its managed identities)";

/// A certificate or public key registered on a client: client assertions signed with its private key
/// authenticate the client (RFC 7523, `client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer`).
#[derive(Clone, PartialEq, Eq)]
pub struct ClientCertificate {
    public_key: RsaPublicKey,
    x5t_s256: Option<String>,
    x5t: Option<String>,
    key_id: Option<String>,
}

impl std::fmt::Debug for ClientCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCertificate")
            .field("x5t#S256", &self.x5t_s256)
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl ClientCertificate {
    /// Reads a PEM `CERTIFICATE` (the first, when a chain follows; X.509, RSA key: assertions must name its SHA-256 thumbprint in the
    /// `x5t#S256` header, or its SHA-1 thumbprint in `x5t`) or a PEM `PUBLIC KEY` (SPKI; assertions must
    /// name `key_id` in their `kid` header, or, without a `key_id`, any `kid`).
    ///
    /// # Errors
    /// [`DevIssuerError::Credential`] when the PEM is neither, or the key is not RSA.
    pub fn from_pem(pem: &str, key_id: Option<&str>) -> Result<Self, DevIssuerError> {
        let bad = |e: Box<dyn std::error::Error + Send + Sync>| DevIssuerError::Credential(e);
        if let Some(start) = pem.find("-----BEGIN CERTIFICATE-----") {
            // The first certificate: a file may go on with its chain.
            const END: &str = "-----END CERTIFICATE-----";
            let first = &pem[start..];
            let first = first.find(END).map_or(first, |e| &first[..e + END.len()]);
            let cert =
                x509_cert::Certificate::from_pem(first.as_bytes()).map_err(|e| bad(Box::new(e)))?;
            let der = cert.to_der().map_err(|e| bad(Box::new(e)))?;
            Self::from_certificate_der(&der, key_id)
        } else {
            let public_key =
                RsaPublicKey::from_public_key_pem(pem.trim()).map_err(|e| bad(Box::new(e)))?;
            Ok(Self {
                public_key,
                x5t_s256: None,
                x5t: None,
                key_id: key_id.map(str::to_owned),
            })
        }
    }

    /// Reads a DER X.509 certificate with an RSA key.
    ///
    /// # Errors
    /// [`DevIssuerError::Credential`] when it is not one.
    pub fn from_certificate_der(der: &[u8], key_id: Option<&str>) -> Result<Self, DevIssuerError> {
        let bad = |e: Box<dyn std::error::Error + Send + Sync>| DevIssuerError::Credential(e);
        let cert = x509_cert::Certificate::from_der(der).map_err(|e| bad(Box::new(e)))?;
        let spki = cert
            .tbs_certificate
            .subject_public_key_info
            .to_der()
            .map_err(|e| bad(Box::new(e)))?;
        let public_key = RsaPublicKey::from_public_key_der(&spki).map_err(|e| bad(Box::new(e)))?;
        Ok(Self {
            public_key,
            x5t_s256: Some(URL_SAFE_NO_PAD.encode(Sha256::digest(der))),
            x5t: Some(URL_SAFE_NO_PAD.encode(Sha1::digest(der))),
            key_id: key_id.map(str::to_owned),
        })
    }

    /// A bare RSA public key (assertions must then carry `kid` = `key_id` when one is given).
    pub fn from_public_key(public_key: RsaPublicKey, key_id: Option<&str>) -> Self {
        Self {
            public_key,
            x5t_s256: None,
            x5t: None,
            key_id: key_id.map(str::to_owned),
        }
    }

    /// The certificate's base64url SHA-256 thumbprint (the `x5t#S256` header of its assertions).
    pub fn x5t_s256(&self) -> Option<&str> {
        self.x5t_s256.as_deref()
    }

    /// Whether an assertion header names this credential: `x5t#S256` (or the legacy SHA-1 `x5t`) for a
    /// certificate, `kid` for a bare key.
    pub(crate) fn matches(
        &self,
        x5t_s256: Option<&str>,
        x5t: Option<&str>,
        kid: Option<&str>,
    ) -> bool {
        match (&self.x5t_s256, &self.x5t) {
            (Some(s256), Some(sha1)) => {
                x5t_s256 == Some(s256.as_str())
                    || (x5t_s256.is_none() && x5t == Some(sha1.as_str()))
            }
            _ => match &self.key_id {
                Some(id) => kid == Some(id.as_str()),
                None => true,
            },
        }
    }

    pub(crate) fn public_key(&self) -> &RsaPublicKey {
        &self.public_key
    }
}

/// Subject name + issuer authentication (Entra's `trustedCertificateSubjects`): any certificate whose
/// subject is `subject_name` and that chains to `issuer` (through the certificates sent after it)
/// authenticates the client, when the client assertion carries it in its `x5c` header (leaf first,
/// standard base64 DER; MSAL's `send_x5c`). So a renewed certificate works without registering it.
#[derive(Clone, PartialEq, Eq)]
pub struct TrustedCertificateSubject {
    /// The leaf's subject, RFC 4514 text as [`GeneratedCertificate::subject`] renders it
    /// (`CN=...,O=...`), compared exactly.
    pub subject_name: String,
    issuer_subject: x509_cert::name::Name,
    issuer_key: RsaPublicKey,
}

impl std::fmt::Debug for TrustedCertificateSubject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrustedCertificateSubject")
            .field("subject_name", &self.subject_name)
            .field("issuer", &self.issuer_subject.to_string())
            .finish()
    }
}

impl TrustedCertificateSubject {
    /// Trusts certificates named `subject_name` issued by the CA whose certificate is
    /// `issuer_certificate_pem` (the first `CERTIFICATE` block).
    ///
    /// # Errors
    /// [`DevIssuerError::Credential`] when the PEM is not an RSA certificate.
    pub fn new(subject_name: &str, issuer_certificate_pem: &str) -> Result<Self, DevIssuerError> {
        let issuer = ClientCertificate::from_pem(issuer_certificate_pem, None)?;
        let bad = |e: Box<dyn std::error::Error + Send + Sync>| DevIssuerError::Credential(e);
        let start = issuer_certificate_pem
            .find("-----BEGIN CERTIFICATE-----")
            .unwrap_or_default();
        let cert = x509_cert::Certificate::from_pem(
            issuer_certificate_pem[start..]
                .split_inclusive("-----END CERTIFICATE-----")
                .next()
                .unwrap_or_default()
                .as_bytes(),
        )
        .map_err(|e| bad(Box::new(e)))?;
        Ok(Self {
            subject_name: subject_name.to_owned(),
            issuer_subject: cert.tbs_certificate.subject,
            issuer_key: issuer.public_key,
        })
    }

    /// The leaf's public key when `x5c` (base64 DER certificates, leaf first) holds a certificate
    /// named [`subject_name`](Self::subject_name), valid at `now` (Unix seconds), whose chain ends
    /// at this issuer; else why not.
    pub(crate) fn leaf_key(&self, x5c: &[String], now: u64) -> Result<RsaPublicKey, String> {
        use base64::engine::general_purpose::STANDARD;
        let chain = x5c
            .iter()
            .take(10)
            .map(|c| {
                STANDARD
                    .decode(c)
                    .ok()
                    .and_then(|der| x509_cert::Certificate::from_der(&der).ok())
                    .ok_or("an x5c entry is not a base64 DER certificate")
            })
            .collect::<Result<Vec<_>, _>>()?;
        let leaf = chain.first().ok_or("x5c is empty")?;
        let subject = leaf.tbs_certificate.subject.to_string();
        if subject != self.subject_name {
            return Err(format!(
                "the x5c certificate's subject '{subject}' is not the trusted subject name '{}'",
                self.subject_name
            ));
        }
        let validity = &leaf.tbs_certificate.validity;
        let (from, to) = (
            validity.not_before.to_unix_duration().as_secs(),
            validity.not_after.to_unix_duration().as_secs(),
        );
        if now < from || now > to {
            return Err("the x5c certificate is expired or not yet valid".to_owned());
        }
        let mut current = leaf;
        for _ in 0..chain.len() {
            if current.tbs_certificate.issuer == self.issuer_subject {
                return if signed_by(current, &self.issuer_key) {
                    public_key_of(leaf)
                } else {
                    Err(
                        "the x5c chain's last certificate is not signed by the trusted issuer"
                            .into(),
                    )
                };
            }
            let Some(next) = chain.iter().skip(1).find(|c| {
                c.tbs_certificate.subject == current.tbs_certificate.issuer
                    && public_key_of(c).is_ok_and(|k| signed_by(current, &k))
            }) else {
                break;
            };
            current = next;
        }
        Err(format!(
            "the x5c chain does not lead to the trusted issuer '{}'",
            self.issuer_subject
        ))
    }
}

fn public_key_of(cert: &x509_cert::Certificate) -> Result<RsaPublicKey, String> {
    let spki = cert
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .map_err(|e| e.to_string())?;
    RsaPublicKey::from_public_key_der(&spki).map_err(|e| e.to_string())
}

/// Whether `cert` carries a sha256WithRSAEncryption signature by `key`.
fn signed_by(cert: &x509_cert::Certificate, key: &RsaPublicKey) -> bool {
    use rsa::signature::Verifier as _;
    const SHA256_WITH_RSA: der::oid::ObjectIdentifier =
        der::oid::ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
    if cert.signature_algorithm.oid != SHA256_WITH_RSA {
        return false;
    }
    let (Ok(tbs), Some(sig)) = (cert.tbs_certificate.to_der(), cert.signature.as_bytes()) else {
        return false;
    };
    let Ok(sig) = rsa::pkcs1v15::Signature::try_from(sig) else {
        return false;
    };
    rsa::pkcs1v15::VerifyingKey::<Sha256>::new(key.clone())
        .verify(&tbs, &sig)
        .is_ok()
}

/// A federated identity credential: the client trusts tokens that `issuer` issues for `subject` with one
/// of `audiences` (Entra's default: [`TOKEN_EXCHANGE_AUDIENCE`]). Such a token is then sent as the
/// `client_assertion` (workload identity, e.g. a Kubernetes service account token).
#[derive(Clone, PartialEq, Eq)]
pub struct FederatedCredential {
    /// The external issuer (`iss`), compared exactly.
    pub issuer: String,
    /// The external subject (`sub`), compared exactly.
    pub subject: String,
    /// Accepted audiences (`aud`), default [`TOKEN_EXCHANGE_AUDIENCE`].
    pub audiences: Vec<String>,
    keys: Vec<(Option<String>, RsaPublicKey)>,
    /// Trusts this issuer's own tokens (its managed identities): `issuer` is then only a label and
    /// the token's `iss` must be one of this issuer's, its signature one of this issuer's keys.
    this_issuer: bool,
}

impl std::fmt::Debug for FederatedCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FederatedCredential")
            .field("issuer", &self.issuer)
            .field("subject", &self.subject)
            .field("audiences", &self.audiences)
            .field("keys", &self.keys.len())
            .field("this_issuer", &self.this_issuer)
            .finish()
    }
}

impl FederatedCredential {
    /// Trusts `issuer`'s tokens for `subject` (audience [`TOKEN_EXCHANGE_AUDIENCE`]), once the issuer's
    /// keys are added with [`FederatedCredential::with_public_key_pem`] or
    /// [`FederatedCredential::with_jwks`].
    pub fn new(issuer: &str, subject: &str) -> Self {
        Self {
            issuer: issuer.to_owned(),
            subject: subject.to_owned(),
            audiences: vec![TOKEN_EXCHANGE_AUDIENCE.to_owned()],
            keys: Vec::new(),
            this_issuer: false,
        }
    }

    /// Trusts a managed identity of this development issuer (see
    /// [`DevIssuerConfig::managed_identities`](crate::DevIssuerConfig::managed_identities)): its
    /// token for [`TOKEN_EXCHANGE_AUDIENCE`], from the emulated identity endpoints, with `iss` = this
    /// issuer (`{instance}{tenant}/v2.0`, or the v1 issuer), `sub` = the identity's `object_id`, signed
    /// with this issuer's keys: Entra's "managed identity as a federated credential" set-up, where the
    /// federated credential names the tenant's issuer and the identity's object id.
    pub fn managed_identity(object_id: &str) -> Self {
        Self {
            issuer: MANAGED_IDENTITY_ISSUER_LABEL.to_owned(),
            this_issuer: true,
            ..Self::new("", object_id)
        }
    }

    /// Whether this credential trusts this issuer's own managed identities.
    pub(crate) fn is_this_issuer(&self) -> bool {
        self.this_issuer
    }

    /// Adds one of the issuer's RSA public keys (PEM `PUBLIC KEY`), matched by `kid` when given.
    ///
    /// # Errors
    /// [`DevIssuerError::Credential`] when the PEM is not an RSA public key.
    pub fn with_public_key_pem(
        mut self,
        kid: Option<&str>,
        pem: &str,
    ) -> Result<Self, DevIssuerError> {
        let key = RsaPublicKey::from_public_key_pem(pem.trim())
            .map_err(|e| DevIssuerError::Credential(Box::new(e)))?;
        self.keys.push((kid.map(str::to_owned), key));
        Ok(self)
    }

    /// Adds one RSA public key.
    pub fn with_public_key(mut self, kid: Option<&str>, key: RsaPublicKey) -> Self {
        self.keys.push((kid.map(str::to_owned), key));
        self
    }

    /// Adds every RSA key (`kty` "RSA", `n`, `e`, optional `kid`) of the issuer's JSON Web Key Set.
    ///
    /// # Errors
    /// [`DevIssuerError::Credential`] when the document is not a key set or holds no usable RSA key.
    pub fn with_jwks(mut self, jwks: &str) -> Result<Self, DevIssuerError> {
        let bad = |m: &str| DevIssuerError::Credential(m.to_owned().into());
        let doc: serde_json::Value =
            serde_json::from_str(jwks).map_err(|e| DevIssuerError::Credential(Box::new(e)))?;
        let keys = doc
            .get("keys")
            .and_then(serde_json::Value::as_array)
            .ok_or_else(|| bad("a key set is a JSON object with a \"keys\" array"))?;
        let before = self.keys.len();
        for k in keys {
            if k.get("kty").and_then(serde_json::Value::as_str) != Some("RSA") {
                continue;
            }
            let part = |name: &str| {
                k.get(name)
                    .and_then(serde_json::Value::as_str)
                    .and_then(|v| URL_SAFE_NO_PAD.decode(v).ok())
                    .map(|b| BigUint::from_bytes_be(&b))
            };
            let (Some(n), Some(e)) = (part("n"), part("e")) else {
                return Err(bad(
                    "an RSA key in the key set lacks a base64url \"n\" or \"e\"",
                ));
            };
            let key =
                RsaPublicKey::new(n, e).map_err(|e| DevIssuerError::Credential(Box::new(e)))?;
            let kid = k
                .get("kid")
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned);
            self.keys.push((kid, key));
        }
        if self.keys.len() == before {
            return Err(bad("the key set holds no RSA key"));
        }
        Ok(self)
    }

    /// The keys that may have signed a token with header `kid`.
    pub(crate) fn keys_for<'a>(
        &'a self,
        kid: Option<&'a str>,
    ) -> impl Iterator<Item = &'a RsaPublicKey> + 'a {
        self.keys
            .iter()
            .filter(move |(k, _)| k.is_none() || kid.is_none() || k.as_deref() == kid)
            .map(|(_, key)| key)
    }
}

/// A freshly generated client certificate and its private key, as PEM: register
/// [`GeneratedCertificate::certificate`] on a [`crate::DevClient`] and sign client assertions with
/// [`GeneratedCertificate::private_key_pem`], or write it as the files people have with
/// [`GeneratedCertificate::to_file`] (PEM, PKCS#1, encrypted PEM, PKCS#12). Self-signed, or issued
/// by another generated certificate ([`GeneratedCertificate::issue`], a chain). `Debug` never shows
/// the private key.
#[derive(Clone)]
pub struct GeneratedCertificate {
    /// The registration of the certificate (its public key and thumbprints).
    pub certificate: ClientCertificate,
    /// The X.509 certificate, PEM `CERTIFICATE`.
    pub certificate_pem: String,
    /// The private key, PEM PKCS#8 `PRIVATE KEY` (unencrypted: keep it in a file with mode 0600).
    pub private_key_pem: String,
    pub(crate) key: rsa::RsaPrivateKey,
    pub(crate) der: Vec<u8>,
    pub(crate) subject: x509_cert::name::Name,
    /// The issuers' certificates (DER), nearest first; empty when self-signed.
    pub(crate) chain: Vec<Vec<u8>>,
}

impl std::fmt::Debug for GeneratedCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeneratedCertificate")
            .field("certificate", &self.certificate)
            .field("chain", &self.chain.len())
            .field("private_key_pem", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl GeneratedCertificate {
    /// Generates an RSA-2048 key and a self-signed certificate `CN={common_name}` valid for `validity`.
    /// Key generation costs about 100 ms or more (much more in debug builds).
    ///
    /// # Errors
    /// Key generation and certificate errors.
    pub fn generate(
        common_name: &str,
        validity: std::time::Duration,
    ) -> Result<Self, DevIssuerError> {
        Self::from_private_key(crate::keys::generate_private_key()?, common_name, validity)
    }

    /// Like [`GeneratedCertificate::generate`] with a given key (tests share one key per process).
    ///
    /// # Errors
    /// Certificate and encoding errors.
    pub fn from_private_key(
        key: rsa::RsaPrivateKey,
        common_name: &str,
        validity: std::time::Duration,
    ) -> Result<Self, DevIssuerError> {
        let now = std::time::SystemTime::now();
        Self::with_dates(key, common_name, now, now + validity)
    }

    /// The certificate's subject, as RFC 4514 text (`CN=...,O=...`).
    pub fn subject(&self) -> String {
        self.subject.to_string()
    }

    /// The certificate (DER).
    pub fn certificate_der(&self) -> &[u8] {
        &self.der
    }

    /// The issuers' certificates (DER), nearest first; empty when self-signed.
    pub fn chain_der(&self) -> &[Vec<u8>] {
        &self.chain
    }
}
