package httpapi_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/darwinml/darwin/pkg/db"
	"github.com/darwinml/darwin/pkg/db/dbtest"
)

// TestConcurrentDeployModel races one-click deployments of one new serve: every answer is a success or a
// 4xx (never a 5xx), and afterwards exactly one deployment is ACTIVE and the active pointer names it.
func TestConcurrentDeployModel(t *testing.T) {
	dbtest.ForEachDialect(t, migs, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		e.must(e.do("POST", "/api/v1/environment", "-", localEnv), 200)
		var wg sync.WaitGroup
		statuses := make([]int, 6)
		for i := range statuses {
			wg.Add(1)
			go func() {
				defer wg.Done()
				body := map[string]any{"env": "local", "serve_name": "race", "artifact_version": fmt.Sprintf("v%d", i), "model_uri": "models:/m/1"}
				statuses[i] = e.do("POST", "/api/v1/serve/deploy-model", "-", body).status
			}()
		}
		wg.Wait()
		okCount := 0
		for i, s := range statuses {
			switch {
			case s == 200:
				okCount++
			case s >= 500:
				t.Fatalf("request %d: status %d", i, s)
			}
		}
		if okCount == 0 {
			t.Fatalf("no deployment succeeded: %v", statuses)
		}
		if n := e.count("deployments", "status = 'ACTIVE'"); n != 1 {
			t.Fatalf("%d ACTIVE deployments (statuses %v)", n, statuses)
		}
		if n := e.count("active_deployments a JOIN deployments d ON d.id = a.deployment_id", "d.status = 'ACTIVE'"); n != 1 {
			t.Fatalf("active pointer: %d", n)
		}
		if n := e.count("deployments", "1 = 1"); n != int64(okCount) {
			t.Fatalf("%d deployment rows for %d successes", n, okCount)
		}
	})
}
