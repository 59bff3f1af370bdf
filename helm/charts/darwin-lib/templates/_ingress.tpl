{{/*
nginx Ingress with the original route: /<prefix>(/|$)(.*) rewritten to /$2, so /compute/api/v1/... reaches the
service as /api/v1/.... Rendered when ingress.enabled and global.ingress.enabled (default true) are both true.
*/}}
{{- define "darwin-lib.ingress" -}}
{{- $g := .Values.global | default dict -}}
{{- $gi := $g.ingress | default dict -}}
{{- $globalOn := ternary true $gi.enabled (kindIs "invalid" $gi.enabled) -}}
{{- if and .Values.ingress.enabled $globalOn -}}
{{- $host := .Values.ingress.host | default $gi.host -}}
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: {{ include "darwin-lib.fullname" . }}
  labels:
    {{- include "darwin-lib.labels" . | nindent 4 }}
  annotations:
    nginx.ingress.kubernetes.io/use-regex: "true"
    nginx.ingress.kubernetes.io/rewrite-target: /$2
    {{- with .Values.ingress.annotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  ingressClassName: {{ .Values.ingress.className | default $gi.className | default "nginx" }}
  rules:
    - http:
        paths:
          - path: {{ printf "/%s(/|$)(.*)" .Values.ingress.prefix | quote }}
            pathType: ImplementationSpecific
            backend:
              service:
                name: {{ include "darwin-lib.fullname" . }}
                port:
                  name: http
      {{- with $host }}
      host: {{ . | quote }}
      {{- end }}
{{- end -}}
{{- end -}}
