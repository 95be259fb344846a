// Package sink drives one output instance: it turns a Fluent Bit chunk into
// requests, delivers them and says what to answer Fluent Bit.
package sink

import (
	"context"
	"fmt"
	"hash/maphash"
	"net/http"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/kubeship/kubeship/internal/config"
	"github.com/kubeship/kubeship/internal/delivery"
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
	cfg     *config.Config
	enc     encoder
	deliver *delivery.Deliverer
	log     Logger
	seed    maphash.Seed
	ctx     context.Context
	cancel  context.CancelFunc
	metrics *metrics.Set // nil when metrics_listen is off
	release func()       // releases the metrics listener

	mu     sync.Mutex
	totals map[string]int // counters reported at exit
	warned map[string]bool
}

// New validates the configuration and builds a sink that sends through a
// real HTTP client. instance names the output in log lines and metrics.
func New(g config.Getter, log Logger, version, instance string) (*Sink, error) {
	cfg, err := config.Parse(g)
	if err != nil {
		return nil, err
	}
	// Canonical names: one entry per header whatever its case, and the
	// user's header, set last, wins over kubeship's of the same name.
	header := map[string]string{}
	setHeader := func(name, value string) { header[http.CanonicalHeaderKey(name)] = value }
	switch {
	case cfg.Destination == config.DestDatadog:
		setHeader("DD-API-KEY", cfg.Datadog.APIKey)
		// Datadog's intake tells log shippers apart by origin, as Fluent Bit's datadog output does.
		setHeader("DD-EVP-ORIGIN", "kubeship")
		setHeader("DD-EVP-ORIGIN-VERSION", version)
	case cfg.BearerToken != "":
		setHeader("Authorization", "Bearer "+cfg.BearerToken)
	case cfg.HTTPUser != "" || cfg.HTTPPasswd != "":
		setHeader("Authorization", transport.BasicAuth(cfg.HTTPUser, cfg.HTTPPasswd))
	}
	if cfg.Header[0] != "" {
		setHeader(cfg.Header[0], cfg.Header[1])
	}
	client, err := transport.New(transport.Options{
		URL: cfg.URL, TLS: cfg.TLS, Timeout: cfg.Timeout,
		UserAgent: "kubeship/" + version, Header: header, Proxy: cfg.Proxy,
	})
	if err != nil {
		return nil, err
	}
	var sender delivery.Sender = client
	var set *metrics.Set
	release := func() {}
	if cfg.MetricsListen != "" {
		if set, release, err = metrics.Listen(cfg.MetricsListen, instance, cfg.Destination, log.Errorf); err != nil {
			return nil, err
		}
		sender = meteredSender{client, set}
	}
	s := NewWithSender(cfg, sender, log)
	s.metrics, s.release = set, release
	if cfg.BatchWait != "" {
		log.Infof("batch_wait is ignored: kubeship pushes each chunk when Fluent Bit flushes it; tune [SERVICE] Flush instead")
	}
	for _, w := range cfg.Warnings {
		log.Warnf("%s", w)
	}
	log.Infof("destination %s: pushing to %s (batch_size %d bytes, timeout %s, retry_budget %s, GOMAXPROCS %d, %s/%s)",
		cfg.Destination, config.RedactURL(cfg.URL), cfg.BatchSize, cfg.Timeout, cfg.RetryBudget, runtime.GOMAXPROCS(0),
		runtime.GOOS, runtime.GOARCH)
	return s, nil
}

// NewWithSender builds a sink around any sender (tests pass a fake or a
// client of their own).
func NewWithSender(cfg *config.Config, sender delivery.Sender, log Logger) *Sink {
	ctx, cancel := context.WithCancel(context.Background())
	d := &delivery.Deliverer{Sender: sender, Budget: cfg.RetryBudget, Log: log}
	if cfg.Destination == config.DestLoki {
		// Loki stores a push when it answers 204 (200 from some gateways);
		// while ingestion is blocked it answers another 2xx (260 by
		// default, block_ingestion_status_code) and stores nothing.
		d.Stored = func(status int) bool { return status == 204 || status == 200 }
		d.Rejected, d.Advice = loki.Rejected, loki.Advice
	}
	return &Sink{
		cfg:     cfg,
		enc:     newEncoder(cfg),
		deliver: d,
		log:     log,
		seed:    maphash.MakeSeed(),
		ctx:     ctx,
		cancel:  cancel,
		totals:  map[string]int{},
		warned:  map[string]bool{},
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

// newEncoder returns the encoder of cfg's destination.
func newEncoder(cfg *config.Config) encoder {
	if cfg.Destination == config.DestDatadog {
		return newDatadogEncoder(cfg)
	}
	return newLokiEncoder(cfg)
}

// keptMax bounds the buffers a batch may keep for the next flushes: a few
// requests' worth. A chunk's batch holds about the chunk's size (Fluent Bit
// chunks are ~2 MB), but one huge record grows it to the record's size,
// and kept, that memory would never return.
func keptMax(cfg *config.Config) int { return max(8<<20, 4*cfg.BatchSize) }

// encoder turns a chunk into one destination's requests.
type encoder interface {
	// encode returns the requests and the error that stopped decoding.
	encode(tag string, chunk []byte) (encoded, error)
}

// encoded is a chunk's requests, how many records they hold, what was
// changed or skipped on the way, and done, to call once the requests are
// delivered (their memory is reused).
type encoded struct {
	reqs    []delivery.Request
	records int
	notes   []note
	done    func()
}

// note counts records an encoder changed or skipped for one reason.
type note struct {
	name string // counter name, reported at exit
	n    int
	msg  string // logged the first time
}

// Flush delivers one chunk. chunk is only read during the call.
func (s *Sink) Flush(tag string, chunk []byte) Status {
	enc, decodeErr := s.enc.encode(tag, chunk)
	defer enc.done()
	s.count(enc.notes)

	// Fluent Bit resends a chunk byte for byte, so tag and bytes identify it.
	key := func() uint64 {
		var h maphash.Hash
		h.SetSeed(s.seed)
		h.WriteString(tag)
		h.Write(chunk)
		return h.Sum64()
	}
	out := s.deliver.Deliver(s.ctx, key, enc.reqs)

	s.tally(out)
	for reason, n := range out.Dropped {
		s.metrics.Dropped(reason, n)
	}
	for range out.Retries {
		s.metrics.Retry()
	}
	switch {
	case out.Result == delivery.Retry:
		s.log.Debugf("tag %s: %d records accepted, the rest pending: returning FLB_RETRY", tag, out.Sent)
		s.metrics.Flush("retry")
		return Retry
	case decodeErr != nil:
		// What could be read was delivered; the rest can never be read, so
		// retrying would only repeat this.
		s.log.Errorf("tag %s: malformed chunk, %d readable records delivered, the rest is dropped: %v", tag, enc.records, decodeErr)
		s.metrics.Flush("error")
		return Error
	}
	s.metrics.Flush("ok")
	return OK
}

// tally adds a delivery's outcome to the totals.
func (s *Sink) tally(out delivery.Outcome) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.totals["records_sent"] += out.Sent
	for reason, n := range out.Dropped {
		s.totals["records_dropped_"+reason] += n
	}
	if s.cfg.Destination == config.DestDatadog && out.Dropped["status_403"] > 0 && !s.warned["api_key_rejected"] {
		s.warned["api_key_rejected"] = true
		s.log.Errorf("Datadog rejected the API key (HTTP 403): check apikey or apikey_file, and that site is the key's Datadog site; records are dropped until it is fixed")
	}
}

// count adds a flush's notes to the totals and logs the first of each kind.
func (s *Sink) count(notes []note) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range notes {
		if c.n == 0 {
			continue
		}
		s.totals[c.name] += c.n
		if reason, ok := strings.CutPrefix(c.name, "records_"); ok {
			s.metrics.Dropped(reason, c.n) // records_skipped_not_a_map, records_malformed
		}
		if !s.warned[c.name] {
			s.warned[c.name] = true
			logf := s.log.Warnf
			if c.name == "lines_joined" {
				logf = s.log.Infof // nothing is lost: a count, not a warning
			}
			logf("%s (counted; totals are logged at exit; this is logged once)", c.msg)
		}
	}
}

// Close stops retries in progress and logs the totals.
func (s *Sink) Close() {
	s.cancel()
	s.release()
	s.mu.Lock()
	defer s.mu.Unlock()
	var parts []string
	for k, v := range s.totals {
		parts = append(parts, fmt.Sprintf("%s=%d", k, v))
	}
	sort.Strings(parts)
	s.log.Infof("exit: %s", strings.Join(parts, " "))
}

// Logger returns the sink's logger.
func (s *Sink) Logger() Logger { return s.log }
