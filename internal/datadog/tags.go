package datadog

import (
	"hash/maphash"
	"unicode"
	"unicode/utf8"
)

// Datadog's tag rules (docs.datadoghq.com/getting_started/tagging): a tag is
// lowercased, starts with a letter, holds only letters, digits and
// `_ - : . /` (anything else becomes `_`), and is at most 200 characters.
// The intake applies them itself, but it also splits `ddtags` on ',' first:
// sanitizing here is what stops a value from adding or changing a tag. Like
// the Agent's normalizer, a run of characters that are replaced (or '_')
// becomes a single '_', and a trailing '_' is dropped.
const maxTagChars = 200

// Character classes of ASCII bytes for the sanitizer's fast path.
const (
	cOther  uint8 = iota // replaced by '_'
	cLetter              // kept (after lowercasing)
	cKeep                // digits and . / - : kept, but cannot start a tag
	cUnder               // '_': kept, merged with replaced runs
)

var asciiClass = func() (t [utf8.RuneSelf]uint8) {
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = cLetter, cLetter
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = cKeep
	}
	for _, c := range ".:/-" {
		t[c] = cKeep
	}
	t['_'] = cUnder
	return t
}()

// fastKeep marks the ASCII bytes a tag keeps unchanged: lowercase letters,
// digits and . : / -.
var fastKeep = func() (t [utf8.RuneSelf]bool) {
	for c := range t {
		t[c] = asciiClass[c] == cKeep || (c >= 'a' && c <= 'z')
	}
	return t
}()

// tagState carries the sanitizer across the parts of one tag (key, ':',
// value) so the rules apply to the tag as a whole.
type tagState struct {
	chars   int  // characters written
	pending bool // a '_' is due before the next kept character
}

// appendSanitized appends s to dst under the tag rules. It never writes a
// ',' (the tag separator), a quote, a backslash or a control character, so
// its output is safe inside a JSON string without escaping.
func appendSanitized(dst, s []byte, st *tagState) []byte {
	for i := 0; i < len(s) && st.chars < maxTagChars; {
		c := s[i]
		if c < utf8.RuneSelf && fastKeep[c] && (st.chars > 0 || asciiClass[c] == cLetter) {
			// Fast path: a run of bytes that are kept as they are, the
			// usual case (names, image references, label values).
			room := maxTagChars - st.chars
			if st.pending {
				if room < 2 {
					break
				}
				dst = append(dst, '_')
				st.chars++
				st.pending = false
				room--
			}
			j := i + 1
			for j < len(s) && j-i < room && s[j] < utf8.RuneSelf && fastKeep[s[j]] {
				j++
			}
			dst = append(dst, s[i:j]...)
			st.chars += j - i
			i = j
			continue
		}
		var r rune
		var class uint8
		if c < utf8.RuneSelf {
			i++
			class = asciiClass[c]
			if class == cLetter && c <= 'Z' {
				c += 'a' - 'A'
			}
			r = rune(c)
		} else {
			var size int
			r, size = utf8.DecodeRune(s[i:])
			i += size
			// An invalid byte decodes as U+FFFD, which is no letter: replaced.
			r = unicode.ToLower(r)
			switch {
			case unicode.IsLetter(r):
				class = cLetter
			case unicode.IsDigit(r):
				class = cKeep
			}
		}
		switch {
		case class == cOther || class == cUnder:
			// A tag cannot start with '_': pending is only honoured after a
			// kept character.
			st.pending = st.chars > 0
			continue
		case st.chars == 0 && class != cLetter:
			continue // a tag starts with a letter
		}
		if st.pending {
			if st.chars+1 >= maxTagChars {
				break
			}
			dst = append(dst, '_')
			st.chars++
			st.pending = false
		}
		if r < utf8.RuneSelf {
			dst = append(dst, byte(r))
		} else {
			dst = utf8.AppendRune(dst, r)
		}
		st.chars++
	}
	return dst
}

// SanitizeTag applies Datadog's tag rules to a whole tag ("key:value" or a
// bare value); "" when nothing valid remains. The config can use it to warn
// about a dd_tags entry or a pod_labels_as_tags name that changes.
func SanitizeTag(s string) string {
	var st tagState
	return string(appendSanitized(nil, []byte(s), &st))
}

// The bounds of a log's ddtags. Datadog takes at most 100 tags per log
// ("a log event should not have more than 100 tags, and each tag should not
// exceed 256 characters": custom log forwarding), and a pod's labels and
// annotations must not be able to put kilobytes of tags on each of its
// logs: every log carries them, so they multiply the chunk (a 250 KB tags
// annotation made a 2 MB chunk 49 MB, each log refused with 413). The
// options' tags come first, then the ones kubeship derives (about 700
// bytes for a Deployment's pod on Fargate), then the labels' and the
// annotations': a tag past a bound is dropped and said in the pod's
// problem line. 4096 bytes hold 100 tags of 40 characters.
const (
	maxLogTags   = 100
	maxTagsBytes = 4096
	// linearTags is how many tags are searched one by one for a
	// duplicate; past it, a hash set is (see tagList.has).
	linearTags = 32
)

// tagList builds one record's `ddtags`: sanitized tags joined by ',', each at
// most once, at most maxLogTags tags and about maxTagsBytes bytes.
type tagList struct {
	buf     []byte
	spans   []span
	dropped int    // tags dropped over the bounds
	raw     []byte // an annotation tag's name, then
	name    []byte // sanitized (addAnnotationTags)
	// slots index spans once there are more than linearTags: open
	// addressing by hashTag, span index + 1, 0 empty; more than twice
	// maxLogTags, so probes stay short.
	slots   [256]int32
	indexed int // spans in slots
}

type span struct{ start, end int }

func (l *tagList) reset() {
	l.buf, l.spans, l.dropped = l.buf[:0], l.spans[:0], 0
	if l.indexed > 0 {
		clear(l.slots[:])
		l.indexed = 0
	}
}

// add appends key:value with value (the parts of value, joined) sanitized;
// key must be a valid ASCII tag key (one of this package's names). Empty
// values and values that sanitize to nothing add no tag.
func (l *tagList) add(key string, value ...[]byte) { l.addN(key, len(key), value...) }

// addN is add for a key of keyChars characters (a sanitized user name).
func (l *tagList) addN(key string, keyChars int, value ...[]byte) {
	appendKeyed(l, key, keyChars, value)
}

// addKey is addN for a key in bytes (an annotation's name, sanitized into
// l.name, which no string need be made of).
func (l *tagList) addKey(key []byte, keyChars int, value ...[]byte) {
	appendKeyed(l, key, keyChars, value)
}

// appendKeyed appends key:value, the parts of value joined and sanitized, and
// keeps it unless it is empty or a duplicate.
func appendKeyed[K string | []byte](l *tagList, key K, keyChars int, value [][]byte) {
	if len(value) == 0 || len(value) == 1 && len(value[0]) == 0 {
		return
	}
	at := len(l.buf)
	if at > 0 {
		l.buf = append(l.buf, ',')
	}
	start := len(l.buf)
	l.buf = append(l.buf, key...)
	l.buf = append(l.buf, ':')
	st := tagState{chars: keyChars + 1}
	valueAt := len(l.buf)
	for _, v := range value {
		l.buf = appendSanitized(l.buf, v, &st)
	}
	if len(l.buf) == valueAt {
		l.buf = l.buf[:at]
		return
	}
	// keep, with keepFew inlined: this is the path of every derived tag.
	if len(l.spans) < linearTags && len(l.buf) <= maxTagsBytes {
		l.keepFew(at, start)
	} else {
		l.keepMany(at, start)
	}
}

// addTag appends a whole tag that is already sanitized (Options.Tags).
func (l *tagList) addTag(tag string) {
	at := len(l.buf)
	if at > 0 {
		l.buf = append(l.buf, ',')
	}
	start := len(l.buf)
	l.buf = append(l.buf, tag...)
	l.keep(at, start)
}

// addName is addTag for a tag in bytes (a bare annotation tag).
func (l *tagList) addName(tag []byte) {
	at := len(l.buf)
	if at > 0 {
		l.buf = append(l.buf, ',')
	}
	start := len(l.buf)
	l.buf = append(l.buf, tag...)
	l.keep(at, start)
}

// keep records the tag written from start, or removes it (and its comma,
// from at) when an identical tag was written before or it is over the
// bounds. A tag is compared with each earlier one while there are few
// (keepFew: the usual case, 17 to 30 tags, compares of short strings that
// mostly differ in length or first bytes), else looked up in a hash set
// (keepMany), so that many tags cost linear time, not quadratic.
func (l *tagList) keep(at, start int) {
	if len(l.spans) < linearTags && len(l.buf) <= maxTagsBytes {
		l.keepFew(at, start)
	} else {
		l.keepMany(at, start)
	}
}

// keepFew is keep by comparing, small enough to be inlined (appendKeyed).
func (l *tagList) keepFew(at, start int) {
	tag := l.buf[start:]
	for _, s := range l.spans {
		if string(l.buf[s.start:s.end]) == string(tag) {
			l.buf = l.buf[:at]
			return
		}
	}
	l.spans = append(l.spans, span{start, len(l.buf)})
}

// keepMany is keep from linearTags tags on, or over maxTagsBytes.
func (l *tagList) keepMany(at, start int) {
	tag := l.buf[start:]
	l.index()
	h := hashTag(tag)
	if l.find(tag, h) {
		l.buf = l.buf[:at]
		return
	}
	if len(l.spans) >= maxLogTags || len(l.buf) > maxTagsBytes {
		l.buf = l.buf[:at]
		l.dropped++
		return
	}
	l.spans = append(l.spans, span{start, len(l.buf)})
	l.insert(len(l.spans)-1, h)
}

// find reports whether tag, of hash h, is in the hash set.
func (l *tagList) find(tag []byte, h int) bool {
	const mask = len(l.slots) - 1
	for i := h & mask; ; i = (i + 1) & mask {
		v := l.slots[i]
		if v == 0 {
			return false
		}
		if s := l.spans[v-1]; string(l.buf[s.start:s.end]) == string(tag) {
			return true
		}
	}
}

// index puts the spans in the hash set when it is first used.
func (l *tagList) index() {
	for l.indexed < len(l.spans) {
		s := l.spans[l.indexed]
		l.insert(l.indexed, hashTag(l.buf[s.start:s.end])) // l.indexed++
	}
}

// insert puts span i, of hash h, in the hash set.
func (l *tagList) insert(i, h int) {
	const mask = len(l.slots) - 1
	j := h & mask
	for l.slots[j] != 0 {
		j = (j + 1) & mask
	}
	l.slots[j] = int32(i + 1)
	l.indexed = i + 1
}

// tagSeed seeds hashTag for the process: tags are written by pod owners,
// who must not be able to make them collide.
var tagSeed = maphash.MakeSeed()

func hashTag(b []byte) int { return int(maphash.Bytes(tagSeed, b) >> 1) }
