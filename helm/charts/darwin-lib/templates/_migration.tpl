{{/*
Migration Job running "<binary> migrate" against the DSN before the new version starts: a
pre-install,pre-upgrade hook (migration.hook, default), or a plain Job retried until the database answers when
the database is installed by the same release (a hook would run before it exists).
It passes the DSN as a flag because the ConfigMap is not installed yet when pre-install hooks run.
*/}}
{{- define "darwin-lib.migrationJob" -}}
{{- if include "darwin-lib.migrationEnabled" . -}}
apiVersion: batch/v1
kind: Job
metadata:
  name: {{ include "darwin-lib.fullname" . }}-migrate
  labels:
    {{- include "darwin-lib.labels" . | nindent 4 }}
    app.kubernetes.io/component: migration
  {{- if .Values.migration.hook }}
  annotations:
    helm.sh/hook: pre-install,pre-upgrade
    helm.sh/hook-weight: "0"
    helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded
  {{- end }}
spec:
  backoffLimit: {{ .Values.migration.backoffLimit }}
  activeDeadlineSeconds: {{ .Values.migration.activeDeadlineSeconds }}
  template:
    metadata:
      labels:
        {{- include "darwin-lib.selectorLabels" . | nindent 8 }}
        app.kubernetes.io/component: migration
    spec:
      restartPolicy: Never
      automountServiceAccountToken: false
      securityContext:
        {{- include "darwin-lib.podSecurityContext" . | nindent 8 }}
      containers:
        - name: migrate
          image: {{ include "darwin-lib.image" . | quote }}
          imagePullPolicy: {{ include "darwin-lib.pullPolicy" . }}
          args:
            - migrate
            - {{ printf "-%s=$(DARWIN_DB_DSN)" .Values.migration.dsnFlag | quote }}
          env:
            {{- include "darwin-lib.dbEnv" . | trim | nindent 12 }}
          {{- with .Values.migration.resources }}
          resources:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          securityContext:
            {{- include "darwin-lib.containerSecurityContext" . | nindent 12 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
      volumes:
        - name: tmp
          emptyDir: {}
{{- end -}}
{{- end -}}
