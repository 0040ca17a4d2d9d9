package model

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

func contents(msgs []Stored) []string {
	var out []string
	for _, m := range msgs {
		out = append(out, m.Content)
	}
	return out
}

func ids(msgs []Stored) []string {
	var out []string
	for _, m := range msgs {
		out = append(out, m.ID)
	}
	return out
}

// A burst to two recipients lands in both inboxes and both histories, in
// order, with the ids the sender is given; a resend is recognised, changes
// nothing, and completes a history that missed the message.
func TestSendInboxAndHistory(t *testing.T) {
	forEachRedis(t, func(t *testing.T, r testRedis) {
		ctx := context.Background()
		r.register(t, 1, 2, 3)
		inbox := NewRedisInbox(r.pool, time.Minute, Retention{})
		burst := []SendRequest{{To: 2, Content: "a", ClientMsgID: "c1"}, {To: 3, Content: "b", ClientMsgID: "c2"}, {To: 2, Content: "c"}}
		res, errs := inbox.Send(ctx, 1, "u1", burst, SendLimits{})
		for k, err := range errs {
			if err != nil || res[k].MsgID == "" || res[k].Duplicate {
				t.Fatalf("message %d: got %+v, %v, want kept", k, res[k], err)
			}
		}
		if res[0].Previous != "" || res[2].Previous != res[0].MsgID {
			t.Errorf("Previous: got %q and %q, want \"\" and %q", res[0].Previous, res[2].Previous, res[0].MsgID)
		}
		check := func(user, other int, wantContents, wantIDs []string) {
			t.Helper()
			got, err := inbox.Read(ctx, user, "", 10)
			if err != nil || !slices.Equal(contents(got), wantContents) || !slices.Equal(ids(got), wantIDs) {
				t.Errorf("%d's inbox: got %v %v, %v, want %v %v", user, contents(got), ids(got), err, wantContents, wantIDs)
			}
			h, _, err := inbox.History(ctx, other, user, "", 10)
			if err != nil || !slices.Equal(contents(h), wantContents) || !slices.Equal(ids(h), wantIDs) {
				t.Errorf("history %d-%d: got %v %v, %v, want %v %v", other, user, contents(h), ids(h), err, wantContents, wantIDs)
			}
		}
		check(2, 1, []string{"a", "c"}, []string{res[0].MsgID, res[2].MsgID})
		check(3, 1, []string{"b"}, []string{res[1].MsgID})

		// The history step never ran for "b" (a crash between the steps): the
		// resend is a duplicate, and puts it back.
		r.do(t, "XDEL", historyKey(1, 3), res[1].MsgID)
		again, errs := inbox.Send(ctx, 1, "u1", burst[:2], SendLimits{})
		for k, err := range errs {
			if err != nil || !again[k].Duplicate || again[k].MsgID != res[k].MsgID {
				t.Fatalf("resend %d: got %+v, %v, want a duplicate of %s", k, again[k], err, res[k].MsgID)
			}
		}
		if r.cluster != nil {
			got, _ := inbox.Read(ctx, 3, "", 10)
			if !slices.Equal(ids(got), []string{res[1].MsgID}) {
				t.Errorf("3's inbox after the resend: got %v, want %s alone", ids(got), res[1].MsgID)
			}
			// Put back in the history, under an id of its own.
			if h, _, err := inbox.History(ctx, 1, 3, "", 10); err != nil || !slices.Equal(contents(h), []string{"b"}) {
				t.Errorf("history 1-3 after the resend: got %v, %v, want [b]", contents(h), err)
			}
		}
		check(2, 1, []string{"a", "c"}, []string{res[0].MsgID, res[2].MsgID})
	})
}

// The limits hold as on one Redis: an unknown recipient, the sender's rate (a
// resend is answered before it), the inbox's cap.
func TestSendLimitsBothLayouts(t *testing.T) {
	forEachRedis(t, func(t *testing.T, r testRedis) {
		ctx := context.Background()
		r.register(t, 1, 2, 3)
		inbox := NewRedisInbox(r.pool, time.Minute, Retention{})
		if _, err := inbox.SendOne(ctx, 1, "u1", 99, "x", "", SendLimits{}); !errors.Is(err, ErrUserNotFound) {
			t.Errorf("to an unknown user: got %v, want ErrUserNotFound", err)
		}
		rate := SendLimits{Rate: Limit{Rate: 0.01, Burst: 2}}
		first, err := inbox.SendOne(ctx, 1, "u1", 2, "r1", "r1", rate)
		if err != nil {
			t.Fatal(err)
		}
		burst := []SendRequest{{To: 2, Content: "r1", ClientMsgID: "r1"}, {To: 2, Content: "r2"}, {To: 2, Content: "r3"}, {To: 2, Content: "r1", ClientMsgID: "r1"}}
		res, errs := inbox.Send(ctx, 1, "u1", burst, rate)
		switch {
		case errs[0] != nil || !res[0].Duplicate || res[0].MsgID != first.MsgID:
			t.Errorf("resend within the burst: got %+v, %v, want a duplicate", res[0], errs[0])
		case errs[1] != nil:
			t.Errorf("second message of the burst: got %v, want kept", errs[1])
		case !errors.Is(errs[2], ErrRateLimited):
			t.Errorf("third message of the burst: got %v, want ErrRateLimited", errs[2])
		case errs[3] != nil || !res[3].Duplicate:
			t.Errorf("resend over the rate: got %+v, %v, want a duplicate", res[3], errs[3])
		}
		full := SendLimits{InboxMax: 2}
		for k, want := range []error{nil, nil, ErrInboxFull} {
			if _, err := inbox.SendOne(ctx, 1, "u1", 3, "f", "", full); !errors.Is(err, want) {
				t.Errorf("message %d to an inbox of 2: got %v, want %v", k, err, want)
			}
		}
	})
}
