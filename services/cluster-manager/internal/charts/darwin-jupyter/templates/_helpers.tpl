{{- define "darwin-jupyter.labels" -}}
app.kubernetes.io/name: darwin-jupyter
app.kubernetes.io/instance: {{ .Release.Name | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service | quote }}
{{- end -}}
{{- define "darwin-jupyter.selector" -}}
app.kubernetes.io/name: darwin-jupyter
app.kubernetes.io/instance: {{ .Release.Name | quote }}
{{- end -}}
{{- define "darwin-jupyter.baseURL" -}}
{{- printf "/%s/%s-jupyter" .Values.kube_cluster_key .Release.Name -}}
{{- end -}}
