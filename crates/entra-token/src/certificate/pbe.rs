//! Password-based decryption of keys and PKCS#12 contents: PBES2 (RFC 8018: PBKDF2 with
//! HMAC-SHA-1/SHA-224/SHA-256/SHA-384/SHA-512 or scrypt, AES-CBC or 3DES) and PKCS#12's own PBE
//! (RFC 7292 appendix B/C: SHA-1 key derivation with 3DES or RC2), plus the PKCS#12 MAC.

use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockDecryptMut as _, InnerIvInit as _, KeyIvInit as _};
use der::asn1::BmpString;
use der::oid::ObjectIdentifier;
use der::{Decode as _, Encode as _};
use entra_core::{ExposeSecret as _, SecretString};
use pkcs12::kdf::{derive_key, Pkcs12KeyType};
use x509_cert::spki::AlgorithmIdentifierOwned;
use zeroize::Zeroizing;

use crate::error::{CertificateError, CertificateFormat};

const PBES2: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.5.13");
const SHA1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.14.3.2.26");
const SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
const SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3");

/// Names of the algorithms people meet, for the "unsupported" message.
fn algorithm_name(oid: &ObjectIdentifier) -> String {
    let name = match oid.to_string().as_str() {
        "1.2.840.113549.1.12.1.1" => "pbeWithSHAAnd128BitRC4",
        "1.2.840.113549.1.12.1.2" => "pbeWithSHAAnd40BitRC4",
        "1.2.840.113549.1.12.1.3" => "pbeWithSHAAnd3-KeyTripleDES-CBC",
        "1.2.840.113549.1.12.1.4" => "pbeWithSHAAnd2-KeyTripleDES-CBC",
        "1.2.840.113549.1.12.1.5" => "pbeWithSHAAnd128BitRC2-CBC",
        "1.2.840.113549.1.12.1.6" => "pbeWithSHAAnd40BitRC2-CBC",
        "1.2.840.113549.1.5.3" => "pbeWithMD5AndDES-CBC (PBES1)",
        "1.2.840.113549.1.5.6" => "pbeWithMD5AndRC2-CBC (PBES1)",
        "1.2.840.113549.1.5.10" => "pbeWithSHA1AndDES-CBC (PBES1)",
        "1.2.840.113549.1.5.11" => "pbeWithSHA1AndRC2-CBC (PBES1)",
        "1.2.840.113549.1.5.14" => "PBMAC1",
        "1.2.840.113549.1.5.12" => "PBKDF2",
        "1.3.6.1.4.1.11591.4.11" => "scrypt",
        "1.3.14.3.2.7" => "DES-CBC",
        "1.2.840.113549.3.2" => "RC2-CBC",
        "1.2.840.113549.3.7" => "DES-EDE3-CBC",
        "2.16.840.1.101.3.4.1.2" => "AES-128-CBC",
        "2.16.840.1.101.3.4.1.22" => "AES-192-CBC",
        "2.16.840.1.101.3.4.1.42" => "AES-256-CBC",
        "2.16.840.1.101.3.4.1.6" => "AES-128-GCM",
        "2.16.840.1.101.3.4.1.46" => "AES-256-GCM",
        "1.2.840.113549.2.7" => "HMAC-SHA-1",
        "1.2.840.113549.2.9" => "HMAC-SHA-256",
        "1.2.643.7.1.1.2.2" => "GOST R 34.11-2012",
        _ => return format!("the algorithm with OID {oid}"),
    };
    name.to_owned()
}

fn unsupported(format: CertificateFormat, algorithm: String) -> CertificateError {
    CertificateError::UnsupportedEncryption { format, algorithm }
}

/// Decrypts an `EncryptedPrivateKeyInfo` (DER) to the key's DER.
pub(super) fn decrypt_private_key(
    der: &[u8],
    password: &SecretString,
    format: CertificateFormat,
) -> Result<Zeroizing<Vec<u8>>, CertificateError> {
    let info =
        pkcs12::pbe_params::EncryptedPrivateKeyInfo::from_der(der).map_err(|_| match format {
            CertificateFormat::Pkcs12 => CertificateError::InvalidPkcs12 {
                part: "shrouded key bag",
            },
            _ => CertificateError::InvalidKey,
        })?;
    decrypt(
        &info.encryption_algorithm,
        info.encrypted_data.as_bytes(),
        password,
        format,
    )
}

/// Decrypts `ciphertext` with the password-based scheme `algorithm`.
pub(super) fn decrypt(
    algorithm: &AlgorithmIdentifierOwned,
    ciphertext: &[u8],
    password: &SecretString,
    format: CertificateFormat,
) -> Result<Zeroizing<Vec<u8>>, CertificateError> {
    let wrong = CertificateError::WrongPassword { format };
    if algorithm.oid == PBES2 {
        let der = algorithm.to_der().map_err(|_| wrong_params(format))?;
        let scheme = pkcs5::EncryptionScheme::try_from(der.as_slice())
            .map_err(|_| unsupported(format, pbes2_name(algorithm)))?;
        // PBES2 takes the password's UTF-8 bytes (PKCS#12 included, as OpenSSL and Windows do).
        return match scheme.decrypt(password.expose_secret().as_bytes(), ciphertext) {
            Ok(plain) => Ok(Zeroizing::new(plain)),
            Err(pkcs5::Error::UnsupportedAlgorithm { .. } | pkcs5::Error::NoPbes1CryptSupport) => {
                Err(unsupported(format, pbes2_name(algorithm)))
            }
            Err(_) => Err(wrong),
        };
    }
    let (key_len, rc2_bits) = match algorithm.oid.to_string().as_str() {
        "1.2.840.113549.1.12.1.3" => (24, None),
        "1.2.840.113549.1.12.1.4" => (16, None),
        "1.2.840.113549.1.12.1.5" => (16, Some(128)),
        "1.2.840.113549.1.12.1.6" => (5, Some(40)),
        _ => return Err(unsupported(format, algorithm_name(&algorithm.oid))),
    };
    let params = algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.decode_as::<pkcs12::pbe_params::Pkcs12PbeParams>().ok())
        .ok_or_else(|| wrong_params(format))?;
    let bmp = bmp_password(password)?;
    let salt = params.salt.as_bytes();
    let key = Zeroizing::new(derive_key::<sha1::Sha1>(
        &bmp,
        salt,
        Pkcs12KeyType::EncryptionKey,
        params.iterations,
        key_len,
    ));
    let iv = derive_key::<sha1::Sha1>(&bmp, salt, Pkcs12KeyType::Iv, params.iterations, 8);
    let plain = match (rc2_bits, key_len) {
        (Some(bits), _) => {
            let cipher = rc2::Rc2::new_with_eff_key_len(&key, bits);
            cbc::Decryptor::<rc2::Rc2>::inner_iv_slice_init(cipher, &iv)
                .map_err(|_| wrong_params(format))?
                .decrypt_padded_vec_mut::<Pkcs7>(ciphertext)
        }
        (None, 24) => cbc::Decryptor::<des::TdesEde3>::new_from_slices(&key, &iv)
            .map_err(|_| wrong_params(format))?
            .decrypt_padded_vec_mut::<Pkcs7>(ciphertext),
        (None, _) => cbc::Decryptor::<des::TdesEde2>::new_from_slices(&key, &iv)
            .map_err(|_| wrong_params(format))?
            .decrypt_padded_vec_mut::<Pkcs7>(ciphertext),
    };
    plain.map(Zeroizing::new).map_err(|_| wrong)
}

fn wrong_params(format: CertificateFormat) -> CertificateError {
    match format {
        CertificateFormat::Pkcs12 => CertificateError::InvalidPkcs12 {
            part: "encryption parameters",
        },
        _ => CertificateError::InvalidKey,
    }
}

/// "PBES2 with <kdf> and <cipher>", for a PBES2 scheme pkcs5 does not implement.
fn pbes2_name(algorithm: &AlgorithmIdentifierOwned) -> String {
    let parts = algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.decode_as::<pkcs12::pbe_params::Pbes2Params>().ok());
    match parts {
        Some(p) => {
            let prf = p
                .kdf
                .parameters
                .as_ref()
                .and_then(|k| k.decode_as::<pkcs12::pbe_params::Pbkdf2Params>().ok())
                .map(|k| format!(" ({})", algorithm_name(&k.prf.oid)))
                .unwrap_or_default();
            format!(
                "PBES2 with {}{prf} and {}",
                algorithm_name(&p.kdf.oid),
                algorithm_name(&p.encryption.oid)
            )
        }
        None => "PBES2 with unreadable parameters".to_owned(),
    }
}

/// The password as PKCS#12 wants it for its key derivation: UTF-16BE with a terminating NUL.
fn bmp_password(password: &SecretString) -> Result<Zeroizing<Vec<u8>>, CertificateError> {
    let bmp = BmpString::from_utf8(password.expose_secret())
        .map_err(|_| CertificateError::PasswordEncoding)?;
    let mut bytes = Zeroizing::new(bmp.into_bytes().to_vec());
    bytes.extend([0, 0]);
    Ok(bytes)
}

/// Whether the PKCS#12 MAC over `content` verifies with `password`. `None` stands for both
/// encodings of "no password" (an empty BMP string with its NUL, and no bytes at all, as OpenSSL
/// writes for `-passout pass:` and for no password). `Err` when the MAC's digest is not supported.
pub(super) fn verify_mac(
    mac: &pkcs12::mac_data::MacData,
    content: &[u8],
    password: Option<&SecretString>,
) -> Result<bool, CertificateError> {
    let candidates: Vec<Zeroizing<Vec<u8>>> = match password {
        Some(p) if !p.expose_secret().is_empty() => vec![bmp_password(p)?],
        _ => vec![Zeroizing::new(vec![0, 0]), Zeroizing::new(Vec::new())],
    };
    let salt = mac.mac_salt.as_bytes();
    let expected = mac.mac.digest.as_bytes();
    let rounds = mac.iterations;
    let alg = mac.mac.algorithm.oid;
    for pass in &candidates {
        let ok = if alg == SHA1 {
            check::<hmac::Hmac<sha1::Sha1>, sha1::Sha1>(pass, salt, rounds, content, expected)
        } else if alg == SHA256 {
            check::<hmac::Hmac<sha2::Sha256>, sha2::Sha256>(pass, salt, rounds, content, expected)
        } else if alg == SHA384 {
            check::<hmac::Hmac<sha2::Sha384>, sha2::Sha384>(pass, salt, rounds, content, expected)
        } else if alg == SHA512 {
            check::<hmac::Hmac<sha2::Sha512>, sha2::Sha512>(pass, salt, rounds, content, expected)
        } else {
            return Err(unsupported(
                CertificateFormat::Pkcs12,
                format!("an integrity MAC over {}", algorithm_name(&alg)),
            ));
        };
        if ok {
            return Ok(true);
        }
    }
    Ok(false)
}

fn check<M, D>(pass: &[u8], salt: &[u8], rounds: i32, content: &[u8], expected: &[u8]) -> bool
where
    M: hmac::Mac + hmac::digest::KeyInit,
    D: sha2::Digest
        + sha2::digest::FixedOutputReset
        + sha2::digest::core_api::BlockSizeUser
        + sha2::digest::OutputSizeUser,
{
    let len = <D as sha2::digest::OutputSizeUser>::output_size();
    let key = Zeroizing::new(derive_key::<D>(pass, salt, Pkcs12KeyType::Mac, rounds, len));
    let Ok(mut mac) = <M as hmac::digest::KeyInit>::new_from_slice(&key) else {
        return false;
    };
    mac.update(content);
    mac.verify_slice(expected).is_ok()
}
