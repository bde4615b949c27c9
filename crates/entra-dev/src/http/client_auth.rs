//! Client authentication at the token endpoint: a client secret (form or HTTP Basic), a certificate-signed
//! client assertion (RFC 7523), or a federated credential (an external issuer's token as the assertion).
//! Every refusal is Entra's `invalid_client` answer with the AADSTS code Entra uses and what to fix; no
//! secret or assertion is ever echoed.

use std::time::SystemTime;

use axum::http::{header, HeaderMap};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use sha2::{Digest as _, Sha256};

use crate::config::DevClient;
use crate::http::endpoint::Endpoint;
use crate::http::oauth::{OAuthError, Params};
use crate::jwt::{Alg, Jwt, Malformed};
use crate::keys::unix_secs;
use crate::mint::CallingClient;
use crate::request::ClientAuthMethod;
use crate::state::IssuerState;

/// The only client assertion type (RFC 7523 §2.2).
pub(crate) const JWT_BEARER_ASSERTION: &str =
    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// How far the issuer's clock and the client's may disagree (Entra allows five minutes).
const CLOCK_SKEW: i64 = 300;

/// The longest lifetime (`exp` - `nbf`) of a certificate client assertion.
const MAX_ASSERTION_LIFETIME: i64 = 600;

/// A client that proved who it is (or a public client, which proves nothing).
#[derive(Clone, Copy, Debug)]
pub(crate) struct AuthenticatedClient<'a> {
    pub(crate) client: &'a DevClient,
    pub(crate) method: ClientAuthMethod,
}

impl<'a> AuthenticatedClient<'a> {
    /// The `azp`/`azpacr` of tokens issued to it.
    pub(crate) fn calling(&self) -> CallingClient<'a> {
        CallingClient {
            client_id: &self.client.client_id,
            auth: self.method,
        }
    }
}

/// Authenticates the client of a token request: form `client_id` with `client_secret` or
/// `client_assertion_type` + `client_assertion`, or HTTP Basic.
pub(crate) fn authenticate_client<'a>(
    inner: &'a IssuerState,
    ep: &Endpoint,
    params: &Params,
    headers: &HeaderMap,
) -> Result<AuthenticatedClient<'a>, OAuthError> {
    let basic = basic_credentials(headers);
    let form_id = params.get("client_id")?;
    let form_secret = params.get("client_secret")?;
    let assertion = params.get("client_assertion")?;
    let assertion_type = params.get("client_assertion_type")?;
    if let Some(assertion) = assertion {
        if basic.is_some() || form_secret.is_some() {
            return Err(OAuthError::invalid_request(
                90_015,
                "Send one client credential: either client_secret (or HTTP Basic) or client_assertion, \
                 not both.",
            ));
        }
        if assertion_type != Some(JWT_BEARER_ASSERTION) {
            return Err(OAuthError::invalid_request(
                90_014,
                format!(
                    "The request body must contain client_assertion_type={JWT_BEARER_ASSERTION} with \
                     client_assertion (got {}).",
                    assertion_type.unwrap_or("no client_assertion_type")
                ),
            ));
        }
        return assertion_client(inner, ep, form_id, assertion);
    }
    let (client_id, secret) = match &basic {
        // Some public clients send Basic with an empty secret: that is no secret.
        Some((id, secret)) => (id.as_str(), Some(secret.as_str()).filter(|s| !s.is_empty())),
        None => (
            form_id.ok_or_else(|| OAuthError::missing("client_id"))?,
            form_secret,
        ),
    };
    let client = registered(inner, client_id)?;
    match (&client.secret, secret) {
        (_, None) if client.is_confidential() => Err(OAuthError::invalid_client(
            7_000_218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        )),
        (Some(expected), Some(given)) if constant_time_eq(expected.as_bytes(), given.as_bytes()) => {
            Ok(AuthenticatedClient {
                client,
                method: ClientAuthMethod::Secret,
            })
        }
        (_, Some(_)) if client.is_confidential() => Err(OAuthError::invalid_client(
            7_000_215,
            format!(
                "Invalid client secret provided. Ensure the secret being sent in the request is the \
                 client secret value, not the client secret ID, for a secret added to app '{}'.",
                client.client_id
            ),
        )),
        (_, Some(_)) => Err(OAuthError::invalid_client(
            700_025,
            "Client is public so neither 'client_assertion' nor 'client_secret' should be presented.",
        )),
        (_, None) => Ok(AuthenticatedClient {
            client,
            method: ClientAuthMethod::None,
        }),
    }
}

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| STANDARD.decode(b.trim()).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| {
            s.split_once(':').map(|(id, secret)| {
                let decode = |x: &str| {
                    url::form_urlencoded::parse(format!("x={x}").as_bytes())
                        .next()
                        .map(|(_, v)| v.into_owned())
                        .unwrap_or_default()
                };
                (decode(id), decode(secret))
            })
        })
}

fn registered<'a>(inner: &'a IssuerState, client_id: &str) -> Result<&'a DevClient, OAuthError> {
    inner.config.client(client_id).ok_or_else(|| {
        OAuthError::invalid_client(
            700_016,
            format!(
                "Application with identifier '{client_id}' was not found in the directory 'entra-dev'. \
                 Registered clients: {}.",
                inner
                    .config
                    .clients
                    .iter()
                    .map(|c| c.client_id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
    })
}

fn malformed(e: Malformed) -> OAuthError {
    OAuthError::invalid_client(
        50_027,
        format!("JWT token is invalid or malformed: the client_assertion cannot be read ({e})."),
    )
}

/// A client assertion: certificate-signed when its `iss` is the client id, else a federated credential.
fn assertion_client<'a>(
    inner: &'a IssuerState,
    ep: &Endpoint,
    form_id: Option<&str>,
    assertion: &str,
) -> Result<AuthenticatedClient<'a>, OAuthError> {
    let jwt = Jwt::parse(assertion).map_err(malformed)?;
    let iss = jwt.claim_str("iss").unwrap_or_default();
    let sub = jwt.claim_str("sub").unwrap_or_default();
    let client_id = match form_id {
        Some(id) => id,
        None if iss == sub && !iss.is_empty() => iss,
        None => return Err(OAuthError::missing("client_id")),
    };
    let client = registered(inner, client_id)?;
    if iss.eq_ignore_ascii_case(&client.client_id) {
        certificate_assertion(inner, ep, client, &jwt)?;
    } else if !client.federated_credentials.is_empty() {
        federated_assertion(inner, client, &jwt)?;
    } else {
        return Err(OAuthError::invalid_client(
            700_021,
            format!(
                "Client assertion application identifier doesn't match 'client_id' parameter: a \
                 certificate assertion has iss = sub = the client id '{}', got iss '{iss}'; and the \
                 client has no federated credential that trusts that issuer.",
                client.client_id
            ),
        ));
    }
    Ok(AuthenticatedClient {
        client,
        method: ClientAuthMethod::Assertion,
    })
}

fn now() -> i64 {
    i64::try_from(unix_secs(SystemTime::now())).unwrap_or(i64::MAX)
}

/// RFC 7523 with Entra's rules: iss = sub = client id, aud = the token endpoint, exp/nbf within ten
/// minutes, jti, and the `x5t#S256` of a registered certificate; RS256 or PS256.
fn certificate_assertion(
    inner: &IssuerState,
    ep: &Endpoint,
    client: &DevClient,
    jwt: &Jwt,
) -> Result<(), OAuthError> {
    if !jwt
        .claim_str("sub")
        .is_some_and(|s| s.eq_ignore_ascii_case(&client.client_id))
    {
        return Err(OAuthError::invalid_client(
            700_021,
            format!(
                "Client assertion application identifier doesn't match 'client_id' parameter: the \
                 assertion's sub must be the client id '{}' (as its iss).",
                client.client_id
            ),
        ));
    }
    let alg = jwt.alg().ok_or_else(|| unsupported_alg(jwt))?;
    let s256 = jwt.header_str("x5t#S256");
    let registered = client
        .certificates
        .iter()
        .any(|c| c.matches(s256, jwt.header_str("x5t"), jwt.header_str("kid")));
    let x5c = jwt.header.get("x5c").and_then(|v| {
        v.as_array()?
            .iter()
            .map(|c| c.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
    });
    match x5c {
        Some(x5c) if !registered && !client.trusted_certificate_subjects.is_empty() => {
            subject_name_issuer(client, jwt, alg, &x5c)?
        }
        _ => registered_certificate(client, jwt, alg)?,
    }
    let accepted = [
        format!("{}/oauth2/v2.0/token", ep.base(inner)),
        format!("{}/oauth2/token", ep.base(inner)),
        format!(
            "{}{}/oauth2/v2.0/token",
            inner.instance, inner.config.tenant_id
        ),
        format!("{}{}/oauth2/token", inner.instance, inner.config.tenant_id),
    ];
    if !accepted.iter().any(|a| jwt.has_audience(a)) {
        return Err(OAuthError::invalid_client(
            700_023,
            format!(
                "Client assertion audience claim does not match Realm issuer: aud is '{}', expected the \
                 token endpoint {}.",
                jwt.audience_text(),
                accepted[0]
            ),
        ));
    }
    if jwt.claim_str("jti").is_none_or(str::is_empty) {
        return Err(OAuthError::invalid_client(
            50_027,
            "JWT token is invalid or malformed: the client assertion has no jti claim (a unique id, \
             e.g. a random GUID).",
        ));
    }
    let exp = jwt.claim_time("exp").ok_or_else(|| {
        OAuthError::invalid_client(
            50_027,
            "JWT token is invalid or malformed: the client assertion has no exp claim.",
        )
    })?;
    let start = jwt.claim_time("nbf").or_else(|| jwt.claim_time("iat"));
    let Some(start) = start else {
        return Err(OAuthError::invalid_client(
            50_027,
            "JWT token is invalid or malformed: the client assertion has neither nbf nor iat.",
        ));
    };
    check_window(exp, Some(start))?;
    if exp - start > MAX_ASSERTION_LIFETIME {
        return Err(OAuthError::invalid_client(
            700_024,
            format!(
                "Client assertion is not within its valid time range: it is valid for {} s (exp - nbf); \
                 a client assertion may be valid for at most {MAX_ASSERTION_LIFETIME} s (10 minutes).",
                exp - start
            ),
        ));
    }
    Ok(())
}

/// The assertion is signed by a certificate registered on the client, named by `x5t#S256` (or
/// `x5t`, or `kid` for a bare key).
fn registered_certificate(client: &DevClient, jwt: &Jwt, alg: Alg) -> Result<(), OAuthError> {
    if client.certificates.is_empty() {
        return Err(OAuthError::invalid_client(
            700_027,
            format!(
                "Client assertion failed signature validation: no certificate is registered on \
                 application '{}'. Register one (entra-dev cert create) before signing assertions.",
                client.client_id
            ),
        ));
    }
    let s256 = jwt.header_str("x5t#S256");
    let x5t = jwt.header_str("x5t");
    let kid = jwt.header_str("kid");
    let mut candidates = client
        .certificates
        .iter()
        .filter(|c| c.matches(s256, x5t, kid))
        .peekable();
    if candidates.peek().is_none() {
        return Err(OAuthError::invalid_client(
            700_027,
            format!(
                "The certificate with identifier used to sign the client assertion is not registered on \
                 application '{}'. [Reason - The key was not found., Thumbprint of key used by client: \
                 '{}'] Put the registered certificate's base64url SHA-256 thumbprint in the x5t#S256 \
                 header.",
                client.client_id,
                s256.or(x5t).unwrap_or("none")
            ),
        ));
    }
    if !candidates.any(|c| jwt.verify(alg, c.public_key())) {
        return Err(OAuthError::invalid_client(
            700_027,
            "Client assertion failed signature validation: the signature does not verify with the \
             registered certificate's public key (signed with another key, or altered).",
        ));
    }
    Ok(())
}

/// Subject name + issuer authentication: the `x5c` leaf has a trusted subject, chains to its
/// issuer, is valid now, and signed the assertion (whose `x5t#S256`, when present, names it).
fn subject_name_issuer(
    client: &DevClient,
    jwt: &Jwt,
    alg: Alg,
    x5c: &[String],
) -> Result<(), OAuthError> {
    let now = unix_secs(SystemTime::now());
    let mut reasons = Vec::new();
    for trusted in &client.trusted_certificate_subjects {
        match trusted.leaf_key(x5c, now) {
            Ok(key) => {
                let leaf_s256 = x5c
                    .first()
                    .and_then(|c| STANDARD.decode(c).ok())
                    .map(|der| {
                        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(der))
                    });
                if jwt
                    .header_str("x5t#S256")
                    .is_some_and(|s| Some(s) != leaf_s256.as_deref())
                {
                    reasons.push("x5t#S256 does not name the x5c leaf".to_owned());
                } else if jwt.verify(alg, &key) {
                    return Ok(());
                } else {
                    reasons
                        .push("the signature does not verify with the x5c leaf's key".to_owned());
                }
            }
            Err(reason) => reasons.push(reason),
        }
    }
    Err(OAuthError::invalid_client(
        700_027,
        format!(
            "Client assertion failed signature validation: subject name and issuer authentication \
             of application '{}' refused the x5c certificate: {}.",
            client.client_id,
            reasons.join("; ")
        ),
    ))
}

fn unsupported_alg(jwt: &Jwt) -> OAuthError {
    OAuthError::invalid_client(
        5_002_738,
        format!(
            "Invalid JWT token. '{}' is not a supported signature algorithm. Sign client assertions \
             with RS256 or PS256.",
            jwt.alg_name()
        ),
    )
}

fn check_window(exp: i64, nbf: Option<i64>) -> Result<(), OAuthError> {
    let now = now();
    if exp + CLOCK_SKEW <= now {
        return Err(OAuthError::invalid_client(
            700_024,
            format!(
                "Client assertion is not within its valid time range: it expired at {} (now {}). Create \
                 a fresh assertion for each request.",
                crate::time::format_unix_time(exp),
                crate::time::format_unix_time(now)
            ),
        ));
    }
    if let Some(nbf) = nbf {
        if nbf - CLOCK_SKEW > now {
            return Err(OAuthError::invalid_client(
                700_024,
                format!(
                    "Client assertion is not within its valid time range: it is not valid before {} \
                     (now {}).",
                    crate::time::format_unix_time(nbf),
                    crate::time::format_unix_time(now)
                ),
            ));
        }
    }
    Ok(())
}

/// A federated credential: the assertion is the external issuer's token for the configured subject and
/// audience, signed with one of the configured keys.
fn federated_assertion(
    inner: &IssuerState,
    client: &DevClient,
    jwt: &Jwt,
) -> Result<(), OAuthError> {
    let iss = jwt.claim_str("iss").unwrap_or_default();
    let sub = jwt.claim_str("sub").unwrap_or_default();
    let tid = &inner.config.tenant_id;
    let own_issuer = iss == format!("{}{tid}/v2.0", inner.instance)
        || iss == format!("{}{tid}/", inner.instance);
    let by_issuer: Vec<_> = client
        .federated_credentials
        .iter()
        .filter(|f| {
            if f.is_this_issuer() {
                own_issuer
            } else {
                f.issuer == iss
            }
        })
        .collect();
    if by_issuer.is_empty() {
        return Err(OAuthError::invalid_client(
            700_211,
            format!(
                "No matching federated identity record found for presented assertion issuer '{iss}'. \
                 Application '{}' trusts: {}.",
                client.client_id,
                client
                    .federated_credentials
                    .iter()
                    .map(|f| f.issuer.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    let Some(credential) = by_issuer.iter().find(|f| f.subject == sub) else {
        return Err(OAuthError::invalid_client(
            700_213,
            format!(
                "No matching federated identity record found for presented assertion subject '{sub}'. \
                 Check the subject of the federated credential on application '{}'.",
                client.client_id
            ),
        ));
    };
    if !credential.audiences.iter().any(|a| jwt.has_audience(a)) {
        return Err(OAuthError::invalid_client(
            700_212,
            format!(
                "No matching federated identity record found for presented assertion audience '{}'. \
                 Request the external token for the audience {}.",
                jwt.audience_text(),
                credential.audiences.join(", ")
            ),
        ));
    }
    let alg = jwt.alg().ok_or_else(|| unsupported_alg(jwt))?;
    let verified = if credential.is_this_issuer() {
        let kid = jwt.header_str("kid");
        let ring = inner.read_keys();
        let published = ring.published(SystemTime::now(), inner.config.key_grace_period);
        published
            .into_iter()
            .filter(|k| kid.is_none_or(|kid| kid == k.kid))
            .any(|k| jwt.verify(alg, &k.public_key()))
    } else {
        credential
            .keys_for(jwt.header_str("kid"))
            .any(|k| jwt.verify(alg, k))
    };
    if !verified {
        return Err(OAuthError::invalid_client(
            700_027,
            format!(
                "Client assertion failed signature validation: the external token does not verify with \
                 the keys configured for issuer '{iss}'."
            ),
        ));
    }
    let exp = jwt.claim_time("exp").ok_or_else(|| {
        OAuthError::invalid_client(
            50_027,
            "JWT token is invalid or malformed: the external token has no exp claim.",
        )
    })?;
    check_window(exp, jwt.claim_time("nbf"))
}

pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let da = Sha256::digest(a);
    let db = Sha256::digest(b);
    da.iter()
        .zip(db.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}
