//! Rupee amounts as whole paise, so that quotes add up exactly. ONDC carries amounts as
//! decimal strings ("600", "600.0", "600.00"); we read any of them and write two decimals.

/// An amount in paise (1/100 rupee).
pub type Paise = i64;

/// Reads "600", "600.5" or "600.50" (optionally signed). None for anything else, including
/// more than two decimals.
pub fn parse(text: &str) -> Option<Paise> {
    let text = text.trim();
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty()
        || (digits.contains('.') && fraction.is_empty())
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || fraction.len() > 2
        || !fraction.bytes().all(|b| b.is_ascii_digit())
        || whole.len() > 13
    {
        return None;
    }
    let mut paise = whole.parse::<i64>().ok()? * 100;
    if !fraction.is_empty() {
        let cents: i64 = fraction.parse().ok()?;
        paise += if fraction.len() == 1 {
            cents * 10
        } else {
            cents
        };
    }
    Some(if negative { -paise } else { paise })
}

/// "600.00", "-25.50".
pub fn format(paise: Paise) -> String {
    let sign = if paise < 0 { "-" } else { "" };
    let abs = paise.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

/// `amount × percent / 100`, rounded to the nearest paisa. `percent` is text such as "12.5".
pub fn percent_of(amount: Paise, percent: &str) -> Option<Paise> {
    // Percent in hundredths of a percent, e.g. "12.5" → 1250.
    let basis = parse(percent)?;
    let product = amount as i128 * basis as i128;
    Some(((product + 5_000 * product.signum()) / 10_000) as Paise)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_read_in_any_of_the_forms_buyer_apps_send() {
        assert_eq!(parse("600"), Some(60_000));
        assert_eq!(parse("600.0"), Some(60_000));
        assert_eq!(parse("600.05"), Some(60_005));
        assert_eq!(parse("-25.5"), Some(-2_550));
        for bad in ["", ".5", "6.005", "1e3", "six", "600.", "- 5"] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn amounts_are_written_with_two_decimals() {
        assert_eq!(format(60_000), "600.00");
        assert_eq!(format(-2_505), "-25.05");
        assert_eq!(format(0), "0.00");
    }

    #[test]
    fn percentages_round_to_the_nearest_paisa() {
        assert_eq!(percent_of(99_900, "5"), Some(4_995));
        assert_eq!(percent_of(1_001, "12.5"), Some(125));
        assert_eq!(percent_of(100_000, "0"), Some(0));
    }
}
