package model_test

import (
	"context"
	"errors"
	"testing"

	"chat/server/model"
)

// TestSendBurst: the messages of one call are each checked and kept as if sent on
// their own, in order: a recipient without an account, a clientMsgId repeated
// within the burst, the sender's rate counting only kept messages, the inbox's
// cap, the previous id of each inbox, and the history holding each id.
func TestSendBurst(t *testing.T) {
	inbox, _, _ := storeOn(t, model.Retention{}, 6)
	ctx := context.Background()
	lim := model.SendLimits{Rate: model.Limit{Rate: 0.001, Burst: 3}, InboxMax: 2}
	reqs := []model.SendRequest{
		{To: 2, Content: "a", ClientMsgID: "x"},
		{To: 99, Content: "b"},
		{To: 2, Content: "c", ClientMsgID: "x"},
		{To: 3, Content: "d"},
		{To: 2, Content: "e"},
		{To: 2, Content: "f"}, // over the rate: 3 a burst
	}
	res, errs := inbox.Send(ctx, 1, "u1", reqs, lim)
	wantErrs := []error{nil, model.ErrUserNotFound, nil, nil, nil, model.ErrRateLimited}
	for i, want := range wantErrs {
		if !errors.Is(errs[i], want) {
			t.Errorf("message %d (%q): got %v, want %v", i, reqs[i].Content, errs[i], want)
		}
	}
	a, c, d, e := res[0], res[2], res[3], res[4]
	if a.Duplicate || a.MsgID == "" || a.Previous != "" {
		t.Errorf("a: got %+v, want a new id with nothing before it", a)
	}
	if !c.Duplicate || c.MsgID != a.MsgID {
		t.Errorf("c repeats a's clientMsgId: got %+v, want a duplicate of %s", c, a.MsgID)
	}
	if d.Duplicate || d.Previous != "" {
		t.Errorf("d: got %+v, want the first of 3's inbox", d)
	}
	if model.CompareIDs(e.MsgID, a.MsgID) <= 0 || e.Previous != a.MsgID {
		t.Errorf("e: got %+v, want an id after %s with it as previous", e, a.MsgID)
	}
	got, err := inbox.Read(ctx, 2, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != a.MsgID || got[0].Content != "a" || got[1].ID != e.MsgID || got[1].Content != "e" {
		t.Errorf("2's inbox: got %+v, want a then e", got)
	}
	hist, _, err := inbox.History(ctx, 2, 1, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 2 || hist[0].ID != a.MsgID || hist[1].ID != e.MsgID {
		t.Errorf("history of 1 and 2: got %+v, want a and e with their inbox ids", hist)
	}

	// The inbox's cap counts the messages the burst itself added; another inbox
	// is not affected.
	res, errs = inbox.Send(ctx, 4, "u4", []model.SendRequest{{To: 5, Content: "1"}, {To: 5, Content: "2"},
		{To: 5, Content: "3"}, {To: 6, Content: "4"}}, model.SendLimits{InboxMax: 2})
	for i, want := range []error{nil, nil, model.ErrInboxFull, nil} {
		if !errors.Is(errs[i], want) {
			t.Errorf("capped burst, message %d: got %v (%+v), want %v", i, errs[i], res[i], want)
		}
	}
}

// TestSendBurstAfterFutureHistory: when the conversation's history already holds a
// later id (its other direction, within one millisecond), every message of a burst
// takes an id after it, the same in the inbox and the history, in order.
func TestSendBurstAfterFutureHistory(t *testing.T) {
	inbox, _, r := storeOn(t, model.Retention{}, 2)
	ctx := context.Background()
	r.Do(t, "XADD", "hist:{1:2}", "9999999999999-5", "f", "2", "n", "u2", "c", "from the future")
	res, errs := inbox.Send(ctx, 1, "u1", []model.SendRequest{{To: 2, Content: "x"}, {To: 2, Content: "y"}}, model.SendLimits{})
	if errs[0] != nil || errs[1] != nil {
		t.Fatal(errs)
	}
	if res[0].MsgID != "9999999999999-6" || res[1].MsgID != "9999999999999-7" || res[1].Previous != res[0].MsgID {
		t.Errorf("got %+v, want ids 9999999999999-6 and -7, the second after the first", res)
	}
	hist, _, err := inbox.History(ctx, 2, 1, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 3 || hist[1].ID != res[0].MsgID || hist[2].ID != res[1].MsgID {
		t.Errorf("history: got %+v, want the reply, then x and y with their inbox ids", hist)
	}
	got, err := inbox.Read(ctx, 2, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != res[0].MsgID || got[1].ID != res[1].MsgID {
		t.Errorf("inbox: got %+v, want x and y", got)
	}
}
