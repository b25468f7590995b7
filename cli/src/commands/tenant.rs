//! `strata tenant add|ls`.

use crate::app::App;
use crate::args::TenantCommand;
use crate::output;

pub async fn run(app: &App, cmd: TenantCommand) -> anyhow::Result<()> {
    match cmd {
        TenantCommand::Add { name, plan } => {
            let t = app.store.add_tenant(&name, &plan, "cli").await?;
            let days = app
                .store
                .config
                .plan_days(&t.plan)
                .days()
                .map_or_else(|| "unlimited".to_owned(), |d| format!("{d} days"));
            println!("Added tenant {} on plan {} (retention {days}).", t.name, t.plan);
        }
        TenantCommand::Ls { json } => {
            let tenants = app.store.catalog.tenants().await?;
            if json {
                return output::json(&tenants);
            }
            let mut t = output::table(&["tenant", "plan", "retention", "created"]);
            for tenant in &tenants {
                let days = app
                    .store
                    .config
                    .plan_days(&tenant.plan)
                    .days()
                    .map_or_else(|| "unlimited".to_owned(), |d| format!("{d} days"));
                t.add_row(vec![tenant.name.to_string(), tenant.plan.clone(), days, output::time(tenant.created_at)]);
            }
            println!("{t}");
        }
    }
    Ok(())
}
