package artifactbuilder_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/darwinml/darwin/pkg/testutil"
	artifactbuilder "github.com/darwinml/darwin/services/artifact-builder"
	"github.com/darwinml/darwin/services/artifact-builder/internal/kubebuild"
	"github.com/darwinml/darwin/services/artifact-builder/kaniko"
	"github.com/darwinml/darwin/services/cluster-manager/kubetest"
)

func TestMain(m *testing.M) { kubetest.Main(m) }

func TestKubeFlags(t *testing.T) {
	cfg := defaults(t)
	if cfg.KubeConfig != "" || cfg.KubeNamespace != "default" || cfg.KanikoImage != kubebuild.DefaultImage || artifactbuilder.DefaultKanikoImage != kubebuild.DefaultImage || artifactbuilder.DefaultKubeNamespace != kubebuild.DefaultNamespace || cfg.RegistrySecret != "" {
		t.Fatalf("kube defaults %+v", cfg)
	}
	cfg.DataDir = t.TempDir()
	cfg.KubeConfig = "/does/not/exist/kubeconfig"
	if _, err := kaniko.Builder(cfg); err == nil || !strings.Contains(err.Error(), "artifact-builder.kube-config") {
		t.Fatalf("New with a missing kubeconfig: %v", err)
	}
}

// TestDockerfileBuildRunsAsKanikoJob wires the Kaniko builder through -artifact-builder.kube-config: a
// build_with_dockerfile task becomes a Job on the real API server and completes when the Job does.
func TestDockerfileBuildRunsAsKanikoJob(t *testing.T) {
	srv := kubetest.Shared(t)
	cs, err := kubernetes.NewForConfig(srv.Config)
	if err != nil {
		t.Fatal(err)
	}
	cfg := defaults(t)
	cfg.DataDir = t.TempDir()
	cfg.Registry = "registry.example.com/darwin"
	cfg.PollInterval = 20 * time.Millisecond
	cfg.KubeConfig = srv.Kubeconfig
	cfg.KanikoImage = "example.com/kaniko/executor:test"
	cfg.RegistrySecret = "regcred"
	df, err := kaniko.Builder(cfg)
	if err != nil || df == nil {
		t.Fatalf("kaniko builder: %v, %v", df, err)
	}
	svc, err := artifactbuilder.New(cfg, artifactbuilder.Deps{Owner: "kube-replica", DockerfileBuilder: df})
	if err != nil {
		t.Fatal(err)
	}
	mod := svc.Module()
	if err := mod.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = mod.Stop(context.Background()) }()
	r := chi.NewRouter()
	svc.RegisterHTTP(r)
	hs := httptest.NewServer(r)
	defer hs.Close()
	c := client{t, hs.URL}

	form := url.Values{"app_name": {"fraud"}, "image_tag": {"v7"}, "git_repo": {"https://github.com/o/fraud"},
		"branch": {"dev"}, "app_dir": {"svc"}}.Encode()
	code, body := c.json(http.MethodPost, "/build_with_dockerfile", "application/x-www-form-urlencoded", form)
	id, _ := body["task_id"].(string)
	if code != 200 || id == "" {
		t.Fatalf("submit: %d %v", code, body)
	}
	var job *batchv1.Job
	testutil.Eventually(t, 20*time.Second, func() bool {
		job, err = cs.BatchV1().Jobs("default").Get(context.Background(), kubebuild.JobName(id), metav1.GetOptions{})
		return err == nil
	}, "the Kaniko job was not created")
	ctr := job.Spec.Template.Spec.Containers[0]
	if ctr.Image != "example.com/kaniko/executor:test" || !strings.Contains(strings.Join(ctr.Args, " "),
		"--context=git://github.com/o/fraud#refs/heads/dev --context-sub-path=svc --dockerfile=Dockerfile --destination=registry.example.com/darwin/fraud:v7") {
		t.Fatalf("container %+v", ctr)
	}
	if d := *job.Spec.ActiveDeadlineSeconds; d < 3500 || d > 3600 {
		t.Errorf("activeDeadlineSeconds %d, want about the 1h build timeout", d)
	}
	if _, st := c.json(http.MethodGet, "/task/status?task_id="+id, "", ""); st["build_status"] != "running" {
		t.Fatalf("status before the job finished: %v", st)
	}
	now := metav1.Now()
	job.Status = batchv1.JobStatus{StartTime: &now, CompletionTime: &now, Succeeded: 1, Conditions: []batchv1.JobCondition{
		{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue, LastTransitionTime: now},
		{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: now},
	}}
	if _, err := cs.BatchV1().Jobs("default").UpdateStatus(context.Background(), job, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	var st map[string]any
	testutil.Eventually(t, 20*time.Second, func() bool {
		_, st = c.json(http.MethodGet, "/task/status?task_id="+id, "", "")
		return st["build_status"] == "completed"
	}, "the build did not complete")
	if st["image_url"] != "registry.example.com/darwin/fraud:v7" {
		t.Fatalf("status %v", st)
	}
	if logs := c.text("/static/" + id + ".log"); !strings.Contains(logs, "job default/"+job.Name+" created") ||
		!strings.Contains(logs, "completed: pushed registry.example.com/darwin/fraud:v7") {
		t.Fatalf("logs:\n%s", logs)
	}
}
