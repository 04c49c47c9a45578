//! The ROC curve as a small standalone SVG: false-positive rate on a logarithmic axis
//! (10⁻⁴ … 1), recall on a linear one.
//!
//! Written by hand: one polyline and two axes do not justify a plotting library.

use std::fmt::Write;

use crate::metrics::RocPoint;

const W: f64 = 640.0;
const H: f64 = 480.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 60.0;
const MIN_DECADE: i32 = -4;

fn x_of(fpr: f64) -> f64 {
    let lg = fpr.max(10f64.powi(MIN_DECADE)).log10();
    LEFT + (lg - MIN_DECADE as f64) / (-MIN_DECADE as f64) * (W - LEFT - RIGHT)
}

fn y_of(tpr: f64) -> f64 {
    TOP + (1.0 - tpr) * (H - TOP - BOTTOM)
}

/// Draws `curve` with a title; false-positive rates below 10⁻⁴ are drawn at 10⁻⁴.
pub fn roc_svg(curve: &[RocPoint], title: &str) -> String {
    let mut s = String::new();
    let esc = |t: &str| t.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="{}" y="24" text-anchor="middle" font-size="15">{}</text>
"#,
        W / 2.0,
        esc(title)
    );
    for d in MIN_DECADE..=0 {
        let x = x_of(10f64.powi(d));
        let _ = writeln!(
            s,
            r##"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{}" stroke="#ddd"/><text x="{x:.1}" y="{}" text-anchor="middle">1e{d}</text>"##,
            H - BOTTOM,
            H - BOTTOM + 18.0
        );
    }
    for i in 0..=10 {
        let t = i as f64 / 10.0;
        let y = y_of(t);
        let _ = writeln!(
            s,
            r##"<line x1="{LEFT}" y1="{y:.1}" x2="{}" y2="{y:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end">{t:.1}</text>"##,
            W - RIGHT,
            LEFT - 6.0,
            y + 4.0
        );
    }
    let _ = writeln!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle">false-positive rate (ham called spam), log scale</text>
<text x="18" y="{}" text-anchor="middle" transform="rotate(-90 18 {})">recall (spam caught)</text>"#,
        (LEFT + W - RIGHT) / 2.0,
        H - 16.0,
        (TOP + H - BOTTOM) / 2.0,
        (TOP + H - BOTTOM) / 2.0
    );
    // A step curve: hold recall until the false-positive rate moves.
    let mut pts = String::new();
    let mut last_y = y_of(0.0);
    for p in curve {
        let x = x_of(p.fpr);
        let y = y_of(p.tpr);
        let _ = write!(pts, "{x:.1},{last_y:.1} {x:.1},{y:.1} ");
        last_y = y;
    }
    let _ = writeln!(pts, "{:.1},{last_y:.1}", x_of(1.0));
    let _ =
        writeln!(s, r##"<polyline fill="none" stroke="#c0392b" stroke-width="2" points="{}"/>"##, pts.trim());
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn svg_is_well_formed_and_escapes_titles() {
        let c = [
            RocPoint { threshold: f64::INFINITY, fpr: 0.0, tpr: 0.0 },
            RocPoint { threshold: 1.0, fpr: 0.001, tpr: 0.9 },
            RocPoint { threshold: 0.0, fpr: 1.0, tpr: 1.0 },
        ];
        let svg = roc_svg(&c, "a <b> & c");
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("a &lt;b&gt; &amp; c"));
        assert!(svg.contains("<polyline"));
        // 1e-3 sits a quarter of the way from the right edge of the log axis.
        let x = x_of(0.001);
        assert!((x - (LEFT + 0.25 * (W - LEFT - RIGHT))).abs() < 1e-9);
    }
}
