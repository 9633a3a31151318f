//! Domain values shared by every layer, each defined once: the typed forms of what the
//! database stores as text (language, block kind, key status, audit operation, usage
//! source, why a call was not sent or was refused, why a response ended early), limits,
//! the acting identity, the domain events, and a day's usage summary.
//!
//! This is a leaf module: it imports nothing from the rest of the crate, so the store,
//! the quota engine, the service layer and the front ends can all depend on it.

mod actor;
mod admin_operation;
mod audit;
mod block;
mod dashboard_role;
mod day_summary;
mod ended_early;
mod event;
mod iam_principal;
mod key_status;
mod language;
mod limits;
mod limits_source;
pub(crate) mod money;
mod not_sent;
mod rate_limit;
mod refused;
mod token_scope;
mod usage_source;
mod user_origin;

pub use actor::Actor;
pub use admin_operation::AdminOperation;
pub use audit::AuditOperation;
pub use block::BlockKind;
pub(crate) use dashboard_role::DashboardRole;
pub use day_summary::{DaySummary, ResetByHand, UsageSums};
pub use ended_early::EndedEarly;
pub use event::{DomainEvent, EventKind, LimitSubject, NewEvent};
pub use iam_principal::IamPrincipalKind;
pub use key_status::KeyStatus;
pub use language::Language;
pub use limits::{Limits, LimitsUpdate, MAX_BUDGET_USD, MAX_REQUESTS};
pub use limits_source::LimitsSource;
pub use not_sent::NotSent;
pub use rate_limit::RateLimit;
pub use refused::Refused;
pub use token_scope::TokenScope;
pub use usage_source::UsageSource;
pub use user_origin::UserOrigin;

/// A stored text that is not one of an enum's values.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not a valid {what}")]
pub struct UnknownValue {
    /// Which type was parsed.
    pub(crate) what: &'static str,
    /// The text found.
    pub(crate) value: String,
}

/// Implements `as_str`, `FromStr`, `TryFrom<String>`, `Display`, serde, the OpenAPI
/// schema (utoipa) and sqlx's
/// `Type`/`Encode`/`Decode` (as text, on every engine) for a field-less enum, from one
/// table of (variant, stored text).
macro_rules! text_enum {
    ($ty:ident, $what:literal, { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $ty {
            /// Every value, in declaration order (for tests that cover each).
            #[cfg(test)]
            pub(crate) const ALL: &'static [$ty] = &[$($ty::$variant),+];

            /// The stored (and serialised) text.
            pub(crate) const fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $text),+
                }
            }
        }

        impl std::str::FromStr for $ty {
            type Err = $crate::domain::UnknownValue;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($ty::$variant),)+
                    _ => Err($crate::domain::UnknownValue { what: $what, value: s.to_string() }),
                }
            }
        }

        impl TryFrom<String> for $ty {
            type Error = $crate::domain::UnknownValue;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                s.parse()
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<DB: sqlx::Database> sqlx::Type<DB> for $ty
        where
            str: sqlx::Type<DB>,
        {
            fn type_info() -> DB::TypeInfo {
                <str as sqlx::Type<DB>>::type_info()
            }
            fn compatible(ty: &DB::TypeInfo) -> bool {
                <str as sqlx::Type<DB>>::compatible(ty)
            }
        }

        impl<'r, DB: sqlx::Database> sqlx::Decode<'r, DB> for $ty
        where
            &'r str: sqlx::Decode<'r, DB>,
        {
            fn decode(
                value: <DB as sqlx::Database>::ValueRef<'r>,
            ) -> Result<Self, sqlx::error::BoxDynError> {
                let s = <&'r str as sqlx::Decode<'r, DB>>::decode(value)?;
                Ok(s.parse::<$ty>()?)
            }
        }

        impl<'q, DB: sqlx::Database> sqlx::Encode<'q, DB> for $ty
        where
            &'q str: sqlx::Encode<'q, DB>,
        {
            fn encode_by_ref(
                &self,
                buf: &mut <DB as sqlx::Database>::ArgumentBuffer<'q>,
            ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
                let text: &'q str = self.as_str();
                <&'q str as sqlx::Encode<'q, DB>>::encode_by_ref(&text, buf)
            }
        }

        impl utoipa::PartialSchema for $ty {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .enum_values(Some([$($text),+]))
                    .into()
            }
        }

        impl utoipa::ToSchema for $ty {
            fn name() -> std::borrow::Cow<'static, str> {
                std::borrow::Cow::Borrowed(stringify!($ty))
            }
        }

        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}
pub(crate) use text_enum;

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip<T>(all: &[T])
    where
        T: Copy + std::fmt::Debug + PartialEq + std::str::FromStr + std::fmt::Display,
        <T as std::str::FromStr>::Err: std::fmt::Debug,
    {
        for v in all {
            assert_eq!(v.to_string().parse::<T>().unwrap(), *v);
        }
    }

    #[test]
    fn every_stored_text_parses_back() {
        round_trip(Language::ALL);
        round_trip(BlockKind::ALL);
        round_trip(KeyStatus::ALL);
        round_trip(AuditOperation::ALL);
        round_trip(UsageSource::ALL);
        round_trip(AdminOperation::ALL);
        round_trip(EventKind::ALL);
        round_trip(NotSent::ALL);
        round_trip(Refused::ALL);
        round_trip(EndedEarly::ALL);
        round_trip(LimitsSource::ALL);
        round_trip(TokenScope::ALL);
        assert!("spanish".parse::<Language>().is_err());
        assert_eq!(
            "x".parse::<BlockKind>().unwrap_err().to_string(),
            "`x` is not a valid block kind"
        );
    }

    #[test]
    fn serde_uses_the_stored_text() {
        assert_eq!(
            serde_json::to_string(&BlockKind::Automatic).unwrap(),
            "\"automatic\""
        );
        let l: Language = serde_json::from_str("\"es\"").unwrap();
        assert_eq!(l, Language::Es);
        assert!(serde_json::from_str::<KeyStatus>("\"gone\"").is_err());
    }
}
