//! Throughput of each pipeline stage on one capture, in-process.
//!
//! ```text
//! cargo bench --bench stages -- FILE [--runs N]
//! ```
//!
//! Every stage includes the ones before it (read; read+decode; ... ), so
//! the difference between two rows is the cost of the later stage. Each is
//! run N times (default 3) over the file (from the page cache after the
//! first run); the best time is reported as MB/s of capture file and SIP
//! messages per second. `scripts/bench.sh` runs this on a generated
//! capture; docs/performance.md explains the numbers. It runs on the
//! command line's allocator (mimalloc, `sipauth_diag::allocator`).

use sipauth_diag::analysis::{self, Input, Options};
use sipauth_diag::capture::{self, CaptureReader, Record};
use sipauth_diag::correlate::{Correlator, MessageMeta};
use sipauth_diag::jsonl::JsonlWriter;
use sipauth_diag::net::{NetDecoder, Payload, PayloadKind, Take};
use sipauth_diag::report;
use sipauth_diag::sip::message::looks_like_sip;
use sipauth_diag::sip::{Framing, Message, Status};
use std::fs::File;
use std::hint::black_box;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

// The allocator and options of the command line (src/main.rs), so that the
// stages cost what they cost in a run.
sipauth_diag::install_allocator!();

fn open(path: &Path) -> Box<dyn CaptureReader> {
    let f = File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    capture::open_reader(Box::new(BufReader::with_capacity(1 << 20, f))).expect("a capture")
}

/// What a stage saw, to check the stages agree and to keep work alive.
#[derive(Default, Debug, Clone, Copy)]
struct Seen {
    packets: u64,
    payloads: u64,
    messages: u64,
}

fn meta(p: &Payload<'_>) -> MessageMeta {
    MessageMeta {
        input: p.ctx.input,
        frame: p.ctx.frame,
        ts: p.ctx.ts,
        src: Some(p.src),
        dst: Some(p.dst),
        transport: p.transport,
    }
}

/// Read, decode, frame and parse; hands each message to `each`.
fn pipeline(
    path: &Path,
    decode: bool,
    parse: bool,
    each: &mut dyn FnMut(&MessageMeta, &Message<'_>),
) -> Seen {
    let mut r = open(path);
    let mut net = NetDecoder::new();
    let mut seen = Seen::default();
    while let Some(rec) = r.next() {
        let Record::Packet(pkt) = rec else { continue };
        seen.packets += 1;
        if !decode {
            black_box(pkt.data);
            continue;
        }
        net.packet(0, &pkt, &mut |p: &Payload<'_>| {
            seen.payloads += 1;
            if !parse {
                black_box(p.data);
                return Take::Framed(p.data.len());
            }
            let data = p.data;
            let framing = match p.kind {
                PayloadKind::Datagram => Framing::Datagram,
                PayloadKind::Stream { .. } => Framing::Stream,
            };
            let mut used = 0;
            while used < data.len() {
                let rest = &data[used..];
                let start = rest
                    .iter()
                    .position(|c| !c.is_ascii_whitespace())
                    .unwrap_or(rest.len());
                let rest = &rest[start..];
                used += start;
                if rest.is_empty() || !looks_like_sip(rest) {
                    return Take::Skipped(data.len());
                }
                match Message::parse(rest, framing) {
                    Ok(Status::Complete(m)) => {
                        seen.messages += 1;
                        used += m.raw.len().max(1);
                        each(&meta(p), &m);
                    }
                    Ok(Status::Partial) => break,
                    Err(_) => {
                        used = data.len();
                        break;
                    }
                }
            }
            Take::Framed(used)
        });
    }
    seen
}

/// Nanoseconds this process has run on a CPU, all its threads together
/// (user + system, /proc/self/stat): unlike wall time it does not count
/// time spent waiting for a core that other work on the machine holds, and
/// it includes the rules thread. `None` where the kernel does not say.
fn process_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces): utime and
    // stime are the 14th and 15th fields, in clock ticks.
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    // USER_HZ is 100 on every Linux architecture that matters here.
    Some(ticks * 10_000_000)
}

/// Best CPU time (wall time where CPU time is unknown) of `runs` runs.
fn best_of(runs: usize, mut f: impl FnMut() -> Seen) -> (Duration, Seen) {
    let mut best = Duration::MAX;
    let mut seen = Seen::default();
    for _ in 0..runs {
        let (t, c) = (Instant::now(), process_cpu_ns());
        seen = f();
        let took = match (c, process_cpu_ns()) {
            (Some(a), Some(b)) => Duration::from_nanos(b.saturating_sub(a)),
            _ => t.elapsed(),
        };
        best = best.min(took);
    }
    (best, seen)
}

fn main() {
    let mut file: Option<PathBuf> = None;
    let mut runs = 3;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--runs" => runs = args.next().and_then(|n| n.parse().ok()).unwrap_or(3),
            "--bench" => {}
            _ if a.starts_with("--") => {}
            _ => file = Some(PathBuf::from(a)),
        }
    }
    let Some(file) = file else {
        eprintln!("usage: cargo bench --bench stages -- CAPTURE [--runs N]");
        std::process::exit(2);
    };
    let bytes = std::fs::metadata(&file).expect("capture").len() as f64;
    println!(
        "capture {} ({:.1} MB), best of {runs} runs, {} seconds (all threads)",
        file.display(),
        bytes / 1e6,
        if process_cpu_ns().is_some() {
            "CPU"
        } else {
            "wall"
        }
    );
    println!(
        "{:<34} {:>9} {:>10} {:>14}",
        "stage (cumulative)", "seconds", "MB/s", "SIP msgs/s"
    );
    // Parse first so every row can show messages/s.
    let parse = best_of(runs, || {
        pipeline(&file, true, true, &mut |_, m| {
            black_box(m);
        })
    });
    let messages = parse.1.messages;
    let row = |name: &str, (d, _): (Duration, Seen)| {
        let s = d.as_secs_f64();
        println!(
            "{name:<34} {s:>9.3} {:>10.0} {:>14.0}",
            bytes / 1e6 / s,
            messages as f64 / s
        );
    };
    row(
        "read (pcap records)",
        best_of(runs, || pipeline(&file, false, false, &mut |_, _| {})),
    );
    row(
        "+ decode (link/IP/UDP/TCP)",
        best_of(runs, || pipeline(&file, true, false, &mut |_, _| {})),
    );
    row("+ parse (SIP framing, headers)", parse);
    row(
        "+ correlate (exchanges flow out)",
        best_of(runs, || {
            let mut c = Correlator::new(Default::default());
            let mut n = 0u32;
            let seen = pipeline(&file, true, true, &mut |meta, m| {
                c.message(meta, m);
                n += 1;
                if n % 1024 == 0 {
                    black_box(c.take_finished());
                }
            });
            black_box(c.finish());
            seen
        }),
    );
    // Stages are what each costs on one core: one thread, like the rows
    // above (the whole runs of scripts/bench.sh use the default two).
    let opts = Options {
        single_thread: true,
        ..Options::default()
    };
    row(
        "+ rules (streaming, no output)",
        best_of(runs, || {
            let input = Input {
                name: file.display().to_string(),
                reader: open(&file),
            };
            let mut findings = 0usize;
            let a = analysis::analyze_streaming(vec![input], &opts, &mut |_, f| {
                findings += f.len();
            });
            black_box(findings);
            Seen {
                messages: a.sip.messages,
                ..Seen::default()
            }
        }),
    );
    row(
        "+ JSON lines (--format jsonl)",
        best_of(runs, || {
            let input = Input {
                name: file.display().to_string(),
                reader: open(&file),
            };
            let mut sink = std::io::BufWriter::new(std::io::sink());
            let mut w = JsonlWriter::new(&mut sink);
            let a =
                analysis::analyze_streaming(vec![input], &opts, &mut |ex, f| w.exchange(&ex, &f));
            w.finish(&a).0.expect("write");
            Seen {
                messages: a.sip.messages,
                ..Seen::default()
            }
        }),
    );
    row(
        "+ JSON report (--format json)",
        best_of(runs, || {
            let input = Input {
                name: file.display().to_string(),
                reader: open(&file),
            };
            let (mut doc, _) = report::json::JsonDoc::streaming();
            let a =
                analysis::analyze_streaming(vec![input], &opts, &mut |ex, f| doc.exchange(&ex, &f));
            doc.findings(&a.findings);
            let mut sink = std::io::BufWriter::new(std::io::sink());
            doc.finish(&a, None, Default::default(), &mut sink)
                .expect("write");
            Seen {
                messages: a.sip.messages,
                ..Seen::default()
            }
        }),
    );
}
