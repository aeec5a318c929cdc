//! A fresh database per test in the PostgreSQL cluster `.ci/run` starts
//! (`PROCURIZE_TEST_POSTGRES_URL`, its CA in `PROCURIZE_TEST_POSTGRES_CA`), or a private cluster
//! of the test's own (`.ci/pg-cluster`) for tests that stop and start the database.
//!
//! Outside CI without a cluster the tests that need one are skipped, saying so; in CI (`CI` set)
//! they fail.

use std::path::{Path, PathBuf};
use std::process::Command;

use procurize_server::config::{PostgresConfig, SslMode, StoreConfig};
use tempfile::TempDir;

/// The variable holding the shared cluster's URL (its `postgres` database).
pub const URL_VAR: &str = "PROCURIZE_TEST_POSTGRES_URL";
/// The variable holding the shared cluster's CA certificate.
pub const CA_VAR: &str = "PROCURIZE_TEST_POSTGRES_CA";

/// One database of its own, with its URL in a file (the store reads it from there).
pub struct Database {
    /// The URL, with the password.
    pub url: String,
    /// The CA certificate of the cluster's TLS, when known.
    pub ca_cert: Option<PathBuf>,
    dir: TempDir,
}

/// Whether PostgreSQL tests must run (CI) rather than be skipped.
fn required() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false")
}

/// `None` (skipped, said on stderr) outside CI without a cluster.
#[allow(clippy::print_stderr)] // saying why a test did nothing
fn shared_url(test: &str) -> Option<String> {
    match std::env::var(URL_VAR) {
        Ok(url) if !url.is_empty() => Some(url),
        _ if required() => {
            panic!("{test} needs PostgreSQL: set {URL_VAR} (`.ci/run` starts a cluster)")
        }
        _ => {
            eprintln!("{test}: skipped, {URL_VAR} is not set (`.ci/pg-cluster` starts a cluster)");
            None
        }
    }
}

/// Replaces the database of `url` (its path) with `name`.
pub fn with_database(url: &str, name: &str) -> String {
    let (server, _) = url.rsplit_once('/').expect("the URL has a database path");
    format!("{server}/{name}")
}

/// Runs `sql` on `url` (plain TCP: these are the tests' own connections).
pub async fn execute(url: &str, sql: &str) {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to the test cluster: {e}"));
    let task = tokio::spawn(connection);
    client
        .batch_execute(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    drop(client);
    let _ = task.await;
}

/// A new, empty database in the shared cluster; `None` when skipped.
pub async fn database(test: &str) -> Option<Database> {
    let base = shared_url(test)?;
    let name = format!(
        "t_{}_{:08x}",
        test.replace(|c: char| !c.is_ascii_alphanumeric(), "_"),
        fastrand::u32(..)
    );
    let name = name[name.len().saturating_sub(60)..]
        .trim_start_matches('_')
        .to_owned();
    execute(&base, &format!("CREATE DATABASE \"{name}\"")).await;
    Some(Database {
        url: with_database(&base, &name),
        ca_cert: std::env::var_os(CA_VAR).map(PathBuf::from),
        dir: tempfile::tempdir().expect("temp dir"),
    })
}

impl Database {
    /// The password in the URL.
    pub fn password(&self) -> &str {
        self.url
            .split(':')
            .nth(2)
            .and_then(|rest| rest.split('@').next())
            .expect("the URL has a password")
    }

    /// The URL written to a file of its own (`url_file`).
    pub fn url_file(&self) -> PathBuf {
        let path = self.dir.path().join("database-url");
        std::fs::write(&path, &self.url).expect("writes the URL");
        path
    }

    /// A `[store]` for this database over plain TCP.
    pub fn store_config(&self) -> StoreConfig {
        StoreConfig::Postgres(self.postgres_config(SslMode::Disable))
    }

    /// The PostgreSQL settings with `sslmode`, the CA certificate given for `verify-full`.
    pub fn postgres_config(&self, sslmode: SslMode) -> PostgresConfig {
        PostgresConfig {
            url_env: None,
            url_file: Some(self.url_file()),
            pool_size: 8,
            sslmode,
            ca_cert: self.ca_cert.clone(),
            connect_timeout_seconds: 5,
        }
    }

    /// The `[store]` section of a configuration file using this database.
    pub fn store_section(&self) -> String {
        format!(
            "[store]\ntype = \"postgres\"\nurl_file = \"{}\"\nsslmode = \"disable\"\npool_size = 8\n",
            self.url_file().display()
        )
    }
}

/// A private cluster of the test's own, started; stopped when dropped.
pub struct Cluster {
    dir: TempDir,
    /// Its `postgres` database's URL.
    pub url: String,
}

fn cluster_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.ci/pg-cluster")
}

fn run_script(args: &[&str]) -> String {
    let output = Command::new("bash")
        .arg(cluster_script())
        .args(args)
        .output()
        .expect("runs .ci/pg-cluster");
    assert!(
        output.status.success(),
        ".ci/pg-cluster {args:?} failed\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

impl Cluster {
    /// Makes and starts one; `None` (skipped) where the shared cluster is not configured either,
    /// outside CI.
    pub fn start(test: &str) -> Option<Self> {
        shared_url(test)?;
        let dir = tempfile::tempdir().expect("temp dir");
        // The server may run as another user (`postgres`, under root): it must reach its folder.
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .expect("opens the temp dir");
        let path = dir.path().join("cluster");
        let path = path.to_str().expect("a UTF-8 temp path");
        run_script(&["init", path]);
        let url = run_script(&["start", path]);
        Some(Self { dir, url })
    }

    fn path(&self) -> String {
        self.dir.path().join("cluster").display().to_string()
    }

    /// Its `postgres` database, over plain TCP, as a [`Database`].
    pub fn database(&self) -> Database {
        Database {
            url: self.url.clone(),
            ca_cert: Some(self.dir.path().join("cluster/ca.crt")),
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// Stops it as a crash would (`pg_ctl stop -m immediate`).
    pub fn crash(&self) {
        run_script(&["stop", &self.path(), "immediate"]);
    }

    /// Starts it again.
    pub fn restart(&self) {
        run_script(&["start", &self.path()]);
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(cluster_script())
            .args(["stop", &self.path(), "immediate"])
            .output();
    }
}
