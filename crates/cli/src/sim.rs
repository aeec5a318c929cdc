//! `procurize sim` and `procurize sim webhook`.

use anyhow::Context as _;
use procurize_core::webhook::{Scheme, Secret, Signer};
use procurize_core::{Uuid, parse_organization};
use procurize_sim::webhook::{Delivery, Schedule};
use procurize_sim::{Faults, SAMPLE_ORGANIZATION, SimConfig, SimData, Simulator};

use crate::args::{Global, SchemeArg, SimArgs, SimCommand, SimServeArgs, WebhookArgs};
use crate::{Exit, UsageError};

pub(crate) async fn run(global: &Global, args: SimArgs) -> anyhow::Result<Exit> {
    match args.command {
        Some(SimCommand::Webhook(webhook)) => send_webhook(global, webhook).await,
        None => serve(global, args.serve).await,
    }
}

fn load_data(path: Option<&std::path::Path>) -> anyhow::Result<SimData> {
    Ok(match path {
        Some(path) => SimData::from_file(path)?,
        None => SimData::sample(),
    })
}

async fn serve(global: &Global, args: SimServeArgs) -> anyhow::Result<Exit> {
    let data = load_data(args.data.as_deref())?;
    if let Some(dir) = &args.archive_dir
        && !dir.is_dir()
    {
        return Err(UsageError(format!("--archive-dir {} is not a folder", dir.display())).into());
    }
    let organizations: Vec<String> = data.organizations().map(Uuid::to_string).collect();
    let reports: usize = data.organizations().map(|o| data.reports(o).len()).sum();
    let config = SimConfig {
        data,
        faults: Faults {
            error_rate: args.error_rate,
            fail_first: args.fail_first,
            error_status: args.error_status,
            html_errors: args.html_errors,
            retry_after: args.retry_after,
            latency: args.latency,
            truncate_downloads: args.truncate_downloads,
        },
        archive_dir: args.archive_dir,
        page_size: args.page_size,
        seed: args.seed,
    };
    let simulator = Simulator::start(config, args.listen).await?;
    if !global.quiet {
        let org = organizations
            .first()
            .map_or(SAMPLE_ORGANIZATION, String::as_str);
        eprintln!(
            "Procurize simulator listening on {} ({reports} reports, organization{} {})",
            simulator.base_url(),
            if organizations.len() == 1 { "" } else { "s" },
            organizations.join(", ")
        );
        eprintln!(
            "Try: procurize --base-url {} --org {org} reports list --min-version 0",
            simulator.base_url()
        );
        eprintln!("Press Ctrl-C to stop.");
    }
    shutdown_signal().await;
    simulator.shutdown().await?;
    Ok(Exit::Success)
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

async fn send_webhook(global: &Global, args: WebhookArgs) -> anyhow::Result<Exit> {
    let secret_text = std::env::var(&args.secret_env).map_err(|_| {
        UsageError(format!(
            "the environment variable {} named by --secret-env is not set (or not UTF-8)",
            args.secret_env
        ))
    })?;
    if secret_text.is_empty() {
        return Err(UsageError(format!(
            "the environment variable {} is empty",
            args.secret_env
        ))
        .into());
    }
    let (scheme, secret) = match args.scheme {
        SchemeArg::Hmac => (Scheme::Hmac, Secret::new(secret_text)),
        SchemeArg::StandardWebhooks => (Scheme::StandardWebhooks, Secret::standard(&secret_text)?),
    };
    let body = match &args.payload {
        Some(path) => std::fs::read(path)
            .with_context(|| format!("cannot read the payload {}", path.display()))?,
        None => {
            let data = load_data(args.data.as_deref())?;
            let org = match &global.org {
                Some(org) => parse_organization(org)?,
                None => parse_organization(SAMPLE_ORGANIZATION)?,
            };
            Delivery::payload_for(&data, &org, &args.reports)?
        }
    };
    let signer = Signer::new(scheme, secret).signature_header(args.header.clone());
    let delivery = Delivery::new(args.to.clone(), body, signer);
    let schedule = Schedule {
        interval: args.interval,
        max_attempts: args.max_attempts,
        timeout: global.timeout,
    };
    let quiet = global.quiet;
    let attempts = args.max_attempts;
    let interval = args.interval;
    delivery
        .send(&schedule, |attempt| {
            if quiet {
                return;
            }
            let next = if attempt.outcome.delivered() {
                "delivered".to_owned()
            } else if attempt.number < attempts {
                format!("retrying in {}", human_interval(interval))
            } else {
                "giving up".to_owned()
            };
            eprintln!(
                "attempt {}/{attempts} to {}: {}; {next}",
                attempt.number, args.to, attempt.outcome
            );
        })
        .await?;
    Ok(Exit::Success)
}

fn human_interval(d: std::time::Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 && s.is_multiple_of(3600) {
        format!("{} h", s / 3600)
    } else if s >= 60 && s.is_multiple_of(60) {
        format!("{} min", s / 60)
    } else if s >= 1 {
        format!("{:.1} s", d.as_secs_f64())
    } else {
        format!("{} ms", d.as_millis())
    }
}
