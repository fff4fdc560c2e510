//! What the capture could not show: SIP signalling inside TLS.
//!
//! These rules look at the network statistics of the whole run, not at one
//! exchange: an encrypted flow has no exchange to attach to.

use super::{Evidence, Finding, RuleConfig, Severity};
use crate::correlate::endpoint;
use crate::net::{EncryptedFlow, NetStats};

/// Flows listed by address in the evidence.
const LISTED: usize = 10;

/// Ports where TLS is taken to carry SIP: 5061 (SIP over TLS), the
/// 5060-5099 block that SBCs and PBXs use for extra transports, 7443
/// (FreeSWITCH WSS) and 8089 (Asterisk WSS). 443 is left out: on it, TLS
/// is almost always web traffic.
pub fn is_signalling_port(port: u16) -> bool {
    matches!(port, 5060..=5099 | 7443 | 8089)
}

fn flow(f: &EncryptedFlow) -> String {
    format!(
        "{} -> {} (from frame {})",
        endpoint(Some(f.client)),
        endpoint(Some(f.server)),
        f.first_frame
    )
}

/// TLS on a SIP port: the SIP inside cannot be analysed. One finding per
/// run, listing the flows.
pub fn encrypted_signalling(net: &NetStats, _: &RuleConfig, out: &mut Vec<Finding>) {
    let sip: Vec<&EncryptedFlow> = net
        .encrypted_flows
        .iter()
        .filter(|f| is_signalling_port(f.server.port()))
        .collect();
    if sip.is_empty() {
        return;
    }
    let listed_total = net.encrypted_flows.len() as u64;
    // Flows beyond the listed ones are counted but have no addresses.
    let unlisted = net.tls_flows.saturating_sub(listed_total);
    let others = net.encrypted_flows.len() - sip.len();
    let mut servers: Vec<String> = sip.iter().map(|f| endpoint(Some(f.server))).collect();
    servers.sort();
    servers.dedup();
    let mut evidence = Evidence::new()
        .add("encrypted SIP flows", sip.len().to_string())
        .add("servers", servers.join(", "));
    for (i, f) in sip.iter().take(LISTED).enumerate() {
        evidence = evidence.add(format!("flow {}", i + 1), flow(f));
    }
    if sip.len() > LISTED {
        evidence = evidence.add("more flows", (sip.len() - LISTED).to_string());
    }
    if others > 0 || unlisted > 0 {
        evidence = evidence.add(
            "other TLS flows (not on SIP ports)",
            (others as u64 + unlisted).to_string(),
        );
    }
    out.push(Finding {
        rule: "encrypted-signalling",
        severity: Severity::Info,
        exchange: None,
        related_exchanges: Vec::new(),
        frames: sip.iter().map(|f| f.first_frame).collect(),
        message: format!(
            "{} SIP flow{} {} encrypted with TLS ({}); authentication inside {} cannot be checked from this capture",
            sip.len(),
            if sip.len() == 1 { "" } else { "s" },
            if sip.len() == 1 { "is" } else { "are" },
            servers.join(", "),
            if sip.len() == 1 { "it" } else { "them" },
        ),
        evidence,
        fix: "Capture where the SIP is in clear text: on the SIP server itself (sngrep, or HEP/siptrace to a HOMER collector), or have the client log its SIP; or, for a test, switch the account to UDP or TCP; or give Wireshark the TLS session keys (SSLKEYLOGFILE from the client) and export the decrypted SIP.".into(),
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;

    fn f(client: &str, server: &str, frame: u64) -> EncryptedFlow {
        EncryptedFlow {
            input: 0,
            client: client.parse::<SocketAddr>().unwrap(),
            server: server.parse::<SocketAddr>().unwrap(),
            first_frame: frame,
        }
    }

    fn run(net: &NetStats) -> Vec<Finding> {
        let mut out = Vec::new();
        encrypted_signalling(net, &RuleConfig::default(), &mut out);
        out
    }

    #[test]
    fn one_finding_listing_the_sip_flows() {
        let net = NetStats {
            tls_flows: 3,
            encrypted_flows: vec![
                f("10.0.0.5:40000", "10.0.0.1:5061", 4),
                f("10.0.0.6:40001", "10.0.0.1:5061", 9),
                f("10.0.0.5:40002", "93.184.216.34:443", 12),
            ],
            ..NetStats::default()
        };
        let out = run(&net);
        assert_eq!(out.len(), 1);
        let x = &out[0];
        assert_eq!(x.rule, "encrypted-signalling");
        assert_eq!(x.severity, Severity::Info);
        assert_eq!(x.frames, vec![4, 9]);
        assert!(
            x.message.starts_with("2 SIP flows are encrypted"),
            "{}",
            x.message
        );
        let ev: Vec<_> = x
            .evidence
            .0
            .iter()
            .map(|(k, v)| (&**k, v.as_str()))
            .collect();
        assert!(ev.contains(&("servers", "10.0.0.1:5061")));
        assert!(ev.contains(&("flow 1", "10.0.0.5:40000 -> 10.0.0.1:5061 (from frame 4)")));
        assert!(ev.contains(&("other TLS flows (not on SIP ports)", "1")));
    }

    #[test]
    fn web_tls_alone_is_not_signalling() {
        let net = NetStats {
            tls_flows: 1,
            encrypted_flows: vec![f("10.0.0.5:40002", "93.184.216.34:443", 12)],
            ..NetStats::default()
        };
        assert!(run(&net).is_empty());
        assert!(run(&NetStats::default()).is_empty());
    }
}
