//! Digest verification with known passwords, run through the binary on the
//! lab captures in `../shared/captures` (skipped with a notice when absent).
//! The passwords come from each capture's `.expect` (`credentials:` line)
//! and are written to a private temporary file.

use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_sipauth-diag");
const OUR_RULES: &[&str] = &[
    "digest-verified",
    "wrong-password",
    "digest-field-mismatch",
    "credentials-file-outdated",
];

fn captures() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/captures");
    if dir.is_dir() {
        Some(dir)
    } else {
        println!("skipped: {} not found", dir.display());
        None
    }
}

struct Expect {
    capture: PathBuf,
    credentials: Vec<String>,
    must: Vec<String>,
    info: Vec<String>,
    must_not: Vec<String>,
}

fn rule_words(v: &str) -> Vec<String> {
    v.split(',')
        .filter_map(|w| w.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

fn expect(dir: &Path, name: &str) -> Expect {
    let text = std::fs::read_to_string(dir.join(format!("{name}.expect"))).unwrap();
    let field = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .map(str::trim)
            .unwrap_or("")
            .to_string()
    };
    let capture = ["pcap", "pcapng", "pcap.gz", "pcapng.gz"]
        .iter()
        .map(|ext| dir.join(format!("{name}.{ext}")))
        .find(|p| p.exists())
        .unwrap_or_else(|| panic!("no capture for {name}"));
    let mut must_not = rule_words(&field("must_not:"));
    must_not.extend(rule_words(&field("forbid:")));
    Expect {
        capture,
        credentials: field("credentials:")
            .split_whitespace()
            .map(str::to_string)
            .collect(),
        must: rule_words(&field("rules:")),
        info: rule_words(&field("info_rules:")),
        must_not,
    }
}

fn private_file(lines: &[String]) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    for l in lines {
        writeln!(f, "{l}").unwrap();
    }
    f.flush().unwrap();
    f
}

fn run(args: &[&std::ffi::OsStr], env_file: Option<&Path>) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args).env_remove("SIPAUTH_CREDENTIALS");
    if let Some(p) = env_file {
        cmd.env("SIPAUTH_CREDENTIALS", p);
    }
    cmd.output().unwrap()
}

/// Runs a capture with its credentials; returns the findings and checks
/// that no password shows up in any output.
fn findings(e: &Expect) -> Vec<Value> {
    let file = private_file(&e.credentials);
    let out = run(
        &[
            "--format".as_ref(),
            "json".as_ref(),
            "--credentials".as_ref(),
            file.path().as_os_str(),
            e.capture.as_os_str(),
        ],
        None,
    );
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{}: {}",
        e.capture.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    for c in &e.credentials {
        let (_, password) = c.split_once(':').unwrap();
        assert!(!stdout.contains(password), "password in the report");
        assert!(!stderr.contains(password), "password on stderr");
    }
    let v: Value = serde_json::from_str(&stdout).unwrap();
    v["findings"].as_array().unwrap().clone()
}

fn fired<'a>(fs: &'a [Value], rule: &str) -> Vec<&'a Value> {
    fs.iter().filter(|f| f["rule"] == rule).collect()
}

const WITH_CREDENTIALS: &[&str] = &[
    "auth_user_split_ok_sipsak",
    "brute_force_svcrack_noqop",
    "invite_407_ok_baresip_pjsua2",
    "ipv6_register_baresip",
    "mixed_linux_cooked",
    "notify_checksync_sipsak",
    "ok_register_qop_baresip",
    "ok_register_qop_sipsak_user_at",
    "ok_register_udp_sipsak",
    "register_407_baresip",
    "register_407_sipsak",
    "sha256_ok_pjsua2",
    "tcp_register_baresip",
    "wrong_password_403_pjsua2",
    "wrong_password_loop_baresip",
];

#[test]
fn expectations_hold_for_verification_rules() {
    let Some(dir) = captures() else { return };
    for name in WITH_CREDENTIALS {
        let e = expect(&dir, name);
        assert!(!e.credentials.is_empty(), "{name}: no credentials line");
        let fs = findings(&e);
        for rule in OUR_RULES {
            let n = fired(&fs, rule).len();
            let wanted = e.must.iter().chain(&e.info).any(|r| r == rule);
            let forbidden = e.must_not.iter().any(|r| r == rule);
            if wanted {
                assert!(n > 0, "{name}: {rule} should fire");
            }
            if forbidden {
                assert_eq!(n, 0, "{name}: {rule} must not fire: {fs:#?}");
            }
        }
        // Lab captures are right or plainly wrong: no field is mixed up.
        assert!(
            fired(&fs, "digest-field-mismatch").is_empty(),
            "{name}: {fs:#?}"
        );
        assert!(
            fired(&fs, "credentials-file-outdated").is_empty(),
            "{name}: {fs:#?}"
        );
    }
}

#[test]
fn wrong_password_loop_is_one_finding_without_verification() {
    let Some(dir) = captures() else { return };
    let fs = findings(&expect(&dir, "wrong_password_loop_baresip"));
    let wrong = fired(&fs, "wrong-password");
    assert_eq!(wrong.len(), 1, "{fs:#?}");
    assert!(wrong[0]["message"]
        .as_str()
        .unwrap()
        .contains("15 responses of 'alice' do not match"));
    assert!(fired(&fs, "digest-verified").is_empty());
}

#[test]
fn user_at_is_hashed_verbatim() {
    let Some(dir) = captures() else { return };
    let fs = findings(&expect(&dir, "ok_register_qop_sipsak_user_at"));
    assert!(fired(&fs, "wrong-password").is_empty(), "{fs:#?}");
    let v = fired(&fs, "digest-verified");
    assert_eq!(v.len(), 1);
    assert_eq!(v[0]["evidence"]["digest username"], "alice@");
}

#[test]
fn sha256_is_verified_as_sha256() {
    let Some(dir) = captures() else { return };
    let fs = findings(&expect(&dir, "sha256_ok_pjsua2"));
    let v = fired(&fs, "digest-verified");
    assert_eq!(v.len(), 2, "register and un-register: {fs:#?}");
    for f in v {
        assert_eq!(f["evidence"]["algorithm"], "SHA-256");
    }
}

#[test]
fn mixed_capture_blames_bob_only() {
    let Some(dir) = captures() else { return };
    let fs = findings(&expect(&dir, "mixed_linux_cooked"));
    let wrong = fired(&fs, "wrong-password");
    assert!(!wrong.is_empty());
    for f in &wrong {
        assert_eq!(f["evidence"]["digest username"], "bob", "{f:#?}");
    }
    let users: Vec<&str> = fired(&fs, "digest-verified")
        .iter()
        .filter_map(|f| f["evidence"]["digest username"].as_str())
        .collect();
    for u in ["alice", "mario_rossi", "1001"] {
        assert!(users.contains(&u), "{u} not verified: {users:?}");
    }
    assert!(!users.contains(&"bob"));
}

#[test]
fn svcrack_guess_is_found_and_called_guessing() {
    let Some(dir) = captures() else { return };
    let fs = findings(&expect(&dir, "brute_force_svcrack_noqop"));
    let wrong = fired(&fs, "wrong-password");
    assert_eq!(wrong.len(), 1, "{fs:#?}");
    assert!(wrong[0]["message"]
        .as_str()
        .unwrap()
        .contains("password guessing"));
    // svcrack declares qop=auth without cnonce/nc and hashes the RFC 2069
    // form; the right word of its dictionary is recognised as such.
    let ok = fired(&fs, "digest-verified");
    assert_eq!(ok.len(), 1, "{fs:#?}");
    assert!(ok[0]["message"].as_str().unwrap().contains("guessed"));
}

#[test]
fn environment_variable_names_the_file() {
    let Some(dir) = captures() else { return };
    let e = expect(&dir, "wrong_password_loop_baresip");
    let file = private_file(&e.credentials);
    let out = run(
        &["--format".as_ref(), "json".as_ref(), e.capture.as_os_str()],
        Some(file.path()),
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let fs = v["findings"].as_array().unwrap();
    assert!(!fired(fs, "wrong-password").is_empty());
    // Without the file there is no verification at all.
    let out = run(
        &["--format".as_ref(), "json".as_ref(), e.capture.as_os_str()],
        None,
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let fs = v["findings"].as_array().unwrap();
    for rule in OUR_RULES {
        assert!(fired(fs, rule).is_empty(), "{rule} without credentials");
    }
}

#[test]
fn missing_credentials_file_is_a_usage_error() {
    let Some(dir) = captures() else { return };
    let e = expect(&dir, "ok_register_udp_sipsak");
    let out = run(
        &[
            "--credentials".as_ref(),
            "/nonexistent/sipauth-creds".as_ref(),
            e.capture.as_os_str(),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/sipauth-creds"));
    let out = run(
        &[e.capture.as_os_str()],
        Some(Path::new("/nonexistent/from-env")),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("SIPAUTH_CREDENTIALS"));
}

#[cfg(unix)]
#[test]
fn world_readable_file_warns_without_leaking() {
    use std::os::unix::fs::PermissionsExt;
    let Some(dir) = captures() else { return };
    let e = expect(&dir, "ok_register_udp_sipsak");
    let file = private_file(&e.credentials);
    std::fs::set_permissions(file.path(), std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = run(
        &[
            "--credentials".as_ref(),
            file.path().as_os_str(),
            e.capture.as_os_str(),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("chmod 600"), "{stderr}");
    assert!(!stderr.contains("Wonder1and"));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("Wonder1and"));
}

#[test]
fn bad_line_names_the_line_not_the_secret() {
    let Some(dir) = captures() else { return };
    let e = expect(&dir, "ok_register_udp_sipsak");
    let file = private_file(&["# accounts".into(), "JustAPasswordTypedAlone".into()]);
    let out = run(
        &[
            "--credentials".as_ref(),
            file.path().as_os_str(),
            e.capture.as_os_str(),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("line 2"), "{stderr}");
    assert!(!stderr.contains("JustAPasswordTypedAlone"));
}
