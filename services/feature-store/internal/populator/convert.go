package populator

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"unicode/utf8"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/deprecated"
	"github.com/parquet-go/parquet-go/format"
)

// convertFunc appends the JSON form of a non-null Parquet value to dst.
type convertFunc func(dst []byte, v parquet.Value) []byte

// timeUnit is a timestamp column's unit divisor to milliseconds (0: not a timestamp).
func timeUnit(t parquet.Type) int64 {
	if lt := t.LogicalType(); lt != nil {
		if ts, ok := lt.Value.(*format.TimestampType); ok {
			switch ts.Unit.Value.(type) {
			case *format.MilliSeconds:
				return 1
			case *format.MicroSeconds:
				return 1_000
			case *format.NanoSeconds:
				return 1_000_000
			}
		}
	}
	if ct := t.ConvertedType(); ct != nil {
		switch *ct {
		case deprecated.TimestampMillis:
			return 1
		case deprecated.TimestampMicros:
			return 1_000
		}
	}
	return 0
}

// floorDiv divides rounding towards negative infinity (times before 1970 stay ordered).
func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// converterFor returns the converter of a leaf column of type t: integers and timestamps as JSON integers (timestamps
// in unix milliseconds, the feature store's TIMESTAMP form), floats in shortest form (NaN and infinities become
// null), booleans, strings (byte arrays that are not valid UTF-8 are base64 encoded), UUIDs in canonical text form
// and decimals as their decimal digits. isTime reports whether the column holds timestamps.
func converterFor(t parquet.Type) (fn convertFunc, isTime bool, err error) {
	lt := t.LogicalType()
	var dec *format.DecimalType
	var isUUID bool
	if lt != nil {
		switch x := lt.Value.(type) {
		case *format.DecimalType:
			dec = x
		case *format.UUIDType:
			isUUID = true
		}
	}
	switch t.Kind() {
	case parquet.Boolean:
		return func(dst []byte, v parquet.Value) []byte { return strconv.AppendBool(dst, v.Boolean()) }, false, nil
	case parquet.Int32:
		if dec != nil {
			scale := int(dec.Scale)
			return func(dst []byte, v parquet.Value) []byte {
				return appendDecimal(dst, big.NewInt(int64(v.Int32())), scale)
			}, false, nil
		}
		return func(dst []byte, v parquet.Value) []byte { return strconv.AppendInt(dst, int64(v.Int32()), 10) }, false, nil
	case parquet.Int64:
		if unit := timeUnit(t); unit > 0 {
			if unit == 1 {
				return func(dst []byte, v parquet.Value) []byte { return strconv.AppendInt(dst, v.Int64(), 10) }, true, nil
			}
			return func(dst []byte, v parquet.Value) []byte {
				return strconv.AppendInt(dst, floorDiv(v.Int64(), unit), 10)
			}, true, nil
		}
		if dec != nil {
			scale := int(dec.Scale)
			return func(dst []byte, v parquet.Value) []byte { return appendDecimal(dst, big.NewInt(v.Int64()), scale) }, false, nil
		}
		return func(dst []byte, v parquet.Value) []byte { return strconv.AppendInt(dst, v.Int64(), 10) }, false, nil
	case parquet.Int96:
		// Legacy (Impala/Spark) timestamps: nanoseconds of the day and a Julian day number.
		return func(dst []byte, v parquet.Value) []byte {
			i := v.Int96()
			nanos := int64(uint64(i[1])<<32 | uint64(i[0]))
			days := int64(i[2]) - 2440588
			return strconv.AppendInt(dst, days*86_400_000+nanos/1_000_000, 10)
		}, true, nil
	case parquet.Float:
		return func(dst []byte, v parquet.Value) []byte {
			f := v.Float()
			if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
				return append(dst, "null"...)
			}
			return strconv.AppendFloat(dst, float64(f), 'g', -1, 32)
		}, false, nil
	case parquet.Double:
		return func(dst []byte, v parquet.Value) []byte {
			f := v.Double()
			if math.IsNaN(f) || math.IsInf(f, 0) {
				return append(dst, "null"...)
			}
			return strconv.AppendFloat(dst, f, 'g', -1, 64)
		}, false, nil
	case parquet.ByteArray, parquet.FixedLenByteArray:
		switch {
		case isUUID:
			return func(dst []byte, v parquet.Value) []byte {
				b := v.ByteArray()
				if len(b) != 16 {
					return appendString(dst, b)
				}
				var s [36]byte
				hex.Encode(s[0:8], b[0:4])
				s[8] = '-'
				hex.Encode(s[9:13], b[4:6])
				s[13] = '-'
				hex.Encode(s[14:18], b[6:8])
				s[18] = '-'
				hex.Encode(s[19:23], b[8:10])
				s[23] = '-'
				hex.Encode(s[24:], b[10:])
				dst = append(dst, '"')
				dst = append(dst, s[:]...)
				return append(dst, '"')
			}, false, nil
		case dec != nil:
			scale := int(dec.Scale)
			return func(dst []byte, v parquet.Value) []byte {
				return appendDecimal(dst, twosComplement(v.ByteArray()), scale)
			}, false, nil
		}
		return func(dst []byte, v parquet.Value) []byte { return appendString(dst, v.ByteArray()) }, false, nil
	}
	return nil, false, fmt.Errorf("unsupported parquet type %s", t)
}

// twosComplement decodes a big-endian two's complement integer.
func twosComplement(b []byte) *big.Int {
	n := new(big.Int).SetBytes(b)
	if len(b) > 0 && b[0]&0x80 != 0 {
		n.Sub(n, new(big.Int).Lsh(big.NewInt(1), uint(len(b))*8))
	}
	return n
}

// appendDecimal appends unscaled·10^-scale as a JSON number.
func appendDecimal(dst []byte, unscaled *big.Int, scale int) []byte {
	s := unscaled.String()
	if scale <= 0 {
		return append(dst, s...)
	}
	neg := s[0] == '-'
	if neg {
		s = s[1:]
		dst = append(dst, '-')
	}
	for len(s) <= scale {
		s = "0" + s
	}
	dst = append(dst, s[:len(s)-scale]...)
	dst = append(dst, '.')
	return append(dst, s[len(s)-scale:]...)
}

const hexDigits = "0123456789abcdef"

// appendString appends b as a JSON string (base64 when b is not valid UTF-8).
func appendString(dst []byte, b []byte) []byte {
	if !utf8.Valid(b) {
		dst = append(dst, '"')
		dst = base64.StdEncoding.AppendEncode(dst, b)
		return append(dst, '"')
	}
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c >= 0x20 && c != '"' && c != '\\' && c != 0x7f {
			continue
		}
		dst = append(dst, b[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		start = i + 1
	}
	dst = append(dst, b[start:]...)
	return append(dst, '"')
}
