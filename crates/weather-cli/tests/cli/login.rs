//! `weather login`: authorization code + PKCE, the test playing the browser on the development issuer's
//! login page and following the redirect to the CLI's loopback listener.

use entra_dev::testing::{Answer, Browser as TestBrowser};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

use crate::helpers::{spawn_dev_service, Run, TestService, Weather, REPORT_MISTY_PORTLAND};

/// What the browser did.
pub(crate) enum Browser<'a> {
    /// Sign in as `user`, consenting to these scopes.
    Accept(&'a str, &'a [&'a str]),
    /// Press "cancel" on the login page.
    Cancel,
    /// First send the listener a code with the state of another sign-in (as any local process
    /// can), then sign in as `user`, consenting to these scopes.
    ForgeThenAccept(&'a str, &'a [&'a str]),
}

/// Runs `weather login --no-browser`, plays the browser, and returns the run and the page the CLI's
/// listener showed.
pub(crate) async fn login(weather: &Weather, browser: Browser<'_>) -> (Run, String) {
    let mut child = weather
        .command(&["login", "--no-browser", "--wait", "60"])
        .spawn()
        .expect("weather starts");
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    let url = read_until(&mut stderr, &mut seen, |line| {
        let trimmed = line.trim();
        (trimmed.starts_with("http") && trimmed.contains("/oauth2/v2.0/authorize?"))
            .then(|| trimmed.to_owned())
    })
    .await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut forged_page = String::new();
    if let Browser::ForgeThenAccept(..) = browser {
        let sent = url::Url::parse(&url).unwrap();
        let (_, redirect) = sent
            .query_pairs()
            .find(|(k, _)| k == "redirect_uri")
            .unwrap();
        let back = http
            .get(format!("{redirect}?code=stolen&state=forged"))
            .send()
            .await
            .unwrap();
        assert_eq!(back.status(), 400);
        assert_eq!(back.headers()["cache-control"], "no-store");
        forged_page = back.text().await.unwrap();
    }
    let answer = match browser {
        Browser::Accept(user, consent) | Browser::ForgeThenAccept(user, consent) => {
            Answer::accept(user, consent)
        }
        Browser::Cancel => Answer::Cancel,
    };
    let location = TestBrowser::new()
        .unwrap()
        .sign_in(&url, answer)
        .await
        .expect("the login page signs in and redirects back");
    assert!(
        location.as_str().starts_with("http://127.0.0.1:"),
        "{location}"
    );
    let back = http.get(location).send().await.unwrap();
    let shown = forged_page + &back.text().await.unwrap();
    (finish(child, stderr, seen).await, shown)
}

/// Reads `stderr` line by line (kept in `seen`) until `found` picks something from a line.
pub(crate) async fn read_until<T>(
    stderr: &mut BufReader<tokio::process::ChildStderr>,
    seen: &mut String,
    found: impl Fn(&str) -> Option<T>,
) -> T {
    loop {
        let mut line = String::new();
        let n = stderr.read_line(&mut line).await.unwrap();
        assert!(
            n > 0,
            "weather login ended before printing what was expected: {seen}"
        );
        seen.push_str(&line);
        if let Some(t) = found(&line) {
            return t;
        }
    }
}

/// Waits for the run to end, with the rest of its stderr.
pub(crate) async fn finish(
    child: tokio::process::Child,
    mut stderr: BufReader<tokio::process::ChildStderr>,
    mut seen: String,
) -> Run {
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).await.unwrap();
    seen.push_str(&rest);
    let out = child.wait_with_output().await.unwrap();
    Run {
        code: out.status.code().unwrap(),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: seen,
    }
}

pub(crate) async fn signed_in(service: &TestService, consent: &[&str]) -> Weather {
    let weather = Weather::new(service);
    let (run, page) = login(&weather, Browser::Accept("alice", consent)).await;
    assert!(page.contains("You are signed in"), "{page}");
    assert!(
        run.ok()
            .starts_with("Signed in as Alice Example (alice@dev.example) with "),
        "{run:#?}"
    );
    weather
}

#[tokio::test]
async fn login_through_the_browser_caches_the_users_token_and_commands_use_it() {
    let service = spawn_dev_service().await;
    let weather = signed_in(&service, &["weather.read", "weather.write"]).await;
    assert_eq!(service.token_requests(), 1, "the code was redeemed once");
    let cache = weather.cache_json();
    let account = &cache["accounts"][0];
    assert_eq!(account["username"], "alice@dev.example", "{cache}");
    assert_eq!(account["name"], "Alice Example");
    assert_eq!(account["oid"], entra_dev::defaults::ALICE_OID);
    assert_eq!(cache["active"], account["id"]);
    assert!(account["refresh_token"]
        .as_str()
        .is_some_and(|r| r.len() >= 40));

    weather.run(REPORT_MISTY_PORTLAND).await.ok();
    let listed = weather.run(&["reports"]).await;
    assert!(listed.ok().contains("portland, or, us  Misty sunrise"));
    assert_eq!(
        service.token_requests(),
        1,
        "no client-credentials request while signed in"
    );

    let out = weather.run(&["logout"]).await;
    assert_eq!(
        out.ok(),
        "Signed out Alice Example (alice@dev.example); commands now use client credentials when configured.\n"
    );
    assert_eq!(weather.cache_json()["accounts"], serde_json::json!([]));
    weather.run(&["reports"]).await.ok();
    assert_eq!(service.token_requests(), 2, "back to client credentials");
}

#[tokio::test]
async fn login_printed_url_carries_pkce_s256_state_and_a_loopback_redirect() {
    let service = spawn_dev_service().await;
    let weather = Weather::new(&service);
    let (run, _) = login(&weather, Browser::Accept("bob", &["weather.read"])).await;
    run.ok();
    let url_line = run
        .stderr
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("http"))
        .unwrap();
    let url = url::Url::parse(url_line).unwrap();
    assert!(url
        .as_str()
        .starts_with(&format!("{}/dev-issuer/", service.address)));
    let q: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["code_challenge"].len(), 43);
    assert!(q["state"].len() >= 32);
    assert!(q["redirect_uri"].starts_with("http://127.0.0.1:"));
    assert_eq!(q["client_id"], entra_dev::defaults::DEV_PUBLIC_CLIENT_ID);
}

#[tokio::test]
async fn login_with_read_consent_only_then_report_names_the_missing_write_scope() {
    let service = spawn_dev_service().await;
    let weather = signed_in(&service, &["weather.read"]).await;
    let run = weather.run(&["report", "Hail", "--city", "Bend"]).await;
    assert_eq!(run.code, 4, "{run:#?}");
    assert!(
        run.stderr
            .starts_with("weather: missing permission: the API needs scope weather.write"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("hint: sign in again with `weather login` and consent to weather.write"),
        "{}",
        run.stderr
    );
    assert!(service.api_reports().await.is_empty());
    // An hour later the refresh asks for what was granted, not for the refused scope.
    weather.expire_user_access_tokens();
    weather.run(&["reports"]).await.ok();
    assert_eq!(service.issuer.stats().refresh_token_requests, 1);
}

#[tokio::test]
async fn login_cancelled_in_the_browser_exits_3_with_access_denied_and_caches_nothing() {
    let service = spawn_dev_service().await;
    let weather = Weather::new(&service);
    let (run, page) = login(&weather, Browser::Cancel).await;
    assert_eq!(run.code, 3, "{run:#?}");
    assert!(page.contains("Sign-in failed"), "{page}");
    assert!(
        run.stderr
            .contains("weather: the sign-in was declined (access_denied)"),
        "{}",
        run.stderr
    );
    assert_eq!(service.token_requests(), 0);
    assert!(!weather.cache_file().exists());
}

#[tokio::test]
async fn login_answers_a_redirect_carrying_another_state_400_and_the_real_sign_in_still_completes()
{
    let service = spawn_dev_service().await;
    let weather = Weather::new(&service);
    let (run, pages) = login(
        &weather,
        Browser::ForgeThenAccept("alice", &["weather.read"]),
    )
    .await;
    // The forged answer got its own page; the browser's answer that followed signed alice in.
    assert!(
        pages.contains("does not belong to the sign-in in progress; it was ignored"),
        "{pages}"
    );
    assert!(pages.contains("You are signed in"), "{pages}");
    assert!(
        run.ok()
            .starts_with("Signed in as Alice Example (alice@dev.example) with weather.read"),
        "{run:#?}"
    );
    assert_eq!(
        service.token_requests(),
        1,
        "only the browser's code was redeemed, not the forged one"
    );
    assert_eq!(
        weather.cache_json()["accounts"][0]["oid"],
        entra_dev::defaults::ALICE_OID
    );
}
