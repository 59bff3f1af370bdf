// Package kaniko wires the Kaniko Job builder (internal/kubebuild) into the artifact-builder service from its
// configuration. The artifact-builder binary uses it; `darwin up`, which runs no Kubernetes, does not, so the
// all-in-one process does not link client-go.
package kaniko

import (
	"errors"
	"fmt"
	"time"

	artifactbuilder "github.com/darwinml/darwin/services/artifact-builder"
	"github.com/darwinml/darwin/services/artifact-builder/internal/builder"
	"github.com/darwinml/darwin/services/artifact-builder/internal/kubebuild"
)

// Builder returns the Dockerfile builder that runs build_with_dockerfile tasks as Kaniko Jobs on the cluster
// of cfg.KubeConfig (or the in-cluster config inside a pod), for Deps.DockerfileBuilder. It returns nil when
// neither is available (those tasks then fail with "needs a builder"), and an error for an unusable
// kubeconfig.
func Builder(cfg artifactbuilder.Config) (builder.Builder, error) {
	timeout := cfg.BuildTimeout
	if timeout <= 0 {
		timeout = time.Hour
	}
	kb, err := kubebuild.FromKubeconfig(cfg.KubeConfig, kubebuild.Config{
		Namespace: cfg.KubeNamespace, Image: cfg.KanikoImage, Registry: cfg.Registry, RegistrySecret: cfg.RegistrySecret,
		Insecure: cfg.RegistryInsecure, Deadline: timeout,
	})
	switch {
	case errors.Is(err, kubebuild.ErrNotConfigured):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("artifact-builder.kube-config: %w", err)
	}
	return kb, nil
}
