//! One place that says what each service name answers, for `Check`, `Watch` and `List`.

use std::collections::HashMap;
use std::sync::Arc;

use readiness_core::Engine;

use super::pb::HealthCheckResponse;
use super::pb::health_check_response::ServingStatus;
use super::{LIVENESS, READINESS, STARTUP, TENANT_PREFIX};

/// The application's own services and whether each is set `SERVING`.
pub(crate) type Apps = HashMap<Arc<str>, bool>;

/// What a service name refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Target<'a> {
    Readiness,
    Liveness,
    Startup,
    Tenant(&'a str),
    App(&'a str),
}

impl<'a> Target<'a> {
    pub(crate) fn parse(name: &'a str) -> Self {
        match name {
            "" | READINESS => Self::Readiness,
            LIVENESS => Self::Liveness,
            STARTUP => Self::Startup,
            _ => match name.strip_prefix(TENANT_PREFIX) {
                Some(id) => Self::Tenant(id),
                None => Self::App(name),
            },
        }
    }

    /// Whether the application may not set this name: the engine's names and prefix.
    pub(crate) fn is_reserved(self) -> bool {
        !matches!(self, Self::App(_))
    }
}

fn serving(yes: bool) -> ServingStatus {
    if yes {
        ServingStatus::Serving
    } else {
        ServingStatus::NotServing
    }
}

/// The status of `target` now; `None` for an unknown service. `engine` is `None` once the
/// engine is gone: every service then answers `NOT_SERVING` and no tenant is known.
pub(crate) fn status_of(
    engine: Option<&Engine>,
    apps: &Apps,
    target: Target<'_>,
) -> Option<ServingStatus> {
    let Some(engine) = engine else {
        return match target {
            Target::Tenant(_) => None,
            Target::App(name) => apps.get(name).map(|_| ServingStatus::NotServing),
            _ => Some(ServingStatus::NotServing),
        };
    };
    Some(match target {
        Target::Readiness => serving(engine.is_ready()),
        Target::Liveness => serving(engine.is_live()),
        Target::Startup => serving(engine.is_started()),
        Target::Tenant(id) => serving(engine.tenant_ready(id)?),
        // A drain is for good, whatever the application sets.
        Target::App(name) => serving(*apps.get(name)? && !engine.is_draining()),
    })
}

/// The message `Check` and `Watch` answer with.
pub(crate) fn response(status: ServingStatus) -> HealthCheckResponse {
    HealthCheckResponse {
        status: status as i32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_to_what_they_follow() {
        assert_eq!(Target::parse(""), Target::Readiness);
        assert_eq!(Target::parse("readiness"), Target::Readiness);
        assert_eq!(Target::parse("liveness"), Target::Liveness);
        assert_eq!(Target::parse("startup"), Target::Startup);
        assert_eq!(Target::parse("tenants/acme"), Target::Tenant("acme"));
        assert_eq!(Target::parse("tenants/"), Target::Tenant(""));
        assert_eq!(
            Target::parse("helloworld.Greeter"),
            Target::App("helloworld.Greeter")
        );
        assert_eq!(Target::parse("Readiness"), Target::App("Readiness"));
        assert!(Target::parse("tenants/x").is_reserved());
        assert!(!Target::parse("tenant/x").is_reserved());
    }

    #[test]
    fn a_gone_engine_serves_nothing() {
        let apps = Apps::from([(Arc::from("svc"), true)]);
        let not = Some(ServingStatus::NotServing);
        assert_eq!(status_of(None, &apps, Target::Readiness), not);
        assert_eq!(status_of(None, &apps, Target::Liveness), not);
        assert_eq!(status_of(None, &apps, Target::Startup), not);
        assert_eq!(status_of(None, &apps, Target::App("svc")), not);
        assert_eq!(status_of(None, &apps, Target::App("other")), None);
        assert_eq!(status_of(None, &apps, Target::Tenant("acme")), None);
    }
}
