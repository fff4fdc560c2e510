//! Every way SIP reaches a capture, on real captures: IP fragments (IPv4
//! and IPv6), WebSocket, HEP v2/v3, TLS, TCP with non-SIP traffic beside
//! it. Public captures are read from `../shared` (skipped with a notice
//! when absent); the small ones made here are in `testdata/transport`
//! (see its README for how each was made).

use sipauth_diag::analysis::{analyze, Analysis, Input, Options};
use sipauth_diag::capture::{open_reader, Transport};
use sipauth_diag::correlate::Outcome;
use std::path::{Path, PathBuf};

mod common;

fn run(path: &Path) -> Analysis {
    let file = std::fs::File::open(path).unwrap();
    analyze(
        vec![Input {
            name: path.display().to_string(),
            reader: open_reader(Box::new(file)).unwrap(),
        }],
        &Options::default(),
    )
}

fn shared(name: &str) -> Option<PathBuf> {
    let p = common::shared_dir().join(name);
    if p.exists() {
        Some(p)
    } else {
        println!("skipped: {} not found", p.display());
        None
    }
}

fn local(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/transport")
        .join(name)
}

/// A copy of a little-endian pcap without the given frames (1-based), as
/// a capture that started late or lost packets would be.
fn pcap_without(path: &Path, drop: &[u64]) -> Vec<u8> {
    let data = std::fs::read(path).unwrap();
    assert_eq!(
        &data[..4],
        &[0xd4, 0xc3, 0xb2, 0xa1],
        "little-endian pcap expected"
    );
    let mut out = data[..24].to_vec();
    let (mut at, mut frame) = (24, 0);
    while at + 16 <= data.len() {
        let len = u32::from_le_bytes(data[at + 8..at + 12].try_into().unwrap()) as usize;
        frame += 1;
        if !drop.contains(&frame) {
            out.extend_from_slice(&data[at..at + 16 + len]);
        }
        at += 16 + len;
    }
    out
}

fn run_bytes(name: &str, data: Vec<u8>) -> Analysis {
    analyze(
        vec![Input {
            name: name.into(),
            reader: open_reader(Box::new(std::io::Cursor::new(data))).unwrap(),
        }],
        &Options::default(),
    )
}

#[test]
fn tcp_capture_starting_mid_stream_resynchronises() {
    let Some(p) = shared("captures/tcp_register_baresip.pcap") else {
        return;
    };
    // Without the handshake and the first REGISTER: the stream starts at
    // the 401 (server side) and at the second REGISTER (client side).
    let a = run_bytes("mid-stream", pcap_without(&p, &[1, 2, 3, 4]));
    assert_eq!(a.sip.messages, 7);
    assert_eq!(a.sip.broken, 0);
    assert!(
        a.inputs[0].warnings.is_empty(),
        "{:?}",
        a.inputs[0].warnings
    );
}

#[test]
fn tcp_capture_that_lost_a_segment_skips_the_gap_and_goes_on() {
    let Some(p) = shared("captures/tcp_register_baresip.pcap") else {
        return;
    };
    // Frame 8 (REGISTER with Authorization) was not captured; the server's
    // ACKs show it arrived, so the gap is skipped at once and the next
    // REGISTERs (frames 11 and 14, numbered 10 and 13 in the copy) keep
    // their own frames.
    let a = run_bytes("lost-segment", pcap_without(&p, &[8]));
    assert_eq!(a.sip.messages, 7);
    assert_eq!(a.net.tcp.gaps, 1);
    let w = &a.inputs[0].warnings;
    assert!(w.iter().any(|w| w.contains("762 bytes missing")), "{w:?}");
    let frames: Vec<u64> = a
        .exchanges
        .iter()
        .flat_map(|e| e.rounds.iter().map(|r| r.request.frame))
        .collect();
    assert_eq!(frames, vec![4, 10, 13]);
}

#[test]
fn websocket_invite_407_exchange_is_found() {
    let Some(p) = shared("public/heplify_sip_tcp_websocket.pcap") else {
        return;
    };
    let a = run(&p);
    assert_eq!(a.net.websocket_messages, 11);
    let ex: Vec<_> = a
        .exchanges
        .iter()
        .filter(|e| e.transport == Transport::Ws)
        .collect();
    assert_eq!(ex.len(), 1, "{:#?}", a.exchanges);
    let ex = ex[0];
    assert_eq!(ex.method, "INVITE");
    assert_eq!(ex.server.unwrap().port(), 8080);
    let challenged = ex
        .rounds
        .iter()
        .any(|r| r.response.as_ref().is_some_and(|s| s.status == 407));
    assert!(challenged);
    assert!(ex.rounds.iter().any(|r| r.has_credentials()));
    assert_eq!(ex.outcome, Outcome::Succeeded);
    assert!(
        a.inputs[0].warnings.is_empty(),
        "{:?}",
        a.inputs[0].warnings
    );
}

#[test]
fn ipv4_fragmented_invite_is_reassembled() {
    let Some(p) = shared("public/goffinet_private-test-sip.pcapng") else {
        return;
    };
    let a = run(&p);
    assert_eq!(a.net.ip_fragments, 2);
    assert_eq!(a.net.ip_reassembled, 1);
    assert_eq!(a.net.ip_incomplete, 0);
    assert!(
        a.inputs[0].warnings.is_empty(),
        "{:?}",
        a.inputs[0].warnings
    );
}

#[test]
fn ipv6_fragment_headers_are_reassembled() {
    let Some(p) = shared("public/sngrep_ipv6frag_noauth.pcap") else {
        return;
    };
    let a = run(&p);
    assert_eq!(a.net.ip_reassembled, 2);
    assert_eq!(a.net.ip_incomplete, 0);
    assert_eq!(a.sip.messages, 32);
    assert_eq!(a.sip.broken, 0);
    assert!(
        a.inputs[0].warnings.is_empty(),
        "{:?}",
        a.inputs[0].warnings
    );
}

#[test]
fn fragmented_invite_with_digest_made_with_sipsak_and_kamailio() {
    let a = run(&local("udp_fragmented_invite_sipsak_kamailio.pcap"));
    assert_eq!(a.net.ip_fragments, 8);
    assert_eq!(a.net.ip_reassembled, 2);
    assert_eq!(a.sip.messages, 6);
    let ex = &a.exchanges[0];
    assert_eq!(ex.method, "INVITE");
    assert_eq!(ex.outcome, Outcome::Succeeded);
    // Both INVITEs are the reassembled datagrams, in their last fragment.
    assert_eq!(ex.rounds[0].request.frame, 4);
    assert_eq!(ex.rounds[1].request.frame, 10);
    assert!(ex.rounds[1].has_credentials());
}

#[test]
fn port_filtered_fragments_are_reported_with_the_fix() {
    let a = run(&local("udp_fragmented_invite_port5060_filter.pcap"));
    assert_eq!(a.sip.messages, 4);
    assert_eq!(a.net.ip_incomplete, 2);
    let w = &a.inputs[0].warnings;
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].contains("2 fragmented IP datagrams never completed"),
        "{w:?}"
    );
    assert!(w[0].contains("frame 1, 4"), "{w:?}");
    assert!(w[0].contains("ip[6:2] & 0x1fff != 0"), "{w:?}");
}

#[test]
fn hep3_and_hep2_carry_the_original_addresses() {
    for name in [
        "hep3_siptrace_kamailio.pcap",
        "hep2_siptrace_kamailio.pcap",
        "hep3_tcp_siptrace_kamailio.pcap",
    ] {
        let a = run(&local(name));
        assert_eq!(a.net.hep_packets, 8, "{name}");
        assert_eq!(a.sip.messages, 8, "{name}");
        assert_eq!(a.exchanges.len(), 2, "{name}");
        for ex in &a.exchanges {
            // The HEP packets go 5060 -> 9060; the SIP went client -> 5060.
            assert_eq!(ex.server.unwrap().port(), 5060, "{name}");
            assert_ne!(ex.client.unwrap().port(), 9060, "{name}");
            assert_eq!(ex.transport, Transport::Udp, "{name}");
        }
        assert_eq!(a.exchanges[1].outcome, Outcome::Succeeded, "{name}");
        assert!(
            a.inputs[0].warnings.is_empty(),
            "{name}: {:?}",
            a.inputs[0].warnings
        );
    }
}

#[test]
fn tls_on_5061_gives_one_encrypted_signalling_finding() {
    let a = run(&local("tls_5061_openssl.pcap"));
    assert_eq!(a.sip.messages, 0);
    assert_eq!(a.net.tls_flows, 1);
    let f: Vec<_> = a
        .findings
        .iter()
        .filter(|f| f.rule == "encrypted-signalling")
        .collect();
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].frames, vec![4]);
    assert_eq!(a.net.encrypted_flows[0].server.port(), 5061);
}

#[test]
fn http_beside_sip_is_dropped_quietly() {
    let Some(p) = shared("public/goffinet_Forensic_challenge_4.pcap") else {
        return;
    };
    let a = run(&p);
    assert!(a.net.non_sip_streams > 0);
    assert_eq!(a.sip.broken, 0);
    assert!(a.findings.iter().all(|f| f.rule != "encrypted-signalling"));
}
