package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/http/httpguts"
)

// Keys that may hold secrets: url and proxy (userinfo, query), header,
// http_passwd, bearer_token, apikey and the contents of apikey_file. Errors
// and warnings about them name the key and what is wrong; they show a URL
// only as RedactURL does, a header's name but not its value, and nothing of
// the others.

// RedactURL returns a URL as a log line or an error may show it: scheme,
// host and path, without userinfo (a password), fragment or query (which may
// hold ?dd-api-key= or ?token=; a query shows as "?…"). An unparsable URL
// shows as "(invalid URL)".
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(invalid URL)"
	}
	var s string
	switch {
	case u.Opaque != "" && (u.Opaque[0] < '0' || u.Opaque[0] > '9' || strings.Contains(u.Opaque, "@")):
		// "user:password@host" without "//" parses as scheme "user".
		s = u.Scheme + ":…"
	case u.Opaque != "":
		s = u.Scheme + ":" + u.Opaque // "loki:3100/push" parses as scheme "loki"
	default:
		s = (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath}).String()
	}
	if u.RawQuery != "" {
		s += "?…"
	}
	return s
}

// httpURL parses key name as an http or https URL; nil when it is not one.
func (r *reader) httpURL(name, example string) *url.URL {
	v, from := r.raw(name)
	u, err := url.Parse(v)
	if err != nil || mangledUserinfo(v, u) {
		r.failWith(fmt.Errorf("%s: %s", from, whyNotURL(v)))
		return nil
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		r.failWith(fmt.Errorf("%s: invalid value %q: want an http or https URL such as %s", from, RedactURL(v), example))
		return nil
	}
	return u
}

// mangledUserinfo reports a URL that parses, but not as meant: a password
// holding an unencoded #, / or ? ends the host early, so that the rest of
// the password lands in the host, port, path or query. No push or proxy URL
// has a fragment, a colon in its host name (but an IPv6 literal) or an @
// after its host.
func mangledUserinfo(v string, u *url.URL) bool {
	return strings.Contains(v, "#") ||
		strings.Contains(u.Hostname(), ":") && !strings.HasPrefix(u.Host, "[") ||
		strings.Contains(u.EscapedPath(), "@") || strings.Contains(u.RawQuery, "@")
}

// whyNotURL says why v is not a URL without showing v: url.Parse's own
// errors quote the part they stumbled on, often a password.
func whyNotURL(v string) string {
	const hidden = " (the value is not shown: it may hold a password)"
	if c, ok := controlChar(v); ok {
		return "holds " + describeRune(c) + ": remove it"
	}
	for i := 0; i < len(v); i++ {
		if v[i] == '%' && (i+2 >= len(v) || !isHex(v[i+1]) || !isHex(v[i+2])) {
			return "holds a % that starts no %XX escape: write % as %25, in a user name or password too" + hidden
		}
	}
	if strings.Contains(v, "#") {
		return "holds a #, which ends a URL (what follows is never sent): write # as %23 in a user name or password" + hidden
	}
	return "not a valid URL: in a user name or password write / as %2F, ? as %3F, @ as %40, : as %3A and a space as %20" + hidden
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// controlChar returns the first C0 control character or DEL in s. They are
// single bytes in UTF-8, never part of a longer sequence.
func controlChar(s string) (rune, bool) {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			return rune(c), true
		}
	}
	return 0, false
}

// controlOrSpace returns the first control character or white space in s.
func controlOrSpace(s string) (rune, bool) {
	for _, c := range s {
		if c < 0x20 || c == 0x7f || unicode.IsSpace(c) {
			return c, true
		}
	}
	return 0, false
}

// describeRune names a character found by controlChar or controlOrSpace.
func describeRune(c rune) string {
	if c < 0x20 || c == 0x7f {
		return fmt.Sprintf("a control character (U+%04X)", c)
	}
	return fmt.Sprintf("a space (U+%04X)", c)
}

// headerValue refuses a key sent as an HTTP header value when it holds a
// control character. With spaceFix (what to do instead, e.g. "set the key
// alone"), a space is refused too: a token or key is one word.
func (r *reader) headerValue(name, v, spaceFix string) {
	if r.err != nil {
		return
	}
	c, ok := controlChar(v)
	if !ok && spaceFix != "" {
		c, ok = controlOrSpace(v)
	}
	if !ok {
		return
	}
	_, from := r.raw(name)
	fix := "remove it"
	if c >= 0x20 && c != 0x7f {
		fix = spaceFix
	}
	r.failWith(fmt.Errorf("%s: holds %s: %s", from, describeRune(c), fix))
}

// header parses `Name value`. Its name may be shown in an error (up to the
// first character that is wrong), its value never: it may be a secret.
func (r *reader) header(h string) [2]string {
	name, value, _ := strings.Cut(h, " ")
	value = strings.TrimSpace(value)
	if i := strings.IndexFunc(name, func(c rune) bool { return !httpguts.IsTokenRune(c) }); i >= 0 {
		_, size := utf8.DecodeRuneInString(name[i:])
		shownName := name[:i+size]
		if i+size < len(name) {
			shownName += "…"
		}
		r.failWith(fmt.Errorf("header: invalid name %q: want an HTTP token (letters, digits, !#$%%&'*+-.^_`|~), then a space and the value, e.g. \"X-Team platform\"", shownName))
		return [2]string{}
	}
	if value == "" {
		r.failWith(errors.New(`header: a name without a value: want "Name value", e.g. "X-Team platform"`))
		return [2]string{}
	}
	if c, ok := controlChar(value); ok {
		r.failWith(fmt.Errorf("header: the value of %q holds %s: remove it", name, describeRune(c)))
		return [2]string{}
	}
	return [2]string{name, value}
}

// credentialHeaders are header names that carry credentials.
var credentialHeaders = []string{"Authorization", "Proxy-Authorization", "DD-API-KEY", "X-API-Key"}

func isCredentialHeader(name string) bool {
	for _, h := range credentialHeaders {
		if strings.EqualFold(name, h) {
			return true
		}
	}
	return false
}

// basicKeys names the basic auth keys that are set, "" when none.
func basicKeys(c *Config) string {
	switch {
	case c.Loki.HTTPUser != "" && c.Loki.HTTPPasswd != "":
		return "http_user/http_passwd"
	case c.Loki.HTTPUser != "":
		return "http_user"
	case c.Loki.HTTPPasswd != "":
		return "http_passwd"
	}
	return ""
}

// apiKeyKey names the key the Datadog API key came from.
func (r *reader) apiKeyKey() string {
	if v, _ := r.raw("apikey"); v != "" {
		return "apikey"
	}
	return "apikey_file"
}

// urlUser reports whether the push URL holds userinfo (sent as basic auth).
func urlUser(c *Config) bool {
	u, err := url.Parse(c.URL)
	return err == nil && c.URL != "" && u.User != nil
}

// credentialConflicts refuses two settings that would set the same header:
// the HTTP client would send one of them, which depends on map order.
func (r *reader) credentialConflicts(c *Config) {
	if r.err != nil {
		return
	}
	h, userinfo, basic := c.Header[0], urlUser(c), basicKeys(c)
	auth := strings.EqualFold(h, "Authorization")
	const urlAuth = "the url's user:password@ sends basic auth"
	switch {
	case auth && c.Loki.BearerToken != "":
		r.err = fmt.Errorf("header %s and bearer_token: both set the Authorization header: keep one", h)
	case auth && basic != "":
		r.err = fmt.Errorf("header %s and %s: both set the Authorization header: keep one", h, basic)
	case auth && userinfo:
		r.err = fmt.Errorf("header %s and url: both set the Authorization header (%s): keep one", h, urlAuth)
	case userinfo && c.Loki.BearerToken != "":
		r.err = fmt.Errorf("url and bearer_token: both set the Authorization header (%s): keep one", urlAuth)
	case userinfo && basic != "":
		r.err = fmt.Errorf("url and %s: both set basic auth (the url's user:password@ and %s): keep one", basic, basic)
	case c.Destination == DestDatadog && strings.EqualFold(h, "DD-API-KEY"):
		r.err = fmt.Errorf("header %s and %s: both set the DD-API-KEY header: drop the header", h, r.apiKeyKey())
	}
}

// grace is Fluent Bit's default [SERVICE] Grace.
const grace = 5 * time.Second

// warnings lists settings that work but deserve a look. Like errors, they
// never show a secret.
func (r *reader) warnings(c *Config) []string {
	var w []string
	if !c.TLS.Verify {
		w = append(w, "tls_verify off: TLS certificates are not verified, so anyone on the network path can pose as the server and read what is sent, credentials included (for a private CA, set tls_ca_file instead)")
	}
	w = append(w, r.plainCredentials(c)...)
	if c.RetryBudget > grace {
		w = append(w, fmt.Sprintf("retry_budget %s is longer than Fluent Bit's default [SERVICE] Grace (%s): Fluent Bit waits for running flushes before it stops, and a flush may take the whole budget, so a stop can cut one short; raise Grace above retry_budget or lower retry_budget", c.RetryBudget, grace))
	}
	return w
}

// plainCredentials warns of credentials sent over plain http:// beyond this host.
func (r *reader) plainCredentials(c *Config) []string {
	var w []string
	const readable = "readable by anyone on the network path"
	var proxy *url.URL
	if c.Proxy != "" {
		if p, err := url.Parse(c.Proxy); err == nil && p.Scheme == "http" && !isLoopback(p.Hostname()) {
			proxy = p
		}
	}
	if u, err := url.Parse(c.URL); err == nil && u.Scheme == "http" {
		var keys []string
		if u.User != nil {
			keys = append(keys, "url")
		}
		if b := basicKeys(c); b != "" {
			keys = append(keys, b)
		}
		if c.Loki.BearerToken != "" {
			keys = append(keys, "bearer_token")
		}
		if isCredentialHeader(c.Header[0]) {
			keys = append(keys, "header "+c.Header[0])
		}
		if c.Destination == DestDatadog {
			keys = append(keys, r.apiKeyKey())
		}
		via := ""
		if proxy != nil {
			via = " through proxy " + proxy.Hostname()
		}
		if len(keys) > 0 && (!isLoopback(u.Hostname()) || via != "") {
			w = append(w, fmt.Sprintf("%s: credentials go over plain http:// to %s%s, %s: use https://", strings.Join(keys, ", "), u.Hostname(), via, readable))
		}
	}
	if proxy != nil && proxy.User != nil {
		w = append(w, fmt.Sprintf("proxy: credentials go over plain http:// to %s, %s: use an https:// proxy", proxy.Hostname(), readable))
	}
	return w
}

// isLoopback reports whether host is localhost, 127.0.0.0/8 or ::1.
func isLoopback(host string) bool {
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
