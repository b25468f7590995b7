//! `strata tenant add|set-plan|ls|token create|token ls|token revoke`.

use crate::app::App;
use crate::args::{TenantCommand, TokenCommand};
use crate::output;

/// A plan's retention for display.
fn retention(app: &App, plan: &str) -> String {
    app.store.config().plan_days(plan).days().map_or_else(|| "unlimited".to_owned(), |d| format!("{d} days"))
}

pub async fn run(app: &App, cmd: TenantCommand) -> anyhow::Result<()> {
    match cmd {
        TenantCommand::Add { name, plan } => {
            let t = app.store.add_tenant(&name, &plan, "cli").await?;
            let days = retention(app, &t.plan);
            println!("Added tenant {} on plan {} (retention {days}).", t.name, t.plan);
        }
        TenantCommand::SetPlan { name, plan } => {
            let n = app.store.set_plan(&name, &plan, "cli").await?;
            println!(
                "Moved tenant {name} to plan {plan} (retention {}); recomputed the expiry of {n} artifacts.",
                retention(app, &plan)
            );
        }
        TenantCommand::Ls { json } => {
            let tenants = app.store.catalog().tenants().await?;
            if json {
                return output::json(&tenants);
            }
            let mut t = output::table(&["tenant", "plan", "retention", "created"]);
            for tenant in &tenants {
                let days = retention(app, &tenant.plan);
                t.add_row(vec![tenant.name.to_string(), tenant.plan.clone(), days, output::time(tenant.created_at)]);
            }
            println!("{t}");
        }
        TenantCommand::Token(TokenCommand::Create { name }) => {
            let created = app.store.create_token(&name, "cli").await?;
            println!("Created API token {} for tenant {name}. It is shown once and cannot be recovered:", created.id);
            println!("{}", created.token);
        }
        TenantCommand::Token(TokenCommand::Ls { name, json }) => {
            let tokens = app.store.catalog().tokens(name.as_ref()).await?;
            if json {
                return output::json(&tokens);
            }
            let mut t = output::table(&["id", "tenant", "created", "by", "revoked"]);
            for token in &tokens {
                t.add_row(vec![
                    token.id.to_string(),
                    token.tenant.clone(),
                    output::time(token.created_at),
                    output::text(&token.created_by),
                    output::time_or(token.revoked_at, "-"),
                ]);
            }
            println!("{t}");
        }
        TenantCommand::Token(TokenCommand::Revoke { name, id }) => {
            app.store.revoke_token(&name, id, "cli").await?;
            println!("Revoked token {id} of tenant {name}.");
        }
    }
    Ok(())
}
