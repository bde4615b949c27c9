//! Sign-in that lasts: `weather login --device-code`, silent refresh with rotated refresh tokens, a
//! revoked sign-in, two `weather` processes refreshing one cache at once, `weather accounts`, a damaged
//! cache file, and the device-code prompt in a real terminal (tmux).

use std::time::Duration;

use entra_dev::defaults::{ALICE_OID, BOB_OID};
use entra_dev::testing::{Answer, Browser as TestBrowser};
use serde_json::Value;
use tokio::io::BufReader;

use crate::helpers::{spawn_dev_service, Run, TestService, Weather};
use crate::login::{finish, login, read_until, Browser};

/// The service's development issuer, where the verification page lives.
fn issuer_url(service: &TestService) -> String {
    format!("{}/dev-issuer/", service.address)
}

/// Plays the other device: enters `user_code` on the verification page and signs in as `user`.
async fn approve(service: &TestService, user_code: &str, user: &str) {
    let issuer = url::Url::parse(&issuer_url(service)).unwrap();
    TestBrowser::new()
        .unwrap()
        .approve_device_code(
            &issuer,
            user_code,
            Answer::accept(user, &["weather.read", "weather.write"]),
        )
        .await
        .unwrap();
}

/// The user code in the prompt line `... enter the code ABCD1234E (it expires ...`.
fn user_code_in(text: &str) -> Option<String> {
    let rest = text.split("enter the code ").nth(1)?;
    let code: String = rest
        .chars()
        .take_while(char::is_ascii_alphanumeric)
        .collect();
    (!code.is_empty()).then_some(code)
}

/// `weather login --device-code`, the test signing in as `user` on the verification page.
async fn device_login(service: &TestService, weather: &Weather, user: &str) -> Run {
    let mut child = weather
        .command(&["login", "--device-code"])
        .spawn()
        .expect("weather starts");
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    let code = read_until(&mut stderr, &mut seen, user_code_in).await;
    assert!(
        seen.contains(&format!("open {}devicelogin", issuer_url(service))),
        "{seen}"
    );
    approve(service, &code, user).await;
    finish(child, stderr, seen).await
}

fn refresh_token(cache: &Value) -> String {
    cache["accounts"][0]["refresh_token"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn login_with_a_device_code_then_commands_refresh_silently_and_rotate_the_refresh_token() {
    let service = spawn_dev_service().await;
    let weather = Weather::new(&service);
    let run = device_login(&service, &weather, "bob").await;
    assert!(
        run.ok().starts_with(
            "Signed in as Bob Example (bob@dev.example) with weather.read weather.write."
        ),
        "{run:#?}"
    );
    let cache = weather.cache_json();
    assert_eq!(cache["accounts"][0]["oid"], BOB_OID);
    let first = refresh_token(&cache);
    assert!(first.len() >= 40);
    assert!(!run.stdout.contains(&first) && !run.stderr.contains(&first));
    let stats = service.issuer.stats();
    assert_eq!(stats.device_authorization_requests, 1);
    assert!(stats.device_code_requests >= 1);

    // The access token is still good: no request.
    let before = service.token_requests();
    weather.run(&["reports"]).await.ok();
    assert_eq!(service.token_requests(), before);

    // An hour later: the refresh token, silently, and it rotates.
    weather.expire_user_access_tokens();
    let run = weather.run(&["report", "Fog", "--city", "Astoria"]).await;
    run.ok();
    assert_eq!(service.issuer.stats().refresh_token_requests, 1);
    let second = refresh_token(&weather.cache_json());
    assert_ne!(second, first, "the new refresh token replaced the old one");
    assert_eq!(service.api_reports().await[0]["description"], "Fog");
    assert_eq!(
        service.issuer.stats().client_credentials_requests,
        0,
        "no fallback to client credentials"
    );
}

#[tokio::test]
async fn revoked_sign_in_says_to_sign_in_again_and_exits_3() {
    let service = spawn_dev_service().await;
    let weather = Weather::new(&service);
    let (run, _) = login(&weather, Browser::Accept("alice", &["weather.read"])).await;
    run.ok();
    assert_eq!(service.issuer.revoke_refresh_tokens("alice"), 1);
    weather.expire_user_access_tokens();

    let run = weather.run(&["reports"]).await;
    assert_eq!(run.code, 3, "{run:#?}");
    assert_eq!(
        run.stderr,
        "weather: not signed in: the sign-in of Alice Example (alice@dev.example) is no longer valid \
         (the identity provider refused it, AADSTS50173: revoked, expired or the password changed)\n\
         weather: hint: sign in again with `weather login` (`weather login --device-code` on a machine \
         without a browser), or `weather logout` to use client credentials\n"
    );
    assert_eq!(service.issuer.stats().client_credentials_requests, 0);
    let cache = weather.cache_json();
    assert!(
        cache["accounts"][0].get("refresh_token").is_none(),
        "{cache}"
    );

    // Signing in again works and commands carry on.
    let (run, _) = login(&weather, Browser::Accept("alice", &["weather.read"])).await;
    run.ok();
    weather.run(&["reports"]).await.ok();
}

#[tokio::test]
async fn user_token_refused_before_its_expiry_is_replaced_by_a_silent_refresh_once() {
    let service = spawn_dev_service().await;
    let weather = Weather::new(&service);
    login(&weather, Browser::Accept("alice", &["weather.read"]))
        .await
        .0
        .ok();
    let mut cache = weather.cache_json();
    cache["accounts"][0]["access_tokens"][0]["token"] =
        serde_json::json!("not-a-token-the-service-accepts");
    std::fs::write(weather.cache_file(), cache.to_string()).unwrap();
    let run = weather.run(&["reports"]).await;
    assert_eq!(run.ok(), "No reports yet.\n");
    assert_eq!(service.issuer.stats().refresh_token_requests, 1);
    let text = std::fs::read_to_string(weather.cache_file()).unwrap();
    assert!(!text.contains("not-a-token-the-service-accepts"));
}

#[tokio::test]
async fn two_weather_processes_refreshing_at_once_keep_one_valid_cache() {
    let service = spawn_dev_service().await;
    let weather = Weather::new(&service);
    let (run, _) = login(
        &weather,
        Browser::Accept("alice", &["weather.read", "weather.write"]),
    )
    .await;
    run.ok();
    let first = refresh_token(&weather.cache_json());
    for round in 1..=3u64 {
        weather.expire_user_access_tokens();
        let (a, b) = tokio::join!(weather.run(&["reports"]), weather.run(&["reports"]));
        assert_eq!(a.ok(), "No reports yet.\n", "round {round}");
        assert_eq!(b.ok(), "No reports yet.\n", "round {round}");
        // One refresh per round: the second process waited for the lock and used the new token.
        assert_eq!(service.issuer.stats().refresh_token_requests, round);
        let cache = weather.cache_json();
        assert_eq!(cache["accounts"].as_array().unwrap().len(), 1);
        assert_eq!(cache["accounts"][0]["oid"], ALICE_OID);
        assert_eq!(
            cache["accounts"][0]["access_tokens"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
    }
    assert_ne!(refresh_token(&weather.cache_json()), first);
    // The cache's refresh token is the live one: one more refresh works.
    weather.expire_user_access_tokens();
    weather.run(&["reports"]).await.ok();
    assert_eq!(service.issuer.stats().refresh_token_requests, 4);
    let leftovers: Vec<_> = std::fs::read_dir(weather.cache_file().parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[tokio::test]
async fn accounts_lists_the_signed_in_users_and_use_switches_the_active_one() {
    let service = spawn_dev_service().await;
    let weather = Weather::new(&service);
    let none = weather.run(&["accounts"]).await;
    assert!(
        none.ok().starts_with("No account is signed in"),
        "{none:#?}"
    );
    login(&weather, Browser::Accept("alice", &["weather.read"]))
        .await
        .0
        .ok();
    login(&weather, Browser::Accept("bob", &["weather.read"]))
        .await
        .0
        .ok();
    let tenant = entra_dev::defaults::DEV_TENANT_ID;
    let list = weather.run(&["accounts"]).await;
    assert_eq!(
        list.ok(),
        format!(
            "  1  Alice Example (alice@dev.example)  tenant {tenant}\n\
             * 2  Bob Example (bob@dev.example)  tenant {tenant}\n"
        )
    );
    let switched = weather.run(&["accounts", "use", "alice@dev.example"]).await;
    assert_eq!(
        switched.ok(),
        "The active account is now Alice Example (alice@dev.example).\n"
    );
    assert!(weather
        .run(&["accounts"])
        .await
        .ok()
        .starts_with("* 1  Alice"));
    let unknown = weather.run(&["accounts", "use", "carol"]).await;
    assert_eq!(unknown.code, 2, "{unknown:#?}");
    assert_eq!(
        unknown.stderr,
        "weather: no signed-in account \"carol\"; signed in: alice@dev.example, bob@dev.example\n"
    );
    // Signing the active one out makes the other active.
    let out = weather.run(&["logout"]).await;
    assert_eq!(
        out.ok(),
        "Signed out Alice Example (alice@dev.example); the active account is now Bob Example (bob@dev.example).\n"
    );
    let all = weather.run(&["logout", "--all"]).await;
    assert!(
        all.ok().starts_with("Signed out: removed 1 account"),
        "{all:#?}"
    );
    assert!(!weather.cache_file().exists());
}

#[tokio::test]
async fn damaged_cache_file_is_set_aside_with_a_warning_and_the_command_carries_on() {
    let service = spawn_dev_service().await;
    let weather = Weather::new(&service);
    std::fs::create_dir_all(weather.cache_file().parent().unwrap()).unwrap();
    std::fs::write(weather.cache_file(), b"{\"version\": 1, \"accounts\": [tru").unwrap();
    let run = weather.run(&["reports"]).await;
    assert_eq!(run.code, 0, "{run:#?}");
    assert_eq!(run.stdout, "No reports yet.\n");
    assert!(
        run.stderr.starts_with(&format!(
            "weather: warning: the token cache {} was damaged and was moved to {}.corrupt-",
            weather.cache_file().display(),
            weather.cache_file().display()
        )),
        "{}",
        run.stderr
    );
    let aside: Vec<_> = std::fs::read_dir(weather.cache_file().parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains(".corrupt-"))
        .collect();
    assert_eq!(aside.len(), 1);
    assert_eq!(
        std::fs::read(&aside[0]).unwrap(),
        b"{\"version\": 1, \"accounts\": [tru"
    );
    // The new file is valid and holds the client-credentials token.
    assert_eq!(
        weather.cache_json()["app_tokens"].as_array().unwrap().len(),
        1
    );
}

/// Runs `tmux` on a private socket.
fn tmux(socket: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new("tmux")
        .arg("-L")
        .arg(socket)
        .args(args)
        .output()
        .expect("tmux runs")
}

/// A shell word in single quotes.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[tokio::test]
async fn device_code_prompt_in_a_terminal_shows_the_code_and_the_sign_in_completes() {
    if std::process::Command::new("tmux")
        .arg("-V")
        .output()
        .is_err()
    {
        println!("skipped: tmux is not installed");
        return;
    }
    let service = spawn_dev_service().await;
    let weather = Weather::new(&service);
    let socket = format!("weather-test-{}", std::process::id());
    let mut command: Vec<String> = vec!["env".into(), "-i".into()];
    command.extend(
        weather
            .env_vars()
            .iter()
            .map(|(k, v)| quote(&format!("{k}={v}"))),
    );
    command.extend([
        quote(env!("CARGO_BIN_EXE_weather")),
        "--api-url".into(),
        quote(weather.api_url()),
        "login".into(),
        "--device-code".into(),
        ";".into(),
        "echo".into(),
        "\"exit=$?\"".into(),
        ";".into(),
        "sleep".into(),
        "60".into(),
    ]);
    let started = tmux(
        &socket,
        &[
            "new-session",
            "-d",
            "-s",
            "w",
            "-x",
            "160",
            "-y",
            "40",
            &command.join(" "),
        ],
    );
    assert!(started.status.success(), "{started:?}");
    let screen = |socket: &str| {
        String::from_utf8(tmux(socket, &["capture-pane", "-p", "-J", "-t", "w"]).stdout).unwrap()
    };
    let mut shown = String::new();
    let mut code = None;
    for _ in 0..100 {
        shown = screen(&socket);
        code = user_code_in(&shown);
        if code.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let Some(code) = code else {
        tmux(&socket, &["kill-server"]);
        panic!("no code on the terminal: {shown}");
    };
    assert!(
        shown.contains(&format!(
            "open {}devicelogin on any device",
            issuer_url(&service)
        )),
        "{shown}"
    );
    assert!(shown.contains("Waiting for the sign-in..."), "{shown}");
    approve(&service, &code, "alice").await;
    for _ in 0..150 {
        shown = screen(&socket);
        if shown.contains("exit=") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tmux(&socket, &["kill-server"]);
    assert!(
        shown.contains("Signed in as Alice Example (alice@dev.example)"),
        "{shown}"
    );
    assert!(shown.contains("exit=0"), "{shown}");
    assert_eq!(weather.cache_json()["accounts"][0]["oid"], ALICE_OID);
}

/// The set-aside copies of damaged cache files next to the cache.
fn set_aside_files(weather: &Weather) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(weather.cache_file().parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains(".corrupt-"))
        .collect()
}

#[tokio::test]
async fn cache_file_of_a_newer_version_is_refused_with_upgrade_and_left_in_place() {
    let service = spawn_dev_service().await;
    let weather = Weather::new(&service);
    std::fs::create_dir_all(weather.cache_file().parent().unwrap()).unwrap();
    let newer =
        br#"{"version": 2, "accounts": [{"refresh_token": "a-newer-release-s-live-token"}]}"#;
    std::fs::write(weather.cache_file(), newer).unwrap();
    let run = weather.run(&["reports"]).await;
    assert_eq!(run.code, 1, "{run:#?}");
    assert!(run.stdout.is_empty(), "{run:#?}");
    assert!(
        run.stderr.starts_with(&format!(
            "weather: token cache {} was written by a newer version of this program (format 2, this one reads up to 1): upgrade it",
            weather.cache_file().display()
        )),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("hint: upgrade `weather`"),
        "{}",
        run.stderr
    );
    assert_eq!(std::fs::read(weather.cache_file()).unwrap(), newer);
    assert!(set_aside_files(&weather).is_empty());
    assert_eq!(service.token_requests(), 0);
}

#[tokio::test]
async fn logout_deletes_set_aside_copies_of_damaged_cache_files() {
    let service = spawn_dev_service().await;
    let weather = Weather::new(&service);
    std::fs::create_dir_all(weather.cache_file().parent().unwrap()).unwrap();
    std::fs::write(
        weather.cache_file(),
        b"{\"version\": 1, \"accounts\": [{\"refresh_token\": \"still-live\"",
    )
    .unwrap();
    weather.run(&["reports"]).await.ok();
    assert_eq!(set_aside_files(&weather).len(), 1);
    let out = weather.run(&["logout"]).await;
    assert_eq!(
        out.ok(),
        "No account is signed in (`weather logout --all` also forgets app-only tokens).\n\
         Deleted 1 damaged cache file (set aside earlier).\n"
    );
    assert!(
        set_aside_files(&weather).is_empty(),
        "{:?}",
        set_aside_files(&weather)
    );

    std::fs::write(weather.cache_file(), b"[damaged again").unwrap();
    weather.run(&["reports"]).await.ok();
    assert_eq!(set_aside_files(&weather).len(), 1);
    let all = weather.run(&["logout", "--all"]).await;
    assert_eq!(
        all.ok(),
        format!(
            "Signed out: removed 0 accounts, 1 app-only token and 1 damaged cache file ({}).\n",
            weather.cache_file().display()
        )
    );
    assert!(set_aside_files(&weather).is_empty());
    assert!(!weather.cache_file().exists());
}

#[tokio::test]
async fn logout_all_counts_app_only_tokens_apart_from_accounts() {
    let service = spawn_dev_service().await;
    let weather = Weather::new(&service);
    weather.run(&["reports"]).await.ok();
    login(&weather, Browser::Accept("alice", &["weather.read"]))
        .await
        .0
        .ok();
    let all = weather.run(&["logout", "--all"]).await;
    assert_eq!(
        all.ok(),
        format!(
            "Signed out: removed 1 account and 1 app-only token ({}).\n",
            weather.cache_file().display()
        )
    );
    assert!(!weather.cache_file().exists());
}

#[tokio::test]
async fn cache_file_with_expiry_beyond_any_token_lifetime_is_not_trusted_and_no_crash() {
    let service = spawn_dev_service().await;
    let weather = Weather::new(&service);
    // An app-only token first, then alice's sign-in.
    weather.run(&["reports"]).await.ok();
    login(&weather, Browser::Accept("alice", &["weather.read"]))
        .await
        .0
        .ok();
    let mut cache = weather.cache_json();
    cache["accounts"][0]["access_tokens"][0]["expires_at"] = serde_json::json!(u64::MAX);
    cache["app_tokens"][0]["expires_at"] = serde_json::json!(u64::MAX);
    cache["app_tokens"][0]["refresh_at"] = serde_json::json!(u64::MAX);
    std::fs::write(weather.cache_file(), cache.to_string()).unwrap();

    // The user's token with an impossible expiry is not used: the refresh token is.
    let run = weather.run(&["reports"]).await;
    assert_eq!(run.ok(), "No reports yet.\n");
    assert_eq!(service.issuer.stats().refresh_token_requests, 1);
    let expires_at = weather.cache_json()["accounts"][0]["access_tokens"][0]["expires_at"]
        .as_u64()
        .unwrap();
    assert!(expires_at < u64::from(u32::MAX), "replaced: {expires_at}");

    // Signed out, the app-only token with an impossible expiry is replaced by a new one too.
    weather.run(&["logout"]).await.ok();
    let before = service.issuer.stats().client_credentials_requests;
    let run = weather.run(&["reports"]).await;
    assert_eq!(run.ok(), "No reports yet.\n");
    assert_eq!(
        service.issuer.stats().client_credentials_requests,
        before + 1
    );
    let app_tokens = weather.cache_json()["app_tokens"].clone();
    assert_eq!(app_tokens.as_array().unwrap().len(), 1, "{app_tokens}");
    assert!(app_tokens[0]["expires_at"].as_u64().unwrap() < u64::from(u32::MAX));
}
