//! Narrowing a report: `--user`, `--ip`, `--call-id`, `--since`/`--until`
//! select exchanges; `--rule`, `--min-severity` select findings.
//!
//! How they combine (docs/reports.md): a finding is kept when its exchange
//! is kept and it passes the finding filters. Findings about no single
//! exchange are kept when one of the exchanges they relate is kept (or
//! when no exchange filter was given). When a finding filter is given,
//! only exchanges that still have a finding are kept. Summary counts and
//! the exit status then describe what is shown; [`Scope`] keeps the totals
//! from before, so every report can say what it left out.

use crate::analysis::Analysis;
use crate::capture::{days_from_civil, Ts};
use crate::correlate::AuthExchange;
use crate::report::streamed::IdSet;
use crate::rules::{Finding, Severity};
use std::collections::HashSet;
use std::net::IpAddr;

/// A point in time as given on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeSpec {
    /// An absolute instant (RFC 3339).
    At(Ts),
    /// Seconds since midnight UTC, on the day the capture starts.
    TimeOfDay(i64),
}

impl TimeSpec {
    /// `2024-05-01T10:00:00Z`, `2024-05-01T12:00:00.5+02:00`, `10:00:00`
    /// or `10:00` (UTC).
    pub fn parse(s: &str) -> Result<TimeSpec, String> {
        let s = s.trim();
        let bad = || {
            format!("'{s}' is not a time: use RFC 3339 (2024-05-01T10:00:00Z) or HH:MM[:SS] (UTC)")
        };
        if let Some(tod) = parse_clock(s) {
            return Ok(TimeSpec::TimeOfDay(tod.0 * 1_000_000_000 + tod.1));
        }
        let (date, rest) = s.split_once(['T', 't', ' ']).ok_or_else(bad)?;
        let mut d = date.splitn(3, '-');
        let (y, m, day) = (
            d.next().and_then(|v| v.parse::<i64>().ok()),
            d.next().and_then(|v| v.parse::<u32>().ok()),
            d.next().and_then(|v| v.parse::<u32>().ok()),
        );
        let (Some(y), Some(m), Some(day)) = (y, m, day) else {
            return Err(bad());
        };
        if !(1..=12).contains(&m) || !(1..=31).contains(&day) {
            return Err(bad());
        }
        // Split the offset off the clock: Z, +HH:MM or -HH:MM.
        let (clock, offset_secs) = if let Some(c) = rest.strip_suffix(['Z', 'z']) {
            (c, 0i64)
        } else if let Some(i) = rest.rfind(['+', '-']) {
            let (c, off) = rest.split_at(i);
            let sign = if off.starts_with('-') { -1 } else { 1 };
            let (oh, om) = off[1..].split_once(':').ok_or_else(bad)?;
            let oh: i64 = oh.parse().map_err(|_| bad())?;
            let om: i64 = om.parse().map_err(|_| bad())?;
            if oh > 23 || om > 59 {
                return Err(bad());
            }
            (c, sign * (oh * 3600 + om * 60))
        } else {
            return Err(bad());
        };
        let (secs, nanos) = parse_clock(clock).ok_or_else(bad)?;
        let days = days_from_civil(y, m, day);
        let total = days * 86_400 + secs - offset_secs;
        Ok(TimeSpec::At(Ts::from_secs_nanos(total, nanos)))
    }

    /// The instant, given the day the capture starts on.
    fn resolve(self, day_start: Ts) -> Ts {
        match self {
            TimeSpec::At(t) => t,
            TimeSpec::TimeOfDay(n) => Ts(day_start.0.saturating_add(n)),
        }
    }
}

/// `HH:MM[:SS[.fraction]]` -> (seconds since midnight, nanoseconds).
fn parse_clock(s: &str) -> Option<(i64, i64)> {
    let mut parts = s.split(':');
    let h: i64 = parts.next()?.parse().ok()?;
    let m: i64 = parts.next()?.parse().ok()?;
    let (sec, nanos) = match parts.next() {
        None => (0, 0),
        Some(sp) => {
            let (whole, frac) = sp.split_once('.').unwrap_or((sp, ""));
            if whole.len() != 2 || frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let sec: i64 = whole.parse().ok()?;
            let nanos = if frac.is_empty() {
                0
            } else {
                frac.parse::<i64>().ok()? * 10i64.pow(9 - frac.len() as u32)
            };
            (sec, nanos)
        }
    };
    if parts.next().is_some() || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    Some((h * 3600 + m * 60 + sec, nanos))
}

/// The filters of one run; empty selects everything.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// From user or digest username (with or without `@domain`).
    pub users: Vec<String>,
    /// Client or server address.
    pub ips: Vec<IpAddr>,
    pub call_ids: Vec<String>,
    pub since: Option<TimeSpec>,
    pub until: Option<TimeSpec>,
    pub rules: Vec<String>,
    pub min_severity: Option<Severity>,
}

impl Filter {
    pub fn selects_exchanges(&self) -> bool {
        !self.users.is_empty()
            || !self.ips.is_empty()
            || !self.call_ids.is_empty()
            || self.since.is_some()
            || self.until.is_some()
    }
    fn selects_findings(&self) -> bool {
        !self.rules.is_empty() || self.min_severity.is_some()
    }
    pub fn is_empty(&self) -> bool {
        !self.selects_exchanges() && !self.selects_findings()
    }

    /// The filter in words, for the report header.
    pub fn describe(&self) -> String {
        let mut v = Vec::new();
        let join = |x: &[String]| x.join(",");
        if !self.users.is_empty() {
            v.push(format!("user {}", join(&self.users)));
        }
        if !self.ips.is_empty() {
            let ips: Vec<String> = self.ips.iter().map(IpAddr::to_string).collect();
            v.push(format!("ip {}", ips.join(",")));
        }
        if !self.call_ids.is_empty() {
            v.push(format!("call-id {}", join(&self.call_ids)));
        }
        let t = |t: TimeSpec| match t {
            TimeSpec::At(ts) => ts.rfc3339(),
            TimeSpec::TimeOfDay(n) => Ts(n).rfc3339()[11..19].to_string() + " UTC",
        };
        if let Some(s) = self.since {
            v.push(format!("since {}", t(s)));
        }
        if let Some(u) = self.until {
            v.push(format!("until {}", t(u)));
        }
        if !self.rules.is_empty() {
            v.push(format!("rule {}", join(&self.rules)));
        }
        if let Some(s) = self.min_severity {
            v.push(format!("severity >= {s}"));
        }
        v.join("; ")
    }

    fn user_matches(&self, ex: &AuthExchange) -> bool {
        if self.users.is_empty() {
            return true;
        }
        let mut names: Vec<String> = Vec::new();
        names.extend(ex.user());
        for (_, c) in ex.all_credentials() {
            if let Some(u) = &c.credentials.username {
                names.push(u.to_string());
                names.extend(c.credentials.user_part().map(str::to_string));
            }
        }
        self.users
            .iter()
            .any(|want| names.iter().any(|n| n == want))
    }

    fn ip_matches(&self, ex: &AuthExchange) -> bool {
        self.ips.is_empty()
            || [ex.client, ex.server]
                .iter()
                .flatten()
                .any(|a| self.ips.contains(&a.ip()))
    }

    fn call_id_matches(&self, ex: &AuthExchange) -> bool {
        self.call_ids.is_empty()
            || ex
                .call_ids
                .iter()
                .any(|c| self.call_ids.iter().any(|w| w == c))
    }

    /// Whether the exchange can be among those shown, decided as it
    /// finishes: by user, address, Call-ID and absolute times. (A time of
    /// day is resolved on the day of the capture's first exchange, known
    /// only at the end, and a finding filter also keeps exchanges named by
    /// capture-wide findings: [`apply_after`] decides those.) An exchange
    /// it refuses is never shown, so it need not be kept.
    pub fn may_show(&self, ex: &AuthExchange) -> bool {
        let absolute = |t: Option<TimeSpec>| match t {
            Some(TimeSpec::At(t)) => Some(t),
            _ => None,
        };
        self.user_matches(ex)
            && self.ip_matches(ex)
            && self.call_id_matches(ex)
            && absolute(self.since).is_none_or(|s| ex.last_ts >= s)
            && absolute(self.until).is_none_or(|u| ex.first_ts <= u)
    }

    /// Whether [`Filter::may_show`] decides it alone: exchange filters
    /// with dates only, no finding filter (a capture-wide finding can
    /// make an exchange shown after it finished), no time of day.
    pub fn decided_as_exchanges_finish(&self) -> bool {
        let dated = |t: Option<TimeSpec>| !matches!(t, Some(TimeSpec::TimeOfDay(_)));
        !self.selects_findings() && dated(self.since) && dated(self.until)
    }

    /// The finding passes `--rule` and `--min-severity`.
    pub fn finding_matches(&self, f: &Finding) -> bool {
        (self.rules.is_empty() || self.rules.iter().any(|r| r == f.rule))
            && self.min_severity.is_none_or(|s| f.severity >= s)
    }
}

/// What a filtered report left out.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Scope {
    pub filter: String,
    pub exchanges_total: usize,
    pub findings_total: usize,
    pub exchanges_shown: usize,
    pub findings_shown: usize,
}

/// What a filter needs of the whole analysis when only part of it was
/// kept ([`Filter::may_show`]): its size, and when it starts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Whole {
    pub exchanges: usize,
    pub findings: usize,
    /// The earliest start of an exchange.
    pub first: Option<Ts>,
}

impl Whole {
    pub fn of(a: &Analysis) -> Whole {
        Whole {
            exchanges: a.exchanges.len(),
            findings: a.findings.len(),
            first: a.exchanges.iter().map(|e| e.first_ts).min(),
        }
    }

    /// Counts one exchange with the findings about it.
    pub fn add(&mut self, ex: &AuthExchange, findings: usize) {
        self.exchanges += 1;
        self.findings += findings;
        self.first = Some(self.first.map_or(ex.first_ts, |t| t.min(ex.first_ts)));
    }
}

/// Keeps, of the exchanges as they finish, those a filter may show, with
/// their findings, and counts the whole: the analysis of a large capture
/// narrowed to one account, address or Call-ID then needs the memory of
/// what is shown, not of the capture.
pub struct Narrowing<'f> {
    filter: &'f Filter,
    /// Set when a [`Selection`] named the exchanges to keep.
    ids: Option<IdSet>,
    /// The whole as the [`Selection`]'s read counted it (this read may
    /// leave out the findings of exchanges not shown).
    counted: Option<Whole>,
    whole: Whole,
    exchanges: Vec<AuthExchange>,
    findings: Vec<Finding>,
}

impl<'f> Narrowing<'f> {
    /// Keeps what [`Filter::may_show`].
    pub fn new(filter: &'f Filter) -> Narrowing<'f> {
        Narrowing {
            filter,
            ids: None,
            counted: None,
            whole: Whole::default(),
            exchanges: Vec::new(),
            findings: Vec::new(),
        }
    }

    /// Keeps the exchanges a [`Selection`] of the same capture found
    /// shown (its second read).
    pub fn of_ids(filter: &'f Filter, selected: Selected) -> Narrowing<'f> {
        Narrowing {
            counted: Some(selected.whole),
            ids: Some(selected.into_shown()),
            ..Narrowing::new(filter)
        }
    }

    pub fn exchange(&mut self, ex: AuthExchange, mut findings: Vec<Finding>) {
        self.whole.add(&ex, findings.len());
        let keep = match &self.ids {
            Some(ids) => ids.contains(ex.id as u64),
            None => self.filter.may_show(&ex),
        };
        if keep {
            self.exchanges.push(ex);
            self.findings.append(&mut findings);
        }
    }

    /// The streamed analysis `a` (capture-wide findings, counters) with the
    /// exchanges kept, ordered as `analysis::analyze` orders them; and the
    /// whole, for [`apply_after`].
    pub fn finish(mut self, mut a: Analysis) -> (Analysis, Whole) {
        self.whole.findings += a.findings.len();
        self.findings.append(&mut a.findings);
        a.exchanges = self.exchanges;
        a.findings = self.findings;
        (a, self.counted.unwrap_or(self.whole))
    }
}

/// The first read of a filtered run whose filter is not decided as
/// exchanges finish (`--rule`, `--min-severity`, a time of day, alone or
/// with exchange filters): finds the exchanges the report will show,
/// exactly as [`apply_after`] will, so that a second read writes only those
/// ([`Gate::selected`]) or keeps only those ([`Narrowing::of_ids`]). Memory: a bit per exchange; with a time
/// of day, also 24 bytes per exchange (its times are resolved at the end,
/// on the capture's first day); and each matching finding that names
/// other exchanges.
pub struct Selection<'f> {
    filter: &'f Filter,
    whole: Whole,
    /// Exchanges that pass the exchange filters (no time of day given).
    passing: IdSet,
    /// With a time of day: id, first and last time of the exchanges that
    /// pass the others.
    timed: Vec<(usize, Ts, Ts)>,
    /// Exchanges with a finding that passes the finding filters and names
    /// no other exchange.
    named: IdSet,
    /// The other findings that pass: their exchange and related ones.
    named_with: Vec<(Option<usize>, Vec<usize>)>,
}

impl<'f> Selection<'f> {
    pub fn new(filter: &'f Filter) -> Selection<'f> {
        Selection {
            filter,
            whole: Whole::default(),
            passing: IdSet::default(),
            timed: Vec::new(),
            named: IdSet::default(),
            named_with: Vec::new(),
        }
    }

    fn of_day(&self) -> bool {
        let tod = |t: Option<TimeSpec>| matches!(t, Some(TimeSpec::TimeOfDay(_)));
        tod(self.filter.since) || tod(self.filter.until)
    }

    pub fn exchange(&mut self, ex: &AuthExchange, findings: &[Finding]) {
        self.whole.add(ex, findings.len());
        if self.filter.may_show(ex) {
            if self.of_day() {
                self.timed.push((ex.id, ex.first_ts, ex.last_ts));
            } else {
                self.passing.insert(ex.id as u64);
            }
        }
        for f in findings {
            self.finding(f);
        }
    }

    fn finding(&mut self, f: &Finding) {
        if !self.filter.finding_matches(f) {
            return;
        }
        match f.exchange {
            Some(id) if f.related_exchanges.is_empty() => self.named.insert(id as u64),
            _ => self
                .named_with
                .push((f.exchange, f.related_exchanges.clone())),
        }
    }

    /// The exchanges shown, given the findings about the capture as a
    /// whole (the first read's analysis has them).
    pub fn finish(mut self, capture_wide: &[Finding]) -> Selected {
        self.whole.findings += capture_wide.len();
        for f in capture_wide {
            self.finding(f);
        }
        let kept = if self.of_day() {
            let day = day_start(self.whole.first);
            let since = self.filter.since.map(|t| t.resolve(day));
            let until = self.filter.until.map(|t| t.resolve(day));
            let mut kept = IdSet::default();
            for &(id, first, last) in &self.timed {
                if since.is_none_or(|s| last >= s) && until.is_none_or(|u| first <= u) {
                    kept.insert(id as u64);
                }
            }
            kept
        } else {
            self.passing
        };
        if !self.filter.selects_findings() {
            return Selected {
                kept,
                shown: None,
                whole: self.whole,
            };
        }
        // As apply_after: a finding in scope names its exchanges.
        let mut shown = IdSet::default();
        for id in self.named.iter() {
            if kept.contains(id) {
                shown.insert(id);
            }
        }
        let exchange_filter = self.filter.selects_exchanges();
        for (exchange, related) in &self.named_with {
            let in_scope = match exchange {
                Some(id) => kept.contains(*id as u64),
                None => !exchange_filter || related.iter().any(|&id| kept.contains(id as u64)),
            };
            if in_scope {
                for &id in exchange.iter().chain(related) {
                    shown.insert(id as u64);
                }
            }
        }
        Selected {
            kept,
            shown: Some(shown),
            whole: self.whole,
        }
    }
}

/// What a [`Selection`] found: the exchanges that pass the exchange
/// filters, and those shown (with a finding filter: those a finding that
/// is shown names).
pub struct Selected {
    kept: IdSet,
    /// `None`: the same as `kept` (no finding filter).
    shown: Option<IdSet>,
    /// What the first read counted: the second need not work out the
    /// findings of exchanges it does not show
    /// ([`Selected::shown_ids`]).
    whole: Whole,
}

impl Selected {
    /// The exchange is shown.
    pub fn shows(&self, id: usize) -> bool {
        self.shown
            .as_ref()
            .unwrap_or(&self.kept)
            .contains(id as u64)
    }

    /// A finding passes the exchange filters as [`apply_after`] decides:
    /// about a kept exchange, or about none and relating one (or when no
    /// exchange filter was given).
    pub fn in_scope(&self, f: &Finding, filter: &Filter) -> bool {
        match f.exchange {
            Some(id) => self.kept.contains(id as u64),
            None => {
                !filter.selects_exchanges()
                    || f.related_exchanges
                        .iter()
                        .any(|&id| self.kept.contains(id as u64))
            }
        }
    }

    fn into_shown(self) -> IdSet {
        self.shown.unwrap_or(self.kept)
    }

    /// A copy of the exchanges shown, for the second read's
    /// [`crate::analysis::Options::exchange_rules_for`].
    pub fn shown_ids(&self) -> IdSet {
        self.shown.as_ref().unwrap_or(&self.kept).clone()
    }
}

/// Decides, as exchanges finish, what a filtered report shows, so that
/// the streamed writers can write it without keeping the analysis: by
/// [`Filter::may_show`] for a filter decided as exchanges finish, or by
/// what a [`Selection`] over a first read found. The exchanges and
/// findings it passes, in the order given, are those [`apply_after`]
/// keeps; [`Gate::scope`] says what was left out.
pub struct Gate<'f> {
    filter: &'f Filter,
    selected: Option<Selected>,
    /// Exchanges shown so far.
    shown: IdSet,
    exchanges_total: usize,
    findings_total: usize,
    findings_shown: usize,
}

impl<'f> Gate<'f> {
    /// For a filter [`Filter::decided_as_exchanges_finish`].
    pub fn new(filter: &'f Filter) -> Gate<'f> {
        Gate {
            filter,
            selected: None,
            shown: IdSet::default(),
            exchanges_total: 0,
            findings_total: 0,
            findings_shown: 0,
        }
    }

    /// With what a first read of the same capture found shown.
    pub fn selected(filter: &'f Filter, selected: Selected) -> Gate<'f> {
        Gate {
            selected: Some(selected),
            ..Gate::new(filter)
        }
    }

    /// Counts a finished exchange with its findings; whether it is shown.
    pub fn exchange(&mut self, ex: &AuthExchange, findings: &[Finding]) -> bool {
        self.exchanges_total += 1;
        self.findings_total += findings.len();
        let show = match &self.selected {
            Some(s) => s.shows(ex.id),
            None => self.filter.may_show(ex),
        };
        if show {
            self.shown.insert(ex.id as u64);
        }
        show
    }

    /// Whether a finding is shown: one of a shown exchange
    /// (`of_exchange`), or one about the capture as a whole (counted
    /// here).
    pub fn finding(&mut self, f: &Finding, of_exchange: bool) -> bool {
        if !of_exchange {
            self.findings_total += 1;
        }
        let keep = match &self.selected {
            Some(s) => s.in_scope(f, self.filter) && self.filter.finding_matches(f),
            // Decided as exchanges finish: no finding filter.
            None if of_exchange => true,
            None => match f.exchange {
                Some(id) => self.shown.contains(id as u64),
                None => (f.related_exchanges.iter()).any(|&id| self.shown.contains(id as u64)),
            },
        };
        if keep {
            self.findings_shown += 1;
        }
        keep
    }

    /// What was shown of how much.
    pub fn scope(&self) -> Scope {
        Scope {
            filter: self.filter.describe(),
            exchanges_total: self.exchanges_total,
            // A second read may leave out the findings of the exchanges
            // it does not show: the first read counted them all.
            findings_total: match &self.selected {
                Some(s) => s.whole.findings,
                None => self.findings_total,
            },
            exchanges_shown: self.shown.len(),
            findings_shown: self.findings_shown,
        }
    }
}

/// Midnight UTC of the day the capture starts (the first exchange).
fn day_start(first: Option<Ts>) -> Ts {
    let secs = first.unwrap_or_default().0.div_euclid(1_000_000_000);
    Ts::from_secs_nanos(secs - secs.rem_euclid(86_400), 0)
}

/// Narrows the analysis in place; `None` when the filter is empty.
pub fn apply(a: &mut Analysis, f: &Filter) -> Option<Scope> {
    let whole = Whole::of(a);
    apply_after(a, f, whole)
}

/// [`apply`] to an analysis that kept only the exchanges `f` may show
/// (and their findings) of `whole`, plus every capture-wide finding:
/// the same result as [`apply`] on the whole analysis.
pub fn apply_after(a: &mut Analysis, f: &Filter, whole: Whole) -> Option<Scope> {
    if f.is_empty() {
        return None;
    }
    let exchanges_total = whole.exchanges;
    let findings_total = whole.findings;
    let day = day_start(whole.first);
    let since = f.since.map(|t| t.resolve(day));
    let until = f.until.map(|t| t.resolve(day));
    let mut kept: HashSet<usize> = a
        .exchanges
        .iter()
        .filter(|ex| {
            f.user_matches(ex)
                && f.ip_matches(ex)
                && f.call_id_matches(ex)
                && since.is_none_or(|s| ex.last_ts >= s)
                && until.is_none_or(|u| ex.first_ts <= u)
        })
        .map(|ex| ex.id)
        .collect();
    let exchange_filter = f.selects_exchanges();
    a.findings.retain(|fd| {
        let in_scope = match fd.exchange {
            Some(id) => kept.contains(&id),
            None => !exchange_filter || fd.related_exchanges.iter().any(|id| kept.contains(id)),
        };
        in_scope && f.finding_matches(fd)
    });
    if f.selects_findings() {
        kept = a
            .findings
            .iter()
            .flat_map(|fd| fd.exchange.iter().chain(&fd.related_exchanges).copied())
            .collect();
    }
    a.exchanges.retain(|ex| kept.contains(&ex.id));
    Some(Scope {
        filter: f.describe(),
        exchanges_total,
        findings_total,
        exchanges_shown: a.exchanges.len(),
        findings_shown: a.findings.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rfc3339_and_clock_times() {
        assert_eq!(
            TimeSpec::parse("1970-01-02T00:00:01Z"),
            Ok(TimeSpec::At(Ts(86_401_000_000_000)))
        );
        assert_eq!(
            TimeSpec::parse("1970-01-02T02:00:01.5+02:00"),
            Ok(TimeSpec::At(Ts(86_401_500_000_000)))
        );
        assert_eq!(
            TimeSpec::parse("10:00:30"),
            Ok(TimeSpec::TimeOfDay(36_030_000_000_000))
        );
        assert_eq!(
            TimeSpec::parse("10:05"),
            Ok(TimeSpec::TimeOfDay(36_300_000_000_000))
        );
        for bad in [
            "25:00:00",
            "10:60",
            "yesterday",
            "2024-13-01T00:00:00Z",
            "2024-01-01T00:00:00",
        ] {
            assert!(TimeSpec::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn time_of_day_resolves_on_the_capture_day() {
        let day = Ts::from_secs_nanos(86_400 * 3, 0);
        assert_eq!(TimeSpec::TimeOfDay(5).resolve(day), Ts(day.0 + 5));
    }
}
