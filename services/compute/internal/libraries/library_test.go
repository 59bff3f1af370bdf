package libraries_test

import (
	"strings"
	"testing"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/services/compute/internal/libraries"
)

func install(source string, name, version, path *string, meta map[string]any) libraries.InstallRequest {
	return libraries.InstallRequest{Source: &source, Body: &libraries.InstallBody{Name: name, Version: version, Path: path, Metadata: meta}}
}

func TestInstallCommands(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name             string
		req              libraries.InstallRequest
		wantType, wantNm string
		wantCmd          string
	}{
		{"pypi", install("pypi", ptr("numpy"), nil, nil, nil), "pypi", "numpy", "pip install numpy"},
		{"pypi version", install("pypi", ptr("numpy"), ptr("1.26.4"), nil, nil), "pypi", "numpy", "pip install numpy==1.26.4"},
		{"pypi extras", install("pypi", ptr("ray[default]"), ptr("2.37.0"), nil, nil), "pypi", "ray[default]", "pip install ray[default]==2.37.0"},
		{"pypi index", install("pypi", ptr("mylib"), ptr("0.1"), ptr("https://pypi.internal:8443/simple"), nil), "pypi", "mylib",
			"pip install mylib==0.1 --index-url https://pypi.internal:8443/simple --trusted-host pypi.internal"},
		{"pypi whl", install("pypi", ptr("https://files.example.com/pkg-1.0-py3-none-any.whl"), nil, nil, nil), "whl",
			"https://files.example.com/pkg-1.0-py3-none-any.whl", "pip install https://files.example.com/pkg-1.0-py3-none-any.whl"},
		{"maven", install("maven", ptr("org.apache.spark:spark-avro_2.12"), ptr("3.5.0"), nil, map[string]any{"repository": "maven"}), "maven_jar",
			"org.apache.spark:spark-avro_2.12",
			"mkdir -p /home/ray/darwin_pkgs/jars; mvn dependency:copy -Dartifact=org.apache.spark:spark-avro_2.12:3.5.0 -DoutputDirectory=/home/ray/darwin_pkgs/jars"},
		{"s3 whl", install("s3", nil, nil, ptr("s3://bucket/pk/a-1.0-py3-none-any.whl"), nil), "whl", "a-1.0-py3-none-any.whl",
			"mkdir -p /home/ray/darwin_pkgs/python; aws s3 cp s3://bucket/pk/a-1.0-py3-none-any.whl /home/ray/darwin_pkgs/python/a-1.0-py3-none-any.whl; pip install /home/ray/darwin_pkgs/python/a-1.0-py3-none-any.whl"},
		{"s3 txt", install("s3", nil, nil, ptr("s3://bucket/requirements.txt"), nil), "txt", "requirements.txt",
			"mkdir -p /home/ray/darwin_pkgs/python; aws s3 cp s3://bucket/requirements.txt /home/ray/darwin_pkgs/python/requirements.txt; pip install -r /home/ray/darwin_pkgs/python/requirements.txt"},
		{"s3 jar", install("s3", nil, nil, ptr("s3://bucket/x.jar"), nil), "jar", "x.jar",
			"mkdir -p /home/ray/darwin_pkgs/jars; aws s3 cp s3://bucket/x.jar /home/ray/darwin_pkgs/jars/x.jar"},
		{"s3 zip", install("s3", nil, nil, ptr("s3://bucket/x.zip"), nil), "zip", "x.zip",
			"mkdir -p /home/ray/darwin_pkgs/s3; aws s3 cp s3://bucket/x.zip /home/ray/darwin_pkgs/s3/x.zip; unzip -o /home/ray/darwin_pkgs/s3/x.zip -d /home/ray/darwin_pkgs/s3"},
		{"s3 tar", install("s3", nil, nil, ptr("s3://bucket/x.tar"), nil), "tar", "x.tar",
			"mkdir -p /home/ray/darwin_pkgs/s3; aws s3 cp s3://bucket/x.tar /home/ray/darwin_pkgs/s3/x.tar; tar -xf /home/ray/darwin_pkgs/s3/x.tar -C /home/ray/darwin_pkgs/s3"},
		{"s3 tar.gz", install("s3", nil, nil, ptr("s3://bucket/x.tar.gz"), nil), "gz", "x.tar.gz",
			"mkdir -p /home/ray/darwin_pkgs/s3; aws s3 cp s3://bucket/x.tar.gz /home/ray/darwin_pkgs/s3/x.tar.gz; tar -xzf /home/ray/darwin_pkgs/s3/x.tar.gz -C /home/ray/darwin_pkgs/s3"},
		{"workspace whl", install("workspace", nil, nil, ptr("/home/ray/workspace/dist/w-0.1-py3-none-any.whl"), nil), "whl", "w-0.1-py3-none-any.whl",
			"mkdir -p /home/ray/darwin_pkgs/python; cp /home/ray/workspace/dist/w-0.1-py3-none-any.whl /home/ray/darwin_pkgs/python/w-0.1-py3-none-any.whl; pip install /home/ray/darwin_pkgs/python/w-0.1-py3-none-any.whl"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			spec, err := c.req.Validate()
			if err != nil {
				t.Fatal(err)
			}
			if spec.Command != c.wantCmd || spec.Type != c.wantType || spec.Name != c.wantNm {
				t.Errorf("got type %q name %q command\n  %q\nwant type %q name %q command\n  %q", spec.Type, spec.Name, spec.Command, c.wantType, c.wantNm, c.wantCmd)
			}
		})
	}
}

func TestInstallValidation(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		req   libraries.InstallRequest
		field string
	}{
		{"no source", libraries.InstallRequest{Body: &libraries.InstallBody{Name: ptr("x")}}, "source"},
		{"bad source", install("conda", ptr("x"), nil, nil, nil), "source"},
		{"no body", libraries.InstallRequest{Source: ptr("pypi")}, "body"},
		{"pypi no name", install("pypi", nil, nil, nil, nil), "body.name"},
		{"pypi injection", install("pypi", ptr("numpy; rm -rf /"), nil, nil, nil), "body.name"},
		{"pypi bad version", install("pypi", ptr("numpy"), ptr(">=1.0"), nil, nil), "body.version"},
		{"pypi version with space", install("pypi", ptr("numpy"), ptr("1 2"), nil, nil), "body.version"},
		{"pypi bad index", install("pypi", ptr("numpy"), nil, ptr("ftp://x"), nil), "body.path"},
		{"whl with version", install("pypi", ptr("a.whl"), ptr("1"), nil, nil), "body.version"},
		{"maven no version", install("maven", ptr("g:a"), nil, nil, nil), "body.version"},
		{"maven bad coords", install("maven", ptr("just-a-name"), ptr("1"), nil, nil), "body.name"},
		{"maven bad repository", install("maven", ptr("g:a"), ptr("1"), nil, map[string]any{"repository": "npm"}), "body.metadata.repository"},
		{"s3 no path", install("s3", nil, nil, nil, nil), "body.path"},
		{"s3 not s3", install("s3", nil, nil, ptr("https://x/a.whl"), nil), "body.path"},
		{"s3 bad extension", install("s3", nil, nil, ptr("s3://b/a.exe"), nil), "body.path"},
		{"s3 quote", install("s3", nil, nil, ptr("s3://b/a'.whl"), nil), "body.path"},
		{"workspace relative", install("workspace", nil, nil, ptr("dist/a.whl"), nil), "body.path"},
		{"workspace dotdot", install("workspace", nil, nil, ptr("/home/../etc/a.txt"), nil), "body.path"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, err := c.req.Validate()
			e := apierr.From(err)
			if err == nil || e.Kind != apierr.InvalidArgument || e.Field != c.field || !strings.Contains(e.Message, c.field) {
				t.Errorf("err = %v (field %q), want InvalidArgument naming %q", err, e.Field, c.field)
			}
		})
	}
}

func TestCommandValidation(t *testing.T) {
	t.Parallel()
	spec, err := libraries.CommandRequest{Command: []string{"echo a", "echo b"}}.Validate()
	if err != nil || spec.Command != "echo a ; echo b" || spec.Target != "cluster" || spec.TimeoutSeconds != 300 {
		t.Errorf("defaults: %+v %v", spec, err)
	}
	spec, err = libraries.CommandRequest{Command: []string{"ls"}, Target: ptr("worker"), Timeout: ptr(20)}.Validate()
	if err != nil || spec.Target != "worker" || spec.TimeoutSeconds != 20 {
		t.Errorf("explicit: %+v %v", spec, err)
	}
	for _, c := range []struct {
		req   libraries.CommandRequest
		field string
	}{
		{libraries.CommandRequest{}, "command"},
		{libraries.CommandRequest{Command: []string{"ok", " "}}, "command[1]"},
		{libraries.CommandRequest{Command: []string{"ls"}, Target: ptr("pods")}, "target"},
		{libraries.CommandRequest{Command: []string{"ls"}, Timeout: ptr(0)}, "timeout"},
		{libraries.CommandRequest{Command: []string{strings.Repeat("x", libraries.MaxCommandBytes+1)}}, "command"},
	} {
		if _, err := c.req.Validate(); apierr.From(err).Field != c.field {
			t.Errorf("%+.60v: err = %v, want field %q", c.req, err, c.field)
		}
	}
	_, err = libraries.AddCommandsRequest{RemoteCommands: []libraries.CommandRequest{{Command: []string{"a"}}, {Command: []string{"b"}, Target: ptr("x")}}}.Validate()
	if apierr.From(err).Field != "remote_commands[1].target" {
		t.Errorf("add commands err = %v", err)
	}
	if _, err := (libraries.AddCommandsRequest{}).Validate(); apierr.From(err).Field != "remote_commands" {
		t.Errorf("empty add commands err = %v", err)
	}
	_, err = libraries.BatchInstallRequest{Packages: []libraries.InstallRequest{install("pypi", ptr("a"), nil, nil, nil), install("maven", ptr("g:a"), nil, nil, nil)}}.Validate()
	if apierr.From(err).Field != "packages[1].body.version" {
		t.Errorf("batch err = %v", err)
	}
	for _, c := range []struct {
		r     libraries.PodStatusReport
		field string
	}{
		{libraries.PodStatusReport{ExecutionID: ptr("e"), PodName: ptr("p"), Status: ptr("success")}, "cluster_id"},
		{libraries.PodStatusReport{ClusterID: ptr("c"), PodName: ptr("p"), Status: ptr("success")}, "execution_id"},
		{libraries.PodStatusReport{ClusterID: ptr("c"), ExecutionID: ptr("e"), Status: ptr("success")}, "pod_name"},
		{libraries.PodStatusReport{ClusterID: ptr("c"), ExecutionID: ptr("e"), PodName: ptr("p"), Status: ptr("done")}, "status"},
	} {
		if _, err := c.r.Validate(); apierr.From(err).Field != c.field {
			t.Errorf("pod report err = %v, want field %s", err, c.field)
		}
	}
}

func TestNewExecutionID(t *testing.T) {
	t.Parallel()
	a, b := libraries.NewExecutionID(), libraries.NewExecutionID()
	if len(a) != 32 || a == b || strings.Trim(a, "0123456789abcdef") != "" || a[12] != '4' {
		t.Errorf("ids %q %q are not uuid4 hex", a, b)
	}
}
