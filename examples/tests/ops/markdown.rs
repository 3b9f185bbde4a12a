//! Markdown, just what SLO.md needs.

use std::collections::{BTreeMap, BTreeSet};

pub struct Markdown {
    /// (1-based line of the opening fence, content) of every ```promql block.
    pub promql_blocks: Vec<(usize, String)>,
    /// (1-based line, content) of every inline code span outside fenced blocks.
    pub inline_code: Vec<(usize, String)>,
    /// GitHub-style anchors of every heading.
    pub anchors: BTreeSet<String>,
    /// (1-based line, anchor) of every `](#anchor)` link.
    pub links: Vec<(usize, String)>,
}

impl Markdown {
    pub fn parse(text: &str) -> Self {
        let mut promql_blocks = Vec::new();
        let mut anchors = BTreeSet::new();
        let mut anchor_uses: BTreeMap<String, usize> = BTreeMap::new();
        // Text outside fenced blocks, with fenced lines blanked so line numbers stay right.
        let mut prose = String::new();
        // (fence, info, opening line, content)
        let mut open: Option<(String, String, usize, String)> = None;
        for (i, line) in text.lines().enumerate() {
            let trimmed = line.trim_start();
            let fence_len = |ch: char| trimmed.chars().take_while(|&c| c == ch).count();
            let fence = ['`', '~']
                .into_iter()
                .map(|ch| (ch, fence_len(ch)))
                .find(|&(_, n)| n >= 3)
                .map(|(ch, n)| ch.to_string().repeat(n));
            match (&mut open, fence) {
                (Some((f, info, start, content)), Some(close))
                    if close.starts_with(f.as_str())
                        && trimmed[close.len()..].trim().is_empty() =>
                {
                    if info.split_whitespace().next() == Some("promql") {
                        promql_blocks.push((*start, std::mem::take(content)));
                    }
                    open = None;
                }
                (Some((.., content)), _) => {
                    content.push_str(line);
                    content.push('\n');
                }
                (None, Some(f)) => {
                    let info = trimmed[f.len()..].trim().to_owned();
                    open = Some((f, info, i + 1, String::new()));
                }
                (None, None) => {
                    if let Some(heading) = trimmed.strip_prefix('#') {
                        let heading = heading.trim_start_matches('#');
                        if heading.starts_with(' ') || heading.is_empty() {
                            let base = github_anchor(heading.trim().trim_end_matches('#'));
                            let n = anchor_uses.entry(base.clone()).or_default();
                            anchors.insert(if *n == 0 {
                                base.clone()
                            } else {
                                format!("{base}-{n}")
                            });
                            *n += 1;
                        }
                    }
                    prose.push_str(line);
                }
            }
            prose.push('\n');
        }
        let line_of = |offset: usize| prose[..offset].matches('\n').count() + 1;
        let mut inline_code = Vec::new();
        let mut rest = 0;
        while let Some(start) = prose[rest..].find('`').map(|p| rest + p) {
            let ticks = prose[start..].chars().take_while(|&c| c == '`').count();
            let fence = "`".repeat(ticks);
            let body = start + ticks;
            // The closing run has exactly as many backticks.
            let mut search = body;
            let mut end = None;
            while let Some(p) = prose[search..].find(&fence).map(|p| search + p) {
                let run = prose[p..].chars().take_while(|&c| c == '`').count();
                if run == ticks {
                    end = Some(p);
                    break;
                }
                search = p + run;
            }
            match end {
                Some(end) => {
                    let span = prose[body..end].replace('\n', " ");
                    inline_code.push((line_of(start), span.trim().to_owned()));
                    rest = end + ticks;
                }
                None => rest = body,
            }
        }
        let mut links = Vec::new();
        let mut rest = 0;
        while let Some(p) = prose[rest..].find("](#").map(|p| rest + p) {
            let anchor_start = p + 3;
            let anchor_end = prose[anchor_start..]
                .find(')')
                .map_or(prose.len(), |e| anchor_start + e);
            links.push((line_of(p), prose[anchor_start..anchor_end].to_owned()));
            rest = anchor_end;
        }
        Self {
            promql_blocks,
            inline_code,
            anchors,
            links,
        }
    }
}

/// GitHub's heading anchor: lower case; letters, digits, `-` and `_` kept, spaces become `-`,
/// everything else (punctuation, backticks) is removed.
pub fn github_anchor(heading: &str) -> String {
    heading
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}
