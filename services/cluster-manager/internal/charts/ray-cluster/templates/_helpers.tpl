{{/* The RayCluster name; pods carry rayCluster=<this>. */}}
{{- define "ray-cluster.fullname" -}}
{{- printf "%s-kuberay" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "ray-cluster.clusterID" -}}
{{- .Values.cluster_id | default .Release.Name -}}
{{- end -}}

{{/* First path segment of the public URLs. */}}
{{- define "ray-cluster.cloudEnv" -}}
{{- .Values.cloud_env | default .Values.kube_cluster_key | default "kind-0" -}}
{{- end -}}

{{- define "ray-cluster.commonLabels" -}}
app.kubernetes.io/name: ray-cluster
app.kubernetes.io/instance: {{ .Release.Name | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service | quote }}
rayCluster: {{ include "ray-cluster.fullname" . | quote }}
{{- end -}}

{{/*
Pod labels of one node type. Call with (dict "root" $ "node" $node).
Chart-wide labels first, then the node's own; rayCluster always wins.
*/}}
{{- define "ray-cluster.podLabels" -}}
{{- $labels := dict -}}
{{- range $k, $v := (.root.Values.labels | default dict) }}{{ $_ := set $labels $k (toString $v) }}{{ end -}}
{{- range $k, $v := (.node.labels | default dict) }}{{ $_ := set $labels $k (toString $v) }}{{ end -}}
{{- $_ := set $labels "rayCluster" (include "ray-cluster.fullname" .root) -}}
{{- $_ := set $labels "darwin.io/cluster-id" (include "ray-cluster.clusterID" .root) -}}
{{- toYaml $labels -}}
{{- end -}}

{{/*
nodeSelector of one node type: chart-wide, then the node's, then the capacity
type (spot / on-demand) unless already chosen.
*/}}
{{- define "ray-cluster.nodeSelector" -}}
{{- $sel := dict -}}
{{- range $k, $v := (.root.Values.nodeSelector | default dict) }}{{ $_ := set $sel $k (toString $v) }}{{ end -}}
{{- range $k, $v := (.node.nodeSelector | default dict) }}{{ $_ := set $sel $k (toString $v) }}{{ end -}}
{{- $cap := lower (toString (.node.capacityType | default "")) -}}
{{- if and $cap (not (hasKey $sel "karpenter.sh/capacity-type")) -}}
{{- if eq $cap "spot" }}{{ $_ := set $sel "karpenter.sh/capacity-type" "spot" }}{{ end -}}
{{- if or (eq $cap "ondemand") (eq $cap "on-demand") (eq $cap "on_demand") }}{{ $_ := set $sel "karpenter.sh/capacity-type" "on-demand" }}{{ end -}}
{{- end -}}
{{- if $sel }}{{ toYaml $sel }}{{ end -}}
{{- end -}}

{{/* Tolerations of one node type, plus the GPU taint when the node asks for GPUs. */}}
{{- define "ray-cluster.tolerations" -}}
{{- $tol := list -}}
{{- range (.node.tolerations | default list) }}{{ $tol = append $tol . }}{{ end -}}
{{- $limits := dict -}}
{{- if .node.resources }}{{ $limits = .node.resources.limits | default dict }}{{ end -}}
{{- if hasKey $limits "nvidia.com/gpu" -}}
{{- $tol = append $tol (dict "key" "nvidia.com/gpu" "operator" "Exists" "effect" "NoSchedule") -}}
{{- end -}}
{{- if $tol }}{{ toYaml $tol }}{{ end -}}
{{- end -}}

{{/* rayStartParams as strings (ray.io/v1 wants map[string]string). */}}
{{- define "ray-cluster.rayStartParams" -}}
{{- $p := dict -}}
{{- range $k, $v := (. | default dict) }}{{ $_ := set $p $k (toString $v) }}{{ end -}}
{{- if $p }}{{ toYaml $p }}{{ else }}{}{{ end -}}
{{- end -}}

{{/* Environment shared by every Ray container, then the node's containerEnv. */}}
{{- define "ray-cluster.env" -}}
- name: DARWIN_CLUSTER_ID
  value: {{ include "ray-cluster.clusterID" .root | quote }}
- name: DARWIN_CLUSTER_NAME
  value: {{ .root.Values.cluster_name | default "" | toString | quote }}
- name: DARWIN_CLOUD_ENV
  value: {{ include "ray-cluster.cloudEnv" .root | quote }}
- name: DARWIN_NODE_TYPE
  value: {{ .nodeType | quote }}
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
{{- range (.node.containerEnv | default list) }}
- name: {{ .name | quote }}
  {{- if .valueFrom }}
  valueFrom:
    {{- toYaml .valueFrom | nindent 4 }}
  {{- else }}
  value: {{ if kindIs "invalid" .value }}""{{ else }}{{ toString .value | quote }}{{ end }}
  {{- end }}
{{- end }}
{{- end -}}

{{- define "ray-cluster.image" -}}
{{- printf "%s:%s" .Values.image.repository (toString (.Values.image.tag | default "latest")) -}}
{{- end -}}

{{/* Fails the render when a worker group's replica bounds are inconsistent. */}}
{{- define "ray-cluster.checkGroup" -}}
{{- $min := int (.group.minReplicas | default 0) -}}
{{- $max := int (.group.maxReplicas | default 0) -}}
{{- if and (hasKey .group "maxReplicas") (gt $min $max) -}}
{{- fail (printf "%s.minReplicas (%d) exceeds %s.maxReplicas (%d)" .field $min .field $max) -}}
{{- end -}}
{{- end -}}

{{/* A POSIX shell single-quoted word. */}}
{{- define "ray-cluster.shq" -}}
{{- printf "'%s'" (replace "'" "'\\''" (toString .)) -}}
{{- end -}}
