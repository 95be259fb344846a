package multiline

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// records splits one stream's lines into records as internal/entry does:
// a record is held until a line that does not join it; lines in doubt
// (Maybe) join it when a joining line follows, else are records of their
// own.
func records(m Mode, lines ...string) [][]string {
	var out [][]string
	var cur, doubt []string
	var s State
	flush := func() {
		if cur != nil {
			out = append(out, cur)
		}
		for _, d := range doubt {
			out = append(out, []string{d})
		}
		cur, doubt = nil, nil
	}
	for _, l := range lines {
		var head []byte
		if cur != nil {
			head = []byte(cur[0])
		}
		switch m.Next(&s, cur != nil, head, []byte(l)) {
		case Join:
			if cur == nil {
				cur = []string{l}
				continue
			}
			cur = append(append(cur, doubt...), l)
			doubt = nil
		case Maybe:
			doubt = append(doubt, l)
		case Alone:
			flush()
			out = append(out, []string{l})
		default:
			flush()
			cur = []string{l}
		}
	}
	flush()
	return out
}

var autoMode = Mode{Auto: true}

// Each shape of trace joins into one record with the line that announced
// it, and the lines around it stay their own.
func TestAutoJoinsTraces(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []int // lines per record
	}{
		{"java_logger_line_exception_caused_by_more", `2024-05-14 09:22:15.031 ERROR [w-2] c.e.Repo - Failed to persist order 8813
org.springframework.dao.DataIntegrityViolationException: could not execute statement
	at org.springframework.orm.jpa.vendor.HibernateJpaDialect.convert(HibernateJpaDialect.java:276)
Caused by: org.postgresql.util.PSQLException: ERROR: duplicate key value
  Detail: Key (id)=(8813) already exists.
	at org.postgresql.core.v3.QueryExecutorImpl.receiveErrorResponse(QueryExecutorImpl.java:2725)
	... 28 common frames omitted
2024-05-14 09:22:15.120 INFO  [w-2] c.e.Worker - retrying order 8813`, []int{7, 1}},
		{"java_bare_trace_after_a_line_that_announces_nothing", `2024-05-14 09:30:00.000 INFO  [report-1] c.e.ReportJob - writing report
java.io.UncheckedIOException: failed to close report writer
	at com.example.report.ReportJob.run(ReportJob.java:88)
	Suppressed: java.io.IOException: Stream closed
		at java.base/java.io.BufferedWriter.ensureOpen(BufferedWriter.java:123)
		... 4 more`, []int{1, 5}},
		{"java_spring_root_cause_after_a_blank_line", `2024-05-14T09:21:07.412Z ERROR 1 --- [exec-3] o.a.c.c.C.[dispatcherServlet] : Servlet.service() threw exception with root cause

java.lang.IllegalStateException: Order 8812 has no payment method
	at com.example.shop.CheckoutService.charge(CheckoutService.java:142) ~[!/:1.4.2]`, []int{4}},
		{"exception_in_thread_is_always_a_start", `2024-05-14 09:31:10.000 ERROR something failed
Exception in thread "main" java.lang.RuntimeException: boom
	at Main.main(Main.java:3)`, []int{1, 2}},
		{"python_logging_exception_chained", `ERROR:root:Unhandled error while processing job 4411
Traceback (most recent call last):
  File "/app/worker.py", line 88, in run
    result = handler(job)
             ^^^^^^^^^^^^
TimeoutError: timed out

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "/app/worker.py", line 90, in run
    raise JobError("job 4411") from None
worker.JobError: job 4411
INFO:root:job 4412 done`, []int{13, 1}},
		{"python_exception_group", `  + Exception Group Traceback (most recent call last):
  |   File "/app/fanout.py", line 31, in main
  | ExceptionGroup: unhandled errors in a TaskGroup (1 sub-exception)
  +-+---------------- 1 ----------------
    | ConnectionError: inventory.internal unreachable
    +------------------------------------
[14/May/2024 09:28:00] "GET /healthz HTTP/1.1" 200 2`, []int{6, 1}},
		{"go_panic_with_goroutines", `panic: runtime error: invalid memory address or nil pointer dereference
[signal SIGSEGV: segmentation violation code=0x1 addr=0x18 pc=0x6a1b2c]

goroutine 1 [running]:
main.main()
	/src/main.go:17 +0x85

goroutine 6 [chan send]:
main.produce(0xc000020120)
	/src/main.go:40 +0x37
created by main.main in goroutine 1
	/src/main.go:22 +0x8a
2024/05/14 09:31:02 router: listening on :8080`, []int{12, 1}},
		{"go_net_http_panic_serving", `2024/05/14 09:31:02 http: panic serving 10.0.1.5:43210: runtime error: index out of range [5] with length 3
goroutine 34 [running]:
net/http.(*conn).serve.func1()
	/usr/local/go/src/net/http/server.go:1898 +0xbe`, []int{4}},
		{"go_log_panic_is_its_own_record", `2024/05/14 09:31:40 config: missing ORDERS_DSN
panic: config: missing ORDERS_DSN

goroutine 1 [running]:
main.main()
	/src/main.go:31 +0x2a`, []int{1, 5}},
		{"node_error_with_properties", `Failed to sync inventory Error: connect ECONNREFUSED 10.0.3.7:5432
    at TCPConnectWrap.afterConnect [as oncomplete] (node:net:1555:16) {
  errno: -111,
  code: 'ECONNREFUSED'
}
cache miss for product 42`, []int{5, 1}},
		{"node_crash", `/app/src/server.js:88
    throw new Error(` + "`missing env ${name}`" + `);
    ^

Error: missing env DATABASE_URL
    at requireEnv (/app/src/server.js:88:11)
    at node:internal/main/run_main_module:28:49

Node.js v20.12.2`, []int{9}},
		{"node_two_traces_in_a_row", `TypeError: Cannot read properties of undefined (reading 'id')
    at /app/src/routes/orders.js:42:31
Failed to sync inventory Error: connect ECONNREFUSED 10.0.3.7:5432
    at TCPConnectWrap.afterConnect [as oncomplete] (node:net:1555:16)`, []int{2, 2}},
		{"ruby_uncaught", "/app/lib/importer.rb:27:in `parse_row': undefined method `strip' for nil:NilClass (NoMethodError)\n" +
			"\tfrom /app/lib/importer.rb:14:in `block in run'\n\tfrom bin/import:9:in `<main>'\nimported 1199 customers", []int{3, 1}},
		{"dotnet_console_logger", `info: Microsoft.Hosting.Lifetime[14]
      Now listening on: http://[::]:8080
fail: Microsoft.AspNetCore.Server.Kestrel[13]
      Connection id "0HN3K7J9Q2V4L": An unhandled exception was thrown by the application.
      System.NullReferenceException: Object reference not set to an instance of an object.
         at Shop.Api.Controllers.CartController.Get(Guid id) in /src/CartController.cs:line 38
[09:50:10 INF] Reserving 3 units`, []int{2, 4, 1}},
		{"dotnet_inner_exception_and_trailer", `[09:51:05 ERR] Failed to save reservation 77
System.AggregateException: One or more errors occurred. (A task was canceled.)
 ---> System.Threading.Tasks.TaskCanceledException: A task was canceled.
   at Shop.Payments.Gateway.CaptureAsync(Guid orderId) in /src/Gateway.cs:line 77
   --- End of inner exception stack trace ---
--- End of stack trace from previous location ---
   at Shop.Payments.Worker.Run() in /src/Worker.cs:line 40
ClientConnectionId:6f1c2b9e-31d4-4c53-9d8e-0b7f6a5e2c11
[09:51:06 INF] Reservation 78 saved`, []int{8, 1}},
		{"trailing_blank_lines_are_their_own", "panic: boom\n\ngoroutine 1 [running]:\nmain.main()\n\n\nlevel=info msg=next", []int{4, 1, 1, 1}},
		{"a_chunk_that_begins_inside_a_trace", "\tat com.example.A.b(A.java:1)\n\tat com.example.A.c(A.java:2)\n2024-05-14 INFO next", []int{2, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := records(autoMode, strings.Split(tt.in, "\n")...)
			var sizes []int
			for _, r := range got {
				sizes = append(sizes, len(r))
			}
			if !slices.Equal(sizes, tt.want) {
				t.Errorf("records of %v lines, want %v:\n%s", sizes, tt.want, show(got))
			}
		})
	}
}

func show(recs [][]string) string {
	var b strings.Builder
	for i, r := range recs {
		fmt.Fprintf(&b, "--- %d\n%s\n", i, strings.Join(r, "\n"))
	}
	return b.String()
}

// Single-line logs of every common shape, any two in a row, never join.
func TestAutoNeverJoinsSingleLines(t *testing.T) {
	singles := []string{
		`2024-05-14 09:22:16.004 ERROR [order-worker-1] c.e.orders.OrderWorker - Payment declined for order 8815: card expired`,
		`2024-05-14T09:21:03.031Z  INFO 1 --- [main] c.e.CheckoutApplication : Started in 5.4 seconds`,
		`{"level":"error","msg":"boom","error":"java.lang.IllegalStateException: x"}`,
		`level=error ts=2024-05-14T09:25:02.000Z msg="failed" err="EOF"`,
		`ts=2024-05-14T09:41:36.000Z level=info msg="cache warmed"`,
		`ERROR:root:Unhandled error while processing job 4411`,
		`INFO:     10.0.2.31:50412 - "GET /healthz HTTP/1.1" 200 OK`,
		`[2024-05-14 09:26:10,010: INFO/MainProcess] Task received`,
		`[09:50:13 WRN] Order 8821 moved to manual capture`,
		`I0514 09:31:03.000412       1 leaderelection.go:258] successfully acquired lease`,
		`E, [2024-05-14T09:46:01.300000 #1] ERROR -- : 1 of 312 charges failed`,
		`2024/05/14 09:31:00 router: listening on :8080`,
		`10.0.4.17 - - [14/May/2024:09:22:16 +0000] "GET /actuator/health HTTP/1.1" 200 49`,
		`May 14 09:31:02 host app[1]: started`,
		`cache miss for product 42, fetching from catalog`,
		`WARNING: something odd:`,
		`Error: something failed`, // a line that looks like an exception, alone
		`java.lang.IllegalStateException: checked and logged as a message`,
		`Caught exception while polling, retrying`,
		`Traceback is disabled`,
		`goroutine count is 12`,
		`panicked? no`,
		`at 10:00 the job runs`,
	}
	for _, a := range singles {
		for _, b := range singles {
			got := records(autoMode, a, b)
			// An exception's first line may follow a line announcing an
			// error: that is the one join of two lines without frames.
			if len(got) != 2 && !(announces([]byte(a)) && startsTrace(b)) {
				t.Errorf("joined two single lines:\n%s\n%s", a, b)
			}
		}
	}
}

// startsTrace: b is an exception's first line (which joins a line that
// announced it).
func startsTrace(b string) bool {
	_, joins := opening([]byte(b))
	return joins
}

// The Agent's multi_line: a line the pattern matches begins a record, every
// other line is appended; it replaces detection.
func TestRule(t *testing.T) {
	m := Mode{Auto: true, Rule: regexp.MustCompile(`^\d{4}-\d{2}-\d{2}`)}
	got := records(m,
		"continues nothing yet",
		"2024-05-14 10:00:00 INFO effective configuration:",
		"  pool.max = 20",
		`{"json":"joined too"}`,
		"2024-05-14 10:00:01 INFO started",
		"panic: not a start under the rule")
	want := [][]string{{"continues nothing yet"},
		{"2024-05-14 10:00:00 INFO effective configuration:", "  pool.max = 20", `{"json":"joined too"}`},
		{"2024-05-14 10:00:01 INFO started", "panic: not a start under the rule"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got\n%s\nwant\n%s", show(got), show(want))
	}
}

// The zero Mode joins nothing.
func TestOff(t *testing.T) {
	var s State
	for _, l := range []string{"x", "\tat a.b(C.java:1)", ""} {
		if v := (Mode{}).Next(&s, true, []byte("h"), []byte(l)); v != Alone {
			t.Errorf("%q: %v", l, v)
		}
	}
}

// Whatever the lines, detection never panics, a JSON line is alone and
// nothing joins it, a line that begins with a date or a level never joins a
// record, and the zero State is what a line alone leaves.
func FuzzNext(f *testing.F) {
	f.Add("2024-05-14 ERROR x\njava.lang.X: y\n\tat a.b(C.java:1)\n\n{\"a\":1}")
	f.Add("panic: x\n\ngoroutine 1 [running]:\nmain.main()\n\t/a.go:1 +0x1")
	f.Add("/a.js:1\n  x\n  ^\n\nError: y\n    at z (a.js:1:1) {\n  a: 1\n}\n\nNode.js v20")
	f.Add("Traceback (most recent call last):\n  File \"a\", line 1, in b\nKeyError: 'x'\n\nDuring handling of the above exception, another exception occurred:\n\nTraceback (most recent call last):")
	f.Add("info: A[1]\n      b\nfail: C[2]\n      d\n         at e()")
	f.Add("/a.rb:1:in `b': c (D::E)\n\tfrom /a.rb:2:in `f'\n/a.rb:3:in `g'")
	f.Add("\x00\t\r\n \n+ Exception Group Traceback (most recent call last):\n|\n")
	f.Fuzz(func(t *testing.T, text string) {
		var s State
		open := false
		var head []byte
		for _, l := range strings.Split(text, "\n") {
			line := []byte(l)
			v := autoMode.Next(&s, open, head, line)
			if isJSON(trimCR(line)) && v != Alone {
				t.Fatalf("JSON line %q: %v", l, v)
			}
			if open && (v == Join || v == Maybe) && isJSON(head) {
				t.Fatalf("%q joins the JSON line %q", l, head)
			}
			if open && v == Join && s.kind == kNone && len(line) > 0 && isDigit(line[0]) {
				t.Fatalf("timestamped line %q joins %q", l, head)
			}
			switch v {
			case Start:
				open, head = true, line
			case Alone:
				open, head = false, nil
				if s != (State{}) {
					t.Fatalf("%q alone leaves %+v", l, s)
				}
			case Join:
				if !open {
					open, head = true, line
				}
			}
		}
	})
}

// BenchmarkNext classifies lines that are no trace and a trace's frames.
func BenchmarkNext(b *testing.B) {
	for _, bc := range []struct {
		name  string
		lines []string
	}{
		{"single_lines", []string{
			"2024-05-01T12:00:00.000Z INFO [worker-3] handled /api/v1/orders in 120ms for tenant=acme-3 request_id=4f1c",
			"cache miss for product 42, fetching from catalog",
			"INFO:     10.0.2.31:50412 - \"GET /healthz HTTP/1.1\" 200 OK",
		}},
		{"java_frames", []string{
			"2024-05-14 ERROR c.e.Repo - Failed to persist order 8813",
			"org.springframework.dao.DataIntegrityViolationException: could not execute statement",
			"\tat org.springframework.orm.jpa.vendor.HibernateJpaDialect.convert(HibernateJpaDialect.java:276)",
			"\tat com.example.orders.OrderWorker.process(OrderWorker.java:71)",
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			lines := make([][]byte, len(bc.lines))
			for i, l := range bc.lines {
				lines[i] = []byte(l)
			}
			var s State
			for b.Loop() {
				open := false
				for _, l := range lines {
					v := autoMode.Next(&s, open, lines[0], l)
					open = v != Alone
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(lines)), "ns/line")
		})
	}
}
