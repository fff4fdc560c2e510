//! The JSON report: a contract for scripts (docs/report-schema.md).
//! Bump `SCHEMA_VERSION` on any incompatible change.

use super::{accounts, endpoint, summary, Report};
use serde_json::{json, Value};

pub const SCHEMA_VERSION: u32 = 1;

pub fn to_value(r: &Report) -> Value {
    let a = &r.analysis;
    let s = summary(a);
    let exchanges: Vec<Value> = a
        .exchanges
        .iter()
        .map(|ex| {
            json!({
                "id": ex.id,
                "input": ex.input,
                "method": ex.method,
                "call_ids": ex.call_ids,
                "client": endpoint(ex.client),
                "server": endpoint(ex.server),
                "transport": ex.transport,
                "user": ex.user(),
                "auth_user": ex.auth_user(),
                "realm": ex.realm(),
                "user_agent": ex.user_agent,
                "rounds": ex.rounds.len(),
                "outcome": ex.outcome,
                "final_status": ex.final_status,
                "failure": ex.failure,
                "start": ex.first_ts.rfc3339(),
                "frames": ex.frames,
            })
        })
        .collect();
    json!({
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": env!("CARGO_PKG_NAME"), "version": env!("CARGO_PKG_VERSION")},
        "inputs": a.inputs,
        "filter": r.scope,
        "redaction": r.redaction,
        "summary": {
            "sip_messages": a.sip.messages,
            "broken_sip_messages": a.sip.broken,
            "exchanges": a.exchanges.len(),
            "by_outcome": s.by_outcome,
            "findings_by_rule": s.by_rule,
            "findings_by_severity": s.by_severity,
        },
        "accounts": accounts(&a.exchanges, &a.findings),
        "exchanges": exchanges,
        "findings": a.findings,
    })
}

/// Pretty JSON that also escapes C1 controls and bidi overrides as
/// `\uXXXX` (serde_json escapes only C0), so the report is safe to `cat`
/// to a terminal.
struct SafeFormatter(serde_json::ser::PrettyFormatter<'static>);

impl serde_json::ser::Formatter for SafeFormatter {
    fn write_string_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            if super::sanitize::term(c.encode_utf8(&mut [0; 4])) != c.to_string() {
                w.write_all(&fragment.as_bytes()[start..i])?;
                write!(w, "\\u{:04x}", c as u32)?;
                start = i + c.len_utf8();
            }
        }
        w.write_all(&fragment.as_bytes()[start..])
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

pub fn write(r: &Report, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    use serde::Serialize;
    let mut ser = serde_json::Serializer::with_formatter(
        &mut *out,
        SafeFormatter(serde_json::ser::PrettyFormatter::new()),
    );
    to_value(r).serialize(&mut ser)?;
    out.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c1_controls_and_bidi_are_escaped() {
        let mut buf = Vec::new();
        let mut ser = serde_json::Serializer::with_formatter(
            &mut buf,
            SafeFormatter(serde_json::ser::PrettyFormatter::new()),
        );
        serde::Serialize::serialize(&json!(["a\u{9b}b\u{202e}c\x1bé"]), &mut ser).unwrap();
        let s = String::from_utf8(buf).unwrap();
        assert!(s.contains(r#""a\u009bb\u202ec\u001bé""#), "{s}");
        let back: Vec<String> = serde_json::from_str(&s).unwrap();
        assert_eq!(back[0], "a\u{9b}b\u{202e}c\x1bé");
    }
}
