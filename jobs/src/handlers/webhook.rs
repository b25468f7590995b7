//! Delivering one webhook notice. The notice's row says whether it is still
//! owed: a delivered one is a duplicate delivery of the job (stale), one
//! whose endpoint was removed is skipped. Each attempt is recorded on the
//! row; a 2xx answer marks it delivered. Any other answer, or none, is
//! retried with backoff until the kind's attempts are spent, then
//! dead-lettered; an endpoint on a non-public address is dead-lettered at
//! once (retrying cannot make it public).

use super::{Context, JobError, Outcome};
use crate::notify::Sent;
use crate::payload::Job;

pub(super) async fn run(ctx: &Context, job: &Job) -> Result<Outcome, JobError> {
    let Some(id) = job.notice else {
        return Err(JobError::Abort("a webhook job without its notice".into()));
    };
    let catalog = ctx.store.catalog();
    let Some(notice) = catalog.webhook_delivery(id).await? else {
        return Ok(Outcome::Stale);
    };
    if notice.delivered_at.is_some() {
        return Ok(Outcome::Stale);
    }
    let Some(hook) = ctx.store.find_webhook(&notice.webhook_id).await? else {
        catalog.notice_attempted(id, None, Some("the endpoint was removed"), None).await?;
        return Ok(Outcome::Skipped);
    };
    ctx.step("webhook.before_send")?;
    let sender = ctx.sender().map_err(JobError::Abort)?;
    let sent = sender.send(&hook.url, &hook.secret, &notice, ctx.store.now().timestamp()).await;
    ctx.step("webhook.after_send")?;
    match sent {
        Sent::Delivered(status) => {
            catalog.notice_attempted(id, Some(status), None, Some(ctx.store.now())).await?;
            Ok(Outcome::Done)
        }
        Sent::Refused(status) => {
            let why = if (300..400).contains(&status) {
                format!("{} answered {status} (redirects are not followed)", hook.url)
            } else {
                format!("{} answered {status}", hook.url)
            };
            catalog.notice_attempted(id, Some(status), Some(&why), None).await?;
            Err(JobError::Retry(why))
        }
        Sent::Failed(why) => {
            let why = format!("{}: {why}", hook.url);
            catalog.notice_attempted(id, None, Some(&why), None).await?;
            Err(JobError::Retry(why))
        }
        Sent::Private(why) => {
            catalog.notice_attempted(id, None, Some(&why), None).await?;
            Err(JobError::Abort(why))
        }
    }
}
