//! Nonces: which one the client answers, whether it was still fresh, and
//! whether the nonce count moves on.

use super::reorder::{At, Reorder, REORDER_NS};
use super::{answered, q, Evidence, Finding, RuleConfig, Severity};
use crate::correlate::{AuthExchange, ResponseInfo};
use crate::sip::{Text, WideText};
use rustc_hash::FxHashMap;
use std::net::IpAddr;

/// Nonces of the digest challenges of one response.
fn issued_nonces(resp: &ResponseInfo) -> impl Iterator<Item = &str> {
    resp.digest_challenges()
        .filter_map(|c| c.challenge.nonce.as_deref())
}

/// Where an answered nonce came from, when it is not the latest one.
fn nonce_origin(
    ex: &AuthExchange,
    upto: usize,
    nonce: &str,
    by_nonce_frame: Option<u64>,
) -> String {
    let earlier = ex.rounds[..upto].iter().rev().find_map(|r| {
        r.response
            .as_ref()
            .filter(|resp| issued_nonces(resp).any(|n| n == nonce))
            .map(|resp| resp.frame)
    });
    match (earlier, by_nonce_frame) {
        (Some(f), _) => format!("an earlier challenge of this exchange (frame {f})"),
        (None, Some(f)) => format!("a challenge of another exchange (frame {f})"),
        (None, None) => "no challenge seen in this capture".into(),
    }
}

/// The answer's nonce is not one the server issued in the challenge the
/// client is answering (the latest one of the exchange).
pub fn nonce_mismatch(ex: &AuthExchange, _: &RuleConfig, out: &mut Vec<Finding>) {
    for i in 1..ex.rounds.len() {
        let Some(prev) = ex.rounds[i - 1]
            .response
            .as_ref()
            .filter(|r| r.is_challenge())
        else {
            continue;
        };
        if issued_nonces(prev).next().is_none() {
            continue;
        }
        let r = &ex.rounds[i];
        // Credentials for several proxies travel together: the request is
        // fine as long as one of them answers the latest challenge.
        if answered(r).any(|(sc, _)| {
            sc.credentials
                .nonce
                .as_deref()
                .is_some_and(|n| issued_nonces(prev).any(|l| l == n))
        }) {
            continue;
        }
        // A mismatch (rare): now the list is worth collecting.
        let latest: Vec<&str> = issued_nonces(prev).collect();
        let realms: Vec<&str> = prev
            .digest_challenges()
            .filter_map(|c| c.challenge.realm.as_deref())
            .collect();
        for (sc, ans) in answered(r) {
            let Some(nonce) = sc.credentials.nonce.as_deref() else {
                continue;
            };
            // Credentials for another realm answer another server.
            if sc
                .credentials
                .realm
                .as_deref()
                .is_some_and(|cr| !realms.is_empty() && !realms.contains(&cr))
            {
                continue;
            }
            let found_elsewhere = ans.filter(|a| a.by_nonce).map(|a| a.frame);
            let origin = nonce_origin(ex, i - 1, nonce, found_elsewhere);
            let mut frames = vec![prev.frame, r.request.frame];
            frames.extend(r.response.as_ref().map(|x| x.frame));
            out.push(Finding {
                rule: "nonce-mismatch",
                severity: Severity::Error,
                exchange: Some(ex.id),
                related_exchanges: Vec::new(),
                frames,
                message: format!(
                    "the server's latest challenge (frame {}) carried nonce {} but the client answered with nonce {}, from {origin}",
                    prev.frame,
                    q(latest[0]),
                    q(nonce)
                ),
                evidence: Evidence::new()
                    .add("latest nonce", latest.join(", "))
                    .add("answered nonce", nonce)
                    .add("answered nonce from", origin)
                    .add(
                        "answer",
                        format!(
                            "frame {}, {:.3} s after the latest challenge",
                            r.request.frame,
                            r.request.ts.since(prev.ts)
                        ),
                    )
                    .add_opt("user agent", ex.user_agent.clone()),
                fix: "The client must answer the nonce of the challenge it just received (RFC 2617 §3.2.2). It caches an old nonce: update the client or turn off nonce caching / preemptive authentication on it.".into(),
            });
            // One per exchange is enough to name the behaviour.
            return;
        }
    }
}

fn mentions_nonce(reason: &str) -> bool {
    let r = reason.to_ascii_lowercase();
    r.contains("nonce") || r.contains("stale") || r.contains("expired")
}

/// The server says the nonce was stale (stale=true), or refused an answer
/// that came late with a new nonce: the client's nonce had expired.
pub fn stale_nonce(ex: &AuthExchange, cfg: &RuleConfig, out: &mut Vec<Finding>) {
    let mut events: Vec<(u64, u64, String)> = Vec::new(); // request, response, what
    let mut worst_delay: f64 = 0.0;
    let mut marked = 0usize;
    for r in &ex.rounds {
        let Some(resp) = r.response.as_ref().filter(|x| x.is_challenge()) else {
            continue;
        };
        let stale_flag = resp.challenges.iter().any(|c| c.challenge.stale);
        let answer = answered(r).next();
        if stale_flag {
            marked += 1;
            let delay = answer
                .and_then(|(_, a)| a)
                .map(|a| r.request.ts.since(a.ts));
            if let Some(d) = delay {
                worst_delay = worst_delay.max(d);
            }
            events.push((
                r.request.frame,
                resp.frame,
                match delay {
                    Some(d) => format!(
                        "{} {}: stale=true (the answer came {d:.1} s after its challenge)",
                        resp.status, resp.reason
                    ),
                    None => format!("{} {}: stale=true", resp.status, resp.reason),
                },
            ));
            continue;
        }
        let Some((sc, Some(ans))) = answer else {
            continue;
        };
        let Some(used) = sc.credentials.nonce.as_deref() else {
            continue;
        };
        if issued_nonces(resp).any(|n| n == used) {
            // The same nonce again: not a freshness problem.
            continue;
        }
        // A challenge from another realm (the next proxy) is no refusal.
        if !resp
            .digest_challenges()
            .any(|c| c.challenge.realm == ans.challenge.realm)
        {
            continue;
        }
        let delay = r.request.ts.since(ans.ts);
        if delay >= cfg.late_answer || mentions_nonce(&resp.reason) {
            worst_delay = worst_delay.max(delay);
            events.push((
                r.request.frame,
                resp.frame,
                format!(
                    "answered {delay:.1} s after the challenge (frame {}), refused with {} {} and a new nonce",
                    ans.frame, resp.status, resp.reason
                ),
            ));
        }
    }
    if events.is_empty() {
        return;
    }
    let repeated = events.len() > 1;
    let message = if marked > 0 && marked == events.len() {
        format!(
            "the server marked the nonce stale {} in this {} exchange{}",
            times(events.len()),
            ex.method,
            if repeated {
                ": the client does not keep up with new nonces"
            } else {
                ""
            }
        )
    } else {
        format!(
            "the client answered {worst_delay:.1} s after the challenge and the server refused the late answer with a new nonce{}",
            if events.len() > 1 {
                format!(" ({} times in this exchange)", events.len())
            } else {
                String::new()
            }
        )
    };
    let mut evidence = Evidence::new();
    for (i, (_, _, what)) in events.iter().take(5).enumerate() {
        evidence = evidence.add(format!("refusal {}", i + 1), what.clone());
    }
    if events.len() > 5 {
        evidence = evidence.add("more refusals", (events.len() - 5).to_string());
    }
    evidence = evidence
        .add("longest delay", format!("{worst_delay:.1} s"))
        .add_opt("user agent", ex.user_agent.clone());
    if let Some(server) = &ex.server_agent {
        evidence = evidence.add("server", server.clone());
    }
    out.push(Finding {
        rule: "stale-nonce",
        severity: Severity::Warning,
        exchange: Some(ex.id),
        related_exchanges: Vec::new(),
        frames: events.iter().flat_map(|(a, b, _)| [*a, *b]).collect(),
        message,
        evidence,
        fix: if worst_delay >= cfg.late_answer {
            format!("The answer came {worst_delay:.1} s after the challenge and by then the nonce had most likely expired. A client should answer at once: store the password on the device instead of prompting for it, and check that it is not overloaded. Or lengthen the server's nonce lifetime (Kamailio nonce_expire, Asterisk PJSIP nonce_lifetime, FreeSWITCH nonce-ttl).").into()
        } else {
            "stale=true means the password was right but the nonce was old; the client should retry at once with the new nonce. If it keeps happening, check the clocks (NTP) of the server(s) and client, and the server's nonce lifetime.".into()
        },
    });
}

fn times(n: usize) -> String {
    if n == 1 {
        "once".into()
    } else {
        format!("{n} times")
    }
}

/// A nonce count as a number (it is 8 hex digits; lenient on width).
fn nc_value(nc: &str) -> Option<u32> {
    u32::from_str_radix(nc.trim(), 16).ok()
}

#[derive(Clone)]
struct NcUse {
    frame: u64,
    exchange: usize,
    /// Eight hex digits as a rule: inline, no allocation.
    nc: Text,
}

enum Ev {
    /// A challenge issued this nonce to the client.
    Issue,
    /// The client answered it: nonce text, nc, frame, exchange.
    Use(WideText, NcUse),
}

/// A nonce event of one client, waiting for its turn in time order.
struct Event {
    client: Option<IpAddr>,
    nonce: u64,
    ev: Ev,
}

/// Per (client, nonce): challenges issued but not yet answered, and the
/// nc values used since.
#[derive(Default)]
struct NonceState {
    pending: u32,
    used: Vec<NcUse>,
    /// Time of its latest event (ns), to forget idle nonces.
    last: i64,
}

struct Reuse {
    client: Option<IpAddr>,
    nonce: WideText,
    first: NcUse,
    again: NcUse,
    count: usize,
}

/// A nonce without events for this long is forgotten: servers expire
/// nonces within minutes (Kamailio 300 s, FreeSWITCH 60 s), so an answer
/// after that is refused as stale whatever its nc.
const NONCE_IDLE_NS: i64 = 600 * 1_000_000_000;

fn nonce_hash(n: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = rustc_hash::FxHasher::default();
    n.hash(&mut h);
    h.finish()
}

/// The same nonce answered twice with the same nc by one client, without
/// the server issuing that nonce again in between (a fresh challenge, even
/// with the same nonce text, rightly restarts nc at 1).
///
/// Fed one exchange at a time ([`NcReuse::add`]) so that it also runs when
/// exchanges stream out and are not kept, in bounded memory: nonce events
/// wait in a time-ordered buffer ([`Reorder`]), then update a state per
/// (client, nonce) that is forgotten after [`NONCE_IDLE_NS`] without use.
#[derive(Default)]
pub struct NcReuse {
    waiting: Reorder<Event>,
    /// Latest time of any exchange seen (ns).
    newest: i64,
    state: FxHashMap<(Option<IpAddr>, u64), NonceState>,
    last_prune: i64,
    /// One entry per client.
    found: Vec<Reuse>,
}

impl NcReuse {
    fn push(&mut self, at: At, client: Option<IpAddr>, nonce: &str, ev: Ev) {
        let nonce = nonce_hash(nonce);
        self.waiting.push(at, Event { client, nonce, ev });
    }

    pub fn add(&mut self, ex: &AuthExchange) {
        let client = ex.client.map(|a| a.ip());
        for r in &ex.rounds {
            for (sc, _) in answered(r) {
                if let (Some(n), Some(nc)) = (&sc.credentials.nonce, &sc.credentials.nc) {
                    let used = NcUse {
                        frame: r.request.frame,
                        exchange: ex.id,
                        nc: nc.clone(),
                    };
                    let at = (r.request.ts.0, r.request.frame, 1);
                    self.push(at, client, n, Ev::Use(n.clone(), used));
                }
            }
            if let Some(resp) = r.response.as_ref().filter(|x| x.is_challenge()) {
                for n in issued_nonces(resp) {
                    self.push((resp.ts.0, resp.frame, 0), client, n, Ev::Issue);
                }
            }
        }
        self.newest = self.newest.max(ex.last_ts.0);
        self.apply_older_than(self.newest.saturating_sub(REORDER_NS));
        if self.newest.saturating_sub(self.last_prune) > NONCE_IDLE_NS / 4 {
            self.last_prune = self.newest;
            let horizon = self.newest.saturating_sub(NONCE_IDLE_NS);
            self.state.retain(|_, st| st.last >= horizon);
        }
    }

    fn apply_older_than(&mut self, t: i64) {
        while let Some((at, e)) = self.waiting.pop_before(t) {
            self.apply(at, e);
        }
    }

    fn apply(&mut self, at: At, Event { client, nonce, ev }: Event) {
        let st = self.state.entry((client, nonce)).or_default();
        st.last = st.last.max(at.0);
        match ev {
            Ev::Issue => st.pending += 1,
            Ev::Use(text, this) => {
                let same = st
                    .used
                    .iter()
                    .find(|u| {
                        u.nc == this.nc
                            || nc_value(&u.nc).is_some() && nc_value(&u.nc) == nc_value(&this.nc)
                    })
                    .cloned();
                if st.pending > 0 {
                    // The answer to a fresh challenge may start over at 1.
                    st.pending -= 1;
                } else if let Some(first) = same {
                    match self.found.iter_mut().find(|f| f.client == client) {
                        Some(f) => f.count += 1,
                        None => self.found.push(Reuse {
                            client,
                            nonce: text,
                            first,
                            again: this,
                            count: 1,
                        }),
                    }
                    return;
                }
                if st.used.len() < 64 && same.is_none() {
                    st.used.push(this);
                }
            }
        }
    }

    pub fn finish(mut self, _: &RuleConfig, out: &mut Vec<Finding>) {
        self.apply_older_than(i64::MAX);
        for reuse in std::mem::take(&mut self.found) {
            out.push(reuse_finding(reuse));
        }
    }
}

fn reuse_finding(
    Reuse {
        client,
        nonce,
        first,
        again,
        count,
    }: Reuse,
) -> Finding {
    let who = client.map(|c| c.to_string()).unwrap_or_else(|| "?".into());
    Finding {
        rule: "nc-reuse",
        severity: Severity::Warning,
        exchange: Some(again.exchange),
        related_exchanges: Vec::new(),
        frames: vec![first.frame, again.frame],
        message: format!(
            "client {who} answered nonce {} twice with nc={} (frames {} and {}) without a new challenge in between{}",
            q(&nonce),
            again.nc,
            first.frame,
            again.frame,
            if count > 1 {
                format!("; {count} such reuses in all")
            } else {
                String::new()
            }
        ),
        evidence: Evidence::new()
            .add("client", who)
            .add("nonce", nonce.to_string())
            .add("nc", again.nc.to_string())
            .add("first use", format!("frame {} (exchange #{})", first.frame, first.exchange))
            .add("reuse", format!("frame {} (exchange #{})", again.frame, again.exchange))
            .add("reuses", count.to_string()),
        fix: "Each answer to the same nonce must carry the next nonce count (nc=00000001, 00000002, ...; RFC 2617 §3.2.2); servers treat a repeated nc as a replay and refuse it. Update the client, or have it start from a fresh challenge instead of reusing the nonce.".into(),
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::testutil::*;

    fn www(nonce: &str, extra: &str) -> String {
        format!("WWW-Authenticate: Digest realm=\"lab.example\", nonce=\"{nonce}\", qop=\"auth\"{extra}")
    }

    fn auth(nonce: &str, nc: &str, cnonce: &str) -> String {
        format!("Authorization: Digest username=\"alice\", realm=\"lab.example\", nonce=\"{nonce}\", uri=\"sip:lab.example\", response=\"0123456789abcdef0123456789abcdef\", qop=auth, cnonce=\"{cnonce}\", nc={nc}")
    }

    /// REGISTER -> 401(n1) -> REGISTER(answer 1) -> 401(n2) -> REGISTER(answer 2) -> final.
    fn two_rounds(
        second_answer: &str,
        second_challenge: &str,
        t: [f64; 5],
    ) -> Vec<crate::correlate::AuthExchange> {
        let m = [
            register(1, "a", None),
            response(401, "Unauthorized", 1, "a", Some(&www("n1", ""))),
            register(2, "b", Some(&auth("n1", "00000001", "c1"))),
            response(401, "Unauthorized", 2, "b", Some(second_challenge)),
            register(3, "c", Some(second_answer)),
            response(200, "OK", 3, "c", None),
        ];
        exchanges(&[
            (PHONE, PBX, t[0], &m[0]),
            (PBX, PHONE, t[0] + 0.01, &m[1]),
            (PHONE, PBX, t[1], &m[2]),
            (PBX, PHONE, t[2], &m[3]),
            (PHONE, PBX, t[3], &m[4]),
            (PBX, PHONE, t[4], &m[5]),
        ])
    }

    #[test]
    fn answering_an_older_nonce_is_a_mismatch() {
        let exs = two_rounds(
            &auth("n1", "00000002", "c2"),
            &www("n2", ""),
            [0.0, 0.1, 0.2, 0.3, 0.4],
        );
        let f = crate::rules::evaluate(&exs, &Default::default());
        let m = f
            .iter()
            .find(|f| f.rule == "nonce-mismatch")
            .expect("fires");
        assert!(
            m.message.contains("'n2'") && m.message.contains("'n1'"),
            "{}",
            m.message
        );
        assert!(
            m.message.contains("earlier challenge of this exchange"),
            "{}",
            m.message
        );
        // Answering the latest nonce is fine.
        let exs = two_rounds(
            &auth("n2", "00000001", "c2"),
            &www("n2", ""),
            [0.0, 0.1, 0.2, 0.3, 0.4],
        );
        assert!(!rules_fired(&exs).contains(&"nonce-mismatch"));
    }

    #[test]
    fn stale_true_is_reported_with_delay() {
        let exs = two_rounds(
            &auth("n2", "00000001", "c2"),
            &www("n2", ", stale=true"),
            [0.0, 0.1, 0.2, 0.3, 0.4],
        );
        let f = crate::rules::evaluate(&exs, &Default::default());
        let s = f.iter().find(|f| f.rule == "stale-nonce").expect("fires");
        assert!(s.message.contains("stale once"), "{}", s.message);
        assert!(!rules_fired(&exs).contains(&"credentials-rejected"));
    }

    #[test]
    fn late_answer_refused_with_new_nonce_shows_the_delay() {
        // Answer 17.3 s after the challenge, refused with a new nonce.
        let exs = two_rounds(
            &auth("n2", "00000001", "c2"),
            &www("n2", ""),
            [0.0, 17.31, 17.4, 17.5, 17.6],
        );
        let f = crate::rules::evaluate(&exs, &Default::default());
        let s = f.iter().find(|f| f.rule == "stale-nonce").expect("fires");
        assert!(s.message.contains("17.3 s"), "{}", s.message);
        // The same refusal right away is just a rejection, not staleness.
        let exs = two_rounds(
            &auth("n2", "00000001", "c2"),
            &www("n2", ""),
            [0.0, 0.1, 0.2, 0.3, 0.4],
        );
        assert!(!rules_fired(&exs).contains(&"stale-nonce"));
        // Refused with the same nonce after a delay: not a nonce problem.
        let exs = two_rounds(
            &auth("n1", "00000002", "c2"),
            &www("n1", ""),
            [0.0, 17.31, 17.4, 17.5, 17.6],
        );
        assert!(!rules_fired(&exs).contains(&"stale-nonce"));
    }

    #[test]
    fn nc_reuse_only_without_a_new_challenge() {
        // Same nonce re-issued by the server: nc=1 again is right.
        let exs = two_rounds(
            &auth("n1", "00000001", "c2"),
            &www("n1", ""),
            [0.0, 0.1, 0.2, 0.3, 0.4],
        );
        assert!(!rules_fired(&exs).contains(&"nc-reuse"));
        // Preemptive reuse of the nonce with the same nc: a replay.
        let m = [
            register(1, "a", None),
            response(401, "Unauthorized", 1, "a", Some(&www("n1", ""))),
            register(2, "b", Some(&auth("n1", "00000001", "c1"))),
            response(200, "OK", 2, "b", None),
            register(3, "c", Some(&auth("n1", "00000001", "c2"))),
            response(200, "OK", 3, "c", None),
            register(4, "d", Some(&auth("n1", "00000002", "c3"))),
            response(200, "OK", 4, "d", None),
        ];
        let exs = exchanges(&[
            (PHONE, PBX, 0.0, &m[0]),
            (PBX, PHONE, 0.1, &m[1]),
            (PHONE, PBX, 0.2, &m[2]),
            (PBX, PHONE, 0.3, &m[3]),
            (PHONE, PBX, 60.0, &m[4]),
            (PBX, PHONE, 60.1, &m[5]),
            (PHONE, PBX, 120.0, &m[6]),
            (PBX, PHONE, 120.1, &m[7]),
        ]);
        let f = crate::rules::evaluate(&exs, &Default::default());
        let r: Vec<_> = f.iter().filter(|f| f.rule == "nc-reuse").collect();
        assert_eq!(r.len(), 1, "{f:?}");
        assert_eq!(r[0].frames, vec![3, 5]);
    }

    #[test]
    fn nc_reuse_state_stays_bounded_on_long_captures() {
        // A registration every 100 s for 20 000 s, each with a new nonce:
        // the buffer holds about REORDER_NS worth of events and the state
        // forgets nonces idle for NONCE_IDLE_NS.
        let mut texts = Vec::new();
        for i in 0..200u32 {
            let n = format!("n{i}");
            texts.push([
                register(1, &format!("a{i}"), None)
                    .replace("Call-ID: ", &format!("Call-ID: c{i}-")),
                response(401, "Unauthorized", 1, &format!("a{i}"), Some(&www(&n, "")))
                    .replace("Call-ID: ", &format!("Call-ID: c{i}-")),
                register(2, &format!("b{i}"), Some(&auth(&n, "00000001", "c1")))
                    .replace("Call-ID: ", &format!("Call-ID: c{i}-")),
                response(200, "OK", 2, &format!("b{i}"), None)
                    .replace("Call-ID: ", &format!("Call-ID: c{i}-")),
            ]);
        }
        let mut msgs = Vec::new();
        for (i, m) in texts.iter().enumerate() {
            let t = i as f64 * 100.0;
            msgs.push((PHONE, PBX, t, m[0].as_str()));
            msgs.push((PBX, PHONE, t + 0.1, m[1].as_str()));
            msgs.push((PHONE, PBX, t + 0.2, m[2].as_str()));
            msgs.push((PBX, PHONE, t + 0.3, m[3].as_str()));
        }
        let exs = exchanges(&msgs);
        assert_eq!(exs.len(), 200);
        let mut c = super::NcReuse::default();
        let (mut most_waiting, mut most_state) = (0, 0);
        for ex in &exs {
            c.add(ex);
            most_waiting = most_waiting.max(c.waiting.len());
            most_state = most_state.max(c.state.len());
        }
        // 300 s of events (2 per exchange, one exchange per 100 s), and
        // at most 600 s (+ a quarter between prunings) of nonces.
        assert!(most_waiting <= 10, "{most_waiting} events waiting");
        assert!(most_state <= 9, "{most_state} nonces kept");
        let mut out = Vec::new();
        c.finish(&Default::default(), &mut out);
        assert!(out.is_empty(), "a fresh nonce each time is no reuse");
    }

    #[test]
    fn credentials_for_two_proxies_are_no_nonce_mismatch() {
        // 407 from proxy A (realm a), answered; 407 from proxy B (realm
        // b); the retry carries credentials for both.
        let pa = "Proxy-Authenticate: Digest realm=\"a\", nonce=\"na\"";
        let pb = "Proxy-Authenticate: Digest realm=\"b\", nonce=\"nb\"";
        let ca = "Proxy-Authorization: Digest username=\"alice\", realm=\"a\", nonce=\"na\", uri=\"sip:lab.example\", response=\"0123456789abcdef0123456789abcdef\"";
        let cb = "Proxy-Authorization: Digest username=\"alice\", realm=\"b\", nonce=\"nb\", uri=\"sip:lab.example\", response=\"fedcba9876543210fedcba9876543210\"";
        let m = [
            register(1, "a", None),
            response(407, "Proxy Authentication Required", 1, "a", Some(pa)),
            register(2, "b", Some(ca)),
            response(407, "Proxy Authentication Required", 2, "b", Some(pb)),
            register(3, "c", Some(&format!("{ca}\n{cb}"))),
            response(200, "OK", 3, "c", None),
        ];
        let exs = exchanges(&[
            (PHONE, PBX, 0.0, &m[0]),
            (PBX, PHONE, 0.1, &m[1]),
            (PHONE, PBX, 6.2, &m[2]),
            (PBX, PHONE, 6.3, &m[3]),
            (PHONE, PBX, 12.4, &m[4]),
            (PBX, PHONE, 12.5, &m[5]),
        ]);
        let fired = rules_fired(&exs);
        assert!(!fired.contains(&"nonce-mismatch"), "{fired:?}");
        assert!(!fired.contains(&"stale-nonce"), "{fired:?}");
    }
}
