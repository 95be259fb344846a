package loki

import (
	"reflect"
	"testing"

	"github.com/kubeship/kubeship/internal/config"
)

// Loki's authentication is basic or bearer, from its keys; none without them.
func TestDestinationHeader(t *testing.T) {
	for _, tt := range []struct {
		keys config.Map
		want map[string]string
	}{
		{nil, map[string]string{}},
		{config.Map{"http_user": "u", "http_passwd": "p"}, map[string]string{"Authorization": "Basic dTpw"}},
		{config.Map{"bearer_token": "t0k"}, map[string]string{"Authorization": "Bearer t0k"}},
	} {
		cfg, err := parse(tt.keys)
		if err != nil {
			t.Fatal(err)
		}
		if got := NewDestination(cfg).Header(); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%v: header %v, want %v", tt.keys, got, tt.want)
		}
	}
}
