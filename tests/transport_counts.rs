//! Every way SIP reaches a capture: for each real capture in
//! `../shared/captures` and `../shared/public`, the number of SIP messages
//! found must equal what Wireshark finds with TCP desegmentation, IP
//! reassembly and WebSocket dissection on (its defaults).
//!
//! The counts were recorded with tshark 4.0.17, counting messages rather
//! than frames (a frame with several messages lists several CSeq values):
//!
//! ```sh
//! tshark -r FILE -Y 'sip && !icmp && !icmpv6' -T fields -e sip.CSeq \
//!   | awk -F, '{n+=NF} END{print n+0}'
//! ```
//!
//! The one deliberate difference is the `!icmp` in that filter: tshark also
//! dissects the copy of a SIP request quoted inside an ICMP "port
//! unreachable" error (3 such frames in goffinet_private-test-sip.pcapng,
//! where plain `-Y sip` finds 279). That copy is not a message anyone
//! received, and counting it would make the request appear twice, so we
//! do not.
//!
//! When tshark is installed the test also re-counts with it, so a change
//! of capture files shows up as a mismatch with the table rather than
//! silently.

use sipauth_diag::analysis::{analyze, Input, Options};
use sipauth_diag::capture::open_reader;
use std::path::Path;

mod common;
use common::shared;
use std::process::Command;

const TSHARK_COUNTS: &[(&str, u64)] = &[
    ("captures/auth_user_split_ok_sipsak.pcap", 4),
    ("captures/brute_force_svcrack_noqop.pcap", 52),
    ("captures/invite_407_ok_baresip_pjsua2.pcap", 31),
    ("captures/invite_407_ok_baresip_pjsua2.sngrep.pcap", 31),
    ("captures/ipv6_register_baresip.pcapng", 8),
    ("captures/mixed_linux_cooked.pcap", 20),
    ("captures/notify_checksync_sipsak.pcap", 4),
    ("captures/ok_register_qop_baresip.pcap", 8),
    ("captures/ok_register_qop_baresip.sngrep.pcap", 8),
    ("captures/ok_register_qop_sipsak_user_at.pcap", 4),
    ("captures/ok_register_udp_sipsak.pcap", 4),
    ("captures/register_407_baresip.pcap", 8),
    ("captures/register_407_sipsak.pcap", 4),
    ("captures/sha256_ok_pjsua2.pcap", 8),
    ("captures/tcp_register_baresip.pcap", 8),
    ("captures/wrong_password_403_pjsua2.pcap", 12),
    ("captures/wrong_password_loop_baresip.pcap", 32),
    ("captures/wrong_password_loop_baresip.sngrep.pcap", 32),
    ("public/goffinet_Forensic_challenge_4.pcap", 19),
    // IPv4-fragmented INVITE in frames 264-265; 3 ICMP-quoted copies left
    // out (see above).
    ("public/goffinet_private-test-sip.pcapng", 276),
    ("public/goffinet_sip-2phones-B2BUA-Asterisk.pcapng", 60),
    (
        "public/goffinet_sip-488-Not-Acceptable-Here-codec-null.pcapng",
        13,
    ),
    ("public/goffinet_sip-cme-zoiper-register.pcapng", 9),
    (
        "public/goffinet_sip-register-wrong_password-401-403-401-403.pcapng",
        8,
    ),
    (
        "public/goffinet_sip-register-wrong_user-401-403-404.pcapng",
        6,
    ),
    ("public/goffinet_test_voip.pcapng", 28),
    ("public/goffinet_voip-extension2downata.pcap", 28),
    // IP-in-IP on raw IP.
    ("public/heplify_ipip0_rawip.pcap", 8),
    // TCP with retransmissions, Linux cooked.
    ("public/heplify_sip_ipv4_tcp_retrans_sll.pcap", 8),
    // 11 of the 39 are SIP over WebSocket (masked client frames).
    ("public/heplify_sip_tcp_websocket.pcap", 39),
    ("public/sngrep_aaa.pcap", 81),
    // IPv6 fragment headers.
    ("public/sngrep_ipv6frag_noauth.pcap", 32),
];

fn our_count(path: &Path) -> u64 {
    let file = std::fs::File::open(path).unwrap();
    let reader = open_reader(Box::new(file)).unwrap();
    let a = analyze(
        vec![Input {
            name: path.display().to_string(),
            reader,
        }],
        &Options::default(),
    );
    assert_eq!(a.sip.messages, a.inputs[0].sip_messages);
    a.sip.messages
}

fn tshark_count(path: &Path) -> Option<u64> {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(path)
        .args([
            "-Y",
            "sip && !icmp && !icmpv6",
            "-T",
            "fields",
            "-e",
            "sip.CSeq",
        ])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    Some(
        text.lines()
            .filter(|l| !l.is_empty())
            .map(|l| l.split(',').count() as u64)
            .sum(),
    )
}

#[test]
fn sip_message_counts_match_tshark() {
    let Some(dir) = shared() else { return };
    let tshark = Command::new("tshark").arg("-v").output().is_ok();
    if !tshark {
        println!("tshark not installed: comparing with the recorded counts only");
    }
    let mut wrong = Vec::new();
    for (name, expected) in TSHARK_COUNTS {
        let path = dir.join(name);
        if !path.exists() {
            println!("skipped: {name} not found");
            continue;
        }
        let ours = our_count(&path);
        if ours != *expected {
            wrong.push(format!("{name}: ours {ours}, tshark {expected}"));
        }
        if tshark {
            if let Some(live) = tshark_count(&path) {
                assert_eq!(
                    live, *expected,
                    "{name}: tshark now counts {live}; update the table"
                );
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn every_shared_capture_is_in_the_table() {
    let Some(dir) = shared() else { return };
    for sub in ["captures", "public"] {
        let Ok(entries) = std::fs::read_dir(dir.join(sub)) else {
            continue;
        };
        for e in entries.flatten() {
            let name = format!("{sub}/{}", e.file_name().to_string_lossy());
            if name.ends_with(".pcap") || name.ends_with(".pcapng") {
                assert!(
                    TSHARK_COUNTS.iter().any(|(n, _)| *n == name),
                    "{name} has no recorded tshark count"
                );
            }
        }
    }
}
