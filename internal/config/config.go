// Package config reads an output instance's keys into a validated Config.
// Keys arrive through a Getter, so tests pass a map and the plugin passes
// Fluent Bit's output_get_property.
package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/kubeship/kubeship/internal/accessor"
)

// Getter returns the value of a key, "" when unset. Fluent Bit's lookup is
// case-insensitive; implementations must be too.
type Getter interface {
	Get(key string) string
}

// Map is a Getter over a map, case-insensitive like Fluent Bit.
type Map map[string]string

// Get implements Getter.
func (m Map) Get(key string) string {
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return v
		}
	}
	return ""
}

// DropSingleKey says what to do when one key remains in a record.
type DropSingleKey int

// DropSingleKey modes, as in Fluent Bit's loki output.
const (
	DropOff DropSingleKey = iota
	DropOn
	DropRaw
)

// Field is one label or structured metadata entry: a static value or an accessor.
type Field struct {
	Name   string
	Static string
	Path   *accessor.Path
}

// Config is one output instance's validated configuration: the keys every
// destination reads, then each destination's own.
type Config struct {
	Destination string
	URL         string // full push URL
	TLS         TLS
	Header      [2]string // name, value; empty name when unset
	Proxy       string    // "" uses the environment's proxy settings

	KubernetesMetadata bool
	KubeTagPrefix      string
	AutoMultiline      bool     // join stack traces' lines (auto_multiline)
	TraceIDKeys        []string // nil when off
	SpanIDKeys         []string
	MetricsListen      string // host:port, "" when off

	BatchSize int
	BatchWait time.Duration // 0: each flush pushes alone; see Keys
	// Notes are start-up lines that are not warnings (a grafana-loki key
	// accepted and ignored), one line each.
	Notes       []string
	Timeout     time.Duration
	RetryBudget time.Duration

	Loki    Loki
	Datadog Datadog

	// Warnings are settings that work but deserve a look, one line each,
	// never holding a secret. The caller logs them at start-up.
	Warnings []string
}

// Loki holds the keys of destination loki.
type Loki struct {
	TenantID    string
	TenantIDKey *accessor.Path

	Labels                     []Field // static labels first, then accessors, in the order given
	AutoKubernetesLabels       bool
	StructuredMetadataDefaults bool // the kubernetes defaults of structured metadata, with KubernetesMetadata
	StructuredMetadata         []Field
	StructuredMetadataMapKeys  []accessor.Path
	RemoveKeys                 []accessor.Path
	DropSingleKey              DropSingleKey
	LineFormatKV               bool
	MaxLineSize                int
	PodLogRules                bool // apply the pods' log_processing_rules annotations

	HTTPUser    string
	HTTPPasswd  string
	BearerToken string
}

// Datadog holds the keys of destination datadog.
type Datadog struct {
	APIKey        string
	Site          string
	Compress      bool
	Service       string
	Source        string
	Tags          []string
	Hostname      string
	ClusterName   string
	MessageKey    string
	IncludeTagKey bool
	TagKey        string
	DateKey       string // "" leaves the time out
	LabelsAsTags  map[string]string
}

// Sites are Datadog's sites (docs.datadoghq.com/getting_started/site).
var Sites = []string{"datadoghq.com", "us3.datadoghq.com", "us5.datadoghq.com", "datadoghq.eu", "ap1.datadoghq.com", "ap2.datadoghq.com", "ddog-gov.com"}

// TLS settings of the HTTP client; TLS is on for https URLs.
type TLS struct {
	Verify   bool
	CAFile   string
	CertFile string
	KeyFile  string
}

// Parse reads and validates every key. The first problem found is returned
// as one line naming the key, the value and what is accepted.
func Parse(g Getter) (*Config, error) {
	r := reader{g: g}
	c := &Config{}
	if err := r.unknownKeys(); err != nil {
		return nil, err
	}
	c.Destination = strings.ToLower(r.str("destination"))
	if c.Destination != DestLoki && c.Destination != DestDatadog {
		return nil, r.bad("destination", "loki or datadog")
	}
	if err := r.otherDestinationKeys(c.Destination); err != nil {
		return nil, err
	}
	c.URL = r.pushURL(c.Destination == DestLoki)
	c.TLS = TLS{
		Verify:   r.bool("tls_verify"),
		CAFile:   r.file("tls_ca_file"),
		CertFile: r.file("tls_crt_file"),
		KeyFile:  r.file("tls_key_file"),
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") && r.err == nil {
		r.err = errors.New("tls_crt_file and tls_key_file: set both or neither")
	}

	c.KubernetesMetadata = r.bool("kubernetes_metadata")
	c.Loki = r.loki(c.KubernetesMetadata)
	if h := r.str("header"); h != "" {
		c.Header = r.header(h)
	}

	if v := r.str("proxy"); v != "" {
		if r.httpURL("proxy", "http://proxy.internal:3128") != nil {
			c.Proxy = v
		}
	}
	c.KubeTagPrefix = r.str("kube_tag_prefix")
	c.AutoMultiline = r.bool("auto_multiline")
	c.TraceIDKeys, c.SpanIDKeys = r.keyList("trace_id_keys"), r.keyList("span_id_keys")
	if c.MetricsListen = r.str("metrics_listen"); c.MetricsListen != "" {
		if _, port, err := net.SplitHostPort(c.MetricsListen); err != nil || port == "" {
			r.fail("metrics_listen", "host:port, e.g. 0.0.0.0:2021")
		}
	}

	if c.Destination == DestDatadog {
		c.Datadog = r.datadog()
		if c.URL == "" && r.err == nil {
			c.URL = "https://http-intake.logs." + c.Datadog.Site + "/api/v2/logs"
		}
	}
	c.BatchSize = r.size("batch_size", 1<<10, 5<<20)
	if v, from := r.raw("batch_wait"); from == "BatchWait" && v != "" {
		c.Notes = append(c.Notes, "BatchWait (grafana-loki) is ignored: kubeship acknowledges a chunk only once Loki accepted it; to join concurrent flushes into fewer pushes, set batch_wait with Workers 2 or more")
	} else if v != "" && v != "0" {
		c.BatchWait = r.duration("batch_wait")
	}
	c.Timeout = r.duration("timeout")
	c.RetryBudget = r.duration("retry_budget")
	r.credentialConflicts(c)
	if r.err != nil {
		return nil, r.err
	}
	c.Warnings = r.warnings(c)
	return c, nil
}

// reader keeps the first error so Parse reads as a list of keys.
type reader struct {
	g   Getter
	err error
}

// raw returns a key's value, checking its grafana-loki aliases, and "" when unset.
func (r *reader) raw(name string) (string, string) {
	k := lookup(name)
	v, from := strings.TrimSpace(r.g.Get(k.Name)), k.Name
	for _, a := range k.Aliases {
		av := strings.TrimSpace(r.g.Get(a))
		if av == "" {
			continue
		}
		if v != "" && r.err == nil {
			r.err = fmt.Errorf("%s and %s mean the same: set only one", from, a)
		}
		v, from = av, a
	}
	return v, from
}

// str returns a key's value or its default.
func (r *reader) str(name string) string {
	v, _ := r.raw(name)
	if v == "" {
		return lookup(name).Default
	}
	return v
}

// fail records "key: invalid value "v": want what".
func (r *reader) fail(name, want string) {
	if r.err != nil {
		return
	}
	r.err = r.bad(name, want)
}

func (r *reader) bad(name, want string) error {
	v, from := r.raw(name)
	return fmt.Errorf("%s: invalid value %q: want %s", from, shown(name, v), want)
}

// shown returns a key's value as an error may show it: secrets hidden, URLs
// without userinfo and query.
func shown(name, v string) string {
	switch {
	case name == "url" || name == "proxy":
		if _, err := url.Parse(v); err != nil {
			return "(hidden)"
		}
		return RedactURL(v)
	case lookup(name).Secret:
		return "(hidden)"
	}
	return v
}

func (r *reader) bool(name string) bool {
	v := strings.ToLower(r.str(name))
	switch {
	case isTrue(v):
		return true
	case isFalse(v):
		return false
	}
	r.fail(name, "on or off")
	return false
}

func isTrue(v string) bool  { return v == "on" || v == "true" || v == "yes" || v == "1" }
func isFalse(v string) bool { return v == "off" || v == "false" || v == "no" || v == "0" }

func (r *reader) file(name string) string {
	v := r.str(name)
	if v == "" {
		return ""
	}
	if _, err := os.Stat(v); err != nil && r.err == nil {
		r.err = fmt.Errorf("%s: cannot read %q: %v", name, v, errors.Unwrap(err))
	}
	return v
}

// size parses Fluent Bit sizes: bytes, or a number with K, KB, M, MB, G, GB (powers of 1024).
func (r *reader) size(name string, min, max int) int {
	v := strings.ToUpper(r.str(name))
	mult := 1
	for _, u := range []struct {
		suffix string
		mult   int
	}{{"KB", 1 << 10}, {"K", 1 << 10}, {"MB", 1 << 20}, {"M", 1 << 20}, {"GB", 1 << 30}, {"G", 1 << 30}, {"B", 1}} {
		if strings.HasSuffix(v, u.suffix) {
			v, mult = strings.TrimSpace(strings.TrimSuffix(v, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.Atoi(v)
	// n > max/mult first, so that n*mult cannot overflow.
	if err != nil || n < 0 || n > max/mult || n*mult < min || (n == 0 && min > 0) {
		r.fail(name, fmt.Sprintf("a size from %s to %s, e.g. 512KB or 1MB", human(min), human(max)))
		return 0
	}
	return n * mult
}

func human(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.Itoa(n>>20) + "MB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return strconv.Itoa(n>>10) + "KB"
	}
	return strconv.Itoa(n)
}

// duration parses Go durations (10s, 1m30s) and plain seconds (10).
func (r *reader) duration(name string) time.Duration {
	v := r.str(name)
	d, err := time.ParseDuration(v)
	if err != nil {
		var s float64
		s, err = strconv.ParseFloat(v, 64)
		d = 0
		// Checked before converting: a float beyond int64 (or NaN) converts to
		// an unspecified Duration.
		if err == nil && s > 0 && s <= time.Hour.Seconds() {
			d = time.Duration(s * float64(time.Second))
		}
	}
	if err != nil || d <= 0 || d > time.Hour {
		r.fail(name, "a duration from 1ms to 1h, e.g. 10s or 500ms")
	}
	return d
}

// keyList reads a list of field names, or off (nil).
func (r *reader) keyList(name string) []string {
	v, _ := r.raw(name)
	if v == "" {
		v = lookup(name).Default
	}
	if isFalse(strings.ToLower(v)) {
		return nil
	}
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// list splits a comma-separated value, dropping empty entries.
func (r *reader) list(name string) []string {
	v, _ := r.raw(name)
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func (r *reader) accessor(name, v string, bareKey bool) accessor.Path {
	var p accessor.Path
	var err error
	if bareKey {
		p, err = accessor.Key(v)
	} else {
		p, err = accessor.Parse(v)
	}
	if err != nil && r.err == nil {
		r.err = fmt.Errorf("%s: %w", name, err)
	}
	return p
}

// fields parses `name=value`, `name=$accessor` and `$accessor` entries.
func (r *reader) fields(name string, entries []string) []Field {
	var out []Field
	for _, e := range entries {
		if strings.HasPrefix(e, "$") {
			p := r.accessor(name, e, false)
			out = append(out, Field{Name: p.Name(), Path: &p})
			continue
		}
		k, v, ok := strings.Cut(e, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" || v == "" {
			if r.err == nil {
				r.err = fmt.Errorf("%s: invalid entry %q: want name=value, name=$accessor or $accessor", name, e)
			}
			continue
		}
		f := Field{Name: k}
		if strings.HasPrefix(v, "$") {
			p := r.accessor(name, v, false)
			f.Path = &p
		} else {
			f.Static = v
		}
		out = append(out, f)
	}
	return out
}

// labels reads `labels` in Fluent Bit's form or grafana-loki's {name="value", ...} form.
func (r *reader) labels() []Field {
	v, _ := r.raw("labels")
	if !strings.HasPrefix(v, "{") {
		return r.fields("labels", r.list("labels"))
	}
	var out []Field
	body, ok := strings.CutSuffix(v[1:], "}")
	for ok && strings.TrimSpace(body) != "" {
		var name, val string
		name, body, _ = strings.Cut(body, "=")
		name = strings.TrimSpace(name)
		body = strings.TrimSpace(body)
		// The value is a Go-style quoted string that may contain commas.
		q, err := strconv.QuotedPrefix(body)
		if err != nil || name == "" {
			ok = false
			break
		}
		val, _ = strconv.Unquote(q)
		out = append(out, Field{Name: name, Static: val})
		body = strings.TrimSpace(body[len(q):])
		body = strings.TrimPrefix(body, ",")
	}
	if !ok && r.err == nil {
		r.err = fmt.Errorf("labels: invalid value %q: want name=value,... or {name=\"value\", ...}", v)
	}
	return out
}

// labelMap reads label_map_path: a JSON object mirroring the record whose
// string leaves name the label for the value at that path.
func (r *reader) labelMap() []Field {
	path := r.file("label_map_path")
	if path == "" || r.err != nil {
		return nil
	}
	data, err := os.ReadFile(path)
	var m map[string]any
	if err == nil {
		err = json.Unmarshal(data, &m)
	}
	if err != nil {
		r.err = fmt.Errorf("label_map_path: %s: want a JSON object such as {\"kubernetes\":{\"pod_name\":\"pod\"}}: %v", path, err)
		return nil
	}
	var out []Field
	var walk func(prefix []string, m map[string]any)
	walk = func(prefix []string, m map[string]any) {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys) // JSON objects are unordered; labels come in a stable order
		for _, k := range keys {
			keyPath := append(append([]string(nil), prefix...), k)
			switch v := m[k].(type) {
			case string:
				if why := badLabelName(v); why != "" && r.err == nil {
					r.err = fmt.Errorf("label_map_path: %s: %s: %s", path, strings.Join(keyPath, "."), why)
				}
				p, err := accessor.Parse(FromKeys(keyPath))
				if err != nil && r.err == nil {
					r.err = fmt.Errorf("label_map_path: %w", err)
				}
				out = append(out, Field{Name: v, Path: &p})
			case map[string]any:
				walk(keyPath, v)
			default:
				if r.err == nil {
					r.err = fmt.Errorf("label_map_path: %s: value of %q must be a label name or an object", path, strings.Join(keyPath, "."))
				}
			}
		}
	}
	walk(nil, m)
	return out
}

// badLabelName says what is wrong with a label name of label_map_path, "" if nothing.
// Loki label names keep a-z, A-Z, 0-9 and _; every other byte becomes _.
func badLabelName(name string) string {
	name = strings.TrimSpace(name)
	if name == "" {
		return `empty label name: want a name such as "pod"`
	}
	for _, c := range []byte(name) {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			return ""
		}
	}
	return fmt.Sprintf(`label name %q has no letter or digit (a-z, A-Z, 0-9; other characters become _): want a name such as "pod"`, name)
}

// FromKeys builds the accessor pattern $a['b']['c'] from keys.
func FromKeys(keys []string) string {
	var b strings.Builder
	b.WriteString("$" + keys[0])
	for _, k := range keys[1:] {
		b.WriteString("['" + k + "']")
	}
	return b.String()
}

// loki reads the keys of destination loki (their defaults for datadog).
func (r *reader) loki(kubernetesMetadata bool) Loki {
	var l Loki
	l.TenantID = r.str("tenant_id")
	r.headerValue("tenant_id", l.TenantID, "")
	if v := r.str("tenant_id_key"); v != "" {
		p := r.accessor("tenant_id_key", v, false)
		l.TenantIDKey = &p
	}
	l.Labels = r.labels()
	for _, k := range r.list("label_keys") {
		p := r.accessor("label_keys", k, true)
		l.Labels = append(l.Labels, Field{Name: p.Name(), Path: &p})
	}
	l.Labels = append(l.Labels, r.labelMap()...)
	l.AutoKubernetesLabels = r.bool("auto_kubernetes_labels")
	l.StructuredMetadataDefaults = kubernetesMetadata && r.bool("structured_metadata_defaults")
	l.StructuredMetadata = r.fields("structured_metadata", r.list("structured_metadata"))
	for _, k := range r.list("structured_metadata_map_keys") {
		l.StructuredMetadataMapKeys = append(l.StructuredMetadataMapKeys, r.accessor("structured_metadata_map_keys", k, false))
	}
	for _, k := range r.list("remove_keys") {
		p := r.accessor("remove_keys", k, true)
		if _, ok := p.Keys(); !ok && r.err == nil {
			r.err = fmt.Errorf("remove_keys: %q: only map keys can be removed, not array elements or the tag", k)
		}
		l.RemoveKeys = append(l.RemoveKeys, p)
	}
	switch v := strings.ToLower(r.str("drop_single_key")); {
	case v == "raw":
		l.DropSingleKey = DropRaw
	case isTrue(v):
		l.DropSingleKey = DropOn
	case isFalse(v):
		l.DropSingleKey = DropOff
	default:
		r.fail("drop_single_key", "on, off or raw")
	}
	switch strings.ToLower(r.str("line_format")) {
	case "json":
	case "key_value":
		l.LineFormatKV = true
	default:
		r.fail("line_format", "json or key_value")
	}
	l.MaxLineSize = r.size("max_line_size", 0, 1<<30)
	l.PodLogRules = r.bool("pod_log_rules")

	l.HTTPUser = r.str("http_user")
	l.HTTPPasswd = r.str("http_passwd")
	l.BearerToken = r.str("bearer_token")
	r.headerValue("bearer_token", l.BearerToken, `set the token alone (kubeship adds "Bearer ")`)
	if l.BearerToken != "" && (l.HTTPUser != "" || l.HTTPPasswd != "") && r.err == nil {
		r.err = errors.New("bearer_token and http_user/http_passwd: set one kind of authentication, not both")
	}
	return l
}

// datadog reads the keys of destination datadog.
func (r *reader) datadog() Datadog {
	d := Datadog{
		APIKey:        r.str("apikey"),
		Site:          strings.ToLower(r.str("site")),
		Service:       r.str("dd_service"),
		Source:        r.str("dd_source"),
		Tags:          r.list("dd_tags"),
		Hostname:      r.str("dd_hostname"),
		ClusterName:   r.str("cluster_name"),
		MessageKey:    r.str("dd_message_key"),
		IncludeTagKey: r.bool("include_tag_key"),
		TagKey:        r.str("tag_key"),
		DateKey:       r.str("json_date_key"),
	}
	if f := r.file("apikey_file"); f != "" {
		b, err := os.ReadFile(f)
		switch {
		case err != nil:
			r.failWith(fmt.Errorf("apikey_file: %w", err))
		case d.APIKey != "":
			r.failWith(errors.New("apikey and apikey_file: set only one"))
		default:
			d.APIKey = strings.TrimSpace(string(b))
			if c, ok := controlOrSpace(d.APIKey); ok {
				r.failWith(fmt.Errorf("apikey_file: %s: the key holds %s: want the key alone in the file (surrounding white space is ignored)", f, describeRune(c)))
			}
		}
	} else {
		r.headerValue("apikey", d.APIKey, "set the key alone")
	}
	if d.APIKey == "" {
		r.failWith(errors.New("apikey: required with destination datadog (or apikey_file, a file holding the key)"))
	}
	if !slices.Contains(Sites, d.Site) {
		r.fail("site", strings.Join(Sites, ", "))
	}
	switch v := strings.ToLower(r.str("compress")); {
	case v == "gzip" || isTrue(v):
		d.Compress = true
	case v == "none" || isFalse(v):
	default:
		r.fail("compress", "gzip or off")
	}
	if isFalse(strings.ToLower(d.DateKey)) {
		d.DateKey = ""
	}
	switch v := strings.ToLower(r.str("provider")); v {
	case "", "ecs":
	default:
		r.fail("provider", "ecs (accepted for Fluent Bit datadog configs) or nothing")
	}
	for _, pair := range r.list("pod_labels_as_tags") {
		label, tag, ok := strings.Cut(pair, ":")
		label, tag = strings.TrimSpace(label), strings.TrimSpace(tag)
		if !ok || label == "" || tag == "" {
			r.failWith(fmt.Errorf("pod_labels_as_tags: invalid entry %q: want label:tag, e.g. team:team", pair))
			break
		}
		if d.LabelsAsTags == nil {
			d.LabelsAsTags = map[string]string{}
		}
		d.LabelsAsTags[label] = tag
	}
	return d
}

// failWith keeps err unless an earlier error was found.
func (r *reader) failWith(err error) {
	if r.err == nil {
		r.err = err
	}
}

// otherDestinationKeys rejects keys of the destination not chosen: a Loki
// key in a Datadog output (or the reverse) is a mistake worth naming.
func (r *reader) otherDestinationKeys(dest string) error {
	for _, k := range Keys {
		if k.Dest == "" || k.Dest == dest {
			continue
		}
		for _, name := range append([]string{k.Name}, k.Aliases...) {
			if r.g.Get(name) != "" {
				return fmt.Errorf("%s: applies to destination %s, but this output's destination is %s", name, k.Dest, dest)
			}
		}
	}
	return nil
}

// pushURL reads the push URL ("" when unset and not required).
func (r *reader) pushURL(required bool) string {
	if v, _ := r.raw("url"); v == "" {
		if required && r.err == nil {
			r.err = errors.New("url: required, e.g. http://loki.monitoring:3100/loki/api/v1/push (Fluent Bit keeps host, port and tls for itself, so a Go plugin takes one URL)")
		}
		return ""
	}
	u := r.httpURL("url", "http://loki:3100/loki/api/v1/push")
	if u == nil {
		return ""
	}
	return u.String()
}

func lookup(name string) Key {
	for _, k := range Keys {
		if k.Name == name {
			return k
		}
	}
	panic("config: no key " + name) // a programming error caught by every test
}
