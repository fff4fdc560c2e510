//! The text view written from exchanges as they finish, in bounded
//! memory: [`TextStream`] keeps what the view prints (counters, the
//! account rows, per account its worst finding and the words of its
//! causes, per rule its counts, exchange ids, frames and first finding,
//! the worst exchanges) instead of the exchanges. The sections are drawn
//! by the same functions as for an analysis in memory.

use super::{
    account_named, sorted_ranges, write_inputs, write_overview, write_view, AccountView, Cause,
    DetailsSpool, OtherValues, Paint, RuleDetail, RuleDigest, Tally, TextOptions, View,
    WorstExchanges, WorstLine, BIG, MAX_ACCOUNTS_PER_RULE, MAX_ALSO, MAX_FRAMES_SHOWN,
    MAX_RULES_IN_FULL, MAX_WORST,
};
use crate::analysis::Analysis;
use crate::correlate::AuthExchange;
use crate::report::filter::Scope;
use crate::report::streamed::{notes_of, ExchangeCounts, ExchangeMethods, IdSet};
use crate::report::{redact::Level, verdict_for, AccountBook, AccountRow, Report};
use crate::rules::{Finding, Severity};
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::cmp::Reverse;
use std::collections::BTreeMap;
use std::hash::{BuildHasher, RandomState};
use std::io::{self, Write};

/// Collects the text view one finished exchange at a time
/// ([`TextStream::exchange`]), then the findings about the capture as a
/// whole ([`TextStream::findings`]), and writes it ([`TextStream::finish`]).
pub struct TextStream {
    /// Every exchange with its findings while there are at most [`BIG`]:
    /// a small capture is written by [`super::write`] itself, which lists
    /// them all. `None` once there were more.
    kept: Option<Vec<(AuthExchange, Vec<Finding>)>>,
    /// Most exchanges kept ([`BIG`]).
    keep_at_most: usize,
    /// Exchanges, outcomes, accounts, methods.
    counts: ExchangeCounts,
    by_severity: BTreeMap<&'static str, usize>,
    worst: Option<Severity>,
    /// By account number ([`AccountBook::account_of`]).
    accounts: Vec<AccountNotes>,
    /// In the order rules first fired.
    rules: Vec<RuleNotes>,
    /// Exchanges with a finding at warning level or worse.
    bad: IdSet,
    /// The worst exchanges so far, best first, at most [`MAX_WORST`].
    worst_lines: Vec<WorstLine>,
    /// Findings seen so far: a finding's place in report order.
    seen: u64,
    /// Hashes the evidence values a rule's example is compared with
    /// (keyed, so that a capture cannot make two values collide).
    hasher: RandomState,
    /// What the exchanges and findings given were masked at.
    redaction: Level,
    /// `--details` and `--ladder`: what they print, as exchanges finish.
    spool: Option<DetailsSpool>,
    /// Set when a filter chose what was given ([`crate::report::filter::Gate`]).
    scope: Option<Scope>,
}

/// What the diagnosis needs of one account besides its row.
#[derive(Default)]
struct AccountNotes {
    /// Its first exchange, whose method the verdict names when no finding
    /// is about the account.
    first_exchange: Option<usize>,
    /// Its most severe finding (the first of equals): the severity and the
    /// exchange it is about.
    worst: Option<(Severity, usize)>,
    /// Per rule, its finding about the earliest of the account's
    /// exchanges: the words of the account's cause.
    causes: Vec<CauseNote>,
}

struct CauseNote {
    rule: &'static str,
    exchange: usize,
    message: Box<str>,
    /// Nearly always a rule's constant text: shared, not copied per
    /// account.
    fix: std::borrow::Cow<'static, str>,
}

/// What the findings by rule print of one rule.
struct RuleNotes {
    rule: &'static str,
    severity: Severity,
    findings: usize,
    /// Findings about a single exchange (repeats counted).
    about_exchanges: usize,
    /// Distinct exchanges it is about.
    ids: IdSet,
    /// Its first finding, in report order: the example.
    first: Finding,
    /// Per evidence entry of `first`: the other values of its key.
    also: Vec<AlsoNote>,
    /// Distinct frames of all its findings.
    frames: IdSet,
    /// Per account: its findings and the place of the first in report
    /// order (accounts with as many findings keep that order).
    accounts: HashMap<usize, (usize, u64)>,
}

/// [`OtherValues`] being collected: distinct values as keyed hashes.
#[derive(Default)]
struct AlsoNote {
    listed: Vec<String>,
    distinct: HashSet<u64>,
}

impl Default for TextStream {
    fn default() -> Self {
        Self::new()
    }
}

impl TextStream {
    pub fn new() -> TextStream {
        TextStream::keeping(BIG)
    }

    /// A collector that keeps the exchanges while at most `limit` have
    /// arrived. Tests pass 0, to have even small captures written from
    /// what is collected.
    pub fn keeping(limit: usize) -> TextStream {
        TextStream {
            kept: Some(Vec::new()),
            keep_at_most: limit,
            counts: ExchangeCounts::default(),
            by_severity: BTreeMap::new(),
            worst: None,
            accounts: Vec::new(),
            rules: Vec::new(),
            bad: IdSet::default(),
            worst_lines: Vec::new(),
            seen: 0,
            hasher: RandomState::new(),
            redaction: Level::None,
            spool: None,
            scope: None,
        }
    }

    /// Says in the view what a filter left out of what it was given.
    pub fn set_scope(&mut self, scope: Scope) {
        self.scope = Some(scope);
    }

    /// Prints `--details` and `--ladder` (as `o` asks) from `spool`, which
    /// is given every exchange as it finishes.
    pub fn spooling(mut self, spool: DetailsSpool) -> TextStream {
        self.spool = Some(spool);
        self
    }

    /// Says in the view that what it is given was masked at `level`
    /// ([`crate::report::redact::Redactor`]).
    pub fn redacted(mut self, level: Level) -> TextStream {
        self.redaction = level;
        self
    }

    /// Counts a finished exchange and the findings about it.
    pub fn exchange(&mut self, ex: AuthExchange, findings: Vec<Finding>) {
        if let Some(spool) = &mut self.spool {
            spool.exchange(&ex, &findings);
        }
        if let Some(account) = self.counts.exchange(&ex) {
            notes_of(&mut self.accounts, account)
                .first_exchange
                .get_or_insert(ex.id);
        }
        for f in &findings {
            self.finding(f, Some(&ex));
        }
        self.consider_worst(&ex, &findings);
        self.keep(ex, findings);
    }

    /// Counts the findings about the capture as a whole (some name
    /// exchanges already counted).
    pub fn findings(&mut self, findings: &[Finding]) {
        if let Some(spool) = &mut self.spool {
            spool.findings_at_end(findings);
        }
        for f in findings {
            self.finding(f, None);
        }
        self.worst_lines.sort_by_key(WorstLine::order);
    }

    /// The most severe finding of all.
    pub fn worst(&self) -> Option<Severity> {
        self.worst
    }

    /// Writes the view; `analysis` is what the streamed analysis
    /// returned (inputs, findings about the capture as a whole).
    pub fn finish(
        self,
        analysis: Analysis,
        o: &TextOptions,
        out: &mut dyn Write,
    ) -> io::Result<()> {
        match self.kept {
            Some(kept) => write_kept(kept, analysis, self.redaction, self.scope, o, out),
            None => self.write_digest(analysis, o, out),
        }
    }

    fn keep(&mut self, ex: AuthExchange, findings: Vec<Finding>) {
        if self.counts.exchanges > self.keep_at_most {
            self.kept = None;
        } else if let Some(kept) = &mut self.kept {
            kept.push((ex, findings));
        }
    }

    /// `ex` is the exchange the finding is about when it arrives with it;
    /// `None` for findings about the capture as a whole.
    fn finding(&mut self, f: &Finding, ex: Option<&AuthExchange>) {
        self.seen += 1;
        *self.by_severity.entry(f.severity.as_str()).or_insert(0) += 1;
        self.worst = self.worst.max(Some(f.severity));
        self.counts.book.finding(f);
        let account = f.exchange.and_then(|e| self.counts.book.account_of(e));
        let i = match self.rules.iter().position(|r| r.rule == f.rule) {
            Some(i) => i,
            None => {
                self.rules.push(RuleNotes::new(f));
                self.rules.len() - 1
            }
        };
        self.rules[i].add(f, account, self.seen, &self.hasher);
        let Some(e) = f.exchange else {
            return;
        };
        if f.severity >= Severity::Warning {
            self.bad.insert(e as u64);
        }
        if let Some(notes) = account.and_then(|a| self.accounts.get_mut(a)) {
            notes.add(f, e);
        }
        if ex.is_none() {
            self.late_finding_on_worst(f, e);
        }
    }

    /// Keeps the exchange's line when it is among the worst so far.
    fn consider_worst(&mut self, ex: &AuthExchange, findings: &[Finding]) {
        let Some(sev) = findings.iter().map(|f| f.severity).max() else {
            return;
        };
        if sev < Severity::Warning {
            return;
        }
        let key = (Reverse(sev), Reverse(ex.rounds.len()), ex.id);
        let at = self.worst_lines.partition_point(|l| l.order() < key);
        if at >= MAX_WORST {
            return;
        }
        let mut rules: Vec<&'static str> = findings.iter().map(|f| f.rule).collect();
        rules.dedup();
        self.worst_lines.insert(at, WorstLine::new(ex, sev, rules));
        self.worst_lines.truncate(MAX_WORST);
    }

    /// A capture-wide rule's finding about an exchange already handed
    /// over: it adds to the exchange's line when that is kept. (An
    /// exchange it would raise into the worst is gone: see docs/reports.md.)
    fn late_finding_on_worst(&mut self, f: &Finding, exchange: usize) {
        if let Some(line) = self.worst_lines.iter_mut().find(|l| l.id == exchange) {
            line.severity = line.severity.max(f.severity);
            if line.rules.last() != Some(&f.rule) {
                line.rules.push(f.rule);
            }
        }
    }

    /// The view of a capture with more than [`BIG`] exchanges, from what
    /// was collected.
    fn write_digest(
        self,
        analysis: Analysis,
        o: &TextOptions,
        out: &mut dyn Write,
    ) -> io::Result<()> {
        let p = Paint { on: o.color };
        let w = usize::from(o.width.clamp(40, super::MAX_WIDTH));
        let wide: Vec<&Finding> = analysis
            .findings
            .iter()
            .filter(|f| f.exchange.is_none())
            .collect();
        let counts = self.counts;
        let wide_causes = wide_causes(&counts.book, &wide);
        let mut rules = self.rules;
        rules.sort_by_key(|r| super::rule_order(r.severity, r.rule));
        let named = accounts_named_by_rules(&counts.book, &rules);
        let table = AccountTable::of(counts.book);
        let views = table
            .rows
            .iter()
            .zip(&table.account_at)
            .map(|(row, &a)| {
                let notes = self.accounts.get(a).map(|n| (a, n));
                account_view(row, notes, &wide_causes, &counts.methods)
            })
            .collect();
        let view = View {
            tally: Tally {
                exchanges: counts.exchanges,
                by_outcome: counts.by_outcome,
                by_severity: self.by_severity,
                rules: rules.len(),
                worst: self.worst,
            },
            rows: &table.rows,
            views,
        };
        let digests = rule_digests(&rules, named, &table);
        let worst = WorstExchanges {
            lines: self.worst_lines,
            total: self.bad.len(),
        };
        write_inputs(
            &analysis.inputs,
            self.scope.as_ref(),
            self.redaction,
            &p,
            w,
            out,
        )?;
        let mut spool = self.spool;
        match &mut spool {
            Some(spool) if o.details => {
                write_overview(&view, o, &p, &mut Default::default(), out)?;
                spool.write_details(out)?;
            }
            _ => write_view(&view, o, &p, &digests, || worst, out)?,
        }
        match &mut spool {
            Some(spool) if o.ladder => spool.write_ladders(out),
            _ => Ok(()),
        }
    }
}

/// The accounts table, with each row's account number and back.
struct AccountTable {
    rows: Vec<AccountRow>,
    /// By row: its account number ([`AccountBook::account_of`]).
    account_at: Vec<usize>,
    /// By account number: its row.
    row_of: Vec<usize>,
}

impl AccountTable {
    fn of(book: AccountBook) -> AccountTable {
        let numbered = book.numbered_rows();
        let mut table = AccountTable {
            rows: Vec::with_capacity(numbered.len()),
            account_at: Vec::with_capacity(numbered.len()),
            row_of: vec![0; numbered.len()],
        };
        for (row, (account, r)) in numbered.into_iter().enumerate() {
            if let Some(slot) = table.row_of.get_mut(account) {
                *slot = row;
            }
            table.account_at.push(account);
            table.rows.push(r);
        }
        table
    }

    fn row(&self, account: usize) -> Option<&AccountRow> {
        self.rows.get(*self.row_of.get(account)?)
    }
}

/// A small capture: the analysis as [`crate::analysis::analyze`] would
/// have kept it, written by [`super::write`].
fn write_kept(
    kept: Vec<(AuthExchange, Vec<Finding>)>,
    mut analysis: Analysis,
    redaction: Level,
    scope: Option<Scope>,
    o: &TextOptions,
    out: &mut dyn Write,
) -> io::Result<()> {
    let mut exchanges = Vec::with_capacity(kept.len());
    let mut findings = Vec::new();
    for (ex, mut f) in kept {
        exchanges.push(ex);
        findings.append(&mut f);
    }
    // Findings about single exchanges first, then those about the
    // capture as a whole, as the kept analysis orders them.
    findings.append(&mut analysis.findings);
    analysis.exchanges = exchanges;
    analysis.findings = findings;
    let report = Report {
        analysis,
        scope,
        redaction,
    };
    super::write(&report, o, out)
}

impl AccountNotes {
    fn add(&mut self, f: &Finding, exchange: usize) {
        if self.worst.is_none_or(|(s, _)| f.severity > s) {
            self.worst = Some((f.severity, exchange));
        }
        match self.causes.iter_mut().find(|c| c.rule == f.rule) {
            Some(c) if c.exchange <= exchange => {}
            Some(c) => *c = CauseNote::of(f, exchange),
            None => self.causes.push(CauseNote::of(f, exchange)),
        }
    }
}

impl CauseNote {
    fn of(f: &Finding, exchange: usize) -> CauseNote {
        CauseNote {
            rule: f.rule,
            exchange,
            message: f.message.as_str().into(),
            fix: f.fix.clone(),
        }
    }
}

/// Per (account, rule): the first capture-wide finding of the rule that
/// names one of the account's exchanges.
fn wide_causes<'a>(
    book: &AccountBook,
    wide: &[&'a Finding],
) -> HashMap<(usize, &'static str), &'a Finding> {
    let mut causes = HashMap::default();
    for f in wide {
        for &e in &f.related_exchanges {
            if let Some(account) = book.account_of(e) {
                causes.entry((account, f.rule)).or_insert(*f);
            }
        }
    }
    causes
}

fn account_view<'a>(
    row: &'a AccountRow,
    notes: Option<(usize, &'a AccountNotes)>,
    wide_causes: &HashMap<(usize, &'static str), &'a Finding>,
    methods: &ExchangeMethods,
) -> AccountView<'a> {
    let Some((account, notes)) = notes else {
        return AccountView {
            row,
            verdict: verdict_for(row, "?", None),
            cause: None,
        };
    };
    let method = notes
        .worst
        .and_then(|(_, e)| methods.of(e))
        .or_else(|| notes.first_exchange.and_then(|e| methods.of(e)))
        .unwrap_or("?");
    let severity = notes.worst.map(|(s, _)| s);
    let cause = row.root_cause.as_ref().and_then(|c| {
        let own = notes
            .causes
            .iter()
            .find(|n| n.rule == c.rule)
            .map(|n| Cause {
                rule: n.rule,
                message: &n.message,
                fix: &n.fix,
            });
        own.or_else(|| wide_causes.get(&(account, c.rule)).map(|f| Cause::of(f)))
    });
    AccountView {
        row,
        verdict: verdict_for(row, method, severity),
        cause,
    }
}

/// Per rule shown in full (in `rules`' order): the accounts with most of
/// its findings, each with the rule's exchanges among its own.
fn accounts_named_by_rules(
    book: &AccountBook,
    rules: &[RuleNotes],
) -> Vec<Vec<(usize, Vec<usize>)>> {
    rules
        .iter()
        .take(MAX_RULES_IN_FULL)
        .map(|r| {
            let mut top: Vec<(usize, (usize, u64))> =
                r.accounts.iter().map(|(&a, &n)| (a, n)).collect();
            top.sort_by_key(|&(_, (count, first))| (Reverse(count), first));
            top.truncate(MAX_ACCOUNTS_PER_RULE);
            let mut named: Vec<(usize, Vec<usize>)> =
                top.iter().map(|&(a, _)| (a, Vec::new())).collect();
            for id in r.ids.iter() {
                let Ok(id) = usize::try_from(id) else {
                    continue;
                };
                let account = book.account_of(id);
                if let Some(slot) = named.iter_mut().find(|(a, _)| Some(*a) == account) {
                    slot.1.push(id);
                }
            }
            named
        })
        .collect()
}

fn rule_digests<'a>(
    rules: &'a [RuleNotes],
    named: Vec<Vec<(usize, Vec<usize>)>>,
    table: &AccountTable,
) -> Vec<RuleDigest<'a>> {
    let mut named = named.into_iter();
    rules
        .iter()
        .map(|r| {
            let ids = r.ids.iter().filter_map(|id| usize::try_from(id).ok());
            RuleDigest {
                rule: r.rule,
                severity: r.severity,
                exchanges: r.ids.len(),
                exchange_ranges: sorted_ranges(ids),
                wide: r.findings - r.about_exchanges,
                detail: named.next().map(|accounts| r.detail(accounts, table)),
            }
        })
        .collect()
}

impl RuleNotes {
    fn new(f: &Finding) -> RuleNotes {
        RuleNotes {
            rule: f.rule,
            severity: f.severity,
            findings: 0,
            about_exchanges: 0,
            ids: IdSet::default(),
            first: f.clone(),
            also: f.evidence.0.iter().map(|_| AlsoNote::default()).collect(),
            frames: IdSet::default(),
            accounts: HashMap::default(),
        }
    }

    fn add(&mut self, f: &Finding, account: Option<usize>, seen: u64, hasher: &RandomState) {
        self.findings += 1;
        self.severity = self.severity.max(f.severity);
        for &frame in &f.frames {
            self.frames.insert(frame);
        }
        if let Some(e) = f.exchange {
            self.about_exchanges += 1;
            self.ids.insert(e as u64);
        }
        if let Some(a) = account {
            self.accounts.entry(a).or_insert((0, seen)).0 += 1;
        }
        if self.findings > 1 {
            self.add_other_values(f, hasher);
        }
    }

    /// The values `f` gives the keys of the example that differ from the
    /// example's.
    fn add_other_values(&mut self, f: &Finding, hasher: &RandomState) {
        for ((k, v), also) in self.first.evidence.0.iter().zip(&mut self.also) {
            for (k2, v2) in &f.evidence.0 {
                if k2 == k
                    && v2 != v
                    && also.distinct.insert(hasher.hash_one(v2))
                    && also.listed.len() < MAX_ALSO
                {
                    also.listed.push(v2.clone());
                }
            }
        }
    }

    fn detail(&self, accounts: Vec<(usize, Vec<usize>)>, table: &AccountTable) -> RuleDetail<'_> {
        let named = accounts
            .iter()
            .filter_map(|(a, ids)| {
                let row = table.row(*a)?;
                Some(account_named(row, &sorted_ranges(ids.iter().copied())))
            })
            .collect();
        RuleDetail {
            accounts: named,
            account_count: self.accounts.len(),
            first: &self.first,
            several: self.findings > 1,
            also: self
                .also
                .iter()
                .map(|a| OtherValues {
                    listed: a.listed.clone(),
                    distinct: a.distinct.len(),
                })
                .collect(),
            frames: self.frames.iter().take(MAX_FRAMES_SHOWN).collect(),
            frame_count: self.frames.len(),
        }
    }
}
