//! The objects the reports write by the thousand, exchanges, findings
//! and the rows of the accounts table, written straight into the buffer
//! instead of through serde.
//! Every key, with the comma, newline and indentation before it, is one
//! constant (a few stores), where the serde path pushed the comma, the
//! newline, the indentation, the quoted key and the colon one at a time:
//! about half the instructions of `--format json`'s output. The bytes are
//! the same; the derived `Serialize` impls stay as the reference the tests
//! compare with (and for embedding).
//!
//! Two layouts only: `PRETTY`, an element of a top-level array of the JSON
//! report (the object two levels in, its fields three), or compact (a JSON
//! line).

use super::writer::{write_string, write_u64};
use super::ExchangeFields;
use crate::report::AccountRow;
use crate::rules::{Evidence, Finding};
use std::net::SocketAddr;

/// The bytes before a key that is not the object's first.
macro_rules! key {
    ($pretty:expr, $name:literal) => {
        if $pretty {
            concat!(",\n      \"", $name, "\": ").as_bytes()
        } else {
            concat!(",\"", $name, "\":").as_bytes()
        }
    };
}

/// The object's opening brace and its first key.
macro_rules! first_key {
    ($pretty:expr, $name:literal) => {
        if $pretty {
            concat!("{\n      \"", $name, "\": ").as_bytes()
        } else {
            concat!("{\"", $name, "\":").as_bytes()
        }
    };
}

/// Before the first element of an array of a field, and before the others.
fn element_separator<const PRETTY: bool>(first: bool) -> &'static [u8] {
    match (PRETTY, first) {
        (true, true) => b"\n        ",
        (true, false) => b",\n        ",
        (false, true) => b"",
        (false, false) => b",",
    }
}

/// `[...]` of a field: one element a line when pretty, `[]` when empty.
fn array<const PRETTY: bool, T>(out: &mut Vec<u8>, items: &[T], write: impl Fn(&mut Vec<u8>, &T)) {
    if items.is_empty() {
        out.extend_from_slice(b"[]");
        return;
    }
    out.push(b'[');
    for (i, item) in items.iter().enumerate() {
        out.extend_from_slice(element_separator::<PRETTY>(i == 0));
        write(out, item);
    }
    out.extend_from_slice(if PRETTY { b"\n      ]" } else { b"]" });
}

fn numbers<const PRETTY: bool>(out: &mut Vec<u8>, items: &[u64]) {
    array::<PRETTY, _>(out, items, |out, &n| write_u64(out, n));
}

fn opt_str(out: &mut Vec<u8>, v: Option<&str>) {
    match v {
        Some(s) => write_string(out, s),
        None => out.extend_from_slice(b"null"),
    }
}

fn opt_u64(out: &mut Vec<u8>, v: Option<u64>) {
    match v {
        Some(n) => write_u64(out, n),
        None => out.extend_from_slice(b"null"),
    }
}

/// An address as [`super::Endpoint`] serialises it.
fn endpoint(out: &mut Vec<u8>, a: Option<SocketAddr>) {
    match a {
        Some(SocketAddr::V4(v4)) => {
            // Digits, dots and a colon: a JSON string as they are.
            let mut buf = [0u8; 21];
            let n = crate::correlate::endpoint_v4_bytes(v4, &mut buf);
            out.push(b'"');
            out.extend_from_slice(&buf[..n]);
            out.push(b'"');
        }
        Some(a) => write_string(out, &a.to_string()),
        None => out.extend_from_slice(b"\"?\""),
    }
}

/// An exchange; `kind` (the `type` of a JSON line) only when compact.
pub(super) fn exchange<const PRETTY: bool>(out: &mut Vec<u8>, f: &ExchangeFields<'_>) {
    match f.kind {
        Some(kind) => {
            out.extend_from_slice(first_key!(PRETTY, "type"));
            write_string(out, kind);
            out.extend_from_slice(key!(PRETTY, "id"));
        }
        None => out.extend_from_slice(first_key!(PRETTY, "id")),
    }
    write_u64(out, f.id as u64);
    out.extend_from_slice(key!(PRETTY, "input"));
    write_u64(out, u64::from(f.input));
    out.extend_from_slice(key!(PRETTY, "method"));
    write_string(out, f.method);
    out.extend_from_slice(key!(PRETTY, "call_ids"));
    array::<PRETTY, _>(out, f.call_ids, |out, id| write_string(out, id));
    out.extend_from_slice(key!(PRETTY, "client"));
    endpoint(out, f.client.0);
    out.extend_from_slice(key!(PRETTY, "server"));
    endpoint(out, f.server.0);
    out.extend_from_slice(key!(PRETTY, "transport"));
    write_string(out, f.transport.as_str());
    out.extend_from_slice(key!(PRETTY, "user"));
    opt_str(out, f.user.as_deref());
    out.extend_from_slice(key!(PRETTY, "auth_user"));
    opt_str(out, f.auth_user);
    out.extend_from_slice(key!(PRETTY, "realm"));
    opt_str(out, f.realm);
    out.extend_from_slice(key!(PRETTY, "user_agent"));
    opt_str(out, f.user_agent);
    out.extend_from_slice(key!(PRETTY, "rounds"));
    write_u64(out, f.rounds as u64);
    out.extend_from_slice(key!(PRETTY, "outcome"));
    write_string(out, f.outcome.as_str());
    out.extend_from_slice(key!(PRETTY, "final_status"));
    opt_u64(out, f.final_status.map(u64::from));
    out.extend_from_slice(key!(PRETTY, "failure"));
    opt_str(out, f.failure);
    out.extend_from_slice(key!(PRETTY, "start"));
    f.start.write(out);
    out.extend_from_slice(key!(PRETTY, "frames"));
    numbers::<PRETTY>(out, f.frames);
    out.extend_from_slice(if PRETTY { b"\n    }" } else { b"}" });
}

/// A finding; `kind` (the `type` of a JSON line) only when compact.
pub(super) fn finding<const PRETTY: bool>(out: &mut Vec<u8>, f: &Finding, kind: Option<&str>) {
    match kind {
        Some(kind) => {
            out.extend_from_slice(first_key!(PRETTY, "type"));
            write_string(out, kind);
            out.extend_from_slice(key!(PRETTY, "rule"));
        }
        None => out.extend_from_slice(first_key!(PRETTY, "rule")),
    }
    write_string(out, f.rule);
    out.extend_from_slice(key!(PRETTY, "severity"));
    write_string(out, f.severity.as_str());
    out.extend_from_slice(key!(PRETTY, "exchange"));
    opt_u64(out, f.exchange.map(|id| id as u64));
    if !f.related_exchanges.is_empty() {
        out.extend_from_slice(key!(PRETTY, "related_exchanges"));
        array::<PRETTY, _>(out, &f.related_exchanges, |out, &id| {
            write_u64(out, id as u64)
        });
    }
    out.extend_from_slice(key!(PRETTY, "frames"));
    numbers::<PRETTY>(out, &f.frames);
    out.extend_from_slice(key!(PRETTY, "message"));
    write_string(out, &f.message);
    out.extend_from_slice(key!(PRETTY, "evidence"));
    evidence::<PRETTY>(out, &f.evidence);
    out.extend_from_slice(key!(PRETTY, "fix"));
    write_string(out, &f.fix);
    out.extend_from_slice(if PRETTY { b"\n    }" } else { b"}" });
}

/// The evidence as an object, its names as keys in their order.
fn evidence<const PRETTY: bool>(out: &mut Vec<u8>, e: &Evidence) {
    if e.0.is_empty() {
        out.extend_from_slice(b"{}");
        return;
    }
    out.push(b'{');
    for (i, (name, value)) in e.0.iter().enumerate() {
        out.extend_from_slice(element_separator::<PRETTY>(i == 0));
        write_string(out, name);
        out.extend_from_slice(if PRETTY { b": " } else { b":" });
        write_string(out, value);
    }
    out.extend_from_slice(if PRETTY { b"\n      }" } else { b"}" });
}

/// A row of the accounts table, as an element of the JSON report's
/// `accounts` array (a large capture has tens of thousands, written at the
/// end of the run, when nothing else runs beside it).
pub(super) fn account_row(out: &mut Vec<u8>, r: &AccountRow) {
    out.extend_from_slice(first_key!(true, "user"));
    write_string(out, &r.user);
    out.extend_from_slice(key!(true, "auth_user"));
    write_string(out, &r.auth_user);
    out.extend_from_slice(key!(true, "realm"));
    write_string(out, &r.realm);
    out.extend_from_slice(key!(true, "client"));
    write_string(out, &r.client);
    out.extend_from_slice(key!(true, "server"));
    write_string(out, &r.server);
    for (key, n) in [
        (key!(true, "exchanges"), r.exchanges),
        (key!(true, "attempts"), r.attempts),
        (key!(true, "failures"), r.failures),
        (key!(true, "successes"), r.successes),
        (key!(true, "rounds"), r.rounds),
    ] {
        out.extend_from_slice(key);
        write_u64(out, n as u64);
    }
    out.extend_from_slice(key!(true, "last_outcome"));
    write_string(out, r.last_outcome.as_str());
    out.extend_from_slice(key!(true, "root_cause"));
    match &r.root_cause {
        None => out.extend_from_slice(b"null"),
        Some(c) => {
            out.extend_from_slice(b"{\n        \"rule\": ");
            write_string(out, c.rule);
            out.extend_from_slice(b",\n        \"severity\": ");
            write_string(out, c.severity.as_str());
            out.extend_from_slice(b",\n        \"phrase\": ");
            write_string(out, c.phrase);
            out.extend_from_slice(b"\n      }");
        }
    }
    out.extend_from_slice(b"\n    }");
}
