//! Removing the temporary files and folders that steps cut short left in the archive and
//! file-channel folders, where they are provably abandoned.
//!
//! Every temporary name carries its writer's process tag ([`procurize_core::fs::process_tag`]),
//! and a step writes them only while its job's lease is live. So:
//!
//! - On an exclusive store (SQLite, holding the file's lock), no other server exists: at
//!   start-up everything found is a dead process's, tagged or not.
//! - Beside other replicas, a leftover is abandoned when its writer holds no live lease. The
//!   folders are listed *before* the lease holders are read: a file seen in the listing was
//!   made under a lease that was live then, so if its writer holds none when read, the step is
//!   over (its file renamed into place or removed) or the writer is gone. A name without a tag
//!   is never removed there. This runs at start-up and then every lease period, so what a
//!   killed replica left goes once its leases have expired.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use procurize_core::fs::Leftover;
use tokio::sync::watch;

use crate::config::Prepared;
use crate::store::Store;
use crate::{ServerError, now_millis};

/// The sweeper of one service.
pub(crate) struct Janitor {
    store: Arc<dyn Store>,
    archive: Option<PathBuf>,
    messages: Vec<PathBuf>,
    every: Duration,
}

impl Janitor {
    /// For the folders `prepared` writes to, sweeping every `every` once started.
    pub(crate) fn new(prepared: &Prepared, store: Arc<dyn Store>, every: Duration) -> Self {
        Self {
            store,
            archive: prepared.config.archive.as_ref().map(|a| a.folder.clone()),
            messages: prepared
                .notifier
                .iter()
                .flat_map(|n| n.file_folders())
                .map(PathBuf::from)
                .collect(),
            every,
        }
    }

    fn found(&self) -> (Vec<Leftover>, Vec<Leftover>) {
        let bundles = self
            .archive
            .as_deref()
            .map(crate::workflow::archive_leftovers)
            .unwrap_or_default();
        let messages = self
            .messages
            .iter()
            .flat_map(|folder| procurize_core::fs::partials(folder))
            .collect();
        (bundles, messages)
    }

    /// One sweep; `everything` at the start of an exclusive store's only server.
    pub(crate) async fn sweep(&self, everything: bool) -> Result<(), ServerError> {
        let (bundles, messages) = self.found();
        if bundles.is_empty() && messages.is_empty() {
            return Ok(());
        }
        let live: HashSet<String> = if everything {
            HashSet::new()
        } else {
            self.store
                .lease_holders(now_millis())
                .await?
                .into_iter()
                .map(|owner| owner.split('#').next().unwrap_or_default().to_owned())
                .collect()
        };
        let abandoned =
            |l: &&Leftover| everything || l.tag.as_ref().is_some_and(|t| !live.contains(t));
        let removed = |found: &[Leftover]| {
            found
                .iter()
                .filter(abandoned)
                .filter(|l| l.remove())
                .count()
        };
        let (bundles, messages) = (removed(&bundles), removed(&messages));
        if bundles > 0 {
            tracing::warn!(
                removed = bundles,
                "removed unfinished bundles left by an interrupted archive step"
            );
        }
        if messages > 0 {
            tracing::warn!(
                removed = messages,
                "removed unfinished messages left by an interrupted notify step"
            );
        }
        Ok(())
    }

    /// Sweeps every period until `stop` (beside other replicas, whose crashes leave files that
    /// become sweepable only once their leases expire).
    pub(crate) async fn run(self, mut stop: watch::Receiver<bool>) {
        if *stop.borrow() {
            return;
        }
        let mut tick = tokio::time::interval(self.every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    if let Err(e) = self.sweep(false).await {
                        tracing::warn!("cannot sweep unfinished files: {e}");
                    }
                }
                changed = stop.changed() => {
                    if changed.is_err() || *stop.borrow() {
                        return;
                    }
                }
            }
        }
    }
}
