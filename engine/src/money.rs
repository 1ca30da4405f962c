//! Money in whole millionths of the business's currency ("micros"): exact
//! decimal parsing and display, no floating point. Shared with the browser
//! so a price is read the same way on both sides.

/// An amount in millionths of a currency unit.
pub type Micros = i64;

/// The currency a business keeps its figures in (Settings → Business): its
/// prices, budgets, costs and savings are all in it. Steward converts
/// nothing; the currency only says how amounts read.
/// Serialised as its ISO code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Currency {
    code: &'static str,
    symbol: &'static str,
}

/// ISO code, symbol, name: the currencies a business can choose.
pub const CURRENCIES: [(&str, &str, &str); 16] = [
    ("USD", "$", "US dollar"),
    ("EUR", "€", "Euro"),
    ("GBP", "£", "Pound sterling"),
    ("CAD", "CA$", "Canadian dollar"),
    ("AUD", "A$", "Australian dollar"),
    ("NZD", "NZ$", "New Zealand dollar"),
    ("CHF", "CHF\u{a0}", "Swiss franc"),
    ("SEK", "SEK\u{a0}", "Swedish krona"),
    ("NOK", "NOK\u{a0}", "Norwegian krone"),
    ("DKK", "DKK\u{a0}", "Danish krone"),
    ("PLN", "PLN\u{a0}", "Polish złoty"),
    ("INR", "₹", "Indian rupee"),
    ("SGD", "S$", "Singapore dollar"),
    ("ZAR", "R\u{a0}", "South African rand"),
    ("BRL", "R$", "Brazilian real"),
    ("MXN", "MX$", "Mexican peso"),
];

impl Default for Currency {
    fn default() -> Self {
        Currency { code: CURRENCIES[0].0, symbol: CURRENCIES[0].1 }
    }
}

impl Currency {
    /// The currency with this ISO code, if Steward offers it.
    pub fn from_code(code: &str) -> Option<Currency> {
        CURRENCIES
            .iter()
            .find(|(c, ..)| c.eq_ignore_ascii_case(code.trim()))
            .map(|&(code, symbol, _)| Currency { code, symbol })
    }

    pub fn code(&self) -> &'static str {
        self.code
    }

    /// "$", "€", "CHF " (a no-break space after letters).
    pub fn symbol(&self) -> &'static str {
        self.symbol
    }

    /// An amount for summaries, to the cent with thousands grouped: "$3,328.85",
    /// "−$4.00"; an amount under half a cent reads "<$0.01", not "$0.00".
    pub fn cents(&self, micros: Micros) -> String {
        let sign = if micros < 0 { "−" } else { "" };
        if micros != 0 && micros.unsigned_abs() < 5_000 {
            return format!("<{sign}{}0.01", self.symbol);
        }
        format!("{sign}{}{}", self.symbol, format_cents(micros.abs()))
    }

    /// An amount with the decimals it needs (a price per call, one run's cost): "$0.000450".
    pub fn precise(&self, micros: Micros) -> String {
        let sign = if micros < 0 { "−" } else { "" };
        format!("{sign}{}{}", self.symbol, format(micros.abs()))
    }
}

impl serde::Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code)
    }
}

impl<'de> serde::Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let code = String::deserialize(d)?;
        Currency::from_code(&code)
            .ok_or_else(|| serde::de::Error::custom(format!("Steward does not offer the currency {code}")))
    }
}

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
    fn amounts_read_with_the_business_currency() {
        let usd = Currency::default();
        assert_eq!(usd.cents(3_328_850_000), "$3,328.85");
        assert_eq!(usd.cents(0), "$0.00");
        assert_eq!(usd.cents(4_200), "<$0.01", "under half a cent is not nothing");
        assert_eq!(usd.cents(-4_000_000), "−$4.00");
        assert_eq!(usd.precise(450), "$0.000450");
        let chf = Currency::from_code("chf").unwrap();
        assert_eq!(chf.cents(12_500_000), "CHF\u{a0}12.50");
        assert_eq!(Currency::from_code("EUR").unwrap().cents(1_000_000), "€1.00");
        assert_eq!(Currency::from_code("XXX"), None);
        let json = serde_json::to_string(&chf).unwrap();
        assert_eq!(json, "\"CHF\"");
        assert_eq!(serde_json::from_str::<Currency>(&json).unwrap(), chf);
        assert!(serde_json::from_str::<Currency>("\"XXX\"").is_err());
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
