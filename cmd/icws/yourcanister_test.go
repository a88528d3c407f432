package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/icws/icws/internal/testenv"
)

// docBlock is one fenced block of a Markdown document.
type docBlock struct {
	lang, text string
	para       string // the first line of the paragraph before it; "" when it follows a block
}

// fencedBlocks returns the fenced blocks of doc in order.
func fencedBlocks(doc string) []docBlock {
	var blocks []docBlock
	var para []string
	lines := strings.Split(doc, "\n")
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if !strings.HasPrefix(l, "```") {
			switch {
			case strings.TrimSpace(l) == "":
				if len(para) > 0 {
					para = append(para, "")
				}
			case len(para) > 0 && para[len(para)-1] == "":
				para = []string{l}
			default:
				para = append(para, l)
			}
			continue
		}
		b := docBlock{lang: strings.TrimPrefix(l, "```")}
		if len(para) > 0 {
			b.para = para[0]
		}
		var body []string
		for i++; i < len(lines) && lines[i] != "```"; i++ {
			body = append(body, lines[i])
		}
		b.text = strings.Join(body, "\n") + "\n"
		blocks = append(blocks, b)
		para = nil
	}
	return blocks
}

// docFile is the path a file block is written to: the `path` that starts its paragraph.
var docFile = regexp.MustCompile("^`([a-z]+/[a-z]+\\.[a-z]+)`")

// normalize makes pasted output comparable with a new run's: numbers (sizes, ids, client ids,
// delays, ports) become N, the state line (a temporary directory) goes, and so do trailing
// spaces.
func normalize(s string) string {
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		if strings.HasPrefix(l, "state ") {
			continue
		}
		out = append(out, strings.TrimRight(l, " "))
	}
	return regexp.MustCompile(`\d+`).ReplaceAllString(strings.Join(out, "\n"), "N")
}

// TestYourCanisterDoc follows docs/YOUR-CANISTER.md word for word, but for the ports (free ones
// instead of 4943, 8080, 8000 and 5173), the built-ins hosted natively, and `npm install`
// (the repository's node_modules linked instead: the test has no network): it writes each file
// the document shows, runs each command in a shell, checks each pasted output against the run's
// (numbers aside), and opens the page in headless Chromium where the document does, checking
// what the page shows.
func TestYourCanisterDoc(t *testing.T) {
	if testing.Short() {
		t.Skip("builds icws and a canister, runs icws dev and Chromium")
	}
	node, modules := testenv.Node(t, "playwright-core", "motoko", "@dfinity/agent")
	const chromium = "/usr/bin/chromium"
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("Chromium is missing (%v): install it with apt-get update && apt-get install -y chromium", err)
	}
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skipf("python3 is not installed: %v", err)
	}
	doc, err := os.ReadFile("../../docs/YOUR-CANISTER.md")
	if err != nil {
		t.Fatal(err)
	}
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()

	// The document's ports, and free ones to use instead.
	ports := map[string]string{}
	for _, p := range []string{"4943", "8080", "8000", "5173"} {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ports[p] = strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
		l.Close()
	}
	subst := func(s string) string {
		for from, to := range ports {
			s = strings.ReplaceAll(s, "127.0.0.1:"+from, "127.0.0.1:"+to)
			s = strings.ReplaceAll(s, "http.server "+from, "http.server "+to)
		}
		return s
	}

	tmp := t.TempDir()
	home := filepath.Join(tmp, "home")
	bin := filepath.Join(tmp, "bin")
	for _, d := range []string{home, bin} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(repo, filepath.Join(home, "icws")); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "HOME="+home, "GOBIN="+bin, "XDG_STATE_HOME="+filepath.Join(tmp, "state"),
		"PATH="+strings.Join([]string{bin, filepath.Dir(node), os.Getenv("PATH")}, string(os.PathListSeparator)))
	for _, k := range []string{"GOCACHE", "GOMODCACHE", "GOPATH"} { // keep Go's caches: HOME moved
		out, err := exec.Command("go", "env", k).Output()
		if err != nil {
			t.Fatal(err)
		}
		env = append(env, k+"="+strings.TrimSpace(string(out)))
	}

	dir := home
	project := "" // ~/mychat, once made
	// A process in the background (icws dev, the page server): its pid, and done when it ended.
	type proc struct {
		cmd  *exec.Cmd
		done chan struct{}
	}
	background := func(line string, out, errOut *lockedWriter) *proc {
		cmd := exec.Command("sh", "-c", "exec "+line)
		cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = dir, env, out, errOut
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		p := &proc{cmd: cmd, done: make(chan struct{})}
		go func() { _ = cmd.Wait(); close(p.done) }()
		return p
	}
	stop := func(p *proc, sig syscall.Signal) {
		_ = syscall.Kill(p.cmd.Process.Pid, sig) // SIGINT: Ctrl-C
		select {
		case <-p.done:
		case <-time.After(20 * time.Second):
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
			t.Errorf("%s did not stop within 20 s of %v", p.cmd.Args, sig)
		}
	}
	var dev *proc
	var devOut, devErr *lockedWriter
	stopDev := func() {
		if dev != nil {
			stop(dev, syscall.SIGINT)
			dev = nil
		}
	}
	t.Cleanup(stopDev)
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for !ok() {
			if ctx.Err() != nil {
				t.Fatalf("waiting for %s: %v", what, ctx.Err())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	// run runs one command line of a sh block and returns what it printed.
	run := func(line string) string {
		t.Helper()
		switch {
		case strings.HasPrefix(line, "cd "):
			d := strings.TrimPrefix(line, "cd ")
			d = strings.Replace(d, "~", home, 1)
			if !filepath.IsAbs(d) {
				d = filepath.Join(dir, d)
			}
			dir = d
			if filepath.Base(d) == "mychat" {
				project = d
			}
			return ""
		case strings.HasPrefix(line, "npm install "):
			if err := os.Symlink(modules, filepath.Join(dir, "node_modules")); err != nil {
				t.Fatal(err)
			}
			return ""
		case strings.HasPrefix(line, "python3 -m http.server"):
			srv := background(line, &lockedWriter{}, &lockedWriter{})
			t.Cleanup(func() { stop(srv, syscall.SIGTERM) })
			waitFor("the page server", func() bool {
				c, err := net.Dial("tcp", "127.0.0.1:"+ports["5173"])
				if err == nil {
					c.Close()
				}
				return err == nil
			})
			return ""
		case strings.HasPrefix(line, "icws dev"):
			stopDev()
			devOut, devErr = &lockedWriter{}, &lockedWriter{}
			dev = background(fmt.Sprintf("%s --native --replica-port %s --gateway-port %s --web-port %s", line, ports["4943"], ports["8080"], ports["8000"]), devOut, devErr)
			waitFor("icws dev", func() bool {
				select {
				case <-dev.done:
					t.Fatalf("icws dev ended: %s", devErr.String())
				default:
				}
				return strings.Contains(devOut.String(), "Ctrl-C stops everything.")
			})
			return devOut.String()
		}
		cmd := exec.CommandContext(ctx, "sh", "-c", line)
		cmd.Dir, cmd.Env = dir, env
		out, err := cmd.CombinedOutput()
		if _, exit := err.(*exec.ExitError); err != nil && !exit {
			t.Fatalf("%s: %v", line, err)
		}
		return string(out)
	}
	page := func(send string) (status, title string, log []string) {
		t.Helper()
		cfg, _ := json.Marshal(map[string]string{"url": "http://127.0.0.1:" + ports["5173"] + "/", "chromium": chromium, "send": send})
		out, err := exec.CommandContext(ctx, node, filepath.Join("testdata", "yourpage.mjs"), string(cfg)).Output()
		var res struct {
			Status, Title, Failure string
			Log                    []string
		}
		if err != nil || json.Unmarshal(out, &res) != nil || res.Failure != "" {
			t.Fatalf("the page in Chromium: %v %s %s", err, out, res.Failure)
		}
		return res.Status, res.Title, res.Log
	}

	var printed string // what the last sh block printed, for the output blocks after it
	blocks := fencedBlocks(string(doc))
	checked := map[string]int{}
	for _, b := range blocks {
		text := subst(b.text)
		switch {
		case b.lang == "sh":
			printed = ""
			for _, l := range strings.Split(text, "\n") {
				l = regexp.MustCompile(`\s+#\s.*$`).ReplaceAllString(l, "")
				for _, c := range strings.Split(l, " && ") {
					if c = strings.TrimSpace(c); c != "" {
						printed += run(c)
					}
				}
			}
			checked["commands"]++
		case b.lang != "" && docFile.MatchString(b.para):
			if project == "" {
				t.Fatalf("the file %s comes before the folder", b.para)
			}
			path := filepath.Join(project, docFile.FindStringSubmatch(b.para)[1])
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			checked["files"]++
		case b.lang == "" && b.para == "": // the output of the commands above
			if strings.HasPrefix(strings.TrimSpace(text), "added ") {
				continue // npm install's, which the test does not run
			}
			want := normalize(text)
			got := normalize(printed)
			if !strings.HasPrefix(got, want) {
				t.Errorf("the document shows\n%s\nthe run printed\n%s", text, printed)
			}
			printed = strings.TrimPrefix(got, want) // a second block goes on where this one ends
			checked["outputs"]++
		case b.lang == "" && strings.Contains(b.para, "status line says"):
			status, title, _ := page("")
			if status != strings.TrimSpace(text) {
				t.Errorf("the page shows\n%s\nthe document says\n%s", status, text)
			}
			printed = title
			checked["pages"]++
		case b.lang == "" && strings.HasPrefix(b.para, "and its tooltip"):
			if printed != strings.TrimSpace(text) {
				t.Errorf("the page's detail is\n%s\nthe document says\n%s", printed, text)
			}
		case b.lang == "" && strings.HasPrefix(b.para, "and `icws dev` logs"):
			want := regexp.MustCompile(`msg="[^"]*"`).FindString(text)
			if !strings.Contains(devErr.String(), "level=WARN "+want) || !strings.Contains(devErr.String(), "origin=http://127.0.0.1:"+ports["5173"]) {
				t.Errorf("icws dev logged\n%s\nwant %s with the page's origin", devErr.String(), want)
			}
		case b.lang == "" && strings.Contains(b.para, "Reload the page"):
			status, _, log := page("hello from my own page")
			if got := normalize(status + "\n" + strings.Join(log, "\n")); got != normalize(text) {
				t.Errorf("the page shows\n%s\n%s\nthe document says\n%s", status, strings.Join(log, "\n"), text)
			}
			checked["pages"]++
		}
	}
	t.Logf("followed %v", checked)
	if checked["files"] != 6 || checked["pages"] != 2 || checked["outputs"] < 8 {
		t.Errorf("followed %v: want 6 files, 2 page visits and every output", checked)
	}
}
