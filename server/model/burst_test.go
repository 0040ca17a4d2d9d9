package model_test

import (
	"context"
	"testing"

	"chat/server/model"
)

// TestSendBurstAfterFutureHistory: when the conversation's history already holds a
// later id (its other direction, within one millisecond), every message of a burst
// takes an id after it, the same in the inbox and the history, in order.
func TestSendBurstAfterFutureHistory(t *testing.T) {
	inbox, _, r := storeOn(t, model.Retention{}, 2)
	ctx := context.Background()
	r.Do(t, "XADD", "hist:1:2", "9999999999999-5", "f", "2", "n", "u2", "c", "from the future")
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
