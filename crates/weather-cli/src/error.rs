//! [`CliError`]: every way a command fails, with its friendly message, its hint and its exit code, decided
//! in one place ([`CliError::exit_code`], [`CliError::hint`]).

use std::fmt;

use url::Url;

use crate::config::ConfigError;
use crate::exit;

/// Where the token in use came from (it decides the hints for 401 and 403).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenOrigin {
    /// `--token` or `WEATHER_TOKEN`.
    Given,
    /// The client-credentials grant (an app-only token).
    ClientCredentials,
    /// A user's sign-in with `weather login`.
    User,
}

/// Which peer a network failure concerns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Peer {
    /// The weather service.
    Service,
    /// The identity provider (token endpoint).
    IdentityProvider,
}

/// How a connection failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConnectFailure {
    /// Nobody listens on that port.
    Refused,
    /// No answer within the time limit.
    TimedOut,
    /// Another transport failure (DNS, TLS, reset).
    Other,
}

impl ConnectFailure {
    /// Classifies a transport error (a `reqwest` error, or one that has it as a cause).
    pub(crate) fn of(err: &(dyn std::error::Error + 'static)) -> Self {
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
        while let Some(e) = source {
            if e.downcast_ref::<reqwest::Error>()
                .is_some_and(reqwest::Error::is_timeout)
            {
                return Self::TimedOut;
            }
            if let Some(io) = e.downcast_ref::<std::io::Error>() {
                if io.kind() == std::io::ErrorKind::ConnectionRefused {
                    return Self::Refused;
                }
            }
            source = e.source();
        }
        Self::Other
    }
}

impl fmt::Display for ConnectFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Refused => "connection refused",
            Self::TimedOut => "no answer in time",
            Self::Other => "connection failed",
        })
    }
}

/// What a 404 was about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Missing {
    /// A city for current weather.
    City(String),
    /// Anything else.
    Resource,
}

/// Which server-side failure a 5xx is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ServiceFailure {
    /// 502: OpenWeatherMap answered badly (or the API key is missing or wrong).
    BadGateway,
    /// 503: the service is overloaded, starting, or its identity provider is down.
    Unavailable,
    /// 504: OpenWeatherMap did not answer in time.
    GatewayTimeout,
    /// 500 and anything else.
    Internal,
}

/// Every failure of a command.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
    /// Bad settings or flags.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Nothing to get a token with.
    #[error("not signed in: no token, no user sign-in and no client secret for {authority}")]
    NoCredentials {
        /// The authority in use.
        authority: Url,
    },
    /// The cached user sign-in has expired (and there is no refresh token).
    #[error("not signed in: the sign-in of {account} has expired")]
    SignInExpired {
        /// Who had signed in.
        account: String,
    },
    /// The identity provider refused the refresh token: revoked, expired, password changed.
    #[error(
        "not signed in: the sign-in of {account} is no longer valid (the identity provider refused \
         it{}: revoked, expired or the password changed)", aadsts(*.code)
    )]
    SignInRevoked {
        /// Who had signed in.
        account: String,
        /// The AADSTS code (50173: revoked), 0 when none was given.
        code: u64,
    },
    /// The identity provider refused to issue a token.
    #[error(
        "the identity provider refused a token for client {client_id}: {error}: {description}"
    )]
    TokenRefused {
        /// The client asking.
        client_id: String,
        /// OAuth 2.0 `error`.
        error: String,
        /// OAuth 2.0 `error_description`.
        description: String,
    },
    /// The identity provider answered something that is not a token response.
    #[error("unexpected answer from the identity provider at {url}: HTTP {status}")]
    IdentityProviderAnswer {
        /// The token endpoint.
        url: Url,
        /// The HTTP status.
        status: u16,
        /// The token endpoint is the development issuer expected inside the service.
        service_hosts_issuer: bool,
    },
    /// Signing in, or the token cache, failed (entra-token's message says why).
    #[error("{error}")]
    Token {
        /// What failed.
        error: entra_token::TokenError,
        /// Where the token was to come from.
        origin: TokenOrigin,
    },
    /// 401.
    #[error("not signed in / token rejected: {detail}")]
    Unauthorized {
        /// The service's `detail`.
        detail: String,
        /// Where the token came from.
        origin: TokenOrigin,
    },
    /// 403.
    #[error("missing permission: the API needs {} (server said: {detail})", scope_phrase(.scope.as_deref()))]
    Forbidden {
        /// The `scope` attribute of the challenge.
        scope: Option<String>,
        /// The service's `detail`.
        detail: String,
        /// Where the token came from.
        origin: TokenOrigin,
    },
    /// 404.
    #[error("{}: {detail}", missing_phrase(.missing))]
    NotFound {
        /// What was missing.
        missing: Missing,
        /// The service's `detail`.
        detail: String,
    },
    /// 400, 413, 422 and other 4xx.
    #[error("the service refused the request (HTTP {status}): {detail}")]
    Rejected {
        /// The HTTP status.
        status: u16,
        /// The service's `detail`.
        detail: String,
    },
    /// 5xx.
    #[error("{}: {detail}", service_phrase(*.failure))]
    Service {
        /// Which failure.
        failure: ServiceFailure,
        /// The service's `detail`.
        detail: String,
    },
    /// A peer could not be reached.
    #[error("{}", unreachable_message(*.peer, .url, *.failure, *.service_hosts_issuer))]
    Unreachable {
        /// Which peer.
        peer: Peer,
        /// Its URL.
        url: Url,
        /// How the connection failed.
        failure: ConnectFailure,
        /// The identity provider is the service's development issuer (same process).
        service_hosts_issuer: bool,
        /// The transport error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// `weather accounts use` named no signed-in account.
    #[error("no signed-in account {given:?}; signed in: {}", if .known.is_empty() { "none".to_owned() } else { .known.join(", ") })]
    UnknownAccount {
        /// What was given.
        given: String,
        /// The usernames signed in.
        known: Vec<String>,
    },
    /// `weather reports --all` stopped following the service's `Link: rel="next"` pages.
    #[error("{}", paging_message(.stop, .link, *.read))]
    PagingStopped {
        /// Why.
        stop: PagingStop,
        /// The next link that was not followed.
        link: Url,
        /// How many reports had been read.
        read: usize,
    },
    /// An answer that fits none of the above.
    #[error("unexpected answer from {url}: HTTP {status}")]
    UnexpectedAnswer {
        /// The URL called.
        url: Url,
        /// The HTTP status.
        status: u16,
    },
    /// Reading input or writing output failed.
    #[error("input/output: {0}")]
    Io(#[from] std::io::Error),
}

/// Why `weather reports --all` stopped following next links.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PagingStop {
    /// The link leaves the service's origin (scheme, host and port of `--api-url`).
    OtherOrigin {
        /// The service's origin.
        expected: String,
    },
    /// The link leads to a page already read (a loop).
    Revisit,
    /// This many pages were read already.
    TooManyPages(usize),
}

fn paging_message(stop: &PagingStop, link: &Url, read: usize) -> String {
    let why = match stop {
        PagingStop::OtherOrigin { expected } => format!(
            "the service's next-page link points to {} instead of {expected}: not followed (the \
             token is sent to the service's origin only)",
            origin(link)
        ),
        PagingStop::Revisit => {
            format!("the service's next-page link leads back to a page already read ({link})")
        }
        PagingStop::TooManyPages(n) => format!("stopped after {n} pages (the most it follows)"),
    };
    format!("weather reports --all: {why}; {read} reports were read and none are shown")
}

fn aadsts(code: u64) -> String {
    if code == 0 {
        String::new()
    } else {
        format!(", AADSTS{code}")
    }
}

fn scope_phrase(scope: Option<&str>) -> String {
    match scope {
        Some(s) if s.contains(' ') => format!("one of the scopes {s}"),
        Some(s) => format!("scope {s}"),
        None => "a permission the token does not carry".to_owned(),
    }
}

fn missing_phrase(missing: &Missing) -> String {
    match missing {
        Missing::City(city) => format!("city not found: {city}"),
        Missing::Resource => "not found".to_owned(),
    }
}

fn service_phrase(failure: ServiceFailure) -> &'static str {
    match failure {
        ServiceFailure::BadGateway => "upstream problem (OpenWeatherMap)",
        ServiceFailure::Unavailable => "service unavailable",
        ServiceFailure::GatewayTimeout => {
            "upstream timeout (OpenWeatherMap did not answer in time)"
        }
        ServiceFailure::Internal => "the service failed",
    }
}

fn unreachable_message(
    peer: Peer,
    url: &Url,
    failure: ConnectFailure,
    service_hosts_issuer: bool,
) -> String {
    let base = origin(url);
    match (peer, service_hosts_issuer) {
        (Peer::Service, _) | (Peer::IdentityProvider, true) => format!(
            "cannot reach {base} ({failure}): is the service running at {base}? start it with \
             cargo run -p weather-api"
        ),
        (Peer::IdentityProvider, false) => {
            format!("cannot reach the identity provider at {url} ({failure})")
        }
    }
}

/// `scheme://host:port` of a URL.
pub(crate) fn origin(url: &Url) -> String {
    url.origin().ascii_serialization()
}

impl CliError {
    /// The process exit code of this failure.
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            Self::Config(_) => exit::USAGE,
            Self::Token {
                error: entra_token::TokenError::Cache(_),
                ..
            } => exit::OTHER,
            Self::NoCredentials { .. }
            | Self::SignInExpired { .. }
            | Self::SignInRevoked { .. }
            | Self::TokenRefused { .. }
            | Self::Token { .. }
            | Self::IdentityProviderAnswer { .. }
            | Self::Unauthorized { .. } => exit::AUTH,
            Self::Forbidden { .. } => exit::PERMISSION,
            Self::UnknownAccount { .. } => exit::USAGE,
            Self::NotFound { .. } => exit::NOT_FOUND,
            Self::Rejected { .. } => exit::INVALID_INPUT,
            Self::Service { .. } => exit::SERVICE,
            Self::Unreachable { .. } => exit::UNREACHABLE,
            Self::UnexpectedAnswer { .. } | Self::PagingStopped { .. } | Self::Io(_) => exit::OTHER,
        }
    }

    /// What to do about it, when there is something to say.
    pub(crate) fn hint(&self) -> Option<String> {
        match self {
            Self::NoCredentials { .. } => Some(
                "sign in with `weather login`, or give client credentials (--client-id and \
                 WEATHER_CLIENT_SECRET), or a token (--token or WEATHER_TOKEN)"
                    .to_owned(),
            ),
            Self::SignInExpired { .. } => Some(
                "sign in again with `weather login` (or `weather logout` to use client credentials)"
                    .to_owned(),
            ),
            Self::SignInRevoked { .. } => Some(
                "sign in again with `weather login` (`weather login --device-code` on a machine \
                 without a browser), or `weather logout` to use client credentials"
                    .to_owned(),
            ),
            Self::Token {
                error: entra_token::TokenError::SignInDeclined { .. },
                ..
            } => Some("run `weather login` again and accept the sign-in".to_owned()),
            Self::Token {
                error: entra_token::TokenError::Cache(entra_token::FileCacheError::NewerVersion { .. }),
                ..
            } => Some(
                "upgrade `weather` to the release that wrote the file (it was left as it is), or \
                 use --no-cache meanwhile"
                    .to_owned(),
            ),
            Self::Token {
                error: entra_token::TokenError::Cache(_),
                ..
            } => Some("use --no-cache to do without the token cache".to_owned()),
            Self::IdentityProviderAnswer {
                status: 404,
                service_hosts_issuer: true,
                ..
            } => Some(
                "the service has no development issuer (it runs with identity settings): give this \
                 command the same tenant and app registrations (--tenant, --api-client-id, --client-id \
                 or a settings file), or a token with --token"
                    .to_owned(),
            ),
            Self::TokenRefused { error, .. } if error == "invalid_client" => Some(
                "check --client-id and the client secret (--client-secret or WEATHER_CLIENT_SECRET)"
                    .to_owned(),
            ),
            Self::TokenRefused { error, .. } if error == "invalid_scope" => Some(
                "check --scope: the client-credentials grant asks for api://{api client id}/.default"
                    .to_owned(),
            ),
            Self::Unauthorized { origin, .. } => Some(match origin {
                TokenOrigin::Given => {
                    "the token from --token or WEATHER_TOKEN was refused: get a fresh one, for the \
                     development issuer: cargo run -q -p entra-dev -- token --scope weather.read"
                        .to_owned()
                }
                TokenOrigin::ClientCredentials => {
                    "the service does not accept tokens from this authority: check that --authority \
                     (or --instance and --tenant) and --scope match the service's azure_ad settings"
                        .to_owned()
                }
                TokenOrigin::User => "sign in again with `weather login`".to_owned(),
            }),
            Self::Forbidden { scope, origin, .. } => {
                let scope = scope.as_deref().unwrap_or("the missing scope");
                Some(match origin {
                    TokenOrigin::Given => {
                        format!("ask for a token that carries {scope}")
                    }
                    TokenOrigin::ClientCredentials => format!(
                        "an app-only token carries app roles, not scopes: grant the client the app \
                         role that goes with {scope} (Weather.Read.All or Weather.Write.All) and give \
                         admin consent"
                    ),
                    TokenOrigin::User => {
                        format!("sign in again with `weather login` and consent to {scope}")
                    }
                })
            }
            Self::Service {
                failure: ServiceFailure::BadGateway,
                ..
            } => Some("the service could not get the weather from OpenWeatherMap: check its api_key and try again later".to_owned()),
            Self::Service {
                failure: ServiceFailure::GatewayTimeout | ServiceFailure::Unavailable,
                ..
            } => Some("try again in a moment".to_owned()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forbidden_names_the_missing_scope_and_the_servers_words() {
        let e = CliError::Forbidden {
            scope: Some("weather.read".into()),
            detail: "IDW10203: the token lacks weather.read".into(),
            origin: TokenOrigin::Given,
        };
        assert_eq!(
            e.to_string(),
            "missing permission: the API needs scope weather.read (server said: IDW10203: the token lacks weather.read)"
        );
        assert_eq!(e.exit_code(), exit::PERMISSION);
        assert!(e.hint().unwrap().contains("weather.read"));
    }

    #[test]
    fn unauthorized_message_and_hint_depend_on_the_token_origin() {
        let e = |origin| CliError::Unauthorized {
            detail: "the token has expired".into(),
            origin,
        };
        assert_eq!(
            e(TokenOrigin::User).to_string(),
            "not signed in / token rejected: the token has expired"
        );
        assert!(e(TokenOrigin::User)
            .hint()
            .unwrap()
            .contains("weather login"));
        assert!(e(TokenOrigin::Given)
            .hint()
            .unwrap()
            .contains("WEATHER_TOKEN"));
        assert_eq!(e(TokenOrigin::ClientCredentials).exit_code(), exit::AUTH);
    }

    #[test]
    fn city_not_found_and_upstream_failures_have_their_own_words_and_codes() {
        let nf = CliError::NotFound {
            missing: Missing::City("atlantis".into()),
            detail: "no such city".into(),
        };
        assert_eq!(nf.to_string(), "city not found: atlantis: no such city");
        assert_eq!(nf.exit_code(), exit::NOT_FOUND);
        let bad = CliError::Service {
            failure: ServiceFailure::BadGateway,
            detail: "OpenWeatherMap answered 500".into(),
        };
        assert!(bad.to_string().starts_with("upstream problem"));
        assert_eq!(bad.exit_code(), exit::SERVICE);
    }

    #[test]
    fn unreachable_service_says_how_to_start_it() {
        let url = Url::parse("http://127.0.0.1:8000/api/reports").unwrap();
        let m = unreachable_message(Peer::Service, &url, ConnectFailure::Refused, false);
        assert_eq!(
            m,
            "cannot reach http://127.0.0.1:8000 (connection refused): is the service running at \
             http://127.0.0.1:8000? start it with cargo run -p weather-api"
        );
        let idp = Url::parse("https://login.example/t/oauth2/v2.0/token").unwrap();
        let m = unreachable_message(
            Peer::IdentityProvider,
            &idp,
            ConnectFailure::TimedOut,
            false,
        );
        assert!(m.starts_with("cannot reach the identity provider at https://login.example/"));
    }
}
