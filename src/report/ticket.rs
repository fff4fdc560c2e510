//! The Markdown and HTML reports written from exchanges as they finish, in
//! bounded memory: [`TicketStream`] renders each exchange's findings and,
//! while it may still be drawn, its ladder into an unnamed temporary file,
//! keeps what the head of the report needs (counters, the accounts table,
//! per account its worst finding), and at the end writes the head, then
//! the file back with the findings of the capture-wide rules spliced in
//! under the exchanges they name. The pieces are drawn by the same
//! functions as for an analysis in memory ([`markdown::write`],
//! [`html::write`]), and the result is the same, byte for byte.

use super::ladder::{self, Ladder};
use super::redact::Level;
use super::streamed::{notes_of, ExchangeCounts, IdSet};
use super::{
    html, markdown, AccountBook, AccountRow, Summary, TicketHead, Verdict, Worst, MAX_LADDERS,
};
use crate::analysis::Analysis;
use crate::correlate::{AuthExchange, Outcome};
use crate::rules::{Finding, Severity};
use rustc_hash::FxHashMap as HashMap;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, Write};

/// The report formats for a support ticket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ticket {
    Markdown,
    Html,
}

/// The pieces of each format, drawn into a byte buffer. (The Markdown
/// writers take any `Write`; into a `Vec` they cannot fail, so their
/// results are dropped.)
impl Ticket {
    fn name(self) -> &'static str {
        match self {
            Ticket::Markdown => "Markdown",
            Ticket::Html => "HTML",
        }
    }

    fn exchange_title(self, ex: &AuthExchange) -> String {
        match self {
            Ticket::Markdown => markdown::exchange_title(ex),
            Ticket::Html => html::exchange_title(ex),
        }
    }

    fn head(self, h: &TicketHead, out: &mut Vec<u8>) {
        match self {
            Ticket::Markdown => {
                let _ = markdown::write_head(h, out);
            }
            Ticket::Html => html_into(out, |s| html::head(h, s)),
        }
    }

    fn section_heading(self, id: usize, title: &str, out: &mut Vec<u8>) {
        match self {
            Ticket::Markdown => {
                let _ = markdown::write_section_heading(title, out);
            }
            Ticket::Html => html_into(out, |s| html::section_heading(id, title, s)),
        }
    }

    fn finding(self, f: &Finding, out: &mut Vec<u8>) {
        match self {
            Ticket::Markdown => {
                let _ = markdown::write_finding(f, out);
            }
            Ticket::Html => html_into(out, |s| html::finding(f, s)),
        }
    }

    fn loose(self, loose: &[&Finding], out: &mut Vec<u8>) {
        match self {
            Ticket::Markdown => {
                let _ = markdown::write_loose(loose, out);
            }
            Ticket::Html => html_into(out, |s| html::loose_findings(loose, s)),
        }
    }

    fn ladders_intro(self, failing: usize, out: &mut Vec<u8>) {
        match self {
            Ticket::Markdown => {
                let _ = markdown::write_ladders_intro(failing, out);
            }
            Ticket::Html => html_into(out, |s| html::ladders_intro(failing, s)),
        }
    }

    fn ladder(self, title: &str, l: &Ladder, out: &mut Vec<u8>) {
        match self {
            Ticket::Markdown => {
                let _ = markdown::write_ladder(l, out);
            }
            Ticket::Html => html_into(out, |s| html::ladder(title, l, s)),
        }
    }

    fn ladders_tail(self, failing: usize, out: &mut Vec<u8>) {
        match self {
            Ticket::Markdown => {
                let _ = markdown::write_ladders_tail(failing, out);
            }
            Ticket::Html => html_into(out, |s| html::ladders_tail(failing, s)),
        }
    }

    fn foot(self, out: &mut Vec<u8>) {
        if self == Ticket::Html {
            html_into(out, html::foot);
        }
    }
}

/// Runs an HTML piece (they draw into a String) and appends what it drew.
fn html_into(out: &mut Vec<u8>, piece: impl FnOnce(&mut String)) {
    let mut s = String::new();
    piece(&mut s);
    out.extend_from_slice(s.as_bytes());
}

/// Severities in the order an exchange's findings are listed.
const SEVERITIES: [Severity; 4] = [
    Severity::Critical,
    Severity::Error,
    Severity::Warning,
    Severity::Info,
];

fn severity_slot(s: Severity) -> usize {
    match s {
        Severity::Critical => 0,
        Severity::Error => 1,
        Severity::Warning => 2,
        Severity::Info => 3,
    }
}

/// Bytes gathered before a write to the output.
const CHUNK: usize = 1 << 16;

/// A record of the temporary file has findings of its own.
const HAS_FINDINGS: u8 = 1;
/// A record carries its exchange's ladder, encoded.
const HAS_LADDER: u8 = 2;
/// The exchange's ladder could not be encoded and waits in memory.
const LADDER_IN_MEMORY: u8 = 4;

/// Collects a Markdown or HTML report one finished exchange at a time
/// ([`TicketStream::exchange`]), then the findings about the capture as a
/// whole ([`TicketStream::findings`]), and writes it
/// ([`TicketStream::finish`]).
///
/// The temporary file holds, per exchange in the order they arrive (ids
/// ascending): its id, its title, its own findings rendered and grouped by
/// severity, and, while fewer than [`MAX_LADDERS`] failing exchanges came
/// before it, its ladder with its own findings marked. A capture-wide
/// finding that names an exchange goes under it when the file is read back
/// (the findings of an exchange are listed most severe first, its own
/// before the capture-wide ones among equals), marks its ladder, and can
/// make it a failing exchange to draw: that is why every exchange up to
/// the [`MAX_LADDERS`]th failing one keeps its ladder in the file.
pub struct TicketStream {
    kind: Ticket,
    file: Option<BufWriter<File>>,
    /// The first write error; later records are not attempted.
    error: Option<io::Error>,
    /// Exchanges, outcomes, accounts, methods.
    counts: ExchangeCounts,
    by_rule: BTreeMap<&'static str, usize>,
    by_severity: BTreeMap<&'static str, usize>,
    findings: usize,
    worst: Option<Severity>,
    /// By account number ([`AccountBook::account_of`]).
    accounts: Vec<AccountNotes>,
    /// Findings that came with an exchange but are not about it (none of
    /// today's per-exchange rules makes one): listed as the capture-wide
    /// ones are, before them. (One about an exchange still to come would
    /// be listed after that exchange's own findings of its severity, where
    /// the kept report lists it before them.)
    extra: Vec<Finding>,
    seen: IdSet,
    /// Exchanges failing by their outcome or their own findings.
    failing: IdSet,
    failing_count: usize,
    /// The first [`MAX_LADDERS`] of them.
    first_failing: Vec<usize>,
    /// Ladders that could not be encoded ([`Ladder::encode`]).
    unencoded: HashMap<usize, Ladder>,
    /// Reused buffers: the findings of one exchange by severity, a record.
    groups: [Vec<u8>; 4],
    record: Vec<u8>,
    /// What the exchanges and findings given were masked at.
    redaction: Level,
    /// Set when a filter chose what was given ([`super::filter::Gate`]).
    scope: Option<super::filter::Scope>,
}

/// What the verdict needs of one account besides its row.
#[derive(Default)]
struct AccountNotes {
    first_exchange: Option<usize>,
    /// Its most severe finding, the first of equals.
    worst: Option<WorstNote>,
}

struct WorstNote {
    severity: Severity,
    exchange: usize,
    message: Box<str>,
    fix: Box<str>,
}

impl TicketStream {
    /// A collector writing to a temporary file; the error when none can be
    /// made (the caller then keeps the analysis: [`TicketStream::no_disk`]).
    pub fn new(kind: Ticket) -> io::Result<TicketStream> {
        let file = tempfile::tempfile()?;
        Ok(TicketStream {
            kind,
            file: Some(BufWriter::with_capacity(CHUNK, file)),
            error: None,
            counts: ExchangeCounts::default(),
            by_rule: BTreeMap::new(),
            by_severity: BTreeMap::new(),
            findings: 0,
            worst: None,
            accounts: Vec::new(),
            extra: Vec::new(),
            seen: IdSet::default(),
            failing: IdSet::default(),
            failing_count: 0,
            first_failing: Vec::new(),
            unencoded: HashMap::default(),
            groups: Default::default(),
            record: Vec::new(),
            redaction: Level::None,
            scope: None,
        })
    }

    /// Says in the report what a filter left out of what it was given.
    pub fn set_scope(&mut self, scope: super::filter::Scope) {
        self.scope = Some(scope);
    }

    /// Says in the report that what it is given was masked at `level`
    /// ([`super::redact::Redactor`]).
    pub fn redacted(mut self, level: Level) -> TicketStream {
        self.redaction = level;
        self
    }

    /// The warning for the user when [`TicketStream::new`] failed.
    pub fn no_disk(kind: Ticket, e: &io::Error) -> String {
        format!(
            "cannot create a temporary file ({e}; set TMPDIR to a writable directory): the {} report is kept in memory",
            kind.name()
        )
    }

    /// The most severe finding so far.
    pub fn worst(&self) -> Option<Severity> {
        self.worst
    }

    /// A finished exchange with the findings of the per-exchange rules.
    pub fn exchange(&mut self, ex: AuthExchange, findings: Vec<Finding>) {
        if let Some(account) = self.counts.exchange(&ex) {
            notes_of(&mut self.accounts, account)
                .first_exchange
                .get_or_insert(ex.id);
        }
        self.seen.insert(ex.id as u64);
        let mut failing = matches!(ex.outcome, Outcome::Failed | Outcome::Unanswered);
        let mut own = false;
        for g in &mut self.groups {
            g.clear();
        }
        for f in &findings {
            self.count(f);
            if f.exchange == Some(ex.id) {
                own = true;
                failing |= f.severity >= Severity::Warning;
                self.kind
                    .finding(f, &mut self.groups[severity_slot(f.severity)]);
            }
        }
        // Up to the MAX_LADDERS-th failing exchange, any may be drawn: a
        // capture-wide finding can still make it a failing one.
        let drawable = self.first_failing.len() < MAX_LADDERS;
        if failing {
            self.failing.insert(ex.id as u64);
            self.failing_count += 1;
            if self.first_failing.len() < MAX_LADDERS {
                self.first_failing.push(ex.id);
            }
        }
        let ladder = drawable.then(|| {
            let mut l = ladder::unmarked(&ex);
            ladder::mark(&mut l, &findings);
            l
        });
        self.write_record(&ex, own, ladder);
        self.extra
            .extend(findings.into_iter().filter(|f| f.exchange != Some(ex.id)));
    }

    /// Counts the findings about the capture as a whole (some name
    /// exchanges already written).
    pub fn findings(&mut self, findings: &[Finding]) {
        for f in findings {
            self.count(f);
        }
    }

    /// Counts a finding for the head: totals, the accounts table, the
    /// worst finding of the account of the exchange it names.
    fn count(&mut self, f: &Finding) {
        self.findings += 1;
        *self.by_rule.entry(f.rule).or_insert(0) += 1;
        *self.by_severity.entry(f.severity.as_str()).or_insert(0) += 1;
        self.worst = self.worst.max(Some(f.severity));
        self.counts.book.finding(f);
        let Some(e) = f.exchange else {
            return;
        };
        let Some(notes) = self
            .counts
            .book
            .account_of(e)
            .and_then(|a| self.accounts.get_mut(a))
        else {
            return;
        };
        if notes.worst.as_ref().is_none_or(|w| f.severity > w.severity) {
            notes.worst = Some(WorstNote {
                severity: f.severity,
                exchange: e,
                message: f.message.as_str().into(),
                fix: f.fix.as_ref().into(),
            });
        }
    }

    /// Appends the exchange's record to the temporary file.
    fn write_record(&mut self, ex: &AuthExchange, own: bool, ladder: Option<Ladder>) {
        if self.error.is_some() {
            return;
        }
        let r = &mut self.record;
        r.clear();
        r.extend_from_slice(&(ex.id as u64).to_le_bytes());
        put_bytes(r, self.kind.exchange_title(ex).as_bytes());
        let flags_at = r.len();
        r.push(0);
        let mut flags = 0;
        if own {
            flags |= HAS_FINDINGS;
            for g in &self.groups {
                put_bytes(r, g);
            }
        }
        if let Some(l) = ladder {
            let len_at = r.len();
            r.extend_from_slice(&0u64.to_le_bytes());
            if l.encode(r).is_some() {
                flags |= HAS_LADDER;
                let len = (r.len() - len_at - 8) as u64;
                r[len_at..len_at + 8].copy_from_slice(&len.to_le_bytes());
            } else {
                r.truncate(len_at);
                flags |= LADDER_IN_MEMORY;
                self.unencoded.insert(ex.id, l);
            }
        }
        r[flags_at] = flags;
        let written = match &mut self.file {
            Some(f) => f.write_all(r),
            None => Ok(()),
        };
        if let Err(e) = written {
            self.error = Some(e);
        }
    }

    /// Writes the report; `analysis` is what the streamed analysis
    /// returned (inputs, the findings about the capture as a whole).
    pub fn finish(mut self, analysis: Analysis, out: &mut dyn Write) -> io::Result<()> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        let kind = self.kind;
        let mut file = match self.file.take() {
            Some(f) => f.into_inner().map_err(|e| e.into_error())?,
            None => return Err(io::Error::other("the temporary file is gone")),
        };
        file.rewind()?;
        let mut buf = Vec::with_capacity(CHUNK);
        self.write_head(&analysis, &mut buf);
        out.write_all(&buf)?;
        buf.clear();
        // The findings the records do not have, in report order.
        let late: Vec<&Finding> = self.extra.iter().chain(&analysis.findings).collect();

        let mut late_of: HashMap<usize, Vec<&Finding>> = HashMap::default();
        for f in &late {
            if let Some(e) = f.exchange.filter(|&e| self.seen.contains(e as u64)) {
                late_of.entry(e).or_default().push(f);
            }
        }
        // Exchanges a late finding makes failing join those that failed
        // as they arrived.
        let mut newly: Vec<usize> = late
            .iter()
            .filter(|f| f.severity >= Severity::Warning)
            .filter_map(|f| f.exchange)
            .filter(|&e| self.seen.contains(e as u64) && !self.failing.contains(e as u64))
            .collect();
        newly.sort_unstable();
        newly.dedup();
        let failing_total = self.failing_count + newly.len();
        let mut drawn: Vec<usize> = self.first_failing.clone();
        drawn.extend(&newly);
        drawn.sort_unstable();
        drawn.truncate(MAX_LADDERS);

        let mut ladders = Vec::new();
        let mut reader = BufReader::with_capacity(CHUNK, file);
        let mut title = Vec::new();
        let mut bytes = Vec::new();
        let mut groups: [Vec<u8>; 4] = Default::default();
        while let Some(id) = read_u64(&mut reader)? {
            let id = usize::try_from(id).map_err(|_| corrupt())?;
            read_bytes(&mut reader, &mut title)?;
            let title = std::str::from_utf8(&title).map_err(|_| corrupt())?;
            let flags = read_u8(&mut reader)?;
            let has_own = flags & HAS_FINDINGS != 0;
            if has_own {
                for g in &mut groups {
                    read_bytes(&mut reader, g)?;
                }
            }
            let late_here = late_of.get(&id);
            if has_own || late_here.is_some() {
                kind.section_heading(id, title, &mut buf);
                for (slot, severity) in SEVERITIES.iter().enumerate() {
                    if has_own {
                        buf.extend_from_slice(&groups[slot]);
                    }
                    for f in late_here.into_iter().flatten() {
                        if f.severity == *severity {
                            kind.finding(f, &mut buf);
                        }
                    }
                }
            }
            let ladder = if flags & HAS_LADDER != 0 {
                read_bytes(&mut reader, &mut bytes)?;
                drawn
                    .binary_search(&id)
                    .is_ok()
                    .then(|| Ladder::decode(&bytes).ok_or_else(corrupt))
                    .transpose()?
            } else if flags & LADDER_IN_MEMORY != 0 {
                self.unencoded
                    .remove(&id)
                    .filter(|_| drawn.binary_search(&id).is_ok())
            } else {
                None
            };
            if let Some(mut l) = ladder {
                ladder::mark(&mut l, late_here.into_iter().flatten().copied());
                kind.ladder(title, &l, &mut ladders);
            }
            if buf.len() >= CHUNK {
                out.write_all(&buf)?;
                buf.clear();
            }
        }
        let loose: Vec<&Finding> = late
            .iter()
            .copied()
            .filter(|f| f.exchange.is_none())
            .collect();
        kind.loose(&loose, &mut buf);
        kind.ladders_intro(failing_total, &mut buf);
        buf.append(&mut ladders);
        kind.ladders_tail(failing_total, &mut buf);
        kind.foot(&mut buf);
        out.write_all(&buf)
    }

    /// The head, from what was counted.
    fn write_head(&mut self, analysis: &Analysis, buf: &mut Vec<u8>) {
        let book = std::mem::replace(&mut self.counts.book, AccountBook::new(false));
        let (numbers, rows): (Vec<usize>, Vec<AccountRow>) =
            book.numbered_rows().into_iter().unzip();
        let summary = Summary {
            by_outcome: std::mem::take(&mut self.counts.by_outcome),
            by_rule: std::mem::take(&mut self.by_rule),
            by_severity: std::mem::take(&mut self.by_severity),
        };
        let verdicts: Vec<Verdict> = numbers
            .iter()
            .map(|&account| {
                let notes = self.accounts.get(account);
                let worst = notes.and_then(|n| n.worst.as_ref());
                let method = worst
                    .map(|w| w.exchange)
                    .or(notes.and_then(|n| n.first_exchange))
                    .and_then(|e| self.counts.methods.of(e))
                    .unwrap_or("?");
                Verdict {
                    method,
                    worst: worst.map(|w| Worst {
                        severity: w.severity,
                        message: &w.message,
                        fix: &w.fix,
                    }),
                }
            })
            .collect();
        let head = TicketHead {
            inputs: &analysis.inputs,
            scope: self.scope.as_ref(),
            redaction: self.redaction,
            exchanges: self.counts.exchanges,
            summary: &summary,
            rows: &rows,
            verdicts: &verdicts,
            findings: self.findings,
        };
        self.kind.head(&head, buf);
    }
}

fn corrupt() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        "the report's temporary file was changed",
    )
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u64).to_le_bytes());
    out.extend_from_slice(b);
}

/// The next record's id, or `None` at the end of the file.
fn read_u64(r: &mut impl Read) -> io::Result<Option<u64>> {
    let mut b = [0u8; 8];
    let mut got = 0;
    while got < 8 {
        match r.read(&mut b[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(corrupt()),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(Some(u64::from_le_bytes(b)))
}

fn read_u8(r: &mut impl Read) -> io::Result<u8> {
    let mut b = [0u8; 1];
    r.read_exact(&mut b)?;
    Ok(b[0])
}

fn read_bytes(r: &mut impl Read, into: &mut Vec<u8>) -> io::Result<()> {
    let mut b = [0u8; 8];
    r.read_exact(&mut b)?;
    let n = usize::try_from(u64::from_le_bytes(b)).map_err(|_| corrupt())?;
    into.clear();
    r.take(n as u64).read_to_end(into)?;
    if into.len() != n {
        return Err(corrupt());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Report;
    use crate::rules::testutil::*;

    fn finding(rule: &'static str, severity: Severity, exchange: Option<usize>) -> Finding {
        Finding {
            rule,
            severity,
            exchange,
            related_exchanges: Vec::new(),
            frames: Vec::new(),
            message: format!("{rule} about {exchange:?}"),
            evidence: Default::default(),
            fix: "Change something.".into(),
        }
    }

    /// `n` exchanges of a few accounts and methods, every third one
    /// failing; the findings of the per-exchange rules about each.
    fn exchanges(n: usize) -> Vec<(AuthExchange, Vec<Finding>)> {
        let ok = one_retry(WWW_QOP, &auth_qop("alice"), 200, "OK").remove(0);
        let bad = one_retry(WWW_QOP, &auth_qop("alice"), 403, "Forbidden").remove(0);
        (1..=n)
            .map(|id| {
                let mut ex = if id % 3 == 0 { bad.clone() } else { ok.clone() };
                ex.id = id;
                ex.from_uri = format!("sip:user{}@lab.example", id % 7).into();
                if id % 5 == 0 {
                    ex.method = "OPTIONS".into();
                }
                let mut own = Vec::new();
                crate::rules::evaluate_exchange(&ex, &Default::default(), &mut own);
                (ex, own)
            })
            .collect()
    }

    /// The kept and the streamed report of the same exchanges and
    /// findings, per format.
    fn both(
        exs: Vec<(AuthExchange, Vec<Finding>)>,
        late: Vec<Finding>,
    ) -> Vec<(Ticket, Vec<u8>, Vec<u8>)> {
        let analysis = |exchanges: Vec<AuthExchange>, findings: Vec<Finding>| Analysis {
            exchanges,
            findings,
            ..Default::default()
        };
        let kept = Report::plain(analysis(
            exs.iter().map(|(e, _)| e.clone()).collect(),
            exs.iter()
                .flat_map(|(_, f)| f.iter().cloned())
                .chain(late.iter().cloned())
                .collect(),
        ));
        [Ticket::Markdown, Ticket::Html]
            .into_iter()
            .map(|kind| {
                let mut expected = Vec::new();
                match kind {
                    Ticket::Markdown => markdown::write(&kept, &mut expected),
                    Ticket::Html => html::write(&kept, &mut expected),
                }
                .unwrap();
                let mut doc = TicketStream::new(kind).unwrap();
                for (ex, f) in exs.iter().cloned() {
                    doc.exchange(ex, f);
                }
                doc.findings(&late);
                let mut got = Vec::new();
                doc.finish(analysis(Vec::new(), late.clone()), &mut got)
                    .unwrap();
                (kind, expected, got)
            })
            .collect()
    }

    fn assert_same(exs: Vec<(AuthExchange, Vec<Finding>)>, late: Vec<Finding>) -> String {
        let mut md = String::new();
        for (kind, expected, got) in both(exs, late) {
            let (e, g) = (
                String::from_utf8(expected).unwrap(),
                String::from_utf8(got).unwrap(),
            );
            if e != g {
                let at = e
                    .lines()
                    .zip(g.lines())
                    .position(|(a, b)| a != b)
                    .unwrap_or(0);
                panic!(
                    "{kind:?} differs at line {}:\n  kept:     {:?}\n  streamed: {:?}",
                    at + 1,
                    e.lines().nth(at),
                    g.lines().nth(at)
                );
            }
            if kind == Ticket::Markdown {
                md = g;
            }
        }
        md
    }

    #[test]
    fn late_findings_go_where_the_kept_report_puts_them() {
        let mut exs = exchanges(150);
        // A per-exchange finding about no exchange, and one about an
        // earlier exchange, come with exchange 4.
        exs[3].1.push(finding("odd-loose", Severity::Info, None));
        exs[3]
            .1
            .push(finding("odd-earlier", Severity::Error, Some(2)));
        let mut nc = finding("nc-reuse", Severity::Warning, Some(4));
        nc.frames = vec![3];
        let mut brute = finding("brute-force", Severity::Critical, None);
        brute.related_exchanges = vec![1, 2, 3, 140];
        let late = vec![
            // A succeeded exchange without findings: a new section, a new
            // failing exchange among the first drawn, its nc marked.
            nc,
            // Before the own findings of exchange 3's severity? After.
            finding("late-error", Severity::Error, Some(3)),
            finding("late-critical", Severity::Critical, Some(6)),
            finding("late-info", Severity::Info, Some(7)),
            // After the 40th failing exchange: counted, not drawn.
            finding("late-warning", Severity::Warning, Some(149)),
            // An account with only successes gets its worst from the end.
            finding("late-warning", Severity::Warning, Some(10)),
            finding("about-nothing", Severity::Warning, Some(9999)),
            brute,
        ];
        let md = assert_same(exs, late);
        assert!(md.contains("### Exchange #4:"), "{md}");
        assert!(md.contains("nc=00000001(!)"), "{md}");
        assert!(md.contains("late-critical"), "{md}");
        assert!(md.contains("### Across exchanges"), "{md}");
        assert!(md.contains("more failing exchanges are not drawn"), "{md}");
    }

    #[test]
    fn small_and_empty_reports_are_the_kept_ones() {
        assert_same(Vec::new(), Vec::new());
        assert_same(exchanges(2), Vec::new());
        assert_same(
            exchanges(5),
            vec![finding("late-warning", Severity::Warning, Some(1))],
        );
        assert_same(Vec::new(), vec![finding("scanner", Severity::Error, None)]);
    }

    #[test]
    fn methods_beyond_a_byte_are_kept_for_the_verdict() {
        let mut exs = exchanges(300);
        for (ex, _) in &mut exs {
            ex.method = format!("M{}", ex.id).into();
            if ex.id > 280 && ex.id % 3 != 0 {
                ex.from_uri = "sip:carol@lab.example".into();
            }
        }
        let mut late: Vec<Finding> = (1..=300)
            .step_by(7)
            .map(|id| finding("late-error", Severity::Error, Some(id)))
            .collect();
        // carol's worst finding is about exchange 281, past the 255th
        // method.
        late.push(finding("late-warning", Severity::Warning, Some(298)));
        let md = assert_same(exs, late);
        assert!(
            md.contains("authenticates M281, with a problem to look at"),
            "{md}"
        );
    }
}
