package document

import (
	"fmt"
	"strings"
	"testing"
)

// benchDoc builds a profile of about 1 KB with about 40 members: counters,
// strings, a nested stats object and an inventory array, the shape of a
// typical player profile.
func benchDoc(b *testing.B) any {
	b.Helper()
	var sb strings.Builder
	sb.WriteString(`{"name": "player-123", "level": 17, "coins": 1500, "gems": 40, "xp": 123456,`)
	sb.WriteString(`"stats": {"hp": 100, "mp": 50, "str": 12, "dex": 9, "int": 14},`)
	sb.WriteString(`"inventory": ["sword", "shield", "potion", "potion", "bow", "arrow", "arrow", "map"],`)
	sb.WriteString(`"settings": {"lang": "en", "sound": {"volume": 7, "muted": false}},`)
	for i := range 30 {
		fmt.Fprintf(&sb, `"quest_%02d_progress": %d,`, i, i*37)
	}
	sb.WriteString(`"created": "2024-01-01T00:00:00Z"}`)
	doc := mustDecode(b, sb.String())
	if n := len(mustEncode(b, doc)); n < 800 || n > 1300 {
		b.Fatalf("bench doc is %d bytes, want about 1 KB", n)
	}
	return doc
}

func BenchmarkApply(b *testing.B) {
	doc := benchDoc(b)
	cases := []struct {
		name string
		ops  []Op
	}{
		{"set", []Op{{OpSet, "/name", "renamed"}}},
		{"increment", []Op{{OpIncrement, "/coins", num("5")}}},
		{"increment-nested", []Op{{OpIncrement, "/stats/hp", num("-3")}}},
		{"append", []Op{{OpAppend, "/inventory", "gem"}}},
		{"batch-10", []Op{
			{OpIncrement, "/coins", num("5")}, {OpIncrement, "/xp", num("120")}, {OpSet, "/level", num("18")},
			{OpAppend, "/inventory", "gem"}, {OpRemove, "/inventory", "potion"}, {OpIncrement, "/stats/hp", num("-3")},
			{OpSet, "/settings/sound/volume", num("3")}, {OpSetIfAbsent, "/gems", num("0")},
			{OpMerge, "/stats", map[string]any{"mp": num("45")}}, {Kind: OpDelete, Path: "/quest_03_progress"},
		}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Apply(doc, c.ops, Limits{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkEncode(b *testing.B) {
	doc := benchDoc(b)
	b.ReportAllocs()
	var buf []byte
	for b.Loop() {
		var err error
		if buf, err = AppendEncode(buf[:0], doc); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	data := []byte(mustEncode(b, benchDoc(b)))
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Decode(data); err != nil {
			b.Fatal(err)
		}
	}
}
