//! How an exchange ended: rejected credentials, loops, silence, 403.

use super::{answered, opt, Evidence, Finding, RuleConfig, Severity};
use crate::correlate::{AuthExchange, Outcome};

fn is_stale(resp: &crate::correlate::ResponseInfo) -> bool {
    resp.challenges.iter().any(|c| c.challenge.stale)
}

/// Credentials answered by 401/407 again, not because the nonce was stale.
pub fn credentials_rejected(ex: &AuthExchange, _: &RuleConfig, out: &mut Vec<Finding>) {
    let mut frames = Vec::new();
    let mut last = None;
    let mut count = 0;
    for r in &ex.rounds {
        let Some(resp) = &r.response else { continue };
        if !resp.is_challenge() || is_stale(resp) {
            continue;
        }
        let Some((sc, _)) = answered(r).next() else {
            continue;
        };
        count += 1;
        frames.push(r.request.frame);
        frames.push(resp.frame);
        last = Some((sc, resp));
    }
    let Some((sc, resp)) = last else { return };
    let c = &sc.credentials;
    let user = c.username.as_deref().unwrap_or("?");
    let times = if count == 1 {
        "once".to_string()
    } else {
        format!("{count} times")
    };
    out.push(Finding {
        rule: "credentials-rejected",
        severity: Severity::Error,
        exchange: Some(ex.id),
        related_exchanges: Vec::new(),
        frames,
        message: format!(
            "{} credentials for '{user}' were rejected {times} with {} {}",
            ex.method, resp.status, resp.reason
        ),
        evidence: Evidence::new()
            .add("digest username", user)
            .add_opt("credentials realm", c.realm.clone())
            .add_opt(
                "challenge realm",
                resp.digest_challenges().next().and_then(|c| c.challenge.realm.clone()),
            )
            .add("rejections", count.to_string())
            .add("last answer", format!("{} {}", resp.status, resp.reason)),
        fix: "The server does not accept these credentials: check the password and the authentication username on the client (and the realm/domain). Run again with --credentials FILE holding the account's password to find which field is wrong.".into(),
    });
}

/// Three or more challenges in one exchange without success.
pub fn auth_loop(ex: &AuthExchange, cfg: &RuleConfig, out: &mut Vec<Finding>) {
    if ex.outcome == Outcome::Succeeded || !ex.sent_credentials() {
        return;
    }
    let challenges = || {
        ex.rounds
            .iter()
            .filter_map(|r| r.response.as_ref().filter(|resp| resp.is_challenge()))
    };
    if challenges().count() < cfg.loop_rounds {
        return;
    }
    let challenged: Vec<_> = challenges().collect();
    let nonces: Vec<_> = challenged
        .iter()
        .filter_map(|r| {
            r.digest_challenges()
                .next()
                .and_then(|c| c.challenge.nonce.clone())
        })
        .collect();
    let distinct = {
        let mut n = nonces.clone();
        n.sort();
        n.dedup();
        n.len()
    };
    let first = ex
        .rounds
        .first()
        .map(|r| r.request.ts)
        .unwrap_or(ex.first_ts);
    let duration = ex.last_ts.since(first);
    let nonce_note = if distinct == 1 && nonces.len() > 1 {
        "the same nonce every time".to_string()
    } else {
        format!("{distinct} different nonces")
    };
    out.push(Finding {
        rule: "auth-loop",
        severity: Severity::Error,
        exchange: Some(ex.id),
        related_exchanges: Vec::new(),
        frames: ex.rounds.iter().map(|r| r.request.frame).collect(),
        message: format!(
            "{} challenged {} times in {:.1} s without success ({nonce_note})",
            ex.method,
            challenged.len(),
            duration
        ),
        evidence: Evidence::new()
            .add("challenges", challenged.len().to_string())
            .add("requests", ex.rounds.len().to_string())
            .add("nonces", nonce_note)
            .add("duration", format!("{duration:.3} s"))
            .add("outcome", ex.failure.clone().unwrap_or_else(|| ex.outcome.as_str().into())),
        fix: "Client and server keep disagreeing on the credentials: fix the underlying mismatch (password, auth username, realm). A client that retries without limit can get its account or address locked; limit its retries.".into(),
    });
}

/// A challenge the client never answered although the capture went on.
pub fn challenge_unanswered(ex: &AuthExchange, _: &RuleConfig, out: &mut Vec<Finding>) {
    if ex.outcome != Outcome::Failed {
        return;
    }
    let Some(last) = ex.rounds.last() else { return };
    let Some(resp) = &last.response else { return };
    if !resp.is_challenge() {
        return;
    }
    // Rejected credentials are credentials-rejected, unless the server
    // said they were only stale and the client still did not retry.
    if last.has_credentials() && !is_stale(resp) {
        return;
    }
    let ch = resp.challenges.first();
    let algorithm = ch.map(|c| c.challenge.algorithm_or_default());
    let scheme = ch.map(|c| c.challenge.scheme.clone());
    let header = ch
        .map(|c| c.header.name())
        .unwrap_or("(no challenge header)");
    let method_hint = if ex.method.eq_ignore_ascii_case("NOTIFY") {
        "The sender of this NOTIFY (e.g. a provisioning server sending check-sync) must answer the phone's challenge with credentials of the phone's SIP identity; configure them on the server, or turn off authentication of check-sync on the phone."
    } else if resp.status == 407 && ex.method.eq_ignore_ascii_case("REGISTER") {
        "Many phones ignore 407 for REGISTER: have the server challenge REGISTER with 401."
    } else {
        "Check that the client has credentials for this account and supports the offered scheme and algorithm; check that the capture continues long enough to show the retry."
    };
    out.push(Finding {
        rule: "challenge-unanswered",
        severity: Severity::Error,
        exchange: Some(ex.id),
        related_exchanges: Vec::new(),
        frames: vec![last.request.frame, resp.frame],
        message: format!(
            "{} was challenged with {} and the {} never answered ({:.0} s of capture followed)",
            ex.method, resp.status, "client", ex.observed_after
        ),
        evidence: Evidence::new()
            .add("challenge", format!("{} {}", resp.status, header))
            .add_opt("scheme", scheme)
            .add_opt("algorithm", algorithm)
            .add("stale", is_stale(resp).to_string())
            .add("capture continued", format!("{:.1} s", ex.observed_after)),
        fix: method_hint.into(),
    });
}

/// 403 Forbidden after credentials.
pub fn forbidden_after_auth(ex: &AuthExchange, _: &RuleConfig, out: &mut Vec<Finding>) {
    for r in &ex.rounds {
        let Some(resp) = &r.response else { continue };
        if resp.status != 403 {
            continue;
        }
        let Some((sc, _)) = answered(r).next() else {
            continue;
        };
        let c = &sc.credentials;
        out.push(Finding {
            rule: "forbidden-after-auth",
            severity: Severity::Error,
            exchange: Some(ex.id),
            related_exchanges: Vec::new(),
            frames: vec![r.request.frame, resp.frame],
            message: format!(
                "{} with credentials for {} refused with 403 {}",
                ex.method,
                opt(c.username.as_deref()),
                resp.reason
            ),
            evidence: Evidence::new()
                .add_opt("digest username", c.username.clone())
                .add("reason", format!("403 {}", resp.reason))
                .add_opt("warning", resp.warning.clone())
                .add_opt("server", ex.server_agent.clone()),
            fix: "The server refuses the request outright: wrong password or unknown user on servers that answer 403 (e.g. Asterisk), an account disabled or suspended after too many failures (fail2ban, retry limits), an IP ACL, or a malformed answer the server will not check. Read the reason phrase, check the account and the server's security log, and unblock the source once the credentials are fixed.".into(),
        });
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::testutil::*;

    #[test]
    fn accepted_challenge_is_not_a_finding() {
        let exs = one_retry(WWW_QOP, &auth_qop("alice"), 200, "OK");
        assert_eq!(exs.len(), 1);
        assert_eq!(exs[0].outcome, crate::correlate::Outcome::Succeeded);
        assert!(rules_fired(&exs).is_empty(), "{:?}", rules_fired(&exs));
    }

    #[test]
    fn rejected_then_403() {
        let exs = one_retry(WWW_QOP, &auth_qop("alice"), 403, "Forbidden");
        assert_eq!(rules_fired(&exs), vec!["forbidden-after-auth"]);
        let exs = one_retry(WWW_QOP, &auth_qop("alice"), 401, "Unauthorized");
        assert!(rules_fired(&exs).contains(&"credentials-rejected"));
    }

    #[test]
    fn stale_rechallenge_is_not_a_rejection() {
        let stale = "WWW-Authenticate: Digest realm=\"lab.example\", nonce=\"n2\", qop=\"auth\", stale=true";
        let msgs = [
            register(1, "a", None),
            response(401, "Unauthorized", 1, "a", Some(WWW_QOP)),
            register(2, "b", Some(&auth_qop("alice"))),
            response(401, "Unauthorized", 2, "b", Some(stale)),
        ];
        let exs = exchanges(&[
            (PHONE, PBX, 0.0, &msgs[0]),
            (PBX, PHONE, 0.1, &msgs[1]),
            (PHONE, PBX, 0.2, &msgs[2]),
            (PBX, PHONE, 0.3, &msgs[3]),
            // Time passes with other traffic: the client never retries.
            (
                PHONE,
                PBX,
                60.0,
                &register(1, "zz", None).replace("cid-1", "other"),
            ),
        ]);
        let fired = rules_fired(&exs);
        assert!(!fired.contains(&"credentials-rejected"), "{fired:?}");
        assert!(fired.contains(&"challenge-unanswered"), "{fired:?}");
    }

    #[test]
    fn loop_of_three() {
        let mut msgs = vec![(PHONE, PBX, 0.0, register(1, "a", None))];
        msgs.push((
            PBX,
            PHONE,
            0.01,
            response(401, "Unauthorized", 1, "a", Some(WWW_QOP)),
        ));
        for i in 2..=3u32 {
            let b = format!("b{i}");
            msgs.push((
                PHONE,
                PBX,
                f64::from(i),
                register(i, &b, Some(&auth_qop("alice"))),
            ));
            msgs.push((
                PBX,
                PHONE,
                f64::from(i) + 0.01,
                response(401, "Unauthorized", i, &b, Some(WWW_QOP)),
            ));
        }
        let borrowed: Vec<_> = msgs
            .iter()
            .map(|(a, b, t, m)| (*a, *b, *t, m.as_str()))
            .collect();
        let exs = exchanges(&borrowed);
        assert_eq!(exs.len(), 1);
        assert_eq!(exs[0].rounds.len(), 3);
        let fired = rules_fired(&exs);
        assert!(fired.contains(&"auth-loop"), "{fired:?}");
        // Two rounds only: no loop.
        let exs = exchanges(&borrowed[..4]);
        assert!(!rules_fired(&exs).contains(&"auth-loop"));
    }

    #[test]
    fn unanswered_challenge_needs_time_to_pass() {
        let msgs = [
            register(1, "a", None),
            response(401, "Unauthorized", 1, "a", Some(WWW_QOP)),
        ];
        let short = exchanges(&[(PHONE, PBX, 0.0, &msgs[0]), (PBX, PHONE, 0.1, &msgs[1])]);
        assert_eq!(short[0].outcome, crate::correlate::Outcome::Incomplete);
        assert!(rules_fired(&short).is_empty());
        let later = register(1, "x", None)
            .replace("cid-1", "cid-2")
            .replace("alice@", "bob@");
        let long = exchanges(&[
            (PHONE, PBX, 0.0, &msgs[0]),
            (PBX, PHONE, 0.1, &msgs[1]),
            (PHONE, PBX, 100.0, &later),
        ]);
        assert_eq!(rules_fired(&long), vec!["challenge-unanswered"]);
    }
}
