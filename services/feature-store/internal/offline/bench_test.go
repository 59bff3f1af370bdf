package offline

import (
	"encoding/json"
	"strconv"
	"testing"
	"time"
)

// BenchmarkRetrieve answers 10,000 entity rows (two features of one group) over a history of 200,000 rows
// (20,000 entities × 10 events); reports entity rows/s.
func BenchmarkRetrieve(b *testing.B) {
	h, err := OpenHistory(b.TempDir(), HistoryOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	names := []string{"user_id", "region", "score", "label"}
	for ev := 0; ev < 10; ev++ {
		bt := Batch{FeatureGroup: "user_stats", Version: "v1", Names: names, KeyIdx: []int{0, 1}}
		for id := 0; id < 20_000; id++ {
			bt.Rows = append(bt.Rows, raw(strconv.Itoa(id), `"eu"`, strconv.Itoa(ev*id), `"label-`+strconv.Itoa(ev)+`"`))
			bt.EventTimes = append(bt.EventTimes, int64(ev*1000+id%1000))
		}
		if err := h.Append(b.Context(), bt); err != nil {
			b.Fatal(err)
		}
	}
	r := &Retriever{History: h, Resolver: testResolver()}
	q := &HistoricalRequest{EntityRows: EntityRows{Names: []string{"user_id", "region", "event_timestamp"}},
		Features: []string{"user_stats:v1:score", "user_stats:v1:label"}}
	for i := 0; i < 10_000; i++ {
		q.EntityRows.Values = append(q.EntityRows.Values, []json.RawMessage{json.RawMessage(strconv.Itoa(i * 2)),
			json.RawMessage(`"eu"`), json.RawMessage(strconv.Itoa(i % 11_000))})
	}
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if _, err := r.Retrieve(b.Context(), q); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(q.EntityRows.Values))/time.Since(start).Seconds(), "entity-rows/s")
}
