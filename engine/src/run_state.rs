//! The states a run and its steps move through (ARCHITECTURE.md, durability
//! rule): queued → running → waiting_for_review → completed / failed / cancelled.

words! {
    /// Where a run is in its life.
    pub enum RunStatus {
        Queued,
        Running,
        WaitingForReview,
        Completed,
        Failed,
        Cancelled,
    }
}

impl RunStatus {
    /// Whether the run is over (nothing will execute it again unless a person retries it).
    pub fn is_finished(self) -> bool {
        match self {
            RunStatus::Completed | RunStatus::Failed | RunStatus::Cancelled => true,
            RunStatus::Queued | RunStatus::Running | RunStatus::WaitingForReview => false,
        }
    }
}

words! {
    /// Where one step of a run is.
    pub enum StepStatus {
        Running,
        /// An approval step waiting for a person.
        Waiting,
        Completed,
        Failed,
        /// Its `when` condition was false.
        Skipped,
    }
}

impl StepStatus {
    /// Whether the step has finished (its record gets a finish time).
    pub fn is_finished(self) -> bool {
        match self {
            StepStatus::Running | StepStatus::Waiting => false,
            StepStatus::Completed | StepStatus::Failed | StepStatus::Skipped => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_read_back_from_their_stored_names() {
        for s in RunStatus::ALL {
            assert_eq!(s.as_str().parse::<RunStatus>(), Ok(*s));
        }
        assert_eq!(RunStatus::WaitingForReview.as_str(), "waiting_for_review");
        assert_eq!(serde_json::to_value(StepStatus::Skipped).unwrap(), "skipped");
        assert!("paused".parse::<RunStatus>().is_err());
    }
}
