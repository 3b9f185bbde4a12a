//! `--checks-file PATH`: more checks, one a line, read at start and again on every `SIGHUP`.
//!
//! ```text
//! # comments and blank lines are skipped
//! check db=tcp://127.0.0.1:5432
//! optional search=http://127.0.0.1:9200/_cluster/health
//! tenant-check acme/store=tcp://127.0.0.1:6379
//! ```
//!
//! Each line is one `--check`, `--optional` or `--tenant-check` value with the flag's name
//! first. A line that does not parse is one error naming the file and the line; nothing of the
//! file is used then.

use std::collections::HashSet;
use std::path::Path;

use crate::checks::CheckOptions;
use crate::flags::{Dep, Flags, parse_dep, parse_name};

/// What a checks file adds to the flags.
#[derive(Default)]
pub(crate) struct FileChecks {
    pub(crate) checks: Vec<Dep>,
    pub(crate) optional: Vec<Dep>,
    pub(crate) tenant_checks: Vec<(String, Dep)>,
}

impl FileChecks {
    pub(crate) fn is_empty(&self) -> bool {
        self.checks.is_empty() && self.optional.is_empty() && self.tenant_checks.is_empty()
    }
}

/// The checks of `--checks-file`, if given, or one line naming what is wrong (the file, and
/// the line number when a line is at fault).
pub(crate) fn load(flags: &Flags) -> Result<FileChecks, String> {
    match &flags.checks_file {
        None => Ok(FileChecks::default()),
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("--checks-file {}: {e}", path.display()))?;
            parse(path, &text, flags, &flags.check_options)
        }
    }
}

fn parse(
    path: &Path,
    text: &str,
    flags: &Flags,
    opts: &CheckOptions,
) -> Result<FileChecks, String> {
    let mut out = FileChecks::default();
    // Names the flags already take: a line may not take them again.
    let mut global: HashSet<String> = flags
        .checks
        .iter()
        .chain(&flags.optional)
        .map(|d| d.name.clone())
        .collect();
    let mut per_tenant: HashSet<(String, String)> = flags
        .tenant_checks
        .iter()
        .map(|(id, d)| (id.clone(), d.name.clone()))
        .collect();
    for (i, line) in text.lines().enumerate() {
        let at = format!("--checks-file {}:{}", path.display(), i + 1);
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let (kind, value) = line
            .split_once(char::is_whitespace)
            .map(|(k, v)| (k, v.trim()))
            .ok_or_else(|| format!("{at}: expected `check NAME=URL`, `optional NAME=URL` or `tenant-check ID/NAME=URL`"))?;
        match kind {
            "check" | "optional" => {
                let dep = parse_dep(&at, value, opts).map_err(|e| e.0)?;
                crate::flags::check_global_name(&at, &dep.name).map_err(|e| e.0)?;
                if !global.insert(dep.name.clone()) {
                    return Err(format!(
                        "{at}: the check name {:?} is given twice",
                        dep.name
                    ));
                }
                if kind == "check" {
                    out.checks.push(dep);
                } else {
                    out.optional.push(dep);
                }
            }
            "tenant-check" => {
                let (id, rest) = value.split_once('/').ok_or_else(|| {
                    format!("{at}: expected tenant-check ID/NAME=URL, got {value:?}")
                })?;
                let id = parse_name(&at, "tenant id", id).map_err(|e| e.0)?;
                let dep = parse_dep(&at, rest, opts).map_err(|e| e.0)?;
                crate::flags::check_tenant_names(&at, &id, &dep.name).map_err(|e| e.0)?;
                if !per_tenant.insert((id.clone(), dep.name.clone())) {
                    return Err(format!("{at}: {id}/{} is given twice", dep.name));
                }
                out.tenant_checks.push((id, dep));
            }
            other => {
                return Err(format!(
                    "{at}: unknown kind {other:?}: expected check, optional or tenant-check"
                ));
            }
        }
    }
    Ok(out)
}
