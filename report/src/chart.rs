//! Inline SVG line charts of the sampler's series for the HTML page (no script, no external
//! resource). A series is drawn only through samples that measured it: consecutive readings are
//! joined, a reading whose neighbours did not measure the series stands alone as a dot, so a value
//! read once a minute never looks like a line across the run.

use super::html::esc;
use super::model::Sample;
use std::fmt::Write;

const W: f64 = 1100.0;
const H: f64 = 260.0;
const LEFT: f64 = 84.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 40.0;

type Get = fn(&Sample) -> Option<u64>;

struct Series {
    name: &'static str,
    color: &'static str,
    get: Get,
}

/// How a chart's values are shown on its axis.
#[derive(Clone, Copy)]
enum Unit {
    Mib,
    Count,
}

impl Unit {
    fn label(self, v: f64) -> String {
        match self {
            Unit::Mib if v >= 10.0 * 1024.0 * 1024.0 => format!("{:.0}", v / (1024.0 * 1024.0)),
            Unit::Mib => format!("{:.1}", v / (1024.0 * 1024.0)),
            Unit::Count => format!("{v:.0}"),
        }
    }

    /// The top of the axis: the smallest 1, 2, 4, 5 or 8 times a power of ten (in MiB or units)
    /// at or above `v`, so the four gridlines fall on round values; at least 1 MiB or 4.
    fn nice_top(self, v: f64) -> f64 {
        let scale = match self {
            Unit::Mib => 1024.0 * 1024.0,
            Unit::Count => 1.0,
        };
        let v = (v / scale).max(match self {
            Unit::Mib => 1.0,
            Unit::Count => 4.0,
        });
        let p = 10f64.powf(v.log10().floor());
        let m = [1.0, 2.0, 4.0, 5.0, 8.0, 10.0].into_iter().find(|m| m * p >= v).unwrap_or(10.0);
        m * p * scale
    }

    fn title(self) -> &'static str {
        match self {
            Unit::Mib => "MiB",
            Unit::Count => "count",
        }
    }
}

/// The memory chart (against the container limit when there is one) and the counts chart.
pub fn samples_charts(samples: &[Sample], b: &mut String) {
    if samples.len() < 2 {
        return;
    }
    b.push_str("<h2 id=over-time>Over time</h2>\n");
    let memory = [
        Series { name: "RSS", color: "#4e79a7", get: |s| Some(s.rss_bytes) },
        Series { name: "cgroup usage", color: "#76b7b2", get: |s| s.cgroup_usage_bytes },
        Series { name: "heap used", color: "#59a14f", get: |s| s.heap_used_bytes },
        Series { name: "malloc in use", color: "#f28e2b", get: |s| s.malloc_in_use_bytes },
        Series { name: "malloc free", color: "#e15759", get: |s| s.malloc_free_bytes },
        Series { name: "direct live", color: "#b07aa1", get: |s| s.direct_live_bytes },
    ];
    let limit = samples.iter().rev().find_map(|s| s.cgroup_limit_bytes);
    chart("memory over time", Unit::Mib, samples, &memory, limit.map(|l| ("container limit", l)), b);
    let counts = [
        Series { name: "live zlib streams", color: "#edc948", get: |s| s.zlib_live },
        Series { name: "loaders alive", color: "#9c755f", get: |s| Some(s.loaders_alive) },
    ];
    chart("counts over time", Unit::Count, samples, &counts, None, b);
    let last = samples.last().expect("two samples or more");
    let _ = writeln!(
        b,
        "<p class=small>{} samples; classes loaded {}, live {}, loaders alive {} at the last one. \
         Dots are readings taken less often than the samples (malloc is read at most once a minute).</p>",
        samples.len(),
        last.classes_loaded,
        last.classes_live,
        last.loaders_alive
    );
}

fn chart(label: &str, unit: Unit, samples: &[Sample], series: &[Series], limit: Option<(&str, u64)>, b: &mut String) {
    let shown: Vec<&Series> = series.iter().filter(|s| samples.iter().any(|x| (s.get)(x).is_some())).collect();
    if shown.is_empty() {
        return;
    }
    let t0 = samples.first().map_or(0, |s| s.t_ms) as f64;
    let t1 = (samples.last().map_or(0, |s| s.t_ms) as f64).max(t0 + 1000.0);
    let data_max = samples.iter().flat_map(|x| shown.iter().filter_map(move |s| (s.get)(x))).max().unwrap_or(0);
    let ymax = unit.nice_top(data_max.max(limit.map_or(0, |l| l.1)) as f64 * 1.05);
    let px = |t: f64| LEFT + (t - t0) / (t1 - t0) * (W - LEFT - RIGHT);
    let py = |v: f64| TOP + (1.0 - v / ymax) * (H - TOP - BOTTOM);
    let _ = write!(b, "<svg class=chart width=\"100%\" viewBox=\"0 0 {W} {H}\" role=img aria-label=\"{}\">", esc(label));
    for i in 0..=4 {
        let v = ymax * f64::from(i) / 4.0;
        let y = py(v);
        let _ = write!(
            b,
            "<line x1=\"{LEFT}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#e3e6ea\"/><text x=\"{}\" y=\"{:.1}\" text-anchor=end>{}</text>",
            W - RIGHT,
            LEFT - 6.0,
            y + 4.0,
            unit.label(v)
        );
    }
    let _ = write!(
        b,
        "<text transform=\"translate(16 {:.1}) rotate(-90)\" text-anchor=middle>{}</text>",
        (H - BOTTOM + TOP) / 2.0,
        unit.title()
    );
    for t in time_ticks(t0, t1) {
        let x = px(t);
        let _ = write!(
            b,
            "<line x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#9aa3ad\"/><text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=middle>{}</text>",
            H - BOTTOM,
            H - BOTTOM + 4.0,
            H - BOTTOM + 16.0,
            clock(t)
        );
    }
    let _ = write!(b, "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=middle>time since the JVM started</text>", (LEFT + W - RIGHT) / 2.0, H - 4.0);
    if let Some((name, l)) = limit {
        let y = py(l as f64);
        let _ = write!(
            b,
            "<line x1=\"{LEFT}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#c0392b\" stroke-dasharray=\"6 4\"/><text x=\"{}\" y=\"{:.1}\" text-anchor=end fill=\"#c0392b\">{name} {} MiB</text>",
            W - RIGHT,
            W - RIGHT - 4.0,
            y - 4.0,
            Unit::Mib.label(l as f64)
        );
    }
    for s in &shown {
        let points: Vec<Option<(f64, f64)>> =
            samples.iter().map(|x| (s.get)(x).map(|v| (px(x.t_ms as f64), py(v as f64)))).collect();
        for run in points.split(Option::is_none).filter(|r| !r.is_empty()) {
            let run: Vec<(f64, f64)> = run.iter().flatten().copied().collect();
            if let [(x, y)] = run[..] {
                let _ = write!(b, "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"3\" fill=\"{}\"/>", s.color);
            } else {
                let pts: Vec<String> = run.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
                let _ = write!(b, "<polyline fill=none stroke=\"{}\" stroke-width=2 points=\"{}\"/>", s.color, pts.join(" "));
            }
        }
    }
    b.push_str("</svg>\n<div class=legend>");
    for s in &shown {
        let _ = write!(b, "<span><i style=\"background:{}\"></i>{}</span>", s.color, s.name);
    }
    b.push_str("</div>\n");
}


/// About six round ticks (1 s, 5 s, 10 s, ... 1 day) between `t0` and `t1`, in milliseconds.
fn time_ticks(t0: f64, t1: f64) -> Vec<f64> {
    const STEPS_S: [f64; 14] = [1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 21600.0, 86400.0];
    let span = t1 - t0;
    let step = STEPS_S.iter().map(|s| s * 1000.0).find(|s| span / s <= 7.0).unwrap_or(86_400_000.0 * (span / 86_400_000.0 / 6.0).ceil());
    let mut t = (t0 / step).ceil() * step;
    let mut out = Vec::new();
    while t <= t1 {
        out.push(t);
        t += step;
    }
    out
}

/// `m:ss` under an hour, `h:mm` beyond.
fn clock(t_ms: f64) -> String {
    let s = (t_ms / 1000.0).round() as u64;
    if s < 3600 {
        format!("{}:{:02}", s / 60, s % 60)
    } else {
        format!("{}:{:02}h", s / 3600, (s % 3600) / 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(t_s: u64, malloc: Option<u64>) -> Sample {
        Sample { t_ms: t_s * 1000, rss_bytes: 100 << 20, malloc_in_use_bytes: malloc, loaders_alive: 3, ..Sample::default() }
    }

    #[test]
    fn a_series_is_drawn_only_through_samples_that_measured_it() {
        // malloc read at 0 s and 60 s only: two dots, no line between them.
        let samples: Vec<Sample> = (0..=60).map(|t| sample(t, (t % 60 == 0).then_some(50 << 20))).collect();
        let mut b = String::new();
        samples_charts(&samples, &mut b);
        assert_eq!(b.matches("<circle").count(), 2, "{b}");
        assert_eq!(b.matches("stroke=\"#f28e2b\"").count(), 0, "malloc has no polyline: {b}");
        // RSS and loaders alive were measured at every sample: one line each.
        assert_eq!(b.matches("<polyline").count(), 2, "{b}");
        assert!(b.contains("time since the JVM started") && b.contains(">MiB<") && b.contains(">count<"));
        assert!(b.contains(">0:30<") && b.contains(">1:00<"), "time ticks: {b}");
    }

    #[test]
    fn consecutive_readings_are_joined_and_the_limit_is_drawn() {
        let mut samples: Vec<Sample> = (0..4).map(|t| sample(t, Some(10 << 20))).collect();
        for s in &mut samples {
            s.cgroup_limit_bytes = Some(512 << 20);
        }
        let mut b = String::new();
        samples_charts(&samples, &mut b);
        assert_eq!(b.matches("stroke=\"#f28e2b\"").count(), 1, "{b}");
        assert!(b.contains("container limit 512 MiB"), "{b}");
    }

    #[test]
    fn ticks_are_round() {
        assert_eq!(time_ticks(0.0, 60_000.0), vec![0.0, 10_000.0, 20_000.0, 30_000.0, 40_000.0, 50_000.0, 60_000.0]);
        assert_eq!(clock(3_725_000.0), "1:02h");
        assert_eq!(clock(65_000.0), "1:05");
        assert_eq!(Unit::Count.nice_top(25.2), 40.0);
        assert_eq!(Unit::Count.nice_top(0.0), 4.0);
        assert_eq!(Unit::Mib.nice_top(300.0 * 1048576.0), 400.0 * 1048576.0);
    }
}
