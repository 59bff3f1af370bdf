package builder

import (
	"context"
	"log/slog"
	"time"

	"github.com/darwinml/darwin/pkg/clock"
	"github.com/darwinml/darwin/services/ml-serve/internal/domain"
	"github.com/darwinml/darwin/services/ml-serve/internal/store"
)

// Poller moves artifact-builder jobs forward. Each pass leases one due PENDING job (store.ClaimJob, so several
// ml-serve replicas never work the same job at once), submits it when it has no task yet, otherwise asks the
// builder for the task's state: completed records the artifact (the image the builder reports pushing, else
// <Image>:<serve>_<version>) and marks the
// job SUCCESSFUL in one transaction, failed marks it FAILED, anything else waits for the next lease.
type Poller struct {
	Store  *store.Store
	Client Client
	// Image is the repository images are pushed to: "<container registry>/<image repository>".
	Image string
	// Interval between passes (the original: 2 s) and Lease before a job is taken again (10 s).
	Interval, Lease time.Duration
	Clock           clock.Clock
	Logger          *slog.Logger
}

// Run polls until ctx ends.
func (p *Poller) Run(ctx context.Context) {
	clock.Every(ctx, p.Clock, p.Interval, true, func(ctx context.Context) {
		// Drain what is due, a bounded number per tick so one tick never runs away.
		for range 16 {
			worked, err := p.Pass(ctx)
			if err != nil {
				p.Logger.WarnContext(ctx, "artifact builder poll failed", "err", err)
				return
			}
			if !worked {
				return
			}
		}
	})
}

// Pass works one due job; worked is false when none was due.
func (p *Poller) Pass(ctx context.Context) (worked bool, err error) {
	j, found, err := p.Store.ClaimJob(ctx, p.Lease.Milliseconds())
	if err != nil || !found {
		return false, err
	}
	log := p.Logger.With("job_id", j.ID, "serve", j.ServeName, "version", j.Version)
	if j.TaskID == "" {
		taskID, err := p.Client.Submit(ctx, Request{AppName: j.ServeName, ImageTag: imageTag(j), GitRepo: j.GithubRepoURL, Branch: j.Branch, AppDir: j.FilePath})
		if err != nil {
			// The lease keeps the job from being retried before it runs out.
			log.WarnContext(ctx, "submit build failed; retrying after the lease", "err", err)
			return true, nil
		}
		log.InfoContext(ctx, "build submitted", "task_id", taskID)
		return true, p.Store.SetJobTask(ctx, j.ID, taskID)
	}
	state, image, err := p.Client.State(ctx, j.TaskID)
	if err != nil {
		log.WarnContext(ctx, "build status unavailable; retrying after the lease", "task_id", j.TaskID, "err", err)
		return true, nil
	}
	switch state {
	case StateCompleted:
		if image == "" {
			image = p.Image + ":" + imageTag(j)
		}
		err := p.Store.Tx(ctx, func(q *store.Queries) error {
			done, err := q.FinishJob(ctx, j.ID, domain.JobSuccessful)
			if err != nil || !done {
				return err
			}
			id := j.ID
			_, err = q.CreateArtifact(ctx, domain.Artifact{ServeID: j.ServeID, Version: j.Version, GithubRepoURL: j.GithubRepoURL,
				ImageURL: image, Branch: j.Branch, FilePath: j.FilePath, JobID: &id, CreatedBy: j.CreatedBy})
			return err
		})
		if err == nil {
			log.InfoContext(ctx, "build completed", "task_id", j.TaskID, "image", image)
		}
		return true, err
	case StateFailed:
		_, err := p.Store.FinishJob(ctx, j.ID, domain.JobFailed)
		log.InfoContext(ctx, "build failed", "task_id", j.TaskID)
		return true, err
	}
	return true, nil
}

func imageTag(j domain.Job) string { return j.ServeName + "_" + j.Version }
