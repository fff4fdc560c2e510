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

use super::{Evidence, Finding, RuleConfig, Severity};
use crate::capture::Ts;
use crate::correlate::{AgentSighting, AuthExchange, Outcome, Round, SentCredentials};
use rustc_hash::{FxHashMap, FxHashSet, FxHasher};
use std::collections::BTreeMap;
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
    user: String,
    /// Hash of every digest input except the password (failures only).
    inputs: u64,
    response: u64,
    port: Option<u16>,
    exchange: usize,
}

#[derive(Default)]
struct Source {
    attempts: Vec<Attempt>,
    /// (user, frame, exchange) of accepted credentials.
    successes: Vec<(String, u64, usize)>,
    user_agents: Vec<String>,
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

fn collect(ex: &AuthExchange, src: &mut Source) {
    if let Some(ua) = &ex.user_agent {
        if src.user_agents.len() < 5 && !src.user_agents.contains(ua) {
            src.user_agents.push(ua.clone());
        }
    }
    let port = ex.client.map(|a| a.port());
    let method = ex.method.to_ascii_uppercase();
    for (i, r) in ex.rounds.iter().enumerate() {
        match own_credentials(r) {
            Some(sc) => {
                let c = &sc.credentials;
                let user = c.user_part().unwrap_or("").to_string();
                if r.status().is_some_and(|s| (200..300).contains(&s)) {
                    src.successes.push((user, r.request.frame, ex.id));
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
                src.attempts.push(Attempt {
                    ts: r.request.ts,
                    frame: r.request.frame,
                    kind: Kind::Failed,
                    user,
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
                    src.attempts.push(Attempt {
                        ts: r.request.ts,
                        frame: r.request.frame,
                        kind: Kind::Probe,
                        user: ex.to_user().unwrap_or_default(),
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

/// What a window of attempts holds.
#[derive(Default)]
struct Window<'a> {
    failures: usize,
    users: FxHashMap<&'a str, usize>,
    /// Digest inputs -> response -> count, failures only.
    groups: FxHashMap<u64, FxHashMap<u64, usize>>,
    /// Inputs answered with two or more different responses.
    multi: usize,
}

impl<'a> Window<'a> {
    fn add(&mut self, a: &'a Attempt) {
        *self.users.entry(a.user.as_str()).or_insert(0) += 1;
        if a.kind == Kind::Failed {
            self.failures += 1;
            let g = self.groups.entry(a.inputs).or_default();
            let before = g.len();
            *g.entry(a.response).or_insert(0) += 1;
            if before == 1 && g.len() == 2 {
                self.multi += 1;
            }
        }
    }

    fn remove(&mut self, a: &'a Attempt) {
        if let Some(n) = self.users.get_mut(a.user.as_str()) {
            *n -= 1;
            if *n == 0 {
                self.users.remove(a.user.as_str());
            }
        }
        if a.kind == Kind::Failed {
            self.failures -= 1;
            if let Some(g) = self.groups.get_mut(&a.inputs) {
                let before = g.len();
                if let Some(n) = g.get_mut(&a.response) {
                    *n -= 1;
                    if *n == 0 {
                        g.remove(&a.response);
                    }
                }
                if before == 2 && g.len() == 1 {
                    self.multi -= 1;
                }
                if g.is_empty() {
                    self.groups.remove(&a.inputs);
                }
            }
        }
    }
}

struct Verdict {
    guessing: bool,
    enumeration: bool,
    peak_failures: usize,
    peak_users: usize,
}

fn judge(attempts: &[Attempt], cfg: &RuleConfig) -> Verdict {
    let span = (cfg.window.max(0.0) * 1e9).min(i64::MAX as f64) as i64;
    let mut w = Window::default();
    let mut lo = 0;
    let mut v = Verdict {
        guessing: false,
        enumeration: false,
        peak_failures: 0,
        peak_users: 0,
    };
    for a in attempts {
        w.add(a);
        while attempts[lo].ts.0 < a.ts.0.saturating_sub(span) {
            w.remove(&attempts[lo]);
            lo += 1;
        }
        v.peak_failures = v.peak_failures.max(w.failures);
        v.peak_users = v.peak_users.max(w.users.len());
        v.guessing |= w.failures >= cfg.max_failures && w.multi > 0;
        v.enumeration |= w.users.len() >= cfg.max_usernames;
    }
    v
}

/// The most different responses seen for identical digest inputs, and
/// whose account that was.
fn most_passwords(attempts: &[Attempt]) -> (usize, String) {
    let mut groups: FxHashMap<u64, (FxHashSet<u64>, &str)> = FxHashMap::default();
    for a in attempts.iter().filter(|a| a.kind == Kind::Failed) {
        let g = groups
            .entry(a.inputs)
            .or_insert_with(|| (FxHashSet::default(), a.user.as_str()));
        g.0.insert(a.response);
    }
    groups
        .values()
        .map(|(r, u)| (r.len(), u.to_string()))
        .max_by(|x, y| x.0.cmp(&y.0).then(y.1.cmp(&x.1)))
        .unwrap_or((0, String::new()))
}

/// Many failed authentications from one source across accounts or
/// passwords, or many usernames tried: one finding per source.
///
/// Fed one exchange at a time ([`BruteForce::add`]) so that it also runs
/// when exchanges stream out and are not kept: per source it keeps the
/// attempts (time, user, two hashes), not the exchanges.
#[derive(Default)]
pub struct BruteForce {
    sources: BTreeMap<IpAddr, Source>,
}

impl BruteForce {
    pub fn add(&mut self, ex: &AuthExchange) {
        // Without an address the attempts cannot be attributed.
        let Some(client) = ex.client else { return };
        collect(ex, self.sources.entry(client.ip()).or_default());
    }

    pub fn finish(self, cfg: &RuleConfig, out: &mut Vec<Finding>) {
        for (ip, mut src) in self.sources {
            if src.attempts.is_empty() {
                continue;
            }
            src.attempts.sort_by_key(|a| (a.ts, a.frame));
            let v = judge(&src.attempts, cfg);
            if !(v.guessing || v.enumeration) {
                continue;
            }
            out.push(finding(ip, &src, &v, cfg));
        }
    }
}

fn finding(ip: IpAddr, src: &Source, v: &Verdict, cfg: &RuleConfig) -> Finding {
    let a = &src.attempts;
    let failures = a.iter().filter(|x| x.kind == Kind::Failed).count();
    let probes = a.len() - failures;
    let mut users: Vec<&str> = Vec::new();
    for x in a {
        if !users.contains(&x.user.as_str()) {
            users.push(&x.user);
        }
    }
    let listed: Vec<String> = users
        .iter()
        .take(MAX_LISTED_USERS)
        .map(|u| format!("'{u}'"))
        .collect();
    let users_text = if users.len() > MAX_LISTED_USERS {
        format!(
            "{} and {} more",
            listed.join(", "),
            users.len() - MAX_LISTED_USERS
        )
    } else {
        listed.join(", ")
    };
    let mut ports: Vec<u16> = a.iter().filter_map(|x| x.port).collect();
    ports.sort_unstable();
    ports.dedup();
    let (passwords, pw_user) = most_passwords(a);
    let first = a.first().map(|x| x.ts).unwrap_or_default();
    let last = a.last().map(|x| x.ts).unwrap_or_default();
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
    let succeeded = match src.successes.first() {
        Some((u, f, e)) => format!(
            "yes: '{u}' was accepted at frame {f} (exchange #{e}){}",
            if src.successes.len() > 1 {
                format!(", {} accepted attempts in all", src.successes.len())
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
        .add("source ports", ports.len().to_string())
        .add("any attempt succeeded", succeeded.clone());
    if !src.user_agents.is_empty() {
        evidence = evidence.add("user agents", src.user_agents.join(" | "));
    }
    let mut fix = "Block this source (firewall, fail2ban on the server's failed-auth log), enforce a retry limit per account and per address (e.g. VOS3000 SS_AUTHENTICATION_MAX_RETRY / SS_AUTHENTICATION_FAILED_SUSPEND), use long random SIP passwords, and do not expose the SIP port to the whole Internet.".to_string();
    if !src.successes.is_empty() {
        fix.push_str(" An attempt from this source SUCCEEDED: change that account's password now and check it for fraudulent calls.");
    }
    Finding {
        rule: "brute-force",
        severity: Severity::Critical,
        exchange: None,
        related_exchanges: {
            let mut ids: Vec<usize> = a.iter().map(|x| x.exchange).collect();
            ids.extend(src.successes.iter().map(|s| s.2));
            ids.sort_unstable();
            ids.dedup();
            ids
        },
        frames: a.iter().map(|x| x.frame).collect(),
        message: format!(
            "{ip} made {failures} failed authentication attempts{} against {} account(s) ({users_text}) from {} to {}: {}",
            if probes > 0 { format!(" and {probes} username probes") } else { String::new() },
            users.len(),
            first.rfc3339(),
            last.rfc3339(),
            why.join("; ")
        ),
        evidence,
        fix,
    }
}

/// The scanner name a User-Agent contains, if any.
pub fn scanner_name(user_agent: &str) -> Option<&'static str> {
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
                methods: ex.method.clone(),
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
