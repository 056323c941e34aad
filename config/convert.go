package config

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"strconv"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// attr evaluates attribute a and stores its value in dst.
func (d *decoder) attr(dst reflect.Value, a *hcl.Attribute, required bool) {
	if dst.Type() == expressionType {
		dst.Set(reflect.ValueOf(&a.Expr).Elem())
		return
	}
	val, diags := a.Expr.Value(d.ctx)
	d.diags = append(d.diags, diags...)
	if diags.HasErrors() || !val.IsWhollyKnown() {
		return
	}
	if val.IsNull() {
		if required {
			d.errorf(a.Expr.Range(), "", "%q must not be null", a.Name)
		}
		return
	}
	d.set(dst, val, a.Expr, strconv.Quote(a.Name))
}

// set converts val into dst. expr, when not nil, is the expression val came
// from (for element ranges); what names the value in messages.
func (d *decoder) set(dst reflect.Value, val cty.Value, expr hcl.Expression, what string) {
	rng := expr.Range()
	t := dst.Type()
	wrong := func() {
		d.errorf(rng, "", "wrong type for %s: expected %s, got %s", what, typeDesc(t), ctyTypeName(val.Type()))
	}
	invalid := func(err error, hint string) {
		d.errorf(rng, hint, "invalid value for %s: %v", what, err)
	}
	if val.IsNull() {
		d.errorf(rng, "", "%s must not be null", what)
		return
	}
	switch t {
	case durationType, timeDurationType, sizeType:
		// Durations and sizes: a string with a unit or a number.
		var n int64
		var err error
		hint := durationHint
		if t == sizeType {
			var v Size
			v, err = sizeValue(val)
			n, hint = int64(v), sizeHint
		} else {
			var v Duration
			v, err = durationValue(val)
			n = int64(v)
		}
		switch {
		case errors.Is(err, errWrongType):
			wrong()
		case errors.Is(err, errNegative):
			invalid(err, "")
		case err != nil:
			invalid(err, hint)
		default:
			dst.SetInt(n)
		}
		return
	case fileModeType:
		if val.Type() != cty.String {
			wrong()
			return
		}
		m, err := ParseFileMode(val.AsString())
		if err != nil {
			invalid(err, "")
			return
		}
		dst.SetUint(uint64(m))
		return
	case ctyValueType:
		dst.Set(reflect.ValueOf(val))
		return
	}
	switch t.Kind() {
	case reflect.String:
		if val.Type() == cty.Number || val.Type() == cty.Bool {
			val, _ = convert.Convert(val, cty.String)
		}
		if val.Type() != cty.String {
			wrong()
			return
		}
		dst.SetString(val.AsString())
	case reflect.Bool:
		if val.Type() != cty.Bool {
			wrong()
			return
		}
		dst.SetBool(val.True())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if val.Type() != cty.Number {
			wrong()
			return
		}
		bits := t.Bits()
		lo := new(big.Int).Neg(new(big.Int).Lsh(big.NewInt(1), uint(bits-1)))
		hi := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), uint(bits-1)), big.NewInt(1))
		n, err := wholeNumber(val, lo, hi)
		if err != nil {
			invalid(err, "")
			return
		}
		dst.SetInt(n.Int64())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		if val.Type() != cty.Number {
			wrong()
			return
		}
		hi := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), uint(t.Bits())), big.NewInt(1))
		n, err := wholeNumber(val, new(big.Int), hi)
		if err != nil {
			invalid(err, "")
			return
		}
		dst.SetUint(n.Uint64())
	case reflect.Float32, reflect.Float64:
		if val.Type() != cty.Number {
			wrong()
			return
		}
		f, _ := val.AsBigFloat().Float64()
		if math.IsInf(f, 0) || (t.Kind() == reflect.Float32 && math.Abs(f) > math.MaxFloat32) {
			invalid(fmt.Errorf("%s is out of range", val.AsBigFloat().Text('g', -1)), "")
			return
		}
		dst.SetFloat(f)
	case reflect.Slice:
		vt := val.Type()
		if !vt.IsListType() && !vt.IsTupleType() && !vt.IsSetType() {
			wrong()
			return
		}
		elems := elementExprs(expr, val.LengthInt())
		out := reflect.MakeSlice(t, val.LengthInt(), val.LengthInt())
		i := 0
		for it := val.ElementIterator(); it.Next(); i++ {
			_, ev := it.Element()
			d.set(out.Index(i), ev, elems[i], fmt.Sprintf("%s[%d]", what, i))
		}
		dst.Set(out)
	case reflect.Map:
		vt := val.Type()
		if t.Key().Kind() != reflect.String {
			d.diags = append(d.diags, internalError(fmt.Sprintf("map field of type %s needs string keys", t)))
			return
		}
		if !vt.IsMapType() && !vt.IsObjectType() {
			wrong()
			return
		}
		out := reflect.MakeMapWithSize(t, val.LengthInt())
		for it := val.ElementIterator(); it.Next(); {
			k, ev := it.Element()
			e := reflect.New(t.Elem()).Elem()
			d.set(e, ev, expr, fmt.Sprintf("%s[%q]", what, k.AsString()))
			out.SetMapIndex(reflect.ValueOf(k.AsString()).Convert(t.Key()), e)
		}
		dst.Set(out)
	case reflect.Interface:
		if t.NumMethod() != 0 {
			d.diags = append(d.diags, internalError(fmt.Sprintf("unsupported field type %s", t)))
			return
		}
		if x := ctyToAny(val); x != nil {
			dst.Set(reflect.ValueOf(x))
		}
	case reflect.Pointer:
		p := reflect.New(t.Elem())
		n := len(d.diags)
		d.set(p.Elem(), val, expr, what)
		if len(d.diags) == n {
			dst.Set(p)
		}
	default:
		d.diags = append(d.diags, internalError(fmt.Sprintf("unsupported field type %s", t)))
	}
}

// elementExprs returns n expressions for the elements of a list value that
// came from expr: the element expressions when expr is a list literal of n
// elements, else expr itself n times.
func elementExprs(expr hcl.Expression, n int) []hcl.Expression {
	out := make([]hcl.Expression, n)
	if list, diags := hcl.ExprList(expr); !diags.HasErrors() && len(list) == n {
		copy(out, list)
		return out
	}
	for i := range out {
		out[i] = expr
	}
	return out
}

// typeDesc describes Go type t as a config value: "a string", "a list of
// strings", ...
func typeDesc(t reflect.Type) string {
	switch t {
	case durationType, timeDurationType:
		return `a duration (a string like "30s" or a number of seconds)`
	case sizeType:
		return `a size (a number of bytes or a string like "64KiB")`
	case fileModeType:
		return `an octal file mode string like "0660"`
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a bool (true or false)"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice:
		return "a list of " + pluralDesc(t.Elem())
	case reflect.Map:
		return "a map of " + pluralDesc(t.Elem())
	case reflect.Pointer:
		return typeDesc(t.Elem())
	}
	return "a value"
}

func pluralDesc(t reflect.Type) string {
	switch t {
	case durationType, timeDurationType:
		return "durations"
	case sizeType:
		return "sizes"
	}
	switch t.Kind() {
	case reflect.String:
		return "strings"
	case reflect.Bool:
		return "bools"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return "whole numbers"
	case reflect.Float32, reflect.Float64:
		return "numbers"
	case reflect.Slice:
		return "lists"
	case reflect.Map:
		return "maps"
	}
	return "values"
}
