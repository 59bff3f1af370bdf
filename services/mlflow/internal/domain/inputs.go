package domain

import "github.com/darwinml/darwin/pkg/apierr"

// Dataset and input-tag limits (MLflow's utils/validation.py).
const (
	MaxDatasetNameSize       = 500
	MaxDatasetDigestSize     = 36
	MaxDatasetSourceTypeSize = 36
	MaxDatasetSourceSize     = 65535
	MaxDatasetSchemaSize     = 1048575
	MaxDatasetProfileSize    = 16777215
	MaxInputTagKeySize       = 255
	MaxInputTagValueSize     = 500
	MaxDatasetsPerRequest    = 1000
)

// TagLoggedModels is the run tag runs/log-model appends model metadata to (a JSON list).
const TagLoggedModels = "mlflow.log-model.history"

// Dataset is a dataset logged as a run input. Schema and Profile are optional; nil means unset.
type Dataset struct {
	Name       string
	Digest     string
	SourceType string
	Source     string
	Schema     *string
	Profile    *string
}

// InputTag is a tag on one dataset input of a run (e.g. mlflow.data.context = training).
type InputTag struct {
	Key   string
	Value string
}

// DatasetInput is a dataset used by a run, with the input's tags.
type DatasetInput struct {
	Tags    []InputTag
	Dataset Dataset
}

func exceedsLength(field string, n, limit int) error {
	return apierr.InvalidField(field, "'%s' exceeds the maximum length of %d characters (got %d)", field, limit, n)
}

// ValidateDatasetInputs checks runs/log-inputs datasets as MLflow does: required dataset fields, the size
// limits of every field and input tag, and at most MaxDatasetsPerRequest datasets.
func ValidateDatasetInputs(in []DatasetInput) error {
	if len(in) > MaxDatasetsPerRequest {
		return apierr.InvalidField("datasets", "A logging request can contain at most %d datasets. Got %d datasets. Please split up datasets across multiple requests and try again.", MaxDatasetsPerRequest, len(in))
	}
	for _, di := range in {
		d := di.Dataset
		switch {
		case d.Name == "":
			return apierr.InvalidField("name", "Dataset name cannot be empty")
		case d.Digest == "":
			return apierr.InvalidField("digest", "Dataset digest cannot be empty")
		case d.SourceType == "":
			return apierr.InvalidField("source_type", "Dataset source_type cannot be empty")
		case d.Source == "":
			return apierr.InvalidField("source", "Dataset source cannot be empty")
		case len(d.Name) > MaxDatasetNameSize:
			return exceedsLength("name", len(d.Name), MaxDatasetNameSize)
		case len(d.Digest) > MaxDatasetDigestSize:
			return exceedsLength("digest", len(d.Digest), MaxDatasetDigestSize)
		case len(d.SourceType) > MaxDatasetSourceTypeSize:
			return exceedsLength("source_type", len(d.SourceType), MaxDatasetSourceTypeSize)
		case len(d.Source) > MaxDatasetSourceSize:
			return exceedsLength("source", len(d.Source), MaxDatasetSourceSize)
		case d.Schema != nil && len(*d.Schema) > MaxDatasetSchemaSize:
			return exceedsLength("schema", len(*d.Schema), MaxDatasetSchemaSize)
		case d.Profile != nil && len(*d.Profile) > MaxDatasetProfileSize:
			return exceedsLength("profile", len(*d.Profile), MaxDatasetProfileSize)
		}
		for _, t := range di.Tags {
			switch {
			case t.Key == "":
				return apierr.InvalidField("key", "InputTag key cannot be empty")
			case len(t.Key) > MaxInputTagKeySize:
				return exceedsLength("key", len(t.Key), MaxInputTagKeySize)
			case len(t.Value) > MaxInputTagValueSize:
				return exceedsLength("value", len(t.Value), MaxInputTagValueSize)
			}
		}
	}
	return nil
}
