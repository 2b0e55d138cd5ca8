//! The clock, behind a trait so that what depends on the time (invoice statuses, rate ages) is
//! testable with a clock the test moves.

use time::OffsetDateTime;

pub(crate) trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> OffsetDateTime;
}

/// The system's clock.
#[derive(Debug)]
pub(crate) struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}
