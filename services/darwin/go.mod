module github.com/darwinml/darwin/services/darwin

go 1.26.0

require (
	github.com/darwinml/darwin/pkg v0.0.0
	github.com/darwinml/darwin/proto v0.0.0
	github.com/darwinml/darwin/services/cluster-manager v0.0.0
	github.com/darwinml/darwin/services/compute v0.0.0
)

replace (
	github.com/darwinml/darwin/pkg => ../../pkg
	github.com/darwinml/darwin/proto => ../../proto
	github.com/darwinml/darwin/services/cluster-manager => ../cluster-manager
	github.com/darwinml/darwin/services/compute => ../compute
)
