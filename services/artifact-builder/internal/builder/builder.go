// Package builder turns a build task into an image. A Builder writes its progress to the task's log and returns
// the pushed image reference; the queue records the outcome.
//
//   - ModelImage is a daemonless OCI build (go-containerregistry): a base image pulled from a registry (or an
//     empty base) plus one layer holding the model directory at /opt/model, with MODEL_LOCAL_PATH set, pushed
//     to the configured registry.
//   - Unconfigured stands in for a builder the deployment lacks (Dockerfile builds need a Kaniko-style
//     Kubernetes Job builder) and fails every task with a message saying so.
package builder

import (
	"context"
	"fmt"
	"io"

	"github.com/darwinml/darwin/services/artifact-builder/internal/domain"
)

// Builder builds one task's image.
type Builder interface {
	// Build runs the build, writing progress lines to log, and returns the pushed image reference. It stops
	// early when ctx ends.
	Build(ctx context.Context, t domain.Task, log io.Writer) (imageURL string, err error)
}

// Unconfigured fails every build: the deployment has no builder for the task's kind.
type Unconfigured struct {
	// Reason completes the message "needs a builder: <Reason>".
	Reason string
}

// NoKubernetesBuilder is the Reason of Dockerfile builds when no Kubernetes builder is configured.
const NoKubernetesBuilder = "no Kubernetes builder is configured (build_with_dockerfile runs the repository's " +
	"Dockerfile as a Kaniko-style Job on a Kubernetes cluster; this artifact-builder has none, so only " +
	"POST /build_model_image builds run here)"

// Build fails with the configured reason.
func (u Unconfigured) Build(_ context.Context, t domain.Task, log io.Writer) (string, error) {
	err := fmt.Errorf("needs a builder: %s", u.Reason)
	fmt.Fprintf(log, "%s build of %s:%s cannot run: %v\n", t.Kind, t.AppName, t.ImageTag, err)
	return "", err
}
