//! The SLO document (`ops/SLO.md`): its ```` ```promql ```` blocks parse, its inline code names
//! only exported or recorded metrics, its in-page links resolve, and its headings are the
//! alerts' runbook anchors. The parsing and the checks are in `ops/`.

mod ops;

use ops::checks::{check_alerts, check_metrics, problems_mentioning};
use ops::files::{Exported, OpsFiles};
use ops::markdown::{Markdown, github_anchor};
use ops::promql::prose_metric_tokens;

#[test]
fn a_query_that_does_not_parse_is_reported_with_its_place() {
    let exported = Exported::from_crate();
    let mut files = OpsFiles::load();
    files
        .slo
        .1
        .push_str("\n```promql\nsum by (job (readiness_state)\n```\n");
    let problems = check_metrics(&files, &exported);
    let hits = problems_mentioning(&problems, "does not parse");
    assert_eq!(hits.len(), 1, "{problems:#?}");
    assert!(hits[0].starts_with("ops/SLO.md:"), "{}", hits[0]);
}

#[test]
fn slo_markdown_gives_anchors_promql_blocks_inline_code_and_links() {
    assert_eq!(
        github_anchor("ReadinessBudgetBurnFast"),
        "readinessbudgetburnfast"
    );
    assert_eq!(
        github_anchor("Instance check latency (99% within 250 ms)"),
        "instance-check-latency-99-within-250-ms"
    );
    assert_eq!(
        github_anchor("`tenant_readiness_state`"),
        "tenant_readiness_state"
    );
    assert_eq!(
        prose_metric_tokens(
            r#"sum(readiness_state{job="readiness_demo"}) readiness_core::metrics::ALL job:readiness_x:y readiness-core"#
        ),
        ["readiness_state", "job:readiness_x:y"]
    );
    let md =
        Markdown::parse("# A b\n\n```promql\nfoo\n```\n\nsee `x` and\n`y\nz` [l](#a-b)\n## A b\n");
    assert_eq!(md.promql_blocks, [(3, "foo\n".to_owned())]);
    assert_eq!(md.inline_code, [(7, "x".to_owned()), (8, "y z".to_owned())]);
    assert_eq!(md.links, [(9, "a-b".to_owned())]);
    assert_eq!(
        md.anchors.iter().map(String::as_str).collect::<Vec<_>>(),
        ["a-b", "a-b-1"]
    );
}

#[test]
fn a_broken_link_and_a_renamed_runbook_heading_are_reported() {
    let mut files = OpsFiles::load();
    let heading = "### ReadinessNotReady\n";
    assert!(files.slo.1.contains(heading), "SLO.md has {heading:?}");
    let links_to_it = files.slo.1.matches("](#readinessnotready)").count();
    files.slo.1 = files
        .slo
        .1
        .replacen(heading, "### ReadinessNotReadyRunbook\n", 1);
    files
        .slo
        .1
        .push_str("\nSee [the budget](#no-such-section).\n");
    let problems = check_alerts(&files);
    let runbook = problems_mentioning(&problems, "runbook_url anchor `#readinessnotready`");
    assert_eq!(runbook.len(), 1, "{problems:#?}");
    assert!(
        runbook[0].contains("alert ReadinessNotReady:"),
        "{}",
        runbook[0]
    );
    let link = problems_mentioning(
        &problems,
        "link to `#no-such-section`, which is not a heading",
    );
    assert_eq!(link.len(), 1, "{problems:#?}");
    assert!(link[0].starts_with("ops/SLO.md:"), "{}", link[0]);
    // The section's own in-page links break with it.
    let renamed = problems_mentioning(
        &problems,
        "link to `#readinessnotready`, which is not a heading",
    );
    assert_eq!(renamed.len(), links_to_it, "{problems:#?}");
    assert_eq!(problems.len(), 2 + links_to_it, "{problems:#?}");
}

#[test]
fn a_renamed_metric_in_inline_code_is_reported() {
    let exported = Exported::from_crate();
    let mut files = OpsFiles::load();
    files
        .slo
        .1
        .push_str("\nWhile `readiness_stat{job=\"readiness_x\"}` is 0, the instance is out.\n");
    let problems = check_metrics(&files, &exported);
    let hits = problems_mentioning(&problems, "`readiness_stat`");
    assert_eq!(hits.len(), 1, "{problems:#?}");
    assert!(
        hits[0].contains("(inline code `readiness_stat{"),
        "{}",
        hits[0]
    );
    assert_eq!(
        problems.len(),
        1,
        "only the typo is reported: {problems:#?}"
    );
}
