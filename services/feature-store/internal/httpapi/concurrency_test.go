package httpapi

import (
	"sort"
	"sync"
	"testing"

	"github.com/darwinml/darwin/pkg/db"
	"github.com/darwinml/darwin/pkg/db/dbtest"
)

// TestConcurrentUpgrades races upgrades of one feature group: the versions created are distinct and contiguous
// and every loser gets FEATURE-GROUP-ALREADY-EXISTS (never a 500).
func TestConcurrentUpgrades(t *testing.T) {
	dbtest.ForEachDialect(t, fsMigrations, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		e.setup()
		var mu sync.Mutex
		var versions []string
		var wg sync.WaitGroup
		for range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := e.adminDo("POST", "/feature-group", fgReq("stats", "users", nil, col("clicks", "INT")), "upgrade", "true")
				if r.Status == 200 {
					var c struct{ Version string }
					r.into(t, &c)
					mu.Lock()
					versions = append(versions, c.Version)
					mu.Unlock()
				} else if r.Error.Code != "FEATURE-GROUP-ALREADY-EXISTS-EXCEPTION" {
					t.Errorf("upgrade: %d %s", r.Status, r.raw)
				}
			}()
		}
		wg.Wait()
		sort.Strings(versions)
		for i, v := range versions {
			if want := "v" + string(rune('2'+i)); v != want {
				t.Fatalf("versions %v", versions)
			}
		}
		if len(versions) == 0 {
			t.Fatal("no upgrade won")
		}
		var vi struct {
			Version struct{ LatestVersion string }
		}
		e.adminDo("GET", "/feature-group/version?name=stats", nil).ok(t).into(t, &vi)
		if vi.Version.LatestVersion != versions[len(versions)-1] {
			t.Fatalf("latest %s, created %v", vi.Version.LatestVersion, versions)
		}
	})
}
