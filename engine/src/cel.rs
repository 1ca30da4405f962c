//! CEL conditions (`when:`, approval expressions, rules) through cel-interpreter.

/// Why a CEL expression does not parse, if it does not.
pub fn parse_error(expression: &str) -> Option<String> {
    if expression.trim().is_empty() {
        return Some("the condition is empty".into());
    }
    // The parser can panic on some malformed input; a panic is a parse error too.
    match std::panic::catch_unwind(|| cel_interpreter::Program::compile(expression)) {
        Ok(Ok(_)) => None,
        Ok(Err(e)) => Some(e.to_string().lines().next().unwrap_or("does not parse").to_string()),
        Err(_) => Some("does not parse".into()),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn accepts_conditions_and_explains_broken_ones() {
        assert_eq!(super::parse_error("lead.annual_contract_value > 50000 && lead.stage == 'sql'"), None);
        assert!(super::parse_error("lead.value >").is_some());
        assert!(super::parse_error("").is_some());
    }
}
