//! `lunghub bench web`: the public status page served by `lunghub serve`, next to nginx
//! serving a saved static copy of the same page, both loaded by wrk in the same run.
//!
//! The server under test is the real binary started as a child process, on a catalog
//! seeded with institutes spread over the seven onboarding stages; what wrk fetches from
//! it is exactly what an anonymous visitor gets (the 5-second rendering cache included).

use std::collections::HashSet;
use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;
use lunghub_domain::{Move, RequestedData, Stage};
use lunghub_store::Catalog;
use lunghub_store::platform::InstituteFields;

const INSTALL_HINT: &str = "install them with `apt-get install wrk nginx-light`";

/// The throughput lunghub must reach, as a share of nginx's on the static copy.
const TARGET_SHARE: f64 = 0.5;

#[derive(Args)]
pub struct WebBench {
    /// Institutes in the seeded catalog (rows of the status table)
    #[arg(long, default_value_t = 200)]
    institutes: usize,
    /// Open connections wrk keeps to the server
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Length of one timed wrk run, in seconds
    #[arg(long, default_value_t = 10)]
    duration_secs: u64,
    /// Timed runs per server, alternating; the best requests/s is reported
    #[arg(long, default_value_t = 3)]
    runs: usize,
}

pub fn web_bench(b: WebBench) -> Result<ExitCode> {
    if b.institutes == 0 || b.connections == 0 || b.duration_secs == 0 || b.runs == 0 {
        bail!("--institutes, --connections, --duration-secs and --runs must all be at least 1");
    }
    // Both tools first: no point seeding a catalog for a run that cannot happen.
    let wrk = find_tool("wrk")?;
    let nginx_bin = find_tool("nginx")?;

    let work = tempfile::tempdir()?;
    let data = work.path().join("data");
    let site = work.path().join("site");
    let nginx_dir = work.path().join("nginx");
    fs::create_dir_all(&site)?;
    fs::create_dir_all(&nginx_dir)?;

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime
        .block_on(seed(&data, b.institutes))
        .context("cannot seed the catalog")?;

    let lunghub = start_lunghub(&data)?;
    let lunghub_url = format!("http://{}/status", lunghub.addr);
    let page = runtime
        .block_on(fetch(&lunghub_url))
        .with_context(|| format!("cannot fetch {lunghub_url}"))?;
    // One row per institute, each with exactly one cell labelled "Institute".
    let rows = page.matches(r#"data-label="Institute""#).count();
    if rows != b.institutes {
        bail!(
            "{lunghub_url} shows {rows} rows, but {} institutes were seeded",
            b.institutes
        );
    }
    fs::write(site.join("index.html"), &page)?;

    let nginx = start_nginx(&nginx_bin, &nginx_dir, &site)?;
    let nginx_url = format!("http://127.0.0.1:{}/index.html", nginx.port);
    let copy = runtime
        .block_on(wait_until_answers(
            &nginx_url,
            &nginx_dir,
            nginx.guard.pid(),
        ))
        .context("nginx did not start")?;
    if copy != page {
        bail!("nginx serves something other than the saved page at {nginx_url}");
    }

    let nginx_name = format!("{}, static copy", nginx_version(&nginx_bin));
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "corpus: {} institutes over {} stages, page {:.1} KB; {} connections, wrk -t{}, {} s a run, best of {} runs; {} cores shared by wrk and the server",
        b.institutes,
        Stage::ALL.len(),
        page.len() as f64 / 1000.0,
        b.connections,
        wrk_threads(b.connections),
        b.duration_secs,
        b.runs,
        cores
    );

    let load = |url: &str, secs: u64| run_wrk(&wrk, url, b.connections, secs);
    // A short warm-up of each: connection setup, page cache, CPU frequency.
    load(&lunghub_url, 2)?;
    load(&nginx_url, 2)?;
    let mut best: [Option<WrkRun>; 2] = [None, None];
    let urls = [&lunghub_url, &nginx_url];
    for round in 0..b.runs {
        // Alternate who goes first, so a slow spell of the machine hits both alike.
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for i in order {
            let run = load(urls[i], b.duration_secs)?;
            // wrk rounds sizes to 3 significant figures: allow that, and catch a server
            // that answers with something shorter than the page (an error, a redirect).
            if run.bytes_per_response < page.len() as f64 * 0.99 {
                bail!(
                    "{} answered {:.0} bytes a response, less than the {}-byte page",
                    urls[i],
                    run.bytes_per_response,
                    page.len()
                );
            }
            if run.socket_errors > 0 {
                eprintln!(
                    "note: {} socket errors against {}",
                    run.socket_errors, urls[i]
                );
            }
            if best[i]
                .as_ref()
                .is_none_or(|kept| run.requests_per_s > kept.requests_per_s)
            {
                best[i] = Some(run);
            }
        }
    }
    drop(lunghub);
    drop(nginx);

    let [Some(ours), Some(theirs)] = best else {
        bail!("no timed run completed");
    };
    let share = ours.requests_per_s / theirs.requests_per_s;
    println!("\n| server | requests/s | p99 latency (ms) | vs nginx |");
    println!("|---|---:|---:|---:|");
    for (name, run) in [
        ("lunghub serve, /status", &ours),
        (nginx_name.as_str(), &theirs),
    ] {
        println!(
            "| {} | {:.0} | {:.2} | {:.2}x |",
            name,
            run.requests_per_s,
            run.p99_ms,
            run.requests_per_s / theirs.requests_per_s
        );
    }
    println!(
        "\ntarget: lunghub at least half of nginx's throughput: {} ({:.2}x)",
        if share >= TARGET_SHARE {
            "met"
        } else {
            "missed"
        },
        share
    );
    Ok(ExitCode::SUCCESS)
}

/// The tool on PATH, or in the sbin folders that a non-root PATH often lacks.
fn find_tool(name: &str) -> Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/local/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .with_context(|| {
            format!(
                "`{name}` is not installed; the web benchmark needs wrk and nginx: {INSTALL_HINT}"
            )
        })
}

/// "nginx/1.22.1" from `nginx -v` (which writes to stderr), or plain "nginx".
fn nginx_version(nginx: &Path) -> String {
    Command::new(nginx)
        .arg("-v")
        .output()
        .ok()
        .and_then(|o| {
            let text = String::from_utf8_lossy(&o.stderr).into_owned();
            text.split_whitespace()
                .find(|w| w.starts_with("nginx/"))
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "nginx".into())
}

/// City, country and the language of the institute names found there.
const PLACES: &[(&str, &str, Lang)] = &[
    ("Milan", "Italy", Lang::It),
    ("Bergamo", "Italy", Lang::It),
    ("Rome", "Italy", Lang::It),
    ("Brescia", "Italy", Lang::It),
    ("Pavia", "Italy", Lang::It),
    ("Madrid", "Spain", Lang::Es),
    ("Barcelona", "Spain", Lang::Es),
    ("Valencia", "Spain", Lang::Es),
    ("Buenos Aires", "Argentina", Lang::Es),
    ("Bogotá", "Colombia", Lang::Es),
    ("Lima", "Peru", Lang::Es),
    ("Mexico City", "Mexico", Lang::Es),
    ("Lyon", "France", Lang::Fr),
    ("Paris", "France", Lang::Fr),
    ("Strasbourg", "France", Lang::Fr),
    ("Liège", "Belgium", Lang::Fr),
    ("Geneva", "Switzerland", Lang::Fr),
    ("Montréal", "Canada", Lang::Fr),
    ("Munich", "Germany", Lang::De),
    ("Hamburg", "Germany", Lang::De),
    ("Freiburg", "Germany", Lang::De),
    ("Vienna", "Austria", Lang::De),
    ("Zürich", "Switzerland", Lang::De),
    ("São Paulo", "Brazil", Lang::Pt),
    ("Porto", "Portugal", Lang::Pt),
    ("Lisbon", "Portugal", Lang::Pt),
    ("London", "United Kingdom", Lang::En),
    ("Manchester", "United Kingdom", Lang::En),
    ("Edinburgh", "United Kingdom", Lang::En),
    ("Dublin", "Ireland", Lang::En),
    ("Boston", "United States", Lang::En),
    ("Seattle", "United States", Lang::En),
    ("New Orleans", "United States", Lang::En),
    ("Toronto", "Canada", Lang::En),
    ("Cape Town", "South Africa", Lang::En),
    ("Lagos", "Nigeria", Lang::En),
    ("Nairobi", "Kenya", Lang::En),
    ("Mumbai", "India", Lang::En),
    ("Bengaluru", "India", Lang::En),
    ("Singapore", "Singapore", Lang::En),
    ("Melbourne", "Australia", Lang::En),
    ("Auckland", "New Zealand", Lang::En),
    ("Manila", "Philippines", Lang::En),
    ("Amsterdam", "Netherlands", Lang::Nl),
    ("Utrecht", "Netherlands", Lang::Nl),
    ("Ghent", "Belgium", Lang::Nl),
];

#[derive(Clone, Copy)]
enum Lang {
    En,
    It,
    Es,
    Fr,
    De,
    Pt,
    Nl,
}

impl Lang {
    /// Name patterns; `{}` is the city, and the second list is saints and founders.
    fn patterns(self) -> (&'static [&'static str], &'static [&'static str]) {
        match self {
            Lang::En => (
                &[
                    "{} General Hospital",
                    "{} University Hospital",
                    "{} Royal Infirmary",
                    "{} Children's Hospital",
                    "St {s}'s Hospital, {}",
                    "{s} Memorial Medical Center, {}",
                    "{} Chest and Heart Institute",
                ],
                &[
                    "Mary", "Thomas", "James", "Luke", "Vincent", "Grace", "Lister",
                ],
            ),
            Lang::It => (
                &[
                    "Ospedale {s} di {}",
                    "Policlinico di {}",
                    "Azienda Ospedaliera Universitaria di {}",
                    "IRCCS {s}, {}",
                    "Ospedale Maggiore di {}",
                ],
                &[
                    "San Raffaele",
                    "Papa Giovanni XXIII",
                    "San Matteo",
                    "Sacco",
                    "Niguarda",
                ],
            ),
            Lang::Es => (
                &[
                    "Hospital Universitario {s}, {}",
                    "Hospital General de {}",
                    "Clínica {s} de {}",
                    "Hospital Clínico de {}",
                    "Instituto Nacional de Enfermedades Respiratorias, {}",
                ],
                &[
                    "La Paz",
                    "del Mar",
                    "San Juan de Dios",
                    "Santa Fe",
                    "12 de Octubre",
                ],
            ),
            Lang::Fr => (
                &[
                    "Centre Hospitalier Universitaire de {}",
                    "Hôpital {s}, {}",
                    "Hôpitaux Universitaires de {}",
                    "Clinique {s} de {}",
                ],
                &[
                    "Saint-Louis",
                    "Pitié-Salpêtrière",
                    "Édouard Herriot",
                    "Sainte-Justine",
                ],
            ),
            Lang::De => (
                &[
                    "Universitätsklinikum {}",
                    "Klinikum {} {s}",
                    "Städtisches Krankenhaus {}",
                    "Lungenklinik {}",
                ],
                &["Rechts der Isar", "Nord", "Süd", "Eppendorf", "Mitte"],
            ),
            Lang::Pt => (
                &[
                    "Hospital das Clínicas de {}",
                    "Centro Hospitalar Universitário de {}",
                    "Hospital {s}, {}",
                ],
                &[
                    "Santa Maria",
                    "São João",
                    "Sírio-Libanês",
                    "Albert Einstein",
                ],
            ),
            Lang::Nl => (
                &[
                    "Universitair Medisch Centrum {}",
                    "Ziekenhuis {s} {}",
                    "{} Longziekenhuis",
                ],
                &["Sint Lucas", "Onze Lieve Vrouwe", "Antonius", "Maasstad"],
            ),
        }
    }
}

/// A small deterministic generator, so every run benchmarks the same table.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        // xorshift64*: plenty for picking names.
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n.max(1)
    }
}

/// `count` institutes with distinct names, each walked from first contact to its stage
/// with the moves a coordinator would make, so the history and timestamps look real.
async fn seed(data: &Path, count: usize) -> Result<()> {
    let catalog = Catalog::open(&Catalog::sqlite_url(data)).await?;
    let platform = catalog.platform();
    let actor = "coordinator@lunghub.invalid";
    let mut rng = Rng(0x6c75_6e67_6875_6221);
    let mut names = HashSet::new();
    for i in 0..count {
        let (city, country, lang) = PLACES[rng.below(PLACES.len())];
        let (patterns, saints) = lang.patterns();
        let mut name = patterns[rng.below(patterns.len())]
            .replace("{s}", saints[rng.below(saints.len())])
            .replace("{}", city);
        if !names.insert(name.clone()) {
            // Big cities have several sites of one hospital; the number keeps names unique.
            name = format!("{name} – site {}", i + 1);
            names.insert(name.clone());
        }
        let mut requested: Vec<String> = RequestedData::ALL
            .iter()
            .filter(|_| rng.below(5) < 2)
            .map(|r| r.key().to_owned())
            .collect();
        if requested.is_empty() {
            requested.push(
                RequestedData::ALL[rng.below(RequestedData::ALL.len())]
                    .key()
                    .into(),
            );
        }
        // Spread evenly over the seven stages.
        let target = Stage::ALL[i % Stage::ALL.len()];
        // Most hospitals need an ethics committee; one standing at that stage surely does.
        let ethics_required = rng.below(4) != 0 || target == Stage::EthicsApproval;
        let fields = InstituteFields {
            name,
            location: format!("{city}, {country}"),
            requested_data: requested,
            contacts: format!("imaging-research@hospital{i}.example"),
            notes: String::new(),
            ethics_required,
        };
        let institute = platform
            .create_institute(&fields, Stage::FirstContact.key(), actor)
            .await?;
        let mut at = Stage::FirstContact;
        while at != target {
            let mv = if at == Stage::DataRequestSent
                && !ethics_required
                && target.number() > Stage::EthicsApproval.number()
            {
                Move::SkipEthics
            } else {
                Move::Forward
            };
            let next = at.apply(mv, "")?;
            let note = match mv {
                Move::SkipEthics => "ethics approval not required.",
                _ => "",
            };
            platform
                .move_institute(
                    &institute.id,
                    at.key(),
                    next.key(),
                    ethics_required,
                    actor,
                    note,
                )
                .await?;
            at = next;
        }
    }
    // Every change is committed; dropping the catalog closes its pool.
    drop(catalog);
    Ok(())
}

/// A child process that is stopped when this is dropped, on success and on error alike.
struct Guard {
    child: Child,
    name: &'static str,
}

impl Guard {
    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        // SIGTERM first: nginx's master then stops its workers, which SIGKILL would orphan.
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!("note: {} did not stop on SIGTERM; killing it", self.name);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Lunghub {
    addr: String,
    _guard: Guard,
}

/// Starts this very binary as `lunghub serve` on a free port of 127.0.0.1 and returns
/// once it has printed the address it listens on.
fn start_lunghub(data: &Path) -> Result<Lunghub> {
    let exe = std::env::current_exe().context("cannot find the lunghub binary")?;
    let mut child = Command::new(&exe)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data)
        // The seeded catalog is SQLite in the data folder: settings from the environment
        // must not point the server at another database, blob store or mail server.
        .env_remove("LUNGHUB_DATABASE_URL")
        .env_remove("LUNGHUB_BLOB_URL")
        .env_remove("LUNGHUB_PUBLIC_URL")
        .env_remove("LUNGHUB_DATA_DIR")
        .env_remove("LUNGHUB_SMTP_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start {} serve", exe.display()))?;
    let stdout = child
        .stdout
        .take()
        .context("no stdout from lunghub serve")?;
    let guard = Guard {
        child,
        name: "lunghub serve",
    };
    // Lines are read on a thread that keeps draining stdout, so a chatty server never
    // blocks on a full pipe, while this thread waits with a time limit.
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = match rx.recv_timeout(left) {
            Ok(line) => line,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                bail!("lunghub serve printed no address within 60 s")
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                bail!("lunghub serve stopped before listening (its errors are above)")
            }
        };
        // "lunghub serving on http://PUBLIC (listening on ADDR)"
        if line.starts_with("lunghub serving on ") {
            let addr = line
                .rsplit_once("(listening on ")
                .and_then(|(_, rest)| rest.strip_suffix(')'))
                .with_context(|| format!("unexpected start line from lunghub serve: {line}"))?;
            return Ok(Lunghub {
                addr: addr.to_owned(),
                _guard: guard,
            });
        }
    }
}

struct Nginx {
    port: u16,
    guard: Guard,
}

/// Starts nginx in the foreground with everything it writes inside `dir`, serving `site`.
fn start_nginx(nginx: &Path, dir: &Path, site: &Path) -> Result<Nginx> {
    // A free port: bound by the system, then released for nginx. Nothing else on this
    // machine is expected to grab it in between.
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    // Workers drop to `user` when the master runs as root; they must still read the
    // temp folder, which is private to the user who made it.
    let uid = fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(u32::MAX);
    let user = if uid == 0 { "user root;\n" } else { "" };
    let d = dir.display();
    let config = format!(
        "{user}daemon off;
worker_processes auto;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    default_type text/html;
    sendfile on;
    tcp_nopush on;
    client_body_temp_path {d}/client_body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    server {{
        listen 127.0.0.1:{port};
        root {site};
    }}
}}
",
        site = site.display()
    );
    let conf = dir.join("nginx.conf");
    fs::write(&conf, config)?;
    let child = Command::new(nginx)
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(&conf)
        // Errors before the config is read would otherwise go to /var/log/nginx.
        .arg("-e")
        .arg(dir.join("error.log"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .with_context(|| format!("cannot start {}: {INSTALL_HINT}", nginx.display()))?;
    Ok(Nginx {
        port,
        guard: Guard {
            child,
            name: "nginx",
        },
    })
}

/// Polls `url` until it answers 200 and returns the body; nginx's error log on failure.
async fn wait_until_answers(url: &str, nginx_dir: &Path, pid: u32) -> Result<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match fetch(url).await {
            Ok(body) => return Ok(body),
            Err(e) if Instant::now() > deadline || !Path::new(&format!("/proc/{pid}")).exists() => {
                let mut log = String::new();
                let _ = fs::File::open(nginx_dir.join("error.log"))
                    .and_then(|mut f| f.read_to_string(&mut log));
                bail!("{url} does not answer: {e:#}\nnginx's error log:\n{log}");
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

async fn fetch(url: &str) -> Result<String> {
    let response = reqwest::get(url).await?;
    let status = response.status();
    if !status.is_success() {
        bail!("{url} answered {status}");
    }
    Ok(response.text().await?)
}

/// What one wrk run measured.
struct WrkRun {
    requests_per_s: f64,
    p99_ms: f64,
    socket_errors: u64,
    /// Bytes read per response, headers included.
    bytes_per_response: f64,
}

fn wrk_threads(connections: usize) -> usize {
    // wrk refuses more threads than connections.
    connections.min(2)
}

fn run_wrk(wrk: &Path, url: &str, connections: usize, secs: u64) -> Result<WrkRun> {
    let out = Command::new(wrk)
        .arg(format!("-t{}", wrk_threads(connections)))
        .arg(format!("-c{connections}"))
        .arg(format!("-d{secs}s"))
        .arg("--latency")
        .arg(url)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {}: {INSTALL_HINT}", wrk.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!(
            "wrk failed against {url}: {}{}",
            text,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    parse_wrk(&text).with_context(|| format!("unexpected wrk output against {url}:\n{text}"))
}

/// Reads "Requests/sec:", the 99% line of the latency distribution, and the error lines.
fn parse_wrk(text: &str) -> Result<WrkRun> {
    let mut requests_per_s = None;
    let mut p99_ms = None;
    let mut socket_errors = 0;
    let mut bytes_per_response = None;
    for line in text.lines().map(str::trim) {
        if let Some(v) = line.strip_prefix("Requests/sec:") {
            requests_per_s = Some(v.trim().parse::<f64>()?);
        } else if let Some(v) = line.strip_prefix("99%") {
            p99_ms = Some(duration_ms(v.trim())?);
        } else if let Some(v) = line.strip_prefix("Non-2xx or 3xx responses:") {
            // Error pages are not the page being measured.
            bail!("{} responses were errors", v.trim());
        } else if let Some((count, rest)) = line.split_once(" requests in ") {
            // "150000 requests in 5.00s, 2.00GB read"
            let read = rest
                .split_once(", ")
                .and_then(|(_, r)| r.strip_suffix(" read"))
                .with_context(|| format!("no bytes read in {line:?}"))?;
            bytes_per_response = Some(size_bytes(read)? / count.trim().parse::<f64>()?.max(1.0));
        } else if let Some(v) = line.strip_prefix("Socket errors:") {
            // "connect 0, read 0, write 0, timeout 0"
            socket_errors = v
                .split(',')
                .filter_map(|part| part.split_whitespace().nth(1)?.parse::<u64>().ok())
                .sum();
        }
    }
    Ok(WrkRun {
        requests_per_s: requests_per_s.context("no Requests/sec line")?,
        p99_ms: p99_ms.context("no 99% latency line")?,
        socket_errors,
        bytes_per_response: bytes_per_response.context("no requests line")?,
    })
}

/// wrk's sizes: a number with B, KB, MB, GB or TB, in powers of 1024.
fn size_bytes(v: &str) -> Result<f64> {
    let split = v
        .find(|c: char| c.is_ascii_alphabetic())
        .with_context(|| format!("no unit in {v:?}"))?;
    let (number, unit) = v.split_at(split);
    let n: f64 = number.trim().parse()?;
    let power = match unit {
        "B" => 0,
        "KB" => 1,
        "MB" => 2,
        "GB" => 3,
        "TB" => 4,
        other => bail!("unknown unit {other:?} in {v:?}"),
    };
    Ok(n * 1024f64.powi(power))
}

/// wrk's durations: a number with us, ms, s, m or h.
fn duration_ms(v: &str) -> Result<f64> {
    let split = v
        .find(|c: char| c.is_ascii_alphabetic())
        .with_context(|| format!("no unit in {v:?}"))?;
    let (number, unit) = v.split_at(split);
    let n: f64 = number.trim().parse()?;
    Ok(match unit {
        "us" => n / 1000.0,
        "ms" => n,
        "s" => n * 1000.0,
        "m" => n * 60_000.0,
        "h" => n * 3_600_000.0,
        other => bail!("unknown unit {other:?} in {v:?}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "Running 5s test @ http://127.0.0.1:1/status
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.10ms    1.02ms  30.00ms   90.00%
    Req/Sec    15.00k     1.00k   17.00k    70.00%
  Latency Distribution
     50%    1.90ms
     75%    2.40ms
     90%    3.10ms
     99%  812.00us
  150000 requests in 5.00s, 2.00GB read
  Socket errors: connect 0, read 3, write 0, timeout 2
Requests/sec:  30000.50
Transfer/sec:    400.00MB
";

    #[test]
    fn reads_wrk_output() {
        let run = parse_wrk(SAMPLE).unwrap();
        assert_eq!(run.requests_per_s, 30000.5);
        assert!((run.p99_ms - 0.812).abs() < 1e-9);
        assert_eq!(run.socket_errors, 5);
        assert!((run.bytes_per_response - 2.0 * 1024f64.powi(3) / 150000.0).abs() < 1e-6);
    }

    #[test]
    fn refuses_error_responses() {
        let with_errors = SAMPLE.replace(
            "Requests/sec",
            "  Non-2xx or 3xx responses: 7\nRequests/sec",
        );
        assert!(parse_wrk(&with_errors).is_err());
    }

    #[test]
    fn converts_units() {
        assert_eq!(duration_ms("1.50s").unwrap(), 1500.0);
        assert_eq!(duration_ms("250.00us").unwrap(), 0.25);
        assert!(duration_ms("3.00parsecs").is_err());
        assert_eq!(size_bytes("1.50KB").unwrap(), 1536.0);
        assert_eq!(size_bytes("512.00B").unwrap(), 512.0);
    }
}
