{{/*
feature-store chart helpers. Shared behaviour (names, labels, image, security contexts, DSN env, migration Job,
Service, ServiceAccount, HPA, PDB) comes from darwin-lib; the feature store's own are the online store and
consumer settings merged into the config, the data volume and the single-replica rule.
*/}}

{{/* "true" when the metadata database is a SQLite file on the data volume (no Secret DSN, driver sqlite, or db off). */}}
{{- define "feature-store.sqlite" -}}
{{- if or (not .Values.db.enabled) (and (not .Values.db.existingSecret) (eq (include "darwin-lib.dbDriver" .) "sqlite")) -}}true{{- end -}}
{{- end -}}

{{/* "true" when something lives on the data volume: the SQLite metadata, the Pebble online store or the offline history. */}}
{{- define "feature-store.needsVolume" -}}
{{- if or (include "feature-store.sqlite" .) (eq .Values.online.backend "pebble") .Values.offline.enabled -}}true{{- end -}}
{{- end -}}

{{/* "true" when the data volume is a PersistentVolumeClaim. */}}
{{- define "feature-store.usesClaim" -}}
{{- if and .Values.persistence.enabled (include "feature-store.needsVolume" .) -}}true{{- end -}}
{{- end -}}

{{- define "feature-store.claimName" -}}
{{- .Values.persistence.existingClaim | default (printf "%s-data" (include "darwin-lib.fullname" .)) -}}
{{- end -}}

{{- define "feature-store.stateDesc" -}}
{{- $parts := list -}}
{{- if include "feature-store.sqlite" . }}{{ $parts = append $parts "the SQLite metadata" }}{{ end -}}
{{- if eq .Values.online.backend "pebble" }}{{ $parts = append $parts "the Pebble online store" }}{{ end -}}
{{- if .Values.offline.enabled }}{{ $parts = append $parts "the offline history" }}{{ end -}}
{{- join ", " $parts -}}
{{- end -}}

{{/*
Refuses what cannot work: more than one pod while state lives on the data volume (a ReadWriteOnce claim, or an
emptyDir per pod that would split the data), a disruption budget on a single pod, the redis backend without a URL,
cassandra without hosts, and the consumer without brokers or topics.
*/}}
{{- define "feature-store.check" -}}
{{- if include "feature-store.needsVolume" . -}}
{{- if .Values.autoscaling.enabled -}}
{{- fail (printf "feature-store.autoscaling.enabled needs global.db.driver=mysql, feature-store.online.backend=redis or cassandra and feature-store.offline.enabled=false (state on one volume: %s)" (include "feature-store.stateDesc" .)) -}}
{{- end -}}
{{- if gt (int .Values.replicas) 1 -}}
{{- fail (printf "feature-store.replicas > 1 needs global.db.driver=mysql, feature-store.online.backend=redis or cassandra and feature-store.offline.enabled=false (state on one volume: %s)" (include "feature-store.stateDesc" .)) -}}
{{- end -}}
{{- end -}}
{{- if and (eq .Values.online.backend "redis") (not .Values.online.redis.url) (not .Values.online.redis.existingSecret) -}}
{{- fail "feature-store.online.backend=redis needs feature-store.online.redis.url or .existingSecret" -}}
{{- end -}}
{{- if and (eq .Values.online.backend "cassandra") (not .Values.online.cassandra.hosts) -}}
{{- fail "feature-store.online.backend=cassandra needs feature-store.online.cassandra.hosts" -}}
{{- end -}}
{{- if and .Values.podDisruptionBudget.enabled (not .Values.autoscaling.enabled) (le (int .Values.replicas) 1) -}}
{{- fail "feature-store.podDisruptionBudget.enabled with a single replica would block every node drain: scale out first" -}}
{{- end -}}
{{- if and .Values.consumer.enabled (or (not .Values.consumer.brokers) (not .Values.consumer.topics)) -}}
{{- fail "feature-store.consumer.enabled needs feature-store.consumer.brokers and feature-store.consumer.topics" -}}
{{- end -}}
{{- end -}}

{{/*
The config file: values.config with feature_store.online (and, when set, feature_store.consumer, .offline and
.populator) filled from online.*, consumer.*, offline.* and populator.*. Only the selected backend's keys are written.
*/}}
{{- define "feature-store.configData" -}}
{{- $cfg := deepCopy .Values.config -}}
{{- $fs := get $cfg "feature_store" | default dict -}}
{{- $o := .Values.online -}}
{{- $online := dict "backend" $o.backend -}}
{{- if eq $o.backend "pebble" -}}
{{- $_ := set $online "pebble_dir" "/data/online" -}}
{{- $_ := set $online "pebble_no_sync" $o.pebble.noSync -}}
{{- else if eq $o.backend "redis" -}}
{{- $_ := set $online "redis_url" (ternary "${DARWIN_REDIS_URL}" $o.redis.url (not (empty $o.redis.existingSecret))) -}}
{{- $_ := set $online "redis_prefix" $o.redis.prefix -}}
{{- else if eq $o.backend "cassandra" -}}
{{- $c := $o.cassandra -}}
{{- $cass := dict "hosts" (join "," $c.hosts) "keyspace" $c.keyspace -}}
{{- with $c.localDC }}{{ $_ := set $cass "local_dc" . }}{{ end -}}
{{- with $c.replication }}{{ $_ := set $cass "replication" . }}{{ end -}}
{{- with $c.consistency }}{{ $_ := set $cass "consistency" . }}{{ end -}}
{{- if $c.auth.existingSecret -}}
{{- $_ := set $cass "username" "${DARWIN_CASSANDRA_USERNAME}" -}}
{{- $_ := set $cass "password" "${DARWIN_CASSANDRA_PASSWORD}" -}}
{{- end -}}
{{- $_ := set $online "cassandra" $cass -}}
{{- end -}}
{{- $_ := set $fs "online" $online -}}
{{- if not .Values.offline.enabled -}}
{{- $_ := set $fs "offline" (dict "disabled" true) -}}
{{- end -}}
{{- with .Values.populator.allowedDirs -}}
{{- $_ := set $fs "populator" (dict "allowed_dirs" .) -}}
{{- end -}}
{{- if .Values.consumer.enabled -}}
{{- $c := .Values.consumer -}}
{{- $_ := set $fs "consumer" (dict "enabled" true "brokers" $c.brokers "topics" $c.topics "group_id" $c.group "environment" $c.environment) -}}
{{- end -}}
{{- $_ := set $cfg "feature_store" $fs -}}
{{- toYaml $cfg -}}
{{- end -}}
