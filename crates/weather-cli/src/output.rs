//! Text output: reports, the current weather, a new report. Text the service sends (descriptions,
//! places, times, ids) goes through [`terminal::escaped`](crate::terminal::escaped).

use serde_json::Value;

use crate::api::{Location, Report};
use crate::args::Units;
use crate::terminal::escaped;

/// `Portland, OR, US` (escaped for the terminal).
pub(crate) fn place(location: &Location) -> String {
    let mut parts = vec![location.city.as_str()];
    parts.extend(location.state.as_deref());
    parts.extend(location.country.as_deref());
    escaped(&parts.join(", "))
}

/// `2026-11-29 10:31` from an RFC 3339 time (UTC as the service sends it); the text (escaped)
/// otherwise.
pub(crate) fn short_time(rfc3339: &str) -> String {
    let shown = match (rfc3339.get(..10), rfc3339.get(11..16)) {
        (Some(date), Some(time)) if rfc3339.as_bytes().get(10) == Some(&b'T') => {
            format!("{date} {time}")
        }
        _ => rfc3339.to_owned(),
    };
    escaped(&shown)
}

/// One line per report, newest first as the service sends them.
pub(crate) fn reports(reports: &[Report]) -> String {
    if reports.is_empty() {
        return "No reports yet.\n".to_owned();
    }
    let width = reports
        .iter()
        .map(|r| place(&r.location).chars().count())
        .max()
        .unwrap_or(0);
    reports
        .iter()
        .map(|r| {
            format!(
                "{}  {:<width$}  {}\n",
                short_time(&r.created_date),
                place(&r.location),
                escaped(&r.description)
            )
        })
        .collect()
}

/// The confirmation of a stored report.
pub(crate) fn created(report: &Report) -> String {
    format!(
        "Reported: {} in {} (id {})\n",
        escaped(&report.description),
        place(&report.location),
        escaped(&report.id)
    )
}

/// The current weather (OpenWeatherMap's `main` object) in one line.
pub(crate) fn weather(place: &str, units: Units, main: &Value) -> String {
    let deg = units.temperature_symbol();
    let num = |k: &str| main.get(k).and_then(Value::as_f64);
    let mut parts = Vec::new();
    if let Some(t) = num("temp") {
        let mut s = format!("{t} {deg}");
        if let Some(f) = num("feels_like") {
            s.push_str(&format!(" (feels like {f} {deg})"));
        }
        parts.push(s);
    }
    if let (Some(lo), Some(hi)) = (num("temp_min"), num("temp_max")) {
        parts.push(format!("min {lo} {deg}, max {hi} {deg}"));
    }
    if let Some(h) = num("humidity") {
        parts.push(format!("humidity {h}%"));
    }
    if let Some(p) = num("pressure") {
        parts.push(format!("pressure {p} hPa"));
    }
    if parts.is_empty() {
        return format!("{place}: {main}\n");
    }
    format!("{place}: {}\n", parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn report(city: &str, state: Option<&str>, description: &str) -> Report {
        Report {
            id: "4f0c".into(),
            description: description.into(),
            location: Location {
                city: city.into(),
                state: state.map(str::to_owned),
                country: Some("US".into()),
            },
            created_date: "2026-11-29T10:31:37.123456Z".into(),
        }
    }

    #[test]
    fn reports_are_aligned_lines_with_time_place_and_description() {
        let text = reports(&[
            report("Portland", Some("OR"), "Misty sunrise"),
            report("Bend", None, "Snow"),
        ]);
        assert_eq!(
            text,
            "2026-11-29 10:31  Portland, OR, US  Misty sunrise\n2026-11-29 10:31  Bend, US          Snow\n"
        );
        assert_eq!(reports(&[]), "No reports yet.\n");
    }

    #[test]
    fn reports_escape_control_and_bidi_characters_whatever_the_server_stored() {
        let mut r = report(
            "Port\u{1b}]0;x\u{7}land",
            None,
            "Sun\u{1b}[2J\nfake line \u{202e}gnp.exe",
        );
        r.created_date = "\u{1b}[31m".into();
        assert_eq!(
            reports(&[r]),
            "\\x1b[31m  Port\\x1b]0;x\\x07land, US  Sun\\x1b[2J\\x0afake line \\u{202e}gnp.exe\n"
        );
    }

    #[test]
    fn short_time_keeps_unknown_formats() {
        assert_eq!(short_time("yesterday"), "yesterday");
    }

    #[test]
    fn weather_line_shows_units_and_skips_missing_values() {
        let main = json!({"temp": 61.5, "feels_like": 60.1, "temp_min": 58.0, "temp_max": 64.4,
                          "pressure": 1021, "humidity": 62});
        assert_eq!(
            weather("portland, OR, US", Units::Imperial, &main),
            "portland, OR, US: 61.5 °F (feels like 60.1 °F), min 58 °F, max 64.4 °F, humidity 62%, pressure 1021 hPa\n"
        );
        assert_eq!(
            weather("x", Units::Metric, &json!({"temp": 3})),
            "x: 3 °C\n"
        );
    }

    #[test]
    fn created_names_the_report() {
        assert_eq!(
            created(&report("Portland", Some("OR"), "Misty sunrise")),
            "Reported: Misty sunrise in Portland, OR, US (id 4f0c)\n"
        );
    }
}
