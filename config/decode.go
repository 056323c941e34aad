package config

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// Decode decodes body into target, a non-nil pointer to a struct whose
// fields already hold their defaults; only the attributes and blocks written
// in body overwrite them. It returns the attributes it decoded (for a
// ValidateContext) and every problem found, each with the range at fault.
//
// Fields are mapped by struct tags, as in gohcl:
//
//	hcl:"name"          a required attribute
//	hcl:"name,optional" an optional attribute
//	hcl:"name,block"    a nested block: a pointer (or struct) field takes at
//	                    most one, a slice of pointers (or structs) any number
//	hcl:"name,label"    a label of a nested block, in order
//
// Untagged embedded structs are flattened into their parent. Attribute
// fields may be string, bool, any integer or float kind, Duration,
// time.Duration, Size, os.FileMode, slices and string-keyed maps of those,
// pointers to those (nil when not written), any (plain Go values), cty.Value
// (the value as evaluated) or hcl.Expression (the expression, unevaluated).
//
// Strings accept numbers and bools too; every other type must be written as
// itself. Durations are strings like "30s" or numbers of seconds, sizes are
// numbers of bytes or strings like "64KiB", file modes octal strings like
// "0660". Unknown attributes and blocks are errors with a suggestion.
func Decode(body hcl.Body, ctx *hcl.EvalContext, target any) (hcl.Attributes, hcl.Diagnostics) {
	if body == nil {
		return hcl.Attributes{}, hcl.Diagnostics{internalError("Decode called with a nil body")}
	}
	return decodeTarget(body, body.MissingItemRange(), "", nil, ctx, target)
}

// decodeBlock decodes block, labels and body, into target (see Decode). A
// missing required attribute is reported at the block header.
func decodeBlock(block *hcl.Block, ctx *hcl.EvalContext, target any) (hcl.Attributes, hcl.Diagnostics) {
	return decodeTarget(block.Body, block.DefRange, block.Type, block, ctx, target)
}

// decodeBlockBody decodes the body of block into target, leaving its labels
// to the caller. A missing required attribute is reported at the header.
func decodeBlockBody(block *hclsyntax.Block, ctx *hcl.EvalContext, target any) (hcl.Attributes, hcl.Diagnostics) {
	return decodeTarget(block.Body, block.DefRange(), block.Type, nil, ctx, target)
}

func decodeTarget(body hcl.Body, header hcl.Range, what string, block *hcl.Block, ctx *hcl.EvalContext, target any) (hcl.Attributes, hcl.Diagnostics) {
	rv := reflect.ValueOf(target)
	if !rv.IsValid() || rv.Kind() != reflect.Pointer || rv.IsNil() || rv.Elem().Kind() != reflect.Struct {
		return hcl.Attributes{}, hcl.Diagnostics{internalError(fmt.Sprintf("Decode target must be a non-nil pointer to a struct, not %T", target))}
	}
	d := &decoder{ctx: ctx}
	spec, err := specOf(rv.Elem().Type())
	if err != nil {
		return hcl.Attributes{}, hcl.Diagnostics{internalError(err.Error())}
	}
	if block != nil {
		d.labels(block, spec, rv.Elem())
	}
	attrs := d.body(body, header, what, spec, rv.Elem())
	return attrs, d.diags
}

// internalError is the diagnostic for a programming error found while
// decoding (a bad target type), which no config can fix.
func internalError(msg string) *hcl.Diagnostic {
	return &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "internal error: " + msg}
}

var (
	errWrongType     = errors.New("wrong type")
	errNegative      = errors.New("negative")
	durationType     = reflect.TypeFor[Duration]()
	timeDurationType = reflect.TypeFor[time.Duration]()
	sizeType         = reflect.TypeFor[Size]()
	fileModeType     = reflect.TypeFor[os.FileMode]()
	ctyValueType     = reflect.TypeFor[cty.Value]()
	expressionType   = reflect.TypeFor[hcl.Expression]()
)

const (
	durationHint = `write a string like "30s", "1m30s" or "250ms", or a number of seconds`
	sizeHint     = `write a number of bytes or a string like "512", "64KiB", "10MB" or "1GiB"`
)

// fieldKind says how a struct field is written in HCL.
type fieldKind int

const (
	attrField fieldKind = iota
	blockField
	labelField
)

// field is one tagged struct field.
type field struct {
	name     string
	kind     fieldKind
	required bool
	index    []int
	typ      reflect.Type
}

// structSpec is the HCL shape of a struct type, fields in declaration order.
type structSpec struct {
	attrs, blocks, labels []field
}

func (s *structSpec) attr(name string) (field, bool)  { return findField(s.attrs, name) }
func (s *structSpec) block(name string) (field, bool) { return findField(s.blocks, name) }

func findField(fs []field, name string) (field, bool) {
	for _, f := range fs {
		if f.name == name {
			return f, true
		}
	}
	return field{}, false
}

func names(fs []field) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.name
	}
	return out
}

// specOf reads the hcl tags of struct type t. An error means a programming
// mistake in the struct's tags.
func specOf(t reflect.Type) (*structSpec, error) {
	s := &structSpec{}
	if err := s.add(t, nil, 0); err != nil {
		return nil, fmt.Errorf("struct %s: %w", t, err)
	}
	return s, nil
}

func (s *structSpec) add(t reflect.Type, prefix []int, depth int) error {
	if depth > 8 {
		return errors.New("embedded structs nest too deeply")
	}
	for i := range t.NumField() {
		sf := t.Field(i)
		index := append(append([]int(nil), prefix...), i)
		tag, tagged := sf.Tag.Lookup("hcl")
		if !tagged {
			if sf.Anonymous && sf.Type.Kind() == reflect.Struct && sf.IsExported() {
				if err := s.add(sf.Type, index, depth+1); err != nil {
					return err
				}
			}
			continue
		}
		if !sf.IsExported() {
			return fmt.Errorf("field %s has an hcl tag but is not exported", sf.Name)
		}
		name, opt, _ := strings.Cut(tag, ",")
		if name == "" {
			return fmt.Errorf("field %s has an hcl tag without a name", sf.Name)
		}
		f := field{name: name, index: index, typ: sf.Type}
		switch opt {
		case "", "attr":
			f.required = true
		case "optional":
		case "block":
			f.kind = blockField
			if blockElem(sf.Type) == nil {
				return fmt.Errorf("block field %s must be a struct, a pointer to one or a slice of either", sf.Name)
			}
		case "label":
			f.kind = labelField
			if sf.Type.Kind() != reflect.String {
				return fmt.Errorf("label field %s must be a string", sf.Name)
			}
		default:
			return fmt.Errorf("field %s has unknown hcl tag option %q", sf.Name, opt)
		}
		if _, dup := s.attr(name); dup {
			return fmt.Errorf("hcl name %q is used twice", name)
		}
		if _, dup := s.block(name); dup {
			return fmt.Errorf("hcl name %q is used twice", name)
		}
		switch f.kind {
		case attrField:
			s.attrs = append(s.attrs, f)
		case blockField:
			s.blocks = append(s.blocks, f)
		case labelField:
			s.labels = append(s.labels, f)
		}
	}
	return nil
}

// blockElem returns the struct type a block field decodes into, or nil when
// the field's type cannot hold a block.
func blockElem(t reflect.Type) reflect.Type {
	if t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	return t
}

// decoder accumulates the diagnostics of one Decode.
type decoder struct {
	ctx   *hcl.EvalContext
	diags hcl.Diagnostics
}

func (d *decoder) errorf(rng hcl.Range, detail, format string, args ...any) {
	r := rng
	d.diags = append(d.diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: fmt.Sprintf(format, args...), Detail: detail, Subject: &r})
}

// labels sets the label fields of v from block's labels.
func (d *decoder) labels(block *hcl.Block, spec *structSpec, v reflect.Value) {
	want := len(spec.labels)
	for i, l := range block.Labels {
		if i >= want {
			rng := block.DefRange
			if i < len(block.LabelRanges) {
				rng = block.LabelRanges[i]
			}
			if want == 0 {
				d.errorf(rng, "", "a %s block takes no label", block.Type)
			} else {
				d.errorf(rng, "", "a %s block takes %d label(s): %s", block.Type, want, strings.Join(names(spec.labels), ", "))
			}
			return
		}
		v.FieldByIndex(spec.labels[i].index).SetString(l)
	}
	if len(block.Labels) < want {
		d.errorf(block.DefRange, "", "a %s block needs a %s label", block.Type, spec.labels[len(block.Labels)].name)
	}
}

// body decodes the attributes and nested blocks of body into v.
func (d *decoder) body(body hcl.Body, header hcl.Range, what string, spec *structSpec, v reflect.Value) hcl.Attributes {
	in := ""
	if what != "" {
		in = " in the " + what + " block"
	}
	var attrs []*hcl.Attribute
	var blocks []*hcl.Block
	if sb, ok := body.(*hclsyntax.Body); ok {
		for name, a := range sb.Attributes {
			if _, ok := spec.attr(name); ok {
				attrs = append(attrs, a.AsHCLAttribute())
				continue
			}
			if _, ok := spec.block(name); ok {
				d.errorf(a.NameRange, fmt.Sprintf("write %s { ... }", name), "%q is a block, not an attribute", name)
				continue
			}
			d.errorf(a.NameRange, "", "unknown attribute %q%s%s", name, in, didYouMean(name, names(spec.attrs)))
		}
		for _, b := range sb.Blocks {
			if _, ok := spec.block(b.Type); ok {
				blocks = append(blocks, b.AsHCLBlock())
				continue
			}
			if _, ok := spec.attr(b.Type); ok {
				d.errorf(b.TypeRange, fmt.Sprintf("write %s = ...", b.Type), "%q is an attribute, not a block", b.Type)
				continue
			}
			d.errorf(b.TypeRange, "", "unknown block type %q%s%s", b.Type, in, didYouMean(b.Type, names(spec.blocks)))
		}
	} else {
		schema := &hcl.BodySchema{}
		for _, f := range spec.attrs {
			schema.Attributes = append(schema.Attributes, hcl.AttributeSchema{Name: f.name})
		}
		for _, f := range spec.blocks {
			schema.Blocks = append(schema.Blocks, hcl.BlockHeaderSchema{Type: f.name, LabelNames: labelNames(f.typ)})
		}
		content, diags := body.Content(schema)
		d.diags = append(d.diags, diags...)
		if content != nil {
			for _, a := range content.Attributes {
				attrs = append(attrs, a)
			}
			blocks = content.Blocks
		}
	}
	sort.Slice(attrs, func(i, j int) bool { return attrs[i].Range.Start.Byte < attrs[j].Range.Start.Byte })
	sort.SliceStable(blocks, func(i, j int) bool { return blocks[i].DefRange.Start.Byte < blocks[j].DefRange.Start.Byte })

	seen := make(hcl.Attributes, len(attrs))
	for _, a := range attrs {
		f, _ := spec.attr(a.Name)
		seen[a.Name] = a
		d.attr(v.FieldByIndex(f.index), a, f.required)
	}
	for _, f := range spec.attrs {
		if _, ok := seen[f.name]; f.required && !ok {
			d.errorf(header, fmt.Sprintf("add %s = ...", f.name), "missing required attribute %q%s", f.name, in)
		}
	}
	d.blocks(blocks, spec, v)
	return seen
}

// labelNames returns the label names of the struct a block field holds.
func labelNames(t reflect.Type) []string {
	s, err := specOf(blockElem(t))
	if err != nil {
		return nil
	}
	return names(s.labels)
}

// blocks decodes nested blocks into their fields.
func (d *decoder) blocks(blocks []*hcl.Block, spec *structSpec, v reflect.Value) {
	first := map[string]*hcl.Block{}
	for _, b := range blocks {
		f, _ := spec.block(b.Type)
		fv := v.FieldByIndex(f.index)
		elemType := blockElem(f.typ)
		sub, err := specOf(elemType)
		if err != nil {
			d.diags = append(d.diags, internalError(err.Error()))
			return
		}
		prev, repeated := first[b.Type]
		if !repeated {
			first[b.Type] = b
		}
		var target reflect.Value // addressable struct to decode into
		switch {
		case f.typ.Kind() == reflect.Slice:
			if !repeated {
				fv.Set(reflect.MakeSlice(f.typ, 0, 1))
			}
			if f.typ.Elem().Kind() == reflect.Pointer {
				p := reflect.New(elemType)
				fv.Set(reflect.Append(fv, p))
				target = p.Elem()
			} else {
				fv.Set(reflect.Append(fv, reflect.New(elemType).Elem()))
				target = fv.Index(fv.Len() - 1)
			}
		case repeated:
			d.errorf(b.TypeRange, fmt.Sprintf("the first is at %s", posString(prev.DefRange)), "only one %s block is allowed here", b.Type)
			continue
		case f.typ.Kind() == reflect.Pointer:
			if fv.IsNil() {
				fv.Set(reflect.New(elemType))
			}
			target = fv.Elem()
		default:
			target = fv
		}
		d.labels(b, sub, target)
		d.body(b.Body, b.DefRange, b.Type, sub, target)
	}
}

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
	case durationType, timeDurationType:
		v, err := durationValue(val)
		switch {
		case errors.Is(err, errWrongType):
			wrong()
		case errors.Is(err, errNegative):
			invalid(err, "")
		case err != nil:
			invalid(err, durationHint)
		default:
			dst.SetInt(int64(v))
		}
		return
	case sizeType:
		v, err := sizeValue(val)
		switch {
		case errors.Is(err, errWrongType):
			wrong()
		case errors.Is(err, errNegative):
			invalid(err, "")
		case err != nil:
			invalid(err, sizeHint)
		default:
			dst.SetInt(int64(v))
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
