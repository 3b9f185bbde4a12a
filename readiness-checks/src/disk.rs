//! [`DiskSpaceCheck`]: free space at a path.
//!
//! ```text
//! DiskSpaceCheck::new("/var/lib/app").min_free(1 << 30)
//! ```
//!
//! Passes when at least the threshold (10 MiB by default, as Spring Boot's) is free for the
//! application's user; the reason names the path, the free space and the threshold
//! (`disk /var/lib/app: 5.0 MiB free, below 10.0 MiB`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use readiness_core::{Check, CheckFailure, CheckFuture};

use crate::bounded::Bounded;
use crate::reason;

/// Spring Boot's `DiskSpaceHealthIndicator` default: 10 MiB.
pub const DEFAULT_MIN_FREE: u64 = 10 * 1024 * 1024;

/// Free space on the file system holding a path (`statvfs`'s space available to unprivileged
/// users, through the `fs4` crate), at least a threshold.
///
/// The call runs on tokio's blocking pool, at most one in flight per check: a hung file
/// system (a dead NFS server) holds one thread, never one per run.
///
/// ```
/// use readiness_checks::DiskSpaceCheck;
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use readiness_core::Check;
/// let tmp = DiskSpaceCheck::new(std::env::temp_dir()).min_free(1);
/// assert_eq!(tmp.check().await, Ok(()));
/// let too_much = DiskSpaceCheck::new(std::env::temp_dir()).min_free(u64::MAX);
/// assert!(too_much.check().await.is_err());
/// # }
/// ```
#[derive(Debug)]
pub struct DiskSpaceCheck {
    path: Arc<Path>,
    min_free: u64,
    bounded: Bounded,
}

impl DiskSpaceCheck {
    /// A check that at least [`DEFAULT_MIN_FREE`] bytes are free at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into().into(),
            min_free: DEFAULT_MIN_FREE,
            bounded: Bounded::new(),
        }
    }

    /// Require at least `bytes` free instead.
    pub fn min_free(mut self, bytes: u64) -> Self {
        self.min_free = bytes;
        self
    }

    /// The path this check looks at.
    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn run(&self) -> Result<(), String> {
        let shown = format!("disk {}", self.path.display());
        let path = self.path.clone();
        let free = self
            .bounded
            .run(&shown, move || fs4::available_space(&*path))
            .await?
            .map_err(|e| format!("{shown}: {}", reason::io(&e)))?;
        if free < self.min_free {
            return Err(format!(
                "{shown}: {} free, below {}",
                bytes(free),
                bytes(self.min_free)
            ));
        }
        Ok(())
    }
}

/// `5.0 MiB`, `1.2 GiB`, `512 B`.
fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

impl Check for DiskSpaceCheck {
    fn check(&self) -> CheckFuture<'_> {
        Box::pin(async move { self.run().await.map_err(CheckFailure::new) })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_read_as_a_person_reads_them() {
        assert_eq!(super::bytes(512), "512 B");
        assert_eq!(super::bytes(10 * 1024 * 1024), "10.0 MiB");
        assert_eq!(super::bytes(3 << 30), "3.0 GiB");
    }

    #[test]
    fn debug_shows_the_path_the_bound_and_whether_a_call_is_in_flight() {
        let check = super::DiskSpaceCheck::new("/var/lib/app").min_free(1 << 30);
        assert_eq!(
            format!("{check:?}"),
            r#"DiskSpaceCheck { path: "/var/lib/app", min_free: 1073741824, bounded: Bounded { busy: false } }"#
        );
    }
}
