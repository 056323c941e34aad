//go:build !unix

package handlers

import "os"

// staticOpenFlags opens files for reading; see static_unix.go.
const staticOpenFlags = os.O_RDONLY
