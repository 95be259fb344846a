package loki

import (
	"github.com/kubeship/kubeship/internal/config"
	"github.com/kubeship/kubeship/internal/entry"
	"github.com/kubeship/kubeship/internal/record"
)

// removeTree marks the record keys that leave the line: a nil child removes
// the whole key, a non-nil child removes keys inside that map.
type removeTree map[string]removeTree

// add marks the path keys for removal. A whole key removed wins over parts of it.
func (t removeTree) add(keys []string) {
	for i, k := range keys {
		child, seen := t[k]
		if seen && child == nil {
			return // already removed whole
		}
		if i == len(keys)-1 {
			t[k] = nil
			return
		}
		if child == nil {
			child = removeTree{}
			t[k] = child
		}
		t = child
	}
}

// lineWriter formats what remains of a record as the Loki line, the way
// Fluent Bit's loki output does (remove_keys, drop_single_key, line_format).
type lineWriter struct {
	remove removeTree
	top    []removed // remove's top level, see index
	drop   config.DropSingleKey
	kv     bool
}

type removed struct {
	key   string
	child removeTree
}

// index lists remove's top level for top. Every top-level key of every
// record is looked up; in BenchmarkEncode's profile hashing them for the map
// was 10% of the time, while a scan of the few removed keys that compares
// lengths first settles most keys without reading them.
func (w *lineWriter) index() {
	w.top = w.top[:0]
	for k, child := range w.remove {
		w.top = append(w.top, removed{k, child})
	}
}

// lookup returns what of top-level key k is removed: all of it when
// whole, the keys in child otherwise.
func (w *lineWriter) lookup(k []byte) (child removeTree, whole bool) {
	for i := range w.top {
		if r := &w.top[i]; len(r.key) == len(k) && r.key == string(k) {
			return r.child, r.child == nil
		}
	}
	return nil, false
}

// appendLine appends the line for a record given by its top-level fields;
// log, when not nil, stands for the value of its `log` key (a CRI message or
// joined partial lines).
func (w *lineWriter) appendLine(dst []byte, fields []entry.Field, log []byte) ([]byte, error) {
	var single entry.Field
	n := 0
	for _, f := range fields {
		if w.kept(f.Key) {
			n++
			single = f
		}
	}
	if n == 1 && w.drop != config.DropOff {
		child, _ := w.lookup(single.Key)
		if log != nil && string(single.Key) == "log" {
			if w.drop == config.DropRaw || w.kv {
				return append(dst, log...), nil
			}
			return record.AppendJSONString(dst, log), nil
		}
		if text, ok := record.Text(single.Value); ok && (w.drop == config.DropRaw || w.kv) && child == nil {
			return append(dst, text...), nil
		}
		if w.kv {
			return appendKVValue(dst, single.Value, child)
		}
		return appendJSONValue(dst, single.Value, child)
	}
	if w.kv {
		return w.appendKV(dst, fields, log)
	}
	dst = append(dst, '{')
	first := true
	for _, f := range fields {
		child, whole := w.lookup(f.Key)
		if whole {
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		var err error
		if dst, err = appendJSONField(dst, f.Key, f.Value, child, log); err != nil {
			return dst, err
		}
	}
	return append(dst, '}'), nil
}

// kept reports whether key k stays (wholly or in part) on the line.
func (w *lineWriter) kept(k []byte) bool {
	_, whole := w.lookup(k)
	return !whole
}

// appendJSONValue writes v as JSON, removing keys below it when v is a map.
func appendJSONValue(dst, v []byte, remove removeTree) ([]byte, error) {
	if remove != nil && record.Type(v) == record.Map {
		return appendJSONMap(dst, v, remove)
	}
	return record.AppendJSON(dst, v)
}

// appendJSONMap writes map m as a JSON object without the removed keys.
func appendJSONMap(dst, m []byte, remove removeTree) ([]byte, error) {
	dst = append(dst, '{')
	first := true
	var err error
	if e := record.Each(m, func(k, v []byte) bool {
		child, removed := remove[string(k)]
		if removed && child == nil {
			return true
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst, err = appendJSONField(dst, k, v, child, nil)
		return err == nil
	}); e != nil {
		return dst, e
	}
	return append(dst, '}'), err
}

// appendJSONField writes "k":v, with log (when not nil) as the value of a
// `log` key.
func appendJSONField(dst, k, v []byte, remove removeTree, log []byte) ([]byte, error) {
	dst = record.AppendJSONString(dst, k)
	dst = append(dst, ':')
	if log != nil && string(k) == "log" {
		return record.AppendJSONString(dst, log), nil
	}
	return appendJSONValue(dst, v, remove)
}

// appendKV writes `key=value` pairs separated by spaces; strings are
// JSON-quoted so a value cannot forge another pair or a line break.
func (w *lineWriter) appendKV(dst []byte, fields []entry.Field, log []byte) ([]byte, error) {
	first := true
	for _, f := range fields {
		child, whole := w.lookup(f.Key)
		if whole {
			continue
		}
		if !first {
			dst = append(dst, ' ')
		}
		first = false
		dst = append(dst, f.Key...)
		dst = append(dst, '=')
		if log != nil && string(f.Key) == "log" {
			dst = record.AppendJSONString(dst, log)
			continue
		}
		var err error
		if dst, err = appendKVValue(dst, f.Value, child); err != nil {
			return dst, err
		}
	}
	return dst, nil
}

func appendKVValue(dst, v []byte, remove removeTree) ([]byte, error) {
	if text, ok := record.Text(v); ok {
		return record.AppendJSONString(dst, text), nil
	}
	return appendJSONValue(dst, v, remove)
}
