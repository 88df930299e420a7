//! The comparison as one self-contained HTML page: where each file comes from, the table,
//! the roofline of every device on one chart and GFLOP-per-joule bars. Styles and charts
//! (SVG) are inline, so the page needs no network when it is opened.

use crate::compare::Row;
use crate::report::BenchReport;
use crate::roofline::{self, Series};
use flopwatt::error::Result;

/// Text made safe for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '&' => o.push_str("&amp;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

const STYLE: &str = "body{font-family:sans-serif;margin:1.5em;color:#222}\
table{border-collapse:collapse;margin:.5em 0 1.5em}\
td,th{border:1px solid #ccc;padding:.2em .5em;text-align:right}\
td:first-child,th:first-child{text-align:left}\
tr.slower td.ratio{background:#fdd}tr td.slower{background:#fdd}td.faster{background:#dfd}\
.warn{color:#a40}svg{max-width:100%;height:auto}";

/// One line per file: name, device, when, flopwatt version and commit, host, timing, power.
fn files_table(names: &[String], reports: &[BenchReport]) -> String {
    let mut s = String::from(
        "<table id=\"files\"><thead><tr><th>file</th><th>device</th><th>created (UTC)</th>\
<th>flopwatt</th><th>host</th><th>timing</th><th>power</th><th>command</th></tr></thead><tbody>\n",
    );
    for (name, r) in names.iter().zip(reports) {
        let p = &r.provenance;
        let commit = if p.git_commit.is_empty() {
            String::new()
        } else {
            format!(" ({})", &p.git_commit[..p.git_commit.len().min(10)])
        };
        s.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}{}</td><td>{}, {} cores, {}</td><td>{}</td><td>{}{}</td><td><code>{}</code></td></tr>\n",
            escape(name),
            escape(&r.device_label()),
            escape(&p.created_utc),
            escape(&p.flopwatt_version),
            escape(&commit),
            escape(&p.host_cpu),
            p.host_cores,
            escape(&p.host_os),
            escape(&p.timing),
            escape(&r.power.source),
            if r.power.measured { "" } else { " (not measured)" },
            escape(&p.command_line),
        ));
    }
    s.push_str("</tbody></table>\n");
    s
}

/// The comparison table: a row per workload, per file its median, GFLOP/s, GFLOP/J and the
/// speed relative to the first file.
fn compare_table(names: &[String], rows: &[Row]) -> String {
    let mut s = String::from("<table id=\"compare\"><thead><tr><th rowspan=\"2\">workload</th>");
    for n in names {
        s.push_str(&format!("<th colspan=\"4\">{}</th>", escape(n)));
    }
    s.push_str("</tr><tr>");
    for _ in names {
        s.push_str("<th>median ms</th><th>GFLOP/s</th><th>GFLOP/J</th><th>speed vs first</th>");
    }
    s.push_str("</tr></thead><tbody>\n");
    for row in rows {
        s.push_str(&format!("<tr><td>{}</td>", escape(&row.label())));
        for cell in &row.cells {
            match cell {
                None => s.push_str("<td colspan=\"4\">absent</td>"),
                Some(c) => {
                    let (class, verdict) = match c.speedup {
                        Some(r) if c.beyond_noise && r < 1.0 => ("slower", " slower"),
                        Some(r) if c.beyond_noise && r > 1.0 => ("faster", " faster"),
                        Some(_) => ("same", ""),
                        None => ("", ""),
                    };
                    s.push_str(&format!(
                        "<td>{:.3}{}</td><td>{:.2}</td><td>{}</td><td class=\"ratio {class}\">{}{verdict}</td>",
                        c.median_ms,
                        if c.noisy { " (noisy)" } else { "" },
                        c.gflops,
                        c.gflops_per_joule
                            .map(|g| format!("{g:.3}"))
                            .unwrap_or_else(|| "-".into()),
                        c.speedup
                            .map(|r| format!("{r:.3}x"))
                            .unwrap_or_else(|| "-".into()),
                    ));
                }
            }
        }
        s.push_str("</tr>\n");
    }
    s.push_str("</tbody></table>\n");
    s
}

/// The whole page for files `names` (their reports in the same order) and their
/// comparison `rows`.
pub fn page(names: &[String], reports: &[BenchReport], rows: &[Row]) -> Result<String> {
    let labels: Vec<String> = names
        .iter()
        .zip(reports)
        .map(|(n, r)| format!("{n}: {}", r.device_label()))
        .collect();
    let series: Vec<Series> = labels
        .iter()
        .zip(reports)
        .map(|(l, r)| Series {
            label: l.clone(),
            ceilings: r.ceilings(),
            results: &r.results,
        })
        .collect();
    let roof = roofline::svg_multi("roofline: every device", &series)?;
    let bars = crate::energy_bars::svg(&labels, rows)?;
    let mut warnings = String::new();
    for (n, r) in names.iter().zip(reports) {
        for w in r.noise_warnings() {
            warnings.push_str(&format!(
                "<p class=\"warn\">{}: {}</p>\n",
                escape(n),
                escape(&w)
            ));
        }
    }
    Ok(format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<title>flopwatt compare</title><style>{STYLE}</style></head><body>\n\
<h1>flopwatt compare</h1>\n<h2>Files</h2>\n{}{warnings}<h2>Results</h2>\n\
<p>speed vs first: the first file's median over this file's (above 1: faster); \
marked slower or faster only beyond both runs' own noise.</p>\n{}\
<h2>Roofline</h2>\n<div id=\"roofline\">{}</div>\n\
<h2>Energy</h2>\n<div id=\"energy\">{}</div>\n</body></html>\n",
        files_table(names, reports),
        compare_table(names, rows),
        strip_xml_decl(&roof),
        strip_xml_decl(&bars),
    ))
}

/// An SVG document ready to inline in HTML (no XML declaration).
fn strip_xml_decl(svg: &str) -> &str {
    match svg.strip_prefix("<?xml") {
        Some(rest) => rest.split_once("?>").map(|(_, r)| r).unwrap_or(svg),
        None => svg,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::compare_files;
    use crate::report::tests::{report_on, row};

    #[test]
    fn page_is_self_contained_with_table_and_both_charts() {
        let a = report_on("gpu <a>", vec![row("m", 10.0, 9.9, 10.1)]);
        let b = report_on("gpu-b", vec![row("m", 20.0, 19.9, 20.1)]);
        let names = vec!["a.json".to_string(), "b.json".to_string()];
        let reports = [a, b];
        let rows = compare_files(&reports);
        let html = page(&names, &reports, &rows).unwrap();
        assert!(html.contains("id=\"compare\"") && html.contains("id=\"files\""));
        assert_eq!(html.matches("<svg").count(), 2, "roofline and energy bars");
        assert!(html.contains("gpu &lt;a&gt;"), "device names are escaped");
        assert!(!html.contains("<a>"));
        assert!(
            !html.contains("src=") && !html.contains("href="),
            "no external resources"
        );
        assert!(!html.contains("<script src") && !html.contains("<link"));
        assert!(html.contains("0.500x slower"), "{html}");
    }
}
