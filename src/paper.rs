//! Paper shares: a printable card per custodian, as an SVG page (A4).
//!
//! The card holds what a custodian needs to bring their share back without zeroth's
//! files: the seal, environment, custodian, share number and set, the share's text in
//! its numbered, checked lines (typed back at a ceremony), a QR code of the same text
//! (scanned and pasted instead), and short instructions. It is secret: zeroth writes it
//! 0600 and never over a file.
//!
//! The QR code is the `qrcode` crate's, rendered by its SVG renderer; the page around
//! it is a fixed layout written here, since it is a few text lines and a box.

use std::fmt::Write as _;

use qrcode::{EcLevel, QrCode};
use zeroize::Zeroizing;

use crate::error::{RecordError, Result};
use crate::share::Share;

/// Escapes text for SVG character data and attribute values.
fn xml(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The QR code of `text` as an SVG element placed at (`x`, `y`) mm, `size` mm wide,
/// with its quiet zone.
fn qr_svg(text: &[u8], x: f32, y: f32, size: f32) -> Result<Zeroizing<String>> {
    let code = QrCode::with_error_correction_level(text, EcLevel::M).map_err(|e| {
        RecordError::ShareQrCode {
            detail: e.to_string(),
        }
    })?;
    let rendered = Zeroizing::new(
        code.render::<qrcode::render::svg::Color>()
            .quiet_zone(true)
            .module_dimensions(1, 1)
            .build(),
    );
    // The renderer writes a whole document: keep its drawing, place it in ours.
    let units = code.width() + 8;
    let start = rendered
        .find("<rect")
        .ok_or(RecordError::ShareQrDrawingMissing)?;
    let end = rendered
        .rfind("</svg>")
        .ok_or(RecordError::ShareQrDrawingMissing)?;
    let mut out = Zeroizing::new(String::new());
    let _ = write!(
        out,
        r#"<svg x="{x}" y="{y}" width="{size}" height="{size}" viewBox="0 0 {units} {units}" shape-rendering="crispEdges">"#
    );
    out.push_str(&rendered[start..end]);
    out.push_str("</svg>\n");
    Ok(out)
}

/// The card of `share` as an SVG document. `created` is the date the set was dealt.
pub fn card(share: &Share, created: &str) -> Result<Zeroizing<String>> {
    let armor = share.to_armor();
    let mut svg = Zeroizing::new(String::new());
    let p = &share.payload;
    svg.push_str(concat!(
        r##"<?xml version="1.0" encoding="UTF-8"?>"##,
        "\n",
        r##"<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="210mm" height="297mm" viewBox="0 0 210 297">"##,
        "\n",
        r##"<rect x="0" y="0" width="210" height="297" fill="#fff"/>"##,
        "\n",
        r##"<g font-family="DejaVu Sans, Helvetica, Arial, sans-serif" fill="#000">"##,
        "\n",
    ));
    let _ = writeln!(
        svg,
        r#"<text x="15" y="22" font-size="8" font-weight="bold">zeroth share: SECRET</text>"#
    );
    let _ = writeln!(
        svg,
        r#"<text x="15" y="30" font-size="3.6">Whoever holds this card holds one share of secret zero '{}'. Keep it where only you can reach it.</text>"#,
        xml(&share.seal)
    );
    let fields = [
        ("Seal", share.seal.clone()),
        ("Environment", share.env.clone()),
        ("Custodian", share.custodian.clone()),
        (
            "Share",
            format!("{} of {}, threshold {}", p.point.x, share.n, p.threshold),
        ),
        (
            "Share set",
            share.claimed_set().unwrap_or_default().to_string(),
        ),
        ("Dealt", created.to_string()),
    ];
    for (i, (k, v)) in fields.iter().enumerate() {
        let y = 42.0 + 7.0 * i as f32;
        let _ = writeln!(
            svg,
            r##"<text x="15" y="{y}" font-size="4.2" fill="#555">{k}</text><text x="50" y="{y}" font-size="4.8" font-weight="bold">{}</text>"##,
            xml(v)
        );
    }
    let _ = writeln!(
        svg,
        r##"<rect x="12" y="86" width="186" height="{}" fill="none" stroke="#000" stroke-width="0.4"/>"##,
        8 + 6 * armor.lines().count()
    );
    for (i, line) in armor.lines().enumerate() {
        let y = 94.0 + 6.0 * i as f32;
        // The armor is letters, digits, spaces and '-', ':', ',', '.', '_' (names
        // are restricted so): nothing to escape, so the secret lines go straight
        // into the zeroizing page, without a copy of their own.
        debug_assert!(!line.contains(['<', '>', '&', '"']));
        let _ = write!(
            svg,
            r#"<text x="17" y="{y}" font-family="DejaVu Sans Mono, Courier New, monospace" font-size="4.6" xml:space="preserve">"#
        );
        svg.push_str(line);
        svg.push_str("</text>\n");
    }
    let top = 94.0 + 6.0 * armor.lines().count() as f32 + 6.0;
    svg.push_str(&qr_svg(armor.as_bytes(), 15.0, top, 80.0)?);
    let instructions = [
        "At a ceremony: when zeroth asks, type the numbered lines,",
        "each with its two check characters (case and spaces do not",
        "matter), or scan the QR code and paste the text.",
        "",
        "Check this card alone, any time: type or scan it into a file",
        "and run: zeroth share verify FILE",
        "",
        "Do not photograph it, scan it to a shared place, or copy it.",
        &format!(
            "When a rekey replaces share set {}, shred this card.",
            share.claimed_set().unwrap_or_default()
        ),
    ];
    for (i, line) in instructions.iter().enumerate() {
        let _ = writeln!(
            svg,
            r#"<text x="100" y="{}" font-size="3.5">{}</text>"#,
            top + 6.0 + 5.5 * i as f32,
            xml(line)
        );
    }
    svg.push_str("</g>\n</svg>\n");
    Ok(svg)
}
