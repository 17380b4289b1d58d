//! The mail queue and news posts on SQLite and on a real PostgreSQL
//! (LUNGHUB_TEST_POSTGRES_URL, started by `.ci/run`).

use lunghub_store::mail::{MailDone, NewMail};
use lunghub_store::{Catalog, Platform, StoreError, now_ns};

const SECOND: i64 = 1_000_000_000;

async fn exercise(platform: Platform) {
    // Queued mail is leased once, and comes back when a lease runs out.
    let mails: Vec<NewMail> = (0..5)
        .map(|i| NewMail::new(&format!("r{i}@example.org"), "Hello", "Body"))
        .collect();
    assert_eq!(platform.queue_mails(&mails).await.expect("queue"), 5);
    let now = now_ns();
    let (first, held) = platform
        .lease_due_mail(now, 60 * SECOND, 3)
        .await
        .expect("lease");
    assert_eq!(held.len(), 3);
    assert!(held.iter().all(|m| m.attempts == 1));
    let (second, rest) = platform
        .lease_due_mail(now, 60 * SECOND, 10)
        .await
        .expect("lease");
    assert_eq!(rest.len(), 2, "a leased mail is not leased again");
    assert_ne!(first, second);
    let (_, none) = platform
        .lease_due_mail(now, 60 * SECOND, 10)
        .await
        .expect("lease");
    assert!(none.is_empty());

    // Outcomes: sent, kept for the admin, tried again later.
    platform
        .mail_done(&held[0].id, &first, MailDone::Sent, None)
        .await
        .expect("sent");
    platform
        .mail_done(
            &held[1].id,
            &first,
            MailDone::Outbox,
            Some("550 no such user"),
        )
        .await
        .expect("outbox");
    platform
        .mail_later(&held[2].id, &first, now + 30 * SECOND, "421 busy")
        .await
        .expect("later");
    // A stale lease changes nothing.
    platform
        .mail_done(&rest[0].id, &first, MailDone::Sent, None)
        .await
        .expect("stale");
    let counts = platform.mail_counts().await.expect("counts");
    assert_eq!((counts.queued, counts.sent, counts.outbox), (3, 1, 1));

    // The retried mail is not due yet; the two still leased come back after their lease,
    // as after a sender was killed.
    let later = now + 61 * SECOND;
    assert_eq!(
        platform.next_mail_due().await.expect("due"),
        Some(now + 30 * SECOND)
    );
    let (_, back) = platform
        .lease_due_mail(later, 60 * SECOND, 10)
        .await
        .expect("lease");
    let mut back: Vec<_> = back.iter().map(|m| (m.to.clone(), m.attempts)).collect();
    back.sort();
    let mut expected: Vec<_> = [&held[2], &rest[0], &rest[1]]
        .iter()
        .map(|m| (m.to.clone(), 2))
        .collect();
    expected.sort();
    assert_eq!(back, expected);

    // News: a draft, edited, then published with its mail, once.
    let post = platform
        .create_post("First", "Hello *world*", "author-1")
        .await
        .expect("post");
    platform
        .update_post(&post.id, "First post", "Hello **world**")
        .await
        .expect("edit");
    assert!(platform.published_posts(10).await.expect("list").is_empty());
    let news: Vec<NewMail> = ["a@example.org", "b@example.org"]
        .iter()
        .map(|to| NewMail {
            unsubscribe_url: Some(format!("https://example.org/unsubscribe/{to}")),
            dedupe_key: Some(format!("news:{}:{to}", post.id)),
            ..NewMail::new(to, "First post", "Hello")
        })
        .collect();
    assert_eq!(
        platform
            .publish_post(&post.id, "author-1", &news)
            .await
            .expect("publish"),
        2
    );
    assert!(matches!(
        platform.publish_post(&post.id, "author-1", &news).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        platform
            .update_post(&post.id, "Changed", "after the fact")
            .await,
        Err(StoreError::Conflict(_))
    ));
    // Queued twice under the same key: once.
    assert_eq!(platform.queue_mails(&news).await.expect("queue"), 0);
    let published = platform.published_posts(10).await.expect("list");
    assert_eq!(published.len(), 1);
    assert_eq!(published[0].title, "First post");
    assert!(published[0].published_at.is_some());

    // An event drafts its post once.
    assert!(
        platform
            .draft_post_for_event("release:covid-rx:1", "Release", "…")
            .await
            .expect("draft")
            .is_some()
    );
    assert!(
        platform
            .draft_post_for_event("release:covid-rx:1", "Release", "…")
            .await
            .expect("draft")
            .is_none()
    );
    assert!(
        platform
            .has_post_for_event("release:covid-rx:1")
            .await
            .expect("has")
    );
    assert!(
        !platform
            .has_post_for_event("release:covid-rx:2")
            .await
            .expect("has")
    );
    let drafts = platform.draft_posts().await.expect("drafts");
    assert_eq!(drafts.len(), 1);
    platform.delete_draft(&drafts[0].id).await.expect("delete");
    assert!(matches!(
        platform.delete_draft(&post.id).await,
        Err(StoreError::NotFound(_))
    ));
}

#[tokio::test]
async fn the_mail_queue_and_news_work_on_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    exercise(
        Catalog::open(&Catalog::sqlite_url(dir.path()))
            .await
            .expect("open")
            .platform(),
    )
    .await;
}

#[tokio::test]
async fn the_mail_queue_and_news_work_on_postgres() {
    let admin = std::env::var("LUNGHUB_TEST_POSTGRES_URL")
        .expect("LUNGHUB_TEST_POSTGRES_URL is not set: run the tests through `bash .ci/run`, which starts PostgreSQL");
    let url = lunghub_store::testing::fresh_postgres_database(&admin)
        .await
        .expect("fresh database");
    exercise(Catalog::open(&url).await.expect("open").platform()).await;
}
