package store_test

import (
	"context"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"haze/internal/pgtest"
	"haze/store"
)

// The store's tests run against both catalogs: as themselves on the
// embedded DuckDB catalog, and as subtests of TestPostgres on a fresh
// PostgreSQL database each. A test finds out which from its name (see
// newBackend), so the same test code runs twice.

func TestMain(m *testing.M) { os.Exit(pgtest.Run(m)) }

// postgresSuite lists the tests TestPostgres runs again on PostgreSQL.
// Every test of the package is here or in duckdbOnly, which
// TestPostgresSuiteIsComplete checks.
var postgresSuite = []struct {
	name string
	test func(*testing.T)
}{
	{"AppendAuditChainsAndRollsBack", TestAppendAuditChainsAndRollsBack},
	{"AuditPages", TestAuditPages},
	{"AuditHashEncoding", TestAuditHashEncoding},
	{"AppendAuditNormalises", TestAppendAuditNormalises},
	{"VerifyAuditNamesTampering", TestVerifyAuditNamesTampering},
	{"VerifyAuditEmpty", TestVerifyAuditEmpty},
	{"AppendAuditConcurrent", TestAppendAuditConcurrent},
	{"AppendAuditAlongsideCharges", TestAppendAuditAlongsideCharges},
	{"OpenRunsMigrationsOnce", TestOpenRunsMigrationsOnce},
	{"OpenRefusesNewerSchema", TestOpenRefusesNewerSchema},
	{"OpenRequiresDir", TestOpenRequiresDir},
	{"PublishVersionsInOrder", TestPublishVersionsInOrder},
	{"PublishRefusesBadNames", TestPublishRefusesBadNames},
	{"PublishConcurrentlyOneWins", TestPublishConcurrentlyOneWins},
	{"CreateKeyAuthenticates", TestCreateKeyAuthenticates},
	{"CreateKeyRefusesBadNamesAndRoles", TestCreateKeyRefusesBadNamesAndRoles},
	{"RevokeKey", TestRevokeKey},
	{"KeysNeverStoredOrShownInClear", TestKeysNeverStoredOrShownInClear},
	{"ChargeRecordsAndBalances", TestChargeRecordsAndBalances},
	{"SetGrantBelowSpentRefused", TestSetGrantBelowSpentRefused},
	{"ChargeRefusedLeavesNoRow", TestChargeRefusedLeavesNoRow},
	{"ChargeInTxFailureRollsBack", TestChargeInTxFailureRollsBack},
	{"ChargeReturnsReleasedAnswer", TestChargeReturnsReleasedAnswer},
	{"ChargeConcurrentNeverOverspends", TestChargeConcurrentNeverOverspends},
	{"RoundsOnce", TestRoundsOnce},
	{"ReplicasShareLedgerAndAudit", TestReplicasShareLedgerAndAudit},
	{"OpenConcurrently", TestOpenConcurrently},
	{"PublishRefusesEncryptedWithoutKey", TestPublishRefusesEncryptedWithoutKey},
	{"RewrapShredAndKeyInUse", TestRewrapShredAndKeyInUse},
	{"JobsStoredAndReplaced", TestJobsStoredAndReplaced},
}

// duckdbOnly are tests that do not run on PostgreSQL, with the reason.
var duckdbOnly = map[string]string{
	"TestPostgres":                   "runs the suite",
	"TestPostgresSuiteIsComplete":    "reads the source",
	"TestAuditProblemString":         "no catalog",
	"TestOpenURLRefusesOtherSchemes": "no database",
}

func TestPostgres(t *testing.T) {
	pgtest.Shared(t)
	for _, tt := range postgresSuite {
		t.Run(tt.name, tt.test)
	}
}

func TestPostgresSuiteIsComplete(t *testing.T) {
	files, err := filepath.Glob("*_test.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("test files = %v, %v", files, err)
	}
	var suite []string
	for _, tt := range postgresSuite {
		suite = append(suite, "Test"+tt.name)
	}
	fset := token.NewFileSet()
	for _, f := range files {
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		if file.Name.Name != "store_test" {
			continue
		}
		for _, d := range file.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Recv != nil || !strings.HasPrefix(fn.Name.Name, "Test") ||
				fn.Name.Name == "TestMain" {
				continue
			}
			if _, ok := duckdbOnly[fn.Name.Name]; !ok && !slices.Contains(suite, fn.Name.Name) {
				t.Errorf("%s (%s) runs on DuckDB only: add it to postgresSuite, or to "+
					"duckdbOnly with the reason", fn.Name.Name, f)
			}
		}
	}
}

// backend is where one test's catalog lives: a data dir, and on
// PostgreSQL a database of its own.
type backend struct {
	dir string
	url string // "" for the embedded catalog
}

// onPostgres reports whether t runs under TestPostgres.
func onPostgres(t testing.TB) bool {
	return strings.HasPrefix(t.Name(), "TestPostgres/")
}

// newBackend returns a fresh place for a catalog of t: a data dir, and,
// under TestPostgres, a fresh database.
func newBackend(t testing.TB) backend {
	t.Helper()
	b := backend{dir: filepath.Join(t.TempDir(), "data")}
	if onPostgres(t) {
		b.url = pgtest.Database(t)
	}
	return b
}

// open opens the backend's catalog.
func (b backend) open(ctx context.Context) (*store.Catalog, error) {
	return store.OpenURL(ctx, b.url, b.dir)
}

// mustOpen opens the backend's catalog, closed at cleanup.
func (b backend) mustOpen(t testing.TB) *store.Catalog {
	t.Helper()
	cat, err := b.open(context.Background())
	if err != nil {
		t.Fatalf("opening catalog: %v", err)
	}
	t.Cleanup(func() { cat.Close() })
	return cat
}
