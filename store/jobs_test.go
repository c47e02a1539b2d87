package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"haze/store"
)

func TestJobsStoredAndReplaced(t *testing.T) {
	ctx := context.Background()
	cat := openCatalog(t)
	at := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	if _, err := cat.Job(ctx, "job_1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Job(unknown) = %v, want ErrNotFound", err)
	}
	if err := cat.PutJob(ctx, "job_1", []byte(`{"status":"running"}`), at); err != nil {
		t.Fatal(err)
	}
	if err := cat.PutJob(ctx, "job_2", []byte(`{"status":"running"}`), at); err != nil {
		t.Fatal(err)
	}
	if err := cat.PutJob(ctx, "job_1", []byte(`{"status":"published"}`), at.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]string{"job_1": `{"status":"published"}`,
		"job_2": `{"status":"running"}`} {
		got, err := cat.Job(ctx, id)
		if err != nil || string(got) != want {
			t.Errorf("Job(%s) = %s, %v; want %s", id, got, err, want)
		}
	}
}
