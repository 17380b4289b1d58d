//! lunghub's vocabulary. No I/O: only the words the other crates share, and the one place
//! where each of them is decided.
//!
//! ```
//! use lunghub_domain::Finding;
//! assert_eq!(Finding::parse("COVID-19"), Finding::Known("Pneumonia/Viral/COVID-19"));
//! assert_eq!(Finding::parse("No finding"), Finding::Known("No Finding"));
//! assert_eq!(Finding::parse("Aliens"), Finding::Unknown("Aliens".into()));
//! ```

pub mod access;
pub mod calendar;
mod finding;
mod imaging;
pub mod onboarding;
pub mod people;
pub mod review;
pub mod split;

pub use finding::Finding;
pub use imaging::{Modality, ReviewState, View};
pub use onboarding::{Move, RequestedData, Stage, TransitionError};
pub use people::{AccountRole, SignupRole};
