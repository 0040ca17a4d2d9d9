package main

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// The help names every item of the logged-in menu, 1 to 12, as the menu does,
// and explains each on a line of its own.
func TestUsageCoversEveryMenuItem(t *testing.T) {
	help := usageText()
	item := regexp.MustCompile(`(\d+) ([A-Z][a-z]+(?: [a-z]+)?)`)
	var menu []string
	for _, m := range item.FindAllStringSubmatch(sessionMenu+"  "+roomsMenu, -1) {
		menu = append(menu, m[1])
		if !strings.Contains(help, m[0]) {
			t.Errorf("help lacks the menu item %q", m[0])
		}
		explained := regexp.MustCompile(`(?m)^  (?:\d+ [A-Z][a-z]+, )?` + m[1] + ` [A-Z]`)
		if !explained.MatchString(help) {
			t.Errorf("help does not explain item %s on a line of its own", m[1])
		}
	}
	for n := 1; n <= 12; n++ {
		if !contains(menu, strconv.Itoa(n)) {
			t.Errorf("menu item %d not found in the menus; found %v", n, menu)
		}
	}
	for _, want := range []string{"1 Log in", "2 Register", "3 Exit", "-addr 127.0.0.1:9000"} {
		if !strings.Contains(help, want) {
			t.Errorf("help lacks %q", want)
		}
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
