//! Reading JWTs that clients send to the issuer (client assertions, federated tokens, on-behalf-of
//! assertions): the compact form, the JOSE header, and RS256 / PS256 signature checks. A leaf module; the
//! token endpoint decides what the claims must say.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rsa::signature::Verifier as _;
use rsa::RsaPublicKey;
use serde_json::{Map, Value};
use sha2::Sha256;

/// Why a compact JWT cannot even be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Malformed {
    /// Not three dot-separated parts.
    Parts,
    /// A part is not base64url.
    Base64,
    /// The header or payload is not a JSON object.
    Json,
}

impl std::fmt::Display for Malformed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Parts => "a JWT has three base64url parts separated by '.'",
            Self::Base64 => "a part of the JWT is not base64url (without padding)",
            Self::Json => "the JWT's header or payload is not a JSON object",
        })
    }
}

/// The signature algorithms the issuer accepts from clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Alg {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
    /// RSASSA-PSS with SHA-256 and a 32-byte salt (RFC 7518 §3.5).
    Ps256,
}

/// A compact JWT split and decoded, not yet verified.
#[derive(Debug, Clone)]
pub(crate) struct Jwt {
    pub(crate) header: Map<String, Value>,
    pub(crate) claims: Map<String, Value>,
    signing_input: String,
    signature: Vec<u8>,
}

impl Jwt {
    /// Splits and decodes `token`.
    pub(crate) fn parse(token: &str) -> Result<Self, Malformed> {
        let mut parts = token.trim().split('.');
        let (Some(h), Some(c), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(Malformed::Parts);
        };
        let decode = |part: &str| URL_SAFE_NO_PAD.decode(part).map_err(|_| Malformed::Base64);
        let object = |bytes: Vec<u8>| -> Result<Map<String, Value>, Malformed> {
            match serde_json::from_slice::<Value>(&bytes) {
                Ok(Value::Object(m)) => Ok(m),
                _ => Err(Malformed::Json),
            }
        };
        let header = object(decode(h)?)?;
        let claims = object(decode(c)?)?;
        let signature = decode(s)?;
        Ok(Self {
            header,
            claims,
            signing_input: format!("{h}.{c}"),
            signature,
        })
    }

    /// The header's `alg`, if it is one the issuer accepts.
    pub(crate) fn alg(&self) -> Option<Alg> {
        match self.header.get("alg").and_then(Value::as_str) {
            Some("RS256") => Some(Alg::Rs256),
            Some("PS256") => Some(Alg::Ps256),
            _ => None,
        }
    }

    /// The header's `alg` as sent (for error messages).
    pub(crate) fn alg_name(&self) -> &str {
        self.header
            .get("alg")
            .and_then(Value::as_str)
            .unwrap_or("(none)")
    }

    /// A string header parameter.
    pub(crate) fn header_str(&self, name: &str) -> Option<&str> {
        self.header.get(name).and_then(Value::as_str)
    }

    /// A string claim.
    pub(crate) fn claim_str(&self, name: &str) -> Option<&str> {
        self.claims.get(name).and_then(Value::as_str)
    }

    /// A numeric date claim (seconds since the epoch; fractions are dropped).
    pub(crate) fn claim_time(&self, name: &str) -> Option<i64> {
        let v = self.claims.get(name)?;
        v.as_i64().or_else(|| v.as_f64().map(|f| f as i64))
    }

    /// Whether the `aud` claim (a string or an array of strings) contains `audience`.
    pub(crate) fn has_audience(&self, audience: &str) -> bool {
        match self.claims.get("aud") {
            Some(Value::String(a)) => a == audience,
            Some(Value::Array(a)) => a.iter().any(|v| v.as_str() == Some(audience)),
            _ => false,
        }
    }

    /// The `aud` claim as text (for error messages).
    pub(crate) fn audience_text(&self) -> String {
        match self.claims.get("aud") {
            Some(Value::String(a)) => a.clone(),
            Some(other) => other.to_string(),
            None => "(none)".to_owned(),
        }
    }

    /// Whether the signature is valid for `key` with `alg`.
    pub(crate) fn verify(&self, alg: Alg, key: &RsaPublicKey) -> bool {
        let message = self.signing_input.as_bytes();
        match alg {
            Alg::Rs256 => {
                let Ok(signature) = rsa::pkcs1v15::Signature::try_from(self.signature.as_slice())
                else {
                    return false;
                };
                rsa::pkcs1v15::VerifyingKey::<Sha256>::new(key.clone())
                    .verify(message, &signature)
                    .is_ok()
            }
            Alg::Ps256 => {
                let Ok(signature) = rsa::pss::Signature::try_from(self.signature.as_slice()) else {
                    return false;
                };
                rsa::pss::VerifyingKey::<Sha256>::new(key.clone())
                    .verify(message, &signature)
                    .is_ok()
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parse_rejects_each_malformed_shape() {
        assert_eq!(Jwt::parse("a.b").unwrap_err(), Malformed::Parts);
        assert_eq!(Jwt::parse("a.b.c.d").unwrap_err(), Malformed::Parts);
        assert_eq!(Jwt::parse("!!.e30.").unwrap_err(), Malformed::Base64);
        assert_eq!(Jwt::parse("W10.e30.").unwrap_err(), Malformed::Json);
        let jwt = Jwt::parse("eyJhbGciOiJQUzI1NiJ9.eyJhdWQiOlsieCIsInkiXX0.").unwrap();
        assert_eq!(jwt.alg(), Some(Alg::Ps256));
        assert!(jwt.has_audience("y"));
        assert!(!jwt.has_audience("z"));
    }
}
