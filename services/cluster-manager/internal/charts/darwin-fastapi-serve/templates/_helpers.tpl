{{- /* Objects are named after the release (the resource instance id); values.name is the serve name. */ -}}
{{- define "darwin-fastapi-serve.fullname" -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- define "darwin-fastapi-serve.name" -}}
{{- .Values.name | default .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- define "darwin-fastapi-serve.path" -}}
{{- $p := .Values.ingress.path | default (printf "/%s/" .Release.Name) -}}
{{- printf "/%s" (trimAll "/" $p) -}}
{{- end -}}
{{- define "darwin-fastapi-serve.image" -}}
{{- $tag := toString (.Values.image.tag | default "") -}}
{{- if $tag -}}{{ printf "%s:%s" .Values.image.repository $tag }}{{- else -}}{{ .Values.image.repository }}{{- end -}}
{{- end -}}
{{- define "darwin-fastapi-serve.selector" -}}
app.kubernetes.io/name: darwin-fastapi-serve
app.kubernetes.io/instance: {{ include "darwin-fastapi-serve.fullname" . | quote }}
darwin.dream11.com/resource-instance-id: {{ .Release.Name | quote }}
{{- end -}}
{{- define "darwin-fastapi-serve.labels" -}}
{{ include "darwin-fastapi-serve.selector" . }}
app.kubernetes.io/managed-by: {{ .Release.Service | quote }}
{{- end -}}
