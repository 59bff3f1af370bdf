// Package kubebuild runs build_with_dockerfile tasks as Kaniko Jobs on a Kubernetes cluster.
//
// For each task it creates a batch/v1 Job (backoffLimit 0, activeDeadlineSeconds from the build timeout,
// ttlSecondsAfterFinished) whose single container runs the Kaniko executor with the task's git repository as
// the build context and pushes <registry>/<app_name>:<image_tag>. A Dockerfile uploaded with the request is
// stored in a ConfigMap owned by the Job and used instead of the repository's. It then polls the Job until it is Complete
// (the image reference is returned) or Failed (the Job condition's reason and message become the error),
// writing progress lines to the task log. When the build's context ends first, the Job and its pods are
// deleted.
package kubebuild

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/darwinml/darwin/services/artifact-builder/internal/domain"
)

// DefaultImage is the pinned Kaniko executor image.
const DefaultImage = "gcr.io/kaniko-project/executor:v1.23.2"

// Labels put on every build Job and its pods.
const (
	LabelTaskID    = "darwin.ml/artifact-builder-task"
	LabelComponent = "app.kubernetes.io/component"
	LabelManagedBy = "app.kubernetes.io/managed-by"
)

// Defaults of Config's zero values.
const (
	DefaultNamespace    = "default"
	DefaultDeadline     = time.Hour
	DefaultTTL          = time.Hour
	DefaultPollInterval = 2 * time.Second
)

// Config configures the builder.
type Config struct {
	// Namespace the Jobs are created in (default "default").
	Namespace string
	// Image is the Kaniko executor image (default DefaultImage).
	Image string
	// Registry is the prefix of pushed images: <Registry>/<app_name>:<image_tag>.
	Registry string
	// RegistrySecret names a Secret (a Docker config.json under the key config.json, e.g. a
	// kubernetes.io/dockerconfigjson Secret's .dockerconfigjson item) mounted at /kaniko/.docker; empty: none.
	RegistrySecret string
	// Insecure lets Kaniko push to a plain-HTTP registry.
	Insecure bool
	// Deadline becomes the Job's activeDeadlineSeconds (default 1 h); a shorter ctx deadline wins.
	Deadline time.Duration
	// TTL becomes ttlSecondsAfterFinished (default 1 h).
	TTL time.Duration
	// PollInterval is how often the Job and its pods are read (default 2 s).
	PollInterval time.Duration
}

// Builder runs Dockerfile builds as Kaniko Jobs. It implements builder.Builder.
type Builder struct {
	cfg    Config
	client kubernetes.Interface
}

// New returns a builder using client.
func New(client kubernetes.Interface, cfg Config) (*Builder, error) {
	if client == nil {
		return nil, errors.New("kubebuild: no Kubernetes client")
	}
	if strings.TrimSpace(cfg.Registry) == "" {
		return nil, errors.New("kubebuild: registry is required")
	}
	if cfg.Namespace == "" {
		cfg.Namespace = DefaultNamespace
	}
	if cfg.Image == "" {
		cfg.Image = DefaultImage
	}
	if cfg.Deadline <= 0 {
		cfg.Deadline = DefaultDeadline
	}
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	cfg.Registry = strings.TrimRight(cfg.Registry, "/")
	return &Builder{cfg: cfg, client: client}, nil
}

// ErrNotConfigured is returned by RESTConfig when there is no kubeconfig path and the process does not run in
// a cluster.
var ErrNotConfigured = errors.New("kubebuild: no kubeconfig and not running in a cluster")

// RESTConfig loads the client configuration from kubeconfigPath, or the in-cluster configuration when the path
// is empty. It returns ErrNotConfigured when neither is available.
func RESTConfig(kubeconfigPath string) (*rest.Config, error) {
	if kubeconfigPath != "" {
		c, err := clientcmd.BuildConfigFromFlags("", kubeconfigPath)
		if err != nil {
			return nil, fmt.Errorf("kubebuild: load kubeconfig %s: %w", kubeconfigPath, err)
		}
		return c, nil
	}
	if os.Getenv("KUBERNETES_SERVICE_HOST") == "" {
		return nil, ErrNotConfigured
	}
	c, err := rest.InClusterConfig()
	if err != nil {
		return nil, fmt.Errorf("kubebuild: in-cluster config: %w", err)
	}
	return c, nil
}

// FromKubeconfig builds a Builder from a kubeconfig path (or the in-cluster config when the path is empty).
func FromKubeconfig(kubeconfigPath string, cfg Config) (*Builder, error) {
	rc, err := RESTConfig(kubeconfigPath)
	if err != nil {
		return nil, err
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("kubebuild: client: %w", err)
	}
	return New(cs, cfg)
}

// JobName is the name of a task's Job: "kaniko-" plus the task id's hex digits (a valid DNS label).
func JobName(taskID string) string {
	return "kaniko-" + strings.ToLower(strings.TrimPrefix(taskID, "id-"))
}

// Destination is the image a task pushes.
func (b *Builder) Destination(t domain.Task) string {
	return b.cfg.Registry + "/" + t.AppName + ":" + t.ImageTag
}

// Args returns the Kaniko executor arguments of a task.
func (b *Builder) Args(t domain.Task) []string {
	branch := t.Params.Branch
	if branch == "" {
		branch = "main"
	}
	repo := t.Params.GitRepo
	// Kaniko's git context takes the URL without a scheme.
	for _, p := range []string{"https://", "http://", "git://"} {
		if strings.HasPrefix(repo, p) {
			repo = strings.TrimPrefix(repo, p)
			break
		}
	}
	args := []string{"--context=git://" + repo + "#refs/heads/" + branch}
	if t.Params.AppDir != "" && t.Params.AppDir != "." {
		args = append(args, "--context-sub-path="+t.Params.AppDir)
	}
	dockerfile := "Dockerfile"
	if t.Params.Dockerfile != "" {
		dockerfile = UploadedDockerfile
	}
	args = append(args, "--dockerfile="+dockerfile, "--destination="+b.Destination(t))
	if b.cfg.Insecure {
		args = append(args, "--insecure")
	}
	return args
}

// UploadedDockerfile is where a Dockerfile sent with the request is mounted (from a ConfigMap named like the
// Job); Kaniko reads an absolute --dockerfile path from the container instead of the git context.
const UploadedDockerfile = "/kaniko/darwin-dockerfile/Dockerfile"

// ConfigMap returns the ConfigMap holding a task's uploaded Dockerfile, owned by its Job.
func (b *Builder) ConfigMap(t domain.Task, owner *batchv1.Job) *corev1.ConfigMap {
	ctrl := true
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{
			Name: JobName(t.TaskID), Namespace: b.cfg.Namespace, Labels: owner.Labels,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "batch/v1", Kind: "Job", Name: owner.Name,
				UID: owner.UID, Controller: &ctrl}},
		},
		Data: map[string]string{"Dockerfile": t.Params.Dockerfile},
	}
}

// Job returns the Job a task runs as; deadline is its activeDeadlineSeconds.
func (b *Builder) Job(t domain.Task, deadline time.Duration) *batchv1.Job {
	labels := map[string]string{
		LabelTaskID:    t.TaskID,
		LabelComponent: "kaniko-build",
		LabelManagedBy: "darwin-artifact-builder",
	}
	backoff := int32(0)
	secs := int64(deadline.Seconds())
	if secs < 1 {
		secs = 1
	}
	ttl := int32(b.cfg.TTL.Seconds())
	container := corev1.Container{
		Name:  "kaniko",
		Image: b.cfg.Image,
		Args:  b.Args(t),
	}
	spec := corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: nil}
	if b.cfg.RegistrySecret != "" {
		container.VolumeMounts = []corev1.VolumeMount{{Name: "docker-config", MountPath: "/kaniko/.docker", ReadOnly: true}}
		spec.Volumes = []corev1.Volume{{Name: "docker-config", VolumeSource: corev1.VolumeSource{
			Secret: &corev1.SecretVolumeSource{SecretName: b.cfg.RegistrySecret,
				Items: []corev1.KeyToPath{{Key: corev1.DockerConfigJsonKey, Path: "config.json"}}},
		}}}
	}
	if t.Params.Dockerfile != "" {
		container.VolumeMounts = append(container.VolumeMounts, corev1.VolumeMount{Name: "dockerfile",
			MountPath: "/kaniko/darwin-dockerfile", ReadOnly: true})
		spec.Volumes = append(spec.Volumes, corev1.Volume{Name: "dockerfile", VolumeSource: corev1.VolumeSource{
			ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: JobName(t.TaskID)}},
		}})
	}
	spec.Containers = []corev1.Container{container}
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Name:      JobName(t.TaskID),
			Namespace: b.cfg.Namespace,
			Labels:    labels,
			Annotations: map[string]string{
				"darwin.ml/app-name":  t.AppName,
				"darwin.ml/image-tag": t.ImageTag,
			},
		},
		Spec: batchv1.JobSpec{
			BackoffLimit:            &backoff,
			ActiveDeadlineSeconds:   &secs,
			TTLSecondsAfterFinished: &ttl,
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       spec,
			},
		},
	}
}

// Build creates the task's Job and waits for it to finish.
func (b *Builder) Build(ctx context.Context, t domain.Task, log io.Writer) (string, error) {
	if t.Params.GitRepo == "" {
		return "", errors.New("kubebuild: task has no git_repo")
	}
	deadline := b.cfg.Deadline
	if d, ok := ctx.Deadline(); ok {
		if left := time.Until(d); left < deadline {
			deadline = left
		}
	}
	job := b.Job(t, deadline)
	jobs := b.client.BatchV1().Jobs(b.cfg.Namespace)
	created, err := jobs.Create(ctx, job, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		// A previous attempt of this task (e.g. a re-queued lease) left its Job: start over.
		fmt.Fprintf(log, "job %s/%s exists from an earlier attempt; replacing it\n", b.cfg.Namespace, job.Name)
		if err = b.deleteJob(ctx, job.Name); err == nil {
			err = b.waitGone(ctx, job.Name)
		}
		if err == nil {
			created, err = jobs.Create(ctx, job, metav1.CreateOptions{})
		}
	}
	if err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		return "", fmt.Errorf("create kaniko job: %w", err)
	}
	if t.Params.Dockerfile != "" {
		cms := b.client.CoreV1().ConfigMaps(b.cfg.Namespace)
		cm := b.ConfigMap(t, created)
		_ = cms.Delete(ctx, cm.Name, metav1.DeleteOptions{}) // one left by an earlier attempt
		if _, err := cms.Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer cancel()
			_ = b.deleteJob(dctx, created.Name)
			if ctx.Err() != nil {
				return "", ctx.Err()
			}
			return "", fmt.Errorf("store the uploaded Dockerfile: %w", err)
		}
	}
	fmt.Fprintf(log, "job %s/%s created: %s building %s (branch %s", created.Namespace, created.Name,
		b.cfg.Image, t.Params.GitRepo, orMain(t.Params.Branch))
	if t.Params.AppDir != "" {
		fmt.Fprintf(log, ", dir %s", t.Params.AppDir)
	}
	fmt.Fprintf(log, ") -> %s\n", b.Destination(t))

	image, err := b.wait(ctx, created.Name, t, log)
	if err != nil && ctx.Err() != nil {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if t.Params.Dockerfile != "" {
			// The garbage collector would remove it with its Job; do not rely on one running.
			_ = b.client.CoreV1().ConfigMaps(b.cfg.Namespace).Delete(dctx, created.Name, metav1.DeleteOptions{})
		}
		if derr := b.deleteJob(dctx, created.Name); derr != nil && !apierrors.IsNotFound(derr) {
			fmt.Fprintf(log, "build cancelled; deleting job %s failed: %v\n", created.Name, derr)
		} else {
			fmt.Fprintf(log, "build cancelled (%v); job %s deleted\n", ctx.Err(), created.Name)
		}
		return "", ctx.Err()
	}
	return image, err
}

func orMain(s string) string {
	if s == "" {
		return "main"
	}
	return s
}

func (b *Builder) deleteJob(ctx context.Context, name string) error {
	prop := metav1.DeletePropagationBackground
	return b.client.BatchV1().Jobs(b.cfg.Namespace).Delete(ctx, name, metav1.DeleteOptions{PropagationPolicy: &prop})
}

func (b *Builder) waitGone(ctx context.Context, name string) error {
	for {
		_, err := b.client.BatchV1().Jobs(b.cfg.Namespace).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err := sleep(ctx, b.cfg.PollInterval); err != nil {
			return err
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-tm.C:
		return nil
	}
}

// wait polls the Job until it finishes, logging pod phase changes.
func (b *Builder) wait(ctx context.Context, name string, t domain.Task, log io.Writer) (string, error) {
	jobs := b.client.BatchV1().Jobs(b.cfg.Namespace)
	pods := b.client.CoreV1().Pods(b.cfg.Namespace)
	seen := map[string]string{} // pod name → last logged phase
	for {
		job, err := jobs.Get(ctx, name, metav1.GetOptions{})
		switch {
		case ctx.Err() != nil:
			return "", ctx.Err()
		case apierrors.IsNotFound(err):
			fmt.Fprintf(log, "job %s was deleted before it finished\n", name)
			return "", fmt.Errorf("kaniko job %s was deleted before it finished", name)
		case err != nil:
			// Transient API errors: keep polling until the context ends.
			fmt.Fprintf(log, "reading job %s: %v (retrying)\n", name, err)
		default:
			b.logPods(ctx, pods, t.TaskID, seen, log)
			if c := condition(job, batchv1.JobComplete); c != nil {
				img := b.Destination(t)
				fmt.Fprintf(log, "job %s completed: pushed %s\n", name, img)
				return img, nil
			}
			if c := condition(job, batchv1.JobFailed); c != nil {
				reason := strings.TrimSpace(c.Reason + ": " + c.Message)
				reason = strings.Trim(reason, ": ")
				if reason == "" {
					reason = "no reason given"
				}
				fmt.Fprintf(log, "job %s failed: %s\n", name, reason)
				return "", fmt.Errorf("kaniko job %s failed: %s", name, reason)
			}
		}
		if err := sleep(ctx, b.cfg.PollInterval); err != nil {
			return "", err
		}
	}
}

func condition(job *batchv1.Job, typ batchv1.JobConditionType) *batchv1.JobCondition {
	for i := range job.Status.Conditions {
		c := &job.Status.Conditions[i]
		if c.Type == typ && c.Status == corev1.ConditionTrue {
			return c
		}
	}
	return nil
}

type podLister interface {
	List(ctx context.Context, opts metav1.ListOptions) (*corev1.PodList, error)
}

func (b *Builder) logPods(ctx context.Context, pods podLister, taskID string, seen map[string]string, log io.Writer) {
	list, err := pods.List(ctx, metav1.ListOptions{LabelSelector: LabelTaskID + "=" + taskID})
	if err != nil {
		return
	}
	for _, p := range list.Items {
		phase := string(p.Status.Phase)
		if phase == "" {
			phase = string(corev1.PodPending)
		}
		detail := ""
		for _, cs := range p.Status.ContainerStatuses {
			if w := cs.State.Waiting; w != nil && w.Reason != "" {
				detail = " (" + w.Reason + ")"
			}
			if tm := cs.State.Terminated; tm != nil {
				detail = fmt.Sprintf(" (exit code %d %s)", tm.ExitCode, tm.Reason)
			}
		}
		key := strings.ToLower(phase) + detail
		if seen[p.Name] == key {
			continue
		}
		seen[p.Name] = key
		fmt.Fprintf(log, "pod %s %s%s\n", p.Name, strings.ToLower(phase), detail)
	}
}
