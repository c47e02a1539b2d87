package pgtest_test

import (
	"context"
	"database/sql"
	"os"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"

	"haze/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Run(m)) }

func TestDatabasesAreSeparate(t *testing.T) {
	ctx := context.Background()
	urls := []string{pgtest.Database(t), pgtest.Database(t)}
	if urls[0] == urls[1] {
		t.Fatalf("two databases share the URL %s", urls[0])
	}
	for i, url := range urls {
		db, err := sql.Open("pgx", url)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.ExecContext(ctx, "CREATE TABLE t (x int)"); err != nil {
			t.Fatalf("database %d: %v", i, err)
		}
	}
}
