//! Events that draft a news post for a coordinator to publish: a new release, an institute
//! reaching "Dataset available", a challenge's close with its private leaderboard. Each
//! event drafts once (the post's `event` key is unique); nothing is published or mailed
//! without a person.

use lunghub_release::card::text;
use lunghub_store::ReleaseRecord;
use lunghub_store::platform::Institute;

use crate::challenges::private_leaderboard;
use crate::{Shared, WebError, now_ns};

/// A release was written.
pub async fn draft_for_release(app: &Shared, r: &ReleaseRecord) -> Result<(), WebError> {
    let title = format!("New dataset release: {} v{}", r.name, r.version);
    let body = format!(
        "Version {} of the open dataset **{}** is out: {} files, {} in all, de-identified and ready to download.\n\nDownload it, with its dataset card and checksums: {}\n",
        r.version,
        text(&r.name),
        r.files,
        crate::layout::stored_size(r.bytes),
        app.link(&format!("/releases/{}/{}", r.name, r.version)),
    );
    app.platform
        .draft_post_for_event(&format!("release:{}:{}", r.name, r.version), &title, &body)
        .await?;
    Ok(())
}

/// An institute reached the last stage.
pub async fn draft_for_dataset_available(app: &Shared, i: &Institute) -> Result<(), WebError> {
    let title = format!("{}: dataset available", i.name);
    let body = format!(
        "Thanks to the staff of **{}** ({}), their de-identified images are now part of lunghub's open datasets.\n\nSee every hospital's progress: {}\n",
        text(&i.name),
        text(&i.location),
        app.link("/status"),
    );
    app.platform
        .draft_post_for_event(&format!("institute:{}", i.id), &title, &body)
        .await?;
    Ok(())
}

/// Every challenge that has closed and has no post yet, with its private leaderboard.
pub async fn draft_closed_challenges(app: &Shared) -> Result<(), WebError> {
    let now = now_ns();
    for c in app.platform.challenges().await? {
        let event = format!("challenge:{}", c.id);
        if !c.is_closed(now) || app.platform.has_post_for_event(&event).await? {
            continue;
        }
        let submissions = app.platform.submissions(&c.id, now).await?;
        let Some(board) = private_leaderboard(&submissions) else {
            continue;
        };
        let mut rows = String::new();
        for s in board.iter().take(10) {
            let auc = s
                .scores
                .auc
                .map(|a| format!("{a:.3}"))
                .unwrap_or_else(|| "–".into());
            rows.push_str(&format!(
                "| {} | {}{} | {auc} |\n",
                s.rank,
                text(&s.participant),
                if s.baseline { " (baseline)" } else { "" },
            ));
        }
        let body = if rows.is_empty() {
            format!(
                "The challenge **{}** has closed with no submissions.\n",
                text(&c.title)
            )
        } else {
            format!(
                "The challenge **{}** has closed. On the private test set, which nobody saw before the close:\n\n| Rank | Participant | AUC |\n|---|---|---|\n{rows}\nThe full leaderboard, with intervals and write-ups: {}\n",
                text(&c.title),
                app.link(&format!("/challenges/{}", c.id)),
            )
        };
        app.platform
            .draft_post_for_event(&event, &format!("Challenge closed: {}", c.title), &body)
            .await?;
    }
    Ok(())
}

/// Drafts the posts of challenges as they close, every ten minutes, until the process ends.
pub async fn run(app: Shared) {
    loop {
        if let Err(e) = draft_closed_challenges(&app).await {
            eprintln!("error: news: cannot draft the posts of closed challenges: {e}");
        }
        tokio::time::sleep(std::time::Duration::from_secs(600)).await;
    }
}
