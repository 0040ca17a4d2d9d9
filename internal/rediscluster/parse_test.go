package rediscluster

import (
	"testing"

	"github.com/gomodule/redigo/redis"
)

func TestParseRedirect(t *testing.T) {
	tests := []struct {
		reply  string
		from   string
		want   redirect
		wantOK bool
	}{
		{"MOVED 3999 127.0.0.1:6381", "127.0.0.1:7000", redirect{slot: 3999, addr: "127.0.0.1:6381"}, true},
		{"ASK 3999 10.0.0.2:6381", "127.0.0.1:7000", redirect{ask: true, slot: 3999, addr: "10.0.0.2:6381"}, true},
		{"MOVED 12 :6381", "10.0.0.9:7000", redirect{slot: 12, addr: "10.0.0.9:6381"}, true}, // a node that does not know its host
		{"MOVED 16384 127.0.0.1:6381", "", redirect{}, false},
		{"MOVED x 127.0.0.1:6381", "", redirect{}, false},
		{"MOVED 1", "", redirect{}, false},
		{"TRYAGAIN Multiple keys request during rehashing of slot", "", redirect{}, false},
		{"ERR unknown command", "", redirect{}, false},
	}
	for _, tt := range tests {
		got, ok := parseRedirect(redis.Error(tt.reply), tt.from)
		if ok != tt.wantOK || got != tt.want {
			t.Errorf("parseRedirect(%q): got %+v %v, want %+v %v", tt.reply, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestTransient(t *testing.T) {
	tests := []struct {
		reply string
		want  bool
	}{
		{"TRYAGAIN Multiple keys request during rehashing of slot", true},
		{"CLUSTERDOWN The cluster is down", true},
		{"LOADING Redis is loading the dataset in memory", true},
		{"MASTERDOWN Link with MASTER is down", true},
		{"MOVED 1 127.0.0.1:1", false},
		{"WRONGTYPE Operation against a key holding the wrong kind of value", false},
		{"NOSCRIPT No matching script", false},
	}
	for _, tt := range tests {
		if got := transient(redis.Error(tt.reply)); got != tt.want {
			t.Errorf("transient(%q): got %v, want %v", tt.reply, got, tt.want)
		}
	}
}

func TestFirstKey(t *testing.T) {
	tests := []struct {
		name   string
		args   []any
		want   string
		wantOK bool
	}{
		{"GET", []any{"k"}, "k", true},
		{"set", []any{[]byte("b"), 1}, "b", true},
		{"EVALSHA", []any{"sha", 2, "k1", "k2", "a"}, "k1", true},
		{"EVAL", []any{"src", "1", "k"}, "k", true},
		{"EVALSHA", []any{"sha", 0, "a"}, "", false},
		{"XREAD", []any{"COUNT", 1, "STREAMS", "s1", "s2", "0", "0"}, "s1", true},
		{"XREADGROUP", []any{"GROUP", "g", "c", "streams", "s", ">"}, "s", true},
		{"PING", nil, "", false},
		{"WAIT", []any{1, 100}, "", false},
		{"SPUBLISH", []any{"chat:node:{n1}", "x"}, "chat:node:{n1}", true},
		{"ZADD", []any{"online", 7, 7}, "online", true},
	}
	for _, tt := range tests {
		got, ok := firstKey(tt.name, tt.args)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("firstKey(%s %v): got %q %v, want %q %v", tt.name, tt.args, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestWrites(t *testing.T) {
	script := redis.NewScript(1, "return 1")
	tests := []struct {
		cmd  Cmd
		want bool
	}{
		{Cmd{Name: "GET"}, false},
		{Cmd{Name: "xrange"}, false},
		{Cmd{Name: "SPUBLISH"}, false},
		{Cmd{Name: "SET"}, true},
		{Cmd{Name: "XADD"}, true},
		{Cmd{Name: "EVALSHA"}, true},
		{Cmd{Script: script}, true},
	}
	for _, tt := range tests {
		if got := writes(tt.cmd); got != tt.want {
			t.Errorf("writes(%+v): got %v, want %v", tt.cmd, got, tt.want)
		}
	}
}
