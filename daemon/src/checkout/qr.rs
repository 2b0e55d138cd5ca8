//! QR codes of payment URIs as small SVG images (`GET /i/{id}/qr/{n}.svg`): the qrcode crate
//! gives the module matrix (error correction M), drawn here as one path of horizontal runs.

use qrcode::{Color, EcLevel, QrCode};
use std::fmt::Write as _;

/// Light modules around the code, as the QR specification asks (4).
const QUIET_ZONE: usize = 4;

/// The image's size in pixels, at least: each module is a whole number of pixels.
const MIN_PIXELS: usize = 256;

/// Why a text has no QR code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum QrError {
    /// The text does not fit in a QR code at error correction M (over about 2,300 bytes).
    #[error("cannot encode {len} bytes as a QR code: {source}")]
    Encode { len: usize, source: qrcode::types::QrError },
}

/// `text` (a BIP21 or EIP-681 URI) as a QR code in SVG: black modules on white with a quiet
/// zone of 4, crisp edges, one path whose subpaths are the dark runs of each row (a few KB for
/// a payment URI).
pub(crate) fn svg(text: &str) -> Result<String, QrError> {
    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M)
        .map_err(|source| QrError::Encode { len: text.len(), source })?;
    let width = code.width();
    let modules = code.to_colors();
    let size = width + 2 * QUIET_ZONE;
    let pixels = size * MIN_PIXELS.div_ceil(size);
    let mut svg = String::with_capacity(200 + 8 * width * width / 4);
    // Writing to a String cannot fail.
    let _ = write!(
        svg,
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {size} {size}" width="{pixels}" height="{pixels}" shape-rendering="crispEdges"><rect width="{size}" height="{size}" fill="#fff"/><path stroke="#000" d=""##
    );
    write_runs(&mut svg, width, |x, y| modules[y * width + x] == Color::Dark);
    svg.push_str(r#""/></svg>"#);
    Ok(svg)
}

/// The path data of the dark runs of a `width`-wide square: a stroke of width 1 along the
/// middle of each run's row (`y + 0.5`), so each run covers exactly its modules. The first
/// move is absolute; then each run is a relative move from the end of the previous one and
/// `h{length}`.
fn write_runs(out: &mut String, width: usize, dark: impl Fn(usize, usize) -> bool) {
    // Where the pen is, in modules, once a run is drawn (None before the first).
    let mut pen: Option<(usize, usize)> = None;
    for y in 0..width {
        let mut x = 0;
        while x < width {
            if !dark(x, y) {
                x += 1;
                continue;
            }
            let start = x;
            while x < width && dark(x, y) {
                x += 1;
            }
            let (qx, qy) = (start + QUIET_ZONE, y + QUIET_ZONE);
            let _ = match pen {
                None => write!(out, "M{qx} {qy}.5h{}", x - start),
                Some((px, py)) => write!(out, "m{} {}h{}", signed(qx, px), qy - py, x - start),
            };
            pen = Some((x + QUIET_ZONE, qy));
        }
    }
}

/// `to - from`, which may be negative.
fn signed(to: usize, from: usize) -> String {
    if to >= from {
        (to - from).to_string()
    } else {
        format!("-{}", from - to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The grid of modules a path written by [`write_runs`] paints, `size` × `size` (quiet zone
    /// included): a tiny reader of its `M`, `m` and `h` commands.
    fn paint(d: &str, size: usize) -> Vec<bool> {
        let mut grid = vec![false; size * size];
        let (mut x, mut y) = (0.0f64, 0.0f64);
        let mut rest = d;
        while let Some(command) = rest.chars().next() {
            rest = &rest[1..];
            let end = rest.find(['M', 'm', 'h']).unwrap_or(rest.len());
            let numbers: Vec<f64> =
                rest[..end].split(' ').map(|n| n.parse().unwrap_or_else(|_| panic!("number {n:?} in {d}"))).collect();
            rest = &rest[end..];
            match (command, numbers.as_slice()) {
                ('M', [nx, ny]) => (x, y) = (*nx, *ny),
                ('m', [dx, dy]) => (x, y) = (x + dx, y + dy),
                ('h', [len]) => {
                    assert!(*len >= 1.0 && y.fract() == 0.5 && x.fract() == 0.0, "run at {x},{y} of {len}");
                    for i in 0..*len as usize {
                        let cell = &mut grid[y as usize * size + x as usize + i];
                        assert!(!*cell, "module {},{} painted twice", x as usize + i, y);
                        *cell = true;
                    }
                    x += len;
                }
                other => panic!("unexpected {other:?} in {d}"),
            }
        }
        grid
    }

    fn check(text: &str) -> String {
        let svg = svg(text).expect("encodes");
        let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M).expect("encodes");
        let width = code.width();
        let size = width + 2 * QUIET_ZONE;
        assert!(svg.contains(&format!(r#"viewBox="0 0 {size} {size}""#)), "{svg}");
        assert!(svg.contains(r#"shape-rendering="crispEdges""#));
        assert_eq!(svg.matches("<path").count(), 1);
        let d = svg.split(r#" d=""#).nth(1).and_then(|rest| rest.split('"').next()).expect("a path");
        let grid = paint(d, size);
        let colors = code.to_colors();
        for y in 0..size {
            for x in 0..size {
                let inside =
                    (QUIET_ZONE..QUIET_ZONE + width).contains(&x) && (QUIET_ZONE..QUIET_ZONE + width).contains(&y);
                let want = inside && colors[(y - QUIET_ZONE) * width + (x - QUIET_ZONE)] == Color::Dark;
                assert_eq!(grid[y * size + x], want, "module {x},{y} of {text}");
            }
        }
        svg
    }

    #[test]
    fn the_path_paints_exactly_the_dark_modules() {
        check("bitcoin:bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080?amount=0.00123456");
        check("ethereum:0xdAC17F958D2ee523a2206206994597C13D831ec7@1/transfer?address=0x71C7656EC7ab88b098defB751B7401B5f6d8976F&uint256=12345000");
        check("a");
        check(&"x".repeat(1500));
    }

    #[test]
    fn a_payment_uri_is_a_few_kilobytes() {
        let btc = check("bitcoin:BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4?amount=0.00123456&label=Order%2042");
        assert!(btc.len() < 4_000, "{} bytes", btc.len());
        let erc20 = check("ethereum:0xdAC17F958D2ee523a2206206994597C13D831ec7@1/transfer?address=0x71C7656EC7ab88b098defB751B7401B5f6d8976F&uint256=12345000");
        assert!(erc20.len() < 6_000, "{} bytes", erc20.len());
        assert!(btc.contains(r#"width="#) && btc.contains(r#"height="#));
    }

    #[test]
    fn too_long_a_text_is_an_error() {
        let err = svg(&"x".repeat(5000)).expect_err("too long");
        assert!(err.to_string().starts_with("cannot encode 5000 bytes"), "{err}");
    }
}
