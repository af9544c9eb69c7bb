{{- /*
TLS between KEDA and the server, and who may reach the server: helpers and the checks that
span values (values.schema.json checks each value alone).
*/ -}}

{{/* The server's TLS Secret: `tls.secretName`, or `<fullname>-server-tls` with cert-manager. */}}
{{- define "prescale.tlsSecretName" -}}
{{- if .Values.tls.secretName }}
{{- .Values.tls.secretName }}
{{- else }}
{{- printf "%s-server-tls" (include "prescale.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/* Whether cert-manager issues the certificates ("true" or empty). */}}
{{- define "prescale.certManager" -}}
{{- if and .Values.tls.enabled .Values.tls.certManager.enabled }}true{{ end }}
{{- end }}

{{/* Whether cert-manager issues KEDA's certificate too: KEDA needs that Secret for its client
     certificate (mutual TLS) or for the CA of the server (the ClusterTriggerAuthentication). */}}
{{- define "prescale.certManager.keda" -}}
{{- if and (include "prescale.certManager" .) (or .Values.tls.clientAuth .Values.tls.keda.triggerAuthentication) }}true{{ end }}
{{- end }}

{{/* The DNS names KEDA may call the server by: its Service's names. */}}
{{- define "prescale.serverDnsNames" -}}
{{- $svc := include "prescale.fullname" . }}
{{- $ns := .Release.Namespace }}
{{- $names := list $svc (printf "%s.%s" $svc $ns) (printf "%s.%s.svc" $svc $ns) (printf "%s.%s.svc.%s" $svc $ns .Values.tls.certManager.clusterDomain) }}
{{- toYaml (uniq (concat $names (default list .Values.tls.certManager.extraDnsNames))) }}
{{- end }}

{{/* The Certificate fields both certificates share. */}}
{{- define "prescale.certificateCommon" -}}
{{- $cm := .Values.tls.certManager -}}
duration: {{ $cm.duration }}
renewBefore: {{ $cm.renewBefore }}
privateKey:
  {{- toYaml $cm.privateKey | nindent 2 }}
issuerRef:
  name: {{ $cm.issuerRef.name }}
  kind: {{ $cm.issuerRef.kind }}
  group: {{ $cm.issuerRef.group }}
secretTemplate:
  labels:
    {{- include "prescale.labels" . | nindent 4 }}
{{- end }}

{{/* Key usages: key encipherment only means something for RSA keys. */}}
{{- define "prescale.certificateUsages" -}}
{{- $usages := list "digital signature" }}
{{- if eq (default "RSA" .root.Values.tls.certManager.privateKey.algorithm) "RSA" }}{{ $usages = append $usages "key encipherment" }}{{ end }}
{{- toYaml (append $usages .usage) }}
{{- end }}

{{/* Labels of KEDA's operator pods (kedacore/charts: `app: keda-operator`). */}}
{{- define "prescale.kedaOperatorLabels" -}}
{{- toYaml (default (dict "app" "keda-operator") .Values.keda.operatorLabels) }}
{{- end }}

{{/* Fails on TLS values that do not fit together, naming the value. */}}
{{- define "prescale.tls.validate" -}}
{{- $tls := .Values.tls }}
{{- $cm := $tls.certManager }}
{{- if and $cm.enabled (not $tls.enabled) }}
{{- fail "tls.certManager.enabled: needs tls.enabled=true (the certificates are for gRPC over TLS)" }}
{{- end }}
{{- if $tls.enabled }}
{{- if and (not $cm.enabled) (not $tls.secretName) }}
{{- fail (printf "tls.secretName: required when tls.enabled is true, unless tls.certManager.enabled: the Secret with the server's tls.crt and tls.key%s" (ternary " and ca.crt (the CA of KEDA's client certificates, for tls.clientAuth)" "" $tls.clientAuth)) }}
{{- end }}
{{- if and $cm.enabled (not $cm.issuerRef.name) }}
{{- fail "tls.certManager.issuerRef.name: required when tls.certManager.enabled is true (the cert-manager Issuer or ClusterIssuer that signs the server's and KEDA's certificates)" }}
{{- end }}
{{- if and (include "prescale.certManager.keda" .) (eq $cm.issuerRef.kind "Issuer") (eq $cm.issuerRef.group "cert-manager.io") (ne .Values.keda.namespace .Release.Namespace) }}
{{- fail (printf "tls.certManager.issuerRef.kind: an Issuer signs only in its own namespace, but KEDA's certificate is issued in keda.namespace (%s), not the release's (%s): use a ClusterIssuer" .Values.keda.namespace .Release.Namespace) }}
{{- end }}
{{- if and $cm.enabled (eq $cm.privateKey.algorithm "RSA") (lt (int $cm.privateKey.size) 2048) (ne (int $cm.privateKey.size) 0) }}
{{- fail (printf "tls.certManager.privateKey.size: RSA keys need at least 2048 bits, got %d" (int $cm.privateKey.size)) }}
{{- end }}
{{- if and $cm.enabled (eq $cm.privateKey.algorithm "ECDSA") (not (has (int $cm.privateKey.size) (list 0 256 384 521))) }}
{{- fail (printf "tls.certManager.privateKey.size: ECDSA keys are 256, 384 or 521 bits, got %d" (int $cm.privateKey.size)) }}
{{- end }}
{{- end }}
{{- end }}

{{/* The client certificate Secret of the gRPC `helm test` pod under mutual TLS:
     `tests.grpc.clientSecretName`, or one cert-manager issues (`<fullname>-test-client`);
     empty when there is none (the pod is then not rendered). */}}
{{- define "prescale.grpcTest.clientSecret" -}}
{{- if .Values.tests.grpc.clientSecretName }}
{{- .Values.tests.grpc.clientSecretName }}
{{- else if include "prescale.certManager" . }}
{{- printf "%s-test-client" (include "prescale.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/* Whether the gRPC `helm test` pod is rendered ("true" or empty): under mutual TLS only with
     a client certificate to call with. */}}
{{- define "prescale.grpcTest" -}}
{{- if .Values.tests.grpc.enabled }}
{{- if not (and .Values.tls.enabled .Values.tls.clientAuth) }}true
{{- else if include "prescale.grpcTest.clientSecret" . }}true
{{- end }}
{{- end }}
{{- end }}
