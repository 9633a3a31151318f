//! PATCH (RFC 7644 §3.5.2) applied to a resource's JSON document: `add`, `replace` and
//! `remove` (any case), with or without `path`; paths `attr`, `attr.sub`,
//! `attr[sub eq "v"]`, `attr[sub eq "v"].sub`, optionally behind the core or an
//! extension schema URN. The shapes Okta and Entra ID send are covered: a path-less
//! `replace` with `{"active": false}`, dotted keys in a path-less value
//! (`{"name.givenName": "A"}`), `emails[type eq "work"].value` on a user without such
//! an email (added), and `remove` of `members` with a `value` list. The patched document
//! is then read by the same strict parser as a PUT, so a patch can break no rule a PUT
//! keeps; nothing is written unless every operation applies.

use serde_json::{Map, Value};

use super::error::ScimError;
use super::filter::{self, Eq};

/// The PATCH request schema.
pub(crate) const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

#[derive(Clone, Copy, Debug, PartialEq)]
enum Op {
    Add,
    Replace,
    Remove,
}

/// A parsed path.
#[derive(Debug)]
struct Path {
    /// The extension the attribute lives in, if any.
    extension: Option<String>,
    attr: String,
    filter: Option<Eq>,
    sub: Option<String>,
}

/// Applies the PATCH request `body` to `doc`, whose extensions are `extensions`.
pub(crate) fn apply(
    doc: &mut Map<String, Value>,
    body: &Map<String, Value>,
    core: &str,
    extensions: &[&str],
) -> Result<(), ScimError> {
    for key in body.keys() {
        if !["schemas", "Operations"]
            .iter()
            .any(|k| k.eq_ignore_ascii_case(key))
        {
            return Err(ScimError::syntax(format!(
                "unknown attribute `{key}` in a PATCH request"
            )));
        }
    }
    if let Some(s) = get(body, "schemas") {
        let ok = s
            .as_array()
            .is_some_and(|a| a.iter().any(|v| v.as_str() == Some(PATCH_SCHEMA)));
        if !ok {
            return Err(ScimError::syntax(format!(
                "a PATCH request's `schemas` must be [\"{PATCH_SCHEMA}\"]"
            )));
        }
    }
    let ops = get(body, "Operations")
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
        .ok_or_else(|| ScimError::syntax("a PATCH request needs a non-empty `Operations` list"))?;
    for op in ops {
        let op = op
            .as_object()
            .ok_or_else(|| ScimError::syntax("each PATCH operation must be an object"))?;
        for key in op.keys() {
            if !["op", "path", "value"]
                .iter()
                .any(|k| k.eq_ignore_ascii_case(key))
            {
                return Err(ScimError::syntax(format!(
                    "unknown member `{key}` in a PATCH operation"
                )));
            }
        }
        let kind = match get(op, "op")
            .and_then(Value::as_str)
            .map(str::to_ascii_lowercase)
        {
            Some(o) if o == "add" => Op::Add,
            Some(o) if o == "replace" => Op::Replace,
            Some(o) if o == "remove" => Op::Remove,
            _ => {
                return Err(ScimError::syntax(
                    "each PATCH operation's `op` must be add, replace or remove",
                ))
            }
        };
        let value = get(op, "value").cloned();
        match get(op, "path") {
            None => {
                if kind == Op::Remove {
                    return Err(ScimError::Bad {
                        scim_type: "noTarget",
                        detail: "a remove operation needs a `path`".into(),
                    });
                }
                let Some(Value::Object(values)) = value else {
                    return Err(ScimError::value(
                        "an operation without `path` needs an object `value`",
                    ));
                };
                for (k, v) in values {
                    if let Some(ext) = extensions.iter().find(|e| e.eq_ignore_ascii_case(&k)) {
                        let Value::Object(inner) = v else {
                            return Err(ScimError::value(format!("`{k}` must be an object")));
                        };
                        for (ik, iv) in inner {
                            let path = parse_path(&format!("{ext}:{ik}"), core, extensions)?;
                            set(doc, &path, kind, Some(iv))?;
                        }
                        continue;
                    }
                    let path = parse_path(&k, core, extensions)?;
                    set(doc, &path, kind, Some(v))?;
                }
            }
            Some(Value::String(p)) => {
                let path = parse_path(p, core, extensions)?;
                if kind != Op::Remove && value.is_none() {
                    return Err(ScimError::value(format!(
                        "operation on `{p}` needs a `value`"
                    )));
                }
                set(doc, &path, kind, value)?;
            }
            Some(_) => return Err(ScimError::path("`path` must be a string")),
        }
    }
    Ok(())
}

/// The member `key` of `m`, compared without case.
pub(crate) fn get<'a>(m: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    m.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v)
}

/// The name under which `key` is stored in `m` (its existing spelling), or `key`.
fn key_in(m: &Map<String, Value>, key: &str) -> String {
    m.keys()
        .find(|k| k.eq_ignore_ascii_case(key))
        .cloned()
        .unwrap_or_else(|| key.to_string())
}

fn parse_path(raw: &str, core: &str, extensions: &[&str]) -> Result<Path, ScimError> {
    let mut rest = raw.trim();
    let mut extension = None;
    let lower = rest.to_ascii_lowercase();
    if lower.starts_with(&format!("{}:", core.to_ascii_lowercase())) {
        rest = &rest[core.len() + 1..];
    } else if let Some(ext) = extensions
        .iter()
        .find(|e| lower.starts_with(&format!("{}:", e.to_ascii_lowercase())))
    {
        extension = Some(ext.to_string());
        rest = &rest[ext.len() + 1..];
    } else if lower.starts_with("urn:") {
        return Err(ScimError::path(format!(
            "path `{raw}` names an unknown schema"
        )));
    }
    let (attr, filter, sub) = match rest.split_once('[') {
        Some((attr, tail)) => {
            let (expr, after) = tail
                .split_once(']')
                .ok_or_else(|| ScimError::path(format!("path `{raw}` has no closing `]`")))?;
            let f = filter::parse(expr).map_err(ScimError::filter)?;
            let sub = match after {
                "" => None,
                s => Some(
                    s.strip_prefix('.')
                        .filter(|s| !s.is_empty())
                        .ok_or_else(|| ScimError::path(format!("path `{raw}` is not valid")))?
                        .to_string(),
                ),
            };
            (attr.to_string(), Some(f), sub)
        }
        None => match rest.split_once('.') {
            Some((a, s)) => (a.to_string(), None, Some(s.to_string())),
            None => (rest.to_string(), None, None),
        },
    };
    let name_ok = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '$' || c == '_')
    };
    if !name_ok(&attr) || sub.as_deref().is_some_and(|s| !name_ok(s)) {
        return Err(ScimError::path(format!("path `{raw}` is not valid")));
    }
    Ok(Path {
        extension,
        attr,
        filter,
        sub,
    })
}

/// Applies one operation at `path`.
fn set(
    doc: &mut Map<String, Value>,
    path: &Path,
    op: Op,
    value: Option<Value>,
) -> Result<(), ScimError> {
    let target: &mut Map<String, Value> = match &path.extension {
        Some(ext) => {
            let k = key_in(doc, ext);
            let slot = doc.entry(k).or_insert_with(|| Value::Object(Map::new()));
            slot.as_object_mut()
                .ok_or_else(|| ScimError::value(format!("`{ext}` must be an object")))?
        }
        None => doc,
    };
    let key = key_in(target, &path.attr);
    match (&path.filter, &path.sub) {
        (None, None) => match op {
            Op::Remove => {
                match (target.get_mut(&key), value) {
                    // Entra ID: remove `members` with the members to remove as `value`.
                    (Some(Value::Array(items)), Some(Value::Array(gone))) => {
                        items.retain(|i| !gone.iter().any(|g| same_value(i, g)));
                    }
                    _ => {
                        target.remove(&key);
                    }
                }
            }
            Op::Add | Op::Replace => {
                let value = value.unwrap_or(Value::Null);
                match (target.get_mut(&key), value, op) {
                    (Some(Value::Array(items)), Value::Array(new), Op::Add) => {
                        for n in new {
                            if !items.iter().any(|i| same_value(i, &n)) {
                                items.push(n);
                            }
                        }
                    }
                    (Some(Value::Array(items)), n @ Value::Object(_), Op::Add) => {
                        if !items.iter().any(|i| same_value(i, &n)) {
                            items.push(n);
                        }
                    }
                    (Some(Value::Object(old)), Value::Object(new), _) => {
                        for (k, v) in new {
                            let k = key_in(old, &k);
                            old.insert(k, v);
                        }
                    }
                    (_, v, _) => {
                        target.insert(key, v);
                    }
                }
            }
        },
        (None, Some(sub)) => {
            let slot = target
                .entry(key.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            let obj = slot
                .as_object_mut()
                .ok_or_else(|| ScimError::path(format!("`{key}` has no sub-attributes")))?;
            let sk = key_in(obj, sub);
            match op {
                Op::Remove => {
                    obj.remove(&sk);
                }
                _ => {
                    obj.insert(sk, value.unwrap_or(Value::Null));
                }
            }
        }
        (Some(f), sub) => {
            let slot = target
                .entry(key.clone())
                .or_insert_with(|| Value::Array(Vec::new()));
            let items = slot
                .as_array_mut()
                .ok_or_else(|| ScimError::path(format!("`{key}` is not multi-valued")))?;
            let hit = |i: &Value| {
                i.as_object()
                    .and_then(|o| get(o, &f.attribute))
                    .is_some_and(|v| f.matches(v))
            };
            match (op, sub) {
                (Op::Remove, None) => items.retain(|i| !hit(i)),
                (Op::Remove, Some(sub)) => {
                    for i in items.iter_mut().filter(|i| hit(i)) {
                        if let Some(o) = i.as_object_mut() {
                            let sk = key_in(o, sub);
                            o.remove(&sk);
                        }
                    }
                }
                (_, sub) => {
                    let value = value.unwrap_or(Value::Null);
                    let mut any = false;
                    for i in items.iter_mut().filter(|i| hit(i)) {
                        any = true;
                        match (sub, i.as_object_mut()) {
                            (Some(sub), Some(o)) => {
                                let sk = key_in(o, sub);
                                o.insert(sk, value.clone());
                            }
                            _ => *i = value.clone(),
                        }
                    }
                    if !any {
                        // No such element yet: add one carrying the filter's value.
                        let mut o = Map::new();
                        o.insert(f.attribute.clone(), f.value.clone());
                        match (sub, value) {
                            (Some(sub), v) => {
                                o.insert(sub.clone(), v);
                            }
                            (None, Value::Object(m)) => o.extend(m),
                            (None, _) => {
                                return Err(ScimError::value(format!(
                                    "a value for `{key}[...]` must be an object"
                                )))
                            }
                        }
                        items.push(Value::Object(o));
                    }
                }
            }
        }
    }
    Ok(())
}

/// Whether two elements of a multi-valued attribute are the same (by `value`).
fn same_value(a: &Value, b: &Value) -> bool {
    match (
        a.as_object().and_then(|o| get(o, "value")),
        b.as_object().and_then(|o| get(o, "value")),
    ) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const CORE: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
    const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

    fn patched(doc: Value, ops: Value) -> Result<Value, ScimError> {
        let mut d = doc.as_object().unwrap().clone();
        let body = json!({"schemas": [PATCH_SCHEMA], "Operations": ops});
        apply(&mut d, body.as_object().unwrap(), CORE, &[ENT])?;
        Ok(Value::Object(d))
    }

    #[test]
    fn okta_and_entra_deactivation_shapes() {
        let doc = json!({"userName": "a", "active": true});
        let okta = patched(
            doc.clone(),
            json!([{"op": "replace", "value": {"active": false}}]),
        );
        assert_eq!(okta.unwrap()["active"], json!(false));
        let entra = patched(
            doc,
            json!([{"op": "Replace", "path": "active", "value": "False"}]),
        );
        assert_eq!(entra.unwrap()["active"], json!("False"));
    }

    #[test]
    fn value_paths_and_dotted_keys() {
        let doc = json!({"userName": "a", "name": {"formatted": "A"}});
        let d = patched(
            doc,
            json!([
                {"op": "replace", "path": "emails[type eq \"work\"].value", "value": "a@x.io"},
                {"op": "replace", "value": {"name.givenName": "Ann"}},
                {"op": "add", "path": format!("{ENT}:department"), "value": "R&D"},
            ]),
        )
        .unwrap();
        assert_eq!(d["emails"], json!([{"type": "work", "value": "a@x.io"}]));
        assert_eq!(d["name"]["givenName"], json!("Ann"));
        assert_eq!(d[ENT]["department"], json!("R&D"));
    }

    #[test]
    fn members_are_added_and_removed() {
        let doc = json!({"displayName": "g", "members": [{"value": "1"}]});
        let d = patched(
            doc,
            json!([
                {"op": "add", "path": "members", "value": [{"value": "2"}, {"value": "1"}]},
                {"op": "remove", "path": "members[value eq \"1\"]"},
            ]),
        )
        .unwrap();
        assert_eq!(d["members"], json!([{"value": "2"}]));
        let d = patched(
            d,
            json!([{"op": "Remove", "path": "members", "value": [{"value": "2"}]}]),
        )
        .unwrap();
        assert_eq!(d["members"], json!([]));
    }

    #[test]
    fn bad_requests_are_refused() {
        let doc = json!({"userName": "a"});
        for ops in [
            json!([{"op": "move", "path": "active", "value": true}]),
            json!([{"op": "remove"}]),
            json!([{"op": "replace", "path": "urn:x:y:active", "value": true}]),
            json!([{"op": "replace", "path": "emails[type co \"w\"].value", "value": "x"}]),
            json!([{"op": "replace", "value": true}]),
            json!([{"op": "add", "path": "active", "value": true, "extra": 1}]),
            json!([]),
        ] {
            assert!(patched(doc.clone(), ops.clone()).is_err(), "{ops}");
        }
    }
}
