package chat

import (
	"context"
	"io"
	"log/slog"
	"net"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"chat/common/message"
	"chat/internal/chattest"
	"chat/server/model"
)

// readCounter is an inbox and a room store whose reads find nothing and are counted.
type readCounter struct {
	InboxStore // nil: only Read is used
	reads      atomic.Int32
}

func (r *readCounter) Read(context.Context, int, string, int) ([]model.Stored, error) {
	r.reads.Add(1)
	return nil, nil
}

type roomReadCounter struct {
	RoomStore   // nil: only Read and Memberships are used
	reads       *atomic.Int32
	memberships *atomic.Int32 // nil: not counted
}

func (r roomReadCounter) Memberships(context.Context, int) ([]model.Membership, error) {
	if r.memberships != nil {
		r.memberships.Add(1)
	}
	return nil, nil
}

func (r roomReadCounter) Read(context.Context, int, int, string, int) ([]model.Stored, error) {
	r.reads.Add(1)
	return nil, nil
}

// TestOffer checks when a message just kept goes to the session as it is, for the
// inbox and for a room alike, and when it wakes the delivery instead.
func TestOffer(t *testing.T) {
	const room = 5
	tests := []struct {
		name     string
		room     int // 0: the inbox
		setup    func(d *feeds)
		previous string
		id       string
		direct   bool
	}{
		{"inbox, caught up", 0, nil, "1-0", "2-0", true},
		{"inbox, first message", 0, func(d *feeds) { d.inbox.cursor = "" }, "", "2-0", true},
		{"inbox, one missed", 0, nil, "1-5", "2-0", false},
		{"inbox, not answered yet", 0, func(d *feeds) { d.ready = false }, "1-0", "2-0", false},
		{"inbox, delivery running", 0, func(d *feeds) { d.running = true }, "1-0", "2-0", false},
		{"inbox, wake pending", 0, func(d *feeds) { d.pending = true }, "1-0", "2-0", false},
		{"inbox, delivered already", 0, nil, "1-0", "1-0", false},
		{"room, caught up", room, nil, "1-0", "2-0", true},
		{"room, one missed", room, nil, "1-5", "2-0", false},
		{"room, rooms not read yet", room, func(d *feeds) { d.loaded = false }, "1-0", "2-0", false},
		{"room, delivered already", room, nil, "1-0", "1-0", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reads := &readCounter{}
			s := New(Config{Node: "t", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))},
				Stores{Inbox: reads, Rooms: roomReadCounter{reads: &reads.reads}})
			nc, peer := net.Pipe()
			defer peer.Close()
			c := newSession(s, nc)
			defer c.t.Close(0)
			c.user, c.proto = 1, message.ProtoAck
			c.t.Hold() // frames stay queued: nothing reads the pipe
			d := &c.feeds
			d.ready, d.loaded, d.inbox.cursor = true, true, "1-0"
			d.rooms = map[int]*feed{room: {room: room, name: "r", cursor: "1-0"}}
			if tt.setup != nil {
				tt.setup(d)
			}
			f := &d.inbox
			if tt.room != 0 {
				f = d.rooms[tt.room]
			}
			before, starts := f.cursor, d.ready && !d.running // a wake would start a delivery
			d.offer(tt.room, model.Stored{ID: tt.id, From: 2, FromName: "b", Content: "hi", SentAt: model.IDTime(tt.id)}, tt.previous, nil)
			d.mu.Lock()
			cursor, pending, running := f.cursor, d.pending, d.running
			d.mu.Unlock()
			switch {
			case tt.direct:
				if cursor != tt.id || pending || running {
					t.Errorf("cursor %q, wake pending %v, delivery running %v; want %q and no wake: queued as it is",
						cursor, pending, running, tt.id)
				}
			case cursor != before:
				t.Errorf("cursor %q, want %q: not queued as it is", cursor, before)
			case starts:
				// The delivery the wake started reads the feed (and finds nothing here).
				chattest.CheckFor(t, 10*time.Second, "the delivery to read the feed", func() bool { return reads.reads.Load() > 0 })
			case !pending:
				t.Error("no wake pending, want one for the delivery")
			}
		})
	}
}

// TestFeedsReadWhatIsDue checks which feeds a delivery reads: the inbox only if
// the login's claim found messages waiting in it or a wake came for it; the
// user's rooms only if the claim found the user in one; a room only once woken
// for it.
func TestFeedsReadWhatIsDue(t *testing.T) {
	const room = 5
	tests := []struct {
		name        string
		offlineUpTo string // what the claim found waiting in the inbox
		inRooms     bool   // the claim found the user in a room
		before      func(d *feeds)
		// reads wanted: of the inbox, of the memberships, of the room
		wantInbox, wantMemberships, wantRoomLog int32
	}{
		{"login, inbox empty", "", false, nil, 0, 0, 0},
		{"login, messages waiting", "1-0", false, nil, 1, 0, 0},
		{"login, in a room", "", true, nil, 0, 1, 0},
		{"login, a message came after the claim", "", false, func(d *feeds) { d.wake() }, 1, 0, 0},
		{"login, a room message came", "", false, func(d *feeds) { d.wakeRooms(false, room) }, 0, 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inbox, roomLog, memberships := &readCounter{}, &atomic.Int32{}, &atomic.Int32{}
			s := New(Config{Node: "t", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))},
				Stores{Inbox: inbox, Rooms: roomReadCounter{reads: roomLog, memberships: memberships}})
			nc, peer := net.Pipe()
			defer peer.Close()
			c := newSession(s, nc)
			defer c.t.Close(0)
			c.user, c.proto = 1, message.ProtoAck
			d := &c.feeds
			d.claimed(model.Claim{LastInboxID: tt.offlineUpTo, InRooms: tt.inRooms})
			d.rooms = map[int]*feed{room: {room: room, name: "r", cursor: "1-0"}}
			if tt.before != nil {
				tt.before(d) // before the login is answered: nothing runs yet
			}
			d.start()
			chattest.CheckFor(t, 10*time.Second, "the delivery to end", func() bool {
				d.mu.Lock()
				defer d.mu.Unlock()
				return !d.running
			})
			got := []int32{inbox.reads.Load(), memberships.Load(), roomLog.Load()}
			if want := []int32{tt.wantInbox, tt.wantMemberships, tt.wantRoomLog}; !slices.Equal(got, want) {
				t.Errorf("got %v reads of the inbox, memberships and room, want %v", got, want)
			}
		})
	}
}
