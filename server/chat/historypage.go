package chat

import (
	"sort"

	"chat/common/frame"
	"chat/common/message"
)

// A history page is bounded by bytes as well as by its limit, as the online page
// is: it holds the newest messages of the page that fit the session's frame (the
// send limit, or 8,096 bytes for a classic session), and more is set when it left
// older ones out, so that paging on with the oldest id received reaches them. A
// message too long for a page of its own comes alone, its content cut and marked
// as a group message is for classic sessions: a page never comes empty while a
// message remains, and is always answered.

// replyHistory answers a HistoryMes with res, fitted to this session.
func (c roomProcess) replyHistory(res message.HistoryResMes) {
	if res.Messages == nil {
		res.Messages = []message.HistoryItem{}
	}
	f, err := c.historyFrame(res)
	if err != nil {
		c.srv.log.Error("history page not encoded", "user", c.user, "err", err)
		f, err = message.EncodeFrame(message.HistoryResMesType, message.HistoryResMes{
			Code: message.CodeServerError, Error: "server error; try again", Messages: []message.HistoryItem{}})
		if err != nil {
			return
		}
	}
	c.replyFrame(message.HistoryResMesType, f)
}

// historyLimit is the longest history frame, length prefix included, this
// session gets.
func (c roomProcess) historyLimit() int {
	limit := c.srv.sendLimit() + frame.HeaderLen
	if c.classic() {
		limit = min(limit, message.MaxClassicFrame)
	}
	return limit
}

// historyFrame encodes the longest tail of res.Messages (oldest first) whose frame
// fits historyLimit, or the newest message alone, cut to fit.
func (c roomProcess) historyFrame(res message.HistoryResMes) ([]byte, error) {
	limit := c.historyLimit()
	items, more := res.Messages, res.More
	n := len(items)
	encode := func(k int) ([]byte, error) {
		res.Messages, res.More = items[n-k:], more || k < n
		return message.EncodeFrame(message.HistoryResMesType, res)
	}
	f, err := encode(n)
	if err != nil || len(f) <= limit || n == 0 {
		return f, err
	}
	// The largest k < n whose page fits: pages grow with k.
	var encErr error
	k := sort.Search(n, func(k int) bool {
		if k == 0 || encErr != nil {
			return false
		}
		g, err := encode(k)
		if err != nil {
			encErr = err
		}
		return err == nil && len(g) > limit
	}) - 1
	if encErr != nil {
		return nil, encErr
	}
	if k >= 1 {
		return encode(k)
	}
	newest := items[n-1]
	res.More = more || n > 1
	return message.FitContent(newest.Content, limit, func(content string) ([]byte, error) {
		m := newest
		m.Content = content
		res.Messages = []message.HistoryItem{m}
		return message.EncodeFrame(message.HistoryResMesType, res)
	})
}
