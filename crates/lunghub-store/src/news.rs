//! News posts (migration 0007). Publishing a post and queueing its mail to the subscribers
//! is one transaction: a post is never public without its mail queued, nor mailed twice.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::StoreError;
use crate::catalog::now_ns;
use crate::mail::{NewMail, insert_mails};
use crate::platform::{Platform, random_id};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NewsPost {
    pub id: String,
    pub title: String,
    /// Markdown.
    pub body: String,
    /// What drafted it, for a draft an event made.
    pub event: Option<String>,
    pub author: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub published_at: Option<i64>,
    pub published_by: Option<String>,
}

/// A confirmed subscriber, with the token of their unsubscribe link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscriber {
    pub email: String,
    pub unsubscribe_token: String,
    /// The language of the pages they subscribed from ("en", "it"), if known.
    pub lang: Option<String>,
}

const COLUMNS: &str =
    "id, title, body, event, author, created_at, updated_at, published_at, published_by";

fn post(row: &AnyRow) -> Result<NewsPost, sqlx::Error> {
    Ok(NewsPost {
        id: row.try_get("id")?,
        title: row.try_get("title")?,
        body: row.try_get("body")?,
        event: row.try_get("event")?,
        author: row.try_get("author")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        published_at: row.try_get("published_at")?,
        published_by: row.try_get("published_by")?,
    })
}

impl Platform {
    /// A new draft by `author`.
    pub async fn create_post(
        &self,
        title: &str,
        body: &str,
        author: &str,
    ) -> Result<NewsPost, StoreError> {
        let id = random_id()?;
        let now = now_ns();
        sqlx::query(
            "INSERT INTO news_posts (id, title, body, author, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5)",
        )
        .bind(&id)
        .bind(title)
        .bind(body)
        .bind(author)
        .bind(now)
        .execute(&self.pool)
        .await?;
        self.post(&id).await?.ok_or(StoreError::NotFound("post"))
    }

    /// A draft an event made, once per event: returns None if the event had one already.
    pub async fn draft_post_for_event(
        &self,
        event: &str,
        title: &str,
        body: &str,
    ) -> Result<Option<NewsPost>, StoreError> {
        let id = random_id()?;
        let now = now_ns();
        let done = sqlx::query(
            "INSERT INTO news_posts (id, title, body, event, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT DO NOTHING",
        )
        .bind(&id)
        .bind(title)
        .bind(body)
        .bind(event)
        .bind(now)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        self.post(&id).await
    }

    /// Whether an event has drafted its post already.
    pub async fn has_post_for_event(&self, event: &str) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT 1 AS one FROM news_posts WHERE event = $1")
            .bind(event)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.is_some())
    }

    /// Changes a draft; a published post stays as it was sent.
    pub async fn update_post(&self, id: &str, title: &str, body: &str) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE news_posts SET title = $1, body = $2, updated_at = $3 WHERE id = $4 AND published_at IS NULL",
        )
        .bind(title)
        .bind(body)
        .bind(now_ns())
        .bind(id)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return match self.post(id).await? {
                None => Err(StoreError::NotFound("post")),
                Some(_) => Err(StoreError::Conflict(
                    "this post is published and was mailed as it is; it can no longer be changed"
                        .into(),
                )),
            };
        }
        Ok(())
    }

    /// Deletes a draft.
    pub async fn delete_draft(&self, id: &str) -> Result<(), StoreError> {
        let done = sqlx::query("DELETE FROM news_posts WHERE id = $1 AND published_at IS NULL")
            .bind(id)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("draft"));
        }
        Ok(())
    }

    pub async fn post(&self, id: &str) -> Result<Option<NewsPost>, StoreError> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM news_posts WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(post).transpose()?)
    }

    /// Published posts, newest first.
    pub async fn published_posts(&self, limit: i64) -> Result<Vec<NewsPost>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM news_posts WHERE published_at IS NOT NULL ORDER BY published_at DESC, id LIMIT $1"
        ))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(post).collect::<Result<_, _>>()?)
    }

    /// Drafts, newest first.
    pub async fn draft_posts(&self) -> Result<Vec<NewsPost>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM news_posts WHERE published_at IS NULL ORDER BY updated_at DESC, id"
        ))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(post).collect::<Result<_, _>>()?)
    }

    /// Confirmed subscribers who have not left, with their unsubscribe tokens.
    pub async fn subscribers_to_mail(&self) -> Result<Vec<Subscriber>, StoreError> {
        let rows = sqlx::query(
            "SELECT email, unsubscribe_token, lang FROM subscribers WHERE confirmed_at IS NOT NULL AND unsubscribed_at IS NULL ORDER BY email",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Subscriber {
                    email: r.try_get("email")?,
                    unsubscribe_token: r.try_get("unsubscribe_token")?,
                    lang: r.try_get("lang")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// The address an unsubscribe token belongs to, and whether it still gets news.
    pub async fn subscription(&self, token: &str) -> Result<Option<(String, bool)>, StoreError> {
        let row = sqlx::query(
            "SELECT email, confirmed_at, unsubscribed_at FROM subscribers WHERE unsubscribe_token = $1",
        )
        .bind(token)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let active = row.try_get::<Option<i64>, _>("confirmed_at")?.is_some()
            && row.try_get::<Option<i64>, _>("unsubscribed_at")?.is_none();
        Ok(Some((row.try_get("email")?, active)))
    }

    /// Publishes a draft and queues `mails` with it, in one transaction; returns how many
    /// mails were queued. A post already published is a conflict, and nothing is queued.
    pub async fn publish_post(
        &self,
        id: &str,
        by: &str,
        mails: &[NewMail],
    ) -> Result<u64, StoreError> {
        let now = now_ns();
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE news_posts SET published_at = $1, published_by = $2 WHERE id = $3 AND published_at IS NULL",
        )
        .bind(now)
        .bind(by)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            drop(tx);
            return match self.post(id).await? {
                None => Err(StoreError::NotFound("post")),
                Some(_) => Err(StoreError::Conflict(
                    "this post is already published".into(),
                )),
            };
        }
        let queued = insert_mails(&mut tx, mails, now).await?;
        tx.commit().await?;
        Ok(queued)
    }
}
