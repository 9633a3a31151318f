//! A serde visitor that reads only the top-level members of a JSON body that can hold usage
//! ([`USAGE_MEMBERS`]) and skips every other member (the generated text) without building a
//! tree or allocating for its name.

use serde::Deserialize;
use serde_json::Value;

/// Top-level body members that [`reported_body_usage`](super::spellings::reported_body_usage) reads.
pub(super) const USAGE_MEMBERS: [&str; 7] = [
    "amazon-bedrock-invocationMetrics",
    "usage",
    "prompt_token_count",
    "generation_token_count",
    "inputTextTokenCount",
    "results",
    "totalOutputTextTokenCount",
];

/// A JSON object's [`USAGE_MEMBERS`], parsed; every other member is skipped unparsed.
pub(super) struct UsageMembers(pub(super) serde_json::Map<String, Value>);

impl<'de> Deserialize<'de> for UsageMembers {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Members;
        impl<'de> serde::de::Visitor<'de> for Members {
            type Value = UsageMembers;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<UsageMembers, A::Error> {
                let mut out = serde_json::Map::new();
                while let Some(key) = map.next_key::<MemberName>()? {
                    match key.0 {
                        Some(name) => {
                            out.insert(name.to_owned(), map.next_value::<Value>()?);
                        }
                        None => {
                            map.next_value::<serde::de::IgnoredAny>()?;
                        }
                    }
                }
                Ok(UsageMembers(out))
            }
        }
        d.deserialize_map(Members)
    }
}

/// A member name: which of [`USAGE_MEMBERS`] it is, if any (no allocation either way).
struct MemberName(Option<&'static str>);

impl<'de> Deserialize<'de> for MemberName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Name;
        impl serde::de::Visitor<'_> for Name {
            type Value = MemberName;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a member name")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<MemberName, E> {
                Ok(MemberName(USAGE_MEMBERS.iter().copied().find(|m| *m == v)))
            }
        }
        d.deserialize_str(Name)
    }
}
