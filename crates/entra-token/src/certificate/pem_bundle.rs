//! PEM input: `CERTIFICATE` blocks (leaf and chain, any order) and one private key, as
//! `PRIVATE KEY` (PKCS#8), `RSA PRIVATE KEY` (PKCS#1) or `ENCRYPTED PRIVATE KEY` (PKCS#8
//! encrypted with PBES2 or a PKCS#12 PBE).

use entra_core::SecretString;
use zeroize::Zeroizing;

use super::{normalise_key, pbe, KeyMaterial};
use crate::error::{CertificateError, CertificateFormat};

/// Reads the certificates from `certificate_pem` and the first private key from `key_pem` (the
/// same text when one file holds both).
pub(super) fn parse(
    certificate_pem: &str,
    key_pem: &str,
    password: Option<&SecretString>,
) -> Result<KeyMaterial, CertificateError> {
    let certificates: Vec<Vec<u8>> = pem::parse_many(certificate_pem)?
        .into_iter()
        .filter(|p| p.tag() == "CERTIFICATE")
        .map(pem::Pem::into_contents)
        .collect();
    if certificates.is_empty() {
        return Err(CertificateError::NoCertificate);
    }
    let blocks = pem::parse_many(key_pem)?;
    let key = blocks
        .iter()
        .find(|p| p.tag().ends_with("PRIVATE KEY"))
        .ok_or(CertificateError::NoPrivateKey)?;
    let contents = Zeroizing::new(key.contents().to_vec());
    let key_pkcs8 = match key.tag() {
        "PRIVATE KEY" => normalise_key(contents)?,
        "RSA PRIVATE KEY" => {
            if key
                .headers()
                .get("Proc-Type")
                .is_some_and(|v| v.contains("ENCRYPTED"))
            {
                // OpenSSL's traditional format (`openssl genrsa -aes256`, `openssl rsa -des3`).
                let cipher = key.headers().get("DEK-Info").unwrap_or("an unnamed cipher");
                return Err(CertificateError::UnsupportedEncryption {
                    format: CertificateFormat::EncryptedPem,
                    algorithm: format!(
                        "OpenSSL's traditional PEM encryption (DEK-Info: {})",
                        cipher.split(',').next().unwrap_or_default()
                    ),
                });
            }
            super::pkcs1_to_pkcs8(&contents)?
        }
        "ENCRYPTED PRIVATE KEY" => {
            let password = password.ok_or(CertificateError::PasswordRequired {
                format: CertificateFormat::EncryptedPem,
            })?;
            let decrypted =
                pbe::decrypt_private_key(&contents, password, CertificateFormat::EncryptedPem)?;
            normalise_key(decrypted)?
        }
        _ => return Err(CertificateError::InvalidKey),
    };
    Ok(KeyMaterial {
        key_pkcs8,
        certificates,
    })
}
