//! A short-term limit override ([`RateLimit`]): a number, or explicitly unlimited. A
//! user or team without an override (`None` where it is held) takes the configured
//! default (`ratelimit.*`).
//!
//! Stored as one integer column: `NULL` no override, `-1` unlimited, `n >= 0` at most
//! `n`; serialised as the number or the text `"unlimited"`.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The stored value that means "unlimited".
const UNLIMITED: i64 = -1;

/// A requests-per-minute, tokens-per-minute or concurrent-calls override.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RateLimit {
    /// No limit, whatever the configured default says.
    Unlimited,
    /// At most this many (0 allows none).
    Max(u64),
}

impl RateLimit {
    /// The stored integer.
    pub(crate) fn stored(self) -> i64 {
        match self {
            Self::Unlimited => UNLIMITED,
            Self::Max(n) => i64::try_from(n).unwrap_or(i64::MAX),
        }
    }

    /// From the stored integer: `-1` unlimited, `n >= 0` a limit.
    pub(crate) fn from_stored(v: i64) -> Result<Self, String> {
        match v {
            UNLIMITED => Ok(Self::Unlimited),
            n if n >= 0 => Ok(Self::Max(n.unsigned_abs())),
            n => Err(format!("{n} is not a rate limit (-1 or a count)")),
        }
    }

    /// The limit, `None` when unlimited.
    pub fn max(self) -> Option<u64> {
        match self {
            Self::Unlimited => None,
            Self::Max(n) => Some(n),
        }
    }
}

impl std::fmt::Display for RateLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unlimited => f.write_str("unlimited"),
            Self::Max(n) => write!(f, "{n}"),
        }
    }
}

impl Serialize for RateLimit {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Unlimited => s.serialize_str("unlimited"),
            Self::Max(n) => s.serialize_u64(*n),
        }
    }
}

impl<'de> Deserialize<'de> for RateLimit {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            Count(u64),
            Text(String),
        }
        match Either::deserialize(d) {
            Ok(Either::Count(n)) => Ok(Self::Max(n)),
            Ok(Either::Text(t)) if t == "unlimited" => Ok(Self::Unlimited),
            _ => Err(serde::de::Error::custom(
                "a rate limit is a whole number from 0, or \"unlimited\"",
            )),
        }
    }
}

impl<DB: sqlx::Database> sqlx::Type<DB> for RateLimit
where
    i64: sqlx::Type<DB>,
{
    fn type_info() -> DB::TypeInfo {
        <i64 as sqlx::Type<DB>>::type_info()
    }
    fn compatible(ty: &DB::TypeInfo) -> bool {
        <i64 as sqlx::Type<DB>>::compatible(ty)
    }
}

impl<'r, DB: sqlx::Database> sqlx::Decode<'r, DB> for RateLimit
where
    i64: sqlx::Decode<'r, DB>,
{
    fn decode(
        value: <DB as sqlx::Database>::ValueRef<'r>,
    ) -> Result<Self, sqlx::error::BoxDynError> {
        let v = <i64 as sqlx::Decode<'r, DB>>::decode(value)?;
        Ok(Self::from_stored(v)?)
    }
}

impl<'q, DB: sqlx::Database> sqlx::Encode<'q, DB> for RateLimit
where
    i64: sqlx::Encode<'q, DB>,
{
    fn encode_by_ref(
        &self,
        buf: &mut <DB as sqlx::Database>::ArgumentBuffer<'q>,
    ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        <i64 as sqlx::Encode<'q, DB>>::encode_by_ref(&self.stored(), buf)
    }
}

impl utoipa::PartialSchema for RateLimit {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
        OneOfBuilder::new()
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .minimum(Some(0)),
            )
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(["unlimited"])),
            )
            .description(Some("A whole number from 0, or \"unlimited\"."))
            .into()
    }
}

impl utoipa::ToSchema for RateLimit {
    fn name() -> std::borrow::Cow<'static, str> {
        std::borrow::Cow::Borrowed("RateLimit")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_and_serialised_forms_round_trip() {
        for v in [RateLimit::Unlimited, RateLimit::Max(0), RateLimit::Max(60)] {
            assert_eq!(RateLimit::from_stored(v.stored()), Ok(v));
            let json = serde_json::to_string(&v).unwrap();
            assert_eq!(serde_json::from_str::<RateLimit>(&json).unwrap(), v);
        }
        assert_eq!(
            serde_json::to_string(&RateLimit::Unlimited).unwrap(),
            "\"unlimited\""
        );
        assert!(RateLimit::from_stored(-2).is_err());
        assert!(serde_json::from_str::<RateLimit>("-3").is_err());
        assert!(serde_json::from_str::<RateLimit>("\"lots\"").is_err());
        assert!(serde_json::from_str::<RateLimit>("1.5").is_err());
    }
}
