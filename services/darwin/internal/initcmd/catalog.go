// Package initcmd implements `darwin init`: the original init.sh presets
// (training, inference, --all, --dev-mode) turned into a Helm values file for
// the umbrella chart helm/darwin.
package initcmd

import "sort"

// Feature is one choice offered to the user; it enables a set of services.
type Feature struct {
	Name        string
	Description string
	Services    []string
}

// Features lists the choices in the order init.sh asks for them.
var Features = []Feature{
	{"compute", "Ray clusters (compute + cluster-manager)", []string{"compute", "cluster-manager"}},
	{"workspace", "Jupyter workspaces (needs compute)", []string{"workspace"}},
	{"feature_store", "online/offline feature store (app, admin, consumer)", []string{"feature-store"}},
	{"mlflow", "experiment tracking and model registry (mlflow + mlflow-app)", []string{"mlflow"}},
	{"serve", "model serving (ml-serve + artifact-builder, needs mlflow)", []string{"ml-serve", "artifact-builder"}},
	{"catalog", "data catalog", []string{"catalog"}},
	{"chronos", "event processing (chronos + consumer)", []string{"chronos"}},
	{"workflow", "workflows (needs compute)", []string{"workflow"}},
}

// Presets map the preset names to features, as init.sh's menu does.
var Presets = map[string][]string{
	"training":  {"compute", "mlflow"},
	"inference": {"serve", "mlflow"},
}

// presetMenu is the interactive order and labels of the presets.
var presetMenu = []struct{ name, label string }{
	{"training", "Training (Compute + MLFlow)"},
	{"inference", "Inference (Serve + MLFlow)"},
}

// Service is one top-level key of the umbrella chart helm/darwin (its values
// schema allows exactly these): the services it needs (resolved recursively)
// and the datastores it needs, after the original service-dependencies.yaml.
// An umbrella key stands for all the original's apps of that service
// (feature-store = app + admin + consumer, mlflow = mlflow + mlflow-app,
// chronos = chronos + consumer); datastores are mapped to the Go port's
// charts (mysql, kafka, cassandra, s3).
type Service struct {
	Name       string
	Requires   []string
	Datastores []string
	// Migrates: the chart runs `<service> migrate` in a Job (migration.hook) when the database is MySQL.
	Migrates bool
}

// Services lists every umbrella service in the order they are written.
var Services = []Service{
	{Name: "compute", Requires: []string{"cluster-manager"}, Datastores: []string{"mysql"}, Migrates: true},
	{Name: "cluster-manager"},
	{Name: "workspace", Requires: []string{"compute"}, Datastores: []string{"mysql"}},
	// feature-store keeps its metadata in MySQL and, by default, the online store in the embedded Pebble on its
	// chart's volume; Cassandra (feature-store.online.backend) and Kafka (feature-store.consumer) are opt-in.
	{Name: "feature-store", Datastores: []string{"mysql"}, Migrates: true},
	// mlflow keeps artifacts on its chart's volume by default (the original used S3/localstack); S3 is opt-in
	// through mlflow.artifacts.type=s3 with a bucket, so the development MinIO is not switched on for it.
	{Name: "mlflow", Datastores: []string{"mysql"}, Migrates: true},
	// ml-serve and artifact-builder keep everything in SQL (serves, deployments; the build queue and build logs)
	// and push images to a container registry, so the Go port needs MySQL for them and not the original's S3.
	{Name: "ml-serve", Requires: []string{"artifact-builder", "cluster-manager", "mlflow"}, Datastores: []string{"mysql"}, Migrates: true},
	{Name: "artifact-builder", Datastores: []string{"mysql"}, Migrates: true},
	{Name: "catalog", Datastores: []string{"mysql"}},
	{Name: "chronos", Datastores: []string{"mysql", "kafka"}},
	{Name: "workflow", Requires: []string{"compute", "cluster-manager"}, Datastores: []string{"mysql", "s3"}},
}

// Datastores are the umbrella's datastore charts (datastores.<name>.enabled).
var Datastores = []string{"mysql", "kafka", "cassandra", "s3"}

// Built is the set of services this repository ships a binary and chart for.
// Everything else stays selectable but is written disabled.
var Built = map[string]bool{
	"compute": true, "cluster-manager": true, "mlflow": true, "ml-serve": true, "artifact-builder": true,
	"feature-store": true,
}

func serviceByName(name string) (Service, bool) {
	for _, s := range Services {
		if s.Name == name {
			return s, true
		}
	}
	return Service{}, false
}

func featureByName(name string) (Feature, bool) {
	for _, f := range Features {
		if f.Name == name {
			return f, true
		}
	}
	return Feature{}, false
}

// Why a service is selected.
const (
	Direct     = "direct"
	Dependency = "dependency"
)

// Resolve turns chosen features into the selected services, each marked
// direct (part of a chosen feature) or dependency (pulled in, recursively).
func Resolve(features []string) (map[string]string, error) {
	selected := map[string]string{}
	var queue []string
	for _, name := range features {
		f, ok := featureByName(name)
		if !ok {
			return nil, &unknownError{"feature", name, featureNames()}
		}
		for _, s := range f.Services {
			if selected[s] != Direct {
				selected[s] = Direct
				queue = append(queue, s)
			}
		}
	}
	for len(queue) > 0 {
		name := queue[0]
		queue = queue[1:]
		svc, ok := serviceByName(name)
		if !ok {
			return nil, &unknownError{"service", name, nil}
		}
		for _, dep := range svc.Requires {
			if _, seen := selected[dep]; !seen {
				selected[dep] = Dependency
				queue = append(queue, dep)
			}
		}
	}
	return selected, nil
}

func featureNames() []string {
	names := make([]string, len(Features))
	for i, f := range Features {
		names[i] = f.Name
	}
	return names
}

func presetNames() []string {
	names := make([]string, 0, len(Presets))
	for n := range Presets {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

type unknownError struct {
	kind, name string
	valid      []string
}

func (e *unknownError) Error() string {
	msg := "unknown " + e.kind + " " + `"` + e.name + `"`
	if len(e.valid) > 0 {
		msg += " (valid: "
		for i, v := range e.valid {
			if i > 0 {
				msg += ", "
			}
			msg += v
		}
		msg += ")"
	}
	return msg
}
