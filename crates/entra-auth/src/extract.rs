//! axum extractors (feature `axum`), against `axum-core`.
//!
//! [`Authenticated`] reads the claims the [`AuthLayer`](crate::AuthLayer) inserted. Without the
//! layer it validates the request itself through the [`AuthState`] reached by
//! [`FromRef`]; with a state that has no validator (the unit state
//! `()`), it answers 500 `auth_layer_missing`, a programming error. `Option<Authenticated>` is
//! optional authentication: no token, `None`; a token that is present but invalid is refused
//! (401) as always, never silently anonymous.
//!
//! [`Authorized<P>`] additionally checks the [`Permission`] `P`, whose [`Requirement`] was
//! registered once at start-up with [`AuthState::permit`] (so it can come from settings), so the
//! requirement is visible in the handler signature. [`AuthState::ensure_permits`] makes an
//! unregistered permission fail at start-up; [`permission_of`] reads a handler's permission from
//! its signature (for documents such as OpenAPI's security requirements).

use std::any::TypeId;
use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::Arc;

use axum_core::extract::{FromRef, FromRequestParts, OptionalFromRequestParts};
use http::request::Parts;

use crate::claims::VerifiedClaims;
use crate::error::{AuthError, ConfigError};
use crate::policy::Requirement;
use crate::validator::TokenValidator;

/// The library state an application exposes through `FromRef` for the extractors: the
/// validator, and the requirement of each named [`Permission`], registered once at start-up.
///
/// ```
/// use axum::extract::FromRef;
/// use entra_auth::{AuthState, Permission, PermissionId, Requirement};
///
/// struct ReportsRead;
/// impl Permission for ReportsRead {}
///
/// #[derive(Clone)]
/// struct AppState { auth: AuthState }
/// impl FromRef<AppState> for AuthState {
///     fn from_ref(s: &AppState) -> Self { s.auth.clone() }
/// }
///
/// let read_role = "Weather.Read.All"; // from settings
/// let auth = AuthState::layer_only()
///     .permit::<ReportsRead>(Requirement::scopes(["weather.read"]).or_roles([read_role]));
/// auth.ensure_permits(&[PermissionId::of::<ReportsRead>()]).unwrap();
/// assert_eq!(
///     auth.requirement::<ReportsRead>().unwrap().required_roles()[0].as_str(),
///     "Weather.Read.All"
/// );
/// ```
#[derive(Debug, Clone)]
pub struct AuthState {
    validator: Option<TokenValidator>,
    permits: Arc<HashMap<TypeId, (&'static str, Arc<Requirement>)>>,
}

impl AuthState {
    /// State that lets extractors validate requests themselves.
    pub fn new(validator: TokenValidator) -> Self {
        Self {
            validator: Some(validator),
            permits: Arc::default(),
        }
    }

    /// State that only reads claims inserted by an [`AuthLayer`](crate::AuthLayer).
    pub fn layer_only() -> Self {
        Self {
            validator: None,
            permits: Arc::default(),
        }
    }

    /// The validator, if any.
    pub fn validator(&self) -> Option<&TokenValidator> {
        self.validator.as_ref()
    }

    /// Registers what the permission `P` requires (once, at start-up; a second call for the
    /// same `P` replaces the first).
    pub fn permit<P: Permission>(mut self, requirement: Requirement) -> Self {
        Arc::make_mut(&mut self.permits)
            .insert(TypeId::of::<P>(), (P::name(), Arc::new(requirement)));
        self
    }

    /// The requirement registered for `P`.
    pub fn requirement<P: Permission>(&self) -> Option<&Requirement> {
        self.requirement_of(PermissionId::of::<P>())
    }

    /// The requirement registered for the permission `id`.
    pub fn requirement_of(&self, id: PermissionId) -> Option<&Requirement> {
        self.permits.get(&id.type_id).map(|(_, r)| &**r)
    }

    /// Every registered permission's name and requirement (in no particular order).
    pub fn permits(&self) -> impl Iterator<Item = (&'static str, &Requirement)> {
        self.permits.values().map(|(n, r)| (*n, &**r))
    }

    /// Checks at start-up that every permission the application uses is registered.
    ///
    /// # Errors
    /// [`ConfigError::PermissionNotRegistered`] naming the first one that is not.
    pub fn ensure_permits(&self, permissions: &[PermissionId]) -> Result<(), ConfigError> {
        match permissions
            .iter()
            .find(|p| !self.permits.contains_key(&p.type_id))
        {
            Some(p) => Err(ConfigError::PermissionNotRegistered { permission: p.name }),
            None => Ok(()),
        }
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

/// The claims of the request: from the layer, else validated here (and checked against
/// `requirement` in the same call, so that a rejection is counted and logged once).
async fn claims_for<S>(
    parts: &mut Parts,
    state: &S,
    requirement: Option<&Requirement>,
) -> Result<VerifiedClaims, AuthError>
where
    AuthState: FromRef<S>,
{
    let auth = AuthState::from_ref(state);
    if let Some(c) = parts.extensions.get::<VerifiedClaims>() {
        let claims = c.clone();
        if let Some(r) = requirement {
            let result = r.check_async(&claims).await.map(|()| claims);
            match auth.validator() {
                Some(v) => v.record(&result),
                None => {
                    if let Err(e) = &result {
                        tracing::debug!(target: "entra_auth", code = e.code(), status = e.status().as_u16(), reason = %e, "bearer token rejected");
                    }
                }
            }
            return result;
        }
        return Ok(claims);
    }
    let validator = auth.validator.ok_or(AuthError::AuthLayerMissing)?;
    let claims = validator.authorize(&*parts, requirement).await?;
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
///
/// `Option<Authenticated>` serves anonymous callers too: `None` without a token, the claims
/// with a valid one, and 401 with an invalid one (never silently anonymous):
///
/// ```no_run
/// use entra_auth::Authenticated;
/// async fn home(caller: Option<Authenticated>) -> String {
///     match caller {
///         Some(Authenticated(c)) => format!("welcome back, {}", c.name().unwrap_or("friend")),
///         None => "welcome".to_owned(),
///     }
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
        claims_for(parts, state, None).await.map(Self)
    }
}

impl<S> OptionalFromRequestParts<S> for Authenticated
where
    AuthState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AuthError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        if parts.extensions.get::<VerifiedClaims>().is_none()
            && !parts.headers.contains_key(http::header::AUTHORIZATION)
            && !parts
                .uri
                .query()
                .is_some_and(crate::bearer::has_access_token_param)
        {
            return Ok(None);
        }
        claims_for(parts, state, None).await.map(|c| Some(Self(c)))
    }
}

/// A named permission for [`Authorized`]: a marker type whose [`Requirement`] is registered at
/// start-up with [`AuthState::permit`] (so role names can come from settings).
pub trait Permission: Send + Sync + 'static {
    /// The name in messages (default: the type's name without its path).
    fn name() -> &'static str {
        let full = std::any::type_name::<Self>();
        full.rsplit("::").next().unwrap_or(full)
    }
}

/// Identifies a [`Permission`] type at run time ([`AuthState::ensure_permits`],
/// [`permission_of`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PermissionId {
    type_id: TypeId,
    name: &'static str,
}

impl PermissionId {
    /// The id of `P`.
    pub fn of<P: Permission>() -> Self {
        Self {
            type_id: TypeId::of::<P>(),
            name: P::name(),
        }
    }

    /// The permission's name.
    pub fn name(&self) -> &'static str {
        self.name
    }
}

/// A handler whose first argument is [`Authorized<P>`]: its permission, read from the
/// signature ([`permission_of`]). Implemented for functions of one to eight arguments.
pub trait RequiresPermission<M> {
    /// The permission of the handler's `Authorized<P>`.
    fn permission() -> PermissionId;
}

macro_rules! requires_permission {
    ($($a:ident),*) => {
        impl<F, Fut, P, $($a,)*> RequiresPermission<(P, $($a,)*)> for F
        where
            F: FnOnce(Authorized<P>, $($a,)*) -> Fut,
            P: Permission,
        {
            fn permission() -> PermissionId {
                PermissionId::of::<P>()
            }
        }
    };
}
requires_permission!();
requires_permission!(A1);
requires_permission!(A1, A2);
requires_permission!(A1, A2, A3);
requires_permission!(A1, A2, A3, A4);
requires_permission!(A1, A2, A3, A4, A5);
requires_permission!(A1, A2, A3, A4, A5, A6);
requires_permission!(A1, A2, A3, A4, A5, A6, A7);

/// The permission a handler requires, read from its signature (its first argument is an
/// [`Authorized<P>`]), e.g. to derive an OpenAPI document's security requirements from the
/// same declaration the handler is checked against.
///
/// ```
/// use entra_auth::{permission_of, Authorized, Permission, PermissionId};
/// struct ReportsRead;
/// impl Permission for ReportsRead {}
/// async fn list(_auth: Authorized<ReportsRead>, _page: String) -> &'static str { "[]" }
/// assert_eq!(permission_of(&list), PermissionId::of::<ReportsRead>());
/// assert_eq!(permission_of(&list).name(), "ReportsRead");
/// ```
pub fn permission_of<H: RequiresPermission<M>, M>(_handler: &H) -> PermissionId {
    H::permission()
}

/// The verified claims, after checking the [`Permission`] `P` registered with
/// [`AuthState::permit`] (403 otherwise; 500 `permission_not_registered` if `P` was never
/// registered, which [`AuthState::ensure_permits`] catches at start-up).
///
/// ```no_run
/// use entra_auth::{Authorized, Permission};
///
/// struct WeatherRead;
/// impl Permission for WeatherRead {}
///
/// // at start-up: AuthState::new(validator).permit::<WeatherRead>(requirement)
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
        let auth = AuthState::from_ref(state);
        let Some(requirement) = auth.permits.get(&TypeId::of::<P>()).map(|(_, r)| r.clone()) else {
            let e = AuthError::PermissionNotRegistered {
                permission: P::name(),
            };
            tracing::error!(target: "entra_auth", permission = P::name(), "permission not registered: call AuthState::permit at start-up");
            return Err(e);
        };
        let claims = claims_for(parts, state, Some(&requirement)).await?;
        Ok(Self {
            claims,
            _permission: PhantomData,
        })
    }
}
