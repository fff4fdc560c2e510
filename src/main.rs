use clap::Parser;

/// mimalloc, set to give memory back at once (`sipauth_diag::allocator`).
#[global_allocator]
static ALLOCATOR: sipauth_diag::allocator::MiMalloc = sipauth_diag::allocator::MiMalloc;

/// The allocator's options, set by the loader before `main` and before the
/// runtime's first allocation (which reserves mimalloc's first arena).
#[cfg(target_os = "linux")]
#[used]
#[link_section = ".init_array"]
static SET_UP_ALLOCATOR: extern "C" fn() = sipauth_diag::allocator::return_memory_promptly;

fn main() {
    // Elsewhere, as early as the program can.
    #[cfg(not(target_os = "linux"))]
    sipauth_diag::allocator::return_memory_promptly();
    let args = sipauth_diag::cli::Args::parse();
    std::process::exit(sipauth_diag::cli::run(args));
}
