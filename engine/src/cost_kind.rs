//! The kinds of cost line a run's ledger holds. Shared with the browser so
//! the Costs page stacks and names them the same way as the server.

words! {
    /// A kind of cost, in the order the Costs page stacks them.
    pub enum CostKind {
        /// Model tokens × the model's price.
        Model,
        /// The fallback model's tokens, when the primary failed.
        FallbackModel,
        /// Paid enrichment calls (api_call steps with a price).
        Enrichment,
        /// The worker's time on a step.
        Orchestration,
        /// Queue operations (job deliveries).
        Queue,
        /// A reviewer's time from claim to decision.
        Review,
    }
}

/// How many kinds there are (the length of a per-kind array).
pub const COUNT: usize = 6;

impl CostKind {
    /// How the kind reads on the page.
    pub fn label(self) -> &'static str {
        match self {
            CostKind::Model => "Model tokens",
            CostKind::FallbackModel => "Fallback model",
            CostKind::Enrichment => "Enrichment calls",
            CostKind::Orchestration => "Worker time",
            CostKind::Queue => "Queue operations",
            CostKind::Review => "Review minutes",
        }
    }

    /// Its place in a per-kind array (`[Micros; COUNT]`).
    pub fn index(self) -> usize {
        self as usize
    }

    /// Whether the line is what a model call cost (the primary or the fallback).
    pub fn is_model(self) -> bool {
        matches!(self, CostKind::Model | CostKind::FallbackModel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_keep_their_stored_names_and_their_order() {
        let names: Vec<&str> = CostKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(names, ["model", "fallback_model", "enrichment", "orchestration", "queue", "review"]);
        assert_eq!(CostKind::ALL.len(), COUNT);
        assert!(CostKind::ALL.iter().enumerate().all(|(i, k)| k.index() == i));
    }
}
