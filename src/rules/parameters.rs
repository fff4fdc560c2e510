//! The digest parameters of an answer against the challenge it answers.

use super::{answered, opt, q, Evidence, Finding, RuleConfig, Severity};
use crate::correlate::{AnsweredChallenge, AuthExchange, Outcome};
use crate::sip::digest::QopList;
use std::borrow::Cow;

/// Challenge offered qop; the answer left out cnonce, nc or qop.
pub fn missing_cnonce(ex: &AuthExchange, _: &RuleConfig, out: &mut Vec<Finding>) {
    for r in &ex.rounds {
        for (sc, ans) in answered(r) {
            let Some(ans) = ans else { continue };
            if ans.challenge.qop.is_empty() {
                continue;
            }
            let c = &sc.credentials;
            let missing: Vec<&str> = [
                ("cnonce", c.cnonce.is_none()),
                ("nc", c.nc.is_none()),
                ("qop", c.qop.is_none()),
            ]
            .iter()
            .filter(|(_, m)| *m)
            .map(|(n, _)| *n)
            .collect();
            if missing.is_empty() {
                continue;
            }
            let mut frames = vec![ans.frame, r.request.frame];
            frames.extend(r.response.as_ref().map(|x| x.frame));
            out.push(Finding {
                rule: "missing-cnonce",
                severity: Severity::Error,
                exchange: Some(ex.id),
                related_exchanges: Vec::new(),
                frames,
                message: format!(
                    "the challenge offered qop=\"{}\" but the answer has no {}",
                    ans.challenge.qop,
                    missing.join("/")
                ),
                evidence: Evidence::new()
                    .add("challenge qop", ans.challenge.qop.as_str())
                    .add_opt("credentials qop", c.qop.clone())
                    .add_opt("credentials cnonce", c.cnonce.clone())
                    .add_opt("credentials nc", c.nc.clone())
                    .add_opt("user agent", ex.user_agent.clone()),
                fix: "The client computes an RFC 2069 digest although the server requires qop (RFC 2617 §3.2.2): update the client's SIP stack (seen with old NIST-SIP based softphones), or, as a workaround, disable qop on the server for this client.".into(),
            });
        }
    }
}

/// qop used that was not offered, or cnonce/nc/qop when none was offered.
pub fn qop_mismatch(ex: &AuthExchange, _: &RuleConfig, out: &mut Vec<Finding>) {
    for r in &ex.rounds {
        for (sc, ans) in answered(r) {
            let c = &sc.credentials;
            let offered: Option<&QopList> = ans.map(|a| &a.challenge.qop);
            let problem = match (offered, c.qop.as_deref()) {
                (Some(off), Some(used)) if off.is_empty() => Some(format!(
                    "the answer uses qop={used} although the challenge offered no qop"
                )),
                (Some(off), Some(used)) if !off.iter().any(|o| o.eq_ignore_ascii_case(used)) => {
                    Some(format!(
                        "the answer uses qop={used}, not one of the offered \"{off}\""
                    ))
                }
                (Some(off), None) if off.is_empty() && (c.nc.is_some() || c.cnonce.is_some()) => {
                    Some(format!(
                        "the answer carries {} without qop, and the challenge offered no qop",
                        present_extras(c)
                    ))
                }
                (None, None) if c.nc.is_some() || c.cnonce.is_some() => Some(format!(
                    "the answer carries {} without qop",
                    present_extras(c)
                )),
                _ => None,
            };
            let Some(problem) = problem else { continue };
            let mut frames: Vec<u64> = ans.map(|a| a.frame).into_iter().collect();
            frames.push(r.request.frame);
            out.push(Finding {
                rule: "qop-mismatch",
                severity: Severity::Error,
                exchange: Some(ex.id),
                related_exchanges: Vec::new(),
                frames,
                message: problem,
                evidence: Evidence::new()
                    .add(
                        "challenge qop",
                        match offered {
                            Some(o) if o.is_empty() => "(none offered)",
                            Some(o) => o.as_str(),
                            None => "(challenge not in capture)",
                        },
                    )
                    .add_opt("credentials qop", c.qop.clone())
                    .add_opt("credentials cnonce", c.cnonce.clone())
                    .add_opt("credentials nc", c.nc.clone())
                    .add_opt("user agent", ex.user_agent.clone()),
                fix: "The client builds the digest with a quality of protection the server did not offer (RFC 2617 §3.2.2: cnonce and nc only with qop, and qop one of the offered values). Servers reject or cannot verify such answers. Update or reconfigure the client's SIP stack; on the server, offering qop=\"auth\" may be accepted by such clients.".into(),
            });
        }
    }
}

fn present_extras(c: &crate::sip::Credentials) -> String {
    let mut v = Vec::new();
    if let Some(nc) = &c.nc {
        v.push(format!("nc={nc}"));
    }
    if let Some(cn) = &c.cnonce {
        v.push(format!("cnonce={cn}"));
    }
    v.join(" and ")
}

/// The answer's realm differs from the challenge's.
pub fn realm_mismatch(ex: &AuthExchange, _: &RuleConfig, out: &mut Vec<Finding>) {
    for r in &ex.rounds {
        for (sc, ans) in answered(r) {
            let Some(ans) = ans else { continue };
            let (Some(ch), Some(cr)) = (&ans.challenge.realm, &sc.credentials.realm) else {
                continue;
            };
            if ch == cr {
                continue;
            }
            let only_case = ch.eq_ignore_ascii_case(cr);
            out.push(Finding {
                rule: "realm-mismatch",
                severity: Severity::Error,
                exchange: Some(ex.id),
                related_exchanges: Vec::new(),
                frames: vec![ans.frame, r.request.frame],
                message: format!(
                    "the server challenged with realm {} but the client answered with realm {}{}",
                    q(ch),
                    q(cr),
                    if only_case { " (they differ only in letter case)" } else { "" }
                ),
                evidence: Evidence::new()
                    .add("challenge realm", ch.clone())
                    .add("credentials realm", cr.clone())
                    .add_opt("digest username", sc.credentials.username.clone()),
                fix: format!(
                    "Set the realm / SIP domain / authentication domain on the client to {} (or leave it empty so the client takes the realm from the challenge).",
                    q(ch)
                ).into(),
            });
        }
    }
}

fn uri_equivalent(a: &str, b: &str) -> bool {
    a == b || a.eq_ignore_ascii_case(b)
}

/// The digest uri differs from the Request-URI.
pub fn uri_mismatch(ex: &AuthExchange, _: &RuleConfig, out: &mut Vec<Finding>) {
    let mut seen: Vec<(String, String)> = Vec::new();
    for r in &ex.rounds {
        for (sc, _) in answered(r) {
            let Some(uri) = &sc.credentials.uri else {
                continue;
            };
            let ruri = &r.request.request_uri;
            if uri_equivalent(uri, ruri) {
                continue;
            }
            // One finding per distinct pair in an exchange.
            if seen.iter().any(|(a, b)| a == uri && b == ruri) {
                continue;
            }
            seen.push((uri.to_string(), ruri.to_string()));
            out.push(Finding {
                rule: "uri-mismatch",
                severity: Severity::Warning,
                exchange: Some(ex.id),
                related_exchanges: Vec::new(),
                frames: vec![r.request.frame],
                message: format!(
                    "the digest uri {} differs from the Request-URI {}",
                    q(uri),
                    q(ruri)
                ),
                evidence: Evidence::new()
                    .add("request-uri", ruri.clone())
                    .add("digest uri", uri.clone())
                    .add_opt("digest username", sc.credentials.username.clone())
                    .add("digest username seen as", opt(sc.credentials.user_part())),
                fix: "The digest is computed over the digest uri; servers that compare it with the Request-URI reject the answer. Look for a NAT, SBC or outbound proxy rewriting the Request-URI, or a client that puts its configured server address in the digest uri; make both the same.".into(),
            });
        }
    }
}

/// The algorithms offered in the response that issued `ans` (several
/// challenges may offer one each, RFC 8760), upper-cased.
fn offered_algorithms<'a>(ex: &'a AuthExchange, ans: &'a AnsweredChallenge) -> Vec<Cow<'a, str>> {
    let from_response: Vec<Cow<str>> = ex
        .rounds
        .iter()
        .filter_map(|r| r.response.as_ref())
        .find(|resp| resp.frame == ans.frame && resp.ts == ans.ts)
        .map(|resp| {
            resp.digest_challenges()
                .filter(|c| c.header == ans.header)
                .map(|c| c.challenge.algorithm_or_default())
                .collect()
        })
        .unwrap_or_default();
    if from_response.is_empty() {
        vec![ans.challenge.algorithm_or_default()]
    } else {
        from_response
    }
}

fn is_md5(alg: &str) -> bool {
    alg == "MD5" || alg == "MD5-SESS"
}

/// The answer's algorithm was not offered; or only algorithms other than
/// MD5 were offered and the client never answered.
pub fn algorithm_mismatch(ex: &AuthExchange, _: &RuleConfig, out: &mut Vec<Finding>) {
    let mut reported: Vec<(Vec<Cow<str>>, Cow<str>)> = Vec::new();
    for r in &ex.rounds {
        for (sc, ans) in answered(r) {
            let Some(ans) = ans else { continue };
            let used = sc.credentials.algorithm_or_default();
            // The answered challenge's own algorithm is always among those
            // offered: the common case needs no list.
            if ans.challenge.algorithm_or_default() == used {
                continue;
            }
            let offered = offered_algorithms(ex, ans);
            if offered.contains(&used) {
                continue;
            }
            if reported.iter().any(|(o, u)| *o == offered && *u == used) {
                continue;
            }
            reported.push((offered.clone(), used.clone()));
            let mut frames = vec![ans.frame, r.request.frame];
            frames.extend(r.response.as_ref().map(|x| x.frame));
            out.push(Finding {
                rule: "algorithm-mismatch",
                severity: Severity::Error,
                exchange: Some(ex.id),
                related_exchanges: Vec::new(),
                frames,
                message: format!(
                    "the server offered algorithm {} but the client answered with {}{}",
                    offered.join(", "),
                    used,
                    if sc.credentials.algorithm.is_none() { " (no algorithm parameter: MD5 by default)" } else { "" }
                ),
                evidence: Evidence::new()
                    .add("offered", offered.join(", "))
                    .add_opt("credentials algorithm", sc.credentials.algorithm.clone())
                    .add_opt("user agent", ex.user_agent.clone()),
                fix: "The client must compute the digest with one of the offered algorithms (RFC 7616, RFC 8760). Enable that algorithm on the client (update it if it supports MD5 only), or have the server also offer the algorithm the client uses.".into(),
            });
        }
    }
    // Only SHA-256 (or other non-MD5) offered and never answered.
    if ex.outcome != Outcome::Failed || ex.sent_credentials() {
        return;
    }
    let Some(last) = ex.rounds.last() else { return };
    let Some(resp) = last.response.as_ref().filter(|x| x.is_challenge()) else {
        return;
    };
    let offered: Vec<Cow<str>> = resp
        .digest_challenges()
        .map(|c| c.challenge.algorithm_or_default())
        .collect();
    // AKA is answered by a SIM, not a password: unsupported-scheme says so.
    if offered.is_empty()
        || offered
            .iter()
            .any(|a| is_md5(a) || super::scheme::is_aka(a))
    {
        return;
    }
    out.push(Finding {
        rule: "algorithm-mismatch",
        severity: Severity::Error,
        exchange: Some(ex.id),
        related_exchanges: Vec::new(),
        frames: vec![last.request.frame, resp.frame],
        message: format!(
            "the server offered only {} and the client never answered: it probably supports MD5 only",
            offered.join(", ")
        ),
        evidence: Evidence::new()
            .add("offered", offered.join(", "))
            .add("answer", "none")
            .add("capture continued", format!("{:.1} s", ex.observed_after))
            .add_opt("user agent", ex.user_agent.clone()),
        fix: "Offer MD5 as well (a second challenge, RFC 8760 §2.4) for clients that lack SHA-256, or update the client to one that supports the offered algorithm.".into(),
    });
}

/// The opaque of the challenge was not echoed unchanged.
pub fn opaque_mismatch(ex: &AuthExchange, _: &RuleConfig, out: &mut Vec<Finding>) {
    for r in &ex.rounds {
        for (sc, ans) in answered(r) {
            let Some(ans) = ans else { continue };
            let Some(sent) = &ans.challenge.opaque else {
                continue;
            };
            let echoed = sc.credentials.opaque.as_deref();
            if echoed == Some(sent.as_str()) {
                continue;
            }
            let mut frames = vec![ans.frame, r.request.frame];
            frames.extend(r.response.as_ref().map(|x| x.frame));
            out.push(Finding {
                rule: "opaque-mismatch",
                severity: Severity::Error,
                exchange: Some(ex.id),
                related_exchanges: Vec::new(),
                frames,
                message: match echoed {
                    Some(e) => format!(
                        "the challenge's opaque {} came back changed as {}",
                        q(sent),
                        q(e)
                    ),
                    None => format!("the challenge's opaque {} was not echoed", q(sent)),
                },
                evidence: Evidence::new()
                    .add("challenge opaque", sent.clone())
                    .add_opt("credentials opaque", echoed)
                    .add_opt("user agent", ex.user_agent.clone()),
                fix: "The client must return the challenge's opaque unchanged (RFC 2617 §3.2.2); servers that keep state in it refuse the answer. Update the client.".into(),
            });
            // One per exchange names the bug.
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::testutil::*;

    #[test]
    fn missing_cnonce_when_qop_offered() {
        let auth = "Authorization: Digest username=\"alice\", realm=\"lab.example\", nonce=\"n1\", uri=\"sip:lab.example\", response=\"0123456789abcdef0123456789abcdef\"";
        let fired = rules_fired(&one_retry(WWW_QOP, auth, 403, "Forbidden"));
        assert!(fired.contains(&"missing-cnonce"), "{fired:?}");
        // Without qop in the challenge the same answer is fine.
        let fired = rules_fired(&one_retry(WWW_NOQOP, auth, 200, "OK"));
        assert!(fired.is_empty(), "{fired:?}");
    }

    #[test]
    fn qop_mismatch_variants() {
        // qop sent though none offered (svcrack style).
        let fired = rules_fired(&one_retry(
            WWW_NOQOP,
            &auth_qop("alice"),
            401,
            "Unauthorized",
        ));
        assert!(fired.contains(&"qop-mismatch"), "{fired:?}");
        // nc without qop (Nero SIPPS style).
        let auth = "Authorization: Digest username=\"alice\", realm=\"lab.example\", nonce=\"n1\", uri=\"sip:lab.example\", response=\"0123456789abcdef0123456789abcdef\", nc=\"00000001\"";
        let fired = rules_fired(&one_retry(WWW_NOQOP, auth, 200, "OK"));
        assert_eq!(fired, vec!["qop-mismatch"]);
        // auth-int used, only auth offered.
        let auth = auth_qop("alice").replace("qop=auth", "qop=auth-int");
        let fired = rules_fired(&one_retry(WWW_QOP, &auth, 200, "OK"));
        assert_eq!(fired, vec!["qop-mismatch"]);
    }

    #[test]
    fn realm_mismatch_names_both() {
        let auth = auth_qop("alice").replace("realm=\"lab.example\"", "realm=\"asterisk\"");
        let exs = one_retry(WWW_QOP, &auth, 401, "Unauthorized");
        let f = crate::rules::evaluate(&exs, &Default::default());
        let rm = f
            .iter()
            .find(|f| f.rule == "realm-mismatch")
            .expect("fires");
        assert!(rm.message.contains("'lab.example'") && rm.message.contains("'asterisk'"));
        assert!(rm.fix.contains("'lab.example'"));
    }

    #[test]
    fn uri_mismatch_but_not_on_case() {
        let auth = auth_qop("alice").replace("uri=\"sip:lab.example\"", "uri=\"sip:192.168.1.2\"");
        assert_eq!(
            rules_fired(&one_retry(WWW_QOP, &auth, 200, "OK")),
            vec!["uri-mismatch"]
        );
        let auth = auth_qop("alice").replace("uri=\"sip:lab.example\"", "uri=\"SIP:LAB.EXAMPLE\"");
        assert!(rules_fired(&one_retry(WWW_QOP, &auth, 200, "OK")).is_empty());
    }

    #[test]
    fn algorithm_not_offered() {
        let ch = "WWW-Authenticate: Digest realm=\"lab.example\", nonce=\"n1\", qop=\"auth\", algorithm=SHA-256";
        let fired = rules_fired(&one_retry(ch, &auth_qop("alice"), 401, "Unauthorized"));
        assert!(fired.contains(&"algorithm-mismatch"), "{fired:?}");
        let auth = format!("{}, algorithm=sha-256", auth_qop("alice"));
        let fired = rules_fired(&one_retry(ch, &auth, 200, "OK"));
        assert!(!fired.contains(&"algorithm-mismatch"), "{fired:?}");
        // Lower-case md5 against the default: same algorithm.
        let auth = format!("{}, algorithm=md5", auth_qop("alice"));
        assert!(rules_fired(&one_retry(WWW_QOP, &auth, 200, "OK")).is_empty());
    }

    #[test]
    fn algorithm_any_of_several_challenges() {
        let ch = "WWW-Authenticate: Digest realm=\"lab.example\", nonce=\"n1\", qop=\"auth\", algorithm=SHA-256\nWWW-Authenticate: Digest realm=\"lab.example\", nonce=\"n1\", qop=\"auth\", algorithm=MD5";
        let fired = rules_fired(&one_retry(ch, &auth_qop("alice"), 200, "OK"));
        assert!(!fired.contains(&"algorithm-mismatch"), "{fired:?}");
    }

    #[test]
    fn only_sha256_and_no_answer() {
        let ch = "WWW-Authenticate: Digest realm=\"lab.example\", nonce=\"n1\", qop=\"auth\", algorithm=SHA-256";
        let exs = challenge_unanswered(ch);
        let f = crate::rules::evaluate(&exs, &Default::default());
        let a = f
            .iter()
            .find(|f| f.rule == "algorithm-mismatch")
            .expect("fires");
        assert!(a.message.contains("only SHA-256"), "{}", a.message);
        // MD5-only challenge never answered: not an algorithm problem.
        let exs = challenge_unanswered(WWW_QOP);
        assert!(!rules_fired(&exs).contains(&"algorithm-mismatch"));
    }

    #[test]
    fn opaque_must_come_back() {
        let ch = "WWW-Authenticate: Digest realm=\"lab.example\", nonce=\"n1\", qop=\"auth\", opaque=\"op1\"";
        let fired = rules_fired(&one_retry(ch, &auth_qop("alice"), 401, "Unauthorized"));
        assert!(fired.contains(&"opaque-mismatch"), "{fired:?}");
        let auth = format!("{}, opaque=\"op2\"", auth_qop("alice"));
        let f = crate::rules::evaluate(
            &one_retry(ch, &auth, 401, "Unauthorized"),
            &Default::default(),
        );
        let o = f
            .iter()
            .find(|f| f.rule == "opaque-mismatch")
            .expect("fires");
        assert!(o.message.contains("'op2'"), "{}", o.message);
        let auth = format!("{}, opaque=\"op1\"", auth_qop("alice"));
        assert!(rules_fired(&one_retry(ch, &auth, 200, "OK")).is_empty());
    }
}
