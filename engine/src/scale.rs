//! Chart scales people can read: the top of an axis is the value rounded up
//! to 1, 2 or 5 times a power of ten, so a full bar never sits under "0.00".

/// The smallest of 1, 2, 5 × 10ⁿ that is at least `v` (1 for nothing to show).
pub fn nice_ceiling(v: f64) -> f64 {
    if v.is_nan() || v <= 0.0 {
        return 1.0;
    }
    let power = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * power)
        // Float noise (0.30000000000000004 for 0.3) must not push a value up a step.
        .find(|top| *top >= v * (1.0 - 1e-9))
        .unwrap_or(10.0 * power)
}

#[cfg(test)]
mod tests {
    use super::nice_ceiling;

    #[test]
    fn the_top_rounds_up_to_one_two_or_five_of_a_power_of_ten() {
        for (v, top) in [
            (0.0, 1.0),
            (-3.0, 1.0),
            (1.0, 1.0),
            (1.2, 2.0),
            (3.0, 5.0),
            (7.5, 10.0),
            (430.0, 500.0),
            (0.0042, 0.005),
            (120_000.0, 200_000.0),
            (2_000_000.0, 2_000_000.0),
        ] {
            assert!((nice_ceiling(v) - top).abs() < top * 1e-9, "{v} → {} (want {top})", nice_ceiling(v));
        }
    }
}
