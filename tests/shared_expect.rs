//! Every `.expect` beside a capture in `../shared/captures` and
//! `../shared/public` must hold: `rules:` fire (`none` = no error or
//! critical finding), `forbid:` / `must_not:` do not fire, with the
//! `credentials:` given to the tool. Skipped with a notice when `../shared`
//! is not beside the checkout.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

mod common;
use common::{bin, shared};

struct Expect {
    capture: PathBuf,
    rules: Vec<String>,
    forbid: Vec<String>,
    credentials: Vec<String>,
}

fn list(v: &str) -> Vec<String> {
    v.split([',', ' '])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

fn load(dir: &Path) -> Vec<Expect> {
    let mut out = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "expect"))
        .collect();
    entries.sort();
    for p in entries {
        let stem = p.with_extension("");
        let Some(capture) = ["pcap", "pcapng", "txt"]
            .iter()
            .map(|e| stem.with_extension(e))
            .find(|c| c.exists())
        else {
            continue;
        };
        let text = std::fs::read_to_string(&p).unwrap();
        let mut e = Expect {
            capture,
            rules: Vec::new(),
            forbid: Vec::new(),
            credentials: Vec::new(),
        };
        for line in text.lines() {
            if let Some(v) = line.strip_prefix("rules:") {
                e.rules = list(v);
            } else if let Some(v) = line
                .strip_prefix("forbid:")
                .or_else(|| line.strip_prefix("must_not:"))
            {
                e.forbid.extend(list(v));
            } else if let Some(v) = line.strip_prefix("credentials:") {
                e.credentials = v.split_whitespace().map(String::from).collect();
            }
        }
        out.push(e);
    }
    out
}

fn known_rules() -> BTreeSet<String> {
    let out = bin().arg("--list-rules").output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(String::from))
        .collect()
}

fn supports_credentials() -> bool {
    let out = bin().arg("--help").output().unwrap();
    String::from_utf8_lossy(&out.stdout).contains("--credentials")
}

fn run(e: &Expect, with_creds: bool) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = bin();
    cmd.arg("--format")
        .arg("json")
        .arg("--fail-on")
        .arg("never");
    if with_creds && !e.credentials.is_empty() {
        let f = dir.path().join("creds");
        std::fs::write(&f, e.credentials.join("\n") + "\n").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        cmd.arg("--credentials").arg(&f);
    }
    cmd.arg(&e.capture);
    let out = cmd.output().unwrap();
    assert!(
        out.status.code() == Some(0),
        "{}: exit {:?}: {}",
        e.capture.display(),
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn every_expectation_holds() {
    let Some(shared) = shared() else { return };
    let known = known_rules();
    let creds = supports_credentials();
    let mut failures = Vec::new();
    let mut checked = 0;
    for dir in ["captures", "public"] {
        for e in load(&shared.join(dir)) {
            checked += 1;
            let report = run(&e, creds);
            let findings = report["findings"].as_array().unwrap();
            let fired: BTreeSet<&str> =
                findings.iter().filter_map(|f| f["rule"].as_str()).collect();
            let name = e
                .capture
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            for r in &e.rules {
                if r == "none" {
                    let bad: Vec<_> = findings
                        .iter()
                        .filter(|f| matches!(f["severity"].as_str(), Some("error" | "critical")))
                        .filter_map(|f| f["rule"].as_str())
                        .collect();
                    if !bad.is_empty() {
                        failures.push(format!("{name}: expected no error, got {bad:?}"));
                    }
                } else if !known.contains(r) {
                    failures.push(format!("{name}: rule {r} is not implemented"));
                } else if !fired.contains(r.as_str()) {
                    failures.push(format!("{name}: {r} did not fire (fired: {fired:?})"));
                }
            }
            for r in &e.forbid {
                if fired.contains(r.as_str()) {
                    failures.push(format!("{name}: {r} must not fire"));
                }
            }
        }
    }
    assert!(checked > 0, "no .expect files found");
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
