{{- /*
Checks of one service across its fields (values.schema.json checks each field alone): the rules
of `prescale generate` (crates/prescale-manifests/src/check) and of KEDA that span fields.
Fails with `services.<key>.<field>: <reason>`. dict: key, s (the service with its defaults and
its predictive trigger first).
*/ -}}
{{- define "prescale.keda.validate" -}}
{{- $s := .s }}
{{- $p := printf "services.%s" .key }}
{{- $training := eq $s.kind "training" }}
{{- if gt (int64 $s.minReplicas) (int64 $s.maxReplicas) }}
{{- fail (printf "%s.minReplicas: must be <= maxReplicas (%d), got %d" $p (int64 $s.maxReplicas) (int64 $s.minReplicas)) }}
{{- end }}
{{- if $training }}
{{- if not $s.job }}{{ fail (printf "%s: kind `training` needs `job` (the Job started per queued item)" $p) }}{{ end }}
{{- range list "target" "idleReplicas" "cooldownPeriod" "initialCooldownPeriod" "behavior" "fallback" "scalingModifiers" "businessHours" }}
{{- if hasKey $s . }}{{ fail (printf "%s.%s: not available for kind `training` (a KEDA ScaledJob has no HPA)" $p .) }}{{ end }}
{{- end }}
{{- else if $s.job }}
{{- fail (printf "%s.job: only for kind `training`" $p) }}
{{- end }}
{{- if and $s.model (ne $s.kind "vllm") }}{{ fail (printf "%s.model: only for kind `vllm`" $p) }}{{ end }}
{{- if and (hasKey $s "idleReplicas") (ge (int64 $s.idleReplicas) (int64 $s.minReplicas)) }}
{{- fail (printf "%s.idleReplicas: must be < minReplicas (%d), got %d" $p (int64 $s.minReplicas) (int64 $s.idleReplicas)) }}
{{- end }}
{{- with $s.businessHours }}
{{- if gt (int64 .replicas) (int64 $s.maxReplicas) }}
{{- fail (printf "%s.businessHours.replicas: must be in 1..=%d (maxReplicas)" $p (int64 $s.maxReplicas)) }}
{{- end }}
{{- end }}
{{- if not $s.triggers }}
{{- fail (printf "%s.triggers: must list at least one trigger (or enable `predictive`)" $p) }}
{{- end }}
{{- /* Trigger types per kind, and the optional fields each type takes. */}}
{{- $allowed := dict
  "vllm" (list "vllm-waiting" "vllm-running" "vllm-kv-cache" "vllm-ttft" "vllm-e2e-latency" "vllm-request-rate" "gpu-utilization" "prometheus" "cpu" "memory" "predictive")
  "celery" (list "rabbitmq" "redis" "prometheus" "cpu" "memory" "predictive")
  "training" (list "rabbitmq" "redis" "prometheus" "predictive") }}
{{- $uses := dict
  "query" (list "prometheus" "predictive")
  "quantile" (list "vllm-ttft" "vllm-e2e-latency" "predictive")
  "queue" (list "rabbitmq" "redis")
  "mode" (list "rabbitmq")
  "protocol" (list "rabbitmq")
  "address" (list "redis" "predictive")
  "secret" (list "rabbitmq" "redis")
  "authentication" (list "rabbitmq" "redis" "predictive")
  "coldStart" (list "predictive")
  "push" (list "predictive")
  "slo" (list "predictive")
  "sla" (list "predictive") }}
{{- $names := dict }}
{{- $demand := false }}
{{- $onlyResource := true }}
{{- $pred := false }}
{{- if $s.predictive }}{{ if $s.predictive.enabled }}{{ $pred = true }}{{ end }}{{ end }}
{{- range $i, $t := $s.triggers }}
{{- $tp := printf "%s.triggers[%d]" $p (sub $i (ternary 1 0 $pred)) }}
{{- if and $pred (eq $i 0) }}{{ $tp = printf "%s.predictive" $p }}{{ end }}
{{- if not (has $t.type (get $allowed $s.kind)) }}
{{- fail (printf "%s.type: `%s` is not a trigger of kind `%s` (allowed: %s)" $tp $t.type $s.kind (join ", " (get $allowed $s.kind))) }}
{{- end }}
{{- range $field, $types := $uses }}
{{- $set := ternary $t.push (hasKey $t $field) (eq $field "push") }}
{{- if and $set (not (has $t.type $types)) }}
{{- fail (printf "%s.%s: not used by trigger type `%s`" $tp $field $t.type) }}
{{- end }}
{{- end }}
{{- if and (eq $t.type "prometheus") (not (trim (default "" $t.query))) }}{{ fail (printf "%s.query: required for type `prometheus`" $tp) }}{{ end }}
{{- if and (eq $t.type "predictive") (not (trim (default "" $t.query))) }}{{ fail (printf "%s.query: required for type `predictive`: the demand the forecast learns from" $tp) }}{{ end }}
{{- if and (eq $t.type "predictive") (not (hasKey $t "threshold")) }}{{ fail (printf "%s.threshold: required for type `predictive`: the demand one replica serves, in the query's unit" $tp) }}{{ end }}
{{- if and $t.secret $t.authentication }}{{ fail (printf "%s.authentication: give either `secret` or `authentication`, not both" $tp) }}{{ end }}
{{- if and (eq $t.type "rabbitmq") (not $t.secret) (not $t.authentication) }}{{ fail (printf "%s.secret: required for type `rabbitmq`: the Secret holding the broker URL" $tp) }}{{ end }}
{{- if and (eq $t.type "rabbitmq") (eq (default "" $t.mode) "MessageRate") (ne (default (ternary "http" "" (eq $s.kind "celery")) $t.protocol) "http") }}{{ fail (printf "%s.mode: `MessageRate` needs `protocol: http`: KEDA reads the publish rate from the RabbitMQ management API; over AMQP it has the ready messages only" $tp) }}{{ end }}
{{- if and (eq $t.type "redis") (not $t.address) }}{{ fail (printf "%s.address: required for type `redis` (host:port)" $tp) }}{{ end }}
{{- $resource := or (eq $t.type "cpu") (eq $t.type "memory") }}
{{- if $t.metricType }}
{{- if and (eq $t.metricType "Utilization") (not $resource) }}{{ fail (printf "%s.metricType: `Utilization` is only for cpu and memory" $tp) }}{{ end }}
{{- if and $resource (eq $t.metricType "Value") }}{{ fail (printf "%s.metricType: cpu and memory take `Utilization` or `AverageValue`" $tp) }}{{ end }}
{{- if and $training (ne $t.metricType "AverageValue") }}{{ fail (printf "%s.metricType: a ScaledJob counts jobs from AverageValue targets only" $tp) }}{{ end }}
{{- end }}
{{- if hasKey $t "threshold" }}
{{- if and (eq $t.type "redis") (ne (float64 $t.threshold) (floor $t.threshold)) }}{{ fail (printf "%s.threshold: a Redis list length must be a whole number" $tp) }}{{ end }}
{{- if and (eq $t.type "vllm-kv-cache") (gt (float64 $t.threshold) 1.0) }}{{ fail (printf "%s.threshold: vllm:kv_cache_usage_perc is a ratio in 0..1 (0.8 = 80 %%)" $tp) }}{{ end }}
{{- if and (has $t.type (list "gpu-utilization" "cpu" "memory")) (gt (float64 $t.threshold) 100.0) (ne (default "" $t.metricType) "AverageValue") }}{{ fail (printf "%s.threshold: a utilization in percent must be <= 100" $tp) }}{{ end }}
{{- end }}
{{- if and (eq $t.type "redis") (hasKey $t "activationThreshold") (ne (float64 $t.activationThreshold) (floor $t.activationThreshold)) }}{{ fail (printf "%s.activationThreshold: a Redis list length must be a whole number" $tp) }}{{ end }}
{{- with $t.address }}
{{- if or (contains "@" .) (contains "password=" (lower .)) }}{{ fail (printf "%s.address: credentials must not be inline: reference a Secret with `secret`" $tp) }}{{ end }}
{{- if or (contains "://" .) (not (contains ":" .)) }}{{ fail (printf "%s.address: must be host:port, got `%s`" $tp .) }}{{ end }}
{{- end }}
{{- $name := include "prescale.keda.triggerName" $t }}
{{- if or (hasKey $names $name) (eq $name "business_hours") }}{{ fail (printf "%s.name: duplicate trigger name `%s` (set `name`)" $tp $name) }}{{ end }}
{{- $_ := set $names $name true }}
{{- if has $t.type (list "predictive" "rabbitmq" "redis" "prometheus") }}{{ $demand = true }}{{ end }}
{{- if not $resource }}{{ $onlyResource = false }}{{ end }}
{{- end }}
{{- if and (not $training) (not $demand) (or (eq (int64 $s.minReplicas) 0) (and (hasKey $s "idleReplicas") (eq (int64 $s.idleReplicas) 0))) }}
{{- fail (printf "%s.%s: scaling to zero needs a demand-side trigger (predictive, rabbitmq, redis or prometheus): vLLM, GPU, cpu and memory metrics vanish with the pods and cannot wake the service" $p (ternary "minReplicas" "idleReplicas" (eq (int64 $s.minReplicas) 0))) }}
{{- end }}
{{- if $s.fallback }}
{{- if $onlyResource }}{{ fail (printf "%s.fallback: KEDA has no fallback for cpu and memory triggers: add another trigger or drop it" $p) }}{{ end }}
{{- if and $s.scalingModifiers (ne (float64 $s.scalingModifiers.target) (floor $s.scalingModifiers.target)) }}
{{- fail (printf "%s.scalingModifiers.target: must be a whole number when `fallback` is set (KEDA's fallback needs it)" $p) }}
{{- end }}
{{- end }}
{{- if and $s.businessHours $s.scalingModifiers (not (contains "business_hours" $s.scalingModifiers.formula)) }}
{{- fail (printf "%s.scalingModifiers.formula: must refer to `business_hours` (the cron trigger of businessHours), e.g. `max(..., business_hours ?? 0)`" $p) }}
{{- end }}
{{- end }}
