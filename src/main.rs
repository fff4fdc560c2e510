use clap::Parser;

fn main() {
    let args = sipauth_diag::cli::Args::parse();
    std::process::exit(sipauth_diag::cli::run(args));
}
