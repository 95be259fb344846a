package datadog

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/kubeship/kubeship/internal/annotations"
	"github.com/kubeship/kubeship/internal/datadog/datadogtest"
	"github.com/kubeship/kubeship/internal/delivery"
	"github.com/kubeship/kubeship/internal/entry"
	"github.com/kubeship/kubeship/internal/event/eventtest"
	"github.com/kubeship/kubeship/internal/record"
)

var t0 = time.Date(2026, 11, 22, 10, 0, 0, 123456789, time.UTC)

const (
	containerID = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	ecrImage    = "123456789012.dkr.ecr.us-east-1.amazonaws.com/shop/checkout"
	node        = "fargate-ip-10-0-1-2.ec2.internal"
	// fargateTag is the tag of the pod below, as the router's tail input sets it.
	fargateTag = "kube.var.log.containers.checkout-7d9f8c6b5-x2k4p_shop_app-" + containerID + ".log"
)

// kubeMap is the kubernetes filter's map for a Deployment's pod on Fargate.
func kubeMap() map[string]any {
	return map[string]any{
		"namespace_name":  "shop",
		"pod_name":        "checkout-7d9f8c6b5-x2k4p",
		"pod_id":          "0b6f5e2a-1111-2222-3333-444455556666",
		"container_name":  "app",
		"docker_id":       containerID,
		"host":            node,
		"container_hash":  ecrImage + "@sha256:" + containerID,
		"container_image": ecrImage + ":v1.2.3",
		"labels": map[string]any{
			"app.kubernetes.io/name":            "checkout",
			"pod-template-hash":                 "7d9f8c6b5",
			"eks.amazonaws.com/fargate-profile": "fp-shop",
		},
		"annotations": map[string]any{"CapacityProvisioned": "0.25vCPU 0.5GB", "Logging": "LoggingEnabled"},
	}
}

// body is a record as the CRI parser and the kubernetes filter leave it;
// mod edits its kubernetes map, extra adds (or with nil removes) fields.
func body(mod func(k map[string]any), extra map[string]any) map[string]any {
	k := kubeMap()
	if mod != nil {
		mod(k)
	}
	b := map[string]any{"log": "hello", "stream": "stdout", "logtag": "F", "time": t0.Format(time.RFC3339Nano), "kubernetes": k}
	for key, v := range extra {
		if v == nil {
			delete(b, key)
		} else {
			b[key] = v
		}
	}
	return b
}

// labels returns a mod that replaces the pod's labels.
func labels(l map[string]any) func(map[string]any) {
	return func(k map[string]any) { k["labels"] = l }
}

// defaults are the options the config passes by default.
func defaults() Options {
	return Options{KubernetesMetadata: true, DateKey: "timestamp", TagKey: "tagkey", Compress: true}
}

type result struct {
	logs     []map[string]any
	raw      [][]byte // each request's JSON array
	reqs     []delivery.Request
	stats    Stats
	problems annotations.Problems
}

// encode runs the encoder over bodies (one event each, one second apart)
// and decodes the requests back with gzip and encoding/json.
func encode(t testing.TB, o Options, tag string, bodies ...map[string]any) result {
	t.Helper()
	var events []eventtest.Event
	for i, b := range bodies {
		events = append(events, eventtest.Event{Time: t0.Add(time.Duration(i) * time.Second), Body: b})
	}
	var b Batch
	if err := New(o).Encode(&b, tag, eventtest.Chunk(true, events...)); err != nil {
		t.Fatal(err)
	}
	r := result{reqs: b.Requests(), stats: b.Stats, problems: b.problems}
	for _, req := range r.reqs {
		raw := body2raw(t, req, o.Compress)
		r.raw = append(r.raw, raw)
		logs, err := datadogtest.Logs[map[string]any](raw)
		if err != nil {
			t.Fatalf("request body is not a JSON array: %v\n%s", err, raw)
		}
		if len(logs) != req.Records {
			t.Errorf("Records = %d, body holds %d", req.Records, len(logs))
		}
		r.logs = append(r.logs, logs...)
	}
	return r
}

// body2raw checks a request's headers and returns its uncompressed body.
func body2raw(t testing.TB, req delivery.Request, compressed bool) []byte {
	t.Helper()
	if req.Header["Content-Type"] != "application/json" {
		t.Errorf("Content-Type %q", req.Header["Content-Type"])
	}
	enc, ok := req.Header["Content-Encoding"]
	switch {
	case !compressed && ok:
		t.Errorf("Content-Encoding %q without compression", enc)
	case compressed && enc != "gzip":
		t.Errorf("Content-Encoding %q", enc)
	}
	raw, err := datadogtest.Body(map[bool]string{true: "gzip"}[compressed], req.Body)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// one returns the only log sent.
func (r result) one(t *testing.T) map[string]any {
	t.Helper()
	if len(r.logs) != 1 {
		t.Fatalf("want one log, got %d: %v", len(r.logs), r.logs)
	}
	return r.logs[0]
}

// tagsOf splits a log's ddtags.
func tagsOf(l map[string]any) []string {
	s, _ := l["ddtags"].(string)
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

var (
	ms0        = json.Number(fmt.Sprint(t0.UnixMilli()))
	deployTags = []string{
		"kube_namespace:shop", "pod_name:checkout-7d9f8c6b5-x2k4p", "kube_container_name:app",
		"container_id:" + containerID, "container_name:app", "display_container_name:app_checkout-7d9f8c6b5-x2k4p",
		"image_name:" + ecrImage, "short_image:checkout", "image_tag:v1.2.3", "docker_image:" + ecrImage + ":v1.2.3",
		"image_id:sha256:" + containerID, "eks_fargate_node:" + node,
		"kube_ownerref_kind:replicaset", "kube_ownerref_name:checkout-7d9f8c6b5",
		"kube_replica_set:checkout-7d9f8c6b5", "kube_deployment:checkout", "kube_app_name:checkout",
	}
)

// The whole object for a Fargate record, byte for byte: field order is part
// of the contract (stable output for the same chunk).
func TestExactObjectForFargateRecord(t *testing.T) {
	r := encode(t, defaults(), fargateTag, body(nil, map[string]any{"user": map[string]any{"id": int64(7)}}))
	want := `[{"message":"hello","ddsource":"checkout","service":"checkout","hostname":"` + node + `","status":"info",` +
		`"ddtags":"` + strings.Join(deployTags, ",") + `","timestamp":` + string(ms0) + `,"user":{"id":7}}]`
	if len(r.raw) != 1 || string(r.raw[0]) != want {
		t.Fatalf("got\n%s\nwant\n%s", r.raw, want)
	}
	if r.stats != (Stats{Counts: entry.Counts{Records: 1}}) {
		t.Errorf("stats %+v", r.stats)
	}
}

// Each case states the fields of the object it checks; absent lists
// fields that must not be there.
func TestFields(t *testing.T) {
	id := containerID
	tests := []struct {
		name   string
		o      func(*Options)
		tag    string
		body   map[string]any
		want   map[string]any
		absent []string
	}{
		{"message_from_log", nil, "", body(nil, nil),
			map[string]any{"message": "hello"}, []string{"log"}},
		{"message_from_raw_cri_line", nil, "",
			map[string]any{"log": "2026-11-22T10:00:00.5Z stderr F boom", "kubernetes": kubeMap()},
			map[string]any{"message": "boom", "status": "error", "timestamp": json.Number(fmt.Sprint(time.Date(2026, 11, 22, 10, 0, 0, 5e8, time.UTC).UnixMilli()))}, []string{"log"}},
		{"timestamp_rounded_to_the_nearest_ms_as_fluent_bit_does", nil, "",
			map[string]any{"log": "2026-11-22T10:00:00.2077Z stdout F x", "kubernetes": kubeMap()},
			map[string]any{"timestamp": json.Number(fmt.Sprint(time.Date(2026, 11, 22, 10, 0, 0, 208e6, time.UTC).UnixMilli()))}, nil},
		{"message_key_field_becomes_message", func(o *Options) { o.MessageKey = "msg" }, "",
			body(nil, map[string]any{"msg": "the message"}),
			map[string]any{"message": "the message", "log": "hello"}, []string{"msg"}},
		{"message_key_log_is_the_log_text", func(o *Options) { o.MessageKey = "log" }, "",
			body(nil, nil), map[string]any{"message": "hello"}, []string{"log"}},
		{"message_key_missing_falls_back_to_log", func(o *Options) { o.MessageKey = "msg" }, "",
			body(nil, nil), map[string]any{"message": "hello"}, []string{"log", "msg"}},
		{"message_key_non_text_as_json", func(o *Options) { o.MessageKey = "payload" }, "",
			body(nil, map[string]any{"payload": map[string]any{"a": int64(1)}}),
			map[string]any{"message": `{"a":1}`, "log": "hello"}, []string{"payload"}},
		{"no_log_keeps_record_message", nil, "",
			body(nil, map[string]any{"log": nil, "message": "from app", "level": "WARN"}),
			map[string]any{"message": "from app", "status": "warn", "level": "WARN"}, nil},
		{"level_from_json_line", nil, "", body(nil, map[string]any{"log": `{"level":"DEBUG","msg":"x"}`}),
			map[string]any{"status": "debug", "message": `{"level":"DEBUG","msg":"x"}`}, nil},
		{"merge_log_fields_stay_as_attributes", nil, "",
			body(nil, map[string]any{"log": `{"severity":"Error","msg":"x","user":"ann"}`, "severity": "Error", "msg": "x", "user": "ann"}),
			map[string]any{"status": "error", "severity": "Error", "msg": "x", "user": "ann"}, nil},
		{"stderr_is_error", nil, "", body(nil, map[string]any{"stream": "stderr"}),
			map[string]any{"status": "error"}, []string{"stream"}},
		{"stdout_is_info", nil, "", body(nil, nil), map[string]any{"status": "info"}, nil},
		{"record_ddtags_never_tags", nil, "", map[string]any{"log": "x", "ddtags": "env:prod,team:evil"},
			map[string]any{"message": "x"}, []string{"ddtags"}},
		{"record_ddtags_with_metadata_off", func(o *Options) { o.KubernetesMetadata = false }, "", map[string]any{"log": "x", "ddtags": "env:prod"},
			map[string]any{"message": "x"}, []string{"ddtags"}},
		{"no_level_no_stream_no_status", nil, "", map[string]any{"log": "x"},
			map[string]any{"message": "x"}, []string{"status", "hostname", "ddtags", "ddsource", "service"}},
		{"bookkeeping_leaves_attributes", nil, "",
			body(nil, map[string]any{"@timestamp": "2026-11-22T10:00:00.123456789Z", "@meta": map[string]any{"x": int64(1)}, "flb_tag": fargateTag}),
			map[string]any{"message": "hello"}, []string{"kubernetes", "stream", "logtag", "time", "@timestamp", "@meta", "flb_tag"}},
		{"fields_named_like_ours_are_not_repeated", nil, "",
			body(nil, map[string]any{"message": "dup", "status": int64(200), "ddtags": "evil:1", "service": "s", "hostname": "h", "ddsource": "d", "timestamp": "t"}),
			map[string]any{"message": "hello", "status": "info", "service": "checkout", "hostname": node, "ddsource": "checkout", "timestamp": ms0}, nil},
		{"kubernetes_metadata_off_keeps_the_record", func(o *Options) { o.KubernetesMetadata = false; o.Source = "src" }, fargateTag, body(nil, nil),
			map[string]any{"message": "hello", "stream": "stdout", "logtag": "F", "ddsource": "src", "kubernetes": jsonOf(kubeMap())},
			[]string{"ddtags", "hostname", "service"}},
		{"date_key_renamed", func(o *Options) { o.DateKey = "date" }, "", body(nil, nil),
			map[string]any{"date": ms0}, []string{"timestamp"}},
		{"date_key_off", func(o *Options) { o.DateKey = "" }, "", body(nil, nil), nil, []string{"timestamp"}},
		{"include_tag_key", func(o *Options) { o.IncludeTagKey = true }, fargateTag, body(nil, nil),
			map[string]any{"tagkey": fargateTag}, nil},
		{"include_tag_key_named", func(o *Options) { o.IncludeTagKey = true; o.TagKey = "fluentbit_tag" }, fargateTag, body(nil, nil),
			map[string]any{"fluentbit_tag": fargateTag}, []string{"tagkey"}},
		{"hostname_option_wins_over_node", func(o *Options) { o.Hostname = "my-cluster" }, "", body(nil, nil),
			map[string]any{"hostname": "my-cluster"}, nil},

		// ddsource and service
		{"source_is_short_image_by_default", nil, "", body(nil, nil), map[string]any{"ddsource": "checkout"}, nil},
		{"source_option_wins_over_short_image", func(o *Options) { o.Source = "java" }, "", body(nil, nil),
			map[string]any{"ddsource": "java"}, nil},
		{"source_and_service_from_annotation", func(o *Options) { o.Source = "java"; o.Service = "svc" }, "",
			body(func(k map[string]any) {
				k["annotations"] = map[string]any{"ad.datadoghq.com/app.logs": `[{"source":"nginx","service":"web"}]`}
			}, nil),
			map[string]any{"ddsource": "nginx", "service": "web"}, nil},
		{"annotation_of_another_container_ignored", nil, "",
			body(func(k map[string]any) {
				k["annotations"] = map[string]any{"ad.datadoghq.com/sidecar.logs": `[{"source":"nginx","service":"web"}]`}
			}, nil),
			map[string]any{"ddsource": "checkout", "service": "checkout"}, nil},
		{"malformed_annotation_ignored", nil, "",
			body(func(k map[string]any) { k["annotations"] = map[string]any{"ad.datadoghq.com/app.logs": `[{"source":`} }, nil),
			map[string]any{"ddsource": "checkout", "service": "checkout"}, nil},
		{"annotation_without_service_keeps_default", func(o *Options) { o.Service = "svc" }, "",
			body(func(k map[string]any) {
				k["annotations"] = map[string]any{"ad.datadoghq.com/app.logs": `[{"source":"nginx"}]`}
			}, nil),
			map[string]any{"ddsource": "nginx", "service": "svc"}, nil},
		{"service_label_wins_over_option", func(o *Options) { o.Service = "svc" }, "",
			body(labels(map[string]any{"tags.datadoghq.com/service": "unified", "app": "legacy"}), nil),
			map[string]any{"service": "unified"}, nil},
		{"container_service_label_wins_over_pod_label", nil, "",
			body(labels(map[string]any{"tags.datadoghq.com/service": "pod-svc", "tags.datadoghq.com/app.service": "ctr-svc"}), nil),
			map[string]any{"service": "ctr-svc"}, nil},
		{"service_option_wins_over_app_label", func(o *Options) { o.Service = "svc" }, "", body(nil, nil),
			map[string]any{"service": "svc"}, nil},
		{"service_from_legacy_app_label", nil, "", body(labels(map[string]any{"app": "legacy"}), nil),
			map[string]any{"service": "legacy"}, nil},
		{"service_and_source_fall_back_to_container", nil, "",
			body(func(k map[string]any) { delete(k, "labels"); delete(k, "container_image") }, nil),
			map[string]any{"service": "app", "ddsource": "app"}, nil},

		// Metadata from the tag when the kubernetes filter is absent.
		{"metadata_from_tag_without_map", nil, fargateTag, map[string]any{"log": "x", "stream": "stdout"},
			map[string]any{"ddtags": "kube_namespace:shop,pod_name:checkout-7d9f8c6b5-x2k4p,kube_container_name:app,container_id:" + id + ",container_name:app,display_container_name:app_checkout-7d9f8c6b5-x2k4p",
				"service": "app", "ddsource": "app"}, []string{"hostname"}},
		{"map_fields_win_over_tag", nil, "kube.var.log.containers.other-pod_otherns_other-" + id + ".log", body(nil, nil),
			map[string]any{"ddtags": strings.Join(deployTags, ",")}, nil},
		{"tag_prefix_option", func(o *Options) { o.TagPrefix = "k8s." }, "k8s.web-0_ns_c-" + id + ".log", map[string]any{"log": "x"},
			map[string]any{"ddtags": "kube_namespace:ns,pod_name:web-0,kube_container_name:c,container_id:" + id + ",container_name:c,display_container_name:c_web-0"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := defaults()
			if tt.o != nil {
				tt.o(&o)
			}
			l := encode(t, o, tt.tag, tt.body).one(t)
			for k, want := range tt.want {
				if got, ok := l[k]; !ok || !equalJSON(got, want) {
					t.Errorf("%s = %#v, want %#v\n%v", k, got, want, l)
				}
			}
			for _, k := range tt.absent {
				if v, ok := l[k]; ok {
					t.Errorf("%s = %#v, want none", k, v)
				}
			}
		})
	}
}

func jsonOf(v any) any {
	b, _ := json.Marshal(v)
	var out any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	_ = d.Decode(&out)
	return out
}

func equalJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

// Each case gives the pod's labels (and name) and the tags they must give
// beyond the container's own (namespace ... docker_image), in order.
func TestKubernetesTags(t *testing.T) {
	own := deployTags[:12]
	tests := []struct {
		name   string
		o      func(*Options)
		mod    func(map[string]any)
		want   []string // after own
		ownTag []string // replaces own when set
	}{
		{"deployment_from_pod_template_hash", nil, nil, deployTags[12:], nil},
		{"replica_set_hash_not_in_pod_name", nil, func(k map[string]any) {
			// The API server cut the generated name: the hash is not there.
			k["pod_name"] = "a-very-long-deployment-name-that-fills-the-whole-63-chars-xk2p9"
			k["labels"] = map[string]any{"pod-template-hash": "7d9f8c6b5"}
		}, nil, []string{"kube_namespace:shop", "pod_name:a-very-long-deployment-name-that-fills-the-whole-63-chars-xk2p9"}},
		{"stateful_set_from_pod_name_label", nil, func(k map[string]any) {
			k["pod_name"] = "kafka-12"
			k["labels"] = map[string]any{"statefulset.kubernetes.io/pod-name": "kafka-12", "controller-revision-hash": "kafka-5c8d"}
		}, []string{"kube_ownerref_kind:statefulset", "kube_ownerref_name:kafka", "kube_stateful_set:kafka"}, nil},
		{"stateful_set_from_pod_index", nil, func(k map[string]any) {
			k["pod_name"] = "db-0"
			k["labels"] = map[string]any{"apps.kubernetes.io/pod-index": "0"}
		}, []string{"kube_ownerref_kind:statefulset", "kube_ownerref_name:db", "kube_stateful_set:db"}, nil},
		{"stateful_set_needs_an_ordinal", nil, func(k map[string]any) {
			k["pod_name"] = "db-x"
			k["labels"] = map[string]any{"apps.kubernetes.io/pod-index": "0"}
		}, nil, nil},
		{"daemon_set_from_labels", nil, func(k map[string]any) {
			k["pod_name"] = "fluent-bit-x7k2p"
			k["labels"] = map[string]any{"controller-revision-hash": "6c9f", "pod-template-generation": "3"}
		}, []string{"kube_ownerref_kind:daemonset", "kube_ownerref_name:fluent-bit", "kube_daemon_set:fluent-bit"}, nil},
		{"revision_hash_alone_is_no_daemon_set", nil, func(k map[string]any) {
			k["pod_name"] = "fluent-bit-x7k2p"
			k["labels"] = map[string]any{"controller-revision-hash": "6c9f"}
		}, nil, nil},
		{"job_from_label", nil, func(k map[string]any) {
			k["pod_name"] = "migrate-v2-8xk2p"
			k["labels"] = map[string]any{"batch.kubernetes.io/job-name": "migrate-v2", "job-name": "migrate-v2"}
		}, []string{"kube_ownerref_kind:job", "kube_ownerref_name:migrate-v2", "kube_job:migrate-v2"}, nil},
		{"job_from_legacy_label", nil, func(k map[string]any) {
			k["pod_name"] = "migrate-v2-8xk2p"
			k["labels"] = map[string]any{"job-name": "migrate-v2"}
		}, []string{"kube_ownerref_kind:job", "kube_ownerref_name:migrate-v2", "kube_job:migrate-v2"}, nil},
		{"cronjob_from_job_name", nil, func(k map[string]any) {
			k["pod_name"] = "report-29384520-kq2x8"
			k["labels"] = map[string]any{"batch.kubernetes.io/job-name": "report-29384520"}
		}, []string{"kube_ownerref_kind:job", "kube_ownerref_name:report-29384520", "kube_job:report-29384520", "kube_cronjob:report"}, nil},
		{"short_number_is_no_cronjob", nil, func(k map[string]any) {
			k["labels"] = map[string]any{"job-name": "backup-2024"}
		}, []string{"kube_ownerref_kind:job", "kube_ownerref_name:backup-2024", "kube_job:backup-2024"}, nil},
		{"app_kubernetes_io_labels", nil, labels(map[string]any{
			"app.kubernetes.io/name": "checkout", "app.kubernetes.io/instance": "checkout-eu", "app.kubernetes.io/version": "1.2.3",
			"app.kubernetes.io/component": "api", "app.kubernetes.io/part-of": "shop", "app.kubernetes.io/managed-by": "Helm",
		}), []string{"kube_app_name:checkout", "kube_app_instance:checkout-eu", "kube_app_version:1.2.3", "kube_app_component:api",
			"kube_app_part_of:shop", "kube_app_managed_by:helm"}, nil},
		{"unified_service_tags", nil, labels(map[string]any{
			"tags.datadoghq.com/env": "prod", "tags.datadoghq.com/service": "checkout", "tags.datadoghq.com/version": "1.2.3",
		}), []string{"env:prod", "service:checkout", "version:1.2.3"}, nil},
		{"unified_service_tags_of_the_container_win", nil, labels(map[string]any{
			"tags.datadoghq.com/env": "prod", "tags.datadoghq.com/service": "checkout",
			"tags.datadoghq.com/app.env": "canary", "tags.datadoghq.com/app.version": "2.0", "tags.datadoghq.com/sidecar.service": "proxy",
		}), []string{"env:canary", "service:checkout", "version:2.0"}, nil},
		{"labels_as_tags_in_label_order", func(o *Options) {
			o.LabelsAsTags = map[string]string{"team": "team", "app.kubernetes.io/part-of": "system", "cost-center": "Cost Center", "absent": "x"}
		}, labels(map[string]any{"team": "payments", "app.kubernetes.io/part-of": "shop", "cost-center": "CC-42"}),
			[]string{"kube_app_part_of:shop", "system:shop", "cost_center:cc-42", "team:payments"}, nil},
		{"non_text_label_values_ignored", nil, labels(map[string]any{"app.kubernetes.io/name": int64(5), "tags.datadoghq.com/env": []any{"a"}}), nil, nil},
		{"cluster_name_first", func(o *Options) { o.ClusterName = "Prod EU" }, labels(nil), nil,
			[]string{"kube_cluster_name:prod_eu", "kube_namespace:shop"}},
		{"annotation_tags_pod_then_container_sanitized", nil, func(k map[string]any) {
			k["labels"] = nil
			k["annotations"] = map[string]any{
				"ad.datadoghq.com/tags":         `{"team":"Payments","env:prod":"x","a,b":"c,d:e"}`,
				"ad.datadoghq.com/app.tags":     `["tier:web","solo"]`,
				"ad.datadoghq.com/sidecar.tags": `{"not":"mine"}`,
			}
		}, []string{"a_b:c_d:e", "env_prod:x", "team:payments", "tier:web", "solo"}, nil},
		{"not_on_fargate_no_fargate_node", nil, func(k map[string]any) { k["host"] = "ip-10-0-1-2.ec2.internal"; k["labels"] = nil }, nil,
			[]string{"kube_namespace:shop", "pod_name:checkout-7d9f8c6b5-x2k4p", "kube_container_name:app", "container_id:" + containerID,
				"container_name:app", "display_container_name:app_checkout-7d9f8c6b5-x2k4p", "image_name:" + ecrImage,
				"short_image:checkout", "image_tag:v1.2.3", "docker_image:" + ecrImage + ":v1.2.3", "image_id:sha256:" + containerID}},
		{"options_tags_first_sanitized_once", func(o *Options) {
			o.Tags = []string{"cluster:Prod EU", "team:a", "cluster:prod_eu", "", "  ", "#", "kube_namespace:shop"}
		}, labels(nil), nil, []string{"cluster:prod_eu", "team:a", "kube_namespace:shop", "pod_name:checkout-7d9f8c6b5-x2k4p"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := defaults()
			if tt.o != nil {
				tt.o(&o)
			}
			b := body(tt.mod, nil)
			l := encode(t, o, "", b).one(t)
			got := tagsOf(l)
			want := append(slices.Clone(own), tt.want...)
			pod := b["kubernetes"].(map[string]any)["pod_name"].(string)
			want[1], want[5] = "pod_name:"+pod, "display_container_name:app_"+pod
			if tt.ownTag != nil {
				// Only check that these come first.
				if len(got) < len(tt.ownTag) || !slices.Equal(got[:len(tt.ownTag)], tt.ownTag) {
					t.Fatalf("tags start\n%q\nwant\n%q", got, tt.ownTag)
				}
				for _, tag := range got {
					if strings.HasPrefix(tag, "kube_replica_set") || strings.HasPrefix(tag, "kube_ownerref") {
						t.Errorf("unexpected owner tag %s", tag)
					}
				}
				return
			}
			if !slices.Equal(got, want) {
				t.Errorf("tags\n%q\nwant\n%q", got, want)
			}
		})
	}
}

// Image references in the shapes registries and runtimes write them. ('@'
// is no tag character: Datadog's rules make it '_'.)
func TestImageTags(t *testing.T) {
	tests := []struct {
		image string
		want  []string // image_name, short_image, image_tag, docker_image
	}{
		{"nginx", []string{"image_name:nginx", "short_image:nginx", "image_tag:latest", "docker_image:nginx"}},
		{"nginx:1.25", []string{"image_name:nginx", "short_image:nginx", "image_tag:1.25", "docker_image:nginx:1.25"}},
		{"docker.io/library/nginx:1.25-alpine", []string{"image_name:docker.io/library/nginx", "short_image:nginx", "image_tag:1.25-alpine", "docker_image:docker.io/library/nginx:1.25-alpine"}},
		{"registry:5000/team/app", []string{"image_name:registry:5000/team/app", "short_image:app", "image_tag:latest", "docker_image:registry:5000/team/app"}},
		{"registry:5000/team/app:v2", []string{"image_name:registry:5000/team/app", "short_image:app", "image_tag:v2", "docker_image:registry:5000/team/app:v2"}},
		{"ghcr.io/o/app@sha256:" + containerID, []string{"image_name:ghcr.io/o/app", "short_image:app", "docker_image:ghcr.io/o/app_sha256:" + containerID}},
		{"ghcr.io/o/app:v3@sha256:" + containerID, []string{"image_name:ghcr.io/o/app", "short_image:app", "image_tag:v3", "docker_image:ghcr.io/o/app:v3_sha256:" + containerID}},
		{"sha256:" + containerID, []string{"docker_image:sha256:" + containerID}},
		{"Registry.Example/App:V1", []string{"image_name:registry.example/app", "short_image:app", "image_tag:v1", "docker_image:registry.example/app:v1"}},
	}
	for _, tt := range tests {
		t.Run(tt.image, func(t *testing.T) {
			o := defaults()
			l := encode(t, o, "", body(func(k map[string]any) {
				k["container_image"] = tt.image
				delete(k, "labels")
			}, nil)).one(t)
			var got []string
			for _, tag := range tagsOf(l) {
				if k, _, _ := strings.Cut(tag, ":"); k == "image_name" || k == "short_image" || k == "image_tag" || k == "docker_image" {
					got = append(got, tag)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestSanitizeTag(t *testing.T) {
	for in, want := range map[string]string{
		"env:prod":               "env:prod",
		"Env:PROD":               "env:prod",
		"#test_starting_hash":    "test_starting_hash",
		"$#weird_starting":       "weird_starting",
		"9lives":                 "lives",
		"a  b!!c":                "a_b_c",
		"a__b":                   "a_b",
		"trailing!!":             "trailing",
		"key:va,lue":             "key:va_lue",
		"key:\"quoted\"\n":       "key:_quoted",
		"ok/path.x-y:z":          "ok/path.x-y:z",
		"日本:値":                   "日本:値",
		"ÉTÉ:Ça":                 "été:ça",
		"a\x00b\xffc":            "a_b_c",
		"":                       "",
		"!!!":                    "",
		strings.Repeat("a", 300): strings.Repeat("a", 200),
		strings.Repeat("é", 300): strings.Repeat("é", 200),
		// 199 characters: no room for another "_b", and no trailing '_'.
		"a" + strings.Repeat("!b", 150): "a" + strings.Repeat("_b", 99),
	} {
		got := SanitizeTag(in)
		if ref := sanitizeRef(in); got != ref {
			t.Errorf("SanitizeTag(%q) = %q, reference %q", in, got, ref)
		}
		if got != want {
			t.Errorf("SanitizeTag(%q) = %q, want %q", in, got, want)
		}
		if err := checkTag(got); got != "" && err != nil {
			t.Errorf("SanitizeTag(%q) = %q: %v", in, got, err)
		}
	}
}

// sanitizeRef is the tag rules written plainly, rune by rune: the
// reference the sanitizer's fast paths are checked against.
func sanitizeRef(s string) string {
	var out []rune
	pending := false
	for _, r := range s { // an invalid byte ranges as U+FFFD
		if len(out) >= maxTagChars {
			break
		}
		r = unicode.ToLower(r)
		letter := unicode.IsLetter(r)
		if !letter && !unicode.IsDigit(r) && !strings.ContainsRune(".:/-", r) {
			pending = len(out) > 0
			continue
		}
		if len(out) == 0 && !letter {
			continue
		}
		if pending {
			if len(out)+2 > maxTagChars {
				break
			}
			out = append(out, '_')
			pending = false
		}
		out = append(out, r)
	}
	return string(out)
}

// checkTag reports how tag breaks Datadog's tag grammar.
func checkTag(tag string) error {
	if !utf8.ValidString(tag) {
		return fmt.Errorf("invalid UTF-8")
	}
	if n := utf8.RuneCountInString(tag); n == 0 || n > maxTagChars {
		return fmt.Errorf("%d characters", n)
	}
	for i, r := range tag {
		switch {
		case i == 0 && !unicode.IsLetter(r):
			return fmt.Errorf("starts with %q", r)
		case unicode.IsLetter(r):
			if unicode.ToLower(r) != r {
				return fmt.Errorf("upper case %q", r)
			}
		case unicode.IsDigit(r), strings.ContainsRune("_-:./", r):
		default:
			return fmt.Errorf("character %q", r)
		}
	}
	if strings.Contains(tag, "__") || strings.HasSuffix(tag, "_") {
		return fmt.Errorf("underscores")
	}
	return nil
}

// No value, however hostile, can add a tag, change another tag or break
// out of the JSON string.
func TestTagInjection(t *testing.T) {
	evil := []string{
		"a,b:c", "x:y:z", `"quoted",evil:1`, "line\nkube_namespace:kube-system", "nul\x00,evil:1", "bad\xff\xfeutf8",
		"\u2028sep", `back\slash`, "tab\tevil", strings.Repeat("x,", 500_000), strings.Repeat("é", 600_000),
	}
	for i, v := range evil {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			o := defaults()
			o.Tags = []string{v}
			o.LabelsAsTags = map[string]string{"team": v, "team2": "team2"}
			b := body(func(k map[string]any) {
				k["namespace_name"] = v
				k["pod_name"] = v
				k["container_name"] = v
				k["container_image"] = v
				k["labels"] = map[string]any{"app.kubernetes.io/name": v, "tags.datadoghq.com/env": v, "team": v, "team2": v, "job-name": v}
				k["container_hash"] = v
				tags, _ := json.Marshal(map[string]string{v: v, "t": v})
				k["annotations"] = map[string]any{"ad.datadoghq.com/tags": string(tags)}
			}, nil)
			l := encode(t, o, "", b).one(t)
			keys := map[string]bool{}
			for _, tag := range tagsOf(l) {
				if err := checkTag(tag); err != nil {
					t.Errorf("tag %.80q: %v", tag, err)
				}
				k, _, _ := strings.Cut(tag, ":")
				keys[k] = true
			}
			allowed := []string{"kube_namespace", "pod_name", "kube_container_name", "container_id", "container_name", "image_name",
				"short_image", "image_tag", "docker_image", "kube_ownerref_kind", "kube_ownerref_name", "kube_job", "kube_cronjob",
				"kube_app_name", "env", "team2", "display_container_name", "image_id", "eks_fargate_node", "t"}
			for k := range keys {
				// The user tag and the label-as-tag name are v sanitized, the
				// annotation's tag name too, with ':' as '_'.
				if !slices.Contains(allowed, k) && k != strings.SplitN(SanitizeTag(v), ":", 2)[0] &&
					k != strings.ReplaceAll(SanitizeTag(v), ":", "_") {
					t.Errorf("unexpected tag key %.80q", k)
				}
			}
			if !keys["kube_namespace"] && SanitizeTag("x"+v) != "x" {
				t.Errorf("kube_namespace lost: %q", slices.Sorted(maps.Keys(keys)))
			}
		})
	}
}

func TestSizeLimits(t *testing.T) {
	t.Run("1001_entries_make_2_requests", func(t *testing.T) {
		bodies := make([]map[string]any, 1001)
		for i := range bodies {
			bodies[i] = body(nil, map[string]any{"log": fmt.Sprint("line ", i)})
		}
		r := encode(t, defaults(), "", bodies...)
		if len(r.reqs) != 2 || r.reqs[0].Records != 1000 || r.reqs[1].Records != 1 {
			t.Fatalf("requests %d", len(r.reqs))
		}
		for i, l := range r.logs {
			if l["message"] != fmt.Sprint("line ", i) {
				t.Fatalf("log %d: %v", i, l["message"])
			}
		}
	})
	t.Run("over_5MB_splits_by_bytes", func(t *testing.T) {
		bodies := make([]map[string]any, 60)
		for i := range bodies {
			bodies[i] = body(nil, map[string]any{"log": strings.Repeat(string(rune('a'+i%26)), 100_000)})
		}
		r := encode(t, defaults(), "", bodies...)
		if len(r.reqs) != 2 || len(r.logs) != 60 {
			t.Fatalf("%d requests, %d logs", len(r.reqs), len(r.logs))
		}
		for _, raw := range r.raw {
			if len(raw) > maxPayloadBytes {
				t.Errorf("request of %d bytes", len(raw))
			}
		}
		if n := len(r.raw[0]); n < maxPayloadBytes-110_000 {
			t.Errorf("first request only %d bytes: requests are filled", n)
		}
	})
	t.Run("batch_bytes_option", func(t *testing.T) {
		o := defaults()
		o.MaxBatchBytes = 4096
		o.MaxEntries = 3
		bodies := make([]map[string]any, 20)
		for i := range bodies {
			bodies[i] = body(nil, map[string]any{"log": strings.Repeat("x", 100*i)})
		}
		r := encode(t, o, "", bodies...)
		for i, raw := range r.raw {
			if len(raw) > 4096 || r.reqs[i].Records > 3 {
				t.Errorf("request %d: %d bytes, %d logs", i, len(raw), r.reqs[i].Records)
			}
		}
		if len(r.logs) != 20 {
			t.Errorf("%d logs", len(r.logs))
		}
	})
	t.Run("2MiB_log_truncated_with_marker", func(t *testing.T) {
		long := strings.Repeat("é", 1<<20) // 2 MiB of 2-byte characters
		r := encode(t, defaults(), "", body(nil, map[string]any{"log": long}))
		msg := r.one(t)["message"].(string)
		if !strings.HasSuffix(msg, truncatedMarker) || !strings.HasPrefix(long, strings.TrimSuffix(msg, truncatedMarker)) {
			t.Errorf("message is not a prefix with the marker: ...%q", msg[len(msg)-20:])
		}
		if n := len(r.raw[0]); n > maxLogBytes+2 || n < maxLogBytes-10 {
			t.Errorf("object of %d bytes, want just under %d", n-2, maxLogBytes)
		}
		if r.stats.TruncatedLogs != 1 || r.stats.Records != 1 {
			t.Errorf("stats %+v", r.stats)
		}
	})
	t.Run("escaped_log_truncated_to_fit", func(t *testing.T) {
		// Each NUL takes 6 bytes of JSON: the raw length is under the
		// limit, the object is not.
		r := encode(t, defaults(), "", body(nil, map[string]any{"log": strings.Repeat("\x00", 400_000)}))
		msg := r.one(t)["message"].(string)
		if !strings.HasSuffix(msg, truncatedMarker) || len(r.raw[0]) > maxLogBytes+2 || r.stats.TruncatedLogs != 1 {
			t.Errorf("%d bytes, stats %+v", len(r.raw[0]), r.stats)
		}
	})
	t.Run("huge_attribute_dropped", func(t *testing.T) {
		r := encode(t, defaults(), "", body(nil, map[string]any{"blob": strings.Repeat("x", 3<<20)}))
		l := r.one(t)
		if _, ok := l["blob"]; ok || l["message"] != "hello" || r.stats.DroppedAttributes != 1 || r.stats.TruncatedLogs != 0 {
			t.Errorf("stats %+v, keys %v", r.stats, slices.Sorted(maps.Keys(l)))
		}
	})
	// A single object never exceeds a request: the encoder keeps every
	// object within MaxLogBytes and MaxBatchBytes.
	t.Run("no_object_over_a_request", func(t *testing.T) {
		for _, batch := range []int{1 << 10, 64 << 10, 1 << 20, 5 << 20} {
			o := defaults()
			o.MaxBatchBytes = batch
			var bodies []map[string]any
			for _, n := range []int{0, 900, 1 << 10, 70 << 10, 1 << 20, 2 << 20, 6 << 20} {
				bodies = append(bodies,
					body(nil, map[string]any{"log": strings.Repeat("a", n)}),
					body(nil, map[string]any{"log": strings.Repeat("\n", n/2)}),
					body(nil, map[string]any{"log": "x", "attr": strings.Repeat("b", n)}),
					body(nil, map[string]any{"log": strings.Repeat("c", n), "attr": strings.Repeat("d", n)}),
				)
			}
			r := encode(t, o, "", bodies...)
			if len(r.logs) != len(bodies) {
				t.Fatalf("batch %d: %d logs of %d", batch, len(r.logs), len(bodies))
			}
			for i, raw := range r.raw {
				if len(raw) > min(batch, maxPayloadBytes) {
					t.Errorf("batch %d: request %d has %d bytes", batch, i, len(raw))
				}
			}
		}
	})
}

// The same chunk gives byte-identical requests: a chunk Fluent Bit returns
// after FLB_RETRY is not sent twice in a different shape.
func TestRequestsAreDeterministic(t *testing.T) {
	o := defaults()
	o.Tags = []string{"cluster:a", "team:b"}
	o.LabelsAsTags = map[string]string{}
	for i := range 50 {
		o.LabelsAsTags[fmt.Sprint("l", i)] = fmt.Sprint("t", i)
	}
	var bodies []map[string]any
	for i := range 300 {
		bodies = append(bodies, eventtest.FargateBody(i))
	}
	first := encode(t, o, fargateTag, bodies...)
	for range 3 {
		again := encode(t, o, fargateTag, bodies...)
		if len(again.reqs) != len(first.reqs) {
			t.Fatal("request count differs")
		}
		for i := range first.reqs {
			if !bytes.Equal(first.reqs[i].Body, again.reqs[i].Body) {
				t.Fatalf("request %d differs", i)
			}
		}
	}
}

// A reused batch gives the same requests as a fresh one.
func TestBatchReuse(t *testing.T) {
	enc := New(defaults())
	var bodies []eventtest.Event
	for i := range 100 {
		bodies = append(bodies, eventtest.Event{Time: t0, Body: eventtest.FargateBody(i)})
	}
	chunk := eventtest.Chunk(true, bodies...)
	var fresh, reused Batch
	if err := enc.Encode(&fresh, fargateTag, chunk); err != nil {
		t.Fatal(err)
	}
	want := fresh.Requests()
	for range 2 {
		reused.Reset()
		if err := enc.Encode(&reused, "other", eventtest.Chunk(true, eventtest.Event{Time: t0, Body: body(nil, nil)})); err != nil {
			t.Fatal(err)
		}
		reused.Reset()
		if err := enc.Encode(&reused, fargateTag, chunk); err != nil {
			t.Fatal(err)
		}
		got := reused.Requests()
		if len(got) != len(want) || !bytes.Equal(got[0].Body, want[0].Body) || reused.Stats != fresh.Stats {
			t.Fatalf("reused batch differs: %+v vs %+v", reused.Stats, fresh.Stats)
		}
	}
}

// Split halves a request for a 413 answer, down to single logs, keeping
// every log once and in order.
func TestSplitHalves(t *testing.T) {
	for _, compress := range []bool{true, false} {
		o := defaults()
		o.Compress = compress
		var bodies []map[string]any
		for i := range 7 {
			bodies = append(bodies, body(nil, map[string]any{"log": fmt.Sprint("m", i)}))
		}
		r := encode(t, o, "", bodies...)
		if len(r.reqs) != 1 {
			t.Fatal("want one request")
		}
		var leaves []string
		var walk func(req delivery.Request, depth int)
		walk = func(req delivery.Request, depth int) {
			var logs []map[string]any
			if err := json.Unmarshal(body2raw(t, req, compress), &logs); err != nil || len(logs) != req.Records {
				t.Fatalf("split body: %v (%d logs, Records %d)", err, len(logs), req.Records)
			}
			if req.Records == 1 {
				if req.Split != nil {
					t.Error("Split set on a single log")
				}
				leaves = append(leaves, logs[0]["message"].(string))
				return
			}
			parts := req.Split()
			if len(parts) != 2 || parts[0].Records != req.Records/2 || parts[1].Records != req.Records-req.Records/2 {
				t.Fatalf("split of %d: %d parts", req.Records, len(parts))
			}
			for _, p := range parts {
				walk(p, depth+1)
			}
		}
		walk(r.reqs[0], 0)
		if want := []string{"m0", "m1", "m2", "m3", "m4", "m5", "m6"}; !slices.Equal(leaves, want) {
			t.Errorf("compress %v: leaves %q", compress, leaves)
		}
	}
}

func TestUncompressed(t *testing.T) {
	o := defaults()
	o.Compress = false
	r := encode(t, o, "", body(nil, nil))
	if r.one(t)["message"] != "hello" {
		t.Error("message")
	}
}

func TestMalformedAndSkippedRecords(t *testing.T) {
	good := eventtest.Event{Time: t0, Body: body(nil, nil)}
	chunk := eventtest.Chunk(true, good, eventtest.Event{Time: t0, Body: "not a map"}, good)
	chunk = append(chunk, 0x92, 0x92) // a truncated event
	var b Batch
	err := New(defaults()).Encode(&b, "", chunk)
	if err == nil || b.Stats.Records != 2 || b.Stats.Skipped != 1 || len(b.Requests()) != 1 {
		t.Errorf("err %v, stats %+v", err, b.Stats)
	}
	var empty Batch
	if reqs := empty.Requests(); reqs != nil {
		t.Errorf("empty batch: %d requests", len(reqs))
	}
}

func TestPartialLinesJoined(t *testing.T) {
	parts := []map[string]any{
		{"log": "2026-11-22T10:00:00Z stdout P {\"level\":\"warn\",\"msg\":\"a", "kubernetes": kubeMap()},
		{"log": "2026-11-22T10:00:01Z stdout P bc", "kubernetes": kubeMap()},
		{"log": "2026-11-22T10:00:02Z stdout F d\"}", "kubernetes": kubeMap()},
	}
	r := encode(t, defaults(), "", parts...)
	l := r.one(t)
	if l["message"] != `{"level":"warn","msg":"abcd"}` || l["status"] != "warn" || r.stats.Joined != 2 {
		t.Errorf("%v, stats %+v", l, r.stats)
	}
}

// FuzzTags: whatever the metadata and options, ddtags holds only tags in
// Datadog's grammar, and the output is a JSON array of objects.
func FuzzTags(f *testing.F) {
	f.Add("checkout-7d9f8c6b5-x2k4p", "app:v1", "team:a", "7d9f8c6b5")
	f.Add("a,b:c\n\"x\x00", "img@sha256:x", "Env:PROD EU", "")
	f.Add("\xff\xfe日本-0", "r:5000/a/b:c@d", "#", "0")
	f.Add(strings.Repeat("É", 250), ":", strings.Repeat("a,", 120), "-")
	f.Fuzz(func(t *testing.T, value, image, userTag, hash string) {
		o := defaults()
		o.Compress = false // FuzzEncode covers gzip; this one is about tags
		o.Tags = []string{userTag, value}
		o.LabelsAsTags = map[string]string{"x": value, "y": userTag}
		o.Service = value
		b := body(func(k map[string]any) {
			k["pod_name"] = value
			k["container_image"] = image
			k["container_name"] = userTag
			k["labels"] = map[string]any{"pod-template-hash": hash, "x": value, "y": userTag, "job-name": value,
				"app.kubernetes.io/name": value, "tags.datadoghq.com/env": image}
			// Annotation tags of fuzzed names and values, a few dozen
			// to hundreds of them, some named like derived tags.
			tags := map[string]any{value: userTag, image: []string{hash, value}, "kube_namespace": value, "pod_name": userTag}
			for i := range len(hash) * 7 {
				tags[fmt.Sprint(userTag, i)] = strings.Repeat(value, i%5)
			}
			ann, _ := json.Marshal(tags)
			k["annotations"] = map[string]any{"ad.datadoghq.com/" + userTag + ".logs": value, "ad.datadoghq.com/tags": string(ann)}
		}, map[string]any{"log": value, value: userTag})
		r := encode(t, o, "kube.var.log.containers."+value, b)
		l := r.one(t)
		checkBounded(t, l, r.problems)
		for _, v := range []string{value, image, userTag, hash} {
			s := SanitizeTag(v)
			if ref := sanitizeRef(v); s != ref {
				t.Fatalf("SanitizeTag(%q) = %q, reference %q", v, s, ref)
			}
			if SanitizeTag(s) != s {
				t.Fatalf("SanitizeTag not idempotent on %q: %q", v, s)
			}
		}
	})
}

// FuzzEncode: any chunk, however damaged, gives valid JSON arrays of
// objects within the limits, with tags in Datadog's grammar.
func FuzzEncode(f *testing.F) {
	f.Add(eventtest.Chunk(true, eventtest.Event{Time: t0, Body: body(nil, nil)}))
	f.Add(eventtest.Chunk(false, eventtest.Event{Time: t0, Body: eventtest.FargateBody(3)}))
	f.Add(eventtest.Chunk(true, eventtest.Event{Time: t0, Body: map[string]any{"log": "2026-11-22T10:00:00Z stderr P x"}},
		eventtest.Event{Time: t0, Body: map[string]any{"log": "2026-11-22T10:00:00Z stderr F y", "msg": []any{1.5, nil}}}))
	// A pod's rules over its attributes, and its hostile annotations.
	f.Add(eventtest.Chunk(true, eventtest.Event{Time: t0, Body: body(withAnnotations(map[string]any{
		"ad.datadoghq.com/app.logs": `[{"log_processing_rules":[{"type":"mask_sequences","name":"m\n","pattern":"a(.*b)?","replace_placeholder":"$1"},` +
			`{"type":"exclude_at_match","name":"x","pattern":"(\n[error] forged"},{"type":"include_at_match","name":"i","pattern":"\\d"}]}]`,
		"ad.datadoghq.com/tags": `{"kube_namespace":"x","team":"a"}`,
	}), map[string]any{"log": nil, "msg": "aaa1", "n": []any{int64(12), map[string]any{"k": "aab"}}, "host": "h"})}))
	o := defaults()
	o.MessageKey = "msg"
	o.MaxBatchBytes = 2048
	enc := New(o)
	f.Fuzz(func(t *testing.T, chunk []byte) {
		var b Batch
		_ = enc.Encode(&b, fargateTag, chunk)
		n := 0
		for _, req := range b.Requests() {
			raw := body2raw(t, req, true)
			var logs []map[string]any
			if err := json.Unmarshal(raw, &logs); err != nil {
				t.Fatalf("invalid JSON: %v\n%q", err, raw)
			}
			if len(logs) > 1 && len(raw) > 2048 {
				t.Fatalf("request of %d logs and %d bytes", len(logs), len(raw))
			}
			for _, l := range logs {
				checkBounded(t, l, b.problems)
			}
			n += len(logs)
		}
		if n != b.Stats.Records {
			t.Fatalf("%d logs sent, %d records", n, b.Stats.Records)
		}
	})
}

// checkBounded checks a log's tags (Datadog's grammar, within ddtags'
// bounds, kube_namespace once at most) and the flush's problem lines (one
// line each, at most 1 KB).
func checkBounded(t *testing.T, l map[string]any, problems annotations.Problems) {
	t.Helper()
	tags := tagsOf(l)
	if s, _ := l["ddtags"].(string); len(tags) > maxLogTags || len(s) > maxTagsBytes {
		t.Fatalf("%d tags, %d bytes of ddtags", len(tags), len(s))
	}
	namespaces := 0
	for _, tag := range tags {
		if err := checkTag(tag); err != nil {
			t.Fatalf("tag %q: %v", tag, err)
		}
		if strings.HasPrefix(tag, "kube_namespace:") {
			namespaces++
		}
	}
	if namespaces > 1 {
		t.Fatalf("kube_namespace %d times: %q", namespaces, tags)
	}
	problems.Each(func(line string, _ int) {
		if len(line) > 1024 || strings.ContainsAny(line, "\r\n") {
			t.Fatalf("problem line of %d bytes: %q", len(line), line)
		}
	})
}

// An encoder is shared by Fluent Bit's workers: flushes run at once, each
// with its own batch (run with -race).
func TestConcurrentEncode(t *testing.T) {
	enc := New(defaults())
	var events []eventtest.Event
	for i := range 200 {
		events = append(events, eventtest.Event{Time: t0, Body: eventtest.FargateBody(i)})
	}
	chunk := eventtest.Chunk(true, events...)
	var want Batch
	if err := enc.Encode(&want, fargateTag, chunk); err != nil {
		t.Fatal(err)
	}
	wantBody := want.Requests()[0].Body
	done := make(chan []byte)
	for range 4 {
		go func() {
			var b Batch
			var body []byte
			for range 5 {
				b.Reset()
				_ = enc.Encode(&b, fargateTag, chunk)
				body = b.Requests()[0].Body
			}
			done <- body
		}()
	}
	for range 4 {
		if got := <-done; !bytes.Equal(got, wantBody) {
			t.Error("concurrent flush gave a different request")
		}
	}
}

// Cutting a message where cutUTF8 says keeps its JSON a prefix of the whole
// message's JSON, which is what lets the encoder shrink an object by an
// exact number of bytes.
func TestCutUTF8KeepsJSONPrefix(t *testing.T) {
	for _, s := range []string{"", "abc", "日本語テキスト", "a\xe6\x97", "\x80\x80\x80\x80\x80z", "é\u2028\x00\"\\x", "\xf0\x9f\x99\x82\xf0\x9f"} {
		whole := string(appendJSON(nil, []byte(s)))
		for n := -1; n <= len(s)+1; n++ {
			c := cutUTF8([]byte(s), n)
			if c < 0 || c > max(n, 0) || c > len(s) || (n >= 0 && n <= len(s) && n-c > 3) {
				t.Fatalf("cutUTF8(%q, %d) = %d", s, n, c)
			}
			part := string(appendJSON(nil, []byte(s[:c])))
			if !strings.HasPrefix(whole, part[:len(part)-1]) {
				t.Errorf("JSON of %q[:%d] = %s, not a prefix of %s", s, c, part, whole)
			}
		}
	}
}

// FuzzCutUTF8: the same property with the encoder's own JSON writer, on
// any bytes.
func FuzzCutUTF8(f *testing.F) {
	f.Add("日本語テキスト", 1)
	f.Add("a\xe6\x97\x80\x80\x80\x80z", 4)
	f.Fuzz(func(t *testing.T, s string, n int) {
		c := cutUTF8([]byte(s), n)
		whole := record.AppendJSONString(nil, []byte(s))
		part := record.AppendJSONString(nil, []byte(s[:c]))
		if !bytes.HasPrefix(whole, part[:len(part)-1]) || len(whole)-len(part) < len(s)-c {
			t.Fatalf("cutUTF8(%q, %d) = %d: %s is not a prefix of %s shorter by %d", s, n, c, part, whole, len(s)-c)
		}
	})
}

func appendJSON(dst, s []byte) []byte {
	b, _ := json.Marshal(string(s)) // the same escaping for these inputs, bar HTML
	return append(dst, b...)
}

// A value the JSON writer cannot render (nested deeper than msgpack
// rendering allows) skips the record and counts it.
func TestUnrenderableRecordCounted(t *testing.T) {
	var deep any = "x"
	for range 1100 {
		deep = []any{deep}
	}
	r := encode(t, defaults(), "", body(nil, map[string]any{"deep": deep}), body(nil, nil))
	if r.stats.Malformed != 1 || r.stats.Records != 1 || len(r.logs) != 1 {
		t.Errorf("stats %+v", r.stats)
	}
}

// A pod's log processing rules apply as the Agent applies them: excluded
// messages are counted as filtered, masked values never leave, and a rule
// that can't be applied is skipped, never the pod's logs.
func TestLogProcessingRules(t *testing.T) {
	logs := `[{"source":"java","log_processing_rules":[
		{"type":"exclude_at_match","name":"no_health","pattern":"GET /healthz"},
		{"type":"mask_sequences","name":"cards","pattern":"\\d{4}-\\d{4}-\\d{4}-(\\d{4})","replace_placeholder":"[card ending $1]"},
		{"type":"exclude_at_match","name":"broken","pattern":"(unclosed"}]}]`
	withRules := func(msg string) map[string]any {
		return body(func(k map[string]any) { k["annotations"] = map[string]any{"ad.datadoghq.com/app.logs": logs} }, map[string]any{"log": msg})
	}
	r := encode(t, defaults(), "", withRules("GET /healthz 200"), withRules("paid with 4111-1111-1111-1234"),
		withRules("GET /api 200"), body(nil, map[string]any{"log": "GET /healthz from a pod without rules"}))
	var msgs []string
	for _, l := range r.logs {
		msgs = append(msgs, l["message"].(string))
	}
	want := []string{"paid with [card ending 1234]", "GET /api 200", "GET /healthz from a pod without rules"}
	if !slices.Equal(msgs, want) {
		t.Errorf("messages %q, want %q", msgs, want)
	}
	if r.stats.Filtered != 1 || r.stats.Records != 3 {
		t.Errorf("stats %+v, want 1 filtered, 3 records", r.stats)
	}
	for _, raw := range r.raw {
		if bytes.Contains(raw, []byte("4111")) {
			t.Errorf("the masked card number was sent: %s", raw)
		}
	}
	var problems []string
	r.problems.Each(func(line string, n int) { problems = append(problems, fmt.Sprintf("%d %s", n, line)) })
	if len(problems) != 1 || !strings.HasPrefix(problems[0], "3 pod shop/checkout-7d9f8c6b5-x2k4p, container app: ") ||
		!strings.Contains(problems[0], `rule "broken"`) {
		t.Errorf("problems %q, want the broken rule once, counting the pod's 3 records", problems)
	}
}

// An OpenTelemetry hex trace id gets dd.trace_id and dd.span_id in
// Datadog's decimal form (the lower 64 bits), which log–trace correlation
// reads; lines from Datadog's tracers keep their own.
func TestTraceCorrelation(t *testing.T) {
	o := defaults()
	o.TraceKeys, o.SpanKeys = entry.DefaultTraceKeys, entry.DefaultSpanKeys
	tests := []struct {
		name  string
		extra map[string]any
		trace any // dd.trace_id as it arrives; nil for none
		span  any
	}{
		{"otel_json_line", map[string]any{"log": `{"msg":"x","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7"}`},
			"11803532876627986230", "67667974448284343"},
		{"record_fields_64_bit", map[string]any{"traceId": "a3ce929d0e0e4736", "spanId": "00f067aa0ba902b7"}, "11803532876627986230", "67667974448284343"},
		{"traceparent", map[string]any{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}, "11803532876627986230", "67667974448284343"},
		{"datadog_tracer_kept", map[string]any{"dd.trace_id": "1234", "dd.span_id": "5678"}, "1234", "5678"},
		{"dd_field_kept_over_otel", map[string]any{"dd.trace_id": "1234", "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736"}, "1234", nil},
		{"not_hex_left_alone", map[string]any{"trace_id": "req-42"}, nil, nil},
		{"none", nil, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := encode(t, o, "", body(nil, tt.extra)).one(t)
			if l["dd.trace_id"] != tt.trace || l["dd.span_id"] != tt.span {
				t.Errorf("dd.trace_id %v dd.span_id %v, want %v %v\n%v", l["dd.trace_id"], l["dd.span_id"], tt.trace, tt.span, l)
			}
		})
	}
	// Off: no keys, nothing added.
	l := encode(t, defaults(), "", body(nil, map[string]any{"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736"})).one(t)
	if _, ok := l["dd.trace_id"]; ok {
		t.Errorf("dd.trace_id without trace keys: %v", l)
	}
}
