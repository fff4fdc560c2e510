//! sipauth-diag: reads SIP packet captures and explains, in plain words,
//! why SIP digest authentication fails and what to change on which box.
//!
//! Data flows one way: [`capture`] (pcap/pcapng readers) -> [`net`] (link,
//! IP, TCP reassembly) -> [`sip`] (framing, zero-copy messages, digest
//! parameters) -> [`correlate`] (transactions, auth exchanges) -> [`rules`]
//! (findings) -> [`report`] (text, JSON). [`analysis`] runs the pipeline.

pub mod allocator;
pub mod analysis;
pub mod capture;
pub mod cli;
pub mod correlate;
pub mod credentials;
pub mod jsonl;
pub mod net;
pub mod report;
pub mod rules;
pub mod sip;
mod threads;
