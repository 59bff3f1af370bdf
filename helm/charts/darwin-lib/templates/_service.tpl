{{/* ClusterIP Service named serviceName (darwin-<svc>) exposing http and, when set, grpc. */}}
{{- define "darwin-lib.service" -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "darwin-lib.fullname" . }}
  labels:
    {{- include "darwin-lib.labels" . | nindent 4 }}
spec:
  type: {{ .Values.service.type }}
  selector:
    {{- include "darwin-lib.selectorLabels" . | nindent 4 }}
  ports:
    - name: http
      port: {{ .Values.service.port }}
      targetPort: http
      protocol: TCP
    {{- if .Values.ports.grpc }}
    - name: grpc
      port: {{ .Values.ports.grpc }}
      targetPort: grpc
      protocol: TCP
    {{- end }}
{{- end -}}
