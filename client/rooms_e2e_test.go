package main

import "testing"

// TestE2ERooms: two people in their terminals create and join a room, talk in it
// both ways, one misses a message while logged out and sees it at login, then
// reads the room's and a private conversation's history.
func TestE2ERooms(t *testing.T) {
	clientBin := clientBinary(t)
	addr := startServer(t)
	alice := startPTY(t, clientBin, addr, "alice")
	bob := startPTY(t, clientBin, addr, "bob")
	alice.register("100", "alice-pw", "alice")
	bob.register("101", "bob-pw-1", "bob")
	alice.login("100", "alice-pw")
	bob.login("101", "bob-pw-1")

	alice.answer("Choice: ", "6")
	alice.answer("Room name: ", "lobby")
	alice.waitFor("Created room lobby [1]: others join it with its id 1.")
	bob.answer("Choice: ", "7")
	bob.answer("Room id to join: ", "1")
	bob.waitFor("Joined room lobby [1].")
	alice.waitFor("* bob (101) joined lobby [1]")

	alice.answer("Choice: ", "11")
	alice.answer("Room id: ", "1")
	alice.answer("Message: ", "hi room")
	alice.waitFor("Sent to lobby [1].")
	bob.waitFor("[lobby] alice (100): hi room")
	bob.answer("Choice: ", "11")
	bob.answer("Room id: ", "1")
	bob.answer("Message: ", "hello alice")
	alice.waitFor("[lobby] bob (101): hello alice")

	bob.answer("Choice: ", "5")
	bob.waitFor("Logged out.")
	alice.answer("Choice: ", "11")
	alice.answer("Room id: ", "1")
	alice.answer("Message: ", "you missed this")
	alice.waitFor("Sent to lobby [1].")
	bob.login("101", "bob-pw-1")
	bob.waitFor("[lobby, missed] alice (100): you missed this")

	bob.answer("Choice: ", "9")
	bob.waitFor("Your rooms: 1")
	bob.waitFor("lobby [1], 2 member(s)")
	bob.answer("Choice: ", "12")
	bob.answer("History of a (u)ser or a (r)oom? ", "r")
	bob.answer("Room id: ", "1")
	bob.waitFor("[lobby] alice (100): hi room")
	bob.waitFor("[lobby] bob (101): hello alice")
	bob.waitFor("[lobby] alice (100): you missed this")
	bob.waitFor("(the beginning of the conversation)")

	alice.answer("Choice: ", "3")
	alice.answer("To user id: ", "101")
	alice.answer("Message: ", "private word")
	alice.waitFor("Delivered to bob (101).")
	bob.waitFor("[private] alice (100): private word")
	bob.answer("Choice: ", "12")
	bob.answer("History of a (u)ser or a (r)oom? ", "u")
	bob.answer("User id: ", "100")
	bob.waitFor("[private] alice (100) -> bob (101): private word")

	for _, c := range []*ptyClient{alice, bob} {
		c.answer("Choice: ", "5")
		c.waitFor("Logged out.")
		c.answer("Choice: ", "3")
		c.waitFor("Bye.")
		c.exit()
	}
}
