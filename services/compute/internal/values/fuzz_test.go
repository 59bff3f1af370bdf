package values_test

import (
	"testing"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/services/compute/internal/values"
)

// FuzzBuildEnvAndScript feeds arbitrary environment variable text and init script lines through the whole chain:
// it must either build a document whose containerEnv matches ParseEnv, or fail with an InvalidArgument naming a field.
func FuzzBuildEnvAndScript(f *testing.F) {
	f.Add("A=1\nB = two", "echo hi")
	f.Add("# c\n\nX=", "")
	f.Add("=1", "pip install x\x00")
	f.Add("1BAD=x\r\n", "\n\n")
	f.Fuzz(func(t *testing.T, env, script string) {
		in := fullInput()
		in.EnvironmentVariables = env
		in.InitScript = []string{script}
		doc, err := values.Build(in)
		if err != nil {
			if e := apierr.From(err); e.Kind != apierr.InvalidArgument || e.Field == "" {
				t.Fatalf("error must be InvalidArgument with a field: %v", err)
			}
			return
		}
		vars, err := values.ParseEnv("f", env)
		if err != nil {
			t.Fatalf("Build accepted env that ParseEnv rejects: %v", err)
		}
		for _, field := range []string{"head", "worker"} {
			l, _ := get(doc, field, "containerEnv").([]any)
			if len(l) != len(vars) {
				t.Fatalf("%s has %d env entries, want %d", field, len(l), len(vars))
			}
		}
	})
}
