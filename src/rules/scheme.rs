//! Challenges in schemes other than Digest.

use super::{Evidence, Finding, RuleConfig, Severity};
use crate::correlate::AuthExchange;

/// An IMS AKA algorithm (`AKAv1-MD5`, `AKAv2-SHA-256`, ...).
pub fn is_aka(algorithm: &str) -> bool {
    algorithm
        .get(..3)
        .is_some_and(|p| p.eq_ignore_ascii_case("aka"))
}

/// A challenge with a scheme other than Digest (IMS AKA, Bearer, ...):
/// reported, not analysed.
pub fn unsupported_scheme(ex: &AuthExchange, _: &RuleConfig, out: &mut Vec<Finding>) {
    let mut schemes: Vec<String> = Vec::new();
    let mut frames = Vec::new();
    let mut digest_too = false;
    for r in &ex.rounds {
        let Some(resp) = &r.response else { continue };
        let mut here = false;
        for c in &resp.challenges {
            let name = if c.challenge.is_digest() {
                // IMS AKA comes as Digest with an AKA algorithm: a SIM
                // answers it, not a password.
                match c.challenge.algorithm.as_deref() {
                    Some(a) if is_aka(a) => format!("Digest {a} (IMS AKA)"),
                    _ => {
                        digest_too = true;
                        continue;
                    }
                }
            } else if c.challenge.scheme.is_empty() {
                "(none)".to_string()
            } else {
                c.challenge.scheme.to_string()
            };
            if !schemes.iter().any(|s| s.eq_ignore_ascii_case(&name)) {
                schemes.push(name);
            }
            here = true;
        }
        if here {
            frames.push(resp.frame);
        }
    }
    if schemes.is_empty() {
        return;
    }
    out.push(Finding {
        rule: "unsupported-scheme",
        severity: Severity::Info,
        exchange: Some(ex.id),
        related_exchanges: Vec::new(),
        frames,
        message: format!(
            "{} was challenged with the {} scheme{}",
            ex.method,
            schemes.join(", "),
            if digest_too {
                " besides Digest"
            } else {
                "; this tool checks password digests only"
            }
        ),
        evidence: Evidence::new()
            .add("schemes", schemes.join(", "))
            .add("digest offered too", digest_too.to_string())
            .add_opt("server", ex.server_agent.clone()),
        fix: "Nothing to fix by itself: schemes such as AKAv1-MD5 (IMS) or Bearer tokens need their own credentials (SIM, token server). If the client expects Digest, configure the server to offer it for this client.".into(),
    });
}

#[cfg(test)]
mod tests {
    use crate::rules::testutil::*;
    use crate::rules::Severity;

    #[test]
    fn bearer_challenge_is_reported_as_info() {
        let ch = "WWW-Authenticate: Bearer realm=\"lab.example\", scope=\"sip\"";
        let m = [
            register(1, "a", None),
            response(401, "Unauthorized", 1, "a", Some(ch)),
        ];
        let exs = exchanges(&[(PHONE, PBX, 0.0, &m[0]), (PBX, PHONE, 0.1, &m[1])]);
        let f = crate::rules::evaluate(&exs, &Default::default());
        let u = f
            .iter()
            .find(|f| f.rule == "unsupported-scheme")
            .expect("fires");
        assert_eq!(u.severity, Severity::Info);
        assert!(u.message.contains("Bearer"), "{}", u.message);
        assert!(
            !rules_fired(&one_retry(WWW_QOP, &auth_qop("alice"), 200, "OK"))
                .contains(&"unsupported-scheme")
        );
    }

    #[test]
    fn ims_aka_is_reported_not_called_an_algorithm_mismatch() {
        let ch = "WWW-Authenticate: Digest realm=\"ims.example\", nonce=\"bm9uY2U=\", algorithm=AKAv1-MD5, qop=\"auth\"";
        let exs = challenge_unanswered(ch);
        let f = crate::rules::evaluate(&exs, &Default::default());
        let u = f
            .iter()
            .find(|f| f.rule == "unsupported-scheme")
            .expect("fires");
        assert!(u.message.contains("AKAv1-MD5"), "{}", u.message);
        assert!(!f.iter().any(|f| f.rule == "algorithm-mismatch"), "{f:?}");
    }
}
