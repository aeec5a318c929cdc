//! `procurize notify` and `procurize notify check`.

use std::io::{Read, Write};

use procurize_notify::{Config, Notifier, events_from_json};

use crate::args::{Global, NotifyArgs, NotifyCommand};
use crate::{Exit, UsageError};

pub(crate) async fn run(global: &Global, args: NotifyArgs) -> anyhow::Result<Exit> {
    if let Some(NotifyCommand::Check { config }) = &args.command {
        let notifier = Notifier::new(Config::from_file(config)?)?;
        let mut failed = false;
        let mut out = anstream::stdout().lock();
        for (name, result) in notifier.healthcheck().await {
            match result {
                Ok(detail) => writeln!(out, "ok    {name}: {detail}")?,
                Err(reason) => {
                    failed = true;
                    writeln!(out, "FAIL  {name}: {reason}")?;
                }
            }
        }
        return Ok(if failed { Exit::Runtime } else { Exit::Success });
    }
    let (Some(config), Some(event)) = (&args.config, &args.event) else {
        return Err(UsageError("--config and --event are required".into()).into());
    };
    let notifier = Notifier::new(Config::from_file(config)?)?;
    let bytes = if event.as_os_str() == "-" {
        let mut bytes = Vec::new();
        std::io::stdin().read_to_end(&mut bytes)?;
        bytes
    } else {
        std::fs::read(event)
            .map_err(|e| UsageError(format!("cannot read the event {}: {e}", event.display())))?
    };
    let events = events_from_json(&bytes)?;
    let mut out = anstream::stdout().lock();
    if args.dry_run {
        for (channel, fingerprint, message) in notifier.dry_run(&events)? {
            writeln!(out, "===== {channel} · {fingerprint}")?;
            out.write_all(&message)?;
            if !message.ends_with(b"\n") {
                writeln!(out)?;
            }
        }
        return Ok(Exit::Success);
    }
    let deliveries = notifier.deliver(&events).await;
    let failed = deliveries.iter().filter(|d| !d.delivered).count();
    for d in &deliveries {
        let mark = if d.delivered { "sent" } else { "FAIL" };
        writeln!(
            out,
            "{mark}  {} {} {}: {} ({} attempt{})",
            d.channel,
            d.kind.as_str(),
            &d.fingerprint[..12.min(d.fingerprint.len())],
            d.detail,
            d.attempts,
            if d.attempts == 1 { "" } else { "s" }
        )?;
    }
    if !global.quiet {
        eprintln!(
            "{} event{}, {} deliver{}: {} sent, {failed} failed",
            events.len(),
            if events.len() == 1 { "" } else { "s" },
            deliveries.len(),
            if deliveries.len() == 1 { "y" } else { "ies" },
            deliveries.len() - failed
        );
    }
    Ok(if failed > 0 {
        Exit::Runtime
    } else {
        Exit::Success
    })
}
