// Package populator loads Parquet files into the feature store: it streams each file one row group at a time,
// converts rows to JSON values for a feature group version's columns, writes them in batches through the ingest
// Writer (or produces v2 Kafka messages for the consumer), appends them to the offline history, and checkpoints after
// every row group so that re-running a job with the same run id resumes where it stopped.
package populator

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/darwinml/darwin/pkg/blob"
	"github.com/darwinml/darwin/services/feature-store/internal/domain"
	"github.com/darwinml/darwin/services/feature-store/internal/ingest"
	"github.com/darwinml/darwin/services/feature-store/internal/offline"
)

// ErrPopulatorRequest is the error code of a bad populator request (HTTP 400).
var ErrPopulatorRequest = domain.Code{Name: "POPULATOR-REQUEST-EXCEPTION", Message: "invalid request", Status: 400}

// Modes of a job.
const (
	// ModeDirect writes batches through the ingest Writer.
	ModeDirect = "direct"
	// ModeKafka produces one v2 message per row for the consumer.
	ModeKafka = "kafka"
)

// Run statuses.
const (
	StatusRunning = "RUNNING"
	StatusSuccess = "SUCCESS"
	StatusFailed  = "FAILED"
)

// Defaults and limits.
const (
	DefaultTimestampColumn = "event_timestamp"
	DefaultBatchRows       = 1000
	MaxBatchRows           = 10_000
	// SampleRows is how many rows run-data's sample holds.
	SampleRows = 5
)

// Job is one populator run.
type Job struct {
	// Source is a local path (file or directory), file:// URI, blob://key-or-prefix (the service's blob store) or
	// s3://bucket/key-or-prefix.
	Source           string `json:"source"`
	FeatureGroupName string `json:"featureGroupName"`
	// FeatureGroupVersion is "v<N>"; empty means the latest version when the run first starts (a resumed run keeps
	// the version it started with).
	FeatureGroupVersion string `json:"featureGroupVersion,omitempty"`
	// RunID identifies the run; re-running the same id resumes after the last completed row group. Generated when
	// empty.
	RunID string `json:"runId,omitempty"`
	// Mode is "direct" (default) or "kafka".
	Mode string `json:"mode,omitempty"`
	// TimestampColumn names the rows' event time column (default "event_timestamp"). When the default column is
	// absent, rows get the run's start time as event time; a named column that is absent fails the run.
	TimestampColumn string `json:"timestampColumn,omitempty"`
	// BatchRows is the number of rows per write (default 1000, at most 10000).
	BatchRows int `json:"batchRows,omitempty"`
}

// Validate checks the job and fills defaults; problems are ErrPopulatorRequest errors.
func (j *Job) Validate() error {
	j.Source = strings.TrimSpace(j.Source)
	if j.Source == "" {
		return domain.E(ErrPopulatorRequest, "source is required")
	}
	if !domain.ValidIdent(j.FeatureGroupName) {
		return domain.E(ErrPopulatorRequest, "invalid featureGroupName %q", j.FeatureGroupName)
	}
	if j.FeatureGroupVersion != "" {
		if _, ok := domain.ParseVersion(j.FeatureGroupVersion); !ok {
			return domain.E(ErrPopulatorRequest, "invalid featureGroupVersion %q", j.FeatureGroupVersion)
		}
	}
	if j.RunID == "" {
		b := make([]byte, 8)
		_, _ = rand.Read(b)
		j.RunID = "populator-" + hex.EncodeToString(b)
	}
	if len(j.RunID) > 128 || strings.ContainsFunc(j.RunID, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return domain.E(ErrPopulatorRequest, "runId must be at most 128 printable characters")
	}
	switch strings.ToLower(j.Mode) {
	case "", ModeDirect:
		j.Mode = ModeDirect
	case ModeKafka:
		j.Mode = ModeKafka
	default:
		return domain.E(ErrPopulatorRequest, "mode must be direct or kafka, got %q", j.Mode)
	}
	if j.TimestampColumn == "" {
		j.TimestampColumn = DefaultTimestampColumn
	} else if len(j.TimestampColumn) > 256 {
		return domain.E(ErrPopulatorRequest, "timestampColumn is too long")
	}
	switch {
	case j.BatchRows == 0:
		j.BatchRows = DefaultBatchRows
	case j.BatchRows < 0 || j.BatchRows > MaxBatchRows:
		return domain.E(ErrPopulatorRequest, "batchRows must be between 1 and %d", MaxBatchRows)
	}
	return nil
}

// Progress is reported after every batch and row group.
type Progress struct {
	RunID      string
	Status     string
	File       string
	FileIndex  int // 0-based index of the file being read
	Files      int
	RowGroup   int   // row group being read (or next to read)
	RowsDone   int64 // rows processed, including those of earlier attempts of the run
	RowsTotal  int64 // rows in the source (files not yet opened on blob stores count once opened)
	FailedRows int64
	// RowsPerSecond is this attempt's rate.
	RowsPerSecond float64
}

// Header is one Kafka record header.
type Header struct {
	Key   string
	Value []byte
}

// Message is one Kafka record of the v2 format (§5.6): Value is a flat JSON object of the row's columns.
type Message struct {
	// Key is the row's primary key values as a JSON array (for partitioning; the consumer ignores it).
	Key     []byte
	Value   []byte
	Headers []Header
}

// Producer sends messages to the feature group's topic (the lead wires it to sarama and the tenant's topic).
// Produce returns once the messages are acknowledged.
type Producer interface {
	Produce(ctx context.Context, featureGroup string, msgs []Message) error
}

// RunData is what a finished run records (the admin run-data table).
type RunData struct {
	Name         string
	Version      string
	RunID        string
	Source       string
	TimeTakenMs  int64
	RowCount     int64
	FailedRows   int64
	SampleData   []json.RawMessage // first rows as flat JSON objects
	Status       string            // SUCCESS or FAILED
	ErrorMessage string
}

// RunRecorder records run data.
type RunRecorder interface {
	RecordRun(ctx context.Context, d RunData) error
}

// Config wires a Populator.
type Config struct {
	// Resolver answers feature group schemas (required).
	Resolver offline.Resolver
	// Checkpoints persists run state (required; NewMemCheckpoints or NewSQLCheckpoints).
	Checkpoints Checkpoints
	// Writer is the direct mode's write path.
	Writer ingest.Writer
	// Producer is the kafka mode's write path.
	Producer Producer
	// History receives every ingested row with its event time (nil: no offline history).
	History offline.Appender
	// Recorder records run data at the end of a run (optional).
	Recorder RunRecorder
	// Blob is the store blob:// sources read from (optional).
	Blob blob.Store
	// AllowedDirs restricts local sources to these directories (empty: any absolute path).
	AllowedDirs []string
	// TempDir holds downloaded blob objects while they are read (default os.TempDir()).
	TempDir string
	// Retries is how many times a failed write is retried, with backoff starting at RetryBackoff (default 2 and
	// 200ms; a negative value disables retries).
	Retries      int
	RetryBackoff time.Duration
	Log          *slog.Logger
	Now          func() time.Time
}

// Populator runs jobs.
type Populator struct {
	cfg Config
	log *slog.Logger
}

// New returns a Populator.
func New(cfg Config) (*Populator, error) {
	if cfg.Resolver == nil || cfg.Checkpoints == nil {
		return nil, errors.New("populator: Resolver and Checkpoints are required")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	switch {
	case cfg.Retries == 0:
		cfg.Retries = 2
	case cfg.Retries < 0:
		cfg.Retries = 0
	}
	if cfg.RetryBackoff <= 0 {
		cfg.RetryBackoff = 200 * time.Millisecond
	}
	return &Populator{cfg: cfg, log: cfg.Log}, nil
}

// plan maps a file's leaf columns to the batch names.
type plan struct {
	names   []string
	slot    []int // leaf column index → position in names, -1 when skipped
	conv    []convertFunc
	keyPos  []int    // positions in names of the primary keys
	keyType []string // their types
	tsLeaf  int      // leaf column index of the event time, -1 when absent
	tsConv  convertFunc
	tsSlot  int // position in names of the event time column, -1 when not a group column
}

// planFile selects the file's columns that belong to the group version (primary keys and feature columns).
func (p *Populator) planFile(pf *parquet.File, s offline.Schema, job *Job, name string) (*plan, error) {
	cols := pf.Schema().Columns()
	pl := &plan{slot: make([]int, len(cols)), conv: make([]convertFunc, len(cols)), tsLeaf: -1, tsSlot: -1}
	var skipped []string
	for i, path := range cols {
		pl.slot[i] = -1
		colName := strings.Join(path, ".")
		lc, _ := pf.Schema().Lookup(path...)
		isTS := colName == job.TimestampColumn
		_, inGroup := s.Column(colName)
		if !inGroup && !isTS {
			skipped = append(skipped, colName)
			continue
		}
		if lc.MaxRepetitionLevel > 0 {
			return nil, fmt.Errorf("%s: column %q is repeated; only flat columns are supported", name, colName)
		}
		fn, _, err := converterFor(lc.Node.Type())
		if err != nil {
			return nil, fmt.Errorf("%s: column %q: %w", name, colName, err)
		}
		pl.conv[i] = fn
		if isTS {
			pl.tsLeaf, pl.tsConv = i, fn
		}
		if inGroup {
			pl.slot[i] = len(pl.names)
			if isTS {
				pl.tsSlot = len(pl.names)
			}
			pl.names = append(pl.names, colName)
		}
	}
	for _, k := range s.PrimaryKeys {
		found := false
		for i, n := range pl.names {
			if n == k.Name {
				pl.keyPos = append(pl.keyPos, i)
				pl.keyType = append(pl.keyType, k.Type)
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("%s: file lacks primary key column %q of feature group %s", name, k.Name, s.Name)
		}
	}
	if pl.tsLeaf < 0 && job.TimestampColumn != DefaultTimestampColumn {
		return nil, fmt.Errorf("%s: file lacks the timestamp column %q", name, job.TimestampColumn)
	}
	if len(skipped) > 0 {
		p.log.Info("populator skips columns that are not in the feature group", "file", name, "columns", skipped)
	}
	return pl, nil
}

// run is one attempt's mutable state.
type run struct {
	p        *Populator
	job      Job
	schema   offline.Schema
	state    RunState
	progress func(Progress)
	start    time.Time
	startMs  int64
	baseRows int64 // rows done when this attempt started
	files    int
	sample   []json.RawMessage
	// position in the current row group (rolled back on failure)
	curFile  string
	curIndex int
	curGroup int
	rgDone   int64
	rgFailed int64
	badTime  bool
}

// Run runs (or resumes) job synchronously and returns its final state. progress, when not nil, is called after every
// batch and row group. A job that fails keeps its checkpoint: running it again with the same RunID resumes after the
// last completed row group. Invalid jobs fail with ErrPopulatorRequest errors before anything is recorded.
func (p *Populator) Run(ctx context.Context, job Job, progress func(Progress)) (RunState, error) {
	st, files, schema, err := p.prepare(ctx, &job)
	if err != nil {
		return st, err
	}
	return p.execute(ctx, job, st, files, schema, progress)
}

// prepare validates the job, loads or creates its run state, resolves the version and lists the source.
func (p *Populator) prepare(ctx context.Context, job *Job) (RunState, []sourceFile, offline.Schema, error) {
	if err := job.Validate(); err != nil {
		return RunState{}, nil, offline.Schema{}, err
	}
	switch {
	case job.Mode == ModeDirect && p.cfg.Writer == nil:
		return RunState{}, nil, offline.Schema{}, domain.E(ErrPopulatorRequest, "direct mode is not available (no writer configured)")
	case job.Mode == ModeKafka && p.cfg.Producer == nil:
		return RunState{}, nil, offline.Schema{}, domain.E(ErrPopulatorRequest, "kafka mode is not available (no producer configured)")
	}
	st, found, err := p.cfg.Checkpoints.Load(ctx, job.RunID)
	if err != nil {
		return RunState{}, nil, offline.Schema{}, domain.Wrap(domain.ErrService, fmt.Errorf("load checkpoint: %w", err))
	}
	version := job.FeatureGroupVersion
	if found {
		if st.Source != job.Source || st.FeatureGroup != job.FeatureGroupName || st.Mode != job.Mode ||
			(job.FeatureGroupVersion != "" && job.FeatureGroupVersion != st.Version) || st.TimestampColumn != job.TimestampColumn {
			return st, nil, offline.Schema{}, domain.E(ErrPopulatorRequest, "runId %q was used for a different job (source %s, feature group %s %s, mode %s)",
				job.RunID, redactSource(st.Source), st.FeatureGroup, st.Version, st.Mode)
		}
		version = st.Version
	}
	schema, err := p.cfg.Resolver.Resolve(ctx, job.FeatureGroupName, version)
	if err != nil {
		return st, nil, offline.Schema{}, err
	}
	files, err := p.resolveSource(ctx, job.Source)
	if err != nil {
		return st, nil, schema, err
	}
	if !found {
		st = RunState{RunID: job.RunID, Source: job.Source, FeatureGroup: schema.Name, Version: schema.Version, Mode: job.Mode,
			TimestampColumn: job.TimestampColumn, FileName: files[0].name}
	}
	if st.FileIndex < len(files) && st.FileName != files[st.FileIndex].name {
		return st, nil, schema, domain.E(ErrPopulatorRequest, "source changed since the checkpoint: file %d is %s, was %s", st.FileIndex, files[st.FileIndex].name, st.FileName)
	}
	return st, files, schema, nil
}

func (p *Populator) execute(ctx context.Context, job Job, st RunState, files []sourceFile, schema offline.Schema, progress func(Progress)) (RunState, error) {
	now := p.cfg.Now()
	r := &run{p: p, job: job, schema: schema, state: st, progress: progress, start: now, startMs: now.UnixMilli(),
		baseRows: st.RowsDone, files: len(files)}
	if r.state.StartedAt == 0 {
		r.state.StartedAt = now.UnixMilli()
	}
	if r.state.Status == StatusSuccess {
		r.report()
		return r.state, nil
	}
	r.state.Status, r.state.Error = StatusRunning, ""
	r.state.UpdatedAt = now.UnixMilli()
	if err := p.cfg.Checkpoints.Save(ctx, r.state); err != nil {
		return r.state, domain.Wrap(domain.ErrService, fmt.Errorf("save checkpoint: %w", err))
	}
	p.log.Info("populator run started", "runId", job.RunID, "featureGroup", schema.Name, "version", schema.Version,
		"mode", job.Mode, "files", len(files), "resumeFile", st.FileIndex, "resumeRowGroup", st.RowGroup)
	err := r.processFiles(ctx, files)
	r.state.UpdatedAt = p.cfg.Now().UnixMilli()
	if err != nil {
		r.state.Status, r.state.Error = StatusFailed, err.Error()
		p.log.Error("populator run failed", "runId", job.RunID, "file", r.curFile, "rowGroup", r.curGroup, "err", err)
	} else {
		r.state.Status = StatusSuccess
		p.log.Info("populator run finished", "runId", job.RunID, "rows", r.state.RowsDone, "failedRows", r.state.FailedRows,
			"took", time.Since(r.start))
	}
	// The final save must happen even when ctx was cancelled (shutdown), so the status is not left RUNNING.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if serr := p.cfg.Checkpoints.Save(sctx, r.state); serr != nil {
		p.log.Error("populator: save final run state", "runId", job.RunID, "err", serr)
		if err == nil {
			err = domain.Wrap(domain.ErrService, fmt.Errorf("save checkpoint: %w", serr))
		}
	}
	r.report()
	if p.cfg.Recorder != nil {
		d := RunData{Name: schema.Name, Version: schema.Version, RunID: job.RunID, Source: redactSource(job.Source),
			TimeTakenMs: time.Since(r.start).Milliseconds(), RowCount: r.state.RowsDone - r.state.FailedRows,
			FailedRows: r.state.FailedRows, SampleData: r.sample, Status: r.state.Status, ErrorMessage: r.state.Error}
		if d.SampleData == nil {
			d.SampleData = []json.RawMessage{}
		}
		if rerr := p.cfg.Recorder.RecordRun(sctx, d); rerr != nil {
			p.log.Error("populator: record run data", "runId", job.RunID, "err", rerr)
		}
	}
	return r.state, err
}

// report calls the progress callback.
func (r *run) report() {
	if r.progress == nil {
		return
	}
	el := time.Since(r.start).Seconds()
	rate := 0.0
	done := r.state.RowsDone + r.rgDone
	if el > 0 {
		rate = float64(done-r.baseRows) / el
	}
	r.progress(Progress{RunID: r.job.RunID, Status: r.state.Status, File: r.curFile, FileIndex: r.curIndex, Files: r.files,
		RowGroup: r.curGroup, RowsDone: done, RowsTotal: r.state.RowsTotal, FailedRows: r.state.FailedRows + r.rgFailed,
		RowsPerSecond: rate})
}

// processFiles processes the files from the checkpoint on.
func (r *run) processFiles(ctx context.Context, files []sourceFile) error {
	for i := r.state.FileIndex; i < len(files); i++ {
		if err := r.file(ctx, i, files[i]); err != nil {
			return err
		}
	}
	return nil
}

func (r *run) file(ctx context.Context, idx int, sf sourceFile) error {
	r.curFile, r.curIndex = sf.name, idx
	of, err := sf.open(ctx)
	if err != nil {
		return fmt.Errorf("open %s: %w", sf.name, err)
	}
	defer of.close()
	pf, err := parquet.OpenFile(of.r, of.size, parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true))
	if err != nil {
		return fmt.Errorf("open %s: not a readable Parquet file: %w", sf.name, err)
	}
	pl, err := r.p.planFile(pf, r.schema, &r.job, sf.name)
	if err != nil {
		return err
	}
	r.state.FileName = sf.name
	if idx >= r.state.FilesCounted {
		r.state.RowsTotal += pf.NumRows()
		r.state.FilesCounted = idx + 1
	}
	groups := pf.RowGroups()
	for g := r.state.RowGroup; g < len(groups); g++ {
		r.curGroup = g
		r.report()
		if err := r.rowGroup(ctx, pl, groups[g]); err != nil {
			return fmt.Errorf("%s row group %d: %w", sf.name, g, err)
		}
		// Checkpoint: the row group is complete (and its history durable).
		if h := r.p.cfg.History; h != nil {
			if err := h.Sync(ctx); err != nil {
				return fmt.Errorf("offline history: sync: %w", err)
			}
		}
		r.state.RowsDone += r.rgDone
		r.state.FailedRows += r.rgFailed
		r.rgDone, r.rgFailed = 0, 0
		r.state.RowGroup = g + 1
		r.state.UpdatedAt = r.p.cfg.Now().UnixMilli()
		if err := r.p.cfg.Checkpoints.Save(ctx, r.state); err != nil {
			return fmt.Errorf("save checkpoint: %w", err)
		}
		r.curGroup = g + 1
		r.report()
	}
	r.state.FileIndex = idx + 1
	r.state.RowGroup = 0
	return nil
}

// batch is the rows being assembled for one write; values live in one arena.
type batch struct {
	rows  [][]json.RawMessage
	times []int64
	arena []byte
	slab  []json.RawMessage
}

func (r *run) rowGroup(ctx context.Context, pl *plan, rg parquet.RowGroup) (err error) {
	rows := rg.Rows()
	defer func() {
		if cerr := rows.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}()
	r.rgDone, r.rgFailed = 0, 0
	n := len(pl.names)
	size := r.job.BatchRows
	b := &batch{}
	reset := func() {
		// Fresh storage per batch: the writer or producer may keep what it was given.
		b.rows = make([][]json.RawMessage, 0, size)
		b.times = make([]int64, 0, size)
		b.arena = make([]byte, 0, size*n*12)
		b.slab = make([]json.RawMessage, size*n)
	}
	reset()
	buf := make([]parquet.Row, min(size, 256))
	var tsBuf []byte
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		k, rerr := rows.ReadRows(buf)
		for _, row := range buf[:k] {
			vals := b.slab[len(b.rows)*n : (len(b.rows)+1)*n : (len(b.rows)+1)*n]
			ts := r.startMs
			for _, v := range row {
				c := v.Column()
				if c < 0 || c >= len(pl.slot) {
					continue
				}
				if s := pl.slot[c]; s >= 0 {
					if v.IsNull() {
						vals[s] = json.RawMessage("null")
					} else {
						start := len(b.arena)
						b.arena = pl.conv[c](b.arena, v)
						vals[s] = b.arena[start:len(b.arena):len(b.arena)]
					}
				}
				if c == pl.tsLeaf && !v.IsNull() {
					var raw []byte
					if s := pl.tsSlot; s >= 0 {
						raw = vals[s]
					} else {
						tsBuf = pl.tsConv(tsBuf[:0], v)
						raw = tsBuf
					}
					if t, err := offline.ParseEventTime(raw); err == nil {
						ts = t
					} else if !r.badTime {
						r.badTime = true
						r.p.log.Warn("populator: unparsable event time; using the run's start time", "runId", r.job.RunID, "value", string(raw))
					}
				}
			}
			for s := range vals {
				if vals[s] == nil {
					vals[s] = json.RawMessage("null")
				}
			}
			b.rows = append(b.rows, vals)
			b.times = append(b.times, ts)
			if len(b.rows) == size {
				if err := r.flush(ctx, pl, b); err != nil {
					return err
				}
				reset()
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return fmt.Errorf("read rows: %w", rerr)
		}
	}
	if len(b.rows) > 0 {
		return r.flush(ctx, pl, b)
	}
	return nil
}

// retry runs fn with the configured retries and backoff.
func (r *run) retry(ctx context.Context, fn func() error) error {
	wait := r.p.cfg.RetryBackoff
	for attempt := 0; ; attempt++ {
		err := fn()
		if err == nil || attempt >= r.p.cfg.Retries || ctx.Err() != nil {
			return err
		}
		r.p.log.Warn("populator: write failed, retrying", "runId", r.job.RunID, "attempt", attempt+1, "err", err)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		wait *= 4
	}
}

// flush writes one batch and appends the accepted rows to the history.
func (r *run) flush(ctx context.Context, pl *plan, b *batch) error {
	keep := b.rows
	times := b.times
	if r.job.Mode == ModeDirect {
		var res []ingest.Result
		err := r.retry(ctx, func() error {
			var err error
			res, err = r.p.cfg.Writer.Write(ctx, []ingest.Batch{{FeatureGroup: r.schema.Name, Version: r.schema.Version,
				Names: pl.names, Rows: b.rows, RunID: r.job.RunID}})
			return err
		})
		if err != nil {
			return fmt.Errorf("write: %w", err)
		}
		if len(res) != 1 {
			return fmt.Errorf("write: writer answered %d results for 1 batch", len(res))
		}
		if f := res[0].Failed; len(f) > 0 {
			bad := make([]bool, len(b.rows))
			nbad := 0
			for _, e := range f {
				if e.Row >= 0 && e.Row < len(bad) && !bad[e.Row] {
					bad[e.Row] = true
					nbad++
				}
			}
			if nbad == len(b.rows) && len(f) > 0 {
				r.p.log.Warn("populator: writer rejected a whole batch", "runId", r.job.RunID, "code", f[0].Code, "error", f[0].Error)
			}
			r.rgFailed += int64(nbad)
			keep = make([][]json.RawMessage, 0, len(b.rows)-nbad)
			times = make([]int64, 0, len(b.rows)-nbad)
			for i, row := range b.rows {
				if !bad[i] {
					keep = append(keep, row)
					times = append(times, b.times[i])
				}
			}
		}
	} else {
		msgs := r.messages(pl, b.rows)
		if err := r.retry(ctx, func() error { return r.p.cfg.Producer.Produce(ctx, r.schema.Name, msgs) }); err != nil {
			return fmt.Errorf("produce: %w", err)
		}
	}
	if len(r.sample) < SampleRows {
		for _, row := range keep[:min(len(keep), SampleRows-len(r.sample))] {
			r.sample = append(r.sample, flatObject(nil, pl.names, row))
		}
	}
	if h := r.p.cfg.History; h != nil && len(keep) > 0 {
		if err := r.appendHistory(ctx, h, pl, keep, times); err != nil {
			return fmt.Errorf("offline history: %w", err)
		}
	}
	r.rgDone += int64(len(b.rows))
	r.report()
	return nil
}

// appendHistory appends rows with canonical primary keys (rows whose keys do not coerce are left out; the writer
// rejects them too).
func (r *run) appendHistory(ctx context.Context, h offline.Appender, pl *plan, rows [][]json.RawMessage, times []int64) error {
	out := rows[:0:0]
	outT := times[:0:0]
	for i, row := range rows {
		ok := true
		canon := row
		for k, pos := range pl.keyPos {
			v, err := domain.Coerce(pl.keyType[k], row[pos])
			if err != nil || v == nil {
				ok = false
				break
			}
			if string(v) != string(row[pos]) {
				if &canon[0] == &row[0] {
					canon = append([]json.RawMessage(nil), row...)
				}
				canon[pos] = v
			}
		}
		if ok {
			out = append(out, canon)
			outT = append(outT, times[i])
		}
	}
	return h.Append(ctx, offline.Batch{FeatureGroup: r.schema.Name, Version: r.schema.Version, Names: pl.names,
		KeyIdx: pl.keyPos, Rows: out, EventTimes: outT})
}

// flatObject appends {"name":value,…} to dst.
func flatObject(dst []byte, names []string, row []json.RawMessage) json.RawMessage {
	dst = append(dst, '{')
	for i, n := range names {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, []byte(n))
		dst = append(dst, ':')
		dst = append(dst, row[i]...)
	}
	return append(dst, '}')
}

// messages builds the v2 Kafka messages of rows.
func (r *run) messages(pl *plan, rows [][]json.RawMessage) []Message {
	headers := []Header{
		{Key: "feature-group-name", Value: []byte(r.schema.Name)},
		{Key: "feature-group-version", Value: []byte(r.schema.Version)},
		{Key: "run-id", Value: []byte(r.job.RunID)},
		{Key: "sdk-version", Value: []byte("v2")},
	}
	msgs := make([]Message, len(rows))
	for i, row := range rows {
		key := []byte{'['}
		for k, pos := range pl.keyPos {
			if k > 0 {
				key = append(key, ',')
			}
			key = append(key, row[pos]...)
		}
		key = append(key, ']')
		msgs[i] = Message{Key: key, Value: flatObject(nil, pl.names, row), Headers: headers}
	}
	return msgs
}
