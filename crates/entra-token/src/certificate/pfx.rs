//! PKCS#12 / PFX (RFC 7292) in password integrity and privacy mode: the MAC is checked first (a
//! wrong password is named as such), then each `data` or `encryptedData` safe is read for
//! certificate bags and (shrouded) key bags.

use der::asn1::{AnyRef, OctetString};
use der::oid::ObjectIdentifier;
use der::Decode as _;
use entra_core::SecretString;
use zeroize::Zeroizing;

use super::{normalise_key, pbe, KeyMaterial};
use crate::error::{CertificateError, CertificateFormat};

const ID_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");
const ID_ENCRYPTED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.6");

/// Nested safe contents bags deeper than this are refused (they are never written in practice).
const MAX_DEPTH: u8 = 4;

fn invalid(part: &'static str) -> CertificateError {
    CertificateError::InvalidPkcs12 { part }
}

/// Reads a PKCS#12 file: its first private key and all its certificates.
pub(super) fn parse(
    der: &[u8],
    password: Option<&SecretString>,
) -> Result<KeyMaterial, CertificateError> {
    let pfx = pkcs12::pfx::Pfx::from_der(der).map_err(|_| {
        if der.first() == Some(&0x30) {
            invalid("outer structure (PFX)")
        } else {
            CertificateError::UnrecognizedFormat
        }
    })?;
    if pfx.auth_safe.content_type != ID_DATA {
        return Err(CertificateError::UnsupportedEncryption {
            format: CertificateFormat::Pkcs12,
            algorithm: "public-key integrity mode (signedData)".to_owned(),
        });
    }
    let content = pfx
        .auth_safe
        .content
        .decode_as::<OctetString>()
        .map_err(|_| invalid("authenticated safe"))?;
    if let Some(mac) = &pfx.mac_data {
        if !pbe::verify_mac(mac, content.as_bytes(), password)? {
            return Err(match password {
                None => CertificateError::PasswordRequired {
                    format: CertificateFormat::Pkcs12,
                },
                Some(_) => CertificateError::WrongPassword {
                    format: CertificateFormat::Pkcs12,
                },
            });
        }
    }
    let empty = SecretString::from(String::new());
    let password = password.unwrap_or(&empty);
    let safes = Vec::<cms::content_info::ContentInfo>::from_der(content.as_bytes())
        .map_err(|_| invalid("authenticated safe"))?;
    let mut found = Found::default();
    for safe in safes {
        let contents = if safe.content_type == ID_DATA {
            Zeroizing::new(
                safe.content
                    .decode_as::<OctetString>()
                    .map_err(|_| invalid("data safe"))?
                    .into_bytes(),
            )
        } else if safe.content_type == ID_ENCRYPTED_DATA {
            let data = safe
                .content
                .decode_as::<cms::encrypted_data::EncryptedData>()
                .map_err(|_| invalid("encrypted safe"))?;
            let info = data.enc_content_info;
            let Some(ciphertext) = info.encrypted_content else {
                continue;
            };
            pbe::decrypt(
                &info.content_enc_alg,
                ciphertext.as_bytes(),
                password,
                CertificateFormat::Pkcs12,
            )?
        } else {
            // envelopedData (public-key privacy mode) is not used by any exporter we know.
            return Err(CertificateError::UnsupportedEncryption {
                format: CertificateFormat::Pkcs12,
                algorithm: format!("a safe of content type {}", safe.content_type),
            });
        };
        found.read_safe_contents(&contents, password, 0)?;
    }
    let key_pkcs8 = found.key.ok_or(CertificateError::Pkcs12WithoutKey)?;
    if found.certificates.is_empty() {
        return Err(CertificateError::NoCertificate);
    }
    Ok(KeyMaterial {
        key_pkcs8,
        certificates: found.certificates,
    })
}

#[derive(Default)]
struct Found {
    key: Option<Zeroizing<Vec<u8>>>,
    certificates: Vec<Vec<u8>>,
}

impl Found {
    fn read_safe_contents(
        &mut self,
        der: &[u8],
        password: &SecretString,
        depth: u8,
    ) -> Result<(), CertificateError> {
        if depth > MAX_DEPTH {
            return Err(invalid("safe contents (nested too deep)"));
        }
        let bags =
            pkcs12::safe_bag::SafeContents::from_der(der).map_err(|_| invalid("safe contents"))?;
        for bag in bags {
            // pkcs12 0.1 keeps the bag value with its explicit [0] wrapper: unwrap it.
            let wrapped = AnyRef::from_der(&bag.bag_value).map_err(|_| invalid("safe bag"))?;
            let value = if bag.bag_value.first() == Some(&0xA0) {
                wrapped.value()
            } else {
                bag.bag_value.as_slice()
            };
            match bag.bag_id {
                id if id == pkcs12::PKCS_12_CERT_BAG_OID => {
                    let cert = pkcs12::cert_type::CertBag::from_der(value)
                        .map_err(|_| invalid("certificate bag"))?;
                    if cert.cert_id == pkcs12::PKCS_12_X509_CERT_OID {
                        self.certificates.push(cert.cert_value.into_bytes());
                    }
                }
                id if id == pkcs12::PKCS_12_PKCS8_KEY_BAG_OID && self.key.is_none() => {
                    let key = pbe::decrypt_private_key(value, password, CertificateFormat::Pkcs12)?;
                    self.key = Some(normalise_key(key)?);
                }
                id if id == pkcs12::PKCS_12_KEY_BAG_OID && self.key.is_none() => {
                    self.key = Some(normalise_key(Zeroizing::new(value.to_vec()))?);
                }
                id if id == pkcs12::PKCS_12_SAFE_CONTENTS_BAG_OID => {
                    self.read_safe_contents(value, password, depth + 1)?;
                }
                _ => {}
            }
        }
        Ok(())
    }
}
