package main

import "testing"

// TestE2ERooms: two people in their terminals create and join a room, talk in it
// both ways, one misses a message while logged out and sees it at login, then
// reads the room's and a private conversation's history.
func TestE2ERooms(t *testing.T) {
	addr := startServer(t)
	alice, bob := startAliceAndBob(t, addr, addr)
	bob.login("101", "bob-pw-1")

	alice.answer("Choice: ", "6")
	alice.answer("Room name: ", "lobby")
	alice.waitFor("Created room lobby [1]: others join it with its id 1.")
	bob.answer("Choice: ", "7")
	bob.answer("Room id to join: ", "1")
	bob.waitFor("Joined room lobby [1].")
	alice.waitFor("* bob (101) joined lobby [1]")

	alice.sayInRoom("1", "hi room")
	alice.waitFor("Sent to lobby [1].")
	bob.waitFor("[lobby] alice (100): hi room")
	bob.sayInRoom("1", "hello alice")
	alice.waitFor("[lobby] bob (101): hello alice")

	bob.logout()
	alice.sayInRoom("1", "you missed this")
	alice.waitFor("Sent to lobby [1].")
	bob.login("101", "bob-pw-1")
	bob.waitFor("[lobby, missed] alice (100): you missed this")

	bob.answer("Choice: ", "9")
	bob.waitForAll("Your rooms: 1", "lobby [1], 2 member(s)")
	bob.history("r", "1")
	bob.waitForAll(
		"[lobby] alice (100): hi room",
		"[lobby] bob (101): hello alice",
		"[lobby] alice (100): you missed this",
		"(the beginning of the conversation)",
	)

	alice.sendPrivate("101", "private word")
	alice.waitFor("Delivered to bob (101).")
	bob.waitFor("[private] alice (100): private word")
	bob.history("u", "100")
	bob.waitFor("[private] alice (100) -> bob (101): private word")

	quit(alice, bob)
}
