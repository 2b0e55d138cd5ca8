//! The arithmetic of rates, exact decimals (never floats): inverses, crosses and the spread,
//! each computed with rust_decimal's 28 significant digits, then rounded to
//! [`SIGNIFICANT_DIGITS`], half to even; a decimal has at most 28 decimal places, so a rate
//! below 10^-8 keeps fewer (its error stays below 10^-28). `None`: the result does not fit a
//! decimal.

use rust_decimal::{Decimal, RoundingStrategy};

/// Digits a computed rate keeps: its relative error is below 10^-19, far below any amount's
/// last digit (an invoice of 10^12 units of anything is still exact to 10^-7 of a unit).
pub(crate) const SIGNIFICANT_DIGITS: u32 = 20;

fn rounded(d: Decimal) -> Option<Decimal> {
    d.round_sf_with_strategy(SIGNIFICANT_DIGITS, RoundingStrategy::MidpointNearestEven).map(|d| d.normalize())
}

/// 1 / `rate` (`rate` positive).
pub(crate) fn inverse(rate: Decimal) -> Option<Decimal> {
    Decimal::ONE.checked_div(rate).filter(|d| !d.is_zero()).and_then(rounded)
}

/// `a` × `b`: BASE_VIA × VIA_QUOTE.
pub(crate) fn cross(a: Decimal, b: Decimal) -> Option<Decimal> {
    a.checked_mul(b).filter(|d| !d.is_zero()).and_then(rounded)
}

/// `rate` × (1 − `spread_percent` / 100); exact for the rate as given (`spread_percent` is 0 to
/// 50), rounded as the others.
pub(crate) fn spread(rate: Decimal, spread_percent: Decimal) -> Option<Decimal> {
    if spread_percent.is_zero() {
        return Some(rate);
    }
    let kept = Decimal::ONE_HUNDRED.checked_sub(spread_percent)?;
    rate.checked_mul(kept)?.checked_div(Decimal::ONE_HUNDRED).filter(|d| !d.is_zero()).and_then(rounded)
}
