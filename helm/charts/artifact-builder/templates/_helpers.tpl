{{/*
artifact-builder chart helpers. Shared behaviour (names, labels, image, security contexts, DSN env, migration
Job, ConfigMap, Service, Ingress, ServiceAccount, HPA, PDB) comes from darwin-lib; artifact-builder's own are
the registry credentials volume, the SQLite data claim and the single-replica rule.
*/}}

{{/* "true" when the database is a SQLite file on the data volume (no Secret DSN, driver sqlite, or db off). */}}
{{- define "artifact-builder.sqlite" -}}
{{- if or (not .Values.db.enabled) (and (not .Values.db.existingSecret) (eq (include "darwin-lib.dbDriver" .) "sqlite")) -}}true{{- end -}}
{{- end -}}

{{/* "true" when the data volume is a PersistentVolumeClaim. */}}
{{- define "artifact-builder.usesClaim" -}}
{{- if and .Values.persistence.enabled (include "artifact-builder.sqlite" .) -}}true{{- end -}}
{{- end -}}

{{- define "artifact-builder.claimName" -}}
{{- .Values.persistence.existingClaim | default (printf "%s-data" (include "darwin-lib.fullname" .)) -}}
{{- end -}}

{{/* Refuses more than one pod on SQLite: the database is a file on one ReadWriteOnce volume (or per-pod emptyDir). */}}
{{- define "artifact-builder.checkReplicas" -}}
{{- if include "artifact-builder.sqlite" . -}}
{{- if .Values.autoscaling.enabled -}}
{{- fail "artifact-builder.autoscaling.enabled needs global.db.driver=mysql (SQLite is a file on one volume; replicas share the build queue only on a server database)" -}}
{{- end -}}
{{- if gt (int .Values.replicas) 1 -}}
{{- fail "artifact-builder.replicas > 1 needs global.db.driver=mysql (SQLite is a file on one volume)" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Where the registry credentials (a Docker config.json) are mounted; DOCKER_CONFIG points here. */}}
{{- define "artifact-builder.dockerConfigDir" -}}/etc/artifact-builder/docker{{- end -}}
