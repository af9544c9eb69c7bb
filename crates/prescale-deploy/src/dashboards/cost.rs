//! Dashboard 3, cost: monthly budget usage, cost by service, spot against on-demand savings,
//! cost per request and per 1k tokens, GPU-hours saved against static provisioning.

use serde_json::Value;

use super::build::{Board, Panel};

/// The label filter of the dashboard's variables.
const SEL: &str = r#"namespace=~"$namespace", service=~"$service""#;
/// The label filter of upstream metrics (no `service` label).
const NS: &str = r#"namespace=~"$namespace""#;

/// Dollars the spot replica-hours of `window` saved: spot hours times the price difference.
fn spot_savings(window: &str, by: &str) -> String {
    format!(
        "sum by ({by}) (increase(prescale_replica_hours_total{{{SEL}, capacity=\"spot\"}}[{window}]) \
         * on (namespace, service) group_left () (max by (namespace, service) \
         (prescale_price_per_hour_usd{{{SEL}, capacity=\"on_demand\"}}) - on (namespace, service) \
         max by (namespace, service) (prescale_price_per_hour_usd{{{SEL}, capacity=\"spot\"}})))"
    )
}

pub(super) fn dashboard() -> Value {
    let mut b = Board::new(
        "prescale-cost",
        "prescale / Cost",
        "What the scaled services cost: budget, cost by service, spot savings, unit costs and \
         GPU-hours saved against static provisioning at maxReplicas.",
        "prescale_price_per_hour_usd",
    );
    b.tag("cost");
    b.row("Budget");
    b.add(
        6,
        7,
        Panel::gauge(
            "Monthly budget used",
            "Cost this calendar month (UTC) of the selected services that have a budget, over \
             their budgets.",
            "percentunit",
            1.2,
        )
        .thresholds(&[(0.8, "orange"), (1.0, "red")])
        .target(
            &format!(
                "sum(prescale_month_cost_usd{{{SEL}}} and on (namespace, service) \
                 prescale_monthly_budget_usd{{{SEL}}}) / sum(prescale_monthly_budget_usd{{{SEL}}})"
            ),
            "used",
        ),
    );
    b.add(
        6,
        7,
        Panel::bars(
            "Budget used by service",
            "Each service's month cost over its monthly budget.",
            "percentunit",
        )
        .range(0.0, Some(1.2))
        .thresholds(&[(0.8, "orange"), (1.0, "red")])
        .target(
            &format!("max by (namespace, service) (prescale_budget_used_ratio{{{SEL}}})"),
            "{{namespace}}/{{service}}",
        ),
    );
    b.add(
        4,
        7,
        Panel::stat(
            "Month to date",
            "Cost this calendar month (UTC).",
            "currencyUSD",
        )
        .target(&format!("sum(prescale_month_cost_usd{{{SEL}}})"), "month"),
    );
    b.add(
        4,
        7,
        Panel::stat(
            "Spot savings (range)",
            "What the spot replica-hours of the time range would have cost more on demand.",
            "currencyUSD",
        )
        .target(&spot_savings("$__range", "namespace"), "saved"),
    );
    b.add(
        4,
        7,
        Panel::stat(
            "GPU-hours saved (range)",
            "GPU-hours static provisioning at maxReplicas would have used in the time range, \
             minus those used.",
            "short",
        )
        .target(
            &format!(
                "sum(increase(prescale_static_gpu_hours_total{{{SEL}}}[$__range])) - \
                 sum(increase(prescale_gpu_hours_total{{{SEL}}}[$__range]))"
            ),
            "saved",
        ),
    );

    b.row("Cost by service");
    b.add(
        16,
        8,
        Panel::timeseries(
            "Cost rate by service",
            "Dollars per hour, by capacity type.",
            "currencyUSD",
        )
        .stacked()
        .target(
            &format!(
                "sum by (namespace, service, capacity) (rate(prescale_cost_usd_total{{{SEL}}}[$__rate_interval])) * 3600"
            ),
            "{{namespace}}/{{service}} {{capacity}}",
        ),
    );
    b.add(
        8,
        8,
        Panel::bars(
            "Cost by service (range)",
            "Dollars spent in the time range.",
            "currencyUSD",
        )
        .target(
            &format!(
                "sum by (namespace, service) (increase(prescale_cost_usd_total{{{SEL}}}[$__range]))"
            ),
            "{{namespace}}/{{service}}",
        ),
    );

    b.row("Spot and on demand");
    b.add(
        12,
        7,
        Panel::timeseries(
            "Running replicas by capacity",
            "Replicas on on-demand and on spot capacity.",
            "none",
        )
        .stacked()
        .target(
            &format!("sum by (capacity) (prescale_replicas{{{SEL}}})"),
            "{{capacity}}",
        ),
    );
    b.add(
        12,
        7,
        Panel::timeseries(
            "Spot savings",
            "Dollars per interval that spot capacity saved against on-demand prices.",
            "currencyUSD",
        )
        .bars_style()
        .target(
            &spot_savings("$__rate_interval", "namespace, service"),
            "{{namespace}}/{{service}}",
        ),
    );
    b.add(
        24,
        6,
        Panel::table(
            "Prices",
            "Price of one replica-hour of each service, by capacity type.",
            "currencyUSD",
        )
        .target(
            &format!(
                "max by (namespace, service, capacity) (prescale_price_per_hour_usd{{{SEL}}})"
            ),
            "",
        ),
    );

    b.row("Unit costs");
    b.add(
        12,
        7,
        Panel::timeseries(
            "Cost per request",
            "Dollars per hour of a namespace's scaled services over its vLLM requests per hour.",
            "currencyUSD",
        )
        .target(
            &format!(
                "sum by (namespace) (rate(prescale_cost_usd_total{{{NS}}}[$__rate_interval])) / \
                 sum by (namespace) (rate(vllm:request_success_total{{{NS}}}[$__rate_interval]))"
            ),
            "{{namespace}}",
        ),
    );
    b.add(
        12,
        7,
        Panel::timeseries(
            "Cost per 1k tokens",
            "Dollars of a namespace's scaled services per thousand prompt and generated tokens \
             of its vLLM servers.",
            "currencyUSD",
        )
        .target(
            &format!(
                "1000 * sum by (namespace) (rate(prescale_cost_usd_total{{{NS}}}[$__rate_interval])) / \
                 (sum by (namespace) (rate(vllm:prompt_tokens_total{{{NS}}}[$__rate_interval])) + \
                 sum by (namespace) (rate(vllm:generation_tokens_total{{{NS}}}[$__rate_interval])))"
            ),
            "{{namespace}}",
        ),
    );

    b.row("GPU-hours");
    b.add(
        24,
        7,
        Panel::timeseries(
            "GPUs in use vs static provisioning",
            "GPUs held by the running replicas, and what static provisioning at maxReplicas would \
             hold; the gap is the GPU-hours saved.",
            "none",
        )
        .target(
            &format!("sum(rate(prescale_gpu_hours_total{{{SEL}}}[$__rate_interval])) * 3600"),
            "in use",
        )
        .target(
            &format!(
                "sum(rate(prescale_static_gpu_hours_total{{{SEL}}}[$__rate_interval])) * 3600"
            ),
            "static at maxReplicas",
        ),
    );
    b.finish()
}
