package online

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"net"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gocql/gocql"
	"gopkg.in/inf.v0"
)

// cqlProto is the protocol version the value codecs marshal with; native values encode the same in v3 and later.
const cqlProto = 4

// cqlTypes maps the feature store's column type names (domain.ColumnTypes) to CQL types.
var cqlTypes = map[string]gocql.Type{
	"TEXT": gocql.TypeText, "VARCHAR": gocql.TypeVarchar, "ASCII": gocql.TypeAscii, "BLOB": gocql.TypeBlob,
	"BOOLEAN": gocql.TypeBoolean, "DECIMAL": gocql.TypeDecimal, "DOUBLE": gocql.TypeDouble, "FLOAT": gocql.TypeFloat,
	"INT": gocql.TypeInt, "BIGINT": gocql.TypeBigInt, "TIMESTAMP": gocql.TypeTimestamp, "TIMEUUID": gocql.TypeTimeUUID,
	"UUID": gocql.TypeUUID, "INET": gocql.TypeInet, "VARINT": gocql.TypeVarint,
}

// normType upper-cases a type name and folds the VARCHAR alias into TEXT (Cassandra reports varchar as text).
func normType(t string) string {
	t = strings.ToUpper(strings.TrimSpace(t))
	if t == "VARCHAR" {
		return "TEXT"
	}
	return t
}

func typeInfo(typ string) (gocql.TypeInfo, error) {
	t, ok := cqlTypes[strings.ToUpper(typ)]
	if !ok {
		return nil, fmt.Errorf("unsupported column type %q", typ)
	}
	return gocql.NewNativeType(cqlProto, t, ""), nil
}

// jsonToCQL converts the canonical JSON value v (see domain.Coerce) of a column of type typ to the Go value the
// driver binds: string (TEXT, VARCHAR, ASCII), []byte (BLOB: the string's UTF-8 bytes), bool, int32 (INT), int64
// (BIGINT, TIMESTAMP as epoch milliseconds), *big.Int (VARINT), float32, float64, *inf.Dec (DECIMAL, digits
// and exponent kept), gocql.UUID (UUID; TIMEUUID must be version 1) and net.IP (INET). nil (a null) stays nil.
func jsonToCQL(typ string, v []byte) (any, error) {
	if v == nil || string(v) == "null" {
		return nil, nil
	}
	typ = strings.ToUpper(typ)
	switch typ {
	case "TEXT", "VARCHAR", "ASCII", "BLOB", "UUID", "TIMEUUID", "INET":
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return nil, fmt.Errorf("%s value %s: expected a JSON string", typ, v)
		}
		switch typ {
		case "ASCII":
			for i := 0; i < len(s); i++ {
				if s[i] >= 0x80 {
					return nil, fmt.Errorf("ASCII value %s: non-ASCII character", v)
				}
			}
		case "BLOB":
			return []byte(s), nil
		case "UUID", "TIMEUUID":
			u, err := gocql.ParseUUID(s)
			if err != nil {
				return nil, fmt.Errorf("%s value %s: %v", typ, v, err)
			}
			if typ == "TIMEUUID" && u.Version() != 1 {
				return nil, fmt.Errorf("TIMEUUID value %s: version %d, a TIMEUUID is a version 1 UUID", v, u.Version())
			}
			return u, nil
		case "INET":
			ip := net.ParseIP(s)
			if ip == nil {
				return nil, fmt.Errorf("INET value %s: not an IP address", v)
			}
			if v4 := ip.To4(); v4 != nil {
				ip = v4
			}
			return ip, nil
		}
		return s, nil
	case "BOOLEAN":
		var b bool
		if err := json.Unmarshal(v, &b); err != nil {
			return nil, fmt.Errorf("BOOLEAN value %s: expected true or false", v)
		}
		return b, nil
	case "INT", "BIGINT", "TIMESTAMP", "VARINT":
		n, ok := new(big.Int).SetString(string(v), 10)
		if !ok {
			return nil, fmt.Errorf("%s value %s: expected an integer", typ, v)
		}
		switch typ {
		case "INT":
			if !n.IsInt64() || n.Int64() < math.MinInt32 || n.Int64() > math.MaxInt32 {
				return nil, fmt.Errorf("INT value %s out of range", v)
			}
			return int32(n.Int64()), nil
		case "VARINT":
			return n, nil
		}
		if !n.IsInt64() {
			return nil, fmt.Errorf("%s value %s out of range", typ, v)
		}
		return n.Int64(), nil
	case "FLOAT", "DOUBLE":
		bits := 64
		if typ == "FLOAT" {
			bits = 32
		}
		f, err := strconv.ParseFloat(string(v), bits)
		if err != nil || strings.TrimSpace(string(v)) != string(v) {
			return nil, fmt.Errorf("%s value %s: expected a number", typ, v)
		}
		if bits == 32 {
			return float32(f), nil
		}
		return f, nil
	case "DECIMAL":
		d, err := parseDecimal(string(v))
		if err != nil {
			return nil, fmt.Errorf("DECIMAL value %s: %v", v, err)
		}
		return d, nil
	}
	return nil, fmt.Errorf("unsupported column type %q", typ)
}

// parseDecimal parses a JSON number into an exact decimal: unscaled digits and scale (the exponent is folded into
// the scale, so 1.5e3 is 15 with scale -2).
func parseDecimal(s string) (*inf.Dec, error) {
	mant, exp := s, int64(0)
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		mant = s[:i]
		e, err := strconv.ParseInt(s[i+1:], 10, 32)
		if err != nil {
			return nil, fmt.Errorf("bad exponent")
		}
		exp = e
	}
	neg := strings.HasPrefix(mant, "-")
	if neg {
		mant = mant[1:]
	}
	ip, frac, dot := strings.Cut(mant, ".")
	digits := ip + frac
	if ip == "" || (dot && frac == "") || digits == "" || strings.Trim(digits, "0123456789") != "" {
		return nil, fmt.Errorf("not a decimal number")
	}
	scale := int64(len(frac)) - exp
	if scale < math.MinInt32 || scale > math.MaxInt32 {
		return nil, fmt.Errorf("exponent out of range")
	}
	u, _ := new(big.Int).SetString(digits, 10)
	if neg {
		u.Neg(u)
	}
	return inf.NewDecBig(u, inf.Scale(scale)), nil
}

// maxPlainScale bounds the scales formatDecimal writes with a decimal point; larger ones use an exponent.
const maxPlainScale = 64

// formatDecimal writes d as a JSON number: plain digits with a point for 0 <= scale <= 64 (1.50 stays 1.50),
// <unscaled>e<n> otherwise (1e3, 15e-70).
func formatDecimal(d *inf.Dec) string {
	u, scale := d.UnscaledBig(), int64(d.Scale())
	if scale == 0 {
		return u.String()
	}
	if scale < 0 || scale > maxPlainScale {
		return u.String() + "e" + strconv.FormatInt(-scale, 10)
	}
	digits := new(big.Int).Abs(u).String()
	if int64(len(digits)) <= scale {
		digits = strings.Repeat("0", int(scale)-len(digits)+1) + digits
	}
	s := digits[:len(digits)-int(scale)] + "." + digits[len(digits)-int(scale):]
	if u.Sign() < 0 {
		s = "-" + s
	}
	return s
}

// marshalCQL encodes a bound value as the driver would for a column of type typ.
func marshalCQL(typ string, v any) ([]byte, error) {
	ti, err := typeInfo(typ)
	if err != nil {
		return nil, err
	}
	return gocql.Marshal(ti, v)
}

// cqlToJSON converts a column value as received from Cassandra (nil: null) to its canonical JSON, the inverse of
// jsonToCQL. Empty values of non-string types (legacy "empty" cells) read as null; a BLOB that is not UTF-8 (only
// other writers make one) reads as its CQL literal string "0x<hex>"; DOUBLE/FLOAT NaN and infinities (other writers
// only) read as the strings "NaN", "Infinity", "-Infinity".
func cqlToJSON(typ string, data []byte) ([]byte, error) {
	if data == nil {
		return nil, nil
	}
	typ = strings.ToUpper(typ)
	ti, err := typeInfo(typ)
	if err != nil {
		return nil, err
	}
	switch typ {
	case "TEXT", "VARCHAR", "ASCII":
		return json.Marshal(string(data))
	case "BLOB":
		if utf8.Valid(data) {
			return json.Marshal(string(data))
		}
		return json.Marshal("0x" + hex.EncodeToString(data))
	}
	if len(data) == 0 {
		return nil, nil
	}
	if n, ok := fixedSize[typ]; ok && len(data) != n && !(typ == "INET" && len(data) == 16) {
		return nil, fmt.Errorf("%s value of %d bytes", typ, len(data))
	}
	if typ == "DECIMAL" && len(data) < 5 {
		return nil, fmt.Errorf("DECIMAL value of %d bytes", len(data))
	}
	switch typ {
	case "BOOLEAN":
		var b bool
		if err := gocql.Unmarshal(ti, data, &b); err != nil {
			return nil, err
		}
		return strconv.AppendBool(nil, b), nil
	case "INT":
		var n int32
		if err := gocql.Unmarshal(ti, data, &n); err != nil {
			return nil, err
		}
		return strconv.AppendInt(nil, int64(n), 10), nil
	case "BIGINT", "TIMESTAMP":
		var n int64
		if err := gocql.Unmarshal(ti, data, &n); err != nil {
			return nil, err
		}
		return strconv.AppendInt(nil, n, 10), nil
	case "VARINT":
		n := new(big.Int)
		if err := gocql.Unmarshal(ti, data, n); err != nil {
			return nil, err
		}
		return []byte(n.String()), nil
	case "FLOAT":
		var f float32
		if err := gocql.Unmarshal(ti, data, &f); err != nil {
			return nil, err
		}
		return formatFloat(float64(f), 32), nil
	case "DOUBLE":
		var f float64
		if err := gocql.Unmarshal(ti, data, &f); err != nil {
			return nil, err
		}
		return formatFloat(f, 64), nil
	case "DECIMAL":
		d := new(inf.Dec)
		if err := gocql.Unmarshal(ti, data, d); err != nil {
			return nil, err
		}
		return []byte(formatDecimal(d)), nil
	case "UUID", "TIMEUUID":
		var u gocql.UUID
		if err := gocql.Unmarshal(ti, data, &u); err != nil {
			return nil, err
		}
		return json.Marshal(u.String())
	case "INET":
		var ip net.IP
		if err := gocql.Unmarshal(ti, data, &ip); err != nil {
			return nil, err
		}
		return json.Marshal(ip.String())
	}
	return nil, fmt.Errorf("unsupported column type %q", typ)
}

// fixedSize is the encoded size of fixed-width types (INET: 4, or 16 for IPv6).
var fixedSize = map[string]int{"BOOLEAN": 1, "INT": 4, "BIGINT": 8, "TIMESTAMP": 8, "FLOAT": 4, "DOUBLE": 8, "UUID": 16, "TIMEUUID": 16, "INET": 4}

func formatFloat(f float64, bits int) []byte {
	switch {
	case math.IsNaN(f):
		return []byte(`"NaN"`)
	case math.IsInf(f, 1):
		return []byte(`"Infinity"`)
	case math.IsInf(f, -1):
		return []byte(`"-Infinity"`)
	}
	return strconv.AppendFloat(nil, f, 'g', -1, bits)
}
