//! The default terminal view: short, each fix once, a diagnosis per
//! account, lines that fit the terminal, and a bounded size on captures of
//! thousands of exchanges. `--details` keeps the per-exchange listing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

mod common;
use common::{shared_dir, tool};
use std::process::Output;

/// A shared capture, or `None` (with a notice) when it is absent.
fn capture(rel: &str) -> Option<PathBuf> {
    let p = shared_dir().join(rel);
    if p.exists() {
        Some(p)
    } else {
        eprintln!("skipping: {} not found", p.display());
        None
    }
}

fn run(path: &Path, args: &[&str]) -> Output {
    tool()
        .args(["--color", "never"])
        .args(args)
        .arg(path)
        .output()
        .expect("run sipauth-diag")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).expect("UTF-8 report")
}

/// Words separated by single spaces, so that text wrapped over several
/// lines compares with the text it came from.
fn words(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The lines of one section: from its title line to the next blank line.
fn section<'a>(text: &'a str, title: &str) -> Vec<&'a str> {
    text.lines()
        .skip_while(|l| !l.starts_with(title))
        .take_while(|l| !l.is_empty())
        .collect()
}

fn assert_fits(text: &str, cols: usize, what: &str) {
    for l in text.lines() {
        assert!(
            l.chars().count() <= cols,
            "{what}: line of {} columns:\n{l}",
            l.chars().count()
        );
    }
}

#[test]
fn each_rule_and_its_fix_appear_once_on_sngrep_aaa() {
    let Some(p) = capture("public/sngrep_aaa.pcap") else {
        return;
    };
    let text = stdout(&run(&p, &[]));
    let json: serde_json::Value =
        serde_json::from_slice(&run(&p, &["--format", "json"]).stdout).unwrap();
    let mut fixes: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for f in json["findings"].as_array().unwrap() {
        let rule = f["rule"].as_str().unwrap().to_string();
        let fix = words(f["fix"].as_str().unwrap());
        let v = fixes.entry(rule).or_default();
        if !v.contains(&fix) {
            v.push(fix);
        }
    }
    assert!(fixes.len() >= 4, "too few rules fired: {fixes:?}");
    let flat = words(&text);
    for (rule, variants) in &fixes {
        // A rule's fix may name instance values (a delay); one of its
        // variants is printed, once.
        let shown: usize = variants
            .iter()
            .map(|v| flat.matches(v.as_str()).count())
            .sum();
        assert_eq!(shown, 1, "{rule}: fix printed {shown} times\n{text}");
        let titles = text
            .lines()
            .filter(|l| l.split_whitespace().nth(1) == Some(rule.as_str()))
            .count();
        assert_eq!(titles, 1, "{rule}: not one entry in Findings\n{text}");
    }
    // One representative instance, with the other values it took.
    assert!(
        flat.contains("reason 403 Wrong password (also: 403 Wrong password or domain)"),
        "{text}"
    );
    // The rule that fired on all 12 exchanges says so in ranges.
    assert!(
        text.contains("qop-mismatch  12 exchanges: #1-#12"),
        "{text}"
    );
    // Far shorter than the per-exchange listing, which keeps every fix.
    let details = stdout(&run(&p, &["--details"]));
    assert!(details.contains("Exchange #12 "));
    assert!(!text.contains("Exchange #12 "));
    assert!(
        text.lines().count() * 2 < details.lines().count(),
        "default {} lines, details {}",
        text.lines().count(),
        details.lines().count()
    );
    assert_fits(&text, 100, "sngrep_aaa");
}

#[test]
fn diagnosis_names_the_wrong_password_with_credentials() {
    let Some(p) = capture("captures/wrong_password_loop_baresip.pcap") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let creds = dir.path().join("accounts.txt");
    std::fs::write(&creds, "alice@lab.example:Wonder1and\n").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&creds, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let text = stdout(&run(&p, &["--credentials", creds.to_str().unwrap()]));
    let diagnosis = words(&section(&text, "Diagnosis").join("\n"));
    assert!(
        diagnosis.contains("alice @ 127.0.0.1 -> 127.0.0.1:5060: cannot register"),
        "{text}"
    );
    assert!(diagnosis.contains("(wrong-password)"), "{text}");
    assert!(
        diagnosis.contains("password differs from the server's"),
        "{text}"
    );
    assert!(
        diagnosis.contains("Fix: Enter the password again"),
        "{text}"
    );
    assert!(!text.contains("Wonder1and"), "the password leaked");
    // Without the password the same capture is diagnosed by its symptom.
    let text = stdout(&run(&p, &[]));
    let diagnosis = words(&section(&text, "Diagnosis").join("\n"));
    assert!(!diagnosis.contains("wrong-password"), "{text}");
    assert!(diagnosis.contains("cannot register"), "{text}");
}

#[test]
fn real_captures_fit_100_columns_and_stay_short() {
    for (rel, budget) in [
        ("public/sngrep_aaa.pcap", 140),
        ("public/goffinet_private-test-sip.pcapng", 120),
        ("captures/brute_force_svcrack_noqop.pcap", 120),
        ("captures/wrong_password_loop_baresip.pcap", 60),
        ("captures/mixed_linux_cooked.pcap", 80),
    ] {
        let Some(p) = capture(rel) else { continue };
        let text = stdout(&run(&p, &[]));
        assert_fits(&text, 100, rel);
        let n = text.lines().count();
        assert!(n <= budget, "{rel}: {n} lines\n{text}");
        assert!(text.contains("Verdict: "), "{rel}");
        // Addresses are never broken inside the accounts table.
        for l in section(&text, "Accounts") {
            let cells: Vec<&str> = l.split('│').map(str::trim).collect();
            for c in cells {
                let address_like = c.contains('.')
                    && c.chars()
                        .all(|ch| ch.is_ascii_digit() || ".:[]".contains(ch));
                if address_like {
                    assert!(
                        c.parse::<std::net::IpAddr>().is_ok()
                            || c.parse::<std::net::SocketAddr>().is_ok(),
                        "{rel}: address cut in the accounts table: {l}"
                    );
                }
            }
        }
    }
}

#[test]
fn details_keep_the_listing_and_ladders_still_draw() {
    let Some(p) = capture("captures/mixed_linux_cooked.pcap") else {
        return;
    };
    let text = stdout(&run(&p, &["--details", "--ladder"]));
    assert!(text.contains("Exchange #3 REGISTER bob"), "{text}");
    assert!(text.contains("Diagnosis"), "{text}");
    assert!(text.contains("Ladder #3 REGISTER bob"), "{text}");
    let text = stdout(&run(&p, &["--ladder"]));
    assert!(text.contains("Ladder #3 REGISTER bob"), "{text}");
    assert!(text.contains("Findings (by rule"), "{text}");
}

// ---- A capture of thousands of exchanges, built here -------------------

/// A classic pcap (Ethernet, IPv4, UDP port 5060) of the given datagrams:
/// source, destination, capture second, SIP text.
fn pcap(msgs: &[([u8; 4], [u8; 4], u32, String)]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&65535u32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    for (src, dst, secs, payload) in msgs {
        let payload = payload.as_bytes();
        let udp_len = 8 + payload.len();
        let ip_len = 20 + udp_len;
        let mut frame = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
        let mut ip = vec![
            0x45,
            0,
            (ip_len >> 8) as u8,
            ip_len as u8,
            0,
            1,
            0x40,
            0,
            64,
            17,
            0,
            0,
        ];
        ip.extend_from_slice(src);
        ip.extend_from_slice(dst);
        let sum: u32 = ip
            .chunks(2)
            .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
            .sum();
        let sum = !(((sum & 0xffff) + (sum >> 16)) as u16);
        ip[10..12].copy_from_slice(&sum.to_be_bytes());
        frame.extend_from_slice(&ip);
        frame.extend_from_slice(&5060u16.to_be_bytes());
        frame.extend_from_slice(&5060u16.to_be_bytes());
        frame.extend_from_slice(&(udp_len as u16).to_be_bytes());
        frame.extend_from_slice(&[0, 0]);
        frame.extend_from_slice(payload);
        out.extend_from_slice(&secs.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(&(frame.len() as u32).to_le_bytes());
        out.extend_from_slice(&frame);
    }
    out
}

/// `n` phones, each on its own address with its own account, registering
/// once with a password the server refuses: challenge, credentials, 401.
fn many_wrong_passwords(n: usize) -> Vec<u8> {
    let pbx = [10, 0, 0, 1];
    let mut msgs = Vec::with_capacity(n * 4);
    for i in 0..n {
        let phone = [10, 1, (i / 250) as u8, (i % 250 + 2) as u8];
        let ip = format!("10.1.{}.{}", phone[2], phone[3]);
        let user = format!("u{i:05}");
        let t = i as u32;
        let head = |cseq: u32| {
            format!(
                "Via: SIP/2.0/UDP {ip}:5060;branch=z9hG4bK{i}x{cseq}\r\n\
                 From: <sip:{user}@lab.example>;tag=t{i}\r\n\
                 To: <sip:{user}@lab.example>\r\n\
                 Call-ID: reg-{i}@{ip}\r\n\
                 CSeq: {cseq} REGISTER\r\n"
            )
        };
        let reg = |cseq: u32, auth: &str| {
            format!(
                "REGISTER sip:lab.example SIP/2.0\r\n{}Contact: <sip:{user}@{ip}>\r\n\
                 {auth}Content-Length: 0\r\n\r\n",
                head(cseq)
            )
        };
        let challenge = |cseq: u32, nonce: &str| {
            format!(
                "SIP/2.0 401 Unauthorized\r\n{}WWW-Authenticate: Digest \
                 realm=\"lab.example\", nonce=\"{nonce}\", qop=\"auth\"\r\n\
                 Content-Length: 0\r\n\r\n",
                head(cseq)
            )
        };
        let nonce = format!("n{i:08}");
        let auth = format!(
            "Authorization: Digest username=\"{user}\", realm=\"lab.example\", \
             nonce=\"{nonce}\", uri=\"sip:lab.example\", \
             response=\"{:032x}\", qop=auth, nc=00000001, cnonce=\"c{i}\"\r\n",
            i
        );
        msgs.push((phone, pbx, t, reg(1, "")));
        msgs.push((pbx, phone, t, challenge(1, &nonce)));
        msgs.push((phone, pbx, t, reg(2, &auth)));
        msgs.push((pbx, phone, t, challenge(2, &format!("m{i:08}"))));
    }
    // The capture goes on long after the last answer, so the last
    // exchanges count as failed, not cut short.
    msgs.push((
        pbx,
        [10, 0, 0, 9],
        n as u32 + 120,
        "OPTIONS sip:x@10.0.0.9 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKo\r\n\
         From: <sip:pbx@lab.example>;tag=o\r\nTo: <sip:x@10.0.0.9>\r\nCall-ID: o@10.0.0.1\r\n\
         CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
            .to_string(),
    ));
    pcap(&msgs)
}

#[test]
fn thousands_of_exchanges_stay_within_a_line_budget() {
    const N: usize = 5000;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("many.pcap");
    std::fs::write(&file, many_wrong_passwords(N)).unwrap();
    let text = stdout(&run(&file, &[]));
    let lines = text.lines().count();
    assert!(lines <= 150, "{lines} lines:\n{text}");
    assert_fits(&text, 100, "many.pcap");
    // The totals are named.
    assert!(
        words(&text).contains(&format!(
            "{N} of {N} accounts with authentication problems; {N} authentication exchanges ({N} failed)"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("credentials-rejected  {N} exchanges: #1-#{N}")),
        "{text}"
    );
    assert!(
        text.contains(&format!("... {} more accounts not shown", N - 20)),
        "{text}"
    );
    assert!(
        text.contains(&format!("Sources: {N} client addresses, one account each.")),
        "{text}"
    );
    // One diagnosis for thousands of phones failing alike.
    let diagnosis = words(&section(&text, "Diagnosis").join("\n"));
    assert!(
        diagnosis.contains(&format!(
            "and {} more @ {N} clients -> 10.0.0.1:5060: cannot register",
            N - 4
        )),
        "{text}"
    );
    assert_eq!(diagnosis.matches("Fix:").count(), 1, "{text}");
    assert!(text.contains("Worst exchanges (5 of"), "{text}");
    assert!(text.contains("--details") && text.contains("--format json"));
    // Brute force from no single source: one account per address.
    assert!(!text.contains("brute-force"), "{text}");
    // The details are all there on request.
    let details = stdout(&run(&file, &["--details"]));
    assert!(details.contains(&format!("Exchange #{N} REGISTER")));
}

#[test]
fn many_inputs_are_counted_after_the_first_ten() {
    let lab = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/register_kamailio_sipsak.pcap");
    let out = tool()
        .args(["--color", "never"])
        .args(std::iter::repeat_n(&lab, 12))
        .output()
        .unwrap();
    let text = stdout(&out);
    let listed = text
        .lines()
        .filter(|l| l.starts_with("Input /") || l.starts_with("Input testdata"))
        .count();
    assert_eq!(listed, 10, "{text}");
    assert!(
        text.contains("Input ... 2 more inputs: 24 packets, 24 SIP messages, 0 warnings"),
        "{text}"
    );
    assert!(text.contains("Verdict: "), "{text}");
}
