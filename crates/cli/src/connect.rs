//! Turning the global options into an API client, or into the built-in simulator.

use anyhow::Context as _;
use procurize_core::{Client, RetryPolicy, VersionFilter};
use procurize_sim::{SAMPLE_ORGANIZATION, Simulator};

use crate::UsageError;
use crate::args::{FilterArgs, Global};

/// A client, and the in-process simulator it talks to when `--sim` was given (kept alive as long
/// as the connection).
pub(crate) struct Connection {
    pub(crate) client: Client,
    _simulator: Option<Simulator>,
}

pub(crate) async fn connect(global: &Global) -> anyhow::Result<Connection> {
    let (base_url, org, simulator) = if global.sim {
        let simulator = Simulator::start_sample()
            .await
            .context("cannot start the built-in simulator")?;
        let org = global
            .org
            .clone()
            .unwrap_or_else(|| SAMPLE_ORGANIZATION.to_owned());
        tracing::info!(base_url = %simulator.base_url(), "using the built-in simulator");
        (simulator.base_url(), org, Some(simulator))
    } else {
        let org = global.org.clone().ok_or_else(|| {
            UsageError(
                "an organization ID is required: pass --org or set PROCURIZE_ORG (or try --sim for the offline sample)"
                    .into(),
            )
        })?;
        (global.base_url.clone(), org, None)
    };
    let mut builder = Client::builder()
        .base_url(base_url)
        .organization(org)
        .timeout(global.timeout)
        .retry(RetryPolicy {
            max_attempts: global.attempts,
            ..RetryPolicy::default()
        });
    if let Some(path) = &global.ca_cert {
        let pem = std::fs::read(path).map_err(|e| {
            UsageError(format!(
                "cannot read the CA certificate {}: {e}",
                path.display()
            ))
        })?;
        builder = builder.add_ca_certificate_pem(pem);
    }
    Ok(Connection {
        client: builder.build()?,
        _simulator: simulator,
    })
}

impl FilterArgs {
    /// The version filter; clap already ensured one part is present.
    pub(crate) fn to_filter(&self) -> anyhow::Result<VersionFilter> {
        Ok(VersionFilter::new(
            self.version.clone(),
            self.min_version.clone(),
            self.max_version.clone(),
        )?)
    }
}
