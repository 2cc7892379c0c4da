{{/* The chart's name, overridable. */}}
{{- define "xinyi.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The release's full name: "<release>-<chart>", or the release alone if it contains the chart name. */}}
{{- define "xinyi.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* A component's resource name. Call with (dict "root" $ "component" "ledger"). */}}
{{- define "xinyi.componentName" -}}
{{- printf "%s-%s" (include "xinyi.fullname" .root) .component | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "xinyi.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Selector labels: stable for the life of a Deployment. (dict "root" $ "component" "ledger") */}}
{{- define "xinyi.selectorLabels" -}}
app.kubernetes.io/name: {{ include "xinyi.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* The standard labels. (dict "root" $ "component" "ledger") */}}
{{- define "xinyi.labels" -}}
helm.sh/chart: {{ include "xinyi.chart" .root }}
{{ include "xinyi.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: xinyi
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
{{- end -}}

{{/* The component's image: "<repository>-<component>:<tag>". (dict "root" $ "component" "ledger") */}}
{{- define "xinyi.image" -}}
{{- $image := .root.Values.image -}}
{{- printf "%s-%s:%s" $image.repository .component (default .root.Chart.AppVersion $image.tag) -}}
{{- end -}}

{{/* A service's settings: the shared defaults overridden by services.<name>. (dict "root" $ "component" "ledger") */}}
{{- define "xinyi.serviceValues" -}}
{{- $own := index .root.Values.services .component | default dict -}}
{{- toYaml (mergeOverwrite (deepCopy .root.Values.defaults) (deepCopy $own)) -}}
{{- end -}}

{{/* Pod security: the images run as UID 10001, non-root. */}}
{{- define "xinyi.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Container security: read-only root file system, no privilege escalation, no capabilities. */}}
{{- define "xinyi.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: ["ALL"]
{{- end -}}
