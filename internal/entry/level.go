package entry

import (
	"bytes"

	jsoniter "github.com/json-iterator/go"

	"github.com/kubeship/kubeship/internal/record"
)

// levelKeys are the fields applications and logging libraries name their
// severity with, in order of preference.
var levelKeys = []string{"level", "severity", "lvl", "loglevel", "log.level"}

// Level returns the severity an application wrote in a JSON line: a level
// field of the record (the kubernetes filter's Merge_Log lifts JSON fields
// into it) or of the JSON object in `log`. nil when there is none.
func (e Entry) Level() []byte {
	for _, k := range levelKeys {
		if v, ok := record.Get(e.Body, k); ok {
			if t, ok := record.Text(v); ok && len(t) > 0 {
				return t
			}
		}
	}
	text := logText(e)
	if len(text) < 2 || text[0] != '{' {
		return nil
	}
	return jsonLevel(text)
}

// jsonLevel finds a top-level level field in a JSON object without
// decoding the rest of it (jsoniter skips values in place).
func jsonLevel(obj []byte) []byte {
	it := jsoniter.ConfigFastest.BorrowIterator(obj)
	defer jsoniter.ConfigFastest.ReturnIterator(it)
	var found []byte
	best := len(levelKeys)
	it.ReadMapCB(func(it *jsoniter.Iterator, key string) bool {
		rank := -1
		for i, k := range levelKeys {
			if key == k {
				rank = i
			}
		}
		if rank < 0 || rank >= best || it.WhatIsNext() != jsoniter.StringValue {
			it.Skip()
			return it.Error == nil
		}
		// ReadStringAsSlice aliases obj for strings without escapes; a value
		// with escapes is no level name, and leaves the iterator lost.
		v := it.ReadStringAsSlice()
		if bytes.IndexByte(v, '\\') >= 0 {
			return false
		}
		found, best = v, rank
		return it.Error == nil
	})
	return found
}
