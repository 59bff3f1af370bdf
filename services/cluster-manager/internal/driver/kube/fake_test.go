package kube

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"

	"k8s.io/client-go/rest"
)

// fakeExecutor stands in for the pods/exec subresource, which needs a
// kubelet that the test API server does not have. It honours the Executor
// contract:
//   - it writes "<pod>/<container>: <command>\n" to stdout, then blocks
//     while the pod is listed in block (until unblocked or ctx is done —
//     ctx.Err() is returned wrapped, like a broken stream);
//   - a pod listed in fail returns that exit status with a nil error (the
//     command ran and failed), writing "boom" to stderr;
//   - a pod listed in broken returns an error (the command could not run);
//   - every other pod exits 0.
//
// It records every call for assertions.
type fakeExecutor struct {
	mu     sync.Mutex
	calls  []PodRef
	cmds   [][]string
	fail   map[string]int
	broken map[string]bool
	block  map[string]chan struct{}
}

func newFakeExecutor() *fakeExecutor {
	return &fakeExecutor{fail: map[string]int{}, broken: map[string]bool{}, block: map[string]chan struct{}{}}
}

func (f *fakeExecutor) Exec(ctx context.Context, _ *rest.Config, ref PodRef, command []string, stdout, stderr io.Writer) (int, error) {
	f.mu.Lock()
	f.calls = append(f.calls, ref)
	f.cmds = append(f.cmds, command)
	code, fails := f.fail[ref.Pod]
	broken := f.broken[ref.Pod]
	ch := f.block[ref.Pod]
	f.mu.Unlock()
	if broken {
		return -1, fmt.Errorf("pod %s: container %s not found", ref.Pod, ref.Container)
	}
	fmt.Fprintf(stdout, "%s/%s: %s\n", ref.Pod, ref.Container, strings.Join(command, " "))
	if ch != nil {
		select {
		case <-ch:
		case <-ctx.Done():
			return -1, fmt.Errorf("stream: %w", ctx.Err())
		}
	}
	if fails {
		fmt.Fprintln(stderr, "boom")
		return code, nil
	}
	return 0, nil
}

func (f *fakeExecutor) called() []PodRef {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]PodRef(nil), f.calls...)
}
