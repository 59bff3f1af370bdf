// Package charttest checks the Helm charts under helm/: every chart lints, the umbrella renders to the golden
// manifests in helm/testdata/golden for each preset and CI values file (-update rewrites them), the values
// schemas reject bad values, and the umbrella installs into a real kube-apiserver with the Helm SDK.
package charttest
