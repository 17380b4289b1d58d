//! `lunghub challenge create|list` (coordinators, on the server's data directory) and
//! `lunghub submit` (participants, over HTTP with a personal token).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use lunghub_learn::data::Task;
use lunghub_learn::predictor::Predictor;
use lunghub_release::archive::{Published, Source};
use lunghub_store::challenges::Challenge;
use lunghub_store::now_ns;
use lunghub_web::challenges::{NotRecorded, scores_of, submit, test_set};

use super::storage::StorageArgs;

#[derive(Args)]
pub struct ChallengeArgs {
    #[command(subcommand)]
    command: ChallengeCommand,
    #[command(flatten)]
    storage: StorageArgs,
}

#[derive(Subcommand)]
enum ChallengeCommand {
    /// Open a challenge on a release's sequestered test split, and submit lunghub's own
    /// model to it as the house baseline
    Create(Box<CreateArgs>),
    /// The challenges, with their state and how many submissions each has
    List,
    /// Close a challenge now (before its closing date): the private leaderboard is revealed
    /// and final picks can no longer change
    Close {
        /// The challenge's id
        id: String,
    },
}

#[derive(Args)]
struct CreateArgs {
    /// The challenge's id, used in its URLs: lowercase letters, digits and '-'
    id: String,
    /// The working track it belongs to (see /tracks)
    #[arg(long, default_value = "medical-imaging")]
    track: String,
    /// The release whose test split is scored
    #[arg(long)]
    release: String,
    /// The release's version
    #[arg(long)]
    version: i64,
    /// What is predicted: covid-vs-rest, three-class or lung-ultrasound (the positive class of
    /// the headline metrics is COVID-19 in each)
    #[arg(long, default_value = "covid-vs-rest")]
    task: String,
    #[arg(long)]
    title: String,
    #[arg(long, default_value = "")]
    description: String,
    /// The threshold F1 is taken at, declared before the first submission
    #[arg(long, default_value_t = 0.5)]
    threshold: f64,
    /// Opening date, YYYY-MM-DD (UTC); default: now
    #[arg(long)]
    opens: Option<String>,
    /// Closing date, YYYY-MM-DD (UTC, at 00:00): the private leaderboard is revealed then
    #[arg(long)]
    closes: String,
    /// Submissions per participant per UTC day
    #[arg(long, default_value_t = 5)]
    daily_limit: i64,
    /// Submissions per participant in all
    #[arg(long, default_value_t = 100)]
    total_limit: i64,
    /// The baseline's model (a folder from `lunghub train`); default: the reference model
    /// built in, which fits covid-vs-rest on chest X-rays
    #[arg(long)]
    baseline_model: Option<PathBuf>,
    /// Open the challenge without a baseline submission
    #[arg(long)]
    no_baseline: bool,
    /// Who opens it, for the record
    #[arg(long, default_value = "lunghub challenge create")]
    by: String,
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// 00:00 UTC of a YYYY-MM-DD date, in nanoseconds.
fn date_ns(text: &str) -> Result<i64> {
    let parts: Vec<&str> = text.split('-').collect();
    let [y, m, d] = parts.as_slice() else {
        bail!("{text:?} is not a date: write YYYY-MM-DD");
    };
    let (y, m, d): (i64, u32, u32) = (
        y.parse().with_context(|| format!("{text:?}: bad year"))?,
        m.parse().with_context(|| format!("{text:?}: bad month"))?,
        d.parse().with_context(|| format!("{text:?}: bad day"))?,
    );
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        bail!("{text:?} is not a date: write YYYY-MM-DD");
    }
    let days = lunghub_domain::calendar::days_from_civil(y, m, d);
    Ok(days * 86_400 * 1_000_000_000)
}

pub fn run(args: ChallengeArgs) -> Result<ExitCode> {
    runtime()?.block_on(async {
        let catalog = args.storage.catalog().await?;
        let platform = catalog.platform();
        match args.command {
            ChallengeCommand::List => {
                let now = now_ns();
                for c in platform.challenges().await? {
                    let n = platform.submissions(&c.id, now).await?.len();
                    let state = c.state(now);
                    println!(
                        "{}\t{}\t{} v{}\t{}\t{state}\t{n} submission(s)",
                        c.id, c.title, c.release_name, c.release_version, c.task
                    );
                }
                Ok(ExitCode::SUCCESS)
            }
            ChallengeCommand::Close { id } => {
                if platform.close_challenge(&id, now_ns()).await? {
                    println!("challenge {id} closed: its private leaderboard is public now");
                } else {
                    println!("challenge {id} had closed already");
                }
                Ok(ExitCode::SUCCESS)
            }
            ChallengeCommand::Create(a) => {
                if Task::parse(&a.task).is_none() {
                    bail!(
                        "unknown task {:?}: use covid-vs-rest, three-class or lung-ultrasound",
                        a.task
                    );
                }
                // The baseline's model is checked before anything is written.
                let baseline = if a.no_baseline {
                    None
                } else {
                    let predictor = match &a.baseline_model {
                        Some(dir) => Predictor::load(dir).with_context(|| {
                            format!("cannot load the baseline model in {}", dir.display())
                        })?,
                        None => Predictor::reference()?,
                    };
                    if predictor.meta().task.name() != a.task {
                        bail!(
                            "the baseline model was trained for {}, not {}: give --baseline-model DIR or --no-baseline",
                            predictor.meta().task.name(),
                            a.task
                        );
                    }
                    Some(predictor)
                };
                let new = Challenge {
                    id: a.id.clone(),
                    track_id: a.track.clone(),
                    title: a.title.clone(),
                    description: a.description.clone(),
                    release_name: a.release.clone(),
                    release_version: a.version,
                    task: a.task.clone(),
                    threshold: a.threshold,
                    opens_at: a.opens.as_deref().map(date_ns).transpose()?.unwrap_or_else(now_ns),
                    closes_at: date_ns(&a.closes)?,
                    daily_limit: a.daily_limit,
                    total_limit: a.total_limit,
                    created_by: a.by.clone(),
                    created_at: now_ns(),
                };
                let challenge = platform.create_challenge(&new).await?;
                println!("challenge {} created: /challenges/{}", challenge.id, challenge.id);
                if let Some(predictor) = baseline {
                    let blobs = args.storage.blobs()?;
                    submit_baseline(&catalog, &platform, &blobs, &challenge, &predictor).await?;
                }
                Ok(ExitCode::SUCCESS)
            }
        }
    })
}

/// Scores the challenge's test images with `predictor` and submits them as the baseline,
/// through the same path as every participant's submission.
async fn submit_baseline(
    catalog: &lunghub_store::Catalog,
    platform: &lunghub_store::Platform,
    blobs: &lunghub_store::Blobs,
    challenge: &Challenge,
    predictor: &Predictor,
) -> Result<()> {
    let set = test_set(platform, challenge)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let record = catalog
        .release(&challenge.release_name, Some(challenge.release_version))
        .await?
        .context("the challenge's release is not in the catalog")?;
    let published = Published::open(blobs, &record.manifest_sha256)?;
    let header = set
        .columns
        .headers()
        .into_iter()
        .next()
        .context("the task has no CSV header")?;
    let per_class = header != "id,probability";
    eprintln!(
        "scoring {} test images with the baseline model",
        set.ids.len()
    );
    let bar = super::file_progress(set.ids.len() as u64);
    let mut csv = format!("{header}\n");
    for id in &set.ids {
        let bytes = published.read(&format!("images/{id}"))?;
        let decoded =
            lunghub_imaging::decode(&bytes).with_context(|| format!("test image {id}"))?;
        let p = predictor.predict(&decoded.display, false)?;
        let values: Vec<f64> = p.probabilities.iter().map(|(_, v)| *v).collect();
        csv.push_str(id);
        if per_class {
            for v in &values {
                csv.push_str(&format!(",{v:.6}"));
            }
        } else {
            csv.push_str(&format!(",{:.6}", values.last().copied().unwrap_or(0.0)));
        }
        csv.push('\n');
        bar.inc(1);
    }
    bar.finish_and_clear();
    let account = platform.baseline_account().await?;
    let note = format!("lunghub's model: {}", predictor.meta().task.name());
    match submit(
        platform,
        challenge,
        &account.id,
        csv.as_bytes(),
        &note,
        true,
        now_ns(),
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?
    {
        Ok(s) => {
            let auc = scores_of(&s.public_scores)
                .and_then(|s| s.auc)
                .map_or("n/a".into(), |a| format!("{a:.3}"));
            println!(
                "baseline submitted on {} test images: public ROC AUC {auc}",
                set.ids.len()
            );
            Ok(())
        }
        Err(NotRecorded::Invalid(e)) => bail!("the baseline's own CSV was refused:\n{e}"),
        Err(NotRecorded::Refused(r)) => bail!("the baseline was refused: {r}"),
    }
}

#[derive(Args)]
pub struct SubmitArgs {
    /// The challenge's id (its URL is SERVER/challenges/ID)
    #[arg(long)]
    challenge: String,
    /// The CSV of predictions: a header (id,probability or id,CLASS,…) and one line per test image
    predictions: PathBuf,
    /// The lunghub site
    #[arg(long, env = "LUNGHUB_SERVER", default_value = "http://127.0.0.1:8080")]
    server: String,
    /// A personal API token (create one at SERVER/account/tokens)
    #[arg(long, env = "LUNGHUB_TOKEN", hide_env_values = true)]
    token: String,
    /// A note for yourself, shown in your history
    #[arg(long, default_value = "")]
    note: String,
    /// Print the server's JSON answer instead of a summary
    #[arg(long)]
    json: bool,
}

/// Sends a CSV to `/api/challenges/{id}/submissions`; exit 0 when it was scored, 1 when the
/// server refused it (malformed, over a limit), 2 on any other error.
pub fn submit_command(args: SubmitArgs) -> Result<ExitCode> {
    let csv = std::fs::read(&args.predictions)
        .with_context(|| format!("cannot read {}", args.predictions.display()))?;
    let url = format!(
        "{}/api/challenges/{}/submissions",
        args.server.trim_end_matches('/'),
        args.challenge
    );
    runtime()?.block_on(async {
        let response = reqwest::Client::new()
            .post(&url)
            .bearer_auth(&args.token)
            .header(reqwest::header::CONTENT_TYPE, "text/csv")
            .header("x-lunghub-note", args.note.replace(['\r', '\n'], " "))
            .body(csv)
            .send()
            .await
            .with_context(|| format!("cannot reach {url}"))?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        let answer: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        if args.json {
            println!("{text}");
        }
        if status.is_success() {
            if !args.json {
                let public = &answer["public"];
                let figure = |v: &serde_json::Value| {
                    v.as_f64().map_or("n/a".to_owned(), |x| format!("{x:.3}"))
                };
                println!(
                    "scored: public ROC AUC {} (95% CI {}–{}), sensitivity at 95% specificity {}, F1 {} on {} images",
                    figure(&public["auc"]),
                    figure(&public["auc_interval"][0]),
                    figure(&public["auc_interval"][1]),
                    figure(&public["sensitivity_at_95_specificity"]),
                    figure(&public["f1"]),
                    public["cases"]
                );
                println!("submission {}", answer["id"].as_str().unwrap_or("?"));
            }
            return Ok(ExitCode::SUCCESS);
        }
        if status.is_client_error() && answer.get("error").is_some() {
            if !args.json {
                eprintln!(
                    "not scored ({status}): {}",
                    answer["error"].as_str().unwrap_or("")
                );
                for p in answer["problems"].as_array().into_iter().flatten() {
                    eprintln!("  {}", p.as_str().unwrap_or(""));
                }
            }
            return Ok(ExitCode::from(1));
        }
        bail!("{url}: the server answered {status}: {text}")
    })
}
