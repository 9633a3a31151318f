//! The one filter form supported (RFC 7644 §3.4.2.2): `attribute eq value`, one
//! comparison, the value a JSON string, number, boolean or null. It serves `filter=` on
//! lists (`userName eq "alice"`) and value paths in PATCH (`emails[type eq "work"]`).
//! Anything else (other operators, `and`/`or`/`not`, grouping) is `invalidFilter`.

use serde_json::Value;

/// One `attribute eq value` comparison.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Eq {
    /// The attribute, as written (compared without case by the caller).
    pub(crate) attribute: String,
    /// The value compared with.
    pub(crate) value: Value,
}

impl Eq {
    /// Whether `candidate` equals this comparison's value (strings without case, as
    /// for every attribute supported here but `id` and `externalId`, which are exact).
    pub(crate) fn matches(&self, candidate: &Value) -> bool {
        let exact =
            ["id", "externalid", "value"].contains(&self.attribute.to_ascii_lowercase().as_str());
        match (&self.value, candidate) {
            (Value::String(a), Value::String(b)) if exact => a == b,
            (Value::String(a), Value::String(b)) => a.eq_ignore_ascii_case(b),
            (a, b) => a == b,
        }
    }
}

/// Parses `attribute eq value`.
pub(crate) fn parse(filter: &str) -> Result<Eq, String> {
    let f = filter.trim();
    let (attribute, rest) = f
        .split_once(char::is_whitespace)
        .ok_or_else(|| format!("filter `{f}` is not of the form `attribute eq \"value\"`"))?;
    let rest = rest.trim_start();
    let (op, value) = rest
        .split_once(char::is_whitespace)
        .ok_or_else(|| format!("filter `{f}` is not of the form `attribute eq \"value\"`"))?;
    if !op.eq_ignore_ascii_case("eq") {
        return Err(format!(
            "filter operator `{op}` is not supported; only `eq` is"
        ));
    }
    let valid_attr = !attribute.is_empty()
        && attribute
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '_' | '-' | '$'));
    if !valid_attr {
        return Err(format!("`{attribute}` is not an attribute name"));
    }
    let value: Value = serde_json::from_str(value.trim()).map_err(|_| {
        format!(
            "filter `{f}`: the value must be one JSON string, number, boolean or null \
             (and/or/not and grouping are not supported)"
        )
    })?;
    if value.is_array() || value.is_object() {
        return Err(format!("filter `{f}`: the value must be a single value"));
    }
    Ok(Eq {
        attribute: attribute.to_string(),
        value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_one_equality() {
        let e = parse(r#"userName eq "alice@example.com""#).unwrap();
        assert_eq!(e.attribute, "userName");
        assert_eq!(e.value, Value::String("alice@example.com".into()));
        assert!(e.matches(&Value::String("ALICE@example.com".into())));
        let e = parse(r#"externalId eq "AbC""#).unwrap();
        assert!(!e.matches(&Value::String("abc".into())));
        assert_eq!(parse("active eq true").unwrap().value, Value::Bool(true));
    }

    #[test]
    fn refuses_what_is_not_supported() {
        for f in [
            r#"userName co "a""#,
            r#"userName eq "a" and active eq true"#,
            r#"(userName eq "a")"#,
            "userName",
            r#"userName eq"#,
            r#"userName eq unquoted"#,
            r#"userName eq ["a"]"#,
        ] {
            assert!(parse(f).is_err(), "{f}");
        }
    }
}
