//! Unit tests of the requirements: exact matching, the IDW answers, every rule, and a property
//! test of random trees against an independent model.

use super::*;
use crate::claims::VerifiedClaims;
use crate::error::PermissionFailure;
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
    assert_eq!(
        r.check(&claims(json!({"scp": "openid weather.read"})))
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Ok(())
    );
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
    assert_eq!(
        r.check(&claims(json!({"roles": ["Weather.Read.All"]})))
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Ok(())
    );
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
    assert_eq!(
        r.check(&claims(
            json!({"scp": "weather.read", "roles": ["Weather.Write.All"]})
        ))
        .map(|_| ())
        .map_err(|e| e.to_string()),
        Ok(())
    );
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
    assert_eq!(
        Requirement::default()
            .check(&claims(json!({})))
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Ok(())
    );
}

#[test]
fn invalid_names_are_refused() {
    for bad in ["", "a b", "a\"b"] {
        let e = Scope::parse(bad).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("invalid scope {bad:?}: expected a non-empty name of visible ASCII characters without spaces, quotes or backslashes")
        );
    }
    assert_eq!(
        AppRole::parse("Weather.Read.All")
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Ok(())
    );
    let e = Requirement::try_scopes(["ok", "not ok"]).unwrap_err();
    assert!(
        matches!(e, RequirementError::InvalidName(_)),
        "expected InvalidName, got {e:?}"
    );
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
    assert_eq!(
        r.check(&claims(json!({"scp": "weather.write weather.read"})))
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Ok(())
    );
    assert_eq!(
        denial(&r, json!({"scp": "weather.read"})),
        "the token does not meet the requirement all of the scopes [\"weather.read\", \"weather.write\"]: \
         all of the scopes [\"weather.read\", \"weather.write\"]: the token has scopes [\"weather.read\"]"
    );
}

#[test]
fn combination_a_and_b_or_role_c_is_exact() {
    let r = Requirement::all_scopes(["a", "b"]).or(Requirement::roles(["C"]));
    assert_eq!(
        r.check(&claims(json!({"scp": "a b"})))
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Ok(())
    );
    assert_eq!(
        r.check(&claims(json!({"roles": ["C"]})))
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Ok(())
    );
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
    assert_eq!(
        r.check(&claims(json!({"scp": "weather.read", "azp": "app-1"})))
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Ok(())
    );
    assert_eq!(
        r.check(&claims(json!({"scp": "weather.read", "appid": "app-1"})))
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Ok(())
    );
    let d = denial(&r, json!({"scp": "weather.read", "azp": "app-2"}));
    assert!(d.ends_with("a calling application (azp/appid) among [\"app-1\"]: the token has calling application Some(\"app-2\")"), "{d}");
    denial(&r, json!({"scp": "weather.read"}));
}

#[test]
fn acl_mode_admits_listed_daemons_without_roles_and_never_users() {
    let r = Requirement::scopes(["weather.read"]).or(Requirement::acl(["daemon-1"]));
    assert_eq!(
        r.check(&claims(json!({"idtyp": "app", "azp": "daemon-1"})))
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Ok(())
    );
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
    assert_eq!(
        r.check(&claims(json!({"tid": tid, "scp": "x"})))
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Ok(())
    );
    assert_eq!(
        r.check(&claims(json!({"tid": tid, "scp": "x", "acct": 0})))
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Ok(())
    );
    assert_eq!(
        r.check(&claims(
            json!({"tid": tid, "scp": "x", "idp": format!("https://sts.windows.net/{tid}/")})
        ))
        .map(|_| ())
        .map_err(|e| e.to_string()),
        Ok(())
    );
    let d = denial(&r, json!({"tid": tid, "scp": "x", "acct": 1}));
    assert!(
        d.ends_with(
            "a member (not a guest) of the token's tenant: the token has acct 1 (a guest account)"
        ),
        "{d}"
    );
    let d = denial(
        &r,
        json!({"tid": tid, "scp": "x", "idp": format!("https://sts.windows.net/{home}/")}),
    );
    assert!(d.contains(home), "{d}");
    let d = denial(&r, json!({"tid": tid, "scp": "x", "idp": "live.com"}));
    assert!(d.contains("idp \"live.com\""), "{d}");
    // app-only tokens name their own tenant; `acct` 1 is a guest whatever else the token says
    assert_eq!(
        r.check(&claims(
            json!({"tid": tid, "idtyp": "app", "idp": format!("https://sts.windows.net/{tid}/")})
        ))
        .map(|_| ())
        .map_err(|e| e.to_string()),
        Ok(())
    );
    denial(&r, json!({"tid": tid, "roles": ["R"], "acct": 1}));
}

#[test]
fn authority_requirement_matches_the_accepting_authority() {
    let r = Requirement::authority("workforce");
    let ok = VerifiedClaims::for_tests_from(json!({}), "workforce");
    assert_eq!(r.check(&ok).map(|_| ()).map_err(|e| e.to_string()), Ok(()));
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
    assert_eq!(
        r.check(&claims(json!({"scp": "weather.write", "acrs": ["c1"]})))
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Ok(())
    );
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
    assert_eq!(
        r.check(&claims(json!({"groups": ["g-x", "g-admins"]})))
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Ok(())
    );
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
    assert_eq!(
        wids.check(&claims(
            json!({"wids": ["62e90394-69f5-4237-9190-012177145e10"]})
        ))
        .map(|_| ())
        .map_err(|e| e.to_string()),
        Ok(())
    );
    let d = denial(
        &wids,
        json!({"wids": ["b79fbf4d-3ef9-4689-8143-76b194e85509"]}),
    );
    assert!(d.contains("b79fbf4d"), "{d}");
}

#[test]
fn predicate_is_named_in_the_denial() {
    let r = Requirement::predicate("a user named Alice", |c| c.name() == Some("Alice"));
    assert_eq!(
        r.check(&claims(json!({"name": "Alice"})))
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Ok(())
    );
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
    assert_eq!(
        r.check(&ok).map_err(|e| e.code()),
        Err("requirement_not_met"),
        "the tenant rule is unmet without its lookup"
    );
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
    assert_eq!(
        r.check(&claims(json!({"scp": "x"}))).map_err(|e| e.code()),
        Err("insufficient_scope"),
        "the default requirement or R needs R"
    );
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
    assert_eq!(
        Requirement::any_of([])
            .check(&claims(json!({"scp": "a"})))
            .map_err(|e| e.code()),
        Err("requirement_not_met"),
        "an empty any-of never passes"
    );
    assert_eq!(
        Requirement::all_of([])
            .check(&claims(json!({})))
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Ok(())
    );
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
