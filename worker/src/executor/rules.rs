//! A rules step: the decision table (CEL conditions → outputs) over the run's context.

use super::{Done, Execution, Failed};
use engine::run as logic;
use engine::workflow::Step;
use serde_json::json;

pub(super) fn run(x: &Execution, step: &Step) -> Result<Done, Failed> {
    logic::decide(step, &x.run.context)
        .map(|out| Done::output(out, json!({ "rules": step.rules.len() })))
        .map_err(Failed::now)
}
