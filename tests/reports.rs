//! Report formats end to end: Markdown and HTML snapshots on real
//! captures, the HTML rendered by a real browser, redaction in every
//! format, filters, terminal safety against escape injection, and a quiet
//! exit when the reader of a pipe goes away.

mod common;
use common::{every_readable_capture, shared_dir, tool};
#[allow(dead_code)]
#[path = "../examples/gen-capture/generator.rs"]
mod generator;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A shared capture, or `None` (with a notice) when it is absent.
fn capture(rel: &str) -> Option<PathBuf> {
    let p = shared_dir().join(rel);
    if p.exists() {
        Some(p)
    } else {
        eprintln!("skipping: {} not found", p.display());
        None
    }
}

/// Runs the tool in the capture's directory on its bare file name, so the
/// report holds nothing machine-specific.
fn run_on(path: &Path, args: &[&str]) -> Output {
    tool()
        .current_dir(path.parent().unwrap())
        .args(args)
        .arg(path.file_name().unwrap())
        .output()
        .expect("run sipauth-diag")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).expect("UTF-8 report")
}

const LOOP: &str = "captures/wrong_password_loop_baresip.pcap";
const AAA: &str = "public/sngrep_aaa.pcap";

fn snapshot(name: &str, text: &str) {
    insta::with_settings!({
        filters => vec![(r"sipauth-diag \d+\.\d+\.\d+\S*", "sipauth-diag [version]")],
        prepend_module_to_snapshot => false,
    }, {
        insta::assert_snapshot!(name, text);
    });
}

#[test]
fn markdown_snapshots() {
    for (name, rel) in [
        ("markdown_wrong_password_loop", LOOP),
        ("markdown_sngrep_aaa", AAA),
    ] {
        let Some(p) = capture(rel) else { continue };
        let o = run_on(&p, &["--format", "markdown"]);
        let md = stdout(&o);
        assert!(md.starts_with("# SIP authentication report"));
        snapshot(name, &md);
    }
}

#[test]
fn html_snapshots() {
    for (name, rel) in [("html_wrong_password_loop", LOOP), ("html_sngrep_aaa", AAA)] {
        let Some(p) = capture(rel) else { continue };
        let o = run_on(&p, &["--format", "html"]);
        let html = stdout(&o);
        snapshot(name, &html);
    }
}

#[test]
fn markdown_verdict_names_the_account_and_the_fix() {
    let Some(p) = capture(LOOP) else { return };
    let md = stdout(&run_on(&p, &["--format", "markdown"]));
    let verdict = md
        .lines()
        .find(|l| l.starts_with("- **alice**"))
        .expect("a verdict line for alice");
    assert!(verdict.contains("cannot register"), "{verdict}");
    assert!(verdict.contains("rejected"), "{verdict}");
    assert!(md.contains("**What to change:**"));
    // The ladder of the loop is there, in a fenced block.
    assert!(md.contains("```text\n"));
    assert!(md.contains("REGISTER (CSeq 1336)"));
}

#[test]
fn html_is_self_contained() {
    let Some(p) = capture(AAA) else { return };
    let html = stdout(&run_on(&p, &["--format", "html"]));
    for forbidden in ["<script", "src=", "href=", "@import", "url(http"] {
        assert!(!html.contains(forbidden), "HTML contains {forbidden}");
    }
    assert!(html.contains("<svg"));
    assert!(html.contains("<style>"));
    // The digest uri the uri-mismatch finding is about is marked.
    assert!(html.contains("class=\"hl\">uri=sip:192.168.1.2</text>"));
}

fn chromium() -> Option<PathBuf> {
    for name in ["chromium", "chromium-browser"] {
        for dir in std::env::var("PATH").unwrap_or_default().split(':') {
            let p = Path::new(dir).join(name);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    eprintln!("skipping: chromium not installed (Debian package 'chromium')");
    None
}

fn headless(browser: &Path, profile: &Path) -> Command {
    let mut c = Command::new(browser);
    c.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1200,2000",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .stdin(Stdio::null());
    c
}

/// Runs a browser command to its end; a browser that hangs (a broken
/// installation) is killed after a generous while instead of hanging the
/// test suite. Not a timing assertion: only a guard.
fn finish_or_kill(mut cmd: Command) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run chromium");
    let mut out = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = out.read_to_end(&mut buf);
        buf
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(180);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("chromium did not finish within 180 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    Output {
        status,
        stdout: reader.join().unwrap(),
        stderr: Vec::new(),
    }
}

/// Share of pixels that are not near-white, and the number of distinct
/// colours seen, in an RGB(A) PNG.
fn ink(png_path: &Path) -> (f64, usize) {
    let decoder = png::Decoder::new(std::fs::File::open(png_path).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let step = match info.color_type {
        png::ColorType::Rgba => 4,
        png::ColorType::Rgb => 3,
        other => panic!("unexpected PNG colour type {other:?}"),
    };
    let px = &buf[..info.buffer_size()];
    let mut inked = 0usize;
    let mut colours = std::collections::HashSet::new();
    for p in px.chunks(step) {
        if p[..3].iter().any(|&c| c < 200) {
            inked += 1;
        }
        if colours.len() < 1000 {
            colours.insert((p[0], p[1], p[2]));
        }
    }
    (inked as f64 / (px.len() / step) as f64, colours.len())
}

#[test]
fn html_renders_in_a_real_browser() {
    let Some(p) = capture(AAA) else { return };
    let Some(browser) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    let html = dir.path().join("report.html");
    let o = run_on(&p, &["--format", "html", "-o", html.to_str().unwrap()]);
    assert!(o.status.code().is_some());
    let shot = dir.path().join("shot.png");
    let profile = tempfile::tempdir().unwrap();
    let mut cmd = headless(&browser, profile.path());
    cmd.arg(format!("--screenshot={}", shot.display()))
        .arg(&html);
    let st = finish_or_kill(cmd).status;
    assert!(st.success(), "chromium failed: {st}");
    let (share, colours) = ink(&shot);
    assert!(share > 0.03, "screenshot looks blank: {share:.4} inked");
    assert!(colours > 20, "screenshot has only {colours} colours");

    let profile = tempfile::tempdir().unwrap();
    let mut cmd = headless(&browser, profile.path());
    cmd.arg("--dump-dom").arg(&html);
    let dom = finish_or_kill(cmd);
    assert!(dom.status.success(), "chromium failed: {}", dom.status);
    let dom = String::from_utf8_lossy(&dom.stdout);
    for needle in [
        "Verdict",
        "qop-mismatch",
        "forbidden-after-auth",
        "uri=sip:192.168.1.2",
        "403 Wrong password",
        "<svg",
    ] {
        assert!(dom.contains(needle), "rendered DOM lacks {needle}");
    }
}

/// Digest parameter values written in the capture, found in its bytes.
fn param_values(bytes: &[u8], names: &[&str]) -> Vec<String> {
    let text = String::from_utf8_lossy(bytes).to_ascii_lowercase();
    let orig = String::from_utf8_lossy(bytes);
    let mut out = Vec::new();
    for name in names {
        let pat = format!("{name}=\"");
        let mut from = 0;
        while let Some(i) = text[from..].find(&pat) {
            let start = from + i + pat.len();
            // The name must start a parameter ("cnonce" is not "nonce").
            let before = text[..from + i].chars().next_back();
            if let Some(end) = orig[start..].find('"') {
                let v = &orig[start..start + end];
                if before.is_some_and(|c| !c.is_ascii_alphanumeric()) && v.len() >= 6 {
                    out.push(v.to_string());
                }
            }
            from = start;
        }
    }
    out.sort();
    out.dedup();
    out
}

const FORMATS: &[&[&str]] = &[
    &["--format", "text", "--ladder", "--color", "always"],
    &["--format", "json"],
    &["--format", "markdown"],
    &["--format", "html"],
];

#[test]
fn redaction_leaves_no_secret_in_any_format() {
    for rel in [LOOP, AAA] {
        let Some(p) = capture(rel) else { continue };
        let secrets = param_values(
            &std::fs::read(&p).unwrap(),
            &["nonce", "cnonce", "response", "opaque"],
        );
        assert!(
            secrets.len() >= 4,
            "{rel}: too few values found: {secrets:?}"
        );
        // Without --redact the values (or their start, in ladders) show
        // somewhere, so this test can fail.
        let shown = FORMATS.iter().any(|fmt| {
            let plain = stdout(&run_on(&p, fmt));
            secrets
                .iter()
                .any(|s| plain.contains(s.as_str()) || plain.contains(&format!("{}..", &s[..6])))
        });
        assert!(shown, "{rel}: no secret in any unredacted report");
        for fmt in FORMATS {
            for level in ["--redact", "--redact=all"] {
                let mut args = fmt.to_vec();
                args.push(level);
                let out = stdout(&run_on(&p, &args));
                for s in &secrets {
                    assert!(!out.contains(s.as_str()), "{rel} {args:?} shows {s}");
                    let head: String = s.chars().take(6).collect();
                    assert!(
                        !out.contains(&format!("{head}..")),
                        "{rel} {args:?} shows {head}.."
                    );
                }
                if !args.contains(&"json") {
                    // The ladders show the labels in place of the values.
                    assert!(out.contains("nonce-1"), "{rel} {args:?}: no nonce label");
                }
            }
        }
    }
}

#[test]
fn redact_all_replaces_users_and_addresses_consistently() {
    let cases: &[(&str, &[&str])] = &[
        (LOOP, &["alice", "127.0.0.1"]),
        (
            AAA,
            &[
                "voi18062",
                "voi18063",
                "35104723",
                "192.168.1.2",
                "212.242.33.35",
            ],
        ),
    ];
    for (rel, private) in cases {
        let Some(p) = capture(rel) else { continue };
        for fmt in FORMATS {
            let mut args = fmt.to_vec();
            args.push("--redact=all");
            let out = stdout(&run_on(&p, &args));
            for v in *private {
                assert!(!out.contains(v), "{rel} {args:?} shows {v}");
            }
            assert!(
                out.contains("user-1") && out.contains("10.255.0."),
                "{rel} {args:?}"
            );
        }
        // The same value gets the same pseudonym everywhere in one report.
        let json: serde_json::Value =
            serde_json::from_slice(&run_on(&p, &["--format", "json", "--redact=all"]).stdout)
                .unwrap();
        let ex = &json["exchanges"][0];
        let client = ex["client"].as_str().unwrap();
        let user = ex["user"].as_str().unwrap();
        let accounts = json["accounts"].as_array().unwrap();
        assert!(accounts
            .iter()
            .any(|a| a["user"] == user && client.starts_with(a["client"].as_str().unwrap())));
    }
}

fn json_of(p: &Path, args: &[&str]) -> serde_json::Value {
    let mut a = vec!["--format", "json"];
    a.extend_from_slice(args);
    serde_json::from_slice(&run_on(p, &a).stdout).expect("JSON report")
}

#[test]
fn filters_narrow_exchanges_and_findings() {
    let Some(p) = capture(AAA) else { return };
    let all = json_of(&p, &[]);
    let total = all["exchanges"].as_array().unwrap().len();
    let total_findings = all["findings"].as_array().unwrap().len();
    assert!(all["filter"].is_null());

    let j = json_of(&p, &["--user", "voi18063"]);
    let ex = j["exchanges"].as_array().unwrap();
    assert!(!ex.is_empty() && ex.len() < total);
    assert!(ex
        .iter()
        .all(|e| e["user"] == "voi18063" || e["auth_user"] == "voi18063"));
    assert_eq!(j["filter"]["exchanges_total"], total);
    assert_eq!(j["filter"]["findings_total"], total_findings);
    assert_eq!(j["summary"]["exchanges"], ex.len());
    let ids: Vec<&serde_json::Value> = ex.iter().map(|e| &e["id"]).collect();
    assert!(j["findings"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| ids.contains(&&f["exchange"])));

    let j = json_of(
        &p,
        &["--rule", "auth-user-split", "--min-severity", "warning"],
    );
    let fs = j["findings"].as_array().unwrap();
    assert!(!fs.is_empty());
    assert!(fs
        .iter()
        .all(|f| f["rule"] == "auth-user-split" && f["severity"] == "warning"));
    assert_eq!(j["exchanges"].as_array().unwrap().len(), fs.len());

    let cid = all["exchanges"][0]["call_ids"][0]
        .as_str()
        .unwrap()
        .to_string();
    let j = json_of(&p, &["--call-id", &cid]);
    assert!(j["exchanges"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["call_ids"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == cid.as_str())));

    // The capture runs from 09:32 to about 10:00 UTC.
    let early = json_of(&p, &["--until", "09:35:00"]);
    let late = json_of(&p, &["--since", "2005-07-04T09:35:00Z"]);
    let n = |v: &serde_json::Value| v["exchanges"].as_array().unwrap().len();
    assert!(n(&early) > 0 && n(&late) > 0, "{} {}", n(&early), n(&late));
    assert!(n(&early) < total && n(&late) < total);
    assert!(n(&early) + n(&late) >= total);
    assert!(early["exchanges"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["start"].as_str().unwrap()[11..19] <= *"09:35:00"));

    let j = json_of(&p, &["--ip", "10.9.9.9"]);
    assert_eq!(j["exchanges"].as_array().unwrap().len(), 0);
    assert_eq!(j["findings"].as_array().unwrap().len(), 0);

    let bad = run_on(&p, &["--rule", "no-such-rule"]);
    assert_eq!(bad.status.code(), Some(2));
    let bad = run_on(&p, &["--since", "yesterday"]);
    assert_eq!(bad.status.code(), Some(2));
}

// ---- Escape injection -------------------------------------------------

/// Source and destination IPv4 address, capture second, UDP payload.
type Datagram = ([u8; 4], [u8; 4], u32, Vec<u8>);

/// A classic pcap (Ethernet, IPv4, UDP) holding the given SIP datagrams,
/// `(src, dst, seconds, payload)`.
fn pcap(msgs: &[Datagram]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&65535u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    for (src, dst, secs, payload) in msgs {
        let udp_len = 8 + payload.len();
        let ip_len = 20 + udp_len;
        let mut frame = Vec::new();
        frame.extend_from_slice(&[2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00]);
        let mut ip = vec![
            0x45,
            0,
            (ip_len >> 8) as u8,
            ip_len as u8,
            0,
            1,
            0x40,
            0,
            64,
            17,
            0,
            0,
        ];
        ip.extend_from_slice(src);
        ip.extend_from_slice(dst);
        let sum = ip
            .chunks(2)
            .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
            .sum::<u32>();
        let sum = !(((sum & 0xffff) + (sum >> 16)) as u16);
        ip[10..12].copy_from_slice(&sum.to_be_bytes());
        frame.extend_from_slice(&ip);
        frame.extend_from_slice(&5060u16.to_be_bytes());
        frame.extend_from_slice(&5060u16.to_be_bytes());
        frame.extend_from_slice(&(udp_len as u16).to_be_bytes());
        frame.extend_from_slice(&[0, 0]);
        frame.extend_from_slice(payload);
        out.extend_from_slice(&secs.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(&frame);
    }
    out
}

/// Escape sequences an attacker could put in headers: window title (OSC),
/// clear screen, cursor home, a bell, and a C1 CSI.
const EVIL: &str = "\x1b]0;owned\x07\x1b[2J\x1b[H\x07\u{9b}6n";

fn evil_capture() -> Vec<u8> {
    let phone = [10, 0, 0, 5];
    let pbx = [10, 0, 0, 1];
    let head = |cseq: u32, branch: &str| {
        format!(
            "Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bK{branch}\r\n\
From: <sip:mallory@lab.example>;tag=ft1\r\n\
To: <sip:mallory@lab.example>\r\n\
Call-ID: evil-1@10.0.0.5\r\n\
CSeq: {cseq} REGISTER\r\n"
        )
    };
    let reg = |cseq: u32, branch: &str, auth: &str| {
        format!(
            "REGISTER sip:lab.example SIP/2.0\r\n{}User-Agent: Evil{EVIL}Phone\r\n{auth}Content-Length: 0\r\n\r\n",
            head(cseq, branch)
        )
        .into_bytes()
    };
    let challenge = |cseq: u32, branch: &str, nonce: &str| {
        format!(
            "SIP/2.0 401 Unauthorized\r\n{}WWW-Authenticate: Digest realm=\"lab{EVIL}realm\", nonce=\"{nonce}\", qop=\"auth\"\r\nContent-Length: 0\r\n\r\n",
            head(cseq, branch)
        )
        .into_bytes()
    };
    let creds = |nonce: &str| {
        format!(
            "Authorization: Digest username=\"mal{EVIL}lory\", realm=\"other{EVIL}realm\", nonce=\"{nonce}\", uri=\"sip:lab.example\", response=\"0123456789abcdef0123456789abcdef\", qop=auth, nc=00000001, cnonce=\"c0ffee00\"\r\n"
        )
    };
    pcap(&[
        (phone, pbx, 1, reg(1, "a1", "")),
        (pbx, phone, 1, challenge(1, "a1", "n0nce0001")),
        (phone, pbx, 2, reg(2, "a2", &creds("n0nce0001"))),
        (pbx, phone, 2, challenge(2, "a2", "n0nce0002")),
        (phone, pbx, 3, reg(3, "a3", &creds("n0nce0002"))),
        (pbx, phone, 3, challenge(3, "a3", "n0nce0003")),
    ])
}

/// Removes the tool's own colour codes (SGR: ESC [ digits/; m).
fn strip_sgr(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find("\x1b[") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let n = after
            .find(|c: char| !(c.is_ascii_digit() || c == ';'))
            .unwrap_or(after.len());
        if after[n..].starts_with('m') {
            rest = &after[n + 1..];
        } else {
            out.push_str("\x1b[");
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

#[test]
fn escape_sequences_from_the_capture_never_reach_the_output() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("evil.pcap");
    std::fs::write(&file, evil_capture()).unwrap();
    let runs: &[&[&str]] = &[
        &["--color", "always", "--ladder"],
        &["--color", "never", "--ladder"],
        &["--format", "markdown"],
        &["--format", "html"],
        &["--format", "json"],
        &["--format", "json", "--redact"],
        &["--format", "jsonl"],
    ];
    for args in runs {
        let o = run_on(&file, args);
        let out = String::from_utf8_lossy(&o.stdout).into_owned();
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        let visible = strip_sgr(&out);
        for (what, c) in [("ESC", '\x1b'), ("BEL", '\x07'), ("C1 CSI", '\u{9b}')] {
            assert!(!visible.contains(c), "{args:?}: raw {what} in the report");
            assert!(!err.contains(c), "{args:?}: raw {what} on stderr");
        }
        if args.contains(&"never") {
            assert!(!out.contains('\x1b'), "--color never printed an escape");
        }
        if args.contains(&"always") {
            assert!(out.contains("\x1b[1m"), "--color always printed no colour");
        }
        // The values did get through, made visible.
        let json = args.contains(&"json") || args.contains(&"jsonl");
        let shown = if json {
            "\\u001b]0;owned"
        } else {
            "\\x1b]0;owned"
        };
        assert!(
            out.contains(shown),
            "{args:?}: sanitised header missing:\n{out}"
        );
        if json {
            assert!(out.contains("Evil\\u001b]0;owned"), "User-Agent missing");
        }
        assert!(
            out.contains("realm-mismatch"),
            "{args:?}: the capture was not analysed"
        );
    }
}

#[test]
fn a_closed_pipe_ends_the_run_quietly() {
    let Some(p) = capture(AAA) else { return };
    // Enough output to outgrow any pipe buffer.
    let mut cmd = tool();
    cmd.current_dir(p.parent().unwrap())
        .args(["--ladder", "--color", "always"]);
    for _ in 0..30 {
        cmd.arg(p.file_name().unwrap());
    }
    let (status, err) = common::read_a_little_then_close(&mut cmd);
    assert!(err.is_empty(), "stderr after a closed pipe: {err}");
    assert!(
        matches!(status.code(), Some(0 | 1)),
        "exit status after a closed pipe: {status}"
    );
}

#[test]
fn completions_and_man_page_are_generated() {
    let o = tool().args(["--completions", "bash"]).output().unwrap();
    let s = stdout(&o);
    assert!(o.status.success());
    assert!(s.contains("sipauth-diag") && s.contains("--redact") && s.contains("--min-severity"));
    let o = tool().arg("--man").output().unwrap();
    let s = stdout(&o);
    assert!(o.status.success());
    assert!(
        s.starts_with(".ie") || s.contains(".TH"),
        "{}",
        &s[..s.len().min(200)]
    );
    assert!(s.contains("redact"));
    let help = stdout(&tool().arg("--help").output().unwrap());
    for job in ["sngrep", "--format html", "--credentials", "--ladder"] {
        assert!(help.contains(job), "--help lacks an example with {job}");
    }
}

/// Every capture file under `dir` (recursively) that the tool can open.
fn open_input(p: &Path) -> Option<sipauth_diag::analysis::Input> {
    let f = std::fs::File::open(p).ok()?;
    let reader = sipauth_diag::capture::open_reader(Box::new(std::io::BufReader::new(f))).ok()?;
    Some(sipauth_diag::analysis::Input {
        name: p.display().to_string(),
        reader,
    })
}

/// The JSON report written as exchanges finish (what `--format json`
/// does) is byte for byte the report of the kept analysis, on every
/// capture: same exchanges, findings, accounts and summary.
#[test]
fn streamed_json_report_equals_the_kept_one() {
    use sipauth_diag::analysis::{analyze, analyze_streaming, Options};
    use sipauth_diag::report::{json, Report};
    let files = every_readable_capture();
    let opts = Options::default();
    let mut compared = 0;
    let mut with_findings = 0;
    for p in &files {
        let (Some(a), Some(b)) = (open_input(p), open_input(p)) else {
            continue;
        };
        let kept = analyze(vec![a], &opts);
        let mut expected = Vec::new();
        json::write(&Report::plain(kept), &mut expected).unwrap();
        let (mut doc, _) = json::JsonDoc::streaming();
        let streamed = analyze_streaming(vec![b], &opts, &mut |ex, f| doc.exchange(&ex, &f));
        doc.findings(&streamed.findings);
        let mut got = Vec::new();
        doc.finish(&streamed, None, Default::default(), &mut got)
            .unwrap();
        assert!(
            expected == got,
            "{}: streamed JSON report differs from the kept one",
            p.display()
        );
        let v: serde_json::Value = serde_json::from_slice(&got).expect("valid JSON");
        compared += 1;
        if v["findings"].as_array().is_some_and(|f| !f.is_empty()) {
            with_findings += 1;
        }
    }
    assert!(compared >= 1, "testdata has at least one capture");
    assert!(with_findings >= 1 || !shared_dir().exists());
    println!("{compared} captures compared, {with_findings} with findings");
}

/// The text view written as exchanges finish (what a plain run does) is
/// byte for byte the view of the kept analysis: on every capture, in
/// colour and not, at two widths; collected both with the small-capture
/// shortcut (at most 20 exchanges kept) and without it, and on generated
/// captures larger than that, with and without known passwords.
#[test]
fn streamed_text_report_equals_the_kept_one() {
    let files = every_readable_capture();
    let plain = sipauth_diag::analysis::Options::default();
    let mut compared = 0;
    for p in &files {
        for keep in [0, 20] {
            if compare_text_views(p, &plain, keep) {
                compared += 1;
            }
        }
    }
    assert!(compared >= 2, "testdata has at least one capture");
    let dir = tempfile::tempdir().unwrap();
    for seed in [1, 2] {
        let (pcap, runs) = generated_runs(dir.path(), seed);
        for opts in &runs {
            assert!(compare_text_views(&pcap, opts, 20), "{}", pcap.display());
        }
    }
    println!("{compared} captures compared, and 4 generated ones");
}

/// A capture of 2 MB with 300 accounts and no RTP: far more than 20
/// exchanges, every rule the generator knows.
/// A generated capture ([`generated_capture`]) and the two ways the tests
/// analyse it: without passwords, and with the generator's known ones.
fn generated_runs(dir: &Path, seed: u64) -> (PathBuf, [sipauth_diag::analysis::Options; 2]) {
    generated_runs_of(dir, seed, 2)
}

/// [`generated_runs`] on a capture of `mb` MB.
fn generated_runs_of(
    dir: &Path,
    seed: u64,
    mb: u64,
) -> (PathBuf, [sipauth_diag::analysis::Options; 2]) {
    let (pcap, truth) = generated_capture(dir, seed, mb);
    let store =
        sipauth_diag::credentials::CredentialStore::parse(truth.credentials.join("\n").as_bytes())
            .expect("the generator's credentials");
    let plain = sipauth_diag::analysis::Options::default();
    let mut known = plain.clone();
    known.rules.credentials = Some(std::sync::Arc::new(store));
    (pcap, [plain, known])
}

fn generated_capture(dir: &Path, seed: u64, mb: u64) -> (PathBuf, generator::Truth) {
    let pcap = dir.join(format!("gen-{seed}-{mb}mb.pcap"));
    let mut cfg = generator::Config::for_size_mb(mb, seed);
    cfg.accounts = 300;
    cfg.rtp_per_call = 0;
    let file = std::fs::File::create(&pcap).unwrap();
    let truth = generator::generate(cfg, std::io::BufWriter::new(file)).expect("generate");
    (pcap, truth)
}

/// Compares the kept and the streamed text view of one capture, the
/// collector keeping exchanges while at most `keep` arrived; false when
/// the capture cannot be read.
fn compare_text_views(p: &Path, opts: &sipauth_diag::analysis::Options, keep: usize) -> bool {
    use sipauth_diag::analysis::{analyze, analyze_streaming};
    use sipauth_diag::report::text::{self, TextOptions, TextStream};
    use sipauth_diag::report::Report;
    let Some(input) = open_input(p) else {
        return false;
    };
    let kept = Report::plain(analyze(vec![input], opts));
    for color in [false, true] {
        for width in [80, 100] {
            let o = TextOptions {
                color,
                width,
                ladder: false,
                details: false,
            };
            let mut expected = Vec::new();
            text::write(&kept, &o, &mut expected).unwrap();
            let mut view = TextStream::keeping(keep);
            let input = open_input(p).expect("opened before");
            let streamed = analyze_streaming(vec![input], opts, &mut |ex, f| view.exchange(ex, f));
            view.findings(&streamed.findings);
            assert_eq!(
                view.worst(),
                kept.analysis.findings.iter().map(|f| f.severity).max(),
                "{}: worst severity",
                p.display()
            );
            let mut got = Vec::new();
            view.finish(streamed, &o, &mut got).unwrap();
            assert!(
                expected == got,
                "{} (colour {color}, width {width}, keeping {keep}): streamed text differs from the kept one:\n{}",
                p.display(),
                first_difference(&expected, &got)
            );
        }
    }
    true
}

/// The first line where two outputs differ, both ways.
fn first_difference(expected: &[u8], got: &[u8]) -> String {
    let (e, g) = (
        String::from_utf8_lossy(expected),
        String::from_utf8_lossy(got),
    );
    let mut lines = e.lines().zip(g.lines()).enumerate();
    match lines.find(|(_, (a, b))| a != b) {
        Some((n, (a, b))) => format!("line {}:\n  kept:     {a}\n  streamed: {b}", n + 1),
        None => format!(
            "{} lines kept, {} streamed",
            e.lines().count(),
            g.lines().count()
        ),
    }
}

/// The Markdown and HTML reports written as exchanges finish (what
/// `--format markdown|html` does without filters or `--redact`) are byte
/// for byte the reports of the kept analysis: on every capture; on one
/// whose nonce-count reuse, found at the end, names exchanges already
/// written, some before the 40th failing one (their sections, ladder marks
/// and which exchanges are drawn); and on generated captures with and
/// without known passwords, whose brute force findings come at the end and
/// name the accounts' exchanges.
#[test]
fn streamed_markdown_and_html_reports_equal_the_kept_ones() {
    let files = every_readable_capture();
    let plain = sipauth_diag::analysis::Options::default();
    let mut compared = 0;
    let mut late_named = 0;
    for p in &files {
        if let Some((_, named)) = compare_ticket_reports(p, &plain) {
            compared += 1;
            late_named += named;
        }
    }
    assert!(compared >= 1, "testdata has at least one capture");
    let dir = tempfile::tempdir().unwrap();
    let replays = dir.path().join("nc-replays.pcap");
    std::fs::write(&replays, nc_replay_capture()).unwrap();
    let (_, named) = compare_ticket_reports(&replays, &plain).expect("readable");
    assert!(named >= 10, "nonce-count reuse about {named} exchanges");
    late_named += named;
    let mut late = 0;
    for seed in [1, 2] {
        let (pcap, runs) = generated_runs(dir.path(), seed);
        for opts in &runs {
            late += compare_ticket_reports(&pcap, opts)
                .expect("a generated capture")
                .0;
        }
    }
    assert!(
        late > 0,
        "the generated captures have capture-wide findings"
    );
    println!(
        "{compared} captures compared ({late_named} capture-wide findings about one exchange), and 4 generated ones ({late} capture-wide findings)"
    );
}

/// `--details` and `--ladder` without a filter stream (one read: the
/// capture-wide findings join at the end): the same text as the view of
/// the kept analysis (standard input without a temporary directory), also
/// when a capture-wide rule names single exchanges (nc-reuse).
#[test]
fn streamed_details_and_ladders_equal_the_kept_ones() {
    let dir = tempfile::tempdir().unwrap();
    let name = "<stdin>";
    std::fs::write(dir.path().join(name), nc_replay_capture()).unwrap();
    for args in [
        &["--details"][..],
        &["--ladder"],
        &["--details", "--ladder", "--color", "always"],
    ] {
        let streamed = tool()
            .current_dir(dir.path())
            .args(args)
            .arg(name)
            .output()
            .unwrap();
        let kept = tool()
            .current_dir(dir.path())
            .args(args)
            .arg("-")
            .stdin(std::fs::File::open(dir.path().join(name)).unwrap())
            .env("TMPDIR", dir.path().join("no-such-directory"))
            .output()
            .unwrap();
        assert_eq!(streamed.status.code(), kept.status.code(), "{args:?}");
        let text = String::from_utf8_lossy(&streamed.stdout);
        assert!(
            streamed.stdout == kept.stdout,
            "{args:?}: streamed and kept differ"
        );
        // 150 exchanges: past the 20 the stream keeps, and the late
        // nc-reuse findings are in the groups and ladders they name.
        assert!(text.matches(" REGISTER user").count() > 40, "{args:?}");
        if args.contains(&"--details") {
            assert!(text.matches("nc-reuse").count() >= 50, "{args:?}");
        }
    }
}

/// `--details` and `--ladder` are written in one read
/// (`DetailsSpool::in_one_read`): the findings about the whole capture
/// come at the end and join groups already spooled, and mark ladders
/// already drawn. Byte for byte the kept view, each alone and both, in
/// colour and not, on every capture, the nc-reuse replays and generated
/// captures (brute force found at the end, naming the accounts'
/// exchanges), which between them have every way a late finding joins: a
/// group without findings of its own, one moved to a more severe bucket,
/// and one with a finding of the same severity (its own first).
#[test]
fn details_in_one_read_equal_the_kept_ones() {
    let dir = tempfile::tempdir().unwrap();
    let replays = dir.path().join("nc-replays.pcap");
    std::fs::write(&replays, nc_replay_capture()).unwrap();
    let mixed = dir.path().join("nc-replays-mixed.pcap");
    std::fs::write(&mixed, nc_replays(true)).unwrap();
    let plain = sipauth_diag::analysis::Options::default();
    let mut runs: Vec<(PathBuf, sipauth_diag::analysis::Options)> = every_readable_capture()
        .into_iter()
        .chain([replays, mixed])
        .map(|p| (p, plain.clone()))
        .collect();
    for seed in [1, 2] {
        let (pcap, [plain, known]) = generated_runs(dir.path(), seed);
        runs.push((pcap.clone(), plain));
        runs.push((pcap, known));
    }
    let mut joins = JoinCases::default();
    for (p, opts) in &runs {
        compare_details(p, opts, &mut joins);
    }
    println!("{} runs compared; joins: {joins:?}", runs.len());
    assert!(
        joins.quiet > 0,
        "a late finding about an exchange without findings: {joins:?}"
    );
    assert!(
        joins.raised > 0,
        "a late finding more severe than the group's: {joins:?}"
    );
    assert!(
        joins.tied > 0,
        "a late finding as severe as one of the group's: {joins:?}"
    );
}

/// How the capture-wide findings about one exchange met its own.
#[derive(Debug, Default)]
struct JoinCases {
    quiet: usize,
    raised: usize,
    tied: usize,
}

fn compare_details(p: &Path, opts: &sipauth_diag::analysis::Options, joins: &mut JoinCases) {
    use sipauth_diag::analysis::{analyze, analyze_streaming};
    use sipauth_diag::report::text::{self, DetailsSpool, TextOptions, TextStream};
    use sipauth_diag::report::Report;
    use sipauth_diag::rules::Severity;
    let Some(input) = open_input(p) else {
        return;
    };
    let kept = Report::plain(analyze(vec![input], opts));
    let views = [(true, false), (false, true), (true, true)];
    for (color, (details, ladder)) in [false, true]
        .into_iter()
        .flat_map(|c| views.map(|v| (c, v)))
    {
        let o = TextOptions {
            color,
            width: 100,
            ladder,
            details,
        };
        let mut expected = Vec::new();
        text::write(&kept, &o, &mut expected).unwrap();
        let spool = DetailsSpool::in_one_read(&o).expect("a temporary file");
        let mut view = TextStream::keeping(0).spooling(spool);
        let mut own: std::collections::HashMap<usize, Vec<Severity>> = Default::default();
        let input = open_input(p).expect("opened before");
        let streamed = analyze_streaming(vec![input], opts, &mut |ex, f| {
            own.insert(ex.id, f.iter().map(|f| f.severity).collect());
            view.exchange(ex, f)
        });
        view.findings(&streamed.findings);
        if !color && details && !ladder {
            for f in &streamed.findings {
                let Some(mine) = f.exchange.and_then(|e| own.get(&e)) else {
                    continue;
                };
                joins.quiet += usize::from(mine.is_empty());
                joins.raised +=
                    usize::from(mine.iter().all(|&s| s < f.severity) && !mine.is_empty());
                joins.tied += usize::from(mine.contains(&f.severity));
            }
        }
        let mut got = Vec::new();
        view.finish(streamed, &o, &mut got).unwrap();
        assert!(
            expected == got,
            "{} (colour {color}, details {details}, ladder {ladder}): one read differs from the kept view:\n{}",
            p.display(),
            first_difference(&expected, &got)
        );
    }
}

/// 100 phones register once each, two seconds apart; every even one is
/// refused (403), every odd one accepted and, 30 s later, registers again
/// with the same nonce and nonce count (nc-reuse: a warning about that
/// exchange, found at the end of the capture).
fn nc_replay_capture() -> Vec<u8> {
    nc_replays(false)
}

/// [`nc_replay_capture`]; `mixed`: every fourth phone, from the second,
/// authenticates as another user than its From (auth-user-split, info),
/// and every fourth, from the fourth, signs another URI than the
/// Request-URI (uri-mismatch, a warning like nc-reuse).
fn nc_replays(mixed: bool) -> Vec<u8> {
    let pbx = [10, 0, 0, 1];
    let mut msgs: Vec<(u32, Datagram)> = Vec::new();
    for i in 0..100u8 {
        let phone = [10, 0, 1, i + 1];
        let t = u32::from(i) * 2;
        let head = |cseq: u32| {
            format!(
                "Via: SIP/2.0/UDP 10.0.1.{}:5060;branch=z9hG4bK{i}x{cseq}\r\n\
From: <sip:user{i}@lab.example>;tag=ft{i}\r\n\
To: <sip:user{i}@lab.example>\r\n\
Call-ID: replay-{i}@10.0.1.{}\r\n\
CSeq: {cseq} REGISTER\r\n",
                i + 1,
                i + 1
            )
        };
        let reg = |cseq: u32, auth: &str| {
            format!(
                "REGISTER sip:lab.example SIP/2.0\r\n{}{auth}Content-Length: 0\r\n\r\n",
                head(cseq)
            )
            .into_bytes()
        };
        let answer = |cseq: u32, status: &str, extra: &str| {
            format!(
                "SIP/2.0 {status}\r\n{}{extra}Content-Length: 0\r\n\r\n",
                head(cseq)
            )
            .into_bytes()
        };
        let (auth_user, uri) = match (mixed, i % 4) {
            (true, 1) => (format!("auth{i}"), "sip:lab.example"),
            (true, 3) => (format!("user{i}"), "sip:10.0.0.1"),
            _ => (format!("user{i}"), "sip:lab.example"),
        };
        let creds = |cnonce: &str| {
            format!(
                "Authorization: Digest username=\"{auth_user}\", realm=\"lab.example\", nonce=\"nonce{i}\", uri=\"{uri}\", response=\"{i:02x}{cnonce}456789abcdef0123456789abcdef\", qop=auth, nc=00000001, cnonce=\"{cnonce}\"\r\n"
            )
        };
        let www = format!(
            "WWW-Authenticate: Digest realm=\"lab.example\", nonce=\"nonce{i}\", qop=\"auth\"\r\n"
        );
        let last = if i % 2 == 0 {
            "403 Forbidden"
        } else {
            "200 OK"
        };
        msgs.push((t, (phone, pbx, t, reg(1, ""))));
        msgs.push((t, (pbx, phone, t, answer(1, "401 Unauthorized", &www))));
        msgs.push((t, (phone, pbx, t, reg(2, &creds("c1")))));
        msgs.push((t, (pbx, phone, t, answer(2, last, ""))));
        if i % 2 == 1 {
            msgs.push((t + 30, (phone, pbx, t + 30, reg(3, &creds("c2")))));
            msgs.push((t + 30, (pbx, phone, t + 30, answer(3, "200 OK", ""))));
        }
    }
    msgs.sort_by_key(|(t, _)| *t);
    let msgs: Vec<Datagram> = msgs.into_iter().map(|(_, d)| d).collect();
    pcap(&msgs)
}

/// Compares the kept and the streamed Markdown and HTML reports of one
/// capture: the number of capture-wide findings, and of those that name
/// an exchange; `None` when the capture cannot be read.
fn compare_ticket_reports(
    p: &Path,
    opts: &sipauth_diag::analysis::Options,
) -> Option<(usize, usize)> {
    use sipauth_diag::analysis::{analyze, analyze_streaming};
    use sipauth_diag::report::ticket::{Ticket, TicketStream};
    use sipauth_diag::report::{html, markdown, Report};
    let kept = Report::plain(analyze(vec![open_input(p)?], opts));
    let mut late = (0, 0);
    for kind in [Ticket::Markdown, Ticket::Html] {
        let mut expected = Vec::new();
        match kind {
            Ticket::Markdown => markdown::write(&kept, &mut expected).unwrap(),
            Ticket::Html => html::write(&kept, &mut expected).unwrap(),
        }
        let mut doc = TicketStream::new(kind).expect("a temporary file");
        let input = open_input(p).expect("opened before");
        let streamed = analyze_streaming(vec![input], opts, &mut |ex, f| doc.exchange(ex, f));
        doc.findings(&streamed.findings);
        let named = streamed.findings.iter().filter(|f| f.exchange.is_some());
        late = (streamed.findings.len(), named.count());
        assert_eq!(
            doc.worst(),
            kept.analysis.findings.iter().map(|f| f.severity).max(),
            "{}: worst severity",
            p.display()
        );
        let mut got = Vec::new();
        doc.finish(streamed, &mut got).unwrap();
        assert!(
            expected == got,
            "{} ({kind:?}): streamed report differs from the kept one:\n{}",
            p.display(),
            first_difference(&expected, &got)
        );
    }
    Some(late)
}

/// Every report of a run with `--user`, `--ip`, `--call-id` or absolute
/// `--since`/`--until` keeps only the exchanges the filter may show as
/// they finish (`report::filter::Narrowing`): the reports are byte for
/// byte those of the whole analysis filtered afterwards, with and
/// without finding filters, times of day and redaction, on every capture
/// and a generated one.
#[test]
fn narrowed_reports_equal_the_filtered_kept_ones() {
    use sipauth_diag::analysis::{analyze, analyze_streaming, Analysis, Options};
    use sipauth_diag::capture::Ts;
    use sipauth_diag::report::filter::{Filter, Narrowing, TimeSpec};
    use sipauth_diag::report::redact::Level;
    use sipauth_diag::report::text::{self, TextOptions};
    use sipauth_diag::report::{json, markdown, Report};

    fn filters_for(a: &Analysis) -> Vec<Filter> {
        let mut out = Vec::new();
        let n = a.exchanges.len();
        for ex in [0, n / 2, n.saturating_sub(1)]
            .into_iter()
            .filter_map(|i| a.exchanges.get(i))
        {
            let by_user = Filter {
                users: ex.user().into_iter().collect(),
                ..Filter::default()
            };
            let by_ip = Filter {
                ips: ex.client.map(|c| c.ip()).into_iter().collect(),
                ..Filter::default()
            };
            let by_call = Filter {
                call_ids: ex.call_ids.iter().take(1).map(|c| c.to_string()).collect(),
                ..Filter::default()
            };
            let window = Filter {
                since: Some(TimeSpec::At(ex.first_ts)),
                until: Some(TimeSpec::At(Ts(ex.last_ts.0 + 1_000_000_000))),
                ..Filter::default()
            };
            let day = ex.first_ts.0.rem_euclid(86_400 * 1_000_000_000);
            let time_of_day = Filter {
                ips: by_ip.ips.clone(),
                since: Some(TimeSpec::TimeOfDay(day)),
                ..Filter::default()
            };
            let with_rule = Filter {
                rules: a
                    .findings
                    .iter()
                    .take(1)
                    .map(|f| f.rule.to_string())
                    .collect(),
                min_severity: Some(sipauth_diag::rules::Severity::Warning),
                ..by_ip.clone()
            };
            out.extend([by_user, by_ip, by_call, window, time_of_day, with_rule]);
        }
        out
    }

    fn reports(r: &Report) -> Vec<Vec<u8>> {
        let mut j = Vec::new();
        json::write(r, &mut j).unwrap();
        let mut m = Vec::new();
        markdown::write(r, &mut m).unwrap();
        let mut t = Vec::new();
        let o = TextOptions {
            color: false,
            width: 100,
            ladder: true,
            details: true,
        };
        text::write(r, &o, &mut t).unwrap();
        vec![j, m, t]
    }

    let dir = tempfile::tempdir().unwrap();
    let (generated, runs) = generated_runs(dir.path(), 3);
    let mut files = every_readable_capture();
    files.push(generated);
    let plain = Options::default();
    let (mut compared, mut narrowed) = (0, 0);
    for p in &files {
        let Some(input) = open_input(p) else {
            continue;
        };
        let opts = if p == files.last().unwrap() {
            &runs[1]
        } else {
            &plain
        };
        let whole = analyze(vec![input], opts);
        for f in filters_for(&whole) {
            for level in [Level::None, Level::All] {
                let kept = Report::build(analyze(vec![open_input(p).unwrap()], opts), &f, level);
                let mut narrowing = Narrowing::new(&f);
                let streamed =
                    analyze_streaming(vec![open_input(p).unwrap()], opts, &mut |ex, fs| {
                        narrowing.exchange(ex, fs)
                    });
                let (a, seen) = narrowing.finish(streamed);
                if a.exchanges.len() < whole.exchanges.len() {
                    narrowed += 1;
                }
                let got = Report::build_narrowed(a, seen, &f, level);
                for (e, g) in reports(&kept).iter().zip(reports(&got)) {
                    assert!(
                        *e == g,
                        "{} with {}: {}",
                        p.display(),
                        f.describe(),
                        first_difference(e, &g)
                    );
                }
                compared += 1;
            }
        }
    }
    assert!(compared >= 12, "{compared} filtered runs compared");
    assert!(narrowed > 0, "some runs kept fewer exchanges");
    println!("{compared} filtered runs compared, {narrowed} kept fewer exchanges");
}

/// `--format jsonl` with filters decided as exchanges finish writes what
/// `--format json` with the same filters shows: the same exchanges and
/// findings in the same order, the same counts, and the same `filter`
/// object in its summary.
#[test]
fn narrowed_jsonl_shows_what_the_filtered_json_report_shows() {
    use serde_json::Value;
    use sipauth_diag::analysis::{analyze, analyze_streaming, Options};
    use sipauth_diag::jsonl::JsonlWriter;
    use sipauth_diag::report::filter::{Filter, TimeSpec};
    use sipauth_diag::report::{json, redact::Level, Report};

    let without_type = |mut v: Value| {
        v.as_object_mut().unwrap().remove("type");
        v
    };
    let dir = tempfile::tempdir().unwrap();
    let (generated, runs) = generated_runs(dir.path(), 4);
    let mut files = every_readable_capture();
    files.push(generated);
    let mut compared = 0;
    for p in &files {
        let opts = if p == files.last().unwrap() {
            &runs[1]
        } else {
            &Options::default()
        };
        let Some(input) = open_input(p) else {
            continue;
        };
        let whole = analyze(vec![input], opts);
        let Some(ex) = whole.exchanges.get(whole.exchanges.len() / 2) else {
            continue;
        };
        let filters = [
            Filter {
                users: ex.user().into_iter().collect(),
                ..Filter::default()
            },
            Filter {
                ips: ex.client.map(|c| c.ip()).into_iter().collect(),
                since: Some(TimeSpec::At(ex.first_ts)),
                ..Filter::default()
            },
        ];
        for f in filters {
            assert!(f.decided_as_exchanges_finish());
            let report =
                Report::build(analyze(vec![open_input(p).unwrap()], opts), &f, Level::None);
            let mut doc = Vec::new();
            json::write(&report, &mut doc).unwrap();
            let doc: Value = serde_json::from_slice(&doc).unwrap();

            let mut lines = Vec::new();
            let mut w = JsonlWriter::narrowed(&mut lines, &f);
            let a = analyze_streaming(vec![open_input(p).unwrap()], opts, &mut |ex, fs| {
                w.exchange(&ex, &fs)
            });
            let (written, worst) = w.finish(&a);
            written.unwrap();
            assert_eq!(
                worst,
                report.analysis.findings.iter().map(|f| f.severity).max()
            );
            let lines: Vec<Value> = lines
                .split(|&b| b == b'\n')
                .filter(|l| !l.is_empty())
                .map(|l| serde_json::from_slice(l).unwrap())
                .collect();
            let of = |t: &str| -> Vec<Value> {
                lines
                    .iter()
                    .filter(|l| l["type"] == t)
                    .cloned()
                    .map(without_type)
                    .collect()
            };
            let what = format!("{} with {}", p.display(), f.describe());
            assert_eq!(Value::Array(of("exchange")), doc["exchanges"], "{what}");
            assert_eq!(Value::Array(of("finding")), doc["findings"], "{what}");
            let summary = &of("summary")[0];
            assert_eq!(summary["filter"], doc["filter"], "{what}");
            for k in [
                "exchanges",
                "by_outcome",
                "findings_by_rule",
                "findings_by_severity",
            ] {
                assert_eq!(summary[k], doc["summary"][k], "{what}: {k}");
            }
            compared += 1;
        }
    }
    assert!(compared >= 4, "{compared} filtered streams compared");
}

/// Two threads (reading and correlating on one, rules and report on the
/// other; the default) give the report one thread gives, byte for byte:
/// on every capture, on every capture merged into one analysis, and on
/// generated captures with many hand-overs between the threads, with and
/// without known passwords.
#[test]
fn two_threads_report_what_one_thread_does() {
    use sipauth_diag::analysis::{analyze, Options};
    use sipauth_diag::report::{json, Report};
    let report = |files: &[PathBuf], opts: &Options, single_thread: bool| -> Option<Vec<u8>> {
        let inputs = files
            .iter()
            .map(|p| open_input(p))
            .collect::<Option<Vec<_>>>()?;
        let opts = Options {
            single_thread,
            ..opts.clone()
        };
        let mut out = Vec::new();
        json::write(&Report::plain(analyze(inputs, &opts)), &mut out).unwrap();
        Some(out)
    };
    let files = every_readable_capture();
    let plain = Options::default();
    let mut compared = 0;
    for p in &files {
        let one = std::slice::from_ref(p);
        let Some(expected) = report(one, &plain, true) else {
            continue;
        };
        assert!(
            report(one, &plain, false) == Some(expected),
            "{}: two threads differ from one",
            p.display()
        );
        compared += 1;
    }
    assert!(compared >= 1, "testdata has at least one capture");
    let readable: Vec<PathBuf> = files
        .iter()
        .filter(|p| open_input(p).is_some())
        .cloned()
        .collect();
    let merged = report(&readable, &plain, true).expect("readable");
    assert!(report(&readable, &plain, false) == Some(merged));
    let dir = tempfile::tempdir().unwrap();
    let (pcap, runs) = generated_runs_of(dir.path(), 3, 8);
    for opts in &runs {
        let one = std::slice::from_ref(&pcap);
        let expected = report(one, opts, true).expect("generated");
        let v: serde_json::Value = serde_json::from_slice(&expected).unwrap();
        // Enough packets for a dozen hand-overs between the threads (one
        // every 1 024 packets), each with exchanges.
        assert!(
            v["inputs"][0]["packets"].as_u64().unwrap() > 12 * 1024,
            "{}",
            v["inputs"]
        );
        assert!(v["exchanges"].as_array().map_or(0, |e| e.len()) > 1000);
        assert!(report(one, opts, false) == Some(expected));
    }
}

/// The capture is read on a thread of its own unless one thread is asked
/// for; the rules and the consumer run on the caller's.
#[test]
fn the_capture_is_read_on_a_second_thread_unless_one_is_asked_for() {
    use sipauth_diag::analysis::{analyze_streaming, Input, Options};
    use sipauth_diag::capture::{CaptureReader, Format, InputWarning, Peek, Record};
    use std::sync::{Arc, Mutex};
    /// A reader that notes the thread it is read on.
    struct Noting {
        inner: Box<dyn CaptureReader>,
        seen: Arc<Mutex<Vec<Option<String>>>>,
    }
    impl CaptureReader for Noting {
        fn format(&self) -> Format {
            self.inner.format()
        }
        fn next(&mut self) -> Option<Record<'_>> {
            let name = std::thread::current().name().map(str::to_owned);
            self.seen.lock().unwrap().push(name);
            self.inner.next()
        }
        fn peek(&mut self) -> Peek {
            self.inner.peek()
        }
        fn warnings(&self) -> &[InputWarning] {
            self.inner.warnings()
        }
        fn linktypes(&self) -> Vec<u32> {
            self.inner.linktypes()
        }
    }
    let pcap = every_readable_capture()
        .into_iter()
        .find(|p| p.extension().is_some_and(|e| e == "pcap"))
        .expect("a pcap in testdata");
    let caller = std::thread::current().name().map(str::to_owned);
    for single_thread in [false, true] {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let input = open_input(&pcap).unwrap();
        let input = Input {
            name: input.name,
            reader: Box::new(Noting {
                inner: input.reader,
                seen: Arc::clone(&seen),
            }),
        };
        let opts = Options {
            single_thread,
            ..Options::default()
        };
        let mut consumed_on = Vec::new();
        analyze_streaming(vec![input], &opts, &mut |_, _| {
            consumed_on.push(std::thread::current().name().map(str::to_owned));
        });
        let seen = seen.lock().unwrap();
        assert!(!seen.is_empty() && !consumed_on.is_empty());
        let reader_thread = if single_thread {
            caller.clone()
        } else {
            Some("correlate".to_string())
        };
        assert!(seen.iter().all(|n| *n == reader_thread), "{seen:?}");
        assert!(consumed_on.iter().all(|n| *n == caller));
    }
}
