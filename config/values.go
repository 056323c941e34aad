package config

import (
	"fmt"
	"math"
	"math/big"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/zclconf/go-cty/cty"
)

// ParseDuration parses a duration as written in a config: a Go duration
// string ("30s", "1m30s", "250ms") or a decimal number of seconds ("1.5").
// Negative durations are an error.
func ParseDuration(s string) (Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("the duration is empty")
	}
	var d time.Duration
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		v, err := secondsToDuration(f)
		if err != nil {
			return 0, err
		}
		d = v
	} else {
		v, err := time.ParseDuration(s)
		if err != nil {
			return 0, fmt.Errorf("%q is not a duration", s)
		}
		d = v
	}
	if d < 0 {
		return 0, fmt.Errorf("duration %q is %w", s, errNegative)
	}
	return Duration(d), nil
}

// secondsToDuration converts a number of seconds to a time.Duration.
func secondsToDuration(f float64) (time.Duration, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > float64(math.MaxInt64)/float64(time.Second) {
		return 0, fmt.Errorf("duration of %g seconds is out of range", f)
	}
	return time.Duration(f * float64(time.Second)), nil
}

// sizeUnits are the units a size string may end in, lower case.
var sizeUnits = map[string]float64{
	"": 1, "b": 1,
	"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
}

// ParseSize parses a size as written in a config: a number of bytes with an
// optional unit, "512", "64KiB", "10MB", "1.5GiB". KB, MB, GB and TB are
// powers of 1000; KiB, MiB, GiB and TiB powers of 1024; units ignore case.
func ParseSize(s string) (Size, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && (t[i] >= '0' && t[i] <= '9' || t[i] == '.' || (i == 0 && (t[i] == '-' || t[i] == '+'))) {
		i++
	}
	num, unit := t[:i], strings.ToLower(strings.TrimSpace(t[i:]))
	mult, ok := sizeUnits[unit]
	if num == "" || !ok {
		return 0, fmt.Errorf("%q is not a size", s)
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a size", s)
	}
	return sizeFromFloat(f*mult, strconv.Quote(s))
}

// sizeFromFloat checks that f is a whole, non-negative number of bytes that
// fits in a Size.
func sizeFromFloat(f float64, written string) (Size, error) {
	switch {
	case math.IsNaN(f) || math.IsInf(f, 0) || f >= math.MaxInt64:
		return 0, fmt.Errorf("size %s is out of range", written)
	case f < 0:
		return 0, fmt.Errorf("size %s is %w", written, errNegative)
	case f != math.Trunc(f):
		return 0, fmt.Errorf("size %s is not a whole number of bytes", written)
	}
	return Size(f), nil
}

// ParseFileMode parses an octal file mode such as "0660" or "660".
func ParseFileMode(s string) (os.FileMode, error) {
	t := strings.TrimSpace(s)
	t = strings.TrimPrefix(strings.TrimPrefix(t, "0o"), "0O")
	if t == "" {
		return 0, fmt.Errorf("the file mode is empty")
	}
	v, err := strconv.ParseUint(t, 8, 32)
	if err != nil || v > 0o777 {
		return 0, fmt.Errorf("%q is not an octal file mode from \"0000\" to \"0777\"", s)
	}
	return os.FileMode(v), nil
}

// durationValue converts a cty value (string or number of seconds) to a
// Duration. The error reads well after "invalid duration: ".
func durationValue(v cty.Value) (Duration, error) {
	switch v.Type() {
	case cty.String:
		return ParseDuration(v.AsString())
	case cty.Number:
		f, _ := v.AsBigFloat().Float64()
		if f < 0 {
			return 0, fmt.Errorf("duration of %s seconds is %w", v.AsBigFloat().Text('g', -1), errNegative)
		}
		d, err := secondsToDuration(f)
		return Duration(d), err
	}
	return 0, errWrongType
}

// sizeValue converts a cty value (number or string with unit) to a Size.
func sizeValue(v cty.Value) (Size, error) {
	switch v.Type() {
	case cty.String:
		return ParseSize(v.AsString())
	case cty.Number:
		f, _ := v.AsBigFloat().Float64()
		return sizeFromFloat(f, v.AsBigFloat().Text('g', -1))
	}
	return 0, errWrongType
}

// wholeNumber returns the value of a cty number that must be a whole number
// in [lo, hi].
func wholeNumber(v cty.Value, lo, hi *big.Int) (*big.Int, error) {
	bf := v.AsBigFloat()
	if !bf.IsInt() {
		return nil, fmt.Errorf("%s is not a whole number", bf.Text('g', -1))
	}
	n, _ := bf.Int(nil)
	if n.Cmp(lo) < 0 || n.Cmp(hi) > 0 {
		if n.Sign() < 0 && lo.Sign() == 0 {
			return nil, fmt.Errorf("%s is negative", n)
		}
		return nil, fmt.Errorf("%s is out of range", n)
	}
	return n, nil
}

// ctyTypeName names a cty type the way a user reads it: "a string", "a
// list", ...
func ctyTypeName(t cty.Type) string {
	switch {
	case t == cty.String:
		return "a string"
	case t == cty.Number:
		return "a number"
	case t == cty.Bool:
		return "a bool"
	case t == cty.DynamicPseudoType:
		return "a value of unknown type"
	case t.IsListType() || t.IsTupleType() || t.IsSetType():
		return "a list"
	case t.IsMapType() || t.IsObjectType():
		return "a map"
	case t.IsCapsuleType():
		return "a " + t.FriendlyName()
	}
	return t.FriendlyName()
}

// ctyToAny converts a known cty value to plain Go values: string, bool,
// int (for whole numbers that fit) or float64, []any and map[string]any.
func ctyToAny(v cty.Value) any {
	if v.IsNull() || !v.IsKnown() {
		return nil
	}
	t := v.Type()
	switch {
	case t == cty.String:
		return v.AsString()
	case t == cty.Bool:
		return v.True()
	case t == cty.Number:
		bf := v.AsBigFloat()
		if bf.IsInt() {
			if i, acc := bf.Int64(); acc == big.Exact && i >= math.MinInt && i <= math.MaxInt {
				return int(i)
			}
		}
		f, _ := bf.Float64()
		return f
	case t.IsListType() || t.IsTupleType() || t.IsSetType():
		out := make([]any, 0, v.LengthInt())
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			out = append(out, ctyToAny(e))
		}
		return out
	case t.IsMapType() || t.IsObjectType():
		out := make(map[string]any, v.LengthInt())
		for it := v.ElementIterator(); it.Next(); {
			k, e := it.Element()
			out[k.AsString()] = ctyToAny(e)
		}
		return out
	}
	return nil
}
