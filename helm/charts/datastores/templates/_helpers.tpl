{{- define "datastores.labels" -}}
app.kubernetes.io/part-of: darwin
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
{{ include "datastores.selectorLabels" . }}
{{- end -}}

{{- define "datastores.selectorLabels" -}}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- end -}}

{{/* PVC template for a StatefulSet: {root, storage}. */}}
{{- define "datastores.volumeClaim" -}}
- metadata:
    name: data
  spec:
    accessModes: ["ReadWriteOnce"]
    {{- with (.root.Values.global | default dict).storageClass }}
    storageClassName: {{ . }}
    {{- end }}
    resources:
      requests:
        storage: {{ .storage }}
{{- end -}}
