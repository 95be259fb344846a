package config

import (
	"strings"
	"testing"
)

// Values sent as HTTP headers (header, tenant_id as X-Scope-OrgID) are
// checked at start-up, not refused by the HTTP client at every request: one
// line names the key and what is wrong, showing a header's name but never its
// value.
func TestHeaderAndTenantRefusedAtStartup(t *testing.T) {
	tests := []struct {
		name     string
		keys     Map
		want     string
		notShown string // part of the value that must not appear
	}{
		{"header_name_paren", Map{"header": "Bad(Name) v"}, "header: invalid name \"Bad(…\": want an HTTP token (letters, digits, !#$%&'*+-.^_`|~)", ""},
		{"header_name_colon", Map{"header": "Authorization: Bearer xyzzy"}, `header: invalid name "Authorization:": want an HTTP token`, "xyzzy"},
		{"header_name_colon_glued", Map{"header": "X-Key:xyzzy"}, `header: invalid name "X-Key:…": want an HTTP token`, "xyzzy"},
		{"header_name_nul", Map{"header": "X-Te\x00am v"}, `header: invalid name "X-Te\x00…": want an HTTP token`, ""},
		{"header_name_del", Map{"header": "X-Team\x7f v"}, `header: invalid name "X-Team\x7f": want an HTTP token`, ""},
		{"header_name_non_ascii", Map{"header": "X-Équipe v"}, `header: invalid name "X-É…": want an HTTP token`, ""},
		{"header_name_tab", Map{"header": "X-Team\tv v"}, `header: invalid name "X-Team\t…": want an HTTP token`, ""},
		{"header_without_value", Map{"header": "X-Only-Name"}, `header: a name without a value: want "Name value", e.g. "X-Team platform"`, "X-Only-Name"},
		{"header_value_cr", Map{"header": "X-Team plat\rform"}, `header: the value of "X-Team" holds a control character (U+000D): remove it`, "plat"},
		{"header_value_lf", Map{"header": "X-Team plat\nX-Evil: 1"}, `header: the value of "X-Team" holds a control character (U+000A)`, "Evil"},
		{"header_value_nul", Map{"header": "X-Team plat\x00form"}, `header: the value of "X-Team" holds a control character (U+0000)`, "plat"},
		{"header_value_esc", Map{"header": "X-Team plat\x1bform"}, `header: the value of "X-Team" holds a control character (U+001B)`, "plat"},
		{"header_value_tab", Map{"header": "X-Team plat\tform"}, `header: the value of "X-Team" holds a control character (U+0009)`, "plat"},
		{"header_value_del", Map{"header": "X-Team plat\x7fform"}, `header: the value of "X-Team" holds a control character (U+007F)`, "plat"},
		{"tenant_id_crlf", Map{"tenant_id": "team\r\nX-Evil: 1"}, `tenant_id: holds a control character (U+000D): remove it`, "team"},
		{"tenant_id_nul", Map{"tenant_id": "team\x00"}, `tenant_id: holds a control character (U+0000)`, "team"},
		{"tenant_id_del", Map{"TenantID": "team\x7f"}, `TenantID: holds a control character (U+007F)`, "team"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(with(tt.keys))
			if err == nil {
				t.Fatalf("accepted %q", tt.keys)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q\nwant it to contain %q", err, tt.want)
			}
			if tt.notShown != "" && strings.Contains(err.Error(), tt.notShown) {
				t.Errorf("error %q shows the value (%q)", err, tt.notShown)
			}
			if strings.ContainsAny(err.Error(), "\r\n\x00") {
				t.Errorf("error holds a raw control character: %q", err)
			}
		})
	}
}

func TestValidHeadersAndTenantAccepted(t *testing.T) {
	tests := []struct {
		name string
		keys Map
		want [2]string
	}{
		{"every_tchar", Map{"header": "!#$%&'*+-.^_`|~09azAZ v"}, [2]string{"!#$%&'*+-.^_`|~09azAZ", "v"}},
		{"value_with_spaces", Map{"header": "X-Team  platform team "}, [2]string{"X-Team", "platform team"}},
		{"value_utf8", Map{"header": "X-Team équipe"}, [2]string{"X-Team", "équipe"}},
		{"value_punctuation", Map{"header": `X-Q a:b,"c";d=e`}, [2]string{"X-Q", `a:b,"c";d=e`}},
		{"tenant_id", Map{"tenant_id": "team-a_1.b"}, [2]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse(with(tt.keys))
			if err != nil {
				t.Fatal(err)
			}
			if c.Header != tt.want {
				t.Errorf("Header = %q, want %q", c.Header, tt.want)
			}
		})
	}
}
