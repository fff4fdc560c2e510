//! The Markdown report, for a support ticket: a verdict per account in
//! plain words, the findings with evidence and fix, and a ladder of each
//! failing exchange. Capture-derived text is escaped for Markdown and
//! stripped of control characters (the file may end up on a terminal).

use super::ladder::{self, AsciiStyle, Ladder};
use super::sanitize::term;
use super::{endpoint, verdict_for, KeptHead, Report, TicketHead, MAX_LADDERS};
// Shared with the HTML and text views; re-exported where they used to live.
pub use super::verdict_words;
use crate::correlate::AuthExchange;
use crate::rules::{Finding, Severity};
use std::io::{self, Write};

/// Escapes Markdown syntax so capture text reads as text.
pub fn md(s: &str) -> String {
    let s = term(s);
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if matches!(
            c,
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '#' | '!' | '~' | '{' | '}'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// An inline code span that holds any text.
pub fn code(s: &str) -> String {
    let s = term(s).replace('|', "\\|");
    let longest = longest_run(&s, '`');
    let fence = "`".repeat(longest + 1);
    let pad = if s.starts_with('`') || s.ends_with('`') || s.is_empty() {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{s}{pad}{fence}")
}

fn longest_run(s: &str, ch: char) -> usize {
    let (mut best, mut cur) = (0, 0);
    for c in s.chars() {
        if c == ch {
            cur += 1;
            best = best.max(cur);
        } else {
            cur = 0;
        }
    }
    best
}

fn first_upper(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

fn sentence(s: &str) -> String {
    let s = s.trim();
    if s.ends_with(['.', '!', '?']) {
        s.to_string()
    } else {
        format!("{s}.")
    }
}

pub(crate) fn exchange_title(ex: &AuthExchange) -> String {
    format!(
        "Exchange #{}: {} from {} ({}) to {}, {}{}",
        ex.id,
        md(&ex.method),
        md(&ex.user().unwrap_or_else(|| "?".into())),
        md(&endpoint(ex.client)),
        md(&endpoint(ex.server)),
        ex.outcome.as_str(),
        ex.failure
            .as_deref()
            .map(|f| format!(" ({})", md(f)))
            .unwrap_or_default()
    )
}

/// A fenced block that no line of `body` can close.
fn fenced(lang: &str, body: &[String]) -> String {
    let longest = body.iter().map(|l| longest_run(l, '`')).max().unwrap_or(0);
    let fence = "`".repeat((longest + 1).max(3));
    let mut s = format!("{fence}{lang}\n");
    for l in body {
        s.push_str(l);
        s.push('\n');
    }
    s.push_str(&fence);
    s.push('\n');
    s
}

/// Writes a report in memory. A streamed report
/// ([`super::ticket::TicketStream`]) writes the same pieces.
pub fn write(r: &Report, out: &mut dyn Write) -> io::Result<()> {
    let a = &r.analysis;
    let k = KeptHead::of(r);
    let verdicts = k.verdicts();
    write_head(&TicketHead::kept(r, &k, &verdicts), out)?;
    let lookup = &k.lookup;
    // Findings by exchange, in exchange order.
    for ex in &a.exchanges {
        let fs = lookup.findings_of(ex.id);
        if fs.is_empty() {
            continue;
        }
        write_section_heading(&exchange_title(ex), out)?;
        for f in fs {
            write_finding(f, out)?;
        }
    }
    let loose: Vec<&Finding> = a.findings.iter().filter(|f| f.exchange.is_none()).collect();
    write_loose(&loose, out)?;

    // Ladders of the failing exchanges.
    let failing: Vec<&AuthExchange> = a
        .exchanges
        .iter()
        .filter(|e| lookup.is_failing(e))
        .collect();
    write_ladders_intro(failing.len(), out)?;
    for ex in failing.iter().take(MAX_LADDERS) {
        write_ladder(&ladder::build(ex, &a.findings), out)?;
    }
    write_ladders_tail(failing.len(), out)
}

/// The head of the report: inputs, the verdict per account, the accounts
/// table, and the heading of the findings.
pub(crate) fn write_head(h: &TicketHead, out: &mut dyn Write) -> io::Result<()> {
    let s = h.summary;
    writeln!(out, "# SIP authentication report")?;
    writeln!(out)?;
    writeln!(
        out,
        "Made by {} {} from packet captures of the SIP signalling.",
        env!("CARGO_PKG_NAME"),
        env!("CARGO_PKG_VERSION")
    )?;
    writeln!(out)?;
    for i in h.inputs {
        writeln!(
            out,
            "- Capture {} ({}), {} packets, {} SIP messages",
            code(&i.name),
            i.format,
            i.packets,
            i.sip_messages
        )?;
        for w in &i.warnings {
            writeln!(out, "  - warning: {}", md(w))?;
        }
    }
    if let Some(sc) = h.scope {
        writeln!(
            out,
            "- Filter: {}; showing {} of {} exchanges and {} of {} findings",
            md(&sc.filter),
            sc.exchanges_shown,
            sc.exchanges_total,
            sc.findings_shown,
            sc.findings_total
        )?;
    }
    if h.redaction != super::redact::Level::None {
        writeln!(out, "- {}", md(super::redact::notice(h.redaction)))?;
    }
    let outcomes: Vec<String> = s
        .by_outcome
        .iter()
        .map(|(k, v)| format!("{v} {k}"))
        .collect();
    writeln!(
        out,
        "- {} authentication exchange{} ({})",
        h.exchanges,
        if h.exchanges == 1 { "" } else { "s" },
        if outcomes.is_empty() {
            "none".into()
        } else {
            outcomes.join(", ")
        }
    )?;
    writeln!(out)?;

    // Verdicts.
    let rows = h.rows;
    writeln!(out, "## Verdict")?;
    writeln!(out)?;
    if rows.is_empty() {
        writeln!(
            out,
            "No SIP request in the capture was challenged for a password or carried one."
        )?;
        writeln!(out)?;
    }
    for (row, v) in rows.iter().zip(h.verdicts) {
        let who = if row.auth_user != row.user && row.auth_user != "-" {
            format!(
                "**{}** (authentication user {})",
                md(&row.user),
                code(&row.auth_user)
            )
        } else {
            format!("**{}**", md(&row.user))
        };
        write!(
            out,
            "- {who} (device {}, server {}) {}",
            md(&row.client),
            md(&row.server),
            verdict_for(row, v.method, v.worst.map(|w| w.severity))
        )?;
        match v.worst.filter(|w| w.severity >= Severity::Warning) {
            Some(w) => {
                writeln!(out, ": {}", md(&sentence(w.message)))?;
                writeln!(out, "  **What to change:** {}", md(&sentence(w.fix)))?;
            }
            None => writeln!(out, ".")?,
        }
    }
    if !rows.is_empty() {
        writeln!(out)?;
        writeln!(
            out,
            "| user | auth user | realm | client | server | exchanges | attempts | succeeded | failed | last | root cause |"
        )?;
        writeln!(out, "|---|---|---|---|---|---:|---:|---:|---:|---|---|")?;
        for row in rows {
            writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                code(&row.user),
                code(&row.auth_user),
                code(&row.realm),
                md(&row.client),
                md(&row.server),
                row.exchanges,
                row.attempts,
                row.successes,
                row.failures,
                row.last_outcome.as_str(),
                row.root_cause
                    .as_ref()
                    .map(|c| format!("`{}` {}", c.rule, md(c.phrase)))
                    .unwrap_or("-".into())
            )?;
        }
        writeln!(out)?;
    }

    writeln!(out, "## Findings")?;
    writeln!(out)?;
    if h.findings == 0 {
        writeln!(out, "None.")?;
        writeln!(out)?;
    }
    Ok(())
}

/// The heading of an exchange's findings; `title` is its
/// [`exchange_title`].
pub(crate) fn write_section_heading(title: &str, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "### {title}")?;
    writeln!(out)
}

/// The findings about no single exchange, if any.
pub(crate) fn write_loose(loose: &[&Finding], out: &mut dyn Write) -> io::Result<()> {
    if !loose.is_empty() {
        writeln!(out, "### Across exchanges")?;
        writeln!(out)?;
        for f in loose {
            write_finding(f, out)?;
        }
    }
    Ok(())
}

/// The heading of the ladders, when `failing` exchanges have one.
pub(crate) fn write_ladders_intro(failing: usize, out: &mut dyn Write) -> io::Result<()> {
    if failing > 0 {
        writeln!(out, "## Message flow of the failing exchanges")?;
        writeln!(out)?;
        writeln!(
            out,
            "Arrows are SIP messages (time, capture frame). Under each arrow: the authentication header and its parameters; `(!)` marks the parameter a finding is about."
        )?;
        writeln!(out)?;
    }
    Ok(())
}

/// One failing exchange's ladder.
pub(crate) fn write_ladder(l: &Ladder, out: &mut dyn Write) -> io::Result<()> {
    let style = AsciiStyle {
        mark_on: "",
        mark_off: "",
    };
    writeln!(out, "### Exchange #{}", l.exchange)?;
    writeln!(out)?;
    write!(out, "{}", fenced("text", &ladder::ascii(l, 100, &style)))?;
    writeln!(out)
}

/// Names the failing exchanges beyond [`MAX_LADDERS`].
pub(crate) fn write_ladders_tail(failing: usize, out: &mut dyn Write) -> io::Result<()> {
    if failing > MAX_LADDERS {
        writeln!(
            out,
            "{} more failing exchanges are not drawn; narrow the report with --user, --ip or --call-id.",
            failing - MAX_LADDERS
        )?;
        writeln!(out)?;
    }
    Ok(())
}

pub(crate) fn write_finding(f: &Finding, out: &mut dyn Write) -> io::Result<()> {
    writeln!(
        out,
        "- **{}** `{}`: {}",
        f.severity.as_str(),
        f.rule,
        md(&first_upper(&sentence(&f.message)))
    )?;
    for (k, v) in &f.evidence.0 {
        writeln!(out, "  - {}: {}", md(k), code(v))?;
    }
    if !f.frames.is_empty() {
        let fr: Vec<String> = f.frames.iter().map(u64::to_string).collect();
        writeln!(out, "  - frames: {}", fr.join(", "))?;
    }
    writeln!(out, "  - **Fix:** {}", md(&f.fix))?;
    writeln!(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markdown_and_controls() {
        assert_eq!(md("a*b_[c]|\x1b"), "a\\*b\\_\\[c\\]\\|\\\\x1b");
        assert_eq!(code("x`y"), "``x`y``");
        assert_eq!(code("`x"), "`` `x ``");
        assert_eq!(code("a|b"), "`a\\|b`");
    }

    #[test]
    fn fence_outgrows_backticks_in_the_body() {
        let f = fenced("text", &["```".into(), "ok".into()]);
        assert!(f.starts_with("````text\n"));
        assert!(f.ends_with("\n````\n"));
    }
}
