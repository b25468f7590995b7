//! `strata serve`: the HTTP API until SIGINT or SIGTERM.

use crate::app::App;
use crate::args::ServeArgs;
use crate::commands::ops::shutdown_signal;
use anyhow::Context as _;
use std::io::Write;
use strata_api::state::ApiState;

pub async fn run(app: &App, args: ServeArgs) -> anyhow::Result<()> {
    let listen = args.listen.unwrap_or_else(|| app.store.config.api.listen.clone());
    let listener =
        tokio::net::TcpListener::bind(&listen).await.with_context(|| format!("cannot listen on {listen}"))?;
    let address = listener.local_addr()?;
    if app.store.config.api.admin_token.is_none() {
        eprintln!(
            "No admin token is configured (STRATA_ADMIN_TOKEN or [api] admin_token): operator routes answer 401."
        );
    }
    // The first line of standard output says where the API is, for scripts
    // that pass port 0.
    println!("Listening on http://{address}");
    std::io::stdout().flush()?;
    let mut stop = shutdown_signal();
    let shutdown = async move {
        let _ = stop.wait_for(|stop| *stop).await;
    };
    strata_api::serve(listener, ApiState::new(app.store.clone(), app.queue.clone()), shutdown).await?;
    eprintln!("Stopped serving on http://{address}.");
    Ok(())
}
