package online

import (
	"testing"
)

func TestRowCodecRoundTripAndCorruption(t *testing.T) {
	r := &row{expiry: 42, cells: map[string]cellVal{"a": {expiry: 7, value: []byte(`"x"`)}, "bb": {value: []byte("1")}}}
	b := encodeRow(r)
	got, err := decodeRow(b, 0)
	if err != nil || got.expiry != 42 || string(got.cells["a"].value) != `"x"` || got.cells["a"].expiry != 7 || string(got.cells["bb"].value) != "1" {
		t.Fatalf("round trip: %+v %v", got, err)
	}
	// Cells expired at now are dropped on decode.
	got, _ = decodeRow(b, 10)
	if _, ok := got.cells["a"]; ok || len(got.cells) != 1 {
		t.Fatalf("expired cell kept: %+v", got)
	}
	for i := 0; i < len(b); i++ {
		if _, err := decodeRow(b[:i], 0); err == nil {
			t.Fatalf("truncated row of %d bytes decoded", i)
		}
	}
}

func FuzzDecodeRow(f *testing.F) {
	f.Add(encodeRow(&row{cells: map[string]cellVal{"a": {value: []byte("1")}}}))
	f.Add([]byte{0, 5, 1, 'a'})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeRow(b, 0)
		if err != nil {
			return
		}
		if _, err := decodeRow(encodeRow(r), 0); err != nil {
			t.Fatalf("re-encoded row does not decode: %v", err)
		}
	})
}
