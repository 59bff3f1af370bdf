// Command imagebuild builds a Darwin service image without a Docker daemon or a registry: a minimal base layer
// (user darwin 65532:65532, CA certificates, /tmp) plus one layer with a static Linux binary. It writes a
// `docker save` compatible tarball (load it with `docker load -i`, `kind load image-archive`, `ctr image import`)
// and optionally adds the image to an OCI image layout directory.
//
//	imagebuild -binary .cache/images/bin/compute -name darwin/compute -tag dev \
//	    -port 8000 -port 9092 -entrypoint /usr/local/bin/compute -label k=v -o compute.tar
//
// A dynamically linked binary (cgo) is refused, because the image has no libc and no loader; -allow-dynamic
// builds it anyway with a warning.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/darwinml/darwin/tools/internal/image"
)

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "imagebuild:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("imagebuild", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		spec          image.Spec
		ports, labels listFlag
		cmdArgs, env  listFlag
		health        listFlag
		out, ociDir   string
	)
	fs.StringVar(&spec.Binary, "binary", "", "static Linux binary to put in the image (required)")
	fs.StringVar(&spec.Name, "name", "", "image repository, e.g. darwin/compute (required)")
	fs.StringVar(&spec.Tag, "tag", "dev", "image tag")
	fs.StringVar(&spec.Entrypoint, "entrypoint", "", "path of the binary in the image, the entrypoint (default /usr/local/bin/<binary name>)")
	fs.Var(&cmdArgs, "arg", "default argument after the entrypoint (image Cmd); repeatable, in order")
	fs.Var(&ports, "port", "exposed port: N, N/tcp or N/udp; repeatable")
	fs.Var(&labels, "label", "image label key=value; repeatable; overrides the org.opencontainers.image.* labels")
	fs.Var(&env, "env", "extra environment KEY=VALUE; repeatable")
	fs.Var(&health, "healthcheck", "argument after the entrypoint of the image's health check (e.g. healthcheck); repeatable")
	fs.StringVar(&spec.Title, "title", "", "org.opencontainers.image.title (default the last element of -name)")
	fs.StringVar(&spec.Version, "version", "dev", "org.opencontainers.image.version")
	fs.StringVar(&spec.Revision, "revision", "", "org.opencontainers.image.revision (e.g. git rev-parse HEAD)")
	fs.StringVar(&spec.Source, "source", "", "org.opencontainers.image.source (repository URL)")
	fs.StringVar(&spec.CACerts, "ca-certs", "/etc/ssl/certs/ca-certificates.crt", "CA bundle copied into the image; empty for none")
	fs.BoolVar(&spec.AllowDynamic, "allow-dynamic", false, "build even when the binary is dynamically linked (it will not start)")
	fs.StringVar(&out, "o", "", "output docker-save tarball (required unless -oci-layout)")
	fs.StringVar(&ociDir, "oci-layout", "", "also add the image to this OCI image layout directory")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: imagebuild -binary PATH -name REPO [-tag T] [-port N]... [-label k=v]... -o OUT.tar [-oci-layout DIR]\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if spec.Binary == "" || spec.Name == "" || (out == "" && ociDir == "") {
		fs.Usage()
		return errors.New("-binary, -name and -o (or -oci-layout) are required")
	}
	spec.Args, spec.Ports, spec.Env, spec.Healthcheck = cmdArgs, ports, env, health
	spec.Labels = map[string]string{}
	for _, l := range labels {
		k, v, ok := strings.Cut(l, "=")
		if !ok || k == "" {
			return fmt.Errorf("bad -label %q: want key=value", l)
		}
		spec.Labels[k] = v
	}
	// Reproducible builds: SOURCE_DATE_EPOCH (seconds) dates the config and files; unset, the Unix epoch.
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		sec, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("bad SOURCE_DATE_EPOCH %q", s)
		}
		spec.Created = time.Unix(sec, 0)
	}
	res, err := image.Build(spec)
	if err != nil {
		return err
	}
	for _, w := range res.Warnings {
		fmt.Fprintln(stderr, "imagebuild: warning:", w)
	}
	if out != "" {
		if err := res.WriteTarball(out); err != nil {
			return fmt.Errorf("writing %s: %w", out, err)
		}
	}
	if ociDir != "" {
		if err := res.WriteLayout(ociDir); err != nil {
			return err
		}
	}
	digest, err := res.Image.Digest()
	if err != nil {
		return err
	}
	if out != "" {
		st, err := os.Stat(out)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s %s %s %d bytes\n", res.Ref.String(), digest, out, st.Size())
	} else {
		fmt.Fprintf(stdout, "%s %s %s\n", res.Ref.String(), digest, ociDir)
	}
	return nil
}
