package grpcapi_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	"github.com/darwinml/darwin/pkg/clock"
	clustermanagerv1 "github.com/darwinml/darwin/proto/darwin/clustermanager/v1"
	"github.com/darwinml/darwin/services/cluster-manager/internal/artifact"
	"github.com/darwinml/darwin/services/cluster-manager/internal/driver"
	"github.com/darwinml/darwin/services/cluster-manager/internal/driver/drivertest"
	"github.com/darwinml/darwin/services/cluster-manager/internal/grpcapi"
	"github.com/darwinml/darwin/services/cluster-manager/internal/resource"
	"github.com/darwinml/darwin/services/cluster-manager/internal/resource/resourcetest"
)

func newResourceClient(t *testing.T, withResources bool) (clustermanagerv1.ClusterManagerServiceClient, *resourcetest.Runner) {
	t.Helper()
	runner := resourcetest.NewRunner()
	var res *resource.Service
	if withResources {
		store, err := artifact.Open(t.Context(), t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		res = resource.New(store, runner, clock.Real())
	}
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer()
	clustermanagerv1.RegisterClusterManagerServiceServer(srv, grpcapi.New(drivertest.New(), res, slog.New(slog.DiscardHandler)))
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient("passthrough:///bufnet",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return clustermanagerv1.NewClusterManagerServiceClient(conn), runner
}

func TestResourceFlow(t *testing.T) {
	t.Parallel()
	c, runner := newResourceClient(t, true)
	ctx := t.Context()
	art, err := c.CreateResourceArtifact(ctx, &clustermanagerv1.CreateResourceArtifactRequest{
		ArtifactId: "local-iris-1", DarwinResource: "darwin-fastapi-serve", Version: "1.0.0",
		ValuesJson: []byte(`{"name":"iris","replicas":{"min":2,"max":4},"envs":{"MLFLOW_MODEL_URI":"models:/iris/1"}}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	var vals map[string]any
	if err := json.Unmarshal(art.GetValuesJson(), &vals); err != nil {
		t.Fatal(err)
	}
	if art.GetVersion() != "1.0.0" || art.GetArtifactUrl() == "" || vals["hpa"].(map[string]any)["minReplicas"] != 2.0 ||
		vals["image"].(map[string]any)["repository"] != "localhost:5000/serve-md-runtime" {
		t.Fatalf("artifact %v %v", art, vals)
	}
	art, err = c.UpdateResourceValues(ctx, &clustermanagerv1.UpdateResourceValuesRequest{ArtifactId: "local-iris-1", DarwinResource: "darwin-fastapi-serve",
		ValuesJson: []byte(`{"replicas":{"min":3}}`)})
	if err != nil || !json.Valid(art.GetValuesJson()) {
		t.Fatalf("update values: %v %v", art, err)
	}
	if _, err := c.UpdateResourceChart(ctx, &clustermanagerv1.UpdateResourceChartRequest{ArtifactId: "local-iris-1", DarwinResource: "darwin-fastapi-serve"}); err != nil {
		t.Fatal(err)
	}
	st, err := c.StartResource(ctx, &clustermanagerv1.StartResourceRequest{ResourceId: "local-iris", ArtifactId: "local-iris-1",
		DarwinResource: "darwin-fastapi-serve", KubeCluster: "kind-0", KubeNamespace: "serve"})
	if err != nil || st.GetResourceId() != "local-iris" {
		t.Fatalf("start: %v %v", st, err)
	}
	call := runner.Last()
	if call.Placement != (driver.Placement{KubeCluster: "kind-0", Namespace: "serve"}) || call.Doc.Values["hpa"].(map[string]any)["minReplicas"] != 3.0 {
		t.Fatalf("runner call %+v", call)
	}
	runner.Pods["local-iris"] = []resource.Pod{{Name: "local-iris-a", Status: "Running"}}
	gs, err := c.GetResourceStatus(ctx, &clustermanagerv1.GetResourceStatusRequest{ResourceId: "local-iris"})
	if err != nil || !gs.GetInstalled() || gs.GetArtifactId() != "local-iris-1" || len(gs.GetPods()) != 1 || gs.GetPods()[0].GetStatus() != "Running" || gs.GetUrl() == "" {
		t.Fatalf("status: %v %v", gs, err)
	}
	if _, err := c.StopResource(ctx, &clustermanagerv1.StopResourceRequest{ResourceId: "local-iris"}); err != nil {
		t.Fatal(err)
	}
	gs, err = c.GetResourceStatus(ctx, &clustermanagerv1.GetResourceStatusRequest{ResourceId: "local-iris"})
	if err != nil || gs.GetInstalled() || len(gs.GetPods()) != 0 {
		t.Fatalf("status after stop: %v %v", gs, err)
	}
}

func TestResourceErrors(t *testing.T) {
	t.Parallel()
	c, _ := newResourceClient(t, true)
	ctx := t.Context()
	cases := []struct {
		name string
		call func() error
		code codes.Code
	}{
		{"values not an object", func() error {
			_, err := c.CreateResourceArtifact(ctx, &clustermanagerv1.CreateResourceArtifactRequest{ArtifactId: "a", DarwinResource: "darwin-fastapi-serve", ValuesJson: []byte(`[1]`)})
			return err
		}, codes.InvalidArgument},
		{"unknown chart", func() error {
			_, err := c.CreateResourceArtifact(ctx, &clustermanagerv1.CreateResourceArtifactRequest{ArtifactId: "a", DarwinResource: "nope"})
			return err
		}, codes.InvalidArgument},
		{"schema rejection", func() error {
			_, err := c.CreateResourceArtifact(ctx, &clustermanagerv1.CreateResourceArtifactRequest{ArtifactId: "a", DarwinResource: "darwin-fastapi-serve", ValuesJson: []byte(`{"containerPort":70000}`)})
			return err
		}, codes.InvalidArgument},
		{"update values of a missing artifact", func() error {
			_, err := c.UpdateResourceValues(ctx, &clustermanagerv1.UpdateResourceValuesRequest{ArtifactId: "missing", DarwinResource: "darwin-fastapi-serve", ValuesJson: []byte(`{}`)})
			return err
		}, codes.NotFound},
		{"update values without values", func() error {
			_, err := c.UpdateResourceValues(ctx, &clustermanagerv1.UpdateResourceValuesRequest{ArtifactId: "missing", DarwinResource: "darwin-fastapi-serve"})
			return err
		}, codes.InvalidArgument},
		{"start of a missing artifact", func() error {
			_, err := c.StartResource(ctx, &clustermanagerv1.StartResourceRequest{ResourceId: "x", ArtifactId: "missing", DarwinResource: "darwin-fastapi-serve"})
			return err
		}, codes.NotFound},
		{"bad resource id", func() error {
			_, err := c.GetResourceStatus(ctx, &clustermanagerv1.GetResourceStatusRequest{ResourceId: "Bad_Id"})
			return err
		}, codes.InvalidArgument},
		{"stop of an unknown instance", func() error {
			_, err := c.StopResource(ctx, &clustermanagerv1.StopResourceRequest{ResourceId: "ghost"})
			return err
		}, codes.NotFound},
	}
	for _, tc := range cases {
		if got := status.Code(tc.call()); got != tc.code {
			t.Errorf("%s: code %v, want %v", tc.name, got, tc.code)
		}
	}
	// Without a resource service the RPCs are FailedPrecondition.
	bare, _ := newResourceClient(t, false)
	if _, err := bare.GetResourceStatus(ctx, &clustermanagerv1.GetResourceStatusRequest{ResourceId: "x"}); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("without resources: %v", err)
	}
}
