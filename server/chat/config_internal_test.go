package chat

import (
	"io"
	"log/slog"
	"reflect"
	"testing"
	"time"
)

func TestConfigDefaults(t *testing.T) {
	def := DefaultConfig()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	set := Config{
		Node: "n9", MaxFrame: 100, PresenceLimit: 3, PresenceTick: time.Second, LoginTimeout: time.Second, FrameTimeout: 2 * time.Second,
		WriteTimeout: 3 * time.Second, MaxQueue: 1000, RatePrivate: 1.5, BurstPrivate: 2, RateGroup: 2.5,
		BurstGroup: 4, MaxConnsPerIP: 5, MaxConns: 7, Heartbeat: 4 * time.Second, RoomMembers: 8, UserRooms: 9, PasswordWorkers: 3,
		PasswordWait: 5 * time.Second, TokenTTL: time.Hour, Logger: logger,
		LoginFailures: 6, LoginFailuresPerUser: 7, LoginFailuresPerAddr: 8, LoginsPerUser: 9,
		RegistrationsPerAddr: 10, InboxMax: 11,
	}
	zeroWant := def
	zeroWant.RatePrivate, zeroWant.RateGroup, zeroWant.MaxConnsPerIP = 0, 0, 0 // zero: unlimited
	zeroWant.LoginFailures, zeroWant.LoginFailuresPerUser, zeroWant.LoginFailuresPerAddr = 0, 0, 0
	zeroWant.LoginsPerUser, zeroWant.RegistrationsPerAddr, zeroWant.InboxMax = 0, 0, 0
	zeroWant.Logger = slog.Default()
	negative := Config{
		MaxFrame: -1, PresenceLimit: -1, PresenceTick: -time.Second, LoginTimeout: -time.Second, FrameTimeout: -time.Second,
		WriteTimeout: -time.Second, MaxQueue: -1, MaxConns: -1, RoomMembers: -1, UserRooms: -1, BurstPrivate: -1, BurstGroup: -1, Heartbeat: -time.Second,
		PasswordWorkers: -1, PasswordWait: -time.Second, TokenTTL: -time.Second,
	}
	negativeWant := zeroWant
	negativeWant.PresenceLimit = -1 // never
	tests := []struct {
		name string
		in   Config
		want Config
	}{
		{"zero", Config{}, zeroWant},
		{"all set", set, set},
		{"negative", negative, negativeWant},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := New(tt.in, Stores{}).cfg
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}
