//! The cryptography backend: aws-lc-rs (feature `aws-lc-rs`) or ring (feature `ring`), chosen
//! once here so that a crate built on entra-core compiles only the one its user picked. When both
//! features are enabled, aws-lc-rs is used. The module exists only with one of them.
//!
//! The surface is what signing a client assertion and keying a cache need, and no more: SHA-256
//! and SHA-1 digests (certificate thumbprints, cache keys), random bytes, an RSA private key
//! (PKCS#8 or PKCS#1 DER) signing RS256 or PS256, and AES-256-GCM.
//!
//! ```
//! use entra_core::crypto;
//!
//! // FIPS 180-2, appendix B.1.
//! let digest = crypto::sha256(b"abc");
//! assert_eq!(digest[..4], [0xba, 0x78, 0x16, 0xbf]);
//! ```

#[cfg(feature = "aws-lc-rs")]
use aws_lc_rs as backend;
#[cfg(all(feature = "ring", not(feature = "aws-lc-rs")))]
use ring as backend;

use backend::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use backend::digest;
use backend::rand::{SecureRandom as _, SystemRandom};
use backend::signature::{self, KeyPair as _, RsaKeyPair};

/// The name of the compiled backend: `"aws-lc-rs"` or `"ring"`.
pub const BACKEND: &str = if cfg!(feature = "aws-lc-rs") {
    "aws-lc-rs"
} else {
    "ring"
};

/// Why a cryptographic operation failed. Carries no key material.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// The bytes are not an RSA private key of the expected encoding that the backend accepts.
    #[error("not an RSA private key in {expected} DER that {BACKEND} accepts (RSA, 2048 bits or more); export the key in that encoding")]
    InvalidKey {
        /// The encoding that was expected: `"PKCS#8"` or `"PKCS#1"`.
        expected: &'static str,
    },
    /// The signature could not be computed.
    #[error("RSA signing failed")]
    Signing,
    /// The system's random number generator failed.
    #[error("the system random number generator failed")]
    Random,
    /// AES-256-GCM sealing failed, or opening found a value that does not verify.
    #[error(
        "AES-256-GCM sealing or opening failed (the value was altered or sealed under another key)"
    )]
    Aead,
}

/// The SHA-256 digest of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest::digest(&digest::SHA256, data).as_ref());
    out
}

/// The SHA-1 digest of `data`, for certificate thumbprints (`x5t`) only: SHA-1 is not
/// collision-resistant and must not protect anything.
pub fn sha1_for_thumbprint(data: &[u8]) -> [u8; 20] {
    let mut out = [0u8; 20];
    out.copy_from_slice(digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, data).as_ref());
    out
}

/// An incremental SHA-256, for digests of several fields.
#[derive(Clone)]
pub struct Sha256(digest::Context);

impl std::fmt::Debug for Sha256 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sha256")
    }
}

impl Default for Sha256 {
    fn default() -> Self {
        Self::new()
    }
}

impl Sha256 {
    /// An empty digest.
    pub fn new() -> Self {
        Self(digest::Context::new(&digest::SHA256))
    }

    /// Appends `data`.
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    /// The digest of everything appended.
    pub fn finish(self) -> [u8; 32] {
        let mut out = [0u8; 32];
        out.copy_from_slice(self.0.finish().as_ref());
        out
    }
}

/// Fills `buf` with bytes from the system's cryptographically secure random number generator.
///
/// # Errors
/// [`CryptoError::Random`] when the generator fails.
pub fn fill_random(buf: &mut [u8]) -> Result<(), CryptoError> {
    SystemRandom::new()
        .fill(buf)
        .map_err(|_| CryptoError::Random)
}

/// An RSA signature scheme with SHA-256.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RsaSignature {
    /// RSASSA-PKCS1-v1_5 with SHA-256 (JOSE `RS256`).
    Rs256,
    /// RSASSA-PSS with SHA-256, MGF1 with SHA-256 and a 32-byte salt (JOSE `PS256`).
    Ps256,
}

impl RsaSignature {
    fn encoding(self) -> &'static dyn signature::RsaEncoding {
        match self {
            Self::Rs256 => &signature::RSA_PKCS1_SHA256,
            Self::Ps256 => &signature::RSA_PSS_SHA256,
        }
    }
}

/// An RSA private key that signs. `Debug` never shows it.
pub struct RsaPrivateKey {
    key: RsaKeyPair,
    rng: SystemRandom,
}

impl std::fmt::Debug for RsaPrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RsaPrivateKey")
            .field("modulus_bits", &(self.key.public_key().modulus_len() * 8))
            .finish_non_exhaustive()
    }
}

impl RsaPrivateKey {
    /// The key in a PKCS#8 `PrivateKeyInfo` (DER; PEM label `PRIVATE KEY`).
    ///
    /// # Errors
    /// [`CryptoError::InvalidKey`] when `der` is not an RSA PKCS#8 key the backend accepts.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, CryptoError> {
        RsaKeyPair::from_pkcs8(der)
            .map(Self::new)
            .map_err(|_| CryptoError::InvalidKey { expected: "PKCS#8" })
    }

    /// The key in a PKCS#1 `RSAPrivateKey` (DER; PEM label `RSA PRIVATE KEY`).
    ///
    /// # Errors
    /// [`CryptoError::InvalidKey`] when `der` is not a PKCS#1 RSA key the backend accepts.
    pub fn from_pkcs1_der(der: &[u8]) -> Result<Self, CryptoError> {
        RsaKeyPair::from_der(der)
            .map(Self::new)
            .map_err(|_| CryptoError::InvalidKey { expected: "PKCS#1" })
    }

    fn new(key: RsaKeyPair) -> Self {
        Self {
            key,
            rng: SystemRandom::new(),
        }
    }

    /// The public key as a PKCS#1 `RSAPublicKey` (DER): the bytes of a certificate's
    /// `subjectPublicKey` for an RSA key.
    pub fn public_key_pkcs1_der(&self) -> &[u8] {
        self.key.public_key().as_ref()
    }

    /// The length of the modulus, and of every signature, in bytes.
    pub fn modulus_len(&self) -> usize {
        self.key.public_key().modulus_len()
    }

    /// The signature of `message` under `scheme`.
    ///
    /// # Errors
    /// [`CryptoError::Signing`] when the backend fails to sign.
    pub fn sign(&self, scheme: RsaSignature, message: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mut signature = vec![0u8; self.key.public_key().modulus_len()];
        self.key
            .sign(scheme.encoding(), &self.rng, message, &mut signature)
            .map_err(|_| CryptoError::Signing)?;
        Ok(signature)
    }
}

/// The length of an AES-256-GCM nonce, in bytes.
pub const AES_256_GCM_NONCE_LEN: usize = 12;

/// An AES-256-GCM key. `Debug` never shows it.
pub struct Aes256Gcm(LessSafeKey);

impl std::fmt::Debug for Aes256Gcm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Aes256Gcm([REDACTED])")
    }
}

impl Aes256Gcm {
    /// The key with these 32 bytes.
    ///
    /// # Errors
    /// [`CryptoError::Aead`] if the backend refuses the key.
    pub fn new(key: &[u8; 32]) -> Result<Self, CryptoError> {
        UnboundKey::new(&AES_256_GCM, key)
            .map(|k| Self(LessSafeKey::new(k)))
            .map_err(|_| CryptoError::Aead)
    }

    /// Encrypts `in_out` in place and appends the tag. `nonce` must never be used twice with
    /// this key (a random one per value).
    ///
    /// # Errors
    /// [`CryptoError::Aead`] if the backend fails.
    pub fn seal_in_place_append_tag(
        &self,
        nonce: [u8; AES_256_GCM_NONCE_LEN],
        aad: &[u8],
        in_out: &mut Vec<u8>,
    ) -> Result<(), CryptoError> {
        self.0
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad), in_out)
            .map_err(|_| CryptoError::Aead)
    }

    /// Decrypts `in_out` (ciphertext then tag) in place and returns the plaintext, a prefix of it.
    ///
    /// # Errors
    /// [`CryptoError::Aead`] when the tag does not verify (altered, or another key, nonce or
    /// associated data).
    pub fn open_in_place<'a>(
        &self,
        nonce: [u8; AES_256_GCM_NONCE_LEN],
        aad: &[u8],
        in_out: &'a mut [u8],
    ) -> Result<&'a mut [u8], CryptoError> {
        self.0
            .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(aad), in_out)
            .map_err(|_| CryptoError::Aead)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn sha256_matches_the_fips_vector() {
        assert_eq!(
            hex(&sha256(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let mut incremental = Sha256::new();
        incremental.update(b"a");
        incremental.update(b"bc");
        assert_eq!(incremental.finish(), sha256(b"abc"));
    }

    #[test]
    fn sha1_matches_the_fips_vector() {
        assert_eq!(
            hex(&sha1_for_thumbprint(b"abc")),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
    }

    #[test]
    fn garbage_is_an_invalid_key_naming_the_encoding() {
        let err = RsaPrivateKey::from_pkcs8_der(b"not a key").unwrap_err();
        assert_eq!(err, CryptoError::InvalidKey { expected: "PKCS#8" });
        assert!(err.to_string().contains("PKCS#8"), "{err}");
        let err = RsaPrivateKey::from_pkcs1_der(b"not a key").unwrap_err();
        assert_eq!(err, CryptoError::InvalidKey { expected: "PKCS#1" });
    }

    #[test]
    fn aes_gcm_opens_what_it_sealed_and_refuses_other_associated_data() {
        let key = Aes256Gcm::new(&[7u8; 32]).unwrap();
        let mut nonce = [0u8; AES_256_GCM_NONCE_LEN];
        fill_random(&mut nonce).unwrap();
        let mut sealed = b"token".to_vec();
        key.seal_in_place_append_tag(nonce, b"aad", &mut sealed)
            .unwrap();
        assert_ne!(&sealed[..5], b"token");
        let mut copy = sealed.clone();
        assert_eq!(
            key.open_in_place(nonce, b"aad", &mut copy).unwrap(),
            b"token"
        );
        assert_eq!(
            key.open_in_place(nonce, b"other", &mut sealed).unwrap_err(),
            CryptoError::Aead
        );
    }
}
