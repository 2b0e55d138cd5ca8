use super::*;
use proptest::prelude::*;
use std::cmp::Ordering;

const MAX_S: &str = "115792089237316195423570985008687907853269984665640564039457584007913129639935";

#[test]
fn formats_base_units() {
    assert_eq!(format_base_units("150000000", 8).unwrap(), "1.5");
    assert_eq!(format_base_units("1", 8).unwrap(), "0.00000001");
    assert_eq!(format_base_units("0", 8).unwrap(), "0");
    assert_eq!(format_base_units("100", 0).unwrap(), "100");
    assert_eq!(format_base_units("1000000000000000000", 18).unwrap(), "1");
    assert_eq!(format_base_units(" 007 ", 1).unwrap(), "0.7");
    assert_eq!(format_base_units(MAX_S, 0).unwrap(), MAX_S);
    assert!(format_base_units("-1", 8).is_err());
    assert!(format_base_units("1.5", 8).is_err());
    assert!(format_base_units("", 8).is_err());
    let e = format_base_units("x", 8).unwrap_err();
    assert_eq!((e.code.as_str(), e.message.as_str()), ("invalid_input", "\"x\" is not an amount in base units"));
    // 2^256: 78 digits, one more than any amount.
    let over = "115792089237316195423570985008687907853269984665640564039457584007913129639936";
    assert_eq!(format_base_units(over, 0).unwrap_err().message, format!("{over:?} is too large"));
}

#[test]
fn parses_units_and_round_trips() {
    assert_eq!(parse_units("1.5", 8).unwrap(), "150000000");
    assert_eq!(parse_units("0.00000001", 8).unwrap(), "1");
    assert_eq!(parse_units(".5", 1).unwrap(), "5");
    assert_eq!(parse_units("1.", 1).unwrap(), "10");
    assert_eq!(parse_units("0", 8).unwrap(), "0");
    for bad in ["-1", "1e8", "0.000000001", "abc", ".", "", "1.2.3"] {
        assert!(parse_units(bad, 8).is_err(), "{bad}");
    }
    for base in ["1", "150000000", "2100000000000000", "123456789012345678901234567890"] {
        assert_eq!(parse_units(&format_base_units(base, 8).unwrap(), 8).unwrap(), base);
    }
    // The messages the API shows.
    let msg = |a: &str, d: u8| parse_units(a, d).unwrap_err().message;
    assert_eq!(msg(".", 8), "\".\" is not a decimal amount");
    assert_eq!(msg("-1", 8), "\"-1\" is not a non-negative decimal amount");
    assert_eq!(msg("0.001", 2), "\"0.001\" has more than 2 decimals");
    // 2^256 − 1 base units with 5 decimals, and one base unit more.
    let max_units = "1157920892373161954235709850086879078532699846656405640394575840079131296.39935";
    assert_eq!(parse_units(max_units, 5).unwrap(), MAX_S);
    let over = "1157920892373161954235709850086879078532699846656405640394575840079131296.39936";
    assert_eq!(msg(over, 5), format!("{over:?} is too large"));
}

#[test]
fn arithmetic_is_checked() {
    let one = Amount::from(1u64);
    assert_eq!(Amount::MAX.checked_add(one), None);
    assert_eq!(Amount::ZERO.checked_sub(one), None);
    assert_eq!(Amount::ZERO.saturating_sub(one), Amount::ZERO);
    assert_eq!(Amount::checked_sum([Amount::MAX, Amount::ZERO]), Some(Amount::MAX));
    assert_eq!(Amount::checked_sum([Amount::MAX, one]), None);
    assert_eq!(Amount::checked_sum([]), Some(Amount::ZERO));
    // The whole range times a share never overflows; rounding goes the asked way.
    assert_eq!(Amount::MAX.checked_mul_bp(10_000), Some(Amount::MAX));
    assert_eq!(Amount::MAX.checked_mul_bp_ceil(9_999).unwrap().to_string().len(), 78);
    assert_eq!(Amount::MAX.checked_mul_bp(10_001), None);
    assert_eq!(Amount::from(1000u64).checked_mul_bp_ceil(9_900), Some(Amount::from(990u64)));
    assert_eq!(Amount::from(1u64).checked_mul_bp_ceil(1), Some(one));
    assert_eq!(Amount::from(1u64).checked_mul_bp(1), Some(Amount::ZERO));
    assert_eq!(Amount::from(u128::MAX).to_string(), u128::MAX.to_string());
    assert_eq!(u128::try_from(Amount::from(u128::MAX)), Ok(u128::MAX));
    assert_eq!(u64::try_from(Amount::from(u64::MAX)), Ok(u64::MAX));
    let past = Amount::from(u128::from(u64::MAX) + 1);
    assert_eq!(u64::try_from(past), Err(AmountError::TooLarge("18446744073709551616".into())));
    assert!(u128::try_from(Amount::MAX).is_err());
}

#[test]
fn serializes_as_a_decimal_string() {
    let a = Amount::from(150_000_000u64);
    assert_eq!(serde_json::to_string(&a).unwrap(), "\"150000000\"");
    assert_eq!(serde_json::from_str::<Amount>("\"150000000\"").unwrap(), a);
    assert_eq!(serde_json::to_string(&Amount::MAX).unwrap(), format!("\"{MAX_S}\""));
    assert!(serde_json::from_str::<Amount>("150000000").is_err(), "a JSON number is not an amount");
    assert!(serde_json::from_str::<Amount>("\"-1\"").is_err());
    assert!(serde_json::from_str::<Amount>("\"1.5\"").is_err());
    assert_eq!("42".parse::<Amount>().unwrap(), Amount::from(42u64));
    assert_eq!(format!("{:?}", Amount::from(42u64)), "Amount(42)");
}

// The naive reference: decimal strings, schoolbook arithmetic, the former string-only
// conversions. Canonical numbers have no leading zeros ("0" for zero).

fn canon(s: &str) -> String {
    let t = s.trim_start_matches('0');
    if t.is_empty() {
        "0".into()
    } else {
        t.into()
    }
}

fn cmp(a: &str, b: &str) -> Ordering {
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

fn fits(a: &str) -> bool {
    cmp(a, MAX_S) != Ordering::Greater
}

fn digits_le(a: &str) -> Vec<u64> {
    a.bytes().rev().map(|b| u64::from(b - b'0')).collect()
}

fn from_le(d: &[u64]) -> String {
    canon(&d.iter().rev().map(|x| char::from(b'0' + *x as u8)).collect::<String>())
}

fn add(a: &str, b: &str) -> String {
    let (a, b) = (digits_le(a), digits_le(b));
    let (mut out, mut carry) = (Vec::new(), 0);
    for i in 0..a.len().max(b.len()) {
        let s = a.get(i).unwrap_or(&0) + b.get(i).unwrap_or(&0) + carry;
        out.push(s % 10);
        carry = s / 10;
    }
    out.push(carry);
    from_le(&out)
}

fn sub(a: &str, b: &str) -> Option<String> {
    if cmp(a, b) == Ordering::Less {
        return None;
    }
    let (a, b) = (digits_le(a), digits_le(b));
    let (mut out, mut borrow) = (Vec::new(), 0);
    for (i, x) in a.iter().enumerate() {
        let y = b.get(i).unwrap_or(&0) + borrow;
        borrow = u64::from(*x < y);
        out.push(x + 10 * borrow - y);
    }
    Some(from_le(&out))
}

fn mul_small(a: &str, m: u64) -> String {
    let (mut out, mut carry) = (Vec::new(), 0u128);
    for x in digits_le(a) {
        let p = u128::from(x) * u128::from(m) + carry;
        out.push((p % 10) as u64);
        carry = p / 10;
    }
    while carry > 0 {
        out.push((carry % 10) as u64);
        carry /= 10;
    }
    from_le(&out)
}

fn div_small(a: &str, m: u64) -> (String, u64) {
    let (mut q, mut r) = (String::new(), 0u64);
    for b in a.bytes() {
        let cur = r * 10 + u64::from(b - b'0');
        q.push(char::from(b'0' + (cur / m) as u8));
        r = cur % m;
    }
    (canon(&q), r)
}

fn from_bytes(bytes: &[u8; 32]) -> String {
    bytes.iter().fold("0".to_string(), |acc, b| add(&mul_small(&acc, 256), &b.to_string()))
}

/// The string-only `format_base_units` this module had, for inputs it accepted.
fn format_reference(digits: &str, decimals: u8) -> String {
    let digits = digits.trim_start_matches('0');
    let d = decimals as usize;
    let padded = format!("{digits:0>width$}", width = d + 1);
    let (int, frac) = padded.split_at(padded.len() - d);
    let frac = frac.trim_end_matches('0');
    if frac.is_empty() {
        int.to_string()
    } else {
        format!("{int}.{frac}")
    }
}

/// The string-only `parse_units` this module had, bounded by 2^256 − 1 instead of 78 digits.
fn parse_reference(amount: &str, decimals: u8) -> Option<String> {
    let a = amount.trim();
    let (int, frac) = a.split_once('.').unwrap_or((a, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (int.is_empty() && frac.is_empty()) || !digits(int) || !digits(frac) || frac.len() > decimals as usize {
        return None;
    }
    let joined = canon(&format!("{int}{frac:0<width$}", width = decimals as usize));
    fits(&joined).then_some(joined)
}

/// Digit strings of every length, with leading zeros, around 2^256 and the u64 and u128 edges.
fn digits() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9]{1,20}",
        "0{0,3}[1-9][0-9]{0,80}",
        "0{0,2}1157920892373161954235709850086879078532699846656405640394575840079131296399[0-9]{2}",
        "(18446744073709551615|340282366920938463463374607431768211455)[0-9]?",
    ]
}

fn amount() -> impl Strategy<Value = Amount> {
    prop_oneof![
        any::<[u8; 32]>().prop_map(Amount::from_be_bytes),
        any::<u64>().prop_map(Amount::from),
        any::<u128>().prop_map(Amount::from),
        any::<u64>().prop_map(|k| Amount::MAX.checked_sub(Amount::from(k)).unwrap()),
        (0u64..20_001).prop_map(Amount::from),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn base_strings_read_as_the_reference_says(s in digits(), pad in "[ \t]{0,2}") {
        let read = Amount::from_base_str(&format!("{pad}{s}{pad}"));
        let want = canon(&s);
        match read {
            Ok(a) => prop_assert_eq!(a.to_string(), want),
            Err(e) => {
                prop_assert!(!fits(&want), "{} refused: {}", s, e);
                prop_assert_eq!(e, AmountError::TooLarge(format!("{pad}{s}{pad}")));
            }
        }
    }

    #[test]
    fn display_and_bytes_agree_with_the_reference(bytes in any::<[u8; 32]>()) {
        let a = Amount::from_be_bytes(bytes);
        prop_assert_eq!(a.to_string(), from_bytes(&bytes));
        prop_assert_eq!(a.to_be_bytes(), bytes);
        prop_assert_eq!(Amount::from_base_str(&a.to_string()), Ok(a));
        prop_assert_eq!(serde_json::from_str::<Amount>(&serde_json::to_string(&a).unwrap()).unwrap(), a);
    }

    #[test]
    fn units_format_and_parse_as_the_reference_says(a in amount(), decimals in 0u8..=90) {
        let shown = a.to_units_string(decimals);
        prop_assert_eq!(&shown, &format_reference(&a.to_string(), decimals));
        prop_assert_eq!(Amount::parse_units(&shown, decimals), Ok(a));
        prop_assert_eq!(format_base_units(&a.to_string(), decimals).unwrap(), shown);
    }

    #[test]
    fn parse_units_agrees_with_the_reference(
        s in prop_oneof!["[0-9]{0,45}(\\.[0-9]{0,45})?", "[-+0-9.eE ]{0,12}", "[0-9]{70,80}\\.?[0-9]{0,3}"],
        decimals in 0u8..=40,
    ) {
        let got = Amount::parse_units(&s, decimals).map(|a| a.to_string()).ok();
        prop_assert_eq!(&got, &parse_reference(&s, decimals), "{:?} with {} decimals", s, decimals);
        prop_assert_eq!(parse_units(&s, decimals).ok(), got);
    }

    #[test]
    fn checked_arithmetic_agrees_with_the_reference(a in amount(), b in amount(), bp in prop_oneof![0u32..=10_000, any::<u32>()]) {
        let (sa, sb) = (a.to_string(), b.to_string());
        let sum = add(&sa, &sb);
        prop_assert_eq!(a.checked_add(b).map(|x| x.to_string()), fits(&sum).then_some(sum.clone()));
        prop_assert_eq!(Amount::checked_sum([a, b, a]).map(|x| x.to_string()),
            Some(add(&sum, &sa)).filter(|s| fits(s)));
        prop_assert_eq!(a.checked_sub(b).map(|x| x.to_string()), sub(&sa, &sb));
        prop_assert_eq!(a.saturating_sub(b).to_string(), sub(&sa, &sb).unwrap_or_else(|| "0".into()));
        let (q, r) = div_small(&mul_small(&sa, u64::from(bp)), 10_000);
        let up = if r > 0 { add(&q, "1") } else { q.clone() };
        prop_assert_eq!(a.checked_mul_bp(bp).map(|x| x.to_string()), fits(&q).then_some(q));
        prop_assert_eq!(a.checked_mul_bp_ceil(bp).map(|x| x.to_string()), fits(&up).then_some(up));
        if bp <= 10_000 {
            prop_assert!(a.checked_mul_bp_ceil(bp).is_some_and(|x| x <= a));
        }
        prop_assert_eq!(a.cmp(&b), cmp(&sa, &sb));
    }
}
