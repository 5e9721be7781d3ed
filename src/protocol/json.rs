//! Two small JSON helpers for the hot paths, where `serde_json`'s conveniences cost more than
//! they look: `Value::pointer` allocates two strings per step of the path (to undo `~1` and
//! `~0`), and `json!` copies every `Value` it is given through the serializer (a deep copy,
//! then the original is dropped). Callgrind counted both at about a tenth of the node's
//! instructions per checkout (BENCHMARKS.md, "Eight connections, and JSON without copies").

use serde_json::{Map, Value};

/// `Value::pointer` without allocating: a path step is unescaped (`~1` is `/`, `~0` is `~`)
/// only when it holds a `~`.
pub trait At {
    fn at(&self, pointer: &str) -> Option<&Value>;
}

impl At for Value {
    fn at(&self, pointer: &str) -> Option<&Value> {
        if pointer.is_empty() {
            return Some(self);
        }
        let mut target = self;
        for token in pointer.strip_prefix('/')?.split('/') {
            target = if token.contains('~') {
                step(target, &token.replace("~1", "/").replace("~0", "~"))?
            } else {
                step(target, token)?
            };
        }
        Some(target)
    }
}

fn step<'a>(value: &'a Value, token: &str) -> Option<&'a Value> {
    match value {
        Value::Object(map) => map.get(token),
        Value::Array(list) => {
            // As RFC 6901 and serde_json have it: digits, no sign, no leading zero.
            let canonical = !token.is_empty()
                && token.bytes().all(|b| b.is_ascii_digit())
                && (token == "0" || !token.starts_with('0'));
            if canonical {
                list.get(token.parse::<usize>().ok()?)
            } else {
                None
            }
        }
        _ => None,
    }
}

/// A JSON object of `fields`, in their order, moved in rather than copied.
pub fn object<const N: usize>(fields: [(&str, Value); N]) -> Value {
    let mut map = Map::with_capacity(N);
    for (name, value) in fields {
        map.insert(name.to_owned(), value);
    }
    Value::Object(map)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn at_finds_what_pointer_finds() {
        let doc = json!({
            "message": {"order": {"items": [{"id": "a"}, {"id": "b"}]}},
            "@ondc/org/item_quantity": {"count": 3},
            "a~b": 1,
            "": {"x": 2},
        });
        for path in [
            "",
            "/message",
            "/message/order/items/1/id",
            "/message/order/items/01/id",
            "/message/order/items/+1",
            "/message/order/items/2",
            "/message/order/items/x",
            "/@ondc~1org~1item_quantity/count",
            "/a~0b",
            "//x",
            "/missing/deeper",
            "no-slash",
        ] {
            assert_eq!(doc.at(path), doc.pointer(path), "{path}");
        }
    }

    #[test]
    fn an_object_keeps_its_fields_in_order() {
        let made = object([("b", json!(1)), ("a", json!({"c": [true]}))]);
        assert_eq!(made, json!({"b": 1, "a": {"c": [true]}}));
        assert_eq!(made.to_string(), r#"{"b":1,"a":{"c":[true]}}"#);
    }
}
