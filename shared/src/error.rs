//! One error type for every step, mapped to the stable error names that the
//! state machines' `Retry` and `Catch` match on.

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use lambda_runtime::Diagnostic;

/// The error names a Lambda of this project can report. The ASL matches on
/// these exact strings; `tests/` checks that every name the ASL uses is here.
pub mod names {
    pub const INPUT_INVALID: &str = "Input.Invalid";
    pub const AWS_THROTTLED: &str = "Aws.Throttled";
    pub const AWS_TRANSIENT: &str = "Aws.Transient";
    pub const AWS_ACCESS_DENIED: &str = "Aws.AccessDenied";
    pub const AWS_QUOTA_EXCEEDED: &str = "Aws.QuotaExceeded";
    pub const AWS_ERROR: &str = "Aws.Error";
    pub const RESOURCE_CONFLICT: &str = "Resource.Conflict";
    pub const RESOURCE_NOT_FOUND: &str = "Resource.NotFound";
    pub const RESOURCE_NAME_TAKEN: &str = "Resource.NameTaken";
    pub const RESOURCE_FAILED: &str = "Resource.Failed";
    pub const DEPLOYMENT_LOCKED: &str = "Deployment.Locked";
    pub const INTERNAL: &str = "Internal";

    pub const ALL: &[&str] = &[
        INPUT_INVALID,
        AWS_THROTTLED,
        AWS_TRANSIENT,
        AWS_ACCESS_DENIED,
        AWS_QUOTA_EXCEEDED,
        AWS_ERROR,
        RESOURCE_CONFLICT,
        RESOURCE_NOT_FOUND,
        RESOURCE_NAME_TAKEN,
        RESOURCE_FAILED,
        DEPLOYMENT_LOCKED,
        INTERNAL,
    ];
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StepError {
    /// Bad input: names the offending field (a JSON path such as `clientVpcs[0].id`).
    #[error("{field}: {message}")]
    InvalidInput { field: String, message: String },
    #[error("{operation} was throttled: {message}")]
    Throttled { operation: String, message: String },
    #[error("{operation} failed transiently: {message}")]
    Transient { operation: String, message: String },
    #[error("{operation} was denied: {message}")]
    AccessDenied { operation: String, message: String },
    #[error("{operation} exceeded a service quota: {message}")]
    QuotaExceeded { operation: String, message: String },
    /// The resource is busy (`*_IN_PROGRESS`) or changed under us; retrying later can succeed.
    #[error("{operation} conflicts with the current state: {message}")]
    Conflict { operation: String, message: String },
    #[error("{operation}: not found: {message}")]
    NotFound { operation: String, message: String },
    /// A resource with our deterministic name exists but was not created by this deployment.
    #[error("{0}")]
    NameTaken(String),
    /// A resource reached a failed status.
    #[error("{0}")]
    ResourceFailed(String),
    /// Another execution holds the deployment's lock (the message names it).
    #[error("{0}")]
    Locked(String),
    #[error("{operation} failed with {code}: {message}")]
    Aws {
        operation: String,
        code: String,
        message: String,
    },
    /// A bug or an AWS response missing a field we rely on.
    #[error("{0}")]
    Internal(String),
}

impl StepError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::InvalidInput {
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::Internal(message.into())
    }

    /// The stable Step Functions error name.
    pub fn name(&self) -> &'static str {
        use names::*;
        match self {
            Self::InvalidInput { .. } => INPUT_INVALID,
            Self::Throttled { .. } => AWS_THROTTLED,
            Self::Transient { .. } => AWS_TRANSIENT,
            Self::AccessDenied { .. } => AWS_ACCESS_DENIED,
            Self::QuotaExceeded { .. } => AWS_QUOTA_EXCEEDED,
            Self::Conflict { .. } => RESOURCE_CONFLICT,
            Self::NotFound { .. } => RESOURCE_NOT_FOUND,
            Self::NameTaken(_) => RESOURCE_NAME_TAKEN,
            Self::ResourceFailed(_) => RESOURCE_FAILED,
            Self::Locked(_) => DEPLOYMENT_LOCKED,
            Self::Aws { .. } => AWS_ERROR,
            Self::Internal(_) => INTERNAL,
        }
    }

    /// Classify an SDK error by its modelled error code, across services
    /// (EC2, RDS, VPC Lattice, CloudWatch and Logs spell the same idea differently).
    pub fn from_sdk<E, R>(operation: &str, err: &SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        let operation = operation.to_string();
        match err {
            SdkError::ServiceError(se) => {
                let e = se.err();
                let code = e.code().unwrap_or("Unknown").to_string();
                let message = e.message().unwrap_or("").to_string();
                classify_code(operation, code, message)
            }
            SdkError::TimeoutError(_)
            | SdkError::DispatchFailure(_)
            | SdkError::ResponseError(_) => Self::Transient {
                operation,
                message: aws_smithy_types::error::display::DisplayErrorContext(err).to_string(),
            },
            _ => Self::Internal(format!(
                "{operation}: {}",
                aws_smithy_types::error::display::DisplayErrorContext(err)
            )),
        }
    }
}

fn classify_code(operation: String, code: String, message: String) -> StepError {
    let c = code.as_str();
    if matches!(
        c,
        "ThrottlingException"
            | "Throttling"
            | "ThrottledException"
            | "RequestLimitExceeded"
            | "TooManyRequestsException"
            | "RequestThrottled"
            | "RequestThrottledException"
            | "ProvisionedThroughputExceededException"
    ) {
        StepError::Throttled { operation, message }
    } else if matches!(
        c,
        "InternalServerException"
            | "InternalFailure"
            | "InternalError"
            | "InternalServerError"
            | "ServiceUnavailable"
            | "ServiceUnavailableException"
            | "Unavailable"
    ) {
        StepError::Transient { operation, message }
    } else if c.starts_with("AccessDenied") || c == "UnauthorizedOperation" {
        StepError::AccessDenied { operation, message }
    } else if c == "ServiceQuotaExceededException"
        || c.ends_with("QuotaExceeded")
        || c.ends_with("QuotaExceededFault")
        || c.ends_with("LimitExceeded")
        || c == "LimitExceededException"
        || c == "LimitExceededFault"
    {
        StepError::QuotaExceeded { operation, message }
    } else if c == "ConflictException"
        || c == "IncorrectState"
        || c.starts_with("InvalidDBInstanceState")
        || c.starts_with("InvalidDBClusterState")
        || c == "DependencyViolation"
    {
        StepError::Conflict { operation, message }
    } else if c.contains("NotFound") {
        StepError::NotFound {
            operation,
            message: if message.is_empty() { code } else { message },
        }
    } else {
        StepError::Aws {
            operation,
            code,
            message,
        }
    }
}

impl From<StepError> for Diagnostic {
    fn from(e: StepError) -> Self {
        Diagnostic {
            error_type: e.name().to_string(),
            error_message: e.to_string(),
        }
    }
}

/// `.aws("ec2:CreateSecurityGroup")?` on any SDK call result.
pub trait SdkResultExt<T> {
    fn aws(self, operation: &str) -> Result<T, StepError>;
}

impl<T, E, R> SdkResultExt<T> for Result<T, SdkError<E, R>>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    fn aws(self, operation: &str) -> Result<T, StepError> {
        self.map_err(|e| StepError::from_sdk(operation, &e))
    }
}

/// The modelled error code of an SDK error, if it is a service error.
pub fn error_code<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> Option<&str> {
    match err {
        SdkError::ServiceError(se) => se.err().code(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(code: &str) -> &'static str {
        classify_code("op".into(), code.into(), "m".into()).name()
    }

    #[test]
    fn codes_map_to_stable_names() {
        assert_eq!(c("ThrottlingException"), names::AWS_THROTTLED);
        assert_eq!(c("RequestLimitExceeded"), names::AWS_THROTTLED);
        assert_eq!(c("Throttling"), names::AWS_THROTTLED);
        assert_eq!(c("InternalServerException"), names::AWS_TRANSIENT);
        assert_eq!(c("ConflictException"), names::RESOURCE_CONFLICT);
        assert_eq!(c("InvalidDBInstanceState"), names::RESOURCE_CONFLICT);
        assert_eq!(c("DependencyViolation"), names::RESOURCE_CONFLICT);
        assert_eq!(c("ResourceNotFoundException"), names::RESOURCE_NOT_FOUND);
        assert_eq!(c("DBInstanceNotFound"), names::RESOURCE_NOT_FOUND);
        assert_eq!(c("InvalidVpcID.NotFound"), names::RESOURCE_NOT_FOUND);
        assert_eq!(c("AccessDeniedException"), names::AWS_ACCESS_DENIED);
        assert_eq!(c("UnauthorizedOperation"), names::AWS_ACCESS_DENIED);
        assert_eq!(
            c("ServiceQuotaExceededException"),
            names::AWS_QUOTA_EXCEEDED
        );
        assert_eq!(c("InstanceQuotaExceeded"), names::AWS_QUOTA_EXCEEDED);
        assert_eq!(c("LimitExceededException"), names::AWS_QUOTA_EXCEEDED); // CloudWatch Logs
        assert_eq!(c("LimitExceededFault"), names::AWS_QUOTA_EXCEEDED); // CloudWatch
        assert_eq!(c("ValidationException"), names::AWS_ERROR);
    }

    #[test]
    fn diagnostic_carries_the_stable_name_not_a_type_name() {
        let d: Diagnostic = StepError::invalid("name", "must be lowercase").into();
        assert_eq!(d.error_type, "Input.Invalid");
        assert_eq!(d.error_message, "name: must be lowercase");
        let d: Diagnostic = StepError::Conflict {
            operation: "vpc-lattice:DeleteResourceGateway".into(),
            message: "busy".into(),
        }
        .into();
        assert_eq!(d.error_type, "Resource.Conflict");
        assert!(d.error_message.contains("DeleteResourceGateway"));
    }

    #[test]
    fn every_variant_name_is_listed() {
        let all = [
            StepError::invalid("f", "m"),
            StepError::Throttled {
                operation: "o".into(),
                message: "m".into(),
            },
            StepError::Transient {
                operation: "o".into(),
                message: "m".into(),
            },
            StepError::AccessDenied {
                operation: "o".into(),
                message: "m".into(),
            },
            StepError::QuotaExceeded {
                operation: "o".into(),
                message: "m".into(),
            },
            StepError::Conflict {
                operation: "o".into(),
                message: "m".into(),
            },
            StepError::NotFound {
                operation: "o".into(),
                message: "m".into(),
            },
            StepError::NameTaken("x".into()),
            StepError::ResourceFailed("x".into()),
            StepError::Locked("x".into()),
            StepError::Aws {
                operation: "o".into(),
                code: "c".into(),
                message: "m".into(),
            },
            StepError::internal("x"),
        ];
        let mut got: Vec<_> = all.iter().map(|e| e.name()).collect();
        let mut want = names::ALL.to_vec();
        got.sort_unstable();
        want.sort_unstable();
        assert_eq!(got, want);
    }
}
