//! The service's configuration: one strict TOML file for the listener, the API, webhook
//! verification, the store, the jobs, the gate policy, the notifier and the archive.
//!
//! [`Config::from_file`] reads and checks the file (unknown keys are errors naming the file,
//! line and key); [`Config::prepare`] then loads everything the service needs at run time —
//! secrets, templates, the signing key — so a missing piece is found at start-up (and by
//! `procurize serve --check-config`), never by the first delivery.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use procurize_archive::SigningKey;
use procurize_core::webhook::{Scheme, Secret, Verifier};
use procurize_core::{Client, RetryPolicy, Uuid};
use procurize_gate::Policy;
use procurize_notify::Notifier;
use serde::Deserialize;

use crate::ServerError;

/// The default webhook path.
pub const DEFAULT_PATH: &str = "/webhooks/procurize";
/// The default body limit: 1 MiB.
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The HTTP listener.
    #[serde(default)]
    pub server: ServerSection,
    /// The Procurize API and the organizations this service accepts events for.
    pub api: ApiSection,
    /// How deliveries are verified.
    pub webhook: WebhookSection,
    /// Where events and jobs are kept.
    #[serde(default)]
    pub store: StoreConfig,
    /// How jobs are run and retried.
    #[serde(default)]
    pub jobs: JobsSection,
    /// The quality gate applied to each report event.
    #[serde(default)]
    pub gate: GateSection,
    /// Notifications (the notifier's own configuration: `[notify.channels.NAME]`,
    /// `[[notify.route]]`). Without it the workflow does not notify.
    #[serde(default)]
    pub notify: Option<procurize_notify::Config>,
    /// Evidence bundles. Without it the workflow does not archive.
    #[serde(default)]
    pub archive: Option<ArchiveSection>,
}

/// `[server]`: the HTTP listener.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    /// The address to listen on (default `127.0.0.1:8080`; `0.0.0.0:8080` in a container).
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// The webhook path (default `/webhooks/procurize`).
    #[serde(default = "default_path")]
    pub path: String,
    /// The largest body accepted, in bytes (default 1 MiB); larger deliveries get 413.
    #[serde(default = "default_body_limit")]
    pub body_limit_bytes: usize,
    /// How long a request may take, body included, in seconds (default 10).
    #[serde(default = "default_request_timeout")]
    pub request_timeout_seconds: u64,
    /// The most webhook requests handled at once; more wait (default 512).
    #[serde(default = "default_concurrency")]
    pub max_concurrent_requests: usize,
    /// How long SIGTERM waits for in-flight requests and steps, in seconds (default 30).
    #[serde(default = "default_grace")]
    pub shutdown_grace_seconds: u64,
}

impl Default for ServerSection {
    fn default() -> Self {
        Self {
            listen: default_listen(),
            path: default_path(),
            body_limit_bytes: default_body_limit(),
            request_timeout_seconds: default_request_timeout(),
            max_concurrent_requests: default_concurrency(),
            shutdown_grace_seconds: default_grace(),
        }
    }
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}
fn default_path() -> String {
    DEFAULT_PATH.into()
}
fn default_body_limit() -> usize {
    DEFAULT_BODY_LIMIT
}
fn default_request_timeout() -> u64 {
    10
}
fn default_concurrency() -> usize {
    512
}
fn default_grace() -> u64 {
    30
}

/// `[api]`: the Procurize API.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiSection {
    /// The API's base URL (default `https://api.procurize.com`).
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// The organizations whose events are accepted; a delivery for any other gets 403.
    pub organizations: Vec<Uuid>,
    /// How long one API request may take, in seconds (default 30).
    #[serde(default = "default_api_timeout")]
    pub timeout_seconds: u64,
    /// An extra CA certificate (PEM) to trust, e.g. a corporate proxy's.
    #[serde(default)]
    pub ca_cert: Option<PathBuf>,
}

fn default_base_url() -> String {
    "https://api.procurize.com".into()
}
fn default_api_timeout() -> u64 {
    30
}

/// The signature scheme, as written in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SchemeName {
    /// HMAC-SHA256 of the body in one header.
    #[default]
    Hmac,
    /// Standard Webhooks headers.
    StandardWebhooks,
}

pub use procurize_core::SecretSource;

/// Reads the secret `what` from `source`; its messages name `keys`, the configuration's two
/// fields (`["env", "file"]` for a table), and never the value.
pub fn read_secret(
    source: &SecretSource,
    what: &str,
    keys: [&str; 2],
) -> Result<String, ServerError> {
    source
        .read_as(keys)
        .map_err(|e| ServerError::Config(format!("{what}: {e}")))
}

/// `[webhook]`: how deliveries are verified.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSection {
    /// `hmac` (default) or `standard_webhooks`.
    #[serde(default)]
    pub scheme: SchemeName,
    /// The accepted secrets; list the new one and the old one while rotating.
    #[serde(rename = "secret")]
    pub secrets: Vec<SecretSource>,
    /// The signature header of the `hmac` scheme (default `X-Procurize-Signature`).
    #[serde(default)]
    pub signature_header: Option<String>,
    /// The timestamp header of the `hmac` scheme (default `X-Procurize-Timestamp`).
    #[serde(default)]
    pub timestamp_header: Option<String>,
    /// The timestamp tolerance in seconds; 0 turns the check off (default: 300 for Standard
    /// Webhooks, off for `hmac`, whose platform retries resend the same signature).
    #[serde(default)]
    pub tolerance_seconds: Option<u64>,
}

/// `[store]`: where events and jobs are kept, chosen by `type` (default `sqlite`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreConfig {
    /// `type = "sqlite"`: one SQLite file (WAL, `synchronous=FULL`), for one server process.
    Sqlite(SqliteConfig),
    /// `type = "postgres"`: one PostgreSQL database, shared by any number of replicas.
    Postgres(PostgresConfig),
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self::Sqlite(SqliteConfig {
            path: default_store_path(),
        })
    }
}

impl<'de> Deserialize<'de> for StoreConfig {
    /// A table tagged by `type`, which may be left out for SQLite (configurations written before
    /// there was a choice keep working); each kind's keys are checked strictly.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        let mut table = toml::Table::deserialize(deserializer)?;
        let kind = match table.remove("type") {
            None => "sqlite".to_owned(),
            Some(toml::Value::String(kind)) => kind,
            Some(other) => {
                return Err(D::Error::custom(format!(
                    "`type` must be a string (`sqlite` or `postgres`), not a {}",
                    other.type_str()
                )));
            }
        };
        let value = toml::Value::Table(table);
        let strict = |e: toml::de::Error| D::Error::custom(e.message().trim().to_owned());
        match kind.as_str() {
            "sqlite" => value.try_into().map(Self::Sqlite).map_err(strict),
            "postgres" => value.try_into().map(Self::Postgres).map_err(strict),
            other => Err(D::Error::custom(format!(
                "unknown store type `{other}`; expected `sqlite` or `postgres`"
            ))),
        }
    }
}

/// `[store]` with `type = "sqlite"`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqliteConfig {
    /// The SQLite file (relative to the configuration file; default `procurize.db`).
    #[serde(default = "default_store_path")]
    pub path: PathBuf,
}

/// `[store]` with `type = "postgres"`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresConfig {
    /// The environment variable holding the connection URL
    /// (`postgres://user:password@host:port/database`); never the URL in the file.
    #[serde(default)]
    pub url_env: Option<String>,
    /// Or the file holding it (relative to the configuration file).
    #[serde(default)]
    pub url_file: Option<PathBuf>,
    /// Connections kept open per replica (default 8).
    #[serde(default = "default_pool_size")]
    pub pool_size: usize,
    /// TLS to the database: `disable`, `require` (encrypted, the certificate not checked) or
    /// `verify-full` (default: the certificate chains to `ca_cert` or the system's roots and
    /// names the host).
    #[serde(default)]
    pub sslmode: SslMode,
    /// A PEM file of CA certificates trusted for the database's certificate (relative to the
    /// configuration file).
    #[serde(default)]
    pub ca_cert: Option<PathBuf>,
    /// How long connecting may take, in seconds (default 10).
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_seconds: u64,
}

impl PostgresConfig {
    /// Where the URL comes from.
    pub fn url_source(&self) -> SecretSource {
        SecretSource::new(self.url_env.clone(), self.url_file.clone())
    }
}

/// TLS to PostgreSQL, with libpq's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum SslMode {
    /// Plain TCP or a Unix socket.
    #[serde(rename = "disable")]
    Disable,
    /// TLS, the server's certificate not verified (protects against listening, not against an
    /// active attacker).
    #[serde(rename = "require")]
    Require,
    /// TLS, the certificate verified and matching the host.
    #[default]
    #[serde(rename = "verify-full")]
    VerifyFull,
}

fn default_pool_size() -> usize {
    8
}
fn default_connect_timeout() -> u64 {
    10
}

fn default_store_path() -> PathBuf {
    "procurize.db".into()
}

/// Makes the store's paths relative to the configuration file and checks what serde cannot.
fn resolve_store(store: &mut StoreConfig, base: &Path, origin: &str) -> Result<(), ServerError> {
    match store {
        StoreConfig::Sqlite(sqlite) => sqlite.path = base.join(&sqlite.path),
        StoreConfig::Postgres(postgres) => {
            if postgres.url_env.is_some() == postgres.url_file.is_some() {
                return Err(ServerError::Config(format!(
                    "{origin}: a postgres `[store]` needs exactly one of `url_env` and `url_file`"
                )));
            }
            if postgres.pool_size == 0 || postgres.connect_timeout_seconds == 0 {
                return Err(ServerError::Config(format!(
                    "{origin}: `store.pool_size` and `store.connect_timeout_seconds` must be at least 1"
                )));
            }
            postgres.url_file = postgres.url_file.take().map(|f| base.join(f));
            postgres.ca_cert = postgres.ca_cert.take().map(|f| base.join(f));
        }
    }
    Ok(())
}

/// `[jobs]`: how workflow steps are run and retried.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobsSection {
    /// Steps run at once (default 4).
    #[serde(default = "default_workers")]
    pub workers: usize,
    /// Attempts per step before it is dead (default 8).
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// The first retry's delay in seconds; each retry doubles it, with jitter (default 10).
    #[serde(default = "default_backoff")]
    pub backoff_seconds: f64,
    /// The longest delay between attempts in seconds (default 3600).
    #[serde(default = "default_backoff_max")]
    pub backoff_max_seconds: f64,
    /// How long a worker holds a job before another may take it over, in seconds (default 300).
    #[serde(default = "default_lease")]
    pub lease_seconds: u64,
    /// How often idle workers look for due jobs, in milliseconds (default 1000).
    #[serde(default = "default_poll")]
    pub poll_millis: u64,
}

impl Default for JobsSection {
    fn default() -> Self {
        Self {
            workers: default_workers(),
            max_attempts: default_max_attempts(),
            backoff_seconds: default_backoff(),
            backoff_max_seconds: default_backoff_max(),
            lease_seconds: default_lease(),
            poll_millis: default_poll(),
        }
    }
}

fn default_workers() -> usize {
    4
}
fn default_max_attempts() -> u32 {
    8
}
fn default_backoff() -> f64 {
    10.0
}
fn default_backoff_max() -> f64 {
    3600.0
}
fn default_lease() -> u64 {
    300
}
fn default_poll() -> u64 {
    1000
}

impl JobsSection {
    /// The jobs' retry policy: core's one [`RetryPolicy`], from `max_attempts`,
    /// `backoff_seconds` and `backoff_max_seconds`.
    pub fn retry_policy(&self) -> RetryPolicy {
        let max_backoff = Duration::from_secs_f64(self.backoff_max_seconds.max(0.0));
        RetryPolicy {
            max_attempts: self.max_attempts,
            initial_backoff: Duration::from_secs_f64(self.backoff_seconds.max(0.0)),
            max_backoff,
            max_retry_after: max_backoff,
        }
    }

    /// The delay before attempt `attempts + 1`: exponential from `backoff_seconds`, capped, with
    /// full jitter on the upper half (so retries of many jobs spread out).
    pub fn backoff(&self, attempts: u32) -> Duration {
        self.retry_policy().delay(attempts, None)
    }
}

/// `[gate]`: the policy applied to each report event.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateSection {
    /// The policy, written as in a gate policy file under `[gate.policy]` (default: rating A,
    /// no other rule).
    #[serde(default)]
    pub policy: Policy,
}

/// `[archive]`: evidence bundles.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchiveSection {
    /// The folder bundles are written to (relative to the configuration file), one per event:
    /// `<folder>/<organization>/<report>-<upload time in ns>.zip`.
    pub folder: PathBuf,
    /// The signing key (PKCS#8 PEM), from a file or an environment variable.
    pub key: SecretSource,
}

/// Everything the service needs at run time, loaded and checked.
pub struct Prepared {
    /// The configuration as read (paths resolved).
    pub config: Config,
    /// The file it came from.
    pub origin: String,
    /// The webhook verifier.
    pub verifier: Verifier,
    /// One API client per accepted organization.
    pub clients: BTreeMap<Uuid, Client>,
    /// The notifier, when configured.
    pub notifier: Option<Notifier>,
    /// The archive's signing key, when configured.
    pub signing_key: Option<SigningKey>,
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("origin", &self.origin)
            .field("verifier", &self.verifier)
            .field("organizations", &self.clients.keys().collect::<Vec<_>>())
            .field("notifier", &self.notifier)
            .field(
                "signing_key",
                &self.signing_key.as_ref().map(|_| "[REDACTED]"),
            )
            .finish()
    }
}

impl Config {
    /// Reads a configuration file: strict, with errors naming the file, the line and the key.
    /// Relative paths are made relative to the file's folder.
    pub fn from_file(path: &Path) -> Result<Self, ServerError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ServerError::Config(format!("cannot read {}: {e}", path.display())))?;
        Self::from_toml(&text, &path.display().to_string(), path.parent())
    }

    /// Parses a configuration's text; `origin` names it in errors, `base` anchors relative paths.
    pub fn from_toml(text: &str, origin: &str, base: Option<&Path>) -> Result<Self, ServerError> {
        let mut config: Self = procurize_core::config::parse_toml(text, origin)
            .map_err(|e| ServerError::Config(e.to_string()))?;
        let base = match base {
            Some(b) if !b.as_os_str().is_empty() => b.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let fail = |message: String| Err(ServerError::Config(format!("{origin}: {message}")));
        if !config.server.path.starts_with('/') {
            return fail(format!(
                "`server.path` must start with `/`, not `{}`",
                config.server.path
            ));
        }
        if config.server.body_limit_bytes == 0 || config.server.max_concurrent_requests == 0 {
            return fail(
                "`server.body_limit_bytes` and `server.max_concurrent_requests` must be at least 1"
                    .into(),
            );
        }
        if config.api.organizations.is_empty() {
            return fail("`api.organizations` must name at least one organization".into());
        }
        if config.webhook.secrets.is_empty() {
            return fail("`[[webhook.secret]]` must give at least one secret".into());
        }
        for (index, secret) in config.webhook.secrets.iter_mut().enumerate() {
            if secret.env.is_some() == secret.file.is_some() {
                let line = procurize_core::config::table_line(text, "webhook.secret", index);
                return Err(ServerError::Config(format!(
                    "{origin}:{line}: a [[webhook.secret]] needs exactly one of `env` and `file`"
                )));
            }
            secret.file = secret.file.take().map(|f| base.join(f));
        }
        let jobs = &config.jobs;
        if jobs.workers == 0 || jobs.max_attempts == 0 || jobs.lease_seconds == 0 {
            return fail(
                "`jobs.workers`, `jobs.max_attempts` and `jobs.lease_seconds` must be at least 1"
                    .into(),
            );
        }
        let usable = |seconds: f64| seconds.is_finite() && seconds >= 0.0;
        if !usable(jobs.backoff_seconds) || !usable(jobs.backoff_max_seconds) {
            return fail("`jobs.backoff_seconds` and `jobs.backoff_max_seconds` must be finite and not negative".into());
        }
        resolve_store(&mut config.store, &base, origin)?;
        config
            .gate
            .policy
            .validate(origin, text, "gate.policy.")
            .map_err(|e| ServerError::Config(e.to_string()))?;
        if let Some(notify) = config.notify.take() {
            config.notify = Some(
                notify
                    .resolve(&base, text, origin, "notify.")
                    .map_err(|e| ServerError::Config(e.to_string()))?,
            );
        }
        if let Some(archive) = &mut config.archive {
            archive.folder = base.join(&archive.folder);
            if archive.key.env.is_some() == archive.key.file.is_some() {
                return fail("`[archive.key]` needs exactly one of `env` and `file`".into());
            }
            archive.key.file = archive.key.file.take().map(|f| base.join(f));
        }
        Ok(config)
    }

    /// The SQLite file, for a SQLite store.
    pub fn store_path(&self) -> Option<&Path> {
        match &self.store {
            StoreConfig::Sqlite(sqlite) => Some(&sqlite.path),
            StoreConfig::Postgres(_) => None,
        }
    }

    /// Loads what the service needs at run time: secrets (present and usable), the API clients,
    /// the notifier (its secrets read, its templates compiled) and the signing key.
    pub fn prepare(self, origin: &str) -> Result<Prepared, ServerError> {
        let config_error = |e: procurize_core::Error| ServerError::Config(e.to_string());
        let webhook = &self.webhook;
        let scheme = match webhook.scheme {
            SchemeName::Hmac => Scheme::Hmac,
            SchemeName::StandardWebhooks => Scheme::StandardWebhooks,
        };
        let mut secrets = Vec::with_capacity(webhook.secrets.len());
        for (index, source) in webhook.secrets.iter().enumerate() {
            let what = format!("webhook secret #{}", index + 1);
            let text = read_secret(source, &what, ["env", "file"])?;
            secrets.push(match scheme {
                Scheme::StandardWebhooks => Secret::standard(&text)
                    .map_err(|e| ServerError::Config(format!("{what}: {e}")))?,
                _ => Secret::new(text.into_bytes()),
            });
        }
        let mut verifier = Verifier::new(scheme, secrets).map_err(config_error)?;
        if let Some(name) = &webhook.signature_header {
            verifier = verifier.signature_header(name).map_err(config_error)?;
        }
        if let Some(name) = &webhook.timestamp_header {
            verifier = verifier.timestamp_header(name).map_err(config_error)?;
        }
        if let Some(seconds) = webhook.tolerance_seconds {
            verifier = verifier.tolerance((seconds > 0).then(|| Duration::from_secs(seconds)));
        }

        let ca = match &self.api.ca_cert {
            Some(path) => Some(std::fs::read(path).map_err(|e| {
                ServerError::Config(format!(
                    "cannot read the CA certificate {}: {e}",
                    path.display()
                ))
            })?),
            None => None,
        };
        let mut clients = BTreeMap::new();
        for org in &self.api.organizations {
            let mut builder = Client::builder()
                .base_url(self.api.base_url.clone())
                .organization(org.to_string())
                .timeout(Duration::from_secs(self.api.timeout_seconds.max(1)))
                .retry(RetryPolicy::default());
            if let Some(pem) = &ca {
                builder = builder.add_ca_certificate_pem(pem);
            }
            clients.insert(*org, builder.build().map_err(config_error)?);
        }

        let notifier = match &self.notify {
            Some(notify) => Some(
                Notifier::new(notify.clone())
                    .map_err(|e| ServerError::Config(format!("notify: {e}")))?,
            ),
            None => None,
        };
        let signing_key = match &self.archive {
            Some(archive) => {
                let pem = read_secret(&archive.key, "the archive's signing key", ["env", "file"])?;
                Some(
                    SigningKey::from_pkcs8_pem(&pem).map_err(|e| {
                        ServerError::Config(format!("the archive's signing key: {e}"))
                    })?,
                )
            }
            None => None,
        };
        Ok(Prepared {
            config: self,
            origin: origin.to_owned(),
            verifier,
            clients,
            notifier,
            signing_key,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_stops_at_the_cap() {
        let jobs = JobsSection {
            backoff_seconds: 10.0,
            backoff_max_seconds: 60.0,
            ..JobsSection::default()
        };
        for _ in 0..200 {
            let first = jobs.backoff(1).as_secs_f64();
            assert!((5.0..=10.0).contains(&first), "{first}");
            let third = jobs.backoff(3).as_secs_f64();
            assert!((20.0..=40.0).contains(&third), "{third}");
            let late = jobs.backoff(30).as_secs_f64();
            assert!((30.0..=60.0).contains(&late), "{late}");
        }
        // Jitter: not every delay is the same.
        let delays: std::collections::BTreeSet<u128> =
            (0..50).map(|_| jobs.backoff(2).as_millis()).collect();
        assert!(delays.len() > 10, "{delays:?}");
    }

    #[test]
    fn secrets_come_from_exactly_one_source_and_errors_never_show_them() {
        let dir = tempfile::tempdir().expect("temp dir");
        let text = r#"
[api]
organizations = ["00000000-0000-0000-0000-000000000001"]

[webhook]

[[webhook.secret]]
env = "A"
file = "b"
"#;
        let error = Config::from_toml(text, "p.toml", Some(dir.path()))
            .expect_err("two sources")
            .to_string();
        assert!(error.contains("p.toml:7"), "{error}");
        assert!(error.contains("exactly one of `env` and `file`"), "{error}");

        std::fs::write(dir.path().join("secret"), "hunter2\n").expect("write");
        let source = SecretSource::new(None, Some(dir.path().join("secret")));
        assert_eq!(
            read_secret(&source, "test", ["env", "file"]).expect("reads"),
            "hunter2"
        );
        std::fs::write(dir.path().join("empty"), "\n").expect("write");
        let empty = SecretSource::new(None, Some(dir.path().join("empty")));
        let error = read_secret(&empty, "test", ["env", "file"])
            .expect_err("empty")
            .to_string();
        assert!(
            error.starts_with("test: file ") && error.ends_with("is empty"),
            "{error}"
        );
    }
}
