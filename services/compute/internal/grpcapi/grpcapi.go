// Package grpcapi serves ComputeService (proto darwin.compute.v1) over the domain service.
package grpcapi

import (
	"context"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/darwinml/darwin/pkg/apierr"
	computev1 "github.com/darwinml/darwin/proto/darwin/compute/v1"
	"github.com/darwinml/darwin/services/compute/internal/domain"
)

// Server implements computev1.ComputeServiceServer.
type Server struct {
	computev1.UnimplementedComputeServiceServer
	svc *domain.Service
}

// New returns the gRPC server over svc.
func New(svc *domain.Service) *Server { return &Server{svc: svc} }

func (s *Server) view(ctx context.Context, cs domain.ClusterWithStatus) *computev1.Cluster {
	c := cs.Cluster
	return &computev1.Cluster{
		ClusterId: c.ID, Name: c.Name, Status: domain.UIStatus(cs.Status.Status), InternalStatus: cs.Status.Status,
		Runtime: c.Runtime, User: c.User, IsJobCluster: c.IsJobCluster, CreatedOn: timestamppb.New(c.CreatedOn),
		Dashboards: s.svc.DashboardURLs(ctx, &c, false), ActiveRunId: cs.Status.ActiveRunID,
	}
}

func need(field, v string) error {
	if v == "" {
		return apierr.ToGRPC(apierr.InvalidField(field, "%s is required", field))
	}
	return nil
}

// CreateCluster decodes the REST ClusterRequest JSON and creates the cluster.
func (s *Server) CreateCluster(ctx context.Context, req *computev1.CreateClusterRequest) (*computev1.CreateClusterResponse, error) {
	r, err := domain.DecodeClusterRequest(req.GetClusterRequestJson())
	if err != nil {
		return nil, apierr.ToGRPC(err)
	}
	res, err := s.svc.Create(ctx, r)
	if err != nil {
		return nil, apierr.ToGRPC(err)
	}
	return &computev1.CreateClusterResponse{ClusterId: res.Cluster.ID}, nil
}

// GetCluster returns one cluster.
func (s *Server) GetCluster(ctx context.Context, req *computev1.GetClusterRequest) (*computev1.Cluster, error) {
	if err := need("cluster_id", req.GetClusterId()); err != nil {
		return nil, err
	}
	cs, err := s.svc.Get(ctx, req.GetClusterId())
	if err != nil {
		return nil, apierr.ToGRPC(err)
	}
	return s.view(ctx, cs), nil
}

// ListClusters searches clusters.
func (s *Server) ListClusters(ctx context.Context, req *computev1.ListClustersRequest) (*computev1.ListClustersResponse, error) {
	size := int(req.GetPageSize())
	if size == 0 {
		size = 100
	}
	if size < 0 || size > 1000 || req.GetOffset() < 0 {
		return nil, apierr.ToGRPC(apierr.InvalidField("page_size", "page_size must be between 1 and 1000 and offset not negative"))
	}
	job := req.GetIsJobCluster()
	list, total, err := s.svc.Search(ctx, domain.SearchQuery{Query: req.GetQuery(), Limit: size, Offset: int(req.GetOffset()),
		IsJobCluster: &job, SortBy: "created_on", SortDesc: true})
	if err != nil {
		return nil, apierr.ToGRPC(err)
	}
	out := &computev1.ListClustersResponse{Total: int32(total)}
	for _, cs := range list {
		out.Clusters = append(out.Clusters, s.view(ctx, cs))
	}
	return out, nil
}

func (s *Server) action(ctx context.Context, req *computev1.ClusterActionRequest, fn func(id, user string) error) (*computev1.ClusterActionResponse, error) {
	if err := need("cluster_id", req.GetClusterId()); err != nil {
		return nil, err
	}
	user := req.GetUser()
	if user == "" {
		user = "grpc"
	}
	if err := fn(req.GetClusterId(), user); err != nil {
		return nil, apierr.ToGRPC(err)
	}
	resp := &computev1.ClusterActionResponse{ClusterId: req.GetClusterId()}
	if st, err := s.svc.Metadata(ctx, req.GetClusterId()); err == nil {
		resp.Status = domain.UIStatus(st.Status)
	}
	return resp, nil
}

// StartCluster starts a cluster.
func (s *Server) StartCluster(ctx context.Context, req *computev1.ClusterActionRequest) (*computev1.ClusterActionResponse, error) {
	return s.action(ctx, req, func(id, user string) error { _, err := s.svc.Start(ctx, id, user); return err })
}

// StopCluster stops a cluster.
func (s *Server) StopCluster(ctx context.Context, req *computev1.ClusterActionRequest) (*computev1.ClusterActionResponse, error) {
	return s.action(ctx, req, func(id, user string) error { return s.svc.Stop(ctx, id, user) })
}

// RestartCluster restarts a cluster.
func (s *Server) RestartCluster(ctx context.Context, req *computev1.ClusterActionRequest) (*computev1.ClusterActionResponse, error) {
	return s.action(ctx, req, func(id, user string) error { _, err := s.svc.Restart(ctx, id, user); return err })
}

// DeleteCluster deletes an inactive cluster.
func (s *Server) DeleteCluster(ctx context.Context, req *computev1.ClusterActionRequest) (*computev1.ClusterActionResponse, error) {
	if err := need("cluster_id", req.GetClusterId()); err != nil {
		return nil, err
	}
	if err := s.svc.Delete(ctx, req.GetClusterId()); err != nil {
		return nil, apierr.ToGRPC(err)
	}
	return &computev1.ClusterActionResponse{ClusterId: req.GetClusterId(), Status: "deleted"}, nil
}
