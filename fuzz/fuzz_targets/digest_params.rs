//! Digest challenge and credentials parameter parsers.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sipauth_diag::sip::digest::scan;
use sipauth_diag::sip::{Challenge, Credentials};

fuzz_target!(|data: &[u8]| {
    for raw in scan(data) {
        for p in &raw.params {
            let _ = p.text();
        }
    }
    for c in Challenge::parse_all(data) {
        let _ = (c.is_digest(), c.algorithm_or_default());
    }
    let c = Credentials::parse(data);
    let _ = (c.is_digest(), c.algorithm_or_default(), c.user_part());
});
