//! Exact decimal text. A rate is the API's own digits: a plain decimal string kept as sent, or
//! a JSON number in exponent form (`1.2e-5`) written out digit for digit (`0.000012`). What
//! must be computed (a mid price, a cross rate) is computed in decimal ([`rust_decimal`]),
//! never in binary floating point.

use paywatch_plugin_api::text::is_plain_positive_decimal;
use rust_decimal::{Decimal, RoundingStrategy};
use std::str::FromStr;

/// The longest rate text accepted, in bytes (a real rate has a few dozen digits at most).
pub const MAX_LEN: usize = 64;

/// The rate in `text` as a plain positive decimal, or `None` when it is not one: negative,
/// zero, not a number, longer than [`MAX_LEN`] once written out. Plain text is returned as
/// is; an exponent is applied by moving the decimal point.
pub fn exact(text: &str) -> Option<String> {
    let Some(at) = text.find(['e', 'E']) else {
        return (text.len() <= MAX_LEN && is_plain_positive_decimal(text)).then(|| text.to_string());
    };
    let (mantissa, exp) = (&text[..at], &text[at + 1..]);
    if !is_plain_positive_decimal(mantissa) {
        return None;
    }
    let digits_only = exp.strip_prefix(['+', '-']).unwrap_or(exp);
    if digits_only.is_empty() || digits_only.len() > 3 || !digits_only.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let exp: i64 = exp.parse().ok()?;
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = format!("{int}{frac}");
    let point = int.len() as i64 + exp;
    let written = if point <= 0 {
        format!("0.{}{digits}", "0".repeat(usize::try_from(-point).ok()?))
    } else if point as usize >= digits.len() {
        format!("{digits}{}", "0".repeat(point as usize - digits.len()))
    } else {
        format!("{}.{}", &digits[..point as usize], &digits[point as usize..])
    };
    let plain = trim(&written);
    (plain.len() <= MAX_LEN && is_plain_positive_decimal(&plain)).then_some(plain)
}

/// Leading zeros of the integer part and trailing zeros of the fraction removed.
fn trim(text: &str) -> String {
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    let int = int.trim_start_matches('0');
    let int = if int.is_empty() { "0" } else { int };
    match frac.trim_end_matches('0') {
        "" => int.to_string(),
        frac => format!("{int}.{frac}"),
    }
}

fn parse(text: &str) -> Option<Decimal> {
    is_plain_positive_decimal(text).then(|| Decimal::from_str(text).ok()).flatten()
}

/// `(a + b) / 2` exactly (halving a decimal ends), both plain positive decimals.
pub fn mid(a: &str, b: &str) -> Option<String> {
    let sum = parse(a)?.checked_add(parse(b)?)?;
    Some(sum.checked_div(Decimal::TWO)?.normalize().to_string())
}

/// `num / den` rounded half to even to `significant` significant digits, both plain positive
/// decimals.
pub fn divide(num: &str, den: &str, significant: u32) -> Option<String> {
    let q = parse(num)?.checked_div(parse(den)?)?;
    let rounded = q.round_sf_with_strategy(significant, RoundingStrategy::MidpointNearestEven)?;
    let text = rounded.normalize().to_string();
    is_plain_positive_decimal(&text).then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn plain_text_is_kept_and_exponents_are_written_out() {
        assert_eq!(exact("30300.10000").as_deref(), Some("30300.10000"));
        assert_eq!(exact("0.07946600").as_deref(), Some("0.07946600"));
        assert_eq!(exact("1.2e-5").as_deref(), Some("0.000012"));
        assert_eq!(exact("1.2E+5").as_deref(), Some("120000"));
        assert_eq!(exact("67187.3358936566e0").as_deref(), Some("67187.3358936566"));
        assert_eq!(exact("6.71873358936566e4").as_deref(), Some("67187.3358936566"));
        assert_eq!(exact("5e-1").as_deref(), Some("0.5"));
        assert_eq!(exact("1.50e2").as_deref(), Some("150"));
        for bad in
            ["", "0", "0e5", "-1", "-1.2e-5", "1e", "1e+", "e5", "1.2e-5000", "1e99", "1.2.3", "NaN", "1 ", "\"1\""]
        {
            assert_eq!(exact(bad), None, "{bad}");
        }
    }

    #[test]
    fn mids_and_crosses_are_exact_decimals() {
        assert_eq!(mid("30300.10000", "30300.00000").as_deref(), Some("30300.05"));
        assert_eq!(mid("0.00000001", "0.00000002").as_deref(), Some("0.000000015"));
        assert_eq!(mid("1", "-1"), None);
        // 7.7748 / 1.0705 = 7.262774404483886…
        assert_eq!(divide("7.7748", "1.0705", 12).as_deref(), Some("7.26277440448"));
        assert_eq!(divide("1", "4", 12).as_deref(), Some("0.25"));
        assert_eq!(divide("1", "0", 12), None);
    }

    proptest! {
        /// Against rust_decimal's own reading of scientific notation.
        #[test]
        fn exponents_match_a_decimal_reference(int in 0u64..10_000_000, frac in "[0-9]{0,8}", exp in -12i32..12) {
            let mantissa = if frac.is_empty() { int.to_string() } else { format!("{int}.{frac}") };
            let text = format!("{mantissa}e{exp}");
            let reference = Decimal::from_scientific(&text).unwrap().normalize();
            match exact(&text) {
                Some(plain) => prop_assert_eq!(Decimal::from_str(&plain).unwrap().normalize(), reference),
                None => prop_assert!(reference.is_zero(), "{} refused", text),
            }
        }
    }
}
