package initcmd

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
)

// DefaultOutput is where the values file goes, like init.sh's .setup/ directory.
const DefaultOutput = ".setup/values.yaml"

// maxTries is how often a question is asked before the default is taken.
const maxTries = 3

// Options are the flags of `darwin init`.
type Options struct {
	Preset  string
	All     bool
	DevMode bool
	Output  string
}

// Plan is the outcome of the choices: which services and datastores the
// values file enables.
type Plan struct {
	Features   []string          // chosen features, in Features order
	Selected   map[string]string // service → Direct | Dependency
	Enabled    map[string]bool   // selected and built
	NotBuilt   []string          // selected but not built yet, in Services order
	Datastores map[string][]string
}

// NewCommand returns the `darwin init` command. Questions are read from in;
// the summary goes to out and warnings to errOut.
func NewCommand(out, errOut io.Writer, in io.Reader) *cobra.Command {
	opts := &Options{}
	cmd := &cobra.Command{
		Use:   "init [--preset training|inference] [--all] [--dev-mode] [-o FILE]",
		Short: "Choose the Darwin services to deploy and write a Helm values file for helm/darwin",
		Long: `init asks which part of Darwin to deploy, resolves the services each choice
needs (serve pulls artifact-builder and mlflow; workspace and workflow pull
compute; compute pulls cluster-manager) and writes a values file for the
umbrella chart helm/darwin (<service>.enabled, datastores.<name>.enabled).

Presets, as in the original init.sh:
  training   Training (Compute + MLFlow)
  inference  Inference (Serve + MLFlow)
Without --preset, --all or --dev-mode it asks for a preset (training after 3
unanswered tries). --dev-mode asks feature by feature (y/n). Services that are
not built yet can be chosen but are written disabled, with a notice.`,
		Example: `  darwin init --preset training
  darwin init --all -o values-all.yaml
  darwin init --dev-mode
  helm upgrade --install darwin ./helm/darwin -n darwin --create-namespace -f .setup/values.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return Run(opts, out, errOut, in)
		},
	}
	cmd.SetOut(out)
	cmd.SetErr(errOut)
	f := cmd.Flags()
	f.StringVar(&opts.Preset, "preset", "", "preset to deploy: training (compute + mlflow) or inference (serve + mlflow)")
	f.BoolVar(&opts.All, "all", false, "enable every feature")
	f.BoolVar(&opts.DevMode, "dev-mode", false, "ask for each feature (y/n) instead of a preset")
	f.StringVarP(&opts.Output, "output", "o", DefaultOutput, `values file to write ("-" for standard output)`)
	return cmd
}

// Run carries out `darwin init` with opts.
func Run(opts *Options, out, errOut io.Writer, in io.Reader) error {
	features, how, err := chooseFeatures(opts, out, bufio.NewReader(in))
	if err != nil {
		return err
	}
	plan, err := NewPlan(features)
	if err != nil {
		return err
	}
	printSummary(out, plan)
	values := plan.Values(how)
	if opts.Output == "-" {
		_, err := io.WriteString(out, values)
		return err
	}
	if dir := filepath.Dir(opts.Output); dir != "." {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	if err := os.WriteFile(opts.Output, []byte(values), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(out, "\nWrote %s. Install with:\n  helm upgrade --install darwin ./helm/darwin -n darwin --create-namespace -f %s\n", opts.Output, opts.Output)
	return nil
}

// chooseFeatures applies the flags or asks; how describes the choice for the
// file's header.
func chooseFeatures(opts *Options, out io.Writer, in *bufio.Reader) ([]string, string, error) {
	if opts.All && (opts.Preset != "" || opts.DevMode) {
		return nil, "", errors.New("--all cannot be combined with --preset or --dev-mode")
	}
	if opts.Preset != "" {
		if _, ok := Presets[opts.Preset]; !ok {
			return nil, "", &unknownError{"preset", opts.Preset, presetNames()}
		}
	}
	switch {
	case opts.All:
		return featureNames(), "--all", nil
	case opts.DevMode:
		defaults := map[string]bool{}
		for _, f := range Presets[opts.Preset] {
			defaults[f] = true
		}
		var chosen []string
		for _, f := range Features {
			if askYesNo(out, in, fmt.Sprintf("Enable %s (%s)?", f.Name, f.Description), defaults[f.Name]) {
				chosen = append(chosen, f.Name)
			}
		}
		if len(chosen) == 0 {
			return nil, "", errors.New("no feature chosen: nothing to deploy")
		}
		how := "--dev-mode"
		if opts.Preset != "" {
			how += " --preset " + opts.Preset
		}
		return chosen, how, nil
	case opts.Preset != "":
		return orderFeatures(Presets[opts.Preset]), "--preset " + opts.Preset, nil
	default:
		preset := askPreset(out, in)
		return orderFeatures(Presets[preset]), "preset " + preset + " (interactive)", nil
	}
}

// askPreset shows the preset menu; after maxTries invalid answers (or the end
// of input) it settles on training, as init.sh does.
func askPreset(out io.Writer, in *bufio.Reader) string {
	fmt.Fprintln(out, "Select what to deploy:")
	for i, p := range presetMenu {
		fmt.Fprintf(out, "  %d) %s\n", i+1, p.label)
	}
	for try := 1; try <= maxTries; try++ {
		fmt.Fprintf(out, "Enter choice [1-%d]: ", len(presetMenu))
		answer, eof := readLine(in)
		answer = strings.ToLower(answer)
		for i, p := range presetMenu {
			if answer == fmt.Sprint(i+1) || answer == p.name {
				fmt.Fprintf(out, "Selected: %s\n", p.label)
				return p.name
			}
		}
		if eof {
			fmt.Fprintln(out)
			break
		}
		fmt.Fprintf(out, "Invalid choice %q.\n", answer)
	}
	fmt.Fprintf(out, "No valid choice; using the default: %s\n", presetMenu[0].label)
	return presetMenu[0].name
}

// askYesNo asks a y/n question; an empty answer takes def, invalid answers
// are asked again up to maxTries times, then def.
func askYesNo(out io.Writer, in *bufio.Reader, question string, def bool) bool {
	hint := "[y/N]"
	if def {
		hint = "[Y/n]"
	}
	for try := 1; try <= maxTries; try++ {
		fmt.Fprintf(out, "%s %s: ", question, hint)
		answer, eof := readLine(in)
		switch strings.ToLower(answer) {
		case "y", "yes":
			return true
		case "n", "no":
			return false
		case "":
			if eof {
				fmt.Fprintln(out)
			}
			return def
		}
		if eof {
			fmt.Fprintln(out)
			return def
		}
		fmt.Fprintf(out, "Please answer y or n.\n")
	}
	return def
}

func readLine(in *bufio.Reader) (string, bool) {
	line, err := in.ReadString('\n')
	return strings.TrimSpace(line), err != nil
}

func orderFeatures(names []string) []string {
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	var ordered []string
	for _, f := range Features {
		if want[f.Name] {
			ordered = append(ordered, f.Name)
		}
	}
	return ordered
}

// NewPlan resolves features into services and datastores.
func NewPlan(features []string) (*Plan, error) {
	selected, err := Resolve(features)
	if err != nil {
		return nil, err
	}
	p := &Plan{Features: orderFeatures(features), Selected: selected, Enabled: map[string]bool{}, Datastores: map[string][]string{}}
	for _, svc := range Services {
		if _, ok := selected[svc.Name]; !ok {
			continue
		}
		if !Built[svc.Name] {
			p.NotBuilt = append(p.NotBuilt, svc.Name)
			continue
		}
		p.Enabled[svc.Name] = true
		for _, ds := range svc.Datastores {
			p.Datastores[ds] = append(p.Datastores[ds], svc.Name)
		}
	}
	return p, nil
}

func printSummary(out io.Writer, p *Plan) {
	fmt.Fprintf(out, "Features: %s\n", strings.Join(p.Features, ", "))
	fmt.Fprintln(out, "Services:")
	for _, svc := range Services {
		why, ok := p.Selected[svc.Name]
		if !ok {
			continue
		}
		state := "enabled"
		if !p.Enabled[svc.Name] {
			state = "disabled (not built yet)"
		}
		fmt.Fprintf(out, "  %-24s %-10s %s\n", svc.Name, why, state)
	}
	for _, name := range p.NotBuilt {
		fmt.Fprintf(out, "%s is not built yet; it is left disabled\n", name)
	}
	var stores []string
	for _, ds := range Datastores {
		if len(p.Datastores[ds]) > 0 {
			stores = append(stores, ds)
		}
	}
	if len(stores) > 0 {
		fmt.Fprintf(out, "Datastores: %s\n", strings.Join(stores, ", "))
	}
}

// Values renders the umbrella values file: every service and datastore with
// its enabled flag, commented with why it is (not) on, and global.db.driver
// mysql when the MySQL datastore is enabled (the chart's default is sqlite), with the migrations of
// those services as plain Jobs rather than pre-install hooks (the database is part of the release).
func (p *Plan) Values(how string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Written by `darwin init` (%s) for the umbrella chart helm/darwin.\n", how)
	fmt.Fprintf(&b, "# Features: %s\n", strings.Join(p.Features, ", "))
	for _, svc := range Services {
		why, selected := p.Selected[svc.Name]
		comment := ""
		switch {
		case selected && p.Enabled[svc.Name]:
			comment = "  # " + why
		case selected:
			comment = "  # " + why + "; not built yet, left disabled"
		}
		fmt.Fprintf(&b, "%s:\n  enabled: %t%s\n", svc.Name, p.Enabled[svc.Name], comment)
		if p.Enabled[svc.Name] && svc.Migrates && len(p.Datastores["mysql"]) > 0 {
			// A pre-install hook would run before the release's own MySQL exists and never finish.
			b.WriteString("  migration:\n    hook: false  # MySQL comes with this release: migrate in a Job that retries\n")
		}
	}
	if len(p.Datastores["mysql"]) > 0 {
		// The in-cluster MySQL of datastores.mysql is where the services' data goes.
		b.WriteString("global:\n  db:\n    driver: mysql\n")
	}
	b.WriteString("datastores:\n")
	for _, ds := range Datastores {
		users := p.Datastores[ds]
		comment := ""
		if len(users) > 0 {
			comment = "  # needed by " + strings.Join(users, ", ")
		}
		fmt.Fprintf(&b, "  %s:\n    enabled: %t%s\n", ds, len(users) > 0, comment)
	}
	return b.String()
}
