//! 401 versus 407: the challenge type and the header that answers it.

use super::{answered, Evidence, Finding, RuleConfig, Severity};
use crate::correlate::AuthExchange;

/// REGISTER challenged with 407 / Proxy-Authenticate.
pub fn register_challenged_with_407(ex: &AuthExchange, _: &RuleConfig, out: &mut Vec<Finding>) {
    if !ex.method.eq_ignore_ascii_case("REGISTER") {
        return;
    }
    let frames: Vec<u64> = ex
        .rounds
        .iter()
        .filter_map(|r| r.response.as_ref())
        .filter(|r| r.status == 407)
        .map(|r| r.frame)
        .collect();
    if frames.is_empty() {
        return;
    }
    let answered_ok = ex.sent_credentials();
    out.push(Finding {
        rule: "register-challenged-with-407",
        severity: Severity::Warning,
        exchange: Some(ex.id),
        related_exchanges: Vec::new(),
        frames,
        message: format!(
            "REGISTER was challenged with 407 Proxy-Authenticate instead of 401 WWW-Authenticate{}",
            if answered_ok {
                " (this client coped with it)"
            } else {
                ""
            }
        ),
        evidence: Evidence::new()
            .add("method", "REGISTER")
            .add("challenge", "407 Proxy-Authenticate")
            .add_opt("server", ex.server_agent.clone())
            .add_opt("client", ex.user_agent.clone()),
        fix: "A registrar should challenge with 401 (RFC 3261 §22.2); many phones ignore 407 for REGISTER. Switch the server to 401 challenges for REGISTER (e.g. VOS3000 SS_AUTHCHALLENGEMODE=1, or 3 for both).".into(),
    });
}

/// 401 answered with Proxy-Authorization, or 407 with Authorization.
pub fn credentials_header_mismatch(ex: &AuthExchange, _: &RuleConfig, out: &mut Vec<Finding>) {
    for r in &ex.rounds {
        let Some(expected) = answered(r).find_map(|(_, a)| a.map(|a| (a.header, a.frame))) else {
            continue;
        };
        // Fine if any credentials header is the right one.
        if answered(r).any(|(sc, _)| sc.header == expected.0.answer()) {
            continue;
        }
        let Some((first, _)) = answered(r).next() else {
            continue;
        };
        let sent = first.header;
        out.push(Finding {
            rule: "credentials-header-mismatch",
            severity: Severity::Error,
            exchange: Some(ex.id),
            related_exchanges: Vec::new(),
            frames: vec![expected.1, r.request.frame],
            message: format!(
                "the challenge came in {} but the client answered with {}",
                expected.0.name(),
                sent.name()
            ),
            evidence: Evidence::new()
                .add("challenge header", expected.0.name())
                .add("expected answer", expected.0.answer().name())
                .add("answer header", sent.name()),
            fix: "401 WWW-Authenticate is answered with Authorization, 407 Proxy-Authenticate with Proxy-Authorization (RFC 3261 §22.2-22.3). The client mixes them up: update it, or have the server send the challenge type the client handles.".into(),
        });
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::testutil::*;

    #[test]
    fn register_407_answered_properly() {
        let ch = "Proxy-Authenticate: Digest realm=\"lab.example\", nonce=\"n1\"";
        let auth = "Proxy-Authorization: Digest username=\"alice\", realm=\"lab.example\", nonce=\"n1\", uri=\"sip:lab.example\", response=\"0123456789abcdef0123456789abcdef\"";
        let msgs = [
            register(1, "a", None),
            response(407, "Proxy Authentication Required", 1, "a", Some(ch)),
            register(2, "b", Some(auth)),
            response(200, "OK", 2, "b", None),
        ];
        let exs = exchanges(&[
            (PHONE, PBX, 0.0, &msgs[0]),
            (PBX, PHONE, 0.1, &msgs[1]),
            (PHONE, PBX, 0.2, &msgs[2]),
            (PBX, PHONE, 0.3, &msgs[3]),
        ]);
        assert_eq!(rules_fired(&exs), vec!["register-challenged-with-407"]);
    }

    #[test]
    fn header_mismatch() {
        let auth = "Proxy-Authorization: Digest username=\"alice\", realm=\"lab.example\", nonce=\"n1\", uri=\"sip:lab.example\", response=\"0123456789abcdef0123456789abcdef\"";
        let fired = rules_fired(&one_retry(WWW_NOQOP, auth, 401, "Unauthorized"));
        assert!(fired.contains(&"credentials-header-mismatch"), "{fired:?}");
    }
}
