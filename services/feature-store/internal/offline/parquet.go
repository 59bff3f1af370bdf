package offline

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"

	"github.com/parquet-go/parquet-go"
)

// parquetNode maps a feature store column type to an optional Parquet column.
func parquetNode(typ string) parquet.Node {
	var n parquet.Node
	switch typ {
	case "INT":
		n = parquet.Leaf(parquet.Int32Type)
	case "BIGINT":
		n = parquet.Leaf(parquet.Int64Type)
	case "TIMESTAMP":
		n = parquet.Timestamp(parquet.Millisecond)
	case "FLOAT":
		n = parquet.Leaf(parquet.FloatType)
	case "DOUBLE":
		n = parquet.Leaf(parquet.DoubleType)
	case "BOOLEAN":
		n = parquet.Leaf(parquet.BooleanType)
	default: // text types, DECIMAL/VARINT (as their digits), unknown entity-row columns (as JSON text)
		n = parquet.String()
	}
	return parquet.Optional(n)
}

// parquetValue converts one JSON value to a Parquet value of typ's column (null when it does not fit).
func parquetValue(typ string, raw json.RawMessage) parquet.Value {
	if len(raw) == 0 || string(raw) == "null" {
		return parquet.NullValue()
	}
	switch typ {
	case "INT":
		if n, err := strconv.ParseInt(unquote(raw), 10, 32); err == nil {
			return parquet.Int32Value(int32(n))
		}
	case "BIGINT":
		if n, err := strconv.ParseInt(unquote(raw), 10, 64); err == nil {
			return parquet.Int64Value(n)
		}
	case "TIMESTAMP":
		if n, err := ParseEventTime(raw); err == nil {
			return parquet.Int64Value(n)
		}
	case "FLOAT":
		if f, err := strconv.ParseFloat(unquote(raw), 32); err == nil {
			return parquet.FloatValue(float32(f))
		}
	case "DOUBLE":
		if f, err := strconv.ParseFloat(unquote(raw), 64); err == nil {
			return parquet.DoubleValue(f)
		}
	case "BOOLEAN":
		if b, err := strconv.ParseBool(string(raw)); err == nil {
			return parquet.BooleanValue(b)
		}
	default:
		if raw[0] == '"' {
			var s string
			if json.Unmarshal(raw, &s) == nil {
				return parquet.ByteArrayValue([]byte(s))
			}
		}
		return parquet.ByteArrayValue([]byte(raw))
	}
	return parquet.NullValue()
}

func unquote(raw json.RawMessage) string {
	if len(raw) >= 2 && raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
	}
	return string(raw)
}

// WriteParquet writes res as one Parquet file to w: every column optional, typed from res.Types (TIMESTAMP as
// timestamp(millis), numbers and booleans natively, everything else as strings). Parquet orders a group's columns
// by name, so readers should select columns by name.
func WriteParquet(w io.Writer, res *HistoricalResult) error {
	if len(res.Types) != len(res.Columns) {
		return fmt.Errorf("write parquet: %d types for %d columns", len(res.Types), len(res.Columns))
	}
	group := parquet.Group{}
	for i, c := range res.Columns {
		group[c] = parquetNode(res.Types[i])
	}
	schema := parquet.NewSchema("historical_features", group)
	leaf := make([]int, len(res.Columns)) // our column → leaf index
	for i, c := range res.Columns {
		lc, ok := schema.Lookup(c)
		if !ok {
			return fmt.Errorf("write parquet: column %q missing from schema", c)
		}
		leaf[i] = lc.ColumnIndex
	}
	pw := parquet.NewWriter(w, schema, parquet.MaxRowsPerRowGroup(64*1024))
	row := make(parquet.Row, len(res.Columns))
	buf := make([]parquet.Row, 1)
	for _, r := range res.Rows {
		for i := range res.Columns {
			v := parquetValue(res.Types[i], r[i])
			def := 1
			if v.IsNull() {
				def = 0
			}
			row[leaf[i]] = v.Level(0, def, leaf[i])
		}
		buf[0] = row
		if _, err := pw.WriteRows(buf); err != nil {
			return fmt.Errorf("write parquet: %w", err)
		}
	}
	if err := pw.Close(); err != nil {
		return fmt.Errorf("write parquet: %w", err)
	}
	return nil
}
