package store

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/darwinml/darwin/pkg/apierr"
	"github.com/darwinml/darwin/pkg/db"
	"github.com/darwinml/darwin/services/mlflow/internal/domain"
	"github.com/darwinml/darwin/services/mlflow/internal/search"
)

// RunQuery is one page of runs/search.
type RunQuery struct {
	ExperimentIDs []string
	View          string
	Filter        search.Filter
	Order         []search.OrderKey
	Limit         int
	// PageToken is the NextPageToken of the previous page of the same query, empty for the first page.
	PageToken string
}

// runCursor is the decoded page token. Offset tokens serve orders the keyset path does not cover; keyset tokens
// carry the position of the last run returned: its segment, sort value, start time and id.
type runCursor struct {
	Offset int      `json:"offset,omitempty"`
	Keyset bool     `json:"ks,omitempty"`
	Seg    int      `json:"seg,omitempty"`
	Value  *float64 `json:"v,omitempty"`
	Start  int64    `json:"st,omitempty"`
	RunID  string   `json:"id,omitempty"`
}

func (c runCursor) encode() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeRunCursor(tok string) (runCursor, error) {
	var c runCursor
	if tok == "" {
		return c, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err == nil {
		err = json.Unmarshal(b, &c)
	}
	if err != nil || c.Offset < 0 || c.Seg < 0 || c.Seg > 2 || (c.Keyset && c.Offset != 0) || len(c.RunID) > 64 {
		return runCursor{}, apierr.InvalidField("page_token", "Invalid page token %q", truncate(tok, 64))
	}
	return c, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// keysetOrder reports whether the order can be served by keyset pagination: the default order (start_time
// DESC, run id), an explicit attributes.start_time DESC, or a single metric key. Those pages cost the same at any
// depth and, with a metric order, are read in index order from mlflow_latest_metrics (metric_key,
// metric_value) instead of sorting every run of the experiments. Other orders page by offset.
func keysetOrder(order []search.OrderKey) (metric *search.OrderKey, ok bool) {
	switch {
	case len(order) == 0:
		return nil, true
	case len(order) == 1 && order[0].Entity == search.Attribute && order[0].Key == "start_time" && order[0].Desc:
		return nil, true
	case len(order) == 1 && order[0].Entity == search.Metric:
		return &order[0], true
	}
	return nil, false
}

// SearchRunsPage returns one page of runs matching q and the token of the next page ("" on the last page).
//
// Runs are ordered by q.Order, then start_time DESC and run id. For a metric order the runs come in three
// segments, as MLflow orders them: runs with a number for the key (by value), runs whose latest value is NaN,
// then runs lacking the key (each of the last two by start_time DESC, run id).
func (s *Store) SearchRunsPage(ctx context.Context, q RunQuery) ([]domain.Run, string, error) {
	cur, err := decodeRunCursor(q.PageToken)
	if err != nil {
		return nil, "", err
	}
	metric, keyset := keysetOrder(q.Order)
	if !keyset || (q.PageToken != "" && !cur.Keyset) {
		if cur.Keyset {
			return nil, "", apierr.InvalidField("page_token", "page_token does not belong to this order_by")
		}
		runs, more, err := s.SearchRunsFiltered(ctx, q.ExperimentIDs, q.View, q.Filter, q.Order, q.Limit, cur.Offset)
		if err != nil || !more {
			return runs, "", err
		}
		return runs, runCursor{Offset: cur.Offset + q.Limit}.encode(), nil
	}
	if len(q.ExperimentIDs) == 0 {
		return nil, "", nil
	}
	if metric == nil && cur.Seg != 0 {
		return nil, "", apierr.InvalidField("page_token", "page_token does not belong to this order_by")
	}
	base, baseArgs, err := s.runScope(q)
	if err != nil {
		return nil, "", err
	}
	var (
		infos []domain.RunInfo
		last  []runCursor // position of each collected run
	)
	first := true
	for seg := cur.Seg; seg <= 2 && len(infos) <= q.Limit; seg++ {
		if metric == nil && seg > 0 {
			break
		}
		var after *runCursor
		if first && q.PageToken != "" {
			after = &cur
		}
		first = false
		got, pos, err := s.searchSegment(ctx, base, baseArgs, metric, seg, after, q.Limit+1-len(infos))
		if err != nil {
			return nil, "", internal(err, "search runs")
		}
		infos = append(infos, got...)
		last = append(last, pos...)
	}
	next := ""
	if len(infos) > q.Limit {
		infos = infos[:q.Limit]
		next = last[q.Limit-1].encode()
	}
	runs, err := s.loadRunData(ctx, infos)
	if err != nil {
		return nil, "", internal(err, "search runs data")
	}
	return runs, next, nil
}

// runScope renders the conditions every segment shares: experiments, lifecycle stage and the filter.
func (s *Store) runScope(q RunQuery) (string, []any, error) {
	args := make([]any, 0, len(q.ExperimentIDs)+1)
	for _, id := range q.ExperimentIDs {
		n, err := strconv.ParseInt(id, 10, 64)
		if err != nil {
			return "", nil, apierr.InvalidField("experiment_ids", "Invalid experiment id %q", id)
		}
		args = append(args, n)
	}
	where := `r.experiment_id IN (` + db.Placeholders(len(q.ExperimentIDs)) + `)`
	clause, more := stageClause(q.View)
	where += strings.ReplaceAll(clause, "lifecycle_stage", "r.lifecycle_stage")
	args = append(args, more...)
	if f, fargs := search.TrackingSchema.FilterSQL(q.Filter, s.db.Dialect, "r"); f != "" {
		where += " AND " + f
		args = append(args, fargs...)
	}
	return where, args, nil
}

// searchSegment reads up to limit runs of one segment after the position `after` (nil: from the start).
func (s *Store) searchSegment(ctx context.Context, scope string, scopeArgs []any, metric *search.OrderKey, seg int, after *runCursor, limit int) ([]domain.RunInfo, []runCursor, error) {
	var (
		from, where, order string
		args               []any
	)
	// Ties on start_time DESC, run_uuid ASC; `start_time <= ?` lets the index range start at the position.
	tieAfter := func() (string, []any) {
		return ` AND r.start_time <= ? AND (r.start_time < ? OR r.run_uuid > ?)`, []any{after.Start, after.Start, after.RunID}
	}
	withValue := metric != nil && seg == 0
	switch {
	case metric == nil || seg == 2:
		from = `mlflow_runs r`
		where = scope
		args = append(args, scopeArgs...)
		if metric != nil {
			where += ` AND NOT EXISTS (SELECT 1 FROM mlflow_latest_metrics m WHERE m.run_uuid = r.run_uuid AND m.metric_key = ?)`
			args = append(args, metric.Key)
		}
		order = `r.start_time DESC, r.run_uuid`
		if after != nil {
			w, a := tieAfter()
			where += w
			args = append(args, a...)
		}
	default:
		// Drive the scan from the (metric_key, metric_value) index. SQLite keeps the join order of CROSS
		// JOIN, which is what makes it walk the index instead of sorting every run; MySQL and PostgreSQL
		// choose their own plans.
		if s.db.Dialect == db.SQLite {
			from = `mlflow_latest_metrics o CROSS JOIN mlflow_runs r`
			where = `r.run_uuid = o.run_uuid AND `
		} else {
			from = `mlflow_latest_metrics o JOIN mlflow_runs r ON r.run_uuid = o.run_uuid`
		}
		where += `o.metric_key = ?`
		args = append(args, metric.Key)
		if seg == 0 {
			where += ` AND NOT o.is_nan`
			dir, cmp, cmpEq := "ASC", ">", ">="
			if metric.Desc {
				dir, cmp, cmpEq = "DESC", "<", "<="
			}
			if after != nil {
				if after.Value == nil {
					return nil, nil, apierr.InvalidField("page_token", "page_token does not belong to this order_by")
				}
				v := *after.Value
				where += fmt.Sprintf(` AND o.metric_value %s ? AND (o.metric_value %s ? OR r.start_time < ? OR (r.start_time = ? AND r.run_uuid > ?))`, cmpEq, cmp)
				args = append(args, v, v, after.Start, after.Start, after.RunID)
			}
			order = `o.metric_value ` + dir + `, r.start_time DESC, r.run_uuid`
		} else {
			// NaN is stored as (0, is_nan): the equality keeps the index range to the zeros.
			where += ` AND o.metric_value = 0 AND o.is_nan`
			order = `r.start_time DESC, r.run_uuid`
			if after != nil {
				w, a := tieAfter()
				where += w
				args = append(args, a...)
			}
		}
		where += ` AND ` + scope
		args = append(args, scopeArgs...)
	}
	cols := qualifiedRunCols
	if withValue {
		cols += `, o.metric_value`
	}
	rows, err := s.db.Query(ctx, `SELECT `+cols+` FROM `+from+` WHERE `+where+` ORDER BY `+order+s.db.Dialect.LimitOffset(limit, 0), args...)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	var (
		infos []domain.RunInfo
		pos   []runCursor
	)
	for rows.Next() {
		var (
			r   domain.RunInfo
			val float64
		)
		if withValue {
			r, err = scanRunInfo(scanPlus{rows, &val})
		} else {
			r, err = scanRunInfo(rows)
		}
		if err != nil {
			return nil, nil, err
		}
		c := runCursor{Keyset: true, Seg: seg, Start: r.StartTime, RunID: r.RunID}
		if withValue {
			v := val
			c.Value = &v
		}
		infos = append(infos, r)
		pos = append(pos, c)
	}
	return infos, pos, rows.Err()
}

// scanPlus scans the run columns followed by extra destinations.
type scanPlus struct {
	sc    interface{ Scan(...any) error }
	extra *float64
}

func (p scanPlus) Scan(dest ...any) error { return p.sc.Scan(append(dest, p.extra)...) }
