//! `lunghub release`: versioned open datasets. Create a release from the catalog's approved
//! items, list releases, download one from a lunghub server, and verify a download.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use lunghub_release::{MANIFEST, Manifest, Request, Selection};

use super::storage::StorageArgs;

#[derive(Args)]
pub struct ReleaseArgs {
    #[command(subcommand)]
    command: ReleaseCommand,
}

// Parsed once per run: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum ReleaseCommand {
    /// Freeze the approved items that match the filters into the next version of a release
    #[command(after_help = "\
Writes the release's files into the blob store, each under its sha256: the images as 8-bit PNGs, a torchxrayvision CSV, a
Hugging Face ImageFolder, COVIDx label files, Croissant metadata, the de-identified DICOM
originals with a DICOMDIR, the dataset card, the changelog against the version before, and
SHA256SUMS. Splits are by patient, stratified by finding and source; the same catalog and
seed give the same bytes, and a patient keeps the split of the version before. The test
split's findings stay in the catalog, for the leaderboard; the release holds its images only.

Filters of one kind are alternatives (--finding A --finding B takes either); filters of
different kinds must all match. Without filters, every approved item is taken.")]
    Create {
        /// The release's name: lowercase letters, digits and '-' (e.g. cxr-covid)
        name: String,
        /// Seed of the split
        #[arg(long, default_value_t = 2020)]
        seed: u64,
        /// Shares of patients in train, validation and test, e.g. 70,15,15
        #[arg(long, default_value = "70,15,15")]
        shares: String,
        /// Only this modality (DX, CR, US, or X-ray for both radiograph codes)
        #[arg(long = "modality")]
        modalities: Vec<String>,
        /// Only this finding or those under it (e.g. Pneumonia takes Pneumonia/Viral/COVID-19)
        #[arg(long = "finding")]
        findings: Vec<String>,
        /// Only items of this site (id or name)
        #[arg(long = "site")]
        sites: Vec<String>,
        /// Only items of this source dataset
        #[arg(long = "source")]
        sources: Vec<String>,
        /// Only this view (PA, AP, AP Supine, Lateral…)
        #[arg(long = "view")]
        views: Vec<String>,
        /// Only items taken in on or after this day (YYYY-MM-DD, UTC)
        #[arg(long)]
        from: Option<String>,
        /// Only items taken in on or before this day (YYYY-MM-DD, UTC)
        #[arg(long)]
        to: Option<String>,
        /// The licence of a source, for the card: SOURCE=LICENCE (repeat for each source)
        #[arg(long = "licence", value_name = "SOURCE=LICENCE")]
        licences: Vec<String>,
        /// Who creates the release, as its record will name them
        #[arg(long, default_value = "operator")]
        by: String,
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// List the releases in the catalog
    List {
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Write a release's files into a folder, from this server's blob store, and verify them
    Export {
        name: String,
        /// The version; default: the newest
        #[arg(long)]
        version: Option<i64>,
        /// Folder to write NAME-vN into
        #[arg(long, default_value = ".")]
        out: PathBuf,
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Download a release from a lunghub server, unpack it and verify it
    #[command(after_help = "\
URL is the release's page, e.g. https://lunghub.example.org/releases/cxr-covid/v1. The
.tar.gz is streamed to a temporary file beside OUT, unpacked into OUT/NAME-vN, and checked
against its SHA256SUMS. Exits 0 when the download is intact, 1 when not, 2 on errors.")]
    Download {
        url: String,
        /// Folder to unpack into
        #[arg(long, default_value = ".")]
        out: PathBuf,
    },
    /// Check a downloaded release against its SHA256SUMS: every file listed is there with
    /// the listed bytes, and nothing else is. Exits 0 when intact, 1 when not
    #[command(after_help = "\
The manifest is in GNU coreutils' format, so `sha256sum --check SHA256SUMS` in the
release's folder checks the listed files too, where lunghub is not installed.")]
    Verify {
        /// The release's folder, with SHA256SUMS at its root
        dir: PathBuf,
    },
}

pub fn run(args: ReleaseArgs) -> Result<ExitCode> {
    match args.command {
        ReleaseCommand::Verify { dir } => verify(&dir),
        ReleaseCommand::Download { url, out } => download(&url, &out),
        ReleaseCommand::List { storage } => runtime()?.block_on(list(storage)),
        ReleaseCommand::Export {
            name,
            version,
            out,
            storage,
        } => runtime()?.block_on(export(storage, &name, version, &out)),
        ReleaseCommand::Create {
            name,
            seed,
            shares,
            modalities,
            findings,
            sites,
            sources,
            views,
            from,
            to,
            licences,
            by,
            storage,
        } => {
            let request = Request {
                name,
                seed,
                shares: lunghub_release::parse_shares(&shares)?,
                selection: Selection {
                    modalities,
                    findings,
                    sites,
                    sources,
                    views,
                    from,
                    to,
                },
                licences: lunghub_release::parse_licences(&licences)?,
                created_by: by,
            };
            runtime()?.block_on(create(storage, request))
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

async fn create(storage: StorageArgs, request: Request) -> Result<ExitCode> {
    let catalog = storage.catalog().await?;
    let blobs = Arc::new(storage.blobs()?);
    let staging = storage.release_staging();
    let bar = super::file_progress(0);
    let progress = {
        let bar = bar.clone();
        Arc::new(move |done: usize, total: usize| {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        })
    };
    let name = request.name.clone();
    let (record, written) = lunghub_release::create(&catalog, blobs, &staging, request, progress)
        .await
        .with_context(|| format!("cannot create release {name}"))?;
    bar.finish_and_clear();
    let items = catalog.release_items(&record.name, record.version).await?;
    let count = |split: &str| items.iter().filter(|i| i.split == split).count();
    println!(
        "release {} v{}: {} images (train {}, validation {}, test {}), {} DICOM originals, {} files, {:.1} MB",
        record.name,
        record.version,
        items.len(),
        count("train"),
        count("validation"),
        count("test"),
        written.dicom_files,
        record.files,
        record.bytes as f64 / 1e6
    );
    println!("sha256 of {MANIFEST}: {}", record.manifest_sha256);
    println!(
        "its files are in the blob store; `lunghub release export {}` writes them to a folder",
        record.name
    );
    Ok(ExitCode::SUCCESS)
}

async fn export(
    storage: StorageArgs,
    name: &str,
    version: Option<i64>,
    out: &Path,
) -> Result<ExitCode> {
    let catalog = storage.catalog().await?;
    let Some(record) = catalog.release(name, version).await? else {
        bail!(
            "no release {name}{}",
            version.map(|v| format!(" v{v}")).unwrap_or_default()
        );
    };
    let blobs = storage.blobs()?;
    let published = lunghub_release::archive::Published::open(&blobs, &record.manifest_sha256)
        .with_context(|| format!("cannot open release {name} v{}", record.version))?;
    let dir = out.join(format!("{}-v{}", record.name, record.version));
    if dir.exists() {
        bail!("{} exists already: export into a new folder", dir.display());
    }
    let files = published
        .export(&dir)
        .with_context(|| format!("cannot export into {}", dir.display()))?;
    println!("{files} files written to {}", dir.display());
    verify(&dir)
}

async fn list(storage: StorageArgs) -> Result<ExitCode> {
    let catalog = storage.catalog().await?;
    let releases = catalog.releases().await?;
    if releases.is_empty() {
        println!("no releases yet: create one with `lunghub release create NAME`");
    }
    for r in releases {
        let items = catalog.release_items(&r.name, r.version).await?;
        println!(
            "{} v{}  {} images  {} files  {:.1} MB  by {}  sha256 of {MANIFEST} {}",
            r.name,
            r.version,
            items.len(),
            r.files,
            r.bytes as f64 / 1e6,
            r.created_by,
            r.manifest_sha256
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn download(url: &str, out: &Path) -> Result<ExitCode> {
    let page = url.trim_end_matches('/');
    let page = page
        .strip_suffix(".tar.gz")
        .or_else(|| page.strip_suffix(".zip"))
        .unwrap_or(page);
    let archive_url = format!("{page}.tar.gz");
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let mut part = tempfile::Builder::new()
        .prefix(".lunghub-download-")
        .tempfile_in(out)
        .with_context(|| format!("cannot write in {}", out.display()))?;
    runtime()?.block_on(async {
        let response = reqwest::get(&archive_url)
            .await
            .with_context(|| format!("cannot reach {archive_url}"))?;
        if !response.status().is_success() {
            bail!("{archive_url}: the server answered {}", response.status());
        }
        let bar = super::file_progress(response.content_length().unwrap_or(0));
        let mut response = response;
        while let Some(chunk) = response
            .chunk()
            .await
            .with_context(|| format!("the download of {archive_url} broke off"))?
        {
            part.write_all(&chunk)
                .context("cannot write the download")?;
            bar.inc(chunk.len() as u64);
        }
        bar.finish_and_clear();
        Ok(())
    })?;
    let file = part.reopen().context("cannot reopen the download")?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut top = None;
    for entry in archive.entries().context("the download is not a .tar.gz")? {
        let mut entry = entry.context("the download is damaged")?;
        let path = entry
            .path()
            .context("the download is damaged")?
            .into_owned();
        if top.is_none() {
            top = path.components().next().map(|c| out.join(c.as_os_str()));
        }
        // unpack_in refuses paths that leave `out` (absolute, or through ..).
        if !entry
            .unpack_in(out)
            .with_context(|| format!("cannot unpack {}", path.display()))?
        {
            bail!(
                "the download holds a path outside its folder: {}",
                path.display()
            );
        }
    }
    let Some(dir) = top else {
        bail!("the download is empty");
    };
    println!("unpacked into {}", dir.display());
    verify(&dir)
}

fn verify(dir: &Path) -> Result<ExitCode> {
    let manifest = Manifest::read(dir)
        .with_context(|| format!("cannot read {MANIFEST} in {}", dir.display()))?;
    let bar = super::file_progress(manifest.files.len() as u64);
    let found = manifest
        .verify(dir, |_| bar.inc(1))
        .with_context(|| format!("cannot check {}", dir.display()))?;
    bar.finish_and_clear();
    for (what, names) in [
        ("changed", &found.changed),
        ("missing", &found.missing),
        ("not in the manifest", &found.unexpected),
    ] {
        for name in names {
            println!("{what}: {name}");
        }
    }
    println!(
        "{}: {} of {} files intact, {} changed, {} missing, {} not in the manifest",
        if found.is_intact() {
            "intact"
        } else {
            "NOT intact"
        },
        found.good,
        manifest.files.len(),
        found.changed.len(),
        found.missing.len(),
        found.unexpected.len()
    );
    Ok(if found.is_intact() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
