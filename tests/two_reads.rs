//! Runs that read a file twice: redacted reports (learn what to mask,
//! then write as exchanges finish; with the text view's `--details` and
//! `--ladder` the first read also gives the capture-wide findings, so
//! that the second writes each exchange complete as it finishes) and
//! reports filtered by finding or time of day (find what is shown, then
//! keep only that). They must be byte for byte the reports of the kept
//! analysis, which standard input still takes. (Unmasked `--details` and
//! `--ladder`, compared here too, now read once.)

mod common;
use common::{bin, every_readable_capture};

#[allow(dead_code)]
#[path = "../examples/gen-capture/generator.rs"]
mod generator;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Output;

/// The name a report gives standard input, as a file name: the same
/// capture read from this file (streamed) and from a pipe (kept) then
/// gives reports that must be identical, names included.
const STDIN_NAME: &str = "<stdin>";

/// How the capture reaches the binary.
#[derive(Clone, Copy, PartialEq)]
enum Way {
    /// As the file named [`STDIN_NAME`]: read twice.
    File,
    /// On standard input, copied to a temporary file: read twice.
    Pipe,
    /// On standard input without a usable temporary directory: read
    /// once, the whole analysis kept.
    Kept,
}

fn run(dir: &Path, args: &[&str], capture: &Path, way: Way) -> Output {
    let mut cmd = bin();
    cmd.current_dir(dir).env("COLUMNS", "120").args(args);
    match way {
        Way::File => cmd.arg(STDIN_NAME),
        Way::Pipe | Way::Kept => cmd.arg("-").stdin(std::fs::File::open(capture).unwrap()),
    };
    if way == Way::Kept {
        cmd.env("TMPDIR", dir.join("no-such-directory"));
    }
    cmd.output().expect("run sipauth-diag")
}

/// A capture of 300 accounts (about 2 MB): more than the 20 exchanges the
/// text view prints in full and the 40 ladders of a ticket, failures,
/// attacks and capture-wide findings.
fn generated(dir: &Path) -> PathBuf {
    let pcap = dir.join("generated.pcap");
    let mut cfg = generator::Config::for_size_mb(2, 7);
    cfg.accounts = 300;
    cfg.rtp_per_call = 0;
    let file = std::fs::File::create(&pcap).unwrap();
    generator::generate(cfg, std::io::BufWriter::new(file)).expect("generate");
    pcap
}

const FORMATS: &[&[&str]] = &[
    &["--format", "json"],
    &["--format", "markdown"],
    &["--format", "html"],
    &["--format", "text", "--color", "never"],
    &["--format", "text", "--color", "always"],
    &[
        "--format",
        "text",
        "--details",
        "--ladder",
        "--color",
        "always",
    ],
];

#[test]
fn streamed_redacted_reports_equal_the_kept_ones() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = every_readable_capture();
    files.push(generated(dir.path()));
    let link = dir.path().join(STDIN_NAME);
    let mut compared = 0;
    let mut masked = 0;
    for p in &files {
        let _ = std::fs::remove_file(&link);
        std::fs::copy(p, &link).unwrap();
        for level in ["", "--redact", "--redact=all"] {
            for fmt in FORMATS {
                let mut args = fmt.to_vec();
                if level.is_empty() {
                    if !args.contains(&"--details") {
                        continue;
                    }
                } else {
                    args.push(level);
                }
                let streamed = run(dir.path(), &args, p, Way::File);
                if streamed.status.code() == Some(2) {
                    // Not a capture: the same for every way in.
                    assert_eq!(run(dir.path(), &args, p, Way::Kept).status.code(), Some(2));
                    continue;
                }
                let kept = run(dir.path(), &args, p, Way::Kept);
                let piped = run(dir.path(), &args, p, Way::Pipe);
                assert!(
                    piped.stdout == streamed.stdout,
                    "{} {args:?}: standard input read twice differs from the file",
                    p.display()
                );
                assert_eq!(
                    streamed.status.code(),
                    kept.status.code(),
                    "{} {args:?}",
                    p.display()
                );
                assert!(
                    streamed.stdout == kept.stdout,
                    "{} {args:?}: the streamed redacted report differs from the kept one",
                    p.display()
                );
                compared += 1;
                let out = String::from_utf8_lossy(&streamed.stdout);
                if out.contains("[nonce-") || out.contains("[response-") {
                    masked += 1;
                }
            }
        }
    }
    assert!(compared >= FORMATS.len() * 2, "{compared} reports compared");
    assert!(masked >= 10, "only {masked} reports showed a label");
    println!("{compared} redacted reports compared, {masked} with labels");
}

fn lines(out: &Output) -> Vec<Value> {
    out.stdout
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).expect("a JSON line"))
        .collect()
}

/// The lines of one type, without their `type` field: what the JSON
/// report lists in its arrays.
fn of_type(lines: &[Value], t: &str) -> Vec<Value> {
    (lines.iter())
        .filter(|l| l["type"] == t)
        .map(|l| {
            let mut l = l.clone();
            l.as_object_mut().unwrap().remove("type");
            l
        })
        .collect()
}

/// `--format jsonl --redact` (files only) writes the exchanges and
/// findings of the redacted JSON report, and says it is redacted.
#[test]
fn redacted_jsonl_shows_what_the_redacted_json_report_shows() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = generated(dir.path());
    let name = pcap.to_str().unwrap();
    for level in ["secrets", "all"] {
        let flag = format!("--redact={level}");
        let stream = bin()
            .args(["--format", "jsonl", &flag, name])
            .output()
            .unwrap();
        let doc = bin()
            .args(["--format", "json", &flag, name])
            .output()
            .unwrap();
        assert_eq!(stream.status.code(), doc.status.code());
        let doc: Value = serde_json::from_slice(&doc.stdout).unwrap();
        let lines = lines(&stream);
        let of_type = |t: &str| of_type(&lines, t);
        let exchanges = of_type("exchange");
        assert!(
            exchanges.len() > 100,
            "{level}: {} exchanges",
            exchanges.len()
        );
        assert_eq!(Value::from(exchanges), doc["exchanges"], "{level}");
        assert_eq!(Value::from(of_type("finding")), doc["findings"], "{level}");
        let summary = lines.last().unwrap();
        assert_eq!(summary["type"], "summary");
        assert_eq!(summary["redaction"], level);
        assert_eq!(summary["inputs"], doc["inputs"]);
        let text = String::from_utf8_lossy(&stream.stdout);
        if level == "all" {
            assert!(
                text.contains("user-1") && text.contains("10.255.0.1"),
                "{level}"
            );
        }
    }
    // Without --redact the summary says nothing about it (as before).
    let plain = bin().args(["--format", "jsonl", name]).output().unwrap();
    assert!(lines(&plain).last().unwrap().get("redaction").is_none());
}

/// `--format jsonl --redact` reads standard input twice through a
/// temporary file, and refuses it without one, and with a filter, saying
/// what to use instead.
#[test]
fn redacted_jsonl_from_standard_input_and_with_filters() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = generated(dir.path());
    let piped = |tmp: Option<&Path>| {
        let mut cmd = bin();
        cmd.args(["--format", "jsonl", "--redact", "-"])
            .stdin(std::fs::File::open(&pcap).unwrap());
        if let Some(t) = tmp {
            cmd.env("TMPDIR", t);
        }
        cmd.output().unwrap()
    };
    let file = bin()
        .args(["--format", "jsonl", "--redact"])
        .arg(&pcap)
        .output()
        .unwrap();
    let spooled = piped(None);
    assert_eq!(spooled.status.code(), file.status.code());
    let (a, b) = (lines(&file), lines(&spooled));
    assert_eq!(a.len(), b.len());
    assert_eq!(
        a[..a.len() - 1],
        b[..b.len() - 1],
        "the same lines but the summary"
    );
    assert_eq!(b.last().unwrap()["inputs"][0]["name"], "<stdin>");
    let no_temp = piped(Some(&dir.path().join("no-such-directory")));
    let filtered = bin()
        .args(["--format", "jsonl", "--redact", "--user", "20001"])
        .arg(&pcap)
        .output()
        .unwrap();
    for out in [no_temp, filtered] {
        assert_eq!(out.status.code(), Some(2));
        assert!(out.stdout.is_empty());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("use --format json"), "{err}");
    }
}

/// Every secret value the capture carries is masked in the streamed
/// reports, also where it shows in free text; the unredacted report shows
/// them, so this can fail.
#[test]
fn streamed_redaction_masks_every_secret_of_the_capture() {
    use sipauth_diag::analysis::{analyze, Input, Options};
    let dir = tempfile::tempdir().unwrap();
    let pcap = generated(dir.path());
    let reader = sipauth_diag::capture::open_reader(Box::new(std::io::BufReader::new(
        std::fs::File::open(&pcap).unwrap(),
    )))
    .unwrap();
    let a = analyze(
        vec![Input {
            name: "g".into(),
            reader,
        }],
        &Options::default(),
    );
    let mut secrets = Vec::new();
    for ex in &a.exchanges {
        for (_, c) in ex.all_credentials() {
            let c = &c.credentials;
            for v in [&c.nonce, &c.cnonce, &c.response, &c.opaque]
                .into_iter()
                .flatten()
            {
                secrets.push(v.to_string());
            }
        }
    }
    secrets.sort();
    secrets.dedup();
    assert!(secrets.len() > 500, "{} secret values", secrets.len());
    let name = pcap.to_str().unwrap();
    // Ladders show the start of each value ("0b5f4c..").
    let shows = |out: &str, s: &str| out.contains(s) || out.contains(&format!("{}..", &s[..6]));
    for fmt in ["markdown", "html"] {
        let plain = bin().args(["--format", fmt, name]).output().unwrap();
        let plain = String::from_utf8_lossy(&plain.stdout);
        let shown = secrets.iter().filter(|s| shows(&plain, s)).count();
        assert!(
            shown >= 20,
            "{fmt}: the unredacted report shows {shown} values"
        );
        for level in ["--redact", "--redact=all"] {
            let out = bin().args(["--format", fmt, level, name]).output().unwrap();
            let out = String::from_utf8_lossy(&out.stdout);
            for s in &secrets {
                assert!(!shows(&out, s), "{fmt} {level} shows {s}");
            }
            assert!(out.contains("[nonce-"), "{fmt} {level}: no label");
        }
    }
}

/// The first read of a `--redact` run skips the rules: it must see the
/// same exchanges as the second, which runs them.
#[test]
fn exchanges_are_the_same_without_the_rules() {
    use sipauth_diag::analysis::{analyze_streaming, Input, Options};
    let dir = tempfile::tempdir().unwrap();
    let pcap = generated(dir.path());
    let run = |opts: &Options| {
        let reader = sipauth_diag::capture::open_reader(Box::new(std::io::BufReader::new(
            std::fs::File::open(&pcap).unwrap(),
        )))
        .unwrap();
        let input = Input {
            name: "g".into(),
            reader,
        };
        let mut exchanges = Vec::new();
        let mut findings = 0;
        let a = analyze_streaming(vec![input], opts, &mut |ex, f| {
            findings += f.len();
            exchanges.push(serde_json::to_string(&ex).unwrap());
        });
        (exchanges, findings + a.findings.len())
    };
    let (with, found) = run(&Options::default());
    let (without, none) = run(&Options {
        without_rules: true,
        ..Options::default()
    });
    assert!(found > 10 && with.len() > 100, "{found} findings");
    assert_eq!(none, 0);
    assert!(with == without, "the exchanges differ");
}

/// `--rule`, `--min-severity` and times of day alone: the first read finds
/// the exchanges shown, the second keeps only them; the report is that of
/// the whole analysis filtered (standard input).
#[test]
fn reports_filtered_in_two_reads_equal_the_kept_ones() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = every_readable_capture();
    files.push(generated(dir.path()));
    let link = dir.path().join(STDIN_NAME);
    let filters: &[&[&str]] = &[
        &["--min-severity", "error"],
        &["--rule", "brute-force,missing-cnonce,auth-loop"],
        // Exchanges shown only because a capture-wide finding names them.
        &["--rule", "brute-force", "--min-severity", "critical"],
        &["--since", "00:00:01", "--until", "23:00"],
        &[
            "--until",
            "09:00:30",
            "--min-severity",
            "warning",
            "--redact=all",
        ],
        // An exchange filter with a finding filter.
        &["--ip", "10.0.0.1", "--rule", "brute-force,auth-loop"],
        &["--user", "alice", "--min-severity", "warning"],
    ];
    let formats: &[&[&str]] = &[
        &["--format", "json"],
        &["--format", "markdown"],
        &["--format", "html"],
        &["--format", "text", "--color", "always"],
        &["--format", "text", "--details", "--color", "never"],
    ];
    let (mut compared, mut narrowed) = (0, 0);
    for p in &files {
        let _ = std::fs::remove_file(&link);
        std::fs::copy(p, &link).unwrap();
        for filter in filters {
            for fmt in formats {
                let args: Vec<&str> = fmt.iter().chain(filter.iter()).copied().collect();
                let two = run(dir.path(), &args, p, Way::File);
                let kept = run(dir.path(), &args, p, Way::Kept);
                assert_eq!(
                    two.status.code(),
                    kept.status.code(),
                    "{} {args:?}",
                    p.display()
                );
                if two.status.code() == Some(2) {
                    continue;
                }
                assert!(
                    two.stdout == kept.stdout,
                    "{} {args:?}: the report of two reads differs from the kept one",
                    p.display()
                );
                compared += 1;
                if fmt[1] == "json" {
                    let doc: Value = serde_json::from_slice(&two.stdout).unwrap();
                    let f = &doc["filter"];
                    if f["exchanges_shown"].as_u64() < f["exchanges_total"].as_u64()
                        && f["exchanges_shown"].as_u64() > Some(0)
                    {
                        narrowed += 1;
                    }
                }
            }
        }
    }
    assert!(compared >= filters.len() * formats.len(), "{compared}");
    assert!(narrowed >= 5, "only {narrowed} reports left something out");
    println!("{compared} filtered reports compared, {narrowed} JSON reports narrowed");
}

/// `--format jsonl` with a finding filter or a time of day reads the
/// capture twice and writes what the filtered JSON report shows: the same
/// exchanges, findings and counts.
#[test]
fn filtered_jsonl_shows_what_the_filtered_json_report_shows() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = generated(dir.path());
    let mut files = every_readable_capture();
    files.push(pcap);
    let filters: &[&[&str]] = &[
        &["--rule", "brute-force"],
        &["--min-severity", "error", "--ip", "10.0.0.1"],
        &["--until", "09:00:30", "--min-severity", "warning"],
        &["--since", "00:00:01"],
    ];
    let mut narrowed = 0;
    for p in &files {
        for filter in filters {
            let stream = bin()
                .args(["--format", "jsonl"])
                .args(*filter)
                .arg(p)
                .output()
                .unwrap();
            let doc = bin()
                .args(["--format", "json"])
                .args(*filter)
                .arg(p)
                .output()
                .unwrap();
            assert_eq!(
                stream.status.code(),
                doc.status.code(),
                "{} {filter:?}",
                p.display()
            );
            if doc.status.code() == Some(2) {
                continue;
            }
            let doc: Value = serde_json::from_slice(&doc.stdout).unwrap();
            let lines = lines(&stream);
            let of_type = |t: &str| Value::from(of_type(&lines, t));
            let what = format!("{} {filter:?}", p.display());
            assert_eq!(of_type("exchange"), doc["exchanges"], "{what}");
            assert_eq!(of_type("finding"), doc["findings"], "{what}");
            let summary = lines.last().unwrap();
            assert_eq!(summary["filter"], doc["filter"], "{what}");
            let s = &doc["summary"];
            assert_eq!(summary["exchanges"], s["exchanges"], "{what}");
            assert_eq!(summary["findings_by_rule"], s["findings_by_rule"], "{what}");
            assert_eq!(summary["by_outcome"], s["by_outcome"], "{what}");
            let f = &doc["filter"];
            if f["exchanges_shown"].as_u64() < f["exchanges_total"].as_u64()
                && f["exchanges_shown"].as_u64() > Some(0)
            {
                narrowed += 1;
            }
        }
    }
    assert!(narrowed >= 5, "only {narrowed} reports left something out");
}

/// A named pipe (as `<(zcat x.pcap.gz)` gives) cannot be read twice
/// either: it is copied like standard input, not read again empty.
#[cfg(unix)]
#[test]
fn a_named_pipe_is_copied_to_be_read_twice() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = generated(dir.path());
    let fifo = dir.path().join("capture.fifo");
    match std::process::Command::new("mkfifo").arg(&fifo).status() {
        Ok(s) if s.success() => {}
        _ => {
            eprintln!("NOTICE: mkfifo not available; skipped");
            return;
        }
    }
    let bytes = std::fs::read(&pcap).unwrap();
    for args in [
        &["--format", "json", "--redact=all"][..],
        &["--format", "json", "--rule", "brute-force"],
    ] {
        let writer = {
            let (fifo, bytes) = (fifo.clone(), bytes.clone());
            std::thread::spawn(move || std::fs::write(fifo, bytes))
        };
        let piped = bin().args(args).arg(&fifo).output().unwrap();
        writer.join().unwrap().unwrap();
        let file = bin().args(args).arg(&pcap).output().unwrap();
        assert_eq!(piped.status.code(), file.status.code(), "{args:?}");
        let piped: Value = serde_json::from_slice(&piped.stdout).unwrap();
        let file: Value = serde_json::from_slice(&file.stdout).unwrap();
        assert!(
            file["exchanges"].as_array().is_some_and(|e| !e.is_empty()),
            "{args:?}"
        );
        assert_eq!(piped["exchanges"], file["exchanges"], "{args:?}");
        assert_eq!(piped["findings"], file["findings"], "{args:?}");
        assert_eq!(piped["summary"], file["summary"], "{args:?}");
    }
}

/// Filters decided as each exchange finishes (users, addresses, Call-IDs,
/// dates) stream every format through `report::filter::Gate`, in one
/// read: the same bytes as the report of the whole analysis filtered.
#[test]
fn reports_filtered_as_exchanges_finish_equal_the_kept_ones() {
    use sipauth_diag::analysis::{analyze, Input, Options};
    use sipauth_diag::capture::{open_reader, Ts};
    use sipauth_diag::report::filter::{Filter, TimeSpec};
    use sipauth_diag::report::text::TextOptions;
    use sipauth_diag::report::{html, json, markdown, redact::Level, text, Report};
    let open = |p: &Path| -> Option<Input> {
        let f = std::fs::File::open(p).ok()?;
        let reader = open_reader(Box::new(std::io::BufReader::new(f))).ok()?;
        Some(Input {
            name: p.display().to_string(),
            reader,
        })
    };
    let dir = tempfile::tempdir().unwrap();
    let mut files = every_readable_capture();
    files.push(generated(dir.path()));
    let mut compared = 0;
    for p in &files {
        let Some(input) = open(p) else { continue };
        let whole = analyze(vec![input], &Options::default());
        let Some(ex) = whole.exchanges.get(whole.exchanges.len() / 2) else {
            continue;
        };
        let since = ex.first_ts;
        let rfc = |t: Ts| t.rfc3339();
        let cases: Vec<(Vec<String>, Filter)> = vec![
            (
                ex.user()
                    .map(|u| vec!["--user".into(), u])
                    .unwrap_or_default(),
                Filter {
                    users: ex.user().into_iter().collect(),
                    ..Filter::default()
                },
            ),
            (
                match ex.client {
                    Some(c) => vec![
                        "--ip".into(),
                        c.ip().to_string(),
                        "--since".into(),
                        rfc(since),
                    ],
                    None => vec!["--since".into(), rfc(since)],
                },
                Filter {
                    ips: ex.client.map(|c| c.ip()).into_iter().collect(),
                    since: Some(TimeSpec::At(since)),
                    ..Filter::default()
                },
            ),
        ];
        for (args, filter) in cases {
            if args.is_empty() {
                continue;
            }
            let report = Report::build(
                analyze(vec![open(p).unwrap()], &Options::default()),
                &filter,
                Level::None,
            );
            let plain = TextOptions {
                color: false,
                width: 120,
                ladder: false,
                details: false,
            };
            let mut expected: Vec<(&str, Vec<u8>)> = Vec::new();
            for fmt in ["json", "markdown", "html", "text"] {
                let mut out = Vec::new();
                match fmt {
                    "json" => json::write(&report, &mut out),
                    "markdown" => markdown::write(&report, &mut out),
                    "html" => html::write(&report, &mut out),
                    _ => text::write(&report, &plain, &mut out),
                }
                .unwrap();
                expected.push((fmt, out));
            }
            for (fmt, want) in expected {
                let got = bin()
                    .env("COLUMNS", "120")
                    .args(["--format", fmt, "--color", "never"])
                    .args(&args)
                    .arg(p)
                    .output()
                    .unwrap();
                assert!(
                    got.stdout == want,
                    "{} {fmt} {args:?}: the streamed filtered report differs from the kept one",
                    p.display()
                );
                compared += 1;
            }
        }
    }
    assert!(compared >= 8, "{compared}");
    println!("{compared} reports filtered as exchanges finish compared");
}
