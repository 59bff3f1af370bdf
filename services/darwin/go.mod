module github.com/darwinml/darwin/services/darwin

go 1.26.0

require (
	github.com/darwinml/darwin/pkg v0.0.0
	github.com/darwinml/darwin/proto v0.0.0
	github.com/darwinml/darwin/services/cluster-manager v0.0.0
	github.com/darwinml/darwin/services/compute v0.0.0
	github.com/spf13/cobra v1.10.2
	go.yaml.in/yaml/v3 v3.0.6
)

require (
	github.com/inconshreveable/mousetrap v1.1.0 // indirect
	github.com/spf13/pflag v1.0.9 // indirect
)

replace (
	github.com/darwinml/darwin/pkg => ../../pkg
	github.com/darwinml/darwin/proto => ../../proto
	github.com/darwinml/darwin/services/cluster-manager => ../cluster-manager
	github.com/darwinml/darwin/services/compute => ../compute
)
