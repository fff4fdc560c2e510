//! Reports: the terminal view, JSON for scripts, Markdown and HTML for
//! support tickets. Every format reads one [`Report`]: the analysis after
//! the filters ([`filter`]) and the redaction ([`redact`]) were applied to
//! it once, so no format can forget either.

pub mod filter;
pub mod html;
pub mod json;
pub mod ladder;
pub mod markdown;
pub mod redact;
pub mod sanitize;
mod slots;
pub(crate) mod streamed;
pub mod text;
pub mod ticket;

use crate::analysis::Analysis;
use crate::correlate::{AuthExchange, Outcome};
use crate::rules::{Finding, Severity};
use crate::sip::Text;
use rustc_hash::FxHashMap as HashMap;
use std::collections::BTreeMap;

/// What a report shows: the analysis, narrowed by the filters and masked
/// by the redaction, plus what the filters left out.
pub struct Report {
    pub analysis: Analysis,
    /// Set when a filter was given: what it was and the totals before it.
    pub scope: Option<filter::Scope>,
    pub redaction: redact::Level,
}

impl Report {
    /// Filters, then redacts (so pseudonyms are numbered in the order the
    /// reader meets them in what is shown).
    pub fn build(analysis: Analysis, f: &filter::Filter, level: redact::Level) -> Report {
        let whole = filter::Whole::of(&analysis);
        Report::build_narrowed(analysis, whole, f, level)
    }

    /// [`Report::build`] of an analysis narrowed as it was streamed
    /// ([`filter::Narrowing`]): the same report, from the part kept.
    pub fn build_narrowed(
        mut analysis: Analysis,
        whole: filter::Whole,
        f: &filter::Filter,
        level: redact::Level,
    ) -> Report {
        let scope = filter::apply_after(&mut analysis, f, whole);
        redact::apply(&mut analysis, level);
        Report {
            analysis,
            scope,
            redaction: level,
        }
    }

    /// A report of the whole analysis, nothing masked.
    pub fn plain(analysis: Analysis) -> Report {
        Report::masked(analysis, redact::Level::None)
    }

    /// A report of the whole analysis, already masked at `level` as it
    /// streamed ([`redact::Redactor`]).
    pub fn masked(analysis: Analysis, level: redact::Level) -> Report {
        Report {
            analysis,
            scope: None,
            redaction: level,
        }
    }
}

/// Most ladders drawn in one Markdown or HTML report; the rest are named.
pub const MAX_LADDERS: usize = 40;

/// One row of the per-account table.
#[derive(Clone, Debug, serde::Serialize)]
pub struct AccountRow {
    pub user: Text,
    pub auth_user: Text,
    pub realm: Text,
    pub client: Text,
    pub server: Text,
    /// Authentication exchanges: a request through its challenges to the
    /// final answer.
    pub exchanges: usize,
    /// Requests sent with credentials, plus exchanges that ended without
    /// ever sending any.
    pub attempts: usize,
    /// Credentials refused (401/407 again, not stale, or 403) or never
    /// answered, plus exchanges without credentials that failed.
    pub failures: usize,
    /// Credentials accepted, plus exchanges accepted without credentials.
    pub successes: usize,
    /// Requests sent, over all exchanges (first request and each retry).
    pub rounds: usize,
    pub last_outcome: Outcome,
    /// The exchanges of this account, in capture order.
    #[serde(skip)]
    pub exchange_ids: Vec<usize>,
    /// The most severe (then most specific) warning or worse about this
    /// account.
    pub root_cause: Option<RootCause>,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct RootCause {
    pub rule: &'static str,
    pub severity: Severity,
    /// What the rule means, in a few words.
    pub phrase: &'static str,
}

/// Rules that name a cause come before rules that only describe the
/// symptom (rejected, refused, looping), so that among findings of equal
/// severity the table shows why, not just that, authentication failed.
const CAUSE_ORDER: &[(&str, &str)] = &[
    ("brute-force", "password guessing / enumeration"),
    ("wrong-password", "password differs from the server's"),
    ("malformed-credentials", "malformed credentials header"),
    ("realm-mismatch", "client answers another realm"),
    ("algorithm-mismatch", "algorithm not offered"),
    ("missing-cnonce", "qop offered, no cnonce/nc"),
    ("qop-mismatch", "qop differs from the offer"),
    ("opaque-mismatch", "opaque not echoed"),
    ("nonce-mismatch", "answers an old nonce"),
    ("stale-nonce", "nonce expired before the answer"),
    ("credentials-header-mismatch", "wrong credentials header"),
    ("credentials-missing-on-retry", "retry without credentials"),
    (
        "register-challenged-with-407",
        "REGISTER challenged with 407",
    ),
    ("auth-user-split", "extension and auth user differ"),
    ("uri-mismatch", "digest uri differs"),
    ("nc-reuse", "nonce count repeated"),
    ("cseq-not-incremented", "retry keeps the CSeq"),
    ("scanner-user-agent", "scanner User-Agent"),
    ("encrypted-signalling", "encrypted signalling"),
    ("challenge-unanswered", "challenge never answered"),
    ("forbidden-after-auth", "403 after credentials"),
    ("no-final-response", "no final response"),
    ("auth-loop", "challenged again and again"),
    ("credentials-rejected", "credentials rejected"),
];

/// A rule's place in the cause order (unlisted rules last) and its
/// phrase in a few words.
pub fn cause_rank(rule: &str) -> (usize, &'static str) {
    match CAUSE_ORDER.iter().position(|(r, _)| *r == rule) {
        Some(i) => (i, CAUSE_ORDER[i].1),
        None => (
            CAUSE_ORDER.len(),
            crate::rules::RULES
                .iter()
                .find(|r| r.id == rule)
                .map(|r| r.summary)
                .unwrap_or(""),
        ),
    }
}

/// The finding that best explains a set of findings, given as (rule,
/// severity): most severe first, then the most specific rule. Rules in
/// `harmless` (they also fired on an exchange of the same client and
/// server that succeeded, so they did not stop it) are passed over unless
/// nothing else is left.
pub fn root_cause(
    findings: impl Iterator<Item = (&'static str, Severity)> + Clone,
    harmless: &[&str],
) -> Option<RootCause> {
    let serious = findings.filter(|f| f.1 >= Severity::Warning);
    let telling = serious.clone().filter(|f| !harmless.contains(&f.0));
    let pool: Vec<(&'static str, Severity)> = if telling.clone().next().is_some() {
        telling.collect()
    } else {
        serious.collect()
    };
    pool.into_iter()
        .min_by_key(|f| (std::cmp::Reverse(f.1), cause_rank(f.0).0))
        .map(|(rule, severity)| RootCause {
            rule,
            severity,
            phrase: cause_rank(rule).1,
        })
}

pub use crate::correlate::endpoint;

/// Counts each request with credentials as an attempt (refused, accepted
/// or unanswered), so that a client retrying in one exchange shows every
/// try; an exchange that never sent credentials counts once by its outcome.
fn count_attempts(ex: &AuthExchange, row: &mut AccountRow) {
    let mut sent = false;
    for r in &ex.rounds {
        if !r.request.credentials.iter().any(|c| !c.relayed) {
            continue;
        }
        sent = true;
        row.attempts += 1;
        match &r.response {
            Some(resp) if (200..300).contains(&resp.status) => row.successes += 1,
            Some(resp)
                if resp.status == 403
                    || resp.is_challenge()
                        && !resp.challenges.iter().any(|c| c.challenge.stale) =>
            {
                row.failures += 1
            }
            _ => {}
        }
    }
    if sent {
        if ex.outcome == Outcome::Unanswered {
            row.failures += 1;
        }
        return;
    }
    match ex.outcome {
        Outcome::Succeeded => {
            row.attempts += 1;
            row.successes += 1;
        }
        Outcome::Failed | Outcome::Unanswered => {
            row.attempts += 1;
            row.failures += 1;
        }
        Outcome::Incomplete => {}
    }
}

/// Groups exchanges by account: user, auth user, realm, client host,
/// server. Findings count for an account when they name one of its
/// exchanges, or, for capture-wide findings (brute force, scanners), when
/// they name it among their related exchanges (frame numbers alone would
/// not do: they restart in every input).
pub fn accounts(exchanges: &[AuthExchange], findings: &[Finding]) -> Vec<AccountRow> {
    let mut book = AccountBook::new(true);
    for ex in exchanges {
        book.exchange(ex);
    }
    for f in findings {
        book.finding(f);
    }
    book.rows()
}

/// The per-account table, built one exchange and one finding at a time so
/// that a streamed report can keep it without keeping the exchanges: per
/// account the counters and the distinct (rule, severity) of its findings;
/// per exchange three numbers.
pub struct AccountBook {
    /// Hash of an account's key -> its group; keys whose hash another
    /// account already has are found in `collided` (rare).
    index: HashMap<u64, usize>,
    collided: Vec<usize>,
    groups: Vec<AccountGroup>,
    /// (client, server) addresses -> hop number.
    hops: HashMap<(Option<std::net::SocketAddr>, Option<std::net::SocketAddr>), usize>,
    /// Per hop: rules that fired on one of its exchanges that succeeded.
    harmless: Vec<Vec<&'static str>>,
    /// By exchange id: (account + 1, hop with [`SUCCEEDED`] set when the
    /// exchange succeeded); (0, 0) for ids not seen. Eight bytes an
    /// exchange (ids are dense: 1, 2, 3, ... in the order exchanges
    /// finish), most of them in a temporary file: see [`slots`].
    exchanges: slots::Slots,
    /// Keep each account's exchange ids (the terminal and ticket reports
    /// look them up; the JSON report does not).
    keep_ids: bool,
}

/// Marks a succeeded exchange in [`AccountBook`]'s hop numbers.
const SUCCEEDED: u32 = 1 << 31;

struct AccountGroup {
    row: AccountRow,
    /// Distinct (rule, severity) of the findings about the account.
    rules: Vec<(&'static str, Severity)>,
    /// Hop of its first exchange.
    hop: usize,
    /// The addresses `row.client` and `row.server` were formatted from.
    client: Option<std::net::IpAddr>,
    server: Option<std::net::SocketAddr>,
}

impl AccountBook {
    pub fn new(keep_ids: bool) -> AccountBook {
        AccountBook {
            index: HashMap::default(),
            collided: Vec::new(),
            groups: Vec::new(),
            hops: HashMap::default(),
            harmless: Vec::new(),
            exchanges: slots::Slots::new(),
            keep_ids,
        }
    }

    fn key_hash(
        &self,
        user: &str,
        auth_user: &str,
        realm: &str,
        client: Option<std::net::IpAddr>,
        server: Option<std::net::SocketAddr>,
    ) -> u64 {
        use std::hash::BuildHasher;
        self.index
            .hasher()
            .hash_one((user, auth_user, realm, client, server))
    }

    /// Counts an exchange for its account. Findings naming it must come
    /// after it ([`AccountBook::finding`]).
    pub fn exchange(&mut self, ex: &AuthExchange) {
        let user = ex.user_ref();
        self.exchange_named(ex, user.as_deref(), ex.auth_user_ref(), ex.realm_ref());
    }

    /// [`AccountBook::exchange`] with the exchange's user, auth user and
    /// realm already worked out (the JSON report needs them too).
    pub fn exchange_named(
        &mut self,
        ex: &AuthExchange,
        user: Option<&str>,
        auth_user: Option<&str>,
        realm: Option<&str>,
    ) {
        let (user, auth_user, realm) = (
            user.unwrap_or("?"),
            auth_user.unwrap_or("-"),
            realm.unwrap_or("-"),
        );
        let (client, server) = (ex.client.map(|a| a.ip()), ex.server);
        let hop_key = (ex.client, ex.server);
        let next_hop = self.hops.len();
        let hop = *self.hops.entry(hop_key).or_insert(next_hop);
        if hop == self.harmless.len() {
            self.harmless.push(Vec::new());
        }
        // Looked up by the addresses themselves: they are formatted (and
        // the names copied) only for a new account, not for every exchange.
        let hash = self.key_hash(user, auth_user, realm, client, server);
        let same = |g: &AccountGroup| {
            let r = &g.row;
            (g.client, g.server) == (client, server)
                && (r.user.as_str(), r.auth_user.as_str(), r.realm.as_str())
                    == (user, auth_user, realm)
        };
        let found = match self.index.get(&hash) {
            Some(&i) if same(&self.groups[i]) => Some(i),
            Some(_) => self
                .collided
                .iter()
                .copied()
                .find(|&i| same(&self.groups[i])),
            None => None,
        };
        let account = match found {
            Some(i) => i,
            None => {
                let i = self.groups.len();
                match self.index.entry(hash) {
                    std::collections::hash_map::Entry::Occupied(_) => self.collided.push(i),
                    std::collections::hash_map::Entry::Vacant(v) => {
                        v.insert(i);
                    }
                }
                self.groups.push(AccountGroup {
                    row: AccountRow {
                        // Inline when short (nearly always): no
                        // allocation per account and field.
                        user: Text::new(user),
                        auth_user: Text::new(auth_user),
                        realm: Text::new(realm),
                        client: client.map_or_else(
                            || Text::new("?"),
                            |ip| compact_str::format_compact!("{ip}"),
                        ),
                        server: crate::correlate::endpoint_text(server),
                        exchanges: 0,
                        attempts: 0,
                        failures: 0,
                        successes: 0,
                        rounds: 0,
                        last_outcome: ex.outcome,
                        root_cause: None,
                        exchange_ids: Vec::new(),
                    },
                    rules: Vec::new(),
                    hop,
                    client,
                    server,
                });
                i
            }
        };
        let row = &mut self.groups[account].row;
        row.exchanges += 1;
        if self.keep_ids {
            row.exchange_ids.push(ex.id);
        }
        row.rounds += ex.rounds.len();
        count_attempts(ex, row);
        row.last_outcome = ex.outcome;
        let succeeded = if ex.outcome == Outcome::Succeeded {
            SUCCEEDED
        } else {
            0
        };
        self.exchanges
            .set(ex.id, (account as u32 + 1, hop as u32 | succeeded));
    }

    /// Counts a finding for the accounts of the exchanges it names.
    pub fn finding(&mut self, f: &Finding) {
        for e in f.exchange.iter().chain(&f.related_exchanges) {
            let Some((account, hop)) = self.exchanges.get(*e).filter(|x| x.0 > 0) else {
                continue;
            };
            let succeeded = hop & SUCCEEDED != 0;
            let hop = hop & !SUCCEEDED;
            let rules = &mut self.groups[account as usize - 1].rules;
            if !rules.contains(&(f.rule, f.severity)) {
                rules.push((f.rule, f.severity));
            }
            // Capture-wide findings (an attack that once succeeded) are
            // never harmless.
            if succeeded && f.exchange.is_some() {
                let harmless = &mut self.harmless[hop as usize];
                if !harmless.contains(&f.rule) {
                    harmless.push(f.rule);
                }
            }
        }
    }

    /// The account (numbered from 0 in the order accounts were first
    /// seen) an exchange was counted for.
    pub fn account_of(&self, exchange: usize) -> Option<usize> {
        match self.exchanges.get(exchange) {
            Some((account, _)) if account > 0 => Some(account as usize - 1),
            _ => None,
        }
    }

    /// The table, ordered by account, with each account's root cause.
    pub fn rows(self) -> Vec<AccountRow> {
        self.numbered_rows().into_iter().map(|(_, r)| r).collect()
    }

    /// [`AccountBook::rows`], each with its number of
    /// [`AccountBook::account_of`].
    pub fn numbered_rows(self) -> Vec<(usize, AccountRow)> {
        let harmless = self.harmless;
        // Sorted by index: a row is a few hundred bytes, and keys are
        // distinct (one group per key), so the order is the stable one.
        // The keys are taken out of the rows once, with the first eight
        // bytes of the user as a number: most comparisons end there (a
        // large capture has tens of thousands of accounts, sorted at the
        // end of the run while nothing else runs).
        let keys: Vec<(u64, [&str; 5])> = self
            .groups
            .iter()
            .map(|g| {
                let r = &g.row;
                (
                    prefix(&r.user),
                    [
                        r.user.as_str(),
                        r.auth_user.as_str(),
                        r.realm.as_str(),
                        r.client.as_str(),
                        r.server.as_str(),
                    ],
                )
            })
            .collect();
        let mut order: Vec<usize> = (0..self.groups.len()).collect();
        order.sort_unstable_by(|&a, &b| keys[a].cmp(&keys[b]));
        drop(keys);
        let mut groups: Vec<Option<AccountGroup>> = self.groups.into_iter().map(Some).collect();
        order
            .into_iter()
            .filter_map(|i| groups[i].take().map(|g| (i, g)))
            .map(|(i, mut g)| {
                g.row.root_cause = root_cause(g.rules.iter().copied(), &harmless[g.hop]);
                (i, g.row)
            })
            .collect()
    }
}

/// The first eight bytes of `s`, zero-padded, as a big-endian number:
/// ordering these orders the strings, except where they are equal (then
/// the strings themselves decide).
fn prefix(s: &str) -> u64 {
    let mut b = [0u8; 8];
    let n = s.len().min(8);
    b[..n].copy_from_slice(&s.as_bytes()[..n]);
    u64::from_be_bytes(b)
}

/// Findings and exchanges by exchange id, built once per report: the
/// per-account questions below would otherwise scan every finding and
/// every exchange once per account (quadratic on large captures).
pub struct Lookup<'a> {
    analysis: &'a Analysis,
    /// Exchange id -> positions in `analysis.findings`, ascending.
    findings: HashMap<usize, Vec<usize>>,
    exchanges: HashMap<usize, &'a AuthExchange>,
}

impl<'a> Lookup<'a> {
    pub fn new(analysis: &'a Analysis) -> Lookup<'a> {
        let mut findings: HashMap<usize, Vec<usize>> = HashMap::default();
        for (i, f) in analysis.findings.iter().enumerate() {
            if let Some(e) = f.exchange {
                findings.entry(e).or_default().push(i);
            }
        }
        let exchanges = analysis.exchanges.iter().map(|e| (e.id, e)).collect();
        Lookup {
            analysis,
            findings,
            exchanges,
        }
    }

    pub fn exchange(&self, id: usize) -> Option<&'a AuthExchange> {
        self.exchanges.get(&id).copied()
    }

    /// The findings about one exchange, most severe first (report order
    /// among equals).
    pub fn findings_of(&self, exchange: usize) -> Vec<&'a Finding> {
        let all = &self.analysis.findings;
        let mut v: Vec<&Finding> = self
            .findings
            .get(&exchange)
            .into_iter()
            .flatten()
            .map(|&i| &all[i])
            .collect();
        v.sort_by_key(|f| std::cmp::Reverse(f.severity));
        v
    }

    /// Whether an exchange deserves a ladder in a ticket report: it did
    /// not succeed, or something at warning level or above was found in
    /// it.
    pub fn is_failing(&self, ex: &AuthExchange) -> bool {
        matches!(ex.outcome, Outcome::Failed | Outcome::Unanswered)
            || self
                .findings
                .get(&ex.id)
                .into_iter()
                .flatten()
                .any(|&i| self.analysis.findings[i].severity >= Severity::Warning)
    }

    /// The most severe finding about a set of exchanges (the first in the
    /// report's order on ties).
    pub fn worst_finding(&self, exchanges: &[usize]) -> Option<&'a Finding> {
        let mut best: Option<usize> = None;
        let all = &self.analysis.findings;
        for i in exchanges
            .iter()
            .flat_map(|e| self.findings.get(e).into_iter().flatten())
        {
            let better = match best {
                None => true,
                Some(b) => {
                    all[*i].severity > all[b].severity
                        || all[*i].severity == all[b].severity && *i < b
                }
            };
            if better {
                best = Some(*i);
            }
        }
        best.map(|i| &all[i])
    }

    /// The method the verdict speaks of: that of the exchange the worst
    /// finding is about, else the account's first exchange.
    pub fn account_method(&self, row: &AccountRow, worst: Option<&Finding>) -> &'a str {
        worst
            .and_then(|f| f.exchange)
            .or(row.exchange_ids.first().copied())
            .and_then(|id| self.exchange(id))
            .map(|e| e.method.as_str())
            .unwrap_or("?")
    }
}

impl<'a> Lookup<'a> {
    /// What the verdict of an account's row says: its worst finding and
    /// the method it names.
    pub fn verdict(&self, row: &AccountRow) -> Verdict<'a> {
        let worst = self.worst_finding(&row.exchange_ids);
        Verdict {
            method: self.account_method(row, worst),
            worst: worst.map(Worst::of),
        }
    }
}

/// The verdict of one account in the Markdown and HTML reports.
pub struct Verdict<'a> {
    /// The method of the exchange the worst finding is about, else of the
    /// account's first exchange.
    pub method: &'a str,
    pub worst: Option<Worst<'a>>,
}

/// What a verdict shows of the account's most severe finding.
#[derive(Clone, Copy)]
pub struct Worst<'a> {
    pub severity: Severity,
    pub message: &'a str,
    pub fix: &'a str,
}

impl<'a> Worst<'a> {
    pub fn of(f: &'a Finding) -> Worst<'a> {
        Worst {
            severity: f.severity,
            message: &f.message,
            fix: &f.fix,
        }
    }
}

/// The head of a Markdown or HTML report, down to the findings: inputs,
/// counts, a verdict per account and the accounts table. Drawn from a kept
/// analysis ([`TicketHead::kept`]) or from what a streamed report counted
/// ([`ticket::TicketStream`]).
pub struct TicketHead<'a> {
    pub inputs: &'a [crate::analysis::InputSummary],
    pub scope: Option<&'a filter::Scope>,
    pub redaction: redact::Level,
    pub exchanges: usize,
    pub summary: &'a Summary,
    pub rows: &'a [AccountRow],
    /// By row.
    pub verdicts: &'a [Verdict<'a>],
    /// Findings in the report.
    pub findings: usize,
}

/// What [`TicketHead`] borrows, worked out from a report in memory.
pub struct KeptHead<'a> {
    pub summary: Summary,
    pub rows: Vec<AccountRow>,
    pub lookup: Lookup<'a>,
}

impl<'a> KeptHead<'a> {
    pub fn of(r: &'a Report) -> KeptHead<'a> {
        let a = &r.analysis;
        KeptHead {
            summary: summary(a),
            rows: accounts(&a.exchanges, &a.findings),
            lookup: Lookup::new(a),
        }
    }

    pub fn verdicts(&self) -> Vec<Verdict<'a>> {
        self.rows
            .iter()
            .map(|row| self.lookup.verdict(row))
            .collect()
    }
}

impl<'a> TicketHead<'a> {
    pub fn kept(r: &'a Report, k: &'a KeptHead<'a>, verdicts: &'a [Verdict<'a>]) -> TicketHead<'a> {
        TicketHead {
            inputs: &r.analysis.inputs,
            scope: r.scope.as_ref(),
            redaction: r.redaction,
            exchanges: r.analysis.exchanges.len(),
            summary: &k.summary,
            rows: &k.rows,
            verdicts,
            findings: r.analysis.findings.len(),
        }
    }
}

/// What the account could or could not do, in words.
pub fn verdict_words(row: &AccountRow, method: &str, worst: Option<&Finding>) -> String {
    verdict_for(row, method, worst.map(|f| f.severity))
}

/// [`verdict_words`] given only the severity of the worst finding.
pub fn verdict_for(row: &AccountRow, method: &str, worst: Option<Severity>) -> String {
    let register = method.eq_ignore_ascii_case("REGISTER");
    let call = method.eq_ignore_ascii_case("INVITE");
    let failing = row.last_outcome != Outcome::Succeeded && row.failures > 0;
    let serious = worst.is_some_and(|s| s >= Severity::Error);
    if failing || (row.successes == 0 && serious) {
        if register {
            "cannot register".into()
        } else if call {
            "cannot place calls".into()
        } else {
            format!("cannot authenticate {method} requests")
        }
    } else if row.failures > 0 {
        if register {
            "registers, but only after failed attempts".into()
        } else {
            format!("authenticates {method}, but only after failed attempts")
        }
    } else if row.successes == 0 {
        "shows no final answer in the capture".into()
    } else if worst.is_some_and(|s| s >= Severity::Warning) {
        if register {
            "registers, with a problem to look at".into()
        } else {
            format!("authenticates {method}, with a problem to look at")
        }
    } else if register {
        "registers fine".into()
    } else {
        format!("authenticates {method} fine")
    }
}

/// Counts by outcome, rule and severity.
pub struct Summary {
    pub by_outcome: BTreeMap<&'static str, usize>,
    pub by_rule: BTreeMap<&'static str, usize>,
    pub by_severity: BTreeMap<&'static str, usize>,
}

pub fn summary(a: &Analysis) -> Summary {
    let mut by_outcome = BTreeMap::new();
    for ex in &a.exchanges {
        *by_outcome.entry(ex.outcome.as_str()).or_insert(0) += 1;
    }
    let mut by_rule = BTreeMap::new();
    let mut by_severity = BTreeMap::new();
    for f in &a.findings {
        *by_rule.entry(f.rule).or_insert(0) += 1;
        *by_severity.entry(f.severity.as_str()).or_insert(0) += 1;
    }
    Summary {
        by_outcome,
        by_rule,
        by_severity,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testutil::*;

    proptest::proptest! {
        // The accounts table is sorted on (prefix of the user, the five
        // strings): the same order as on the strings alone, including
        // users that are prefixes of each other or hold NUL bytes.
        #[test]
        fn sorting_on_the_prefix_keeps_the_order_of_the_strings(
            a in "[a\\x00b\u{e9}]{0,10}",
            b in "[a\\x00b\u{e9}]{0,10}",
        ) {
            let by_prefix = (prefix(&a), a.as_str()).cmp(&(prefix(&b), b.as_str()));
            proptest::prop_assert_eq!(by_prefix, a.cmp(&b));
        }
    }

    /// An analysis of one rejected REGISTER whose realm and user carry
    /// markup and escape sequences.
    fn hostile() -> Analysis {
        let auth = auth_qop("al<i>ce\x1b[2J")
            .replace("realm=\"lab.example\"", "realm=\"<script>x</script>\"");
        let exchanges = one_retry(WWW_QOP, &auth, 401, "Unauthorized");
        let findings = crate::rules::evaluate(&exchanges, &Default::default());
        Analysis {
            exchanges,
            findings,
            ..Default::default()
        }
    }

    fn render(
        r: &Report,
        f: fn(&Report, &mut dyn std::io::Write) -> std::io::Result<()>,
    ) -> String {
        let mut buf = Vec::new();
        f(r, &mut buf).unwrap();
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn html_escapes_capture_text_everywhere() {
        let html = render(&Report::plain(hostile()), html::write);
        assert!(!html.contains("<script>x"), "unescaped realm");
        assert!(!html.contains("al<i>"), "unescaped user");
        assert!(!html.contains('\x1b'));
        assert!(html.contains("&lt;script&gt;x&lt;/script&gt;"));
        assert!(html.contains("al&lt;i&gt;ce\\x1b[2J"));
        // The realm the finding is about is marked in the drawing.
        assert!(
            html.contains("class=\"hl\">realm=&lt;script&gt;x&lt;/script&gt;</text>"),
            "{html}"
        );
    }

    #[test]
    fn markdown_escapes_capture_text() {
        let md = render(&Report::plain(hostile()), markdown::write);
        assert!(!md.contains('\x1b'));
        assert!(md.contains("al\\<i\\>ce"), "{md}");
        assert!(
            md.contains("realm=<script>x</script>(!)"),
            "ladder keeps text as is: {md}"
        );
    }

    #[test]
    fn redaction_covers_structured_fields_and_text() {
        let mut a = hostile();
        a.findings[0]
            .message
            .push_str(" response 0123456789abcdef0123456789abcdef");
        let r = Report::build(a, &filter::Filter::default(), redact::Level::All);
        let ex = &r.analysis.exchanges[0];
        let c = &ex.rounds[1].request.credentials[0].credentials;
        assert_eq!(c.response.as_deref(), Some("[response-1]"));
        assert_eq!(c.nonce.as_deref(), Some("[nonce-1]"));
        assert_eq!(c.cnonce.as_deref(), Some("[cnonce-1]"));
        assert_eq!(
            ex.rounds[0].response.as_ref().unwrap().challenges[0]
                .challenge
                .nonce
                .as_deref(),
            Some("[nonce-1]"),
            "the same nonce keeps the same label"
        );
        assert!(r.analysis.findings[0]
            .message
            .ends_with("response [response-1]"));
        assert_eq!(ex.client.unwrap().to_string(), "10.255.0.1:5060");
        assert_eq!(ex.server.unwrap().to_string(), "10.255.0.2:5060");
        assert!(ex.from_uri.contains("user-"), "{}", ex.from_uri);
        assert!(!ex.from_uri.contains("alice"));
        for f in &r.analysis.findings {
            for (_, v) in &f.evidence.0 {
                assert!(!v.contains("10.0.0."), "{v}");
            }
        }
        let json = json::to_value(&r).to_string();
        assert!(!json.contains("10.0.0.") && !json.contains("0123456789abcdef"));
    }

    #[test]
    fn accounts_whose_keys_share_a_hash_stay_apart() {
        let alice = hostile().exchanges.remove(0);
        let mut bob = alice.clone();
        bob.from_uri = "sip:bob@lab.example".into();
        bob.id = alice.id + 1;
        let mut book = AccountBook::new(true);
        book.exchange(&alice);
        // Make bob's key hash to alice's slot, as a collision would.
        let h = book.key_hash(
            &bob.user().unwrap(),
            &bob.auth_user().unwrap_or_else(|| "-".into()),
            &bob.realm().unwrap_or_else(|| "-".into()),
            bob.client.map(|a| a.ip()),
            bob.server,
        );
        book.index.insert(h, 0);
        book.exchange(&bob);
        book.exchange(&bob);
        let rows = book.rows();
        assert_eq!(rows.len(), 2, "two accounts");
        let b = rows.iter().find(|r| r.user == "bob").expect("bob's row");
        assert_eq!(b.exchanges, 2, "bob found again among the collided");
        let a = rows.iter().find(|r| r.user != "bob").expect("alice's row");
        assert_eq!(a.exchanges, 1);
    }

    #[test]
    fn lookup_answers_as_a_scan_of_the_findings_would() {
        let mut a = hostile();
        let ex = a.exchanges[0].clone();
        let mut second = ex.clone();
        second.id = ex.id + 1;
        second.outcome = Outcome::Succeeded;
        a.exchanges.push(second.clone());
        let finding = |rule: &'static str, severity: Severity, exchange: Option<usize>| Finding {
            rule,
            severity,
            exchange,
            related_exchanges: Vec::new(),
            frames: Vec::new(),
            message: String::new(),
            evidence: Default::default(),
            fix: Default::default(),
        };
        a.findings = vec![
            finding("info-first", Severity::Info, Some(second.id)),
            finding("warn-a", Severity::Warning, Some(second.id)),
            finding("capture", Severity::Critical, None),
            finding("warn-b", Severity::Warning, Some(ex.id)),
            finding("late-warn", Severity::Warning, Some(second.id)),
        ];
        let l = Lookup::new(&a);
        // Most severe; on ties the first in report order, whatever the
        // order of the ids asked about.
        let w = l.worst_finding(&[ex.id, second.id]).unwrap();
        assert_eq!(w.rule, "warn-a");
        assert_eq!(l.worst_finding(&[ex.id]).unwrap().rule, "warn-b");
        assert!(
            l.worst_finding(&[999]).is_none(),
            "capture-wide ones name no exchange"
        );
        let rules: Vec<&str> = l.findings_of(second.id).iter().map(|f| f.rule).collect();
        assert_eq!(rules, ["warn-a", "late-warn", "info-first"]);
        assert!(
            l.is_failing(&second),
            "a warning makes a succeeded exchange worth a ladder"
        );
        a.findings.retain(|f| f.severity == Severity::Info);
        let l = Lookup::new(&a);
        assert!(!l.is_failing(&second));
        assert_eq!(l.exchange(second.id).map(|e| e.id), Some(second.id));
    }

    #[test]
    fn filters_record_what_they_left_out() {
        let f = filter::Filter {
            users: vec!["bob".into()],
            ..Default::default()
        };
        let r = Report::build(hostile(), &f, redact::Level::None);
        let sc = r.scope.as_ref().unwrap();
        assert_eq!((sc.exchanges_shown, sc.exchanges_total), (0, 1));
        assert!(sc.findings_total > 0);
        assert!(r.analysis.findings.is_empty());
        let f = filter::Filter {
            min_severity: Some(Severity::Critical),
            ..Default::default()
        };
        let r = Report::build(hostile(), &f, redact::Level::None);
        assert!(
            r.analysis.exchanges.is_empty(),
            "no critical finding, no exchange"
        );
    }
}
