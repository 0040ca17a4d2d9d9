package model_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"testing"

	"chat/server/model"
)

func testInbox(t *testing.T, open opener) {
	ctx := context.Background()
	t.Run("a burst", func(t *testing.T) {
		// The messages of one call are each checked and kept as if sent on their
		// own, in order: a recipient without an account, a clientMsgId repeated
		// within the burst, the sender's rate counting only kept messages, the
		// inbox's cap, the previous id of each inbox, and the history holding each id.
		st := open(t, options{})
		register(t, st, 6)
		lim := model.SendLimits{Rate: model.Limit{Rate: 0.001, Burst: 3}, InboxMax: 2}
		reqs := []model.SendRequest{
			{To: 2, Content: "a", ClientMsgID: "x"},
			{To: 99, Content: "b"},
			{To: 2, Content: "c", ClientMsgID: "x"},
			{To: 3, Content: "d"},
			{To: 2, Content: "e"},
			{To: 2, Content: "f"}, // over the rate: 3 a burst
		}
		res, errs := st.Inbox.Send(ctx, 1, "u1", reqs, lim)
		wantErrs := []error{nil, model.ErrUserNotFound, nil, nil, nil, model.ErrRateLimited}
		for i, want := range wantErrs {
			if !errors.Is(errs[i], want) {
				t.Errorf("message %d (%q): got %v, want %v", i, reqs[i].Content, errs[i], want)
			}
		}
		a, c, d, e := res[0], res[2], res[3], res[4]
		if a.Duplicate || a.MsgID == "" || a.Previous != "" || !model.ValidID(a.MsgID) {
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
		got, err := st.Inbox.Read(ctx, 2, "", 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].ID != a.MsgID || got[0].Content != "a" || got[0].From != 1 || got[0].FromName != "u1" ||
			got[0].SentAt != model.IDTime(a.MsgID) || got[1].ID != e.MsgID || got[1].Content != "e" {
			t.Errorf("2's inbox: got %+v, want a then e", got)
		}
		hist, _, err := st.Inbox.History(ctx, 2, 1, "", 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(hist) != 2 || hist[0].ID != a.MsgID || hist[1].ID != e.MsgID {
			t.Errorf("history of 1 and 2: got %+v, want a and e with their inbox ids", hist)
		}
		// The inbox's cap counts the messages the burst itself added; another inbox
		// is not affected.
		res, errs = st.Inbox.Send(ctx, 4, "u4", []model.SendRequest{{To: 5, Content: "1"}, {To: 5, Content: "2"},
			{To: 5, Content: "3"}, {To: 6, Content: "4"}}, model.SendLimits{InboxMax: 2})
		for i, want := range []error{nil, nil, model.ErrInboxFull, nil} {
			if !errors.Is(errs[i], want) {
				t.Errorf("capped burst, message %d: got %v (%+v), want %v", i, errs[i], res[i], want)
			}
		}
		// A repeated clientMsgId is answered as the first send, across calls.
		again, err := sendOne(st, 1, 2, "a again", "x", lim)
		if err != nil || !again.Duplicate || again.MsgID != a.MsgID {
			t.Errorf("a's clientMsgId in a later call: got %+v, %v, want a duplicate of %s", again, err, a.MsgID)
		}
	})
	t.Run("limits", func(t *testing.T) {
		st := open(t, options{})
		register(t, st, 2)
		rated := model.SendLimits{Rate: model.Limit{Rate: 0.01, Burst: 2}}
		for i, want := range []error{nil, nil, model.ErrRateLimited, model.ErrRateLimited} {
			if _, err := sendOne(st, 1, 2, "hi", "", rated); !errors.Is(err, want) {
				t.Errorf("send %d at 2 a burst: got %v, want %v", i+1, err, want)
			}
		}
		capped := model.SendLimits{InboxMax: 4}
		for i, want := range []error{nil, nil, model.ErrInboxFull} {
			if _, err := sendOne(st, 3, 2, "hi", "", capped); !errors.Is(err, want) {
				t.Errorf("send %d to an inbox of 2 capped at 4: got %v, want %v", i+1, err, want)
			}
		}
		if got, _ := st.Inbox.Read(ctx, 2, "", 10); len(got) != 4 {
			t.Errorf("inbox holds %d, want 4: refused sends keep nothing", len(got))
		}
	})
	t.Run("where the recipient is", func(t *testing.T) {
		st := open(t, options{})
		register(t, st, 2)
		s := session("n1", "s1", 2)
		if _, err := st.Presence.Claim(ctx, 2, s, 10); err != nil {
			t.Fatal(err)
		}
		res, err := sendOne(st, 1, 2, "hi", "", model.SendLimits{})
		if err != nil || !res.Online || res.Recipient != s {
			t.Errorf("to an online user: got %+v, %v, want online at %+v", res, err, s)
		}
		res, err = sendOne(st, 2, 1, "hi", "", model.SendLimits{})
		if err != nil || res.Online {
			t.Errorf("to an offline user: got %+v, %v, want offline", res, err)
		}
	})
	t.Run("delete takes only acked ids", func(t *testing.T) {
		// Acks remove exactly the ids they name, whether they are the oldest of the
		// inbox or not, in any order, repeated, or naming ids the inbox does not hold.
		tests := []struct {
			name string
			ack  []int    // indexes of the five messages to ack
			more []string // other ids in the same ack
			want []int    // indexes left
		}{
			{"oldest two", []int{0, 1}, nil, []int{2, 3, 4}},
			{"all, out of order", []int{4, 2, 0, 3, 1}, nil, nil},
			{"a gap", []int{0, 2}, nil, []int{1, 3, 4}},
			{"not the oldest", []int{3, 4}, nil, []int{0, 1, 2}},
			{"repeated", []int{0, 0, 1, 1}, nil, []int{2, 3, 4}},
			{"one gone before", []int{1}, []string{"1-0"}, []int{0, 2, 3, 4}},
			{"newer than all", []int{0}, []string{"99999999999999-0"}, []int{1, 2, 3, 4}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				st := open(t, options{})
				register(t, st, 2)
				var ids []string
				for i := range 5 {
					res, err := sendOne(st, 1, 2, fmt.Sprint(i), "", model.SendLimits{})
					if err != nil {
						t.Fatal(err)
					}
					ids = append(ids, res.MsgID)
				}
				var ack []string
				for _, i := range tt.ack {
					ack = append(ack, ids[i])
				}
				ack = append(ack, tt.more...)
				if failed, err := st.Inbox.Delete(ctx, map[int][]string{2: ack, 3: {"5-5"}}); failed != 0 || err != nil {
					t.Fatalf("Delete: got %d, %v", failed, err)
				}
				left, err := st.Inbox.Read(ctx, 2, "", 10)
				if err != nil {
					t.Fatal(err)
				}
				var got []int
				for _, m := range left {
					got = append(got, slices.Index(ids, m.ID))
				}
				if !slices.Equal(got, tt.want) {
					t.Errorf("got %v left, want %v", got, tt.want)
				}
			})
		}
	})
	t.Run("a new message after an emptied inbox", func(t *testing.T) {
		st := open(t, options{})
		register(t, st, 2)
		first, err := sendOne(st, 1, 2, "one", "", model.SendLimits{})
		if err != nil {
			t.Fatal(err)
		}
		if failed, err := st.Inbox.Delete(ctx, map[int][]string{2: {first.MsgID}}); failed != 0 || err != nil {
			t.Fatalf("Delete: got %d, %v", failed, err)
		}
		next, err := sendOne(st, 1, 2, "two", "", model.SendLimits{})
		if err != nil || model.CompareIDs(next.MsgID, first.MsgID) <= 0 || next.Previous != "" {
			t.Errorf("after the inbox was emptied: got %+v, %v, want an id after %s and nothing before it", next, err, first.MsgID)
		}
	})
	t.Run("read pages", func(t *testing.T) {
		st := open(t, options{})
		register(t, st, 2)
		var ids []string
		for i := range 5 {
			res, err := sendOne(st, 1, 2, strconv.Itoa(i), "", model.SendLimits{})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, res.MsgID)
		}
		for _, tt := range []struct {
			after string
			count int
			want  []string
		}{
			{"", 2, []string{"0", "1"}},
			{ids[1], 2, []string{"2", "3"}},
			{ids[3], 10, []string{"4"}},
			{ids[4], 10, []string{}},
		} {
			got, err := st.Inbox.Read(ctx, 2, tt.after, tt.count)
			if err != nil || !slices.Equal(contents(got), tt.want) {
				t.Errorf("Read after %q, %d: got %v, %v, want %v", tt.after, tt.count, contents(got), err, tt.want)
			}
		}
		if got, err := st.Inbox.Read(ctx, 1, "", 10); len(got) != 0 || err != nil {
			t.Errorf("an empty inbox: got %v, %v, want nothing", got, err)
		}
	})
}

func testPrivateHistory(t *testing.T, open opener) {
	ctx := context.Background()
	st := open(t, options{keep: model.Retention{MaxLen: 50}})
	register(t, st, 3)
	var ids []string
	for i := range 60 {
		from, to := 1, 2
		if i%2 == 1 {
			from, to = 2, 1
		}
		res, err := sendOne(st, from, to, strconv.Itoa(i), "", model.SendLimits{})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, res.MsgID)
	}
	for i := 1; i < len(ids); i++ {
		if model.CompareIDs(ids[i], ids[i-1]) <= 0 {
			t.Fatalf("ids of one conversation: %s after %s, want increasing", ids[i], ids[i-1])
		}
	}
	for _, tt := range []struct {
		name        string
		user, other int
		before      string
		limit       int
		want        []string
		wantMore    bool
	}{
		{"the newest", 1, 2, "", 3, []string{"57", "58", "59"}, true},
		{"the other side, the same", 2, 1, "", 1, []string{"59"}, true},
		{"before one", 1, 2, ids[55], 2, []string{"53", "54"}, true},
		{"nothing after the first", 1, 2, ids[0], 5, []string{}, false},
		{"another conversation", 1, 3, "", 5, []string{}, false},
	} {
		got, more, err := st.Inbox.History(ctx, tt.user, tt.other, tt.before, tt.limit)
		if err != nil || !slices.Equal(contents(got), tt.want) || more != tt.wantMore {
			t.Errorf("%s: got %v, more %v, %v, want %v, more %v", tt.name, contents(got), more, err, tt.want, tt.wantMore)
		}
	}
	// The cap: at least the newest 50 are kept; Redis trims whole stream nodes,
	// so it may keep more.
	all, more, err := st.Inbox.History(ctx, 1, 2, "", 1000)
	if err != nil || more || len(all) < 50 || all[len(all)-1].Content != "59" {
		t.Errorf("everything kept: got %d messages ending %v, more %v, %v; want 50 to 60 ending with 59", len(all), contents(all[max(len(all)-1, 0):]), more, err)
	}
	if _, _, err := st.Inbox.History(ctx, 1, 99, "", 5); !errors.Is(err, model.ErrUserNotFound) {
		t.Errorf("with no such user: got %v, want ErrUserNotFound", err)
	}
}
