package loki

// maxTenant is the longest tenant ID Loki accepts, in bytes.
const maxTenant = 150

// tenantChars are the bytes Loki accepts in a tenant ID (dskit's
// tenant.ValidTenantID): letters, digits and !-_.*'().
var tenantChars = func() (ok [256]bool) {
	for c := range ok {
		ok[c] = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
	}
	for _, c := range "!-_.*'()" {
		ok[c] = true
	}
	return ok
}()

// sanitizeTenant makes a record's tenant one that Loki and Go's HTTP client
// accept, in place: other bytes become '_' (a CR or LF would otherwise make
// the request impossible to send, and retried for ever), it is cut at 150
// bytes, and "." and ".." become underscores. It reports whether it
// changed anything. The records keep a tenant of their own rather than
// being dropped or mixed into the default tenant; a record able to name a
// tenant through tenant_id_key could name "a_b" as well as "a\nb".
func sanitizeTenant(t []byte) ([]byte, bool) {
	changed := false
	if len(t) > maxTenant {
		t, changed = t[:maxTenant], true
	}
	for i, c := range t {
		if !tenantChars[c] {
			t[i], changed = '_', true
		}
	}
	if s := string(t); s == "." || s == ".." {
		for i := range t {
			t[i] = '_'
		}
		changed = true
	}
	return t, changed
}
