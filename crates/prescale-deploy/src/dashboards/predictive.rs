//! Dashboard 2, predictive scaling: forecast against actual with the P50–P90 band, forecast
//! accuracy over time, detected patterns, proactive events, and the business-hours heatmap.

use serde_json::{Value, json};

use super::build::{Board, Panel};

/// The label filter of the dashboard's variables.
const SEL: &str = r#"namespace=~"$namespace", service=~"$service""#;
/// One service of a repeated panel.
const ONE: &str = r#"namespace=~"$namespace", service="$service""#;

pub(super) fn dashboard() -> Value {
    let mut b = Board::new(
        "prescale-predictive",
        "prescale / Predictive scaling",
        "What prescale forecasts, how accurate it is, the patterns it found, and the decisions it \
         took ahead of demand.",
        "prescale_forecast_demand",
    );
    b.tag("forecasting");
    b.annotation(
        "Proactive events",
        &format!(
            "sum by (service, kind) (changes(prescale_proactive_events_total{{{SEL}}}[$__interval])) > 0"
        ),
        "{{service}}: {{kind}}",
        "rgba(255, 152, 48, 1)",
    );

    b.row("Forecast vs actual");
    b.add(
        24,
        9,
        Panel::timeseries(
            "Forecast vs actual: $service",
            "Observed demand, and the forecast of the decision window (one cold start ahead) as \
             its median (P50) and its 90th percentile (P90); the band between them is shaded. The \
             forecast is plotted at the time it was made.",
            "short",
        )
        .repeat("service")
        .target(&format!("sum(prescale_observed_demand{{{ONE}}})"), "actual")
        .target(
            &format!(r#"sum(prescale_forecast_demand{{{ONE}, quantile="0.5"}})"#),
            "P50",
        )
        .target(
            &format!(r#"sum(prescale_forecast_demand{{{ONE}, quantile="0.9"}})"#),
            "P90",
        )
        .series(
            "actual",
            json!([{"id": "custom.lineWidth", "value": 2},
                   {"id": "custom.fillOpacity", "value": 0},
                   {"id": "color", "value": {"mode": "fixed", "fixedColor": "blue"}}]),
        )
        .series(
            "P50",
            json!([{"id": "custom.lineStyle", "value": {"fill": "dash", "dash": [10, 10]}},
                   {"id": "custom.fillOpacity", "value": 0},
                   {"id": "color", "value": {"mode": "fixed", "fixedColor": "orange"}}]),
        )
        .series(
            "P90",
            json!([{"id": "custom.fillBelowTo", "value": "P50"},
                   {"id": "custom.fillOpacity", "value": 25},
                   {"id": "custom.lineWidth", "value": 0},
                   {"id": "color", "value": {"mode": "fixed", "fixedColor": "orange"}}]),
        ),
    );

    b.row("Accuracy");
    b.add(
        12,
        7,
        Panel::timeseries(
            "Forecast accuracy (1 − WAPE, 24 h)",
            "1 − weighted absolute percentage error of the forecasts made one lead time ago \
             against what then happened, over the last 24 hours.",
            "percentunit",
        )
        .range(0.0, Some(1.0))
        .target(
            &format!("max by (namespace, service) (prescale_forecast_accuracy_ratio{{{SEL}}})"),
            "{{namespace}}/{{service}}",
        ),
    );
    b.add(
        12,
        7,
        Panel::timeseries(
            "P90 coverage (24 h)",
            "Share of actuals at or below the P90 forecast; calibrated forecasts stay near 0.9 \
             (dashed line).",
            "percentunit",
        )
        .range(0.0, Some(1.0))
        .thresholds(&[(0.9, "blue")])
        .threshold_lines()
        .target(
            &format!("max by (namespace, service) (prescale_forecast_coverage_ratio{{{SEL}}})"),
            "{{namespace}}/{{service}}",
        ),
    );

    b.row("SLO mode");
    b.add(
        12,
        7,
        Panel::timeseries(
            "SLO: predicted attainment",
            "Services in SLO mode: the share of demand the chosen headroom served within the SLA \
             on the replayed days, and what ran over the last 28 days (the error budget), \
             against the SLO.",
            "percentunit",
        )
        .target(
            &format!("max by (namespace, service) (prescale_slo_predicted_ratio{{{SEL}}})"),
            "{{service}} predicted",
        )
        .target(
            &format!("max by (namespace, service) (prescale_slo_attainment_ratio{{{SEL}}})"),
            "{{service}} last 28 days",
        )
        .target(
            &format!("max by (namespace, service) (prescale_slo_target_ratio{{{SEL}}})"),
            "{{service}} SLO",
        ),
    );
    b.add(
        12,
        7,
        Panel::timeseries(
            "SLO: measured latency",
            "What the trigger's latencyQuery measured (for example vLLM's P99 time to first \
             token), against the SLA.",
            "s",
        )
        .target(
            &format!(
                "max by (namespace, service) (prescale_slo_measured_latency_seconds{{{SEL}}})"
            ),
            "{{service}} measured",
        )
        .target(
            &format!("max by (namespace, service) (prescale_slo_sla_seconds{{{SEL}}})"),
            "{{service}} SLA",
        ),
    );

    b.row("Patterns");
    b.add(
        12,
        7,
        Panel::states(
            "Detected seasonality",
            "Daily and weekly patterns found in each service's history.",
            "detected",
            "none",
        )
        .target(
            &format!("max by (namespace, service, period) (prescale_pattern_detected{{{SEL}}})"),
            "{{service}} {{period}}",
        ),
    );
    b.add(
        12,
        7,
        Panel::table(
            "Trend and decision",
            "Current trend direction and the reason of the latest decision of each service.",
            "none",
        )
        .target(
            &format!("max by (namespace, service, direction) (prescale_trend_info{{{SEL}}}) == 1"),
            "",
        )
        .target(
            &format!("max by (namespace, service, reason) (prescale_decision_info{{{SEL}}}) == 1"),
            "",
        ),
    );
    b.add(
        8,
        6,
        Panel::timeseries(
            "Anomalies flagged",
            "Anomalous samples flagged in the history per interval.",
            "short",
        )
        .bars_style()
        .target(
            &format!(
                "sum by (namespace, service) (increase(prescale_anomalies_total{{{SEL}}}[$__rate_interval]))"
            ),
            "{{namespace}}/{{service}}",
        ),
    );
    b.add(
        8,
        6,
        Panel::timeseries(
            "Lead time",
            "How far ahead pods are warmed: the P95 of the cold start.",
            "s",
        )
        .target(
            &format!("max by (namespace, service) (prescale_lead_seconds{{{SEL}}})"),
            "{{namespace}}/{{service}}",
        ),
    );
    b.add(
        8,
        6,
        Panel::timeseries(
            "History",
            "Samples of history held, model refits per hour, and age of the newest sample.",
            "short",
        )
        .target(
            &format!("max by (namespace, service) (prescale_history_samples{{{SEL}}})"),
            "{{service}} samples",
        )
        .target(
            &format!("sum by (namespace, service) (rate(prescale_refits_total{{{SEL}}}[$__rate_interval])) * 3600"),
            "{{service}} refits/h",
        )
        .target(
            &format!("max by (namespace, service) (prescale_data_age_seconds{{{SEL}}})"),
            "{{service}} data age (s)",
        ),
    );

    b.row("Proactive decisions");
    b.add(
        16,
        7,
        Panel::timeseries(
            "Proactive events",
            "Pre-warm, scale-down, scale-to-zero and wake-up decisions taken ahead of the live \
             need, per interval.",
            "none",
        )
        .bars_style()
        .stacked()
        .target(
            &format!(
                "sum by (service, kind) (increase(prescale_proactive_events_total{{{SEL}}}[$__rate_interval]))"
            ),
            "{{service}} {{kind}}",
        ),
    );
    b.add(
        8,
        7,
        Panel::bars(
            "Proactive events (24 h)",
            "Decisions ahead of the live need over the last 24 hours, by kind.",
            "none",
        )
        .target(
            &format!("sum by (kind) (increase(prescale_proactive_events_total{{{SEL}}}[24h]))"),
            "{{kind}}",
        ),
    );

    b.row("Business hours");
    b.add(
        24,
        8,
        Panel::heatmap(
            "Demand heatmap (hourly)",
            "Hourly mean demand of the selected services: columns are hours, colour is how often \
             the demand fell in each band. Business hours show as the recurring dark columns.",
            "short",
        )
        .interval("1h")
        .target(
            &format!("sum by (service) (avg_over_time(prescale_observed_demand{{{SEL}}}[1h]))"),
            "{{service}}",
        ),
    );
    b.add(
        24,
        5,
        Panel::states(
            "Business hours",
            "Whether each service's business calendar is open (services without a calendar are \
             always open).",
            "open",
            "closed",
        )
        .target(
            &format!("max by (namespace, service) (prescale_business_hours{{{SEL}}})"),
            "{{service}}",
        ),
    );
    b.finish()
}
