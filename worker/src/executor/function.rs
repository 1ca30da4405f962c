//! A function step: a built-in transform of the run's context (normalise
//! with a data contract, map, rename, pick, compute with CEL, value score).

use super::{Done, Execution, Failed, Stop};
use crate::context::Context;
use chrono::Utc;
use engine::run as logic;
use engine::workflow::{Step, StepFunction};
use serde_json::{json, Value};

pub(super) async fn run(cx: &Context, x: &Execution, step: &Step) -> Result<Done, Stop> {
    let function = step.function.unwrap_or(StepFunction::Normalize);
    let name = step.data_contract.clone().or_else(|| x.run.contract.trigger.contract_name());
    let contract = match (&name, function) {
        (Some(name), StepFunction::Normalize) => x.config.data_contract(&cx.db, name).await?,
        _ => None,
    };
    let input_path = step.input.as_deref().unwrap_or(logic::EVENT_KEY);
    let input = logic::lookup(&x.run.context, input_path).cloned().unwrap_or(Value::Null);
    logic::function(step, &x.run.context, contract.as_deref(), Utc::now())
        .map(|out| {
            let mut done = Done::output(out, input.clone());
            done.detail = json!({ "function": function, "data_contract": name });
            done
        })
        .map_err(|e| Failed { input, ..Failed::now(e) }.into())
}
