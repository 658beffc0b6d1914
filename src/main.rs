//! The `paminn` binary: parses the command line and hands over to the
//! library. Nothing else lives here.

use clap::Parser;

#[tokio::main]
async fn main() {
    let cli = paminn::cli::Cli::parse();
    let code = match paminn::cli::run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            1
        }
    };
    std::process::exit(code);
}
