package main

// Line input and output of the menu.
//
// Why readline: messages arrive while the user is typing at a prompt. Printing them
// with fmt would write into the middle of the half-typed line. github.com/chzyer/readline
// owns the input line: its Write clears the prompt and the partial input, prints the
// message, and redraws the prompt with the input as it was, so asynchronous lines appear
// above the prompt and typing goes on undisturbed. It also reads passwords without echo.
// When stdin is not a terminal (a script, a pipe) readline is not used: lines are read
// plainly from stdin and everything goes to stdout.

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chzyer/readline"
)

// Line is one answer read from the user. Err is set at the end of input
// (end of file, Ctrl-D, Ctrl-C or the terminal being closed).
type Line struct {
	Text string
	Err  error
}

// Terminal is the line input and output the menu runs on.
type Terminal interface {
	// ReadLine shows prompt and starts reading one line, without echo when secret;
	// the answer arrives on the returned channel. One read at a time.
	ReadLine(prompt string, secret bool) <-chan Line
	// SetPrompt replaces the prompt of the read in progress.
	SetPrompt(prompt string)
	// Println prints s on its own line(s), above the prompt and the partial input.
	Println(s string)
	// Close ends the terminal; a read in progress ends with an error.
	Close() error
}

// readlineTerm is the Terminal of an interactive session.
type readlineTerm struct {
	rl      *readline.Instance
	reading atomic.Bool // a ReadLine of a visible line is in progress
}

func newReadlineTerm(stdin io.ReadCloser, stdout, stderr io.Writer) (*readlineTerm, error) {
	rl, err := readline.NewEx(&readline.Config{
		Stdin:  stdin,
		Stdout: stdout,
		Stderr: stderr,
		// History (up-arrow recalls a line) stays in memory; passwords are not kept.
		HistoryLimit: 200,
	})
	if err != nil {
		return nil, err
	}
	return &readlineTerm{rl: rl}, nil
}

func (t *readlineTerm) ReadLine(prompt string, secret bool) <-chan Line {
	ch := make(chan Line, 1)
	// A password read redraws with a prompt of its own: Println leaves it be.
	t.reading.Store(!secret)
	go func() {
		var (
			s   string
			err error
		)
		defer func() {
			t.reading.Store(false)
			ch <- Line{Text: s, Err: err}
		}()
		if secret {
			var b []byte
			b, err = t.rl.ReadPassword(prompt)
			s = string(b)
		} else {
			t.rl.SetPrompt(prompt)
			s, err = t.rl.Readline()
		}
	}()
	return ch
}

func (t *readlineTerm) SetPrompt(prompt string) {
	t.rl.SetPrompt(prompt)
	t.rl.Refresh()
}

func (t *readlineTerm) Println(s string) {
	// readline's Write clears the prompt line, writes, and redraws the prompt and input.
	t.rl.Write([]byte(s + "\n"))
	if t.reading.Load() && !t.rl.Terminal.IsReading() {
		// readline draws its prompt a moment before it counts as reading: a line
		// written in between went out as it is, after the prompt, and left no
		// prompt below it. Draw it again once the read has begun.
		go t.redrawOnceReading()
	}
}

// redrawOnceReading redraws the prompt and input as soon as readline reads, if
// it does within a second.
func (t *readlineTerm) redrawOnceReading() {
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if t.rl.Terminal.IsReading() {
			t.rl.Refresh()
			return
		}
	}
}

func (t *readlineTerm) Close() error { return t.rl.Close() }

// plainTerm is the Terminal of a script: lines from r, output to w.
// The text of each line read is echoed after its prompt (passwords are not), so
// the output reads as a transcript.
type plainTerm struct {
	in *bufio.Reader

	mu      sync.Mutex
	w       io.Writer
	prompt  string // prompt of the read in progress
	reading bool   // a read is in progress
	open    bool   // the output ends with a prompt and no newline yet
}

func newPlainTerm(r io.Reader, w io.Writer) *plainTerm {
	return &plainTerm{in: bufio.NewReader(r), w: w}
}

func (t *plainTerm) ReadLine(prompt string, secret bool) <-chan Line {
	t.mu.Lock()
	t.prompt, t.reading = prompt, true
	t.showPrompt()
	t.mu.Unlock()

	ch := make(chan Line, 1)
	go func() {
		s, err := t.in.ReadString('\n')
		if err == io.EOF && s != "" {
			err = nil // a last line without a newline still counts
		}
		s = strings.TrimRight(s, "\r\n")

		t.mu.Lock()
		t.reading = false
		switch {
		case err != nil:
			t.endLine()
		case secret:
			t.endLine()
		default:
			if !t.open {
				fmt.Fprint(t.w, t.prompt)
			}
			fmt.Fprintln(t.w, s)
			t.open = false
		}
		t.mu.Unlock()
		ch <- Line{Text: s, Err: err}
	}()
	return ch
}

func (t *plainTerm) SetPrompt(prompt string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.prompt = prompt
	t.endLine()
	t.showPrompt()
}

func (t *plainTerm) Println(s string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.endLine()
	fmt.Fprintln(t.w, s)
	if t.reading {
		t.showPrompt() // the reader is still at the prompt
	}
}

// showPrompt writes the prompt; mu is held.
func (t *plainTerm) showPrompt() {
	fmt.Fprint(t.w, t.prompt)
	t.open = t.prompt != ""
}

// endLine ends a line left open by a prompt; mu is held.
func (t *plainTerm) endLine() {
	if t.open {
		fmt.Fprintln(t.w)
		t.open = false
	}
}

func (t *plainTerm) Close() error { return nil }
