{{- /*
KEDA's API must exist where KEDA resources are rendered: fails with the value that asks for them
and what to do. `.Capabilities.APIVersions` is the cluster's (helm install/upgrade, Argo CD and
Flux pass it); rendering without a cluster, pass `--api-versions keda.sh/v1alpha1` or set
`keda.checkCrds=false`. dict: root, what (the value's path).
*/ -}}
{{- define "prescale.keda.requireCrds" -}}
{{- if and .root.Values.keda.checkCrds (not (.root.Capabilities.APIVersions.Has "keda.sh/v1alpha1")) }}
{{- fail (printf "%s: renders KEDA resources, but the cluster has no keda.sh/v1alpha1 API (KEDA's CRDs are not installed). Install KEDA first (helm install keda kedacore/keda --namespace keda --create-namespace); rendering without a cluster (helm template, helm lint), pass --api-versions keda.sh/v1alpha1 or set keda.checkCrds=false" .what) }}
{{- end }}
{{- end }}

{{- /*
KEDA resources of the `services` values: the same resources `prescale generate` writes for the
same spec (crates/prescale-manifests/src/build.rs; a test compares them). Each helper takes a
dict and stores what it builds under `.out`, so that resources are assembled as dicts and
written with toYaml.
*/ -}}

{{/* A number as prescale writes it into KEDA strings: whole numbers without a fraction. */}}
{{- define "prescale.num" -}}
{{- if eq (float64 .) (floor .) }}{{ printf "%d" (int64 .) }}{{ else }}{{ toString (float64 .) }}{{ end }}
{{- end }}

{{/* Default trigger names, by trigger type. */}}
{{- define "prescale.keda.defaultNames" -}}
vllm-waiting: waiting
vllm-running: running
vllm-kv-cache: kv_cache
vllm-ttft: ttft
vllm-e2e-latency: e2e_latency
vllm-request-rate: request_rate
gpu-utilization: gpu
prometheus: prometheus
rabbitmq: queue
redis: queue
cpu: cpu
memory: memory
predictive: predictive
{{- end }}

{{- define "prescale.keda.triggerName" -}}
{{- $names := include "prescale.keda.defaultNames" . | fromYaml }}
{{- default (get $names .type) .name }}
{{- end }}

{{/* metadata of a resource. dict: s (service), name, main (the scaled resource), out. */}}
{{- define "prescale.keda.metadata" -}}
{{- $s := .s }}
{{- $labels := dict }}
{{- range $k, $v := $s.labels }}{{ $_ := set $labels $k $v }}{{ end }}
{{- $_ := set $labels "app.kubernetes.io/managed-by" "prescale" }}
{{- $_ := set $labels "app.kubernetes.io/name" $s.name }}
{{- $annotations := dict }}
{{- range $k, $v := $s.annotations }}{{ $_ := set $annotations $k $v }}{{ end }}
{{- if and .main $s.spot (ne $s.kind "training") }}
{{- $prefer := ternary $s.spot.prefer true (hasKey $s.spot "prefer") }}
{{- $_ := set $annotations "prescale.io/spot" (ternary "preferred" "avoid" $prefer) }}
{{- $_ := set $annotations "prescale.io/spot-node-label" (default "karpenter.sh/capacity-type=spot" $s.spot.nodeLabel) }}
{{- with $s.spot.toleration }}{{ $_ := set $annotations "prescale.io/spot-toleration" . }}{{ end }}
{{- end }}
{{- if and .main $s.job }}{{ with $s.job.progressQuery }}
{{- $_ := set $annotations "prescale.io/progress-query" . }}
{{- end }}{{ end }}
{{- $m := dict "name" .name "namespace" $s.namespace "labels" $labels }}
{{- if $annotations }}{{ $_ := set $m "annotations" $annotations }}{{ end }}
{{- $_ := set .out "metadata" $m }}
{{- end }}

{{/* The PromQL selector of a service's pods. dict: s. */}}
{{- define "prescale.keda.selector" -}}
{{- $target := .s.name }}{{ with .s.target }}{{ $target = .name }}{{ end }}
{{- if .s.model -}}
namespace="{{ .s.namespace }}",model_name="{{ .s.model }}"
{{- else -}}
namespace="{{ .s.namespace }}",pod=~"{{ $target }}-.*"
{{- end }}
{{- end }}

{{/* One trigger. dict: s, t, root, out (gets `trigger`). */}}
{{- define "prescale.keda.trigger" -}}
{{- $s := .s }}{{ $t := .t }}{{ $root := .root }}
{{- $name := include "prescale.keda.triggerName" $t }}
{{- $prom := default (include "prescale.defaultPrometheus" $root) $s.prometheus }}
{{- $md := dict }}
{{- $kind := "prometheus" }}{{ $metricType := "AverageValue" }}
{{- if or (eq $t.type "cpu") (eq $t.type "memory") }}
  {{- $kind = $t.type }}{{ $metricType = "Utilization" }}
  {{- $_ := set $md "value" (include "prescale.num" (ternary $t.threshold (ternary 70 80 (eq $t.type "cpu")) (hasKey $t "threshold"))) }}
{{- else if eq $t.type "rabbitmq" }}
  {{- $kind = "rabbitmq" }}
  {{- $_ := set $md "queueName" (default "celery" $t.queue) }}
  {{- $_ := set $md "mode" (default "QueueLength" $t.mode) }}
  {{- /* As Trigger::rabbitmq_protocol: http (ready + unacked, via the management API) by default for celery. */}}
  {{- $protocol := $t.protocol }}{{ if and (not $protocol) (eq $s.kind "celery") }}{{ $protocol = "http" }}{{ end }}
  {{- with $protocol }}{{ $_ := set $md "protocol" . }}{{ end }}
  {{- $_ := set $md "value" (include "prescale.num" (ternary $t.threshold 20 (hasKey $t "threshold"))) }}
  {{- if hasKey $t "activationThreshold" }}{{ $_ := set $md "activationValue" (include "prescale.num" $t.activationThreshold) }}{{ end }}
{{- else if eq $t.type "redis" }}
  {{- $kind = "redis" }}
  {{- $_ := set $md "address" (default "" $t.address) }}
  {{- $_ := set $md "listName" (default "celery" $t.queue) }}
  {{- $_ := set $md "listLength" (include "prescale.num" (ternary $t.threshold 5 (hasKey $t "threshold"))) }}
  {{- if hasKey $t "activationThreshold" }}{{ $_ := set $md "activationListLength" (include "prescale.num" $t.activationThreshold) }}{{ end }}
{{- else if eq $t.type "predictive" }}
  {{- if and $t.metricType (ne $t.metricType "AverageValue") }}{{ fail (printf "services %s/%s: a predictive trigger takes metricType AverageValue only (prescale answers replicas x threshold; under %s the HPA would multiply by the current replicas)" $s.namespace $s.name $t.metricType) }}{{ end }}
  {{- $kind = ternary "external-push" "external" (default false $t.push) }}
  {{- $_ := set $md "scalerAddress" (default (include "prescale.scalerAddress" $root) $t.address) }}
  {{- $_ := set $md "serverAddress" $prom }}
  {{- $_ := set $md "service" (printf "%s/%s" $s.namespace $s.name) }}
  {{- with $t.query }}{{ $_ := set $md "query" . }}{{ end }}
  {{- $_ := set $md "threshold" (include "prescale.num" (ternary $t.threshold 1 (hasKey $t "threshold"))) }}
  {{- if hasKey $t "activationThreshold" }}{{ $_ := set $md "activationThreshold" (include "prescale.num" $t.activationThreshold) }}{{ end }}
  {{- if hasKey $t "quantile" }}
  {{- if hasKey $t "slo" }}{{ fail (printf "services %s/%s: a predictive trigger sets either slo (the headroom is tuned) or quantile (fixed), not both" $s.namespace $s.name) }}{{ end }}
  {{- $_ := set $md "quantile" (include "prescale.num" $t.quantile) }}
  {{- else }}
  {{- $_ := set $md "slo" (include "prescale.num" (ternary $t.slo 0.99 (hasKey $t "slo"))) }}
  {{- end }}
  {{- with $t.sla }}{{ $_ := set $md "sla" . }}{{ end }}
  {{- $_ := set $md "coldStart" (default "3m" $t.coldStart) }}
  {{- $_ := set $md "minReplicas" (toString (int64 $s.minReplicas)) }}
  {{- $_ := set $md "maxReplicas" (toString (int64 $s.maxReplicas)) }}
  {{- $_ := set $md "scaleToZero" (ternary "true" "false" (eq (int64 $s.minReplicas) 0)) }}
  {{- with $s.businessHours }}
  {{- $cal := printf "{\"timezone\":%s,\"weekdays\":%s,\"open\":%s,\"close\":%s,\"holidays\":%s}" (toJson .timezone) (toJson (default (list "mon" "tue" "wed" "thu" "fri") .weekdays)) (toJson (default "09:00" .open)) (toJson (default "17:00" .close)) (toJson (default (list) .holidays)) }}
  {{- $_ := set $md "calendar" $cal }}
  {{- end }}
{{- else }}
  {{- $sel := include "prescale.keda.selector" (dict "s" $s) }}
  {{- $target := $s.name }}{{ with $s.target }}{{ $target = .name }}{{ end }}
  {{- $q := include "prescale.num" (ternary $t.quantile 0.95 (hasKey $t "quantile")) }}
  {{- $query := "" }}{{ $threshold := 1 }}
  {{- if eq $t.type "vllm-waiting" }}
    {{- $query = printf "sum(vllm:num_requests_waiting{%s})" $sel }}{{ $threshold = 10 }}
  {{- else if eq $t.type "vllm-running" }}
    {{- $query = printf "sum(vllm:num_requests_running{%s})" $sel }}{{ $threshold = 32 }}
  {{- else if eq $t.type "vllm-kv-cache" }}
    {{- $query = printf "avg(vllm:kv_cache_usage_perc{%s})" $sel }}{{ $threshold = 0.8 }}{{ $metricType = "Value" }}
  {{- else if eq $t.type "vllm-ttft" }}
    {{- $query = printf "histogram_quantile(%s, sum by (le) (rate(vllm:time_to_first_token_seconds_bucket{%s}[5m])))" $q $sel }}{{ $threshold = 1 }}{{ $metricType = "Value" }}
  {{- else if eq $t.type "vllm-e2e-latency" }}
    {{- $query = printf "histogram_quantile(%s, sum by (le) (rate(vllm:e2e_request_latency_seconds_bucket{%s}[5m])))" $q $sel }}{{ $threshold = 10 }}{{ $metricType = "Value" }}
  {{- else if eq $t.type "vllm-request-rate" }}
    {{- $query = printf "sum(rate(vllm:request_success_total{%s}[1m]))" $sel }}{{ $threshold = 5 }}
  {{- else if eq $t.type "gpu-utilization" }}
    {{- /* As gpu_utilization_query of crates/prescale-manifests: the profiling metric where present, else GPU_UTIL; exported_ and honored labels alike. */}}
    {{- $both := "%[1]s{exported_namespace=\"%[2]s\",exported_pod=~\"%[3]s-.*\"} or %[1]s{namespace=\"%[2]s\",pod=~\"%[3]s-.*\",exported_namespace=\"\"}" }}
    {{- $query = printf "avg(100 * (%s)) or avg(%s)" (printf $both "DCGM_FI_PROF_GR_ENGINE_ACTIVE" $s.namespace $target) (printf $both "DCGM_FI_DEV_GPU_UTIL" $s.namespace $target) }}{{ $threshold = 80 }}{{ $metricType = "Value" }}
  {{- else }}
    {{- $query = default "" $t.query }}
  {{- end }}
  {{- $_ := set $md "serverAddress" $prom }}
  {{- $_ := set $md "query" $query }}
  {{- $_ := set $md "threshold" (include "prescale.num" (ternary $t.threshold $threshold (hasKey $t "threshold"))) }}
  {{- if hasKey $t "activationThreshold" }}{{ $_ := set $md "activationThreshold" (include "prescale.num" $t.activationThreshold) }}{{ end }}
{{- end }}
{{- $out := dict "type" $kind "name" $name "metricType" (default $metricType $t.metricType) "metadata" $md }}
{{- if $t.authentication }}
  {{- $ref := dict "name" $t.authentication.name }}
  {{- if $t.authentication.cluster }}{{ $_ := set $ref "kind" "ClusterTriggerAuthentication" }}{{ end }}
  {{- $_ := set $out "authenticationRef" $ref }}
{{- else if $t.secret }}
  {{- $_ := set $out "authenticationRef" (dict "name" (printf "%s-%s" $s.name (replace "_" "-" $name))) }}
{{- else if and (eq $t.type "predictive") $root.Values.tls.enabled (not $t.address) }}
  {{- $_ := set $out "authenticationRef" (dict "name" (include "prescale.tlsAuthName" $root) "kind" "ClusterTriggerAuthentication") }}
{{- end }}
{{- $_ := set .out "trigger" $out }}
{{- end }}

{{/* The cron trigger of businessHours. dict: h, out. */}}
{{- define "prescale.keda.cron" -}}
{{- $h := .h }}
{{- $num := dict "sun" "0" "sunday" "0" "mon" "1" "monday" "1" "tue" "2" "tuesday" "2" "wed" "3" "wednesday" "3" "thu" "4" "thursday" "4" "fri" "5" "friday" "5" "sat" "6" "saturday" "6" }}
{{- $days := list }}
{{- range (default (list "mon" "tue" "wed" "thu" "fri") $h.weekdays) }}
{{- with get $num (lower (trim .)) }}{{ $days = append $days . }}{{ end }}
{{- end }}
{{- $open := splitList ":" (default "09:00" $h.open) }}
{{- $close := splitList ":" (default "17:00" $h.close) }}
{{- $md := dict "timezone" $h.timezone "desiredReplicas" (include "prescale.num" $h.replicas) }}
{{- $_ := set $md "start" (printf "%d %d * * %s" (atoi (index $open 1)) (atoi (index $open 0)) (join "," $days)) }}
{{- $_ := set $md "end" (printf "%d %d * * %s" (atoi (index $close 1)) (atoi (index $close 0)) (join "," $days)) }}
{{- $_ := set .out "trigger" (dict "type" "cron" "name" "business_hours" "metadata" $md) }}
{{- end }}

{{/* One direction of the HPA behavior, Kubernetes defaults filled in. dict: r, up, out. */}}
{{- define "prescale.keda.rule" -}}
{{- $r := default dict .r }}
{{- $policies := list }}
{{- if $r.policies }}
{{- range $r.policies }}{{ $policies = append $policies (dict "type" .type "value" (int64 .value) "periodSeconds" (int64 .periodSeconds)) }}{{ end }}
{{- else if .up }}
{{- $policies = list (dict "type" "Pods" "value" 4 "periodSeconds" 15) (dict "type" "Percent" "value" 100 "periodSeconds" 15) }}
{{- else }}
{{- $policies = list (dict "type" "Percent" "value" 100 "periodSeconds" 15) }}
{{- end }}
{{- $window := ternary 0 300 .up }}
{{- if hasKey $r "stabilizationWindowSeconds" }}{{ $window = int64 $r.stabilizationWindowSeconds }}{{ end }}
{{- $rule := dict "stabilizationWindowSeconds" $window "selectPolicy" (default "Max" $r.selectPolicy) "policies" $policies }}
{{- if hasKey $r "tolerance" }}{{ $_ := set $rule "tolerance" (include "prescale.num" $r.tolerance) }}{{ end }}
{{- $_ := set .out "rule" $rule }}
{{- end }}

{{/* Triggers of a service, plus the cron trigger of businessHours. dict: s, root. */}}
{{- define "prescale.keda.triggers" -}}
{{- $list := list }}
{{- range .s.triggers }}
{{- $o := dict }}{{ include "prescale.keda.trigger" (dict "s" $.s "t" . "root" $.root "out" $o) }}
{{- $list = append $list $o.trigger }}
{{- end }}
{{- with .s.businessHours }}
{{- $o := dict }}{{ include "prescale.keda.cron" (dict "h" . "out" $o) }}
{{- $list = append $list $o.trigger }}
{{- end }}
{{- $_ := set .out "triggers" $list }}
{{- end }}

{{/* The ScaledObject of a vllm or celery service. dict: s, root. */}}
{{- define "prescale.keda.scaledObject" -}}
{{- $s := .s }}
{{- $o := dict }}
{{- include "prescale.keda.metadata" (dict "s" $s "name" $s.name "main" true "out" $o) }}
{{- include "prescale.keda.triggers" (dict "s" $s "root" .root "out" $o) }}
{{- $spec := dict "minReplicaCount" (int64 $s.minReplicas) "maxReplicaCount" (int64 $s.maxReplicas) "triggers" $o.triggers }}
{{- if hasKey $s "pollingInterval" }}{{ $_ := set $spec "pollingInterval" (int64 $s.pollingInterval) }}{{ end }}
{{- $target := dict "name" $s.name "kind" "Deployment" "apiVersion" "apps/v1" }}
{{- with $s.target }}{{ $target = dict "name" .name "kind" (default "Deployment" .kind) "apiVersion" (default "apps/v1" .apiVersion) }}{{ end }}
{{- $_ := set $spec "scaleTargetRef" $target }}
{{- range $field, $key := dict "idleReplicas" "idleReplicaCount" "cooldownPeriod" "cooldownPeriod" "initialCooldownPeriod" "initialCooldownPeriod" }}
{{- if hasKey $s $field }}{{ $_ := set $spec $key (int64 (get $s $field)) }}{{ end }}
{{- end }}
{{- with $s.fallback }}
{{- $fb := dict "failureThreshold" (int64 .failureThreshold) "replicas" (int64 .replicas) }}
{{- with .behavior }}{{ $_ := set $fb "behavior" . }}{{ end }}
{{- $_ := set $spec "fallback" $fb }}
{{- end }}
{{- $advanced := dict }}
{{- if hasKey $s "behavior" }}
{{- $up := dict }}{{ include "prescale.keda.rule" (dict "r" $s.behavior.scaleUp "up" true "out" $up) }}
{{- $down := dict }}{{ include "prescale.keda.rule" (dict "r" $s.behavior.scaleDown "up" false "out" $down) }}
{{- $_ := set $advanced "horizontalPodAutoscalerConfig" (dict "behavior" (dict "scaleUp" $up.rule "scaleDown" $down.rule)) }}
{{- end }}
{{- with $s.scalingModifiers }}
{{- $sm := dict "formula" .formula "target" (include "prescale.num" .target) }}
{{- if hasKey . "activationTarget" }}{{ $_ := set $sm "activationTarget" (include "prescale.num" .activationTarget) }}{{ end }}
{{- with .metricType }}{{ $_ := set $sm "metricType" . }}{{ end }}
{{- $_ := set $advanced "scalingModifiers" $sm }}
{{- end }}
{{- if $advanced }}{{ $_ := set $spec "advanced" $advanced }}{{ end }}
{{- toYaml (dict "apiVersion" "keda.sh/v1alpha1" "kind" "ScaledObject" "metadata" $o.metadata "spec" $spec) }}
{{- end }}

{{/* Node affinity and toleration of a training Job's pod. dict: spot, pod. */}}
{{- define "prescale.keda.spotScheduling" -}}
{{- $label := splitn "=" 2 (default "karpenter.sh/capacity-type=spot" .spot.nodeLabel) }}
{{- $prefer := ternary .spot.prefer true (hasKey .spot "prefer") }}
{{- $expr := dict "key" $label._0 "operator" (ternary "In" "NotIn" $prefer) "values" (list (default "" $label._1)) }}
{{- $_ := set .pod "affinity" (dict "nodeAffinity" (dict "preferredDuringSchedulingIgnoredDuringExecution" (list (dict "weight" 100 "preference" (dict "matchExpressions" (list $expr)))))) }}
{{- with .spot.toleration }}
{{- $parts := splitn ":" 2 . }}
{{- $kv := splitn "=" 2 $parts._0 }}
{{- $tol := dict "key" $kv._0 }}
{{- if $kv._1 }}{{ $_ := set $tol "operator" "Equal" }}{{ $_ := set $tol "value" $kv._1 }}{{ else }}{{ $_ := set $tol "operator" "Exists" }}{{ end }}
{{- with $parts._1 }}{{ $_ := set $tol "effect" . }}{{ end }}
{{- $_ := set $.pod "tolerations" (list $tol) }}
{{- end }}
{{- end }}

{{/* The ScaledJob of a training service. dict: s, root. */}}
{{- define "prescale.keda.scaledJob" -}}
{{- $s := .s }}{{ $job := $s.job }}
{{- $o := dict }}
{{- include "prescale.keda.metadata" (dict "s" $s "name" $s.name "main" true "out" $o) }}
{{- include "prescale.keda.triggers" (dict "s" $s "root" .root "out" $o) }}
{{- $spec := dict "minReplicaCount" (int64 $s.minReplicas) "maxReplicaCount" (int64 $s.maxReplicas) "triggers" $o.triggers }}
{{- if hasKey $s "pollingInterval" }}{{ $_ := set $spec "pollingInterval" (int64 $s.pollingInterval) }}{{ end }}
{{- $container := dict "name" $s.name "image" $job.image }}
{{- with $job.command }}{{ $_ := set $container "command" . }}{{ end }}
{{- if gt (int64 (default 0 $job.gpus)) 0 }}
{{- $_ := set $container "resources" (dict "limits" (dict "nvidia.com/gpu" (include "prescale.num" $job.gpus))) }}
{{- end }}
{{- $pod := dict "restartPolicy" "Never" "containers" (list $container) }}
{{- with $s.spot }}{{ include "prescale.keda.spotScheduling" (dict "spot" . "pod" $pod) }}{{ end }}
{{- $jobSpec := dict "backoffLimit" (int64 (default 0 $job.backoffLimit)) }}
{{- if hasKey $job "activeDeadlineSeconds" }}{{ $_ := set $jobSpec "activeDeadlineSeconds" (int64 $job.activeDeadlineSeconds) }}{{ end }}
{{- $_ := set $jobSpec "template" (dict "metadata" (dict "labels" (dict "app.kubernetes.io/name" $s.name "app.kubernetes.io/managed-by" "prescale")) "spec" $pod) }}
{{- $_ := set $spec "jobTargetRef" $jobSpec }}
{{- $_ := set $spec "successfulJobsHistoryLimit" (int64 (ternary $job.successfulJobsHistoryLimit 5 (hasKey $job "successfulJobsHistoryLimit"))) }}
{{- $_ := set $spec "failedJobsHistoryLimit" (int64 (ternary $job.failedJobsHistoryLimit 5 (hasKey $job "failedJobsHistoryLimit"))) }}
{{- $conditions := ternary $job.pendingPodConditions (list "Ready" "PodScheduled") (hasKey $job "pendingPodConditions") }}
{{- $_ := set $spec "scalingStrategy" (dict "strategy" (default "accurate" $job.scalingStrategy) "pendingPodConditions" $conditions) }}
{{- toYaml (dict "apiVersion" "keda.sh/v1alpha1" "kind" "ScaledJob" "metadata" $o.metadata "spec" $spec) }}
{{- end }}

{{/* The TriggerAuthentication of a trigger with `secret`. dict: s, t. */}}
{{- define "prescale.keda.triggerAuthentication" -}}
{{- $s := .s }}{{ $t := .t }}
{{- $name := include "prescale.keda.triggerName" $t }}
{{- $o := dict }}
{{- include "prescale.keda.metadata" (dict "s" $s "name" (printf "%s-%s" $s.name (replace "_" "-" $name)) "main" false "out" $o) }}
{{- $param := ternary "password" "host" (eq $t.type "redis") }}
{{- $ref := dict "parameter" $param "name" $t.secret.name "key" (default $param $t.secret.key) }}
{{- toYaml (dict "apiVersion" "keda.sh/v1alpha1" "kind" "TriggerAuthentication" "metadata" $o.metadata "spec" (dict "secretTargetRef" (list $ref))) }}
{{- end }}
