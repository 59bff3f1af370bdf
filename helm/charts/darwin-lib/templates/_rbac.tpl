{{/*
RBAC for the service account from rbac.rules: a Role + RoleBinding in the release namespace and in each of
rbac.namespaces (rbac.clusterWide: one ClusterRole + ClusterRoleBinding instead). Rendered when rbac.create.
*/}}
{{- define "darwin-lib.rbac" -}}
{{- if .Values.rbac.create -}}
{{- $fullname := include "darwin-lib.fullname" . -}}
{{- $sa := include "darwin-lib.serviceAccountName" . -}}
{{- if .Values.rbac.clusterWide }}
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: {{ printf "%s-%s" .Release.Namespace $fullname }}
  labels:
    {{- include "darwin-lib.labels" . | nindent 4 }}
rules:
  {{- toYaml .Values.rbac.rules | nindent 2 }}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: {{ printf "%s-%s" .Release.Namespace $fullname }}
  labels:
    {{- include "darwin-lib.labels" . | nindent 4 }}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: {{ printf "%s-%s" .Release.Namespace $fullname }}
subjects:
  - kind: ServiceAccount
    name: {{ $sa }}
    namespace: {{ .Release.Namespace }}
{{- else }}
{{- range $i, $ns := (concat (list $.Release.Namespace) ($.Values.rbac.namespaces | default list) | uniq) }}
{{- if $i }}
---
{{- end }}
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: {{ $fullname }}
  namespace: {{ $ns }}
  labels:
    {{- include "darwin-lib.labels" $ | nindent 4 }}
rules:
  {{- toYaml $.Values.rbac.rules | nindent 2 }}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: {{ $fullname }}
  namespace: {{ $ns }}
  labels:
    {{- include "darwin-lib.labels" $ | nindent 4 }}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: {{ $fullname }}
subjects:
  - kind: ServiceAccount
    name: {{ $sa }}
    namespace: {{ $.Release.Namespace }}
{{- end }}
{{- end }}
{{- end -}}
{{- end -}}
