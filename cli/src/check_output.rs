//! What `leakagent check` prints, in the format a CI system shows natively: text (one line per
//! failing finding and a closing line), JSON, JUnit XML (Jenkins, GitLab: one failure per
//! finding at or above `--fail-on`) and SARIF 2.1.0 (code scanning: one result per such finding).

use leakagent_report::model::{Finding, Severity};
use serde_json::{json, Value};
use std::fmt::Write;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
    Junit,
    Sarif,
}

/// One finding that fails the gate, and the report it is in.
pub struct Failing {
    pub report: String,
    pub finding: Finding,
}

/// The whole outcome of a check.
pub struct Outcome {
    pub fail_on: Severity,
    /// Every report read, in order.
    pub reports: Vec<String>,
    pub failing: Vec<Failing>,
    pub allowed: usize,
    pub below: usize,
    pub unreadable: usize,
}

pub fn render(o: &Outcome, format: Format) -> String {
    match format {
        Format::Text => text(o),
        Format::Json => serde_json::to_string_pretty(&json_value(o)).unwrap_or_default() + "\n",
        Format::Junit => junit(o),
        Format::Sarif => serde_json::to_string_pretty(&sarif(o)).unwrap_or_default() + "\n",
    }
}

/// The keys an allow-list entry can match, as shown next to a failing finding.
fn subject_text(f: &Finding) -> String {
    let s = &f.subject;
    let mut parts = Vec::new();
    for (k, v) in [("culprit", &s.culprit), ("holder", &s.holder), ("site", &s.site)] {
        if let Some(v) = v {
            parts.push(format!("{k}={v}"));
        }
    }
    if !s.loaders.is_empty() {
        parts.push(format!("loaders={}", s.loaders.join(",")));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(" [{}]", parts.join(" "))
    }
}

fn text(o: &Outcome) -> String {
    let mut out = String::new();
    for f in &o.failing {
        let x = &f.finding;
        let _ = writeln!(out, "{}: {} {}{}: {}", f.report, x.severity.name(), x.kind, subject_text(x), x.summary);
    }
    let read = o.reports.len();
    let _ = writeln!(
        out,
        "leakagent check: {} finding(s) at or above {} in {read} report(s){}{}{}",
        o.failing.len(),
        o.fail_on.name(),
        if o.allowed > 0 { format!(", {} accepted by the allow-list", o.allowed) } else { String::new() },
        if o.below > 0 { format!(", {} below {}", o.below, o.fail_on.name()) } else { String::new() },
        if o.unreadable > 0 { format!("; {} report(s) unreadable", o.unreadable) } else { String::new() },
    );
    out
}

fn finding_json(f: &Failing) -> Value {
    let x = &f.finding;
    json!({
        "report": f.report,
        "severity": x.severity.name(),
        "kind": x.kind,
        "summary": x.summary,
        "fix": x.fix,
        "culprit": x.subject.culprit,
        "holder": x.subject.holder,
        "site": x.subject.site,
        "loaders": x.subject.loaders,
    })
}

fn json_value(o: &Outcome) -> Value {
    json!({
        "fail_on": o.fail_on.name(),
        "reports": o.reports,
        "unreadable": o.unreadable,
        "failing": o.failing.iter().map(finding_json).collect::<Vec<_>>(),
        "accepted_by_allow_list": o.allowed,
        "below_fail_on": o.below,
        "passed": o.failing.is_empty() && o.unreadable == 0,
    })
}

fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 has no way to carry other control characters.
            c if c.is_control() && !matches!(c, '\n' | '\t') => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// One test suite per report: a passing test case when nothing in it fails the gate, else one
/// failing test case per finding.
fn junit(o: &Outcome) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let cases = |r: &str| o.failing.iter().filter(|f| f.report == r).collect::<Vec<_>>();
    let total: usize = o.reports.iter().map(|r| cases(r).len().max(1)).sum();
    let _ = writeln!(out, "<testsuites name=\"leakagent check\" tests=\"{total}\" failures=\"{}\">", o.failing.len());
    for r in &o.reports {
        let failing = cases(r);
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\">",
            xml(r),
            failing.len().max(1),
            failing.len()
        );
        if failing.is_empty() {
            let _ = writeln!(
                out,
                "    <testcase classname=\"leakagent\" name=\"no finding at or above {}\"/>",
                o.fail_on.name()
            );
        }
        for f in failing {
            let x = &f.finding;
            let _ = writeln!(
                out,
                "    <testcase classname=\"leakagent.{}\" name=\"{}{}\">\n      <failure type=\"{}\" message=\"{}\">{}\nFix: {}</failure>\n    </testcase>",
                xml(&x.kind),
                x.severity.name(),
                xml(&subject_text(x)),
                xml(&x.kind),
                xml(&x.summary),
                xml(&x.summary),
                xml(&x.fix)
            );
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

fn sarif_level(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    }
}

/// SARIF 2.1.0: a rule per finding kind, a result per failing finding, located in the report
/// file, with the Java place it names (holder or site) as a logical location.
fn sarif(o: &Outcome) -> Value {
    let mut kinds: Vec<&str> = o.failing.iter().map(|f| f.finding.kind.as_str()).collect();
    kinds.sort_unstable();
    kinds.dedup();
    let rules: Vec<Value> = kinds
        .iter()
        .map(|k| json!({ "id": k, "name": k, "shortDescription": { "text": format!("leakagent finding {k}") } }))
        .collect();
    let results: Vec<Value> = o
        .failing
        .iter()
        .map(|f| {
            let x = &f.finding;
            let mut result = json!({
                "ruleId": x.kind,
                "level": sarif_level(x.severity),
                "message": { "text": format!("{} Fix: {}", x.summary, x.fix) },
                "locations": [{ "physicalLocation": { "artifactLocation": { "uri": f.report } } }],
                "properties": { "severity": x.severity.name(), "culprit": x.subject.culprit, "loaders": x.subject.loaders },
            });
            if let Some(place) = x.subject.holder.as_ref().or(x.subject.site.as_ref()) {
                result["locations"][0]["logicalLocations"] = json!([{ "fullyQualifiedName": place }]);
            }
            result
        })
        .collect();
    json!({
        "version": "2.1.0",
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "runs": [{
            "tool": { "driver": { "name": "leakagent", "version": env!("CARGO_PKG_VERSION"), "rules": rules } },
            "results": results,
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use leakagent_report::model::Subject;

    fn outcome() -> Outcome {
        let finding = Finding {
            severity: Severity::Critical,
            kind: "classloader_leak".into(),
            summary: "2 loaders <pinned> & \u{1b}x".into(),
            fix: "stop the thread".into(),
            subject: Subject { culprit: Some("thread".into()), holder: Some("app.Worker.loader".into()), site: None, loaders: vec!["app-gen-1".into()] },
        };
        Outcome {
            fail_on: Severity::Warning,
            reports: vec!["a.json".into(), "b.json".into()],
            failing: vec![Failing { report: "a.json".into(), finding }],
            allowed: 0,
            below: 1,
            unreadable: 0,
        }
    }

    #[test]
    fn junit_has_one_failure_per_finding_and_a_passing_case_per_clean_report() {
        let x = junit(&outcome());
        assert!(x.contains("<testsuites name=\"leakagent check\" tests=\"2\" failures=\"1\">"), "{x}");
        assert!(x.contains("<failure type=\"classloader_leak\" message=\"2 loaders &lt;pinned&gt; &amp; \\u{1b}x\">"), "{x}");
        assert!(x.contains("<testsuite name=\"b.json\" tests=\"1\" failures=\"0\">"), "{x}");
    }

    #[test]
    fn sarif_has_a_result_per_finding_with_rule_level_and_location() {
        let v = sarif(&outcome());
        assert_eq!(v["version"], "2.1.0");
        let r = &v["runs"][0]["results"][0];
        assert_eq!((r["ruleId"].as_str(), r["level"].as_str()), (Some("classloader_leak"), Some("error")));
        assert_eq!(r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"], "a.json");
        assert_eq!(r["locations"][0]["logicalLocations"][0]["fullyQualifiedName"], "app.Worker.loader");
        assert_eq!(v["runs"][0]["tool"]["driver"]["rules"][0]["id"], "classloader_leak");
    }

    #[test]
    fn json_and_text_say_the_same() {
        let o = outcome();
        let v = json_value(&o);
        assert_eq!((v["failing"][0]["kind"].as_str(), v["passed"].as_bool()), (Some("classloader_leak"), Some(false)));
        let t = text(&o);
        assert!(t.ends_with("leakagent check: 1 finding(s) at or above warning in 2 report(s), 1 below warning\n"), "{t}");
    }
}
