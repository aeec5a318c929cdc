//! A small pool of PostgreSQL connections, each with its prepared statements.
//!
//! At most `pool_size` connections exist; a caller waits for one to be free. A connection that
//! broke (the database restarted, the network dropped) is discarded when it comes back, and the
//! next caller connects anew, so nothing needs restarting after the database comes back.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Semaphore, SemaphorePermit};
use tokio_postgres::config::{Host, SslMode as WireSslMode};
use tokio_postgres::{Client, NoTls, Statement};

use super::tls::MakeRustls;
use crate::ServerError;
use crate::config::{PostgresConfig, SslMode};

/// The database's error in one line: PostgreSQL's own message and detail when it sent one,
/// the chain of causes otherwise. Never the connection URL (it is not part of any of these).
pub(super) fn describe_error(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => match db.detail() {
            Some(detail) => format!("{} ({}; {detail})", db.message(), db.code().code()),
            None => format!("{} ({})", db.message(), db.code().code()),
        },
        None => procurize_core::error_chain(error),
    }
}

/// One connection and the statements prepared on it.
pub(super) struct Connection {
    client: Client,
    statements: HashMap<&'static str, Statement>,
    /// Its `synchronous_commit` now.
    commit: Commit,
}

/// How a connection's commits wait for the database's log, chosen for each use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Commit {
    /// `synchronous_commit = on`: on disk before the commit returns. Deliveries, claims, lease
    /// renewals, recorded side effects, the Jira record, what an operator does; and reads.
    Durable,
    /// `synchronous_commit = off`: atomic and visible at once, on disk a moment later. Job
    /// results and start-up releases: a database crash may forget the last fraction of a
    /// second of them, and the jobs concerned are still leased, so they run again once the
    /// lease expires (their steps are idempotent, their side effects recorded durably). Claims
    /// and lease renewals stay durable: a forgotten one could let a second worker take a job
    /// that is still running.
    Bookkeeping,
}

/// The pool.
pub(super) struct Pool {
    config: tokio_postgres::Config,
    tls: Option<MakeRustls>,
    idle: Mutex<Vec<Connection>>,
    permits: Semaphore,
    description: String,
}

impl Pool {
    /// Reads the URL from its source and sets the pool up; nothing is connected yet.
    pub(super) fn new(settings: &PostgresConfig) -> Result<Self, ServerError> {
        let url = crate::config::read_secret(
            &settings.url_source(),
            "store.url",
            ["url_env", "url_file"],
        )?;
        let mut config: tokio_postgres::Config = url.parse().map_err(|e| {
            // The parser's message names the bad part; the URL itself is a secret.
            ServerError::Config(format!(
                "store.url: not a PostgreSQL connection URL: {}",
                procurize_core::error_chain(&e)
            ))
        })?;
        if config.get_user().is_none() {
            return Err(ServerError::Config(
                "store.url: the URL names no user (postgres://USER:PASSWORD@HOST/DATABASE)".into(),
            ));
        }
        if config.get_hosts().is_empty() {
            return Err(ServerError::Config(
                "store.url: the URL names no host".into(),
            ));
        }
        config
            .application_name("procurize")
            .connect_timeout(Duration::from_secs(settings.connect_timeout_seconds))
            .keepalives_idle(Duration::from_secs(30))
            // Every commit waits for the database's log to be on disk (whatever the server's
            // default): a delivery is answered only after that.
            .options("-c synchronous_commit=on");
        let tls = match settings.sslmode {
            SslMode::Disable => {
                config.ssl_mode(WireSslMode::Disable);
                None
            }
            SslMode::Require => {
                config.ssl_mode(WireSslMode::Require);
                let rustls = procurize_core::tls::client_config_unverified()
                    .map_err(|e| ServerError::Config(format!("store: {e}")))?;
                Some(MakeRustls(Arc::new(rustls)))
            }
            SslMode::VerifyFull => {
                config.ssl_mode(WireSslMode::Require);
                let mut roots = procurize_core::tls::ExtraRoots::none();
                if let Some(path) = &settings.ca_cert {
                    let pem = std::fs::read(path).map_err(|e| {
                        ServerError::Config(format!(
                            "store.ca_cert: cannot read {}: {e}",
                            path.display()
                        ))
                    })?;
                    roots.add_pem(&pem).map_err(|e| {
                        ServerError::Config(format!("store.ca_cert {}: {e}", path.display()))
                    })?;
                }
                let rustls = procurize_core::tls::client_config(&roots)
                    .map_err(|e| ServerError::Config(format!("store: {e}")))?;
                Some(MakeRustls(Arc::new(rustls)))
            }
        };
        let description = describe(&config);
        Ok(Self {
            config,
            tls,
            idle: Mutex::new(Vec::new()),
            permits: Semaphore::new(settings.pool_size),
            description,
        })
    }

    /// `user@host:port/database`, without the password.
    pub(super) fn describe(&self) -> &str {
        &self.description
    }

    /// A connection whose commits are `commit`: an idle one that still works, or a new one.
    pub(super) async fn get(&self, commit: Commit) -> Result<Pooled<'_>, ServerError> {
        let permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| ServerError::Store("the connection pool is closed".into()))?;
        let reused = {
            let mut idle = self
                .idle
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            // Broken connections go; one already in the wanted mode saves a `SET`.
            idle.retain(|connection| !connection.client.is_closed());
            let matching = idle
                .iter()
                .rposition(|connection| connection.commit == commit);
            match matching {
                Some(index) => Some(idle.swap_remove(index)),
                None => idle.pop(),
            }
        };
        let mut connection = match reused {
            Some(connection) => connection,
            None => self.connect().await?,
        };
        if connection.commit != commit {
            let setting = match commit {
                Commit::Durable => "SET synchronous_commit = on",
                Commit::Bookkeeping => "SET synchronous_commit = off",
            };
            connection
                .client
                .batch_execute(setting)
                .await
                .map_err(|e| {
                    ServerError::Store(format!(
                        "cannot set up a connection to {}: {}",
                        self.description,
                        describe_error(&e)
                    ))
                })?;
            connection.commit = commit;
        }
        Ok(Pooled {
            pool: self,
            connection: Some(connection),
            _permit: permit,
        })
    }

    async fn connect(&self) -> Result<Connection, ServerError> {
        let failed = |e: tokio_postgres::Error| {
            ServerError::Store(format!(
                "cannot connect to {}: {}",
                self.description,
                describe_error(&e)
            ))
        };
        let client = match &self.tls {
            None => {
                let (client, connection) = self.config.connect(NoTls).await.map_err(failed)?;
                tokio::spawn(async move {
                    if let Err(e) = connection.await {
                        tracing::debug!("database connection closed: {}", describe_error(&e));
                    }
                });
                client
            }
            Some(tls) => {
                let (client, connection) =
                    self.config.connect(tls.clone()).await.map_err(failed)?;
                tokio::spawn(async move {
                    if let Err(e) = connection.await {
                        tracing::debug!("database connection closed: {}", describe_error(&e));
                    }
                });
                client
            }
        };
        Ok(Connection {
            client,
            statements: HashMap::new(),
            // The connection's options say `synchronous_commit=on`.
            commit: Commit::Durable,
        })
    }
}

/// `user@host:port/database` of a connection configuration.
fn describe(config: &tokio_postgres::Config) -> String {
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(host)) => host.clone(),
        #[cfg(unix)]
        Some(Host::Unix(path)) => path.display().to_string(),
        None => String::new(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!(
        "{}@{host}:{port}/{}",
        config.get_user().unwrap_or(""),
        config
            .get_dbname()
            .or(config.get_user())
            .unwrap_or("postgres")
    )
}

/// A connection taken from the pool; it goes back when dropped, unless it broke.
pub(super) struct Pooled<'a> {
    pool: &'a Pool,
    connection: Option<Connection>,
    _permit: SemaphorePermit<'a>,
}

impl Pooled<'_> {
    fn connection(&mut self) -> &mut Connection {
        self.connection
            .as_mut()
            .unwrap_or_else(|| unreachable!("a pooled connection is present until dropped"))
    }

    /// The client.
    pub(super) fn client(&mut self) -> &mut Client {
        &mut self.connection().client
    }

    /// The statement for `sql`, prepared once per connection.
    pub(super) async fn prepare(
        &mut self,
        sql: &'static str,
    ) -> Result<Statement, tokio_postgres::Error> {
        let connection = self.connection();
        if let Some(statement) = connection.statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement = connection.client.prepare(sql).await?;
        connection.statements.insert(sql, statement.clone());
        Ok(statement)
    }
}

impl Drop for Pooled<'_> {
    fn drop(&mut self) {
        if let Some(connection) = self.connection.take()
            && !connection.client.is_closed()
        {
            self.pool
                .idle
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(connection);
        }
    }
}
