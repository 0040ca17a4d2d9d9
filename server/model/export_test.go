package model

import "context"

// SendOne keeps one private message: Send with a burst of one.
func (b *RedisInbox) SendOne(ctx context.Context, from int, fromName string, to int, content, clientMsgID string, lim SendLimits) (SendResult, error) {
	res, errs := b.Send(ctx, from, fromName, []SendRequest{{To: to, Content: content, ClientMsgID: clientMsgID}}, lim)
	return res[0], errs[0]
}
