package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kubeship/kubeship/test/chart"
	"github.com/kubeship/kubeship/test/fluentbit"
	"github.com/kubeship/kubeship/test/proc"
)

// sidecar measures conf/k8s/sidecar.yaml's Fluent Bit (tail of the
// application's file, kubeship to Loki): peak RSS idle, then at each rate
// of lines a second, one Fluent Bit through all of them.
func sidecar(bin, so, root string, rates []int, each time.Duration) (string, error) {
	rd, err := chart.ReadFile(filepath.Join(root, "conf", "k8s", "sidecar.yaml"))
	if err != nil {
		return "", err
	}
	conf, err := rd.ConfigMap("checkout-kubeship", "fluent-bit.conf")
	if err != nil {
		return "", err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	sink := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	})}
	go func() { _ = sink.Serve(ln) }()
	defer sink.Close()
	dir, err := os.MkdirTemp("", "kubeship-sidecar-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	app := filepath.Join(dir, "app")
	if err := os.MkdirAll(app, 0o755); err != nil {
		return "", err
	}
	logFile := filepath.Join(app, "checkout.log")
	if err := os.WriteFile(logFile, nil, 0o644); err != nil {
		return "", err
	}
	conf = strings.ReplaceAll(conf, "/var/log/app/", app+"/")
	conf, err = chart.Apply(conf, []chart.Mapping{
		{Section: "SERVICE", Key: "plugins_file", Value: chart.Set(filepath.Join(dir, "plugins.conf"))},
		{Section: "SERVICE", Key: "http_listen", Value: chart.Set("127.0.0.1")},
		{Section: "SERVICE", Key: "http_port", Value: chart.Set(fmt.Sprint(freePort()))},
		{Section: "OUTPUT", Name: "kubeship", Key: "url", Value: chart.Set(fmt.Sprintf("http://%s/loki/api/v1/push", ln.Addr()))},
	})
	if err != nil {
		return "", err
	}
	for k, v := range map[string]string{"POD_NAME": "checkout-7d9f8c6b5-x2k4p", "POD_NAMESPACE": "shop", "POD_UID": "5b3a7c1e", "NODE_NAME": "fargate-ip-10-0-1-23.ec2.internal"} {
		os.Setenv(k, v)
	}
	fb, err := fluentbit.Start(bin, so, dir, conf)
	if err != nil {
		return "", err
	}
	defer fb.Stop(15 * time.Second)
	time.Sleep(each)
	var w strings.Builder
	fmt.Fprintf(&w, "\nThe sidecar (conf/k8s/sidecar.yaml's Fluent Bit, %s, tail → kubeship), one process through each rate for %s:\n\n| lines/s | peak RSS so far (MB) |\n|---|---|\n", fluentbit.Version(bin), each)
	idle, err := proc.MemoryMB(fb.PID(), "VmHWM")
	if err != nil {
		return "", err
	}
	fmt.Fprintf(&w, "| idle | %.1f |\n", idle)
	f, err := os.OpenFile(logFile, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return "", err
	}
	defer f.Close()
	n := 0
	for _, rate := range rates {
		tick := time.NewTicker(100 * time.Millisecond)
		for end := time.Now().Add(each); time.Now().Before(end); <-tick.C {
			var b []byte
			for range max(1, rate/10) {
				line, _ := json.Marshal(map[string]any{"level": "info", "msg": "order placed", "order_id": n, "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736"})
				b = append(append(b, line...), '\n')
				n++
			}
			if _, err := f.Write(b); err != nil {
				tick.Stop()
				return "", err
			}
		}
		tick.Stop()
		peak, err := proc.MemoryMB(fb.PID(), "VmHWM")
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&w, "| %d | %.1f |\n", rate, peak)
	}
	return w.String(), nil
}
