package config

import (
	"fmt"
	"os"
	"sort"
	"unicode/utf8"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

// FunctionNames returns the names of the functions a config may call,
// sorted.
func FunctionNames() []string {
	ctx := (&loader{}).evalContext("")
	out := make([]string, 0, len(ctx.Functions))
	for name := range ctx.Functions {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// evalContext returns the context the expressions of a config file in dir
// are evaluated in: no variables, and the functions of FunctionNames.
// file() resolves relative paths against dir and reads through l, which
// records every file read.
func (l *loader) evalContext(dir string) *hcl.EvalContext {
	return &hcl.EvalContext{
		Functions: map[string]function.Function{
			"env":        envFunc,
			"file":       l.fileFunc(dir),
			"lower":      stdlib.LowerFunc,
			"upper":      stdlib.UpperFunc,
			"trimspace":  stdlib.TrimSpaceFunc,
			"format":     stdlib.FormatFunc,
			"join":       stdlib.JoinFunc,
			"split":      stdlib.SplitFunc,
			"replace":    stdlib.ReplaceFunc,
			"jsonencode": stdlib.JSONEncodeFunc,
			"coalesce":   stdlib.CoalesceFunc,
			"concat":     stdlib.ConcatFunc,
			"tostring":   stdlib.MakeToFunc(cty.String),
			"tonumber":   stdlib.MakeToFunc(cty.Number),
		},
	}
}

// envFunc is env(name) or env(name, default): the value of an environment
// variable, the default when it is unset, an error when it is unset and no
// default is given. A variable set to "" counts as set.
var envFunc = function.New(&function.Spec{
	Description: "Returns the value of an environment variable, or the default when it is unset.",
	Params:      []function.Parameter{{Name: "name", Type: cty.String}},
	VarParam:    &function.Parameter{Name: "default", Type: cty.String},
	Type:        function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		if len(args) > 2 {
			return cty.NilVal, function.NewArgErrorf(2, "env takes a name and at most one default")
		}
		name := args[0].AsString()
		if v, ok := os.LookupEnv(name); ok {
			return cty.StringVal(v), nil
		}
		if len(args) == 2 {
			return args[1], nil
		}
		return cty.NilVal, function.NewArgErrorf(0, "environment variable %q is not set; set it, or give a default: env(%q, \"...\")", name, name)
	},
})

// fileFunc returns file(path): the content of a text file, path relative to
// dir, the directory of the config file the call is written in.
func (l *loader) fileFunc(dir string) function.Function {
	return function.New(&function.Spec{
		Description: "Returns the content of a file, relative to the directory of the config file the call is in.",
		Params:      []function.Parameter{{Name: "path", Type: cty.String}},
		Type:        function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			path := resolveIn(dir, args[0].AsString())
			data, err := l.readFile(path)
			if err != nil {
				return cty.NilVal, function.NewArgError(0, err)
			}
			if !utf8.Valid(data) {
				return cty.NilVal, function.NewArgErrorf(0, "%s is not UTF-8 text", path)
			}
			return cty.StringVal(string(data)), nil
		},
	})
}

// maxFileSize bounds what file() and TLS checks read, so that a config
// cannot make validation read a device or a huge file.
const maxFileSize = 16 << 20

// readFile reads a regular file of at most maxFileSize bytes, records it in
// the config's file list and returns its content.
func (l *loader) readFile(path string) ([]byte, error) {
	if data, ok := l.contents[path]; ok {
		return data, nil
	}
	data, err := readRegularFile(path)
	if err != nil {
		return nil, err
	}
	l.contents[path] = data
	l.files = append(l.files, path)
	return data, nil
}

// readRegularFile reads path, refusing anything but a regular file of at
// most maxFileSize bytes.
func readRegularFile(path string) ([]byte, error) {
	// Stat before opening: opening a FIFO for reading would block.
	if st, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", path, unwrapPathError(err))
	} else if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("cannot read %s: not a regular file", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", path, unwrapPathError(err))
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", path, unwrapPathError(err))
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("cannot read %s: not a regular file", path)
	}
	if st.Size() > maxFileSize {
		return nil, fmt.Errorf("cannot read %s: larger than %d bytes", path, maxFileSize)
	}
	data := make([]byte, st.Size())
	n, err := f.ReadAt(data, 0)
	if err != nil && n != len(data) {
		return nil, fmt.Errorf("cannot read %s: %w", path, unwrapPathError(err))
	}
	return data, nil
}

// unwrapPathError strips the operation and path from an *os.PathError, whose
// message would repeat the path.
func unwrapPathError(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}
