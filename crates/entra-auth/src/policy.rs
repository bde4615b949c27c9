//! Authorisation requirements: a tree of rules over verified claims, deny-by-default.
//!
//! Leaves: any of some scopes or app roles (the common form), all of some scopes or roles, the
//! calling application (allow-list; the ACL mode for daemons without roles), no guests, the
//! accepting authority, an authentication context (step-up), groups (overage answered
//! explicitly) and directory roles, a named predicate, an asynchronous tenant check. `and` /
//! `or` combine them. Every leaf fails when its claim is absent. A list of scopes or roles is
//! never empty (an array of at least one name, or [`RequirementError::EmptyList`] from the `try_*`
//! forms); only [`Requirement::default`] accepts any valid token, and an empty
//! [`Requirement::any_of`] never passes.
//!
//! Matching is exact, whole-word and case-sensitive: `weather.readwrite` never satisfies
//! `weather.read`, and `Weather.Read` is not `weather.read`. Both `scp` and `roles` are read.

mod name;
mod rule;

use std::fmt;
use std::sync::Arc;

pub use self::name::{AppRole, InvalidPermissionName, Scope};
use self::rule::{check_scope_or_role, Predicate, Rule, Unmet};
use crate::claims::VerifiedClaims;
use crate::error::AuthError;
use crate::tenant_check::{TenantAnswer, TenantCheck};

/// Why a requirement could not be built from a list of names ([`Requirement::try_scopes`] and
/// the other `try_*` constructors).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequirementError {
    /// A name is not a valid scope or app-role name.
    #[error(transparent)]
    InvalidName(#[from] InvalidPermissionName),
    /// The list is empty. An empty "any of" would never pass and an empty "all of" would pass
    /// any valid token, so neither is built: name at least one, or use
    /// [`Requirement::default`] to require only a valid token.
    #[error("an empty list of {kind}s: expected at least one {kind} name (to require only a valid token, use the default requirement)")]
    EmptyList {
        /// `scope` or `app role`.
        kind: &'static str,
    },
}

/// What a route requires: a tree of rules, deny-by-default.
///
/// The leaves: any one of some scopes or app roles (the original form, answered with
/// Microsoft.Identity.Web's IDW codes), all of some scopes or roles, the calling application
/// (allow-list, or the ACL mode for daemons without roles), no guest users, the authority that
/// accepted the token, an authentication context (step-up), groups and directory roles, a named
/// predicate over the claims, an asynchronous tenant check. [`and`](Self::and) and
/// [`or`](Self::or) combine them.
///
/// ```
/// use entra_auth::Requirement;
/// // delegated callers with weather.read, or daemons with the Weather.Read.All app role
/// let read = Requirement::scopes(["weather.read"]).or_roles(["Weather.Read.All"]);
/// assert_eq!(read.required_scopes()[0].as_str(), "weather.read");
///
/// // (weather.read and weather.write) or the app role Weather.Admin, and never a guest
/// let admin = Requirement::all_scopes(["weather.read", "weather.write"])
///     .or(Requirement::roles(["Weather.Admin"]))
///     .and(Requirement::no_guests());
/// assert_eq!(
///     admin.to_string(),
///     "((all of the scopes [\"weather.read\", \"weather.write\"] or any of the app roles [\"Weather.Admin\"]) and a member (not a guest) of the token's tenant)"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    rule: Rule,
}

impl Default for Requirement {
    /// Only a valid token.
    fn default() -> Self {
        Self::leaf(Rule::ScopeOrRole {
            scopes: Vec::new(),
            roles: Vec::new(),
        })
    }
}

/// Parses every name of a list that must not be empty.
fn parse_all<T, I, S>(
    items: I,
    kind: &'static str,
    parse: fn(&str) -> Result<T, InvalidPermissionName>,
) -> Result<Vec<T>, RequirementError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let parsed = items
        .into_iter()
        .map(|s| parse(s.as_ref()))
        .collect::<Result<Vec<T>, _>>()?;
    if parsed.is_empty() {
        return Err(RequirementError::EmptyList { kind });
    }
    Ok(parsed)
}

fn parse_scopes<I, S>(items: I) -> Result<Vec<Scope>, RequirementError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    parse_all(items, "scope", Scope::parse)
}

fn parse_roles<I, S>(items: I) -> Result<Vec<AppRole>, RequirementError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    parse_all(items, "app role", AppRole::parse)
}

fn owned<I, S>(items: I) -> Vec<String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    items.into_iter().map(|s| s.as_ref().to_owned()).collect()
}

/// Stops the build when an infallible constructor is given an empty array: the array length is
/// known at compile time, so `Requirement::scopes([])` is a compile error, never a requirement
/// that passes every token.
macro_rules! non_empty {
    ($n:ident, $what:literal) => {
        const {
            assert!(
                $n > 0,
                concat!(
                    "Requirement::",
                    $what,
                    " needs at least one name; Requirement::default() requires only a valid token"
                )
            )
        }
    };
}

fn or_bug<T>(r: Result<T, RequirementError>) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("BUG: {e}"),
    }
}

impl Requirement {
    fn leaf(rule: Rule) -> Self {
        Self { rule }
    }

    /// Any one of these scopes. The list is an array of at least one name: `scopes([])` does not
    /// compile (an empty "any of" would never pass); [`Requirement::default`] requires only a
    /// valid token. For names from configuration, use [`try_scopes`](Self::try_scopes).
    ///
    /// ```compile_fail
    /// let none: [&str; 0] = [];
    /// let never = entra_auth::Requirement::scopes(none);
    /// ```
    ///
    /// # Panics
    /// When a name is invalid (empty, whitespace, quotes): requirements written in code are
    /// fixed, so this is a bug in the caller, not an answer to input.
    pub fn scopes<S: AsRef<str>, const N: usize>(scopes: [S; N]) -> Self {
        non_empty!(N, "scopes");
        or_bug(Self::try_scopes(scopes))
    }

    /// Any one of these app roles (at least one: `roles([])` does not compile).
    ///
    /// # Panics
    /// When a name is invalid; see [`try_roles`](Self::try_roles).
    pub fn roles<S: AsRef<str>, const N: usize>(roles: [S; N]) -> Self {
        non_empty!(N, "roles");
        or_bug(Self::try_roles(roles))
    }

    /// Any one of these scopes.
    ///
    /// ```
    /// # use entra_auth::{Requirement, RequirementError};
    /// let from_settings: Vec<String> = Vec::new();
    /// assert_eq!(
    ///     Requirement::try_scopes(&from_settings).unwrap_err(),
    ///     RequirementError::EmptyList { kind: "scope" }
    /// );
    /// ```
    ///
    /// # Errors
    /// [`RequirementError::InvalidName`] for the first invalid name;
    /// [`RequirementError::EmptyList`] when there is none.
    pub fn try_scopes<I, S>(scopes: I) -> Result<Self, RequirementError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Ok(Self::leaf(Rule::ScopeOrRole {
            scopes: parse_scopes(scopes)?,
            roles: Vec::new(),
        }))
    }

    /// Any one of these app roles.
    ///
    /// # Errors
    /// [`RequirementError::InvalidName`] for the first invalid name;
    /// [`RequirementError::EmptyList`] when there is none.
    pub fn try_roles<I, S>(roles: I) -> Result<Self, RequirementError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Ok(Self::leaf(Rule::ScopeOrRole {
            scopes: Vec::new(),
            roles: parse_roles(roles)?,
        }))
    }

    /// Every one of these scopes (`scp` must hold them all; at least one name).
    ///
    /// ```
    /// # use entra_auth::Requirement;
    /// let both = Requirement::all_scopes(["weather.read", "weather.write"]);
    /// assert_eq!(both.to_string(), "all of the scopes [\"weather.read\", \"weather.write\"]");
    /// ```
    ///
    /// # Panics
    /// When a name is invalid; see [`try_all_scopes`](Self::try_all_scopes).
    pub fn all_scopes<S: AsRef<str>, const N: usize>(scopes: [S; N]) -> Self {
        non_empty!(N, "all_scopes");
        or_bug(Self::try_all_scopes(scopes))
    }

    /// Every one of these scopes.
    ///
    /// # Errors
    /// [`RequirementError::InvalidName`] for the first invalid name;
    /// [`RequirementError::EmptyList`] when there is none.
    pub fn try_all_scopes<I, S>(scopes: I) -> Result<Self, RequirementError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Ok(Self::leaf(Rule::AllScopes(parse_scopes(scopes)?)))
    }

    /// Every one of these app roles (at least one name).
    ///
    /// # Panics
    /// When a name is invalid; see [`try_all_roles`](Self::try_all_roles).
    pub fn all_roles<S: AsRef<str>, const N: usize>(roles: [S; N]) -> Self {
        non_empty!(N, "all_roles");
        or_bug(Self::try_all_roles(roles))
    }

    /// Every one of these app roles.
    ///
    /// # Errors
    /// [`RequirementError::InvalidName`] for the first invalid name;
    /// [`RequirementError::EmptyList`] when there is none.
    pub fn try_all_roles<I, S>(roles: I) -> Result<Self, RequirementError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Ok(Self::leaf(Rule::AllRoles(parse_roles(roles)?)))
    }

    /// The calling application (`azp` in v2 tokens, `appid` in v1) must be one of these client
    /// ids, for delegated and app-only tokens alike. Combine it with a scope or role
    /// requirement: it restricts who may call, it grants nothing by itself.
    ///
    /// ```
    /// # use entra_auth::Requirement;
    /// let from_the_spa = Requirement::scopes(["weather.read"])
    ///     .and(Requirement::calling_apps(["3f2e1d0c-0000-4000-8000-00000000c11e"]));
    /// ```
    pub fn calling_apps<I, S>(client_ids: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Self::leaf(Rule::Apps(owned(client_ids)))
    }

    /// The ACL mode (Microsoft.Identity.Web's `AllowWebApiToBeAuthorizedByACL`): an app-only
    /// token (a daemon, client credentials) passes when its calling application is one of these
    /// client ids, even without a `roles` claim. Delegated (user) tokens never pass this rule:
    /// `or` it with the scopes users need.
    ///
    /// ```
    /// # use entra_auth::Requirement;
    /// let read = Requirement::scopes(["weather.read"])
    ///     .or(Requirement::acl(["5a4b3c2d-0000-4000-8000-0000000da311"]));
    /// ```
    pub fn acl<I, S>(client_ids: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Self::leaf(Rule::Acl(owned(client_ids)))
    }

    /// Deny guest and external users: the token's user must be a member of the tenant that
    /// issued it. A guest is recognised by `acct` = 1 (the optional claim), or an `idp` claim
    /// naming another tenant or an external identity provider (e.g. `live.com`): the user's home
    /// tenant differs from the resource tenant. App-only tokens (no `acct`, their own tenant as
    /// `idp`) pass.
    pub fn no_guests() -> Self {
        Self::leaf(Rule::NoGuests)
    }

    /// The token must have been accepted by the named authority (see
    /// [`AuthConfigBuilder::name`](crate::AuthConfigBuilder::name) and
    /// [`VerifiedClaims::authority`]).
    ///
    /// ```
    /// # use entra_auth::Requirement;
    /// let staff_only = Requirement::scopes(["weather.write"]).and(Requirement::authority("workforce"));
    /// ```
    pub fn authority(name: &str) -> Self {
        Self::leaf(Rule::Authority(name.to_owned()))
    }

    /// The token must carry the authentication context `id` (Conditional Access step-up, the
    /// `acrs` claim, e.g. `c1`). Unmet, it answers **401** `insufficient_claims` with the claims
    /// request Entra expects (`{"access_token":{"acrs":{"essential":true,"value":"c1"}}}`,
    /// base64 in the `claims` parameter), so that the client acquires a new token after the
    /// step-up.
    ///
    /// ```
    /// # use entra_auth::Requirement;
    /// let delete = Requirement::scopes(["weather.write"]).and(Requirement::auth_context("c1"));
    /// ```
    pub fn auth_context(id: &str) -> Self {
        Self::leaf(Rule::AuthContext(id.to_owned()))
    }

    /// The user must be in one of these groups (object ids in `groups`). A token with a groups
    /// overage (`hasgroups`, or `groups` in `_claim_names`: the user is in too many groups for
    /// the token) is answered `groups_overage`, never "not in the group".
    ///
    /// ```
    /// # use entra_auth::Requirement;
    /// // the admins group, or the Global Administrator directory role; members only
    /// let admins = Requirement::groups(["a0a0a0a0-0000-4000-8000-0000000000a0"])
    ///     .or(Requirement::directory_roles(["62e90394-69f5-4237-9190-012177145e10"]))
    ///     .and(Requirement::no_guests());
    /// ```
    pub fn groups<I, S>(group_ids: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Self::leaf(Rule::Groups(owned(group_ids)))
    }

    /// The user must hold one of these directory roles (role template ids in `wids`).
    pub fn directory_roles<I, S>(role_template_ids: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Self::leaf(Rule::DirectoryRoles(owned(role_template_ids)))
    }

    /// A custom rule over the verified claims; `name` describes it in the 403 body ("what was
    /// required").
    ///
    /// ```
    /// # use entra_auth::Requirement;
    /// let weekday_staff = Requirement::predicate("a user of the staff tenant", |c| {
    ///     c.tid() == Some("7d6c5b4a-3f2e-4d1c-9b8a-0f1e2d3c4b5a") && !c.is_app_only()
    /// });
    /// ```
    pub fn predicate(
        name: &str,
        f: impl Fn(&VerifiedClaims) -> bool + Send + Sync + 'static,
    ) -> Self {
        Self::leaf(Rule::Predicate(Predicate {
            name: name.to_owned(),
            f: Arc::new(f),
        }))
    }

    /// The token's tenant must be allowed by an asynchronous lookup (e.g. a database of
    /// customer tenants), with a bounded cache of its answers ([`TenantCheck`]).
    pub fn tenant(check: TenantCheck) -> Self {
        Self::leaf(Rule::Tenant(check))
    }

    /// Both this and `other`.
    pub fn and(self, other: Requirement) -> Self {
        Self::leaf(match self.rule {
            Rule::All(mut v) => {
                v.push(other.rule);
                Rule::All(v)
            }
            r => Rule::All(vec![r, other.rule]),
        })
    }

    /// This or `other`.
    pub fn or(self, other: Requirement) -> Self {
        Self::leaf(match self.rule {
            Rule::Any(mut v) => {
                v.push(other.rule);
                Rule::Any(v)
            }
            r => Rule::Any(vec![r, other.rule]),
        })
    }

    /// Every one of `requirements` (an empty list: any valid token).
    pub fn all_of(requirements: impl IntoIterator<Item = Requirement>) -> Self {
        Self::leaf(Rule::All(
            requirements.into_iter().map(|r| r.rule).collect(),
        ))
    }

    /// Any one of `requirements` (an empty list never passes).
    pub fn any_of(requirements: impl IntoIterator<Item = Requirement>) -> Self {
        Self::leaf(Rule::Any(
            requirements.into_iter().map(|r| r.rule).collect(),
        ))
    }

    /// Also accept any one of these app roles ("scope or app permission"; at least one name).
    ///
    /// # Panics
    /// When a name is invalid; see [`try_or_roles`](Self::try_or_roles).
    pub fn or_roles<S: AsRef<str>, const N: usize>(self, roles: [S; N]) -> Self {
        non_empty!(N, "or_roles");
        or_bug(self.try_or_roles(roles))
    }

    /// Also accept any one of these app roles.
    ///
    /// # Errors
    /// [`RequirementError::InvalidName`] for the first invalid name;
    /// [`RequirementError::EmptyList`] when there is none.
    pub fn try_or_roles<I, S>(self, roles: I) -> Result<Self, RequirementError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let extra = parse_roles(roles)?;
        Ok(match self.rule {
            Rule::ScopeOrRole { scopes, mut roles } => {
                roles.extend(extra);
                Self::leaf(Rule::ScopeOrRole { scopes, roles })
            }
            rule => Self::leaf(rule).or(Self::leaf(Rule::ScopeOrRole {
                scopes: Vec::new(),
                roles: extra,
            })),
        })
    }

    /// Also accept any one of these scopes (at least one name).
    ///
    /// # Panics
    /// When a name is invalid; see [`try_or_scopes`](Self::try_or_scopes).
    pub fn or_scopes<S: AsRef<str>, const N: usize>(self, scopes: [S; N]) -> Self {
        non_empty!(N, "or_scopes");
        or_bug(self.try_or_scopes(scopes))
    }

    /// Also accept any one of these scopes.
    ///
    /// # Errors
    /// [`RequirementError::InvalidName`] for the first invalid name;
    /// [`RequirementError::EmptyList`] when there is none.
    pub fn try_or_scopes<I, S>(self, scopes: I) -> Result<Self, RequirementError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let extra = parse_scopes(scopes)?;
        Ok(match self.rule {
            Rule::ScopeOrRole { mut scopes, roles } => {
                scopes.extend(extra);
                Self::leaf(Rule::ScopeOrRole { scopes, roles })
            }
            rule => Self::leaf(rule).or(Self::leaf(Rule::ScopeOrRole {
                scopes: extra,
                roles: Vec::new(),
            })),
        })
    }

    /// For the simple form (any of some scopes or roles): the scopes of which any one
    /// satisfies it; empty for other trees (see [`scopes_named`](Self::scopes_named)).
    pub fn required_scopes(&self) -> &[Scope] {
        match &self.rule {
            Rule::ScopeOrRole { scopes, .. } => scopes,
            _ => &[],
        }
    }

    /// For the simple form: the app roles of which any one satisfies it; empty for other trees.
    pub fn required_roles(&self) -> &[AppRole] {
        match &self.rule {
            Rule::ScopeOrRole { roles, .. } => roles,
            _ => &[],
        }
    }

    /// Every scope the tree names, in order, without repeats (for documents such as OpenAPI's
    /// security requirements).
    pub fn scopes_named(&self) -> Vec<&Scope> {
        let mut out = Vec::new();
        self.rule.walk(&mut |r| match r {
            Rule::ScopeOrRole { scopes, .. } | Rule::AllScopes(scopes) => {
                out.extend(scopes.iter());
            }
            _ => {}
        });
        dedup(out)
    }

    /// Every app role the tree names, in order, without repeats.
    pub fn roles_named(&self) -> Vec<&AppRole> {
        let mut out = Vec::new();
        self.rule.walk(&mut |r| match r {
            Rule::ScopeOrRole { roles, .. } | Rule::AllRoles(roles) => out.extend(roles.iter()),
            _ => {}
        });
        dedup(out)
    }

    /// Whether checking needs [`check_async`](Self::check_async) (the tree has a
    /// [`tenant`](Self::tenant) rule).
    pub fn is_async(&self) -> bool {
        let mut found = false;
        self.rule
            .walk(&mut |r| found |= matches!(r, Rule::Tenant(_)));
        found
    }

    /// Checks verified claims against the requirement. The default requirement only requires a
    /// valid token. A [`tenant`](Self::tenant) rule is unmet here (it needs I/O): use
    /// [`check_async`](Self::check_async) when [`is_async`](Self::is_async).
    ///
    /// # Errors
    /// * [`AuthError::InsufficientScope`] (403) for the simple form (any of some scopes or
    ///   roles): IDW10201 when the token has neither `scp` nor `roles`, IDW10203 when a required
    ///   scope is missing, IDW10202 when a required app role is missing;
    /// * [`AuthError::RequirementNotMet`] (403) for any other tree, naming what was required
    ///   and what the token had;
    /// * [`AuthError::GroupsOverage`] (403) when a group rule cannot be decided from the token;
    /// * [`AuthError::AuthContextRequired`] (401 `insufficient_claims`) when only an
    ///   authentication context is missing.
    pub fn check(&self, claims: &VerifiedClaims) -> Result<(), AuthError> {
        self.check_with(claims, &[])
    }

    /// [`check`](Self::check), with the [`tenant`](Self::tenant) rules answered by their
    /// lookups (through their caches).
    ///
    /// # Errors
    /// As [`check`](Self::check); also [`AuthError::TenantCheckUnavailable`] (503) when a
    /// lookup failed.
    pub async fn check_async(&self, claims: &VerifiedClaims) -> Result<(), AuthError> {
        let mut checks = Vec::new();
        self.rule.walk(&mut |r| {
            if let Rule::Tenant(t) = r {
                checks.push(t.clone());
            }
        });
        let mut answers = Vec::with_capacity(checks.len());
        for check in checks {
            let answer = check.answer(claims.tid()).await;
            answers.push((check, answer));
        }
        self.check_with(claims, &answers)
    }

    fn check_with(
        &self,
        claims: &VerifiedClaims,
        tenants: &[(TenantCheck, TenantAnswer)],
    ) -> Result<(), AuthError> {
        if let Rule::ScopeOrRole { scopes, roles } = &self.rule {
            return check_scope_or_role(scopes, roles, claims);
        }
        // The request path: a yes/no without building any message; the explanation only for a no.
        if self.rule.holds(claims, tenants) {
            return Ok(());
        }
        match self.rule.eval(claims, tenants) {
            // (never: `holds` and `eval` agree, which the property test checks; deny anyway)
            Ok(()) => Err(AuthError::RequirementNotMet {
                required: self.to_string(),
                unmet: Vec::new(),
                scopes: Vec::new(),
            }),
            Err(Unmet::Context { id, found }) => {
                Err(AuthError::AuthContextRequired { context: id, found })
            }
            Err(Unmet::Overage(groups)) => Err(AuthError::GroupsOverage { required: groups }),
            Err(Unmet::TenantUnavailable(detail)) => {
                Err(AuthError::TenantCheckUnavailable { detail })
            }
            Err(Unmet::Denied(unmet)) => Err(AuthError::RequirementNotMet {
                required: self.to_string(),
                unmet,
                scopes: self
                    .scopes_named()
                    .iter()
                    .map(ToString::to_string)
                    .collect(),
            }),
        }
    }
}

fn dedup<T: PartialEq>(v: Vec<T>) -> Vec<T> {
    let mut out: Vec<T> = Vec::with_capacity(v.len());
    for x in v {
        if !out.contains(&x) {
            out.push(x);
        }
    }
    out
}

impl fmt::Display for Requirement {
    /// The requirement in words, e.g. `(any of the scopes ["a"] or any of the app roles ["B"])`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.rule.fmt(f)
    }
}

#[cfg(test)]
mod tests;
