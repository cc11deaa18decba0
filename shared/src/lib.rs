//! Code shared by the step Lambdas: the execution input and state, errors and
//! their Step Functions names, naming, tags, polling policy, logging and metrics.

pub mod emf;
pub mod error;
pub mod input;
pub mod pages;
pub mod plan;
pub mod poll;
pub mod reconcile;
pub mod runtime;
pub mod tags;
pub mod teardown;

pub use error::{SdkResultExt, StepError};
#[cfg(feature = "ec2")]
pub mod ec2;
#[cfg(feature = "lattice")]
pub mod lattice;
#[cfg(feature = "rds")]
pub mod rds;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
