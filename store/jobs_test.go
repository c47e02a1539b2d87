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
	if _, _, err := cat.Job(ctx, "job_1"); !errors.Is(err, store.ErrNotFound) {
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
	for _, tt := range []struct {
		id, want string
		at       time.Time
	}{
		{"job_1", `{"status":"published"}`, at.Add(time.Minute)},
		{"job_2", `{"status":"running"}`, at},
	} {
		got, gotAt, err := cat.Job(ctx, tt.id)
		if err != nil || string(got) != tt.want || !gotAt.Equal(tt.at) {
			t.Errorf("Job(%s) = %s at %v, %v; want %s at %v", tt.id, got, gotAt, err, tt.want, tt.at)
		}
	}
}
