//! JSON Lines output for captures of any size: one object per line, written
//! as exchanges finish, so memory stays bounded and a consumer can start
//! before the capture is read to the end (`--format jsonl`).
//!
//! Lines: `{"type":"exchange",...}` (the same fields as an exchange of the
//! JSON report), then `{"type":"finding",...}` for each of its findings, and
//! at the end one `{"type":"summary",...}` with the inputs and the counts.
//! Exchanges come in the order they finish, not the order they started.
//!
//! A filter that can be decided as an exchange finishes (`--user`, `--ip`,
//! `--call-id`, `--since`/`--until` as dates) writes only the exchanges it
//! selects, with their findings, and of the capture-wide findings those
//! about them; the summary then counts what was written and says what was
//! left out, as the JSON report does. Other filters (`--rule`,
//! `--min-severity`, times of day) need the capture read twice: a
//! [`crate::report::filter::Selection`] over the first read says what is
//! shown ([`JsonlWriter::selected`]).
//!
//! With `--redact` (no filter) the capture is read twice too: the
//! exchanges and findings given to the writer are already masked
//! ([`crate::report::redact::Redactor`]), and the summary says so.

use crate::analysis::Analysis;
use crate::correlate::AuthExchange;
use crate::report::filter::{Filter, Gate, Selected};
use crate::report::json::{write_exchange_line, write_finding_line};
use crate::report::redact::Level;
use crate::rules::{Finding, Severity};
use serde::Serialize;
use serde_json::json;
use std::collections::BTreeMap;
use std::io::{self, Write};

/// Schema of the lines; bump on incompatible changes.
pub const JSONL_SCHEMA_VERSION: u32 = 1;

pub struct JsonlWriter<'w> {
    out: &'w mut dyn Write,
    exchanges: u64,
    by_outcome: BTreeMap<&'static str, u64>,
    by_rule: BTreeMap<&'static str, u64>,
    by_severity: BTreeMap<&'static str, u64>,
    worst: Option<Severity>,
    /// The first write error; later lines are not attempted.
    error: Option<io::Error>,
    scratch: Vec<u8>,
    /// Set with an exchange filter: what it selects, what it left out.
    narrow: Option<Gate<'w>>,
    /// What the exchanges and findings given were masked at.
    redaction: Level,
}

/// Compact JSON that also escapes C1 controls and bidi overrides, like the
/// JSON report, so the stream is safe to print to a terminal.
fn safe_compact(out: &mut Vec<u8>, v: &impl Serialize) -> io::Result<()> {
    crate::report::json::write_compact(out, v).map_err(io::Error::from)
}

impl<'w> JsonlWriter<'w> {
    pub fn new(out: &'w mut dyn Write) -> JsonlWriter<'w> {
        JsonlWriter {
            out,
            exchanges: 0,
            by_outcome: BTreeMap::new(),
            by_rule: BTreeMap::new(),
            by_severity: BTreeMap::new(),
            worst: None,
            error: None,
            scratch: Vec::new(),
            narrow: None,
            redaction: Level::None,
        }
    }

    /// Says in the summary (`"redaction"`) that what the writer is given
    /// was masked at `level` ([`crate::report::redact::Redactor`]).
    pub fn redacted(mut self, level: Level) -> JsonlWriter<'w> {
        self.redaction = level;
        self
    }

    /// A writer of the exchanges `filter` selects
    /// ([`Filter::decided_as_exchanges_finish`] must hold).
    pub fn narrowed(out: &'w mut dyn Write, filter: &'w Filter) -> JsonlWriter<'w> {
        let mut w = JsonlWriter::new(out);
        w.narrow = Some(Gate::new(filter));
        w
    }

    /// A writer of what a [`crate::report::filter::Selection`] over a
    /// first read of the same capture found shown: any filter, the
    /// findings narrowed as the JSON report narrows them.
    pub fn selected(
        out: &'w mut dyn Write,
        filter: &'w Filter,
        selected: Selected,
    ) -> JsonlWriter<'w> {
        let mut w = JsonlWriter::new(out);
        w.narrow = Some(Gate::selected(filter, selected));
        w
    }

    /// Serialises into a reused buffer and writes the line at once: serde
    /// writes token by token, and every one of those writes would otherwise
    /// go through the `dyn Write` of the output.
    fn line(&mut self, v: &impl Serialize) {
        if self.error.is_some() {
            return;
        }
        self.scratch.clear();
        if let Err(e) = safe_compact(&mut self.scratch, v) {
            self.error = Some(e);
            return;
        }
        self.scratch.push(b'\n');
        if let Err(e) = self.out.write_all(&self.scratch) {
            self.error = Some(e);
        }
    }

    /// The most severe finding written so far.
    pub fn worst(&self) -> Option<Severity> {
        self.worst
    }

    /// One finished exchange and its findings.
    pub fn exchange(&mut self, ex: &AuthExchange, findings: &[Finding]) {
        if let Some(gate) = &mut self.narrow {
            if !gate.exchange(ex, findings) {
                return;
            }
        }
        self.exchanges += 1;
        *self.by_outcome.entry(ex.outcome.as_str()).or_insert(0) += 1;
        self.write_line(|out| write_exchange_line(out, ex));
        for f in findings {
            if let Some(gate) = &mut self.narrow {
                if !gate.finding(f, true) {
                    continue;
                }
            }
            *self.by_rule.entry(f.rule).or_insert(0) += 1;
            *self.by_severity.entry(f.severity.as_str()).or_insert(0) += 1;
            self.worst = self.worst.max(Some(f.severity));
            self.finding(f);
        }
    }

    fn finding(&mut self, f: &Finding) {
        self.write_line(|out| write_finding_line(out, f));
    }

    /// A line written by `write` (which cannot fail: it writes to memory).
    fn write_line(&mut self, write: impl FnOnce(&mut Vec<u8>)) {
        if self.error.is_some() {
            return;
        }
        self.scratch.clear();
        write(&mut self.scratch);
        self.scratch.push(b'\n');
        if let Err(e) = self.out.write_all(&self.scratch) {
            self.error = Some(e);
        }
    }

    /// The closing summary line; returns the first write error, if any,
    /// and the most severe finding (written or, after a write error, due).
    pub fn finish(mut self, a: &Analysis) -> (io::Result<()>, Option<Severity>) {
        // Findings about the capture as a whole (network, scanners) come
        // last, once everything has been read.
        for f in &a.findings {
            if let Some(gate) = &mut self.narrow {
                if !gate.finding(f, false) {
                    continue;
                }
            }
            *self.by_rule.entry(f.rule).or_insert(0) += 1;
            *self.by_severity.entry(f.severity.as_str()).or_insert(0) += 1;
            self.worst = self.worst.max(Some(f.severity));
            self.finding(f);
        }
        let scope = self.narrow.as_ref().map(Gate::scope);
        let mut summary = json!({
            "type": "summary",
            "schema_version": JSONL_SCHEMA_VERSION,
            "tool": {"name": env!("CARGO_PKG_NAME"), "version": env!("CARGO_PKG_VERSION")},
            "inputs": a.inputs,
            "sip_messages": a.sip.messages,
            "broken_sip_messages": a.sip.broken,
            "exchanges": self.exchanges,
            "by_outcome": self.by_outcome,
            "findings_by_rule": self.by_rule,
            "findings_by_severity": self.by_severity,
        });
        if let Some(scope) = scope {
            summary["filter"] = json!(scope);
        }
        if self.redaction != Level::None {
            summary["redaction"] = json!(self.redaction);
        }
        self.line(&summary);
        match self.error.take() {
            Some(e) => (Err(e), self.worst),
            None => (Ok(()), self.worst),
        }
    }
}
