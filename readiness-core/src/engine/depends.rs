//! Dependencies between checks ([`CheckSpec::depends_on`]): resolving and validating them when
//! an engine or a tenant is built, and following a dependency's transitions at run time.
//!
//! - **Gate.** Before a check runs, and when its result is recorded, its dependencies' states
//!   (from their scopes' snapshots) decide: one failing blocks it (`blocked by NAME`, recorded
//!   instead of a run), one still pending makes it wait, otherwise it runs.
//! - **Following.** When a check changes state, its dependents are looked at once, after every
//!   lock of the record path is released: a dependency that turned failing blocks them at once
//!   (so an outage shows its cause, not a wall of failures), one that passes again has them run
//!   at once (not a period later). The instance's transitions are followed into the tenants
//!   only once some tenant depends on an instance check.

use std::collections::HashMap;

use crate::check::Kind;
use crate::config::{CheckSpec, Dep, Resolved};
use crate::problem::{ConfigProblem, Scope};

/// Who depends on whom in one scope.
pub(super) struct Deps {
    /// Per check: what it depends on.
    pub(super) on: Box<[Box<[Dep]>]>,
    /// Per check: the checks of the same scope that depend on it.
    pub(super) dependents: Box<[Box<[u32]>]>,
    /// A tenant's: `(instance check, own check)` for each dependency on an instance check.
    pub(super) on_instance: Box<[(u32, u32)]>,
}

impl Deps {
    /// `None` when no check of the scope has a dependency.
    pub(super) fn new(resolved: &[Resolved]) -> Option<Box<Self>> {
        if resolved.iter().all(|r| r.deps.is_empty()) {
            return None;
        }
        let mut dependents = vec![Vec::new(); resolved.len()];
        let mut on_instance = Vec::new();
        for (i, r) in resolved.iter().enumerate() {
            for d in &r.deps {
                match *d {
                    Dep::Own(j) => dependents[j as usize].push(i as u32),
                    Dep::Instance(k) => on_instance.push((k, i as u32)),
                }
            }
        }
        Some(Box::new(Self {
            on: resolved.iter().map(|r| r.deps.as_slice().into()).collect(),
            dependents: dependents.into_iter().map(Into::into).collect(),
            on_instance: on_instance.into(),
        }))
    }
}

impl Deps {
    /// The scope's checks in levels: each level's checks depend only on earlier levels' (in
    /// this scope), so a refresh runs a level at a time.
    pub(super) fn levels(&self) -> Vec<Vec<usize>> {
        let n = self.on.len();
        let mut level = vec![usize::MAX; n];
        let mut out: Vec<Vec<usize>> = Vec::new();
        let mut left = n;
        while left > 0 {
            let depth = out.len();
            let ready: Vec<usize> = (0..n)
                .filter(|&i| {
                    level[i] == usize::MAX
                        && self.on[i].iter().all(|d| match *d {
                            Dep::Own(j) => level[j as usize] < depth,
                            Dep::Instance(_) => true,
                        })
                })
                .collect();
            if ready.is_empty() {
                // Unreachable for a validated graph (no cycles); run what is left together.
                out.push((0..n).filter(|&i| level[i] == usize::MAX).collect());
                break;
            }
            for &i in &ready {
                level[i] = depth;
            }
            left -= ready.len();
            out.push(ready);
        }
        out
    }
}

/// The checks a scope can name as dependencies, by name.
pub(super) struct Names<'a> {
    index: HashMap<&'a str, (usize, Kind)>,
}

impl<'a> Names<'a> {
    pub(super) fn new(checks: impl Iterator<Item = (&'a str, Kind)>) -> Self {
        let mut index = HashMap::new();
        for (i, (name, kind)) in checks.enumerate() {
            // The first of a duplicate name: the duplicate is a problem of its own.
            index.entry(name).or_insert((i, kind));
        }
        Self { index }
    }

    fn get(&self, name: &str) -> Option<(usize, Kind)> {
        self.index.get(name).copied()
    }
}

/// Resolve and validate a scope's dependencies into `resolved` (in the order of `specs`),
/// pushing every problem: unknown names, a check on itself, a liveness check on a check of
/// another kind, a name only another scope has (`owner` says which), and cycles.
///
/// `instance` is the instance's checks when `scope` is a tenant: a name the tenant does not
/// have resolves there.
pub(super) fn resolve(
    scope: &Scope,
    specs: &[CheckSpec],
    resolved: &mut [Resolved],
    instance: Option<&Names<'_>>,
    owner: &dyn Fn(&str) -> Option<Scope>,
    problems: &mut Vec<ConfigProblem>,
) {
    if specs.iter().all(|s| s.depends_on.is_empty()) {
        return;
    }
    let own = Names::new(specs.iter().map(|s| (s.name(), s.kind())));
    let mut edges: Vec<Vec<usize>> = vec![Vec::new(); specs.len()];
    for (i, spec) in specs.iter().enumerate() {
        for dep in &spec.depends_on {
            if *dep == spec.name {
                problems.push(ConfigProblem::SelfDependency {
                    scope: scope.clone(),
                    name: spec.name.clone(),
                });
            } else if let Some((j, kind)) = own.get(dep) {
                if spec.kind == Kind::Liveness && kind != Kind::Liveness {
                    problems.push(ConfigProblem::LivenessDependency {
                        name: spec.name.clone(),
                        dependency: dep.clone(),
                        kind,
                    });
                }
                edges[i].push(j);
                if let Some(r) = resolved.get_mut(i) {
                    r.deps.push(Dep::Own(j as u32));
                }
            } else if let Some((k, _)) = instance.and_then(|names| names.get(dep)) {
                if let Some(r) = resolved.get_mut(i) {
                    r.deps.push(Dep::Instance(k as u32));
                }
            } else if let Some(owner) = owner(dep) {
                problems.push(ConfigProblem::DependencyOutOfScope {
                    scope: scope.clone(),
                    name: spec.name.clone(),
                    dependency: dep.clone(),
                    owner,
                });
            } else {
                problems.push(ConfigProblem::UnknownDependency {
                    scope: scope.clone(),
                    name: spec.name.clone(),
                    dependency: dep.clone(),
                });
            }
        }
    }
    for cycle in cycles(&edges) {
        let mut names: Vec<String> = cycle.iter().map(|&i| specs[i].name.clone()).collect();
        names.push(specs[cycle[0]].name.clone());
        problems.push(ConfigProblem::DependencyCycle {
            scope: scope.clone(),
            cycle: names,
        });
    }
}

/// The cycles of a graph given as edges per node, each once (iterative: a chain of any length
/// never overflows the stack).
fn cycles(edges: &[Vec<usize>]) -> Vec<Vec<usize>> {
    const NEW: u8 = 0;
    const ON_PATH: u8 = 1;
    const DONE: u8 = 2;
    let mut state = vec![NEW; edges.len()];
    let mut found = Vec::new();
    for root in 0..edges.len() {
        if state[root] != NEW {
            continue;
        }
        state[root] = ON_PATH;
        let mut path: Vec<(usize, usize)> = vec![(root, 0)];
        while let Some((node, next)) = path.last_mut() {
            let node = *node;
            let Some(&to) = edges[node].get(*next) else {
                state[node] = DONE;
                path.pop();
                continue;
            };
            *next += 1;
            match state[to] {
                NEW => {
                    state[to] = ON_PATH;
                    path.push((to, 0));
                }
                ON_PATH => {
                    if let Some(start) = path.iter().position(|&(n, _)| n == to) {
                        found.push(path[start..].iter().map(|&(n, _)| n).collect());
                    }
                }
                _ => {}
            }
        }
    }
    found
}

/// The instance's dependencies, while its engine is built: `specs` are the instance's checks,
/// `tenants` those of the tenants registered with the builder (to name the owner of a name
/// the instance does not have).
pub(super) fn resolve_instance(
    specs: &[CheckSpec],
    resolved: &mut [Resolved],
    tenants: &[(String, Vec<CheckSpec>)],
    problems: &mut Vec<ConfigProblem>,
) {
    let owner = |dep: &str| {
        tenants
            .iter()
            .find(|(_, checks)| checks.iter().any(|c| c.name() == dep))
            .map(|(id, _)| Scope::Tenant(id.as_str().into()))
    };
    resolve(&Scope::Global, specs, resolved, None, &owner, problems);
}

/// A tenant's dependencies, while the engine is built: on its own checks, or the instance's
/// (`instance`, the instance's checks), never another tenant's (`tenants`).
pub(super) fn resolve_built_tenant(
    id: &str,
    checks: &[CheckSpec],
    resolved: &mut [Resolved],
    instance: &[CheckSpec],
    tenants: &[(String, Vec<CheckSpec>)],
    problems: &mut Vec<ConfigProblem>,
) {
    let names = Names::new(instance.iter().map(|s| (s.name(), s.kind())));
    let owner = |dep: &str| {
        tenants
            .iter()
            .find(|(other, checks)| other != id && checks.iter().any(|c| c.name() == dep))
            .map(|(other, _)| Scope::Tenant(other.as_str().into()))
    };
    resolve_tenant(id, checks, resolved, &names, &owner, problems);
}

/// A tenant's dependencies: on its own checks or the instance's (`instance`); `owner` names
/// the other tenant that has a check of that name, if any (a dependency on it is refused).
pub(super) fn resolve_tenant(
    id: &str,
    checks: &[CheckSpec],
    resolved: &mut [Resolved],
    instance: &Names<'_>,
    owner: &dyn Fn(&str) -> Option<Scope>,
    problems: &mut Vec<ConfigProblem>,
) {
    let scope = Scope::Tenant(id.into());
    resolve(&scope, checks, resolved, Some(instance), owner, problems);
}

/// Whether some of these checks depend on the instance's.
pub(super) fn on_instance(resolved: &[Resolved]) -> bool {
    resolved
        .iter()
        .flat_map(|r| &r.deps)
        .any(|d| matches!(d, Dep::Instance(_)))
}

#[cfg(test)]
mod tests {
    use super::cycles;

    #[test]
    fn cycles_are_found_once_each_and_chains_are_not_cycles() {
        // 0 -> 1 -> 2 -> 0, 3 -> 3 is left to the self check, 4 -> 5 -> 4, 6 -> 0.
        let edges = vec![vec![1], vec![2], vec![0], vec![], vec![5], vec![4], vec![0]];
        assert_eq!(cycles(&edges), vec![vec![0, 1, 2], vec![4, 5]]);
        let chain: Vec<Vec<usize>> = (0..100_000).map(|i| vec![i + 1]).chain([vec![]]).collect();
        assert!(cycles(&chain).is_empty());
    }
}
