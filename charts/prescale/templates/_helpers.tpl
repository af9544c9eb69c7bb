{{/* Names and labels of the server's resources. */}}

{{- define "prescale.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* `<release>-prescale`, or the release name when it already contains the chart name. */}}
{{- define "prescale.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "prescale.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "prescale.selectorLabels" -}}
app.kubernetes.io/name: {{ include "prescale.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The `helm test` pod: not selected by the server's Service. */}}
{{- define "prescale.testLabels" -}}
app.kubernetes.io/name: {{ include "prescale.name" . }}-test
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: test
{{- end }}

{{- /* The gRPC `helm test` pod's: apart from the HTTP test pod's, so that the NetworkPolicy
admits only it to gRPC. */ -}}
{{- define "prescale.grpcTestLabels" -}}
app.kubernetes.io/name: {{ include "prescale.name" . }}-test
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: test-grpc
{{- end }}

{{- define "prescale.labels" -}}
helm.sh/chart: {{ include "prescale.chart" . }}
{{ include "prescale.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: prescale
{{- end }}

{{- define "prescale.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "prescale.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "prescale.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* The Prometheus a service's triggers query when it names none (prescale generate's too). */}}
{{- define "prescale.defaultPrometheus" -}}http://prometheus-operated.monitoring.svc:9090{{- end }}

{{/* The server's config: `config` as given, with `prometheus.allowed` (the Prometheus a
     serverAddress may name) set, unless given, to the Prometheus of every enabled service
     (the default one when none is). */}}
{{/*
"true" when the server reads the Kubernetes API: `kubernetes` (the config's, or `--kubernetes`
among server.extraArgs) together with a `cost` section, the only reader of running replicas.
Empty otherwise: no RBAC, no service account token.
*/}}
{{- define "prescale.readsKubernetes" -}}
{{- $cfg := default dict .Values.config }}
{{- if and $cfg.cost (or $cfg.kubernetes (has "--kubernetes" .Values.server.extraArgs)) }}true{{ end }}
{{- end }}

{{- define "prescale.serverConfig" -}}
{{- $cfg := deepCopy (default dict .Values.config) }}
{{- $prom := deepCopy (default dict $cfg.prometheus) }}
{{- if not (hasKey $prom "allowed") }}
  {{- $allowed := list }}
  {{- range $key, $s := .Values.services }}
    {{- if $s.enabled }}{{ $allowed = append $allowed (default (include "prescale.defaultPrometheus" $) $s.prometheus) }}{{ end }}
  {{- end }}
  {{- if not $allowed }}{{ $allowed = list (include "prescale.defaultPrometheus" .) }}{{ end }}
  {{- $_ := set $prom "allowed" (uniq $allowed) }}
  {{- $_ := set $cfg "prometheus" $prom }}
{{- end }}
{{- toYaml $cfg }}
{{- end }}

{{/* The gRPC address KEDA calls: the server's Service in the release namespace. */}}
{{- define "prescale.scalerAddress" -}}
{{- printf "%s.%s.svc:%d" (include "prescale.fullname" .) .Release.Namespace (int .Values.server.grpcPort) }}
{{- end }}

{{/* Name of the ClusterTriggerAuthentication carrying KEDA's TLS material. */}}
{{- define "prescale.tlsAuthName" -}}
{{- printf "%s-tls" (include "prescale.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Where things are mounted in the server container. */}}
{{- define "prescale.configPath" -}}/etc/prescale/config.yaml{{- end }}
{{- define "prescale.dataDir" -}}/var/lib/prescale{{- end }}
{{- define "prescale.tlsDir" -}}/etc/prescale/tls{{- end }}
