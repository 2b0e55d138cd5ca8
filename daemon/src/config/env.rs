//! `PAYWATCH_*` environment overrides on top of the file, with one addition to figment's
//! nested keys: an array of tables (`chains`, `stores`, `assets`) is addressed by element name
//! or index, e.g. `PAYWATCH_CHAINS__BTC__RPC_PASSWORD` or `PAYWATCH_STORES__0__API_KEY`.

use serde_json::{Map, Value};

/// Keys that name the elements of arrays of tables.
const NAME_KEYS: [&str; 2] = ["name", "id"];

/// Deep-merges `over` into `base`; `over` wins on conflicts.
pub(crate) fn merge(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (Value::Array(items), Value::Object(o)) => merge_into_array(items, o),
        (slot, v) => *slot = v,
    }
}

fn merge_into_array(items: &mut Vec<Value>, over: Map<String, Value>) {
    for (sel, v) in over {
        let pos = items
            .iter()
            .position(|item| element_named(item, &sel))
            .or_else(|| sel.parse::<usize>().ok().filter(|i| *i < items.len()));
        match pos {
            Some(i) => merge(&mut items[i], v),
            // No such element: keep the override visible so validation reports it.
            None => items.push(with_selector(sel, v)),
        }
    }
}

fn element_named(item: &Value, sel: &str) -> bool {
    NAME_KEYS.iter().any(|k| item.get(k).and_then(Value::as_str).is_some_and(|n| n.eq_ignore_ascii_case(sel)))
}

fn with_selector(sel: String, v: Value) -> Value {
    match v {
        Value::Object(mut m) => {
            m.entry("name").or_insert(Value::String(sel));
            Value::Object(m)
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn overrides_nested_keys_and_array_elements_by_name_or_index() {
        let mut base = json!({
            "server": {"listen": "127.0.0.1:1"},
            "chains": [{"name": "btc", "rpc_user": "u"}, {"name": "eth"}],
            "stores": [{"id": "shop1"}]
        });
        merge(
            &mut base,
            json!({
                "server": {"listen": "127.0.0.1:2"},
                "chains": {"btc": {"rpc_password": "p"}, "1": {"chain_id": 5}},
                "stores": {"SHOP1": {"api_key": "k"}}
            }),
        );
        assert_eq!(base["server"]["listen"], "127.0.0.1:2");
        assert_eq!(base["chains"][0], json!({"name": "btc", "rpc_user": "u", "rpc_password": "p"}));
        assert_eq!(base["chains"][1]["chain_id"], 5);
        assert_eq!(base["stores"][0]["api_key"], "k");
    }
}
