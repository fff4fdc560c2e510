//! The terminal view: what happened per account, then the findings grouped
//! by exchange, most severe first. Readable in seconds, coloured by
//! severity when the output is a terminal.

use super::ladder::{self, AsciiStyle};
use super::sanitize::term;
use super::{accounts, endpoint, summary, Report};
use crate::correlate::Outcome;
use crate::rules::{Finding, Severity};
use comfy_table::{presets, ColumnConstraint, ContentArrangement, Table, Width};
use std::io::{self, Write};

pub struct TextOptions {
    pub color: bool,
    pub width: u16,
    /// Draw an ASCII ladder of every exchange shown.
    pub ladder: bool,
}

struct Paint {
    on: bool,
}

impl Paint {
    fn sev(&self, s: Severity, text: &str) -> String {
        if !self.on {
            return text.to_string();
        }
        let code = match s {
            Severity::Critical => "1;35",
            Severity::Error => "1;31",
            Severity::Warning => "33",
            Severity::Info => "36",
        };
        format!("\x1b[{code}m{text}\x1b[0m")
    }
    fn bold(&self, text: &str) -> String {
        if self.on {
            format!("\x1b[1m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
    fn dim(&self, text: &str) -> String {
        if self.on {
            format!("\x1b[2m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
    fn outcome(&self, o: Outcome) -> String {
        let t = o.as_str();
        if !self.on {
            return t.to_string();
        }
        let code = match o {
            Outcome::Succeeded => "32",
            Outcome::Failed => "31",
            Outcome::Unanswered => "33",
            Outcome::Incomplete => "2",
        };
        format!("\x1b[{code}m{t}\x1b[0m")
    }
}

fn table(width: u16) -> Table {
    let mut t = Table::new();
    t.load_preset(presets::UTF8_BORDERS_ONLY)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(width);
    t
}

/// Frames listed per finding in the text view (JSON has them all).
const MAX_FRAMES_SHOWN: usize = 30;

fn frames(f: &[u64]) -> String {
    let v: Vec<String> = f
        .iter()
        .take(MAX_FRAMES_SHOWN)
        .map(u64::to_string)
        .collect();
    if f.len() > MAX_FRAMES_SHOWN {
        format!("{} ... ({} more)", v.join(","), f.len() - MAX_FRAMES_SHOWN)
    } else {
        v.join(",")
    }
}

pub fn write(r: &Report, o: &TextOptions, out: &mut dyn Write) -> io::Result<()> {
    let a = &r.analysis;
    let p = Paint { on: o.color };
    let s = summary(a);

    // Inputs.
    for i in &a.inputs {
        writeln!(
            out,
            "{} {} ({}{}), {} packets, {} SIP messages",
            p.bold("Input"),
            term(&i.name),
            i.format,
            if i.link_types.is_empty() {
                String::new()
            } else {
                format!(", {}", i.link_types.join("/"))
            },
            i.packets,
            i.sip_messages
        )?;
        for w in &i.warnings {
            writeln!(out, "  {} {}", p.sev(Severity::Warning, "!"), term(w))?;
        }
    }
    if let Some(sc) = &r.scope {
        writeln!(
            out,
            "{} {}: showing {} of {} exchanges, {} of {} findings",
            p.bold("Filter:"),
            term(&sc.filter),
            sc.exchanges_shown,
            sc.exchanges_total,
            sc.findings_shown,
            sc.findings_total
        )?;
    }
    if r.redaction != super::redact::Level::None {
        writeln!(out, "{}", super::redact::notice(r.redaction))?;
    }
    writeln!(out)?;

    // Verdict line.
    let outcomes: Vec<String> = s
        .by_outcome
        .iter()
        .map(|(k, v)| format!("{v} {k}"))
        .collect();
    writeln!(
        out,
        "{} {} authentication exchanges ({})",
        p.bold("Summary:"),
        a.exchanges.len(),
        if outcomes.is_empty() {
            "none".to_string()
        } else {
            outcomes.join(", ")
        }
    )?;
    let sev_line: Vec<String> = [
        Severity::Critical,
        Severity::Error,
        Severity::Warning,
        Severity::Info,
    ]
    .iter()
    .filter_map(|sv| {
        s.by_severity
            .get(sv.as_str())
            .map(|n| p.sev(*sv, &format!("{n} {}", sv.as_str())))
    })
    .collect();
    if sev_line.is_empty() {
        writeln!(
            out,
            "Findings: none. Every challenge was answered and accepted, or nothing was challenged."
        )?;
    } else {
        writeln!(out, "Findings: {}", sev_line.join(", "))?;
    }
    writeln!(out)?;

    // Accounts.
    let rows = accounts(&a.exchanges, &a.findings);
    if !rows.is_empty() {
        let mut t = table(o.width);
        t.set_header(vec![
            "user (auth user)",
            "realm",
            "client -> server",
            "exch",
            "tries",
            "fail",
            "ok",
            "last",
            "root cause",
        ]);
        for r in &rows {
            let who = if r.auth_user == r.user || r.auth_user == "-" {
                term(&r.user).into_owned()
            } else {
                format!("{} ({})", term(&r.user), term(&r.auth_user))
            };
            t.add_row(vec![
                who,
                term(&r.realm).into_owned(),
                format!("{} -> {}", term(&r.client), term(&r.server)),
                r.exchanges.to_string(),
                r.attempts.to_string(),
                r.failures.to_string(),
                r.successes.to_string(),
                // Plain text: escape codes would upset the column widths.
                r.last_outcome.as_str().to_string(),
                match &r.root_cause {
                    Some(c) => format!("{}\n{}", c.rule, c.phrase),
                    None => "-".to_string(),
                },
            ]);
        }
        // The root cause is the column people read: let the identifiers
        // wrap before it does.
        if let Some(col) = t.column_mut(8) {
            col.set_constraint(ColumnConstraint::LowerBoundary(Width::Fixed(
                (o.width / 5).clamp(16, 26),
            )));
        }
        writeln!(out, "{}", p.bold("Accounts"))?;
        writeln!(out, "{t}")?;
        writeln!(out)?;
    }

    // Findings grouped by exchange, most severe exchange first.
    let mut groups: Vec<(Option<usize>, Vec<&Finding>)> = Vec::new();
    for f in &a.findings {
        match groups.iter_mut().find(|(e, _)| *e == f.exchange) {
            Some((_, v)) => v.push(f),
            None => groups.push((f.exchange, vec![f])),
        }
    }
    for (_, v) in &mut groups {
        v.sort_by_key(|f| std::cmp::Reverse(f.severity));
    }
    groups.sort_by(|x, y| {
        let wx = x.1.first().map(|f| f.severity);
        let wy = y.1.first().map(|f| f.severity);
        wy.cmp(&wx).then(x.0.cmp(&y.0))
    });
    for (exid, fs) in &groups {
        match exid.and_then(|id| a.exchanges.iter().find(|e| e.id == id)) {
            Some(ex) => {
                writeln!(
                    out,
                    "{} #{} {} {} {} -> {}  {} rounds, {}{}",
                    p.bold("Exchange"),
                    ex.id,
                    term(&ex.method),
                    term(&ex.user().unwrap_or_else(|| "?".into())),
                    endpoint(ex.client),
                    endpoint(ex.server),
                    ex.rounds.len(),
                    p.outcome(ex.outcome),
                    ex.failure
                        .as_deref()
                        .map(|f| format!(" ({})", term(f)))
                        .unwrap_or_default()
                )?;
            }
            None => writeln!(out, "{}", p.bold("Across exchanges"))?,
        }
        for f in fs {
            let tag = format!("{:<8}", f.severity.as_str());
            writeln!(
                out,
                "  {} {} {}",
                p.sev(f.severity, &tag),
                p.bold(f.rule),
                term(&f.message)
            )?;
            let width = f.evidence.0.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
            for (k, v) in &f.evidence.0 {
                let k = term(k);
                writeln!(out, "      {}  {}", p.dim(&format!("{k:<width$}")), term(v))?;
            }
            writeln!(out, "      {} {}", p.dim("frames"), frames(&f.frames))?;
            writeln!(out, "      {} {}", p.bold("fix:"), term(&f.fix))?;
        }
        writeln!(out)?;
    }

    if o.ladder {
        let style = if o.color {
            AsciiStyle {
                mark_on: "\x1b[1;31m",
                mark_off: "\x1b[0m",
            }
        } else {
            AsciiStyle {
                mark_on: "",
                mark_off: "",
            }
        };
        for ex in &a.exchanges {
            writeln!(
                out,
                "{} #{} {} {}  {}",
                p.bold("Ladder"),
                ex.id,
                term(&ex.method),
                term(&ex.user().unwrap_or_else(|| "?".into())),
                p.outcome(ex.outcome)
            )?;
            let l = ladder::build(ex, &a.findings);
            for line in ladder::ascii(&l, usize::from(o.width).min(100), &style) {
                writeln!(out, "{line}")?;
            }
            writeln!(out)?;
        }
    }
    Ok(())
}
