{{/* The pod every kind runs. */}}
{{- define "kubeship.pod" -}}
{{- $daemonset := eq .Values.kind "DaemonSet" -}}
metadata:
  labels:
    {{- include "kubeship.selectorLabels" . | nindent 4 }}
    {{- with .Values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  annotations:
    checksum/config: {{ include (print $.Template.BasePath "/configmap.yaml") . | sha256sum }}
    {{- if .Values.metrics.scrapeAnnotations }}
    prometheus.io/scrape: "true"
    {{- if .Values.config.metricsListen }}
    prometheus.io/port: {{ .Values.config.metricsPort | quote }}
    prometheus.io/path: /metrics
    {{- else }}
    prometheus.io/port: {{ .Values.config.httpPort | quote }}
    prometheus.io/path: /api/v2/metrics/prometheus
    {{- end }}
    {{- end }}
    {{- with .Values.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  serviceAccountName: {{ include "kubeship.serviceAccountName" . }}
  automountServiceAccountToken: {{ $daemonset }}
  {{- with .Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  terminationGracePeriodSeconds: {{ include "kubeship.terminationGracePeriodSeconds" . }}
  securityContext:
    {{- toYaml (ternary .Values.daemonset.podSecurityContext .Values.podSecurityContext $daemonset) | nindent 4 }}
  containers:
    - name: fluent-bit
      image: {{ include "kubeship.image" . }}
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      command: ["/fluent-bit/bin/fluent-bit"]
      args: ["-c", "/fluent-bit/etc/kubeship/fluent-bit.conf"]
      ports:
        {{- if not $daemonset }}
        - name: bulk
          containerPort: {{ .Values.service.port }}
          protocol: TCP
        {{- end }}
        - name: http
          containerPort: {{ .Values.config.httpPort }}
          protocol: TCP
        {{- if .Values.config.metricsListen }}
        - name: metrics
          containerPort: {{ .Values.config.metricsPort }}
          protocol: TCP
        {{- end }}
      {{- if or (and .Values.loki.enabled (ne .Values.loki.auth.type "none")) .Values.env }}
      env:
        {{- if and .Values.loki.enabled (ne .Values.loki.auth.type "none") }}
        - name: KUBESHIP_LOKI_SECRET
          valueFrom:
            secretKeyRef:
              name: {{ required "loki.auth.existingSecret is required with loki.auth.type basic or bearer" .Values.loki.auth.existingSecret }}
              key: {{ .Values.loki.auth.secretKey }}
        {{- end }}
        {{- with .Values.env }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- end }}
      lifecycle:
        # Endpoints and load balancer targets drop the pod while it still
        # accepts; then SIGTERM, and Fluent Bit drains within Grace.
        preStop:
          sleep:
            seconds: {{ .Values.config.preStopSleepSeconds }}
      readinessProbe:
        {{- toYaml .Values.readinessProbe | nindent 8 }}
      livenessProbe:
        {{- toYaml .Values.livenessProbe | nindent 8 }}
      resources:
        {{- toYaml .Values.resources | nindent 8 }}
      securityContext:
        {{- toYaml (ternary .Values.daemonset.securityContext .Values.securityContext $daemonset) | nindent 8 }}
      volumeMounts:
        - name: config
          mountPath: /fluent-bit/etc/kubeship
          readOnly: true
        {{- if $daemonset }}
        - name: varlog
          mountPath: /var/log
          readOnly: true
        - name: state
          mountPath: /var/fluent-bit/state
        {{- else }}
        - name: storage
          mountPath: /var/fluent-bit/storage
        {{- end }}
        {{- if .Values.datadog.enabled }}
        - name: datadog-api-key
          mountPath: /var/run/secrets/kubeship/datadog
          readOnly: true
        {{- end }}
  volumes:
    - name: config
      configMap:
        name: {{ include "kubeship.workloadName" . }}
    {{- if $daemonset }}
    - name: varlog
      hostPath:
        path: /var/log
    - name: state
      hostPath:
        path: {{ .Values.daemonset.stateHostPath }}
        type: DirectoryOrCreate
    {{- else if eq .Values.kind "Deployment" }}
    - name: storage
      emptyDir:
        sizeLimit: {{ .Values.storage.emptyDir.sizeLimit }}
    {{- end }}
    {{- if .Values.datadog.enabled }}
    - name: datadog-api-key
      secret:
        secretName: {{ required "datadog.apiKey.existingSecret is required: a Secret holding the API key" .Values.datadog.apiKey.existingSecret }}
        items:
          - key: {{ .Values.datadog.apiKey.secretKey }}
            path: {{ .Values.datadog.apiKey.secretKey }}
    {{- end }}
  {{- if or $daemonset (eq .Values.kind "StatefulSet") }}
  affinity:
    {{- if .Values.affinity }}
    {{- toYaml .Values.affinity | nindent 4 }}
    {{- else }}
    # EC2 nodes only: Fargate runs neither DaemonSets nor EBS volumes.
    nodeAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
        nodeSelectorTerms:
          - matchExpressions:
              - key: eks.amazonaws.com/compute-type
                operator: NotIn
                values: ["fargate"]
    {{- end }}
  {{- else }}
  {{- with .Values.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- end }}
  {{- if not $daemonset }}
  topologySpreadConstraints:
    {{- if .Values.topologySpreadConstraints }}
    {{- toYaml .Values.topologySpreadConstraints | nindent 4 }}
    {{- else }}
    - maxSkew: 1
      topologyKey: topology.kubernetes.io/zone
      whenUnsatisfiable: ScheduleAnyway
      labelSelector:
        matchLabels:
          {{- include "kubeship.selectorLabels" . | nindent 10 }}
    {{- end }}
  {{- end }}
  {{- with .Values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
