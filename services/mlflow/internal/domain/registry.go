package domain

import (
	"strconv"
	"strings"

	"github.com/darwinml/darwin/pkg/apierr"
)

// Model version stages (MLflow's canonical spellings) and status.
const (
	StageNone       = "None"
	StageStaging    = "Staging"
	StageProduction = "Production"
	StageArchived   = "Archived"

	ModelVersionReady = "READY"
)

// AllStages lists the stages in MLflow's order (get-latest-versions with no stages returns them in this order).
var AllStages = []string{StageNone, StageStaging, StageProduction, StageArchived}

// Registry limits.
const (
	MaxRegisteredModelNameLen  = 256
	MaxRegistryTagValueLen     = 5000
	MaxRegistryDescriptionLen  = 5000
	MaxModelAliasLen           = 255
	MaxModelVersionSourceLen   = 4000
	MaxModelVersionRunLinkLen  = 500
	DefaultModelSearchResults  = 100
	MaxModelSearchResults      = 1000
	DefaultVersionSearchResult = 10000
	MaxVersionSearchResults    = 200000
)

// RegisteredModel is a registered model with its latest version per stage, tags and aliases.
type RegisteredModel struct {
	Name                 string
	CreationTimestamp    int64
	LastUpdatedTimestamp int64
	UserID               string
	Description          string
	LatestVersions       []ModelVersion
	Tags                 []Tag
	Aliases              []ModelAlias
}

// ModelAlias points an alias of a registered model at one of its versions.
type ModelAlias struct {
	Alias   string
	Version string
}

// ModelVersion is one version of a registered model.
type ModelVersion struct {
	Name                 string
	Version              string
	CreationTimestamp    int64
	LastUpdatedTimestamp int64
	UserID               string
	CurrentStage         string
	Description          string
	Source               string
	RunID                string
	Status               string
	RunLink              string
	Tags                 []Tag
	Aliases              []string
}

// CanonicalStage maps a stage name case-insensitively to MLflow's spelling; field names the request field for
// the error.
func CanonicalStage(field, stage string) (string, error) {
	for _, s := range AllStages {
		if strings.EqualFold(s, stage) {
			return s, nil
		}
	}
	return "", apierr.InvalidField(field, "Invalid Model Version stage: %s. Value must be one of %s.", stage, strings.Join(AllStages, ", "))
}

// ValidateModelName checks a registered model name: non-empty, at most 256 bytes, no '/' (it separates the
// name from the version in models:/ URIs) and no control characters.
func ValidateModelName(field, name string) error {
	if strings.TrimSpace(name) == "" {
		return apierr.InvalidField(field, "Registered model name cannot be empty.")
	}
	if len(name) > MaxRegisteredModelNameLen {
		return apierr.InvalidField(field, "Registered model name had length %d, which exceeded length limit of %d", len(name), MaxRegisteredModelNameLen)
	}
	if strings.ContainsRune(name, '/') {
		return apierr.InvalidField(field, "Invalid registered model name '%s': names may not contain '/'", truncate(name))
	}
	for _, c := range name {
		if c < 0x20 || c == 0x7f {
			return apierr.InvalidField(field, "Invalid registered model name '%s': names may not contain control characters", truncate(name))
		}
	}
	return nil
}

// ParseVersion parses a model version number ("1", "42"): a positive decimal integer.
func ParseVersion(v string) (int64, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 || strings.HasPrefix(v, "+") {
		return 0, apierr.InvalidField("version", "Parameter 'version' must be an integer, got '%s'.", truncate(v))
	}
	return n, nil
}

// ValidateRegistryTag checks a registered model or model version tag.
func ValidateRegistryTag(t Tag) error {
	if err := ValidateKey("tag", t.Key); err != nil {
		return err
	}
	if len(t.Value) > MaxRegistryTagValueLen {
		return apierr.InvalidField("value", "Tag value had length %d, which exceeded length limit of %d", len(t.Value), MaxRegistryTagValueLen)
	}
	return nil
}

// ValidateDescription checks a registered model or model version description.
func ValidateDescription(d string) error {
	if len(d) > MaxRegistryDescriptionLen {
		return apierr.InvalidField("description", "Description had length %d, which exceeded length limit of %d", len(d), MaxRegistryDescriptionLen)
	}
	return nil
}

// ValidateAlias checks an alias name as MLflow does: non-empty, at most 255 characters, not the reserved
// "latest" and not of the form v<number> (which would read as a version).
func ValidateAlias(alias string) error {
	if alias == "" {
		return apierr.InvalidField("alias", "Missing value for required parameter 'alias'.")
	}
	if len(alias) > MaxModelAliasLen {
		return apierr.InvalidField("alias", "Alias name had length %d, which exceeded length limit of %d", len(alias), MaxModelAliasLen)
	}
	if strings.EqualFold(alias, "latest") {
		return apierr.InvalidField("alias", "'%s' alias name (case insensitive) is reserved.", alias)
	}
	if len(alias) > 1 && (alias[0] == 'v' || alias[0] == 'V') {
		if _, err := strconv.ParseUint(alias[1:], 10, 64); err == nil {
			return apierr.InvalidField("alias", "Version alias name '%s' is reserved.", alias)
		}
	}
	if strings.ContainsAny(alias, "/@") {
		return apierr.InvalidField("alias", "Invalid alias name '%s': aliases may not contain '/' or '@'", truncate(alias))
	}
	for _, c := range alias {
		if c < 0x20 || c == 0x7f {
			return apierr.InvalidField("alias", "Invalid alias name '%s': aliases may not contain control characters", truncate(alias))
		}
	}
	return nil
}
