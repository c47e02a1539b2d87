// Package pgtest starts a throwaway PostgreSQL server for haze's tests and
// benchmarks: a cluster in a temporary folder (initdb), started with
// pg_ctl on a free loopback port with its socket in that folder, and
// stopped and removed afterwards. Nothing outside the folder is touched.
//
// The binaries are looked for in $HAZE_POSTGRES_BIN, then next to pg_ctl
// on PATH, then in Debian's /usr/lib/postgresql/<version>/bin (the newest).
// Without them tests skip, saying so; with HAZE_REQUIRE_POSTGRES=1 (as in
// CI) the skip is a failure instead.
//
// initdb and postgres refuse to run as root. Run as root, pgtest runs them
// as the unprivileged user "postgres" (which Debian's package creates), or
// "nobody", owning the cluster's folder: the test itself stays root.
//
// In a package's tests:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Run(m)) }
//
//	func TestSomething(t *testing.T) {
//		url := pgtest.Database(t) // a fresh, empty database
//		...
//	}
//
// The server starts at the first Database call, once per test binary, and
// Run stops it when the tests are done. A watchdog process stops it too
// if the test binary dies first.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Environment variables pgtest reads.
const (
	// EnvRequire set to 1 makes a missing PostgreSQL a test failure.
	EnvRequire = "HAZE_REQUIRE_POSTGRES"
	// EnvBin names a folder holding initdb, pg_ctl and postgres.
	EnvBin = "HAZE_POSTGRES_BIN"
)

// ErrNoBinaries is returned when initdb, pg_ctl or postgres is missing.
var ErrNoBinaries = errors.New("PostgreSQL binaries (initdb, pg_ctl, postgres) not found " +
	"on $" + EnvBin + ", PATH or /usr/lib/postgresql/*/bin")

// Options configures a server. The zero value is a test server.
type Options struct {
	// Durable keeps fsync and synchronous commit on, as in production,
	// for benchmarks. Defaults to off: tests need no crash safety.
	Durable bool
	// MaxConnections is the server's max_connections. Defaults to 300.
	MaxConnections int
}

// Server is a running throwaway PostgreSQL server. Its superuser "haze"
// connects over TCP on 127.0.0.1 without a password.
type Server struct {
	dir  string // the cluster's folder: data/, socket and log
	bin  string
	port int
	cred *syscall.Credential // nil: run the binaries as this process
	n    atomic.Int64        // databases created
}

// BinDir returns the folder of the PostgreSQL binaries, or an error
// wrapping ErrNoBinaries.
func BinDir() (string, error) {
	has := func(dir string) bool {
		for _, b := range []string{"initdb", "pg_ctl", "postgres"} {
			if info, err := os.Stat(filepath.Join(dir, b)); err != nil || info.IsDir() {
				return false
			}
		}
		return true
	}
	if dir := os.Getenv(EnvBin); dir != "" {
		if has(dir) {
			return dir, nil
		}
		return "", fmt.Errorf("$%s=%s: %w", EnvBin, dir, ErrNoBinaries)
	}
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil && has(filepath.Dir(real)) {
			return filepath.Dir(real), nil
		}
		if has(filepath.Dir(p)) {
			return filepath.Dir(p), nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int { return version(b) - version(a) })
	for _, dir := range dirs {
		if has(dir) {
			return dir, nil
		}
	}
	return "", ErrNoBinaries
}

// version returns the major version in a /usr/lib/postgresql/N/bin path.
func version(dir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return n
}

// Start creates a cluster in a new temporary folder and starts it.
func Start(ctx context.Context, opts Options) (*Server, error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	if opts.MaxConnections == 0 {
		opts.MaxConnections = 300
	}
	base := os.TempDir()
	if info, err := os.Stat(base); os.Geteuid() == 0 && (err != nil || info.Mode().Perm()&0o001 == 0) {
		base = "/tmp" // the unprivileged user must reach the folder
	}
	dir, err := os.MkdirTemp(base, "haze-pg-")
	if err != nil {
		return nil, err
	}
	s := &Server{dir: dir, bin: bin}
	if err := s.init(ctx); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}

	// A port that was free a moment ago may be taken by now: try again.
	for attempt := 0; ; attempt++ {
		if s.port, err = freePort(); err != nil {
			break
		}
		if err = s.start(ctx, opts); err == nil {
			break
		}
		if attempt == 2 {
			break
		}
	}
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	s.watch()
	return s, nil
}

// init makes the folder and runs initdb, as an unprivileged user when
// this process is root.
func (s *Server) init(ctx context.Context) error {
	if os.Geteuid() == 0 {
		cred, err := unprivileged()
		if err != nil {
			return err
		}
		s.cred = cred
		if err := os.Chown(s.dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return fmt.Errorf("giving the cluster folder to uid %d: %w", cred.Uid, err)
		}
	}
	out, err := s.command(ctx, "initdb", "-D", s.data(), "-U", "haze", "--auth=trust",
		"-E", "UTF8", "--locale=C", "--no-sync").CombinedOutput()
	if err != nil {
		return fmt.Errorf("initdb: %w: %s", err, lastLines(out))
	}
	return nil
}

// start runs pg_ctl start and waits until the server accepts connections.
func (s *Server) start(ctx context.Context, opts Options) error {
	o := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c max_connections=%d",
		s.port, s.dir, opts.MaxConnections)
	if !opts.Durable {
		o += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
	}
	out, err := s.command(ctx, "pg_ctl", "-D", s.data(), "-l", filepath.Join(s.dir, "log"),
		"-w", "-t", "60", "-o", o, "start").CombinedOutput()
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(s.dir, "log"))
		return fmt.Errorf("pg_ctl start: %w: %s %s", err, lastLines(out), lastLines(log))
	}
	return nil
}

// watch starts a process that stops the server and removes its folder
// if this process dies without calling Stop.
func (s *Server) watch() {
	// /proc first: run as another user, kill -0 cannot signal this one;
	// a zombie, killed but not yet reaped, counts as dead.
	script := fmt.Sprintf(`alive() {
  if [ -d /proc/self ]; then
    s=$(sed 's/.*) //' /proc/%[1]d/stat 2>/dev/null | cut -c1)
    [ -n "$s" ] && [ "$s" != Z ]
  else
    kill -0 %[1]d 2>/dev/null
  fi
}
while alive; do sleep 1; done
[ -d %[2]q ] || exit 0
%[3]q -D %[2]q -m immediate stop >/dev/null 2>&1
rm -rf %[4]q`, os.Getpid(), s.data(), filepath.Join(s.bin, "pg_ctl"), s.dir)
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if s.cred != nil {
		// pg_ctl refuses root; the folder belongs to the user anyway.
		cmd.SysProcAttr.Credential = s.cred
	}
	if err := cmd.Start(); err == nil {
		go cmd.Wait()
	}
}

// data is the cluster's data folder.
func (s *Server) data() string { return filepath.Join(s.dir, "data") }

// command returns the PostgreSQL binary name with args, run as the
// cluster's owner.
func (s *Server) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(s.bin, name), args...)
	cmd.Dir = s.dir
	cmd.Env = append(os.Environ(), "LC_ALL=C", "HOME="+s.dir)
	if s.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	}
	return cmd
}

// URL returns the URL of database db on the server.
func (s *Server) URL(db string) string {
	return fmt.Sprintf("postgres://haze@127.0.0.1:%d/%s?sslmode=disable", s.port, db)
}

// CreateDatabase creates a new, empty database and returns its URL.
func (s *Server) CreateDatabase(ctx context.Context) (string, error) {
	name := fmt.Sprintf("haze_%d_%d", os.Getpid(), s.n.Add(1))
	conn, err := pgx.Connect(ctx, s.URL("postgres"))
	if err != nil {
		return "", fmt.Errorf("connecting to the test server: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", fmt.Errorf("creating database %s: %w", name, err)
	}
	return s.URL(name), nil
}

// Stop stops the server and removes its folder.
func (s *Server) Stop() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := s.command(ctx, "pg_ctl", "-D", s.data(), "-m", "fast", "-w", "stop").
		CombinedOutput()
	if rerr := os.RemoveAll(s.dir); err == nil && rerr != nil {
		err = rerr
	}
	if err != nil {
		return fmt.Errorf("pg_ctl stop: %w: %s", err, lastLines(out))
	}
	return nil
}

// unprivileged returns the credentials of the user that runs PostgreSQL
// for root: "postgres", else "nobody".
func unprivileged() (*syscall.Credential, error) {
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err1 != nil || err2 != nil || uid == 0 {
			continue
		}
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
	}
	return nil, errors.New("running as root, and neither user postgres nor nobody exists " +
		"to run PostgreSQL as (initdb refuses root)")
}

// freePort returns a loopback TCP port that was free when asked.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// lastLines returns the last few lines of a command's output.
func lastLines(out []byte) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) > 8 {
		lines = lines[len(lines)-8:]
	}
	return strings.Join(lines, "\n")
}

// The server shared by one test binary's tests.
var shared struct {
	once    sync.Once
	srv     *Server
	err     error
	skipped atomic.Int64
}

// Run runs m's tests and stops the shared server if a test started it.
// It returns the exit code for os.Exit. When PostgreSQL tests were
// skipped it says so on stderr.
func Run(m *testing.M) int {
	code := m.Run()
	if shared.srv != nil {
		if err := shared.srv.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "pgtest: stopping PostgreSQL:", err)
			if code == 0 {
				code = 1
			}
		}
	}
	if n := shared.skipped.Load(); n > 0 {
		fmt.Fprintf(os.Stderr, "pgtest: SKIPPED %d PostgreSQL tests: %v\n", n, shared.err)
	}
	return code
}

// Shared returns the test binary's shared server, starting it at the
// first call. Without PostgreSQL it skips t, or fails it when
// HAZE_REQUIRE_POSTGRES=1. The package's TestMain must call Run.
func Shared(t testing.TB) *Server {
	t.Helper()
	shared.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		shared.srv, shared.err = Start(ctx, Options{})
	})
	if shared.err != nil {
		if os.Getenv(EnvRequire) == "1" {
			t.Fatalf("PostgreSQL is required ($%s=1): %v", EnvRequire, shared.err)
		}
		shared.skipped.Add(1)
		t.Skipf("SKIP PostgreSQL test: %v (install postgresql; $%s=1 makes this a failure)",
			shared.err, EnvRequire)
	}
	return shared.srv
}

// Database returns the URL of a fresh, empty database on the shared
// server; see Shared for what happens without PostgreSQL.
func Database(t testing.TB) string {
	t.Helper()
	srv := Shared(t)
	url, err := srv.CreateDatabase(context.Background())
	if err != nil {
		t.Fatalf("%v", err)
	}
	return url
}
