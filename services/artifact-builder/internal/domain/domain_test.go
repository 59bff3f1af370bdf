package domain

import (
	"strings"
	"testing"
)

func TestTaskIDs(t *testing.T) {
	a, b := NewTaskID(), NewTaskID()
	if a == b || !ValidTaskID(a) || len(a) != 35 || !strings.HasPrefix(a, "id-") {
		t.Fatalf("%q %q", a, b)
	}
	for _, bad := range []string{"", "id-", "id-XYZ", "id-" + strings.Repeat("A", 32), a + "0", "../" + a} {
		if ValidTaskID(bad) {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestDockerfileValidate(t *testing.T) {
	r := DockerfileRequest{AppName: "iris-serve", ImageTag: "iris-serve_v1.2", GitRepo: "ssh://git@h/o/r.git"}
	if err := r.Validate(); err != nil || r.Branch != "main" {
		t.Fatalf("%v %q", err, r.Branch)
	}
	for _, br := range []string{"feature/x", "v1.0", "release_2"} {
		r.Branch = br
		if err := r.Validate(); err != nil {
			t.Errorf("branch %q: %v", br, err)
		}
	}
	for _, br := range []string{"-x", "a..b", "a/", "x.lock", "a//b", "a b", "a~1", "a:b"} {
		r.Branch = br
		if err := r.Validate(); err == nil {
			t.Errorf("branch %q accepted", br)
		}
	}
}
