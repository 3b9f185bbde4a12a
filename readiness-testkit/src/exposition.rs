//! A parser for the Prometheus text exposition format, and a local recorder to capture what a
//! test emitted.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};
use readiness_core::metrics::{CHECK_DURATION_SECONDS, DURATION_BUCKETS};

/// One sample line: a series and its value.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// The series name (for histograms, with its `_bucket`, `_sum` or `_count` suffix).
    pub name: String,
    /// The labels, unescaped.
    pub labels: BTreeMap<String, String>,
    /// The value.
    pub value: f64,
}

/// A parsed exposition: every sample with its labels unescaped, and the `HELP` and `TYPE` of
/// every family. Tests read values from it instead of comparing strings, since the exporter
/// writes families in no fixed order.
///
/// ```
/// use readiness_testkit::Exposition;
///
/// let text = "# HELP up Whether up.\n# TYPE up gauge\nup{path=\"C:\\\\x\",q=\"say \\\"hi\\\"\"} 1\n";
/// let e = Exposition::parse(text)?;
/// assert_eq!(e.value("up", &[("path", "C:\\x"), ("q", "say \"hi\"")]), Some(1.0));
/// assert_eq!(e.help("up"), Some("Whether up."));
/// assert_eq!(e.metric_type("up"), Some("gauge"));
/// # Ok::<(), readiness_testkit::ExpositionError>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct Exposition {
    samples: Vec<Sample>,
    help: HashMap<String, String>,
    types: HashMap<String, String>,
}

/// A line of the exposition that is not valid text format.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpositionError {
    line: usize,
    message: String,
}

impl fmt::Display for ExpositionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "exposition line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ExpositionError {}

impl Exposition {
    /// Parse a text exposition. A family with two `# HELP` or two `# TYPE` lines, or the same
    /// series (name and labels) twice, is an error, as it is for Prometheus.
    pub fn parse(text: &str) -> Result<Self, ExpositionError> {
        let mut out = Exposition::default();
        let mut seen = std::collections::HashSet::new();
        for (i, line) in text.lines().enumerate() {
            let err = |message: &str| ExpositionError {
                line: i + 1,
                message: format!("{message}: {line:?}"),
            };
            let line = line.trim_end();
            if line.is_empty() {
                continue;
            }
            if let Some(rest) = line.strip_prefix('#') {
                let rest = rest.trim_start();
                if let Some(help) = rest.strip_prefix("HELP ") {
                    let (name, doc) = help.split_once(' ').unwrap_or((help, ""));
                    if out
                        .help
                        .insert(name.to_owned(), unescape_help(doc))
                        .is_some()
                    {
                        return Err(err("a second HELP for the same family"));
                    }
                } else if let Some(ty) = rest.strip_prefix("TYPE ") {
                    let (name, kind) = ty
                        .split_once(' ')
                        .ok_or_else(|| err("TYPE without a type"))?;
                    if out
                        .types
                        .insert(name.to_owned(), kind.trim().to_owned())
                        .is_some()
                    {
                        return Err(err("a second TYPE for the same family"));
                    }
                }
                continue;
            }
            let sample = parse_sample(line).map_err(err)?;
            if !seen.insert((sample.name.clone(), sample.labels.clone())) {
                return Err(err("the same series twice"));
            }
            out.samples.push(sample);
        }
        Ok(out)
    }

    /// Every sample, in exposition order.
    pub fn samples(&self) -> &[Sample] {
        &self.samples
    }

    /// The samples of one series name.
    pub fn series<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Sample> + 'a {
        self.samples.iter().filter(move |s| s.name == name)
    }

    /// The value of the series with exactly these labels.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.series(name)
            .find(|s| {
                s.labels.len() == labels.len()
                    && labels
                        .iter()
                        .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|s| s.value)
    }

    /// The `HELP` text of a family.
    pub fn help(&self, family: &str) -> Option<&str> {
        self.help.get(family).map(String::as_str)
    }

    /// The `TYPE` of a family (`counter`, `gauge`, `histogram`, `summary`, `untyped`).
    pub fn metric_type(&self, family: &str) -> Option<&str> {
        self.types.get(family).map(String::as_str)
    }
}

fn unescape_help(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('\\') => out.push('\\'),
                Some(other) => {
                    out.push('\\');
                    out.push(other);
                }
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn parse_sample(line: &str) -> Result<Sample, &'static str> {
    let name_end = line
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .unwrap_or(line.len());
    if name_end == 0 {
        return Err("no metric name");
    }
    let name = line[..name_end].to_owned();
    let mut rest = &line[name_end..];
    let mut labels = BTreeMap::new();
    if let Some(after) = rest.strip_prefix('{') {
        let mut chars = after.char_indices().peekable();
        loop {
            // Skip separators.
            while let Some(&(_, c)) = chars.peek() {
                if c == ',' || c == ' ' {
                    chars.next();
                } else {
                    break;
                }
            }
            match chars.peek() {
                Some(&(i, '}')) => {
                    rest = &after[i + 1..];
                    break;
                }
                None => return Err("unterminated label set"),
                _ => {}
            }
            let mut key = String::new();
            for (_, c) in chars.by_ref() {
                if c == '=' {
                    break;
                }
                key.push(c);
            }
            if chars.next().map(|(_, c)| c) != Some('"') {
                return Err("label value is not quoted");
            }
            let mut value = String::new();
            let mut closed = false;
            while let Some((_, c)) = chars.next() {
                match c {
                    '\\' => match chars.next().map(|(_, c)| c) {
                        Some('n') => value.push('\n'),
                        Some('\\') => value.push('\\'),
                        Some('"') => value.push('"'),
                        _ => return Err("bad escape in label value"),
                    },
                    '"' => {
                        closed = true;
                        break;
                    }
                    c => value.push(c),
                }
            }
            if !closed {
                return Err("unterminated label value");
            }
            labels.insert(key.trim().to_owned(), value);
        }
    }
    let mut fields = rest.split_whitespace();
    let value = match fields.next() {
        Some("+Inf") => f64::INFINITY,
        Some("-Inf") => f64::NEG_INFINITY,
        Some(v) => v.parse::<f64>().map_err(|_| "value is not a number")?,
        None => return Err("no value"),
    };
    Ok(Sample {
        name,
        labels,
        value,
    })
}

/// A Prometheus recorder local to one test: build the engine inside [`MetricsCapture::install`]
/// and read what it emitted with [`MetricsCapture::exposition`]. Nothing global is installed,
/// so tests run in parallel; the engine's metric handles stay bound to this recorder.
///
/// ```
/// use readiness_core::Engine;
/// use readiness_testkit::MetricsCapture;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let capture = MetricsCapture::new();
/// let engine = capture.install(|| Engine::builder().build())?;
/// engine.refresh().await?;
/// assert_eq!(capture.exposition()?.value("readiness_state", &[]), Some(1.0));
/// # Ok(()) }
/// ```
pub struct MetricsCapture {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
}

impl fmt::Debug for MetricsCapture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetricsCapture").finish_non_exhaustive()
    }
}

impl Default for MetricsCapture {
    fn default() -> Self {
        Self::new()
    }
}

impl MetricsCapture {
    /// A fresh recorder, with `readiness_check_duration_seconds` rendered as a histogram.
    pub fn new() -> Self {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full(CHECK_DURATION_SECONDS.into()),
                DURATION_BUCKETS,
            )
            .expect("DURATION_BUCKETS is a non-empty constant");
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        Self { recorder, handle }
    }

    /// Run `f` (typically building an engine) with this recorder as the current one.
    pub fn install<T>(&self, f: impl FnOnce() -> T) -> T {
        metrics::with_local_recorder(&self.recorder, f)
    }

    /// Make this recorder the thread's default until the guard drops, so that series created
    /// later on this thread (for example by tasks of a current-thread runtime) land here too.
    pub fn set_default(&self) -> metrics::LocalRecorderGuard<'_> {
        metrics::set_default_local_recorder(&self.recorder)
    }

    /// The exposition as a scrape would see it.
    pub fn render(&self) -> String {
        self.handle.run_upkeep();
        self.handle.render()
    }

    /// The exposition, parsed.
    pub fn exposition(&self) -> Result<Exposition, ExpositionError> {
        Exposition::parse(&self.render())
    }

    /// What a scrape of `readiness-tower`'s `/metrics` reads: the recorder's text, then the
    /// per-tenant families rendered from `engine`'s state (the default
    /// [`TenantMetricsExport::Collector`](readiness_core::TenantMetricsExport::Collector); with
    /// the facade the recorder's text has them and nothing is added).
    ///
    /// ```
    /// use readiness_core::{check_fn, CheckSpec, Engine};
    /// use readiness_testkit::MetricsCapture;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let capture = MetricsCapture::new();
    /// let ok = || CheckSpec::readiness("db", check_fn(|| async { Ok::<(), std::io::Error>(()) }));
    /// let engine = capture.install(|| Engine::builder().tenant("acme", vec![ok()]).build())?;
    /// engine.refresh().await?;
    /// engine.refresh_tenant("acme").await?;
    /// let e = capture.scrape(&engine)?;
    /// assert_eq!(e.value("tenant_readiness_state", &[("tenant", "acme")]), Some(1.0));
    /// assert_eq!(e.value("readiness_state", &[]), Some(1.0));
    /// # Ok(()) }
    /// ```
    pub fn scrape(&self, engine: &readiness_core::Engine) -> Result<Exposition, ExpositionError> {
        Exposition::parse(&self.scrape_text(engine))
    }

    /// The text of [`scrape`](Self::scrape), for `promtool check metrics` or a test of its own.
    pub fn scrape_text(&self, engine: &readiness_core::Engine) -> String {
        let mut collector = engine.tenant_collector();
        let mut text = collector.filter_recorder_text(self.render());
        while collector.render_next(&mut text, usize::MAX) {}
        text
    }

    /// The handle, for example for `ReadinessLayer::metrics`.
    pub fn handle(&self) -> PrometheusHandle {
        self.handle.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_escapes_histograms_and_specials() {
        let text = "# TYPE h histogram\nh_bucket{le=\"+Inf\",x=\"a}b,c\"} 3\nh_sum 1.5e-3\nnan_metric NaN\nweird{a=\"\\\\\",b=\"\\n\"} -Inf 12345\n";
        let e = Exposition::parse(text).expect("valid");
        assert_eq!(
            e.value("h_bucket", &[("le", "+Inf"), ("x", "a}b,c")]),
            Some(3.0)
        );
        assert_eq!(e.value("h_sum", &[]), Some(0.0015));
        assert!(e.value("nan_metric", &[]).is_some_and(f64::is_nan));
        assert_eq!(
            e.value("weird", &[("a", "\\"), ("b", "\n")]),
            Some(f64::NEG_INFINITY)
        );
        assert_eq!(e.metric_type("h"), Some("histogram"));
    }

    #[test]
    fn rejects_malformed_lines() {
        for bad in [
            "{a=\"b\"} 1",
            "m{a=b} 1",
            "m{a=\"b} 1",
            "m x",
            "m{a=\"\\q\"} 1",
            "m",
            "m 1\nm 2",
            "m{a=\"b\"} 1\nm{a=\"b\"} 2",
            "# TYPE m gauge\n# TYPE m gauge\nm 1",
            "# HELP m one\n# HELP m two\nm 1",
        ] {
            assert!(Exposition::parse(bad).is_err(), "{bad}");
        }
        assert!(Exposition::parse("m{a=\"b\"} 1\nm{a=\"c\"} 2\nn 1").is_ok());
    }
}
