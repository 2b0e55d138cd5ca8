//! Small rules of delivery: which events an endpoint takes and when to retry (what orders them
//! is each event's stored subject, see `crate::events`).

use rand::Rng;
use time::{Duration, OffsetDateTime};

/// Whether an event type matches an endpoint's filter (`invoice.*`, `payment.confirmed`, `*`;
/// an empty filter takes everything).
pub(crate) fn matches(filter: &[String], kind: &str) -> bool {
    filter.is_empty()
        || filter.iter().any(|f| match f.strip_suffix('*') {
            Some(prefix) => kind.starts_with(prefix),
            None => f == kind,
        })
}

/// Whether an endpoint of `plugin` takes an event with `data`: a gateway's plugin (`bitpay`,
/// `coingate`, `coinpayments`) only the events of invoices made through that gateway (it has
/// nothing to send for others, and its delivery log would list them as delivered), every
/// other plugin every event its filter matches.
pub(crate) fn takes(plugin: &str, data: &serde_json::Value) -> bool {
    !crate::config::GATEWAYS.contains(&plugin) || data["gateway"]["kind"] == plugin
}

/// When attempt `n` (1-based) failed with "retry": `after` if the receiver said so (capped at
/// a day), else the schedule's step with ±10 % jitter; `None` when the schedule is used up.
pub(crate) fn next_attempt(
    schedule: &[u64],
    n: usize,
    after_secs: Option<u64>,
    now: OffsetDateTime,
) -> Option<OffsetDateTime> {
    let step = *schedule.get(n.checked_sub(1)?)?;
    let secs = match after_secs {
        Some(a) => a.min(86_400) as f64,
        None => step as f64 * rand::thread_rng().gen_range(0.9..=1.1),
    };
    Some(now + Duration::milliseconds((secs * 1000.0) as i64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gateways_endpoint_takes_only_that_gateways_invoices() {
        let of = |kind: &str| serde_json::json!({"id": "i1", "gateway": {"kind": kind, "data": {}}});
        let plain = serde_json::json!({"id": "i2"});
        assert!(takes("bitpay", &of("bitpay")));
        assert!(!takes("bitpay", &of("coingate")));
        assert!(!takes("coinpayments", &plain), "an invoice made through /v1 is no gateway's");
        assert!(takes("webhook", &plain) && takes("webhook", &of("bitpay")), "other plugins take every event");
    }

    #[test]
    fn filters_take_exact_types_and_prefixes() {
        let f = vec!["invoice.*".to_string(), "payment.confirmed".to_string()];
        assert!(matches(&f, "invoice.settled"));
        assert!(matches(&f, "payment.confirmed"));
        assert!(!matches(&f, "payment.detected"));
        assert!(matches(&[], "anything"));
        assert!(matches(&["*".to_string()], "refund.completed"));
    }

    #[test]
    fn the_schedule_runs_out_and_retry_after_wins() {
        let now = OffsetDateTime::from_unix_timestamp(0).unwrap();
        let s = [10, 100];
        let first = next_attempt(&s, 1, None, now).unwrap() - now;
        assert!((9.0..=11.0).contains(&first.as_seconds_f64()), "{first}");
        assert!(next_attempt(&s, 2, None, now).is_some());
        assert!(next_attempt(&s, 3, None, now).is_none());
        assert_eq!(next_attempt(&s, 1, Some(30), now).unwrap() - now, Duration::seconds(30));
        assert_eq!(next_attempt(&s, 1, Some(10_000_000), now).unwrap() - now, Duration::days(1));
    }
}
