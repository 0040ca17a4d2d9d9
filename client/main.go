// Command chat-client is the terminal client of the chat server (docs/PROTOCOL.md,
// proto 2: it acknowledges private messages and drops repeated ones).
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
	addr := flag.String("addr", envOr("CHAT_ADDR", "127.0.0.1:8889"), "server address host:port (env CHAT_ADDR)")
	flag.BoolVar(&useTLS, "tls", useTLS, "connect with TLS (env CHAT_TLS)")
	caFile := flag.String("tls-ca", os.Getenv("CHAT_TLS_CA"), "PEM file of the CA to trust; implies -tls (env CHAT_TLS_CA)")
	timeout := flag.Duration("timeout", 10*time.Second, "how long to wait for the server's answer")
	flag.Parse()

	var tlsConf *tls.Config
	if useTLS || *caFile != "" {
		if tlsConf, err = clientTLS(*addr, *caFile); err != nil {
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
		Dial:    func() (*Conn, error) { return Dial(*addr, tlsConf, *timeout) },
		Addr:    *addr,
		Timeout: *timeout,
		View:    View{Loc: time.Local, Now: time.Now},
		Quit:    quit,
	}
	ui.Run()
	return nil
}

// openTerminal uses readline when stdin is a terminal, plain lines otherwise.
func openTerminal() (Terminal, error) {
	if readline.IsTerminal(int(os.Stdin.Fd())) {
		return newReadlineTerm(os.Stdin, os.Stdout, os.Stderr)
	}
	return newPlainTerm(os.Stdin, os.Stdout), nil
}

// clientTLS returns the TLS configuration for addr: the server name is the
// address's host; caFile, when given, is the only CA trusted.
func clientTLS(addr, caFile string) (*tls.Config, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("bad -addr %q: %w", addr, err)
	}
	conf := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
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
