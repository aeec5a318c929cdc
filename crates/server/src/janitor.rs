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

/// A worker identity for leases: this process's tag in temporary names
/// ([`procurize_core::fs::process_tag`]), then `#` and a number per service in the process.
pub(crate) fn new_owner() -> String {
    static SERVICES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = SERVICES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{}#{n}", procurize_core::fs::process_tag())
}

/// The process tag of a lease owner made by [`new_owner`].
fn tag_of(owner: &str) -> &str {
    owner.split_once('#').map_or(owner, |(tag, _)| tag)
}

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
                .iter()
                .map(|owner| tag_of(owner).to_owned())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_owner_carries_the_process_tag_of_temporary_names() {
        let owner = new_owner();
        assert_eq!(tag_of(&owner), procurize_core::fs::process_tag());
        assert_ne!(new_owner(), owner, "one identity per service");
    }
}
