{{/* Chart name, truncated to the 63 characters of a DNS label. */}}
{{- define "qiw.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: names the Deployment, the Service (and so the certificate's DNS name) and the rest. */}}
{{- define "qiw.fullname" -}}
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

{{- define "qiw.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "qiw.selectorLabels" -}}
app.kubernetes.io/name: {{ include "qiw.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "qiw.labels" -}}
helm.sh/chart: {{ include "qiw.chart" . }}
{{ include "qiw.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "qiw.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "qiw.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The DNS name the API server dials and verifies: <service>.<namespace>.svc. */}}
{{- define "qiw.serviceDNS" -}}
{{- printf "%s.%s.svc" (include "qiw.fullname" .) .Release.Namespace }}
{{- end }}

{{/* Secret holding tls.crt / tls.key (and ca.crt in helm and certManager modes). */}}
{{- define "qiw.tlsSecretName" -}}
{{- if eq .Values.certs.mode "external" }}
{{- required "certs.external.secretName is required when certs.mode is external" .Values.certs.external.secretName }}
{{- else }}
{{- printf "%s-tls" (include "qiw.fullname" .) }}
{{- end }}
{{- end }}

{{/* The CA Secret the pods get or create in selfManaged mode. */}}
{{- define "qiw.caSecretName" -}}
{{- printf "%s-ca" (include "qiw.fullname" .) }}
{{- end }}

{{- define "qiw.certManagerCertificateName" -}}
{{- printf "%s-serving" (include "qiw.fullname" .) }}
{{- end }}

{{- define "qiw.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* Namespaces the webhooks never see: the configured ones plus the release namespace. */}}
{{- define "qiw.excludedNamespaces" -}}
{{- $ns := concat .Values.webhook.excludeNamespaces (list .Release.Namespace) | uniq }}
{{- toJson $ns }}
{{- end }}

{{/* matchConditions are GA from Kubernetes 1.30; older API servers get the server-side exemption only. */}}
{{- define "qiw.matchConditionsSupported" -}}
{{- if semverCompare ">=1.30.0-0" .Capabilities.KubeVersion.Version }}true{{ end }}
{{- end }}

{{- define "qiw.namespaceSelector" -}}
namespaceSelector:
  matchExpressions:
    - key: kubernetes.io/metadata.name
      operator: NotIn
      values: {{ include "qiw.excludedNamespaces" . }}
    {{- with .Values.webhook.namespaceSelectorExpressions }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
{{- end }}

{{- define "qiw.matchConditions" -}}
{{- if include "qiw.matchConditionsSupported" . }}
{{- $conditions := list }}
{{- with .Values.tkeControllerServiceAccounts }}
{{- $quoted := list }}
{{- range . }}{{ $quoted = append $quoted (printf "'%s'" .) }}{{ end }}
{{- $conditions = append $conditions (dict "name" "not-tke-controller" "expression" (printf "!(request.userInfo.username in [%s])" (join ", " $quoted))) }}
{{- end }}
{{- $conditions = concat $conditions .Values.webhook.extraMatchConditions }}
{{- with $conditions }}
matchConditions:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}
{{- end }}

{{/*
The serving certificate in helm mode, as a dict of base64 values {crt, key, ca}.
Reused from the existing Secret (found by lookup) when it was issued for the same DNS name and is
not within renewBeforeDays of expiry; generated otherwise. `lookup` finds nothing under
`helm template` or --dry-run=client, so those always render a fresh pair; `helm install/upgrade`
and `helm template --dry-run=server` see the Secret. Called once, from webhook.yaml, so the Secret
and both caBundles come from the same pair.
*/}}
{{- define "qiw.helmCerts" -}}
{{- $secretName := include "qiw.tlsSecretName" . }}
{{- $dns := include "qiw.serviceDNS" . }}
{{- $existing := lookup "v1" "Secret" .Release.Namespace $secretName }}
{{- $reuse := false }}
{{- if and $existing $existing.data $existing.metadata.annotations }}
{{- $ann := $existing.metadata.annotations }}
{{- $data := $existing.data }}
{{- if and (index $data "tls.crt") (index $data "tls.key") (index $data "ca.crt") (eq (index $ann "qcloud-ingress-webhook/issued-for" | default "") $dns) }}
{{- $notAfter := index $ann "qcloud-ingress-webhook/not-after" | default "" }}
{{- if $notAfter }}
{{- $renewAt := (now | dateModify (printf "+%dh" (mul (int .Values.certs.helm.renewBeforeDays) 24))) }}
{{- if gt ((toDate "2006-01-02T15:04:05Z07:00" $notAfter) | unixEpoch | int64) ($renewAt | unixEpoch | int64) }}
{{- $reuse = true }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- if $reuse }}
{{- $ann := $existing.metadata.annotations }}
{{- dict "crt" (index $existing.data "tls.crt") "key" (index $existing.data "tls.key") "ca" (index $existing.data "ca.crt") "notAfter" (index $ann "qcloud-ingress-webhook/not-after") "reused" true | toJson }}
{{- else }}
{{- $days := int .Values.certs.helm.validityDays }}
{{- $ca := genCA (printf "%s-ca" (include "qiw.fullname" .)) $days }}
{{- $cert := genSignedCert $dns nil (list $dns (printf "%s.cluster.local" $dns)) $days $ca }}
{{- $notAfter := now | dateModify (printf "+%dh" (mul $days 24)) | date "2006-01-02T15:04:05Z07:00" }}
{{- dict "crt" ($cert.Cert | b64enc) "key" ($cert.Key | b64enc) "ca" ($ca.Cert | b64enc) "notAfter" $notAfter "reused" false | toJson }}
{{- end }}
{{- end }}

{{/* The rule settings file (format: src/rules/settings.rs). */}}
{{- define "qiw.config" -}}
enforcement: {{ .Values.enforcement }}
{{- if .Values.directAccessByDefault }}
directAccessByDefault: true
{{- end }}
{{- if ne .Values.exceptions "allow" }}
exceptions: {{ .Values.exceptions }}
{{- end }}
{{- with .Values.rules }}
rules:
  {{- toYaml . | nindent 2 }}
{{- end }}
exempt:
  usernames: {{ concat .Values.tkeControllerServiceAccounts .Values.exempt.usernames | uniq | toJson }}
  groups: {{ .Values.exempt.groups | toJson }}
  namespaces: {{ .Values.exempt.namespaces | toJson }}
{{- end }}

{{/*
Labels of a monitoring object: the chart's labels plus the user's (for a Prometheus or Grafana
selector); the chart's win on a clash, so `helm` still owns what it created.
Call with (dict "root" $ "extra" .Values.metrics.X.labels).
*/}}
{{- define "qiw.monitoringLabels" -}}
{{- $chart := include "qiw.labels" .root | fromYaml }}
{{- toYaml (merge (dict) $chart (.extra | default (dict))) }}
{{- end }}

{{/* The series the chart's ServiceMonitor produces: Prometheus Operator sets job to the Service name. */}}
{{- define "qiw.metricsSelector" -}}
job="{{ include "qiw.fullname" . }}", namespace="{{ .Release.Namespace }}"
{{- end }}
