//! The whole pipeline from raw bytes: reader detection (pcap, pcapng,
//! gzip and every text format `open_reader` knows), link/IP/TCP decoding,
//! SIP, correlation, rules, and both reports.
//!
//! An input starting with `!` is instead a list of SIP payloads split at
//! `|||`, each sent as one packet in a capture built in memory (first byte
//! of each chunk: bit 0 = TCP, bit 1 = reply direction), so the fuzzer
//! reaches the correlator and rules without having to forge headers.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sipauth_diag::analysis::{analyze, analyze_streaming, Input, Options};
use sipauth_diag::capture::open_reader;
use sipauth_diag::capture::synth::{PcapWriter, SynthPacket};
use sipauth_diag::report;

fn synth(data: &[u8]) -> Vec<u8> {
    let mut w = PcapWriter::new();
    let mut seq = [1000u32, 9000u32];
    let mut rest = data;
    while !rest.is_empty() && w.frames() < 64 {
        let (chunk, next) = match memchr::memmem::find(rest, b"|||") {
            Some(i) => (&rest[..i], &rest[i + 3..]),
            None => (rest, &rest[rest.len()..]),
        };
        rest = next;
        let Some((&flags, payload)) = chunk.split_first() else {
            continue;
        };
        let tcp = flags & 1 != 0;
        let reply = flags & 2 != 0;
        let dir = usize::from(reply);
        w.packet(&SynthPacket {
            tcp,
            src_host: if reply { 2 } else { 1 },
            dst_host: if reply { 1 } else { 2 },
            src_port: if reply { 5060 } else { 40000 },
            dst_port: if reply { 40000 } else { 5060 },
            seq: seq[dir],
            payload,
        });
        if tcp {
            seq[dir] = seq[dir].wrapping_add(payload.len() as u32);
        }
    }
    w.into_bytes()
}

fuzz_target!(|data: &[u8]| {
    let bytes = match data.split_first() {
        Some((b'!', rest)) => synth(rest),
        _ => data.to_vec(),
    };
    let open = || {
        open_reader(Box::new(std::io::Cursor::new(bytes.clone())))
            .ok()
            .map(|reader| Input {
                name: "fuzz".into(),
                reader,
            })
    };
    let Some(input) = open() else {
        return;
    };
    let a = analyze(vec![input], &Options::default());
    let r = report::Report::build(
        a,
        &report::filter::Filter::default(),
        report::redact::Level::All,
    );
    let _ = report::json::to_value(&r);
    for details in [false, true] {
        let mut out = Vec::new();
        report::text::write(
            &r,
            &report::text::TextOptions {
                color: true,
                width: 80,
                ladder: true,
                details,
            },
            &mut out,
        )
        .expect("writing to a Vec cannot fail");
    }
    let mut out = Vec::new();
    report::markdown::write(&r, &mut out).expect("writing to a Vec cannot fail");
    report::html::write(&r, &mut out).expect("writing to a Vec cannot fail");
    // The streamed JSON report, JSON lines and text view, as the CLI
    // writes them (the text view from what it collected, whatever the
    // number of exchanges).
    let Some(input) = open() else {
        return;
    };
    let mut doc = report::json::JsonDoc::in_memory();
    let mut lines = Vec::new();
    let mut jsonl = sipauth_diag::jsonl::JsonlWriter::new(&mut lines);
    let mut view = report::text::TextStream::keeping(0);
    let a = analyze_streaming(vec![input], &Options::default(), &mut |ex, f| {
        doc.exchange(&ex, &f);
        jsonl.exchange(&ex, &f);
        view.exchange(ex, f);
    });
    doc.findings(&a.findings);
    let mut out = Vec::new();
    doc.finish(&a, None, report::redact::Level::None, &mut out)
        .expect("writing to a Vec cannot fail");
    jsonl.finish(&a).0.expect("writing to a Vec cannot fail");
    view.findings(&a.findings);
    let plain = report::text::TextOptions {
        color: true,
        width: 80,
        ladder: false,
        details: false,
    };
    view.finish(a, &plain, &mut out)
        .expect("writing to a Vec cannot fail");
});
