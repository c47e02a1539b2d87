package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"haze/anonymize"
	"haze/dp/dptest"
	"haze/internal/pgtest"
	"haze/queries"
	"haze/store"
)

// Replicas of the API on one PostgreSQL catalog, sharing a data dir of
// Parquet datasets: in-process servers, and a child process (this test
// binary, told so by the environment) that a test kills with SIGKILL.

// Environment of a child process that serves as a replica until killed.
const (
	envReplicaCatalog = "HAZE_TEST_REPLICA_CATALOG"
	envReplicaData    = "HAZE_TEST_REPLICA_DATA"
)

// replicaEpsilon is what each query of the replica tests costs: a power
// of two, so budgets add up exactly.
const replicaEpsilon = 0.125

// cluster is a PostgreSQL catalog with the template's dataset published,
// an analyst with a grant, and the replicas serving it.
type cluster struct {
	t       *testing.T
	ctx     context.Context
	url     string // the catalog; never logged
	dataDir string
	admin   *store.Catalog // the operator's own connection, for checks
	key     string         // the analyst's API key
	analyst string
	client  *http.Client
}

// newCluster publishes the template's dataset in a fresh PostgreSQL
// database and grants the analyst epsilon.
func newCluster(t *testing.T, epsilon float64) *cluster {
	t.Helper()
	c := &cluster{t: t, ctx: context.Background(), url: pgtest.Database(t),
		analyst: "ana", client: &http.Client{Timeout: time.Minute}}
	dir := t.TempDir()
	if err := copyTree(dir, templateDir); err != nil {
		t.Fatalf("copying the template: %v", err)
	}
	c.dataDir = filepath.Join(dir, "data")

	// The template's versions, moved from its embedded catalog to the
	// shared one; their Parquet files stay where they are.
	embedded, err := store.Open(c.ctx, c.dataDir)
	if err != nil {
		t.Fatal(err)
	}
	versions, err := embedded.Versions(c.ctx, testDataset)
	embedded.Close()
	if err != nil || len(versions) == 0 {
		t.Fatalf("template versions = %d, %v", len(versions), err)
	}
	os.Remove(filepath.Join(c.dataDir, store.FileName))

	c.admin, err = store.OpenURL(c.ctx, c.url, c.dataDir)
	if err != nil {
		t.Fatalf("opening the shared catalog: %v", err)
	}
	t.Cleanup(func() { c.admin.Close() })
	for _, v := range versions {
		if err := c.admin.Publish(c.ctx, v); err != nil {
			t.Fatalf("Publish: %v", err)
		}
	}
	if c.key, _, err = c.admin.CreateKey(c.ctx, c.analyst, store.RoleAnalyst); err != nil {
		t.Fatal(err)
	}
	if err := c.admin.SetGrant(c.ctx, c.analyst, testDataset,
		store.Amount{Epsilon: epsilon}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.client.CloseIdleConnections)
	return c
}

// replica starts an in-process server on its own catalog connection and
// returns its base URL and what stops it abruptly.
func (c *cluster) replica() (base string, stop func()) {
	c.t.Helper()
	cat, err := store.OpenURL(c.ctx, c.url, c.dataDir)
	if err != nil {
		c.t.Fatalf("opening the catalog of a replica: %v", err)
	}
	ring, err := templateKeyring(c.dataDir)
	if err != nil {
		c.t.Fatal(err)
	}
	eng, err := queries.NewEngine(cat, queries.Config{Noise: dptest.NoNoise(), Keyring: ring})
	if err != nil {
		c.t.Fatal(err)
	}
	srv, err := New(Config{RatePerSecond: 10_000, Burst: 10_000,
		Logger: slog.New(slog.DiscardHandler)}, cat, eng)
	if err != nil {
		c.t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		c.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(c.ctx)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()
	stop = sync.OnceFunc(func() {
		cancel()
		<-served
		eng.Close()
		cat.Close()
	})
	c.t.Cleanup(stop)
	return "http://" + ln.Addr().String(), stop
}

// childReplica starts this test binary as a replica in a process of its
// own and returns its base URL and the process, which the caller kills.
func (c *cluster) childReplica() (string, *exec.Cmd) {
	c.t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envReplicaCatalog+"="+c.url, envReplicaData+"="+c.dataDir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		c.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "http://") {
		c.t.Fatalf("the child replica said %q, %v; want its URL", line, err)
	}
	return strings.TrimSpace(line), cmd
}

// runReplicaChild serves the catalog and data dir the environment names
// on a loopback port, prints its base URL and serves until killed.
func runReplicaChild() int {
	ctx := context.Background()
	cat, err := store.OpenURL(ctx, os.Getenv(envReplicaCatalog), os.Getenv(envReplicaData))
	if err != nil {
		fmt.Fprintln(os.Stderr, "child replica:", err)
		return 2
	}
	defer cat.Close()
	ring, err := templateKeyring(os.Getenv(envReplicaData))
	if err != nil {
		fmt.Fprintln(os.Stderr, "child replica:", err)
		return 2
	}
	eng, err := queries.NewEngine(cat, queries.Config{Noise: dptest.NoNoise(), Keyring: ring})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child replica:", err)
		return 2
	}
	defer eng.Close()
	srv, err := New(Config{RatePerSecond: 10_000, Burst: 10_000,
		Logger: slog.New(slog.DiscardHandler)}, cat, eng)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child replica:", err)
		return 2
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "child replica:", err)
		return 2
	}
	fmt.Printf("http://%s\n", ln.Addr())
	if err := srv.Serve(ctx, ln); err != nil {
		fmt.Fprintln(os.Stderr, "child replica:", err)
		return 1
	}
	return 0
}

// freshQuery is query i of a test: each i is another question, so none
// is answered from the cache of another.
func freshQuery(i int) string {
	return fmt.Sprintf("SELECT cabin, COUNT(*) AS n FROM bookings WHERE fare_amount >= %d "+
		"GROUP BY cabin", i)
}

// queryNumber finds i in the text of freshQuery(i), normalised or not.
var queryNumber = regexp.MustCompile(`fare_amount"? >= (\d+)`)

// reply is what a client got for one query.
type reply struct {
	status int
	answer struct {
		QueryID string `json:"query_id"`
		Cached  bool   `json:"cached"`
		Spent   struct {
			Epsilon float64 `json:"epsilon"`
		} `json:"spent"`
	}
	code string // the error code of a refusal
	err  error  // no reply at all
}

// ask sends query i to base; it may run on any goroutine.
func (c *cluster) ask(base string, i int) reply {
	body, _ := json.Marshal(map[string]any{"sql": freshQuery(i), "epsilon": replicaEpsilon,
		"public_groups": map[string][]string{"cabin": cabins}})
	req, err := http.NewRequestWithContext(c.ctx, "POST", base+"/v1/query", bytes.NewReader(body))
	if err != nil {
		return reply{err: err}
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	resp, err := c.client.Do(req)
	if err != nil {
		return reply{err: err}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{err: err}
	}
	r := reply{status: resp.StatusCode}
	if resp.StatusCode == http.StatusOK {
		r.err = json.Unmarshal(data, &r.answer)
		return r
	}
	var e errorBody
	if err := json.Unmarshal(data, &e); err != nil {
		r.err = fmt.Errorf("status %d with body %q", resp.StatusCode, data)
	}
	r.code = e.Error.Code
	return r
}

// ledger returns the analyst's ledger rows as query id to ε.
func (c *cluster) ledger() map[string]float64 {
	c.t.Helper()
	rows, err := c.admin.DB().QueryContext(c.ctx, `SELECT id, epsilon FROM ledger
		WHERE principal = ?`, c.analyst)
	if err != nil {
		c.t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]float64{}
	for rows.Next() {
		var id string
		var eps float64
		if err := rows.Scan(&id, &eps); err != nil {
			c.t.Fatal(err)
		}
		out[id] = eps
	}
	if err := rows.Err(); err != nil {
		c.t.Fatal(err)
	}
	return out
}

// verifyAudit checks that the audit chain is intact and returns its
// query entries.
func (c *cluster) verifyAudit() []store.AuditEntry {
	c.t.Helper()
	if p, err := c.admin.VerifyAudit(c.ctx, ""); err != nil || p != nil {
		c.t.Fatalf("VerifyAudit = %v, %v; want an intact chain", p, err)
	}
	entries, err := c.admin.Audit(c.ctx, 0, 0)
	if err != nil {
		c.t.Fatal(err)
	}
	var out []store.AuditEntry
	for _, e := range entries {
		if e.Action == "query" {
			out = append(out, e)
		}
	}
	return out
}

func TestReplicasSpendABudgetOnce(t *testing.T) {
	// Fifty fresh queries at once, spread over two replicas, with budget
	// for ten: ten answers, each charged once, and one unforked audit
	// chain holding every query once.
	const queriesSent, budgetFor = 50, 10
	c := newCluster(t, budgetFor*replicaEpsilon)
	bases := make([]string, 2)
	for i := range bases {
		bases[i], _ = c.replica()
	}

	replies := make([]reply, queriesSent)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range queriesSent {
		wg.Go(func() {
			<-start
			replies[i] = c.ask(bases[i%2], i)
		})
	}
	close(start)
	wg.Wait()

	answered := map[string]int{} // query id to query number
	perReplica := [2]int{}
	for i, r := range replies {
		switch {
		case r.err != nil:
			t.Errorf("query %d: %v", i, r.err)
		case r.status == http.StatusOK && !r.answer.Cached &&
			r.answer.Spent.Epsilon == replicaEpsilon:
			answered[r.answer.QueryID] = i
			perReplica[i%2]++
		case r.status == http.StatusForbidden && r.code == "budget_exhausted":
		default:
			t.Errorf("query %d: status %d %q cached %v spent %g; want an answer for ε=%g "+
				"or budget_exhausted", i, r.status, r.code, r.answer.Cached,
				r.answer.Spent.Epsilon, replicaEpsilon)
		}
	}
	if len(answered) != budgetFor {
		t.Errorf("%d answers (%v by replica), want %d", len(answered), perReplica, budgetFor)
	}

	// The ledger holds exactly the answers given.
	ledger := c.ledger()
	spent := 0.0
	for id, eps := range ledger {
		if _, ok := answered[id]; !ok {
			t.Errorf("ledger row %s was never answered", id)
		}
		spent += eps
	}
	if len(ledger) != len(answered) || spent != float64(len(answered))*replicaEpsilon {
		t.Errorf("ledger: %d rows for ε=%g; want %d for ε=%g", len(ledger), spent,
			len(answered), float64(len(answered))*replicaEpsilon)
	}

	// Every query is in the audit chain once, answered or refused.
	seen := map[int]int{}
	allowed := 0
	for _, e := range c.verifyAudit() {
		m := queryNumber.FindStringSubmatch(e.Query)
		if m == nil {
			t.Errorf("audit entry %d holds query %q, not one of the test's", e.Seq, e.Query)
			continue
		}
		var n int
		fmt.Sscan(m[1], &n)
		seen[n]++
		if e.Outcome == store.OutcomeAllowed {
			allowed++
		}
	}
	for i := range queriesSent {
		if seen[i] != 1 {
			t.Errorf("query %d is in the audit chain %d times, want once", i, seen[i])
		}
	}
	if allowed != len(answered) {
		t.Errorf("%d audited as allowed, want %d", allowed, len(answered))
	}

	// An answer released by one replica is free from the other.
	for id, i := range answered {
		r := c.ask(bases[(i+1)%2], i)
		if r.err != nil || r.status != http.StatusOK || !r.answer.Cached ||
			r.answer.Spent.Epsilon != 0 {
			t.Errorf("query %d again on the other replica: status %d cached %v spent %g %v; "+
				"want the released answer, free", i, r.status, r.answer.Cached,
				r.answer.Spent.Epsilon, r.err)
		}
		if got := len(c.ledger()); got != len(answered) {
			t.Errorf("ledger rows after a repeat of %s: %d, want %d", id, got, len(answered))
		}
		break
	}
}

func TestReplicaKilledMidLoad(t *testing.T) {
	// A replica in its own process is killed with SIGKILL while queries
	// run on it and on another: no answer a client received is
	// uncharged, no charge is lost, and the other replica keeps serving.
	const queriesSent, clients, killAfter = 80, 8, 20
	c := newCluster(t, 1000)
	childBase, child := c.childReplica()
	base, _ := c.replica()
	bases := []string{childBase, base}

	replies := make([]reply, queriesSent)
	var mu sync.Mutex
	done := 0
	killed := make(chan struct{})
	next := make(chan int)
	go func() {
		for i := range queriesSent {
			next <- i
		}
		close(next)
	}()
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for i := range next {
				r := c.ask(bases[i%2], i)
				mu.Lock()
				replies[i] = r
				done++
				if done == killAfter {
					child.Process.Signal(syscall.SIGKILL)
					close(killed)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	<-killed
	child.Wait()

	// Sort the replies: answers, and the child's requests that got none.
	answered := map[string]int{}
	lost, childAnswers := 0, 0
	for i, r := range replies {
		switch {
		case r.err == nil && r.status == http.StatusOK && !r.answer.Cached:
			answered[r.answer.QueryID] = i
			if i%2 == 0 {
				childAnswers++
			}
		case r.err != nil && i%2 == 0:
			lost++ // the child was killed before or while answering
		default:
			t.Errorf("query %d on replica %d: status %d %q, %v; want an answer", i, i%2,
				r.status, r.code, r.err)
		}
	}
	if childAnswers == 0 || lost == 0 {
		t.Errorf("the child answered %d queries and lost %d: the kill was not mid-load",
			childAnswers, lost)
	}

	// Every answer received is charged; a charge without a received
	// answer can only be one the child committed as it was killed.
	ledger := c.ledger()
	for id, i := range answered {
		if eps, ok := ledger[id]; !ok || eps != replicaEpsilon {
			t.Errorf("query %d (%s) was answered, its ledger row holds ε=%g (%v); want %g",
				i, id, eps, ok, replicaEpsilon)
		}
	}
	unreceived := len(ledger) - len(answered)
	if unreceived < 0 || unreceived > clients {
		t.Errorf("%d ledger rows for %d answers received: at most %d may be charged and lost "+
			"in flight", len(ledger), len(answered), clients)
	}
	bal, err := c.admin.Balance(c.ctx, c.analyst, testDataset)
	if err != nil {
		t.Fatal(err)
	}
	if want := float64(len(ledger)) * replicaEpsilon; math.Abs(bal.Spent.Epsilon-want) > 1e-9 {
		t.Errorf("spent ε=%g, want %g for %d ledger rows", bal.Spent.Epsilon, want, len(ledger))
	}
	t.Logf("%d answers received (%d from the killed replica), %d requests lost, %d charged "+
		"but not received", len(answered), childAnswers, lost, unreceived)

	// The survivor keeps serving, fresh queries and the child's answers.
	for i := queriesSent; i < queriesSent+4; i++ {
		if r := c.ask(base, i); r.err != nil || r.status != http.StatusOK || r.answer.Cached {
			t.Errorf("fresh query %d after the kill: status %d %q, %v; want an answer", i,
				r.status, r.code, r.err)
		}
	}
	for id, i := range answered {
		if i%2 != 0 {
			continue
		}
		if r := c.ask(base, i); r.err != nil || !r.answer.Cached {
			t.Errorf("query %d (%s), answered by the killed replica, again: cached %v, %v; "+
				"want the released answer", i, id, r.answer.Cached, r.err)
		}
		break
	}
	c.verifyAudit()
}

// templateKeyring loads the keyring beside a copy of the template's data
// dir, which opens its datasets' data keys.
func templateKeyring(dataDir string) (*anonymize.Keyring, error) {
	return anonymize.LoadKeyring(filepath.Join(filepath.Dir(dataDir), "keys", "keyring.json"))
}
