package main

import (
	"bytes"
	"errors"
	"flag"
	"os/exec"
	"strings"
	"testing"
	"time"

	"chat/internal/chattest"
)

// TestMain removes the binaries chattest built: the tests of the flags build the server.
func TestMain(m *testing.M) { chattest.Main(m) }

func TestParseConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string // in the error; "" for none
	}{
		{"defaults", nil, nil, ""},
		{"bad number in the environment", nil, map[string]string{"CHAT_MAX_FRAME": "abc"}, `"abc" for CHAT_MAX_FRAME (-max-frame)`},
		{"bad duration in the environment", nil, map[string]string{"CHAT_GRACE": "soon"}, `"soon" for CHAT_GRACE (-grace)`},
		{"bad number as a flag", []string{"-max-frame", "abc"}, nil, `"abc" for flag -max-frame`},
		{"unknown flag", []string{"-colour"}, nil, "-colour"},
		{"argument", []string{"now"}, nil, `unexpected argument "now"`},
		{"node with a space", []string{"-node", "a b"}, nil, `"a b" for -node`},
		{"node with a space in the environment", nil, map[string]string{"CHAT_NODE": "a\tb"}, `for -node / CHAT_NODE`},
		{"log level", []string{"-log-level", "loud"}, nil, `"loud" for -log-level`},
		{"log level in the environment", nil, map[string]string{"CHAT_LOG_LEVEL": "verbose"}, `"verbose" for -log-level / CHAT_LOG_LEVEL`},
		{"log level warn", []string{"-log-level", "warn"}, nil, ""},
		{"log format", []string{"-log-format", "xml"}, nil, `"xml" for -log-format`},
		{"certificate without key", []string{"-tls-cert", "c.pem"}, nil, "-tls-cert"},
		{"key without certificate", []string{"-tls-key", "k.pem"}, nil, "-tls-cert"},
		{"bcrypt cost too low", []string{"-bcrypt-cost", "3"}, nil, "-bcrypt-cost"},
		{"bcrypt cost too high", []string{"-bcrypt-cost", "32"}, nil, "-bcrypt-cost"},
		{"negative grace", []string{"-grace", "-1s"}, nil, "-grace"},
		{"negative frame limit", []string{"-max-frame", "-1"}, nil, "-max-frame"},
		{"negative rate", []string{"-rate-group", "-1"}, nil, "-rate-group"},
		{"zero rate", []string{"-rate-group", "0"}, nil, ""},
		{"negative presence limit", []string{"-presence-limit", "-1"}, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var o options
			err := parseConfig(newFlagSet(&o), &o, tt.args, lookup(tt.env))
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("got error %v, want none", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("got error %v, want one with %q", err, tt.want)
			case err != nil && strings.Contains(err.Error(), "\n"):
				t.Errorf("got error %q, want one line", err)
			}
		})
	}
}

func TestParseConfigSources(t *testing.T) {
	var o options
	env := map[string]string{"CHAT_NODE": "from-env", "CHAT_PRESENCE_LIMIT": "7", "CHAT_HEARTBEAT": "3s"}
	if err := parseConfig(newFlagSet(&o), &o, []string{"-heartbeat", "1s"}, lookup(env)); err != nil {
		t.Fatal(err)
	}
	if o.node != "from-env" || o.chat.Node != "from-env" || o.chat.PresenceLimit != 7 || o.chat.Heartbeat != time.Second {
		t.Errorf("got node %q (chat %q), presence limit %d, heartbeat %v; want from-env twice, 7 and 1s (the flag wins over the environment)",
			o.node, o.chat.Node, o.chat.PresenceLimit, o.chat.Heartbeat)
	}
	if err := parseConfig(newFlagSet(&o), &o, []string{"-h"}, lookup(nil)); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: got %v, want flag.ErrHelp", err)
	}
}

func lookup(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}
}

// The binary prints a configuration error as one line on stderr and exits 2,
// before it touches the network.
func TestBinaryConfigErrors(t *testing.T) {
	bin := chattest.ServerBinary(t)
	tests := []struct {
		name string
		args []string
		env  string
		want string
	}{
		{"environment", nil, "CHAT_MAX_FRAME=abc", "CHAT_MAX_FRAME"},
		{"node", []string{"-node", "a b"}, "", "-node"},
		{"log level", []string{"-log-level", "loud"}, "", "-log-level"},
		{"unknown flag", []string{"-colour"}, "", "-colour"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(bin, append([]string{"-addr", "127.0.0.1:0", "-redis", "127.0.0.1:1"}, tt.args...)...)
			if tt.env != "" {
				cmd.Env = append(cmd.Environ(), tt.env)
			}
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			done := make(chan error, 1)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			go func() { done <- cmd.Wait() }()
			var err error
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				cmd.Process.Kill()
				<-done
				t.Fatalf("the server did not exit; stderr: %s", stderr.String())
			}
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 2 {
				t.Errorf("got %v, want exit status 2", err)
			}
			line := stderr.String()
			if !strings.HasPrefix(line, "chat-server: ") || !strings.Contains(line, tt.want) || strings.Count(line, "\n") != 1 || !strings.HasSuffix(line, "\n") {
				t.Errorf("got stderr %q, want one line starting chat-server: and naming %s", line, tt.want)
			}
			if stdout.Len() != 0 {
				t.Errorf("got stdout %q, want nothing", stdout.String())
			}
		})
	}
}
