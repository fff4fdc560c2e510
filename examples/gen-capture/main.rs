//! Writes a realistic SIP capture (pcap, Ethernet/IPv4/UDP) with many
//! accounts, misconfigured phones, an attack burst and media noise, plus a
//! truth file with the findings a correct diagnosis must produce.
//!
//! ```text
//! cargo run --release --example gen-capture -- --out /tmp/big.pcap \
//!     --truth /tmp/big.truth.json --size-mb 200 --seed 7
//! ```
//!
//! The known passwords go to a sibling credentials file
//! (`user@realm:password` lines; `--credentials` to choose its path).

mod generator;

use clap::Parser;
use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "gen-capture",
    about = "Generates a realistic SIP capture and its expected findings"
)]
struct Args {
    /// The pcap to write.
    #[arg(long)]
    out: PathBuf,
    /// The truth file (JSON) to write.
    #[arg(long)]
    truth: PathBuf,
    /// Where to write `user@realm:password` lines (default: the truth
    /// file's path with the extension `credentials`).
    #[arg(long)]
    credentials: Option<PathBuf>,
    /// Approximate capture size in megabytes (10^6 bytes).
    #[arg(long, default_value_t = 20)]
    size_mb: u64,
    /// Seed: the same seed and options give the same bytes.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Accounts (default: 60 per MB, between 100 and 50000).
    #[arg(long)]
    accounts: Option<usize>,
    /// RTP packets per call direction (media noise); 0 for SIP only.
    #[arg(long, default_value_t = 25)]
    rtp_per_call: u32,
    /// Percentage (0-100) of the qop accounts that register over TCP.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=100))]
    tcp_percent: u8,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut cfg = generator::Config::for_size_mb(args.size_mb, args.seed);
    if let Some(a) = args.accounts {
        cfg.accounts = a.max(10);
    }
    cfg.rtp_per_call = args.rtp_per_call;
    cfg.tcp_percent = args.tcp_percent;
    let out = BufWriter::with_capacity(1 << 20, File::create(&args.out)?);
    let truth = generator::generate(cfg, out)?;
    let creds = args
        .credentials
        .unwrap_or_else(|| args.truth.with_extension("credentials"));
    std::fs::write(&creds, truth.credentials_text())?;
    let json = truth.to_json(&creds.display().to_string());
    std::fs::write(&args.truth, serde_json::to_string_pretty(&json)? + "\n")?;
    eprintln!(
        "gen-capture: {} bytes, {} packets, {} SIP messages -> {}; truth {}",
        truth.bytes,
        truth.packets,
        truth.sip_messages,
        args.out.display(),
        args.truth.display()
    );
    Ok(())
}
