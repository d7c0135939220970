//! `confab relay`: wires the `relay` crate to the command line.

use anyhow::Context;

/// The relay's flags (defined next to the relay itself, so its tests cover their parsing).
pub(crate) type Args = relay::RelayArgs;

/// Runs the relay until Ctrl-C or SIGTERM, then prints its report to stdout.
pub(crate) async fn run(args: Args) -> anyhow::Result<()> {
    crate::serve::init_logging();
    let config = relay::RelayConfig::try_from(args).context("bad relay settings")?;
    // `{}` of the error (not anyhow's chain): the relay's errors already carry their cause.
    let relay = relay::Relay::bind(config)
        .await
        .map_err(|err| anyhow::anyhow!("{err}"))?;
    let config = relay.config();
    println!(
        "confab relay listening on {} → {} (up: {}; down: {}); Ctrl-C stops",
        relay.local_addr(),
        config.target,
        config.up,
        config.down
    );
    let _ = std::io::Write::flush(&mut std::io::stdout());
    let report = relay
        .run(crate::serve::shutdown_signal())
        .await
        .map_err(|err| anyhow::anyhow!("{err}"))?;
    println!("{report}");
    Ok(())
}
