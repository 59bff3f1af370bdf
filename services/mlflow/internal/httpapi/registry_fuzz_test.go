package httpapi

import (
	"net/url"
	"strconv"
	"testing"

	"github.com/darwinml/darwin/services/mlflow/internal/domain"
	"github.com/darwinml/darwin/services/mlflow/internal/search"
)

// FuzzDecodeRegistryRequests feeds arbitrary bodies and query strings to the registry request decoders and the
// registry filter/order parsers: every error must be BAD_REQUEST or INVALID_PARAMETER_VALUE, and a decoded
// version must be a string that either parses as a positive version or is rejected as INVALID_PARAMETER_VALUE.
func FuzzDecodeRegistryRequests(f *testing.F) {
	for _, s := range []struct{ body, query string }{
		{`{}`, ``},
		{`{"name":"m","tags":[{"key":"k","value":"v"}],"description":"d"}`, `name=m`},
		{`{"name":"m","new_name":"n"}`, `name=m&new_name=n`},
		{`{"name":"m","stages":["Production","staging"]}`, `name=m&stages=None&stages=Archived`},
		{`{"name":"m","alias":"champ","version":"1"}`, `name=m&alias=champ`},
		{`{"name":"m","alias":"champ","version":3}`, `name=m&version=3`},
		{`{"name":"m","version":1.5}`, `version=1e3`},
		{`{"name":"m","source":"s3://b/m","run_id":"abc","run_link":"http://x","tags":[]}`, ``},
		{`{"name":"m","version":"2","stage":"Production","archive_existing_versions":true}`, `archive_existing_versions=true`},
		{`{"name":"m","version":"2","key":"k","value":"v"}`, `name=m&version=2&key=k`},
		{`{"filter":"name LIKE 'a%' AND tags.k = 'v'","max_results":"10","order_by":["name DESC"],"page_token":"eyJvZmZzZXQiOjJ9"}`,
			`filter=name%3D%27x%27&max_results=100&order_by=timestamp+DESC&page_token=eyJvZmZzZXQiOjJ9`},
		{`{"filter":"run_id IN ('a','b') and version_number >= 2 and source_path = 's'"}`, `filter=run_id+IN+(%27a%27)`},
		{`{"version":"99999999999999999999"}`, `archive_existing_versions=maybe`},
		{`[1]`, `%zz`}, {`{"name":"m"} {}`, `stages=`}, {`{"version":null,"stages":null}`, `max_results=-1`},
	} {
		f.Add([]byte(s.body), s.query)
	}
	f.Fuzz(func(t *testing.T, body []byte, rawQuery string) {
		targets := []any{&registeredModelReq{}, &modelVersionReq{}, &registrySearchReq{}}
		q, qerr := url.ParseQuery(rawQuery)
		for _, dst := range targets {
			checkDecodeErr(t, decodeJSON(body, dst))
			if qerr == nil {
				checkDecodeErr(t, decodeQuery(q, dst))
			}
		}
		var mr modelVersionReq
		if decodeJSON(body, &mr) == nil && mr.Version != "" {
			n, err := domain.ParseVersion(string(mr.Version))
			if err == nil && (n <= 0 || strconv.FormatInt(n, 10) != string(mr.Version)) {
				t.Fatalf("version %q parsed as %d", mr.Version, n)
			}
			checkDecodeErr(t, err)
		}
		var sr registrySearchReq
		if decodeJSON(body, &sr) == nil {
			for _, target := range []search.RegistryTarget{search.RegisteredModels, search.ModelVersions} {
				_, err := search.ParseRegistryFilter(sr.Filter, target)
				checkDecodeErr(t, err)
				_, err = search.ParseRegistryOrderBy(sr.OrderBy, target)
				checkDecodeErr(t, err)
			}
		}
		var rr registeredModelReq
		if decodeJSON(body, &rr) == nil {
			for _, st := range rr.Stages {
				c, err := domain.CanonicalStage("stages", st)
				checkDecodeErr(t, err)
				if err == nil && c != domain.StageNone && c != domain.StageStaging && c != domain.StageProduction && c != domain.StageArchived {
					t.Fatalf("stage %q canonicalised to %q", st, c)
				}
			}
			checkDecodeErr(t, domain.ValidateModelName("name", rr.Name))
			if rr.Alias != "" {
				checkDecodeErr(t, domain.ValidateAlias(rr.Alias))
			}
		}
	})
}
