//! Which rule decides a pair (pure), and the check, at config time, that no `via` rule loops
//! or nests too deep for any pair.

use crate::config::{RateRule, RuleAction};
use std::collections::BTreeSet;

/// Most `via` rules one rate may go through, nested (BTC_CNY via USD is one).
pub(crate) const MAX_VIA_DEPTH: usize = 3;

/// The rule deciding `base_quote`: the first whose pattern matches, except a `via` rule whose
/// code is one of the pair's (`*_CNY via USD` for USD_CNY would ask for USD_CNY again): the
/// next matching rule decides that pair.
pub(super) fn rule_for<'r>(rules: &'r [RateRule], base: &str, quote: &str) -> Option<(usize, &'r RateRule)> {
    rules.iter().enumerate().find(|(_, r)| {
        r.pair.matches(base, quote) && !matches!(&r.action, RuleAction::Via(v) if v == base || v == quote)
    })
}

/// Codes standing for any code the rules do not name (never a real code: `<` is not allowed).
const ANY: [&str; 2] = ["<any>", "<other>"];

/// For config validation: the first `via` rule (by index) that, for some pair, loops back to a
/// pair it is resolving or nests more than [`MAX_VIA_DEPTH`] deep, with why. Every pair is
/// tried whose codes are named by the rules, plus two codes that no pattern names (what any
/// other code does): so a problem is found whatever the pair.
pub(crate) fn via_problem(rules: &[RateRule]) -> Option<(usize, String)> {
    let mut codes: BTreeSet<&str> = ANY.into_iter().collect();
    for r in rules {
        codes.extend(r.pair.base.as_deref());
        codes.extend(r.pair.quote.as_deref());
        if let RuleAction::Via(v) = &r.action {
            codes.insert(v);
        }
    }
    let mut stack = Vec::new();
    codes
        .iter()
        .flat_map(|b| codes.iter().map(move |q| (*b, *q)))
        .find_map(|(b, q)| walk(rules, b, q, &mut stack).err())
}

/// Follows the `via` rules from `base_quote`; `stack` holds the pairs being resolved, each with
/// the index of the rule resolving it.
fn walk(rules: &[RateRule], base: &str, quote: &str, stack: &mut Vec<(String, usize)>) -> Result<(), (usize, String)> {
    if base == quote {
        return Ok(());
    }
    let pair = format!("{base}_{quote}");
    if let Some(k) = stack.iter().position(|(p, _)| *p == pair) {
        let path: Vec<&str> = stack[k..].iter().map(|(p, _)| p.as_str()).chain([pair.as_str()]).collect();
        return Err((stack[k].1, format!("the via rules loop: {}", path.join(" → "))));
    }
    let Some((i, RateRule { action: RuleAction::Via(via), .. })) = rule_for(rules, base, quote) else {
        return Ok(());
    };
    if stack.len() == MAX_VIA_DEPTH {
        let path: Vec<&str> = stack.iter().map(|(p, _)| p.as_str()).chain([pair.as_str()]).collect();
        return Err((i, format!("more than {MAX_VIA_DEPTH} via rules nested: {}", path.join(" → "))));
    }
    stack.push((pair, i));
    let out = walk(rules, base, via, stack).and_then(|()| walk(rules, via, quote, stack));
    stack.pop();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PairPattern;

    fn rule(pair: &str, action: RuleAction) -> RateRule {
        let side = |s: &str| (s != "*").then(|| s.to_string());
        let (b, q) = pair.split_once('_').unwrap();
        RateRule { pair: PairPattern { base: side(b), quote: side(q) }, action }
    }

    fn via(pair: &str, code: &str) -> RateRule {
        rule(pair, RuleAction::Via(code.into()))
    }

    fn from(pair: &str, sources: &[&str]) -> RateRule {
        rule(pair, RuleAction::Sources(sources.iter().map(|s| s.to_string()).collect()))
    }

    #[test]
    fn the_first_matching_rule_decides() {
        let rules = [from("BTC_USD", &["a"]), from("BTC_*", &["b"]), from("*_CNY", &["c"]), from("*_*", &["d"])];
        let chosen = |b, q| rule_for(&rules, b, q).map(|(i, _)| i);
        assert_eq!(chosen("BTC", "USD"), Some(0));
        assert_eq!(chosen("BTC", "CNY"), Some(1));
        assert_eq!(chosen("ETH", "CNY"), Some(2));
        assert_eq!(chosen("ETH", "EUR"), Some(3));
        assert_eq!(rule_for(&rules[..3], "ETH", "EUR").map(|(i, _)| i), None);
    }

    #[test]
    fn a_via_rule_does_not_decide_a_pair_holding_its_own_code() {
        let rules = [via("*_CNY", "USD"), from("*_*", &["ecb"])];
        assert_eq!(rule_for(&rules, "BTC", "CNY").map(|(i, _)| i), Some(0));
        assert_eq!(rule_for(&rules, "USD", "CNY").map(|(i, _)| i), Some(1));
        assert_eq!(via_problem(&rules), None);
    }

    #[test]
    fn loops_are_found_with_their_path() {
        // EUR_USD → EUR_CNY, CNY_USD; EUR_CNY → EUR_USD (loop).
        let rules = [via("*_CNY", "USD"), via("*_USD", "CNY"), from("*_*", &["x"])];
        let (i, why) = via_problem(&rules).expect("a loop");
        assert!(i <= 1, "{i}");
        assert!(why.contains("loop") && why.contains("→"), "{why}");
    }

    #[test]
    fn a_loop_through_codes_no_rule_names_is_found() {
        // Any X_Y: X_Y via EUR → X_EUR via GBP → X_GBP via EUR → X_EUR again.
        let rules = [via("*_EUR", "GBP"), via("*_GBP", "EUR"), from("*_*", &["x"])];
        assert!(via_problem(&rules).is_some());
    }

    #[test]
    fn nesting_deeper_than_the_bound_is_refused() {
        let rules =
            [via("A1_Z1", "B1"), via("A1_B1", "C1"), via("A1_C1", "D1"), via("A1_D1", "E1"), from("*_*", &["x"])];
        let (i, why) = via_problem(&rules).expect("too deep");
        assert_eq!(i, 3);
        assert!(why.contains("more than 3"), "{why}");
        assert_eq!(via_problem(&rules[1..]), None, "three nested are fine");
    }
}
