//! Client certificates written as people store them, for fixtures and `entra-dev cert create`:
//! PEM with a PKCS#8, PKCS#1 or encrypted PKCS#8 key, and PKCS#12 as OpenSSL 3 / Windows' AES
//! export writes it (PBES2 with PBKDF2-HMAC-SHA-256 and AES-256-CBC, MAC HMAC-SHA-256) or as
//! older exporters do (certificates under RC2-40, the key under 3DES, MAC HMAC-SHA-1).

use std::time::SystemTime;

use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockEncryptMut as _, InnerIvInit as _, KeyIvInit as _};
use der::asn1::{Any, BmpString, OctetString, SetOfVec};
use der::oid::ObjectIdentifier;
use der::{Decode as _, Encode as _};
use hmac::Mac as _;
use pkcs12::kdf::{derive_key, Pkcs12KeyType};
use rand::RngCore as _;
use rsa::pkcs1::EncodeRsaPrivateKey as _;
use rsa::pkcs8::{EncodePrivateKey as _, LineEnding};
use sha1::Digest as _;
use sha2::Sha256;
use x509_cert::attr::Attribute;
use x509_cert::builder::{Builder as _, CertificateBuilder, Profile};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::time::{Time, Validity};

use crate::credential::{ClientCertificate, GeneratedCertificate};
use crate::error::DevIssuerError;

const ID_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");
const ID_ENCRYPTED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.6");
const LOCAL_KEY_ID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.21");
const PBE_SHA1_3DES: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.12.1.3");
const PBE_SHA1_RC2_40: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.12.1.6");
const SHA1_OID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.14.3.2.26");
const SHA256_OID: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");

/// Iterations of every key derivation written (OpenSSL's default).
const ITERATIONS: u32 = 2048;

/// How [`GeneratedCertificate::to_file`] writes a certificate with its private key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CertificateFileFormat {
    /// PEM: the certificate, its chain, then the key as PKCS#8 `PRIVATE KEY` (unencrypted).
    Pem,
    /// PEM with the key as PKCS#1 `RSA PRIVATE KEY` (unencrypted; `openssl genrsa` before 3.0).
    Pkcs1Pem,
    /// PEM with the key as `ENCRYPTED PRIVATE KEY`: PBES2, PBKDF2-HMAC-SHA-256, AES-256-CBC
    /// (what `openssl pkcs8 -topk8` writes by default).
    EncryptedPem,
    /// PKCS#12 / PFX: PBES2 (PBKDF2-HMAC-SHA-256, AES-256-CBC) for certificates and key, MAC
    /// HMAC-SHA-256 (OpenSSL 3's default, Windows' AES256-SHA256 export).
    Pfx,
    /// PKCS#12 / PFX as older exporters write it: certificates under pbeWithSHAAnd40BitRC2-CBC,
    /// the key under pbeWithSHAAnd3-KeyTripleDES-CBC, MAC HMAC-SHA-1 (`openssl pkcs12 -legacy`).
    LegacyPfx,
}

impl CertificateFileFormat {
    /// Whether the format is PKCS#12 (binary) rather than PEM text.
    pub fn is_pkcs12(self) -> bool {
        matches!(self, Self::Pfx | Self::LegacyPfx)
    }
}

fn encoding(e: der::Error) -> DevIssuerError {
    DevIssuerError::CertificateEncoding(e)
}

fn pem_encoding(e: der::pem::Error) -> DevIssuerError {
    DevIssuerError::CertificateEncoding(e.into())
}

fn pbes2(e: pkcs5::Error) -> DevIssuerError {
    DevIssuerError::Credential(format!("PBES2 encryption failed: {e}").into())
}

fn credential(e: impl std::error::Error + Send + Sync + 'static) -> DevIssuerError {
    DevIssuerError::Credential(Box::new(e))
}

/// A certificate for `key`: self-signed (a root) without `issuer`, else a leaf signed by it.
pub(crate) fn build(
    key: rsa::RsaPrivateKey,
    common_name: &str,
    issuer: Option<&GeneratedCertificate>,
    not_before: SystemTime,
    not_after: SystemTime,
) -> Result<GeneratedCertificate, DevIssuerError> {
    let cn: String = common_name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, ' ' | '-' | '_' | '.'))
        .collect();
    let subject: Name = format!("CN={cn},O=entra-dev DEVELOPMENT ONLY")
        .parse()
        .map_err(encoding)?;
    let mut serial = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut serial);
    serial[0] = (serial[0] & 0x7f) | 0x01;
    let serial = SerialNumber::new(&serial).map_err(encoding)?;
    let validity = Validity {
        not_before: Time::try_from(not_before).map_err(encoding)?,
        not_after: Time::try_from(not_after).map_err(encoding)?,
    };
    let spki = SubjectPublicKeyInfoOwned::from_key(key.to_public_key())
        .map_err(|e| DevIssuerError::Certificate(e.into()))?;
    let (profile, signer, chain) = match issuer {
        None => (
            Profile::Root,
            rsa::pkcs1v15::SigningKey::<Sha256>::new(key.clone()),
            Vec::new(),
        ),
        Some(ca) => (
            Profile::Leaf {
                issuer: ca.subject.clone(),
                enable_key_agreement: false,
                enable_key_encipherment: false,
            },
            rsa::pkcs1v15::SigningKey::<Sha256>::new(ca.key.clone()),
            std::iter::once(ca.der.clone())
                .chain(ca.chain.iter().cloned())
                .collect(),
        ),
    };
    let builder =
        CertificateBuilder::new(profile, serial, validity, subject.clone(), spki, &signer)
            .map_err(DevIssuerError::Certificate)?;
    let cert = builder
        .build::<rsa::pkcs1v15::Signature>()
        .map_err(DevIssuerError::Certificate)?;
    let der = cert.to_der().map_err(encoding)?;
    let certificate = ClientCertificate::from_certificate_der(&der, None)?;
    let certificate_pem = der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::LF, &der)
        .map_err(pem_encoding)?;
    let private_key_pem = key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(credential)?
        .to_string();
    Ok(GeneratedCertificate {
        certificate,
        certificate_pem,
        private_key_pem,
        key,
        der,
        subject,
        chain,
    })
}

impl GeneratedCertificate {
    /// A self-signed certificate (a root: it can issue others) valid from `not_before` to
    /// `not_after`: in the past for an expired fixture, in the future for a not yet valid one.
    ///
    /// # Errors
    /// Certificate and encoding errors.
    pub fn with_dates(
        key: rsa::RsaPrivateKey,
        common_name: &str,
        not_before: std::time::SystemTime,
        not_after: std::time::SystemTime,
    ) -> Result<Self, DevIssuerError> {
        build(key, common_name, None, not_before, not_after)
    }

    /// A certificate for `key`, `CN={common_name}`, issued (signed) by this one: its chain is this
    /// certificate and this one's chain. Register the leaf, or trust the issuer's subject name.
    ///
    /// # Errors
    /// Certificate and encoding errors.
    pub fn issue(
        &self,
        key: rsa::RsaPrivateKey,
        common_name: &str,
        not_before: std::time::SystemTime,
        not_after: std::time::SystemTime,
    ) -> Result<Self, DevIssuerError> {
        build(key, common_name, Some(self), not_before, not_after)
    }

    /// The certificate, its chain and its key as one file in `format`. `password` encrypts the
    /// key (`EncryptedPem`, required) or the PKCS#12 file (`None`: an empty password, as Key
    /// Vault's PFX downloads have); it is ignored by the unencrypted PEM formats.
    ///
    /// # Errors
    /// [`DevIssuerError::Credential`] when `EncryptedPem` has no password; encoding errors.
    pub fn to_file(
        &self,
        format: CertificateFileFormat,
        password: Option<&str>,
    ) -> Result<Vec<u8>, DevIssuerError> {
        let certificates = || -> Result<String, DevIssuerError> {
            let mut text = self.certificate_pem.clone();
            for der in &self.chain {
                text.push_str(
                    &der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::LF, der)
                        .map_err(pem_encoding)?,
                );
            }
            Ok(text)
        };
        match format {
            CertificateFileFormat::Pem => {
                Ok((certificates()? + &self.private_key_pem).into_bytes())
            }
            CertificateFileFormat::Pkcs1Pem => {
                let key = self.key.to_pkcs1_pem(LineEnding::LF).map_err(credential)?;
                Ok((certificates()? + key.as_str()).into_bytes())
            }
            CertificateFileFormat::EncryptedPem => {
                let password = password.ok_or_else(|| {
                    DevIssuerError::Credential("an encrypted PEM key needs a password".into())
                })?;
                let key = self.encrypted_private_key(password, false)?;
                let pem = der::pem::encode_string(
                    "ENCRYPTED PRIVATE KEY",
                    der::pem::LineEnding::LF,
                    &key,
                )
                .map_err(pem_encoding)?;
                Ok((certificates()? + &pem).into_bytes())
            }
            CertificateFileFormat::Pfx => self.pkcs12(password.unwrap_or_default(), false),
            CertificateFileFormat::LegacyPfx => self.pkcs12(password.unwrap_or_default(), true),
        }
    }

    /// The PKCS#8 `EncryptedPrivateKeyInfo` (DER) of the key.
    fn encrypted_private_key(
        &self,
        password: &str,
        legacy: bool,
    ) -> Result<Vec<u8>, DevIssuerError> {
        let key = self.key.to_pkcs8_der().map_err(credential)?;
        let algorithm = if legacy { Some(PBE_SHA1_3DES) } else { None };
        let (encryption_algorithm, ciphertext) = encrypt(algorithm, password, key.as_bytes())?;
        pkcs12::pbe_params::EncryptedPrivateKeyInfo {
            encryption_algorithm,
            encrypted_data: OctetString::new(ciphertext).map_err(encoding)?,
        }
        .to_der()
        .map_err(encoding)
    }

    /// A PKCS#12 file: one encrypted safe with the certificate bags (the leaf carrying the
    /// localKeyId of its key), one plain safe with the shrouded key bag, and the MAC.
    fn pkcs12(&self, password: &str, legacy: bool) -> Result<Vec<u8>, DevIssuerError> {
        let local_key_id = {
            let mut values = SetOfVec::new();
            values
                .insert(
                    Any::encode_from(
                        &OctetString::new(sha1::Sha1::digest(&self.der).to_vec())
                            .map_err(encoding)?,
                    )
                    .map_err(encoding)?,
                )
                .map_err(encoding)?;
            let mut attributes = SetOfVec::new();
            attributes
                .insert(Attribute {
                    oid: LOCAL_KEY_ID,
                    values,
                })
                .map_err(encoding)?;
            attributes
        };
        let mut cert_bags = Vec::new();
        for (i, der) in std::iter::once(&self.der).chain(&self.chain).enumerate() {
            let bag = pkcs12::cert_type::CertBag {
                cert_id: pkcs12::PKCS_12_X509_CERT_OID,
                cert_value: OctetString::new(der.clone()).map_err(encoding)?,
            };
            cert_bags.push(pkcs12::safe_bag::SafeBag {
                bag_id: pkcs12::PKCS_12_CERT_BAG_OID,
                bag_value: bag.to_der().map_err(encoding)?,
                bag_attributes: (i == 0).then(|| local_key_id.clone()),
            });
        }
        let key_bags = vec![pkcs12::safe_bag::SafeBag {
            bag_id: pkcs12::PKCS_12_PKCS8_KEY_BAG_OID,
            bag_value: self.encrypted_private_key(password, legacy)?,
            bag_attributes: Some(local_key_id),
        }];
        let cert_contents = cert_bags.to_der().map_err(encoding)?;
        let (content_enc_alg, ciphertext) =
            encrypt(legacy.then_some(PBE_SHA1_RC2_40), password, &cert_contents)?;
        let encrypted = cms::encrypted_data::EncryptedData {
            version: cms::content_info::CmsVersion::V0,
            enc_content_info: cms::enveloped_data::EncryptedContentInfo {
                content_type: ID_DATA,
                content_enc_alg,
                encrypted_content: Some(OctetString::new(ciphertext).map_err(encoding)?),
            },
            unprotected_attrs: None,
        };
        let key_contents =
            OctetString::new(key_bags.to_der().map_err(encoding)?).map_err(encoding)?;
        let safes = vec![
            cms::content_info::ContentInfo {
                content_type: ID_ENCRYPTED_DATA,
                content: Any::encode_from(&encrypted).map_err(encoding)?,
            },
            cms::content_info::ContentInfo {
                content_type: ID_DATA,
                content: Any::encode_from(&key_contents).map_err(encoding)?,
            },
        ];
        let auth_safe = safes.to_der().map_err(encoding)?;
        let mut salt = [0u8; 8];
        rand::thread_rng().fill_bytes(&mut salt);
        let bmp = bmp_password(password)?;
        let rounds = ITERATIONS as i32;
        let (digest_oid, mac) = if legacy {
            let key = derive_key::<sha1::Sha1>(&bmp, &salt, Pkcs12KeyType::Mac, rounds, 20);
            let mut mac =
                <hmac::Hmac<sha1::Sha1> as hmac::Mac>::new_from_slice(&key).map_err(credential)?;
            mac.update(&auth_safe);
            (SHA1_OID, mac.finalize().into_bytes().to_vec())
        } else {
            let key = derive_key::<Sha256>(&bmp, &salt, Pkcs12KeyType::Mac, rounds, 32);
            let mut mac =
                <hmac::Hmac<Sha256> as hmac::Mac>::new_from_slice(&key).map_err(credential)?;
            mac.update(&auth_safe);
            (SHA256_OID, mac.finalize().into_bytes().to_vec())
        };
        let pfx = pkcs12::pfx::Pfx {
            version: pkcs12::pfx::Version::V3,
            auth_safe: cms::content_info::ContentInfo {
                content_type: ID_DATA,
                content: Any::encode_from(&OctetString::new(auth_safe).map_err(encoding)?)
                    .map_err(encoding)?,
            },
            mac_data: Some(pkcs12::mac_data::MacData {
                mac: pkcs12::digest_info::DigestInfo {
                    algorithm: AlgorithmIdentifierOwned {
                        oid: digest_oid,
                        parameters: Some(Any::null()),
                    },
                    digest: OctetString::new(mac).map_err(encoding)?,
                },
                mac_salt: OctetString::new(salt.to_vec()).map_err(encoding)?,
                iterations: rounds,
            }),
        };
        pfx.to_der().map_err(encoding)
    }
}

/// The password as PKCS#12's key derivation takes it: UTF-16BE with a terminating NUL.
fn bmp_password(password: &str) -> Result<Vec<u8>, DevIssuerError> {
    let mut bytes = BmpString::from_utf8(password)
        .map_err(encoding)?
        .into_bytes()
        .to_vec();
    bytes.extend([0, 0]);
    Ok(bytes)
}

/// Encrypts `plaintext` with PBES2 (PBKDF2-HMAC-SHA-256, AES-256-CBC) or, given its OID, a
/// PKCS#12 PBE (3DES or RC2-40).
fn encrypt(
    pkcs12_pbe: Option<ObjectIdentifier>,
    password: &str,
    plaintext: &[u8],
) -> Result<(AlgorithmIdentifierOwned, Vec<u8>), DevIssuerError> {
    let mut rng = rand::thread_rng();
    let mut salt = [0u8; 8];
    rng.fill_bytes(&mut salt);
    let Some(oid) = pkcs12_pbe else {
        let mut iv = [0u8; 16];
        rng.fill_bytes(&mut iv);
        let params = pkcs5::pbes2::Parameters::pbkdf2_sha256_aes256cbc(ITERATIONS, &salt, &iv)
            .map_err(pbes2)?;
        let scheme = pkcs5::EncryptionScheme::from(params);
        let ciphertext = scheme
            .encrypt(password.as_bytes(), plaintext)
            .map_err(pbes2)?;
        let algorithm = AlgorithmIdentifierOwned::from_der(&scheme.to_der().map_err(encoding)?)
            .map_err(encoding)?;
        return Ok((algorithm, ciphertext));
    };
    let bmp = bmp_password(password)?;
    let rounds = ITERATIONS as i32;
    let key_len = if oid == PBE_SHA1_3DES { 24 } else { 5 };
    let key = derive_key::<sha1::Sha1>(&bmp, &salt, Pkcs12KeyType::EncryptionKey, rounds, key_len);
    let iv = derive_key::<sha1::Sha1>(&bmp, &salt, Pkcs12KeyType::Iv, rounds, 8);
    let ciphertext = if oid == PBE_SHA1_3DES {
        cbc::Encryptor::<des::TdesEde3>::new_from_slices(&key, &iv)
            .map_err(credential)?
            .encrypt_padded_vec_mut::<Pkcs7>(plaintext)
    } else {
        let cipher = rc2::Rc2::new_with_eff_key_len(&key, 40);
        cbc::Encryptor::<rc2::Rc2>::inner_iv_slice_init(cipher, &iv)
            .map_err(credential)?
            .encrypt_padded_vec_mut::<Pkcs7>(plaintext)
    };
    let params = pkcs12::pbe_params::Pkcs12PbeParams {
        salt: OctetString::new(salt.to_vec()).map_err(encoding)?,
        iterations: rounds,
    };
    Ok((
        AlgorithmIdentifierOwned {
            oid,
            parameters: Some(Any::encode_from(&params).map_err(encoding)?),
        },
        ciphertext,
    ))
}
