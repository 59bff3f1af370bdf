package httpapi

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/darwinml/darwin/pkg/db"
	"github.com/darwinml/darwin/pkg/db/dbtest"
)

// BenchmarkReadFeatures reads 50 features of 1 and 10 keys through HTTP (loopback, keep-alive, GET with a JSON
// body, embedded Pebble store) beside a loopback floor: the same client against a handler that answers a fixed
// body of the 1-key response's size.
func BenchmarkReadFeatures(b *testing.B) {
	d := dbtest.Open(b, db.SQLite)
	if err := db.Migrate(b.Context(), d, fsMigrations[0].Component, fsMigrations[0].FS); err != nil {
		b.Fatal(err)
	}
	e := newEnv(b, d)
	e.adminDo("POST", "/entity", map[string]any{"entity": map[string]any{"tableName": "users", "features": []any{col("user_id", "BIGINT")}, "primaryKeys": []string{"user_id"}}, "owner": "a@b.co"}).ok(b)
	cols, names := []map[string]any{}, []string{"user_id"}
	for i := range 50 {
		cols = append(cols, col(fmt.Sprintf("f%02d", i), "DOUBLE"))
		names = append(names, fmt.Sprintf("f%02d", i))
	}
	e.adminDo("POST", "/feature-group", fgReq("bench", "users", nil, cols...)).ok(b)
	var rows [][]any
	for k := range 10 {
		row := []any{k}
		for i := range 50 {
			row = append(row, float64(k*100+i)+0.25)
		}
		rows = append(rows, row)
	}
	e.appDo("POST", "/feature-group/write-features-v2", writeBody("bench", nil, names, rows...)).ok(b)

	srv := httptest.NewServer(e.app)
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	read := func(b *testing.B, url string, body []byte) int {
		req, err := http.NewRequest(http.MethodGet, url, bytes.NewReader(body))
		if err != nil {
			b.Error(err)
			return 0
		}
		req.Header.Set("Content-Type", "application/json")
		res, err := client.Do(req)
		if err != nil {
			b.Error(err)
			return 0
		}
		n, _ := io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			b.Errorf("status %d", res.StatusCode)
		}
		return int(n)
	}
	body := func(keys int) []byte {
		var ks [][]any
		for k := range keys {
			ks = append(ks, []any{k})
		}
		return []byte(asJSON(readBody2("bench", nil, names[1:], []string{"user_id"}, ks...)))
	}
	one := body(1)
	size := read(b, srv.URL+"/feature-group/read-features", one)
	fixed := bytes.Repeat([]byte("x"), size)
	floor := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(fixed)
	}))
	defer floor.Close()

	b.Run("loopback-floor", func(b *testing.B) {
		for b.Loop() {
			read(b, floor.URL, one)
		}
	})
	for _, keys := range []int{1, 10} {
		req := body(keys)
		b.Run(fmt.Sprintf("keys=%d/features=50", keys), func(b *testing.B) {
			for b.Loop() {
				read(b, srv.URL+"/feature-group/read-features", req)
			}
		})
	}
}
