package kube

import (
	"testing"

	"github.com/darwinml/darwin/services/cluster-manager/kubetest"
)

// One kube-apiserver for the whole package; each test works in its own
// namespace.
func TestMain(m *testing.M) { kubetest.Main(m) }
