//! The HTML report: one self-contained file (inline CSS and SVG, no
//! scripts, no external assets) that opens offline and can be attached to
//! a ticket. Every capture-derived string is HTML-escaped after control
//! characters were made visible.

use super::ladder::{self, Ladder, StepKind};
use super::sanitize::term;
use super::{endpoint, verdict_for, KeptHead, Report, TicketHead, MAX_LADDERS};
use crate::correlate::{AuthExchange, Outcome};
use crate::rules::{Finding, Severity};
use std::fmt::Write as _;
use std::io::{self, Write};

/// Escapes text for HTML element content and attribute values.
pub fn esc(s: &str) -> String {
    let s = term(s);
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const CSS: &str = "
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1d2430;margin:0;background:#f5f6f8}
main{max-width:1100px;margin:0 auto;padding:24px 28px;background:#fff}
h1{font-size:24px;margin:0 0 6px}h2{font-size:19px;margin:30px 0 10px;border-bottom:2px solid #e3e6eb;padding-bottom:4px}
h3{font-size:15px;margin:22px 0 8px}
.meta{color:#5b6472;margin:2px 0}
table{border-collapse:collapse;margin:8px 0;width:100%}th,td{border:1px solid #dde1e7;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#eef1f5;font-weight:600}td.n{text-align:right}
code,.mono{font-family:ui-monospace,'DejaVu Sans Mono',Menlo,Consolas,monospace;font-size:12.5px}
code{background:#f1f3f6;padding:0 3px;border-radius:3px;word-break:break-all}
.sev{display:inline-block;min-width:62px;text-align:center;border-radius:4px;color:#fff;font-weight:600;font-size:12px;padding:1px 6px}
.critical{background:#7b1fa2}.error{background:#c62828}.warning{background:#e65100}.info{background:#1565c0}
.succeeded{color:#2e7d32;font-weight:600}.failed{color:#c62828;font-weight:600}.unanswered{color:#e65100;font-weight:600}.incomplete{color:#6b7280}
.verdict{list-style:none;padding:0}.verdict li{border-left:6px solid #2e7d32;background:#f6faf6;padding:8px 12px;margin:8px 0}
.verdict li.bad{border-color:#c62828;background:#fdf4f4}.verdict li.warn{border-color:#e65100;background:#fff8f1}
.finding{border:1px solid #e3e6eb;border-left:6px solid #999;border-radius:4px;padding:8px 12px;margin:10px 0}
.finding.critical-b{border-left-color:#7b1fa2}.finding.error-b{border-left-color:#c62828}.finding.warning-b{border-left-color:#e65100}.finding.info-b{border-left-color:#1565c0}
.finding table{width:auto}.fix{background:#f3f7fc;padding:6px 10px;border-radius:4px}
svg{background:#fcfcfd;border:1px solid #e3e6eb;border-radius:4px;max-width:100%;height:auto}
";

fn outcome_span(o: Outcome) -> String {
    format!("<span class=\"{0}\">{0}</span>", o.as_str())
}

fn sev_badge(s: Severity) -> String {
    format!("<span class=\"sev {0}\">{0}</span>", s.as_str())
}

/// Writes a report in memory. A streamed report
/// ([`super::ticket::TicketStream`]) writes the same pieces.
pub fn write(r: &Report, out: &mut dyn Write) -> io::Result<()> {
    let mut h = String::with_capacity(64 * 1024);
    render(r, &mut h);
    out.write_all(h.as_bytes())
}

fn render(r: &Report, h: &mut String) {
    let a = &r.analysis;
    let k = KeptHead::of(r);
    let verdicts = k.verdicts();
    head(&TicketHead::kept(r, &k, &verdicts), h);
    let lookup = &k.lookup;
    for ex in &a.exchanges {
        let fs = lookup.findings_of(ex.id);
        if fs.is_empty() {
            continue;
        }
        section_heading(ex.id, &exchange_title(ex), h);
        for f in fs {
            finding(f, h);
        }
    }
    let loose: Vec<&Finding> = a.findings.iter().filter(|f| f.exchange.is_none()).collect();
    loose_findings(&loose, h);
    let failing: Vec<&AuthExchange> = a
        .exchanges
        .iter()
        .filter(|e| lookup.is_failing(e))
        .collect();
    ladders_intro(failing.len(), h);
    for ex in failing.iter().take(MAX_LADDERS) {
        ladder(&exchange_title(ex), &ladder::build(ex, &a.findings), h);
    }
    ladders_tail(failing.len(), h);
    foot(h);
}

/// The head of the report: inputs, the verdict per account, the summary
/// and accounts tables, and the heading of the findings.
pub(crate) fn head(t: &TicketHead, h: &mut String) {
    let s = t.summary;
    h.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    h.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    h.push_str("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\n");
    h.push_str("<title>SIP authentication report</title>\n<style>");
    h.push_str(CSS);
    h.push_str("</style>\n</head>\n<body>\n<main>\n<h1>SIP authentication report</h1>\n");
    let _ = writeln!(
        h,
        "<p class=\"meta\">Made by {} {} from packet captures of the SIP signalling.</p>",
        env!("CARGO_PKG_NAME"),
        env!("CARGO_PKG_VERSION")
    );
    for i in t.inputs {
        let _ = writeln!(
            h,
            "<p class=\"meta\">Capture <code>{}</code> ({}), {} packets, {} SIP messages</p>",
            esc(&i.name),
            i.format,
            i.packets,
            i.sip_messages
        );
        for w in &i.warnings {
            let _ = writeln!(h, "<p class=\"meta\">&#9888; {}</p>", esc(w));
        }
    }
    if let Some(sc) = t.scope {
        let _ = writeln!(
            h,
            "<p class=\"meta\"><b>Filter:</b> {}; showing {} of {} exchanges and {} of {} findings.</p>",
            esc(&sc.filter),
            sc.exchanges_shown,
            sc.exchanges_total,
            sc.findings_shown,
            sc.findings_total
        );
    }
    if t.redaction != super::redact::Level::None {
        let _ = writeln!(
            h,
            "<p class=\"meta\">{}</p>",
            esc(super::redact::notice(t.redaction))
        );
    }

    // Verdicts.
    let rows = t.rows;
    h.push_str("<h2>Verdict</h2>\n");
    if rows.is_empty() {
        h.push_str(
            "<p>No SIP request in the capture was challenged for a password or carried one.</p>\n",
        );
    } else {
        h.push_str("<ul class=\"verdict\">\n");
        for (row, v) in rows.iter().zip(t.verdicts) {
            let worst = v.worst;
            let class = match worst.map(|w| w.severity) {
                Some(Severity::Critical | Severity::Error) => "bad",
                Some(Severity::Warning) => "warn",
                _ if row.failures > 0 => "bad",
                _ => "ok",
            };
            let who = if row.auth_user != row.user && row.auth_user != "-" {
                format!(
                    "<b>{}</b> (authentication user <code>{}</code>)",
                    esc(&row.user),
                    esc(&row.auth_user)
                )
            } else {
                format!("<b>{}</b>", esc(&row.user))
            };
            let _ = write!(
                h,
                "<li class=\"{class}\">{who} (device {}, server {}) <b>{}</b>",
                esc(&row.client),
                esc(&row.server),
                esc(&verdict_for(row, v.method, worst.map(|w| w.severity)))
            );
            match worst.filter(|w| w.severity >= Severity::Warning) {
                Some(w) => {
                    let _ = write!(
                        h,
                        ": {}<br><b>What to change:</b> {}",
                        esc(w.message),
                        esc(w.fix)
                    );
                }
                None => h.push('.'),
            }
            h.push_str("</li>\n");
        }
        h.push_str("</ul>\n");
    }
    // Summary tables.
    h.push_str("<h2>Summary</h2>\n<table><tr><th>exchanges</th>");
    for k in s.by_outcome.keys() {
        let _ = write!(h, "<th>{k}</th>");
    }
    for sv in [
        Severity::Critical,
        Severity::Error,
        Severity::Warning,
        Severity::Info,
    ] {
        let _ = write!(h, "<th>{}</th>", sev_badge(sv));
    }
    let _ = write!(h, "</tr>\n<tr><td class=\"n\">{}</td>", t.exchanges);
    for v in s.by_outcome.values() {
        let _ = write!(h, "<td class=\"n\">{v}</td>");
    }
    for sv in [
        Severity::Critical,
        Severity::Error,
        Severity::Warning,
        Severity::Info,
    ] {
        let _ = write!(
            h,
            "<td class=\"n\">{}</td>",
            s.by_severity.get(sv.as_str()).copied().unwrap_or(0)
        );
    }
    h.push_str("</tr></table>\n");
    if !s.by_rule.is_empty() {
        h.push_str("<table><tr><th>rule</th><th>findings</th></tr>\n");
        for (rule, n) in &s.by_rule {
            let _ = writeln!(
                h,
                "<tr><td><code>{}</code></td><td class=\"n\">{n}</td></tr>",
                esc(rule)
            );
        }
        h.push_str("</table>\n");
    }
    if !rows.is_empty() {
        h.push_str("<h2>Accounts</h2>\n<table><tr><th>user</th><th>auth user</th><th>realm</th><th>client</th><th>server</th><th>exchanges</th><th>attempts</th><th>succeeded</th><th>failed</th><th>last</th><th>root cause</th></tr>\n");
        for row in rows {
            let _ = writeln!(
                h,
                "<tr><td><code>{}</code></td><td><code>{}</code></td><td><code>{}</code></td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td><td>{}</td></tr>",
                esc(&row.user),
                esc(&row.auth_user),
                esc(&row.realm),
                esc(&row.client),
                esc(&row.server),
                row.exchanges,
                row.attempts,
                row.successes,
                row.failures,
                outcome_span(row.last_outcome),
                row.root_cause
                    .as_ref()
                    .map(|c| format!("<code>{}</code> {}", esc(c.rule), esc(c.phrase)))
                    .unwrap_or("-".into())
            );
        }
        h.push_str("</table>\n");
    }

    h.push_str("<h2>Findings</h2>\n");
    if t.findings == 0 {
        h.push_str("<p>None.</p>\n");
    }
}

/// The heading of an exchange's findings; `title` is its
/// [`exchange_title`].
pub(crate) fn section_heading(id: usize, title: &str, h: &mut String) {
    let _ = writeln!(h, "<h3 id=\"ex{id}\">{title}</h3>");
}

/// The findings about no single exchange, if any.
pub(crate) fn loose_findings(loose: &[&Finding], h: &mut String) {
    if !loose.is_empty() {
        h.push_str("<h3>Across exchanges</h3>\n");
        for f in loose {
            finding(f, h);
        }
    }
}

/// The heading of the ladders, when `failing` exchanges have one.
pub(crate) fn ladders_intro(failing: usize, h: &mut String) {
    if failing > 0 {
        h.push_str("<h2>Message flow of the failing exchanges</h2>\n<p>Arrows are SIP messages with their time and capture frame. Beside each arrow: the authentication header and the parameters that matter; the parameter a finding is about is marked in red.</p>\n");
    }
}

/// One failing exchange's ladder under its [`exchange_title`].
pub(crate) fn ladder(title: &str, l: &Ladder, h: &mut String) {
    let _ = writeln!(h, "<h3>{title}</h3>");
    svg(l, h);
}

/// Names the failing exchanges beyond [`MAX_LADDERS`].
pub(crate) fn ladders_tail(failing: usize, h: &mut String) {
    if failing > MAX_LADDERS {
        let _ = writeln!(
            h,
            "<p>{} more failing exchanges are not drawn; narrow the report with --user, --ip or --call-id.</p>",
            failing - MAX_LADDERS
        );
    }
}

/// The end of the document.
pub(crate) fn foot(h: &mut String) {
    h.push_str("</main>\n</body>\n</html>\n");
}

pub(crate) fn exchange_title(ex: &AuthExchange) -> String {
    format!(
        "Exchange #{}: {} from <b>{}</b> ({}) to {}, {}{}",
        ex.id,
        esc(&ex.method),
        esc(&ex.user().unwrap_or_else(|| "?".into())),
        esc(&endpoint(ex.client)),
        esc(&endpoint(ex.server)),
        outcome_span(ex.outcome),
        ex.failure
            .as_deref()
            .map(|f| format!(" ({})", esc(f)))
            .unwrap_or_default()
    )
}

pub(crate) fn finding(f: &Finding, h: &mut String) {
    let _ = writeln!(
        h,
        "<div class=\"finding {}-b\"><p>{} <code>{}</code> {}</p>",
        f.severity.as_str(),
        sev_badge(f.severity),
        esc(f.rule),
        esc(&f.message)
    );
    if !f.evidence.0.is_empty() || !f.frames.is_empty() {
        h.push_str("<table>");
        for (k, v) in &f.evidence.0 {
            let _ = write!(
                h,
                "<tr><th>{}</th><td><code>{}</code></td></tr>",
                esc(k),
                esc(v)
            );
        }
        if !f.frames.is_empty() {
            let fr: Vec<String> = f.frames.iter().map(u64::to_string).collect();
            let _ = write!(h, "<tr><th>frames</th><td>{}</td></tr>", fr.join(", "));
        }
        h.push_str("</table>\n");
    }
    let _ = writeln!(h, "<p class=\"fix\"><b>Fix:</b> {}</p></div>", esc(&f.fix));
}

/// Monospace character width at the SVG's font size, for layout.
const CHAR_W: f64 = 7.25;
const LINE_H: usize = 16;

/// Draws a ladder: hosts as columns, one arrow per message, the label
/// above it, time and frame on the left, parameters below it.
fn svg(l: &Ladder, h: &mut String) {
    let width = 1040usize;
    let left = 250usize;
    let n = l.hosts.len().max(2);
    let lane = (width - left - 150) / (n - 1);
    let col = |i: usize| left + i * lane;
    let room_chars = ((lane as f64 - 30.0) / CHAR_W) as usize;
    // Layout first: each step's height depends on its wrapped parameters.
    let mut rows: Vec<Vec<Vec<(String, bool)>>> = Vec::new();
    for s in &l.steps {
        let mut lines: Vec<Vec<(String, bool)>> = Vec::new();
        let mut used = 0usize;
        let mut items: Vec<(String, bool)> = Vec::new();
        if let Some(hd) = s.header {
            items.push((format!("{hd}:"), false));
        }
        for p in &s.params {
            items.push((ladder::shorten(&term(&p.text()), room_chars), p.highlight));
        }
        for (t, hl) in items {
            let len = t.chars().count() + 2;
            if lines.is_empty() || used + len > room_chars {
                lines.push(Vec::new());
                used = 0;
            }
            used += len;
            if let Some(last) = lines.last_mut() {
                last.push((t, hl));
            }
        }
        rows.push(lines);
    }
    let top = 62usize;
    let heights: Vec<usize> = rows.iter().map(|r| 34 + r.len() * LINE_H + 8).collect();
    let total_h = top + heights.iter().sum::<usize>() + if l.omitted > 0 { 30 } else { 10 };
    let _ = writeln!(
        h,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{total_h}\" viewBox=\"0 0 {width} {total_h}\" role=\"img\" aria-label=\"message flow of exchange {}\" font-family=\"ui-monospace,'DejaVu Sans Mono',Menlo,Consolas,monospace\" font-size=\"12\">",
        l.exchange
    );
    let marker = format!("arr{}", l.exchange);
    let _ = writeln!(
        h,
        "<defs><marker id=\"{marker}\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"8\" markerHeight=\"8\" orient=\"auto-start-reverse\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#33475b\"/></marker></defs>"
    );
    for (i, host) in l.hosts.iter().enumerate() {
        let x = col(i);
        let label = ladder::shorten(&term(host), 36);
        let w = (label.chars().count() as f64 * CHAR_W + 20.0).max(90.0);
        let _ = writeln!(
            h,
            "<rect x=\"{:.1}\" y=\"8\" width=\"{w:.1}\" height=\"26\" rx=\"4\" fill=\"#33475b\"/><text x=\"{x}\" y=\"25\" text-anchor=\"middle\" fill=\"#fff\" font-weight=\"bold\">{}</text>",
            x as f64 - w / 2.0,
            esc(&label)
        );
        let _ = writeln!(
            h,
            "<line x1=\"{x}\" y1=\"34\" x2=\"{x}\" y2=\"{}\" stroke=\"#9aa5b1\" stroke-dasharray=\"4 3\"/>",
            total_h - 6
        );
    }
    let _ = writeln!(
        h,
        "<text x=\"10\" y=\"52\" fill=\"#5b6472\">time (UTC)  frame</text>"
    );
    let mut y = top;
    for ((s, lines), height) in l.steps.iter().zip(&rows).zip(&heights) {
        let ay = y + 20;
        let (x1, x2) = (col(s.from.min(n - 1)), col(s.to.min(n - 1)));
        let color = match s.kind {
            StepKind::Request => "#33475b",
            StepKind::Provisional => "#9aa5b1",
            StepKind::Response if s.header.is_some() => "#b45309",
            StepKind::Response => "#33475b",
        };
        let dash = if s.kind == StepKind::Provisional {
            " stroke-dasharray=\"5 3\""
        } else {
            ""
        };
        let _ = writeln!(
            h,
            "<line x1=\"{x1}\" y1=\"{ay}\" x2=\"{x2}\" y2=\"{ay}\" stroke=\"{color}\" stroke-width=\"1.6\"{dash} marker-end=\"url(#{marker})\"/>"
        );
        let mut label = s.label.clone();
        if s.retransmissions > 0 {
            label.push_str(&format!(" (sent {} times)", s.retransmissions + 1));
        }
        let _ = writeln!(
            h,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-weight=\"bold\" fill=\"{color}\">{}</text>",
            (x1 + x2) / 2,
            ay - 6,
            esc(&ladder::shorten(&label, room_chars))
        );
        let _ = writeln!(
            h,
            "<text x=\"10\" y=\"{}\" fill=\"#5b6472\">{} #{}</text>",
            ay + 4,
            s.clock().trim(),
            s.frame
        );
        let px = x1.min(x2) + 14;
        for (k, line) in lines.iter().enumerate() {
            let ly = ay + 18 + k * LINE_H;
            let mut cx = px as f64;
            for (t, hl) in line {
                let w = t.chars().count() as f64 * CHAR_W;
                if *hl {
                    let _ = write!(
                        h,
                        "<rect x=\"{:.1}\" y=\"{}\" width=\"{:.1}\" height=\"15\" rx=\"2\" fill=\"#fde2e2\" stroke=\"#c62828\"/>",
                        cx - 2.0,
                        ly - 11,
                        w + 4.0
                    );
                    let _ = writeln!(
                        h,
                        "<text x=\"{cx:.1}\" y=\"{ly}\" fill=\"#b71c1c\" font-weight=\"bold\" class=\"hl\">{}</text>",
                        esc(t)
                    );
                } else {
                    let _ = writeln!(
                        h,
                        "<text x=\"{cx:.1}\" y=\"{ly}\" fill=\"#374151\">{}</text>",
                        esc(t)
                    );
                }
                cx += w + 2.0 * CHAR_W;
            }
        }
        y += height;
    }
    if l.omitted > 0 {
        let _ = writeln!(
            h,
            "<text x=\"10\" y=\"{}\" fill=\"#5b6472\">... {} more messages not drawn</text>",
            y + 14,
            l.omitted
        );
    }
    h.push_str("</svg>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_controls() {
        assert_eq!(
            esc("<script>\"x\"&'y'\x1b"),
            "&lt;script&gt;&quot;x&quot;&amp;&#39;y&#39;\\x1b"
        );
    }
}
