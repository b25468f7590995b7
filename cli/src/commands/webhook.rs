//! `strata webhook add|ls|rm|deliveries`.

use crate::app::App;
use crate::args::WebhookCommand;
use crate::output;

pub async fn run(app: &App, cmd: WebhookCommand) -> anyhow::Result<()> {
    match cmd {
        WebhookCommand::Add { tenant, url, events, secret } => {
            let r = app.store.add_webhook(&tenant, &url, &events, secret, "cli").await?;
            let names: Vec<&str> = r.webhook.events.iter().map(|e| e.as_str()).collect();
            println!(
                "Registered webhook {} for tenant {tenant}: {} ({}).",
                r.webhook.id,
                r.webhook.url,
                names.join(", ")
            );
            println!("Deliveries are signed with this secret (Strata-Signature header); it is shown once:");
            println!("{}", r.secret);
        }
        WebhookCommand::Ls { tenant, json } => {
            let hooks = app.store.webhooks(tenant.as_ref()).await?;
            if json {
                return output::json(&hooks);
            }
            let mut t = output::table(&["id", "tenant", "url", "events", "source", "created"]);
            for h in &hooks {
                let names: Vec<&str> = h.events.iter().map(|e| e.as_str()).collect();
                t.add_row(vec![
                    h.id.clone(),
                    h.tenant.clone(),
                    output::text(&h.url),
                    names.join(", "),
                    h.source.to_owned(),
                    output::time_or(h.created_at, "-"),
                ]);
            }
            println!("{t}");
        }
        WebhookCommand::Rm { tenant, id } => {
            app.store.remove_webhook(&tenant, &id, "cli").await?;
            println!("Removed webhook {id} of tenant {tenant}.");
        }
        WebhookCommand::Deliveries { id, limit, json } => {
            let deliveries = app.store.catalog().webhook_deliveries(&id, limit).await?;
            if json {
                return output::json(&deliveries);
            }
            let mut t =
                output::table(&["id", "event", "key", "occurred", "attempts", "status", "delivered", "last error"]);
            for d in &deliveries {
                t.add_row(vec![
                    d.id.to_string(),
                    d.event.clone(),
                    d.idempotency_key.clone(),
                    output::time(d.occurred_at),
                    d.attempts.to_string(),
                    d.last_status.map_or_else(|| "-".to_owned(), |s| s.to_string()),
                    output::time_or(d.delivered_at, "-"),
                    output::text(d.last_error.as_deref().unwrap_or("")),
                ]);
            }
            println!("{t}");
        }
    }
    Ok(())
}
