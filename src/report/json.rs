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

pub fn write(r: &Report, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, &to_value(r))?;
    out.write_all(b"\n")
}
