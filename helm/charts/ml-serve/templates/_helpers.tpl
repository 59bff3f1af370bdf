{{/*
ml-serve chart helpers. Shared behaviour (names, labels, image, security contexts, DSN env, migration Job,
ConfigMap, Service, Ingress, ServiceAccount, HPA, PDB) comes from darwin-lib; ml-serve's own are the admin
token Secret, the SQLite data claim and the single-replica rule.
*/}}

{{/* "true" when the database is a SQLite file on the data volume (no Secret DSN, driver sqlite, or db off). */}}
{{- define "ml-serve.sqlite" -}}
{{- if or (not .Values.db.enabled) (and (not .Values.db.existingSecret) (eq (include "darwin-lib.dbDriver" .) "sqlite")) -}}true{{- end -}}
{{- end -}}

{{/* "true" when the data volume is a PersistentVolumeClaim. */}}
{{- define "ml-serve.usesClaim" -}}
{{- if and .Values.persistence.enabled (include "ml-serve.sqlite" .) -}}true{{- end -}}
{{- end -}}

{{- define "ml-serve.claimName" -}}
{{- .Values.persistence.existingClaim | default (printf "%s-data" (include "darwin-lib.fullname" .)) -}}
{{- end -}}

{{/* Refuses more than one pod on SQLite: the database is a file on one ReadWriteOnce volume (or per-pod emptyDir). */}}
{{- define "ml-serve.checkReplicas" -}}
{{- if include "ml-serve.sqlite" . -}}
{{- if .Values.autoscaling.enabled -}}
{{- fail "ml-serve.autoscaling.enabled needs global.db.driver=mysql (SQLite is a file on one volume)" -}}
{{- end -}}
{{- if gt (int .Values.replicas) 1 -}}
{{- fail "ml-serve.replicas > 1 needs global.db.driver=mysql (SQLite is a file on one volume)" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The Secret and key holding the admin token. */}}
{{- define "ml-serve.adminTokenSecret" -}}
{{- .Values.adminToken.existingSecret | default (printf "%s-admin-token" (include "darwin-lib.fullname" .)) -}}
{{- end -}}
