module github.com/darwinml/darwin/services/cluster-manager

go 1.26.0

require (
	github.com/darwinml/darwin/pkg v0.0.0
	github.com/darwinml/darwin/proto v0.0.0
)

replace (
	github.com/darwinml/darwin/pkg => ../../pkg
	github.com/darwinml/darwin/proto => ../../proto
)
