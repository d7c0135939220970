//! Runs a relay by hand, as `confab relay` will:
//!
//! ```text
//! cargo run -p relay --example relay -- --listen 127.0.0.1:50001 --to 127.0.0.1:50000 \
//!     --loss 5 --delay 20 --rate 100mbit --queue 1bdp --stats-every 5
//! ```
//!
//! Ctrl-C stops it and prints the report.

use clap::Parser;
use relay::{Relay, RelayArgs, RelayConfig};

/// A network-impairment relay: forwards TCP untouched, impairs UDP both ways.
#[derive(Debug, Parser)]
struct Cli {
    #[command(flatten)]
    relay: RelayArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let config = RelayConfig::try_from(Cli::parse().relay)?;
    let relay = Relay::bind(config).await?;
    eprintln!("relaying on {} (Ctrl-C stops)", relay.local_addr());
    let report = relay
        .run(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    println!("{report}");
    Ok(())
}
