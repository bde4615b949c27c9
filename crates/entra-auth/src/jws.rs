//! JWS compact serialization (RFC 7515 §7.1): the split into segments, unpadded base64url
//! decoding, the JOSE header and the signature algorithms. No key and no claim is looked at here.

use std::borrow::Cow;
use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::de::IgnoredAny;
use serde::Deserialize;

use crate::error::{clip, AuthError, MalformedReason, OtherResource};

/// Largest RSA signature accepted (8192-bit keys), decoded on the stack.
pub(crate) const MAX_SIGNATURE_BYTES: usize = 1024;

/// A signature algorithm the validator may accept. Only asymmetric RSA algorithms exist here: `none`
/// and the HMAC family are never accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256 (what Microsoft issues).
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
}

impl Algorithm {
    /// The JOSE name, e.g. "RS256".
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RS256 => "RS256",
            Self::RS384 => "RS384",
            Self::RS512 => "RS512",
        }
    }

    /// The JOSE names of `algs`, for error messages.
    pub(crate) fn names(algs: &[Self]) -> Vec<&'static str> {
        algs.iter().map(|a| a.as_str()).collect()
    }

    pub(crate) fn from_jose(s: &str) -> Option<Self> {
        match s {
            "RS256" => Some(Self::RS256),
            "RS384" => Some(Self::RS384),
            "RS512" => Some(Self::RS512),
            _ => None,
        }
    }

    pub(crate) fn rsa_params(self) -> &'static crate::crypto::signature::RsaParameters {
        use crate::crypto::signature as s;
        match self {
            Self::RS256 => &s::RSA_PKCS1_2048_8192_SHA256,
            Self::RS384 => &s::RSA_PKCS1_2048_8192_SHA384,
            Self::RS512 => &s::RSA_PKCS1_2048_8192_SHA512,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn malformed(reason: MalformedReason) -> AuthError {
    AuthError::MalformedToken { reason }
}

/// The three base64url segments of a compact JWS, borrowed from the token.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Compact<'a> {
    token: &'a str,
    header: &'a str,
    payload: &'a str,
    signature: &'a str,
}

impl<'a> Compact<'a> {
    /// Splits `token` at its two dots.
    ///
    /// # Errors
    /// [`MalformedReason::SegmentCount`], or [`MalformedReason::Encrypted`] for five segments.
    pub(crate) fn split(token: &'a str) -> Result<Self, AuthError> {
        let segment_count = || token.bytes().filter(|b| *b == b'.').count() + 1;
        let (header, rest) = token
            .split_once('.')
            .ok_or_else(|| malformed(MalformedReason::SegmentCount { found: 1 }))?;
        let (payload, signature) = rest
            .split_once('.')
            .ok_or_else(|| malformed(MalformedReason::SegmentCount { found: 2 }))?;
        if signature.contains('.') {
            return Err(match segment_count() {
                5 => malformed(MalformedReason::Encrypted),
                n => malformed(MalformedReason::SegmentCount { found: n }),
            });
        }
        Ok(Self {
            token,
            header,
            payload,
            signature,
        })
    }

    /// The decoded header bytes.
    pub(crate) fn header_bytes(&self) -> Result<Vec<u8>, AuthError> {
        decode_segment(self.header, "header")
    }

    /// The decoded payload bytes.
    pub(crate) fn payload_bytes(&self) -> Result<Vec<u8>, AuthError> {
        decode_segment(self.payload, "payload")
    }

    /// The decoded signature, in `buf`; a signature longer than any accepted RSA key's cannot be
    /// valid ([`AuthError::InvalidSignature`]).
    pub(crate) fn signature<'b>(&self, buf: &'b mut [u8]) -> Result<&'b [u8], AuthError> {
        if self.signature.is_empty() {
            return Err(malformed(MalformedReason::Base64 {
                segment: "signature",
            }));
        }
        match URL_SAFE_NO_PAD.decode_slice(self.signature, buf) {
            Ok(n) => Ok(&buf[..n]),
            Err(base64::DecodeSliceError::OutputSliceTooSmall) => Err(AuthError::InvalidSignature),
            Err(base64::DecodeSliceError::DecodeError(_)) => {
                Err(malformed(MalformedReason::Base64 {
                    segment: "signature",
                }))
            }
        }
    }

    /// The signed bytes: the exact header and payload segments received, with their dot.
    pub(crate) fn signing_input(&self) -> &'a [u8] {
        &self.token.as_bytes()[..self.header.len() + 1 + self.payload.len()]
    }
}

fn decode_segment(segment: &str, name: &'static str) -> Result<Vec<u8>, AuthError> {
    if segment.is_empty() {
        return Err(malformed(MalformedReason::Base64 { segment: name }));
    }
    URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| malformed(MalformedReason::Base64 { segment: name }))
}

/// The JOSE header fields the pipeline reads, borrowed from the decoded header where possible.
/// `jku`, `x5u`, `jwk` and `x5c` are deliberately not read: keys only ever come from the
/// configured key document.
#[derive(Deserialize)]
struct RawHeader<'a> {
    #[serde(borrow)]
    alg: Cow<'a, str>,
    #[serde(borrow)]
    kid: Option<Cow<'a, str>>,
    #[serde(borrow)]
    x5t: Option<Cow<'a, str>>,
    #[serde(borrow)]
    typ: Option<Cow<'a, str>>,
    crit: Option<Vec<String>>,
    nonce: Option<IgnoredAny>,
    enc: Option<IgnoredAny>,
}

/// A checked JOSE header: an accepted algorithm, no `crit`, no `enc`, no `nonce`, a JWT `typ`.
pub(crate) struct JoseHeader<'a> {
    /// The algorithm, one of the accepted ones.
    pub(crate) alg: Algorithm,
    /// `kid`.
    pub(crate) kid: Option<Cow<'a, str>>,
    /// `x5t` (v1 tokens may name their key only by thumbprint).
    pub(crate) x5t: Option<Cow<'a, str>>,
}

impl<'a> JoseHeader<'a> {
    /// Parses and checks the decoded header `bytes` against the `accepted` algorithms
    /// (`client_id` names the fix when the header shows a token for another resource).
    ///
    /// # Errors
    /// [`AuthError::MalformedToken`], [`AuthError::UnsupportedAlgorithm`],
    /// [`AuthError::UnsupportedCriticalHeader`] or [`AuthError::TokenForOtherResource`].
    pub(crate) fn parse(
        bytes: &'a [u8],
        accepted: &[Algorithm],
        client_id: &str,
    ) -> Result<Self, AuthError> {
        let header: RawHeader<'a> = serde_json::from_slice(bytes).map_err(|e| {
            malformed(MalformedReason::Json {
                segment: "header",
                line: e.line(),
                column: e.column(),
            })
        })?;
        if header.enc.is_some() {
            return Err(malformed(MalformedReason::Encrypted));
        }
        let alg = match Algorithm::from_jose(&header.alg) {
            Some(a) if accepted.contains(&a) => a,
            _ => {
                return Err(AuthError::UnsupportedAlgorithm {
                    found: clip(&header.alg),
                    accepted: Algorithm::names(accepted),
                })
            }
        };
        if let Some(crit) = header.crit {
            return Err(AuthError::UnsupportedCriticalHeader {
                names: crit.iter().take(8).map(|c| clip(c)).collect(),
            });
        }
        if header.nonce.is_some() {
            return Err(AuthError::TokenForOtherResource {
                reason: OtherResource::NonceHeader,
                client_id: client_id.to_owned(),
            });
        }
        if let Some(typ) = &header.typ {
            let ok = ["JWT", "at+jwt", "application/at+jwt"]
                .iter()
                .any(|t| t.eq_ignore_ascii_case(typ));
            if !ok {
                return Err(malformed(MalformedReason::Type { found: clip(typ) }));
            }
        }
        Ok(Self {
            alg,
            kid: header.kid,
            x5t: header.x5t,
        })
    }
}
