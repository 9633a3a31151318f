//! `bedrock_gate_sign_ins_total{issuer, result}`: exchanges of an ID token for a key at
//! `POST /_gate/v1/credentials`, by the configured issuer's name (`(none)` when the
//! token names no trusted issuer) and a result from a fixed list.

use super::labels::LabelSet;
use super::{Metrics, NONE};

/// How one sign-in ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SignInResult {
    /// A key was issued.
    Ok,
    /// No token, or one that did not verify (issuer, signature, audience, time, claims).
    InvalidToken,
    /// None of the user's groups maps to a team (and no `oidc.default_team`), or the
    /// mapped team does not exist.
    NoTeam,
    /// The user could not be created or moved as the token names them (the user name
    /// is not one the proxy accepts).
    InvalidUser,
    /// The issuer's discovery document or keys could not be fetched.
    IssuerUnavailable,
    /// The database did not answer, or failed.
    StoreUnavailable,
}

impl SignInResult {
    /// Every result, for series shown at 0 before the first sign-in.
    pub(crate) const ALL: [SignInResult; 6] = [
        Self::Ok,
        Self::InvalidToken,
        Self::NoTeam,
        Self::InvalidUser,
        Self::IssuerUnavailable,
        Self::StoreUnavailable,
    ];

    /// The `result` label.
    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::InvalidToken => "invalid_token",
            Self::NoTeam => "no_team",
            Self::InvalidUser => "invalid_user",
            Self::IssuerUnavailable => "issuer_unavailable",
            Self::StoreUnavailable => "store_unavailable",
        }
    }
}

/// Label names of the sign-in counter.
const SIGN_IN_LABELS: [&str; 2] = ["issuer", "result"];

impl Metrics {
    /// Counts one sign-in with `issuer` (a configured issuer's name, or `None` when the
    /// token named none that is trusted).
    pub(crate) fn sign_in(&self, issuer: Option<&str>, result: SignInResult) {
        self.families
            .sign_ins
            .get_or_create(&LabelSet::of(
                &SIGN_IN_LABELS,
                &[issuer.unwrap_or(NONE), result.as_str()],
            ))
            .inc();
    }

    /// Shows every result of each configured issuer at 0 (so that rates and alerts
    /// have a series before the first sign-in).
    pub(crate) fn sign_in_issuers<'a>(&self, issuers: impl IntoIterator<Item = &'a str>) {
        for issuer in issuers {
            for result in SignInResult::ALL {
                let _series = self
                    .families
                    .sign_ins
                    .get_or_create(&LabelSet::of(&SIGN_IN_LABELS, &[issuer, result.as_str()]));
            }
        }
    }
}
