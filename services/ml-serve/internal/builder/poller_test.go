package builder_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/darwinml/darwin/pkg/clock"
	"github.com/darwinml/darwin/pkg/db"
	"github.com/darwinml/darwin/pkg/db/dbtest"
	"github.com/darwinml/darwin/services/ml-serve/internal/builder"
	"github.com/darwinml/darwin/services/ml-serve/internal/domain"
	"github.com/darwinml/darwin/services/ml-serve/internal/store"
	"github.com/darwinml/darwin/services/ml-serve/migrations"
)

var migs = []dbtest.Migration{{Component: migrations.Component, FS: migrations.FS}}

// fakeBuilder speaks the artifact-builder REST API of spec §4 (the form fields and envelopes the poller uses).
type fakeBuilder struct {
	mu        sync.Mutex
	submitted []map[string]string
	state     map[string]string
	failNext  bool
}

func (f *fakeBuilder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/build_with_dockerfile":
		if f.failNext {
			f.failNext = false
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = io.WriteString(w, `{"status":"FAILED","message":"queue unavailable"}`)
			return
		}
		if err := r.ParseForm(); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		got := map[string]string{}
		for _, k := range []string{"app_name", "image_tag", "git_repo", "branch", "app_dir"} {
			got[k] = r.PostForm.Get(k)
		}
		f.submitted = append(f.submitted, got)
		id := "id-" + got["image_tag"]
		f.state[id] = builder.StateWaiting
		_, _ = io.WriteString(w, `{"status":"SUCCESS","task_id":"`+id+`","logs_url":"x","message":"task has been added to queue"}`)
	case r.Method == http.MethodGet && r.URL.Path == "/task/status":
		st, ok := f.state[r.URL.Query().Get("task_id")]
		if !ok {
			_, _ = io.WriteString(w, `{"status":"FAILED","message":"unknown task"}`)
			return
		}
		image := ""
		if st == builder.StateCompleted && strings.HasSuffix(r.URL.Query().Get("task_id"), "_v3") {
			image = "registry.example/darwin/churn:churn_v3"
		}
		_, _ = io.WriteString(w, `{"status":"SUCCESS","build_status":"`+st+`","image_url":"`+image+`","message":""}`)
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

func (f *fakeBuilder) set(task, state string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.state[task] = state
}

// The poller submits a PENDING job once, leaves it alone while its lease runs, follows the build and, when it
// completes, records the artifact with the pushed image; a failed build fails the job; a builder that refuses a
// submission gets the job again after the lease. Two pollers racing never submit one job twice. On every dialect.
func TestPollerDrivesJobs(t *testing.T) {
	dbtest.ForEachDialect(t, migs, func(t *testing.T, d *db.DB) {
		t.Parallel()
		ctx := t.Context()
		clk := clock.NewFake(time.UnixMilli(1_700_000_000_000))
		st := store.New(d, clk)
		fake := &fakeBuilder{state: map[string]string{}}
		srv := httptest.NewServer(fake)
		defer srv.Close()
		p := &builder.Poller{Store: st, Client: &builder.HTTP{BaseURL: srv.URL}, Image: "localhost:5000/darwin",
			Interval: 2 * time.Second, Lease: 10 * time.Second, Clock: clk, Logger: slog.New(slog.DiscardHandler)}

		s, err := st.CreateServe(ctx, domain.Serve{Name: "churn", Type: domain.ServeTypeAPI})
		if err != nil {
			t.Fatal(err)
		}
		job, err := st.CreateJob(ctx, domain.Job{ServeID: s.ID, Version: "v1", GithubRepoURL: "https://git.example/churn.git", Branch: "main", FilePath: "app"})
		if err != nil {
			t.Fatal(err)
		}
		pass := func(want bool) {
			t.Helper()
			worked, err := p.Pass(ctx)
			if err != nil || worked != want {
				t.Fatalf("pass: worked %v, %v; want worked %v", worked, err, want)
			}
		}
		pass(true) // submit
		if len(fake.submitted) != 1 || fake.submitted[0]["app_name"] != "churn" || fake.submitted[0]["image_tag"] != "churn_v1" ||
			fake.submitted[0]["git_repo"] != "https://git.example/churn.git" || fake.submitted[0]["branch"] != "main" || fake.submitted[0]["app_dir"] != "app" {
			t.Fatalf("submitted %v", fake.submitted)
		}
		pass(false) // leased
		clk.Advance(11 * time.Second)
		fake.set("id-churn_v1", builder.StateRunning)
		pass(true)
		if j, _, _ := st.Job(ctx, job.ID); j.Status != domain.JobPending || j.TaskID != "id-churn_v1" {
			t.Fatalf("running build: job %+v", j)
		}
		clk.Advance(11 * time.Second)
		fake.set("id-churn_v1", builder.StateCompleted)
		pass(true)
		if j, _, _ := st.Job(ctx, job.ID); j.Status != domain.JobSuccessful {
			t.Fatalf("completed build: job status %s", j.Status)
		}
		a, found, err := st.Artifact(ctx, s.ID, "v1")
		if err != nil || !found || a.ImageURL != "localhost:5000/darwin:churn_v1" || a.JobID == nil || *a.JobID != job.ID {
			t.Fatalf("artifact %+v found %v err %v", a, found, err)
		}
		clk.Advance(11 * time.Second)
		pass(false) // nothing pending

		// A failed build, after a refused submission.
		failing, err := st.CreateJob(ctx, domain.Job{ServeID: s.ID, Version: "v2", GithubRepoURL: "https://git.example/churn.git", Branch: "dev"})
		if err != nil {
			t.Fatal(err)
		}
		fake.mu.Lock()
		fake.failNext = true
		fake.mu.Unlock()
		pass(true)
		if j, _, _ := st.Job(ctx, failing.ID); j.TaskID != "" || j.Status != domain.JobPending {
			t.Fatalf("refused submission: job %+v", j)
		}
		pass(false)
		clk.Advance(11 * time.Second)
		pass(true) // submitted now
		clk.Advance(11 * time.Second)
		fake.set("id-churn_v2", builder.StateFailed)
		pass(true)
		if j, _, _ := st.Job(ctx, failing.ID); j.Status != domain.JobFailed {
			t.Fatalf("failed build: job %+v", j)
		}
		if _, found, _ := st.Artifact(ctx, s.ID, "v2"); found {
			t.Fatal("a failed build recorded an artifact")
		}

		// The image the builder reports is the one recorded.
		reported, err := st.CreateJob(ctx, domain.Job{ServeID: s.ID, Version: "v3", GithubRepoURL: "https://git.example/churn.git"})
		if err != nil {
			t.Fatal(err)
		}
		clk.Advance(11 * time.Second)
		pass(true)
		clk.Advance(11 * time.Second)
		fake.set("id-churn_v3", builder.StateCompleted)
		pass(true)
		if a, found, _ := st.Artifact(ctx, s.ID, "v3"); !found || a.ImageURL != "registry.example/darwin/churn:churn_v3" || a.JobID == nil || *a.JobID != reported.ID {
			t.Fatalf("reported image: %+v", a)
		}

		// Racing pollers: each due job is claimed by exactly one of them.
		for i := range 6 {
			if _, err := st.CreateJob(ctx, domain.Job{ServeID: s.ID, Version: "r" + string(rune('a'+i)), GithubRepoURL: "https://git.example/churn.git"}); err != nil {
				t.Fatal(err)
			}
		}
		before := len(fake.submitted)
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for range 4 {
			wg.Go(func() {
				for {
					worked, err := p.Pass(ctx)
					if err != nil {
						errs <- err
						return
					}
					if !worked {
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if !errors.Is(err, context.Canceled) {
				t.Fatal(err)
			}
		}
		fake.mu.Lock()
		got := fake.submitted[before:]
		fake.mu.Unlock()
		seen := map[string]bool{}
		for _, s := range got {
			if seen[s["image_tag"]] {
				t.Fatalf("job %s submitted twice: %v", s["image_tag"], got)
			}
			seen[s["image_tag"]] = true
		}
		if len(seen) != 6 {
			t.Fatalf("racing pollers submitted %d of 6 jobs: %v", len(seen), got)
		}
	})
}

// The HTTP client rejects builder answers it cannot trust.
func TestHTTPClientErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/build_with_dockerfile":
			_, _ = io.WriteString(w, `{"status":"SUCCESS","message":"no id"}`)
		case "/task/status":
			_, _ = io.WriteString(w, `{"status":"SUCCESS","build_status":"exploded"}`)
		}
	}))
	defer srv.Close()
	c := &builder.HTTP{BaseURL: srv.URL}
	if _, err := c.Submit(t.Context(), builder.Request{AppName: "a", ImageTag: "a_v1", GitRepo: "g"}); err == nil {
		t.Fatal("a submission without task_id was accepted")
	}
	if _, _, err := c.State(t.Context(), "t"); err == nil {
		t.Fatal("an unknown build status was accepted")
	}
	down := &builder.HTTP{BaseURL: "http://127.0.0.1:1"}
	if _, _, err := down.State(t.Context(), "t"); err == nil {
		t.Fatal("an unreachable builder answered")
	}
}
