//! The engine with a fake API (the plugin's part), a fake network and a fake clock: rules,
//! fallbacks, via, inverses, the spread, ttl and max_age, single flight, refused plugin replies,
//! rounding; and a property test of the arithmetic against exact rationals.

use super::fetch::{ApiFailure, RateApi};
use super::*;
use crate::config::{PairPattern, RateRule};
use paywatch_plugin_api::messages::{HttpRequest, HttpResponse, Pair, QuotedRate, RateParseRequest, RateRequest};
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration as StdDuration;

const T0: i64 = 1_800_000_000;

#[derive(Debug)]
struct FakeClock(Mutex<OffsetDateTime>);

impl FakeClock {
    fn new() -> Arc<Self> {
        Arc::new(Self(Mutex::new(OffsetDateTime::from_unix_timestamp(T0).unwrap())))
    }
    fn advance(&self, secs: i64) {
        *self.0.lock().unwrap() += time::Duration::seconds(secs);
    }
}

impl Clock for FakeClock {
    fn now(&self) -> OffsetDateTime {
        *self.0.lock().unwrap()
    }
}

/// The plugin's part: one `GET http://SOURCE.test/PAIR` per pair; the body is lines
/// `PAIR=RATE@UNIX` (or `garbage`, refused). Pairs in `unsupported` are refused up front.
#[derive(Debug, Default)]
struct FakeApi {
    source: String,
    unsupported: Vec<String>,
}

impl RateApi for FakeApi {
    fn request(&self, req: &RateRequest) -> Result<Vec<HttpRequest>, ApiFailure> {
        let pair = req.pairs[0].to_string();
        if self.unsupported.contains(&pair) {
            return Err(ApiFailure { unsupported: true, message: format!("unsupported pair {pair}") });
        }
        let url = format!("http://{}.test/{pair}", self.source);
        Ok(vec![HttpRequest { method: "GET".into(), url, headers: vec![], body: String::new() }])
    }

    fn parse(&self, req: &RateParseRequest) -> Result<Vec<QuotedRate>, ApiFailure> {
        let body = &req.responses[0].body;
        if body == "panic" {
            return Err(ApiFailure { unsupported: false, message: "plugin fake panicked in parse: boom".into() });
        }
        if req.responses[0].status != 200 || body == "garbage" {
            return Err(ApiFailure { unsupported: false, message: format!("not the fake api's format: {body:?}") });
        }
        Ok(body
            .lines()
            .map(|l| {
                let (pair, rest) = l.split_once('=').unwrap();
                let (rate, at) = rest.split_once('@').unwrap();
                let (b, q) = pair.split_once('_').unwrap();
                QuotedRate { pair: Pair::new(b, q), rate: rate.into(), at: at.parse().unwrap() }
            })
            .collect())
    }
}

/// A status and body, or a transport error.
type Answer = Result<(u16, String), String>;

/// The network: a scripted answer per URL, counted.
#[derive(Debug, Default)]
struct FakeNet {
    answers: Mutex<HashMap<String, Answer>>,
    calls: AtomicUsize,
    delay_ms: u64,
}

impl FakeNet {
    fn answer(&self, url: &str, a: Result<(u16, &str), &str>) {
        let a = a.map(|(s, b)| (s, b.to_string())).map_err(String::from);
        self.answers.lock().unwrap().insert(url.into(), a);
    }
    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl Fetch for FakeNet {
    fn fetch<'a>(&'a self, _source: &'a str, req: HttpRequest) -> BoxFuture<'a, Result<HttpResponse, String>> {
        Box::pin(async move {
            self.calls.fetch_add(1, Ordering::SeqCst);
            if self.delay_ms > 0 {
                tokio::time::sleep(StdDuration::from_millis(self.delay_ms)).await;
            }
            let answer = self.answers.lock().unwrap().get(&req.url).cloned();
            match answer {
                Some(Ok((status, body))) => Ok(HttpResponse { status, headers: vec![], body }),
                Some(Err(e)) => Err(e),
                None => Err(format!("{}: connection refused", req.url)),
            }
        })
    }
}

const CONFIG: &str = r#"
[[chains]]
name = "eth"
kind = "evm"
chain_id = 1
ws_url = "ws://127.0.0.1:1"

[rates.sources.fix]
fixed = { BTC_USD = "50000", USD_CNY = "7.1", EUR_USD = "1.08" }
[rates.sources.a]
plugin = "fake"
[rates.sources.b]
plugin = "fake"
ttl_secs = 60
max_age_secs = 600

[[assets]]
id = "usdt-sepolia"
chain = "eth"
plugin = "erc20"
rate_code = "USDT"

[[stores]]
id = "shop"
api_key = "shop1_p0Cw5yCiQhKmPZBSioL43yrnC2"
[stores.rates]
spread_percent = "1"
rules = [
  { pair = "BTC_USD", sources = ["fix"] },
  { pair = "USD_CNY", sources = ["fix"] },
  { pair = "EUR_USD", sources = ["fix"] },
  { pair = "*_CNY", via = "USD" },
  { pair = "*_*", sources = ["a", "b"] },
]

[[stores]]
id = "plain"
api_key = "plain_Xq7Lm2Vb9Rt4Kp8Wz3Nc6Hd1Yf5Gs"
"#;

struct Rig {
    rates: Rates,
    net: Arc<FakeNet>,
    clock: Arc<FakeClock>,
}

fn rig_with(edit: impl FnOnce(&mut Config), net: FakeNet, unsupported: &[&str]) -> Rig {
    let mut config = crate::config::parse_str(CONFIG).unwrap();
    edit(&mut config);
    let net = Arc::new(net);
    let clock = FakeClock::new();
    let api = |s: &str| {
        let unsupported = unsupported.iter().map(|u| u.to_string()).collect();
        Arc::new(FakeApi { source: s.into(), unsupported }) as Arc<dyn RateApi>
    };
    let apis = HashMap::from([("a".to_string(), api("a")), ("b".to_string(), api("b"))]);
    let rates = Rates::with(&config, apis, net.clone(), clock.clone());
    Rig { rates, net, clock }
}

fn rig() -> Rig {
    rig_with(|_| {}, FakeNet::default(), &[])
}

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn body(pair: &str, rate: &str, at: i64) -> String {
    format!("{pair}={rate}@{at}")
}

#[tokio::test]
async fn fixed_rates_with_the_spread_and_before_it() {
    let r = rig().rates.rate("shop", "BTC", "USD").await.unwrap();
    assert_eq!((r.value, r.before_spread, r.spread_percent), (d("49500"), d("50000"), d("1")));
    assert_eq!((r.source.as_str(), r.pair.as_str()), ("fix", "BTC_USD"));
    assert_eq!(r.at.unix_timestamp(), T0);
}

#[tokio::test]
async fn a_pair_of_one_code_is_one() {
    let r = rig().rates.rate("shop", "USDT", "USDT").await.unwrap();
    assert_eq!((r.before_spread, r.source.as_str()), (Decimal::ONE, "identity"));
    // Nothing is exchanged: no spread (invoices and refunds take a code in itself at 1 too).
    assert_eq!((r.value, r.spread_percent), (Decimal::ONE, Decimal::ZERO));
}

#[tokio::test]
async fn the_inverse_of_a_fixed_rate_is_rounded_to_20_significant_digits() {
    let rig = rig_with(
        |c| {
            let rules = &mut c.stores[0].rates.as_mut().unwrap().rules;
            rules.insert(0, rules[0].clone());
            rules[0].pair = PairPattern { base: Some("CNY".into()), quote: Some("USD".into()) };
            c.stores[0].rates.as_mut().unwrap().spread_percent = Decimal::ZERO;
        },
        FakeNet::default(),
        &[],
    );
    let r = rig.rates.rate("shop", "CNY", "USD").await.unwrap();
    // 1 / 7.1 = 0.140845070422535211267605633802…
    assert_eq!(r.value, d("0.14084507042253521127"));
    assert_eq!(r.value, r.before_spread);
}

#[tokio::test]
async fn via_multiplies_the_legs_and_names_both() {
    let r = rig().rates.rate("shop", "BTC", "CNY").await.unwrap();
    assert_eq!(r.before_spread, d("355000"));
    assert_eq!(r.value, d("351450"));
    assert_eq!(r.source, "fix(BTC_USD) × fix(USD_CNY)");
}

#[tokio::test]
async fn a_cross_is_as_old_as_its_oldest_leg() {
    let rig = rig();
    rig.net.answer("http://a.test/ETH_USD", Ok((200, &body("ETH_USD", "3000.5", T0 - 100))));
    let r = rig.rates.rate("shop", "ETH", "CNY").await.unwrap();
    assert_eq!(r.before_spread, d("21303.55"));
    assert_eq!(r.source, "a(ETH_USD) × fix(USD_CNY)");
    assert_eq!(r.at.unix_timestamp(), T0 - 100);
}

#[tokio::test]
async fn the_next_source_is_used_when_one_answers_an_error_status() {
    let rig = rig();
    rig.net.answer("http://a.test/ETH_EUR", Ok((500, "oops")));
    rig.net.answer("http://b.test/ETH_EUR", Ok((200, &body("ETH_EUR", "2800", T0))));
    let r = rig.rates.rate("shop", "ETH", "EUR").await.unwrap();
    assert_eq!((r.source.as_str(), r.before_spread), ("b", d("2800")));
}

#[tokio::test]
async fn every_source_failing_names_each_with_its_reason() {
    let rig = rig();
    rig.net.answer("http://a.test/ETH_EUR", Ok((500, "oops")));
    rig.net.answer("http://b.test/ETH_EUR", Err("http://b.test/ETH_EUR: timed out after 10 s (rates.timeout_secs)"));
    let e = rig.rates.rate("shop", "ETH", "EUR").await.unwrap_err();
    let RateError::Unavailable { pair, tried } = &e else { panic!("{e}") };
    assert_eq!(pair, "ETH_EUR");
    assert_eq!(tried.iter().map(|t| t.source.as_str()).collect::<Vec<_>>(), ["a", "b"]);
    assert!(tried[0].why.contains("http status 500"), "{}", tried[0].why);
    assert!(tried[1].why.contains("timed out"), "{}", tried[1].why);
    let text = e.to_string();
    assert!(text.starts_with("no usable rate for ETH_EUR: a: http status 500"), "{text}");
}

#[tokio::test]
async fn a_source_not_quoting_a_pair_passes_to_the_next() {
    let rig = rig_with(|_| {}, FakeNet::default(), &["XMR_EUR", "EUR_XMR"]);
    // a and b share the fake API, so both refuse: the reasons say "does not quote".
    let e = rig.rates.rate("shop", "XMR", "EUR").await.unwrap_err();
    let RateError::Unavailable { tried, .. } = e else { panic!() };
    assert_eq!(tried.len(), 2);
    assert!(tried.iter().all(|t| t.why.contains("does not quote XMR_EUR") && t.why.contains("EUR_XMR")), "{tried:?}");
    assert_eq!(rig.net.calls(), 0, "refused before any request");
}

#[tokio::test]
async fn a_pair_a_source_quotes_the_other_way_is_inverted() {
    let rig = rig();
    // The response to USD_JPY does not carry it: not quoted. JPY_USD does.
    rig.net.answer("http://a.test/USD_JPY", Ok((200, "")));
    rig.net.answer("http://a.test/JPY_USD", Ok((200, &body("JPY_USD", "0.0064", T0))));
    let r = rig.rates.rate("shop", "USD", "JPY").await.unwrap();
    assert_eq!((r.before_spread, r.source.as_str()), (d("156.25"), "a"));
}

#[tokio::test]
async fn a_cached_rate_is_used_within_its_ttl_and_fetched_again_after() {
    let rig = rig();
    rig.net.answer("http://a.test/ETH_EUR", Ok((200, &body("ETH_EUR", "2800", T0))));
    rig.rates.rate("shop", "ETH", "EUR").await.unwrap();
    rig.clock.advance(59);
    rig.rates.rate("shop", "ETH", "EUR").await.unwrap();
    assert_eq!(rig.net.calls(), 1);
    rig.net.answer("http://a.test/ETH_EUR", Ok((200, &body("ETH_EUR", "2900", T0 + 60))));
    rig.clock.advance(1);
    let r = rig.rates.rate("shop", "ETH", "EUR").await.unwrap();
    assert_eq!((rig.net.calls(), r.before_spread), (2, d("2900")));
}

#[tokio::test]
async fn a_failed_refresh_keeps_the_last_rate_until_max_age_and_never_after() {
    let rig = rig_with(
        |c| {
            c.stores[0].rates.as_mut().unwrap().rules.last_mut().unwrap().action = RuleAction::Sources(vec!["a".into()])
        },
        FakeNet::default(),
        &[],
    );
    rig.net.answer("http://a.test/ETH_EUR", Ok((200, &body("ETH_EUR", "2800", T0))));
    rig.rates.rate("shop", "ETH", "EUR").await.unwrap();
    rig.net.answer("http://a.test/ETH_EUR", Ok((503, "down")));
    rig.clock.advance(600);
    let r = rig.rates.rate("shop", "ETH", "EUR").await.unwrap();
    assert_eq!((r.before_spread, r.at.unix_timestamp()), (d("2800"), T0), "600 s old: still usable");
    rig.clock.advance(61); // past the ttl of the failed refresh: asked again, fails again
    let e = rig.rates.rate("shop", "ETH", "EUR").await.unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("http status 503") && text.contains("stale: its last rate is 661 s old, over max_age_secs = 600"),
        "{text}"
    );
    assert_eq!(rig.net.calls(), 3);
}

#[tokio::test]
async fn a_rate_the_api_dates_beyond_max_age_is_stale_at_once() {
    let rig = rig();
    rig.net.answer("http://a.test/ETH_EUR", Ok((200, &body("ETH_EUR", "2800", T0 - 3600))));
    rig.net.answer("http://b.test/ETH_EUR", Ok((200, &body("ETH_EUR", "2801", T0 - 10))));
    let r = rig.rates.rate("shop", "ETH", "EUR").await.unwrap();
    assert_eq!(r.source, "b");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asking_for_ever_new_pairs_does_not_grow_a_sources_cache_without_end() {
    // `*_*` sends any pair to a and b; none answers (connection refused), each failure is
    // remembered for the ttl: a client naming new pairs must not make that memory grow forever.
    let rig = rig();
    let max = source::MAX_CACHED_PAIRS;
    for i in 0..max + 100 {
        assert!(rig.rates.rate("shop", &format!("X{i}"), "EUR").await.is_err());
    }
    for name in ["a", "b"] {
        let cached = rig.rates.0.sources[name].cached();
        assert!(cached <= max, "source {name} caches {cached} pairs, more than {max}");
    }
    // A real rate cached before the flood is kept over remembered failures.
    let rig = rig_with(|_| {}, FakeNet::default(), &[]);
    rig.net.answer("http://a.test/ETH_EUR", Ok((200, &body("ETH_EUR", "2800", T0))));
    rig.rates.rate("shop", "ETH", "EUR").await.unwrap();
    for i in 0..max + 10 {
        let _ = rig.rates.rate("shop", &format!("X{i}"), "EUR").await;
    }
    rig.net.answer("http://a.test/ETH_EUR", Ok((503, "down")));
    rig.clock.advance(120);
    assert_eq!(rig.rates.rate("shop", "ETH", "EUR").await.unwrap().before_spread, d("2800"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_for_a_source_fetch_once() {
    let rig = rig_with(|_| {}, FakeNet { delay_ms: 100, ..Default::default() }, &[]);
    rig.net.answer("http://a.test/ETH_EUR", Ok((200, &body("ETH_EUR", "2800", T0))));
    let asks = (0..16).map(|_| {
        let rates = rig.rates.clone();
        tokio::spawn(async move { rates.rate("shop", "ETH", "EUR").await })
    });
    for r in futures::future::join_all(asks).await {
        assert_eq!(r.unwrap().unwrap().before_spread, d("2800"));
    }
    assert_eq!(rig.net.calls(), 1);
}

#[tokio::test]
async fn bad_plugin_replies_are_the_sources_failure() {
    let cases = [
        ("garbage", "not the fake api's format"),
        ("panic", "panicked in parse"),
        ("ETH_EUR=abc@1800000000", "\"abc\" is not a plain decimal"),
        ("ETH_EUR=-1@1800000000", "\"-1\" is not a plain decimal"),
        ("ETH_EUR=1e3@1800000000", "\"1e3\" is not a plain decimal"),
        ("ETH_EUR=0@1800000000", "\"0\" is not positive"),
        ("ETH_EUR=0.000@1800000000", "\"0.000\" is not positive"),
        ("BTC_EUR=1@1800000000", "rate for BTC_EUR, which was not asked"),
        ("ETH_EUR=1@1900000000", "after now"),
    ];
    for (reply, why) in cases {
        let rig = rig_with(
            |c| {
                c.stores[0].rates.as_mut().unwrap().rules.last_mut().unwrap().action =
                    RuleAction::Sources(vec!["a".into()])
            },
            FakeNet::default(),
            &[],
        );
        rig.net.answer("http://a.test/ETH_EUR", Ok((200, reply)));
        let e = rig.rates.rate("shop", "ETH", "EUR").await.unwrap_err().to_string();
        assert!(e.contains(why), "{reply}: {e}");
    }
}

#[tokio::test]
async fn a_store_without_rules_says_so() {
    let e = rig().rates.rate("plain", "BTC", "USD").await.unwrap_err();
    assert_eq!(e.to_string(), "no usable rate for BTC_USD: rules: store \"plain\" has no rate rules ([stores.rates])");
    let e = rig_with(|c| c.stores[0].rates.as_mut().unwrap().rules.truncate(2), FakeNet::default(), &[])
        .rates
        .rate("shop", "ETH", "EUR")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("no rate rule of store \"shop\" matches ETH_EUR"), "{e}");
}

#[tokio::test]
async fn a_leg_that_fails_is_named_with_its_pair() {
    let rig = rig();
    let e = rig.rates.rate("shop", "ETH", "CNY").await.unwrap_err();
    let RateError::Unavailable { pair, tried } = e else { panic!() };
    assert_eq!(pair, "ETH_CNY");
    assert_eq!(tried.iter().map(|t| t.source.as_str()).collect::<Vec<_>>(), ["a(ETH_USD)", "b(ETH_USD)"]);
}

#[tokio::test]
async fn a_loop_the_config_check_would_refuse_is_an_error_at_run_time_too() {
    // Rules made by hand, past validation.
    let rig = rig_with(
        |c| {
            let rules = &mut c.stores[0].rates.as_mut().unwrap().rules;
            let via = |p: &str, v: &str| {
                let (b, q) = p.split_once('_').unwrap();
                let side = |s: &str| (s != "*").then(|| s.to_string());
                RateRule { pair: PairPattern { base: side(b), quote: side(q) }, action: RuleAction::Via(v.into()) }
            };
            *rules = vec![via("*_CNY", "USD"), via("*_USD", "CNY")];
        },
        FakeNet::default(),
        &[],
    );
    let e = rig.rates.rate("shop", "EUR", "USD").await.unwrap_err();
    assert!(matches!(e, RateError::Cycle { .. }), "{e}");
    assert!(e.to_string().contains("EUR_USD → EUR_CNY → EUR_USD"), "{e}");
}

#[tokio::test]
async fn malformed_codes_are_refused() {
    for (b, q) in [("btc", "USD"), ("BTC", "US_D"), ("B", "USD")] {
        assert!(matches!(rig().rates.rate("shop", b, q).await, Err(RateError::BadCode(_))), "{b}_{q}");
    }
}

#[test]
fn assets_are_known_by_their_rate_code() {
    let rig = rig();
    assert_eq!(rig.rates.code_of_asset("usdt-sepolia"), Some("USDT"));
    assert_eq!(rig.rates.code_of_asset("nope"), None);
}

#[test]
fn the_spread_is_exact_then_rounded() {
    assert_eq!(arith::spread(d("64123.5"), d("0.5")), Some(d("63802.8825")));
    assert_eq!(arith::spread(d("3"), Decimal::ZERO), Some(d("3")));
    assert_eq!(arith::inverse(d("3")), Some(d("0.33333333333333333333")));
    assert_eq!(arith::inverse(d("0.000000015")), Some(d("66666666.666666666667")));
    assert_eq!(arith::cross(d("1.23456789012345678901"), d("1")), Some(d("1.2345678901234567890")));
    // A tiny rate keeps the 28 decimal places a decimal has, not 20 significant digits.
    assert_eq!(arith::inverse(d("402305428435")), Some(d("0.0000000000024856736432567645")));
}

mod property {
    use super::*;
    use num_bigint::BigInt;
    use proptest::prelude::*;

    /// A decimal as the exact fraction mantissa / 10^scale.
    fn frac(x: Decimal) -> (BigInt, BigInt) {
        (BigInt::from(x.mantissa()), BigInt::from(10u32).pow(x.scale()))
    }

    /// |computed − p/q| ≤ p/q × 10^-19 (20 significant digits, half to even, after at most
    /// 28), or ≤ 10^-28 (the 28 decimal places a decimal has: tiny rates keep fewer digits).
    fn close(computed: Decimal, p: &BigInt, q: &BigInt) -> bool {
        let (m, s) = frac(computed);
        let diff = &m * q - p * &s;
        let relative = (&diff * BigInt::from(10u64).pow(19)).magnitude() <= (p * &s).magnitude();
        let absolute = (&diff * BigInt::from(10u64).pow(28)).magnitude() <= (&s * q).magnitude();
        relative || absolute
    }

    fn rate() -> impl Strategy<Value = Decimal> {
        // 10^-12 to 10^12: from a small token in BTC to a coin in a currency of small units.
        (1u64..=999_999_999_999, 0u32..=24).prop_map(|(m, s)| Decimal::new(m as i64, s))
    }

    proptest! {
        #[test]
        fn inverse_and_cross_are_exact_to_20_digits(a in rate(), b in rate(), spread in 0u32..=5000) {
            let (pa, qa) = frac(a);
            let (pb, qb) = frac(b);
            let inv = arith::inverse(a).unwrap();
            prop_assert!(close(inv, &qa, &pa), "1/{a} = {inv}");
            prop_assert!(inv.mantissa().unsigned_abs().to_string().trim_end_matches('0').len() <= 20);
            let x = arith::cross(a, b).unwrap();
            prop_assert!(close(x, &(&pa * &pb), &(&qa * &qb)), "{a} × {b} = {x}");
            let s = Decimal::new(spread.into(), 2);
            let after = arith::spread(a, s).unwrap();
            let kept = BigInt::from(10_000 - spread);
            prop_assert!(close(after, &(&pa * &kept), &(&qa * BigInt::from(10_000))), "{a} less {s}% = {after}");
        }
    }
}
