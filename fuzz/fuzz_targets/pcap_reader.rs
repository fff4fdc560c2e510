//! pcap/pcapng reader: any bytes, drained to the end.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sipauth_diag::capture::{pcap, CaptureReader, Record};

fuzz_target!(|data: &[u8]| {
    let Some(mut reader) = pcap::from_bytes(data) else {
        return;
    };
    let mut frames = 0u64;
    while let Some(rec) = reader.next() {
        if let Record::Packet(p) = rec {
            frames += 1;
            assert_eq!(p.frame, frames, "frames are numbered 1, 2, 3, ...");
            assert!(p.data.len() <= data.len());
        }
    }
    let _ = reader.warnings();
    let _ = reader.linktypes();
    // Ended readers stay ended.
    assert!(reader.next().is_none());
});
