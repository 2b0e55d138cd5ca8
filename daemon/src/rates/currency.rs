//! Currency codes: what a pair's side may be, and the ISO 4217 currencies with their minor
//! units (how many decimals an amount in that currency has: JPY 0, USD 2, BHD 3, CLF 4).

/// A code a pair is written with: an uppercase ticker or ISO 4217 code, 2-16 of A-Z and 0-9
/// (`BTC`, `USDT`, `1INCH`, `USD`). Never `_`, which separates a pair's two codes.
pub(crate) fn is_code(s: &str) -> bool {
    (2..=16).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// The minor units of an ISO 4217 currency (`None`: not a current ISO 4217 currency with minor
/// units; crypto tickers are not in the standard).
pub(crate) fn minor_units(code: &str) -> Option<u8> {
    ISO_4217.binary_search_by(|(c, _)| c.cmp(&code)).ok().map(|i| ISO_4217[i].1)
}

/// ISO 4217 List One (the current currency and funds codes), as published by the maintenance
/// agency, SIX Group (six-group.com, "Currency codes", list_one.xml), with its minor units,
/// sorted by code. Left out: codes whose list gives no minor unit ("N.A.": gold, silver,
/// platinum, palladium, SDR, the bond-market units, SUCRE, ADB unit, the testing code XTS and
/// XXX), which no price is written in, and withdrawn codes (HRK, SLL, ZWL, CUC, ANG, BGN…, now
/// in List Three). The funds codes (BOV, CHE, CHW, CLF, COU, MXV, USN, UYI, UYW) are kept:
/// they are on List One. Transcribed with the help of the iso_currency crate's data file
/// (MIT), checked against List One (VES, which that file marks as superseded, is current).
const ISO_4217: [(&str, u8); 164] = [
    ("AED", 2),
    ("AFN", 2),
    ("ALL", 2),
    ("AMD", 2),
    ("AOA", 2),
    ("ARS", 2),
    ("AUD", 2),
    ("AWG", 2),
    ("AZN", 2),
    ("BAM", 2),
    ("BBD", 2),
    ("BDT", 2),
    ("BHD", 3),
    ("BIF", 0),
    ("BMD", 2),
    ("BND", 2),
    ("BOB", 2),
    ("BOV", 2),
    ("BRL", 2),
    ("BSD", 2),
    ("BTN", 2),
    ("BWP", 2),
    ("BYN", 2),
    ("BZD", 2),
    ("CAD", 2),
    ("CDF", 2),
    ("CHE", 2),
    ("CHF", 2),
    ("CHW", 2),
    ("CLF", 4),
    ("CLP", 0),
    ("CNY", 2),
    ("COP", 2),
    ("COU", 2),
    ("CRC", 2),
    ("CUP", 2),
    ("CVE", 2),
    ("CZK", 2),
    ("DJF", 0),
    ("DKK", 2),
    ("DOP", 2),
    ("DZD", 2),
    ("EGP", 2),
    ("ERN", 2),
    ("ETB", 2),
    ("EUR", 2),
    ("FJD", 2),
    ("FKP", 2),
    ("GBP", 2),
    ("GEL", 2),
    ("GHS", 2),
    ("GIP", 2),
    ("GMD", 2),
    ("GNF", 0),
    ("GTQ", 2),
    ("GYD", 2),
    ("HKD", 2),
    ("HNL", 2),
    ("HTG", 2),
    ("HUF", 2),
    ("IDR", 2),
    ("ILS", 2),
    ("INR", 2),
    ("IQD", 3),
    ("IRR", 2),
    ("ISK", 0),
    ("JMD", 2),
    ("JOD", 3),
    ("JPY", 0),
    ("KES", 2),
    ("KGS", 2),
    ("KHR", 2),
    ("KMF", 0),
    ("KPW", 2),
    ("KRW", 0),
    ("KWD", 3),
    ("KYD", 2),
    ("KZT", 2),
    ("LAK", 2),
    ("LBP", 2),
    ("LKR", 2),
    ("LRD", 2),
    ("LSL", 2),
    ("LYD", 3),
    ("MAD", 2),
    ("MDL", 2),
    ("MGA", 2),
    ("MKD", 2),
    ("MMK", 2),
    ("MNT", 2),
    ("MOP", 2),
    ("MRU", 2),
    ("MUR", 2),
    ("MVR", 2),
    ("MWK", 2),
    ("MXN", 2),
    ("MXV", 2),
    ("MYR", 2),
    ("MZN", 2),
    ("NAD", 2),
    ("NGN", 2),
    ("NIO", 2),
    ("NOK", 2),
    ("NPR", 2),
    ("NZD", 2),
    ("OMR", 3),
    ("PAB", 2),
    ("PEN", 2),
    ("PGK", 2),
    ("PHP", 2),
    ("PKR", 2),
    ("PLN", 2),
    ("PYG", 0),
    ("QAR", 2),
    ("RON", 2),
    ("RSD", 2),
    ("RUB", 2),
    ("RWF", 0),
    ("SAR", 2),
    ("SBD", 2),
    ("SCR", 2),
    ("SDG", 2),
    ("SEK", 2),
    ("SGD", 2),
    ("SHP", 2),
    ("SLE", 2),
    ("SOS", 2),
    ("SRD", 2),
    ("SSP", 2),
    ("STN", 2),
    ("SVC", 2),
    ("SYP", 2),
    ("SZL", 2),
    ("THB", 2),
    ("TJS", 2),
    ("TMT", 2),
    ("TND", 3),
    ("TOP", 2),
    ("TRY", 2),
    ("TTD", 2),
    ("TWD", 2),
    ("TZS", 2),
    ("UAH", 2),
    ("UGX", 0),
    ("USD", 2),
    ("USN", 2),
    ("UYI", 0),
    ("UYU", 2),
    ("UYW", 4),
    ("UZS", 2),
    ("VED", 2),
    ("VES", 2),
    ("VND", 0),
    ("VUV", 0),
    ("WST", 2),
    ("XAF", 0),
    ("XCD", 2),
    ("XCG", 2),
    ("XOF", 0),
    ("XPF", 0),
    ("YER", 2),
    ("ZAR", 2),
    ("ZMW", 2),
    ("ZWG", 2),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_examples_have_their_minor_units() {
        for (code, units) in [
            ("JPY", 0),
            ("USD", 2),
            ("EUR", 2),
            ("CNY", 2),
            ("BHD", 3),
            ("KWD", 3),
            ("CLF", 4),
            ("UYW", 4),
            ("VND", 0),
            ("XOF", 0),
            ("VES", 2),
            ("VED", 2),
            ("ZWG", 2),
            ("XCG", 2),
            ("SLE", 2),
        ] {
            assert_eq!(minor_units(code), Some(units), "{code}");
        }
    }

    #[test]
    fn crypto_metals_withdrawn_and_malformed_codes_have_none() {
        for code in ["BTC", "USDT", "XAU", "XTS", "XXX", "HRK", "SLL", "ZWL", "usd", "US", "USDD", ""] {
            assert_eq!(minor_units(code), None, "{code}");
        }
    }

    #[test]
    fn the_table_is_sorted_unique_and_of_codes() {
        assert!(ISO_4217.windows(2).all(|w| w[0].0 < w[1].0), "sorted, no duplicate");
        assert!(ISO_4217.iter().all(|(c, u)| c.len() == 3 && is_code(c) && *u <= 4));
    }

    #[test]
    fn codes_are_uppercase_tickers_without_underscores() {
        for ok in ["BTC", "USD", "1INCH", "USDT", "ABCDEFGHIJKLMNOP"] {
            assert!(is_code(ok), "{ok}");
        }
        for bad in ["btc", "B", "BTC_USD", "*", "", "ABCDEFGHIJKLMNOPQ", "US D", "É"] {
            assert!(!is_code(bad), "{bad}");
        }
    }
}
