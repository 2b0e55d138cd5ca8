//! Decimal amounts: base units (integer strings) ⇄ the asset's unit, without floating point.

use crate::messages::PluginError;

/// `"150000000"`, 8 → `"1.5"`. Up to 78 digits (any u256).
pub fn format_base_units(base: &str, decimals: u8) -> Result<String, PluginError> {
    let digits = base.trim();
    if digits.is_empty() || digits.len() > 78 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(PluginError::invalid_input(format!("{base:?} is not an amount in base units")));
    }
    let digits = digits.trim_start_matches('0');
    let d = decimals as usize;
    let padded = format!("{digits:0>width$}", width = d + 1);
    let (int, frac) = padded.split_at(padded.len() - d);
    let frac = frac.trim_end_matches('0');
    Ok(if frac.is_empty() { int.to_string() } else { format!("{int}.{frac}") })
}

/// `"1.5"`, 8 → `"150000000"`. Refuses negatives, exponents and more decimals than the asset has.
pub fn parse_units(amount: &str, decimals: u8) -> Result<String, PluginError> {
    let bad = |why: &str| PluginError::invalid_input(format!("{amount:?} {why}"));
    let a = amount.trim();
    let (int, frac) = a.split_once('.').unwrap_or((a, ""));
    if int.is_empty() && frac.is_empty() {
        return Err(bad("is not a decimal amount"));
    }
    if !int.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("is not a non-negative decimal amount"));
    }
    if frac.len() > decimals as usize {
        return Err(bad(&format!("has more than {decimals} decimals")));
    }
    let joined = format!("{int}{frac:0<width$}", width = decimals as usize);
    let trimmed = joined.trim_start_matches('0');
    if trimmed.len() > 78 {
        return Err(bad("is too large"));
    }
    Ok(if trimmed.is_empty() { "0".into() } else { trimmed.into() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_base_units() {
        assert_eq!(format_base_units("150000000", 8).unwrap(), "1.5");
        assert_eq!(format_base_units("1", 8).unwrap(), "0.00000001");
        assert_eq!(format_base_units("0", 8).unwrap(), "0");
        assert_eq!(format_base_units("100", 0).unwrap(), "100");
        assert_eq!(format_base_units("1000000000000000000", 18).unwrap(), "1");
        assert!(format_base_units("-1", 8).is_err());
        assert!(format_base_units("1.5", 8).is_err());
        assert!(format_base_units("", 8).is_err());
    }

    #[test]
    fn parses_units_and_round_trips() {
        assert_eq!(parse_units("1.5", 8).unwrap(), "150000000");
        assert_eq!(parse_units("0.00000001", 8).unwrap(), "1");
        assert_eq!(parse_units(".5", 1).unwrap(), "5");
        assert_eq!(parse_units("0", 8).unwrap(), "0");
        for bad in ["-1", "1e8", "0.000000001", "abc", ".", "", "1.2.3"] {
            assert!(parse_units(bad, 8).is_err(), "{bad}");
        }
        for base in ["1", "150000000", "2100000000000000", "123456789012345678901234567890"] {
            assert_eq!(parse_units(&format_base_units(base, 8).unwrap(), 8).unwrap(), base);
        }
    }
}
