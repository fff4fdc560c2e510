//! Command line: arguments, opening inputs, choosing the report, exit code.

use crate::analysis::{self, Analysis, Input, Options};
use crate::capture::{self, OpenError};
use crate::correlate::{AuthExchange, CorrelateConfig};
use crate::credentials::{self, CredentialStore};
use crate::report::{self, filter::Filter, filter::TimeSpec, redact, Report};
use crate::rules::{Finding, RuleConfig, Severity, RULES};
use clap::{Parser, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::fs::File;
use std::io::{self, IsTerminal, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

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
  Straight from tcpdump, or from sngrep (save the calls as pcap, or pipe):
    tcpdump -i any -s 0 -w - port 5060 | sipauth-diag -
    sngrep -N -q -O - port 5060 | sipauth-diag -
    sipauth-diag - < sngrep-export.pcap
  One account, with the message flow drawn:
    sipauth-diag --user 300 --ladder trace.pcap
  A report for a support ticket (nonces, responses, users and IPs masked):
    sipauth-diag --format html --redact=all -o ticket.html trace.pcap
    sipauth-diag --format markdown --redact trace.pcap > ticket.md
  Check the password itself, from a credentials file (never on the
  command line):
    sipauth-diag --credentials accounts.txt trace.pcap
  JSON for scripts; fail a CI job on warnings too:
    sipauth-diag --format json --fail-on warning trace.pcap > report.json
  Shell completion and the manual page:
    sipauth-diag --completions bash > /etc/bash_completion.d/sipauth-diag
    sipauth-diag --man > sipauth-diag.1

Filters (--user, --ip, --call-id, --since, --until, --rule,
--min-severity) narrow every format; the summary counts and the exit
status then describe what is shown, and the report says how much was left
out (docs/reports.md).

Exit status: 0 no finding at or above --fail-on, 1 findings at or above it,
2 usage error or an input that cannot be read.

Rules and what they mean: docs/rules.md, or --list-rules.";

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Summary, accounts and findings for a person at a terminal;
    /// without filters it is collected from exchanges as they finish, in
    /// bounded memory, on captures of any size (--details and --ladder
    /// with --redact read the capture twice for it).
    Text,
    /// The full report as one JSON document (docs/report-schema.md);
    /// without filters it is written from exchanges as they finish, in
    /// bounded memory, on captures of any size.
    Json,
    /// A report for a support ticket: verdict per account, findings,
    /// message flows; without filters it is written from exchanges as
    /// they finish, in bounded memory.
    Markdown,
    /// The ticket report as one self-contained HTML file with drawn
    /// message flows (no scripts, no external files); bounded memory as
    /// for markdown.
    Html,
    /// One JSON object per line, written as exchanges finish: bounded
    /// memory on captures of any size (docs/performance.md); takes every
    /// filter (--rule, --min-severity and times of day read the capture
    /// twice) and --redact without a filter.
    Jsonl,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum RedactChoice {
    /// Mask nonce, cnonce, response and opaque values.
    Secrets,
    /// Also replace user names and IP addresses with stable pseudonyms.
    All,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SeverityArg {
    Critical,
    Error,
    Warning,
    Info,
}

impl SeverityArg {
    fn severity(self) -> Severity {
        match self {
            SeverityArg::Critical => Severity::Critical,
            SeverityArg::Error => Severity::Error,
            SeverityArg::Warning => Severity::Warning,
            SeverityArg::Info => Severity::Info,
        }
    }
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
/// Reads pcap/pcapng captures, sngrep text saves and PBX console logs
/// (Asterisk, FreeSWITCH, Snom; plain or gzip-compressed), finds every
/// SIP request that was challenged (401/407) or carried credentials, follows
/// it through its retries to the final answer, and names each problem with a
/// stable rule ID, the evidence side by side, and what to change on which box.
#[derive(Debug, Parser)]
#[command(name = "sipauth-diag", version, after_help = AFTER_HELP)]
// The field comments are the `--help` text, written for a terminal: their
// `user[@realm]` and `HH:MM[:SS]` are not links, and escaping them for
// rustdoc would show the backslashes in `--help`.
#[allow(rustdoc::broken_intra_doc_links)]
pub struct Args {
    /// Capture files (pcap, pcapng, sngrep text save, console log, gzipped
    /// or not; detected from the content); several are merged by time. '-'
    /// reads standard input (the default when it is not a terminal).
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

    /// Known passwords, to check the captured digest responses and name the
    /// field a client got wrong: lines 'user[@realm]:password' ('#'
    /// comments). Default: the file named by SIPAUTH_CREDENTIALS. Passwords
    /// are never taken from the command line and never printed.
    #[arg(long, value_name = "FILE")]
    pub credentials: Option<PathBuf>,
    /// Draw the message flow of every exchange shown (text format).
    #[arg(long)]
    pub ladder: bool,

    /// Text format: list every finding of every exchange, with its
    /// evidence and fix, instead of one entry per rule (and every account
    /// instead of the busiest).
    #[arg(long)]
    pub details: bool,

    /// Mask secrets in every format: '--redact' (or =secrets) masks
    /// nonce, cnonce, response and opaque values; '--redact=all' also
    /// replaces user names and IP addresses with stable pseudonyms, so the
    /// report can leave the company. Files are read twice (learn what to
    /// mask, then write), in bounded memory; standard input is first
    /// copied to a temporary file, as are pipes.
    #[arg(long, value_enum, num_args = 0..=1, require_equals = true,
          default_missing_value = "secrets", value_name = "WHAT")]
    pub redact: Option<RedactChoice>,

    /// Only exchanges of this user (From user or digest username);
    /// repeatable.
    #[arg(long, value_name = "USER", help_heading = "Filters")]
    pub user: Vec<String>,

    /// Only exchanges with this client or server address; repeatable.
    #[arg(long, value_name = "ADDR", help_heading = "Filters")]
    pub ip: Vec<std::net::IpAddr>,

    /// Only exchanges with this Call-ID; repeatable.
    #[arg(long, value_name = "ID", help_heading = "Filters")]
    pub call_id: Vec<String>,

    /// Only exchanges still going at or after this time: RFC 3339
    /// (2024-05-01T10:00:00Z) or HH:MM[:SS] in UTC on the capture's first day.
    #[arg(long, value_name = "TIME", value_parser = parse_time, help_heading = "Filters")]
    pub since: Option<TimeSpec>,

    /// Only exchanges started at or before this time (as --since).
    #[arg(long, value_name = "TIME", value_parser = parse_time, help_heading = "Filters")]
    pub until: Option<TimeSpec>,

    /// Only findings of this rule (and their exchanges); repeatable or
    /// comma-separated. See --list-rules.
    #[arg(
        long,
        value_name = "RULE",
        value_delimiter = ',',
        help_heading = "Filters"
    )]
    pub rule: Vec<String>,

    /// Only findings of at least this severity (and their exchanges).
    #[arg(long, value_enum, value_name = "SEVERITY", help_heading = "Filters")]
    pub min_severity: Option<SeverityArg>,

    /// An answer this many seconds after its challenge that the server
    /// refuses with a new nonce counts as refused for being late
    /// (stale-nonce).
    #[arg(long, default_value_t = 5.0, value_name = "SECS")]
    pub late_answer: f64,

    /// brute-force: failed authentications from one source within
    /// --window that, across accounts or passwords, make an attack
    /// (VOS3000 locks an account after 6).
    #[arg(long, default_value_t = 6, value_name = "N")]
    pub max_failures: usize,

    /// brute-force: the sliding window, in seconds (VOS3000 suspends for
    /// 180 s).
    #[arg(long, default_value_t = 180.0, value_name = "SECS")]
    pub window: f64,

    /// brute-force: distinct usernames tried from one source within
    /// --window that make an enumeration or credential-stuffing attack.
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub max_usernames: usize,

    /// UTC offset of the clock that wrote text inputs (sngrep text saves
    /// and console logs carry local times without a zone), e.g. +02:00,
    /// -05:30 or UTC. Default: UTC, and the report says it was assumed.
    #[arg(long, value_name = "OFFSET", value_parser = capture::text::parse_tz, allow_hyphen_values = true)]
    pub tz: Option<i32>,

    /// Threads: with 2 (the default on a machine with more than one core)
    /// one reads, decodes and correlates the capture while another runs
    /// the rules and writes the report, which takes about two thirds of
    /// the time; 1 does it all on one. More are not used: inputs are
    /// merged by time into one correlation.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub threads: Option<u32>,

    /// List the rules with their severity and exit.
    #[arg(long)]
    pub list_rules: bool,

    /// Print a completion script for this shell and exit.
    #[arg(long, value_enum, value_name = "SHELL")]
    pub completions: Option<clap_complete::Shell>,

    /// Print the manual page (roff) and exit.
    #[arg(long)]
    pub man: bool,
}

/// Threads to use: as asked, else two when the machine has more than one
/// core.
fn threads(asked: Option<u32>) -> usize {
    asked.map_or_else(
        || std::thread::available_parallelism().map_or(1, |n| n.get().min(2)),
        |n| n as usize,
    )
}

fn parse_time(s: &str) -> Result<TimeSpec, String> {
    TimeSpec::parse(s)
}

/// A reader that moves a progress bar by the bytes it reads.
struct Counted<R> {
    inner: R,
    bar: ProgressBar,
}

impl<R: io::Read> io::Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bar.inc(n as u64);
        Ok(n)
    }
}

/// Inputs at least this large get a progress bar on a terminal.
const PROGRESS_MIN_BYTES: u64 = 32 * 1024 * 1024;

/// A progress bar over the total size of the input files, when stderr is
/// a terminal and the input is large; hidden otherwise (pipes, logs).
fn progress_bar(paths: &[PathBuf]) -> ProgressBar {
    let total: u64 = paths
        .iter()
        .filter(|p| p.as_os_str() != "-")
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    if !io::stderr().is_terminal() || total < PROGRESS_MIN_BYTES {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} reading {bytes}/{total_bytes} [{wide_bar}] {eta} left",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

fn print_generated(args: &Args) -> io::Result<()> {
    let mut cmd = <Args as clap::CommandFactory>::command();
    let mut out = io::stdout().lock();
    if let Some(shell) = args.completions {
        clap_complete::generate(shell, &mut cmd, "sipauth-diag", &mut out);
    } else {
        clap_mangen::Man::new(cmd).render(&mut out)?;
    }
    out.flush()
}

/// An input as named on the command line, and its copy in a temporary
/// file when it must be read twice and cannot be (standard input, a pipe
/// such as `<(zcat x.pcap.gz)`, a device).
struct Source<'a> {
    path: &'a PathBuf,
    copy: Option<File>,
}

impl Source<'_> {
    /// A regular file: it can be opened and read again.
    fn rereadable(&self) -> bool {
        self.path.as_os_str() != "-" && std::fs::metadata(self.path).is_ok_and(|m| m.is_file())
    }

    fn can_read_twice(&self) -> bool {
        self.copy.is_some() || self.rereadable()
    }

    /// Copies what cannot be read twice; a name that does not exist is
    /// left for [`open_input`] to report.
    fn copy_if_needed(&mut self) {
        let stdin = self.path.as_os_str() == "-";
        if self.rereadable() || !(stdin || std::fs::metadata(self.path).is_ok()) {
            return;
        }
        let copied = (|| -> io::Result<File> {
            let src: Box<dyn io::Read> = if stdin {
                Box::new(io::stdin().lock())
            } else {
                Box::new(File::open(self.path)?)
            };
            let mut f = tempfile::tempfile()?;
            io::copy(&mut io::BufReader::with_capacity(1 << 20, src), &mut f)?;
            f.rewind()?;
            Ok(f)
        })();
        match copied {
            Ok(f) => self.copy = Some(f),
            Err(e) => eprintln!(
                "sipauth-diag: warning: cannot copy {} to a temporary file to read it twice ({e}; set TMPDIR to a writable directory): the whole analysis is kept in memory",
                if stdin {
                    "standard input".to_string()
                } else {
                    report::sanitize::term(&self.path.display().to_string()).into_owned()
                }
            ),
        }
    }
}

fn open_input(
    source: &Source<'_>,
    bar: &ProgressBar,
    text: &capture::text::TextOptions,
) -> Result<Input, OpenError> {
    let path = source.path;
    let name = path.display().to_string();
    let source: Box<dyn io::Read + Send> = if let Some(copy) = &source.copy {
        let mut f = copy.try_clone()?;
        f.rewind()?;
        Box::new(f)
    } else if name == "-" {
        Box::new(io::stdin())
    } else {
        Box::new(Counted {
            inner: File::open(path)?,
            bar: bar.clone(),
        })
    };
    let reader = capture::open_reader_with(source, text)?;
    Ok(Input {
        name: if name == "-" { "<stdin>".into() } else { name },
        reader,
    })
}

/// The first read of a filtered run that reads its inputs twice: what the
/// report will show. The second read (with `opts`) takes the findings
/// about the whole capture from this one instead of working them out again.
fn select_shown(
    inputs: Vec<Input>,
    opts: &mut Options,
    filter: &Filter,
) -> report::filter::Selected {
    let mut selection = report::filter::Selection::new(filter);
    let first = analysis::analyze_streaming(inputs, opts, &mut |ex, findings| {
        selection.exchange(&ex, &findings)
    });
    let selected = selection.finish(&first.findings);
    opts.capture_findings = Some(Arc::new(first.findings));
    // Nor the findings of the exchanges it will not show (the first read
    // counted them for the report's scope).
    let shown = selected.shown_ids();
    opts.exchange_rules_for = Some(analysis::ExchangeIds(Arc::new(move |id| {
        shown.contains(id as u64)
    })));
    selected
}

/// Opens the inputs again for a second read (the progress bar starts over);
/// `None` after saying which one could not be.
fn reopen(
    opened: &[&Source<'_>],
    bar: &ProgressBar,
    text: &capture::text::TextOptions,
) -> Option<Vec<Input>> {
    bar.set_position(0);
    let mut inputs = Vec::with_capacity(opened.len());
    for s in opened {
        match open_input(s, bar, text) {
            Ok(i) => inputs.push(i),
            Err(e) => {
                eprintln!(
                    "sipauth-diag: {}: cannot read it again: {e}",
                    report::sanitize::term(&s.path.display().to_string())
                );
                return None;
            }
        }
    }
    Some(inputs)
}

/// What a streamed run does to each exchange before its writer sees it:
/// masks it (the second read of a redacted run) and asks the filter's
/// gate whether it is shown, and which of its findings.
struct Prepare<'f> {
    redactor: Option<redact::Redactor>,
    gate: Option<report::filter::Gate<'f>>,
}

impl Prepare<'_> {
    /// Whether the writer gets the exchange (then masked, with the
    /// findings shown).
    fn exchange(&mut self, ex: &mut AuthExchange, findings: &mut Vec<Finding>) -> bool {
        if let Some(r) = &mut self.redactor {
            r.exchange(ex);
            r.findings(findings);
        }
        let Some(g) = &mut self.gate else {
            return true;
        };
        if !g.exchange(ex, findings) {
            return false;
        }
        findings.retain(|f| g.finding(f, true));
        true
    }

    /// At the end: the findings about the capture as a whole and the
    /// inputs' names and warnings, masked, and the findings narrowed to
    /// those shown; what the filter left out, when there is one.
    fn rest(&mut self, a: &mut Analysis) -> Option<report::filter::Scope> {
        if let Some(r) = &mut self.redactor {
            r.findings(&mut a.findings);
            r.inputs(&mut a.inputs);
        }
        let g = self.gate.as_mut()?;
        a.findings.retain(|f| g.finding(f, false));
        Some(g.scope())
    }
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

/// The credentials file of `--credentials`, else of the environment
/// variable; warnings go to standard error, failures are usage errors.
fn load_credentials(option: Option<&Path>) -> Result<Option<Arc<CredentialStore>>, i32> {
    let from_env = std::env::var_os(credentials::ENV_VAR).filter(|v| !v.is_empty());
    let path = match (option, &from_env) {
        (Some(p), _) => p.to_path_buf(),
        (None, Some(v)) => PathBuf::from(v),
        (None, None) => return Ok(None),
    };
    match CredentialStore::load(&path) {
        Ok((store, warnings)) => {
            for w in warnings {
                eprintln!("sipauth-diag: warning: {w}");
            }
            if store.is_empty() {
                eprintln!(
                    "sipauth-diag: warning: the credentials file {} has no accounts",
                    report::sanitize::term(&path.display().to_string())
                );
            }
            Ok(Some(Arc::new(store)))
        }
        Err(e) => {
            let via = if option.is_none() {
                format!(" (named by {})", credentials::ENV_VAR)
            } else {
                String::new()
            };
            eprintln!("sipauth-diag: {e}{via}");
            Err(EXIT_USAGE)
        }
    }
}

/// The exit code of a streamed report: whether it was written (a reader
/// that went away is no error), whether every input could be read, and
/// the most severe finding, as for the other formats.
fn exit_status(written: io::Result<()>, worst: Option<Severity>, status: i32, args: &Args) -> i32 {
    match written {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
            eprintln!("sipauth-diag: cannot write the report: {e}");
            EXIT_USAGE
        }
        _ if status != EXIT_CLEAN => status,
        _ if worst.is_some_and(|w| args.fail_on.threshold().is_some_and(|t| w >= t)) => {
            EXIT_FINDINGS
        }
        _ => EXIT_CLEAN,
    }
}

/// Runs the tool; returns the exit code.
pub fn run(args: Args) -> i32 {
    if args.completions.is_some() || args.man {
        return match print_generated(&args) {
            Err(e) if e.kind() != io::ErrorKind::BrokenPipe => {
                eprintln!("sipauth-diag: {e}");
                EXIT_USAGE
            }
            _ => EXIT_CLEAN,
        };
    }
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
    for (name, secs) in [
        ("--answer-timeout", args.answer_timeout),
        ("--late-answer", args.late_answer),
        ("--window", args.window),
    ] {
        if !(secs.is_finite() && secs >= 0.0) {
            eprintln!("sipauth-diag: {name} must be a number of seconds >= 0");
            return EXIT_USAGE;
        }
    }
    let credentials = match load_credentials(args.credentials.as_deref()) {
        Ok(c) => c,
        Err(code) => return code,
    };
    if let Some(unknown) = args
        .rule
        .iter()
        .find(|r| !RULES.iter().any(|k| k.id == r.as_str()))
    {
        eprintln!(
            "sipauth-diag: --rule {}: no such rule (see --list-rules)",
            report::sanitize::term(unknown)
        );
        return EXIT_USAGE;
    }
    let filter = Filter {
        users: args.user.clone(),
        ips: args.ip.clone(),
        call_ids: args.call_id.clone(),
        since: args.since,
        until: args.until,
        rules: args.rule.clone(),
        min_severity: args.min_severity.map(SeverityArg::severity),
    };
    let redaction = match args.redact {
        None => redact::Level::None,
        Some(RedactChoice::Secrets) => redact::Level::Secrets,
        Some(RedactChoice::All) => redact::Level::All,
    };
    // Runs that read their inputs twice (see below).
    let redacts_in_two_reads = redaction != redact::Level::None && filter.is_empty();
    let text_details = args.format == OutputFormat::Text && (args.ladder || args.details);
    // --details and --ladder are written in one read: the groups and
    // ladders that findings about the whole capture name are put together
    // again at the end. Masking needs its tables first: that reads twice.
    let text_details_in_one_read =
        text_details && filter.is_empty() && redaction == redact::Level::None;
    let details_in_two_reads = text_details && filter.is_empty() && !text_details_in_one_read;
    // What a finding filter or a time of day shows is known only at the
    // end: a first read finds it (an exchange filter alone may still keep
    // nearly everything, say the address of the only PBX).
    let selects_in_two_reads = !filter.is_empty() && !filter.decided_as_exchanges_finish();
    if args.format == OutputFormat::Jsonl && redaction != redact::Level::None && !filter.is_empty()
    {
        // Pseudonyms are numbered over what a filter shows, which the
        // stream cannot know while it writes.
        eprintln!("sipauth-diag: --format jsonl takes --redact only without filters; use --format json for both");
        return EXIT_USAGE;
    }
    let mut sources: Vec<Source> = (paths.iter())
        .map(|path| Source { path, copy: None })
        .collect();
    if redacts_in_two_reads || details_in_two_reads || selects_in_two_reads {
        // Standard input and pipes cannot be read twice: they are copied
        // to an unnamed temporary file (the size of the capture on disk,
        // removed when the run ends) rather than kept as a whole analysis
        // in memory.
        for s in &mut sources {
            s.copy_if_needed();
        }
    }
    let bar = progress_bar(&paths);
    let mut status = EXIT_CLEAN;
    let mut inputs = Vec::new();
    let mut opened = Vec::new();
    let text = capture::text::TextOptions {
        tz_offset_secs: args.tz,
    };
    for s in &sources {
        match open_input(s, &bar, &text) {
            Ok(i) => {
                inputs.push(i);
                opened.push(s);
            }
            Err(e) => {
                eprintln!(
                    "sipauth-diag: {}: {e}",
                    report::sanitize::term(&s.path.display().to_string())
                );
                status = EXIT_USAGE;
            }
        }
    }
    if inputs.is_empty() {
        return EXIT_USAGE;
    }
    let mut opts = Options {
        correlate: CorrelateConfig {
            answer_timeout: args.answer_timeout,
            ..CorrelateConfig::default()
        },
        rules: RuleConfig {
            loop_rounds: args.loop_rounds.max(2),
            credentials,
            answer_timeout: args.answer_timeout,
            late_answer: args.late_answer,
            // One failure or one username is never an attack.
            max_failures: args.max_failures.max(2),
            window: args.window,
            max_usernames: args.max_usernames.max(2),
        },
        single_thread: threads(args.threads) < 2,
        ..Options::default()
    };
    let mut sink: Box<dyn Write> = match &args.output {
        Some(path) => match File::create(path) {
            Ok(f) => Box::new(io::BufWriter::with_capacity(1 << 16, f)),
            Err(e) => {
                eprintln!("sipauth-diag: cannot write {}: {e}", path.display());
                return EXIT_USAGE;
            }
        },
        None => Box::new(io::BufWriter::with_capacity(1 << 16, io::stdout().lock())),
    };
    let files = opened.iter().all(|s| s.can_read_twice());
    let mut prep = Prepare {
        redactor: None,
        gate: None,
    };
    let mut capture_wide = None;
    if (redacts_in_two_reads || details_in_two_reads) && files {
        // A redacted report streams too: the capture is read twice, once
        // to learn every value to mask (which numbers the labels and
        // pseudonyms), once to write the report masked. Memory holds the
        // tables, one entry per distinct value, instead of the whole
        // analysis. The same first read gives masked --details and
        // --ladder the findings about the whole capture, so that each
        // exchange can be written complete as it finishes.
        let mut r = (redaction != redact::Level::None).then(|| redact::Redactor::new(redaction));
        // Findings are learned from only for the addresses they write.
        let learning = Options {
            without_rules: redaction == redact::Level::Secrets && !details_in_two_reads,
            // Addresses are learned from every finding's text only at
            // --redact=all; --details needs the capture-wide ones alone.
            only_capture_rules: redaction != redact::Level::All,
            ..opts.clone()
        };
        let mut first =
            analysis::analyze_streaming(inputs, &learning, &mut |mut ex, mut findings| {
                if let Some(r) = &mut r {
                    r.learn_exchange(&mut ex);
                    r.learn_findings(&mut findings);
                }
            });
        if let Some(r) = &mut r {
            r.learn_findings(&mut first.findings);
            r.learn_inputs(&mut first.inputs);
            r.seal();
        }
        if !learning.without_rules {
            // The second read takes the findings about the whole capture
            // from the first instead of working them out again.
            opts.capture_findings = Some(Arc::new(first.findings.clone()));
        }
        if details_in_two_reads {
            capture_wide = Some(std::mem::take(&mut first.findings));
        }
        drop(first);
        inputs = match reopen(&opened, &bar, &text) {
            Some(i) => i,
            None => return EXIT_USAGE,
        };
        prep.redactor = r;
    }
    if args.format == OutputFormat::Jsonl {
        // The stream is written as exchanges finish, before any report
        // model exists: a filter decided only at the end of the capture,
        // and redaction, need it read twice (standard input through a
        // temporary file).
        if (redaction != redact::Level::None && prep.redactor.is_none())
            || (selects_in_two_reads && !files)
        {
            eprintln!("sipauth-diag: --format jsonl reads standard input twice for --redact, --rule, --min-severity or a time of day, and no temporary file could be made for it; use --format json");
            return EXIT_USAGE;
        }
        let writer = if selects_in_two_reads {
            let selected = select_shown(inputs, &mut opts, &filter);
            let Some(again) = reopen(&opened, &bar, &text) else {
                return EXIT_USAGE;
            };
            inputs = again;
            crate::jsonl::JsonlWriter::selected(&mut sink, &filter, selected)
        } else if filter.is_empty() {
            crate::jsonl::JsonlWriter::new(&mut sink)
        } else {
            crate::jsonl::JsonlWriter::narrowed(&mut sink, &filter)
        };
        let mut writer = writer.redacted(redaction);
        let mut analysis =
            analysis::analyze_streaming(inputs, &opts, &mut |mut ex, mut findings| {
                if prep.exchange(&mut ex, &mut findings) {
                    writer.exchange(&ex, &findings)
                }
            });
        bar.finish_and_clear();
        prep.rest(&mut analysis);
        let (written, worst) = writer.finish(&analysis);
        let written = written.and_then(|_| sink.flush());
        return exit_status(written, worst, status, &args);
    }
    let unmasked_or_learned = redaction == redact::Level::None || prep.redactor.is_some();
    // A filter streams too when what it shows is known as each exchange
    // finishes: at once for users, addresses, Call-IDs and dates; after a
    // first read for --rule, --min-severity and times of day alone. (With
    // --redact, pseudonyms are numbered over what is shown, and --details
    // and --ladder draw it whole: those keep the exchanges shown.)
    if !filter.is_empty() && redaction == redact::Level::None && !text_details {
        if filter.decided_as_exchanges_finish() {
            prep.gate = Some(report::filter::Gate::new(&filter));
        } else if selects_in_two_reads && files {
            let selected = select_shown(inputs, &mut opts, &filter);
            inputs = match reopen(&opened, &bar, &text) {
                Some(i) => i,
                None => return EXIT_USAGE,
            };
            prep.gate = Some(report::filter::Gate::selected(&filter, selected));
        }
    }
    let streamable = filter.is_empty() || prep.gate.is_some();
    if args.format == OutputFormat::Json && unmasked_or_learned && streamable {
        // The whole report, written from exchanges as they finish: memory
        // holds counters and accounts, not the exchanges. Other filters
        // (and redaction that could not read its input twice) take the
        // path below.
        let (mut doc, warning) = report::json::JsonDoc::streaming();
        if let Some(w) = warning {
            eprintln!("sipauth-diag: warning: {}", report::sanitize::term(&w));
        }
        let mut analysis =
            analysis::analyze_streaming(inputs, &opts, &mut |mut ex, mut findings| {
                if prep.exchange(&mut ex, &mut findings) {
                    doc.exchange(&ex, &findings)
                }
            });
        bar.finish_and_clear();
        let scope = prep.rest(&mut analysis);
        doc.findings(&analysis.findings);
        let worst = doc.worst();
        let written = doc
            .finish(&analysis, scope.as_ref(), redaction, &mut sink)
            .and_then(|_| sink.flush());
        return exit_status(written, worst, status, &args);
    }
    if matches!(args.format, OutputFormat::Markdown | OutputFormat::Html)
        && unmasked_or_learned
        && streamable
    {
        // The report from exchanges as they finish: their sections wait in
        // a temporary file, memory holds counters and accounts. Filters
        // (and redaction that could not read its input twice) take the
        // path below, as does a run that cannot make a temporary file.
        let kind = match args.format {
            OutputFormat::Html => report::ticket::Ticket::Html,
            _ => report::ticket::Ticket::Markdown,
        };
        match report::ticket::TicketStream::new(kind) {
            Ok(doc) => {
                let mut doc = doc.redacted(redaction);
                let mut analysis =
                    analysis::analyze_streaming(inputs, &opts, &mut |mut ex, mut findings| {
                        if prep.exchange(&mut ex, &mut findings) {
                            doc.exchange(ex, findings)
                        }
                    });
                bar.finish_and_clear();
                if let Some(scope) = prep.rest(&mut analysis) {
                    doc.set_scope(scope);
                }
                doc.findings(&analysis.findings);
                let worst = doc.worst();
                let written = doc.finish(analysis, &mut sink).and_then(|_| sink.flush());
                return exit_status(written, worst, status, &args);
            }
            Err(e) => {
                let w = report::ticket::TicketStream::no_disk(kind, &e);
                eprintln!("sipauth-diag: warning: {}", report::sanitize::term(&w));
            }
        }
    }
    let text_options = report::text::TextOptions {
        color: use_color(args.color, args.output.is_some()),
        width: terminal_width(),
        ladder: args.ladder,
        details: args.details,
    };
    // --details and --ladder print every exchange: what they print waits
    // in temporary files, written as exchanges finish.
    let spool = match capture_wide {
        Some(mut wide) if args.format == OutputFormat::Text => {
            if let Some(r) = &mut prep.redactor {
                r.findings(&mut wide);
            }
            Some(report::text::DetailsSpool::new(&text_options, wide))
        }
        _ if text_details_in_one_read => {
            Some(report::text::DetailsSpool::in_one_read(&text_options))
        }
        _ => None,
    };
    let details = match spool {
        Some(Ok(spool)) => Some(spool),
        Some(Err(e)) => {
            eprintln!("sipauth-diag: warning: cannot create a temporary file ({e}; set TMPDIR to a writable directory): --details and --ladder keep the analysis in memory");
            None
        }
        None => None,
    };
    if args.format == OutputFormat::Text
        && (!text_details || details.is_some())
        && unmasked_or_learned
        && streamable
    {
        // The view from exchanges as they finish: memory holds counters,
        // accounts and rules, not the exchanges. Other filters (and runs
        // that could not read their input twice) take the path below.
        let mut view = report::text::TextStream::new().redacted(redaction);
        if let Some(spool) = details {
            view = view.spooling(spool);
        }
        let mut analysis =
            analysis::analyze_streaming(inputs, &opts, &mut |mut ex, mut findings| {
                if prep.exchange(&mut ex, &mut findings) {
                    view.exchange(ex, findings)
                }
            });
        bar.finish_and_clear();
        if let Some(scope) = prep.rest(&mut analysis) {
            view.set_scope(scope);
        }
        view.findings(&analysis.findings);
        let worst = view.worst();
        let written = view
            .finish(analysis, &text_options, &mut sink)
            .and_then(|_| sink.flush());
        return exit_status(written, worst, status, &args);
    }
    let report = if files && selects_in_two_reads {
        // A finding filter or a time of day alone cannot narrow as
        // exchanges finish (a capture-wide finding can name an exchange
        // long gone; the day is that of the capture's first exchange): a
        // first read finds the exchanges shown, a second keeps only them.
        let selected = select_shown(inputs, &mut opts, &filter);
        let Some(inputs) = reopen(&opened, &bar, &text) else {
            return EXIT_USAGE;
        };
        let mut narrowing = report::filter::Narrowing::of_ids(&filter, selected);
        let streamed = analysis::analyze_streaming(inputs, &opts, &mut |ex, findings| {
            narrowing.exchange(ex, findings)
        });
        bar.finish_and_clear();
        let (analysis, whole) = narrowing.finish(streamed);
        Report::build_narrowed(analysis, whole, &filter, redaction)
    } else if filter.selects_exchanges() {
        // Only the exchanges the filter may show are kept as they finish:
        // narrowing a large capture to one account, address or Call-ID
        // needs the memory of what is shown. The report is the same.
        let mut narrowing = report::filter::Narrowing::new(&filter);
        let streamed = analysis::analyze_streaming(inputs, &opts, &mut |ex, findings| {
            narrowing.exchange(ex, findings)
        });
        bar.finish_and_clear();
        let (analysis, whole) = narrowing.finish(streamed);
        Report::build_narrowed(analysis, whole, &filter, redaction)
    } else {
        let analysis = analysis::analyze(inputs, &opts);
        bar.finish_and_clear();
        Report::build(analysis, &filter, redaction)
    };
    let written = match args.format {
        OutputFormat::Text => report::text::write(&report, &text_options, &mut sink),
        OutputFormat::Json => report::json::write(&report, &mut sink),
        OutputFormat::Markdown => report::markdown::write(&report, &mut sink),
        OutputFormat::Html => report::html::write(&report, &mut sink),
        OutputFormat::Jsonl => unreachable!("streamed above"),
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
        Some(t) if report.analysis.findings.iter().any(|f| f.severity >= t) => EXIT_FINDINGS,
        _ => EXIT_CLEAN,
    }
}
