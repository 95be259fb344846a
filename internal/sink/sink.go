// Package sink drives one output instance: it turns a Fluent Bit chunk into
// requests, delivers them and says what to answer Fluent Bit.
package sink

import (
	"context"
	"hash/maphash"
	"net/http"
	"runtime"
	"time"

	"github.com/kubeship/kubeship/internal/config"
	"github.com/kubeship/kubeship/internal/datadog"
	"github.com/kubeship/kubeship/internal/delivery"
	"github.com/kubeship/kubeship/internal/destination"
	"github.com/kubeship/kubeship/internal/loki"
	"github.com/kubeship/kubeship/internal/metrics"
	"github.com/kubeship/kubeship/internal/transport"
)

// Status is a flush's answer, valued as Fluent Bit's FLB_ERROR, FLB_OK and FLB_RETRY.
type Status int

// Statuses.
const (
	Error Status = 0
	OK    Status = 1
	Retry Status = 2
)

// Logger writes the plugin's log lines (Fluent Bit's log, in the plugin).
type Logger interface {
	Errorf(format string, args ...any)
	Warnf(format string, args ...any)
	Infof(format string, args ...any)
	Debugf(format string, args ...any)
}

// Sink is one [OUTPUT] section's state. Flush is safe for concurrent use
// (Fluent Bit's Workers).
type Sink struct {
	dest    destination.Destination
	deliver *delivery.Deliverer
	group   *committer // nil without batch_wait
	counts  *counters
	log     Logger
	seed    maphash.Seed
	ctx     context.Context
	cancel  context.CancelFunc
	metrics *metrics.Set // nil without metrics
	release func()       // releases the metrics and the connections
}

// New validates the configuration and builds a sink that sends through a
// real HTTP client. instance names the output in log lines and on
// metrics_listen; fb is its metrics context in Fluent Bit, if any.
func New(g config.Getter, log Logger, version, instance string, fb metrics.FluentBit) (*Sink, error) {
	cfg, err := config.Parse(g)
	if err != nil {
		return nil, err
	}
	dest := open(cfg, version)
	// Canonical names: one entry per header whatever its case, and the
	// user's header, set last, wins over the destination's of the same name.
	header := map[string]string{}
	for name, value := range dest.Header() {
		header[http.CanonicalHeaderKey(name)] = value
	}
	if cfg.Header[0] != "" {
		header[http.CanonicalHeaderKey(cfg.Header[0])] = cfg.Header[1]
	}
	client, err := transport.New(transport.Options{
		URL: cfg.URL, TLS: cfg.TLS, Timeout: cfg.Timeout,
		UserAgent: "kubeship/" + version, Header: header, Proxy: cfg.Proxy,
	})
	if err != nil {
		return nil, err
	}
	var sender delivery.Sender = client
	set, release, err := metrics.Open(metrics.Options{Instance: instance, Destination: cfg.Destination,
		Listen: cfg.MetricsListen, FluentBit: fb, Log: log})
	if err != nil {
		return nil, err
	}
	if set != nil {
		sender = meteredSender{client, set}
	}
	s := build(cfg, dest, sender, log)
	s.metrics, s.counts.metrics = set, set
	s.release = func() { release(); client.Close() }
	for _, n := range cfg.Notes {
		log.Infof("%s", n)
	}
	for _, w := range cfg.Warnings {
		log.Warnf("%s", w)
	}
	log.Infof("destination %s: pushing to %s (kubeship %s, batch_size %d bytes, timeout %s, retry_budget %s, GOMAXPROCS %d, %s/%s)",
		cfg.Destination, config.RedactURL(cfg.URL), version, cfg.BatchSize, cfg.Timeout, cfg.RetryBudget, runtime.GOMAXPROCS(0),
		runtime.GOOS, runtime.GOARCH)
	return s, nil
}

// open returns the destination cfg names.
func open(cfg *config.Config, version string) destination.Destination {
	if cfg.Destination == config.DestDatadog {
		return datadog.NewDestination(cfg, version)
	}
	return loki.NewDestination(cfg)
}

// NewWithSender builds a sink around any sender (tests pass a fake or a
// client of their own).
func NewWithSender(cfg *config.Config, sender delivery.Sender, log Logger) *Sink {
	return build(cfg, open(cfg, "test"), sender, log)
}

func build(cfg *config.Config, dest destination.Destination, sender delivery.Sender, log Logger) *Sink {
	ctx, cancel := context.WithCancel(context.Background())
	d := &delivery.Deliverer{Sender: sender, Budget: cfg.RetryBudget, Log: log, Answers: dest.Answers()}
	var group *committer
	if j, ok := dest.(destination.Joiner); ok && cfg.BatchWait > 0 {
		d.Join = j.Join
		group = &committer{d: d, wait: cfg.BatchWait, maxBytes: cfg.BatchSize}
	}
	return &Sink{
		dest:    dest,
		deliver: d,
		group:   group,
		counts:  newCounters(log),
		log:     log,
		seed:    maphash.MakeSeed(),
		ctx:     ctx,
		cancel:  cancel,
		release: func() {},
	}
}

// meteredSender records every HTTP attempt in the instance's metrics.
type meteredSender struct {
	delivery.Sender
	set *metrics.Set
}

func (m meteredSender) Send(ctx context.Context, r delivery.Request) delivery.Response {
	start := time.Now()
	resp := m.Sender.Send(ctx, r)
	status := resp.Status
	if resp.Err != nil {
		status = 0
	}
	m.set.Request(status, time.Since(start), r.Records, len(r.Body))
	return resp
}

// Flush delivers one chunk. chunk is only read during the call.
func (s *Sink) Flush(tag string, chunk []byte) Status {
	if s.group != nil {
		s.group.enter()
		defer s.group.leave()
	}
	enc, decodeErr := s.dest.Encode(tag, chunk)
	defer enc.Done()
	s.counts.read(enc.Counts)
	s.counts.add(enc.Notes...)

	// Fluent Bit resends a chunk byte for byte, so tag and bytes identify it.
	key := func() uint64 {
		var h maphash.Hash
		h.SetSeed(s.seed)
		h.WriteString(tag)
		h.Write(chunk)
		return h.Sum64()
	}
	var out delivery.Outcome
	result := delivery.OK
	if s.group != nil {
		out, result = s.group.deliver(s.ctx, delivery.Member{Key: key, Requests: enc.Requests})
	} else {
		out = s.deliver.Deliver(s.ctx, key, enc.Requests)
		result = out.Result
	}

	s.counts.delivered(out)
	s.metrics.Retries(out.Retries)
	switch {
	case result == delivery.Retry:
		s.log.Debugf("tag %s: records pending: returning FLB_RETRY", tag)
		s.metrics.Flush("retry")
		return Retry
	case decodeErr != nil:
		// What could be read was delivered; the rest can never be read, so
		// retrying would only repeat this.
		s.log.Errorf("tag %s: malformed chunk, %d readable records delivered, the rest is dropped: %v", tag, enc.Counts.Records, decodeErr)
		s.metrics.Flush("error")
		return Error
	}
	s.metrics.Flush("ok")
	return OK
}

// Close stops retries in progress and logs the totals.
func (s *Sink) Close() {
	s.cancel()
	s.release()
	s.log.Infof("exit: %s", s.counts.summary())
}

// Logger returns the sink's logger.
func (s *Sink) Logger() Logger { return s.log }
