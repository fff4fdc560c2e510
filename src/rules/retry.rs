//! How the client retries after a challenge, and requests that never got
//! an answer.

use super::{Evidence, Finding, RuleConfig, Severity};
use crate::correlate::AuthExchange;

/// After a challenge the request came again, without credentials.
pub fn credentials_missing_on_retry(ex: &AuthExchange, _: &RuleConfig, out: &mut Vec<Finding>) {
    let mut frames = Vec::new();
    let mut first = None;
    for i in 1..ex.rounds.len() {
        let (prev, cur) = (&ex.rounds[i - 1], &ex.rounds[i]);
        let Some(ch) = prev.response.as_ref().filter(|r| r.is_challenge()) else {
            continue;
        };
        if cur.has_credentials() {
            continue;
        }
        frames.push(ch.frame);
        frames.push(cur.request.frame);
        first.get_or_insert((
            ch.frame,
            ch.status,
            cur.request.frame,
            cur.request.ts.since(ch.ts),
        ));
    }
    let Some((ch_frame, status, req_frame, delay)) = first else {
        return;
    };
    let count = frames.len() / 2;
    out.push(Finding {
        rule: "credentials-missing-on-retry",
        severity: Severity::Error,
        exchange: Some(ex.id),
        related_exchanges: Vec::new(),
        frames,
        message: format!(
            "after the {status} challenge (frame {ch_frame}) the client sent {} again without credentials (frame {req_frame}){}",
            ex.method,
            if count > 1 { format!(", {count} times in this exchange") } else { String::new() }
        ),
        evidence: Evidence::new()
            .add("challenge", format!("frame {ch_frame}, {status}"))
            .add("retry", format!("frame {req_frame}, {delay:.3} s later, no Authorization/Proxy-Authorization"))
            .add("retries without credentials", count.to_string())
            .add_opt("user agent", ex.user_agent.clone()),
        fix: "The endpoint cannot compute the digest: it has no password (or no authentication username) for this account or realm. Configure the credentials on the device; if it handles only one challenge type, have the server send the one it supports (401 for REGISTER).".into(),
    });
}

/// A retry after a challenge within the same Call-ID kept the CSeq.
pub fn cseq_not_incremented(ex: &AuthExchange, _: &RuleConfig, out: &mut Vec<Finding>) {
    let mut frames = Vec::new();
    let mut first = None;
    for i in 1..ex.rounds.len() {
        let (prev, cur) = (&ex.rounds[i - 1], &ex.rounds[i]);
        if !prev.challenged() || prev.request.call_id != cur.request.call_id {
            continue;
        }
        if cur.request.cseq > prev.request.cseq {
            continue;
        }
        frames.push(cur.request.frame);
        first.get_or_insert((
            prev.request.frame,
            prev.request.cseq,
            cur.request.frame,
            cur.request.cseq,
        ));
    }
    let Some((pf, pc, cf, cc)) = first else {
        return;
    };
    let count = frames.len();
    out.push(Finding {
        rule: "cseq-not-incremented",
        severity: Severity::Warning,
        exchange: Some(ex.id),
        related_exchanges: Vec::new(),
        frames,
        message: format!(
            "the retried {} keeps CSeq {cc} (frame {cf}) after CSeq {pc} was challenged (frame {pf}){}",
            ex.method,
            if count > 1 { format!("; {count} retries without a new CSeq") } else { String::new() }
        ),
        evidence: Evidence::new()
            .add("challenged request", format!("frame {pf}, CSeq {pc}"))
            .add("retry", format!("frame {cf}, CSeq {cc}"))
            .add("retries with the same CSeq", count.to_string())
            .add_opt("user agent", ex.user_agent.clone()),
        fix: "A request retried with credentials is a new transaction and must carry CSeq + 1 in the same Call-ID (RFC 3261 §8.1.3.5, §22.2); servers may take it for a retransmission and ignore it. Update the client.".into(),
    });
}

/// The last request of the exchange never got a final response, though
/// the capture went on long enough for one (unlike an exchange cut off by
/// the end of the capture).
pub fn no_final_response(ex: &AuthExchange, cfg: &RuleConfig, out: &mut Vec<Finding>) {
    let Some(last) = ex.rounds.last() else { return };
    if last.response.is_some() || ex.observed_after < cfg.answer_timeout {
        return;
    }
    let req = &last.request;
    let heard = match last.provisional {
        Some((frame, status)) => format!("only a provisional {status} (frame {frame})"),
        None => "no response at all".into(),
    };
    let after_auth = if last.has_credentials() {
        " after sending credentials"
    } else {
        ""
    };
    let mut frames = vec![req.frame];
    frames.extend(req.retransmission_frames.iter().copied());
    out.push(Finding {
        rule: "no-final-response",
        severity: Severity::Warning,
        exchange: Some(ex.id),
        related_exchanges: Vec::new(),
        frames,
        message: format!(
            "{} (frame {}){after_auth} got {heard}; the capture went on for {:.0} s",
            ex.method, req.frame, ex.observed_after
        ),
        evidence: Evidence::new()
            .add("request", format!("frame {}, CSeq {}", req.frame, req.cseq))
            .add("retransmissions", req.retransmissions.to_string())
            .add("heard back", heard.clone())
            .add("capture continued", format!("{:.1} s", ex.observed_after))
            .add("server", crate::correlate::endpoint(ex.server)),
        fix: if last.has_credentials() {
            "The server went silent once credentials arrived: servers and fail2ban-style filters drop sources they have banned after failed attempts. Check the server's security log and ban list; also check for packet loss or a firewall on the path.".into()
        } else {
            "Nothing came back: check that the server is reachable on this address, port and transport, and for a firewall or packet loss on the path (capture on the server side to compare). A server that silently drops banned sources looks the same.".into()
        },
    });
}

#[cfg(test)]
mod tests {
    use crate::rules::testutil::*;

    #[test]
    fn retry_without_credentials() {
        let m = [
            register(1, "a", None),
            response(401, "Unauthorized", 1, "a", Some(WWW_QOP)),
            register(2, "b", None),
            response(401, "Unauthorized", 2, "b", Some(WWW_QOP)),
        ];
        let exs = exchanges(&[
            (PHONE, PBX, 0.0, &m[0]),
            (PBX, PHONE, 0.1, &m[1]),
            (PHONE, PBX, 0.2, &m[2]),
            (PBX, PHONE, 0.3, &m[3]),
        ]);
        assert_eq!(exs.len(), 1, "one exchange: same Call-ID and tag");
        let fired = rules_fired(&exs);
        assert!(fired.contains(&"credentials-missing-on-retry"), "{fired:?}");
        // With credentials it does not fire.
        let exs = one_retry(WWW_QOP, &auth_qop("alice"), 200, "OK");
        assert!(!rules_fired(&exs).contains(&"credentials-missing-on-retry"));
    }

    #[test]
    fn same_cseq_after_challenge() {
        let m = [
            register(2, "a", None),
            response(401, "Unauthorized", 2, "a", Some(WWW_QOP)),
            register(2, "b", Some(&auth_qop("alice"))),
            response(200, "OK", 2, "b", None),
        ];
        let exs = exchanges(&[
            (PHONE, PBX, 0.0, &m[0]),
            (PBX, PHONE, 0.1, &m[1]),
            (PHONE, PBX, 0.2, &m[2]),
            (PBX, PHONE, 0.3, &m[3]),
        ]);
        let f = crate::rules::evaluate(&exs, &Default::default());
        let c = f
            .iter()
            .find(|f| f.rule == "cseq-not-incremented")
            .expect("fires");
        assert!(c.message.contains("CSeq 2"), "{}", c.message);
        // Incremented CSeq: fine.
        assert!(
            !rules_fired(&one_retry(WWW_QOP, &auth_qop("alice"), 200, "OK"))
                .contains(&"cseq-not-incremented")
        );
    }

    #[test]
    fn silence_needs_the_capture_to_go_on() {
        let m = [
            register(1, "a", None),
            response(401, "Unauthorized", 1, "a", Some(WWW_QOP)),
            register(2, "b", Some(&auth_qop("alice"))),
        ];
        let other = register(1, "z", None)
            .replace("cid-1", "cid-2")
            .replace("alice@", "bob@");
        let cut = exchanges(&[
            (PHONE, PBX, 0.0, &m[0]),
            (PBX, PHONE, 0.1, &m[1]),
            (PHONE, PBX, 0.2, &m[2]),
            (PHONE, PBX, 5.0, &other),
        ]);
        assert!(!rules_fired(&cut).contains(&"no-final-response"));
        let silent = exchanges(&[
            (PHONE, PBX, 0.0, &m[0]),
            (PBX, PHONE, 0.1, &m[1]),
            (PHONE, PBX, 0.2, &m[2]),
            (PHONE, PBX, 100.0, &other),
        ]);
        let f = crate::rules::evaluate(&silent, &Default::default());
        let n = f
            .iter()
            .find(|f| f.rule == "no-final-response" && f.exchange == Some(1))
            .expect("fires");
        assert!(
            n.message.contains("after sending credentials"),
            "{}",
            n.message
        );
    }
}
