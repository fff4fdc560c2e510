//! The terminal view, for a person who wants the answer in seconds: the
//! inputs, a one-line verdict, a diagnosis per account in plain words with
//! what to change, the accounts table, then the findings grouped by rule
//! (each rule once, with its count, one representative piece of evidence
//! and the fix once). Large captures stay short: the busiest accounts and
//! sources, the worst exchanges, and how to see the rest. `--details`
//! lists every finding of every exchange instead (`details`).
//! Every capture-derived string goes through [`term`]; colours only when
//! asked for.

mod details;
mod stream;
pub use details::Spool as DetailsSpool;

pub use stream::TextStream;

use super::filter::Scope;
use super::ladder::{self, AsciiStyle};
use super::redact::Level;
use super::sanitize::term;
use super::{accounts, cause_rank, endpoint, summary, verdict_words, AccountRow, Report};
use crate::analysis::{Analysis, InputSummary};
use crate::correlate::{AuthExchange, Outcome};
use crate::rules::{Finding, Severity};
use comfy_table::{presets, ColumnConstraint, ContentArrangement, Table, Width};
use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{self, Write};

pub struct TextOptions {
    pub color: bool,
    /// The terminal's width; the view uses at most [`MAX_WIDTH`] of it.
    pub width: u16,
    /// Draw an ASCII ladder of every exchange shown.
    pub ladder: bool,
    /// List every finding of every exchange instead of one entry per rule.
    pub details: bool,
}

/// Lines are kept to this many columns even on wider terminals: prose
/// longer than that reads badly.
pub const MAX_WIDTH: u16 = 100;
/// Rows of the accounts table (busiest first); `--details` shows all.
pub const MAX_ACCOUNTS: usize = 20;
/// Rows of the sources table, shown when the accounts table is cut.
pub const MAX_SOURCES: usize = 20;
/// Diagnosis entries; the rest are counted by cause.
pub const MAX_DIAGNOSES: usize = 10;
/// Exchanges listed one line each under "Worst exchanges".
pub const MAX_WORST: usize = 5;
/// Inputs listed one by one; the rest are counted.
pub const MAX_INPUTS: usize = 10;
/// Input warnings listed per input; JSON has them all.
pub const MAX_WARNINGS: usize = 3;
/// Rules shown with evidence and fix; the rest get one line each.
pub const MAX_RULES_IN_FULL: usize = 10;
/// Accounts named per rule.
const MAX_ACCOUNTS_PER_RULE: usize = 5;
/// Exchange ranges (`#1-#4`) listed per rule.
const MAX_RANGES: usize = 12;
/// Other values listed beside a piece of evidence, and their longest
/// length (longer ones are only counted).
const MAX_ALSO: usize = 2;
const MAX_ALSO_CHARS: usize = 40;
/// Above this many exchanges the view adds the sources and the worst
/// exchanges, which a small capture does not need.
const BIG: usize = 20;

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
    frame_list(&f[..f.len().min(MAX_FRAMES_SHOWN)], f.len())
}

/// The first frames of a list of `total`, and how many more there are.
fn frame_list(shown: &[u64], total: usize) -> String {
    let v: Vec<String> = shown.iter().map(u64::to_string).collect();
    if total > shown.len() {
        format!("{} ... ({} more)", v.join(","), total - shown.len())
    } else {
        v.join(",")
    }
}

/// Word-wraps `text` to `width` columns: the first line after `first`, the
/// others after `indent`. Words longer than a line are cut.
fn wrap(text: &str, width: usize, first: &str, indent: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = first.to_string();
    let mut used = first.chars().count();
    let mut empty = true;
    for word in text.split_whitespace() {
        let mut word: Vec<char> = word.chars().collect();
        loop {
            let room = width.saturating_sub(used + usize::from(!empty));
            if word.len() <= room {
                if !empty {
                    line.push(' ');
                    used += 1;
                }
                line.extend(word.iter());
                used += word.len();
                empty = false;
                break;
            }
            let fresh = width.saturating_sub(indent.chars().count()).max(10);
            if empty && word.len() > room {
                // Too long for any line: cut it.
                let cut = room.max(1).min(word.len());
                line.extend(word[..cut].iter());
                word.drain(..cut);
                if word.is_empty() {
                    empty = false;
                    break;
                }
            } else if !empty && word.len() > fresh {
                // Too long for a fresh line too: fill this one first.
                let cut = room.saturating_sub(1);
                if cut > 0 {
                    line.push(' ');
                    line.extend(word[..cut].iter());
                    word.drain(..cut);
                }
            }
            lines.push(std::mem::replace(&mut line, indent.to_string()));
            used = indent.chars().count();
            empty = true;
        }
    }
    if !empty || lines.is_empty() {
        lines.push(line);
    }
    lines
}

fn write_wrapped(
    out: &mut dyn Write,
    text: &str,
    width: usize,
    first: &str,
    indent: &str,
) -> io::Result<()> {
    for l in wrap(text, width, first, indent) {
        writeln!(out, "{}", l.trim_end())?;
    }
    Ok(())
}

/// At most `n` characters of `s`, with "..." when cut.
fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut c: String = s.chars().take(n.saturating_sub(3)).collect();
        c.push_str("...");
        c
    }
}

/// Exchange numbers as ranges, `#1-#4, #7`, at most [`MAX_RANGES`] of
/// them.
fn ranges(ids: &[usize]) -> String {
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    sorted_ranges(ids)
}

/// [`ranges`] of ids already ascending and distinct; all ranges are
/// counted, only the first [`MAX_RANGES`] are written out.
fn sorted_ranges(ids: impl IntoIterator<Item = usize>) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut total = 0;
    let mut flush = |run: (usize, usize), parts: &mut Vec<String>| {
        total += 1;
        if parts.len() < MAX_RANGES {
            parts.push(if run.1 > run.0 {
                format!("#{}-#{}", run.0, run.1)
            } else {
                format!("#{}", run.0)
            });
        }
    };
    let mut run: Option<(usize, usize)> = None;
    for id in ids {
        run = match run {
            Some((start, end)) if end.checked_add(1) == Some(id) => Some((start, id)),
            Some(done) => {
                flush(done, &mut parts);
                Some((id, id))
            }
            None => Some((id, id)),
        };
    }
    if let Some(done) = run {
        flush(done, &mut parts);
    }
    if total > MAX_RANGES {
        format!(
            "{} and {} more ranges",
            parts.join(", "),
            total - MAX_RANGES
        )
    } else {
        parts.join(", ")
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn who(row: &AccountRow) -> String {
    if row.auth_user == row.user || row.auth_user == "-" {
        term(&row.user).into_owned()
    } else {
        format!("{} ({})", term(&row.user), term(&row.auth_user))
    }
}

/// Whether an account has something to diagnose.
fn has_problem(row: &AccountRow) -> bool {
    row.root_cause.is_some() || row.failures > 0
}

/// What the report knows about each account, computed once.
struct AccountView<'a> {
    row: &'a AccountRow,
    verdict: String,
    /// The finding that best explains the account (its root cause).
    cause: Option<Cause<'a>>,
}

/// What the diagnosis prints of the finding behind an account's root
/// cause.
#[derive(Clone, Copy)]
struct Cause<'a> {
    rule: &'static str,
    message: &'a str,
    fix: &'a str,
}

impl<'a> Cause<'a> {
    fn of(f: &'a Finding) -> Cause<'a> {
        Cause {
            rule: f.rule,
            message: &f.message,
            fix: &f.fix,
        }
    }
}

/// The finding of `rule` about one of the account's exchanges, else a
/// capture-wide one naming one of them among its related exchanges (as
/// [`super::AccountBook`] counted it for the account).
fn cause_finding<'a>(
    wide: &[&'a Finding],
    row: &AccountRow,
    rule: &str,
    by_exchange: &HashMap<usize, Vec<&'a Finding>>,
) -> Option<&'a Finding> {
    let own = row
        .exchange_ids
        .iter()
        .flat_map(|id| by_exchange.get(id).into_iter().flatten())
        .find(|f| f.rule == rule)
        .copied();
    own.or_else(|| {
        wide.iter().copied().find(|f| {
            f.rule == rule
                && f.related_exchanges
                    .iter()
                    .any(|e| row.exchange_ids.binary_search(e).is_ok())
        })
    })
}

/// Findings by the exchange they are about, in report order.
fn findings_by_exchange(a: &Analysis) -> HashMap<usize, Vec<&Finding>> {
    let mut by_exchange: HashMap<usize, Vec<&Finding>> = HashMap::new();
    for f in &a.findings {
        if let Some(e) = f.exchange {
            by_exchange.entry(e).or_default().push(f);
        }
    }
    by_exchange
}

fn account_views<'a>(
    a: &'a Analysis,
    rows: &'a [AccountRow],
    by_exchange: &HashMap<usize, Vec<&'a Finding>>,
) -> Vec<AccountView<'a>> {
    let lookup = super::Lookup::new(a);
    // Findings about no single exchange, in report order: the fallback
    // cause of an account, looked for once per account.
    let wide: Vec<&Finding> = a.findings.iter().filter(|f| f.exchange.is_none()).collect();
    rows.iter()
        .map(|row| {
            let worst = lookup.worst_finding(&row.exchange_ids);
            let method = lookup.account_method(row, worst);
            let cause = row
                .root_cause
                .as_ref()
                .and_then(|c| cause_finding(&wide, row, c.rule, by_exchange));
            AccountView {
                row,
                verdict: verdict_words(row, method, worst),
                cause: cause.map(Cause::of),
            }
        })
        .collect()
}

/// Writes the report of an analysis in memory: the view of `write_view`,
/// or with `--details` every finding of every exchange, and the ladders.
pub fn write(r: &Report, o: &TextOptions, out: &mut dyn Write) -> io::Result<()> {
    let a = &r.analysis;
    let p = Paint { on: o.color };
    let w = usize::from(o.width.clamp(40, MAX_WIDTH));

    write_inputs(&a.inputs, r.scope.as_ref(), r.redaction, &p, w, out)?;
    let rows = accounts(&a.exchanges, &a.findings);
    let by_exchange = findings_by_exchange(a);
    let views = account_views(a, &rows, &by_exchange);
    let view = View {
        tally: Tally::of(a),
        rows: &rows,
        views,
    };
    if o.details {
        write_overview(&view, o, &p, &mut HashSet::new(), out)?;
        details::write(a, &p, out)?;
    } else {
        let digests = rule_digests(a, &rows);
        write_view(
            &view,
            o,
            &p,
            &digests,
            || worst_exchanges(a, &by_exchange),
            out,
        )?;
    }
    if o.ladder {
        write_ladders(a, o, &p, w, out)?;
    }
    Ok(())
}

/// What the sections after the inputs are drawn from, whether the
/// analysis was kept or streamed.
struct View<'a> {
    tally: Tally,
    rows: &'a [AccountRow],
    views: Vec<AccountView<'a>>,
}

/// The counts the verdict prints.
struct Tally {
    exchanges: usize,
    by_outcome: BTreeMap<&'static str, usize>,
    by_severity: BTreeMap<&'static str, usize>,
    /// Rules with at least one finding.
    rules: usize,
    worst: Option<Severity>,
}

impl Tally {
    fn of(a: &Analysis) -> Tally {
        let s = summary(a);
        Tally {
            exchanges: a.exchanges.len(),
            by_outcome: s.by_outcome,
            by_severity: s.by_severity,
            rules: s.by_rule.len(),
            worst: a.findings.iter().map(|f| f.severity).max(),
        }
    }
}

/// Verdict, diagnosis, accounts and, on large captures, sources; returns
/// whether the capture is large (the worst exchanges are then listed).
fn write_overview<'a>(
    v: &'a View<'a>,
    o: &TextOptions,
    p: &Paint,
    fixes_shown: &mut HashSet<&'a str>,
    out: &mut dyn Write,
) -> io::Result<bool> {
    let width = o.width.clamp(40, MAX_WIDTH);
    let w = usize::from(width);
    write_verdict(&v.tally, &v.views, p, w, out)?;
    write_diagnosis(&v.views, p, w, fixes_shown, out)?;
    let cut = write_accounts(&v.views, p, width, o.details, out)?;
    let big = v.tally.exchanges > BIG || cut;
    if big && !o.details {
        write_sources(v.rows, width, p, out)?;
    }
    Ok(big)
}

/// The view without `--details`: the overview, the findings by rule, the
/// worst exchanges of a large capture (asked for only then) and where to
/// look next.
fn write_view<'a>(
    v: &'a View<'a>,
    o: &TextOptions,
    p: &Paint,
    rules: &[RuleDigest<'a>],
    worst: impl FnOnce() -> WorstExchanges,
    out: &mut dyn Write,
) -> io::Result<()> {
    let w = usize::from(o.width.clamp(40, MAX_WIDTH));
    let mut fixes_shown: HashSet<&str> = HashSet::new();
    let big = write_overview(v, o, p, &mut fixes_shown, out)?;
    write_rules(rules, v.rows.len(), p, w, &mut fixes_shown, out)?;
    if big {
        write_worst(&worst(), p, w, out)?;
    }
    if v.tally.exchanges > 0 {
        write_wrapped(
            out,
            "More: --details lists every finding of every exchange; --ladder draws the \
             messages; --format json has everything, for scripts; narrow the view with \
             --user, --ip, --call-id or --rule.",
            w,
            "",
            "      ",
        )?;
        writeln!(out)?;
    }
    Ok(())
}

fn ladder_style(color: bool) -> AsciiStyle {
    if color {
        AsciiStyle {
            mark_on: "\x1b[1;31m",
            mark_off: "\x1b[0m",
        }
    } else {
        AsciiStyle {
            mark_on: "",
            mark_off: "",
        }
    }
}

fn write_ladders(
    a: &Analysis,
    o: &TextOptions,
    p: &Paint,
    w: usize,
    out: &mut dyn Write,
) -> io::Result<()> {
    let style = ladder_style(o.color);
    for ex in &a.exchanges {
        let l = ladder::build(ex, &a.findings);
        write_ladder(ex, &l, p, w, &style, out)?;
    }
    Ok(())
}

/// One exchange's ladder with its title line.
fn write_ladder(
    ex: &AuthExchange,
    l: &ladder::Ladder,
    p: &Paint,
    w: usize,
    style: &AsciiStyle,
    out: &mut dyn Write,
) -> io::Result<()> {
    writeln!(
        out,
        "{} #{} {} {}  {}",
        p.bold("Ladder"),
        ex.id,
        term(&ex.method),
        term(&ex.user().unwrap_or_else(|| "?".into())),
        p.outcome(ex.outcome)
    )?;
    for line in ladder::ascii(l, w, style) {
        writeln!(out, "{line}")?;
    }
    writeln!(out)
}

fn write_inputs(
    inputs: &[InputSummary],
    scope: Option<&Scope>,
    redaction: Level,
    p: &Paint,
    w: usize,
    out: &mut dyn Write,
) -> io::Result<()> {
    for i in inputs.iter().take(MAX_INPUTS) {
        let line = format!(
            "{} ({}{}), {} packets, {} SIP messages",
            term(&i.name),
            i.format,
            if i.link_types.is_empty() {
                String::new()
            } else {
                format!(", {}", i.link_types.join("/"))
            },
            i.packets,
            i.sip_messages
        );
        for (n, l) in wrap(&line, w, "Input ", "      ").iter().enumerate() {
            if n == 0 {
                writeln!(out, "{}{}", p.bold("Input"), &l["Input".len()..])?;
            } else {
                writeln!(out, "{l}")?;
            }
        }
        for warning in i.warnings.iter().take(MAX_WARNINGS) {
            let line = term(warning);
            for (n, l) in wrap(&line, w, "  ! ", "    ").iter().enumerate() {
                if n == 0 {
                    writeln!(
                        out,
                        "  {}{}",
                        p.sev(Severity::Warning, "!"),
                        &l["  !".len()..]
                    )?;
                } else {
                    writeln!(out, "{l}")?;
                }
            }
        }
        if i.warnings.len() > MAX_WARNINGS {
            writeln!(
                out,
                "  {} ... {} more warnings (--format json lists them all)",
                p.sev(Severity::Warning, "!"),
                i.warnings.len() - MAX_WARNINGS
            )?;
        }
    }
    if inputs.len() > MAX_INPUTS {
        let rest = &inputs[MAX_INPUTS..];
        writeln!(
            out,
            "{} ... {}: {} packets, {} SIP messages, {}",
            p.bold("Input"),
            plural(rest.len(), "more input", "more inputs"),
            rest.iter().map(|i| i.packets).sum::<u64>(),
            rest.iter().map(|i| i.sip_messages).sum::<u64>(),
            plural(
                rest.iter().map(|i| i.warnings.len()).sum::<usize>(),
                "warning",
                "warnings"
            )
        )?;
    }
    if let Some(sc) = scope {
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
    if redaction != Level::None {
        writeln!(out, "{}", super::redact::notice(redaction))?;
    }
    writeln!(out)
}

fn write_verdict(
    t: &Tally,
    views: &[AccountView],
    p: &Paint,
    w: usize,
    out: &mut dyn Write,
) -> io::Result<()> {
    let outcomes: Vec<String> = t
        .by_outcome
        .iter()
        .map(|(k, v)| format!("{v} {k}"))
        .collect();
    let exchanges = format!(
        "{} ({})",
        plural(
            t.exchanges,
            "authentication exchange",
            "authentication exchanges"
        ),
        outcomes.join(", ")
    );
    let troubled = views.iter().filter(|v| has_problem(v.row)).count();
    let verdict = if t.exchanges == 0 {
        "no SIP request was challenged for a password or carried one.".to_string()
    } else if troubled == 0 {
        // Fine means the latest exchange was accepted; the rest simply
        // show no answer (capture cut, or requests never answered).
        let fine = views
            .iter()
            .filter(|v| v.row.last_outcome == crate::correlate::Outcome::Succeeded)
            .count();
        let unsettled = views.len() - fine;
        if unsettled == 0 {
            format!(
                "no authentication problem: {} fine; {exchanges}.",
                plural(fine, "account authenticates", "accounts authenticate")
            )
        } else if fine == 0 {
            format!(
                "no authentication problem found: {} without a final answer in the capture; {exchanges}.",
                plural(unsettled, "account", "accounts")
            )
        } else {
            format!(
                "no authentication problem found: {} fine, {} without a final answer in the capture; {exchanges}.",
                plural(fine, "account authenticates", "accounts authenticate"),
                plural(unsettled, "account", "accounts")
            )
        }
    } else {
        format!(
            "{troubled} of {} with authentication problems; {exchanges}.",
            plural(views.len(), "account", "accounts")
        )
    };
    let head = match t.worst {
        Some(sv) if troubled > 0 && sv >= Severity::Warning => p.sev(sv, "Verdict:"),
        _ => p.bold("Verdict:"),
    };
    // Wrap the words, then put the (maybe coloured) label in front.
    let lines = wrap(&verdict, w, "Verdict: ", "  ");
    for (i, l) in lines.iter().enumerate() {
        if i == 0 {
            writeln!(out, "{head}{}", &l["Verdict:".len()..])?;
        } else {
            writeln!(out, "{l}")?;
        }
    }
    let sev_line: Vec<String> = [
        Severity::Critical,
        Severity::Error,
        Severity::Warning,
        Severity::Info,
    ]
    .iter()
    .filter_map(|sv| {
        t.by_severity
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
        writeln!(
            out,
            "Findings: {} from {}",
            sev_line.join(", "),
            plural(t.rules, "rule", "rules")
        )?;
    }
    writeln!(out)
}

/// One diagnosis entry: accounts of one server with the same verdict and
/// the same cause (thousands of phones failing alike make one entry).
struct Diagnosis<'a> {
    views: Vec<&'a AccountView<'a>>,
}

fn write_diagnosis<'a>(
    views: &'a [AccountView<'a>],
    p: &Paint,
    w: usize,
    fixes_shown: &mut HashSet<&'a str>,
    out: &mut dyn Write,
) -> io::Result<()> {
    if views.is_empty() {
        return Ok(());
    }
    let mut entries: Vec<Diagnosis> = Vec::new();
    let mut index: HashMap<(&str, Option<&str>, &str), usize> = HashMap::new();
    let mut fine: Vec<(&str, Vec<&AccountView>)> = Vec::new();
    for v in views {
        if !has_problem(v.row) {
            match fine.iter_mut().find(|(verdict, _)| *verdict == v.verdict) {
                Some((_, list)) => list.push(v),
                None => fine.push((&v.verdict, vec![v])),
            }
            continue;
        }
        let key = (
            v.verdict.as_str(),
            v.row.root_cause.as_ref().map(|c| c.rule),
            v.row.server.as_str(),
        );
        match index.get(&key) {
            Some(&i) => entries[i].views.push(v),
            None => {
                index.insert(key, entries.len());
                entries.push(Diagnosis { views: vec![v] });
            }
        }
    }
    // Most severe cause first, then the accounts with most failures.
    let sev = |d: &Diagnosis| {
        d.views[0]
            .row
            .root_cause
            .as_ref()
            .map(|c| (Some(c.severity), std::cmp::Reverse(cause_rank(c.rule).0)))
    };
    let failures = |d: &Diagnosis| d.views.iter().map(|v| v.row.failures).sum::<usize>();
    entries.sort_by(|x, y| sev(y).cmp(&sev(x)).then(failures(y).cmp(&failures(x))));

    writeln!(out, "{}", p.bold("Diagnosis"))?;
    for d in entries.iter().take(MAX_DIAGNOSES) {
        let first = d.views[0];
        let names: Vec<String> = d.views.iter().take(4).map(|v| who(v.row)).collect();
        let mut names = names.join(", ");
        if d.views.len() > 4 {
            names.push_str(&format!(" and {} more", d.views.len() - 4));
        }
        let cause = match &first.row.root_cause {
            Some(c) => format!(" \u{2014} {} ({})", c.phrase, c.rule),
            None => String::new(),
        };
        let mut clients: Vec<&str> = Vec::new();
        let mut seen: HashSet<&str> = HashSet::new();
        for v in &d.views {
            if seen.insert(v.row.client.as_str()) {
                clients.push(&v.row.client);
            }
        }
        let from = if clients.len() <= 3 {
            clients
                .iter()
                .map(|c| term(c))
                .collect::<Vec<_>>()
                .join(", ")
        } else {
            plural(clients.len(), "client", "clients")
        };
        let line = format!(
            "{names} @ {from} -> {}: {}{cause}.",
            term(&first.row.server),
            first.verdict
        );
        let sev = first
            .row
            .root_cause
            .as_ref()
            .map(|c| c.severity)
            .unwrap_or(Severity::Warning);
        let lines = wrap(&line, w, "  * ", "    ");
        for (i, l) in lines.iter().enumerate() {
            if i == 0 {
                writeln!(out, "  {} {}", p.sev(sev, "*"), &l[4..])?;
            } else {
                writeln!(out, "{l}")?;
            }
        }
        if let Some(f) = first.cause {
            write_wrapped(out, &sentence(&term(f.message)), w, "    ", "    ")?;
            if fixes_shown.insert(f.fix) {
                let fix = format!("Fix: {}", term(f.fix));
                write_wrapped(out, &fix, w, "    ", "         ")?;
            } else {
                writeln!(out, "    Fix: as above ({}).", f.rule)?;
            }
        } else if first.row.root_cause.is_none() {
            // Failures no rule explains: point at the messages.
            write_wrapped(
                out,
                &format!(
                    "No rule names a cause; --user {} --ladder shows the messages.",
                    term(&first.row.user)
                ),
                w,
                "    ",
                "    ",
            )?;
        }
    }
    if entries.len() > MAX_DIAGNOSES {
        let mut by_rule: Vec<(&str, usize)> = Vec::new();
        for d in &entries[MAX_DIAGNOSES..] {
            let rule = d.views[0]
                .row
                .root_cause
                .as_ref()
                .map(|c| c.rule)
                .unwrap_or("no finding");
            match by_rule.iter_mut().find(|(r, _)| *r == rule) {
                Some((_, n)) => *n += d.views.len(),
                None => by_rule.push((rule, d.views.len())),
            }
        }
        let n: usize = by_rule.iter().map(|(_, n)| n).sum();
        let list: Vec<String> = by_rule.iter().map(|(r, n)| format!("{n} {r}")).collect();
        write_wrapped(
            out,
            &format!(
                "... and {} with problems: {} (see Findings; --user to look at one).",
                plural(n, "more account", "more accounts"),
                list.join(", ")
            ),
            w,
            "  ",
            "    ",
        )?;
    }
    for (verdict, list) in &fine {
        let names: Vec<String> = list.iter().take(8).map(|v| who(v.row)).collect();
        let mut names = names.join(", ");
        if list.len() > 8 {
            names.push_str(&format!(" and {} more", list.len() - 8));
        }
        write_wrapped(
            out,
            &format!("{names}: {verdict}."),
            w,
            &format!("  {} ", p.sev(Severity::Info, "-")),
            "    ",
        )?;
    }
    writeln!(out)
}

fn sentence(s: &str) -> String {
    let s = s.trim();
    let mut c = s.chars();
    let s = match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => return String::new(),
    };
    if s.ends_with(['.', '!', '?']) {
        s
    } else {
        format!("{s}.")
    }
}

/// The accounts table; returns whether rows were left out.
fn write_accounts(
    views: &[AccountView],
    p: &Paint,
    width: u16,
    all: bool,
    out: &mut dyn Write,
) -> io::Result<bool> {
    if views.is_empty() {
        return Ok(false);
    }
    let mut order: Vec<&AccountView> = views.iter().collect();
    // Failing accounts first; the rest keep their (user) order.
    order.sort_by_key(|v| std::cmp::Reverse((has_problem(v.row), v.row.failures)));
    let shown = if all {
        order.len()
    } else {
        order.len().min(MAX_ACCOUNTS)
    };
    // A column with one value for every row goes into the title.
    let one = |f: fn(&AccountRow) -> &str| {
        let first = f(views[0].row);
        views.iter().all(|v| f(v.row) == first).then_some(first)
    };
    let realm = one(|r| &r.realm);
    let server = one(|r| &r.server);
    let rows: Vec<&AccountRow> = order[..shown].iter().map(|v| v.row).collect();
    let mut columns = account_columns(&rows, realm.is_none(), server.is_none());
    // Narrow terminals lose the columns that matter least, rather than
    // wrapping every cell; a table is one column of padding and a border
    // per column.
    let need = |cols: &[AccountColumn]| -> usize {
        cols.iter()
            .map(|c| if c.wraps { c.min } else { c.longest } + 3)
            .sum::<usize>()
            + 1
    };
    while need(&columns) > usize::from(width) {
        let Some(i) = (0..columns.len())
            .filter(|&i| columns[i].drop_rank > 0)
            .min_by_key(|&i| columns[i].drop_rank)
        else {
            break;
        };
        columns.remove(i);
    }
    let mut t = table(width);
    t.set_header(columns.iter().map(|c| c.header).collect::<Vec<_>>());
    for i in 0..rows.len() {
        t.add_row(
            columns
                .iter()
                .map(|c| c.cells[i].clone())
                .collect::<Vec<_>>(),
        );
    }
    // Addresses, counts and rule names must not break mid-way; the user
    // and realm columns wrap instead. The width includes the padding of
    // one column on each side.
    for (i, c) in columns.iter().enumerate() {
        let n = if c.wraps { c.min } else { c.longest };
        if let Some(col) = t.column_mut(i) {
            col.set_constraint(ColumnConstraint::LowerBoundary(Width::Fixed(
                n.clamp(1, 41) as u16 + 2,
            )));
        }
    }
    let mut title = vec![format!("{}", plural(views.len(), "account", "accounts"))];
    if let Some(r) = realm {
        title.push(format!("realm {}", term(r)));
    }
    if let Some(s) = server {
        title.push(format!("server {}", term(s)));
    }
    writeln!(out, "{} ({})", p.bold("Accounts"), title.join(", "))?;
    writeln!(out, "{t}")?;
    if shown < views.len() {
        let rest = &order[shown..];
        writeln!(
            out,
            "... {} not shown ({} failures); --details lists all, --user USER shows one.",
            plural(rest.len(), "more account", "more accounts"),
            rest.iter().map(|v| v.row.failures).sum::<usize>()
        )?;
    }
    writeln!(out)?;
    Ok(shown < views.len())
}

/// One column of the accounts table.
struct AccountColumn {
    header: &'static str,
    cells: Vec<String>,
    /// The widest cell (or header word), in characters.
    longest: usize,
    /// Whether cells may wrap, and the narrowest it may get then.
    wraps: bool,
    min: usize,
    /// Dropped first when the terminal is narrow: lowest rank first; 0 is
    /// never dropped.
    drop_rank: u8,
}

fn account_columns(rows: &[&AccountRow], realm: bool, server: bool) -> Vec<AccountColumn> {
    let column =
        |header: &'static str, drop_rank: u8, wraps: bool, cell: &dyn Fn(&AccountRow) -> String| {
            let cells: Vec<String> = rows.iter().map(|r| cell(r)).collect();
            let longest = cells
                .iter()
                .map(|c| c.chars().count())
                .chain(header.split(' ').map(str::len))
                .max()
                .unwrap_or(1);
            AccountColumn {
                header,
                cells,
                longest,
                wraps,
                min: longest.min(12),
                drop_rank,
            }
        };
    let mut v = vec![column("user (auth user)", 0, true, &who)];
    if realm {
        v.push(column("realm", 5, true, &|r| term(&r.realm).into_owned()));
    }
    v.push(column("client", 0, false, &|r| {
        term(&r.client).into_owned()
    }));
    if server {
        v.push(column("server", 6, false, &|r| {
            term(&r.server).into_owned()
        }));
    }
    v.extend([
        column("exch", 1, false, &|r| r.exchanges.to_string()),
        column("tries", 4, false, &|r| r.attempts.to_string()),
        column("fail", 0, false, &|r| r.failures.to_string()),
        column("ok", 3, false, &|r| r.successes.to_string()),
        // Plain text: escape codes would upset the column widths.
        column("last", 2, false, &|r| r.last_outcome.as_str().to_string()),
        column("root cause", 0, false, &|r| {
            r.root_cause
                .as_ref()
                .map(|c| c.rule.to_string())
                .unwrap_or_else(|| "-".into())
        }),
    ]);
    v
}

/// The sources (client addresses) with the most failures.
fn write_sources(
    rows: &[AccountRow],
    width: u16,
    p: &Paint,
    out: &mut dyn Write,
) -> io::Result<()> {
    struct Source<'a> {
        ip: &'a str,
        accounts: usize,
        tries: usize,
        failures: usize,
        successes: usize,
    }
    let mut sources: Vec<Source> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    for r in rows {
        let i = *index.entry(r.client.as_str()).or_insert_with(|| {
            sources.push(Source {
                ip: &r.client,
                accounts: 0,
                tries: 0,
                failures: 0,
                successes: 0,
            });
            sources.len() - 1
        });
        let s = &mut sources[i];
        s.accounts += 1;
        s.tries += r.attempts;
        s.failures += r.failures;
        s.successes += r.successes;
    }
    if sources.iter().all(|s| s.accounts == 1) {
        // The accounts table already says it all.
        writeln!(
            out,
            "{} {}, one account each.",
            p.bold("Sources:"),
            plural(sources.len(), "client address", "client addresses")
        )?;
        return writeln!(out);
    }
    sources.sort_by_key(|s| std::cmp::Reverse(s.failures));
    let mut t = table(width);
    t.set_header(vec!["source", "accounts", "tries", "fail", "ok"]);
    for s in sources.iter().take(MAX_SOURCES) {
        t.add_row(vec![
            term(s.ip).into_owned(),
            s.accounts.to_string(),
            s.tries.to_string(),
            s.failures.to_string(),
            s.successes.to_string(),
        ]);
    }
    writeln!(
        out,
        "{} ({}, most failures first)",
        p.bold("Sources"),
        plural(sources.len(), "client address", "client addresses")
    )?;
    writeln!(out, "{t}")?;
    if sources.len() > MAX_SOURCES {
        writeln!(
            out,
            "... {} not shown; --ip ADDR shows one.",
            plural(sources.len() - MAX_SOURCES, "more source", "more sources")
        )?;
    }
    writeln!(out)
}

/// The findings of one rule, in report order.
struct RuleGroup<'a> {
    rule: &'static str,
    findings: Vec<&'a Finding>,
}

impl RuleGroup<'_> {
    fn severity(&self) -> Severity {
        self.findings
            .iter()
            .map(|f| f.severity)
            .max()
            .unwrap_or(Severity::Info)
    }
}

/// Where a rule comes in the findings: most severe first, then the
/// rules that name a cause, then by name.
fn rule_order(severity: Severity, rule: &'static str) -> (Reverse<Severity>, usize, &'static str) {
    (Reverse(severity), cause_rank(rule).0, rule)
}

/// One entry of the findings by rule, as printed.
struct RuleDigest<'a> {
    rule: &'static str,
    severity: Severity,
    /// Distinct exchanges the rule's findings are about, and their ranges.
    exchanges: usize,
    exchange_ranges: String,
    /// Findings about no single exchange.
    wide: usize,
    /// Only for the first [`MAX_RULES_IN_FULL`] rules.
    detail: Option<RuleDetail<'a>>,
}

struct RuleDetail<'a> {
    /// The accounts with most findings of the rule, as "who @ client
    /// #ranges", and how many accounts have one.
    accounts: Vec<String>,
    account_count: usize,
    /// The first finding in capture order, and whether there are others.
    first: &'a Finding,
    several: bool,
    /// Per evidence entry of `first`: the other values its key took.
    also: Vec<OtherValues>,
    /// The first frames, ascending, and how many distinct frames in all.
    frames: Vec<u64>,
    frame_count: usize,
}

/// Other values an evidence key took in the other findings of a rule:
/// the first [`MAX_ALSO`], and how many distinct ones in all.
#[derive(Default)]
struct OtherValues {
    listed: Vec<String>,
    distinct: usize,
}

/// The entries of the findings by rule, from an analysis in memory.
fn rule_digests<'a>(a: &'a Analysis, rows: &[AccountRow]) -> Vec<RuleDigest<'a>> {
    let mut groups: Vec<RuleGroup> = Vec::new();
    for f in &a.findings {
        match groups.iter_mut().find(|g| g.rule == f.rule) {
            Some(g) => g.findings.push(f),
            None => groups.push(RuleGroup {
                rule: f.rule,
                findings: vec![f],
            }),
        }
    }
    groups.sort_by_key(|g| rule_order(g.severity(), g.rule));
    let account_of: HashMap<usize, usize> = rows
        .iter()
        .enumerate()
        .flat_map(|(i, r)| r.exchange_ids.iter().map(move |&e| (e, i)))
        .collect();
    groups
        .iter()
        .enumerate()
        .map(|(n, g)| {
            let ids: Vec<usize> = g.findings.iter().filter_map(|f| f.exchange).collect();
            let mut distinct = ids.clone();
            distinct.sort_unstable();
            distinct.dedup();
            RuleDigest {
                rule: g.rule,
                severity: g.severity(),
                exchanges: distinct.len(),
                exchange_ranges: ranges(&distinct),
                wide: g.findings.len() - ids.len(),
                detail: (n < MAX_RULES_IN_FULL).then(|| rule_detail(g, &ids, rows, &account_of)),
            }
        })
        .collect()
}

fn rule_detail<'a>(
    g: &RuleGroup<'a>,
    ids: &[usize],
    rows: &[AccountRow],
    account_of: &HashMap<usize, usize>,
) -> RuleDetail<'a> {
    // Findings per account, in order of first appearance.
    let mut per: Vec<(usize, Vec<usize>)> = Vec::new();
    let mut slot: HashMap<usize, usize> = HashMap::new();
    for &e in ids {
        let Some(&acc) = account_of.get(&e) else {
            continue;
        };
        let i = *slot.entry(acc).or_insert_with(|| {
            per.push((acc, Vec::new()));
            per.len() - 1
        });
        per[i].1.push(e);
    }
    per.sort_by_key(|(_, v)| Reverse(v.len()));
    let accounts = per
        .iter()
        .take(MAX_ACCOUNTS_PER_RULE)
        .map(|(acc, v)| account_named(&rows[*acc], &ranges(v)))
        .collect();
    let first = g.findings[0];
    let also = first
        .evidence
        .0
        .iter()
        .map(|(k, v)| {
            let mut seen: HashSet<&str> = HashSet::new();
            let mut listed = Vec::new();
            for f in &g.findings[1..] {
                for (k2, v2) in &f.evidence.0 {
                    if k2 == k && v2 != v && seen.insert(v2) && listed.len() < MAX_ALSO {
                        listed.push(v2.clone());
                    }
                }
            }
            OtherValues {
                listed,
                distinct: seen.len(),
            }
        })
        .collect();
    let mut all_frames: Vec<u64> = g
        .findings
        .iter()
        .flat_map(|f| f.frames.iter().copied())
        .collect();
    all_frames.sort_unstable();
    all_frames.dedup();
    let frame_count = all_frames.len();
    all_frames.truncate(MAX_FRAMES_SHOWN);
    RuleDetail {
        accounts,
        account_count: per.len(),
        first,
        several: g.findings.len() > 1,
        also,
        frames: all_frames,
        frame_count,
    }
}

/// An account as the findings name it, with the exchanges concerned.
fn account_named(row: &AccountRow, ranges: &str) -> String {
    format!("{} @ {} {}", who(row), term(&row.client), ranges)
}

fn write_rules<'a>(
    digests: &[RuleDigest<'a>],
    accounts: usize,
    p: &Paint,
    w: usize,
    fixes_shown: &mut HashSet<&'a str>,
    out: &mut dyn Write,
) -> io::Result<()> {
    if digests.is_empty() {
        return Ok(());
    }
    writeln!(out, "{} (by rule, most severe first)", p.bold("Findings"))?;
    for g in digests {
        write_rule_head(g, p, w, out)?;
        let Some(d) = &g.detail else {
            // Past the most severe rules, a count is enough.
            continue;
        };
        // Which accounts, when there are several to tell apart.
        if accounts > 1 && g.exchanges > 0 {
            write_rule_accounts(d, w, out)?;
        }
        write_rule_example(d, p, w, out)?;
        write_rule_fix(d.first, p, w, fixes_shown, out)?;
        writeln!(out)?;
    }
    if digests.len() > MAX_RULES_IN_FULL {
        writeln!(out, "    (--rule RULE shows one of these in full)")?;
        writeln!(out)?;
    }
    Ok(())
}

/// Severity, rule and what it is about.
fn write_rule_head(g: &RuleDigest, p: &Paint, w: usize, out: &mut dyn Write) -> io::Result<()> {
    let sev = g.severity;
    let mut scope = Vec::new();
    if g.exchanges > 0 {
        scope.push(format!(
            "{}: {}",
            plural(g.exchanges, "exchange", "exchanges"),
            g.exchange_ranges
        ));
    }
    if g.wide > 0 {
        scope.push(plural(
            g.wide,
            "capture-wide finding",
            "capture-wide findings",
        ));
    }
    let tag = format!("{:<8}", sev.as_str());
    let head = format!("{} {}  ", tag, g.rule);
    let lines = wrap(&scope.join("; "), w, &head, "           ");
    for (i, l) in lines.iter().enumerate() {
        if i == 0 {
            // Colour the tag and the rule after wrapping plain text.
            let rest = &l[tag.len() + 1 + g.rule.len()..];
            writeln!(out, "{} {}{}", p.sev(sev, &tag), p.bold(g.rule), rest)?;
        } else {
            writeln!(out, "{l}")?;
        }
    }
    Ok(())
}

fn write_rule_accounts(d: &RuleDetail, w: usize, out: &mut dyn Write) -> io::Result<()> {
    let mut parts = d.accounts.clone();
    if d.account_count > MAX_ACCOUNTS_PER_RULE {
        parts.push(format!(
            "and {}",
            plural(
                d.account_count - MAX_ACCOUNTS_PER_RULE,
                "more account",
                "more accounts"
            )
        ));
    }
    write_wrapped(
        out,
        &format!(
            "{}: {}",
            if d.account_count == 1 {
                "account"
            } else {
                "accounts"
            },
            parts.join("; ")
        ),
        w,
        "    ",
        "              ",
    )
}

/// One representative finding (the first, in capture order) with the
/// other values of its evidence and the frames of all.
fn write_rule_example(d: &RuleDetail, p: &Paint, w: usize, out: &mut dyn Write) -> io::Result<()> {
    let rep = d.first;
    let label = match rep.exchange {
        Some(e) if d.several => format!("e.g. #{e}: "),
        Some(e) => format!("#{e}: "),
        None => String::new(),
    };
    write_wrapped(
        out,
        &format!("{label}{}", term(&rep.message)),
        w,
        "    ",
        "      ",
    )?;
    let kw = rep
        .evidence
        .0
        .iter()
        .map(|(k, _)| term(k).chars().count())
        .max()
        .unwrap_or(0);
    for ((k, v), also) in rep.evidence.0.iter().zip(&d.also) {
        let mut value = term(v).into_owned();
        value.push_str(&also_text(also));
        let key = term(k);
        let pad = " ".repeat(kw.saturating_sub(key.chars().count()));
        let first = format!("      {key}{pad}  ");
        let indent = " ".repeat(first.chars().count());
        let lines = wrap(&value, w, &first, &indent);
        for (i, l) in lines.iter().enumerate() {
            if i == 0 {
                writeln!(
                    out,
                    "      {}{}",
                    p.dim(&format!("{key}{pad}")),
                    &l[6 + key.len() + pad.len()..]
                )?;
            } else {
                writeln!(out, "{l}")?;
            }
        }
    }
    if d.frame_count > 0 {
        let list = frame_list(&d.frames, d.frame_count).replace(',', ", ");
        let lines = wrap(&list, w, "      frames ", "             ");
        for (i, l) in lines.iter().enumerate() {
            if i == 0 {
                writeln!(
                    out,
                    "      {}{}",
                    p.dim("frames"),
                    &l["      frames".len()..]
                )?;
            } else {
                writeln!(out, "{l}")?;
            }
        }
    }
    Ok(())
}

/// " (also: a; b; 3 more)" after a piece of evidence, or the count of
/// other values when they are long.
fn also_text(also: &OtherValues) -> String {
    let listed = &also.listed;
    if listed.iter().any(|s| s.chars().count() > MAX_ALSO_CHARS) {
        // Sentences cut short would look alike: count them.
        format!(
            " ({} other {})",
            also.distinct,
            if also.distinct == 1 {
                "value"
            } else {
                "values"
            }
        )
    } else if !listed.is_empty() {
        let list: Vec<String> = listed.iter().map(|s| term(s).into_owned()).collect();
        let mut text = format!(" (also: {}", list.join("; "));
        let more = also.distinct - listed.len();
        if more > 0 {
            text.push_str(&format!("; {more} more"));
        }
        text.push(')');
        text
    } else {
        String::new()
    }
}

/// The fix once; later rules with the same fix point back to it.
fn write_rule_fix<'a>(
    rep: &'a Finding,
    p: &Paint,
    w: usize,
    fixes_shown: &mut HashSet<&'a str>,
    out: &mut dyn Write,
) -> io::Result<()> {
    if fixes_shown.insert(&*rep.fix) {
        let lines = wrap(&term(&rep.fix), w, "    fix: ", "         ");
        for (i, l) in lines.iter().enumerate() {
            if i == 0 {
                writeln!(out, "    {}{}", p.bold("fix:"), &l["    fix:".len()..])?;
            } else {
                writeln!(out, "{l}")?;
            }
        }
    } else {
        writeln!(out, "    {} as in the Diagnosis above.", p.bold("fix:"))?;
    }
    Ok(())
}

/// One line of "Worst exchanges".
struct WorstLine {
    id: usize,
    severity: Severity,
    rounds: usize,
    method: String,
    user: String,
    client: String,
    server: String,
    outcome: Outcome,
    /// Rules of its findings, in report order (repeats in a row dropped).
    rules: Vec<&'static str>,
    call_id: String,
}

impl WorstLine {
    fn new(ex: &AuthExchange, severity: Severity, rules: Vec<&'static str>) -> WorstLine {
        WorstLine {
            id: ex.id,
            severity,
            rounds: ex.rounds.len(),
            method: ex.method.to_string(),
            user: ex.user().unwrap_or_else(|| "?".into()),
            client: endpoint(ex.client),
            server: endpoint(ex.server),
            outcome: ex.outcome,
            rules,
            call_id: ex
                .call_ids
                .first()
                .map_or_else(|| "?".into(), |c| c.to_string()),
        }
    }

    /// Most severe first, then most rounds, then in capture order.
    fn order(&self) -> (Reverse<Severity>, Reverse<usize>, usize) {
        (Reverse(self.severity), Reverse(self.rounds), self.id)
    }
}

/// The first [`MAX_WORST`] exchanges with warnings or worse, and how many
/// there are.
struct WorstExchanges {
    lines: Vec<WorstLine>,
    total: usize,
}

/// The exchanges with the most severe findings, then the most rounds.
fn worst_exchanges(a: &Analysis, by_exchange: &HashMap<usize, Vec<&Finding>>) -> WorstExchanges {
    let mut bad: Vec<(&AuthExchange, Severity)> = a
        .exchanges
        .iter()
        .filter_map(|e| {
            let sev = by_exchange.get(&e.id)?.iter().map(|f| f.severity).max()?;
            (sev >= Severity::Warning).then_some((e, sev))
        })
        .collect();
    let total = bad.len();
    bad.sort_by_key(|(e, sev)| (Reverse(*sev), Reverse(e.rounds.len()), e.id));
    let lines = bad
        .iter()
        .take(MAX_WORST)
        .map(|(ex, sev)| {
            let mut rules: Vec<&'static str> = by_exchange
                .get(&ex.id)
                .into_iter()
                .flatten()
                .map(|f| f.rule)
                .collect();
            rules.dedup();
            WorstLine::new(ex, *sev, rules)
        })
        .collect();
    WorstExchanges { lines, total }
}

/// The worst exchanges one line each, with a Call-ID to look one up.
fn write_worst(worst: &WorstExchanges, p: &Paint, w: usize, out: &mut dyn Write) -> io::Result<()> {
    if worst.total == 0 {
        return Ok(());
    }
    writeln!(
        out,
        "{} ({} of {} with warnings or worse)",
        p.bold("Worst exchanges"),
        worst.lines.len(),
        worst.total
    )?;
    for ex in &worst.lines {
        let line = format!(
            "#{} {} {} {} -> {}: {} after {}; {}; Call-ID {}",
            ex.id,
            term(&ex.method),
            term(&ex.user),
            ex.client,
            ex.server,
            ex.outcome.as_str(),
            plural(ex.rounds, "round", "rounds"),
            ex.rules.join(", "),
            clip(&term(&ex.call_id), 40)
        );
        let lines = wrap(&line, w, "  * ", "    ");
        for (i, l) in lines.iter().enumerate() {
            if i == 0 {
                writeln!(out, "  {} {}", p.sev(ex.severity, "*"), &l[4..])?;
            } else {
                writeln!(out, "{l}")?;
            }
        }
    }
    writeln!(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testutil::*;

    /// alice's REGISTER refused three times, a minute apart, each in its
    /// own Call-ID; `user` goes into the digest username.
    fn refused_thrice(user: &str) -> Report {
        let mut msgs: Vec<(&str, &str, f64, String)> = Vec::new();
        for i in 0..3u8 {
            let cid = format!("cid-{i}@");
            let (a, b) = (format!("a{i}"), format!("b{i}"));
            let m = [
                register(1, &a, None),
                response(401, "Unauthorized", 1, &a, Some(WWW_QOP)),
                register(2, &b, Some(&auth_qop(user))),
                response(401, "Unauthorized", 2, &b, Some(WWW_QOP)),
            ];
            for (k, text) in m.iter().enumerate() {
                let (src, dst) = if k % 2 == 0 {
                    (PHONE, PBX)
                } else {
                    (PBX, PHONE)
                };
                let t = f64::from(i) * 60.0 + k as f64 * 0.01;
                msgs.push((src, dst, t, text.replace("cid-1@", &cid)));
            }
        }
        let refs: Vec<(&str, &str, f64, &str)> = msgs
            .iter()
            .map(|(s, d, t, m)| (*s, *d, *t, m.as_str()))
            .collect();
        let exchanges = exchanges(&refs);
        let findings = crate::rules::evaluate(&exchanges, &Default::default());
        Report::plain(Analysis {
            exchanges,
            findings,
            ..Default::default()
        })
    }

    fn render(r: &Report, color: bool, details: bool) -> String {
        let mut buf = Vec::new();
        let o = TextOptions {
            color,
            width: 100,
            ladder: false,
            details,
        };
        write(r, &o, &mut buf).unwrap();
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn unanswered_is_not_called_fine() {
        let exs = exchanges(&[(PHONE, PBX, 0.0, &register(1, "a", None))]);
        let r = Report::plain(Analysis {
            exchanges: exs,
            ..Default::default()
        });
        let text = render(&r, false, false);
        assert!(
            text.contains("1 account without a final answer in the capture"),
            "{text}"
        );
        assert!(!text.contains("authenticate fine"), "{text}");
    }

    #[test]
    fn a_rule_on_several_exchanges_is_one_entry_with_one_fix() {
        let r = refused_thrice("alice");
        let fix = r
            .analysis
            .findings
            .iter()
            .find(|f| f.rule == "credentials-rejected")
            .expect("credentials-rejected fired")
            .fix
            .clone();
        let head: String = fix.split_whitespace().take(6).collect::<Vec<_>>().join(" ");
        let text = render(&r, false, false);
        assert!(
            text.contains("credentials-rejected  3 exchanges: #1-#3"),
            "{text}"
        );
        assert_eq!(text.matches(head.as_str()).count(), 1, "{text}");
        assert!(text.contains("Fix: The server does not accept"), "{text}");
        assert!(text.contains("fix: as in the Diagnosis above."), "{text}");
        assert!(text.contains("alice @ 10.0.0.5 -> 10.0.0.1:5060: cannot register"));
        // The per-exchange listing repeats it for each exchange.
        let details = render(&r, false, true);
        assert_eq!(details.matches(head.as_str()).count(), 1 + 3, "{details}");
        assert!(details.contains("Exchange #3 REGISTER alice"));
    }

    #[test]
    fn colours_only_when_asked_and_capture_text_is_escaped() {
        let r = refused_thrice("al\x1b[2Jice\u{202e}");
        let plain = render(&r, false, false);
        assert!(
            !plain.contains('\x1b') && !plain.contains('\u{202e}'),
            "{plain}"
        );
        assert!(plain.contains("al\\x1b[2Jice"), "{plain}");
        for l in plain.lines() {
            assert!(l.chars().count() <= 100, "{l}");
        }
        let coloured = render(&r, true, false);
        assert!(coloured.contains("\x1b[1;31merror"), "{coloured}");
        // Only the tool's own colour codes are escapes.
        let mut visible = coloured.clone();
        for code in ["0", "1", "2", "1;31", "33", "36"] {
            visible = visible.replace(&format!("\x1b[{code}m"), "");
        }
        assert!(!visible.contains('\x1b'), "{visible}");
    }

    #[test]
    fn wrap_keeps_words_and_width() {
        let text = "the quick brown fox jumps over the lazy dog again and again";
        let lines = wrap(text, 20, "> ", "  ");
        assert!(lines.iter().all(|l| l.chars().count() <= 20), "{lines:?}");
        assert_eq!(lines[0], "> the quick brown");
        assert!(lines[1].starts_with("  fox"));
        let joined: Vec<&str> = lines.iter().flat_map(|l| l.split_whitespace()).collect();
        assert_eq!(joined[0], ">");
        assert_eq!(joined[1..].join(" "), text);
    }

    #[test]
    fn wrap_cuts_words_longer_than_a_line() {
        let long = "x".repeat(50);
        let lines = wrap(&format!("a {long} b"), 20, "", "");
        assert!(lines.iter().all(|l| l.chars().count() <= 20), "{lines:?}");
        let all: String = lines.concat().chars().filter(|c| *c == 'x').collect();
        assert_eq!(all.len(), 50);
    }

    #[test]
    fn ranges_compress_runs() {
        assert_eq!(ranges(&[7, 1, 2, 3, 4]), "#1-#4, #7");
        assert_eq!(ranges(&[5]), "#5");
        let many: Vec<usize> = (0..40).map(|i| i * 2).collect();
        let s = ranges(&many);
        assert!(s.ends_with("and 28 more ranges"), "{s}");
    }

    #[test]
    fn clip_marks_the_cut() {
        assert_eq!(clip("abcdef", 10), "abcdef");
        assert_eq!(clip("abcdefghijkl", 8), "abcde...");
    }

    /// A capture-wide rule's finding about an exchange handed over long
    /// before (nc-reuse does that) still names that exchange's method in
    /// the streamed verdict, as in the kept one.
    #[test]
    fn a_late_finding_names_the_method_of_its_exchange() {
        let mut r = refused_thrice("alice");
        r.analysis.exchanges[1].method = "INVITE".into();
        let late = Finding {
            rule: "nc-reuse",
            severity: Severity::Warning,
            exchange: Some(r.analysis.exchanges[1].id),
            related_exchanges: Vec::new(),
            frames: vec![7],
            message: "nonce answered twice".into(),
            evidence: Default::default(),
            fix: "fix the client".into(),
        };
        r.analysis.findings = vec![late.clone()];
        let kept = render(&r, false, false);
        assert!(kept.contains("cannot place calls"), "{kept}");
        let mut view = TextStream::keeping(0);
        for ex in std::mem::take(&mut r.analysis.exchanges) {
            view.exchange(ex, Vec::new());
        }
        view.findings(&r.analysis.findings);
        let mut streamed = Vec::new();
        let o = TextOptions {
            color: false,
            width: 100,
            ladder: false,
            details: false,
        };
        view.finish(r.analysis, &o, &mut streamed).unwrap();
        assert_eq!(kept, String::from_utf8(streamed).unwrap());
    }
}
