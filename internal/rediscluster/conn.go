package rediscluster

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/gomodule/redigo/redis"
)

// Pool returns a redigo pool whose connections are the cluster's (Conn): code
// written for one Redis behind a *redis.Pool runs on the cluster unchanged, as
// long as every command and script touches the keys of one slot. The pool
// bounds nothing: the connections to the nodes are the nodes' pools'.
func (c *Cluster) Pool() *redis.Pool {
	return &redis.Pool{
		DialContext: func(context.Context) (redis.Conn, error) { return c.Conn(), nil },
		MaxIdle:     64,
	}
}

// Conn returns a connection to the cluster: each command goes to the primary of
// its first key (Do); a pipeline (Send, then Flush or Do) is split per primary
// (Pipeline). A command that names no key goes where the previous command
// went. WAIT needs the very connection of the writes it waits for, which a
// Conn does not hold between two calls: see Config.WaitReplicas instead.
func (c *Cluster) Conn() *Conn { return &Conn{cluster: c} }

// Conn is a connection to a cluster as redigo sees one. It is not safe for
// concurrent use, as no redigo connection is.
type Conn struct {
	cluster *Cluster
	pending []Cmd    // sent, not flushed
	replies []Result // flushed, not received
	lastKey string
	closed  bool
}

var (
	_ redis.Conn            = (*Conn)(nil)
	_ redis.ConnWithContext = (*Conn)(nil)
)

var errConnClosed = errors.New("rediscluster: connection closed")

// Close forgets what was sent and not received.
func (c *Conn) Close() error {
	c.closed = true
	c.pending, c.replies = nil, nil
	return nil
}

// Err is nil: an error of one node leaves the connection usable for the others.
func (c *Conn) Err() error {
	if c.closed {
		return errConnClosed
	}
	return nil
}

// Send queues a command for the next Flush.
func (c *Conn) Send(name string, args ...any) error {
	if c.closed {
		return errConnClosed
	}
	c.pending = append(c.pending, c.cmd(name, args))
	return nil
}

// Flush runs the queued commands; Receive returns their replies.
func (c *Conn) Flush() error { return c.flush(context.Background()) }

func (c *Conn) flush(ctx context.Context) error {
	if c.closed {
		return errConnClosed
	}
	if len(c.pending) == 0 {
		return nil
	}
	res := c.cluster.Pipeline(ctx, c.pending)
	c.pending = c.pending[:0]
	c.replies = append(c.replies, res...)
	return nil
}

// Receive returns the reply of the oldest command flushed and not received.
func (c *Conn) Receive() (any, error) { return c.ReceiveContext(context.Background()) }

// ReceiveContext is Receive, after a Flush under ctx if commands are pending.
func (c *Conn) ReceiveContext(ctx context.Context) (any, error) {
	if len(c.replies) == 0 {
		if err := c.flush(ctx); err != nil {
			return nil, err
		}
	}
	if len(c.replies) == 0 {
		return nil, errors.New("rediscluster: Receive with no command sent")
	}
	r := c.replies[0]
	c.replies = c.replies[1:]
	return r.Reply, r.Err
}

// Do runs the queued commands and name, as redigo's Do does: with name "" it
// returns every reply (an error reply as a redis.Error among them), otherwise
// name's reply, with the first error of all.
func (c *Conn) Do(name string, args ...any) (any, error) {
	return c.DoContext(context.Background(), name, args...)
}

// DoContext is Do under ctx: the retries of the cluster end when it does.
func (c *Conn) DoContext(ctx context.Context, name string, args ...any) (any, error) {
	if c.closed {
		return nil, errConnClosed
	}
	if name != "" {
		c.pending = append(c.pending, c.cmd(name, args))
	}
	if err := c.flush(ctx); err != nil {
		return nil, err
	}
	res := c.replies
	c.replies = nil
	if name == "" {
		out := make([]any, len(res))
		for i, r := range res {
			var e redis.Error
			switch {
			case r.Err == nil:
				out[i] = r.Reply
			case errors.As(r.Err, &e):
				out[i] = e
			default:
				return nil, r.Err // a node's connection failed: no reply of it can be trusted
			}
		}
		return out, nil
	}
	var first error
	for _, r := range res {
		if r.Err != nil && first == nil {
			first = r.Err
		}
	}
	last := res[len(res)-1]
	return last.Reply, first
}

// cmd routes name by its first key, or by the key of the command before.
func (c *Conn) cmd(name string, args []any) Cmd {
	key, ok := firstKey(name, args)
	if ok {
		c.lastKey = key
	} else {
		key = c.lastKey
	}
	return Cmd{Key: key, Name: name, Args: args}
}

// firstKey returns the key that routes a command, if it names one.
func firstKey(name string, args []any) (string, bool) {
	switch strings.ToUpper(name) {
	case "PING", "ECHO", "TIME", "INFO", "WAIT", "SCRIPT", "CLUSTER", "CONFIG",
		"COMMAND", "DBSIZE", "FLUSHALL", "FLUSHDB", "ROLE", "ASKING", "READONLY":
		return "", false
	case "EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO", "FCALL", "FCALL_RO":
		if len(args) < 3 {
			return "", false
		}
		if n, err := strconv.Atoi(argString(args[1])); err != nil || n < 1 {
			return "", false
		}
		return argString(args[2]), true
	case "XREAD", "XREADGROUP":
		for i, a := range args {
			if strings.EqualFold(argString(a), "STREAMS") && i+1 < len(args) {
				return argString(args[i+1]), true
			}
		}
		return "", false
	}
	if len(args) == 0 {
		return "", false
	}
	return argString(args[0]), true
}

func argString(a any) string {
	switch v := a.(type) {
	case string:
		return v
	case []byte:
		return string(v)
	case int:
		return strconv.Itoa(v)
	case int64:
		return strconv.FormatInt(v, 10)
	default:
		return fmt.Sprint(v)
	}
}
