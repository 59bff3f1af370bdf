// Package runtimes owns the runtime catalogues: the v1 table cluster_runtimes (GET /get-runtimes,
// POST /custom-runtime) and the v2 tables runtimes_v2, runtime_components_v2 and default_runtimes_v2
// (/runtime/v2/*). The Store resolves a runtime name to its image for cluster creation (domain.RuntimeResolver).
package runtimes

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/darwinml/darwin/pkg/apierr"
)

// DefaultNamespace is the namespace of v2 runtimes (the v2 tables have no namespace column).
const DefaultNamespace = "ray"

// DefaultUser is recorded when a request carries no user (the original's "user_not_passed").
const DefaultUser = "user_not_passed"

// V1 runtime types.
var v1Types = []string{"cpu", "gpu", "custom"}

// V2 classes and types.
const (
	ClassCPU    = "CPU"
	ClassGPU    = "GPU"
	ClassCustom = "CUSTOM"

	TypeRayOnly     = "Ray Only"
	TypeRayAndSpark = "Ray and Spark"
	TypeOthers      = "Others"

	// Grouping "types" of CUSTOM runtimes in get-all, relative to the caller.
	TypeCreatedByMe     = "Created By Me"
	TypeCreatedByOthers = "Created By Others"
)

// Classes lists the v2 classes in display order.
var Classes = []string{ClassCPU, ClassGPU, ClassCustom}

// Types lists the types of CPU and GPU runtimes in display order.
var Types = []string{TypeRayOnly, TypeRayAndSpark, TypeOthers}

// ComponentNames are the allowed component names.
var ComponentNames = []string{"Ray", "Spark", "Python", "R", "Scylla"}

// Field limits.
const (
	maxNameLen  = 255
	maxImageLen = 512
	maxLinkLen  = 2048
	maxUserLen  = 255
	maxVerLen   = 64
)

// V1 is a row of cluster_runtimes.
type V1 struct {
	Runtime   string `json:"runtime"`
	Image     string `json:"image"`
	Namespace string `json:"namespace"`
	CreatedBy string `json:"created_by"`
	Type      string `json:"type"`
}

// V1Summary is one entry of GET /get-runtimes.
type V1Summary struct {
	Name      string `json:"name"`
	CreatedBy string `json:"created_by"`
	Image     string `json:"image"`
}

// Component is one software component of a v2 runtime.
type Component struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// V2 is RuntimeV2Details.
type V2 struct {
	ID            int64       `json:"id"`
	Runtime       string      `json:"runtime"`
	Class         string      `json:"class"`
	Type          *string     `json:"type"`
	Image         string      `json:"image"`
	ReferenceLink *string     `json:"reference_link"`
	Components    []Component `json:"components"`
	CreatedBy     string      `json:"created_by"`
	CreatedAt     time.Time   `json:"created_at"`
	LastUpdatedBy string      `json:"last_updated_by"`
	LastUpdatedAt time.Time   `json:"last_updated_at"`
	IsDeleted     bool        `json:"is_deleted"`
	SparkConnect  bool        `json:"spark_connect"`
	SparkAutoInit bool        `json:"spark_auto_init"`
}

// V2Spec is a validated create/update request.
type V2Spec struct {
	Runtime       string
	Class         string
	Type          *string
	Image         string
	ReferenceLink *string
	Components    []Component
	User          string
	SetAsDefault  bool
	SparkConnect  bool
	SparkAutoInit bool
}

// V2Request is the body of POST /runtime/v2/create and /runtime/v2/update.
type V2Request struct {
	Runtime       *string            `json:"runtime"`
	Class         *string            `json:"class"`
	Type          *string            `json:"type"`
	Image         *string            `json:"image"`
	ReferenceLink *string            `json:"reference_link"`
	Components    []ComponentRequest `json:"components"`
	User          *string            `json:"user"`
	SetAsDefault  bool               `json:"set_as_default"`
	SparkConnect  bool               `json:"spark_connect"`
	SparkAutoInit bool               `json:"spark_auto_init"`
}

// ComponentRequest is one element of V2Request.Components.
type ComponentRequest struct {
	Name    *string `json:"name"`
	Version *string `json:"version"`
}

// V1Request is the body of POST /custom-runtime.
type V1Request struct {
	Runtime   *string `json:"runtime"`
	Image     *string `json:"image"`
	Namespace *string `json:"namespace"`
	CreatedBy *string `json:"created_by"`
	Type      *string `json:"type"`
}

// ListFilter is the body of POST /runtime/v2/get-all.
type ListFilter struct {
	SearchQuery *string `json:"search_query"`
	Offset      *int    `json:"offset"`
	PageSize    *int    `json:"page_size"`
	Class       *string `json:"class"`
	Type        *string `json:"type"`
	IsDeleted   *bool   `json:"is_deleted"`
}

// ClassGroup is one element of the get-all answer.
type ClassGroup struct {
	Class          string      `json:"class"`
	DefaultRuntime *string     `json:"default_runtime"`
	TotalCount     int         `json:"total_count"`
	Runtimes       []TypeGroup `json:"runtimes"`
}

// TypeGroup lists the runtimes of one type within a class.
type TypeGroup struct {
	Type        string `json:"type"`
	Count       int    `json:"count"`
	RuntimeList []V2   `json:"runtime_list"`
}

func checkText(field, v string, maxLen int, required bool) error {
	if required && strings.TrimSpace(v) == "" {
		return apierr.InvalidField(field, "%s is required", field)
	}
	if len(v) > maxLen {
		return apierr.InvalidField(field, "%s must be at most %d bytes", field, maxLen)
	}
	if !utf8.ValidString(v) || strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return apierr.InvalidField(field, "%s contains invalid characters", field)
	}
	return nil
}

// ValidateName checks a runtime name (used in URL paths, so no '/').
func ValidateName(field, name string) error {
	if err := checkText(field, name, maxNameLen, true); err != nil {
		return err
	}
	if strings.ContainsAny(name, "/?#%") || strings.TrimSpace(name) != name {
		return apierr.InvalidField(field, "%s must not contain '/', '?', '#', '%%' or surrounding spaces", field)
	}
	return nil
}

func validateImage(field, image string) error {
	if err := checkText(field, image, maxImageLen, true); err != nil {
		return err
	}
	if strings.ContainsAny(image, " \t") {
		return apierr.InvalidField(field, "%s must not contain spaces", field)
	}
	return nil
}

// Validate checks a v1 custom-runtime request and fills defaults (namespace "ray", created_by "Darwin",
// type "custom").
func (r V1Request) Validate() (V1, error) {
	out := V1{Namespace: DefaultNamespace, CreatedBy: "Darwin", Type: "custom"}
	if r.Runtime == nil {
		return V1{}, apierr.InvalidField("runtime", "runtime is required")
	}
	if err := ValidateName("runtime", *r.Runtime); err != nil {
		return V1{}, err
	}
	out.Runtime = *r.Runtime
	if r.Image == nil {
		return V1{}, apierr.InvalidField("image", "image is required")
	}
	if err := validateImage("image", *r.Image); err != nil {
		return V1{}, err
	}
	out.Image = *r.Image
	if r.Namespace != nil && *r.Namespace != "" {
		if err := ValidateName("namespace", *r.Namespace); err != nil {
			return V1{}, err
		}
		out.Namespace = *r.Namespace
	}
	if r.CreatedBy != nil && *r.CreatedBy != "" {
		if err := checkText("created_by", *r.CreatedBy, maxUserLen, true); err != nil {
			return V1{}, err
		}
		out.CreatedBy = *r.CreatedBy
	}
	if r.Type != nil {
		if !slices.Contains(v1Types, *r.Type) {
			return V1{}, apierr.InvalidField("type", "type must be one of %s", strings.Join(v1Types, ", "))
		}
		out.Type = *r.Type
	}
	return out, nil
}

// Validate checks a v2 create/update request against every rule of the v2 API.
func (r V2Request) Validate() (V2Spec, error) {
	var s V2Spec
	if r.Runtime == nil {
		return s, apierr.InvalidField("runtime", "runtime is required")
	}
	if err := ValidateName("runtime", *r.Runtime); err != nil {
		return s, err
	}
	s.Runtime = *r.Runtime
	if r.Class == nil {
		return s, apierr.InvalidField("class", "class is required")
	}
	if !slices.Contains(Classes, *r.Class) {
		return s, apierr.InvalidField("class", "class must be one of %s", strings.Join(Classes, ", "))
	}
	s.Class = *r.Class
	switch {
	case s.Class == ClassCustom && r.Type != nil:
		return s, apierr.InvalidField("type", "type must be null for CUSTOM runtimes")
	case s.Class != ClassCustom && r.Type == nil:
		return s, apierr.InvalidField("type", "type is required for %s runtimes", s.Class)
	case r.Type != nil && !slices.Contains(Types, *r.Type):
		return s, apierr.InvalidField("type", "type must be one of %s", strings.Join(Types, ", "))
	}
	if r.Type != nil {
		t := *r.Type
		s.Type = &t
	}
	if r.Image == nil {
		return s, apierr.InvalidField("image", "image is required")
	}
	if err := validateImage("image", *r.Image); err != nil {
		return s, err
	}
	s.Image = *r.Image
	if r.ReferenceLink != nil && *r.ReferenceLink != "" {
		if err := checkText("reference_link", *r.ReferenceLink, maxLinkLen, false); err != nil {
			return s, err
		}
		l := *r.ReferenceLink
		s.ReferenceLink = &l
	}
	seen := map[string]bool{}
	for i, c := range r.Components {
		field := fmt.Sprintf("components[%d]", i)
		if c.Name == nil || !slices.Contains(ComponentNames, *c.Name) {
			return s, apierr.InvalidField(field+".name", "%s.name must be one of %s", field, strings.Join(ComponentNames, ", "))
		}
		if seen[*c.Name] {
			return s, apierr.InvalidField(field+".name", "%s.name: component %q is listed twice", field, *c.Name)
		}
		seen[*c.Name] = true
		if c.Version == nil {
			return s, apierr.InvalidField(field+".version", "%s.version is required", field)
		}
		if err := checkText(field+".version", *c.Version, maxVerLen, true); err != nil {
			return s, err
		}
		s.Components = append(s.Components, Component{Name: *c.Name, Version: *c.Version})
	}
	if r.User == nil {
		return s, apierr.InvalidField("user", "user is required")
	}
	if err := checkText("user", *r.User, maxUserLen, true); err != nil {
		return s, err
	}
	s.User = *r.User
	if r.SetAsDefault && s.Class == ClassCustom {
		return s, apierr.InvalidField("set_as_default", "a CUSTOM runtime cannot be set as default")
	}
	s.SetAsDefault, s.SparkConnect, s.SparkAutoInit = r.SetAsDefault, r.SparkConnect, r.SparkAutoInit
	return s, nil
}

// normalizedFilter is a validated ListFilter.
type normalizedFilter struct {
	search    string
	offset    int
	pageSize  int
	class     string
	typ       string
	isDeleted bool
}

// MaxPageSize bounds page_size of get-all.
const MaxPageSize = 1000

func (f ListFilter) validate() (normalizedFilter, error) {
	n := normalizedFilter{offset: 0, pageSize: 100}
	if f.SearchQuery != nil {
		if err := checkText("search_query", *f.SearchQuery, maxNameLen, false); err != nil {
			return n, err
		}
		n.search = strings.TrimSpace(*f.SearchQuery)
	}
	if f.Offset != nil {
		if *f.Offset < 0 {
			return n, apierr.InvalidField("offset", "offset must be >= 0")
		}
		n.offset = *f.Offset
	}
	if f.PageSize != nil {
		if *f.PageSize < 1 || *f.PageSize > MaxPageSize {
			return n, apierr.InvalidField("page_size", "page_size must be between 1 and %d", MaxPageSize)
		}
		n.pageSize = *f.PageSize
	}
	if f.Class != nil && *f.Class != "" {
		if !slices.Contains(Classes, *f.Class) {
			return n, apierr.InvalidField("class", "class must be one of %s", strings.Join(Classes, ", "))
		}
		n.class = *f.Class
	}
	if f.Type != nil && *f.Type != "" {
		allowed := append(slices.Clone(Types), TypeCreatedByMe, TypeCreatedByOthers)
		switch n.class {
		case ClassCustom:
			allowed = []string{TypeCreatedByMe, TypeCreatedByOthers}
		case ClassCPU, ClassGPU:
			allowed = Types
		}
		if !slices.Contains(allowed, *f.Type) {
			return n, apierr.InvalidField("type", "type must be one of %s", strings.Join(allowed, ", "))
		}
		n.typ = *f.Type
	}
	if f.IsDeleted != nil {
		n.isDeleted = *f.IsDeleted
	}
	return n, nil
}

// groupRuntimes builds the get-all answer from the matching runtimes (ordered by name), the default runtime
// name per class and the caller's email.
func groupRuntimes(all []V2, defaults map[string]string, f normalizedFilter, caller string) []ClassGroup {
	classes := Classes
	if f.class != "" {
		classes = []string{f.class}
	}
	out := make([]ClassGroup, 0, len(classes))
	for _, class := range classes {
		g := ClassGroup{Class: class, Runtimes: []TypeGroup{}}
		if d, ok := defaults[class]; ok {
			g.DefaultRuntime = &d
		}
		types := Types
		if class == ClassCustom {
			types = []string{TypeCreatedByMe, TypeCreatedByOthers}
		}
		for _, typ := range types {
			if f.typ != "" && f.typ != typ {
				continue
			}
			var members []V2
			for _, rt := range all {
				if rt.Class == class && groupType(rt, caller) == typ {
					members = append(members, rt)
				}
			}
			tg := TypeGroup{Type: typ, Count: len(members), RuntimeList: []V2{}}
			if f.offset < len(members) {
				end := min(f.offset+f.pageSize, len(members))
				tg.RuntimeList = members[f.offset:end]
			}
			g.TotalCount += len(members)
			g.Runtimes = append(g.Runtimes, tg)
		}
		out = append(out, g)
	}
	return out
}

func groupType(rt V2, caller string) string {
	if rt.Class != ClassCustom {
		if rt.Type == nil {
			return ""
		}
		return *rt.Type
	}
	if caller != "" && strings.EqualFold(rt.CreatedBy, caller) {
		return TypeCreatedByMe
	}
	return TypeCreatedByOthers
}
