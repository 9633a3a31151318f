//! The command line's grammar (clap derive). Handlers live in the sibling modules.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

pub(crate) use super::limit_args::{Limit, LimitArgs, RateArg};
use super::values;
use crate::domain::Language;
use crate::ops::blocking::BlockDuration;

/// bedrock-gate: a quota-enforcing reverse proxy for the AWS Bedrock runtime.
#[derive(Debug, Parser)]
#[command(name = "bedrock-gate", version = crate::VERSION, about, propagate_version = true)]
pub(crate) struct Cli {
    /// Configuration file (else $BEDROCK_GATE_CONFIG, else
    /// /etc/bedrock-gate/bedrock-gate.toml if it exists, else built-in defaults).
    #[arg(long, global = true, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// Output format: text for people, json for exactly one JSON document on stdout.
    #[arg(long, global = true, value_enum, default_value_t = Output::Text,
          value_name = "text|json", hide_possible_values = true)]
    pub(crate) output: Output,
    /// Who the audit rows name for this command's changes (`cli:NAME`; 1 to 64
    /// letters, digits, `.`, `_`, `-`, `@`), for automation; give it before the
    /// command. Default: the login ($SUDO_USER, $USER, $LOGNAME), else the process's
    /// real user, else `uid:N`.
    #[arg(long, value_name = "NAME", value_parser = crate::domain::Actor::check_name)]
    pub(crate) actor: Option<String>,
    /// What to do.
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Shapes of `credentials`' output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum CredentialFormat {
    /// AWS credential_process: Version, AccessKeyId, SecretAccessKey, Expiration.
    Process,
    /// Claude Code's awsCredentialExport: {"Credentials": {AccessKeyId, SecretAccessKey,
    /// SessionToken, Expiration}}.
    Claude,
}

/// Output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Output {
    /// For people.
    Text,
    /// Exactly one JSON document on stdout.
    Json,
}

/// Commands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run the proxy and the admin listener until SIGTERM/SIGINT.
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Copy the SQLite database online (`VACUUM INTO`) into FILE, and its master key
    /// into FILE.key, both mode 0600. For MySQL see docs/OPERATIONS.md.
    Backup {
        /// Where the copy goes; it must not exist.
        #[arg(long, value_name = "FILE")]
        to: PathBuf,
    },
    /// Ask the running service's admin listener for /healthz (exit 0 on 200, else 1);
    /// the container's HEALTHCHECK.
    Health {
        /// Ask /readyz instead: the database answers and upstream credentials are loaded.
        #[arg(long)]
        ready: bool,
        /// The admin listener's address (default: admin.listen, loopback if it listens
        /// on every interface).
        #[arg(long, value_name = "HOST:PORT")]
        addr: Option<std::net::SocketAddr>,
    },
    /// Teams and their shared limits (`group` is an alias).
    #[command(subcommand, alias = "group")]
    Team(TeamCommand),
    /// Users of the proxy.
    #[command(subcommand)]
    User(UserCommand),
    /// Keys issued to users.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Model prices (USD per 1,000 tokens).
    #[command(subcommand)]
    Pricing(PricingCommand),
    /// Per-request records and totals.
    Usage(UsageArgs),
    /// The usage rollups behind reports and the dashboard.
    #[command(subcommand)]
    Reports(ReportsCommand),
    /// The blocking audit log, newest first.
    Audit {
        /// Only this user's entries.
        #[arg(long)]
        user: Option<String>,
        /// At most this many entries (1-100000).
        #[arg(long, default_value_t = 50, allow_negative_numbers = true, value_parser = values::limit)]
        limit: i64,
    },
    /// The configuration in effect: file, values (secrets masked) and where each came from.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Check the database, upstream credentials, TLS files, SMTP and IAM; say what to fix.
    Doctor,
    /// Run the daily reset now (it also runs by itself at 00:00 in quota.timezone).
    Reset,
    /// CloudTrail records of direct Bedrock calls (the backstop).
    #[command(subcommand)]
    Cloudtrail(CloudtrailCommand),
    /// IAM users, groups, tags and policies for the backstop.
    #[command(subcommand)]
    Iam(IamCommand),
    /// Admin API tokens and the admin audit log.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// TLS certificates for the proxy listener.
    #[command(subcommand)]
    Tls(TlsCommand),
    /// Sign in to a proxy with your company's identity provider (device code), keep
    /// the refresh token owner-only, and optionally write an AWS profile that uses it.
    Login {
        /// The proxy's URL (e.g. https://bedrock-gate.corp.example).
        #[arg(long, value_name = "URL")]
        server: String,
        /// The issuer's name on the proxy, when it trusts more than one.
        #[arg(long, value_name = "NAME")]
        issuer: Option<String>,
        /// Write this profile in ~/.aws/config ($AWS_CONFIG_FILE) with
        /// `credential_process = <this binary> credentials --server URL`.
        #[arg(long, value_name = "NAME")]
        aws_profile: Option<String>,
        /// The region written into the AWS profile.
        #[arg(long, value_name = "REGION", requires = "aws_profile")]
        region: Option<String>,
    },
    /// Print a short-lived key for the proxy (cached, or silently refreshed with the
    /// stored refresh token) as AWS `credential_process` JSON.
    Credentials {
        /// The proxy's URL, as given to `login`.
        #[arg(long, value_name = "URL")]
        server: String,
        /// Print only a bearer token (for AWS_BEARER_TOKEN_BEDROCK).
        #[arg(long, conflicts_with = "format")]
        bearer: bool,
        /// `process`: `{"Version": 1, "AccessKeyId", ...}` for credential_process;
        /// `claude`: `{"Credentials": {...}}` for Claude Code's awsCredentialExport.
        #[arg(long, value_enum, default_value_t = CredentialFormat::Process)]
        format: CredentialFormat,
    },
    /// Forget the stored sign-in (every one without --server) and revoke its refresh
    /// token at the identity provider when it has a revocation endpoint.
    Logout {
        /// The proxy's URL, as given to `login`.
        #[arg(long, value_name = "URL")]
        server: Option<String>,
    },
    /// Print a shell completion script (e.g. `bedrock-gate completions bash`).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the man page, or write one page per command into a directory.
    Man {
        /// Write `bedrock-gate.1`, `bedrock-gate-user.1`, ... into this directory.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
}

/// `cloudtrail ...`
#[derive(Debug, Subcommand)]
pub(crate) enum CloudtrailCommand {
    /// Count the direct Bedrock calls in CloudTrail log files (`{"Records": [...]}`,
    /// plain or .gz; directories are walked recursively). Each eventID counts once.
    Ingest {
        /// Log files or directories (e.g. a copy of AWSLogs/<account>/CloudTrail/).
        #[arg(required = true, value_name = "FILE|DIR")]
        paths: Vec<PathBuf>,
    },
}

/// `iam ...`
#[derive(Debug, Subcommand)]
pub(crate) enum IamCommand {
    /// Create or update the user's IAM user (team and person tags), the team's IAM
    /// group, the group's Bedrock invoke policy (iam.allowed_model_arns), and link it.
    Provision {
        /// The proxy user.
        username: String,
        /// Print what would change; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Managed IAM policies.
    #[command(subcommand)]
    Policy(IamPolicyCommand),
    /// The user's linked IAM users: tags, groups, policies, and whether the deny is on.
    Status {
        /// The proxy user.
        username: String,
    },
}

/// `iam policy ...`
#[derive(Debug, Subcommand)]
pub(crate) enum IamPolicyCommand {
    /// Create (or bring up to date) a managed policy allowing Bedrock invocation of
    /// iam.allowed_model_arns.
    Create {
        /// The policy's name.
        name: String,
        /// Print what would change; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

/// `tls ...`
#[derive(Debug, Subcommand)]
pub(crate) enum TlsCommand {
    /// Write a certificate and key for a local trial (bearer tokens need HTTPS), signed
    /// by a one-off local CA whose certificate clients trust through AWS_CA_BUNDLE.
    SelfSigned {
        /// Directory for ca.pem, cert.pem and key.pem (created if missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// More host names or addresses the certificate is for (localhost, 127.0.0.1
        /// and ::1 are always included). Repeatable.
        #[arg(long = "name", value_name = "HOST")]
        names: Vec<String>,
        /// Replace files already in DIR.
        #[arg(long)]
        force: bool,
    },
}

/// `admin ...`
#[derive(Debug, Subcommand)]
pub(crate) enum AdminCommand {
    /// Create a token for the admin API (printed once).
    CreateToken {
        /// A unique name for the token (audit rows say `api:<name>`, or `scim:<name>`).
        name: String,
        /// `admin`: the admin API and dashboard login; `scim`: only SCIM provisioning
        /// under `/scim/v2` (for an identity provider).
        #[arg(long, value_enum, default_value_t = ScopeArg::Admin)]
        scope: ScopeArg,
    },
    /// List tokens (never the tokens themselves).
    ListTokens,
    /// Revoke a token; admin listeners refuse it within 2 seconds.
    RevokeToken {
        /// The token's name.
        name: String,
    },
    /// The admin audit log, newest first.
    Audit {
        /// Only changes by this actor (`cli:alice`, `api:ops-bot`).
        #[arg(long)]
        actor: Option<String>,
        /// Only this resource (`user:alice`, `team:research`).
        #[arg(long)]
        resource: Option<String>,
        /// Only this operation (`set_user_limits`, `block`, ...).
        #[arg(long)]
        operation: Option<String>,
        /// At most this many entries (1-1000).
        #[arg(long, default_value_t = 50, allow_negative_numbers = true,
              value_parser = clap::value_parser!(u32).range(1..=1000))]
        limit: u32,
    },
}

/// `config ...`
#[derive(Debug, Subcommand)]
pub(crate) enum ConfigCommand {
    /// Print the effective configuration, secrets masked, with each value's source.
    Show,
}

/// `team ...`
#[derive(Debug, Subcommand)]
pub(crate) enum TeamCommand {
    /// Create a team.
    Create {
        /// Team name.
        team: String,
        #[command(flatten)]
        limits: LimitArgs,
    },
    /// List teams with their members and spend today and this month.
    List,
    /// Rename a team (its members, limits and usage follow).
    Rename {
        /// The team's name now.
        team: String,
        /// Its new name.
        new_name: String,
    },
    /// Show a team with its members and usage.
    Info {
        /// Team name.
        team: String,
    },
    /// Change a team's limits.
    SetLimits {
        /// Team name.
        team: String,
        #[command(flatten)]
        limits: LimitArgs,
    },
    /// Delete a team without users.
    Delete {
        /// Team name.
        team: String,
    },
}

fn parse_language(s: &str) -> Result<Language, String> {
    s.parse::<Language>()
        .map_err(|_| format!("`{s}` is not a language: use en or es"))
}

/// `user ...`
#[derive(Debug, Subcommand)]
pub(crate) enum UserCommand {
    /// Create a user in an existing team.
    Create {
        /// Login-like name.
        username: String,
        /// The person's full name.
        person_name: String,
        /// Existing team.
        team: String,
        /// Email address for notifications.
        #[arg(long, value_parser = values::email)]
        email: Option<String>,
        /// Template language.
        #[arg(long, value_name = "en|es", value_parser = parse_language)]
        language: Option<Language>,
        /// IAM user name, for the CloudTrail/IAM backstop.
        #[arg(long, value_name = "NAME")]
        iam_user: Option<String>,
        #[command(flatten)]
        limits: LimitArgs,
    },
    /// Issue a key for one tool (printed once).
    CreateKey {
        /// The user.
        username: String,
        /// The tool the key is for (e.g. claude-code).
        tool_name: String,
    },
    /// Limits, usage today and this month, blocking status and keys.
    Info {
        /// The user.
        username: String,
    },
    /// List users with usage today and this month, blocking status and share of limits.
    List {
        /// Only this team's.
        #[arg(long)]
        team: Option<String>,
        /// Only users whose calls are refused now.
        #[arg(long)]
        blocked: bool,
        /// Only users who used at least PERCENT of one of their own limits
        /// (default quota.warning_percent).
        #[arg(long, value_name = "PERCENT", num_args = 0..=1, allow_negative_numbers = true,
              value_parser = values::percent)]
        near_limit: Option<Option<u8>>,
    },
    /// Move a user to another team (whose shared limits then apply to them).
    Move {
        /// The user.
        username: String,
        /// The team to move to.
        team: String,
    },
    /// Rename a user (keys, limits, blocks and usage follow).
    Rename {
        /// The user's name now.
        username: String,
        /// The new name.
        new_name: String,
    },
    /// Change a user's limits.
    SetLimits {
        /// The user.
        username: String,
        #[command(flatten)]
        limits: LimitArgs,
    },
    /// Delete a user and their keys (their request records stay).
    Delete {
        /// The user.
        username: String,
    },
    /// Block a user (403 AccessDenied until the block ends).
    Block {
        /// The user.
        username: String,
        /// 90s, 30m, 2h30m, 1d, 1w (up to 366d), until-reset (default) or indefinite.
        #[arg(long, value_parser = values::duration, conflicts_with = "until")]
        duration: Option<BlockDuration>,
        /// Until this moment: 2026-12-01, 2026-12-01T08:00 (in quota.timezone) or RFC 3339.
        #[arg(long, value_name = "DATE[THH:MM]")]
        until: Option<String>,
        /// Why (shown to the user in the refusal).
        #[arg(long)]
        reason: Option<String>,
    },
    /// Lift a block; after an automatic block, also protect until the next reset.
    Unblock {
        /// The user.
        username: String,
        /// Why.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Link the user to an IAM user (or, with --role-session, an assumed-role session
    /// name pattern): its direct Bedrock calls count as the user's, and it is denied
    /// Bedrock in IAM while the user is blocked.
    LinkIam {
        /// The user.
        username: String,
        /// The IAM user name (or session name pattern, `*` as wildcard).
        iam_user: String,
        /// IAM_USER is an assumed-role session name pattern.
        #[arg(long)]
        role_session: bool,
    },
    /// Remove a link made with link-iam.
    UnlinkIam {
        /// The user.
        username: String,
        /// The IAM user name (or session name pattern).
        iam_user: String,
        /// IAM_USER is an assumed-role session name pattern.
        #[arg(long)]
        role_session: bool,
    },
    /// Standing protection: never refused or blocked for limits.
    Protect {
        /// The user.
        username: String,
    },
    /// End a protection.
    Unprotect {
        /// The user.
        username: String,
    },
}

/// `key ...`
#[derive(Debug, Subcommand)]
pub(crate) enum KeyCommand {
    /// List keys.
    List {
        /// Only this user's.
        #[arg(long)]
        user: Option<String>,
    },
    /// Revoke a key.
    Revoke {
        /// The key's access key id.
        access_key_id: String,
    },
}

/// `reports ...`
#[derive(Debug, Subcommand)]
pub(crate) enum ReportsCommand {
    /// Re-sum the usage rollups from the stored request rows by local day in the
    /// current quota.timezone (after changing it). Stop every proxy first: a call
    /// recorded while it runs can be counted twice.
    Rebuild,
}

/// `pricing ...`
#[derive(Debug, Subcommand)]
pub(crate) enum PricingCommand {
    /// Set a model's price.
    Set {
        /// Model id (bare, inference-profile id or ARN).
        model_id: String,
        /// USD per 1,000 input tokens (0-1000).
        #[arg(allow_negative_numbers = true, value_parser = values::price)]
        usd_per_1k_input: f64,
        /// USD per 1,000 output tokens (0-1000).
        #[arg(allow_negative_numbers = true, value_parser = values::price)]
        usd_per_1k_output: f64,
        /// USD per 1,000 cache-read tokens (default: the input price).
        #[arg(long, allow_negative_numbers = true, value_parser = values::price)]
        cache_read: Option<f64>,
        /// USD per 1,000 cache-write tokens (default: the input price).
        #[arg(long, allow_negative_numbers = true, value_parser = values::price)]
        cache_write: Option<f64>,
    },
    /// List prices.
    List,
}

/// Formats of `usage`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum UsageFormat {
    /// Aligned columns.
    Table,
    /// Comma-separated values with a header row.
    Csv,
    /// One JSON document.
    Json,
}

/// `usage`
#[derive(Debug, Args)]
pub(crate) struct UsageArgs {
    /// Only this user.
    #[arg(long)]
    pub(crate) user: Option<String>,
    /// Only this team.
    #[arg(long)]
    pub(crate) team: Option<String>,
    /// First day (YYYY-MM-DD, in quota.timezone).
    #[arg(long, value_name = "DATE", value_parser = values::date)]
    pub(crate) from: Option<chrono::NaiveDate>,
    /// Last day, inclusive (YYYY-MM-DD, in quota.timezone).
    #[arg(long, value_name = "DATE", value_parser = values::date)]
    pub(crate) to: Option<chrono::NaiveDate>,
    /// Output format (`--output json` implies json).
    #[arg(long, value_enum, default_value_t = UsageFormat::Table)]
    pub(crate) format: UsageFormat,
    /// At most this many records, newest first (1-100000).
    #[arg(long, default_value_t = 1000, allow_negative_numbers = true, value_parser = values::limit)]
    pub(crate) limit: i64,
}

/// `admin create-token --scope`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum ScopeArg {
    /// The admin API and the dashboard login.
    Admin,
    /// Only SCIM provisioning under `/scim/v2`.
    Scim,
}

impl From<ScopeArg> for crate::domain::TokenScope {
    fn from(s: ScopeArg) -> Self {
        match s {
            ScopeArg::Admin => Self::Admin,
            ScopeArg::Scim => Self::Scim,
        }
    }
}
