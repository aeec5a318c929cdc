//! Ingest benchmark: a load generator on loopback sends distinct, signed, 2 KiB deliveries to
//! `procurize serve` (separate processes, the gate step running) on a durable SQLite store, on
//! PostgreSQL with one replica and with two replicas sharing the load, then the same load to a
//! bare axum handler that answers 200 without verifying or storing (the ceiling). Reports
//! accepted deliveries per second, p50 and p99 latency, each server's peak RSS, and the ratio to
//! the ceiling.
//!
//! PostgreSQL is a private cluster the benchmark starts with `.ci/pg-cluster` (Debian's
//! `postgresql`, `fsync` and `synchronous_commit` on, TLS verified against its own CA); without
//! `initdb` those runs are skipped.
//!
//! The PostgreSQL runs alternate one replica and two, `--rounds` times, and show each one's median
//! run and the ratio of two replicas to one round by round. Each run also shows the CPU time per
//! accepted delivery of the servers, of the database's processes and of the load generator,
//! which share the machine's cores.
//!
//! `cargo build --release -p procurize-cli && cargo bench -p procurize-server --bench ingest`
//! Options: `--seconds S` (default 10), `--concurrency C` (default 32), `--rounds N` (default
//! 3), `--procurize PATH` (default `$CARGO_TARGET_DIR/release/procurize`).

#![allow(clippy::print_stdout, clippy::print_stderr, missing_docs)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use procurize_core::webhook::{Secret, sign_hmac};

const SECRET: &str = "benchmark-secret";
const ORG: &str = "00000000-0000-0000-0000-000000000001";
const BODY_SIZE: usize = 2048;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The bare handler: reads the body and answers 200, nothing else.
fn bare_server(port: u16) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let app = axum::Router::new().route(
            "/webhooks/procurize",
            axum::routing::post(|body: axum::body::Bytes| async move {
                std::hint::black_box(body);
                "ok"
            }),
        );
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("bind");
        axum::serve(listener, app).await.expect("serve");
    });
}

/// One distinct delivery of exactly `BODY_SIZE` bytes: a report with its own upload time, padded
/// with a field the server ignores.
fn body(n: usize) -> Vec<u8> {
    let make = |padding: usize| {
        format!(
            r#"{{"organizationId":"{ORG}","reports":[{{"projectName":"Benchmark product","id":"00000000-0000-0000-0000-000000000100","reportType":"CWE Top 25","reportVersion":2024,"projectVersion":"1.0","date":"2026-01-01T00:00:00Z","uploadDate":"2026-01-01T00:00:00.{n:09}Z","vulnerabilitiesCount":0,"securityRating":"A","notes":"{}"}}]}}"#,
            "x".repeat(padding)
        )
    };
    let bare = make(0).len();
    make(BODY_SIZE.saturating_sub(bare)).into_bytes()
}

struct Run {
    accepted: usize,
    failed: usize,
    elapsed: Duration,
    p50: Duration,
    p99: Duration,
    peak_rss_kib: u64,
    /// CPU time of the servers, of the database's processes and of this load generator: the
    /// three share the machine's cores.
    cpu: Cpu,
}

#[derive(Default, Clone, Copy)]
struct Cpu {
    server: Duration,
    database: Option<Duration>,
    client: Duration,
}

/// The clock ticks per second of `/proc/*/stat` (`getconf CLK_TCK`; 100 on Linux).
fn clock_ticks() -> u64 {
    static TICKS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100)
    })
}

/// A process's `/proc/PID/stat` fields after the command name: (parent, own CPU ticks, reaped
/// children's CPU ticks).
fn stat(pid: &str) -> Option<(u32, u64, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = text.rsplit_once(") ")?.1.split_whitespace().collect();
    let number = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok());
    let parent = u32::try_from(number(1)?).ok()?;
    Some((parent, number(11)? + number(12)?, number(13)? + number(14)?))
}

fn ticks(ticks: u64) -> Duration {
    Duration::from_secs_f64(ticks as f64 / clock_ticks() as f64)
}

/// CPU time used by a process (its own, not its children's).
fn cpu_of(pid: u32) -> Duration {
    ticks(stat(&pid.to_string()).map_or(0, |s| s.1))
}

/// CPU time used by a process tree one level deep: the process, its live children and the
/// children it has reaped (PostgreSQL's postmaster and its backends).
fn cpu_of_tree(pid: u32) -> Duration {
    let (_, own, reaped) = stat(&pid.to_string()).unwrap_or_default();
    let live: u64 = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| stat(e.file_name().to_str()?))
        .filter(|s| s.0 == pid)
        .map(|s| s.1 + s.2)
        .sum();
    ticks(own + reaped + live)
}

fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

async fn wait_ready(url: &str) {
    let client = procurize_core::tls::reqwest_client().expect("http client");
    for _ in 0..200 {
        if client.get(url).send().await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{url} did not answer within 10 s");
}

async fn load(
    urls: &[String],
    bodies: Arc<Vec<(Vec<u8>, String)>>,
    seconds: u64,
    concurrency: usize,
) -> (usize, usize, Duration, Vec<Duration>) {
    let client = procurize_core::tls::reqwest_builder(&procurize_core::tls::ExtraRoots::none())
        .expect("tls")
        .pool_max_idle_per_host(concurrency)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for task in 0..concurrency {
        let url = urls[task % urls.len()].clone();
        let (client, next, bodies) = (client.clone(), next.clone(), bodies.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let (mut accepted, mut failed) = (0, 0);
            while Instant::now() < deadline {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((body, signature)) = bodies.get(i) else {
                    break;
                };
                let sent = Instant::now();
                let result = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .header("X-Procurize-Signature", signature)
                    .body(body.clone())
                    .send()
                    .await;
                let ok = matches!(&result, Ok(r) if r.status().is_success());
                if let Ok(response) = result {
                    let _ = response.bytes().await;
                }
                latencies.push(sent.elapsed());
                if ok { accepted += 1 } else { failed += 1 }
            }
            (accepted, failed, latencies)
        }));
    }
    let (mut accepted, mut failed, mut latencies) = (0, 0, Vec::new());
    for task in tasks {
        let (a, f, l) = task.await.expect("join");
        accepted += a;
        failed += f;
        latencies.extend(l);
    }
    (accepted, failed, started.elapsed(), latencies)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

/// Loads the servers `children` (listening at `bases`) together, then stops them; the peak RSS
/// is the largest of theirs.
async fn measure(
    bench: &Bench,
    children: Vec<Child>,
    bases: &[String],
    path: &str,
    health: &str,
    database: Option<u32>,
) -> Run {
    for base in bases {
        wait_ready(&format!("{base}{health}")).await;
    }
    let urls: Vec<String> = bases.iter().map(|base| format!("{base}{path}")).collect();
    let servers_before: Duration = children.iter().map(|c| cpu_of(c.id())).sum();
    let database_before = database.map(cpu_of_tree);
    let client_before = cpu_of(std::process::id());
    let (accepted, failed, elapsed, mut latencies) = load(
        &urls,
        bench.bodies.clone(),
        bench.seconds,
        bench.concurrency,
    )
    .await;
    let client = cpu_of(std::process::id()).saturating_sub(client_before);
    latencies.sort();
    let peak = children
        .iter()
        .map(|c| peak_rss_kib(c.id()))
        .max()
        .unwrap_or(0);
    let servers: Duration = children.iter().map(|c| cpu_of(c.id())).sum();
    for mut child in children {
        stop(&mut child);
    }
    // After the servers stop, their backends have exited (the postmaster reaps them).
    let database = database
        .zip(database_before)
        .map(|(pid, before)| cpu_of_tree(pid).saturating_sub(before));
    let cpu = Cpu {
        server: servers.saturating_sub(servers_before),
        database,
        client,
    };
    Run {
        accepted,
        failed,
        elapsed,
        p50: percentile(&latencies, 0.50),
        p99: percentile(&latencies, 0.99),
        peak_rss_kib: peak,
        cpu,
    }
}

/// SIGTERM, a bounded wait, then SIGKILL.
fn stop(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    for _ in 0..200 {
        if child.try_wait().ok().flatten().is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Cargo's target folder: `CARGO_TARGET_DIR` when set (it may be outside the workspace), else the
/// workspace's `target`.
fn target_dir() -> PathBuf {
    std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"))
}

fn procurize_binary() -> PathBuf {
    arg("--procurize")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("release/procurize"))
}

fn print(name: &str, run: &Run) {
    let rate = run.accepted as f64 / run.elapsed.as_secs_f64();
    // CPU milliseconds per accepted delivery.
    let per = |d: Duration| d.as_secs_f64() * 1e3 / run.accepted.max(1) as f64;
    let database = run
        .cpu
        .database
        .map_or_else(String::new, |d| format!(" database {:.3}", per(d)));
    println!(
        "{name:<40} {rate:>7.0}/s  accepted {:>7}  failed {:>5}  p50 {:>6.2} ms  p99 {:>6.2} ms  peak RSS {:>5.1} MiB  CPU ms/delivery: server {:.3}{database} client {:.3}",
        run.accepted,
        run.failed,
        run.p50.as_secs_f64() * 1e3,
        run.p99.as_secs_f64() * 1e3,
        run.peak_rss_kib as f64 / 1024.0,
        per(run.cpu.server),
        per(run.cpu.client),
    );
}

/// What every run's servers share: the binary, the folder, the deliveries and the load.
struct Bench {
    binary: PathBuf,
    dir: tempfile::TempDir,
    bodies: Arc<Vec<(Vec<u8>, String)>>,
    seconds: u64,
    concurrency: usize,
    runtime: tokio::runtime::Runtime,
}

impl Bench {
    /// Starts `replicas` servers with `store` as their `[store]` section, loads them, stops
    /// them; `database` is the PostgreSQL postmaster's process, whose CPU time is counted too.
    fn serve(&self, name: &str, store: &str, replicas: usize, database: Option<u32>) -> Run {
        let mut children = Vec::new();
        let mut bases = Vec::new();
        for n in 0..replicas {
            let port = free_port();
            let config = self.dir.path().join(format!("{name}-{n}.toml"));
            std::fs::write(
                &config,
                format!(
                    "[server]\nlisten = \"127.0.0.1:{port}\"\n\n[api]\nbase_url = \"http://127.0.0.1:9\"\norganizations = [\"{ORG}\"]\n\n[webhook]\n\n[[webhook.secret]]\nfile = \"secret\"\n\n{store}"
                ),
            )
            .expect("config");
            let log = std::fs::File::create(self.dir.path().join(format!("{name}-{n}.log")))
                .expect("log file");
            children.push(
                Command::new(&self.binary)
                    // As in production: INFO logs (a line per delivery and per step), JSON, to a
                    // file.
                    .args(["serve", "--log-format", "json", "--config"])
                    .arg(&config)
                    .stdout(Stdio::null())
                    .stderr(Stdio::from(log))
                    .spawn()
                    .expect("procurize serve"),
            );
            bases.push(format!("http://127.0.0.1:{port}"));
        }
        self.runtime.block_on(measure(
            self,
            children,
            &bases,
            "/webhooks/procurize",
            "/healthz",
            database,
        ))
    }
}

impl Bench {
    /// One run of `replicas` servers on a new database of `cluster`; checks that every accepted
    /// delivery is in it.
    fn serve_postgres(&self, cluster: &Cluster, replicas: usize, round: usize) -> Run {
        let database = format!("bench_{replicas}_{round}");
        let store = cluster.store(&self.runtime, &database, self.dir.path());
        let run = self.serve(&database, &store, replicas, cluster.postmaster());
        let stored = cluster.query(&self.runtime, &database, "SELECT count(*) FROM events");
        assert_eq!(
            stored as usize, run.accepted,
            "every accepted delivery is in the database"
        );
        // The replicas have stopped, so their sessions' statistics are flushed.
        let commits = cluster.query(
            &self.runtime,
            "postgres",
            &format!("SELECT xact_commit FROM pg_stat_database WHERE datname = '{database}'"),
        );
        println!(
            "  round {}: {replicas} replica(s) {:.0}/s, {:.2} transactions per delivery",
            round + 1,
            run.accepted as f64 / run.elapsed.as_secs_f64(),
            commits as f64 / run.accepted.max(1) as f64
        );
        run
    }
}

/// A private PostgreSQL cluster (`.ci/pg-cluster`), stopped when dropped.
struct Cluster {
    dir: tempfile::TempDir,
    url: String,
}

impl Cluster {
    fn script() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.ci/pg-cluster")
    }

    fn run(args: &[&str]) -> Option<String> {
        let out = Command::new("bash")
            .arg(Self::script())
            .args(args)
            .output()
            .ok()?;
        if !out.status.success() {
            eprintln!(
                ".ci/pg-cluster {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            return None;
        }
        Some(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    /// `None` (said on stderr) where PostgreSQL is not installed.
    fn start(within: &Path) -> Option<Self> {
        let dir = tempfile::tempdir_in(within).ok()?;
        // The server may run as `postgres` (under root): it must reach its folder.
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .ok()?;
        let path = dir.path().join("cluster").display().to_string();
        Self::run(&["init", &path])?;
        let url = Self::run(&["start", &path])?;
        Some(Self { dir, url })
    }

    /// The postmaster's process ID (the first line of `postmaster.pid`).
    fn postmaster(&self) -> Option<u32> {
        let pid = std::fs::read_to_string(self.dir.path().join("cluster/data/postmaster.pid"));
        pid.ok()?.lines().next()?.trim().parse().ok()
    }

    fn ca(&self) -> PathBuf {
        self.dir.path().join("cluster/ca.crt")
    }

    /// Runs `sql` and returns the first column of the first row.
    fn query(&self, runtime: &tokio::runtime::Runtime, database: &str, sql: &str) -> i64 {
        let url = format!(
            "{}/{database}",
            self.url.rsplit_once('/').expect("a path").0
        );
        runtime.block_on(async {
            let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .expect("connects");
            tokio::spawn(connection);
            let rows = client.simple_query(sql).await.expect("queries");
            rows.iter()
                .find_map(|m| match m {
                    tokio_postgres::SimpleQueryMessage::Row(row) => {
                        row.get(0).and_then(|v| v.parse().ok())
                    }
                    _ => None,
                })
                .unwrap_or(0)
        })
    }

    /// A new database and the `[store]` section for it.
    fn store(&self, runtime: &tokio::runtime::Runtime, name: &str, dir: &Path) -> String {
        self.query(runtime, "postgres", &format!("CREATE DATABASE {name}"));
        let url_file = dir.join(format!("{name}.url"));
        let url = format!("{}/{name}", self.url.rsplit_once('/').expect("a path").0);
        std::fs::write(&url_file, url).expect("url file");
        format!(
            "[store]\ntype = \"postgres\"\nurl_file = \"{}\"\nsslmode = \"verify-full\"\nca_cert = \"{}\"\n",
            url_file.display(),
            self.ca().display()
        )
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let path = self.dir.path().join("cluster").display().to_string();
        let _ = Self::run(&["stop", &path]);
    }
}

fn main() {
    if let Some(port) = arg("--bare-server") {
        bare_server(port.parse().expect("port"));
        return;
    }
    let seconds: u64 = arg("--seconds").map_or(10, |s| s.parse().expect("seconds"));
    let concurrency: usize = arg("--concurrency").map_or(32, |s| s.parse().expect("concurrency"));
    let rounds: usize = arg("--rounds")
        .map_or(3, |s| s.parse().expect("rounds"))
        .max(1);
    let binary = procurize_binary();
    assert!(
        binary.is_file(),
        "build it first: cargo build --release -p procurize-cli ({})",
        binary.display()
    );

    // Enough distinct deliveries for the run (at most ~20,000/s for as long as it lasts).
    let count = (seconds as usize * 20_000).max(10_000);
    let secret = Secret::new(SECRET.as_bytes().to_vec());
    let bodies: Arc<Vec<(Vec<u8>, String)>> = Arc::new(
        (0..count)
            .map(|n| {
                let body = body(n);
                let signature = sign_hmac(&secret, &body);
                (body, signature)
            })
            .collect(),
    );
    assert_eq!(bodies[0].0.len(), BODY_SIZE);

    // On the target folder's disk, not a tmpfs: the store's fsyncs are part of what is measured.
    let dir = tempfile::tempdir_in(target_dir()).expect("temp dir");
    std::fs::write(dir.path().join("secret"), SECRET).expect("secret");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    println!(
        "{count} distinct signed {BODY_SIZE}-byte deliveries prepared; {seconds} s per run, {concurrency} concurrent requests, 127.0.0.1"
    );
    let bench = Bench {
        binary,
        dir,
        bodies,
        seconds,
        concurrency,
        runtime,
    };
    let rate = |r: &Run| r.accepted as f64 / r.elapsed.as_secs_f64();

    let sqlite = bench.serve("sqlite", "[store]\npath = \"store.db\"\n", 1, None);
    let stored = rusqlite::Connection::open(bench.dir.path().join("store.db"))
        .and_then(|c| c.query_row("SELECT COUNT(*) FROM events", [], |r| r.get::<_, i64>(0)))
        .expect("count events");
    assert_eq!(
        stored as usize, sqlite.accepted,
        "every accepted delivery is in the store"
    );
    let mut runs = vec![("procurize serve (SQLite)".to_owned(), sqlite)];

    // One replica and two, alternately, `rounds` times: this machine's speed drifts from one
    // run to the next by more than the difference measured, so the comparison is made round by
    // round and each configuration's median run is shown.
    let mut ratios = Vec::new();
    match Cluster::start(bench.dir.path()) {
        Some(cluster) => {
            let mut by_replicas: [Vec<Run>; 2] = [Vec::new(), Vec::new()];
            for round in 0..rounds {
                for replicas in [1, 2] {
                    let run = bench.serve_postgres(&cluster, replicas, round);
                    by_replicas[replicas - 1].push(run);
                }
                let [one, two] = &by_replicas;
                ratios.push(rate(&two[round]) / rate(&one[round]));
            }
            for (n, mut runs_of) in by_replicas.into_iter().enumerate() {
                runs_of.sort_by(|a, b| rate(a).total_cmp(&rate(b)));
                let label = format!(
                    "procurize serve (PostgreSQL, {} replica{}, median of {rounds})",
                    n + 1,
                    if n > 0 { "s" } else { "" }
                );
                runs.push((label, runs_of.swap_remove(runs_of.len() / 2)));
            }
        }
        None => {
            eprintln!("PostgreSQL runs skipped: no cluster could be started (install postgresql)")
        }
    }

    let bare_port = free_port();
    let bare = Command::new(std::env::current_exe().expect("self"))
        .args(["--bare-server", &bare_port.to_string()])
        .stdout(Stdio::null())
        .spawn()
        .expect("bare server");
    // The bare server has no /healthz: any answer means it is up.
    let ceiling = bench.runtime.block_on(measure(
        &bench,
        vec![bare],
        &[format!("http://127.0.0.1:{bare_port}")],
        "/webhooks/procurize",
        "/",
        None,
    ));
    for (label, run) in &runs {
        print(label, run);
    }
    print("bare axum handler", &ceiling);
    for (label, run) in &runs {
        println!(
            "throughput ratio {label}/bare = {:.2}",
            rate(run) / rate(&ceiling)
        );
    }
    if !ratios.is_empty() {
        let each: Vec<String> = ratios.iter().map(|r| format!("{r:.2}")).collect();
        ratios.sort_by(f64::total_cmp);
        println!(
            "throughput ratio PostgreSQL 2 replicas/1 replica, round by round: {} (median {:.2})",
            each.join(" "),
            ratios[ratios.len() / 2]
        );
    }
}
