//! Amounts: [`Amount`], an integer number of an asset's base units (satoshis, wei, a token's
//! smallest unit), and its conversions to and from the asset's unit (`"1.5"`), without floating
//! point. One implementation: the free functions [`format_base_units`] and [`parse_units`] are
//! the same conversions on strings.
//!
//! An amount is any integer from 0 to 2^256 − 1, the range of an ERC-20 `uint256`, so every
//! amount a chain can state fits; a sum that would not is `None` ([`Amount::checked_add`],
//! [`Amount::checked_sum`]), never wrapped. Serialized (serde) as the decimal string of its base
//! units, e.g. `"150000000"`, the way messages and stored records carry amounts.
//!
//! ```
//! use paywatch_plugin_api::amount::Amount;
//!
//! let due = Amount::parse_units("1.5", 8).unwrap();
//! assert_eq!(due.to_string(), "150000000");
//! assert_eq!(due.to_units_string(8), "1.5");
//! let paid = Amount::from_base_str("100000000").unwrap().checked_add(Amount::from(50_000_000u64)).unwrap();
//! assert_eq!(paid, due);
//! // 1 % tolerance: 99 % of the amount, rounded up.
//! assert_eq!(due.checked_mul_bp_ceil(9_900).unwrap().to_units_string(8), "1.485");
//! assert!(Amount::MAX.checked_add(Amount::from(1u64)).is_none());
//! ```

use crate::messages::PluginError;
use ruint::aliases::U256;
use std::fmt;

/// Basis points in a whole (100 %).
const BP_WHOLE: u32 = 10_000;

/// A non-negative amount in an asset's base units, 0 to 2^256 − 1. The asset's decimals are
/// not part of it: they are given where it is read from or shown in the asset's unit
/// ([`Amount::parse_units`], [`Amount::to_units_string`]).
///
/// `Display` (and serde) give the base units as a decimal string without leading zeros
/// (`"150000000"`); `FromStr` (and serde) read one ([`Amount::from_base_str`]).
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Amount(U256);

/// Why a string is not an amount. The messages name the offending input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AmountError {
    /// Not a plain integer of base units (digits only).
    #[error("{0:?} is not an amount in base units")]
    NotBaseUnits(String),
    /// No digits at all (`""`, `"."`).
    #[error("{0:?} is not a decimal amount")]
    NotDecimal(String),
    /// Something else than digits and one point: a sign, an exponent, a second point…
    #[error("{0:?} is not a non-negative decimal amount")]
    NotNonNegativeDecimal(String),
    /// More digits after the point than the asset has decimals.
    #[error("{input:?} has more than {decimals} decimals")]
    TooManyDecimals {
        /// The amount as given.
        input: String,
        /// The asset's decimals.
        decimals: u8,
    },
    /// More than 2^256 − 1 base units.
    #[error("{0:?} is too large")]
    TooLarge(String),
}

impl From<AmountError> for PluginError {
    fn from(e: AmountError) -> Self {
        PluginError::invalid_input(e.to_string())
    }
}

/// Digits only (at least one) as a u256; `None` when they do not fit.
fn from_digits(digits: &str) -> Option<U256> {
    debug_assert!(!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()));
    U256::from_str_radix(digits, 10).ok()
}

impl Amount {
    /// Nothing.
    pub const ZERO: Amount = Amount(U256::ZERO);
    /// The largest amount, 2^256 − 1 base units.
    pub const MAX: Amount = Amount(U256::MAX);

    /// Base units as a decimal string: `"150000000"`. Surrounding whitespace and leading zeros
    /// are accepted; signs, points, exponents and values above 2^256 − 1 are not.
    pub fn from_base_str(base: &str) -> Result<Amount, AmountError> {
        let digits = base.trim();
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(AmountError::NotBaseUnits(base.to_string()));
        }
        from_digits(digits).map(Amount).ok_or_else(|| AmountError::TooLarge(base.to_string()))
    }

    /// An amount in the asset's unit: `"1.5"` with 8 decimals is 150000000 base units. Refuses
    /// negatives, exponents, more decimals than the asset has, and more than 2^256 − 1 base
    /// units. `"1."` and `".5"` are read as `1` and `0.5`.
    pub fn parse_units(amount: &str, decimals: u8) -> Result<Amount, AmountError> {
        let a = amount.trim();
        let (int, frac) = a.split_once('.').unwrap_or((a, ""));
        if int.is_empty() && frac.is_empty() {
            return Err(AmountError::NotDecimal(amount.to_string()));
        }
        if !int.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return Err(AmountError::NotNonNegativeDecimal(amount.to_string()));
        }
        if frac.len() > decimals as usize {
            return Err(AmountError::TooManyDecimals { input: amount.to_string(), decimals });
        }
        let joined = format!("{int}{frac:0<width$}", width = decimals as usize);
        from_digits(&joined).map(Amount).ok_or_else(|| AmountError::TooLarge(amount.to_string()))
    }

    /// In the asset's unit, without trailing zeros: 150000000 with 8 decimals is `"1.5"`, 0 is
    /// `"0"`, 1 is `"0.00000001"`.
    pub fn to_units_string(&self, decimals: u8) -> String {
        let d = decimals as usize;
        let padded = format!("{:0>width$}", self.0.to_string(), width = d + 1);
        let (int, frac) = padded.split_at(padded.len() - d);
        let frac = frac.trim_end_matches('0');
        if frac.is_empty() {
            int.to_string()
        } else {
            format!("{int}.{frac}")
        }
    }

    /// From a big-endian u256, as EVM words carry amounts.
    pub fn from_be_bytes(bytes: [u8; 32]) -> Amount {
        Amount(U256::from_be_bytes(bytes))
    }

    /// As a big-endian u256.
    pub fn to_be_bytes(&self) -> [u8; 32] {
        self.0.to_be_bytes()
    }

    /// Whether it is zero.
    pub fn is_zero(&self) -> bool {
        self.0.is_zero()
    }

    /// `self + other`, or `None` above 2^256 − 1.
    pub fn checked_add(self, other: Amount) -> Option<Amount> {
        self.0.checked_add(other.0).map(Amount)
    }

    /// `self − other`, or `None` below zero.
    pub fn checked_sub(self, other: Amount) -> Option<Amount> {
        self.0.checked_sub(other.0).map(Amount)
    }

    /// `self − other`, or zero below zero.
    pub fn saturating_sub(self, other: Amount) -> Amount {
        Amount(self.0.saturating_sub(other.0))
    }

    /// The sum, or `None` when it is above 2^256 − 1.
    pub fn checked_sum(amounts: impl IntoIterator<Item = Amount>) -> Option<Amount> {
        amounts.into_iter().try_fold(Amount::ZERO, Amount::checked_add)
    }

    /// `self × bp / 10 000` (`bp` in basis points: 100 = 1 %), rounded down; `None` above
    /// 2^256 − 1, which cannot happen for `bp ≤ 10 000`. Exact: no intermediate product
    /// overflows.
    pub fn checked_mul_bp(self, bp: u32) -> Option<Amount> {
        self.mul_bp(bp, false)
    }

    /// `self × bp / 10 000`, rounded up: the least amount that is at least that share. `None`
    /// above 2^256 − 1, which cannot happen for `bp ≤ 10 000`.
    pub fn checked_mul_bp_ceil(self, bp: u32) -> Option<Amount> {
        self.mul_bp(bp, true)
    }

    /// `self = q × 10 000 + r`, so `self × bp / 10 000 = q × bp + r × bp / 10 000`, where
    /// `q × bp ≤ self × bp / 10 000` and `r × bp < 10 000 × 2^32` fits a u64.
    fn mul_bp(self, bp: u32, round_up: bool) -> Option<Amount> {
        let (q, r) = self.0.div_rem(U256::from(BP_WHOLE));
        let part = r.as_limbs()[0] * u64::from(bp);
        let part = if round_up { part.div_ceil(BP_WHOLE.into()) } else { part / u64::from(BP_WHOLE) };
        q.checked_mul(U256::from(bp))?.checked_add(U256::from(part)).map(Amount)
    }
}

impl From<u64> for Amount {
    fn from(v: u64) -> Amount {
        Amount(U256::from(v))
    }
}

impl From<u128> for Amount {
    fn from(v: u128) -> Amount {
        Amount(U256::from(v))
    }
}

impl TryFrom<Amount> for u64 {
    type Error = AmountError;

    /// [`AmountError::TooLarge`] above `u64::MAX`.
    fn try_from(a: Amount) -> Result<u64, AmountError> {
        a.0.try_into().map_err(|_| AmountError::TooLarge(a.to_string()))
    }
}

impl TryFrom<Amount> for u128 {
    type Error = AmountError;

    /// [`AmountError::TooLarge`] above `u128::MAX`.
    fn try_from(a: Amount) -> Result<u128, AmountError> {
        a.0.try_into().map_err(|_| AmountError::TooLarge(a.to_string()))
    }
}

impl fmt::Display for Amount {
    /// The base units, e.g. `150000000`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Amount({})", self.0)
    }
}

impl std::str::FromStr for Amount {
    type Err = AmountError;

    /// [`Amount::from_base_str`].
    fn from_str(s: &str) -> Result<Amount, AmountError> {
        Amount::from_base_str(s)
    }
}

impl serde::Serialize for Amount {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Amount {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Amount, D::Error> {
        let s = String::deserialize(d)?;
        Amount::from_base_str(&s).map_err(serde::de::Error::custom)
    }
}

/// `"150000000"`, 8 → `"1.5"`: [`Amount::from_base_str`] then [`Amount::to_units_string`].
/// Refuses what is not digits, and more than 2^256 − 1.
pub fn format_base_units(base: &str, decimals: u8) -> Result<String, PluginError> {
    Ok(Amount::from_base_str(base)?.to_units_string(decimals))
}

/// `"1.5"`, 8 → `"150000000"`: [`Amount::parse_units`] as a decimal string of base units.
/// Refuses negatives, exponents, more decimals than the asset has, and more than 2^256 − 1.
pub fn parse_units(amount: &str, decimals: u8) -> Result<String, PluginError> {
    Ok(Amount::parse_units(amount, decimals)?.to_string())
}

#[cfg(test)]
mod tests;
