//! `lunghub catalog`: look at what the catalog holds.

use std::process::ExitCode;

use anyhow::{Result, bail};
use clap::{Args, Subcommand};

use super::storage::StorageArgs;

#[derive(Args)]
pub struct CatalogArgs {
    #[command(subcommand)]
    what: What,
    #[command(flatten)]
    storage: StorageArgs,
}

#[derive(Subcommand)]
enum What {
    /// Counts by site, source, modality, view, finding and review state
    Summary {
        /// One JSON object: {"items": N, "by_finding": {...}, ...}
        #[arg(long)]
        json: bool,
    },
    /// One item with its labels and history (ID: its id, or a unique prefix of 8+ characters)
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Approve, as one reviewer, the pending items of a curated public collection whose
    /// metadata carries a known finding, with that finding
    #[command(after_help = "\
For collections whose labels were curated before they reached lunghub (the public datasets
in ../shared/data, for one), where a coordinator vouches for the labels as they are. Each
approval is an ordinary read in the item's history. Items flagged for attention (near-
duplicates, suspected burned-in text, unknown findings) stay in the review queue, and a
site that asks for two reads still needs a second reader.")]
    Approve {
        /// The site (its id or name) whose pending items to approve
        #[arg(long)]
        site: String,
        /// Only items of this source dataset
        #[arg(long)]
        source: Option<String>,
        /// Who vouches for the labels, as the items' history will name them
        #[arg(long)]
        reviewer: String,
    },
}

pub fn run(args: CatalogArgs) -> Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let catalog = args.storage.catalog().await?;
        match args.what {
            What::Summary { json } => {
                let s = catalog.summary().await?;
                if json {
                    println!("{}", serde_json::to_string_pretty(&s)?);
                } else {
                    println!("items: {}", s.items);
                    for (title, map) in [
                        ("site", &s.by_site),
                        ("source", &s.by_source),
                        ("modality", &s.by_modality),
                        ("view", &s.by_view),
                        ("finding", &s.by_finding),
                        ("review state", &s.by_review_state),
                        ("unknown finding", &s.unknown_findings),
                    ] {
                        if map.is_empty() {
                            continue;
                        }
                        println!("\nby {title}:");
                        for (k, n) in map {
                            println!("  {n:>7}  {k}");
                        }
                    }
                }
            }
            What::Approve {
                site,
                source,
                reviewer,
            } => {
                let sites = catalog.sites().await?;
                let Some(found) = sites
                    .iter()
                    .find(|s| s.id == site || s.name.eq_ignore_ascii_case(&site))
                else {
                    bail!(
                        "no site {site:?}; sites: {}",
                        sites
                            .iter()
                            .map(|s| s.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    );
                };
                let (approved, waiting) = catalog
                    .approve_metadata_labels(
                        &found.id,
                        source.as_deref(),
                        &format!("cli:{reviewer}"),
                        &reviewer,
                    )
                    .await?;
                println!(
                    "{approved} items approved by {reviewer}; {waiting} wait for a second read"
                );
            }
            What::Show { id, json } => {
                let Some(item) = catalog.item(&id).await? else {
                    bail!("no single item matches {id:?}");
                };
                if json {
                    println!("{}", serde_json::to_string_pretty(&item)?);
                } else {
                    for (k, v) in &item.fields {
                        if !v.is_null() {
                            println!(
                                "{k:>18}: {}",
                                v.as_str()
                                    .map(str::to_owned)
                                    .unwrap_or_else(|| v.to_string())
                            );
                        }
                    }
                    println!("\nlabels:");
                    for l in &item.labels {
                        println!(
                            "  {} ({}, by {}{})",
                            l.finding,
                            l.source,
                            l.set_by,
                            if l.known { "" } else { ", unknown finding" }
                        );
                    }
                    println!("\nhistory:");
                    for (at, kind, detail) in &item.history {
                        println!("  {at}  {kind}: {detail}");
                    }
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}
