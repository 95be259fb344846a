{{/* Names, as the fluent/fluent-bit and grafana charts make them. */}}
{{- define "kubeship.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "kubeship.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "kubeship.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* aggregator (Deployment, StatefulSet) or node (DaemonSet). */}}
{{- define "kubeship.component" -}}
{{- if eq .Values.kind "DaemonSet" }}node{{ else }}aggregator{{ end }}
{{- end }}

{{- define "kubeship.aggregator" -}}
{{- if has .Values.kind (list "Deployment" "StatefulSet") }}true{{ end }}
{{- end }}

{{/* The workload, its ConfigMap, Service and ServiceAccount. */}}
{{- define "kubeship.workloadName" -}}
{{- printf "%s-%s" (include "kubeship.fullname" .) (include "kubeship.component" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "kubeship.labels" -}}
{{ include "kubeship.labelsFor" (dict "ctx" . "component" (include "kubeship.component" .)) }}
{{- end }}

{{- define "kubeship.selectorLabels" -}}
{{ include "kubeship.selectorLabelsFor" (dict "ctx" . "component" (include "kubeship.component" .)) }}
{{- end }}

{{/* Labels of one component: (dict "ctx" . "component" "canary"). */}}
{{- define "kubeship.labelsFor" -}}
helm.sh/chart: {{ include "kubeship.chart" .ctx }}
{{ include "kubeship.selectorLabelsFor" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
{{- end }}

{{- define "kubeship.selectorLabelsFor" -}}
app.kubernetes.io/name: {{ include "kubeship.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "kubeship.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "kubeship.workloadName" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "kubeship.image" -}}
{{- $tag := default (printf "%s-fluent-bit-5.1.1" .Chart.AppVersion) .Values.image.tag }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{/* Fluent Bit's Grace: one retry budget, then drainSeconds for the last flushes. */}}
{{- define "kubeship.grace" -}}
{{- add (int .Values.config.retryBudgetSeconds) (int .Values.config.drainSeconds) }}
{{- end }}

{{/* The kubelet's deadline: the preStop sleep, Grace, and 5 seconds for Fluent Bit to exit. */}}
{{- define "kubeship.terminationGracePeriodSeconds" -}}
{{- add (int .Values.config.preStopSleepSeconds) (include "kubeship.grace" . | int) 5 }}
{{- end }}

{{/* The host the router's es output sends to. */}}
{{- define "kubeship.routerHost" -}}
{{- if .Values.router.host }}
{{- .Values.router.host }}
{{- else if eq .Values.service.type "LoadBalancer" }}
{{- required "service.type LoadBalancer: set service.loadBalancer.hostname (or router.host), the name the router resolves to the load balancer" .Values.service.loadBalancer.hostname }}
{{- else }}
{{- printf "%s.%s.svc.cluster.local" (include "kubeship.workloadName" .) .Release.Namespace }}
{{- end }}
{{- end }}

{{/* The tags of the aggregator's own container logs on a Fargate node
(kube.var.log.containers.<pod>_<namespace>_<container>-<id>.log), as a
regular expression after "kube\.". */}}
{{- define "kubeship.selfTagRegex" -}}
{{- printf "var\\.log\\.containers\\.%s-[^_]+_%s_fluent-bit-" (include "kubeship.workloadName" .) .Release.Namespace }}
{{- end }}

{{/* The tags of the aggregator's own logs as a Match pattern. */}}
{{- define "kubeship.selfTagMatch" -}}
{{- printf "kube.var.log.containers.%s-*_%s_fluent-bit-*" (include "kubeship.workloadName" .) .Release.Namespace }}
{{- end }}

{{/* The router's [OUTPUT] sections: the hop to the aggregator, and the
aggregator's own logs excluded from it or sent to CloudWatch Logs. The same
text goes into the aws-logging ConfigMap and NOTES.txt. */}}
{{- define "kubeship.routerOutput" -}}
[OUTPUT]
    Name               es
{{- if eq .Values.router.aggregatorLogs "exclude" "cloudwatch" }}
    Match_Regex        ^kube\.(?!{{ include "kubeship.selfTagRegex" . }})
{{- else }}
{{- fail (printf "router.aggregatorLogs: %q: want exclude or cloudwatch" .Values.router.aggregatorLogs) }}
{{- end }}
    Host               {{ include "kubeship.routerHost" . }}
    Port               {{ .Values.service.port }}
    Index              fargate
    Suppress_Type_Name On
    Include_Tag_Key    On
    Tag_Key            flb_tag
    Time_Key_Nanos     On
    Retry_Limit        False
{{- if .Values.router.tls }}
    tls                On
    tls.verify         On
{{- end }}
{{- if eq .Values.router.aggregatorLogs "cloudwatch" }}
[OUTPUT]
    Name               cloudwatch_logs
    Match              {{ include "kubeship.selfTagMatch" . }}
    region             {{ .Values.router.cloudwatch.region }}
    log_group_name     {{ .Values.router.cloudwatch.logGroupName }}
    log_stream_prefix  {{ include "kubeship.workloadName" . }}-
    auto_create_group  true
{{- end }}
{{- end }}

{{- define "kubeship.routerParsers" -}}
[PARSER]
    Name        cri
    Format      regex
    Regex       ^(?<time>[^ ]+) (?<stream>stdout|stderr) (?<logtag>[^ ]*) (?<log>.*)$
    Time_Key    time
    Time_Format %Y-%m-%dT%H:%M:%S.%L%z
    Time_Keep   Off
{{- end }}

{{- define "kubeship.routerFilters" -}}
[FILTER]
    Name         parser
    Match        kube.*
    Key_Name     log
    Parser       cri
    Reserve_Data On
[FILTER]
    Name         kubernetes
    Match        kube.*
    Merge_Log    Off
    Keep_Log     On
    Labels       On
    Annotations  On
    Buffer_Size  0
{{- with .Values.router.extraFilters }}
{{ . | trim }}
{{- end }}
{{- end }}

{{/* One kubeship [OUTPUT] per destination, a blank line apart. */}}
{{- define "kubeship.outputs" -}}
{{- if not (or .Values.loki.enabled .Values.datadog.enabled) }}
{{- fail "enable loki, datadog or both" }}
{{- end }}
{{- $outs := list }}
{{- if .Values.loki.enabled }}
{{- $outs = append $outs (include "kubeship.lokiOutput" . | trim) }}
{{- end }}
{{- if .Values.datadog.enabled }}
{{- $outs = append $outs (include "kubeship.datadogOutput" . | trim) }}
{{- end }}
{{- join "\n\n" $outs }}
{{- end }}

{{- define "kubeship.lokiOutput" -}}
[OUTPUT]
    Name                     kubeship
    Match                    kube.*
    Workers                  {{ .Values.config.workers }}
    url                      {{ required "loki.url is required" .Values.loki.url }}
{{- with .Values.loki.tenantId }}
    tenant_id                {{ . }}
{{- end }}
{{- with .Values.loki.labels }}
    labels                   {{ . }}
{{- end }}
{{- if eq .Values.loki.auth.type "basic" }}
    http_user                {{ required "loki.auth.username is required for basic auth" .Values.loki.auth.username }}
    http_passwd              ${KUBESHIP_LOKI_SECRET}
{{- else if eq .Values.loki.auth.type "bearer" }}
    bearer_token             ${KUBESHIP_LOKI_SECRET}
{{- else if ne .Values.loki.auth.type "none" }}
{{- fail (printf "loki.auth.type: %q: want none, basic or bearer" .Values.loki.auth.type) }}
{{- end }}
{{- if and (gt (int .Values.config.workers) 1) (ne (toString .Values.config.batchWait) "0") }}
    batch_wait               {{ .Values.config.batchWait }}
{{- end }}
    retry_budget             {{ .Values.config.retryBudgetSeconds }}s
{{- if .Values.config.metricsListen }}
    metrics_listen           0.0.0.0:{{ .Values.config.metricsPort }}
{{- end }}
{{- range $k, $v := .Values.loki.extraKeys }}
    {{ printf "%-24s %v" $k $v }}
{{- end }}
    Retry_Limit              no_limits
    storage.total_limit_size {{ .Values.storage.totalLimitSize }}
{{- end }}

{{- define "kubeship.datadogOutput" -}}
[OUTPUT]
    Name                     kubeship
    Match                    kube.*
    Workers                  {{ .Values.config.workers }}
    destination              datadog
    site                     {{ .Values.datadog.site }}
    apikey_file              /var/run/secrets/kubeship/datadog/{{ .Values.datadog.apiKey.secretKey }}
{{- with .Values.datadog.clusterName }}
    cluster_name             {{ . }}
{{- end }}
    retry_budget             {{ .Values.config.retryBudgetSeconds }}s
{{- if .Values.config.metricsListen }}
    metrics_listen           0.0.0.0:{{ .Values.config.metricsPort }}
{{- end }}
{{- range $k, $v := .Values.datadog.extraKeys }}
    {{ printf "%-24s %v" $k $v }}
{{- end }}
    Retry_Limit              no_limits
    storage.total_limit_size {{ .Values.storage.totalLimitSize }}
{{- end }}

{{/* The [SERVICE] section both kinds share. */}}
{{- define "kubeship.service" -}}
[SERVICE]
    Flush                     {{ .Values.config.flush }}
    Grace                     {{ include "kubeship.grace" . }}
    Log_Level                 {{ .Values.config.logLevel }}
    Plugins_File              /fluent-bit/etc/kubeship/plugins.conf
    HTTP_Server               On
    HTTP_Listen               0.0.0.0
    HTTP_Port                 {{ .Values.config.httpPort }}
    Health_Check              On
{{- if eq .Values.kind "DaemonSet" }}
    storage.path              /var/fluent-bit/state/storage/
{{- else }}
    storage.path              /var/fluent-bit/storage/
{{- end }}
    storage.sync              normal
    storage.max_chunks_up     {{ .Values.config.maxChunksUp }}
    storage.backlog.mem_limit 16M
    storage.metrics           On
{{- end }}
