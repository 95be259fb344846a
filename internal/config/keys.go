package config

// Key describes one configuration key: the one place that lists every key,
// its default and its meaning. The README's key table is checked against it.
type Key struct {
	Name    string   // as in Fluent Bit's built-in output, lower case
	Aliases []string // grafana-loki plugin spellings that mean the same (keys are case-insensitive)
	Default string   // "" when unset by default
	Doc     string
	Secret  bool // never logged
}

// Keys lists every key kubeship reads, in README order.
var Keys = []Key{
	{Name: "destination", Default: "loki", Doc: "Where records go: `loki`."},
	{Name: "url", Doc: "Required. Loki's push URL, e.g. `http://loki.monitoring:3100/loki/api/v1/push`; `https://` turns TLS on, `https://user:password@...` sends basic auth. (Fluent Bit keeps `host`, `port`, `tls` and `tls.*` for itself and never passes them to a Go plugin.)"},
	{Name: "tls_verify", Default: "on", Doc: "Verify the server certificate and host name."},
	{Name: "tls_ca_file", Doc: "PEM file of CA certificates to trust instead of the system pool."},
	{Name: "tls_crt_file", Doc: "PEM client certificate (with `tls_key_file`)."},
	{Name: "tls_key_file", Doc: "PEM private key of the client certificate."},
	{Name: "tenant_id", Aliases: []string{"TenantID"}, Doc: "Tenant sent as `X-Scope-OrgID`; none when empty (single-tenant Loki)."},
	{Name: "tenant_id_key", Doc: "Record accessor whose value is the tenant of that record (overrides `tenant_id`), e.g. `$kubernetes['namespace_name']`."},
	{Name: "labels", Doc: "Comma-separated stream labels: `name=value`, `name=$accessor`, or `$accessor` (name derived from the accessor). The grafana-loki form `{name=\"value\"}` is accepted too. Added to the Kubernetes defaults."},
	{Name: "label_keys", Aliases: []string{"LabelKeys"}, Doc: "Comma-separated record accessors (or top-level keys) whose values become labels named after them."},
	{Name: "label_map_path", Aliases: []string{"LabelMapPath"}, Doc: "JSON file mapping record keys to label names, e.g. `{\"kubernetes\":{\"pod_name\":\"pod\"}}`."},
	{Name: "auto_kubernetes_labels", Aliases: []string{"AutoKubernetesLabels"}, Default: "off", Doc: "Add every pod label (`$kubernetes['labels']`) as a stream label."},
	{Name: "kubernetes_metadata", Default: "on", Doc: "Map the `kubernetes` filter's metadata: labels `namespace`, `container`, `app`; structured metadata `pod`, `pod_id`, `container_id`, `node`, `image`, `stream`; the `kubernetes` map, `stream`, `logtag`, `time` and an aggregator's `@timestamp`, `@meta`, `flb_tag` leave the line."},
	{Name: "structured_metadata", Doc: "Comma-separated structured metadata, same forms as `labels` (Loki 3)."},
	{Name: "structured_metadata_map_keys", Doc: "Comma-separated accessors of maps whose entries all become structured metadata."},
	{Name: "remove_keys", Aliases: []string{"RemoveKeys"}, Doc: "Comma-separated accessors (or top-level keys) removed from the line."},
	{Name: "drop_single_key", Aliases: []string{"DropSingleKey"}, Default: "raw", Doc: "When one key remains: `on` sends its value, `raw` sends a string value unquoted, `off` sends the map."},
	{Name: "line_format", Aliases: []string{"LineFormat"}, Default: "json", Doc: "`json` or `key_value` (`key=value` pairs separated by spaces)."},
	{Name: "max_line_size", Default: "256KB", Doc: "Lines longer than this are truncated (Loki's `max_line_size`); `0` disables."},
	{Name: "http_user", Doc: "Basic auth user."},
	{Name: "http_passwd", Doc: "Basic auth password.", Secret: true},
	{Name: "bearer_token", Doc: "Bearer token sent as `Authorization: Bearer ...`.", Secret: true},
	{Name: "header", Doc: "One extra HTTP header, `Name value` (Fluent Bit passes a Go plugin only the first `header`)."},
	{Name: "batch_size", Aliases: []string{"BatchSize"}, Default: "1MB", Doc: "Upper bound of one push request's uncompressed size; 1 KB to 5 MB (Loki's ingestion burst is 6 MB)."},
	{Name: "batch_wait", Aliases: []string{"BatchWait"}, Doc: "Accepted for grafana-loki configs and ignored: each chunk is pushed when Fluent Bit flushes it (set `Flush` in `[SERVICE]` instead)."},
	{Name: "timeout", Default: "10s", Doc: "Time limit of one HTTP request."},
	{Name: "retry_budget", Default: "30s", Doc: "How long one flush may retry 429, 5xx and network errors before returning FLB_RETRY to Fluent Bit."},
}
