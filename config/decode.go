package config

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
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
