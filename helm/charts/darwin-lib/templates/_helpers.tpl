{{/*
darwin-lib: shared named templates. Every template takes the including chart's root context.
Service charts call them with one-line includes, e.g. {{ include "darwin-lib.deployment" . }}.
*/}}

{{/* Object name: serviceName (e.g. darwin-compute), truncated to 63 characters. */}}
{{- define "darwin-lib.fullname" -}}
{{- default (printf "darwin-%s" .Chart.Name) .Values.serviceName | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "darwin-lib.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "darwin-lib.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "darwin-lib.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | default .Chart.Version | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: darwin
{{- end -}}

{{/* Image reference: <global.imageRegistry>/<image.repository>:<image.tag|global.imageTag|appVersion>. */}}
{{- define "darwin-lib.image" -}}
{{- $g := .Values.global | default dict -}}
{{- $registry := .Values.image.registry | default $g.imageRegistry -}}
{{- $tag := .Values.image.tag | default $g.imageTag | default .Chart.AppVersion -}}
{{- if $registry -}}
{{- printf "%s/%s:%s" $registry .Values.image.repository $tag -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{- define "darwin-lib.pullPolicy" -}}
{{- $g := .Values.global | default dict -}}
{{- .Values.image.pullPolicy | default $g.imagePullPolicy | default "IfNotPresent" -}}
{{- end -}}

{{- define "darwin-lib.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "darwin-lib.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Database driver: the chart's db.driver, else global.db.driver, else sqlite. */}}
{{- define "darwin-lib.dbDriver" -}}
{{- $g := .Values.global | default dict -}}
{{- $gdb := $g.db | default dict -}}
{{- (.Values.db | default dict).driver | default $gdb.driver | default "sqlite" -}}
{{- end -}}

{{/*
Environment carrying the DSN as DARWIN_DB_DSN (the service config refers to it as ${DARWIN_DB_DSN}):
  - db.existingSecret set: the whole DSN comes from that Secret's key db.secretKey;
  - driver mysql: DARWIN_DB_PASSWORD from global.db.passwordSecret, DSN assembled with $(DARWIN_DB_PASSWORD);
  - driver sqlite: a file on the /data volume.
Renders nothing when db.enabled is false.
*/}}
{{- define "darwin-lib.dbEnv" -}}
{{- $db := .Values.db | default dict -}}
{{- if $db.enabled -}}
{{- $g := .Values.global | default dict -}}
{{- $gdb := $g.db | default dict -}}
{{- $driver := include "darwin-lib.dbDriver" . -}}
{{- if $db.existingSecret }}
- name: DARWIN_DB_DSN
  valueFrom:
    secretKeyRef:
      name: {{ $db.existingSecret }}
      key: {{ $db.secretKey | default "dsn" }}
{{- else if eq $driver "mysql" }}
{{- $ps := $gdb.passwordSecret | default dict }}
- name: DARWIN_DB_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $ps.name | default "darwin-mysql" }}
      key: {{ $ps.key | default "mysql-password" }}
- name: DARWIN_DB_DSN
  value: {{ printf "mysql://%s:$(DARWIN_DB_PASSWORD)@tcp(%s:%v)/%s" ($gdb.user | default "darwin") ($gdb.host | default "darwin-mysql") ($gdb.port | default 3306) ($db.database | default $gdb.database | default "darwin") | quote }}
{{- else }}
- name: DARWIN_DB_DSN
  value: {{ printf "sqlite:///data/%s.db" .Chart.Name | quote }}
{{- end }}
{{- end }}
{{- end -}}

{{/* Pod and container security contexts: non-root, read-only root filesystem, no capabilities, RuntimeDefault seccomp. */}}
{{- define "darwin-lib.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "darwin-lib.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop:
    - ALL
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Whether the migration Job renders: migration.enabled and a server database (not sqlite, which migrates on start). */}}
{{- define "darwin-lib.migrationEnabled" -}}
{{- $m := .Values.migration | default dict -}}
{{- $db := .Values.db | default dict -}}
{{- if and $m.enabled $db.enabled (or $db.existingSecret (ne (include "darwin-lib.dbDriver" .) "sqlite")) -}}true{{- end -}}
{{- end -}}
