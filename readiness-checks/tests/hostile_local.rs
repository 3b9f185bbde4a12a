//! Hostile dependencies (issue 24, item 2) of the ready-made checks that open no connection of
//! their own, 1,000 runs each (`HOSTILE_RUNS` to change it), on tokio's paused clock:
//!
//! - `DiskSpaceCheck` on a path that does not exist, on a path under a directory it may not
//!   enter (mode 000; when the tests run as root, the threads of the check's blocking call
//!   drop the two capabilities that let root in, and the case is skipped, saying why, when
//!   they cannot), and with a threshold larger than any disk (`u64::MAX`);
//! - `ServiceCheck` around a `tower::Service` whose `poll_ready` never resolves, one whose
//!   `poll_ready` fails, one whose call panics and one whose call never resolves.
//!
//! Every run must end within the check's timeout (2 s) with the reason a user would see, and
//! after the runs the process's open descriptors (`/proc/self/fd`), tokio's alive tasks and the
//! live heap (dhat: this binary's allocator) must be where they were before them (the heap
//! within 64 KiB). Each attack prints its reason and the three levels: the measurement is
//! `common/attack.rs`'s, the one `hostile.rs` makes of the checks that connect to a server.

#![cfg(target_os = "linux")]

mod common;

use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use common::attack::{TIMEOUT, alone, alone_with, attack};
use common::net::temp_dir;
use readiness_checks::{DiskSpaceCheck, ServiceCheck};
use tower::Service;

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

// ------------------------------------------------------------------ DiskSpaceCheck

#[test]
fn disk_space_of_a_missing_path_and_beyond_any_disk() {
    let d = temp_dir("readiness-hostile-disk", "paths");
    let missing = d.join("missing").join("data");
    alone(|| async {
        let reason = attack(
            "disk: a path that does not exist",
            DiskSpaceCheck::new(&missing),
        )
        .await;
        assert_eq!(reason, format!("disk {}: not found", missing.display()));
        let reason = attack(
            "disk: more free space than any disk holds",
            DiskSpaceCheck::new(&d).min_free(u64::MAX),
        )
        .await;
        // u64::MAX bytes: 16 EiB, which the reason words in its largest unit.
        let shown = format!("disk {}: ", d.display());
        assert!(
            reason.starts_with(&shown) && reason.ends_with(" free, below 16384.0 PiB"),
            "{reason}"
        );
    });
    let _ = std::fs::remove_dir_all(&d);
}

/// Takes CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH out of the calling thread's effective set
/// (capabilities are a thread's own on Linux): what lets root into a directory of mode 000.
fn without_dac_capabilities() -> std::io::Result<()> {
    use rustix::thread::{CapabilitySet, capabilities, set_capabilities};
    let mut sets = capabilities(None)?;
    sets.effective -= CapabilitySet::DAC_OVERRIDE | CapabilitySet::DAC_READ_SEARCH;
    set_capabilities(None, sets)?;
    Ok(())
}

/// Whether the calling thread is refused `path`.
fn refused(path: &Path) -> bool {
    std::fs::metadata(path).is_err_and(|e| e.kind() == std::io::ErrorKind::PermissionDenied)
}

#[test]
fn disk_space_under_a_directory_it_may_not_enter() {
    use std::os::unix::fs::PermissionsExt;
    let d = temp_dir("readiness-hostile-disk", "locked");
    let locked = d.join("locked");
    let path = locked.join("data");
    std::fs::create_dir_all(&path).expect("dirs");
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).expect("chmod");
    let unlock = || {
        let _ = std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o755));
        let _ = std::fs::remove_dir_all(&d);
    };
    // Root enters any directory: then the runtime's threads (the blocking pool's, where the
    // check's statvfs runs) give up what lets it, if a thread of ours can.
    let privileged = !refused(&path);
    if privileged {
        let dropped = std::thread::scope(|s| {
            s.spawn(|| without_dac_capabilities().is_ok() && refused(&path))
                .join()
                .expect("probe")
        });
        if !dropped {
            eprintln!(
                "disk: a directory it may not enter: skipped, this process enters a mode-000 \
                 directory and a thread of it cannot drop CAP_DAC_OVERRIDE/CAP_DAC_READ_SEARCH"
            );
            unlock();
            return;
        }
    }
    let tune = |b: &mut tokio::runtime::Builder| {
        if privileged {
            b.on_thread_start(|| without_dac_capabilities().expect("drop capabilities"));
        }
    };
    alone_with(true, tune, || async {
        let reason = attack(
            "disk: under a directory it may not enter",
            DiskSpaceCheck::new(&path),
        )
        .await;
        assert_eq!(
            reason,
            format!("disk {}: permission denied", path.display())
        );
    });
    unlock();
}

// ------------------------------------------------------------------ ServiceCheck

/// What a [`HostileService`] does on every run.
#[derive(Clone, Copy)]
enum Misbehaviour {
    /// `poll_ready` is pending for ever.
    NeverReady,
    /// `poll_ready` fails.
    ReadyFails,
    /// The call's future panics.
    CallPanics,
    /// The call's future is pending for ever.
    CallHangs,
}

/// The message of the panic a [`Misbehaviour::CallPanics`] call raises.
const PANIC: &str = "hostile service: the call panicked";

/// A `tower::Service` misbehaving as told. Each clone (one a run) holds 1 KiB of its own, and
/// each call a UDP socket: a clone or a call the check kept past its run would show in the
/// heap or the descriptors.
#[derive(Clone)]
struct HostileService {
    what: Misbehaviour,
    held: Vec<u8>,
}

impl HostileService {
    fn new(what: Misbehaviour) -> Self {
        Self {
            what,
            held: vec![7; 1024],
        }
    }
}

impl Service<()> for HostileService {
    type Response = ();
    type Error = String;
    type Future = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), String>> {
        match self.what {
            Misbehaviour::NeverReady => Poll::Pending,
            Misbehaviour::ReadyFails => Poll::Ready(Err("overloaded: 3 requests queued".into())),
            Misbehaviour::CallPanics | Misbehaviour::CallHangs => Poll::Ready(Ok(())),
        }
    }

    fn call(&mut self, (): ()) -> Self::Future {
        let what = self.what;
        let held = self.held.clone();
        Box::pin(async move {
            let socket = std::net::UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
            if let Misbehaviour::CallPanics = what {
                panic!("{PANIC}");
            }
            std::future::pending::<()>().await;
            drop((socket, held));
            Ok(())
        })
    }
}

/// Runs `body` with the panics of [`PANIC`] left unprinted (a thousand of them would bury the
/// levels); any other panic is printed as before.
fn quiet_hostile_panics(body: impl FnOnce()) {
    let previous: Arc<dyn Fn(&std::panic::PanicHookInfo<'_>) + Send + Sync> =
        Arc::from(std::panic::take_hook());
    let print = previous.clone();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied());
        if message != Some(PANIC) {
            print(info);
        }
    }));
    body();
    drop(std::panic::take_hook());
    std::panic::set_hook(Box::new(move |info| previous(info)));
}

#[test]
fn service_check_around_hostile_services() {
    let check = |what| ServiceCheck::new(HostileService::new(what), || ());
    let timed_out = format!("timed out after {TIMEOUT:?}");
    quiet_hostile_panics(|| {
        alone(|| async {
            let reason = attack(
                "service: poll_ready never resolves",
                check(Misbehaviour::NeverReady),
            )
            .await;
            assert_eq!(reason, timed_out);
            let reason = attack("service: poll_ready fails", check(Misbehaviour::ReadyFails)).await;
            assert_eq!(reason, "overloaded: 3 requests queued");
            let reason = attack("service: the call panics", check(Misbehaviour::CallPanics)).await;
            assert_eq!(reason, format!("panicked: {PANIC}"));
            let reason = attack(
                "service: the call never resolves",
                check(Misbehaviour::CallHangs),
            )
            .await;
            assert_eq!(reason, timed_out);
        });
    });
}
