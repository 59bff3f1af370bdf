{{/* The service's YAML config (values key config); secrets stay out of it and arrive as ${VAR} from the env. */}}
{{- define "darwin-lib.configData" -}}
{{- toYaml .Values.config -}}
{{- end -}}

{{- define "darwin-lib.configmap" -}}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ include "darwin-lib.fullname" . }}-config
  labels:
    {{- include "darwin-lib.labels" . | nindent 4 }}
data:
  config.yaml: |
    {{- include "darwin-lib.configData" . | nindent 4 }}
{{- end -}}
