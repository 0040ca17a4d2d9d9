package chat

// Hooks into the password pool for the external tests of this package.

// SetPasswordHook makes every password job of s run hook first, while it holds
// its slot; nil removes the hook.
func SetPasswordHook(s *Server, hook func()) {
	if hook == nil {
		s.passwords.testHook.Store(nil)
		return
	}
	s.passwords.testHook.Store(&hook)
}

// PasswordLoad returns how many password jobs of s run and wait now.
func PasswordLoad(s *Server) (running, waiting int) {
	return int(s.passwords.running.Load()), int(s.passwords.waiting.Load())
}
