//! Attacks: password guessing and account enumeration from one source, and
//! known scanner tools.
//!
//! Brute force is judged on behaviour. A misconfigured phone fails over and
//! over too, so counting failures is not enough; what tells a guesser from
//! a phone is what changes between attempts (docs/rules.md, brute-force):
//! - A phone has one password. Every digest input but the password is in
//!   the packet (username, realm, nonce, uri, method, algorithm, qop, nc,
//!   cnonce), so two answers with the same inputs and different responses
//!   prove two different passwords. A phone never does that; a dictionary
//!   attack that reuses one nonce (sipvicious svcrack) does it on every
//!   guess. A phone answering each challenge with a fresh cnonce gives a
//!   different response each time, but never for the same inputs.
//! - A phone has one account. Many usernames from one address within the
//!   window is enumeration or credential stuffing.

use super::reorder::{Reorder, REORDER_NS};
use super::{Evidence, Finding, RuleConfig, Severity};
use crate::capture::Ts;
use crate::correlate::{AgentSighting, AuthExchange, Outcome, Round, SentCredentials};
use rustc_hash::{FxHashMap, FxHashSet, FxHasher};
use std::collections::VecDeque;
use std::hash::{Hash, Hasher};
use std::net::IpAddr;

/// User-Agent substrings of known SIP scanners, lower case.
pub const SCANNER_NAMES: &[&str] = &[
    "friendly-scanner",
    "sipvicious",
    "sipcli",
    "vaxsipuseragent",
    "pplsip",
    "sip-scan",
    "iwar",
    "smap",
];

/// Usernames listed in a finding; the rest are counted.
const MAX_LISTED_USERS: usize = 10;

fn hash_of<T: Hash>(t: T) -> u64 {
    let mut h = FxHasher::default();
    t.hash(&mut h);
    h.finish()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Credentials refused (401/407 again, not stale, or 403).
    Failed,
    /// A REGISTER without credentials refused (403/404) or whose challenge
    /// was never answered: a username tried without a password.
    Probe,
}

struct Attempt {
    ts: Ts,
    frame: u64,
    kind: Kind,
    user: Box<str>,
    /// Hash of every digest input except the password (failures only).
    inputs: u64,
    response: u64,
    port: Option<u16>,
    exchange: usize,
}

/// Frames and exchanges listed in one finding; the counts cover the rest.
const MAX_LISTED: usize = 10_000;

/// What the sliding window of one source holds.
#[derive(Default)]
struct Window {
    attempts: VecDeque<WindowAttempt>,
    failures: usize,
    /// User hash -> attempts.
    users: FxHashMap<u64, usize>,
    /// Digest inputs -> response -> count, failures only.
    groups: FxHashMap<u64, FxHashMap<u64, usize>>,
    /// Inputs answered with two or more different responses.
    multi: usize,
}

struct WindowAttempt {
    ts: Ts,
    frame: u64,
    failed: bool,
    user: u64,
    inputs: u64,
    response: u64,
    exchange: usize,
}

impl Window {
    fn add(&mut self, a: WindowAttempt) {
        *self.users.entry(a.user).or_insert(0) += 1;
        if a.failed {
            self.failures += 1;
            let g = self.groups.entry(a.inputs).or_default();
            let before = g.len();
            *g.entry(a.response).or_insert(0) += 1;
            if before == 1 && g.len() == 2 {
                self.multi += 1;
            }
        }
        self.attempts.push_back(a);
    }

    /// Drops the attempts older than `from`.
    fn expire(&mut self, from: i64) {
        while let Some(a) = self.attempts.front().filter(|a| a.ts.0 < from) {
            let (user, failed, inputs, response) = (a.user, a.failed, a.inputs, a.response);
            self.attempts.pop_front();
            if let Some(n) = self.users.get_mut(&user) {
                *n -= 1;
                if *n == 0 {
                    self.users.remove(&user);
                }
            }
            if !failed {
                continue;
            }
            self.failures -= 1;
            if let Some(g) = self.groups.get_mut(&inputs) {
                let before = g.len();
                if let Some(n) = g.get_mut(&response) {
                    *n -= 1;
                    if *n == 0 {
                        g.remove(&response);
                    }
                }
                if before == 2 && g.len() == 1 {
                    self.multi -= 1;
                }
                if g.is_empty() {
                    self.groups.remove(&inputs);
                }
            }
        }
    }
}

#[derive(Default)]
struct Verdict {
    guessing: bool,
    enumeration: bool,
    peak_failures: usize,
    peak_users: usize,
}

/// Digest inputs answered by one source: the responses seen and whose
/// account it was. Inputs answered only once are forgotten when they
/// leave the window; a phone never answers the same inputs twice.
struct InputsGroup {
    responses: FxHashSet<u64>,
    /// Responses beyond [`MAX_RESPONSES`], counted, not kept.
    more: usize,
    user: Box<str>,
    last: Ts,
}

impl InputsGroup {
    fn passwords(&self) -> usize {
        self.responses.len() + self.more
    }
}

/// Different responses kept for one set of digest inputs; past it they
/// are only counted (a guesser does not repeat a word).
const MAX_RESPONSES: usize = 1 << 16;

/// The larger of two (passwords, account) pairs; on equal counts the
/// account that sorts first.
fn more_passwords(a: (usize, Box<str>), b: (usize, Box<str>)) -> (usize, Box<str>) {
    if b.0 > a.0 || b.0 == a.0 && b.1 < a.1 {
        b
    } else {
        a
    }
}

/// Everything kept about one source address. Most sources are phones
/// that authenticate and never fail: for those only the successes and the
/// user agents are kept (a few dozen bytes); the state of failed attempts
/// is allocated at the first one.
#[derive(Default)]
struct Source {
    /// (user, frame, exchange) of the first accepted credentials, and how
    /// many were accepted in all.
    first_success: Option<(Box<str>, u64, usize)>,
    successes: usize,
    /// Up to [`MAX_AGENTS`] distinct User-Agents, as indices into
    /// [`BruteForce::agents`].
    user_agents: [u32; MAX_AGENTS],
    agents_len: u8,
    attempts: Option<Box<Attempts>>,
}

/// User-Agents kept per source.
const MAX_AGENTS: usize = 5;

/// Distinct User-Agents kept in all; a source inventing a new one per
/// request cannot grow the table past it (later ones are not listed).
const MAX_DISTINCT_AGENTS: usize = 100_000;

impl Source {
    fn agents(&self) -> &[u32] {
        &self.user_agents[..usize::from(self.agents_len)]
    }
}

/// The failed attempts and probes of one source.
#[derive(Default)]
struct Attempts {
    window: Window,
    verdict: Verdict,
    failures: usize,
    probes: usize,
    /// Usernames in the order first tried (the first few are named).
    listed_users: Vec<Box<str>>,
    users: FxHashSet<u64>,
    ports: FxHashSet<u16>,
    first: Option<Ts>,
    last: Ts,
    groups: FxHashMap<u64, InputsGroup>,
    /// The most passwords proven for one account by inputs no longer in
    /// `groups`.
    best_gone: (usize, Box<str>),
    /// Frames and exchanges of its attempts: those in the window until it
    /// is judged an attack, then every one (at most [`MAX_LISTED`]).
    frames: Vec<u64>,
    exchanges: Vec<usize>,
}

impl Attempts {
    fn flagged(&self) -> bool {
        self.verdict.guessing || self.verdict.enumeration
    }

    /// One attempt, in time order.
    fn apply(&mut self, a: Attempt, cfg: &RuleConfig) {
        let span = (cfg.window.max(0.0) * 1e9).min(i64::MAX as f64) as i64;
        let user = hash_of(&*a.user);
        let failed = a.kind == Kind::Failed;
        if failed {
            self.failures += 1;
            let g = self.groups.entry(a.inputs).or_insert_with(|| InputsGroup {
                responses: FxHashSet::default(),
                more: 0,
                user: a.user.clone(),
                last: a.ts,
            });
            if g.responses.len() < MAX_RESPONSES {
                g.responses.insert(a.response);
            } else if !g.responses.contains(&a.response) {
                g.more += 1;
            }
            g.last = a.ts;
        } else {
            self.probes += 1;
        }
        if self.users.insert(user) && self.listed_users.len() < MAX_LISTED_USERS {
            self.listed_users.push(a.user.clone());
        }
        if let Some(p) = a.port {
            self.ports.insert(p);
        }
        self.first.get_or_insert(a.ts);
        self.last = self.last.max(a.ts);
        let was_flagged = self.flagged();
        self.window.add(WindowAttempt {
            ts: a.ts,
            frame: a.frame,
            failed,
            user,
            inputs: a.inputs,
            response: a.response,
            exchange: a.exchange,
        });
        self.window.expire(a.ts.0.saturating_sub(span));
        let (w, v) = (&self.window, &mut self.verdict);
        v.peak_failures = v.peak_failures.max(w.failures);
        v.peak_users = v.peak_users.max(w.users.len());
        v.guessing |= w.failures >= cfg.max_failures && w.multi > 0;
        v.enumeration |= w.users.len() >= cfg.max_usernames;
        if was_flagged {
            if self.frames.len() < MAX_LISTED {
                self.frames.push(a.frame);
                self.exchanges.push(a.exchange);
            }
        } else if self.flagged() {
            // Judged an attack now: list what the window holds.
            for x in self.window.attempts.iter().take(MAX_LISTED) {
                self.frames.push(x.frame);
                self.exchanges.push(x.exchange);
            }
        }
        // Inputs out of the window: only their count matters now (the
        // most passwords for one account), not their responses.
        let in_window = self.window.groups.len();
        if self.groups.len() > in_window + in_window / 2 + 4 {
            let from = a.ts.0.saturating_sub(span);
            let mut best = std::mem::take(&mut self.best_gone);
            self.groups.retain(|_, g| {
                if g.last.0 >= from {
                    return true;
                }
                best = more_passwords(
                    std::mem::take(&mut best),
                    (g.passwords(), std::mem::take(&mut g.user)),
                );
                false
            });
            self.best_gone = best;
        }
    }

    /// The most different responses seen for identical digest inputs, and
    /// whose account that was.
    fn most_passwords(&self) -> (usize, String) {
        let best = self
            .groups
            .values()
            .map(|g| (g.passwords(), g.user.clone()))
            .fold(self.best_gone.clone(), more_passwords);
        (best.0, best.1.into())
    }
}

/// Many failed authentications from one source across accounts or
/// passwords, or many usernames tried: one finding per source.
///
/// Fed one exchange at a time ([`BruteForce::add`]) so that it also runs
/// when exchanges stream out and are not kept, in bounded memory: attempts
/// wait in a time-ordered buffer ([`Reorder`]), then move a sliding
/// window per source; what is kept per source is counters, the window,
/// and (once it is judged an attack) the frames of its attempts.
#[derive(Default)]
pub struct BruteForce {
    /// (source, attempt) in time order.
    waiting: Reorder<(IpAddr, Attempt)>,
    newest: Ts,
    /// Sorted by address only when the findings are written.
    sources: FxHashMap<IpAddr, Source>,
    /// Distinct User-Agents of the sources, each stored once, by id.
    agent_ids: FxHashMap<Box<str>, u32>,
    config: RuleConfig,
}

impl BruteForce {
    pub fn new(cfg: &RuleConfig) -> BruteForce {
        BruteForce {
            config: cfg.clone(),
            ..BruteForce::default()
        }
    }

    pub fn add(&mut self, ex: &AuthExchange) {
        // Without an address the attempts cannot be attributed.
        let Some(client) = ex.client else { return };
        let ip = client.ip();
        let src = self.sources.entry(ip).or_default();
        if let Some(ua) = ex.user_agent.as_deref() {
            if usize::from(src.agents_len) < MAX_AGENTS {
                let next = self.agent_ids.len();
                let id = match self.agent_ids.get(ua) {
                    Some(&id) => Some(id),
                    None if next < MAX_DISTINCT_AGENTS => {
                        self.agent_ids.insert(ua.into(), next as u32);
                        Some(next as u32)
                    }
                    None => None,
                };
                if let Some(id) = id.filter(|id| !src.agents().contains(id)) {
                    src.user_agents[usize::from(src.agents_len)] = id;
                    src.agents_len += 1;
                }
            }
        }
        let mut attempts = Vec::new();
        collect(ex, &mut attempts, &mut |user, frame, id| {
            if src.first_success.is_none() {
                src.first_success = Some((user.into(), frame, id));
            }
            src.successes += 1;
            if let Some(a) = src.attempts.as_mut().filter(|a| a.flagged()) {
                if a.exchanges.len() < MAX_LISTED {
                    a.exchanges.push(id);
                }
            }
        });
        for attempt in attempts {
            self.waiting
                .push((attempt.ts.0, attempt.frame, 0), (ip, attempt));
        }
        self.newest = self.newest.max(ex.last_ts);
        self.judge_older_than(self.newest.0.saturating_sub(REORDER_NS));
    }

    fn judge_older_than(&mut self, t: i64) {
        while let Some((_, (ip, attempt))) = self.waiting.pop_before(t) {
            if let Some(src) = self.sources.get_mut(&ip) {
                src.attempts
                    .get_or_insert_with(Box::default)
                    .apply(attempt, &self.config);
            }
        }
    }

    pub fn finish(mut self, cfg: &RuleConfig, out: &mut Vec<Finding>) {
        self.config = cfg.clone();
        self.judge_older_than(i64::MAX);
        let mut agent_names = vec![""; self.agent_ids.len()];
        for (ua, &id) in &self.agent_ids {
            agent_names[id as usize] = ua;
        }
        let mut flagged: Vec<(&IpAddr, &Source)> = self
            .sources
            .iter()
            .filter(|(_, s)| s.attempts.as_deref().is_some_and(Attempts::flagged))
            .collect();
        flagged.sort_unstable_by_key(|(ip, _)| **ip);
        for (ip, src) in flagged {
            if let Some(a) = src.attempts.as_deref() {
                let agents: Vec<&str> = src
                    .agents()
                    .iter()
                    .map(|&i| agent_names[i as usize])
                    .collect();
                out.push(finding(*ip, src, a, &agents, cfg));
            }
        }
    }
}

fn own_credentials(r: &Round) -> Option<&SentCredentials> {
    r.request
        .credentials
        .iter()
        .find(|c| !c.relayed && c.credentials.is_digest())
}

fn refused(r: &Round) -> bool {
    r.response.as_ref().is_some_and(|resp| {
        resp.status == 403
            || resp.is_challenge() && !resp.challenges.iter().any(|c| c.challenge.stale)
    })
}

/// The attempts of one exchange; accepted credentials go to `success`
/// as (user, frame, exchange).
fn collect(ex: &AuthExchange, out: &mut Vec<Attempt>, success: &mut dyn FnMut(&str, u64, usize)) {
    let port = ex.client.map(|a| a.port());
    // Upper case as hashed into the digest inputs; nearly always already.
    let method: std::borrow::Cow<str> = if ex.method.bytes().any(|b| b.is_ascii_lowercase()) {
        ex.method.to_ascii_uppercase().into()
    } else {
        (&*ex.method).into()
    };
    for (i, r) in ex.rounds.iter().enumerate() {
        match own_credentials(r) {
            Some(sc) => {
                let c = &sc.credentials;
                let user = c.user_part().unwrap_or("");
                if r.status().is_some_and(|s| (200..300).contains(&s)) {
                    success(user, r.request.frame, ex.id);
                    continue;
                }
                if !refused(r) {
                    continue;
                }
                let inputs = hash_of((
                    &c.username,
                    &c.realm,
                    &c.nonce,
                    &c.uri,
                    &method,
                    c.algorithm_or_default(),
                    &c.qop,
                    &c.nc,
                    &c.cnonce,
                ));
                out.push(Attempt {
                    ts: r.request.ts,
                    frame: r.request.frame,
                    kind: Kind::Failed,
                    user: user.into(),
                    inputs,
                    response: hash_of(&c.response),
                    port,
                    exchange: ex.id,
                });
            }
            None => {
                if method != "REGISTER" {
                    continue;
                }
                let last = i + 1 == ex.rounds.len();
                let never_answered = last && r.challenged() && ex.outcome == Outcome::Failed;
                let rejected = matches!(r.status(), Some(403 | 404));
                if never_answered || rejected {
                    out.push(Attempt {
                        ts: r.request.ts,
                        frame: r.request.frame,
                        kind: Kind::Probe,
                        user: ex.to_user().unwrap_or_default().into(),
                        inputs: 0,
                        response: 0,
                        port,
                        exchange: ex.id,
                    });
                }
            }
        }
    }
}

fn finding(
    ip: IpAddr,
    src: &Source,
    att: &Attempts,
    user_agents: &[&str],
    cfg: &RuleConfig,
) -> Finding {
    let v = &att.verdict;
    let (failures, probes) = (att.failures, att.probes);
    let users = att.users.len();
    let listed: Vec<String> = att.listed_users.iter().map(|u| format!("'{u}'")).collect();
    let users_text = if users > listed.len() {
        format!("{} and {} more", listed.join(", "), users - listed.len())
    } else {
        listed.join(", ")
    };
    let (passwords, pw_user) = att.most_passwords();
    let first = att.first.unwrap_or_default();
    let last = att.last;
    let mut why = Vec::new();
    if v.guessing {
        why.push(format!(
            "identical digest inputs for '{pw_user}' were answered with {passwords} different responses, i.e. {passwords} different passwords (password guessing)"
        ));
    }
    if v.enumeration {
        why.push(format!(
            "{} different usernames within {:.0} s (account enumeration or credential stuffing)",
            v.peak_users, cfg.window
        ));
    }
    let succeeded = match &src.first_success {
        Some((u, f, e)) => format!(
            "yes: '{u}' was accepted at frame {f} (exchange #{e}){}",
            if src.successes > 1 {
                format!(", {} accepted attempts in all", src.successes)
            } else {
                String::new()
            }
        ),
        None => "no".into(),
    };
    let mut evidence = Evidence::new()
        .add("source", ip.to_string())
        .add("failed authentications", failures.to_string())
        .add(
            "peak",
            format!(
                "{} failures / {} usernames within {:.0} s",
                v.peak_failures, v.peak_users, cfg.window
            ),
        )
        .add("usernames tried", users_text.clone());
    if probes > 0 {
        evidence = evidence.add("usernames probed without credentials", probes.to_string());
    }
    evidence = evidence
        .add("most passwords for one account", passwords.to_string())
        .add("first attempt", first.rfc3339())
        .add("last attempt", last.rfc3339())
        .add("source ports", att.ports.len().to_string())
        .add("any attempt succeeded", succeeded.clone());
    if !user_agents.is_empty() {
        evidence = evidence.add("user agents", user_agents.join(" | "));
    }
    let mut fix = "Block this source (firewall, fail2ban on the server's failed-auth log), enforce a retry limit per account and per address (e.g. VOS3000 SS_AUTHENTICATION_MAX_RETRY / SS_AUTHENTICATION_FAILED_SUSPEND), use long random SIP passwords, and do not expose the SIP port to the whole Internet.".to_string();
    if src.first_success.is_some() {
        fix.push_str(" An attempt from this source SUCCEEDED: change that account's password now and check it for fraudulent calls.");
    }
    let mut related = att.exchanges.clone();
    if let Some((_, _, e)) = &src.first_success {
        related.push(*e);
    }
    related.sort_unstable();
    related.dedup();
    Finding {
        rule: "brute-force",
        severity: Severity::Critical,
        exchange: None,
        related_exchanges: related,
        frames: att.frames.clone(),
        message: format!(
            "{ip} made {failures} failed authentication attempts{} against {users} account(s) ({users_text}) from {} to {}: {}",
            if probes > 0 { format!(" and {probes} username probes") } else { String::new() },
            first.rfc3339(),
            last.rfc3339(),
            why.join("; ")
        ),
        evidence,
        fix: fix.into(),
    }
}

/// The scanner name a User-Agent contains, if any.
pub fn scanner_name(user_agent: &str) -> Option<&'static str> {
    // One case-insensitive pass for all names, built once: this runs for
    // every request's User-Agent, and nearly all of them are not scanners.
    static NAMES: std::sync::OnceLock<Option<aho_corasick::AhoCorasick>> =
        std::sync::OnceLock::new();
    let names = NAMES.get_or_init(|| {
        aho_corasick::AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .build(SCANNER_NAMES)
            .ok()
    });
    if names.as_ref().is_some_and(|ac| !ac.is_match(user_agent)) {
        return None;
    }
    // A scanner (rare): the first name of the list it contains.
    let ua = user_agent.to_ascii_lowercase();
    SCANNER_NAMES.iter().copied().find(|n| ua.contains(n))
}

/// A request whose User-Agent names a known scanner tool.
///
/// The sightings come from the correlator's request summary (every
/// request, challenged or not); the exchanges fed to [`Scanners::add`]
/// only say which exchanges the finding relates to (and stand in for the
/// summary when there is none).
#[derive(Default)]
pub struct Scanners {
    /// (source, user agent, first frame, requests, methods, exchanges) of
    /// exchanges whose User-Agent names a scanner.
    from_exchanges: Vec<ScannerSighting>,
}

struct ScannerSighting {
    source: Option<IpAddr>,
    user_agent: String,
    first_frame: u64,
    requests: u64,
    methods: String,
    exchanges: Vec<usize>,
}

impl Scanners {
    pub fn add(&mut self, ex: &AuthExchange) {
        let Some(ua) = ex.user_agent.as_deref() else {
            return;
        };
        if scanner_name(ua).is_none() {
            return;
        }
        let source = ex.client.map(|a| a.ip());
        match self
            .from_exchanges
            .iter_mut()
            .find(|s| s.source == source && s.user_agent == ua)
        {
            Some(s) => s.exchanges.push(ex.id),
            None => self.from_exchanges.push(ScannerSighting {
                source,
                user_agent: ua.to_string(),
                first_frame: ex.rounds.first().map(|r| r.request.frame).unwrap_or(0),
                requests: ex.rounds.len() as u64,
                methods: ex.method.to_string(),
                exchanges: vec![ex.id],
            }),
        }
    }

    pub fn finish(self, agents: &[AgentSighting], _: &RuleConfig, out: &mut Vec<Finding>) {
        let related = |src: Option<IpAddr>, ua: &str| -> Vec<usize> {
            self.from_exchanges
                .iter()
                .find(|s| s.source == src && s.user_agent == ua)
                .map(|s| s.exchanges.clone())
                .unwrap_or_default()
        };
        if agents.is_empty() {
            // No request summary (e.g. exchanges built elsewhere): the
            // exchanges' own User-Agents still count.
            for s in &self.from_exchanges {
                out.push(scanner_finding(
                    s.source,
                    &s.user_agent,
                    s.first_frame,
                    s.requests,
                    &s.methods,
                    s.exchanges.clone(),
                ));
            }
            return;
        }
        for a in agents {
            if scanner_name(&a.user_agent).is_none() {
                continue;
            }
            out.push(scanner_finding(
                a.source,
                &a.user_agent,
                a.first_frame,
                a.requests,
                &a.methods.join(", "),
                related(a.source, &a.user_agent),
            ));
        }
    }
}

fn scanner_finding(
    src: Option<IpAddr>,
    ua: &str,
    frame: u64,
    requests: u64,
    methods: &str,
    related_exchanges: Vec<usize>,
) -> Finding {
    let name = scanner_name(ua).unwrap_or("scanner");
    let who = src.map(|s| s.to_string()).unwrap_or_else(|| "?".into());
    Finding {
        rule: "scanner-user-agent",
        severity: Severity::Warning,
        exchange: None,
        related_exchanges,
        frames: vec![frame],
        message: format!(
            "{who} sent {requests} request(s) ({methods}) with User-Agent '{ua}', the signature of a SIP scanner ({name})"
        ),
        evidence: Evidence::new()
            .add("source", who)
            .add("user agent", ua)
            .add("matches", name)
            .add("requests", requests.to_string())
            .add("methods", methods)
            .add("first frame", frame.to_string()),
        fix: "Someone is probing this server with a scanning tool. Block the source; make sure no account has a weak or default password and that unauthenticated calls are refused. Scanners can change their User-Agent, so look at the brute-force rule's findings too.".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testutil::*;
    use crate::rules::CaptureView;

    const SCANNER: &str = "10.9.9.9:5067";

    /// A REGISTER from `user` at `src`, Call-ID `cid`, with optional
    /// credentials.
    fn reg(user: &str, cid: &str, cseq: u32, branch: &str, auth: Option<&str>) -> String {
        register(cseq, branch, auth)
            .replace("alice@", &format!("{user}@"))
            .replace("cid-1", cid)
    }

    fn resp(
        user: &str,
        cid: &str,
        status: u16,
        cseq: u32,
        branch: &str,
        extra: Option<&str>,
    ) -> String {
        let reason = match status {
            401 => "Unauthorized",
            403 => "Forbidden",
            _ => "OK",
        };
        response(status, reason, cseq, branch, extra)
            .replace("alice@", &format!("{user}@"))
            .replace("cid-1", cid)
    }

    fn creds(user: &str, nonce: &str, response: &str, cnonce: Option<&str>) -> String {
        let qop = cnonce
            .map(|c| format!(", qop=auth, cnonce=\"{c}\", nc=00000001"))
            .unwrap_or_default();
        format!("Authorization: Digest username=\"{user}\", realm=\"lab.example\", nonce=\"{nonce}\", uri=\"sip:lab.example\", response=\"{response}\"{qop}")
    }

    fn www(nonce: &str) -> String {
        format!("WWW-Authenticate: Digest realm=\"lab.example\", nonce=\"{nonce}\"")
    }

    /// svcrack: one nonce, one Call-ID, `n` guesses with different responses.
    fn dictionary(n: u32, src: &str, spacing: f64) -> Vec<(String, String, f64, String)> {
        let mut m = vec![
            (
                src.to_string(),
                PBX.to_string(),
                0.0,
                reg("1000", "c1", 1, "a0", None),
            ),
            (
                PBX.to_string(),
                src.to_string(),
                0.001,
                resp("1000", "c1", 401, 1, "a0", Some(&www("N"))),
            ),
        ];
        for i in 1..=n {
            let t = f64::from(i) * spacing;
            let b = format!("g{i}");
            let r = format!("{:032x}", i);
            m.push((
                src.to_string(),
                PBX.to_string(),
                t,
                reg("1000", "c1", 2, &b, Some(&creds("1000", "N", &r, None))),
            ));
            m.push((
                PBX.to_string(),
                src.to_string(),
                t + 0.001,
                resp("1000", "c1", 401, 2, &b, Some(&www("N"))),
            ));
        }
        m
    }

    /// A phone with the wrong password: every round a fresh cnonce.
    fn phone_loop(n: u32) -> Vec<(String, String, f64, String)> {
        let mut m = vec![
            (
                PHONE.to_string(),
                PBX.to_string(),
                0.0,
                reg("alice", "c1", 1, "a0", None),
            ),
            (
                PBX.to_string(),
                PHONE.to_string(),
                0.001,
                resp("alice", "c1", 401, 1, "a0", Some(&www("N"))),
            ),
        ];
        for i in 1..=n {
            let t = f64::from(i) * 0.01;
            let b = format!("p{i}");
            let r = format!("{:032x}", i + 1000);
            let c = format!("cn{i}");
            m.push((
                PHONE.to_string(),
                PBX.to_string(),
                t,
                reg(
                    "alice",
                    "c1",
                    i + 1,
                    &b,
                    Some(&creds("alice", "N", &r, Some(&c))),
                ),
            ));
            m.push((
                PBX.to_string(),
                PHONE.to_string(),
                t + 0.001,
                resp("alice", "c1", 401, i + 1, &b, Some(&www("N"))),
            ));
        }
        m
    }

    fn run(m: &[(String, String, f64, String)], cfg: &RuleConfig) -> Vec<Finding> {
        let borrowed: Vec<_> = m
            .iter()
            .map(|(a, b, t, s)| (a.as_str(), b.as_str(), *t, s.as_str()))
            .collect();
        let exs = exchanges(&borrowed);
        crate::rules::evaluate(&exs, cfg)
    }

    #[test]
    fn phones_that_authenticate_keep_counters_and_shared_agents_only() {
        let mut m = Vec::new();
        for (i, phone) in ["10.1.1.1:5060", "10.1.1.2:5060"].iter().enumerate() {
            let (cid, t) = (format!("ok-{i}"), i as f64);
            m.push((
                phone.to_string(),
                PBX.to_string(),
                t,
                reg("alice", &cid, 1, &format!("a{i}"), None),
            ));
            m.push((
                PBX.to_string(),
                phone.to_string(),
                t + 0.001,
                resp("alice", &cid, 401, 1, &format!("a{i}"), Some(&www("N"))),
            ));
            let c = creds("alice", "N", &format!("{i:032x}"), None);
            m.push((
                phone.to_string(),
                PBX.to_string(),
                t + 0.01,
                reg("alice", &cid, 2, &format!("b{i}"), Some(&c)),
            ));
            m.push((
                PBX.to_string(),
                phone.to_string(),
                t + 0.011,
                resp("alice", &cid, 200, 2, &format!("b{i}"), None),
            ));
        }
        let with_ua: Vec<(String, String, f64, String)> = m
            .into_iter()
            .map(|(a, b, t, s)| {
                let s = s.replacen("Content-Length", "User-Agent: Yealink\nContent-Length", 1);
                (a, b, t, s)
            })
            .collect();
        let borrowed: Vec<_> = with_ua
            .iter()
            .map(|(a, b, t, s)| (a.as_str(), b.as_str(), *t, s.as_str()))
            .collect();
        let cfg = RuleConfig::default();
        let mut bf = BruteForce::new(&cfg);
        for ex in &exchanges(&borrowed) {
            bf.add(ex);
        }
        bf.judge_older_than(i64::MAX);
        assert_eq!(bf.sources.len(), 2);
        for src in bf.sources.values() {
            assert!(
                src.attempts.is_none(),
                "no failed attempt, no attempt state"
            );
            assert_eq!(src.successes, 1);
            assert_eq!(src.agents(), &[0], "the one User-Agent, stored once");
        }
        assert_eq!(bf.agent_ids.len(), 1);
    }

    #[test]
    fn brute_force_names_the_user_agents_of_the_source() {
        let m: Vec<(String, String, f64, String)> = dictionary(25, SCANNER, 0.01)
            .into_iter()
            .map(|(a, b, t, s)| {
                let s = s.replacen(
                    "Content-Length",
                    "User-Agent: friendly-scanner\nContent-Length",
                    1,
                );
                (a, b, t, s)
            })
            .collect();
        let f = run(&m, &RuleConfig::default());
        let b = f
            .iter()
            .find(|f| f.rule == "brute-force")
            .expect("an attack");
        let ua = b.evidence.0.iter().find(|(k, _)| k == "user agents");
        assert_eq!(
            ua.map(|(_, v)| v.as_str()),
            Some("friendly-scanner"),
            "{:?}",
            b.evidence
        );
    }

    #[test]
    fn state_per_source_stays_bounded_on_long_captures() {
        // A phone failing once every 100 s for 30 000 s, a fresh nonce
        // each time: never an attack, and what is kept about it stays the
        // size of a window, not of the capture.
        let mut m = Vec::new();
        for i in 0..300u32 {
            let (cid, t) = (format!("slow-{i}"), f64::from(i) * 100.0);
            let (b1, b2, n) = (format!("x{i}"), format!("y{i}"), format!("N{i}"));
            let r = format!("{i:032x}");
            m.push((
                PHONE.to_string(),
                PBX.to_string(),
                t,
                reg("1000", &cid, 1, &b1, None),
            ));
            m.push((
                PBX.to_string(),
                PHONE.to_string(),
                t + 0.01,
                resp("1000", &cid, 401, 1, &b1, Some(&www(&n))),
            ));
            m.push((
                PHONE.to_string(),
                PBX.to_string(),
                t + 0.02,
                reg("1000", &cid, 2, &b2, Some(&creds("1000", &n, &r, None))),
            ));
            m.push((
                PBX.to_string(),
                PHONE.to_string(),
                t + 0.03,
                resp("1000", &cid, 403, 2, &b2, None),
            ));
        }
        let borrowed: Vec<_> = m
            .iter()
            .map(|(a, b, t, s)| (a.as_str(), b.as_str(), *t, s.as_str()))
            .collect();
        let exs = exchanges(&borrowed);
        assert_eq!(exs.len(), 300);
        let cfg = RuleConfig::default();
        let mut bf = BruteForce::new(&cfg);
        let (mut waiting, mut window, mut groups) = (0, 0, 0);
        for ex in &exs {
            bf.add(ex);
            waiting = waiting.max(bf.waiting.len());
            for a in bf.sources.values().filter_map(|s| s.attempts.as_deref()) {
                window = window.max(a.window.attempts.len());
                groups = groups.max(a.groups.len());
            }
        }
        // 300 s of reordering at one attempt per 100 s; a 180 s window.
        assert!(waiting <= 4, "{waiting} attempts waiting");
        assert!(window <= 2, "{window} attempts in the window");
        assert!(groups <= 2 + 1 + 4 + 1, "{groups} digest inputs kept");
        let src = bf.sources.values().next().expect("the phone");
        let att = src.attempts.as_deref().expect("its failures");
        assert!(att.frames.is_empty(), "not an attack: no frames listed");
        let mut out = Vec::new();
        bf.finish(&cfg, &mut out);
        assert!(out.is_empty(), "{out:?}");
    }

    #[test]
    fn dictionary_on_one_nonce_is_brute_force() {
        let f = run(&dictionary(25, SCANNER, 0.01), &RuleConfig::default());
        let b: Vec<_> = f.iter().filter(|f| f.rule == "brute-force").collect();
        assert_eq!(b.len(), 1, "one finding per source");
        assert_eq!(b[0].severity, Severity::Critical);
        assert!(b[0].message.contains("25 failed"), "{}", b[0].message);
        assert!(
            b[0].message.contains("25 different passwords"),
            "{}",
            b[0].message
        );
        let ev: Vec<_> = b[0]
            .evidence
            .0
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        assert!(
            ev.contains(&"any attempt succeeded=no".to_string()),
            "{ev:?}"
        );
        assert!(
            ev.iter().any(|e| e.starts_with("source=10.9.9.9")),
            "{ev:?}"
        );
    }

    #[test]
    fn below_threshold_or_outside_window_is_not() {
        // Five guesses: under --max-failures 6.
        let f = run(&dictionary(5, SCANNER, 0.01), &RuleConfig::default());
        assert!(!f.iter().any(|f| f.rule == "brute-force"));
        // Ten guesses 60 s apart: never six within 180 s.
        let f = run(&dictionary(10, SCANNER, 60.0), &RuleConfig::default());
        assert!(!f.iter().any(|f| f.rule == "brute-force"));
        // ... unless the window is widened.
        let cfg = RuleConfig {
            window: 3600.0,
            ..RuleConfig::default()
        };
        let f = run(&dictionary(10, SCANNER, 60.0), &cfg);
        assert!(f.iter().any(|f| f.rule == "brute-force"));
    }

    #[test]
    fn a_phone_looping_on_its_own_account_is_not_brute_force() {
        let f = run(&phone_loop(15), &RuleConfig::default());
        assert!(!f.iter().any(|f| f.rule == "brute-force"), "{f:?}");
        assert!(f.iter().any(|f| f.rule == "auth-loop"));
    }

    #[test]
    fn many_usernames_is_enumeration() {
        let mut m = Vec::new();
        for i in 0..6u32 {
            let user = format!("{}", 100 + i);
            let cid = format!("e{i}");
            let t = f64::from(i);
            let b = format!("b{i}");
            m.push((
                SCANNER.to_string(),
                PBX.to_string(),
                t,
                reg(&user, &cid, 1, &b, None),
            ));
            m.push((
                PBX.to_string(),
                SCANNER.to_string(),
                t + 0.001,
                resp(&user, &cid, 404, 1, &b, None),
            ));
        }
        let f = run(&m, &RuleConfig::default());
        let b = f.iter().find(|f| f.rule == "brute-force").expect("fires");
        assert!(b.message.contains("6 different usernames"), "{}", b.message);
        // Four usernames: a person trying variants, not a scan.
        let f = run(&m[..8], &RuleConfig::default());
        assert!(!f.iter().any(|f| f.rule == "brute-force"));
        let cfg = RuleConfig {
            max_usernames: 4,
            ..RuleConfig::default()
        };
        assert!(run(&m[..8], &cfg).iter().any(|f| f.rule == "brute-force"));
    }

    #[test]
    fn a_success_is_reported() {
        let mut m = dictionary(8, SCANNER, 0.01);
        let t = 1.0;
        m.push((
            SCANNER.to_string(),
            PBX.to_string(),
            t,
            reg(
                "1000",
                "c1",
                2,
                "win",
                Some(&creds(
                    "1000",
                    "N",
                    "ffffffffffffffffffffffffffffffff",
                    None,
                )),
            ),
        ));
        m.push((
            PBX.to_string(),
            SCANNER.to_string(),
            t + 0.001,
            resp("1000", "c1", 200, 2, "win", None),
        ));
        let f = run(&m, &RuleConfig::default());
        let b = f.iter().find(|f| f.rule == "brute-force").expect("fires");
        assert!(b.fix.contains("SUCCEEDED"), "{}", b.fix);
    }

    #[test]
    fn scanner_names_match_as_substrings() {
        assert_eq!(
            scanner_name("UNfriendly-scanner - for demo purposes"),
            Some("friendly-scanner")
        );
        assert_eq!(scanner_name("SIPVicious 0.3"), Some("sipvicious"));
        assert_eq!(scanner_name("baresip v1.0.0"), None);
        let m = dictionary(1, SCANNER, 0.01);
        let borrowed: Vec<_> = m
            .iter()
            .map(|(a, b, t, s)| (a.as_str(), b.as_str(), *t, s.as_str()))
            .collect();
        // testutil requests carry no User-Agent: add one.
        let with_ua: Vec<String> = borrowed
            .iter()
            .map(|(_, _, _, s)| {
                s.replacen(
                    "Content-Length",
                    "User-Agent: friendly-scanner\nContent-Length",
                    1,
                )
            })
            .collect();
        let msgs: Vec<_> = borrowed
            .iter()
            .zip(&with_ua)
            .map(|((a, b, t, _), s)| (*a, *b, *t, s.as_str()))
            .collect();
        let (exs, agents) = capture(&msgs);
        let f = crate::rules::evaluate_capture(
            &CaptureView {
                exchanges: &exs,
                agents: &agents,
            },
            &RuleConfig::default(),
        );
        let s: Vec<_> = f
            .iter()
            .filter(|f| f.rule == "scanner-user-agent")
            .collect();
        assert_eq!(s.len(), 1, "one per source and user agent");
        assert!(s[0].message.contains("10.9.9.9"), "{}", s[0].message);
    }

    #[test]
    fn scanner_seen_on_an_unchallenged_options() {
        let options = "OPTIONS sip:100@10.0.0.1 SIP/2.0\n\
Via: SIP/2.0/UDP 10.9.9.9:5067;branch=z9hG4bKo1\n\
From: <sip:100@10.0.0.1>;tag=x\n\
To: <sip:100@10.0.0.1>\n\
Call-ID: opt-1\n\
CSeq: 1 OPTIONS\n\
User-Agent: UNfriendly-scanner - for demo purposes\n\
Content-Length: 0\n\n";
        let ok = "SIP/2.0 200 OK\n\
Via: SIP/2.0/UDP 10.9.9.9:5067;branch=z9hG4bKo1\n\
From: <sip:100@10.0.0.1>;tag=x\n\
To: <sip:100@10.0.0.1>;tag=y\n\
Call-ID: opt-1\n\
CSeq: 1 OPTIONS\n\
Content-Length: 0\n\n";
        let (exs, agents) = capture(&[(SCANNER, PBX, 0.0, options), (PBX, SCANNER, 0.1, ok)]);
        assert!(exs.is_empty(), "an unchallenged OPTIONS is no exchange");
        let view = CaptureView {
            exchanges: &exs,
            agents: &agents,
        };
        let f = crate::rules::evaluate_capture(&view, &RuleConfig::default());
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].rule, "scanner-user-agent");
        assert!(f[0].message.contains("OPTIONS"), "{}", f[0].message);
    }
}
