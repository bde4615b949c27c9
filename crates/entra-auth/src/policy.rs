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

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use crate::claims::VerifiedClaims;
use crate::error::{AuthError, PermissionFailure};
use crate::tenant_check::{TenantAnswer, TenantCheck};

/// Why a scope or app-role name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} {found:?}: expected a non-empty name of visible ASCII characters without spaces, quotes or backslashes")]
pub struct InvalidPermissionName {
    kind: &'static str,
    found: String,
}

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

fn check_name(kind: &'static str, s: &str) -> Result<(), InvalidPermissionName> {
    let ok = !s.is_empty()
        && s.bytes()
            .all(|c| c == 0x21 || (0x23..=0x5b).contains(&c) || (0x5d..=0x7e).contains(&c));
    if ok {
        Ok(())
    } else {
        Err(InvalidPermissionName {
            kind,
            found: s.to_owned(),
        })
    }
}

macro_rules! name_type {
    ($(#[$m:meta])* $name:ident, $kind:literal) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// Parses the name (exact, case-sensitive).
            ///
            /// # Errors
            /// [`InvalidPermissionName`] when it is empty or contains spaces, quotes, backslashes or
            /// non-ASCII characters.
            pub fn parse(s: &str) -> Result<Self, InvalidPermissionName> {
                check_name($kind, s)?;
                Ok(Self(s.to_owned()))
            }

            /// The name.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = InvalidPermissionName;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = InvalidPermissionName;
            fn try_from(s: &str) -> Result<Self, Self::Error> {
                Self::parse(s)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

name_type!(
    /// A delegated permission (scope) name, e.g. `weather.read`, as it appears in `scp`.
    Scope,
    "scope"
);
name_type!(
    /// An application role name, e.g. `Weather.Read.All`, as it appears in `roles`.
    AppRole,
    "app role"
);

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

#[derive(Debug, Clone, PartialEq, Eq)]
enum Rule {
    /// Any one of the scopes or roles. Both empty only in [`Requirement::default`] (any valid
    /// token): every constructor refuses an empty list.
    ScopeOrRole {
        scopes: Vec<Scope>,
        roles: Vec<AppRole>,
    },
    AllScopes(Vec<Scope>),
    AllRoles(Vec<AppRole>),
    /// `azp`/`appid` is one of these client ids (any kind of token).
    Apps(Vec<String>),
    /// An app-only token (no user) whose `azp`/`appid` is listed; roles are not needed.
    Acl(Vec<String>),
    NoGuests,
    Authority(String),
    AuthContext(String),
    Groups(Vec<String>),
    DirectoryRoles(Vec<String>),
    Predicate(Predicate),
    Tenant(TenantCheck),
    All(Vec<Rule>),
    Any(Vec<Rule>),
}

/// A named predicate over the claims ([`Requirement::predicate`]).
#[derive(Clone)]
struct Predicate {
    name: String,
    f: Arc<dyn Fn(&VerifiedClaims) -> bool + Send + Sync>,
}

impl fmt::Debug for Predicate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Predicate").field(&self.name).finish()
    }
}

impl PartialEq for Predicate {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.f, &other.f)
    }
}
impl Eq for Predicate {}

/// Why a rule was not met (internal; turned into one [`AuthError`]).
#[derive(Debug)]
enum Unmet {
    /// A leaf failed: what it needed and what the token had.
    Denied(Vec<String>),
    /// A group rule could not be decided: the token has a groups overage.
    Overage(Vec<String>),
    /// An authentication context is missing (step-up would satisfy it).
    Context { id: String, found: Vec<String> },
    /// The tenant check could not answer.
    TenantUnavailable(String),
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

/// The original requirement (any of some scopes or roles) and its IDW answers.
fn check_scope_or_role(
    scopes: &[Scope],
    roles: &[AppRole],
    claims: &VerifiedClaims,
) -> Result<(), AuthError> {
    if scopes.is_empty() && roles.is_empty() {
        return Ok(());
    }
    if scopes.iter().any(|s| claims.has_scope(s.as_str()))
        || roles.iter().any(|r| claims.has_role(r.as_str()))
    {
        return Ok(());
    }
    let has_scp = claims.has_scope_claim();
    let has_roles = claims.has_roles_claim();
    let failure = if !has_scp && !has_roles {
        PermissionFailure::NoScopesOrRoles
    } else if scopes.is_empty() {
        PermissionFailure::MissingRole
    } else if roles.is_empty() || has_scp {
        PermissionFailure::MissingScope
    } else {
        PermissionFailure::MissingRole
    };
    Err(AuthError::InsufficientScope {
        failure,
        required_scopes: scopes.iter().map(ToString::to_string).collect(),
        required_roles: roles.iter().map(ToString::to_string).collect(),
        found_scopes: claims.scopes().map(str::to_owned).collect(),
        found_roles: claims.roles().to_vec(),
    })
}

/// How a failed leaf is described: what it needed, and what the token had.
fn denied(rule: &Rule, found: impl fmt::Display) -> Unmet {
    Unmet::Denied(vec![format!("{rule}: the token has {found}")])
}

fn quoted_list<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let v: Vec<&str> = items.collect();
    format!("{v:?}")
}

impl Rule {
    fn walk<'a>(&'a self, f: &mut impl FnMut(&'a Rule)) {
        f(self);
        if let Rule::All(v) | Rule::Any(v) = self {
            for r in v {
                r.walk(f);
            }
        }
    }

    /// Whether the rule holds: [`eval`](Self::eval)`.is_ok()`, without building messages.
    fn holds(&self, c: &VerifiedClaims, tenants: &[(TenantCheck, TenantAnswer)]) -> bool {
        match self {
            Rule::ScopeOrRole { scopes, roles } => {
                (scopes.is_empty() && roles.is_empty())
                    || scopes.iter().any(|s| c.has_scope(s.as_str()))
                    || roles.iter().any(|r| c.has_role(r.as_str()))
            }
            Rule::AllScopes(scopes) => scopes.iter().all(|s| c.has_scope(s.as_str())),
            Rule::AllRoles(roles) => roles.iter().all(|r| c.has_role(r.as_str())),
            Rule::Apps(apps) => c.client_id().is_some_and(|id| apps.iter().any(|a| a == id)),
            Rule::Acl(apps) => {
                c.is_app_only() && c.client_id().is_some_and(|id| apps.iter().any(|a| a == id))
            }
            Rule::NoGuests => !c.is_guest(),
            Rule::Authority(name) => c.authority() == Some(name.as_str()),
            Rule::AuthContext(id) => c.auth_contexts().any(|a| a == id),
            Rule::Groups(groups) => c.groups().any(|g| groups.iter().any(|x| x == g)),
            Rule::DirectoryRoles(wids) => c.directory_roles().any(|g| wids.iter().any(|x| x == g)),
            Rule::Predicate(p) => (p.f)(c),
            Rule::Tenant(t) => tenants
                .iter()
                .any(|(check, a)| check == t && *a == TenantAnswer::Allowed),
            Rule::All(rules) => rules.iter().all(|r| r.holds(c, tenants)),
            Rule::Any(rules) => rules.iter().any(|r| r.holds(c, tenants)),
        }
    }

    fn eval(
        &self,
        c: &VerifiedClaims,
        tenants: &[(TenantCheck, TenantAnswer)],
    ) -> Result<(), Unmet> {
        match self {
            Rule::ScopeOrRole { scopes, roles } => match check_scope_or_role(scopes, roles, c) {
                Ok(()) => Ok(()),
                Err(_) => Err(denied(
                    self,
                    format_args!(
                        "scopes {} and app roles {:?}",
                        quoted_list(c.scopes()),
                        c.roles()
                    ),
                )),
            },
            Rule::AllScopes(scopes) => {
                if scopes.iter().all(|s| c.has_scope(s.as_str())) {
                    Ok(())
                } else {
                    Err(denied(
                        self,
                        format_args!("scopes {}", quoted_list(c.scopes())),
                    ))
                }
            }
            Rule::AllRoles(roles) => {
                if roles.iter().all(|r| c.has_role(r.as_str())) {
                    Ok(())
                } else {
                    Err(denied(self, format_args!("app roles {:?}", c.roles())))
                }
            }
            Rule::Apps(apps) => match c.client_id() {
                Some(id) if apps.iter().any(|a| a == id) => Ok(()),
                found => Err(denied(self, format_args!("calling application {found:?}"))),
            },
            Rule::Acl(apps) => match c.client_id() {
                Some(id) if c.is_app_only() && apps.iter().any(|a| a == id) => Ok(()),
                found if !c.is_app_only() => Err(denied(
                    self,
                    format_args!("a user (delegated token) from calling application {found:?}"),
                )),
                found => Err(denied(
                    self,
                    format_args!("an app-only token from calling application {found:?}"),
                )),
            },
            Rule::NoGuests => match c.guest_marker() {
                None => Ok(()),
                Some(why) => Err(denied(self, why)),
            },
            Rule::Authority(name) => match c.authority() {
                Some(a) if a == name => Ok(()),
                found => Err(denied(self, format_args!("authority {found:?}"))),
            },
            Rule::AuthContext(id) => {
                if c.auth_contexts().any(|a| a == id) {
                    Ok(())
                } else {
                    Err(Unmet::Context {
                        id: id.clone(),
                        found: c.auth_contexts().map(str::to_owned).collect(),
                    })
                }
            }
            Rule::Groups(groups) => {
                if c.groups().any(|g| groups.iter().any(|x| x == g)) {
                    Ok(())
                } else if c.has_groups_overage() {
                    Err(Unmet::Overage(groups.clone()))
                } else {
                    Err(denied(
                        self,
                        format_args!("groups {}", quoted_list(c.groups())),
                    ))
                }
            }
            Rule::DirectoryRoles(wids) => {
                if c.directory_roles().any(|g| wids.iter().any(|x| x == g)) {
                    Ok(())
                } else {
                    Err(denied(
                        self,
                        format_args!(
                            "directory roles (wids) {}",
                            quoted_list(c.directory_roles())
                        ),
                    ))
                }
            }
            Rule::Predicate(p) => {
                if (p.f)(c) {
                    Ok(())
                } else {
                    Err(denied(self, "claims for which it is false"))
                }
            }
            Rule::Tenant(t) => {
                let answer = tenants
                    .iter()
                    .find(|(check, _)| check == t)
                    .map_or(TenantAnswer::NotLookedUp, |(_, a)| a.clone());
                match answer {
                    TenantAnswer::Allowed => Ok(()),
                    TenantAnswer::Unavailable(detail) => Err(Unmet::TenantUnavailable(detail)),
                    TenantAnswer::Denied | TenantAnswer::NotLookedUp => {
                        Err(denied(self, format_args!("tenant {:?}", c.tid())))
                    }
                }
            }
            Rule::All(rules) => {
                let failures: Vec<Unmet> = rules
                    .iter()
                    .filter_map(|r| r.eval(c, tenants).err())
                    .collect();
                worst(failures).map_or(Ok(()), Err)
            }
            Rule::Any(rules) => {
                let mut failures = Vec::with_capacity(rules.len());
                for r in rules {
                    match r.eval(c, tenants) {
                        Ok(()) => return Ok(()),
                        Err(u) => failures.push(u),
                    }
                }
                if failures.is_empty() {
                    return Err(denied(self, "no alternative to choose from"));
                }
                Err(best(failures))
            }
        }
    }
}

/// The answer for a failed "all of": a denial (nothing else would help) before an overage, before
/// an unavailable lookup, before a missing authentication context (a step-up only helps when it
/// is all that is missing).
fn worst(failures: Vec<Unmet>) -> Option<Unmet> {
    let rank = |u: &Unmet| match u {
        Unmet::Denied(_) => 0,
        Unmet::Overage(_) => 1,
        Unmet::TenantUnavailable(_) => 2,
        Unmet::Context { .. } => 3,
    };
    let min = failures.iter().map(rank).min()?;
    let mut denials = Vec::new();
    let mut first = None;
    for u in failures {
        if rank(&u) != min {
            continue;
        }
        match u {
            Unmet::Denied(d) => denials.extend(d),
            other => {
                first.get_or_insert(other);
            }
        }
    }
    if denials.is_empty() {
        first
    } else {
        Some(Unmet::Denied(denials))
    }
}

/// The answer for a failed "any of": the most helpful alternative (a step-up, then an unavailable
/// lookup, then an overage), else every alternative's denial.
fn best(failures: Vec<Unmet>) -> Unmet {
    let rank = |u: &Unmet| match u {
        Unmet::Context { .. } => 0,
        Unmet::TenantUnavailable(_) => 1,
        Unmet::Overage(_) => 2,
        Unmet::Denied(_) => 3,
    };
    let min = failures.iter().map(rank).min().unwrap_or(3);
    let mut denials = Vec::new();
    for u in failures {
        match u {
            Unmet::Denied(d) => denials.extend(d),
            other if rank(&other) == min => return other,
            _ => {}
        }
    }
    Unmet::Denied(denials)
}

impl fmt::Display for Requirement {
    /// The requirement in words, e.g. `(any of the scopes ["a"] or any of the app roles ["B"])`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.rule.fmt(f)
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = |v: &[String]| -> Vec<String> { v.to_vec() };
        match self {
            Rule::ScopeOrRole { scopes, roles } => {
                let s: Vec<&str> = scopes.iter().map(Scope::as_str).collect();
                let r: Vec<&str> = roles.iter().map(AppRole::as_str).collect();
                match (s.is_empty(), r.is_empty()) {
                    (true, true) => f.write_str("a valid token"),
                    (false, true) => write!(f, "any of the scopes {s:?}"),
                    (true, false) => write!(f, "any of the app roles {r:?}"),
                    (false, false) => {
                        write!(f, "any of the scopes {s:?} or any of the app roles {r:?}")
                    }
                }
            }
            Rule::AllScopes(v) => write!(
                f,
                "all of the scopes {:?}",
                v.iter().map(Scope::as_str).collect::<Vec<_>>()
            ),
            Rule::AllRoles(v) => write!(
                f,
                "all of the app roles {:?}",
                v.iter().map(AppRole::as_str).collect::<Vec<_>>()
            ),
            Rule::Apps(v) => write!(f, "a calling application (azp/appid) among {:?}", names(v)),
            Rule::Acl(v) => write!(
                f,
                "an app-only token from a calling application (azp/appid) among {:?}",
                names(v)
            ),
            Rule::NoGuests => f.write_str("a member (not a guest) of the token's tenant"),
            Rule::Authority(a) => write!(f, "a token accepted by the authority {a:?}"),
            Rule::AuthContext(id) => write!(f, "the authentication context {id:?} (acrs)"),
            Rule::Groups(v) => write!(f, "membership of any of the groups {:?}", names(v)),
            Rule::DirectoryRoles(v) => {
                write!(f, "any of the directory roles (wids) {:?}", names(v))
            }
            Rule::Predicate(p) => f.write_str(&p.name),
            Rule::Tenant(t) => write!(f, "a tenant allowed by {}", t.name()),
            Rule::All(v) | Rule::Any(v) => {
                let sep = if matches!(self, Rule::All(_)) {
                    " and "
                } else {
                    " or "
                };
                f.write_str("(")?;
                for (i, r) in v.iter().enumerate() {
                    if i > 0 {
                        f.write_str(sep)?;
                    }
                    r.fmt(f)?;
                }
                f.write_str(")")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::claims::VerifiedClaims;
    use crate::tenant_check::TenantCheck;
    use serde_json::json;

    fn claims(v: serde_json::Value) -> VerifiedClaims {
        VerifiedClaims::for_tests(v)
    }

    fn failure(r: &Requirement, v: serde_json::Value) -> PermissionFailure {
        match r.check(&claims(v)) {
            Err(AuthError::InsufficientScope { failure, .. }) => failure,
            other => panic!("expected insufficient scope, got {other:?}"),
        }
    }

    #[test]
    fn scope_matches_exactly_and_case_sensitively() {
        let r = Requirement::scopes(["weather.read"]);
        assert!(r
            .check(&claims(json!({"scp": "openid weather.read"})))
            .is_ok());
        assert_eq!(
            failure(&r, json!({"scp": "weather.readwrite"})),
            PermissionFailure::MissingScope
        );
        assert_eq!(
            failure(&r, json!({"scp": "Weather.Read"})),
            PermissionFailure::MissingScope
        );
        assert_eq!(
            failure(&r, json!({"scp": "xweather.read"})),
            PermissionFailure::MissingScope
        );
    }

    #[test]
    fn role_matches_exactly() {
        let r = Requirement::roles(["Weather.Read.All"]);
        assert!(r
            .check(&claims(json!({"roles": ["Weather.Read.All"]})))
            .is_ok());
        assert_eq!(
            failure(&r, json!({"roles": ["weather.read.all"]})),
            PermissionFailure::MissingRole
        );
    }

    #[test]
    fn neither_scp_nor_roles_is_idw10201() {
        let r = Requirement::scopes(["weather.read"]).or_roles(["Weather.Read.All"]);
        let f = failure(&r, json!({"sub": "x"}));
        assert_eq!(f, PermissionFailure::NoScopesOrRoles);
        assert_eq!(f.idw(), "IDW10201");
    }

    #[test]
    fn scope_or_role_reads_both_claims() {
        let r = Requirement::scopes(["weather.write"]).or_roles(["Weather.Write.All"]);
        // scp present but lacking; roles holds the permission: allowed (both claims read)
        assert!(r
            .check(&claims(
                json!({"scp": "weather.read", "roles": ["Weather.Write.All"]})
            ))
            .is_ok());
        assert_eq!(
            failure(&r, json!({"roles": ["Weather.Read.All"]})),
            PermissionFailure::MissingRole
        );
        assert_eq!(
            failure(&r, json!({"scp": "weather.read"})),
            PermissionFailure::MissingScope
        );
    }

    #[test]
    fn empty_requirement_only_needs_a_valid_token() {
        assert!(Requirement::default().check(&claims(json!({}))).is_ok());
    }

    #[test]
    fn invalid_names_are_refused() {
        assert!(Scope::parse("").is_err());
        assert!(Scope::parse("a b").is_err());
        assert!(Scope::parse("a\"b").is_err());
        assert!(AppRole::parse("Weather.Read.All").is_ok());
        assert!(Requirement::try_scopes(["ok", "not ok"]).is_err());
    }

    #[test]
    #[should_panic(expected = "BUG")]
    fn scopes_panics_on_invalid_name() {
        let _ = Requirement::scopes(["with space"]);
    }

    /// The 403 body of a failed tree: its detail.
    fn denial(r: &Requirement, v: serde_json::Value) -> String {
        match r.check(&claims(v)) {
            Err(e @ AuthError::RequirementNotMet { .. }) => {
                assert_eq!(e.status(), 403);
                assert_eq!(e.code(), "requirement_not_met");
                let body: serde_json::Value = serde_json::from_slice(&e.problem_json()).unwrap();
                body["detail"].as_str().unwrap().to_owned()
            }
            other => panic!("expected requirement_not_met, got {other:?}"),
        }
    }

    #[test]
    fn all_scopes_needs_every_scope_and_names_what_the_token_had() {
        let r = Requirement::all_scopes(["weather.read", "weather.write"]);
        assert!(r
            .check(&claims(json!({"scp": "weather.write weather.read"})))
            .is_ok());
        assert_eq!(
            denial(&r, json!({"scp": "weather.read"})),
            "the token does not meet the requirement all of the scopes [\"weather.read\", \"weather.write\"]: \
             all of the scopes [\"weather.read\", \"weather.write\"]: the token has scopes [\"weather.read\"]"
        );
    }

    #[test]
    fn combination_a_and_b_or_role_c_is_exact() {
        let r = Requirement::all_scopes(["a", "b"]).or(Requirement::roles(["C"]));
        assert!(r.check(&claims(json!({"scp": "a b"}))).is_ok());
        assert!(r.check(&claims(json!({"roles": ["C"]}))).is_ok());
        let d = denial(&r, json!({"scp": "a", "roles": ["c"]}));
        assert!(d.starts_with("the token does not meet the requirement (all of the scopes [\"a\", \"b\"] or any of the app roles [\"C\"])"), "{d}");
        assert!(d.contains("the token has scopes [\"a\"]"), "{d}");
        assert!(d.contains("app roles [\"c\"]"), "{d}");
        let e = r.check(&claims(json!({"scp": "a"}))).unwrap_err();
        let h = e.www_authenticate().unwrap();
        assert!(h.to_str().unwrap().ends_with("scope=\"a b\""), "{h:?}");
    }

    #[test]
    fn calling_apps_allow_list_checks_azp_and_appid() {
        let r = Requirement::scopes(["weather.read"]).and(Requirement::calling_apps(["app-1"]));
        assert!(r
            .check(&claims(json!({"scp": "weather.read", "azp": "app-1"})))
            .is_ok());
        assert!(r
            .check(&claims(json!({"scp": "weather.read", "appid": "app-1"})))
            .is_ok());
        let d = denial(&r, json!({"scp": "weather.read", "azp": "app-2"}));
        assert!(d.ends_with("a calling application (azp/appid) among [\"app-1\"]: the token has calling application Some(\"app-2\")"), "{d}");
        denial(&r, json!({"scp": "weather.read"}));
    }

    #[test]
    fn acl_mode_admits_listed_daemons_without_roles_and_never_users() {
        let r = Requirement::scopes(["weather.read"]).or(Requirement::acl(["daemon-1"]));
        assert!(r
            .check(&claims(json!({"idtyp": "app", "azp": "daemon-1"})))
            .is_ok());
        let d = denial(&r, json!({"idtyp": "app", "azp": "daemon-2"}));
        assert!(
            d.contains("an app-only token from calling application Some(\"daemon-2\")"),
            "{d}"
        );
        // a user token from the listed client id does not pass by the ACL
        let d = denial(&r, json!({"scp": "other", "azp": "daemon-1"}));
        assert!(
            d.contains("a user (delegated token) from calling application Some(\"daemon-1\")"),
            "{d}"
        );
    }

    #[test]
    fn no_guests_refuses_acct_1_and_foreign_idp() {
        let tid = "7d6c5b4a-3f2e-4d1c-9b8a-0f1e2d3c4b5a";
        let home = "11111111-2222-4333-8444-555555555555";
        let r = Requirement::no_guests();
        assert!(r.check(&claims(json!({"tid": tid, "scp": "x"}))).is_ok());
        assert!(r
            .check(&claims(json!({"tid": tid, "scp": "x", "acct": 0})))
            .is_ok());
        assert!(r
            .check(&claims(
                json!({"tid": tid, "scp": "x", "idp": format!("https://sts.windows.net/{tid}/")})
            ))
            .is_ok());
        let d = denial(&r, json!({"tid": tid, "scp": "x", "acct": 1}));
        assert!(d.ends_with("a member (not a guest) of the token's tenant: the token has acct 1 (a guest account)"), "{d}");
        let d = denial(
            &r,
            json!({"tid": tid, "scp": "x", "idp": format!("https://sts.windows.net/{home}/")}),
        );
        assert!(d.contains(home), "{d}");
        let d = denial(&r, json!({"tid": tid, "scp": "x", "idp": "live.com"}));
        assert!(d.contains("idp \"live.com\""), "{d}");
        // app-only tokens name their own tenant; `acct` 1 is a guest whatever else the token says
        assert!(r
            .check(&claims(json!({"tid": tid, "idtyp": "app", "idp": format!("https://sts.windows.net/{tid}/")})))
            .is_ok());
        denial(&r, json!({"tid": tid, "roles": ["R"], "acct": 1}));
    }

    #[test]
    fn authority_requirement_matches_the_accepting_authority() {
        let r = Requirement::authority("workforce");
        let ok = VerifiedClaims::for_tests_from(json!({}), "workforce");
        assert!(r.check(&ok).is_ok());
        let other = VerifiedClaims::for_tests_from(json!({}), "customers");
        match r.check(&other) {
            Err(AuthError::RequirementNotMet { unmet, .. }) => assert_eq!(
                unmet,
                ["a token accepted by the authority \"workforce\": the token has authority Some(\"customers\")"]
            ),
            e => panic!("{e:?}"),
        }
    }

    #[test]
    fn auth_context_answers_401_insufficient_claims_with_the_claims_request() {
        use base64::Engine as _;
        let r = Requirement::scopes(["weather.write"]).and(Requirement::auth_context("c1"));
        assert!(r
            .check(&claims(json!({"scp": "weather.write", "acrs": ["c1"]})))
            .is_ok());
        let e = r
            .check(&claims(json!({"scp": "weather.write", "acrs": ["c2"]})))
            .unwrap_err();
        assert_eq!(
            (e.status().as_u16(), e.code()),
            (401, "auth_context_required")
        );
        let h = e.www_authenticate().unwrap();
        let h = h.to_str().unwrap();
        assert!(h.starts_with("Bearer error=\"insufficient_claims\""), "{h}");
        let b64 = h.split("claims=\"").nth(1).unwrap().trim_end_matches('"');
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        assert_eq!(
            String::from_utf8(decoded).unwrap(),
            r#"{"access_token":{"acrs":{"essential":true,"value":"c1"}}}"#
        );
        assert!(e.to_string().contains("found [\"c2\"]"), "{e}");
        // a missing scope is not fixed by a step-up: 403, not the challenge
        let e = r
            .check(&claims(json!({"scp": "weather.read"})))
            .unwrap_err();
        assert_eq!(e.code(), "requirement_not_met");
    }

    #[test]
    fn groups_membership_overage_and_directory_roles() {
        let r = Requirement::groups(["g-admins"]);
        assert!(r
            .check(&claims(json!({"groups": ["g-x", "g-admins"]})))
            .is_ok());
        let d = denial(&r, json!({"groups": ["g-x"]}));
        assert!(
            d.ends_with(
                "membership of any of the groups [\"g-admins\"]: the token has groups [\"g-x\"]"
            ),
            "{d}"
        );
        for overage in [
            json!({"hasgroups": true}),
            json!({"_claim_names": {"groups": "src1"}, "_claim_sources": {"src1": {"endpoint": "https://graph.microsoft.com/v1.0/users/x/getMemberObjects"}}}),
        ] {
            let e = r.check(&claims(overage)).unwrap_err();
            assert_eq!((e.status().as_u16(), e.code()), (403, "groups_overage"));
            assert!(
                e.to_string().contains("cannot be decided from the token"),
                "{e}"
            );
            assert!(e.to_string().contains("g-admins"), "{e}");
        }
        let wids = Requirement::directory_roles(["62e90394-69f5-4237-9190-012177145e10"]);
        assert!(wids
            .check(&claims(
                json!({"wids": ["62e90394-69f5-4237-9190-012177145e10"]})
            ))
            .is_ok());
        let d = denial(
            &wids,
            json!({"wids": ["b79fbf4d-3ef9-4689-8143-76b194e85509"]}),
        );
        assert!(d.contains("b79fbf4d"), "{d}");
    }

    #[test]
    fn predicate_is_named_in_the_denial() {
        let r = Requirement::predicate("a user named Alice", |c| c.name() == Some("Alice"));
        assert!(r.check(&claims(json!({"name": "Alice"}))).is_ok());
        assert_eq!(
            denial(&r, json!({"name": "Bob"})),
            "the token does not meet the requirement a user named Alice: a user named Alice: the token has claims for which it is false"
        );
    }

    #[tokio::test]
    async fn tenant_check_is_asked_once_per_tenant_and_unmet_without_its_lookup() {
        let allowed = "aaaaaaaa-0000-4000-8000-00000000000a";
        let t = TenantCheck::builder("the customers table")
            .build(move |tid: String| async move { Ok::<_, std::io::Error>(tid == allowed) });
        let r = Requirement::scopes(["x"]).and(Requirement::tenant(t.clone()));
        assert!(r.is_async());
        let ok = claims(json!({"scp": "x", "tid": allowed}));
        r.check_async(&ok).await.unwrap();
        r.check_async(&ok).await.unwrap();
        assert_eq!(t.lookups(), 1);
        let other = claims(json!({"scp": "x", "tid": "bbbbbbbb-0000-4000-8000-00000000000b"}));
        match r.check_async(&other).await {
            Err(AuthError::RequirementNotMet { unmet, .. }) => assert_eq!(
                unmet,
                ["a tenant allowed by the customers table: the token has tenant Some(\"bbbbbbbb-0000-4000-8000-00000000000b\")"]
            ),
            e => panic!("{e:?}"),
        }
        // the synchronous check never passes an async rule (deny by default)
        assert!(r.check(&ok).is_err());
        let failing = TenantCheck::builder("db").build(|_tid: String| async {
            Err::<bool, std::io::Error>(std::io::Error::other("connection refused"))
        });
        let e = Requirement::tenant(failing)
            .check_async(&ok)
            .await
            .unwrap_err();
        assert_eq!(
            (e.status().as_u16(), e.code()),
            (503, "tenant_check_unavailable")
        );
    }

    #[test]
    fn or_roles_on_the_default_requirement_requires_the_roles() {
        let r = Requirement::default().or_roles(["R"]);
        assert_eq!(r, Requirement::roles(["R"]));
        assert!(r.check(&claims(json!({"scp": "x"}))).is_err());
        let s = Requirement::default().or_scopes(["a"]);
        assert_eq!(s, Requirement::scopes(["a"]));
    }

    #[test]
    fn empty_name_lists_are_refused_at_construction_for_every_form() {
        let none: Vec<&str> = Vec::new();
        let scope = RequirementError::EmptyList { kind: "scope" };
        let role = RequirementError::EmptyList { kind: "app role" };
        assert_eq!(Requirement::try_scopes(&none), Err(scope.clone()));
        assert_eq!(Requirement::try_all_scopes(&none), Err(scope.clone()));
        assert_eq!(Requirement::try_roles(&none), Err(role.clone()));
        assert_eq!(Requirement::try_all_roles(&none), Err(role.clone()));
        let base = Requirement::scopes(["a"]);
        assert_eq!(base.clone().try_or_roles(&none), Err(role));
        assert_eq!(base.try_or_scopes(&none), Err(scope.clone()));
        assert_eq!(
            scope.to_string(),
            "an empty list of scopes: expected at least one scope name (to require only a valid token, use the default requirement)"
        );
    }

    #[test]
    fn an_invalid_name_is_reported_before_an_empty_list_matters() {
        let err = Requirement::try_roles(["ok", "not ok"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid app role \"not ok\": expected a non-empty name of visible ASCII characters without spaces, quotes or backslashes"
        );
        assert!(
            matches!(err, RequirementError::InvalidName(_)),
            "expected InvalidName, got {err:?}"
        );
    }

    #[test]
    fn empty_any_of_never_passes_and_empty_all_of_needs_a_valid_token() {
        assert!(Requirement::any_of([])
            .check(&claims(json!({"scp": "a"})))
            .is_err());
        assert!(Requirement::all_of([]).check(&claims(json!({}))).is_ok());
    }

    #[test]
    fn names_are_collected_for_documents() {
        let r = Requirement::scopes(["a"])
            .or_roles(["R"])
            .and(Requirement::all_scopes(["a", "b"]));
        let s: Vec<&str> = r.scopes_named().iter().map(|s| s.as_str()).collect();
        let roles: Vec<&str> = r.roles_named().iter().map(|s| s.as_str()).collect();
        assert_eq!((s, roles), (vec!["a", "b"], vec!["R"]));
    }

    mod prop {
        use super::*;
        use proptest::prelude::*;

        /// A leaf of the generated trees, with an independent model of its meaning.
        #[derive(Debug, Clone)]
        enum Leaf {
            AnyScope(Vec<&'static str>),
            AllScopes(Vec<&'static str>),
            AnyRole(Vec<&'static str>),
            App(&'static str),
            NoGuests,
            Group(&'static str),
            Context(&'static str),
        }

        #[derive(Debug, Clone)]
        enum Tree {
            Leaf(Leaf),
            All(Vec<Tree>),
            Any(Vec<Tree>),
        }

        #[derive(Debug, Clone)]
        struct Token {
            scopes: Vec<&'static str>,
            roles: Vec<&'static str>,
            azp: &'static str,
            guest: bool,
            groups: Vec<&'static str>,
            overage: bool,
            acrs: Vec<&'static str>,
        }

        fn names(pool: &'static [&'static str]) -> impl Strategy<Value = Vec<&'static str>> {
            proptest::sample::subsequence(pool, 0..=pool.len())
        }

        fn leaf() -> impl Strategy<Value = Leaf> {
            prop_oneof![
                names(&["a", "b", "c"]).prop_map(Leaf::AnyScope),
                names(&["a", "b", "c"]).prop_map(Leaf::AllScopes),
                names(&["R", "S"]).prop_map(Leaf::AnyRole),
                proptest::sample::select(&["app1", "app2"][..]).prop_map(Leaf::App),
                Just(Leaf::NoGuests),
                proptest::sample::select(&["g1", "g2"][..]).prop_map(Leaf::Group),
                Just(Leaf::Context("c1")),
            ]
        }

        fn tree() -> impl Strategy<Value = Tree> {
            leaf()
                .prop_map(Tree::Leaf)
                .prop_recursive(4, 24, 4, |inner| {
                    prop_oneof![
                        proptest::collection::vec(inner.clone(), 1..4).prop_map(Tree::All),
                        proptest::collection::vec(inner, 1..4).prop_map(Tree::Any),
                    ]
                })
        }

        fn token() -> impl Strategy<Value = Token> {
            (
                names(&["a", "b", "c"]),
                names(&["R", "S"]),
                proptest::sample::select(&["app1", "app2"][..]),
                any::<bool>(),
                names(&["g1", "g2"]),
                any::<bool>(),
                names(&["c1"]),
            )
                .prop_map(|(scopes, roles, azp, guest, groups, overage, acrs)| Token {
                    scopes,
                    roles,
                    azp,
                    guest,
                    groups: if overage { Vec::new() } else { groups },
                    overage,
                    acrs,
                })
        }

        fn build(t: &Tree) -> Requirement {
            match t {
                Tree::Leaf(l) => match l {
                    Leaf::AnyScope(v) if v.is_empty() => Requirement::any_of([]),
                    Leaf::AnyScope(v) => Requirement::try_scopes(v).unwrap(),
                    // "all of" no scopes holds vacuously: the explicit form of that
                    Leaf::AllScopes(v) if v.is_empty() => Requirement::all_of([]),
                    Leaf::AllScopes(v) => Requirement::try_all_scopes(v).unwrap(),
                    Leaf::AnyRole(v) if v.is_empty() => Requirement::any_of([]),
                    Leaf::AnyRole(v) => Requirement::try_roles(v).unwrap(),
                    Leaf::App(a) => Requirement::calling_apps([*a]),
                    Leaf::NoGuests => Requirement::no_guests(),
                    Leaf::Group(g) => Requirement::groups([*g]),
                    Leaf::Context(c) => Requirement::auth_context(c),
                },
                Tree::All(v) => Requirement::all_of(v.iter().map(build)),
                Tree::Any(v) => Requirement::any_of(v.iter().map(build)),
            }
        }

        fn leaf_holds(l: &Leaf, t: &Token) -> bool {
            match l {
                Leaf::AnyScope(v) => v.iter().any(|s| t.scopes.contains(s)),
                Leaf::AllScopes(v) => v.iter().all(|s| t.scopes.contains(s)),
                Leaf::AnyRole(v) => v.iter().any(|r| t.roles.contains(r)),
                Leaf::App(a) => t.azp == *a,
                Leaf::NoGuests => !t.guest,
                Leaf::Group(g) => t.groups.contains(g),
                Leaf::Context(c) => t.acrs.contains(c),
            }
        }

        fn model(tree: &Tree, t: &Token) -> bool {
            match tree {
                Tree::Leaf(l) => leaf_holds(l, t),
                Tree::All(v) => v.iter().all(|x| model(x, t)),
                Tree::Any(v) => v.iter().any(|x| model(x, t)),
            }
        }

        /// The leaves the tree cannot pass without: the root, the children of a needed "all
        /// of", the only child of a needed "any of".
        fn needed<'a>(tree: &'a Tree, out: &mut Vec<&'a Leaf>) {
            match tree {
                Tree::Leaf(l) => out.push(l),
                Tree::All(v) => v.iter().for_each(|x| needed(x, out)),
                Tree::Any(v) if v.len() == 1 => needed(&v[0], out),
                Tree::Any(_) => {}
            }
        }

        fn claims_of(t: &Token) -> VerifiedClaims {
            let mut v = json!({
                "tid": "7d6c5b4a-3f2e-4d1c-9b8a-0f1e2d3c4b5a",
                "azp": t.azp,
                "acrs": t.acrs,
            });
            if !t.scopes.is_empty() {
                v["scp"] = json!(t.scopes.join(" "));
            }
            if !t.roles.is_empty() {
                v["roles"] = json!(t.roles);
            }
            if t.guest {
                v["acct"] = json!(1);
            }
            if t.overage {
                v["_claim_names"] = json!({"groups": "src1"});
            } else {
                v["groups"] = json!(t.groups);
            }
            claims(v)
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            #[test]
            fn random_tree_never_accepts_claims_failing_a_needed_leaf(tree in tree(), token in token()) {
                let r = build(&tree);
                let accepted = r.check(&claims_of(&token)).is_ok();
                let mut leaves = Vec::new();
                needed(&tree, &mut leaves);
                if leaves.iter().any(|l| !leaf_holds(l, &token)) {
                    prop_assert!(!accepted, "{r} accepted {token:?}");
                }
                // and the tree decides exactly as the model: deny by default, nothing more
                prop_assert_eq!(accepted, model(&tree, &token), "{} on {:?}", r, token);
                // the fast yes/no and the explaining evaluation agree
                let c = claims_of(&token);
                prop_assert_eq!(r.rule.holds(&c, &[]), r.rule.eval(&c, &[]).is_ok());
            }
        }
    }
}
