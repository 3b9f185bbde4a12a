//! The application's handle on its own named gRPC services.

use std::fmt;
use std::sync::Arc;

use tokio::sync::watch;

use super::MAX_SERVICE_NAME_LEN;
use super::status::{Apps, Target};

/// A cheap, clonable handle that sets the status of the application's own gRPC services
/// (for example `helloworld.Greeter`), as tonic-health's reporter does.
///
/// Those services are checked, watched and listed like the engine's, and turn `NOT_SERVING`
/// when the engine drains (for good: a service set `SERVING` after the drain still answers
/// `NOT_SERVING`). The engine's names (`""`, `readiness`, `liveness`, `startup`,
/// `tenants/...`) cannot be set: they follow the engine; nor can a name longer than
/// [`MAX_SERVICE_NAME_LEN`] bytes, which no client could watch.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let engine = readiness_core::Engine::builder().without_heartbeat().build()?;
/// let (_health, reporter) = readiness_tower::grpc::health_service(&engine);
/// reporter.set_serving("helloworld.Greeter")?;
/// reporter.set_not_serving("helloworld.Greeter")?;
/// assert!(reporter.set_serving("readiness").is_err());
/// assert!(reporter.clear("helloworld.Greeter"));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct HealthReporter {
    apps: Arc<watch::Sender<Apps>>,
}

impl fmt::Debug for HealthReporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HealthReporter")
            .field("services", &self.apps.borrow().len())
            .finish()
    }
}

impl HealthReporter {
    pub(crate) fn new(apps: Arc<watch::Sender<Apps>>) -> Self {
        Self { apps }
    }

    /// Set `service` to `SERVING` (it is registered if it was not). Watchers see the change
    /// at once; setting the same status again wakes no one.
    pub fn set_serving(&self, service: &str) -> Result<(), ServiceNameError> {
        self.set(service, true)
    }

    /// Set `service` to `NOT_SERVING` (it is registered if it was not).
    pub fn set_not_serving(&self, service: &str) -> Result<(), ServiceNameError> {
        self.set(service, false)
    }

    /// Forget `service`: `Check` answers `NOT_FOUND`, open watchers get `SERVICE_UNKNOWN`.
    /// Returns whether it was set.
    pub fn clear(&self, service: &str) -> bool {
        self.apps
            .send_if_modified(|apps| apps.remove(service).is_some())
    }

    fn set(&self, service: &str, serving: bool) -> Result<(), ServiceNameError> {
        if service.len() > MAX_SERVICE_NAME_LEN {
            return Err(ServiceNameError::TooLong(service.len()));
        }
        if Target::parse(service).is_reserved() {
            return Err(ServiceNameError::Reserved(service.to_owned()));
        }
        self.apps
            .send_if_modified(|apps| match apps.get_mut(service) {
                Some(s) if *s == serving => false,
                Some(s) => {
                    *s = serving;
                    true
                }
                None => {
                    apps.insert(service.into(), serving);
                    true
                }
            });
        Ok(())
    }
}

/// A service name the application may not set: `""`, `readiness`, `liveness`, `startup` and
/// `tenants/...` follow the engine, and a name longer than [`MAX_SERVICE_NAME_LEN`] bytes is
/// one no client can watch.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let engine = readiness_core::Engine::builder().without_heartbeat().build()?;
/// use readiness_tower::grpc::ServiceNameError;
///
/// let (_health, reporter) = readiness_tower::grpc::health_service(&engine);
/// let err = reporter.set_serving("tenants/acme").expect_err("reserved");
/// assert_eq!(err, ServiceNameError::Reserved("tenants/acme".into()));
/// let err = reporter.set_serving(&"a".repeat(300)).expect_err("too long");
/// assert_eq!(err, ServiceNameError::TooLong(300));
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServiceNameError {
    /// The name follows the engine (`""`, `readiness`, `liveness`, `startup`, `tenants/...`).
    Reserved(String),
    /// The name is this many bytes long, more than [`MAX_SERVICE_NAME_LEN`].
    TooLong(usize),
}

impl fmt::Display for ServiceNameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Reserved(name) => write!(
                f,
                "the gRPC health service name {name:?} is reserved: \"\", readiness, liveness, startup and tenants/... follow the engine"
            ),
            Self::TooLong(n) => write!(
                f,
                "the gRPC health service name is {n} bytes long, at most {MAX_SERVICE_NAME_LEN} are allowed"
            ),
        }
    }
}

impl std::error::Error for ServiceNameError {}
