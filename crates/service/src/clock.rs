use std::time::{SystemTime, UNIX_EPOCH};

/// Source of the current time for signatures and certificates.
pub trait Clock: Send + Sync {
    /// Seconds since the Unix epoch, UTC.
    fn now_unix(&self) -> u64;
}

/// The system's real-time clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_unix(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|since| since.as_secs())
            .unwrap_or(0)
    }
}

/// A clock stopped at one instant, for reproducible output.
#[derive(Clone, Copy, Debug)]
pub struct FixedClock(pub u64);

impl Clock for FixedClock {
    fn now_unix(&self) -> u64 {
        self.0
    }
}
