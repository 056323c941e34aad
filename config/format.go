package config

import "github.com/hashicorp/hcl/v2/hclwrite"

// Format returns src in canonical layout, for `pagi fmt`: the layout of
// hclwrite.Format (and terraform fmt), two spaces of indentation per level,
// one space around operators and inside braces, the equals signs of
// consecutive attributes aligned. Formatting is lexical: it keeps every
// token, comment and heredoc, so it never changes a config's meaning. Format
// never panics; should the formatter fail, src is returned unchanged.
func Format(src []byte) (out []byte) {
	defer func() {
		if recover() != nil {
			out = append([]byte(nil), src...)
		}
	}()
	return hclwrite.Format(src)
}
