//! Challenges, submissions and personal API tokens (issue 8).
//!
//! The one rule kept here: a submission's private scores leave this module only when its
//! challenge has closed. Every read takes the time it is asked at, and a row read before
//! the close comes back with `private_scores: None`, so no page or API built on this code
//! can show them early.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::StoreError;
use crate::catalog::now_ns;
use crate::platform::{Account, BearerTable, Platform, random_id, revoke_bearer, use_bearer};

const API_TOKENS: BearerTable = BearerTable {
    table: "api_tokens",
    owner: "account_id",
};

const DAY_NS: i64 = 86_400 * 1_000_000_000;

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Challenge {
    pub id: String,
    pub track_id: String,
    pub title: String,
    pub description: String,
    pub release_name: String,
    pub release_version: i64,
    pub task: String,
    pub threshold: f64,
    pub opens_at: i64,
    pub closes_at: i64,
    pub daily_limit: i64,
    pub total_limit: i64,
    pub created_by: String,
    pub created_at: i64,
}

impl Challenge {
    pub fn is_open(&self, now: i64) -> bool {
        self.opens_at <= now && now < self.closes_at
    }

    pub fn is_closed(&self, now: i64) -> bool {
        now >= self.closes_at
    }

    /// "opens soon", "open" or "closed", as pages and the API say it.
    pub fn state(&self, now: i64) -> &'static str {
        match self.date_refusal(now) {
            Some(Refusal::NotOpenYet) => "opens soon",
            Some(_) => "closed",
            None => "open",
        }
    }

    /// Why nothing may be submitted at `now`, if the dates say so.
    pub fn date_refusal(&self, now: i64) -> Option<Refusal> {
        if now < self.opens_at {
            Some(Refusal::NotOpenYet)
        } else if self.is_closed(now) {
            Some(Refusal::Closed)
        } else {
            None
        }
    }
}

/// One image of a challenge's test set, with its sequestered finding.
#[derive(Debug, Clone, PartialEq)]
pub struct ChallengeCase {
    pub file: String,
    pub patient: String,
    pub source: String,
    pub finding: String,
    pub item_id: String,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Submission {
    pub id: String,
    pub challenge_id: String,
    pub account_id: String,
    /// The participant's name, as their account gives it.
    pub participant: String,
    pub at: i64,
    pub file_sha256: String,
    /// JSON scores on the public part.
    pub public_scores: String,
    /// JSON scores on the private part: `None` until the challenge closes.
    pub private_scores: Option<String>,
    pub final_pick: bool,
    pub baseline: bool,
    pub note: String,
    pub writeup: String,
    /// JSON list of URLs.
    pub links: String,
}

/// A submission to record; its scores are computed before it is stored.
#[derive(Debug, Clone)]
pub struct NewSubmission {
    pub challenge_id: String,
    pub account_id: String,
    pub file_sha256: String,
    pub public_scores: String,
    pub private_scores: String,
    pub baseline: bool,
    pub note: String,
}

/// How many submissions a participant has made: today (UTC) and in all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub today: i64,
    pub total: i64,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ApiToken {
    pub token_hash: String,
    pub account_id: String,
    pub label: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// Why a submission was not recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    NotOpenYet,
    Closed,
    DailyLimit(i64),
    TotalLimit(i64),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::NotOpenYet => write!(f, "this challenge is not open yet"),
            Refusal::Closed => write!(f, "this challenge has closed"),
            Refusal::DailyLimit(n) => write!(
                f,
                "you have used today's {n} submission(s) for this challenge; the count starts again at 00:00 UTC"
            ),
            Refusal::TotalLimit(n) => {
                write!(f, "you have used all {n} submissions for this challenge")
            }
        }
    }
}

const CHALLENGE_COLUMNS: &str = "id, track_id, title, description, release_name, release_version, task, threshold, opens_at, closes_at, daily_limit, total_limit, created_by, created_at";

fn challenge(row: &AnyRow) -> Result<Challenge, sqlx::Error> {
    Ok(Challenge {
        id: row.try_get("id")?,
        track_id: row.try_get("track_id")?,
        title: row.try_get("title")?,
        description: row.try_get("description")?,
        release_name: row.try_get("release_name")?,
        release_version: row.try_get("release_version")?,
        task: row.try_get("task")?,
        threshold: row.try_get("threshold")?,
        opens_at: row.try_get("opens_at")?,
        closes_at: row.try_get("closes_at")?,
        daily_limit: row.try_get("daily_limit")?,
        total_limit: row.try_get("total_limit")?,
        created_by: row.try_get("created_by")?,
        created_at: row.try_get("created_at")?,
    })
}

const SUBMISSION_COLUMNS: &str = "s.id, s.challenge_id, s.account_id, a.name AS participant, s.at, s.file_sha256, s.public_scores, s.private_scores, s.final_pick, s.baseline, s.note, s.writeup, s.links, c.closes_at";

/// The one place a submission row becomes a [`Submission`]: the private scores are kept
/// back unless the challenge (whose `closes_at` the query joins) has closed at `now`.
fn submission(row: &AnyRow, now: i64) -> Result<Submission, sqlx::Error> {
    let closes_at: i64 = row.try_get("closes_at")?;
    Ok(Submission {
        id: row.try_get("id")?,
        challenge_id: row.try_get("challenge_id")?,
        account_id: row.try_get("account_id")?,
        participant: row.try_get("participant")?,
        at: row.try_get("at")?,
        file_sha256: row.try_get("file_sha256")?,
        public_scores: row.try_get("public_scores")?,
        private_scores: if now >= closes_at {
            Some(row.try_get("private_scores")?)
        } else {
            None
        },
        final_pick: row.try_get::<i64, _>("final_pick")? != 0,
        baseline: row.try_get::<i64, _>("baseline")? != 0,
        note: row.try_get("note")?,
        writeup: row.try_get("writeup")?,
        links: row.try_get("links")?,
    })
}

fn api_token(row: &AnyRow) -> Result<ApiToken, sqlx::Error> {
    Ok(ApiToken {
        token_hash: row.try_get("token_hash")?,
        account_id: row.try_get("account_id")?,
        label: row.try_get("label")?,
        created_at: row.try_get("created_at")?,
        last_used_at: row.try_get("last_used_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

/// A challenge id: what its URLs carry.
pub fn is_challenge_id(id: &str) -> bool {
    (3..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !id.starts_with('-')
}

impl Platform {
    /// Records a challenge as given (`created_at` included). Its track and release must
    /// exist; an id in use is
    /// [`StoreError::Conflict`].
    pub async fn create_challenge(&self, new: &Challenge) -> Result<Challenge, StoreError> {
        if !is_challenge_id(&new.id) {
            return Err(StoreError::Conflict(format!(
                "{:?} is not a challenge id: use 3 to 64 lowercase letters, digits and '-'",
                new.id
            )));
        }
        if new.closes_at <= new.opens_at {
            return Err(StoreError::Conflict(
                "a challenge must close after it opens".into(),
            ));
        }
        if new.daily_limit < 1 || new.total_limit < new.daily_limit {
            return Err(StoreError::Conflict(
                "the daily limit must be at least 1 and the total limit at least the daily one"
                    .into(),
            ));
        }
        if !new.threshold.is_finite() || !(0.0..=1.0).contains(&new.threshold) {
            return Err(StoreError::Conflict(
                "the declared threshold must be between 0 and 1".into(),
            ));
        }
        let track = sqlx::query("SELECT id FROM tracks WHERE id = $1")
            .bind(&new.track_id)
            .fetch_optional(&self.pool)
            .await?;
        if track.is_none() {
            return Err(StoreError::NotFound("track"));
        }
        let release = sqlx::query("SELECT name FROM releases WHERE name = $1 AND version = $2")
            .bind(&new.release_name)
            .bind(new.release_version)
            .fetch_optional(&self.pool)
            .await?;
        if release.is_none() {
            return Err(StoreError::NotFound("release"));
        }
        let inserted = sqlx::query(
            "INSERT INTO challenges (id, track_id, title, description, release_name, release_version, task, threshold, opens_at, closes_at, daily_limit, total_limit, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        )
        .bind(&new.id)
        .bind(&new.track_id)
        .bind(&new.title)
        .bind(&new.description)
        .bind(&new.release_name)
        .bind(new.release_version)
        .bind(&new.task)
        .bind(new.threshold)
        .bind(new.opens_at)
        .bind(new.closes_at)
        .bind(new.daily_limit)
        .bind(new.total_limit)
        .bind(&new.created_by)
        .bind(new.created_at)
        .execute(&self.pool)
        .await;
        match inserted {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => {
                return Err(StoreError::Conflict(format!(
                    "a challenge {:?} exists already",
                    new.id
                )));
            }
            Err(e) => return Err(e.into()),
        }
        self.challenge(&new.id)
            .await?
            .ok_or(StoreError::NotFound("challenge"))
    }

    /// Closes a challenge now, if it closes later: the private leaderboard is revealed and
    /// final picks freeze. False when it had closed already.
    pub async fn close_challenge(&self, id: &str, now: i64) -> Result<bool, StoreError> {
        if self.challenge(id).await?.is_none() {
            return Err(StoreError::NotFound("challenge"));
        }
        let done = sqlx::query(
            "UPDATE challenges SET closes_at = $1, opens_at = CASE WHEN opens_at > $1 THEN $1 - 1 ELSE opens_at END \
             WHERE id = $2 AND closes_at > $1",
        )
        .bind(now)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Every challenge, the most recently opened first.
    pub async fn challenges(&self) -> Result<Vec<Challenge>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {CHALLENGE_COLUMNS} FROM challenges ORDER BY opens_at DESC, id"
        ))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(challenge).collect::<Result<_, _>>()?)
    }

    pub async fn challenge(&self, id: &str) -> Result<Option<Challenge>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {CHALLENGE_COLUMNS} FROM challenges WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(challenge).transpose()?)
    }

    /// The test split of the challenge's release, with the sequestered findings, in file
    /// order. For scoring on the server only.
    pub async fn challenge_cases(
        &self,
        challenge: &Challenge,
    ) -> Result<Vec<ChallengeCase>, StoreError> {
        let rows = sqlx::query(
            "SELECT r.file, r.finding, r.item_id, i.patient_id, COALESCE(i.source_dataset, '') AS source \
             FROM release_items r JOIN items i ON i.id = r.item_id \
             WHERE r.name = $1 AND r.version = $2 AND r.split = 'test' ORDER BY r.file",
        )
        .bind(&challenge.release_name)
        .bind(challenge.release_version)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(ChallengeCase {
                    file: row.try_get("file")?,
                    patient: row.try_get("patient_id")?,
                    source: row.try_get("source")?,
                    finding: row.try_get("finding")?,
                    item_id: row.try_get("item_id")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(Into::into)
    }

    /// A participant's submissions so far, counted as the limits count them.
    pub async fn submission_counts(
        &self,
        challenge_id: &str,
        account_id: &str,
        now: i64,
    ) -> Result<Counts, StoreError> {
        let day_start = now - now.rem_euclid(DAY_NS);
        let row = sqlx::query(
            "SELECT COUNT(*) AS total, COALESCE(SUM(CASE WHEN at >= $3 THEN 1 ELSE 0 END), 0) AS today \
             FROM submissions WHERE challenge_id = $1 AND account_id = $2",
        )
        .bind(challenge_id)
        .bind(account_id)
        .bind(day_start)
        .fetch_one(&self.pool)
        .await?;
        Ok(Counts {
            today: row.try_get("today")?,
            total: row.try_get("total")?,
        })
    }

    /// Why `account_id` may not submit to `challenge` at `now`, if it may not. The baseline
    /// is held to the dates but not to the limits.
    pub async fn submission_refusal(
        &self,
        challenge: &Challenge,
        account_id: &str,
        baseline: bool,
        now: i64,
    ) -> Result<Option<Refusal>, StoreError> {
        if let Some(refusal) = challenge.date_refusal(now) {
            return Ok(Some(refusal));
        }
        if baseline {
            return Ok(None);
        }
        let counts = self
            .submission_counts(&challenge.id, account_id, now)
            .await?;
        Ok(if counts.total >= challenge.total_limit {
            Some(Refusal::TotalLimit(challenge.total_limit))
        } else if counts.today >= challenge.daily_limit {
            Some(Refusal::DailyLimit(challenge.daily_limit))
        } else {
            None
        })
    }

    /// Records a scored submission. The limits are checked by the insert itself: one
    /// statement takes the participant's next slot only while they are under both limits,
    /// so no interleaving of submissions gets past a limit. (SQLite runs it under its write
    /// lock; on PostgreSQL, two racing inserts take the same slot, the unique index refuses
    /// one, and it is tried again against the new count.)
    pub async fn add_submission(
        &self,
        new: &NewSubmission,
        now: i64,
    ) -> Result<Result<Submission, Refusal>, StoreError> {
        let Some(challenge) = self.challenge(&new.challenge_id).await? else {
            return Err(StoreError::NotFound("challenge"));
        };
        // The dates here; the limits in the insert below.
        if let Some(refusal) = challenge.date_refusal(now) {
            return Ok(Err(refusal));
        }
        let id = random_id()?;
        // Each failed try means another submission of this participant went in; after
        // total_limit of them the limit refuses this one, so this ends.
        let tries = challenge.total_limit.saturating_add(2);
        for _ in 0..tries {
            let inserted = sqlx::query(
                "INSERT INTO submissions (id, challenge_id, account_id, at, slot, file_sha256, public_scores, private_scores, baseline, note) \
                 SELECT $1, $2, $3, $4, COALESCE(MAX(slot), 0) + 1, $5, $6, $7, $8, $9 \
                 FROM submissions WHERE challenge_id = $2 AND account_id = $3 \
                 HAVING $8 = 1 OR (COALESCE(MAX(slot), 0) < $10 \
                   AND COALESCE(SUM(CASE WHEN at >= $11 THEN 1 ELSE 0 END), 0) < $12)",
            )
            .bind(&id)
            .bind(&new.challenge_id)
            .bind(&new.account_id)
            .bind(now)
            .bind(&new.file_sha256)
            .bind(&new.public_scores)
            .bind(&new.private_scores)
            .bind(i64::from(new.baseline))
            .bind(&new.note)
            .bind(challenge.total_limit)
            .bind(now - now.rem_euclid(DAY_NS))
            .bind(challenge.daily_limit)
            .execute(&self.pool)
            .await;
            match inserted {
                Ok(done) if done.rows_affected() == 1 => {
                    return self
                        .submission(&id, now)
                        .await?
                        .ok_or(StoreError::NotFound("submission"))
                        .map(Ok);
                }
                Ok(_) => {
                    let counts = self
                        .submission_counts(&challenge.id, &new.account_id, now)
                        .await?;
                    return Ok(Err(if counts.total >= challenge.total_limit {
                        Refusal::TotalLimit(challenge.total_limit)
                    } else {
                        Refusal::DailyLimit(challenge.daily_limit)
                    }));
                }
                Err(e) if is_unique_violation(&e) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::Conflict(
            "too many submissions of yours arrived at the same moment; send this one again".into(),
        ))
    }

    /// Submissions matching `filter` (a WHERE clause over `s`, the submission, and `c`, its
    /// challenge, whose `$1`, `$2`… are `binds`), in `order`; private scores as
    /// [`submission`] decides.
    async fn submissions_where(
        &self,
        filter: &str,
        order: &str,
        binds: &[&str],
        now: i64,
    ) -> Result<Vec<Submission>, StoreError> {
        let sql = format!(
            "SELECT {SUBMISSION_COLUMNS} FROM submissions s JOIN accounts a ON a.id = s.account_id \
             JOIN challenges c ON c.id = s.challenge_id WHERE {filter} ORDER BY {order}"
        );
        let mut query = sqlx::query(&sql);
        for b in binds {
            query = query.bind(*b);
        }
        let rows = query.fetch_all(&self.pool).await?;
        Ok(rows
            .iter()
            .map(|r| submission(r, now))
            .collect::<Result<_, _>>()?)
    }

    pub async fn submission(&self, id: &str, now: i64) -> Result<Option<Submission>, StoreError> {
        Ok(self
            .submissions_where("s.id = $1", "s.id", &[id], now)
            .await?
            .into_iter()
            .next())
    }

    /// Every submission to a challenge, oldest first: what the leaderboards rank.
    pub async fn submissions(
        &self,
        challenge_id: &str,
        now: i64,
    ) -> Result<Vec<Submission>, StoreError> {
        self.submissions_where("s.challenge_id = $1", "s.at, s.id", &[challenge_id], now)
            .await
    }

    /// One participant's submissions to a challenge, newest first.
    pub async fn own_submissions(
        &self,
        challenge_id: &str,
        account_id: &str,
        now: i64,
    ) -> Result<Vec<Submission>, StoreError> {
        self.submissions_where(
            "s.challenge_id = $1 AND s.account_id = $2",
            "s.at DESC, s.id",
            &[challenge_id, account_id],
            now,
        )
        .await
    }

    /// Marks or unmarks one of a participant's submissions as a final pick, before the
    /// close; at most `max` may be marked.
    pub async fn set_final_pick(
        &self,
        submission_id: &str,
        account_id: &str,
        pick: bool,
        max: i64,
        now: i64,
    ) -> Result<(), StoreError> {
        let Some(s) = self.submission(submission_id, now).await? else {
            return Err(StoreError::NotFound("submission"));
        };
        if s.account_id != account_id {
            return Err(StoreError::NotFound("submission"));
        }
        let Some(challenge) = self.challenge(&s.challenge_id).await? else {
            return Err(StoreError::NotFound("challenge"));
        };
        if challenge.is_closed(now) {
            return Err(StoreError::Conflict(
                "the challenge has closed: final picks can no longer change".into(),
            ));
        }
        let mut tx = self.pool.begin().await?;
        if pick && !s.final_pick {
            let row = sqlx::query(
                "SELECT COUNT(*) AS n FROM submissions WHERE challenge_id = $1 AND account_id = $2 AND final_pick = 1",
            )
            .bind(&s.challenge_id)
            .bind(account_id)
            .fetch_one(&mut *tx)
            .await?;
            if row.try_get::<i64, _>("n")? >= max {
                return Err(StoreError::Conflict(format!(
                    "you have picked {max} final submissions already: unpick one first"
                )));
            }
        }
        sqlx::query("UPDATE submissions SET final_pick = $1 WHERE id = $2")
            .bind(i64::from(pick))
            .bind(submission_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Attaches a results post (a short write-up and links) to one's own submission.
    pub async fn set_writeup(
        &self,
        submission_id: &str,
        account_id: &str,
        writeup: &str,
        links_json: &str,
    ) -> Result<(), StoreError> {
        let done = sqlx::query(
            "UPDATE submissions SET writeup = $1, links = $2 WHERE id = $3 AND account_id = $4",
        )
        .bind(writeup)
        .bind(links_json)
        .bind(submission_id)
        .bind(account_id)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() != 1 {
            return Err(StoreError::NotFound("submission"));
        }
        Ok(())
    }

    /// Submissions with a write-up, in the challenges of one track, newest first.
    pub async fn results_posts(
        &self,
        track_id: &str,
        now: i64,
    ) -> Result<Vec<Submission>, StoreError> {
        self.submissions_where(
            "c.track_id = $1 AND s.writeup <> ''",
            "s.at DESC, s.id",
            &[track_id],
            now,
        )
        .await
    }

    /// The account lunghub's own baseline submissions belong to, made on first use.
    pub async fn baseline_account(&self) -> Result<Account, StoreError> {
        const EMAIL: &str = "baseline@lunghub.invalid";
        if let Some(a) = self.account_by_email(EMAIL).await? {
            return Ok(a);
        }
        let new = crate::platform::NewAccount {
            email: EMAIL.into(),
            name: "lunghub baseline".into(),
            role: "member".into(),
            profile: "{}".into(),
            confirmed: true,
            ..Default::default()
        };
        match self.create_account(&new).await {
            Ok(a) => Ok(a),
            // Made by a concurrent first use.
            Err(StoreError::Conflict(_)) => self
                .account_by_email(EMAIL)
                .await?
                .ok_or(StoreError::NotFound("account")),
            Err(e) => Err(e),
        }
    }

    // ---- personal API tokens ------------------------------------------------------------

    pub async fn create_api_token(
        &self,
        token_hash: &str,
        account_id: &str,
        label: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO api_tokens (token_hash, account_id, label, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(token_hash)
        .bind(account_id)
        .bind(label)
        .bind(now_ns())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// An account's tokens, newest first, revoked ones included.
    pub async fn api_tokens(&self, account_id: &str) -> Result<Vec<ApiToken>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM api_tokens WHERE account_id = $1 ORDER BY created_at DESC, token_hash",
        )
        .bind(account_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(api_token).collect::<Result<_, _>>()?)
    }

    /// Revokes one of an account's tokens; false when it has no such live token.
    pub async fn revoke_api_token(
        &self,
        token_hash: &str,
        account_id: &str,
    ) -> Result<bool, StoreError> {
        revoke_bearer(&self.pool, API_TOKENS, token_hash, account_id).await
    }

    /// The account a live token belongs to, noting that it was used now.
    pub async fn use_api_token(&self, token_hash: &str) -> Result<Option<Account>, StoreError> {
        match use_bearer(&self.pool, API_TOKENS, token_hash).await? {
            Some(account_id) => self.account(&account_id).await,
            None => Ok(None),
        }
    }
}
