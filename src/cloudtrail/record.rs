//! One CloudTrail record as it is stored (only the fields the backstop reads; the rest
//! is skipped while parsing) and its classification: a direct Bedrock runtime call, or
//! something the backstop ignores.

use serde::Deserialize;

/// The event source of Bedrock's API calls.
pub(crate) const BEDROCK_SOURCE: &str = "bedrock.amazonaws.com";

/// The runtime operations that count as calls.
pub(crate) const RUNTIME_EVENTS: [&str; 4] = [
    "InvokeModel",
    "InvokeModelWithResponseStream",
    "Converse",
    "ConverseStream",
];

/// A CloudTrail record: the fields the backstop reads.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RawRecord {
    /// Unique per event; what makes ingestion idempotent.
    #[serde(rename = "eventID")]
    pub(crate) event_id: Option<String>,
    /// When the call was made (RFC 3339, UTC).
    pub(crate) event_time: Option<String>,
    /// `bedrock.amazonaws.com` for Bedrock.
    pub(crate) event_source: Option<String>,
    /// The operation.
    pub(crate) event_name: Option<String>,
    /// The region called.
    pub(crate) aws_region: Option<String>,
    /// The caller's address.
    #[serde(rename = "sourceIPAddress")]
    pub(crate) source_ip_address: Option<String>,
    /// The caller's User-Agent.
    pub(crate) user_agent: Option<String>,
    /// Set when the call failed.
    pub(crate) error_code: Option<String>,
    /// The AWS request id.
    #[serde(rename = "requestID")]
    pub(crate) request_id: Option<String>,
    /// `modelId` for the runtime calls.
    pub(crate) request_parameters: Option<RequestParameters>,
    /// Who called.
    pub(crate) user_identity: Option<UserIdentity>,
    /// `callWithBearerToken` for calls with a Bedrock API key.
    pub(crate) additional_event_data: Option<AdditionalData>,
}

/// `requestParameters`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct RequestParameters {
    /// The model, inference profile or ARN.
    pub(crate) model_id: Option<String>,
}

/// `additionalEventData`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct AdditionalData {
    /// True for calls authenticated with a Bedrock API key.
    pub(crate) call_with_bearer_token: Option<bool>,
}

/// `userIdentity`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct UserIdentity {
    /// `IAMUser`, `AssumedRole`, `Root`, ...
    #[serde(rename = "type")]
    pub(crate) kind: Option<String>,
    /// The IAM user's name (`IAMUser`).
    pub(crate) user_name: Option<String>,
    /// The principal's ARN.
    pub(crate) arn: Option<String>,
    /// The access key used.
    pub(crate) access_key_id: Option<String>,
    /// For assumed roles: the role behind the session.
    pub(crate) session_context: Option<SessionContext>,
}

/// `userIdentity.sessionContext`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct SessionContext {
    /// The role the session was made from.
    pub(crate) session_issuer: Option<SessionIssuer>,
}

/// `userIdentity.sessionContext.sessionIssuer`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct SessionIssuer {
    /// The role's ARN.
    pub(crate) arn: Option<String>,
}

/// Who made a direct call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Principal {
    /// An IAM user, by name.
    IamUser(String),
    /// An assumed role's session, by session name.
    RoleSession(String),
    /// Anyone else (root, federated users, services).
    Other,
}

/// A Bedrock runtime call made directly to AWS, as CloudTrail recorded it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirectCall {
    /// The CloudTrail `eventID`.
    pub event_id: String,
    /// When (epoch ms).
    pub at_ms: i64,
    /// `InvokeModel`, `Converse`, ...
    pub operation: String,
    /// `requestParameters.modelId` (`(unknown)` when absent).
    pub model_id: String,
    /// `errorCode` of a failed call.
    pub error_code: Option<String>,
    /// Who.
    pub principal: Principal,
    /// `userIdentity.arn`.
    pub arn: Option<String>,
    /// The role behind an assumed-role session.
    pub issuer_arn: Option<String>,
    /// The access key used (empty when none).
    pub access_key_id: String,
    /// The caller's address.
    pub source_ip: String,
    /// The caller's User-Agent.
    pub user_agent: Option<String>,
    /// The region called.
    pub region: String,
    /// The AWS request id.
    pub request_id: Option<String>,
    /// Whether the call used a Bedrock API key.
    pub bearer: bool,
}

/// What one record is to the backstop.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seen {
    /// A Bedrock runtime call.
    Call(Box<DirectCall>),
    /// Another service or another Bedrock operation.
    Other,
    /// A Bedrock runtime record without an `eventID` or a valid `eventTime`.
    Invalid(String),
}

/// The session name of an assumed-role ARN
/// (`arn:aws:sts::123:assumed-role/Role/session` gives `session`).
fn session_name(arn: &str) -> Option<&str> {
    let rest = arn.split_once(":assumed-role/")?.1;
    rest.split_once('/')
        .map(|(_, s)| s)
        .filter(|s| !s.is_empty())
}

impl RawRecord {
    /// Classifies the record.
    pub fn classify(self) -> Seen {
        let runtime = self.event_source.as_deref() == Some(BEDROCK_SOURCE)
            && self
                .event_name
                .as_deref()
                .is_some_and(|n| RUNTIME_EVENTS.contains(&n));
        if !runtime {
            return Seen::Other;
        }
        let Some(event_id) = self.event_id.filter(|id| !id.is_empty()) else {
            return Seen::Invalid("a Bedrock record has no eventID".into());
        };
        let time = self.event_time.unwrap_or_default();
        let Ok(at) = chrono::DateTime::parse_from_rfc3339(&time) else {
            return Seen::Invalid(format!(
                "event {event_id} has no valid eventTime (`{time}`)"
            ));
        };
        let identity = self.user_identity.unwrap_or_default();
        let arn = identity.arn;
        let principal = match identity.kind.as_deref() {
            Some("IAMUser") => identity
                .user_name
                .map_or(Principal::Other, Principal::IamUser),
            Some("AssumedRole") => arn
                .as_deref()
                .and_then(session_name)
                .map_or(Principal::Other, |s| Principal::RoleSession(s.to_string())),
            _ => Principal::Other,
        };
        let issuer_arn = identity
            .session_context
            .and_then(|c| c.session_issuer)
            .and_then(|i| i.arn);
        Seen::Call(Box::new(DirectCall {
            event_id,
            at_ms: at.timestamp_millis(),
            operation: self.event_name.unwrap_or_default(),
            model_id: self
                .request_parameters
                .and_then(|p| p.model_id)
                .unwrap_or_else(|| "(unknown)".into()),
            error_code: self.error_code.filter(|c| !c.is_empty()),
            principal,
            arn,
            issuer_arn,
            access_key_id: identity.access_key_id.unwrap_or_default(),
            source_ip: self.source_ip_address.unwrap_or_default(),
            user_agent: self.user_agent,
            region: self.aws_region.unwrap_or_default(),
            request_id: self.request_id,
            bearer: self
                .additional_event_data
                .and_then(|d| d.call_with_bearer_token)
                .unwrap_or(false),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Seen {
        serde_json::from_str::<RawRecord>(json).unwrap().classify()
    }

    #[test]
    fn an_iam_user_invoke_is_a_call() {
        let seen = parse(
            r#"{"eventVersion":"1.09","eventID":"e-1","eventTime":"2026-11-27T10:00:00Z",
            "eventSource":"bedrock.amazonaws.com","eventName":"InvokeModel","awsRegion":"eu-west-1",
            "sourceIPAddress":"10.0.0.1","userAgent":"boto3","requestID":"r-1","readOnly":true,
            "requestParameters":{"modelId":"anthropic.claude-3-haiku-20240307-v1:0"},
            "responseElements":null,
            "userIdentity":{"type":"IAMUser","userName":"alice-iam","arn":"arn:aws:iam::1:user/alice-iam",
            "accessKeyId":"AKIAEXAMPLE"},"additionalEventData":{"callWithBearerToken":true}}"#,
        );
        let Seen::Call(c) = seen else {
            panic!("{seen:?}")
        };
        assert_eq!(c.event_id, "e-1");
        assert_eq!(c.at_ms, 1_795_773_600_000);
        assert_eq!(c.principal, Principal::IamUser("alice-iam".into()));
        assert_eq!(c.model_id, "anthropic.claude-3-haiku-20240307-v1:0");
        assert_eq!(c.access_key_id, "AKIAEXAMPLE");
        assert!(c.bearer);
        assert_eq!(c.error_code, None);
    }

    #[test]
    fn an_assumed_role_session_is_named_and_errors_kept() {
        let seen = parse(
            r#"{"eventID":"e-2","eventTime":"2026-11-27T10:00:00.123+01:00",
            "eventSource":"bedrock.amazonaws.com","eventName":"ConverseStream","errorCode":"AccessDenied",
            "userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::1:assumed-role/Dev/bob@corp",
            "sessionContext":{"sessionIssuer":{"type":"Role","arn":"arn:aws:iam::1:role/Dev"}}}}"#,
        );
        let Seen::Call(c) = seen else {
            panic!("{seen:?}")
        };
        assert_eq!(c.principal, Principal::RoleSession("bob@corp".into()));
        assert_eq!(c.issuer_arn.as_deref(), Some("arn:aws:iam::1:role/Dev"));
        assert_eq!(c.error_code.as_deref(), Some("AccessDenied"));
        assert_eq!(c.at_ms, 1_795_770_000_123);
        assert_eq!(c.model_id, "(unknown)");
    }

    #[test]
    fn other_services_and_operations_are_not_calls() {
        assert_eq!(
            parse(r#"{"eventID":"x","eventSource":"s3.amazonaws.com","eventName":"InvokeModel"}"#),
            Seen::Other
        );
        assert_eq!(
            parse(
                r#"{"eventID":"x","eventSource":"bedrock.amazonaws.com","eventName":"ListFoundationModels"}"#
            ),
            Seen::Other
        );
        assert!(matches!(
            parse(r#"{"eventSource":"bedrock.amazonaws.com","eventName":"Converse"}"#),
            Seen::Invalid(_)
        ));
        assert!(matches!(
            parse(
                r#"{"eventID":"x","eventTime":"yesterday","eventSource":"bedrock.amazonaws.com","eventName":"Converse"}"#
            ),
            Seen::Invalid(_)
        ));
    }
}
