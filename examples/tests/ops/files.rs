//! The inputs: the text of the `ops/` files, and the metrics the crate exports.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};

pub const HISTOGRAM_SUFFIXES: &[&str] = &["_bucket", "_sum", "_count"];

/// The text of every `ops/` file the checks read, by path relative to the repository root.
#[derive(Clone)]
pub struct OpsFiles {
    pub rules: Vec<(String, String)>,
    pub rule_tests: Vec<(String, String)>,
    pub dashboard: (String, String),
    pub slo: (String, String),
}

impl OpsFiles {
    pub fn load() -> Self {
        let ops = ops_dir();
        let read = |path: PathBuf| {
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
            let rel = path
                .strip_prefix(ops.parent().expect("ops has a parent"))
                .unwrap_or(&path)
                .to_string_lossy()
                .into_owned();
            (rel, text)
        };
        let yaml_files = |dir: PathBuf| {
            let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
                .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
                .map(|entry| entry.expect("directory entry").path())
                .filter(|p| {
                    p.is_file()
                        && matches!(p.extension().and_then(|e| e.to_str()), Some("yml" | "yaml"))
                })
                .collect();
            paths.sort();
            paths.into_iter().map(read).collect::<Vec<_>>()
        };
        Self {
            rules: yaml_files(ops.join("prometheus")),
            rule_tests: yaml_files(ops.join("prometheus/tests")),
            dashboard: read(ops.join("grafana/readiness.json")),
            slo: read(ops.join("SLO.md")),
        }
    }
}

pub fn ops_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../ops")
}

/// Exported metric names and which of them are histograms, from the crate itself.
pub struct Exported {
    pub all: BTreeSet<String>,
    pub histograms: BTreeSet<String>,
}

#[derive(Default)]
struct DescribeCapture {
    kinds: Mutex<BTreeMap<String, &'static str>>,
}

impl DescribeCapture {
    fn note(&self, key: KeyName, kind: &'static str) {
        self.kinds
            .lock()
            .expect("not poisoned")
            .insert(key.as_str().to_owned(), kind);
    }
}

impl Recorder for DescribeCapture {
    fn describe_counter(&self, key: KeyName, _: Option<Unit>, _: SharedString) {
        self.note(key, "counter");
    }
    fn describe_gauge(&self, key: KeyName, _: Option<Unit>, _: SharedString) {
        self.note(key, "gauge");
    }
    fn describe_histogram(&self, key: KeyName, _: Option<Unit>, _: SharedString) {
        self.note(key, "histogram");
    }
    fn register_counter(&self, _: &Key, _: &Metadata<'_>) -> Counter {
        Counter::noop()
    }
    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }
    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::noop()
    }
}

impl Exported {
    pub fn from_crate() -> Self {
        let capture = DescribeCapture::default();
        metrics::with_local_recorder(&capture, readiness_core::metrics::describe);
        let kinds = capture.kinds.into_inner().expect("not poisoned");
        let all: BTreeSet<String> = readiness_core::metrics::ALL
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        let described: BTreeSet<String> = kinds.keys().cloned().collect();
        assert_eq!(
            all, described,
            "readiness_core::metrics::ALL and the names described by metrics::describe() differ"
        );
        let histograms = kinds
            .into_iter()
            .filter(|(_, kind)| *kind == "histogram")
            .map(|(name, _)| name)
            .collect();
        Self { all, histograms }
    }

    /// The exported metric a PromQL selector name reads, if any. A histogram's bare name is not
    /// a series (the exporter writes `_bucket`, `_sum` and `_count`), so it is not accepted.
    pub fn series_of(&self, name: &str) -> Option<&str> {
        if let Some(base) = self.all.get(name) {
            return (!self.histograms.contains(name)).then_some(base.as_str());
        }
        HISTOGRAM_SUFFIXES.iter().find_map(|suffix| {
            let base = name.strip_suffix(suffix)?;
            self.histograms.get(base).map(String::as_str)
        })
    }
}
