package kube

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
	utilexec "k8s.io/client-go/util/exec"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/services/cluster-manager/internal/driver"
)

// PodRef names a container in a pod.
type PodRef struct {
	Namespace string
	Pod       string
	Container string
}

// Executor runs a command inside a container, like `kubectl exec`. The
// driver calls it from one goroutine per pod; implementations must be safe
// for concurrent use.
//
// Contract (what the driver relies on, and what a fake must do):
//   - Exec blocks until the command has exited, the context is done, or the
//     command could not be run.
//   - The command's stdout and stderr are written to the given writers while
//     it runs (in any interleaving); the writers are not used after Exec
//     returns.
//   - A command that ran returns its exit status and a nil error: 0 for
//     success, the non-zero status otherwise.
//   - A command that could not be run or finish (pod or container missing,
//     pod not running, stream broken, ctx done) returns a non-nil error;
//     the exit code is then ignored. Context cancellation must surface as an
//     error wrapping ctx.Err().
type Executor interface {
	Exec(ctx context.Context, cfg *rest.Config, ref PodRef, command []string, stdout, stderr io.Writer) (exitCode int, err error)
}

// RemoteExecutor runs commands through the pods/exec subresource of the API
// server, over WebSocket with a fallback to SPDY.
type RemoteExecutor struct{}

// NewRemoteExecutor returns the real executor.
func NewRemoteExecutor() RemoteExecutor { return RemoteExecutor{} }

// Exec implements Executor.
func (RemoteExecutor) Exec(ctx context.Context, cfg *rest.Config, ref PodRef, command []string, stdout, stderr io.Writer) (int, error) {
	kc, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return -1, fmt.Errorf("kubernetes client: %w", err)
	}
	req := kc.CoreV1().RESTClient().Post().Resource("pods").Namespace(ref.Namespace).Name(ref.Pod).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{Container: ref.Container, Command: command, Stdout: true, Stderr: true}, scheme.ParameterCodec)
	ws, err := remotecommand.NewWebSocketExecutor(cfg, "GET", req.URL().String())
	if err != nil {
		return -1, fmt.Errorf("websocket executor: %w", err)
	}
	spdy, err := remotecommand.NewSPDYExecutor(cfg, "POST", req.URL())
	if err != nil {
		return -1, fmt.Errorf("spdy executor: %w", err)
	}
	exec, err := remotecommand.NewFallbackExecutor(ws, spdy, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	})
	if err != nil {
		return -1, fmt.Errorf("exec: %w", err)
	}
	err = exec.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: stdout, Stderr: stderr})
	var ee utilexec.ExitError
	if errors.As(err, &ee) && ee.Exited() {
		return ee.ExitStatus(), nil
	}
	if err != nil {
		return -1, fmt.Errorf("exec in %s/%s: %w", ref.Namespace, ref.Pod, err)
	}
	return 0, nil
}

const (
	maxOutput        = 64 << 10
	maxExecsPerClust = 200
	defaultExecLimit = 10 * time.Minute
)

type podExec struct {
	driver.PodExec
	out *tailBuffer
}

type execution struct {
	id      string
	started time.Time
	pods    []*podExec
}

type clusterExecs struct {
	order []string
	byID  map[string]*execution
}

// Exec starts the command in every Running pod of the target node type and
// returns the pods; each pod's progress is read with ExecStatus.
func (d *Driver) Exec(ctx context.Context, req driver.ExecRequest) ([]string, error) {
	if err := driver.ValidateName("cluster_name", req.Cluster); err != nil {
		return nil, err
	}
	target, err := driver.NormalizeTarget(req.Target)
	if err != nil {
		return nil, err
	}
	if req.Command == "" {
		return nil, apierr.InvalidField("command", "command is required")
	}
	if req.ExecutionID == "" {
		req.ExecutionID = fmt.Sprintf("exec-%d", d.clk.Now().UnixNano())
	}
	if err := driver.ValidateExecutionID("execution_id", req.ExecutionID); err != nil {
		return nil, err
	}
	timeout := req.Timeout
	if timeout <= 0 {
		timeout = defaultExecLimit
	}
	p := d.place(ctx, req.Cluster)
	t, err := d.targets.get(p.KubeCluster)
	if err != nil {
		return nil, err
	}
	pods, err := t.kube.CoreV1().Pods(p.Namespace).List(ctx, metav1.ListOptions{LabelSelector: podSelector(req.Cluster)})
	if err != nil {
		return nil, classify(t.name, "list pods", err)
	}
	ex := &execution{id: req.ExecutionID, started: d.clk.Now()}
	for i := range pods.Items {
		pod := &pods.Items[i]
		st := podStatus(pod)
		if st.Status != driver.PodRunning || (target != driver.TargetCluster && st.NodeType != target) {
			continue
		}
		container := ContainerWorker
		if st.NodeType == driver.NodeHead {
			container = ContainerHead
		}
		pe := &podExec{PodExec: driver.PodExec{Pod: pod.Name, Status: driver.ExecRunning}, out: &tailBuffer{max: maxOutput}}
		ex.pods = append(ex.pods, pe)
		ref := PodRef{Namespace: p.Namespace, Pod: pod.Name, Container: container}
		d.wg.Add(1)
		go d.runExec(ref, t.rest, req.Command, timeout, pe)
	}
	if len(ex.pods) == 0 {
		return nil, apierr.New(apierr.FailedPrecondition, "cluster %q has no running %s pods", req.Cluster, targetNoun(target))
	}
	sort.Slice(ex.pods, func(i, j int) bool { return ex.pods[i].Pod < ex.pods[j].Pod })
	d.recordExec(req.Cluster, ex)
	names := make([]string, len(ex.pods))
	for i, pe := range ex.pods {
		names[i] = pe.Pod
	}
	return names, nil
}

func targetNoun(target string) string {
	if target == driver.TargetCluster {
		return "head or worker"
	}
	return target
}

func (d *Driver) runExec(ref PodRef, cfg *rest.Config, command string, timeout time.Duration, pe *podExec) {
	defer d.wg.Done()
	ctx, cancel := context.WithTimeout(d.ctx, timeout)
	defer cancel()
	code, err := d.exec.Exec(ctx, cfg, ref, []string{"sh", "-c", command}, pe.out, pe.out)
	d.mu.Lock()
	defer d.mu.Unlock()
	pe.ExitCode = code
	switch {
	case err != nil:
		pe.Status, pe.ExitCode = driver.ExecFailed, -1
		pe.Message = err.Error()
		if errors.Is(err, context.DeadlineExceeded) {
			pe.Message = fmt.Sprintf("timed out after %s", timeout)
		}
	case code != 0:
		pe.Status = driver.ExecFailed
		pe.Message = fmt.Sprintf("exit code %d", code)
	default:
		pe.Status = driver.ExecSuccess
	}
}

func (d *Driver) recordExec(cluster string, ex *execution) {
	d.mu.Lock()
	defer d.mu.Unlock()
	ce := d.execs[cluster]
	if ce == nil {
		ce = &clusterExecs{byID: map[string]*execution{}}
		d.execs[cluster] = ce
	}
	if _, ok := ce.byID[ex.id]; !ok {
		ce.order = append(ce.order, ex.id)
	}
	ce.byID[ex.id] = ex
	for len(ce.order) > maxExecsPerClust {
		delete(ce.byID, ce.order[0])
		ce.order = ce.order[1:]
	}
}

// ExecStatus reports per-pod progress of an execution started by Exec.
func (d *Driver) ExecStatus(_ context.Context, cluster, executionID string) ([]driver.PodExec, error) {
	if err := driver.ValidateName("cluster_name", cluster); err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	ce := d.execs[cluster]
	if ce == nil || ce.byID[executionID] == nil {
		return nil, apierr.New(apierr.NotFound, "execution %q of cluster %q not found", executionID, cluster)
	}
	ex := ce.byID[executionID]
	out := make([]driver.PodExec, 0, len(ex.pods))
	for _, pe := range ex.pods {
		r := pe.PodExec
		r.Output = pe.out.String()
		out = append(out, r)
	}
	return out, nil
}

// tailBuffer keeps the last max bytes written; safe for concurrent use.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf bytes.Buffer
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := len(p)
	if len(p) > b.max {
		p = p[len(p)-b.max:]
	}
	if over := b.buf.Len() + len(p) - b.max; over > 0 {
		b.buf.Next(over)
	}
	b.buf.Write(p)
	return n, nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
