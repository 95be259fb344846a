package config

// Key describes one configuration key: the one place that lists every key,
// its default and its meaning. The README's key tables are checked against it.
type Key struct {
	Name    string   // as in Fluent Bit's built-in output, lower case
	Aliases []string // grafana-loki plugin spellings that mean the same (keys are case-insensitive)
	Default string   // "" when unset by default
	Doc     string
	Secret  bool   // never logged; url and proxy are shown only as RedactURL shows them
	Dest    string // the destination the key applies to; "" for both
}

// Destinations.
const (
	DestLoki    = "loki"
	DestDatadog = "datadog"
)

// Keys lists every key kubeship reads, in README order: common keys, then
// Loki's, then Datadog's.
var Keys = []Key{
	{Name: "destination", Default: DestLoki, Doc: "Where records go: `loki` or `datadog`."},
	{Name: "url", Doc: "The push URL. Required for Loki, e.g. `http://loki.monitoring:3100/loki/api/v1/push`; for Datadog it replaces the intake of `site` (a proxy or a test intake). `https://` turns TLS on, `https://user:password@...` sends basic auth. (Fluent Bit keeps `host`, `port`, `tls` and `tls.*` for itself and never passes them to a Go plugin.)"},
	{Name: "tls_verify", Default: "on", Doc: "Verify the server certificate and host name."},
	{Name: "tls_ca_file", Doc: "PEM file of CA certificates to trust instead of the system pool."},
	{Name: "tls_crt_file", Doc: "PEM client certificate (with `tls_key_file`)."},
	{Name: "tls_key_file", Doc: "PEM private key of the client certificate."},
	{Name: "proxy", Doc: "HTTP proxy URL, `http://host:port`; by default `HTTPS_PROXY`, `HTTP_PROXY` and `NO_PROXY` are honoured."},
	{Name: "header", Doc: "One extra HTTP header, `Name value` (Fluent Bit passes a Go plugin only the first `header`).", Secret: true},
	{Name: "trace_id_keys", Default: "trace_id,traceId,traceID,dd.trace_id,traceparent", Doc: "Comma-separated fields of a record, or of the JSON object in its `log`, that hold its trace id, best first; `traceparent` is read as a W3C traceparent (trace and span). Loki: structured metadata `trace_id` (with the structured metadata defaults); Datadog: an OpenTelemetry hex id becomes `dd.trace_id` in Datadog's decimal form. `off` reads none."},
	{Name: "span_id_keys", Default: "span_id,spanId,spanID,dd.span_id", Doc: "The same for the span id: Loki's `span_id`, Datadog's `dd.span_id`. `off` reads none."},
	{Name: "kube_tag_prefix", Default: "kube.var.log.containers.", Doc: "Tag prefix before the container log file name, as the kubernetes filter's `Kube_Tag_Prefix`: namespace, pod, container and container id are read from the tag when the record lacks them."},
	{Name: "kubernetes_metadata", Default: "on", Doc: "Map the `kubernetes` filter's metadata (Loki: labels and structured metadata; Datadog: standard tags); the `kubernetes` map, `stream`, `logtag`, `time` and an aggregator's `@timestamp`, `@meta`, `flb_tag` leave the line."},
	{Name: "auto_multiline", Default: "on", Doc: "Join the lines of a stack trace (Java, Python, Go, Node.js, Ruby, .NET) into one entry, per container and stream, within a chunk (see [stack traces](mapping.md#stack-traces)). `off` joins only the lines a pod's `multi_line` rule (`ad.datadoghq.com/<container>.logs`) joins: always for Datadog, with `pod_log_rules on` for Loki."},
	{Name: "batch_size", Aliases: []string{"BatchSize"}, Default: "1MB", Doc: "Upper bound of one request's uncompressed size; 1 KB to 5 MB (Loki's ingestion burst is 6 MB; Datadog's payload limit is 5 MB, which kubeship reads as 5,000,000 bytes)."},
	{Name: "timeout", Default: "10s", Doc: "Time limit of one HTTP request (never beyond what is left of `retry_budget`)."},
	{Name: "metrics_listen", Doc: "`host:port` to serve Prometheus metrics on at `/metrics` (records, bytes, requests by status class, retries, flushes, drops by reason, latency, batch sizes), labelled by output instance and destination; off when empty. Outputs naming the same address share it."},
	{Name: "retry_budget", Default: "4s", Doc: "How long one flush may spend sending and retrying 408, 429, 5xx and network errors before it returns FLB_RETRY, so that Fluent Bit's scheduler and storage take over. Keep it under `[SERVICE] Grace` (5s by default): Fluent Bit waits for running flushes before it stops, and with `Workers 0` a flush holds Fluent Bit's main thread."},

	{Dest: DestLoki, Name: "tenant_id", Aliases: []string{"TenantID"}, Doc: "Tenant sent as `X-Scope-OrgID`; none when empty (single-tenant Loki)."},
	{Dest: DestLoki, Name: "tenant_id_key", Doc: "Record accessor whose value is the tenant of that record (overrides `tenant_id`), e.g. `$kubernetes['namespace_name']`."},
	{Dest: DestLoki, Name: "labels", Doc: "Comma-separated stream labels: `name=value`, `name=$accessor`, or `$accessor` (name derived from the accessor). The grafana-loki form `{name=\"value\"}` is accepted too. Added to the Kubernetes defaults `namespace`, `container`, `app`."},
	{Dest: DestLoki, Name: "label_keys", Aliases: []string{"LabelKeys"}, Doc: "Comma-separated record accessors (or top-level keys) whose values become labels named after them."},
	{Dest: DestLoki, Name: "label_map_path", Aliases: []string{"LabelMapPath"}, Doc: "JSON file mapping record keys to label names, e.g. `{\"kubernetes\":{\"pod_name\":\"pod\"}}`."},
	{Dest: DestLoki, Name: "auto_kubernetes_labels", Aliases: []string{"AutoKubernetesLabels"}, Default: "off", Doc: "Add every pod label (`$kubernetes['labels']`) as a stream label, after yours and the defaults: a pod label named like one of them is dropped, and the 15-name limit cuts pod labels first."},
	{Dest: DestLoki, Name: "structured_metadata", Doc: "Comma-separated structured metadata, same forms as `labels` (Loki 3). Added to the Kubernetes defaults `pod`, `pod_id`, `container_id`, `node`, `image`, `stream`, `level`."},
	{Dest: DestLoki, Name: "structured_metadata_defaults", Default: "on", Doc: "Send the Kubernetes defaults of `structured_metadata` (with `kubernetes_metadata on`). `off` for a Loki that refuses structured metadata (2.x, or 3.x with `allow_structured_metadata: false` or a schema before v13): the labels stay."},
	{Dest: DestLoki, Name: "structured_metadata_map_keys", Doc: "Comma-separated accessors of maps whose entries all become structured metadata; the maps leave the line."},
	{Dest: DestLoki, Name: "remove_keys", Aliases: []string{"RemoveKeys"}, Doc: "Comma-separated accessors (or top-level keys) removed from the line."},
	{Dest: DestLoki, Name: "drop_single_key", Aliases: []string{"DropSingleKey"}, Default: "raw", Doc: "When one key remains: `on` sends its value, `raw` sends a string value unquoted, `off` sends the map."},
	{Dest: DestLoki, Name: "line_format", Aliases: []string{"LineFormat"}, Default: "json", Doc: "`json` or `key_value` (`key=value` pairs separated by spaces)."},
	{Dest: DestLoki, Name: "max_line_size", Default: "256KB", Doc: "Lines longer than this are truncated (Loki's `max_line_size`); `0` disables."},
	{Dest: DestLoki, Name: "pod_log_rules", Default: "off", Doc: "Apply each pod's Datadog log processing rules (`log_processing_rules` of the `ad.datadoghq.com/<container>.logs` annotation: `exclude_at_match`, `include_at_match`, `mask_sequences`, and `multi_line`, which joins lines) to its lines as sent, so that one annotation keeps a secret or noise out of both destinations. Excluded lines count as `records_filtered`."},
	{Dest: DestLoki, Name: "http_user", Doc: "Basic auth user."},
	{Dest: DestLoki, Name: "http_passwd", Doc: "Basic auth password.", Secret: true},
	{Dest: DestLoki, Name: "bearer_token", Doc: "Bearer token sent as `Authorization: Bearer ...`.", Secret: true},
	{Dest: DestLoki, Name: "batch_wait", Aliases: []string{"BatchWait"}, Default: "0", Doc: "With `Workers` 2 or more: flushes that run at the same time join one push per tenant, sent as soon as every flush in flight joined it, at `batch_size`, or `batch_wait` after it opened (e.g. `200ms`: the most a lone flush waits for others; keep `batch_wait` + `retry_budget` under `[SERVICE] Grace`); each flush is acknowledged only once Loki accepted its records. Fewer, larger pushes suit Loki's distributors. `0` pushes each chunk on its own. grafana-loki's `BatchWait` is accepted and ignored (it acknowledged before sending)."},

	{Dest: DestDatadog, Name: "apikey", Doc: "Datadog API key, sent as `DD-API-KEY`. Required unless `apikey_file` is set; never logged.", Secret: true},
	{Dest: DestDatadog, Name: "apikey_file", Doc: "File holding the API key (a mounted Kubernetes Secret); read once at start-up, surrounding white space ignored."},
	{Dest: DestDatadog, Name: "site", Default: "datadoghq.com", Doc: "Datadog site: `datadoghq.com`, `us3.datadoghq.com`, `us5.datadoghq.com`, `datadoghq.eu`, `ap1.datadoghq.com`, `ap2.datadoghq.com` or `ddog-gov.com`; logs go to `https://http-intake.logs.<site>/api/v2/logs`."},
	{Dest: DestDatadog, Name: "compress", Default: "gzip", Doc: "`gzip` or `off`."},
	{Dest: DestDatadog, Name: "dd_service", Doc: "Default `service`. A pod's `ad.datadoghq.com/<container>.logs` annotation and `tags.datadoghq.com/service` label win; without any, the `app` label, else the container name."},
	{Dest: DestDatadog, Name: "dd_source", Doc: "Default `ddsource`. A pod's `ad.datadoghq.com/<container>.logs` annotation wins; without either, the short image name, else the container name."},
	{Dest: DestDatadog, Name: "dd_tags", Doc: "Comma-separated `key:value` tags added to every log, before the Kubernetes tags."},
	{Dest: DestDatadog, Name: "cluster_name", Doc: "The cluster's name, sent as the `kube_cluster_name` tag of every log (the Agent's `DD_CLUSTER_NAME`)."},
	{Dest: DestDatadog, Name: "dd_hostname", Doc: "`hostname` of every log; by default the pod's node (`kubernetes.host`)."},
	{Dest: DestDatadog, Name: "dd_message_key", Default: "log", Doc: "Record key whose value becomes `message`."},
	{Dest: DestDatadog, Name: "include_tag_key", Default: "off", Doc: "Add the Fluent Bit tag as an attribute named `tag_key`."},
	{Dest: DestDatadog, Name: "tag_key", Default: "tagkey", Doc: "Attribute name of the tag with `include_tag_key on`."},
	{Dest: DestDatadog, Name: "json_date_key", Default: "timestamp", Doc: "Attribute holding the event time in milliseconds; `false` leaves it out (Datadog then uses the arrival time)."},
	{Dest: DestDatadog, Name: "provider", Doc: "Accepted for Fluent Bit `datadog` configs: `ecs` remaps nothing here, since kubeship reads Kubernetes metadata."},
	{Dest: DestDatadog, Name: "pod_labels_as_tags", Doc: "Comma-separated `label:tag` pairs: pod labels sent as tags of that name, e.g. `team:team,app.kubernetes.io/part-of:system`."},
}
