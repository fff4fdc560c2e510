//! Limits on hostile input, end to end through the library: Content-Length
//! that promises more than follows, request floods, stream floods.

use sipauth_diag::analysis::{analyze, Analysis, Input, Options};
use sipauth_diag::capture::synth::{PcapWriter, SynthPacket};
use sipauth_diag::capture::{open_reader, Ts};
use sipauth_diag::correlate::{CorrelateConfig, Correlator, MessageMeta};
use sipauth_diag::sip::{Framing, Message, Status};

fn run(bytes: Vec<u8>, opts: &Options) -> Analysis {
    let reader = open_reader(Box::new(std::io::Cursor::new(bytes))).expect("capture opens");
    analyze(
        vec![Input {
            name: "mem".into(),
            reader,
        }],
        opts,
    )
}

fn recording() -> Options {
    Options {
        record_messages: true,
        ..Options::default()
    }
}

fn request(method: &str, call_id: &str, extra: &str, content_length: usize, body: &str) -> String {
    format!(
        "{method} sip:example.com SIP/2.0\r\nVia: SIP/2.0/TCP 10.0.0.1:40000;branch=z9hG4bK{call_id}\r\nFrom: <sip:alice@example.com>;tag=t{call_id}\r\nTo: <sip:alice@example.com>\r\nCall-ID: {call_id}\r\nCSeq: 1 {method}\r\n{extra}Content-Length: {content_length}\r\n\r\n{body}"
    )
}

fn call_ids(a: &Analysis) -> Vec<String> {
    a.messages
        .iter()
        .map(|m| m.call_id.clone().unwrap_or_default())
        .collect()
}

fn warnings(a: &Analysis) -> Vec<String> {
    a.inputs.iter().flat_map(|i| i.warnings.clone()).collect()
}

#[test]
fn udp_content_length_larger_than_datagram_is_read_with_warning() {
    let mut w = PcapWriter::new();
    w.udp(request("MESSAGE", "c1", "", 900, "hello").as_bytes(), false);
    w.udp(request("OPTIONS", "c2", "", 0, "").as_bytes(), false);
    let a = run(w.into_bytes(), &recording());
    assert_eq!(call_ids(&a), ["c1", "c2"]);
    assert_eq!(a.sip.cut_bodies, 1);
    let w = warnings(&a);
    assert!(
        w.iter()
            .any(|w| w.contains("frame 1: Content-Length 900 but only 5 bytes follow")),
        "{w:?}"
    );
}

fn tcp(w: &mut PcapWriter, seq: u32, payload: &[u8]) {
    w.packet(&SynthPacket {
        tcp: true,
        src_host: 1,
        dst_host: 2,
        src_port: 40000,
        dst_port: 5060,
        seq,
        payload,
    });
}

#[test]
fn tcp_content_length_larger_than_what_follows_keeps_later_messages() {
    // One segment with a lying Content-Length, then two honest messages in
    // later segments; the last message's body is cut by the end of stream.
    let first = request("MESSAGE", "c1", "", 5000, "hi\r\n");
    let second = request("OPTIONS", "c2", "", 0, "");
    let third = request("MESSAGE", "c3", "", 300, "cut");
    let mut w = PcapWriter::new();
    let mut seq = 1000u32;
    for part in [&first, &second, &third] {
        tcp(&mut w, seq, part.as_bytes());
        seq += part.len() as u32;
    }
    let a = run(w.into_bytes(), &recording());
    assert_eq!(call_ids(&a), ["c1", "c2", "c3"]);
    assert_eq!(a.sip.cut_bodies, 2);
    let w = warnings(&a);
    assert!(w.iter().any(|w| w.contains("Content-Length 5000")), "{w:?}");
    assert!(
        w.iter()
            .any(|w| w.contains("Content-Length 300 but only 3 bytes")),
        "{w:?}"
    );
}

#[test]
fn stream_message_size_and_header_limits() {
    use sipauth_diag::sip::message::{MAX_BODY_BYTES, MAX_HEADERS, MAX_HEADER_BYTES};
    // A header section larger than the cap is refused, not buffered.
    let mut big = b"OPTIONS sip:a SIP/2.0\r\n".to_vec();
    while big.len() <= MAX_HEADER_BYTES {
        big.extend_from_slice(b"X-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
    }
    assert!(Message::parse(&big, Framing::Stream).is_err());
    // An announced body above the cap is refused.
    let huge = request("MESSAGE", "c", "", MAX_BODY_BYTES + 1, "");
    assert!(Message::parse(huge.as_bytes(), Framing::Stream).is_err());
    // More headers than the cap: the rest are counted.
    let mut many = String::from("OPTIONS sip:a SIP/2.0\r\n");
    for i in 0..MAX_HEADERS + 10 {
        many.push_str(&format!("X-H{i}: v\r\n"));
    }
    many.push_str("\r\n");
    let Ok(Status::Complete(m)) = Message::parse(many.as_bytes(), Framing::Datagram) else {
        panic!("did not parse");
    };
    assert_eq!(m.headers().len(), MAX_HEADERS);
    assert_eq!(m.notes.headers_dropped, 10);
}

const FLOOD: usize = 200_000;

fn flood_message(i: usize) -> String {
    format!(
        "REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK{i}\r\nFrom: <sip:{i}@example.com>;tag={i}\r\nTo: <sip:{i}@example.com>\r\nCall-ID: flood-{i}\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n"
    )
}

/// 200k requests with distinct Call-IDs and no answers: the correlator's
/// state stays bounded by `max_open_exchanges` (state counts, not RSS).
#[test]
fn request_flood_keeps_correlator_state_bounded() {
    let config = CorrelateConfig::default();
    let cap = config.max_open_exchanges;
    let mut c = Correlator::new(config);
    let mut peak_held = 0;
    for i in 0..FLOOD {
        let text = flood_message(i);
        let Ok(Status::Complete(m)) = Message::parse(text.as_bytes(), Framing::Datagram) else {
            panic!("flood message {i} did not parse");
        };
        let meta = MessageMeta {
            input: 0,
            frame: i as u64 + 1,
            ts: Ts::from_secs_nanos(1_700_000_000 + (i / 1000) as i64, 0),
            src: Some("10.0.0.1:5060".parse().unwrap()),
            dst: Some("10.0.0.2:5060".parse().unwrap()),
            transport: sipauth_diag::capture::Transport::Udp,
        };
        c.message(&meta, &m);
        peak_held = peak_held.max(c.held_exchanges());
        assert!(c.open_exchanges() <= cap);
    }
    assert_eq!(c.open_exchanges(), cap);
    assert!(peak_held <= 2 * cap, "held {peak_held}");
    assert!(c.held_exchanges() <= 2 * cap);
    assert!(
        c.transactions() <= 2 * cap,
        "transactions {}",
        c.transactions()
    );
    assert_eq!(c.nonces(), 0);
    assert_eq!(c.stats.evicted_exchanges, (FLOOD - cap) as u64);
    assert!(!c.take_warnings().is_empty());
    let (exchanges, stats) = c.finish();
    // The ones still open at the end are reported; the evicted ones, which
    // never involved authentication, are not.
    assert_eq!(exchanges.len(), cap);
    assert_eq!(stats.requests, FLOOD as u64);
}

/// The same flood through the whole pipeline, from a pcap built in memory.
#[test]
fn request_flood_through_the_pipeline_reports_eviction() {
    let mut w = PcapWriter::new();
    for i in 0..FLOOD {
        w.udp(flood_message(i).as_bytes(), false);
    }
    let opts = Options {
        correlate: CorrelateConfig {
            max_open_exchanges: 1000,
            ..CorrelateConfig::default()
        },
        ..Options::default()
    };
    let a = run(w.into_bytes(), &opts);
    assert_eq!(a.sip.messages, FLOOD as u64);
    // One packet a second: exchanges idle for twice the answer timeout
    // flow out by time (and, unanswered REGISTERs, are reported); the rest
    // beyond the cap are evicted, never-challenged ones dropped.
    let evicted = a.correlate.evicted_exchanges;
    assert!(evicted > 0 && evicted <= (FLOOD - 1000) as u64, "{evicted}");
    assert_eq!(a.exchanges.len() as u64, FLOOD as u64 - evicted);
    let w = warnings(&a);
    let expected = format!("{evicted} exchanges were settled early");
    assert!(w.iter().any(|w| w.starts_with(&expected)), "{w:?}");
}

/// Challenged exchanges are settled, not dropped, when evicted: their
/// outcome is the one the end of the capture would have given.
#[test]
fn evicted_challenged_exchange_keeps_its_outcome() {
    let mut w = PcapWriter::new();
    let opts = Options {
        correlate: CorrelateConfig {
            max_open_exchanges: 2,
            ..CorrelateConfig::default()
        },
        ..Options::default()
    };
    w.udp(flood_message(0).as_bytes(), false);
    let challenge = "SIP/2.0 401 Unauthorized\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK0\r\nFrom: <sip:0@example.com>;tag=0\r\nTo: <sip:0@example.com>;tag=s\r\nCall-ID: flood-0\r\nCSeq: 1 REGISTER\r\nWWW-Authenticate: Digest realm=\"example.com\", nonce=\"n0\"\r\nContent-Length: 0\r\n\r\n";
    w.udp(challenge.as_bytes(), true);
    // 40 s later (one packet per second), three more clients evict it.
    for i in 1..=40 {
        w.udp(b"\r\n\r\n", false);
        if i > 37 {
            w.udp(flood_message(i).as_bytes(), false);
        }
    }
    let a = run(w.into_bytes(), &opts);
    let ex = a
        .exchanges
        .iter()
        .find(|e| e.call_ids[..] == ["flood-0"])
        .expect("challenged exchange kept");
    assert_eq!(ex.outcome.as_str(), "failed");
    assert_eq!(ex.failure.as_deref(), Some("challenge never answered"));
    assert!(a.correlate.evicted_exchanges >= 1);
}

fn guess_register(cseq: usize, auth: &str) -> String {
    format!("REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKg{cseq}\r\nFrom: <sip:100@example.com>;tag=a\r\nTo: <sip:100@example.com>\r\nCall-ID: guess\r\nCSeq: {cseq} REGISTER\r\n{auth}Content-Length: 0\r\n\r\n")
}

fn guess_challenge(cseq: usize) -> String {
    format!("SIP/2.0 401 Unauthorized\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKg{cseq}\r\nFrom: <sip:100@example.com>;tag=a\r\nTo: <sip:100@example.com>;tag=s\r\nCall-ID: guess\r\nCSeq: {cseq} REGISTER\r\nWWW-Authenticate: Digest realm=\"example.com\", nonce=\"n\"\r\nContent-Length: 0\r\n\r\n")
}

/// A password-guessing tool retrying on one Call-ID without end: the
/// exchange is cut every `max_rounds` rounds, so one exchange cannot grow
/// with the capture, and every guess still reaches the brute-force rule.
#[test]
fn endless_retries_on_one_call_id_are_cut_into_bounded_exchanges() {
    const GUESSES: usize = 1200;
    let mut w = PcapWriter::new();
    w.udp(guess_register(1, "").as_bytes(), false);
    w.udp(guess_challenge(1).as_bytes(), true);
    for g in 0..GUESSES {
        let auth = format!("Authorization: Digest username=\"100\", realm=\"example.com\", nonce=\"n\", uri=\"sip:example.com\", response=\"{g:032x}\"\r\n");
        w.udp(guess_register(g + 2, &auth).as_bytes(), false);
        w.udp(guess_challenge(g + 2).as_bytes(), true);
    }
    let a = run(w.into_bytes(), &Options::default());
    let max = CorrelateConfig::default().max_rounds;
    let rounds: Vec<usize> = a.exchanges.iter().map(|e| e.rounds.len()).collect();
    assert_eq!(rounds.iter().sum::<usize>(), GUESSES + 1, "{rounds:?}");
    assert!(rounds.iter().all(|&r| r <= max), "{rounds:?}");
    assert_eq!(rounds.len(), (GUESSES + 1).div_ceil(max), "{rounds:?}");
    assert_eq!(a.correlate.split_exchanges, rounds.len() as u64 - 1);
    let cut = &a.exchanges[0];
    assert_eq!(cut.outcome.as_str(), "failed");
    assert!(
        cut.failure
            .as_deref()
            .is_some_and(|f| f.contains(&format!("still retrying after {max} rounds"))),
        "{:?}",
        cut.failure
    );
    let w = warnings(&a);
    let expected = format!("2 exchanges were cut after {max} rounds each");
    assert!(w.iter().any(|w| w.starts_with(&expected)), "{w:?}");
    let bf = a
        .findings
        .iter()
        .find(|f| f.rule == "brute-force")
        .expect("the guessing is still seen");
    assert!(
        bf.message
            .contains(&format!("{GUESSES} failed authentication attempts")),
        "{}",
        bf.message
    );
}

/// Copies of one request (a retransmission flood) are counted; only the
/// first few frames are listed.
#[test]
fn retransmission_flood_is_counted_not_listed() {
    const COPIES: usize = 3000;
    let mut w = PcapWriter::new();
    for _ in 0..=COPIES {
        w.udp(guess_register(1, "").as_bytes(), false);
    }
    w.udp(guess_challenge(1).as_bytes(), true);
    for _ in 0..COPIES {
        w.udp(guess_challenge(1).as_bytes(), true);
    }
    let a = run(w.into_bytes(), &Options::default());
    assert_eq!(a.exchanges.len(), 1);
    let listed = CorrelateConfig::default().max_listed_retransmissions;
    let round = &a.exchanges[0].rounds[0];
    assert_eq!(round.request.retransmissions as usize, COPIES);
    assert_eq!(round.request.retransmission_frames.len(), listed);
    let resp = round.response.as_ref().expect("the challenge");
    assert_eq!(resp.retransmissions as usize, COPIES);
    assert_eq!(resp.retransmission_frames.len(), listed);
    assert!(a.exchanges[0].frames.len() <= 2 * (listed + 1));
}
