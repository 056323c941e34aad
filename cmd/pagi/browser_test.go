package main_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// requireTool finds a program the test needs. Under CI a missing tool is a
// failure with a clear message; elsewhere the test is skipped, saying why.
func requireTool(t *testing.T, name, install string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	msg := name + " is not installed (" + install + ")"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// TestChatExampleInBrowser serves examples/chat.hcl with the real binary and
// drives two headless Chromium pages through it (e2e/chat.mjs): messages in
// a room over WebSocket, a published headline through EventSource.
func TestChatExampleInBrowser(t *testing.T) {
	chromium := requireTool(t, "chromium", "apt-get install chromium")
	node := requireTool(t, "node", "apt-get install nodejs")
	e2e, _ := filepath.Abs("../../e2e")
	if _, err := os.Stat(filepath.Join(e2e, "node_modules", "playwright-core")); err != nil {
		npm := requireTool(t, "npm", "apt-get install npm")
		cmd := exec.Command(npm, "ci", "--no-audit", "--no-fund")
		cmd.Dir = e2e
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("npm ci in e2e/: %v\n%s", err, out)
		}
	}
	p := startProcFile(t, binary(t, "pagi"), "../../examples/chat.hcl", "PAGI_ADDRESS=127.0.0.1:0")
	addr := p.waitFor(t, "listening")["address"].(string)
	cmd := exec.Command(node, filepath.Join(e2e, "chat.mjs"), "http://"+addr)
	cmd.Env = append(os.Environ(), "CHROMIUM="+chromium)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("browser test failed: %v\n%s\nserver log:\n%s", err, out, p.log())
	}
	t.Logf("%s", out)
}
