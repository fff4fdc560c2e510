//! Credentials headers the server cannot read.

use super::{Evidence, Finding, RuleConfig, Severity};
use crate::correlate::AuthExchange;

/// Problems listed per finding; the rest are counted.
const MAX_LISTED: usize = 6;

/// A credentials header that does not parse cleanly: no scheme, missing
/// required parameters, unclosed quotes, typographic quotes or other
/// non-ASCII characters (collected by the digest parser).
pub fn malformed_credentials(ex: &AuthExchange, _: &RuleConfig, out: &mut Vec<Finding>) {
    let mut problems: Vec<String> = Vec::new();
    let mut frames = Vec::new();
    let mut header = None;
    let offered = |scheme: &str| {
        ex.all_challenges()
            .any(|(_, c)| c.challenge.scheme.eq_ignore_ascii_case(scheme))
    };
    for r in &ex.rounds {
        for sc in r.request.credentials.iter().filter(|c| !c.relayed) {
            let c = &sc.credentials;
            // A scheme nobody offered: garbage, or Basic (which SIP forbids).
            let scheme_problem = (!c.is_digest() && !offered(&c.scheme)).then(|| {
                if c.scheme.is_empty() {
                    "no authentication scheme".to_string()
                } else {
                    format!(
                        "scheme '{}' instead of Digest (not offered by the server)",
                        c.scheme
                    )
                }
            });
            if c.problems.is_empty() && scheme_problem.is_none() {
                continue;
            }
            if frames.last() != Some(&r.request.frame) {
                frames.push(r.request.frame);
            }
            header.get_or_insert(sc.header);
            let found = scheme_problem
                .into_iter()
                .chain(c.problems.iter().map(|p| p.what.clone()));
            for p in found {
                if !problems.contains(&p) {
                    problems.push(p);
                }
            }
        }
    }
    let Some(header) = header else { return };
    let mut evidence = Evidence::new().add("header", header.name());
    for (i, p) in problems.iter().take(MAX_LISTED).enumerate() {
        evidence = evidence.add(format!("problem {}", i + 1), p.clone());
    }
    if problems.len() > MAX_LISTED {
        evidence = evidence.add("more problems", (problems.len() - MAX_LISTED).to_string());
    }
    evidence = evidence
        .add("requests affected", frames.len().to_string())
        .add_opt("user agent", ex.user_agent.clone());
    let pasted = problems
        .iter()
        .any(|p| p.contains("typographic") || p.contains("non-ASCII"));
    out.push(Finding {
        rule: "malformed-credentials",
        severity: Severity::Error,
        exchange: Some(ex.id),
        related_exchanges: Vec::new(),
        frames,
        message: format!("the {} header is malformed: {}", header.name(), problems[0]),
        evidence,
        fix: if pasted {
            "Retype the username, password and realm on the device by hand: values pasted from a web page or document bring typographic quotes or other non-ASCII characters the server cannot match.".into()
        } else {
            "The server cannot read these credentials (RFC 2617 §3.2.2 requires username, realm, nonce, uri and response, with quoted strings in ASCII quotes). Check hand-edited configuration on the client, or update it.".into()
        },
    });
}

#[cfg(test)]
mod tests {
    use crate::rules::testutil::*;

    #[test]
    fn missing_response_and_typographic_quotes() {
        let auth = "Authorization: Digest username=\"alice\", realm=\"lab.example\", nonce=\"n1\", uri=\"sip:lab.example\"";
        let exs = one_retry(WWW_NOQOP, auth, 400, "Bad Request");
        let f = crate::rules::evaluate(&exs, &Default::default());
        let m = f
            .iter()
            .find(|f| f.rule == "malformed-credentials")
            .expect("fires");
        assert!(m.message.contains("'response' is missing"), "{}", m.message);

        let auth = "Authorization: Digest username=\u{201C}alice\u{201D}, realm=\"lab.example\", nonce=\"n1\", uri=\"sip:lab.example\", response=\"0123456789abcdef0123456789abcdef\"";
        let exs = one_retry(WWW_NOQOP, auth, 401, "Unauthorized");
        let f = crate::rules::evaluate(&exs, &Default::default());
        let m = f
            .iter()
            .find(|f| f.rule == "malformed-credentials")
            .expect("fires");
        assert!(m.fix.contains("Retype"), "{}", m.fix);
    }

    #[test]
    fn clean_credentials_are_not_malformed() {
        let exs = one_retry(WWW_QOP, &auth_qop("alice"), 200, "OK");
        assert!(!rules_fired(&exs).contains(&"malformed-credentials"));
    }

    #[test]
    fn a_header_that_is_not_digest_at_all() {
        let exs = one_retry(WWW_NOQOP, "Authorization: garbage", 400, "Bad Request");
        let f = crate::rules::evaluate(&exs, &Default::default());
        let m = f
            .iter()
            .find(|f| f.rule == "malformed-credentials")
            .expect("fires");
        assert!(m.message.contains("'garbage'"), "{}", m.message);
        let exs = one_retry(
            WWW_NOQOP,
            "Authorization: Basic YWxpY2U6c2VjcmV0",
            401,
            "Unauthorized",
        );
        assert!(rules_fired(&exs).contains(&"malformed-credentials"));
    }
}
