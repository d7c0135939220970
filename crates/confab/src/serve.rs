//! `confab server`: bind, announce the address, serve until Ctrl-C or SIGTERM.

use std::io::Write;

use anyhow::{Context, Result};
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

/// Logs go to stderr (`RUST_LOG` to tune, `info` by default); stdout carries only the lines
/// that scripts and tests read.
pub(crate) fn init_logging() {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

pub(crate) async fn run(bind: &str, config: server::Config) -> Result<()> {
    init_logging();

    let listener = TcpListener::bind(bind)
        .await
        .with_context(|| format!("cannot listen on {bind}"))?;
    let addr = listener
        .local_addr()
        .context("cannot read the listening address")?;
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(
            out,
            "confab server listening on {addr} (data: {})",
            config.data_dir.display()
        );
        let _ = out.flush();
    }
    server::run(listener, config, shutdown_signal())
        .await
        .context("server failed")?;
    Ok(())
}

/// Completes on Ctrl-C or SIGTERM.
pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut sig) => {
                sig.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("Ctrl-C received"),
        () = term => tracing::info!("SIGTERM received"),
    }
}
