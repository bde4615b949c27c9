//! The evaluation engine: the rule tree behind a [`Requirement`](crate::Requirement), a fast
//! yes/no ([`Rule::holds`]) and the explaining evaluation of a refusal ([`Rule::eval`]).

use std::fmt;
use std::sync::Arc;

use super::name::{AppRole, Scope};
use crate::claims::VerifiedClaims;
use crate::error::{AuthError, PermissionFailure};
use crate::tenant_check::{TenantAnswer, TenantCheck};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Rule {
    /// Any one of the scopes or roles. Both empty only in [`Requirement::default`](crate::Requirement::default) (any valid
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

/// A named predicate over the claims ([`Requirement::predicate`](crate::Requirement::predicate)).
#[derive(Clone)]
pub(super) struct Predicate {
    pub(super) name: String,
    pub(super) f: Arc<dyn Fn(&VerifiedClaims) -> bool + Send + Sync>,
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
pub(super) enum Unmet {
    /// A leaf failed: what it needed and what the token had.
    Denied(Vec<String>),
    /// A group rule could not be decided: the token has a groups overage.
    Overage(Vec<String>),
    /// An authentication context is missing (step-up would satisfy it).
    Context { id: String, found: Vec<String> },
    /// The tenant check could not answer.
    TenantUnavailable(String),
}

/// The original requirement (any of some scopes or roles) and its IDW answers.
pub(super) fn check_scope_or_role(
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
    pub(super) fn walk<'a>(&'a self, f: &mut impl FnMut(&'a Rule)) {
        f(self);
        if let Rule::All(v) | Rule::Any(v) = self {
            for r in v {
                r.walk(f);
            }
        }
    }

    /// Whether the rule holds: [`eval`](Self::eval)`.is_ok()`, without building messages.
    pub(super) fn holds(
        &self,
        c: &VerifiedClaims,
        tenants: &[(TenantCheck, TenantAnswer)],
    ) -> bool {
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

    pub(super) fn eval(
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
