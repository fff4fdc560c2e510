//! Captures cut at a dense sample of byte offsets (tcpdump killed while
//! writing, a partial download): every prefix is read up to the cut, with
//! an input warning that says where the capture ended, and never panics.
//!
//! Decided behaviour (docs/robustness.md):
//! - 0 bytes: "empty input", exit 2.
//! - 1..3 bytes (less than any format's magic): "not a capture this tool
//!   can read", exit 2.
//! - a magic, but the file header cut: exit 0/1 with the warning
//!   "capture ends inside a pcap file header at byte 0" (or pcapng block
//!   header/block) and "no packets".
//! - a cut anywhere after: what precedes is analysed, and the warning
//!   "capture ends inside a packet record at byte N" (pcapng: "block")
//!   names the offset where the cut record started.

use sipauth_diag::analysis::{analyze, Analysis, Input, Options};
use sipauth_diag::capture::synth::{PcapWriter, SynthPacket};
use sipauth_diag::capture::{open_reader, OpenError};
use sipauth_diag::report;
use std::path::{Path, PathBuf};

mod common;
use common::{bin, shared_dir};

/// Captures to cut: testdata/ and ../shared/captures, when present.
fn capture_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in [
        Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata"),
        shared_dir().join("captures"),
    ] {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            println!("skipping {}: not present", dir.display());
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            if name.ends_with(".pcap") || name.ends_with(".pcapng") {
                files.push(p);
            }
        }
    }
    files.sort();
    files
}

/// Byte offsets where a record (pcap) or block (pcapng) starts, plus the
/// file length: cutting exactly there leaves a well-formed capture.
fn record_boundaries(bytes: &[u8]) -> Vec<usize> {
    let u32_at = |at: usize, be: bool| {
        let b: [u8; 4] = bytes[at..at + 4].try_into().unwrap();
        if be {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        }
    };
    let mut out = Vec::new();
    match &bytes[..4] {
        [0x0a, 0x0d, 0x0d, 0x0a] => {
            let mut at = 0;
            let mut be = false;
            while at + 12 <= bytes.len() {
                out.push(at);
                if u32_at(at, false) == 0x0a0d_0d0a {
                    be = bytes[at + 8..at + 12] == [0x1a, 0x2b, 0x3c, 0x4d];
                }
                at += u32_at(at + 4, be) as usize;
            }
            assert_eq!(at, bytes.len(), "the test walks whole files");
        }
        magic => {
            let be = magic == [0xa1, 0xb2, 0xc3, 0xd4] || magic == [0xa1, 0xb2, 0x3c, 0x4d];
            let mut at = 24;
            while at + 16 <= bytes.len() {
                out.push(at);
                at += 16 + u32_at(at + 8, be) as usize;
            }
            assert_eq!(at, bytes.len(), "the test walks whole files");
        }
    }
    out.push(bytes.len());
    out
}

fn analyse(bytes: &[u8], with_reports: bool) -> Result<Analysis, OpenError> {
    let reader = open_reader(Box::new(std::io::Cursor::new(bytes.to_vec())))?;
    let a = analyze(
        vec![Input {
            name: "cut".into(),
            reader,
        }],
        &Options::default(),
    );
    if !with_reports {
        return Ok(a);
    }
    // Both reports must cope with whatever was read.
    let r = report::Report::plain(a);
    let _ = report::json::to_value(&r);
    let mut out = Vec::new();
    report::text::write(
        &r,
        &report::text::TextOptions {
            color: false,
            width: 100,
            ladder: true,
            details: false,
        },
        &mut out,
    )
    .unwrap();
    Ok(r.analysis)
}

/// Offsets to cut at: every one for small files, else 300 spread evenly
/// plus the file header and first records.
fn offsets(len: usize) -> Vec<usize> {
    if len <= 2500 {
        return (0..len).collect();
    }
    let mut v: Vec<usize> = (0..300).map(|i| i * len / 300).collect();
    v.extend(0..120);
    v.sort_unstable();
    v.dedup();
    v
}

fn check_prefixes(name: &str, bytes: &[u8]) -> usize {
    let boundaries = record_boundaries(bytes);
    let mut checked = 0;
    for cut in offsets(bytes.len()) {
        let prefix = &bytes[..cut];
        // The reports are exercised on a sparser sample: they see the same
        // kinds of results, and the dense sample is about the reader.
        let result = analyse(prefix, cut % 7 == 0);
        match cut {
            0 => assert!(matches!(result, Err(OpenError::Empty)), "{name}@0"),
            1..=3 => assert!(
                matches!(result, Err(OpenError::Unrecognised)),
                "{name}@{cut}"
            ),
            _ => {
                let a = result.unwrap_or_else(|e| panic!("{name}@{cut}: refused: {e}"));
                let warnings = &a.inputs[0].warnings;
                let ended = warnings.iter().find(|w| w.contains("capture ends inside"));
                if boundaries.contains(&cut) {
                    assert!(
                        ended.is_none(),
                        "{name}@{cut}: cut on a boundary: {warnings:?}"
                    );
                } else {
                    let start = boundaries
                        .iter()
                        .rev()
                        .find(|&&b| b < cut)
                        .copied()
                        .unwrap_or(0);
                    let ended = ended.unwrap_or_else(|| {
                        panic!("{name}@{cut}: no warning says where it ended: {warnings:?}")
                    });
                    assert!(
                        ended.contains(&format!("at byte {start} ")),
                        "{name}@{cut}: expected the cut record at {start}: {ended}"
                    );
                }
                if a.inputs[0].packets == 0 {
                    assert!(warnings.iter().any(|w| w == "no packets"), "{name}@{cut}");
                }
            }
        }
        checked += 1;
    }
    checked
}

/// A small capture built here, so the test means something without
/// ../shared: UDP and TCP SIP, one message split over two segments.
fn built_capture() -> Vec<u8> {
    let reg = "REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/TCP 10.0.0.1:40000;branch=z9hG4bK1\r\nFrom: <sip:alice@example.com>;tag=a\r\nTo: <sip:alice@example.com>\r\nCall-ID: c1\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n";
    let chal = "SIP/2.0 401 Unauthorized\r\nVia: SIP/2.0/TCP 10.0.0.1:40000;branch=z9hG4bK1\r\nFrom: <sip:alice@example.com>;tag=a\r\nTo: <sip:alice@example.com>;tag=s\r\nCall-ID: c1\r\nCSeq: 1 REGISTER\r\nWWW-Authenticate: Digest realm=\"example.com\", nonce=\"n1\", qop=\"auth\"\r\nContent-Length: 0\r\n\r\n";
    let mut w = PcapWriter::new();
    w.udp(reg.as_bytes(), false).udp(chal.as_bytes(), true);
    let (a, b) = reg.as_bytes().split_at(60);
    for (seq, part) in [(1u32, a), (61, b)] {
        w.packet(&SynthPacket {
            tcp: true,
            src_host: 1,
            dst_host: 2,
            src_port: 40000,
            dst_port: 5060,
            seq,
            payload: part,
        });
    }
    w.into_bytes()
}

#[test]
fn every_prefix_of_a_built_capture_is_read_with_a_warning() {
    let bytes = built_capture();
    assert_eq!(check_prefixes("built", &bytes), bytes.len());
}

#[test]
fn prefixes_of_real_captures_are_read_with_a_warning() {
    let files = capture_files();
    if files.is_empty() {
        println!("skipped: no captures in testdata/ or ../shared/captures");
        return;
    }
    for f in files {
        let bytes = std::fs::read(&f).unwrap();
        let n = check_prefixes(&f.display().to_string(), &bytes);
        assert!(n >= 300.min(bytes.len()));
    }
}

fn write_tmp(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn binary_on_cut_empty_and_garbage_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let full = built_capture();

    // Header only: exit 0, "no packets".
    let p = write_tmp(&dir, "header.pcap", &full[..24]);
    let out = bin().arg(&p).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("no packets"));

    // Cut inside the third record: exit 0 or 1, the warning says where.
    let boundaries = record_boundaries(&full);
    let cut = boundaries[2] + 30;
    let p = write_tmp(&dir, "cut.pcap", &full[..cut]);
    let out = bin().args(["--format", "json"]).arg(&p).output().unwrap();
    assert!(matches!(out.status.code(), Some(0 | 1)), "{out:?}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let warnings = json["inputs"][0]["warnings"].to_string();
    assert!(
        warnings.contains(&format!(
            "capture ends inside a packet record at byte {}",
            boundaries[2]
        )),
        "{warnings}"
    );

    // Empty file and garbage: exit 2, one line naming the file and why.
    for (name, bytes, reason) in [
        ("empty.pcap", &b""[..], "empty input"),
        (
            "garbage.pcap",
            &b"\x00\x01garbage, not a capture\n"[..],
            "not a capture",
        ),
        ("short.pcap", &b"\xd4\xc3"[..], "not a capture"),
    ] {
        let p = write_tmp(&dir, name, bytes);
        let out = bin().arg(&p).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{name}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{name}: {err}");
        assert!(err.contains(name) && err.contains(reason), "{name}: {err}");
        assert!(out.stdout.is_empty(), "{name}");
    }
}
