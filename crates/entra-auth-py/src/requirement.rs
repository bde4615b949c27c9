//! `Requirement`: entra-auth's authorisation rules (scopes, roles, calling apps, guests, groups,
//! authority, authentication context), combined with `&`/`|`, checked by entra-auth.

use std::sync::Arc;

use pyo3::prelude::*;

use crate::claims::Claims;
use crate::error::{auth_error, config_error};

/// What a caller's verified claims must satisfy. Exact and case-sensitive; deny by default.
#[pyclass(frozen, module = "entra_auth", name = "Requirement")]
#[derive(Clone)]
pub(crate) struct Requirement {
    /// Shared: the async path hands it to a runtime task without copying the rule tree.
    pub(crate) inner: Arc<entra_auth::Requirement>,
}

fn wrap(inner: entra_auth::Requirement) -> Requirement {
    Requirement {
        inner: Arc::new(inner),
    }
}

#[pymethods]
impl Requirement {
    /// Any one of these delegated scopes (`scp`).
    #[staticmethod]
    fn scopes(names: Vec<String>) -> PyResult<Self> {
        entra_auth::Requirement::try_scopes(names)
            .map(wrap)
            .map_err(config_error)
    }
    /// All of these delegated scopes.
    #[staticmethod]
    fn all_scopes(names: Vec<String>) -> PyResult<Self> {
        entra_auth::Requirement::try_all_scopes(names)
            .map(wrap)
            .map_err(config_error)
    }
    /// Any one of these app roles (`roles`).
    #[staticmethod]
    fn roles(names: Vec<String>) -> PyResult<Self> {
        entra_auth::Requirement::try_roles(names)
            .map(wrap)
            .map_err(config_error)
    }
    /// All of these app roles.
    #[staticmethod]
    fn all_roles(names: Vec<String>) -> PyResult<Self> {
        entra_auth::Requirement::try_all_roles(names)
            .map(wrap)
            .map_err(config_error)
    }
    /// The calling application (`azp`/`appid`) is one of these client ids.
    #[staticmethod]
    fn calling_apps(client_ids: Vec<String>) -> Self {
        wrap(entra_auth::Requirement::calling_apps(client_ids))
    }
    /// The ACL mode for daemons: an app-only token of one of these clients needs no role.
    #[staticmethod]
    fn acl(client_ids: Vec<String>) -> Self {
        wrap(entra_auth::Requirement::acl(client_ids))
    }
    /// A member of the token's tenant (not a guest).
    #[staticmethod]
    fn no_guests() -> Self {
        wrap(entra_auth::Requirement::no_guests())
    }
    /// Accepted by the named authority.
    #[staticmethod]
    fn authority(name: &str) -> Self {
        wrap(entra_auth::Requirement::authority(name))
    }
    /// The authentication context `id` (step-up: 401 `insufficient_claims` without it).
    #[staticmethod]
    fn auth_context(id: &str) -> Self {
        wrap(entra_auth::Requirement::auth_context(id))
    }
    /// Member of any of these groups (overage answered explicitly).
    #[staticmethod]
    fn groups(group_ids: Vec<String>) -> Self {
        wrap(entra_auth::Requirement::groups(group_ids))
    }
    /// Any of these directory roles (role template ids, `wids`).
    #[staticmethod]
    fn directory_roles(role_template_ids: Vec<String>) -> Self {
        wrap(entra_auth::Requirement::directory_roles(role_template_ids))
    }
    /// All of `requirements`.
    #[staticmethod]
    fn all_of(requirements: Vec<Requirement>) -> Self {
        wrap(entra_auth::Requirement::all_of(
            requirements.into_iter().map(|r| (*r.inner).clone()),
        ))
    }
    /// Any of `requirements`.
    #[staticmethod]
    fn any_of(requirements: Vec<Requirement>) -> Self {
        wrap(entra_auth::Requirement::any_of(
            requirements.into_iter().map(|r| (*r.inner).clone()),
        ))
    }
    /// This and `other`.
    fn and_(&self, other: &Requirement) -> Self {
        wrap((*self.inner).clone().and((*other.inner).clone()))
    }
    /// This or `other`.
    fn or_(&self, other: &Requirement) -> Self {
        wrap((*self.inner).clone().or((*other.inner).clone()))
    }
    fn __and__(&self, other: &Requirement) -> Self {
        self.and_(other)
    }
    fn __or__(&self, other: &Requirement) -> Self {
        self.or_(other)
    }
    /// This, or any one of these app roles (scope-or-role: delegated and app-only callers).
    fn or_roles(&self, names: Vec<String>) -> PyResult<Self> {
        (*self.inner)
            .clone()
            .try_or_roles(names)
            .map(wrap)
            .map_err(config_error)
    }
    /// The scopes this requirement names (for the OpenAPI document).
    #[getter]
    fn scopes_named(&self) -> Vec<String> {
        self.inner
            .scopes_named()
            .iter()
            .map(|s| s.as_str().to_owned())
            .collect()
    }
    /// The app roles this requirement names.
    #[getter]
    fn roles_named(&self) -> Vec<String> {
        self.inner
            .roles_named()
            .iter()
            .map(|s| s.as_str().to_owned())
            .collect()
    }
    /// Checks `claims`; raises `Forbidden` (or `Unauthorized` for a missing authentication
    /// context) saying what was required and what was found.
    fn check(&self, py: Python<'_>, claims: &Claims) -> PyResult<()> {
        self.inner
            .check(&claims.inner)
            .map_err(|e| auth_error(py, &e))
    }
    fn __repr__(&self) -> String {
        format!("Requirement({})", self.inner)
    }
    fn __eq__(&self, other: &Requirement) -> bool {
        self.inner == other.inner
    }
}
