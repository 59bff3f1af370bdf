package kubebuild

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/darwinml/darwin/services/artifact-builder/internal/domain"
	"github.com/darwinml/darwin/services/cluster-manager/kubetest"
)

func TestMain(m *testing.M) { kubetest.Main(m) }

// syncBuf is a log the build goroutine writes while the test reads it.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type result struct {
	image string
	err   error
}

func setup(t *testing.T, cfg Config) (*Builder, kubernetes.Interface) {
	t.Helper()
	srv := kubetest.Shared(t)
	b, err := FromKubeconfig(srv.Kubeconfig, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b, b.client
}

func task() domain.Task {
	return domain.Task{TaskID: domain.NewTaskID(), Kind: domain.KindDockerfile, AppName: "demo-app", ImageTag: "v1.2",
		Params: domain.BuildParams{GitRepo: "https://github.com/example/demo.git", Branch: "release", AppDir: "services/api"}}
}

func start(ctx context.Context, b *Builder, tk domain.Task, log *syncBuf) chan result {
	ch := make(chan result, 1)
	go func() {
		img, err := b.Build(ctx, tk, log)
		ch <- result{img, err}
	}()
	return ch
}

func waitJob(t *testing.T, cs kubernetes.Interface, ns, name string) *batchv1.Job {
	t.Helper()
	for range 200 {
		j, err := cs.BatchV1().Jobs(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err == nil {
			return j
		}
		if !apierrors.IsNotFound(err) {
			t.Fatal(err)
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("job %s/%s never appeared", ns, name)
	return nil
}

func waitLog(t *testing.T, log *syncBuf, want string) {
	t.Helper()
	for range 200 {
		if strings.Contains(log.String(), want) {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("log never contained %q:\n%s", want, log.String())
}

// finish plays the Job controller: it sets the terminal conditions (with the ones the API server requires
// before them) through the status subresource.
func finish(t *testing.T, cs kubernetes.Interface, j *batchv1.Job, ok bool, reason, msg string) {
	t.Helper()
	now := metav1.Now()
	j.Status.StartTime = &now
	if ok {
		j.Status.Succeeded = 1
		j.Status.CompletionTime = &now
		j.Status.Conditions = []batchv1.JobCondition{
			{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: now},
		}
	} else {
		j.Status.Failed = 1
		j.Status.Conditions = []batchv1.JobCondition{
			{Type: batchv1.JobFailureTarget, Status: corev1.ConditionTrue, Reason: reason, Message: msg, LastTransitionTime: now},
			{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: reason, Message: msg, LastTransitionTime: now},
		}
	}
	if _, err := cs.BatchV1().Jobs(j.Namespace).UpdateStatus(context.Background(), j, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("update job status: %v", err)
	}
}

func recv(t *testing.T, ch chan result) result {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(20 * time.Second):
		t.Fatal("build did not return")
		return result{}
	}
}

func TestBuildCompletesWithImageAndRightJobSpec(t *testing.T) {
	b, cs := setup(t, Config{Namespace: "default", Registry: "registry.example.com/darwin/", RegistrySecret: "push-creds",
		Deadline: 45 * time.Minute, PollInterval: 20 * time.Millisecond})
	tk := task()
	log := &syncBuf{}
	ch := start(context.Background(), b, tk, log)
	j := waitJob(t, cs, "default", JobName(tk.TaskID))

	// The spec.
	if j.Labels[LabelTaskID] != tk.TaskID || j.Spec.Template.Labels[LabelTaskID] != tk.TaskID {
		t.Errorf("labels = %v / %v, want task id %s", j.Labels, j.Spec.Template.Labels, tk.TaskID)
	}
	if j.Spec.BackoffLimit == nil || *j.Spec.BackoffLimit != 0 {
		t.Errorf("backoffLimit = %v, want 0", j.Spec.BackoffLimit)
	}
	if d := j.Spec.ActiveDeadlineSeconds; d == nil || *d != 45*60 {
		t.Errorf("activeDeadlineSeconds = %v, want 2700", d)
	}
	if ttl := j.Spec.TTLSecondsAfterFinished; ttl == nil || *ttl != 3600 {
		t.Errorf("ttlSecondsAfterFinished = %v, want 3600", ttl)
	}
	ps := j.Spec.Template.Spec
	if ps.RestartPolicy != corev1.RestartPolicyNever || len(ps.Containers) != 1 {
		t.Fatalf("pod spec = %+v", ps)
	}
	c := ps.Containers[0]
	if c.Image != DefaultImage {
		t.Errorf("image = %q, want %q", c.Image, DefaultImage)
	}
	wantArgs := []string{
		"--context=git://github.com/example/demo.git#refs/heads/release",
		"--context-sub-path=services/api",
		"--dockerfile=Dockerfile",
		"--destination=registry.example.com/darwin/demo-app:v1.2",
	}
	if !slices.Equal(c.Args, wantArgs) {
		t.Errorf("args = %q, want %q", c.Args, wantArgs)
	}
	if len(c.VolumeMounts) != 1 || c.VolumeMounts[0].MountPath != "/kaniko/.docker" || len(ps.Volumes) != 1 ||
		ps.Volumes[0].Secret == nil || ps.Volumes[0].Secret.SecretName != "push-creds" ||
		ps.Volumes[0].Name != c.VolumeMounts[0].Name {
		t.Errorf("secret volume = %+v mounts %+v", ps.Volumes, c.VolumeMounts)
	}

	// A pod of the Job shows up and runs; its phases are logged.
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: j.Name + "-abcde", Namespace: "default",
		Labels: map[string]string{LabelTaskID: tk.TaskID}}, Spec: ps}
	pod, err := cs.CoreV1().Pods("default").Create(context.Background(), pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitLog(t, log, "pod "+pod.Name+" pending")
	pod.Status.Phase = corev1.PodRunning
	if _, err := cs.CoreV1().Pods("default").UpdateStatus(context.Background(), pod, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitLog(t, log, "pod "+pod.Name+" running")
	select {
	case r := <-ch:
		t.Fatalf("build returned before the job finished: %+v", r)
	default:
	}

	finish(t, cs, j, true, "", "")
	r := recv(t, ch)
	if r.err != nil || r.image != "registry.example.com/darwin/demo-app:v1.2" {
		t.Fatalf("build = %q, %v; want the image", r.image, r.err)
	}
	for _, want := range []string{"job default/" + j.Name + " created", "completed: pushed registry.example.com/darwin/demo-app:v1.2"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, log.String())
		}
	}
}

func TestBuildFailureReturnsReason(t *testing.T) {
	b, cs := setup(t, Config{Registry: "reg.local:5000", Image: "example.com/kaniko:pinned", PollInterval: 20 * time.Millisecond})
	tk := task()
	tk.Params.AppDir, tk.Params.Branch = "", ""
	log := &syncBuf{}
	ch := start(context.Background(), b, tk, log)
	j := waitJob(t, cs, DefaultNamespace, JobName(tk.TaskID))
	c := j.Spec.Template.Spec.Containers[0]
	if c.Image != "example.com/kaniko:pinned" {
		t.Errorf("image = %q", c.Image)
	}
	if slices.ContainsFunc(c.Args, func(a string) bool { return strings.HasPrefix(a, "--context-sub-path") }) ||
		c.Args[0] != "--context=git://github.com/example/demo.git#refs/heads/main" {
		t.Errorf("args = %q", c.Args)
	}
	if len(j.Spec.Template.Spec.Volumes) != 0 || len(c.VolumeMounts) != 0 {
		t.Errorf("no registry secret configured, yet volumes %+v", j.Spec.Template.Spec.Volumes)
	}
	finish(t, cs, j, false, "BackoffLimitExceeded", "Job has reached the specified backoff limit")
	r := recv(t, ch)
	if r.err == nil || r.image != "" || !strings.Contains(r.err.Error(), "BackoffLimitExceeded") ||
		!strings.Contains(r.err.Error(), "backoff limit") {
		t.Fatalf("build = %q, %v; want the failure reason", r.image, r.err)
	}
	if !strings.Contains(log.String(), "failed: BackoffLimitExceeded") {
		t.Errorf("log:\n%s", log.String())
	}
}

func TestCancelledBuildDeletesJob(t *testing.T) {
	b, cs := setup(t, Config{Namespace: "default", Registry: "reg.local", PollInterval: 20 * time.Millisecond})
	tk := task()
	tk.Params.Dockerfile = "FROM scratch\nCOPY . /app\n"
	log := &syncBuf{}
	ctx, cancel := context.WithCancel(context.Background())
	ch := start(ctx, b, tk, log)
	j := waitJob(t, cs, "default", JobName(tk.TaskID))
	// The uploaded Dockerfile is used instead of the repository's, from a ConfigMap owned by the Job.
	c := j.Spec.Template.Spec.Containers[0]
	if !slices.Contains(c.Args, "--dockerfile="+UploadedDockerfile) || slices.Contains(c.Args, "--dockerfile=Dockerfile") {
		t.Errorf("args = %q", c.Args)
	}
	vols := j.Spec.Template.Spec.Volumes
	if len(vols) != 1 || vols[0].ConfigMap == nil || vols[0].ConfigMap.Name != j.Name ||
		len(c.VolumeMounts) != 1 || c.VolumeMounts[0].MountPath+"/Dockerfile" != UploadedDockerfile {
		t.Errorf("volumes %+v mounts %+v", vols, c.VolumeMounts)
	}
	var cm *corev1.ConfigMap
	for range 200 {
		var err error
		if cm, err = cs.CoreV1().ConfigMaps("default").Get(context.Background(), j.Name, metav1.GetOptions{}); err == nil {
			break
		}
		time.Sleep(25 * time.Millisecond)
	}
	if cm == nil || cm.Data["Dockerfile"] != tk.Params.Dockerfile || len(cm.OwnerReferences) != 1 || cm.OwnerReferences[0].UID != j.UID {
		t.Fatalf("configmap %+v", cm)
	}
	cancel()
	r := recv(t, ch)
	if !errors.Is(r.err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", r.err)
	}
	// Deletion is asynchronous only for dependents; the Job object itself goes (or carries a deletion timestamp
	// while the garbage collector, absent here, would handle its pods).
	j, err := cs.BatchV1().Jobs("default").Get(context.Background(), JobName(tk.TaskID), metav1.GetOptions{})
	if err == nil && j.DeletionTimestamp == nil {
		t.Fatalf("job still exists after cancellation: %+v", j.ObjectMeta)
	} else if err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().ConfigMaps("default").Get(context.Background(), JobName(tk.TaskID), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("configmap after cancellation: %v, want not found", err)
	}
	if !strings.Contains(log.String(), "deleted") {
		t.Errorf("log:\n%s", log.String())
	}
}

func TestTimeoutShortensDeadlineAndRetriedTaskReplacesJob(t *testing.T) {
	b, cs := setup(t, Config{Registry: "reg.local", PollInterval: 20 * time.Millisecond})
	tk := task()
	// A Job left by an earlier attempt of the same task.
	old := b.Job(tk, time.Hour)
	old.Annotations["stale"] = "yes"
	if _, err := cs.BatchV1().Jobs(DefaultNamespace).Create(context.Background(), old, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	log := &syncBuf{}
	ch := start(ctx, b, tk, log)
	waitLog(t, log, "created")
	j := waitJob(t, cs, DefaultNamespace, JobName(tk.TaskID))
	if j.Annotations["stale"] != "" {
		t.Fatal("the stale job was not replaced")
	}
	if d := *j.Spec.ActiveDeadlineSeconds; d > 600 || d < 590 {
		t.Errorf("activeDeadlineSeconds = %d, want about 600 (the context's deadline)", d)
	}
	finish(t, cs, j, true, "", "")
	if r := recv(t, ch); r.err != nil {
		t.Fatal(r.err)
	}
}

func TestNotConfigured(t *testing.T) {
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	if _, err := FromKubeconfig("", Config{Registry: "r"}); !errors.Is(err, ErrNotConfigured) {
		t.Fatalf("err = %v, want ErrNotConfigured", err)
	}
	if _, err := FromKubeconfig("/nonexistent/kubeconfig", Config{Registry: "r"}); err == nil || errors.Is(err, ErrNotConfigured) {
		t.Fatalf("err = %v, want a load error", err)
	}
	if _, err := New(nil, Config{Registry: "r"}); err == nil {
		t.Fatal("nil client accepted")
	}
}
