use clap::Parser;

// mimalloc, set up before main to give memory back promptly
// (sipauth_diag::allocator).
sipauth_diag::install_allocator!();

fn main() {
    // Elsewhere than Linux, as early as the program can.
    #[cfg(not(target_os = "linux"))]
    sipauth_diag::allocator::return_memory_promptly();
    let args = sipauth_diag::cli::Args::parse();
    std::process::exit(sipauth_diag::cli::run(args));
}
