package chat_test

import (
	"fmt"
	"net/http"
	"sync"
	"syscall"
	"testing"
	"time"

	"chat/common/message"
)

// storeWait is how long a request may wait for the store: the server's store
// timeout (5 s) and a little for the answer to come back.
const storeWait = 5*time.Second + 500*time.Millisecond

// healthz returns the status of a GET of /healthz at addr, and how long it took;
// status 0 if no answer came within two seconds.
func healthz(addr string) (int, time.Duration) {
	start := time.Now()
	hc := http.Client{Timeout: 2 * time.Second}
	res, err := hc.Get("http://" + addr + "/healthz")
	if err != nil {
		return 0, time.Since(start)
	}
	res.Body.Close()
	return res.StatusCode, time.Since(start)
}

// A Redis that hangs (SIGSTOP) for ten seconds: /healthz answers 503 within a
// second; every request is answered within the store timeout, a send with 505
// and retryAfter; once Redis resumes, the node serves within five seconds, with
// no restart: health 200, resends answered 200 and delivered once.
func TestRedisHang(t *testing.T) {
	r := needRedis(t)
	p, maddr := startProcessWithMetrics(t, r)
	const senders = 20
	ben := user(t, p.Addr, 1000, "ben", message.ProtoAck)
	cs := make([]*client, senders)
	for i := range cs {
		cs[i] = user(t, p.Addr, i+1, fmt.Sprint("s", i+1), message.ProtoAck)
	}
	if code, _ := healthz(maddr); code != http.StatusOK {
		t.Fatalf("healthz before the hang: %d", code)
	}
	pid := r.Pid()
	resumed := false
	resume := func() {
		if !resumed {
			syscall.Kill(pid, syscall.SIGCONT)
			resumed = true
		}
	}
	t.Cleanup(resume)
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	hangStart := time.Now()

	// Health: five tries, each answered 503 within a second.
	for i := range 5 {
		if code, took := healthz(maddr); code != http.StatusServiceUnavailable || took > time.Second {
			t.Errorf("healthz try %d during the hang: got %d after %v, want 503 within 1s", i, code, took)
		}
	}
	// Every sender's message, at once: answered within the store timeout.
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Go(func() {
			var res message.PrivateResMes
			start := time.Now()
			err := c.request(message.PrivateMesType, message.PrivateMes{ToUserID: 1000, Content: fmt.Sprint("m", i), ClientMsgID: fmt.Sprint("c", i)},
				message.PrivateResMesType, &res, 2*storeWait)
			took := time.Since(start)
			switch {
			case err != nil:
				t.Errorf("sender %d: no answer within %v: %v", i, 2*storeWait, err)
			case took > storeWait:
				t.Errorf("sender %d: answered %+v after %v, want within %v", i, res, took, storeWait)
			case res.Code != message.CodeServerError || res.RetryAfter <= 0:
				t.Errorf("sender %d: got %+v, want 505 with retryAfter", i, res)
			}
		})
	}
	// A read, as well: answered within the store timeout.
	wg.Go(func() {
		var res message.HistoryResMes
		start := time.Now()
		err := ben.request(message.HistoryMesType, message.HistoryMes{UserID: 1, Limit: 10}, message.HistoryResMesType, &res, 2*storeWait)
		if took := time.Since(start); err != nil || took > storeWait || res.Code != message.CodeServerError {
			t.Errorf("history during the hang: got %+v, %v after %v, want 505 within %v", res, err, took, storeWait)
		}
	})
	wg.Wait()
	// Ten seconds of hang in all.
	time.Sleep(10*time.Second - time.Since(hangStart))
	resume()
	back := time.Now()

	checkFor(t, 5*time.Second, "healthz to answer 200 after the resume", func() bool {
		code, _ := healthz(maddr)
		return code == http.StatusOK
	})
	// Each sender resends with its clientMsgId; each is answered 200 and ben gets
	// every message once, all within five seconds of the resume.
	for i, c := range cs {
		wg.Go(func() {
			var res message.PrivateResMes
			for {
				err := c.request(message.PrivateMesType, message.PrivateMes{ToUserID: 1000, Content: fmt.Sprint("m", i), ClientMsgID: fmt.Sprint("c", i)},
					message.PrivateResMesType, &res, 5*time.Second)
				if err != nil || res.Code == message.CodeOK || time.Since(back) > 5*time.Second {
					break
				}
				time.Sleep(time.Duration(res.RetryAfter) * time.Millisecond)
			}
			if res.Code != message.CodeOK {
				t.Errorf("sender %d: resend got %+v, want 200", i, res)
			}
		})
	}
	wg.Wait()
	got := map[string]int{}
	poll(5*time.Second-time.Since(back), func() bool {
		for _, f := range ben.takeAll(message.PrivateMesType) {
			m := decode[message.PrivateMes](t, f)
			got[m.Content]++
		}
		return len(got) == senders
	})
	if took := time.Since(back); len(got) != senders {
		t.Errorf("ben got %d of the %d messages within %v of the resume: %v", len(got), senders, took, got)
	}
	ben.ping()
	for _, f := range ben.takeAll(message.PrivateMesType) {
		got[decode[message.PrivateMes](t, f).Content]++
	}
	for content, n := range got {
		if n != 1 {
			t.Errorf("ben got %q %d times, want once", content, n)
		}
	}
}
