package loki

import (
	"regexp"
	"strconv"
	"strings"
)

// Loki's 400 answers (v3.7): the distributor's validation errors, grouped
// as "N errors like: <error>; M errors like: <error>" (no count when there
// is one error), and the ingester's out-of-order refusals, which end
// "total ignored: N out of M for stream: ...". Loki stores the rest of the
// request.
var (
	groupCount   = regexp.MustCompile(`^(\d+) errors like: `)
	nextGroup    = regexp.MustCompile(`; (\d+) errors like: `)
	totalIgnored = regexp.MustCompile(`total ignored: (\d+) out of \d+`)
)

// perEntry are the distributor errors that refuse one entry each; the
// others (labels, label names, enforced labels) refuse a whole stream.
var perEntry = []string{"has timestamp too old", "has timestamp too new", "max entry size", "structured metadata"}

// Rejected reads from a 400 answer how many of a request's records Loki
// refused. exact is false when the answer does not say (a stream-level
// error refuses all of a stream's entries, and the answer names it once):
// then n is records, an upper bound.
func Rejected(answer string, records int) (n int, exact bool) {
	if ms := totalIgnored.FindAllStringSubmatch(answer, -1); ms != nil {
		for _, m := range ms {
			k, _ := strconv.Atoi(m[1])
			n += k
		}
		exact = true
	} else {
		n, exact = distributorErrors(answer)
	}
	if !exact || n < 1 || n > records {
		return records, false
	}
	return n, true
}

func distributorErrors(answer string) (n int, exact bool) {
	m := groupCount.FindStringSubmatch(answer)
	if m == nil { // one error, not grouped
		return 1, isPerEntry(answer)
	}
	// Groups start at the beginning and after each "; N errors like: ".
	bounds := nextGroup.FindAllStringSubmatchIndex(answer, -1)
	first, _ := strconv.Atoi(m[1])
	n, exact = first, true
	start := len(m[0])
	for _, b := range bounds {
		exact = exact && isPerEntry(answer[start:b[0]])
		k, _ := strconv.Atoi(answer[b[2]:b[3]])
		n += k
		start = b[1]
	}
	return n, exact && isPerEntry(answer[start:])
}

func isPerEntry(err string) bool {
	for _, p := range perEntry {
		if strings.Contains(err, p) {
			return true
		}
	}
	return false
}

// Advice says which keys fix what a 4xx answer refuses, when some do.
func Advice(status int, answer string) string {
	if status == 401 || status == 403 {
		// Loki itself answers 401 "no org id" without X-Scope-OrgID when
		// auth_enabled; a gateway in front answers either for credentials.
		return "check http_user and http_passwd, or bearer_token, and tenant_id (X-Scope-OrgID) when Loki runs with auth_enabled"
	}
	if strings.Contains(answer, "structured metadata, but this feature is disallowed") {
		return "this Loki refuses structured metadata (Loki 2.x, or allow_structured_metadata off / a schema before v13): " +
			"set structured_metadata_defaults off, and remove structured_metadata keys, to send with labels only"
	}
	return ""
}
