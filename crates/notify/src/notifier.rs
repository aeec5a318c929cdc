//! Routing events to channels and delivering them: per-channel time-outs, retries with backoff,
//! bounded concurrency; one channel failing never stops the others.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use procurize_core::RetryPolicy;
use serde::Serialize;

use crate::NotifyError;
use crate::channel::Channel;
use crate::config::Config;
use crate::event::{Event, EventKind};
use crate::templates::Templates;

/// The most deliveries in flight at once.
const CONCURRENCY: usize = 8;

/// One event sent to one channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    /// The channel.
    pub channel: String,
    /// The event's kind.
    pub kind: EventKind,
    /// The event's fingerprint.
    pub fingerprint: String,
    /// Whether it was delivered.
    pub delivered: bool,
    /// What happened (the server's answer, or why it failed).
    pub detail: String,
    /// Attempts made.
    pub attempts: u32,
    /// For a failure: whether trying again later could succeed (a time-out, a 5xx, a 429)
    /// rather than never (a 4xx the channel will keep giving, TLS required and not offered).
    pub retryable: bool,
}

/// A configured notifier: templates compiled and checked, channels ready.
pub struct Notifier {
    config: Config,
    templates: Templates,
    channels: BTreeMap<String, Arc<Channel>>,
    retry: RetryPolicy,
    timeout: Duration,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier")
            .field("channels", &self.channels.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Notifier {
    /// Builds the channels (secrets read now, so a missing one is a configuration error) and
    /// compiles and checks every template.
    pub fn new(config: Config) -> Result<Self, NotifyError> {
        let templates = Templates::load(config.templates.as_deref())?;
        let timeout = Duration::from_secs(config.timeout_seconds.max(1));
        let channels = config
            .channels
            .iter()
            .map(|(name, c)| Ok((name.clone(), Arc::new(Channel::build(name, c, timeout)?))))
            .collect::<Result<_, NotifyError>>()?;
        let retry = RetryPolicy {
            max_attempts: config.attempts,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(10),
            max_retry_after: Duration::from_secs(60),
        };
        Ok(Self {
            config,
            templates,
            channels,
            retry,
            timeout,
        })
    }

    /// Keeps the Jira channels' record of created issues in `record` (the workflow service's
    /// store) instead of their `record` files.
    pub fn with_issue_record(mut self, record: Arc<dyn crate::record::IssueRecord>) -> Self {
        for channel in self.channels.values_mut() {
            // The channels are shared only while a delivery borrows the notifier, and this
            // takes it by value: each is unique here.
            if let Some(Channel::Jira(jira)) = Arc::get_mut(channel) {
                jira.use_record(record.clone());
            }
        }
        self
    }

    /// Uses another retry policy (tests shorten the waits).
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Every (event, channel) pair the routing rules select, in order.
    pub fn plan<'e>(&self, events: &'e [Event]) -> Vec<(&'e Event, String)> {
        events
            .iter()
            .flat_map(|e| {
                self.config
                    .channels_for(e)
                    .into_iter()
                    .map(move |c| (e, c.to_owned()))
            })
            .collect()
    }

    /// The message each planned delivery would send, without sending it.
    pub fn dry_run(&self, events: &[Event]) -> Result<Vec<(String, String, Vec<u8>)>, NotifyError> {
        self.plan(events)
            .into_iter()
            .map(|(event, channel)| {
                let rendered = self.channels[&channel].render(&self.templates, event)?;
                Ok((channel, event.fingerprint.clone(), rendered))
            })
            .collect()
    }

    /// Delivers every planned message; returns one result per (event, channel).
    pub async fn deliver(&self, events: &[Event]) -> Vec<Delivery> {
        let semaphore = tokio::sync::Semaphore::new(CONCURRENCY);
        let tasks = self.plan(events).into_iter().map(|(event, name)| {
            let semaphore = &semaphore;
            async move {
                let _permit = semaphore.acquire().await;
                self.deliver_to(event, &name).await
            }
        });
        futures_util::future::join_all(tasks).await
    }

    /// Delivers one event to one channel, retrying what can be retried; a channel that is not
    /// configured is a failed delivery, never a panic.
    pub async fn deliver_to(&self, event: &Event, name: &str) -> Delivery {
        let Some(channel) = self.channels.get(name) else {
            return missing(name, event);
        };
        let mut attempts = 0;
        loop {
            attempts += 1;
            match self.attempt(channel, event).await {
                Ok(detail) => break delivery(name, event, Ok(detail), attempts),
                Err(failure) if failure.retry && attempts < self.retry.max_attempts => {
                    tracing::warn!(channel = %name, attempt = attempts, "delivery failed: {}; retrying", failure.reason);
                    tokio::time::sleep(self.retry.delay(attempts, failure.retry_after)).await;
                }
                Err(failure) => break delivery(name, event, Err(failure), attempts),
            }
        }
    }

    /// Makes one attempt to deliver one event to one channel, without retrying: for a caller
    /// with a retry policy of its own (the workflow service's jobs), whose `retryable` tells it
    /// whether to come back.
    pub async fn deliver_once(&self, event: &Event, name: &str) -> Delivery {
        let Some(channel) = self.channels.get(name) else {
            return missing(name, event);
        };
        delivery(name, event, self.attempt(channel, event).await, 1)
    }

    /// One attempt, with the same time-out for every channel whatever its client does.
    async fn attempt(
        &self,
        channel: &Channel,
        event: &Event,
    ) -> Result<String, crate::channel::Failure> {
        tokio::time::timeout(self.timeout, channel.send(&self.templates, event))
            .await
            .unwrap_or_else(|_| {
                Err(crate::channel::Failure {
                    reason: format!("no answer within {} s", self.timeout.as_secs()),
                    retry: true,
                    retry_after: None,
                })
            })
    }

    /// Whether the channel can tell, after an interrupted attempt, if that attempt posted (a
    /// Slack bot can read the channel's history). The other channels need not: e-mail, Jira and
    /// files are idempotent by the event's fingerprint.
    pub fn can_confirm(&self, channel: &str) -> bool {
        self.channels.get(channel).is_some_and(|c| c.can_confirm())
    }

    /// Looks in `channel` for a message about `event` posted since `since`: `Ok(Some(found))`,
    /// or `Ok(None)` when the channel cannot tell. Bounded by the per-attempt time-out.
    pub async fn find_delivered(
        &self,
        event: &Event,
        channel: &str,
        since: std::time::SystemTime,
    ) -> Result<Option<bool>, String> {
        let Some(handle) = self.channels.get(channel) else {
            return Err(format!("no channel `{channel}` is configured"));
        };
        tokio::time::timeout(self.timeout, handle.find(event, since))
            .await
            .unwrap_or_else(|_| Err(format!("no answer within {} s", self.timeout.as_secs())))
    }

    /// Runs every channel's healthcheck: credentials and reachability, nothing sent.
    pub async fn healthcheck(&self) -> Vec<(String, Result<String, String>)> {
        let mut results = Vec::new();
        for (name, channel) in &self.channels {
            results.push((name.clone(), channel.healthcheck().await));
        }
        results
    }

    /// The folders of the file channels, where an interrupted write can leave a temporary file
    /// for [`procurize_core::fs::partials`].
    pub fn file_folders(&self) -> Vec<&std::path::Path> {
        self.config
            .channels
            .values()
            .filter_map(|c| match c {
                crate::config::ChannelConfig::File(file) => Some(file.folder.as_path()),
                _ => None,
            })
            .collect()
    }

    /// The compiled templates.
    pub fn templates(&self) -> &Templates {
        &self.templates
    }
}

fn delivery(
    channel: &str,
    event: &Event,
    result: Result<String, crate::channel::Failure>,
    attempts: u32,
) -> Delivery {
    let (delivered, detail, retryable) = match result {
        Ok(detail) => (true, detail, false),
        Err(failure) => (false, failure.reason, failure.retry),
    };
    Delivery {
        channel: channel.to_owned(),
        kind: event.kind,
        fingerprint: event.fingerprint.clone(),
        delivered,
        detail,
        attempts,
        retryable,
    }
}

/// The failed delivery to a channel that is not configured (it will not be, until a restart).
fn missing(channel: &str, event: &Event) -> Delivery {
    delivery(
        channel,
        event,
        Err(crate::channel::Failure {
            reason: format!("no channel `{channel}` is configured"),
            retry: false,
            retry_after: None,
        }),
        0,
    )
}
