//! `login` and `logout` against a real registry with htpasswd basic auth, a bearer-token flow
//! (through the test proxy), and a real credential helper program.

use std::path::Path;
use std::sync::Arc;

use crate::common::proxy::Proxy;
use crate::common::*;
use boxwright_registry_client::{
    login, logout, Client, Credential, Credentials, DockerConfig, Error,
};

fn cred(user: &str, password: &str) -> Credential {
    Credential {
        username: user.into(),
        password: password.into(),
    }
}

fn config_json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_basic_stores_in_config_json_and_logout_removes() {
    let reg = Registry::start_with(Some(("alice", "s3cret")));
    let host = reg.host();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("docker").join("config.json");
    std::fs::create_dir(dir.path().join("docker")).unwrap();
    std::fs::write(
        &path,
        r#"{"auths":{"other.example":{"auth":"eDp5"}},"proxies":{"k":1}}"#,
    )
    .unwrap();
    let mut config = DockerConfig::from_path(&path).unwrap();
    let client = Client::new().unwrap();

    // A wrong password is refused and nothing is stored.
    let err = login(&client, &mut config, &host, &cred("alice", "wrong"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Unauthorized { status: 401, .. }),
        "{err}"
    );
    assert!(config_json(&path)["auths"].get(&host).is_none());

    login(&client, &mut config, &host, &cred("alice", "s3cret"))
        .await
        .unwrap();
    let json = config_json(&path);
    // base64("alice:s3cret")
    assert_eq!(json["auths"][&host]["auth"], "YWxpY2U6czNjcmV0");
    assert_eq!(json["auths"]["other.example"]["auth"], "eDp5");
    assert_eq!(json["proxies"]["k"], 1, "other fields are kept");
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "no temporary file left: {names:?}");

    // What was stored is what a fresh reader finds, and it opens the registry.
    let reread = DockerConfig::from_path(&path).unwrap();
    assert_eq!(
        reread.get(&host).await.unwrap(),
        Some(cred("alice", "s3cret"))
    );
    let authed = Client::builder()
        .credentials(Arc::new(reread))
        .build()
        .unwrap();
    let r = boxwright_registry_client::reference::parse(&format!("{host}/x/y:v1")).unwrap();
    assert!(authed.head_manifest(&r).await.unwrap().is_none());
    assert!(matches!(
        Client::new().unwrap().head_manifest(&r).await,
        Err(Error::Unauthorized { .. })
    ));

    assert!(logout(&mut config, &host).await.unwrap());
    assert!(!logout(&mut config, &host).await.unwrap());
    let json = config_json(&path);
    assert!(json["auths"].get(&host).is_none());
    assert_eq!(json["auths"]["other.example"]["auth"], "eDp5");
    assert!(DockerConfig::from_path(&path)
        .unwrap()
        .get(&host)
        .await
        .unwrap()
        .is_none());
}

/// A credential helper that keeps one JSON file per server in its own directory.
const HELPER: &str = r#"#!/bin/sh
set -e
dir=$(dirname "$0")/store
mkdir -p "$dir"
echo "$1" >> "$dir/../calls"
case "$1" in
store)
    json=$(cat)
    server=$(printf '%s' "$json" | sed 's/.*"ServerURL":"\([^"]*\)".*/\1/')
    printf '%s' "$json" > "$dir/$(printf '%s' "$server" | tr '/:' '__')"
    ;;
get|erase)
    read -r server || true
    f="$dir/$(printf '%s' "$server" | tr '/:' '__')"
    if [ ! -f "$f" ]; then echo "credentials not found in native keychain"; exit 1; fi
    if [ "$1" = get ]; then cat "$f"; else rm "$f"; fi
    ;;
*) echo "unknown verb $1" >&2; exit 2 ;;
esac
"#;

fn install_helper(dir: &Path) {
    let helper = dir.join("docker-credential-boxwrighttest");
    std::fs::write(&helper, HELPER).unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_through_a_credential_helper() {
    let reg = Registry::start_with(Some(("bob", "hunter2")));
    let host = reg.host();
    let dir = tempfile::tempdir().unwrap();
    install_helper(dir.path());
    let path = dir.path().join("config.json");
    // A plain-text entry from before is replaced by the helper's.
    std::fs::write(
        &path,
        format!(
            r#"{{"credsStore":"boxwrighttest","auths":{{"{host}":{{"auth":"b2xkOm9sZA=="}}}}}}"#
        ),
    )
    .unwrap();
    let mut config = DockerConfig::from_path(&path)
        .unwrap()
        .with_helper_dir(dir.path());
    let client = Client::new().unwrap();
    login(&client, &mut config, &host, &cred("bob", "hunter2"))
        .await
        .unwrap();
    let stored =
        std::fs::read_to_string(dir.path().join("store").join(host.replace(':', "_"))).unwrap();
    let stored: serde_json::Value = serde_json::from_str(&stored).unwrap();
    assert_eq!(stored["Username"], "bob");
    assert_eq!(stored["Secret"], "hunter2");
    assert_eq!(stored["ServerURL"], host.as_str());
    let json = config_json(&path);
    assert!(json["auths"].get(&host).is_none(), "{json}");
    assert_eq!(json["credsStore"], "boxwrighttest");

    let reread = DockerConfig::from_path(&path)
        .unwrap()
        .with_helper_dir(dir.path());
    assert_eq!(
        reread.get(&host).await.unwrap(),
        Some(cred("bob", "hunter2"))
    );

    assert!(logout(&mut config, &host).await.unwrap());
    assert!(reread.get(&host).await.unwrap().is_none());
    assert!(!logout(&mut config, &host).await.unwrap());
    let calls = std::fs::read_to_string(dir.path().join("calls")).unwrap();
    assert_eq!(
        calls.lines().collect::<Vec<_>>(),
        ["store", "get", "erase", "get", "erase"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_with_bearer_tokens() {
    let reg = Registry::start();
    let proxy = Proxy::start(reg.port).await;
    proxy.state.lock().unwrap().bearer = true;
    let host = format!("127.0.0.1:{}", proxy.port);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    let mut config = DockerConfig::from_path(&path).unwrap();
    let client = Client::new().unwrap();
    let err = login(&client, &mut config, &host, &cred("alice", "nope"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Unauthorized { .. }), "{err}");
    assert!(!path.exists());
    login(&client, &mut config, &host, &cred("alice", "s3cret"))
        .await
        .unwrap();
    assert_eq!(
        config_json(&path)["auths"][&host]["auth"],
        "YWxpY2U6czNjcmV0"
    );
    // The token was asked for with the account, and no repository scope.
    let s = proxy.state.lock().unwrap();
    assert_eq!(s.tokens.len(), 1);
    assert!(
        s.seen
            .iter()
            .any(|r| r.contains("/token") && r.contains("account=alice")),
        "{:?}",
        s.seen
    );
}
