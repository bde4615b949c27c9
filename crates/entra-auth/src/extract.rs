//! axum extractors (feature `axum`), against `axum-core`.
//!
//! [`Authenticated`] reads the claims the [`AuthLayer`](crate::AuthLayer) inserted. Without the
//! layer it validates the request itself through the [`AuthState`] reached by
//! [`FromRef`]; with a state that has no validator (the unit state
//! `()`), it answers 500 `auth_layer_missing`, a programming error.
//! [`Authorized<P>`] additionally checks the [`Permission`] `P`, so the requirement is visible in
//! the handler signature.

use std::marker::PhantomData;

use axum_core::extract::{FromRef, FromRequestParts};
use http::request::Parts;

use crate::claims::VerifiedClaims;
use crate::error::AuthError;
use crate::policy::Requirement;
use crate::validator::TokenValidator;

/// The library state an application exposes through `FromRef` for the extractors.
///
/// ```
/// use axum::extract::FromRef;
/// use entra_auth::AuthState;
///
/// #[derive(Clone)]
/// struct AppState { auth: AuthState }
/// impl FromRef<AppState> for AuthState {
///     fn from_ref(s: &AppState) -> Self { s.auth.clone() }
/// }
/// ```
#[derive(Debug, Clone)]
pub struct AuthState {
    validator: Option<TokenValidator>,
}

impl AuthState {
    /// State that lets extractors validate requests themselves.
    pub fn new(validator: TokenValidator) -> Self {
        Self {
            validator: Some(validator),
        }
    }

    /// State that only reads claims inserted by an [`AuthLayer`](crate::AuthLayer).
    pub fn layer_only() -> Self {
        Self { validator: None }
    }

    /// The validator, if any.
    pub fn validator(&self) -> Option<&TokenValidator> {
        self.validator.as_ref()
    }
}

impl From<TokenValidator> for AuthState {
    fn from(v: TokenValidator) -> Self {
        Self::new(v)
    }
}

/// Routers without state can still read the layer's claims.
impl FromRef<()> for AuthState {
    fn from_ref(_: &()) -> Self {
        Self::layer_only()
    }
}

async fn claims_for<S>(parts: &mut Parts, state: &S) -> Result<VerifiedClaims, AuthError>
where
    AuthState: FromRef<S>,
{
    if let Some(c) = parts.extensions.get::<VerifiedClaims>() {
        return Ok(c.clone());
    }
    let auth = AuthState::from_ref(state);
    let validator = auth.validator.ok_or(AuthError::AuthLayerMissing)?;
    let claims = validator.authorize(&*parts, None).await?;
    parts.extensions.insert(claims.clone());
    Ok(claims)
}

/// The verified claims of the request's bearer token.
///
/// ```no_run
/// use entra_auth::Authenticated;
/// async fn me(Authenticated(claims): Authenticated) -> String {
///     format!("hello {}", claims.name().unwrap_or("there"))
/// }
/// ```
#[derive(Debug, Clone)]
pub struct Authenticated(pub VerifiedClaims);

impl<S> FromRequestParts<S> for Authenticated
where
    AuthState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AuthError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        claims_for(parts, state).await.map(Self)
    }
}

/// A permission fixed in code, for [`Authorized`].
pub trait Permission: Send + Sync + 'static {
    /// What the permission requires.
    fn requirement() -> Requirement;
}

/// The verified claims, after checking the [`Permission`] `P` (403 `insufficient_scope` otherwise).
///
/// ```no_run
/// use entra_auth::{Authorized, Permission, Requirement};
///
/// struct WeatherRead;
/// impl Permission for WeatherRead {
///     fn requirement() -> Requirement {
///         Requirement::scopes(["weather.read"]).or_roles(["Weather.Read.All"])
///     }
/// }
///
/// async fn forecast(_auth: Authorized<WeatherRead>) -> &'static str {
///     "sunny"
/// }
/// ```
#[derive(Debug)]
pub struct Authorized<P> {
    /// The verified claims.
    pub claims: VerifiedClaims,
    _permission: PhantomData<fn() -> P>,
}

impl<P> Authorized<P> {
    /// The verified claims.
    pub fn into_claims(self) -> VerifiedClaims {
        self.claims
    }
}

impl<P, S> FromRequestParts<S> for Authorized<P>
where
    P: Permission,
    AuthState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AuthError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let claims = claims_for(parts, state).await?;
        if let Err(e) = P::requirement().check(&claims) {
            tracing::debug!(target: "entra_auth", code = e.code(), reason = %e, "bearer token rejected");
            if let Some(v) = AuthState::from_ref(state).validator() {
                v.record(&Err(e.clone()));
            }
            return Err(e);
        }
        Ok(Self {
            claims,
            _permission: PhantomData,
        })
    }
}
