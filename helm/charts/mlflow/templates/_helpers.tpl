{{/*
mlflow chart helpers. Shared behaviour (names, labels, image, security contexts, DSN env, migration Job,
Service, ServiceAccount, HPA, PDB) comes from darwin-lib; what is mlflow's own is here: the artifact store,
the app-layer settings merged into the config file, the data volume and the single-replica rule.
*/}}

{{/*
"true" when the database is a SQLite file on the data volume: driver sqlite without a Secret-provided DSN, or
db.enabled false (no DARWIN_DB_DSN, so the binary falls back to <data_dir>/mlflow.db).
*/}}
{{- define "mlflow.sqlite" -}}
{{- if or (not .Values.db.enabled) (and (not .Values.db.existingSecret) (eq (include "darwin-lib.dbDriver" .) "sqlite")) -}}true{{- end -}}
{{- end -}}

{{/* "true" when something lives on the data volume: the SQLite file or local artifacts. */}}
{{- define "mlflow.needsVolume" -}}
{{- if or (include "mlflow.sqlite" .) (eq .Values.artifacts.type "local") -}}true{{- end -}}
{{- end -}}

{{/* "true" when the data volume is a PersistentVolumeClaim (ReadWriteOnce by default). */}}
{{- define "mlflow.usesClaim" -}}
{{- if and .Values.persistence.enabled (include "mlflow.needsVolume" .) -}}true{{- end -}}
{{- end -}}

{{- define "mlflow.claimName" -}}
{{- .Values.persistence.existingClaim | default (printf "%s-data" (include "darwin-lib.fullname" .)) -}}
{{- end -}}

{{/*
Refuses more than one pod when state lives on the data volume: SQLite is a file per pod and a local artifact
directory on a ReadWriteOnce claim cannot be shared (an emptyDir would give each pod its own artifacts).
*/}}
{{- define "mlflow.checkReplicas" -}}
{{- if include "mlflow.needsVolume" . -}}
{{- if .Values.autoscaling.enabled -}}
{{- fail (printf "mlflow.autoscaling.enabled needs global.db.driver=mysql and mlflow.artifacts.type=s3 (%s keeps state on one volume)" (include "mlflow.stateDesc" .)) -}}
{{- end -}}
{{- if gt (int .Values.replicas) 1 -}}
{{- fail (printf "mlflow.replicas > 1 needs global.db.driver=mysql and mlflow.artifacts.type=s3 (%s keeps state on one volume)" (include "mlflow.stateDesc" .)) -}}
{{- end -}}
{{- end -}}
{{- if and (eq .Values.artifacts.type "s3") (not .Values.artifacts.s3.bucket) -}}
{{- fail "mlflow.artifacts.type=s3 needs mlflow.artifacts.s3.bucket" -}}
{{- end -}}
{{- end -}}

{{- define "mlflow.stateDesc" -}}
{{- if and (include "mlflow.sqlite" .) (eq .Values.artifacts.type "local") -}}SQLite with local artifacts
{{- else if include "mlflow.sqlite" . -}}SQLite
{{- else -}}a local artifact directory
{{- end -}}
{{- end -}}

{{/* The artifact proxy's store: /data/artifacts, or s3://bucket[/prefix]?endpoint=...&region=... */}}
{{- define "mlflow.artifactStore" -}}
{{- if eq .Values.artifacts.type "s3" -}}
{{- $s3 := .Values.artifacts.s3 -}}
{{- $q := list -}}
{{- with $s3.endpoint }}{{ $q = append $q (printf "endpoint=%s" (urlquery .)) }}{{ end -}}
{{- with $s3.region }}{{ $q = append $q (printf "region=%s" (urlquery .)) }}{{ end -}}
{{- if $s3.pathStyle }}{{ $q = append $q "path_style=true" }}{{ end -}}
{{- with $s3.checksums }}{{ $q = append $q (printf "checksums=%s" (urlquery .)) }}{{ end -}}
{{- $prefix := trimAll "/" ($s3.prefix | default "") -}}
{{- printf "s3://%s" $s3.bucket -}}
{{- with $prefix }}/{{ . }}{{ end -}}
{{- with $q }}?{{ join "&" . }}{{ end -}}
{{- else -}}
/data/artifacts
{{- end -}}
{{- end -}}

{{- define "mlflow.tokensDir" -}}/etc/mlflow/tokens{{- end -}}

{{/* The config file: values.config with mlflow.artifact_store and mlflow.app filled from artifacts.* and app.*. */}}
{{- define "mlflow.configData" -}}
{{- $cfg := deepCopy .Values.config -}}
{{- $m := get $cfg "mlflow" | default dict -}}
{{- $_ := set $m "artifact_store" (include "mlflow.artifactStore" .) -}}
{{- $app := dict "default_permission" .Values.app.defaultPermission -}}
{{- with .Values.app.admins }}{{ $_ := set $app "admins" . }}{{ end -}}
{{- if .Values.app.tokensSecret.name }}{{ $_ := set $app "tokens_file" (printf "%s/tokens" (include "mlflow.tokensDir" .)) }}{{ end -}}
{{- $_ := set $m "app" (merge $app (get $m "app" | default dict)) -}}
{{- $_ := set $cfg "mlflow" $m -}}
{{- toYaml $cfg -}}
{{- end -}}
