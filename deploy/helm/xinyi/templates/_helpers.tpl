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

{{/* Selector labels: stable for the life of a workload. (dict "root" $ "component" "ledger") */}}
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

{{/* The five services, in start-up order. */}}
{{- define "xinyi.serviceNames" -}}
{{- toJson (list "identity" "ledger" "voting" "disclosure" "notifications") -}}
{{- end -}}

{{/* The enabled services, as a JSON list. */}}
{{- define "xinyi.enabledServices" -}}
{{- $enabled := list -}}
{{- range $name := include "xinyi.serviceNames" . | fromJsonArray -}}
{{- $own := index $.Values.services $name | default dict -}}
{{- if ne (toString $own.enabled) "false" -}}
{{- $enabled = append $enabled $name -}}
{{- end -}}
{{- end -}}
{{- toJson $enabled -}}
{{- end -}}

{{/*
Which services each one calls over gRPC besides the gateway, which calls all five: every
service verifies tokens with identity's keys (ledger and voting also read ownership from it),
and a disclosure rebuild replays ledger's and voting's event logs. The *_ADDR variables and the
NetworkPolicies both follow this map.
*/}}
{{- define "xinyi.calls" -}}
{{- toJson (dict
  "identity" (list)
  "ledger" (list "identity")
  "voting" (list "identity")
  "disclosure" (list "identity" "ledger" "voting")
  "notifications" (list "identity")
  "gateway" (include "xinyi.serviceNames" . | fromJsonArray)) -}}
{{- end -}}

{{/* A deep merge: maps merge key by key, anything else (false and 0 included) replaces. (list base override) */}}
{{- define "xinyi.merge" -}}
{{- $out := deepCopy (index . 0 | default dict) -}}
{{- range $key, $value := index . 1 | default dict -}}
{{- $current := get $out $key -}}
{{- if and (kindIs "map" $value) (kindIs "map" $current) -}}
{{- $_ := set $out $key (include "xinyi.merge" (list $current $value) | fromYaml) -}}
{{- else -}}
{{- $_ := set $out $key $value -}}
{{- end -}}
{{- end -}}
{{- toYaml $out -}}
{{- end -}}

{{/* A component's settings: `defaults` overridden by services.<name> (or gateway). Use with fromYaml. (dict "root" $ "component" "ledger") */}}
{{- define "xinyi.values" -}}
{{- $own := ternary .root.Values.gateway (index .root.Values.services .component) (eq .component "gateway") -}}
{{- include "xinyi.merge" (list .root.Values.defaults $own) -}}
{{- end -}}

{{/* The component's image: "<repository>-<component>:<tag>". (dict "root" $ "component" "ledger") */}}
{{- define "xinyi.image" -}}
{{- $image := .root.Values.image -}}
{{- printf "%s-%s:%s" $image.repository .component (default .root.Chart.AppVersion $image.tag) -}}
{{- end -}}

{{/* A service's gRPC address inside the cluster. (dict "root" $ "component" "ledger") */}}
{{/* A service's gRPC address: its headless Service by DNS, so a client sees every ready pod and
takes turns among them (the kit's channels balance round robin); a plain ClusterIP would pin
each client's one HTTP/2 connection to one pod. */}}
{{- define "xinyi.grpcAddr" -}}
{{- $v := include "xinyi.values" . | fromYaml -}}
{{- printf "dns:///%s:%d" (include "xinyi.componentName" .) ($v.grpcPort | int) -}}
{{- end -}}

{{/* The component's ServiceAccount name. (dict "root" $ "component" "ledger") */}}
{{- define "xinyi.serviceAccountName" -}}
{{- $v := include "xinyi.values" . | fromYaml -}}
{{- if $v.serviceAccount.create -}}
{{- default (include "xinyi.componentName" .) $v.serviceAccount.name -}}
{{- else -}}
{{- default "default" $v.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Pod security for Xinyi's images: they run as UID 10001 (the Dockerfile's USER). */}}
{{- define "xinyi.podSecurityContext" -}}
{{- include "xinyi.podSecurityContextFor" 10001 -}}
{{- end -}}

{{/* Pod security for a user id. (uid) */}}
{{- define "xinyi.podSecurityContextFor" -}}
runAsNonRoot: true
runAsUser: {{ . | int }}
runAsGroup: {{ . | int }}
fsGroup: {{ . | int }}
fsGroupChangePolicy: OnRootMismatch
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

{{/* Scheduling fields of a pod spec, from a component's settings. */}}
{{- define "xinyi.scheduling" -}}
{{- with .nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .topologySpreadConstraints }}
topologySpreadConstraints:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Plain and Secret-sourced extra variables, from a component's settings. */}}
{{- define "xinyi.extraEnv" -}}
{{- range $var, $value := .extraEnv }}
- name: {{ $var }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- range $var, $ref := .secretEnv }}
- name: {{ $var }}
  valueFrom:
    secretKeyRef:
      name: {{ $ref.name }}
      key: {{ $ref.key }}
{{- end }}
{{- end -}}

{{/* --- secrets ------------------------------------------------------------------------------ */}}

{{/* The Secret holding database URLs and passwords. */}}
{{- define "xinyi.dbSecretName" -}}
{{- .Values.postgresql.existingSecret | default (printf "%s-db" (include "xinyi.fullname" .)) -}}
{{- end -}}

{{/* The Secret holding the services' other secret settings. */}}
{{- define "xinyi.appSecretName" -}}
{{- .Values.secrets.existingSecret | default (printf "%s-app" (include "xinyi.fullname" .)) -}}
{{- end -}}

{{/*
A generated secret value that survives upgrades: the given value if any, else the one already in
the release's Secret, else a new random one. (dict "root" $ "secret" <name> "key" <key> "given" <value> "length" <n>)
*/}}
{{- define "xinyi.keptSecret" -}}
{{- if .given -}}
{{- .given -}}
{{- else -}}
{{- $existing := lookup "v1" "Secret" .root.Release.Namespace .secret -}}
{{- $data := ($existing | default dict).data | default dict -}}
{{- if hasKey $data .key -}}
{{- index $data .key | b64dec -}}
{{- else -}}
{{- randAlphaNum (.length | default 32 | int) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* A secretKeyRef env entry's valueFrom. (dict "name" <secret> "key" <key> "optional" <bool>) */}}
{{- define "xinyi.secretRef" -}}
valueFrom:
  secretKeyRef:
    name: {{ .name }}
    key: {{ .key }}
    {{- if .optional }}
    optional: true
    {{- end }}
{{- end -}}

{{/* --- external or trial infrastructure -------------------------------------------------------- */}}

{{- define "xinyi.postgresqlHost" -}}
{{- if .Values.trial.enabled -}}
{{- include "xinyi.componentName" (dict "root" . "component" "postgresql") -}}
{{- else -}}
{{- required "postgresql.host is required: the external PostgreSQL server (or set trial.enabled=true for an in-chart one)" .Values.postgresql.host -}}
{{- end -}}
{{- end -}}

{{- define "xinyi.postgresqlPort" -}}
{{- ternary 5432 .Values.postgresql.port .Values.trial.enabled | int -}}
{{- end -}}

{{/* The NATS URL, when the chart knows it (not in a Secret). */}}
{{- define "xinyi.natsUrl" -}}
{{- if .Values.trial.enabled -}}
{{- printf "nats://%s:4222" (include "xinyi.componentName" (dict "root" . "component" "nats")) -}}
{{- else if not .Values.nats.existingSecret.name -}}
{{- required "nats.url is required: the external NATS server, e.g. nats://nats.nats:4222 (or nats.existingSecret, or trial.enabled=true)" .Values.nats.url -}}
{{- end -}}
{{- end -}}

{{/* The NATS port NetworkPolicies allow: the URL's, else nats.port (the URL is in a Secret). */}}
{{- define "xinyi.natsPort" -}}
{{- $url := include "xinyi.natsUrl" . -}}
{{- if not $url -}}
{{- .Values.nats.port | int -}}
{{- else if contains ":" (urlParse $url).host -}}
{{- splitList ":" (urlParse $url).host | last | int -}}
{{- else -}}
4222
{{- end -}}
{{- end -}}

{{/* The ledger's S3 endpoint. */}}
{{- define "xinyi.s3Endpoint" -}}
{{- if .Values.trial.enabled -}}
{{- printf "http://%s:9000" (include "xinyi.componentName" (dict "root" . "component" "objectstorage")) -}}
{{- else -}}
{{- required "objectStorage.endpoint is required for the ledger's vouchers: an S3-compatible store, e.g. https://s3.example.internal (or services.ledger.vouchers.store=disk, or trial.enabled=true)" .Values.objectStorage.endpoint -}}
{{- end -}}
{{- end -}}

{{/* The port of a URL: explicit, else 443 for https and 80 otherwise. (url) */}}
{{- define "xinyi.urlPort" -}}
{{- $parsed := urlParse . -}}
{{- if contains ":" $parsed.host -}}
{{- splitList ":" $parsed.host | last | int -}}
{{- else if eq $parsed.scheme "https" -}}
443
{{- else -}}
80
{{- end -}}
{{- end -}}

{{/* Whether the ledger keeps vouchers in S3 ("true" or ""). */}}
{{- define "xinyi.ledgerUsesS3" -}}
{{- $ledger := include "xinyi.values" (dict "root" . "component" "ledger") | fromYaml -}}
{{- if and (has "ledger" (include "xinyi.enabledServices" . | fromJsonArray)) (eq $ledger.vouchers.store "s3") -}}
true
{{- end -}}
{{- end -}}

{{/* Pod template annotations that roll the pods when the chart-made app Secret changes. */}}
{{- define "xinyi.podAnnotations" -}}
{{- if not .root.Values.secrets.existingSecret }}
checksum/secrets: {{ toJson .root.Values.secrets | sha256sum }}
{{- end }}
{{- with .values.podAnnotations }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* The enabled components: the services and the gateway, as a JSON list. */}}
{{- define "xinyi.components" -}}
{{- $all := include "xinyi.enabledServices" . | fromJsonArray -}}
{{- if .Values.gateway.enabled -}}
{{- $all = append $all "gateway" -}}
{{- end -}}
{{- toJson $all -}}
{{- end -}}
