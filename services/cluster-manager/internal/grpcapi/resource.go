package grpcapi

import (
	"context"
	"encoding/json"

	"github.com/darwinml/darwin/pkg/apierr"
	clustermanagerv1 "github.com/darwinml/darwin/proto/darwin/clustermanager/v1"
	"github.com/darwinml/darwin/services/cluster-manager/internal/resource"
)

func (s *Server) resources() (*resource.Service, error) {
	if s.res == nil {
		return nil, apierr.New(apierr.FailedPrecondition, "resource instances are not available on this cluster manager")
	}
	return s.res, nil
}

func (s *Server) artifactResponse(res *resource.Service, d resource.Doc) (*clustermanagerv1.ResourceArtifact, error) {
	vals, err := json.Marshal(d.Values)
	if err != nil {
		return nil, apierr.Wrap(apierr.Internal, err, "encode values")
	}
	return &clustermanagerv1.ResourceArtifact{ArtifactId: d.ArtifactID, DarwinResource: d.DarwinResource, Version: d.Version,
		ArtifactUrl: res.URL(d.DarwinResource, d.ArtifactID), ValuesJson: vals}, nil
}

// CreateResourceArtifact stores a resource artifact (values merged into the chart defaults).
func (s *Server) CreateResourceArtifact(ctx context.Context, req *clustermanagerv1.CreateResourceArtifactRequest) (*clustermanagerv1.ResourceArtifact, error) {
	res, err := s.resources()
	if err != nil {
		return nil, s.fail(ctx, "CreateResourceArtifact", err)
	}
	vals, err := resource.DecodeValues(req.GetValuesJson())
	if err != nil {
		return nil, s.fail(ctx, "CreateResourceArtifact", err)
	}
	d, _, err := res.Create(ctx, req.GetArtifactId(), req.GetDarwinResource(), req.GetVersion(), vals)
	if err != nil {
		return nil, s.fail(ctx, "CreateResourceArtifact", err)
	}
	return s.artifactResponse(res, d)
}

// UpdateResourceChart re-validates an artifact against the chart.
func (s *Server) UpdateResourceChart(ctx context.Context, req *clustermanagerv1.UpdateResourceChartRequest) (*clustermanagerv1.ResourceArtifact, error) {
	res, err := s.resources()
	if err != nil {
		return nil, s.fail(ctx, "UpdateResourceChart", err)
	}
	d, err := res.UpdateChart(ctx, req.GetArtifactId(), req.GetDarwinResource(), req.GetVersion())
	if err != nil {
		return nil, s.fail(ctx, "UpdateResourceChart", err)
	}
	return s.artifactResponse(res, d)
}

// UpdateResourceValues merges values into an artifact.
func (s *Server) UpdateResourceValues(ctx context.Context, req *clustermanagerv1.UpdateResourceValuesRequest) (*clustermanagerv1.ResourceArtifact, error) {
	res, err := s.resources()
	if err != nil {
		return nil, s.fail(ctx, "UpdateResourceValues", err)
	}
	if len(req.GetValuesJson()) == 0 {
		return nil, s.fail(ctx, "UpdateResourceValues", apierr.InvalidField("values", "values is mandatory"))
	}
	vals, err := resource.DecodeValues(req.GetValuesJson())
	if err != nil {
		return nil, s.fail(ctx, "UpdateResourceValues", err)
	}
	d, err := res.UpdateValues(ctx, req.GetArtifactId(), req.GetDarwinResource(), vals)
	if err != nil {
		return nil, s.fail(ctx, "UpdateResourceValues", err)
	}
	return s.artifactResponse(res, d)
}

// StartResource installs or upgrades a resource instance.
func (s *Server) StartResource(ctx context.Context, req *clustermanagerv1.StartResourceRequest) (*clustermanagerv1.StartResourceResponse, error) {
	res, err := s.resources()
	if err != nil {
		return nil, s.fail(ctx, "StartResource", err)
	}
	ctx = placed(ctx, req.GetKubeCluster(), req.GetKubeNamespace())
	if err := res.Start(ctx, req.GetResourceId(), req.GetArtifactId(), req.GetDarwinResource()); err != nil {
		return nil, s.fail(ctx, "StartResource", err)
	}
	return &clustermanagerv1.StartResourceResponse{ResourceId: req.GetResourceId()}, nil
}

// StopResource removes a resource instance.
func (s *Server) StopResource(ctx context.Context, req *clustermanagerv1.StopResourceRequest) (*clustermanagerv1.StopResourceResponse, error) {
	res, err := s.resources()
	if err != nil {
		return nil, s.fail(ctx, "StopResource", err)
	}
	ctx = placed(ctx, req.GetKubeCluster(), req.GetKubeNamespace())
	if err := res.Stop(ctx, req.GetResourceId()); err != nil {
		return nil, s.fail(ctx, "StopResource", err)
	}
	return &clustermanagerv1.StopResourceResponse{}, nil
}

// GetResourceStatus lists a resource instance's pods.
func (s *Server) GetResourceStatus(ctx context.Context, req *clustermanagerv1.GetResourceStatusRequest) (*clustermanagerv1.GetResourceStatusResponse, error) {
	res, err := s.resources()
	if err != nil {
		return nil, s.fail(ctx, "GetResourceStatus", err)
	}
	ctx = placed(ctx, req.GetKubeCluster(), req.GetKubeNamespace())
	st, err := res.Status(ctx, req.GetResourceId())
	if err != nil {
		return nil, s.fail(ctx, "GetResourceStatus", err)
	}
	resp := &clustermanagerv1.GetResourceStatusResponse{ResourceId: req.GetResourceId(), Installed: st.Installed, ArtifactId: st.ArtifactID, Url: st.URL}
	for _, p := range st.Pods {
		resp.Pods = append(resp.Pods, &clustermanagerv1.ResourcePod{Name: p.Name, Status: p.Status, Message: p.Message})
	}
	return resp, nil
}
