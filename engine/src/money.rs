//! Money in whole millionths of the business's currency ("micros"): exact
//! decimal parsing and display, no floating point. Shared with the browser
//! so a price is read the same way on both sides.

/// An amount in millionths of a currency unit.
pub type Micros = i64;

pub const MICROS_PER_UNIT: i64 = 1_000_000;

/// "0.15" → 150000; at most six decimals, no sign, no exponent.
pub fn parse(text: &str) -> Option<Micros> {
    let t = text.trim();
    let (whole, frac) = t.split_once('.').unwrap_or((t, ""));
    if whole.is_empty() && frac.is_empty()
        || frac.len() > 6
        || !whole.chars().chain(frac.chars()).all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let whole: i64 = if whole.is_empty() { 0 } else { whole.parse().ok()? };
    let frac: i64 = format!("{frac:0<6}").parse().ok()?;
    whole.checked_mul(MICROS_PER_UNIT)?.checked_add(frac)
}

/// The amount with as many decimals as it needs to be read: two from one
/// unit up (and for zero), four from a hundredth, six below (0.000450).
pub fn format(micros: Micros) -> String {
    let sign = if micros < 0 { "-" } else { "" };
    let m = micros.unsigned_abs();
    // Nothing is nothing: "0.00", not six zeros.
    let decimals = if m >= 1_000_000 || m == 0 {
        2
    } else if m >= 10_000 {
        4
    } else {
        6
    };
    let scale = 10u64.pow(6 - decimals);
    // Half up at the shown precision.
    let rounded = (m + scale / 2) / scale;
    let unit = 10u64.pow(decimals);
    format!("{sign}{}.{:0width$}", rounded / unit, rounded % unit, width = decimals as usize)
}

/// The amount to the cent with thousands grouped, for reports: "3,328.85".
pub fn format_cents(micros: Micros) -> String {
    let sign = if micros < 0 { "-" } else { "" };
    let cents = (micros.unsigned_abs() + 5_000) / 10_000;
    let whole = (cents / 100).to_string();
    let mut grouped = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{sign}{grouped}.{:02}", cents % 100)
}

/// The amount as typed back into a form: every decimal it has, trailing zeros dropped ("1.5", "0.000045").
pub fn plain(micros: Micros) -> String {
    let sign = if micros < 0 { "-" } else { "" };
    let m = micros.unsigned_abs();
    let frac = format!("{:06}", m % 1_000_000);
    let frac = frac.trim_end_matches('0');
    if frac.is_empty() {
        format!("{sign}{}", m / 1_000_000)
    } else {
        format!("{sign}{}.{frac}", m / 1_000_000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_amounts_are_cents_with_thousands_grouped() {
        assert_eq!(format_cents(3_328_850_000), "3,328.85");
        assert_eq!(format_cents(1_234_567_891_000), "1,234,567.89");
        assert_eq!(format_cents(-42_400), "-0.04");
        assert_eq!(format_cents(0), "0.00");
        assert_eq!(format_cents(999_995_000), "1,000.00");
    }

    #[test]
    fn prices_parse_exactly_into_millionths() {
        assert_eq!(parse("0.15"), Some(150_000));
        assert_eq!(parse("3"), Some(3_000_000));
        assert_eq!(parse(".000001"), Some(1));
        assert_eq!(parse(" 45.00 "), Some(45_000_000));
        assert_eq!(parse("1.2345678"), None);
        assert_eq!(parse("-1"), None);
        assert_eq!(parse("1e3"), None);
        assert_eq!(parse(""), None);
    }

    #[test]
    fn amounts_show_the_decimals_they_need() {
        assert_eq!(format(12_345_678), "12.35");
        assert_eq!(format(1_000_000), "1.00");
        assert_eq!(format(45_050), "0.0451", "half up at four decimals");
        assert_eq!(format(450), "0.000450");
        assert_eq!(format(0), "0.00");
        assert_eq!(format(-2_500_000), "-2.50");
        assert_eq!(plain(1_500_000), "1.5");
        assert_eq!(plain(45), "0.000045");
        assert_eq!(plain(3_000_000), "3");
        assert_eq!(parse(&plain(123_456_789)), Some(123_456_789));
    }
}
