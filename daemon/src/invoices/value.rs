//! An invoice's money in one exact unit across its payment methods (pure, unit-tested below).
//!
//! An invoice has a price in its currency (an ISO 4217 code or an asset) and one locked rate per
//! payment method: how many currency units one unit of the method's asset is worth. Everything
//! the status machine adds up is a [`Value`]: an integer count of `10^-scale` currency units,
//! where the invoice's `scale` is large enough that the price and every payment's worth are
//! whole numbers of it (`scale = max(currency decimals, asset decimals + rate decimals)`).
//! So a payment's worth (`amount × rate`) is kept exactly, never rounded and never a float;
//! only a method's amount due is rounded, up, to whole base units.
//!
//! An invoice priced in its own asset has one method at rate 1 and `scale` = the asset's
//! decimals: its values are its base units, as before prices in other currencies existed.

use paywatch_plugin_api::amount::Amount;
use ruint::aliases::U512;

/// Rates are locked with at most this many decimals (a longer rate is cut, which can only make
/// a method's amount due larger).
pub(crate) const MAX_RATE_DECIMALS: u32 = 18;

/// A count of `10^-scale` units of an invoice's currency (the scale is its [`Valuation`]'s).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Value(U512);

impl Value {
    pub(crate) const ZERO: Value = Value(U512::ZERO);

    pub(crate) fn is_zero(&self) -> bool {
        self.0.is_zero()
    }

    pub(crate) fn checked_add(self, other: Value) -> Option<Value> {
        self.0.checked_add(other.0).map(Value)
    }

    pub(crate) fn saturating_sub(self, other: Value) -> Value {
        Value(self.0.saturating_sub(other.0))
    }

    pub(crate) fn checked_sum(values: impl IntoIterator<Item = Value>) -> Option<Value> {
        values.into_iter().try_fold(Value::ZERO, Value::checked_add)
    }

    /// `self × bp / 10 000` (basis points), rounded up. Exact for `bp ≤ 10 000`, whatever the
    /// value: `self = q × 10 000 + r`, so it is `q × bp + ⌈r × bp / 10 000⌉`, where `q × bp ≤
    /// self` and `r × bp < 2^46`. (A price can be worth more than 2^512 / 10 000 units: with a
    /// 77-decimal asset the scale is 77 or more. `self × bp` would not fit.) Past 10 000 bp a
    /// result that does not fit saturates.
    pub(crate) fn mul_bp_ceil(self, bp: u32) -> Value {
        let (q, r) = self.0.div_rem(U512::from(10_000u32));
        let part = (r * U512::from(bp)).div_ceil(U512::from(10_000u32));
        Value(q.saturating_mul(U512::from(bp)).saturating_add(part))
    }
}

/// Why a price or rate does not make a valuation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ValueError {
    #[error("{0:?} is not a plain positive decimal")]
    NotDecimal(String),
    #[error("{what} {value:?} has more than {max} decimals")]
    TooManyDecimals { what: &'static str, value: String, max: u32 },
    #[error("{0:?} is too large")]
    TooLarge(String),
}

/// A plain decimal (`"64123.50"`, no sign, no exponent) as digits and the count after the
/// point.
pub(crate) fn parse_decimal(text: &str) -> Result<(U512, u32), ValueError> {
    let bad = || ValueError::NotDecimal(text.to_string());
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    if int.is_empty() && frac.is_empty() || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    if int.len() + frac.len() > 120 {
        return Err(ValueError::TooLarge(text.to_string()));
    }
    let digits = format!("{int}{frac}");
    let n = U512::from_str_radix(digits.trim_start_matches('0').max("0"), 10).map_err(|_| bad())?;
    let n = if digits.trim_start_matches('0').is_empty() { U512::ZERO } else { n };
    Ok((n, frac.len() as u32))
}

fn pow10(n: u32) -> Option<U512> {
    U512::from(10u32).checked_pow(U512::from(n))
}

fn amount_to_u512(a: Amount) -> U512 {
    let mut bytes = [0u8; 64];
    bytes[32..].copy_from_slice(&a.to_be_bytes());
    U512::from_be_bytes(bytes)
}

/// A method's locked rate, cut to [`MAX_RATE_DECIMALS`] and without trailing zeros: the text
/// stored on the invoice. `None` when it is not a positive plain decimal.
pub(crate) fn lock_rate(rate: &str) -> Option<String> {
    let (int, frac) = rate.trim().split_once('.').unwrap_or((rate.trim(), ""));
    let frac = &frac[..frac.len().min(MAX_RATE_DECIMALS as usize)];
    let frac = frac.trim_end_matches('0');
    let int = int.trim_start_matches('0');
    let text = match (int.is_empty(), frac.is_empty()) {
        (true, true) => return None,
        (false, true) => int.to_string(),
        (true, false) => format!("0.{frac}"),
        (false, false) => format!("{int}.{frac}"),
    };
    let (n, _) = parse_decimal(&text).ok()?;
    (!n.is_zero()).then_some(text)
}

/// One method as valued: its asset's decimals and its locked rate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MethodRate<'a> {
    pub(crate) decimals: u8,
    pub(crate) rate: &'a str,
}

/// An invoice's unit of value: the scale, the price and each method's worth per base unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Valuation {
    scale: u32,
    /// Decimals shown for values (the currency's minor units).
    shown: u32,
    price: Value,
    per_base: Vec<U512>,
}

impl Valuation {
    /// The valuation of a price (`currency_decimals` at most after the point) and methods.
    pub(crate) fn new(price: &str, currency_decimals: u8, methods: &[MethodRate<'_>]) -> Result<Self, ValueError> {
        let (p, p_scale) = parse_decimal(price)?;
        if p_scale > u32::from(currency_decimals) {
            let max = u32::from(currency_decimals);
            return Err(ValueError::TooManyDecimals { what: "price", value: price.to_string(), max });
        }
        let mut rates = Vec::with_capacity(methods.len());
        let mut scale = u32::from(currency_decimals);
        for m in methods {
            let (r, r_scale) = parse_decimal(m.rate)?;
            if r.is_zero() {
                return Err(ValueError::NotDecimal(m.rate.to_string()));
            }
            if r_scale > MAX_RATE_DECIMALS {
                let max = MAX_RATE_DECIMALS;
                return Err(ValueError::TooManyDecimals { what: "rate", value: m.rate.to_string(), max });
            }
            scale = scale.max(u32::from(m.decimals) + r_scale);
            rates.push((r, r_scale, u32::from(m.decimals)));
        }
        let too_large = || ValueError::TooLarge(price.to_string());
        let up = |n: U512, from: u32| n.checked_mul(pow10(scale - from)?);
        let price = Value(up(p, p_scale).ok_or_else(too_large)?);
        let per_base = rates
            .into_iter()
            .map(|(r, r_scale, d)| up(r, r_scale + d).ok_or_else(|| ValueError::TooLarge(r.to_string())))
            .collect::<Result<_, _>>()?;
        Ok(Self { scale, shown: u32::from(currency_decimals), price, per_base })
    }

    /// Values shown with no fewer decimals than this (a fiat currency's minor units; 0 for an
    /// asset, whose amounts are written without trailing zeros).
    pub(crate) fn shown(mut self, decimals: u8) -> Self {
        self.shown = u32::from(decimals);
        self
    }

    pub(crate) fn price(&self) -> Value {
        self.price
    }

    /// What `amount` base units of method `method` are worth; `None` past 2^512.
    pub(crate) fn value(&self, method: usize, amount: Amount) -> Option<Value> {
        amount_to_u512(amount).checked_mul(self.per_base[method]).map(Value)
    }

    /// The least amount of method `method` (base units) worth at least `v`: dues round up.
    /// Saturates at the largest amount.
    pub(crate) fn due_base(&self, method: usize, v: Value) -> Amount {
        let n = v.0.div_ceil(self.per_base[method]);
        Self::to_amount(n).unwrap_or(Amount::MAX)
    }

    /// The most of method `method` (base units) worth at most `v`: refunds round down.
    pub(crate) fn floor_base(&self, method: usize, v: Value) -> Amount {
        Self::to_amount(v.0 / self.per_base[method]).unwrap_or(Amount::MAX)
    }

    fn to_amount(n: U512) -> Option<Amount> {
        let bytes: [u8; 64] = n.to_be_bytes();
        if bytes[..32].iter().any(|b| *b != 0) {
            return None;
        }
        Some(Amount::from_be_bytes(bytes[32..].try_into().expect("32 bytes")))
    }

    /// A value as an exact decimal in the currency: every digit that is not zero, and at
    /// least the currency's decimals (`"12.50"`, `"0.000012345"`).
    pub(crate) fn to_decimal(&self, v: Value) -> String {
        let digits = v.0.to_string();
        let scale = self.scale as usize;
        let padded = format!("{digits:0>width$}", width = scale + 1);
        let (int, frac) = padded.split_at(padded.len() - scale);
        let keep = frac.trim_end_matches('0').len().max(self.shown as usize);
        match keep {
            0 => int.to_string(),
            _ => format!("{int}.{}", &frac[..keep]),
        }
    }

    /// A decimal in the currency (at most the valuation's scale after the point) as a value.
    pub(crate) fn parse_value(&self, text: &str) -> Result<Value, ValueError> {
        let (n, s) = parse_decimal(text)?;
        if s > self.scale {
            return Err(ValueError::TooManyDecimals { what: "value", value: text.to_string(), max: self.scale });
        }
        pow10(self.scale - s).and_then(|m| n.checked_mul(m)).map(Value).ok_or(ValueError::TooLarge(text.to_string()))
    }
}

/// Values as refund totals store them (`db::refund_totals`): the integer count of value units.
impl Value {
    pub(crate) fn from_units(units: Amount) -> Value {
        Value(amount_to_u512(units))
    }

    /// `None` past 2^256 − 1 units.
    pub(crate) fn to_units(self) -> Option<Amount> {
        Valuation::to_amount(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd(methods: &[(u8, &str)]) -> Valuation {
        let m: Vec<_> = methods.iter().map(|(d, r)| MethodRate { decimals: *d, rate: r }).collect();
        Valuation::new("100.00", 2, &m).unwrap()
    }

    #[test]
    fn a_payment_is_worth_its_amount_times_its_rate_exactly() {
        // BTC at 64,123.45 USD, ETH at 3,210.987654321 USD.
        let v = usd(&[(8, "64123.45"), (18, "3210.987654321")]);
        let sat = v.value(0, Amount::from(12_345u64)).unwrap();
        assert_eq!(v.to_decimal(sat), "7.9160399025"); // 0.00012345 × 64123.45
        let wei = v.value(1, Amount::from(1u64)).unwrap();
        assert_eq!(v.to_decimal(wei), "0.000000000000003210987654321");
        assert_eq!(v.to_decimal(v.price()), "100.00");
        assert_eq!(v.to_decimal(Value::ZERO), "0.00");
    }

    #[test]
    fn dues_round_up_to_base_units_and_refunds_down() {
        let v = usd(&[(8, "64123.45")]);
        // 100 / 64123.45 = 0.00155949...: 155950 sat covers it, 155949 does not.
        let due = v.due_base(0, v.price());
        assert_eq!(due.to_string(), "155950");
        assert!(v.value(0, due).unwrap() >= v.price());
        assert!(v.value(0, Amount::from(155_949u64)).unwrap() < v.price());
        assert_eq!(v.floor_base(0, v.price()).to_string(), "155949");
        // An exact division rounds to itself.
        let one = usd(&[(2, "1")]);
        assert_eq!(one.due_base(0, one.price()).to_string(), "10000");
    }

    #[test]
    fn an_invoice_in_its_own_asset_is_valued_in_base_units() {
        let v = Valuation::new("0.0015", 8, &[MethodRate { decimals: 8, rate: "1" }]).unwrap();
        assert_eq!(v.price(), v.value(0, Amount::from(150_000u64)).unwrap());
        assert_eq!(v.due_base(0, v.price()).to_string(), "150000");
        assert_eq!(v.to_decimal(v.price()), "0.00150000");
    }

    #[test]
    fn prices_and_rates_are_checked() {
        let m = [MethodRate { decimals: 8, rate: "1" }];
        assert!(matches!(Valuation::new("1.5", 0, &m), Err(ValueError::TooManyDecimals { .. })));
        assert!(matches!(Valuation::new("-1", 2, &m), Err(ValueError::NotDecimal(_))));
        assert!(matches!(Valuation::new("1e3", 2, &m), Err(ValueError::NotDecimal(_))));
        let zero = [MethodRate { decimals: 8, rate: "0.000" }];
        assert!(Valuation::new("1", 2, &zero).is_err());
        assert_eq!(lock_rate("064123.4500"), Some("64123.45".into()));
        assert_eq!(lock_rate("0.1234567890123456789999"), Some("0.123456789012345678".into()));
        assert_eq!(lock_rate("0.0000000000000000001"), None);
        assert_eq!(lock_rate("abc"), None);
    }

    #[test]
    fn values_parse_back_from_their_decimals() {
        let v = usd(&[(8, "64123.45")]);
        let x = v.value(0, Amount::from(987_654_321u64)).unwrap();
        assert_eq!(v.parse_value(&v.to_decimal(x)).unwrap(), x);
        assert_eq!(v.price().mul_bp_ceil(9_900), v.parse_value("99").unwrap());
        // Exact near 2^512 too, where `value × bp` does not fit: 10^151 units (a price of
        // 10^74 with a 77-decimal asset) × 99 % and × 100 %, and the largest value.
        let big =
            Valuation::new(&format!("1{}", "0".repeat(74)), 2, &[MethodRate { decimals: 77, rate: "1" }]).unwrap();
        assert_eq!(big.price().mul_bp_ceil(10_000), big.price());
        assert_eq!(big.to_decimal(big.price().mul_bp_ceil(9_900)), format!("99{}.00", "0".repeat(72)));
        assert_eq!(big.to_decimal(big.price().mul_bp_ceil(1)), format!("1{}.00", "0".repeat(70)));
        assert_eq!(Value(U512::MAX).mul_bp_ceil(10_000), Value(U512::MAX));
        assert_eq!(Value(U512::MAX).mul_bp_ceil(5_000), Value(U512::MAX / U512::from(2u8) + U512::from(1u8)));
        assert_eq!(Value(U512::from(1u8)).mul_bp_ceil(1), Value(U512::from(1u8)));
        assert_eq!(Value(U512::from(20_001u32)).mul_bp_ceil(5_000), Value(U512::from(10_001u32)));
        assert!(v.parse_value("1.0000000000000000000000000000001").is_err());
    }

    #[test]
    fn values_as_stored_integers_round_trip() {
        let v = usd(&[(8, "64123.45")]);
        let x = v.value(0, Amount::from(987_654_321u64)).unwrap();
        assert_eq!(Value::from_units(x.to_units().unwrap()), x);
        // An invoice in its own asset: its value units are its base units.
        let own = Valuation::new("0.0015", 8, &[MethodRate { decimals: 8, rate: "1" }]).unwrap();
        assert_eq!(own.price().to_units(), Some(Amount::from(150_000u64)));
        assert_eq!(
            Value::from_units(Amount::MAX).checked_add(Value::from_units(Amount::from(1u64))).unwrap().to_units(),
            None
        );
    }
}
