package transport

// Reason records why a connection closed; the first reason given wins. The
// transport itself gives SlowConsumer and WriteError; the owner gives the rest.
// Their names are the labels of the server's metric of closed connections.
type Reason uint8

const (
	ReasonNone        Reason = iota
	ClientClosed             // the peer closed or the read failed
	ProtocolViolation        // bad length or a body that is not an envelope
	LoginTimeout             // no successful login in time
	FrameTimeout             // a frame was started and not finished in time
	Replaced                 // a newer login of the same user took over
	SlowConsumer             // the outbound queue overflowed
	WriteError               // writing to the peer failed or timed out
	LoggedOut                // the user sent LogoutMes
	ServerShutdown           // the server is shutting down
)

var reasonNames = [...]string{"none", "client_closed", "protocol_violation", "login_timeout", "frame_timeout",
	"replaced", "slow_consumer", "write_error", "logged_out", "server_shutdown"}

func (r Reason) String() string { return reasonNames[r] }
