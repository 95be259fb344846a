// Package datadogtest reads back what is sent to Datadog's logs intake, for
// tests: a request body, uncompressed as its Content-Encoding says, and the
// JSON array of logs it holds. It uses the standard library only, so that
// the fake intake built on it (test/ddintake) stays independent of the
// client code it checks.
package datadogtest

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Uncompress reads body as sent with Content-Encoding encoding: gzip,
// deflate (the zlib format, as HTTP means it: RFC 9110 8.4.1.2), identity
// or none. Codings are case-insensitive.
func Uncompress(encoding string, body io.Reader) (io.Reader, error) {
	switch strings.ToLower(strings.TrimSpace(encoding)) {
	case "", "identity":
		return body, nil
	case "gzip":
		zr, err := gzip.NewReader(body)
		if err != nil {
			return nil, fmt.Errorf("body is not gzip: %w", err)
		}
		return zr, nil
	case "deflate":
		zr, err := zlib.NewReader(body)
		if err != nil {
			return nil, fmt.Errorf("body is not deflate (zlib): %w", err)
		}
		return zr, nil
	}
	return nil, fmt.Errorf("Content-Encoding %q not supported: want gzip, deflate or identity", encoding)
}

// Body returns body uncompressed, as Uncompress reads it.
func Body(encoding string, body []byte) ([]byte, error) {
	r, err := Uncompress(encoding, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

// Logs decodes an uncompressed body, a JSON array of log objects, each into
// a T (map[string]any, json.RawMessage, ...) with numbers as json.Number.
// Anything after the array is an error.
func Logs[T any](raw []byte) ([]T, error) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var logs []T
	if err := d.Decode(&logs); err != nil {
		return nil, err
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, errors.New("data after the JSON array")
	}
	return logs, nil
}

// Compress is b sent with Content-Encoding encoding: gzip, deflate (zlib)
// or identity.
func Compress(encoding string, b []byte) []byte {
	var buf bytes.Buffer
	var w io.WriteCloser
	switch encoding {
	case "gzip":
		w = gzip.NewWriter(&buf)
	case "deflate":
		w = zlib.NewWriter(&buf)
	default:
		return b
	}
	_, _ = w.Write(b)
	_ = w.Close()
	return buf.Bytes()
}
