//! The JSON report: a contract for scripts (docs/report-schema.md).
//! Bump `SCHEMA_VERSION` on any incompatible change.

use super::{filter::Scope, redact, AccountBook, Report};
use crate::analysis::Analysis;
use crate::capture::Transport;
use crate::correlate::{AuthExchange, Outcome};
use crate::rules::{Finding, Severity};
use serde::{Serialize, Serializer};
use std::collections::BTreeMap;
use std::io::{self, Read, Seek, Write};
use std::net::SocketAddr;

pub const SCHEMA_VERSION: u32 = 1;

/// The report as a JSON value (tests and embedding; scripts read
/// [`write`]'s output, which is the same document).
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

/// An exchange as the JSON report and the JSON lines show it; `kind` is
/// the `type` field of a line and absent in the report.
#[derive(Serialize)]
pub(crate) struct ExchangeFields<'a> {
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'static str>,
    id: usize,
    input: u16,
    method: &'a str,
    call_ids: &'a [String],
    client: Endpoint,
    server: Endpoint,
    transport: Transport,
    user: Option<String>,
    auth_user: Option<String>,
    realm: Option<String>,
    user_agent: &'a Option<String>,
    rounds: usize,
    outcome: Outcome,
    final_status: Option<u16>,
    failure: &'a Option<String>,
    start: String,
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
            user: ex.user(),
            auth_user: ex.auth_user(),
            realm: ex.realm(),
            user_agent: &ex.user_agent,
            rounds: ex.rounds.len(),
            outcome: ex.outcome,
            final_status: ex.final_status,
            failure: &ex.failure,
            start: ex.first_ts.rfc3339(),
            frames: &ex.frames,
        }
    }
}

/// Where the elements of a long array wait until the document's head is
/// known: an unnamed temporary file (deleted by the system when closed),
/// or memory when no temporary file can be made or the report is small.
enum Spill {
    File(io::BufWriter<std::fs::File>),
    Memory(Vec<u8>),
}

impl Spill {
    /// A temporary file, or memory (with the reason) when none can be made.
    fn new(to_disk: bool) -> (Spill, Option<io::Error>) {
        if to_disk {
            match tempfile::tempfile() {
                Ok(f) => return (Spill::File(io::BufWriter::with_capacity(1 << 16, f)), None),
                Err(e) => return (Spill::Memory(Vec::new()), Some(e)),
            }
        }
        (Spill::Memory(Vec::new()), None)
    }

    fn copy_to(self, out: &mut dyn Write) -> io::Result<()> {
        match self {
            Spill::File(f) => {
                let mut f = f.into_inner().map_err(|e| e.into_error())?;
                f.rewind()?;
                let mut buf = vec![0u8; 1 << 16];
                loop {
                    let n = f.read(&mut buf)?;
                    if n == 0 {
                        return Ok(());
                    }
                    out.write_all(&buf[..n])?;
                }
            }
            Spill::Memory(v) => out.write_all(&v),
        }
    }
}

impl Write for Spill {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        match self {
            Spill::File(f) => f.write(b),
            Spill::Memory(v) => v.write(b),
        }
    }
    fn write_all(&mut self, b: &[u8]) -> io::Result<()> {
        match self {
            Spill::File(f) => f.write_all(b),
            Spill::Memory(v) => v.write_all(b),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Spill::File(f) => f.flush(),
            Spill::Memory(_) => Ok(()),
        }
    }
}

/// One array of the document: elements pretty-printed at depth 2.
struct Array {
    spill: Spill,
    len: usize,
}

impl Array {
    fn push(&mut self, element: &impl Serialize) -> io::Result<()> {
        let first = self.len == 0;
        self.len += 1;
        write_element(&mut self.spill, first, element)
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

/// One element of a top-level array, laid out as serde_json's pretty
/// printer does: on its own line, indented two levels.
fn write_element<W: Write + ?Sized>(
    out: &mut W,
    first: bool,
    v: &impl Serialize,
) -> io::Result<()> {
    out.write_all(if first { b"\n    " } else { b",\n    " })?;
    write_pretty(out, 2, v)
}

/// `v` as pretty JSON whose first line is already `depth` levels in.
fn write_pretty<W: Write + ?Sized>(
    out: &mut W,
    depth: usize,
    v: &impl Serialize,
) -> io::Result<()> {
    let mut ser = serde_json::Serializer::with_formatter(out, Pretty::at(depth));
    v.serialize(&mut ser).map_err(io::Error::from)
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
        self.accounts.exchange_named(
            ex,
            fields.user.as_deref(),
            fields.auth_user.as_deref(),
            fields.realm.as_deref(),
        );
        if self.error.is_none() {
            if let Err(e) = self.exchanges.push(&fields) {
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
                if let Err(e) = self.findings.push(f) {
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
        // Written straight to `out`, one field (and one account) at a
        // time: the accounts table of a large capture is megabytes.
        fn field<W: Write + ?Sized>(out: &mut W, name: &str, v: &impl Serialize) -> io::Result<()> {
            let first = name == "schema_version";
            out.write_all(if first { b"{\n  \"" } else { b",\n  \"" })?;
            out.write_all(name.as_bytes())?;
            out.write_all(b"\": ")?;
            write_pretty(out, 1, v)
        }
        field(out, "schema_version", &SCHEMA_VERSION)?;
        field(
            out,
            "tool",
            &Tool {
                name: env!("CARGO_PKG_NAME"),
                version: env!("CARGO_PKG_VERSION"),
            },
        )?;
        field(out, "inputs", &a.inputs)?;
        field(out, "summary", &summary)?;
        field(out, "filter", &scope)?;
        field(out, "redaction", &redaction)?;
        out.write_all(b",\n  \"accounts\": ")?;
        let rows = self.accounts.rows();
        if rows.is_empty() {
            out.write_all(b"[]")?;
        } else {
            out.write_all(b"[")?;
            for (i, row) in rows.iter().enumerate() {
                write_element(out, i == 0, row)?;
            }
            out.write_all(b"\n  ]")?;
        }
        drop(rows);
        out.write_all(b",\n  \"exchanges\": ")?;
        self.exchanges.copy_to(out)?;
        out.write_all(b",\n  \"findings\": ")?;
        self.findings.copy_to(out)?;
        out.write_all(b"\n}\n")?;
        Ok(self.worst)
    }
}

/// Writes a piece of a JSON string, escaping C1 controls, bidi overrides
/// and DEL as `\uXXXX` (serde_json escapes only C0 controls).
fn write_safe_fragment<W: ?Sized + Write>(w: &mut W, fragment: &str) -> io::Result<()> {
    // ASCII below DEL (almost every string) passes as is: serde_json has
    // already escaped C0 controls. One comparison a byte; fragments are
    // short, so a plain loop beats a search call.
    if fragment.bytes().all(|b| b < 0x7f) {
        return w.write_all(fragment.as_bytes());
    }
    let mut start = 0;
    for (i, c) in fragment.char_indices() {
        if super::sanitize::is_dangerous(c) {
            w.write_all(&fragment.as_bytes()[start..i])?;
            write!(w, "\\u{:04x}", c as u32)?;
            start = i + c.len_utf8();
        }
    }
    w.write_all(&fragment.as_bytes()[start..])
}

/// serde_json's pretty layout (two spaces a level) for a value whose first
/// line is already `depth` levels in, with the escaping of
/// [`write_safe_fragment`]: elements of the report are written where they
/// go, without a second pass to indent them.
struct Pretty {
    depth: usize,
    has_value: bool,
}

impl Pretty {
    fn at(depth: usize) -> Pretty {
        Pretty {
            depth,
            has_value: false,
        }
    }

    fn indent<W: ?Sized + Write>(&self, w: &mut W) -> io::Result<()> {
        const PAD: &[u8] = b"                ";
        let mut n = 2 * self.depth;
        while n > 0 {
            let k = n.min(PAD.len());
            w.write_all(&PAD[..k])?;
            n -= k;
        }
        Ok(())
    }

    fn open<W: ?Sized + Write>(&mut self, w: &mut W, bracket: &[u8]) -> io::Result<()> {
        self.depth += 1;
        self.has_value = false;
        w.write_all(bracket)
    }

    fn close<W: ?Sized + Write>(&mut self, w: &mut W, bracket: &[u8]) -> io::Result<()> {
        self.depth -= 1;
        if self.has_value {
            w.write_all(b"\n")?;
            self.indent(w)?;
        }
        w.write_all(bracket)
    }

    fn item<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        w.write_all(if first { b"\n" } else { b",\n" })?;
        self.indent(w)
    }
}

impl serde_json::ser::Formatter for Pretty {
    fn write_string_fragment<W: ?Sized + Write>(&mut self, w: &mut W, f: &str) -> io::Result<()> {
        write_safe_fragment(w, f)
    }
    fn begin_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.open(w, b"[")
    }
    fn end_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.close(w, b"]")
    }
    fn begin_array_value<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.item(w, first)
    }
    fn end_array_value<W: ?Sized + Write>(&mut self, _: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }
    fn begin_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.open(w, b"{")
    }
    fn end_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.close(w, b"}")
    }
    fn begin_object_key<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.item(w, first)
    }
    fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b": ")
    }
    fn end_object_value<W: ?Sized + Write>(&mut self, _: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }
}

/// Pretty JSON that also escapes C1 controls and bidi overrides as
/// `\uXXXX` (serde_json escapes only C0), so the report is safe to `cat`
/// to a terminal.
pub(crate) struct SafeFormatter<F>(pub F);

impl<F: serde_json::ser::Formatter> serde_json::ser::Formatter for SafeFormatter<F> {
    fn write_string_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        write_safe_fragment(w, fragment)
    }
    fn begin_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_array(w)
    }
    fn end_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_array(w)
    }
    fn begin_array_value<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.0.begin_array_value(w, first)
    }
    fn end_array_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_array_value(w)
    }
    fn begin_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_object(w)
    }
    fn end_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_object(w)
    }
    fn begin_object_key<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.0.begin_object_key(w, first)
    }
    fn begin_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.begin_object_value(w)
    }
    fn end_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.end_object_value(w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pretty_in_place_lays_out_as_serde_json_does() {
        let v = serde_json::json!({
            "a": [1, {"b": [], "c": {}}, [[]], "x\u{9b}"],
            "d": {"e": null, "f": [true, false]},
            "g": []
        });
        let mut got = Vec::new();
        write_pretty(&mut got, 0, &v).unwrap();
        let want = serde_json::to_string_pretty(&v)
            .unwrap()
            .replace("\u{9b}", "\\u009b");
        assert_eq!(String::from_utf8(got).unwrap(), want);
        // Two levels in: every line after the first moves right by four.
        let mut got = Vec::new();
        write_pretty(&mut got, 2, &serde_json::json!({"k": [1]})).unwrap();
        assert_eq!(
            String::from_utf8(got).unwrap(),
            "{\n      \"k\": [\n        1\n      ]\n    }"
        );
    }

    #[test]
    fn c1_controls_and_bidi_are_escaped() {
        let mut buf = Vec::new();
        let mut ser = serde_json::Serializer::with_formatter(
            &mut buf,
            SafeFormatter(serde_json::ser::PrettyFormatter::new()),
        );
        serde::Serialize::serialize(&["a\u{9b}b\u{202e}c\x1bé\x7f", "del\x7f"], &mut ser).unwrap();
        let s = String::from_utf8(buf).unwrap();
        assert!(s.contains(r#""a\u009bb\u202ec\u001bé\u007f""#), "{s}");
        assert!(s.contains(r#""del\u007f""#), "{s}");
        let back: Vec<String> = serde_json::from_str(&s).unwrap();
        assert_eq!(back[0], "a\u{9b}b\u{202e}c\x1bé\x7f");
    }
}
