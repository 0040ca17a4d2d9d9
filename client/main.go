// Command chat-client is the terminal client of the chat server (docs/PROTOCOL.md,
// proto 2: it acknowledges private messages and drops repeated ones, and logs in
// again with its session token when the connection drops; see reconnect.go).
//
// Interactive use: run it in a terminal and follow the menus. Messages, presence
// changes and notices appear above the prompt as they arrive, without disturbing
// the line being typed (see terminal.go).
//
// Scripted use: when stdin is not a terminal the same menus read one answer per line:
//
//	printf '1\n100\n123456\n2\nhello all\n5\n3\n' | chat-client
//
// logs in as 100, sends "hello all" to the group, logs out and exits 0.
package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/chzyer/readline"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "chat-client:", err)
		os.Exit(1)
	}
}

func run() error {
	useTLS, err := envBool("CHAT_TLS")
	if err != nil {
		return err
	}
	addrList := flag.String("addr", envOr("CHAT_ADDR", "127.0.0.1:8889"),
		"server address host:port, or several nodes separated by commas: a dropped connection comes back on the next one (env CHAT_ADDR)")
	flag.BoolVar(&useTLS, "tls", useTLS, "connect with TLS (env CHAT_TLS)")
	caFile := flag.String("tls-ca", os.Getenv("CHAT_TLS_CA"), "PEM file of the CA to trust; implies -tls (env CHAT_TLS_CA)")
	timeout := flag.Duration("timeout", 10*time.Second, "how long to wait for the server's answer")
	flag.Usage = usage
	flag.Parse()

	addrs, err := parseAddrs(*addrList)
	if err != nil {
		return err
	}
	var tlsConf *tls.Config
	if useTLS || *caFile != "" {
		if tlsConf, err = clientTLS(*caFile); err != nil {
			return err
		}
	}

	term, err := openTerminal()
	if err != nil {
		return err
	}
	defer term.Close()

	quit := make(chan struct{})
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sig
		close(quit)
	}()

	ui := &UI{
		Term:    term,
		Dial:    func(addr string) (*Conn, error) { return Dial(addr, tlsConf, *timeout) },
		Addrs:   addrs,
		Timeout: *timeout,
		View:    View{Loc: time.Local, Now: time.Now},
		Quit:    quit,
	}
	ui.Run()
	return nil
}

// usage is the client's help: its menus, its flags, and how it behaves when the
// connection drops.
func usage() {
	fmt.Fprint(flag.CommandLine.Output(), usageText())
	flag.PrintDefaults()
}

// usageText is the help before the flags. The menus are the ones the client
// shows (firstMenu, sessionMenu, roomsMenu), so that help and menus agree.
func usageText() string {
	return `Usage: chat-client [flags]

Connects to the chat server at -addr (default 127.0.0.1:8889), e.g.
  chat-client -addr 127.0.0.1:9000
  chat-client -addr 127.0.0.1:8889,127.0.0.1:8890   (two nodes: the second if the first drops)

Menus. At start:` + indent(firstMenu) + `
Once logged in:` + indent(sessionMenu+"\n"+roomsMenu) + `

  1 Online users     who is online now
  2 Group message    a message to every online user
  3 Private message  a message to one user by id; kept for them if they are offline
  4 Messages         this session's messages so far
  5 Log out          ends the session and revokes its token
  6 Create           a room, by name; the answer gives its id
  7 Join, 8 Leave    a room, by id
  9 My rooms         the rooms you are a member of
  10 Members         the members of a room
  11 Room message    a message to the members of a room
  12 History         earlier messages with a user (u) or in a room (r), 20 at a time

Session tokens and reconnection: a login with the password gets a session
token from the server (kept in memory only, never shown). When the connection
drops, the client says "Connection lost, reconnecting…", waits a random time
(under 1 s for the first 20 tries, about 10 s, then doubling up to 30 s),
connects to the next address of -addr and logs in again with the token, without
asking for the password; then it says "Reconnected" and shows the private
messages that came meanwhile. While it reconnects, what needs the server (choices
1 to 3 and 6 to 12) is refused with a line saying so: nothing is queued, type it
again once reconnected. If the server refuses the token (expired or revoked),
the client asks for the password. Logging out (5) revokes the token.

Flags:
`
}

// indent puts two spaces before each line of s, and a line break before it.
func indent(s string) string {
	var b strings.Builder
	for l := range strings.SplitSeq(strings.Trim(s, "\n"), "\n") {
		b.WriteString("\n  " + strings.TrimLeft(l, " "))
	}
	return b.String()
}

// parseAddrs splits the -addr list into host:port addresses.
func parseAddrs(list string) ([]string, error) {
	var addrs []string
	for a := range strings.SplitSeq(list, ",") {
		a = strings.TrimSpace(a)
		if a == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(a); err != nil {
			return nil, fmt.Errorf("bad -addr %q: %w", a, err)
		}
		addrs = append(addrs, a)
	}
	if len(addrs) == 0 {
		return nil, errors.New("-addr: no server address")
	}
	return addrs, nil
}

// openTerminal uses readline when stdin is a terminal, plain lines otherwise.
func openTerminal() (Terminal, error) {
	if readline.IsTerminal(int(os.Stdin.Fd())) {
		return newReadlineTerm(os.Stdin, os.Stdout, os.Stderr)
	}
	return newPlainTerm(os.Stdin, os.Stdout), nil
}

// clientTLS returns the TLS configuration: caFile, when given, is the only CA
// trusted. Dial names the server after the host of the address it dials.
func clientTLS(caFile string) (*tls.Config, error) {
	conf := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("-tls-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("-tls-ca: no PEM certificate in %s", caFile)
		}
		conf.RootCAs = pool
	}
	return conf, nil
}

// envOr returns the environment variable key, or def when it is unset or empty.
func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// envBool parses the boolean environment variable key (false when unset).
func envBool(key string) (bool, error) {
	v := os.Getenv(key)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, errors.New(key + ": want true or false, got " + strconv.Quote(v))
	}
	return b, nil
}
