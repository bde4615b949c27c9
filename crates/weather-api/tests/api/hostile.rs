//! Black box: the REAL binary against the development issuer takes a corpus of malformed, forged and
//! misdirected requests over raw TCP. Every answer is one of the documented 4xx statuses (never 5xx),
//! the process stays alive, and no answer echoes the token.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use entra_dev::{DevIssuer, DevIssuerConfig, RunningDevIssuer, TokenRequest};
use serde_json::{json, Map, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::binary::{raw, settings, Binary, RawAnswer, API_KEY};
use crate::helpers::{app_with_roles, user_with_scopes};

/// Statuses the README documents for client mistakes.
const DOCUMENTED: &[u16] = &[400, 401, 403, 404, 405, 408, 413, 415, 422, 431];

struct Case {
    name: &'static str,
    request: Vec<u8>,
    expect: &'static [u16],
    /// A secret the answer must not contain (the token, or its signature).
    secret: Option<String>,
}

fn case(name: &'static str, request: Vec<u8>, expect: &'static [u16]) -> Case {
    Case {
        name,
        request,
        expect,
        secret: None,
    }
}

fn request(method: &str, target: &str, headers: &[&str], body: &[u8]) -> Vec<u8> {
    let mut r =
        format!("{method} {target} HTTP/1.1\r\nHost: weather.test\r\nConnection: close\r\n");
    for h in headers {
        r.push_str(h);
        r.push_str("\r\n");
    }
    if !body.is_empty() {
        r.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    r.push_str("\r\n");
    let mut bytes = r.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

fn get_with_token(target: &str, token: &str) -> Vec<u8> {
    request(
        "GET",
        target,
        &[&format!("Authorization: Bearer {token}")],
        b"",
    )
}

fn token_case(name: &'static str, token: String, expect: &'static [u16]) -> Case {
    Case {
        name,
        request: get_with_token("/api/reports", &token),
        expect,
        secret: Some(signature_or_all(&token)),
    }
}

fn signature_or_all(token: &str) -> String {
    match token.rsplit('.').next() {
        Some(sig) if sig.len() >= 16 => sig.to_owned(),
        _ => token.to_owned(),
    }
}

fn b64(v: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(v)
}

fn parts(token: &str) -> (String, Value, String) {
    let mut it = token.split('.');
    let header = it.next().unwrap().to_owned();
    let payload: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(it.next().unwrap()).unwrap()).unwrap();
    (header, payload, it.next().unwrap().to_owned())
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Tokens as in entra-auth's hostile cases: forged, expired, misdirected, malformed.
fn token_cases(issuer: &DevIssuer) -> Vec<Case> {
    let mint = |r: &TokenRequest| issuer.mint(r).unwrap();
    let reader = mint(&user_with_scopes(&["weather.read"]));
    let (header, payload, signature) = parts(&reader);
    let other_signature = parts(&mint(&user_with_scopes(&["weather.write"]))).2;
    let with = |f: &dyn Fn(&mut TokenRequest)| {
        let mut r = user_with_scopes(&["weather.read"]);
        f(&mut r);
        mint(&r)
    };
    let raw_claims = |edit: &dyn Fn(&mut Map<String, Value>)| {
        let mut claims = obj(payload.clone());
        edit(&mut claims);
        issuer.sign_raw(Map::new(), claims).unwrap()
    };
    let raw_header = |h: Value| issuer.sign_raw(obj(h), obj(payload.clone())).unwrap();
    let mut tampered = payload.clone();
    tampered["scp"] = json!("weather.read weather.write");
    let tampered = format!(
        "{header}.{}.{signature}",
        b64(tampered.to_string().as_bytes())
    );
    let none = format!(
        "{}.{}.",
        b64(br#"{"alg":"none","typ":"JWT"}"#),
        b64(payload.to_string().as_bytes())
    );
    let hs256 = format!(
        "{}.{}.{}",
        b64(format!(
            r#"{{"alg":"HS256","typ":"JWT","kid":"{}"}}"#,
            issuer.current_kid()
        )
        .as_bytes()),
        b64(payload.to_string().as_bytes()),
        b64(&[7u8; 32])
    );
    let no_kid = format!(
        "{}.{}.{signature}",
        b64(br#"{"alg":"RS256","typ":"JWT"}"#),
        b64(payload.to_string().as_bytes())
    );
    vec![
        token_case("token: tampered payload (scope added)", tampered, &[401]),
        token_case(
            "token: signature of another token",
            format!(
                "{}.{}.{other_signature}",
                header,
                b64(payload.to_string().as_bytes())
            ),
            &[401],
        ),
        token_case("token: alg none", none, &[401]),
        token_case("token: alg HS256 with a made-up secret", hs256, &[401]),
        token_case("token: no kid", no_kid, &[401]),
        token_case(
            "token: unknown kid",
            raw_header(json!({"kid": "kid-that-does-not-exist"})),
            &[401],
        ),
        token_case(
            "token: crit header",
            raw_header(json!({"crit": ["exp"], "exp": 1})),
            &[401],
        ),
        token_case(
            "token: nonce header (Graph token)",
            raw_header(json!({"nonce": "abc"})),
            &[401],
        ),
        token_case(
            "token: jku header pointing elsewhere",
            raw_header(json!({"jku": "http://127.0.0.1:9/keys", "kid": "evil"})),
            &[401],
        ),
        token_case(
            "token: typ JWE-ish",
            raw_header(json!({"typ": "JOSE+JSON"})),
            &[401],
        ),
        token_case(
            "token: expired",
            with(&|r| {
                r.issued_at = Some(SystemTime::now() - Duration::from_secs(3 * 3600));
                r.lifetime = Some(Duration::from_secs(3600));
            }),
            &[401],
        ),
        token_case(
            "token: not yet valid",
            with(&|r| {
                r.issued_at = Some(SystemTime::now() + Duration::from_secs(3600));
                r.not_before = Some(SystemTime::now() + Duration::from_secs(3600));
            }),
            &[401],
        ),
        token_case(
            "token: wrong audience",
            with(&|r| r.audience = Some("api://someone-else".into())),
            &[401],
        ),
        token_case(
            "token: Microsoft Graph audience",
            with(&|r| r.audience = Some("00000003-0000-0000-c000-000000000000".into())),
            &[401],
        ),
        token_case(
            "token: other tenant",
            with(&|r| r.tenant_id = Some("11111111-2222-4333-8444-555555555555".into())),
            &[401],
        ),
        token_case(
            "token: foreign issuer",
            raw_claims(&|c| {
                c.insert("iss".into(), json!("https://evil.example/x/v2.0"));
            }),
            &[401],
        ),
        token_case(
            "token: ver 3.0",
            raw_claims(&|c| {
                c.insert("ver".into(), json!("3.0"));
            }),
            &[401],
        ),
        token_case(
            "token: no exp",
            raw_claims(&|c| {
                c.remove("exp");
            }),
            &[401],
        ),
        token_case(
            "token: exp 1e300",
            raw_claims(&|c| {
                c.insert("exp".into(), json!(1e300));
            }),
            &[401],
        ),
        token_case(
            "token: exp as string",
            raw_claims(&|c| {
                c.insert("exp".into(), json!((now() + 3600).to_string()));
            }),
            &[401],
        ),
        token_case(
            "token: scp as array",
            raw_claims(&|c| {
                c.insert("scp".into(), json!(["weather.read"]));
            }),
            &[401],
        ),
        token_case(
            "token: tid not a GUID",
            raw_claims(&|c| {
                c.insert("tid".into(), json!("common"));
            }),
            &[401],
        ),
        token_case("token: JWE (5 segments)", "a.b.c.d.e".into(), &[401]),
        token_case("token: 2 segments", "abc.def".into(), &[401]),
        token_case("token: 4 segments", format!("{reader}.extra"), &[401]),
        token_case(
            "token: base64 garbage",
            "!!!!.????.$$$$".replace(['!', '?', '$'], "A"),
            &[401],
        ),
        token_case(
            "token: 20 KB",
            format!("{}.{}.{}", "a".repeat(10_000), "b".repeat(10_000), "c"),
            &[400],
        ),
        token_case(
            "token: write scope on a read route",
            mint(&user_with_scopes(&["weather.write"])),
            &[403],
        ),
        token_case(
            "token: app without role",
            mint(&app_with_roles(&[])),
            &[403],
        ),
        Case {
            name: "token: read scope on a write route",
            request: request(
                "POST",
                "/api/reports",
                &[
                    &format!("Authorization: Bearer {reader}"),
                    "Content-Type: application/json",
                ],
                br#"{"description":"x","location":{"city":"Portland"}}"#,
            ),
            expect: &[403],
            secret: Some(signature.clone()),
        },
        Case {
            name: "token: in the query string too",
            request: get_with_token(&format!("/api/reports?access_token={reader}"), &reader),
            expect: &[400],
            secret: Some(signature.clone()),
        },
        Case {
            name: "token: two Authorization headers",
            request: request(
                "GET",
                "/api/reports",
                &[
                    &format!("Authorization: Bearer {reader}"),
                    &format!("Authorization: Bearer {reader}"),
                ],
                b"",
            ),
            expect: &[400],
            secret: Some(signature.clone()),
        },
        Case {
            name: "token: only in a cookie",
            request: request(
                "GET",
                "/api/reports",
                &[&format!("Cookie: access_token={reader}")],
                b"",
            ),
            expect: &[401],
            secret: Some(signature.clone()),
        },
        Case {
            name: "token: bare, without scheme",
            request: request(
                "GET",
                "/api/reports",
                &[&format!("Authorization: {reader}")],
                b"",
            ),
            expect: &[401],
            secret: Some(signature.clone()),
        },
    ]
}

fn header_cases() -> Vec<Case> {
    vec![
        case(
            "auth: none",
            request("GET", "/api/reports", &[], b""),
            &[401],
        ),
        case(
            "auth: Bearer without token",
            request("GET", "/api/reports", &["Authorization: Bearer"], b""),
            &[400],
        ),
        case(
            "auth: Basic",
            request(
                "GET",
                "/api/reports",
                &["Authorization: Basic dXNlcjpwYXNz"],
                b"",
            ),
            &[401],
        ),
        case(
            "auth: token with a space",
            request("GET", "/api/reports", &["Authorization: Bearer a b"], b""),
            &[400],
        ),
        case(
            "auth: token with a comma",
            request("GET", "/api/reports", &["Authorization: Bearer a,b"], b""),
            &[400],
        ),
        case(
            "auth: non-UTF-8 bytes in the token",
            {
                let mut r = b"GET /api/reports HTTP/1.1\r\nHost: t\r\nConnection: close\r\nAuthorization: Bearer \xff\xfe\xfd\r\n\r\n".to_vec();
                r.shrink_to_fit();
                r
            },
            &[400],
        ),
        case(
            "header: non-UTF-8 bytes in another header",
            b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\nX-Note: caf\xe9\r\n\r\n"
                .to_vec(),
            &[200, 400],
        ),
        case(
            "header: NUL in a value",
            b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\nX-A: a\x00b\r\n\r\n".to_vec(),
            &[400],
        ),
        case(
            "header: invalid name",
            b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\nX A(): b\r\n\r\n".to_vec(),
            &[400],
        ),
        case(
            "header: obsolete line folding",
            b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\nX-A: a\r\n  folded\r\n\r\n"
                .to_vec(),
            &[400],
        ),
        case(
            "header: one of 100 KB",
            request(
                "GET",
                "/",
                &[&format!("X-Big: {}", "a".repeat(100_000))],
                b"",
            ),
            &[431],
        ),
        case(
            "header: 2,000 small ones",
            {
                let many: Vec<String> = (0..2000).map(|i| format!("X-H{i}: v")).collect();
                let refs: Vec<&str> = many.iter().map(String::as_str).collect();
                request("GET", "/", &refs, b"")
            },
            &[431],
        ),
        case(
            "header: Authorization of 100 KB",
            request(
                "GET",
                "/api/reports",
                &[&format!("Authorization: Bearer {}", "a".repeat(100_000))],
                b"",
            ),
            &[431],
        ),
    ]
}

fn line_cases() -> Vec<Case> {
    vec![
        case("line: HTTP/0.9", b"GET /\r\n\r\n".to_vec(), &[400]),
        case("line: garbage", b"HELLO THERE\r\n\r\n".to_vec(), &[400]),
        case("line: binary", vec![0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0xff, b'\r', b'\n', b'\r', b'\n'], &[400]),
        case("line: HTTP/7.0", b"GET / HTTP/7.0\r\nHost: t\r\n\r\n".to_vec(), &[400]),
        case("line: no path", b"GET HTTP/1.1\r\nHost: t\r\n\r\n".to_vec(), &[400]),
        case(
            "line: non-UTF-8 byte in the path",
            b"GET /api/weather/\xff\xfe HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".to_vec(),
            &[400],
        ),
        case(
            "line: space in the path",
            b"GET /a b/c HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".to_vec(),
            &[400],
        ),
        case("method: BREW", request("BREW", "/", &[], b""), &[400, 405]),
        // authentication runs before method routing on /api: 401 without a token
        case("method: DELETE /api/reports", request("DELETE", "/api/reports", &[], b""), &[401, 405]),
        case("method: PUT /", request("PUT", "/", &[], b""), &[405]),
        case("method: TRACE /", request("TRACE", "/", &[], b""), &[405]),
        case("method: CONNECT", b"CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\nConnection: close\r\n\r\n".to_vec(), &[400, 404, 405]),
        case(
            "target: absolute form to another host",
            request("GET", "http://evil.example/api/reports", &[], b""),
            &[401],
        ),
    ]
}

fn path_cases(read: &str) -> Vec<Case> {
    let auth = format!("Authorization: Bearer {read}");
    let g = |target: &str| request("GET", target, &[&auth], b"");
    let secret = Some(signature_or_all(read));
    let mut cases = vec![
        case(
            "path: ../ traversal",
            request("GET", "/../../etc/passwd", &[], b""),
            &[400, 404],
        ),
        case(
            "path: static ../",
            request("GET", "/static/../../Cargo.toml", &[], b""),
            &[400, 404],
        ),
        case(
            "path: static %2e%2e",
            request("GET", "/static/%2e%2e/%2e%2e/Cargo.toml", &[], b""),
            &[400, 404],
        ),
        case(
            "path: static %2f",
            request("GET", "/static/css%2f..%2f..%2fsettings.json", &[], b""),
            &[400, 404],
        ),
        case(
            "path: unknown api route",
            request("GET", "/api/admin", &[], b""),
            &[401, 404],
        ),
        case(
            "path: %00 in a page path",
            request("GET", "/index%00.html", &[], b""),
            &[400, 404],
        ),
        case(
            "path: 6 KB page path",
            request("GET", &format!("/{}", "x".repeat(6000)), &[], b""),
            &[404],
        ),
        case("report id: %00", g("/api/reports/%00"), &[400, 404]),
        case(
            "report id: SQL",
            g("/api/reports/1'%20OR%20'1'%3D'1"),
            &[400, 404],
        ),
        case(
            "report id: unknown uuid",
            g("/api/reports/00000000-0000-4000-8000-000000000000"),
            &[404],
        ),
        case(
            "report id: ../",
            g("/api/reports/..%2F..%2Fhealthz"),
            &[400, 404],
        ),
        case(
            "weather: city with ../",
            g("/api/weather/..%2F..%2Fetc%2Fpasswd"),
            &[400, 404],
        ),
        case(
            "weather: city with %00",
            g("/api/weather/port%00land"),
            &[400, 404],
        ),
        case("weather: non-UTF-8 city", g("/api/weather/%FF%FE"), &[400]),
        case(
            "weather: 10 KB city",
            g(&format!("/api/weather/{}", "a".repeat(10_000))),
            &[400],
        ),
        case(
            "weather: SQL in state",
            g("/api/weather/portland?state=OR'%3B%20DROP%20TABLE%20reports%3B--"),
            &[400],
        ),
        case(
            "weather: NULs in country",
            g("/api/weather/portland?country=%00%00"),
            &[400],
        ),
        case(
            "weather: non-UTF-8 query",
            g("/api/weather/portland?units=%FF"),
            &[400],
        ),
        case(
            "weather: unknown units",
            g("/api/weather/portland?units=kelvin%3Cscript%3E"),
            &[400],
        ),
        case(
            "weather: duplicated parameter",
            g("/api/weather/portland?units=metric&units=imperial"),
            &[400, 404],
        ),
        case("weather: blank city", g("/api/weather/%20"), &[400]),
    ];
    for c in &mut cases {
        if c.name.starts_with("report") || c.name.starts_with("weather") {
            c.secret = secret.clone();
        }
    }
    cases
}

fn body_cases(write: &str) -> Vec<Case> {
    let auth = format!("Authorization: Bearer {write}");
    let json = "Content-Type: application/json";
    let post = |headers: &[&str], body: &[u8]| {
        let mut h = vec![auth.as_str()];
        h.extend_from_slice(headers);
        request("POST", "/api/reports", &h, body)
    };
    let secret = Some(signature_or_all(write));
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let mut cases = vec![
        case("body: invalid JSON", post(&[json], b"{\"description\": "), &[400]),
        case("body: not JSON at all", post(&[json], b"description=hello"), &[400]),
        case("body: empty", post(&[json, "Content-Length: 0"], b""), &[400]),
        case("body: text/plain", post(&["Content-Type: text/plain"], b"{\"description\":\"x\"}"), &[415]),
        case("body: no content type", post(&[], b"{\"description\":\"x\"}"), &[415]),
        case("body: form content type", post(&["Content-Type: application/x-www-form-urlencoded"], b"a=b"), &[415]),
        case("body: 70 KB", post(&[json], format!("{{\"description\":\"{}\"}}", "a".repeat(70_000)).as_bytes()), &[413]),
        case(
            "body: 10 GB announced",
            {
                let mut r = request("POST", "/api/reports", &[&auth, json, "Content-Length: 10000000000"], b"");
                r.push(b'{');
                r
            },
            &[413],
        ),
        case(
            "body: 70 KB chunked",
            {
                let chunk = "a".repeat(70_000);
                let body = format!("{:x}\r\n{chunk}\r\n0\r\n\r\n", chunk.len());
                let mut r = request("POST", "/api/reports", &[&auth, json, "Transfer-Encoding: chunked"], b"");
                r.extend_from_slice(body.as_bytes());
                r
            },
            &[413],
        ),
        case(
            "body: invalid chunk size",
            {
                let mut r = request("POST", "/api/reports", &[&auth, json, "Transfer-Encoding: chunked"], b"");
                r.extend_from_slice(b"zz\r\nabc\r\n0\r\n\r\n");
                r
            },
            &[400],
        ),
        case("body: Content-Length not a number", request("POST", "/api/reports", &[&auth, json, "Content-Length: abc"], b""), &[400]),
        case("body: negative Content-Length", request("POST", "/api/reports", &[&auth, json, "Content-Length: -1"], b""), &[400]),
        case("body: wrong JSON types", post(&[json], br#"{"description": 5, "location": "Portland"}"#), &[400]),
        case("body: JSON array", post(&[json], b"[1,2,3]"), &[400]),
        case("body: nested 10,000 deep", post(&[json], deep.as_bytes()), &[400]),
        case("body: duplicate keys", post(&[json], br#"{"description":"a","description":"b","location":{"city":"Portland"}}"#), &[400]),
        case("body: invalid UTF-8", post(&[json], b"{\"description\":\"\xff\xfe\",\"location\":{\"city\":\"x\"}}"), &[400]),
        case("body: empty description", post(&[json], br#"{"description":"","location":{"city":"Portland"}}"#), &[422]),
        case("body: 2,000-character description", post(&[json], format!(r#"{{"description":"{}","location":{{"city":"Portland"}}}}"#, "d".repeat(2_000)).as_bytes()), &[422]),
        case("body: missing location", post(&[json], br#"{"description":"x"}"#), &[400, 422]),
        case("body: SQL in city", post(&[json], br#"{"description":"x","location":{"city":"a','b');DROP TABLE reports;--","country":"XYZ"}}"#), &[422]),
        case("body: bad state", post(&[json], br#"{"description":"x","location":{"city":"Portland","state":"Oregon"}}"#), &[422]),
    ];
    for c in &mut cases {
        c.secret = secret.clone();
    }
    cases
}

async fn start_service(dir: &std::path::Path) -> (Binary, RunningDevIssuer, MockServer) {
    let issuer = DevIssuer::spawn(DevIssuerConfig::default()).await.unwrap();
    let upstream = MockServer::start().await;
    // OpenWeatherMap knows none of the corpus's cities.
    Mock::given(method("GET"))
        .and(path("/data/2.5/weather"))
        .respond_with(
            ResponseTemplate::new(404)
                .set_body_json(json!({"cod": "404", "message": "city not found"})),
        )
        .mount(&upstream)
        .await;
    let settings = settings(
        &issuer,
        &upstream.uri(),
        &dir.join("weather.db"),
        json!({"header_read_timeout_ms": 1000, "max_header_bytes": 32768}),
    );
    let binary = Binary::start(dir, &settings, "info");
    (binary, issuer, upstream)
}

fn send(addr: SocketAddr, c: &Case) -> RawAnswer {
    raw(addr, &c.request, Duration::from_secs(20))
}

#[tokio::test(flavor = "multi_thread")]
async fn real_binary_answers_every_hostile_request_with_a_documented_4xx_and_never_echoes_the_token(
) {
    let dir = tempfile::tempdir().unwrap();
    let (mut binary, issuer, _upstream) = start_service(dir.path()).await;
    let read = issuer
        .issuer
        .mint(&user_with_scopes(&["weather.read"]))
        .unwrap();
    let write = issuer
        .issuer
        .mint(&user_with_scopes(&["weather.write"]))
        .unwrap();

    let mut cases = token_cases(&issuer.issuer);
    cases.extend(header_cases());
    cases.extend(line_cases());
    cases.extend(path_cases(&read));
    cases.extend(body_cases(&write));
    assert!(cases.len() >= 60, "only {} cases", cases.len());

    let addr = binary.addr;
    let answers = tokio::task::spawn_blocking(move || {
        cases
            .into_iter()
            .map(|c| {
                let a = send(addr, &c);
                (c, a)
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();

    let mut failures = Vec::new();
    for (c, a) in &answers {
        let text = a.text();
        match a.status {
            Some(s) if c.expect.contains(&s) && (DOCUMENTED.contains(&s) || s == 200) => {}
            other => failures.push(format!(
                "{}: expected {:?}, got {other:?}: {}",
                c.name,
                c.expect,
                text.lines().next().unwrap_or("<closed>")
            )),
        }
        if let Some(secret) = &c.secret {
            if text.contains(secret.as_str()) {
                failures.push(format!("{}: the answer echoes the token", c.name));
            }
            // answers the service made (hyper's own 400/431 carry no headers) are never cached
            let from_service = a.header("x-content-type-options").is_some();
            if from_service && a.header("cache-control").as_deref() != Some("no-store") {
                failures.push(format!("{}: no Cache-Control: no-store", c.name));
            }
        }
        if a.elapsed > Duration::from_secs(15) {
            failures.push(format!("{}: answered after {:?}", c.name, a.elapsed));
        }
        if text.contains(API_KEY) {
            failures.push(format!("{}: the answer contains the API key", c.name));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        answers.len(),
        failures.join("\n")
    );
    let server_errors = answers
        .iter()
        .filter(|(_, a)| a.status.is_some_and(|s| s >= 500))
        .count();
    assert_eq!(server_errors, 0);
    eprintln!(
        "hostile corpus: {} requests, 0 server errors",
        answers.len()
    );

    // still alive and serving
    assert!(binary.is_alive(), "the process died");
    let health = reqwest::get(binary.url("/healthz")).await.unwrap();
    assert_eq!(health.status().as_u16(), 200);
    let ok = reqwest::Client::new()
        .get(binary.url("/api/reports"))
        .bearer_auth(&read)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status().as_u16(), 200);
    // nothing the corpus posted was stored
    let stored: Vec<Value> = ok.json().await.unwrap();
    assert!(stored.is_empty(), "{stored:?}");
    // logs never carry a token
    let logs = binary.logs();
    for (c, _) in &answers {
        if let Some(secret) = &c.secret {
            assert!(
                !logs.contains(secret.as_str()),
                "{}: token in the logs",
                c.name
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn slowloris_partial_requests_are_cut_off_at_the_header_read_timeout_and_do_not_block_others()
{
    let dir = tempfile::tempdir().unwrap();
    let (mut binary, _issuer, _upstream) = start_service(dir.path()).await;
    let addr = binary.addr;
    // 50 clients each send half a request head and then nothing.
    let held = tokio::task::spawn_blocking(move || {
        use std::io::Write;
        (0..50)
            .map(|_| {
                let mut s = std::net::TcpStream::connect(addr).unwrap();
                s.write_all(b"GET /api/reports HTTP/1.1\r\nHost: t\r\nX-Slow: ")
                    .unwrap();
                s
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    // Meanwhile an honest client is served.
    let health = reqwest::get(binary.url("/healthz")).await.unwrap();
    assert_eq!(health.status().as_u16(), 200);
    // Each partial request is closed by the server (header_read_timeout_ms = 1000), bounded well
    // below the 20 s this test would wait.
    let closed = tokio::task::spawn_blocking(move || {
        use std::io::Read;
        held.into_iter()
            .map(|mut s| {
                let start = std::time::Instant::now();
                s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
                let mut buf = Vec::new();
                let _ = s.read_to_end(&mut buf);
                (start.elapsed(), String::from_utf8_lossy(&buf).into_owned())
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    for (elapsed, answer) in &closed {
        assert!(*elapsed < Duration::from_secs(10), "held for {elapsed:?}");
        assert!(
            answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
            "{answer}"
        );
    }
    assert!(binary.is_alive());
    assert_eq!(
        reqwest::get(binary.url("/healthz"))
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
}

/// A `GET /healthz` head of exactly `len` bytes as sent (request line, `Host`, `Connection: close`,
/// one filler header, the empty line).
fn head_of(len: usize) -> Vec<u8> {
    let start = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nX-Filler: ";
    let end = "\r\n\r\n";
    let filler = "a".repeat(len - start.len() - end.len());
    let head = format!("{start}{filler}{end}").into_bytes();
    assert_eq!(head.len(), len);
    head
}

/// Sends `head` on a new connection in writes of `piece` bytes and reads the answer to its end
/// (the server closes: `Connection: close`, or after a 431): the status.
async fn status_of_head(addr: SocketAddr, head: &[u8], piece: usize) -> Option<u16> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    for chunk in head.chunks(piece) {
        // the server may answer 431 and close before the last piece
        if stream.write_all(chunk).await.is_err() || stream.flush().await.is_err() {
            break;
        }
    }
    let mut answer = Vec::new();
    // hang guard only: every case ends with the server closing the connection
    let _ = tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut answer)).await;
    std::str::from_utf8(answer.get(9..12)?).ok()?.parse().ok()
}

#[tokio::test]
async fn request_head_over_max_header_bytes_answers_431_in_one_write_or_in_pieces_and_up_to_it_is_served(
) {
    let app = crate::helpers::spawn_app().await;
    let addr: SocketAddr = app.address.trim_start_matches("http://").parse().unwrap();
    // the default max_header_bytes (settings template: 65536, "beyond it 431")
    const LIMIT: usize = 65_536;
    for (len, expected) in [
        (LIMIT - 1, 200),
        (LIMIT, 200),
        (LIMIT + 1, 431),
        (LIMIT + 100, 431),
        (114_000, 431),
    ] {
        let head = head_of(len);
        for piece in [usize::MAX, 1000] {
            let status = status_of_head(addr, &head, piece).await;
            let how = if piece == usize::MAX {
                "one write".to_owned()
            } else {
                format!("pieces of {piece} bytes")
            };
            assert_eq!(
                status,
                Some(expected),
                "a head of {len} bytes sent in {how}"
            );
        }
    }
}
