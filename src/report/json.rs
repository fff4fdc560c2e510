//! The JSON report: a contract for scripts (docs/report-schema.md).
//! Bump `SCHEMA_VERSION` on any incompatible change.

use super::{filter::Scope, redact, AccountBook, Report};
use crate::analysis::Analysis;
use crate::capture::{Transport, Ts};
use crate::correlate::{AuthExchange, Outcome};
use crate::rules::{Finding, Severity};
use serde::ser::Error as _;
use serde::{Serialize, Serializer};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::{self, Read, Seek, Write};
use std::net::SocketAddr;

mod direct;
mod writer;
pub(crate) use writer::write_compact;

pub const SCHEMA_VERSION: u32 = 1;

/// The report as a JSON value (tests and embedding; scripts read
/// [`write()`]'s output, which is the same document).
pub fn to_value(r: &Report) -> serde_json::Value {
    let mut buf = Vec::new();
    write(r, &mut buf).expect("writing to memory");
    serde_json::from_slice(&buf).expect("the report is valid JSON")
}

/// Writes a report that is already in memory (filtered, redacted).
pub fn write(r: &Report, out: &mut dyn Write) -> io::Result<()> {
    let a = &r.analysis;
    let mut doc = JsonDoc::in_memory();
    for ex in &a.exchanges {
        doc.exchange(ex, &[]);
    }
    doc.findings(&a.findings);
    doc.finish(a, r.scope.as_ref(), r.redaction, out)
        .map(|_| ())
}

/// An address as the reports print it, serialised without an
/// intermediate String.
pub(crate) struct Endpoint(pub Option<SocketAddr>);

impl Serialize for Endpoint {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Some(SocketAddr::V4(v4)) => {
                s.serialize_str(crate::correlate::endpoint_v4(v4, &mut [0u8; 21]))
            }
            Some(a) => s.collect_str(&a),
            None => s.serialize_str("?"),
        }
    }
}

/// A capture timestamp as [`Ts::rfc3339`] writes it, serialised from a
/// buffer on the stack (one String an exchange less).
struct Rfc3339(Ts);

impl Rfc3339 {
    /// The same bytes as its serialisation, straight into `out`.
    fn write(&self, out: &mut Vec<u8>) {
        match self.0.rfc3339_digits() {
            Some(digits) => {
                out.push(b'"');
                out.extend_from_slice(&digits);
                out.push(b'"');
            }
            None => writer::write_string(out, &self.0.rfc3339()),
        }
    }
}

impl Serialize for Rfc3339 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0.rfc3339_digits() {
            Some(digits) => {
                s.serialize_str(std::str::from_utf8(&digits).map_err(S::Error::custom)?)
            }
            None => s.serialize_str(&self.0.rfc3339()),
        }
    }
}

/// An exchange as the JSON report and the JSON lines show it; `kind` is
/// the `type` field of a line and absent in the report.
#[derive(Serialize)]
pub(crate) struct ExchangeFields<'a> {
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'static str>,
    id: usize,
    input: u16,
    method: &'a str,
    call_ids: &'a [crate::sip::WideText],
    client: Endpoint,
    server: Endpoint,
    transport: Transport,
    user: Option<Cow<'a, str>>,
    auth_user: Option<&'a str>,
    realm: Option<&'a str>,
    user_agent: Option<&'a str>,
    rounds: usize,
    outcome: Outcome,
    final_status: Option<u16>,
    failure: Option<&'a str>,
    start: Rfc3339,
    frames: &'a [u64],
}

impl<'a> ExchangeFields<'a> {
    pub fn new(ex: &'a AuthExchange, kind: Option<&'static str>) -> ExchangeFields<'a> {
        ExchangeFields {
            kind,
            id: ex.id,
            input: ex.input,
            method: &ex.method,
            call_ids: &ex.call_ids,
            client: Endpoint(ex.client),
            server: Endpoint(ex.server),
            transport: ex.transport,
            user: ex.user_ref(),
            auth_user: ex.auth_user_ref(),
            realm: ex.realm_ref(),
            user_agent: ex.user_agent.as_deref(),
            rounds: ex.rounds.len(),
            outcome: ex.outcome,
            final_status: ex.final_status,
            failure: ex.failure.as_deref(),
            start: Rfc3339(ex.first_ts),
            frames: &ex.frames,
        }
    }
}

/// An exchange as a JSON line writes it: `{"type":"exchange",...}`.
pub(crate) fn write_exchange_line(out: &mut Vec<u8>, ex: &AuthExchange) {
    direct::exchange::<false>(out, &ExchangeFields::new(ex, Some("exchange")));
}

/// A finding as a JSON line writes it: `{"type":"finding",...}`.
pub(crate) fn write_finding_line(out: &mut Vec<u8>, f: &Finding) {
    direct::finding::<false>(out, f, Some("finding"));
}

/// Bytes of elements gathered before they go to the temporary file (or
/// to the output): one write call for many elements.
const CHUNK: usize = 1 << 16;

/// Where the elements of a long array wait until the document's head is
/// known: a buffer, emptied into an unnamed temporary file (deleted by the
/// system when closed) whenever it holds a chunk; or memory alone when no
/// temporary file can be made or the report is small. Elements are
/// serialised straight into the buffer.
struct Spill {
    buf: Vec<u8>,
    file: Option<std::fs::File>,
}

impl Spill {
    /// A temporary file, or memory (with the reason) when none can be made.
    fn new(to_disk: bool) -> (Spill, Option<io::Error>) {
        let (file, error) = match to_disk {
            true => match tempfile::tempfile() {
                Ok(f) => (Some(f), None),
                Err(e) => (None, Some(e)),
            },
            false => (None, None),
        };
        (
            Spill {
                buf: Vec::new(),
                file,
            },
            error,
        )
    }

    /// Moves the buffer to the temporary file once it holds a chunk.
    fn spill_if_full(&mut self) -> io::Result<()> {
        if let Some(f) = &mut self.file {
            if self.buf.len() >= CHUNK {
                f.write_all(&self.buf)?;
                self.buf.clear();
            }
        }
        Ok(())
    }

    /// What the file holds, then what the buffer holds.
    fn copy_to(self, out: &mut dyn Write) -> io::Result<()> {
        if let Some(mut f) = self.file {
            f.rewind()?;
            let mut buf = vec![0u8; CHUNK];
            loop {
                let n = f.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                out.write_all(&buf[..n])?;
            }
        }
        out.write_all(&self.buf)
    }
}

/// One array of the document: elements pretty-printed at depth 2.
struct Array {
    spill: Spill,
    len: usize,
}

impl Array {
    /// An element written by `write` (the object's own bytes, from its
    /// opening brace, as [`direct`] writes them).
    fn push_with(&mut self, write: impl FnOnce(&mut Vec<u8>)) -> io::Result<()> {
        let first = self.len == 0;
        self.len += 1;
        let buf = &mut self.spill.buf;
        buf.extend_from_slice(if first { b"\n    " } else { b",\n    " });
        write(buf);
        self.spill.spill_if_full()
    }

    /// `[]`, or the elements one per indented block, as serde_json's
    /// pretty printer writes them.
    fn copy_to(self, out: &mut dyn Write) -> io::Result<()> {
        if self.len == 0 {
            return out.write_all(b"[]");
        }
        out.write_all(b"[")?;
        self.spill.copy_to(out)?;
        out.write_all(b"\n  ]")
    }
}

/// The JSON report, written as exchanges and findings arrive: exchanges
/// and findings wait in temporary files, the summary and the accounts
/// table are counted as they pass, and [`JsonDoc::finish`] writes the
/// document. Memory holds the counters and one row per account, not the
/// exchanges, so `--format json` runs on captures of any length.
pub struct JsonDoc {
    exchanges: Array,
    findings: Array,
    by_outcome: BTreeMap<&'static str, usize>,
    by_rule: BTreeMap<&'static str, usize>,
    by_severity: BTreeMap<&'static str, usize>,
    worst: Option<Severity>,
    accounts: AccountBook,
    /// The first write error; later elements are not attempted.
    error: Option<io::Error>,
    /// Why the elements wait in memory, when a temporary file was wanted.
    no_disk: Option<io::Error>,
}

impl JsonDoc {
    /// Elements wait in temporary files, or in memory if none can be made
    /// (then with a warning for the user).
    pub fn streaming() -> (JsonDoc, Option<String>) {
        let doc = JsonDoc::new(true);
        let warning = doc.no_disk.as_ref().map(|e| {
            format!(
                "cannot create a temporary file ({e}; set TMPDIR to a writable directory): the JSON report is kept in memory"
            )
        });
        (doc, warning)
    }

    /// Elements wait in memory (a report already in memory).
    pub fn in_memory() -> JsonDoc {
        JsonDoc::new(false)
    }

    fn new(to_disk: bool) -> JsonDoc {
        let (exchanges, no_disk) = Spill::new(to_disk);
        let (findings, _) = Spill::new(to_disk && no_disk.is_none());
        JsonDoc {
            exchanges: Array {
                spill: exchanges,
                len: 0,
            },
            findings: Array {
                spill: findings,
                len: 0,
            },
            no_disk,
            by_outcome: BTreeMap::new(),
            by_rule: BTreeMap::new(),
            by_severity: BTreeMap::new(),
            worst: None,
            accounts: AccountBook::new(false),
            error: None,
        }
    }

    /// The most severe finding written so far.
    pub fn worst(&self) -> Option<Severity> {
        self.worst
    }

    /// A finished exchange with the findings about it.
    pub fn exchange(&mut self, ex: &AuthExchange, findings: &[Finding]) {
        *self.by_outcome.entry(ex.outcome.as_str()).or_insert(0) += 1;
        let fields = ExchangeFields::new(ex, None);
        self.accounts
            .exchange_named(ex, fields.user.as_deref(), fields.auth_user, fields.realm);
        if self.error.is_none() {
            if let Err(e) = self
                .exchanges
                .push_with(|out| direct::exchange::<true>(out, &fields))
            {
                self.error = Some(e);
            }
        }
        self.findings(findings);
    }

    /// Findings, after the exchanges they name.
    pub fn findings(&mut self, findings: &[Finding]) {
        for f in findings {
            *self.by_rule.entry(f.rule).or_insert(0) += 1;
            *self.by_severity.entry(f.severity.as_str()).or_insert(0) += 1;
            self.worst = self.worst.max(Some(f.severity));
            self.accounts.finding(f);
            if self.error.is_none() {
                if let Err(e) = self
                    .findings
                    .push_with(|out| direct::finding::<true>(out, f, None))
                {
                    self.error = Some(e);
                }
            }
        }
    }

    /// Writes the document: the head (inputs, summary, filter, accounts)
    /// then the waiting arrays. Returns the most severe finding.
    pub fn finish(
        mut self,
        a: &Analysis,
        scope: Option<&Scope>,
        redaction: redact::Level,
        out: &mut dyn Write,
    ) -> io::Result<Option<Severity>> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        #[derive(Serialize)]
        struct Tool {
            name: &'static str,
            version: &'static str,
        }
        #[derive(Serialize)]
        struct Summary<'a> {
            sip_messages: u64,
            broken_sip_messages: u64,
            exchanges: usize,
            by_outcome: &'a BTreeMap<&'static str, usize>,
            findings_by_rule: &'a BTreeMap<&'static str, usize>,
            findings_by_severity: &'a BTreeMap<&'static str, usize>,
        }
        let summary = Summary {
            sip_messages: a.sip.messages,
            broken_sip_messages: a.sip.broken,
            exchanges: self.exchanges.len,
            by_outcome: &self.by_outcome,
            findings_by_rule: &self.by_rule,
            findings_by_severity: &self.by_severity,
        };
        // Written one field (and a chunk of accounts) at a time: the
        // accounts table of a large capture is megabytes.
        let mut buf = Vec::with_capacity(CHUNK);
        fn field(buf: &mut Vec<u8>, name: &str, v: &impl Serialize) -> io::Result<()> {
            let first = name == "schema_version";
            buf.extend_from_slice(if first { b"{\n  \"" } else { b",\n  \"" });
            buf.extend_from_slice(name.as_bytes());
            buf.extend_from_slice(b"\": ");
            writer::write_pretty(buf, 1, v).map_err(io::Error::from)
        }
        field(&mut buf, "schema_version", &SCHEMA_VERSION)?;
        field(
            &mut buf,
            "tool",
            &Tool {
                name: env!("CARGO_PKG_NAME"),
                version: env!("CARGO_PKG_VERSION"),
            },
        )?;
        field(&mut buf, "inputs", &a.inputs)?;
        field(&mut buf, "summary", &summary)?;
        field(&mut buf, "filter", &scope)?;
        field(&mut buf, "redaction", &redaction)?;
        buf.extend_from_slice(b",\n  \"accounts\": ");
        let rows = self.accounts.rows();
        if rows.is_empty() {
            buf.extend_from_slice(b"[]");
        } else {
            buf.push(b'[');
            for (i, row) in rows.iter().enumerate() {
                buf.extend_from_slice(if i == 0 { b"\n    " } else { b",\n    " });
                direct::account_row(&mut buf, row);
                if buf.len() >= CHUNK {
                    out.write_all(&buf)?;
                    buf.clear();
                }
            }
            buf.extend_from_slice(b"\n  ]");
        }
        out.write_all(&buf)?;
        drop(rows);
        out.write_all(b",\n  \"exchanges\": ")?;
        self.exchanges.copy_to(out)?;
        out.write_all(b",\n  \"findings\": ")?;
        self.findings.copy_to(out)?;
        out.write_all(b"\n}\n")?;
        Ok(self.worst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spilled_elements_come_back_in_order_after_the_file() {
        for to_disk in [false, true] {
            let (spill, _) = Spill::new(to_disk);
            let mut array = Array { spill, len: 0 };
            let long = "x".repeat(CHUNK / 3);
            for i in 0..10 {
                array
                    .push_with(|out| writer::write_pretty(out, 2, &(i, &long)).unwrap())
                    .unwrap();
            }
            let mut got = Vec::new();
            array.copy_to(&mut got).unwrap();
            let mut want = Vec::new();
            write_pretty_reference(&mut want, &(0..10).map(|i| (i, &long)).collect::<Vec<_>>());
            assert_eq!(got, want, "to_disk: {to_disk}");
        }
    }

    #[test]
    fn timestamps_are_written_as_ts_writes_them() {
        // Nanoseconds since 1970 in an i64 span the years 1677 to 2262:
        // the ends, and the edges of seconds, days and years.
        let mut samples = vec![0, 1, -1, 999, 1_000, i64::MIN, i64::MAX];
        for t in [0, 1_767_225_599_999_999_999, 946_684_800_000_000_000] {
            for k in [-2, -1, 0, 1, 59, 60, 3_599, 3_600, 86_399, 86_400] {
                samples.push(t + k * 1_000_000_000);
                samples.push(t + k * 1_000_000_000 - 1);
            }
        }
        for t in samples {
            let ts = Ts(t);
            assert_eq!(
                serde_json::to_string(&Rfc3339(ts)).unwrap(),
                serde_json::to_string(&ts.rfc3339()).unwrap(),
                "{t}"
            );
        }
    }

    #[test]
    fn borrowed_names_are_the_exchanges_own() {
        let exchanges = crate::rules::testutil::one_retry(
            crate::rules::testutil::WWW_QOP,
            &crate::rules::testutil::auth_qop("al\u{9b}ice"),
            401,
            "Unauthorized",
        );
        let mut no_user = exchanges[0].clone();
        no_user.from_uri = "sip:lab.example".into();
        let mut odd = exchanges[0].clone();
        odd.from_uri = "sip:b\u{fffd}b@x".into();
        for ex in exchanges.iter().chain([&no_user, &odd]) {
            assert_eq!(ex.user_ref().map(Cow::into_owned), ex.user());
            assert_eq!(ex.auth_user_ref().map(str::to_string), ex.auth_user());
            assert_eq!(ex.realm_ref().map(str::to_string), ex.realm());
        }
    }

    /// Exchanges and findings of every capture the tests can read, and
    /// made-up ones with what captures seldom have (no or IPv6 addresses,
    /// no frames, escapes, capture-wide findings).
    fn samples() -> (Vec<AuthExchange>, Vec<Finding>) {
        use crate::analysis::{analyze, Input, Options};
        let mut dirs = vec![std::path::PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/testdata"
        ))];
        let shared = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared"));
        if shared.exists() {
            dirs.push(shared.join("captures"));
            dirs.push(shared.join("public"));
        } else {
            eprintln!("skipping the shared captures: ../shared not found");
        }
        let mut files = Vec::new();
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    dirs.push(path);
                } else if !path.extension().is_some_and(|e| e == "expect" || e == "md") {
                    files.push(path);
                }
            }
        }
        files.sort();
        let (mut exchanges, mut findings) = (Vec::new(), Vec::new());
        for path in files {
            let Ok(file) = std::fs::File::open(&path) else {
                continue;
            };
            let Ok(reader) = crate::capture::open_reader(Box::new(file)) else {
                continue;
            };
            let input = Input {
                name: path.display().to_string(),
                reader,
            };
            let mut a = analyze(vec![input], &Options::default());
            exchanges.append(&mut a.exchanges);
            findings.append(&mut a.findings);
        }
        let made_up = crate::rules::testutil::one_retry(
            crate::rules::testutil::WWW_QOP,
            &crate::rules::testutil::auth_qop("al\u{9b}ice\"q"),
            401,
            "Unauthorized",
        );
        for (i, mut ex) in made_up.into_iter().enumerate() {
            ex.client = None;
            ex.server = Some("[2001:db8::1]:5061".parse().unwrap());
            ex.frames.clear();
            ex.user_agent = Some(format!("agent \u{1b}[31m {i}").into());
            ex.failure = None;
            ex.final_status = None;
            exchanges.push(ex);
        }
        findings.push(Finding {
            rule: "brute-force",
            severity: crate::rules::Severity::Critical,
            exchange: None,
            related_exchanges: vec![3, 7, 123_456_789],
            frames: Vec::new(),
            message: "tab\there \u{202e} bidi".into(),
            evidence: crate::rules::Evidence::new(),
            fix: Cow::Owned("\\ back\"slash\r\n".into()),
        });
        (exchanges, findings)
    }

    #[test]
    fn account_rows_are_written_as_serde_writes_them() {
        let (exchanges, findings) = samples();
        let mut book = AccountBook::new(false);
        for ex in &exchanges {
            let fields = ExchangeFields::new(ex, None);
            book.exchange_named(ex, fields.user.as_deref(), fields.auth_user, fields.realm);
        }
        for f in &findings {
            book.finding(f);
        }
        let rows = book.rows();
        assert!(rows.len() > 5, "{} rows", rows.len());
        assert!(rows.iter().any(|r| r.root_cause.is_some()));
        assert!(rows.iter().any(|r| r.root_cause.is_none()));
        let (mut direct, mut serde) = (Vec::new(), Vec::new());
        for row in &rows {
            direct.clear();
            serde.clear();
            direct::account_row(&mut direct, row);
            writer::write_pretty(&mut serde, 2, row).unwrap();
            assert_eq!(
                String::from_utf8_lossy(&direct),
                String::from_utf8_lossy(&serde)
            );
        }
    }

    #[test]
    fn exchanges_and_findings_are_written_as_serde_writes_them() {
        let (exchanges, findings) = samples();
        assert!(exchanges.len() > 10 && findings.len() > 10);
        let (mut direct, mut serde) = (Vec::new(), Vec::new());
        for ex in &exchanges {
            for kind in [None, Some("exchange")] {
                let fields = ExchangeFields::new(ex, kind);
                direct.clear();
                serde.clear();
                match kind {
                    None => {
                        direct::exchange::<true>(&mut direct, &fields);
                        writer::write_pretty(&mut serde, 2, &fields).unwrap();
                    }
                    Some(_) => {
                        direct::exchange::<false>(&mut direct, &fields);
                        writer::write_compact(&mut serde, &fields).unwrap();
                    }
                }
                assert_eq!(
                    String::from_utf8_lossy(&direct),
                    String::from_utf8_lossy(&serde)
                );
            }
        }
        for f in &findings {
            direct.clear();
            serde.clear();
            direct::finding::<true>(&mut direct, f, None);
            writer::write_pretty(&mut serde, 2, f).unwrap();
            assert_eq!(
                String::from_utf8_lossy(&direct),
                String::from_utf8_lossy(&serde)
            );
            direct.clear();
            serde.clear();
            direct::finding::<false>(&mut direct, f, Some("finding"));
            serde.extend_from_slice(b"{\"type\":\"finding\",");
            writer::write_compact(&mut serde, f).unwrap();
            serde.remove(b"{\"type\":\"finding\",".len());
            assert_eq!(
                String::from_utf8_lossy(&direct),
                String::from_utf8_lossy(&serde)
            );
        }
    }

    #[test]
    fn transports_are_named_as_serialised() {
        use crate::capture::Transport::*;
        for t in [Udp, Tcp, Tls, Ws, Wss, Sctp, Unknown] {
            assert_eq!(
                serde_json::to_string(&t).unwrap(),
                format!("\"{}\"", t.as_str())
            );
        }
    }

    /// serde_json's pretty printer for an array at depth 1.
    fn write_pretty_reference(out: &mut Vec<u8>, v: &impl Serialize) {
        let text = serde_json::to_string_pretty(v).unwrap();
        out.extend_from_slice(text.replace('\n', "\n  ").as_bytes());
    }
}
