//! `entra-dev inspect`: decode a token (without verifying it) and explain each claim in plain words.
//! Whether a service would accept the token is the service's to say, with its own settings and
//! validator (weather-api: `weather-api check-token TOKEN`).

use std::io::Read as _;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context as _};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use clap::Args;
use serde_json::Value;

/// Options of `entra-dev inspect`.
#[derive(Debug, Args)]
#[command(after_long_help = "\
inspect only DECODES: it does not check the signature, the issuer, the audience or the lifetime, so it
cannot tell a genuine token from a forged one. Whether a service accepts the token is the service's to
say, with its own settings: for the weather API, `weather-api check-token TOKEN [--settings FILE]`.

EXAMPLES:
  entra-dev inspect \"$(entra-dev token)\"
  entra-dev token | entra-dev inspect - --json")]
pub(crate) struct InspectArgs {
    /// The token (a compact JWS: header.payload.signature); `-` reads it from stdin; a leading
    /// "Bearer " is ignored
    #[arg(value_name = "TOKEN")]
    token: String,

    /// Print JSON only (the decoded header and claims)
    #[arg(long)]
    json: bool,
}

fn decode_part(part: &str, what: &str) -> anyhow::Result<Value> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .with_context(|| format!("the {what} is not base64url"))?;
    serde_json::from_slice(&bytes).with_context(|| format!("the {what} is not JSON"))
}

/// Splits and decodes a compact JWS without verifying anything.
pub(crate) fn decode(token: &str) -> anyhow::Result<(Value, Value)> {
    let token = token.trim();
    let token = token.strip_prefix("Bearer ").unwrap_or(token).trim();
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() != 3 {
        bail!(
            "a JWT has 3 dot-separated parts (header.payload.signature); this has {}",
            parts.len()
        );
    }
    Ok((
        decode_part(parts[0], "header")?,
        decode_part(parts[1], "payload")?,
    ))
}

fn now_secs(now: SystemTime) -> i64 {
    now.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn human_delta(secs: i64) -> String {
    let a = secs.unsigned_abs();
    if a < 5 {
        return "now".to_owned();
    }
    let text = if a < 120 {
        format!("{a}s")
    } else if a < 7200 {
        format!("{}m", a / 60)
    } else if a < 172_800 {
        format!("{}h {}m", a / 3600, (a % 3600) / 60)
    } else {
        format!("{}d", a / 86_400)
    };
    if secs >= 0 {
        format!("in {text}")
    } else {
        format!("{text} ago")
    }
}

fn explain_header(name: &str, value: &Value) -> String {
    match name {
        "alg" => match value.as_str() {
            Some("RS256") => "signature algorithm: RSA with SHA-256, what Entra uses".into(),
            Some("none") => "NO SIGNATURE: an API must reject this token".into(),
            Some(a) if a.starts_with("HS") => {
                "an HMAC algorithm: Entra never uses it for access tokens; an API must reject this".into()
            }
            _ => "signature algorithm (an API accepts only the algorithms it is configured for)".into(),
        },
        "typ" => "token type; Entra writes \"JWT\"".into(),
        "kid" => "key id: which key of the issuer's published key set signed this token".into(),
        "x5t" => "SHA-1 thumbprint of the signing certificate (v1 tokens carry it)".into(),
        "nonce" => {
            "a nonce in the HEADER marks a token for Microsoft Graph or another Microsoft API: nobody else \
             can verify its signature; request a token for your own API instead"
                .into()
        }
        "jku" | "x5u" | "jwk" | "x5c" => {
            "a key or key location inside the token: validators must ignore it (keys only come from the \
             configured key set)"
                .into()
        }
        "crit" => "extensions the validator must understand, or reject the token".into(),
        _ => "header parameter entra-dev does not know".into(),
    }
}

fn explain_claim(name: &str, value: &Value, now: i64) -> String {
    let time = |what: &str| match value.as_i64() {
        Some(t) => format!(
            "{what}: {} ({})",
            entra_dev::format_unix_time(t),
            human_delta(t - now)
        ),
        None => format!("{what} (not a number: invalid)"),
    };
    match name {
        "aud" => "audience: the API this token is meant for; the API must check it is itself".into(),
        "iss" => {
            "issuer: who issued the token; must equal the issuer in the metadata the API trusts".into()
        }
        "iat" => time("issued at"),
        "nbf" => time("not valid before"),
        "exp" => time("expires"),
        "auth_time" => time("when the user signed in"),
        "tid" => "tenant id: the directory the user or app belongs to".into(),
        "oid" => {
            "object id: the stable, unique id of the user (or of the app's service principal); use it, \
             with tid, as the key for the caller"
                .into()
        }
        "sub" => "subject: pairwise id, stable for this user and this application only".into(),
        "azp" => "authorized party: the client application that asked for the token (v2)".into(),
        "appid" => "the client application that asked for the token (v1)".into(),
        "azpacr" | "appidacr" => match value.as_str() {
            Some("0") => "how the client authenticated: 0 = public client, no secret".into(),
            Some("1") => "how the client authenticated: 1 = client secret".into(),
            Some("2") => "how the client authenticated: 2 = certificate".into(),
            _ => "how the client authenticated".into(),
        },
        "scp" => {
            "delegated scopes (space-separated): what the user allowed the client to do in the API".into()
        }
        "roles" => {
            "app roles: permissions granted to the app (app-only tokens) or the user's role assignments"
                .into()
        }
        "idtyp" => "identity type: \"app\" marks an app-only token (no user)".into(),
        "name" => "display name of the user: for display only, never for authorization".into(),
        "preferred_username" | "upn" | "unique_name" | "email" | "emails" => {
            "sign-in name: for display only, it can change and is never for authorization".into()
        }
        "given_name" => "first name (display only)".into(),
        "family_name" => "last name (display only)".into(),
        "ver" => match value.as_str() {
            Some("1.0") => "token format version 1.0 (v1 issuer and audience rules; B2C too)".into(),
            Some("2.0") => "token format version 2.0".into(),
            _ => "token format version".into(),
        },
        "tfp" | "acr" if value.as_str().is_some_and(|v| v.to_ascii_uppercase().starts_with("B2C_")) => {
            "B2C user flow (policy) the user went through".into()
        }
        "acr" => "authentication context class (\"1\": the user signed in)".into(),
        "amr" => "how the user authenticated (pwd = password, mfa = multi-factor...)".into(),
        "uti" => "unique token id (Entra-internal)".into(),
        "aio" | "rh" => "opaque Entra-internal data; ignore it".into(),
        "xms_cc" => {
            "client capabilities; \"cp1\" means the client handles claims challenges (CAE)".into()
        }
        "wids" => "directory role template ids of the user".into(),
        "groups" => "group object ids of the user".into(),
        "nonce" => "nonce echoed from the sign-in request (ID tokens)".into(),
        _ => "a claim entra-dev does not know: custom or optional".into(),
    }
}

/// One line describing the token: who, what, when.
pub(crate) fn summary(claims: &Value, now: SystemTime) -> String {
    let now = now_secs(now);
    let app_only =
        claims["idtyp"] == "app" || (claims.get("scp").is_none() && claims.get("roles").is_some());
    let who = if app_only {
        format!(
            "app-only token for client {}",
            claims
                .get("azp")
                .or_else(|| claims.get("appid"))
                .and_then(Value::as_str)
                .unwrap_or("?")
        )
    } else {
        format!(
            "user token for {}",
            claims
                .get("name")
                .or_else(|| claims.get("preferred_username"))
                .and_then(Value::as_str)
                .unwrap_or("?")
        )
    };
    let mut parts = vec![format!("{who}, v{}", claims["ver"].as_str().unwrap_or("?"))];
    if let Some(scp) = claims["scp"].as_str() {
        parts.push(format!("scp \"{scp}\""));
    }
    if let Some(roles) = claims["roles"].as_array() {
        let r: Vec<&str> = roles.iter().filter_map(Value::as_str).collect();
        parts.push(format!("roles [{}]", r.join(", ")));
    }
    if let Some(nbf) = claims["nbf"].as_i64() {
        if nbf > now {
            parts.push(format!("NOT YET VALID (valid {})", human_delta(nbf - now)));
        }
    }
    match claims["exp"].as_i64() {
        Some(exp) if exp <= now => parts.push(format!("EXPIRED {}", human_delta(exp - now))),
        Some(exp) => parts.push(format!("expires {}", human_delta(exp - now))),
        None => parts.push("NO exp: an API must reject it".into()),
    }
    parts.join(", ")
}

/// The full plain-words report.
pub(crate) fn report(header: &Value, claims: &Value, now: SystemTime) -> String {
    let now_s = now_secs(now);
    let mut out = String::new();
    out.push_str(
        "NOT VERIFIED: this only decodes the token. The signature, issuer, audience and lifetime were NOT \
         checked, so a forged token looks exactly like a genuine one here.\n\n",
    );
    let width = |v: &Value| {
        v.as_object()
            .map(|m| m.keys().map(String::len).max().unwrap_or(0))
            .unwrap_or(0)
    };
    let w = width(header).max(width(claims));
    out.push_str("Header\n");
    if let Some(h) = header.as_object() {
        for (k, v) in h {
            out.push_str(&format!("  {k:<w$}  {v}\n      {}\n", explain_header(k, v)));
        }
    }
    out.push_str("\nClaims\n");
    if let Some(c) = claims.as_object() {
        for (k, v) in c {
            out.push_str(&format!(
                "  {k:<w$}  {v}\n      {}\n",
                explain_claim(k, v, now_s)
            ));
        }
    }
    out.push_str(&format!("\nSummary: {}\n", summary(claims, now)));
    out
}

pub(crate) fn run(args: InspectArgs) -> anyhow::Result<()> {
    let token = if args.token == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("reading the token from stdin failed")?;
        s
    } else {
        args.token.clone()
    };
    let (header, claims) = decode(&token)?;
    if args.json {
        let out = serde_json::json!({ "verified": false, "header": header, "claims": claims });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        print!("{}", report(&header, &claims, SystemTime::now()));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn token(header: &Value, claims: &Value) -> String {
        format!(
            "{}.{}.c2ln",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        )
    }

    #[test]
    fn decode_rejects_tokens_without_three_parts() {
        let err = decode("abc.def").unwrap_err();
        assert!(err.to_string().contains("3 dot-separated parts"));
    }

    #[test]
    fn decode_strips_bearer_prefix() {
        let t = token(&json!({"alg": "RS256"}), &json!({"ver": "2.0"}));
        let (h, c) = decode(&format!("Bearer {t}\n")).unwrap();
        assert_eq!(h["alg"], "RS256");
        assert_eq!(c["ver"], "2.0");
    }

    #[test]
    fn report_says_not_verified_and_explains_claims_and_expiry() {
        let now = UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        let claims = json!({"exp": 1_699_999_000, "scp": "weather.read", "name": "Alice", "ver": "2.0",
                            "oid": "x", "custom": 1});
        let r = report(&json!({"alg": "RS256", "kid": "k"}), &claims, now);
        assert!(r.starts_with("NOT VERIFIED"));
        assert!(r.contains("delegated scopes"));
        assert!(r.contains("never for authorization"));
        assert!(r.contains("2023-11-14T21:56:40Z (16m ago)"));
        assert!(r.contains("custom or optional"));
        assert!(r.contains(
            "Summary: user token for Alice, v2.0, scp \"weather.read\", EXPIRED 16m ago"
        ));
    }

    #[test]
    fn summary_recognises_app_only_and_not_yet_valid_tokens() {
        let now = UNIX_EPOCH + std::time::Duration::from_secs(1000);
        let s = summary(
            &json!({"idtyp": "app", "azp": "c", "roles": ["R"], "nbf": 1600, "exp": 5000, "ver": "2.0"}),
            now,
        );
        assert_eq!(
            s,
            "app-only token for client c, v2.0, roles [R], NOT YET VALID (valid in 10m), expires in 66m"
        );
    }

    #[test]
    fn header_nonce_is_explained_as_a_graph_token() {
        assert!(explain_header("nonce", &json!("x")).contains("Microsoft Graph"));
        assert!(explain_header("alg", &json!("none")).contains("NO SIGNATURE"));
    }
}
