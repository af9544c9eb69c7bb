//! Opens a rendered report in headless Chromium: the four charts must lay out with their lines,
//! bands and labels drawn, and the page must log nothing to the console (no script error, no
//! blocked load).
//!
//! Needs `/usr/bin/chromium` (Debian's `chromium`, which `scripts/install-test-deps.sh`
//! installs). Without it the tests print "skipping: chromium not installed" and pass, except when
//! the `CI` environment variable is set: there they fail, so that CI cannot skip them silently.

mod common;

use std::path::Path;
use std::time::Duration;

use prescale_testkit::chromium::{ChromiumRun as Run, have_chromium, headless};

/// How long one Chromium run may take.
const TIMEOUT: Duration = Duration::from_secs(120);

/// Appended to the page under test: measures what the browser laid out and writes it into the
/// DOM, which `--dump-dom` prints.
const PROBE: &str = r#"<script>
(function () {
  var out = [];
  var svgs = document.querySelectorAll('svg');
  out.push('svgs=' + svgs.length);
  svgs.forEach(function (svg) {
    var box = svg.getBoundingClientRect();
    var shapes = svg.querySelectorAll('polyline, polygon, path');
    var drawn = 0;
    shapes.forEach(function (s) {
      var b = s.getBBox();
      if (b.width > 0 || b.height > 0) { drawn++; }
    });
    var texts = svg.querySelectorAll('text');
    var shown = 0;
    texts.forEach(function (t) { if (t.getComputedTextLength() > 0) { shown++; } });
    out.push('chart width=' + Math.round(box.width) + ' height=' + Math.round(box.height) +
      ' shapes=' + shapes.length + ' drawn=' + drawn + ' texts=' + texts.length + ' shown=' + shown);
  });
  out.push('rows=' + document.querySelectorAll('table.summary tbody tr').length);
  var pre = document.createElement('pre');
  pre.id = 'probe';
  pre.textContent = out.join('\n');
  document.body.appendChild(pre);
})();
</script>
"#;

/// Runs headless Chromium on `page` with `extra` flags and a fresh profile.
fn chromium(page: &Path, extra: &[String]) -> Run {
    headless(&format!("file://{}", page.display()), extra, TIMEOUT)
}

/// The console messages of the page in Chromium's log: its own noise (D-Bus, GPU, sandbox
/// warnings) is tagged by source file, a page's messages are tagged `CONSOLE` and name the
/// page's `file://` URL; uncaught exceptions say `Uncaught`.
/// `html` with the layout probe, laid out by headless Chromium in a window of `size`
/// (`width,height`): the run, with no console message.
fn laid_out(html: &str, size: &str) -> Run {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let page = dir.path().join("page.html");
    let probed = html.replacen("</body>", &format!("{PROBE}</body>"), 1);
    std::fs::write(&page, probed).expect("write the page");
    let run = chromium(
        &page,
        &["--dump-dom".to_owned(), format!("--window-size={size}")],
    );
    assert!(
        console_lines(&run.stderr).is_empty(),
        "console: {:?}",
        console_lines(&run.stderr)
    );
    run
}

fn console_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|line| {
            line.contains(":CONSOLE")
                || line.contains("Uncaught")
                || (line.contains("Console") && line.contains("file://"))
        })
        .collect()
}

/// The text of the probe's `<pre id="probe">` in a DOM dump.
fn probe(dom: &str) -> &str {
    let start = dom.find("<pre id=\"probe\">").expect("the probe ran") + "<pre id=\"probe\">".len();
    let end = dom[start..].find("</pre>").expect("the probe's end") + start;
    &dom[start..end]
}

/// The value of `key=` in a probe line.
fn field(line: &str, key: &str) -> u64 {
    let value = line
        .split_whitespace()
        .find_map(|word| word.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key} in {line}"));
    value.parse().unwrap_or_else(|_| panic!("{key} in {line}"))
}

/// Panics unless the probed chart is at least `width` × `height` and every one of its (at
/// least `shapes`) shapes is drawn and every one of its (at least `texts`) labels is set in a
/// font.
fn assert_drawn(chart: &str, width: u64, height: u64, shapes: u64, texts: u64) {
    assert!(
        field(chart, "width") >= width && field(chart, "height") >= height,
        "{chart}"
    );
    assert!(field(chart, "shapes") >= shapes, "{chart}");
    assert_eq!(field(chart, "drawn"), field(chart, "shapes"), "{chart}");
    assert!(field(chart, "texts") >= texts, "{chart}");
    assert_eq!(field(chart, "shown"), field(chart, "texts"), "{chart}");
}

#[test]
fn report_renders_in_chromium_without_console_messages() {
    if !have_chromium() {
        return;
    }
    let report = common::synthetic_report("a<b>&c.csv", 7 * 1440, 60);
    let html = prescale_report::render_html(&report);
    let run = laid_out(&html, "1400,2400");
    assert!(
        run.stdout
            .contains("<h1>Backtest of a&lt;b&gt;&amp;c.csv</h1>"),
        "{}",
        run.stdout
    );
    let probe = probe(&run.stdout);
    let lines: Vec<&str> = probe.lines().collect();
    assert_eq!(lines.first(), Some(&"svgs=4"), "{probe}");
    assert_eq!(lines.last(), Some(&"rows=3"), "{probe}");
    let charts: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.starts_with("chart "))
        .collect();
    assert_eq!(charts.len(), 4, "{probe}");
    for chart in charts {
        // Grid lines, axes, series and legend swatches all have an extent; tick labels, axis
        // descriptions and the legend are set in a font.
        assert_drawn(chart, 1000, 300, 8, 12);
    }

    // The page as it ships (without the probe) paints and logs nothing either.
    let dir = tempfile::tempdir().expect("a temporary directory");
    let page = dir.path().join("report.html");
    std::fs::write(&page, &html).expect("write the page");
    let shot = dir.path().join("report.png");
    let extra = [
        format!("--screenshot={}", shot.display()),
        "--window-size=1400,2400".to_owned(),
        "--hide-scrollbars".to_owned(),
    ];
    let run = chromium(&page, &extra);
    assert!(
        console_lines(&run.stderr).is_empty(),
        "console: {:?}",
        console_lines(&run.stderr)
    );
    let png = std::fs::read(&shot).expect("a screenshot");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 50_000,
        "{} bytes",
        png.len()
    );
}

#[test]
fn console_check_catches_page_errors() {
    if !have_chromium() {
        return;
    }
    let dir = tempfile::tempdir().expect("a temporary directory");
    let page = dir.path().join("broken.html");
    let broken = "<!DOCTYPE html><html><head><meta charset=\"utf-8\">\
        <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; script-src 'unsafe-inline'\">\
        <title>broken</title></head><body><img src=\"missing.png\" alt=\"\">\
        <script>console.error('deliberate error');</script>\
        <script>undefinedFunction();</script></body></html>";
    std::fs::write(&page, broken).expect("write the page");
    let run = chromium(&page, &["--dump-dom".to_owned()]);
    let lines = console_lines(&run.stderr);
    assert!(
        lines.iter().any(|l| l.contains("deliberate error")),
        "{}",
        run.stderr
    );
    assert!(
        lines.iter().any(|l| l.contains("Uncaught ReferenceError")),
        "{}",
        run.stderr
    );
    assert!(
        lines.iter().any(|l| l.contains("Content Security Policy")),
        "{}",
        run.stderr
    );
    assert!(
        !lines.iter().any(|l| l.contains("dbus")),
        "Chromium's own messages are not the page's: {lines:?}"
    );
}

#[test]
fn frontier_page_renders_in_chromium_without_console_messages() {
    if !have_chromium() {
        return;
    }
    use prescale_report::{FrontierPoint, FrontierReport, render_frontier_html};
    let point = |label: &str, gpu_hours: f64, sla: f64| FrontierPoint {
        label: label.into(),
        gpu_hours,
        sla,
    };
    let candidates: Vec<FrontierPoint> = (0..20)
        .map(|i| {
            let u = 1.0 - f64::from(i) * 0.03;
            point(
                &format!("P90 at {}%", (u * 100.0).round()),
                700.0 / u,
                1.0 - 0.2 * u * u,
            )
        })
        .collect();
    let report = FrontierReport {
        trace: "a<b>&c.csv".into(),
        settings: "capacity 14.5 units/min per replica, cold start 180 s".into(),
        slo: 0.99,
        frontier: candidates.clone(),
        pick: Some((
            candidates[10].clone(),
            "the cheapest that reaches 99%".into(),
        )),
        candidates,
        others: vec![
            point("keda_reactive", 660.0, 0.67),
            point("clairvoyant", 662.0, 0.9998),
        ],
    };
    let run = laid_out(&render_frontier_html(&report), "1400,1600");
    assert!(
        run.stdout
            .contains("Cost–SLA frontier of a&lt;b&gt;&amp;c.csv"),
        "{}",
        run.stdout
    );
    let probe = probe(&run.stdout);
    let lines: Vec<&str> = probe.lines().collect();
    assert_eq!(lines.first(), Some(&"svgs=1"), "{probe}");
    // The frontier's rows and the two others.
    assert_eq!(lines.last(), Some(&"rows=22"), "{probe}");
    // Candidates, the frontier line, markers, the SLO line: all drawn with an extent.
    assert_drawn(lines[1], 1000, 400, 20, 10);
}
