//! `warden serve`: the decision pipeline as a long-running server.

use std::net::SocketAddr;

use anyhow::{Context, Result};
use warden_server::{AppState, ServerOptions};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    engine: super::EngineArgs,
    /// Scanning listener: Warden's HTTP API and Rspamd's /checkv2 and /ping. Loopback by
    /// default; port 0 picks a free one (the address is printed).
    #[arg(long, default_value_t = ServerOptions::default().listen)]
    listen: SocketAddr,
    /// Largest message accepted, in bytes; larger ones get 413.
    #[arg(long, default_value_t = ServerOptions::default().max_message_bytes)]
    max_message_bytes: usize,
    /// Worker threads (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
}

pub fn run(args: Args) -> Result<()> {
    let engine = args.engine.engine()?;
    let options = ServerOptions { listen: args.listen, max_message_bytes: args.max_message_bytes };
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = args.threads {
        runtime.worker_threads(n.max(1));
    }
    let runtime = runtime.enable_all().build().context("cannot start the async runtime")?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(options.listen)
            .await
            .with_context(|| format!("cannot listen on {}", options.listen))?;
        let state = AppState::new(engine);
        eprintln!("warden: listening on http://{}", listener.local_addr()?);
        warden_server::serve(listener, state, &options, shutdown_signal()).await?;
        eprintln!("warden: stopped");
        Ok(())
    })
}

/// Resolves on Ctrl-C or SIGTERM: the server then stops accepting and drains what it has.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
