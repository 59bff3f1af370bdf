{{- define "darwin-fastapi-serve.name" -}}
{{- .Values.name | default .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- define "darwin-fastapi-serve.selector" -}}
app.kubernetes.io/name: darwin-fastapi-serve
app.kubernetes.io/instance: {{ include "darwin-fastapi-serve.name" . | quote }}
{{- end -}}
{{- define "darwin-fastapi-serve.labels" -}}
{{ include "darwin-fastapi-serve.selector" . }}
app.kubernetes.io/managed-by: {{ .Release.Service | quote }}
{{- end -}}
