//! Command line: arguments, opening inputs, choosing the report, exit code.

use crate::analysis::{self, Input, Options};
use crate::capture::{self, OpenError};
use crate::correlate::CorrelateConfig;
use crate::report;
use crate::rules::{RuleConfig, Severity, RULES};
use clap::{Parser, ValueEnum};
use std::fs::File;
use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;

/// Exit codes.
pub const EXIT_CLEAN: i32 = 0;
pub const EXIT_FINDINGS: i32 = 1;
pub const EXIT_USAGE: i32 = 2;

const AFTER_HELP: &str = "\
Examples:
  Diagnose a capture:
    sipauth-diag trace.pcap
  Several captures, one of them compressed, as one analysis:
    sipauth-diag pbx-side.pcapng phone-side.pcap.gz
  Straight from tcpdump or an sngrep export on stdin:
    tcpdump -i any -s 0 -w - port 5060 | sipauth-diag -
    sipauth-diag - < sngrep-export.pcap
  JSON for scripts; fail a CI job on warnings too:
    sipauth-diag --format json --fail-on warning trace.pcap > report.json

Exit status: 0 no finding at or above --fail-on, 1 findings at or above it,
2 usage error or an input that cannot be read.

Rules and what they mean: docs/rules.md, or --list-rules.";

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Summary, accounts and findings for a person at a terminal.
    Text,
    /// The full report as one JSON document (docs/report-schema.md).
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    Critical,
    Error,
    Warning,
    Info,
    Never,
}

impl FailOn {
    fn threshold(self) -> Option<Severity> {
        match self {
            FailOn::Critical => Some(Severity::Critical),
            FailOn::Error => Some(Severity::Error),
            FailOn::Warning => Some(Severity::Warning),
            FailOn::Info => Some(Severity::Info),
            FailOn::Never => None,
        }
    }
}

/// Explains why SIP digest authentication fails, from packet captures.
///
/// Reads pcap/pcapng captures (and their gzip-compressed forms), finds every
/// SIP request that was challenged (401/407) or carried credentials, follows
/// it through its retries to the final answer, and names each problem with a
/// stable rule ID, the evidence side by side, and what to change on which box.
#[derive(Debug, Parser)]
#[command(name = "sipauth-diag", version, after_help = AFTER_HELP)]
pub struct Args {
    /// Capture files; '-' reads standard input (the default when it is not
    /// a terminal).
    #[arg(value_name = "INPUT")]
    pub inputs: Vec<PathBuf>,

    /// Report format.
    #[arg(short, long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,

    /// Write the report to FILE instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Colour the text report (NO_COLOR in the environment means never for
    /// 'auto').
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,

    /// Exit with status 1 when a finding has at least this severity.
    #[arg(long, value_enum, default_value_t = FailOn::Error, value_name = "SEVERITY")]
    pub fail_on: FailOn,

    /// Seconds a client may take to answer a challenge, and a request to
    /// get its final response, before the exchange counts as abandoned
    /// rather than cut short by the end of the capture.
    #[arg(long, default_value_t = 32.0, value_name = "SECS")]
    pub answer_timeout: f64,

    /// Challenge rounds without success that make an auth loop.
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub loop_rounds: usize,

    /// List the rules with their severity and exit.
    #[arg(long)]
    pub list_rules: bool,
}

fn open_input(path: &PathBuf) -> Result<Input, OpenError> {
    let name = path.display().to_string();
    let source: Box<dyn io::Read + Send> = if name == "-" {
        Box::new(io::stdin())
    } else {
        Box::new(File::open(path)?)
    };
    let reader = capture::open_reader(source)?;
    Ok(Input {
        name: if name == "-" { "<stdin>".into() } else { name },
        reader,
    })
}

fn use_color(choice: ColorChoice, to_file: bool) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            !to_file
                && io::stdout().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::env::var("TERM").map(|t| t != "dumb").unwrap_or(true)
        }
    }
}

fn terminal_width() -> u16 {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .filter(|&w: &u16| w >= 40)
        .unwrap_or(120)
}

/// Runs the tool; returns the exit code.
pub fn run(args: Args) -> i32 {
    if args.list_rules {
        let mut out = io::stdout().lock();
        for r in RULES {
            let _ = writeln!(out, "{:<30} {:<8} {}", r.id, r.severity.as_str(), r.summary);
        }
        return EXIT_CLEAN;
    }
    let mut paths = args.inputs.clone();
    if paths.is_empty() {
        if io::stdin().is_terminal() {
            eprintln!("sipauth-diag: no input given (a capture file, or '-' for standard input); see --help");
            return EXIT_USAGE;
        }
        paths.push(PathBuf::from("-"));
    }
    if paths.iter().filter(|p| p.as_os_str() == "-").count() > 1 {
        eprintln!("sipauth-diag: standard input ('-') can be read only once");
        return EXIT_USAGE;
    }
    if !(args.answer_timeout.is_finite() && args.answer_timeout >= 0.0) {
        eprintln!("sipauth-diag: --answer-timeout must be a number of seconds >= 0");
        return EXIT_USAGE;
    }
    let mut status = EXIT_CLEAN;
    let mut inputs = Vec::new();
    for p in &paths {
        match open_input(p) {
            Ok(i) => inputs.push(i),
            Err(e) => {
                eprintln!(
                    "sipauth-diag: {}: {e}",
                    report::sanitize::term(&p.display().to_string())
                );
                status = EXIT_USAGE;
            }
        }
    }
    if inputs.is_empty() {
        return EXIT_USAGE;
    }
    let opts = Options {
        correlate: CorrelateConfig {
            answer_timeout: args.answer_timeout,
            ..CorrelateConfig::default()
        },
        rules: RuleConfig {
            loop_rounds: args.loop_rounds.max(2),
        },
        ..Options::default()
    };
    let analysis = analysis::analyze(inputs, &opts);

    let mut sink: Box<dyn Write> = match &args.output {
        Some(path) => match File::create(path) {
            Ok(f) => Box::new(io::BufWriter::new(f)),
            Err(e) => {
                eprintln!("sipauth-diag: cannot write {}: {e}", path.display());
                return EXIT_USAGE;
            }
        },
        None => Box::new(io::BufWriter::new(io::stdout().lock())),
    };
    let written = match args.format {
        OutputFormat::Text => report::text::write(
            &analysis,
            &report::text::TextOptions {
                color: use_color(args.color, args.output.is_some()),
                width: terminal_width(),
            },
            &mut sink,
        ),
        OutputFormat::Json => report::json::write(&analysis, &mut sink),
    }
    .and_then(|_| sink.flush());
    if let Err(e) = written {
        if e.kind() != io::ErrorKind::BrokenPipe {
            eprintln!("sipauth-diag: cannot write the report: {e}");
            return EXIT_USAGE;
        }
    }
    if status != EXIT_CLEAN {
        return status;
    }
    match args.fail_on.threshold() {
        Some(t) if analysis.findings.iter().any(|f| f.severity >= t) => EXIT_FINDINGS,
        _ => EXIT_CLEAN,
    }
}
