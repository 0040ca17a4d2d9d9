package model_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"chat/server/model"
)

// TestDeleteTakesOnlyAckedIDs: acks remove exactly the ids they name, whether they
// are the oldest of the inbox (removed by one trim) or not, in any order, repeated,
// or naming ids the inbox does not hold.
func TestDeleteTakesOnlyAckedIDs(t *testing.T) {
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
			inbox, _, _ := storeOn(t, model.Retention{}, 2)
			ctx := context.Background()
			var ids []string
			for i := range 5 {
				res, err := inbox.SendOne(ctx, 1, "u1", 2, fmt.Sprint(i), "", model.SendLimits{})
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
			if failed, err := inbox.Delete(ctx, map[int][]string{2: ack}); failed != 0 || err != nil {
				t.Fatalf("Delete: got %d, %v", failed, err)
			}
			left, err := inbox.Read(ctx, 2, "", 10)
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
}
