package redistest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"
)

const (
	// busOffset is how far above a node's port its cluster bus listens.
	busOffset = 10000
	// clusterNodeTimeout is the cluster's node timeout: a primary silent this long
	// is suspected, and its replica takes over a moment later.
	clusterNodeTimeout = "1000"
	// clusterReadyTimeout bounds the wait for a cluster to agree it is whole.
	clusterReadyTimeout = 30 * time.Second
	// clusterCLITimeout bounds one `redis-cli --cluster` command.
	clusterCLITimeout = 2 * time.Minute
)

// errNoCLI means there is no redis-cli on PATH, which builds clusters.
var errNoCLI = errors.New("redis-cli not found; `make redis-install` installs it")

// clusterArgs are the flags of a cluster node.
func (s *Server) clusterArgs() []string {
	if !s.cluster {
		return nil
	}
	return []string{
		"--cluster-enabled", "yes",
		"--cluster-node-timeout", clusterNodeTimeout,
		"--cluster-config-file", filepath.Join(s.Dir, "nodes.conf"),
		// A replica's first sync would wait 5 s for more replicas to share it.
		"--repl-diskless-sync-delay", "0",
	}
}

// freeClusterPort returns a free loopback port whose bus port (port + 10000) is
// below 65536 and free too, a moment ago.
func freeClusterPort() (int, error) {
	for range 100 {
		port, err := freePort()
		if err != nil {
			return 0, err
		}
		if port+busOffset >= 65536 {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port+busOffset)))
		if err != nil {
			continue
		}
		l.Close()
		return port, nil
	}
	return 0, errors.New("no free port with a free bus port")
}

// Cluster is a Redis Cluster of redis-server processes owned by one test.
type Cluster struct {
	// Nodes are every node started, in the order they were: the ones Kill ended
	// stay, with Pid 0.
	Nodes []*Server
	// Dir holds one directory per node.
	Dir string

	cli  string
	args []string // ClusterConfig.Args
}

// ClusterConfig says how LaunchCluster builds a cluster.
type ClusterConfig struct {
	// Dir holds the nodes' directories; it must exist.
	Dir string
	// Primaries is the number of primaries; zero means 3.
	Primaries int
	// Replicas is the number of replicas of each primary; zero means 1, and a
	// negative number none.
	Replicas int
	// Args are redis-server flags added to every node's (see Config.Args).
	Args []string
}

// LaunchCluster starts Primaries × (1 + Replicas) cluster nodes in cfg.Dir,
// joins them with `redis-cli --cluster create`, and returns once every node
// reports cluster_state:ok with the same slot map and every replica's link to
// its primary is up. On failure it stops what it started.
func LaunchCluster(cfg ClusterConfig) (*Cluster, error) {
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		return nil, errNoCLI
	}
	if cfg.Primaries <= 0 {
		cfg.Primaries = 3
	}
	if cfg.Replicas == 0 {
		cfg.Replicas = 1
	}
	replicas := max(cfg.Replicas, 0)
	c := &Cluster{Dir: cfg.Dir, cli: cli, args: cfg.Args}
	n := cfg.Primaries * (1 + replicas)
	for range n {
		if _, err := c.launchNode(); err != nil {
			c.Close()
			return nil, err
		}
	}
	args := []string{"--cluster", "create"}
	for _, s := range c.Nodes {
		args = append(args, s.Addr)
	}
	args = append(args, "--cluster-replicas", strconv.Itoa(replicas), "--cluster-yes")
	if err := c.redisCLI(args...); err != nil {
		c.Close()
		return nil, err
	}
	if err := c.WaitHealthy(clusterReadyTimeout); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// StartCluster launches a cluster of 3 primaries with a replica each (see
// LaunchCluster) in tb.TempDir() and registers tb.Cleanup to kill it.
func StartCluster(tb testing.TB) *Cluster {
	tb.Helper()
	if testing.Short() {
		tb.Skip("redistest: a Redis Cluster is not started in -short")
	}
	c, err := LaunchCluster(ClusterConfig{Dir: tb.TempDir()})
	if err != nil {
		tb.Fatalf("redistest: %v", err)
	}
	tb.Cleanup(func() {
		for _, s := range c.Nodes {
			if err := s.kill(); err != nil {
				tb.Errorf("redistest: stopping redis at %s: %v%s", s.Addr, err, s.logTail())
			}
		}
	})
	return c
}

func (c *Cluster) launchNode() (*Server, error) {
	dir := filepath.Join(c.Dir, "node-"+strconv.Itoa(len(c.Nodes)))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	s, err := Launch(Config{Dir: dir, Cluster: true, Args: c.args})
	if err != nil {
		return nil, err
	}
	c.Nodes = append(c.Nodes, s)
	return s, nil
}

// Close shuts every node down gracefully. Closing a stopped cluster does nothing.
func (c *Cluster) Close() error {
	var errs []error
	for _, s := range c.Nodes {
		errs = append(errs, s.Close())
	}
	return errors.Join(errs...)
}

// Seeds returns the addresses of the running nodes, for a client's seed list.
func (c *Cluster) Seeds() []string {
	var addrs []string
	for _, s := range c.Nodes {
		if s.Pid() != 0 {
			addrs = append(addrs, s.Addr)
		}
	}
	return addrs
}

// running returns the nodes whose process runs.
func (c *Cluster) running() []*Server {
	var out []*Server
	for _, s := range c.Nodes {
		if s.Pid() != 0 {
			out = append(out, s)
		}
	}
	return out
}

// Primaries returns the running nodes that are primaries serving slots.
func (c *Cluster) Primaries(tb testing.TB) []*Server {
	tb.Helper()
	out, err := c.PrimaryServers()
	if err != nil {
		tb.Fatalf("redistest: %v", err)
	}
	return out
}

// PrimaryOf returns the running node that serves key's slot, as the node at
// Nodes[0] (or the first running one) sees the map.
func (c *Cluster) PrimaryOf(tb testing.TB, key string) *Server {
	tb.Helper()
	run := c.running()
	if len(run) == 0 {
		tb.Fatalf("redistest: no node of the cluster runs")
	}
	slot, err := redis.Int(run[0].Do(tb, "CLUSTER", "KEYSLOT", key), nil)
	if err != nil {
		tb.Fatalf("redistest: CLUSTER KEYSLOT %s: %v", key, err)
	}
	return c.ServerOfSlot(tb, slot)
}

// ServerOfSlot returns the running node that serves slot.
func (c *Cluster) ServerOfSlot(tb testing.TB, slot int) *Server {
	tb.Helper()
	for _, s := range c.running() {
		st, err := s.clusterView()
		if err != nil {
			tb.Fatalf("redistest: %v", err)
		}
		if addr, ok := st.owner(slot); ok {
			for _, n := range c.Nodes {
				if n.Addr == addr {
					return n
				}
			}
			tb.Fatalf("redistest: slot %d is served by %s, which this cluster did not start", slot, addr)
		}
	}
	tb.Fatalf("redistest: no node serves slot %d", slot)
	return nil
}

// NodeID returns the cluster node id of s.
func (s *Server) NodeID(tb testing.TB) string {
	tb.Helper()
	id, err := redis.String(s.Do(tb, "CLUSTER", "MYID"), nil)
	if err != nil {
		tb.Fatalf("redistest: CLUSTER MYID: %v", err)
	}
	return id
}

// AddPrimary starts one more node and joins it to the cluster as a primary
// with no slots (`redis-cli --cluster add-node`), then waits until every node
// knows it; Rebalance gives it slots.
func (c *Cluster) AddPrimary(tb testing.TB) *Server {
	tb.Helper()
	run := c.running()
	s, err := c.launchNode()
	if err != nil {
		tb.Fatalf("redistest: %v", err)
	}
	if err := c.redisCLI("--cluster", "add-node", s.Addr, run[0].Addr); err != nil {
		tb.Fatalf("redistest: %v", err)
	}
	if err := c.WaitHealthy(clusterReadyTimeout); err != nil {
		tb.Fatalf("redistest: %v", err)
	}
	return s
}

// Rebalance moves slots so that every primary serves a fair share, empty ones
// included (`redis-cli --cluster rebalance --cluster-use-empty-masters`), then
// waits until the cluster agrees on the new map.
func (c *Cluster) Rebalance(tb testing.TB) {
	tb.Helper()
	if err := c.RebalanceErr(); err != nil {
		tb.Fatalf("redistest: %v", err)
	}
}

// RebalanceErr is Rebalance for a goroutine other than the test's.
func (c *Cluster) RebalanceErr() error {
	run := c.running()
	if err := c.redisCLI("--cluster", "rebalance", run[0].Addr, "--cluster-use-empty-masters"); err != nil {
		return err
	}
	return c.WaitHealthy(clusterReadyTimeout)
}

// WaitHealthy waits until every running node reports cluster_state:ok, all
// 16384 slots served, and the same slot map as the others, and every running
// replica reports master_link_status:up (a replica that never synced does not
// take over from its primary). After a primary is killed, it returns once a
// replica has taken its place.
func (c *Cluster) WaitHealthy(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last error
	for {
		if last = c.healthy(); last == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cluster not healthy within %v: %w", timeout, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (c *Cluster) healthy() error {
	var first string
	views := make(map[string]clusterView)
	for _, s := range c.running() {
		st, err := s.clusterView()
		if err != nil {
			return err
		}
		switch {
		case st.info["cluster_state"] != "ok":
			return fmt.Errorf("%s: cluster_state:%s", s.Addr, st.info["cluster_state"])
		case st.info["cluster_slots_ok"] != "16384":
			return fmt.Errorf("%s: cluster_slots_ok:%s", s.Addr, st.info["cluster_slots_ok"])
		case !st.primary && st.link != "up":
			return fmt.Errorf("%s: replica with master_link_status:%s", s.Addr, st.link)
		case first == "":
			first = st.slotMap
		case st.slotMap != first:
			return fmt.Errorf("%s: a slot map unlike the first node's", s.Addr)
		}
		views[s.Addr] = st
	}
	if first == "" {
		return errors.New("no node of the cluster runs")
	}
	// A replica's link is up a moment before its primary counts it online:
	// until then the primary's WAIT (and ROLE) does not count it.
	for addr, st := range views {
		if p, ok := views[st.primaryAddr]; !st.primary && ok && !p.online[addr] {
			return fmt.Errorf("%s: not yet online at its primary %s", addr, st.primaryAddr)
		}
	}
	return nil
}

// clusterView is what one node says of the cluster.
type clusterView struct {
	info    map[string]string // CLUSTER INFO
	primary bool              // ROLE
	link    string            // master_link_status of a replica
	// primaryAddr is a replica's primary; online, a primary's replicas that
	// it counts online (INFO replication).
	primaryAddr string
	online      map[string]bool
	ownSlots    int    // slots it serves, by its own map
	slotMap     string // CLUSTER SLOTS as "start-end addr" lines, sorted
	ranges      []viewRange
}

type viewRange struct {
	start, end int
	addr       string
}

func (v clusterView) owner(slot int) (string, bool) {
	for _, r := range v.ranges {
		if r.start <= slot && slot <= r.end {
			return r.addr, true
		}
	}
	return "", false
}

func (s *Server) clusterView() (clusterView, error) {
	conn, err := s.dial()
	if err != nil {
		return clusterView{}, fmt.Errorf("%s: %w", s.Addr, err)
	}
	defer conn.Close()
	var v clusterView
	info, err := redis.String(conn.Do("CLUSTER", "INFO"))
	if err != nil {
		return v, fmt.Errorf("%s: CLUSTER INFO: %w", s.Addr, err)
	}
	v.info = parseInfo(info)
	repl, err := redis.String(conn.Do("INFO", "replication"))
	if err != nil {
		return v, fmt.Errorf("%s: INFO replication: %w", s.Addr, err)
	}
	ri := parseInfo(repl)
	v.primary = ri["role"] == "master"
	v.link = ri["master_link_status"]
	v.primaryAddr = net.JoinHostPort(ri["master_host"], ri["master_port"])
	v.online = make(map[string]bool)
	for k, val := range ri {
		if !strings.HasPrefix(k, "slave") {
			continue
		}
		f := map[string]string{}
		for _, kv := range strings.Split(val, ",") {
			if a, b, ok := strings.Cut(kv, "="); ok {
				f[a] = b
			}
		}
		if f["state"] == "online" && f["ip"] != "" {
			v.online[net.JoinHostPort(f["ip"], f["port"])] = true
		}
	}
	slots, err := redis.Values(conn.Do("CLUSTER", "SLOTS"))
	if err != nil {
		return v, fmt.Errorf("%s: CLUSTER SLOTS: %w", s.Addr, err)
	}
	var lines []string
	for _, e := range slots {
		f, _ := redis.Values(e, nil)
		if len(f) < 3 {
			continue
		}
		start, _ := redis.Int(f[0], nil)
		end, _ := redis.Int(f[1], nil)
		p, _ := redis.Values(f[2], nil)
		if len(p) < 2 {
			continue
		}
		host, _ := redis.String(p[0], nil)
		port, _ := redis.Int(p[1], nil)
		if host == "" {
			host = "127.0.0.1"
		}
		addr := net.JoinHostPort(host, strconv.Itoa(port))
		v.ranges = append(v.ranges, viewRange{start, end, addr})
		if addr == s.Addr {
			v.ownSlots += end - start + 1
		}
		lines = append(lines, fmt.Sprintf("%d-%d %s", start, end, addr))
	}
	slices.Sort(lines)
	v.slotMap = strings.Join(lines, "\n")
	return v, nil
}

func parseInfo(s string) map[string]string {
	m := make(map[string]string)
	for _, line := range strings.Split(s, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok {
			m[k] = v
		}
	}
	return m
}

// redisCLI runs redis-cli with args, and returns its output with the error.
func (c *Cluster) redisCLI(args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), clusterCLITimeout)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, c.cli, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("redis-cli %s: %w\n%s", strings.Join(args, " "), err, out.String())
	}
	return nil
}

// ReplicaOf returns a running replica of primary p.
func (c *Cluster) ReplicaOf(tb testing.TB, p *Server) *Server {
	tb.Helper()
	_, port, _ := net.SplitHostPort(p.Addr)
	for _, s := range c.running() {
		info, err := redis.String(s.Do(tb, "INFO", "replication"), nil)
		if err != nil {
			tb.Fatalf("redistest: INFO replication: %v", err)
		}
		if m := parseInfo(info); m["role"] == "slave" && m["master_port"] == port {
			return s
		}
	}
	tb.Fatalf("redistest: no running replica of %s", p.Addr)
	return nil
}

// PrimaryServers returns the running nodes that are primaries serving slots,
// for a caller without a testing.TB (see Primaries).
func (c *Cluster) PrimaryServers() ([]*Server, error) {
	var out []*Server
	for _, s := range c.running() {
		st, err := s.clusterView()
		if err != nil {
			return nil, err
		}
		if st.primary && st.ownSlots > 0 {
			out = append(out, s)
		}
	}
	return out, nil
}
