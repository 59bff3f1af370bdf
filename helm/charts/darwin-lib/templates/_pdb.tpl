{{/* PodDisruptionBudget; rendered when podDisruptionBudget.enabled. */}}
{{- define "darwin-lib.pdb" -}}
{{- if .Values.podDisruptionBudget.enabled -}}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "darwin-lib.fullname" . }}
  labels:
    {{- include "darwin-lib.labels" . | nindent 4 }}
spec:
  {{- if .Values.podDisruptionBudget.maxUnavailable }}
  maxUnavailable: {{ .Values.podDisruptionBudget.maxUnavailable }}
  {{- else }}
  minAvailable: {{ .Values.podDisruptionBudget.minAvailable | default 1 }}
  {{- end }}
  selector:
    matchLabels:
      {{- include "darwin-lib.selectorLabels" . | nindent 6 }}
{{- end -}}
{{- end -}}
