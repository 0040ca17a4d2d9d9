package rediscluster

import "testing"

func TestCRC16(t *testing.T) {
	tests := []struct {
		in   string
		want uint16
	}{
		{"", 0},
		{"123456789", 0x31C3}, // the cluster specification's test vector
		{"A", 0x58E5},
	}
	for _, tt := range tests {
		if got := crc16(tt.in); got != tt.want {
			t.Errorf("crc16(%q): got %#04x, want %#04x", tt.in, got, tt.want)
		}
	}
}

func TestSlot(t *testing.T) {
	tests := []struct {
		key  string
		want int
	}{
		{"123456789", 0x31C3}, // below 16384: the slot is the CRC itself
		{"foo", 12182},        // redis-cli CLUSTER KEYSLOT foo
		{"{user1000}.following", 3443},
		{"{user1000}.followers", 3443},
		{"foo{}{bar}", Slot("foo{}{bar}")}, // "{}" is no tag: the whole key hashes
		{"foo{{bar}}zap", Slot("{bar")},    // the tag is "{bar"
		{"foo{bar}{zap}", Slot("bar")},     // only the first tag counts
		{"{}", int(crc16("{}") % Slots)},
		{"a{b", int(crc16("a{b") % Slots)},
	}
	for _, tt := range tests {
		if got := Slot(tt.key); got != tt.want {
			t.Errorf("Slot(%q): got %d, want %d", tt.key, got, tt.want)
		}
	}
}

func TestSameTagSameSlot(t *testing.T) {
	keys := []string{"inbox:{u:42}", "dedup:{u:42}:abc", "rooms:{u:42}", "x{u:42}y{z}"}
	want := Slot("u:42")
	for _, k := range keys {
		if got := Slot(k); got != want {
			t.Errorf("Slot(%q): got %d, want %d (the slot of its tag)", k, got, want)
		}
	}
	if Slot("inbox:{u:42}") == Slot("inbox:{u:43}") {
		t.Errorf("two users' tags map to the same slot; pick other ids for this test")
	}
}
