package nbcheck

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
)

// notebooksDir is the repository's notebooks folder, from this package.
const notebooksDir = "../../notebooks"

// wantNotebooks are the notebooks the repository ships, and only they.
var wantNotebooks = []string{
	"alliance.ipynb",
	"data-engineering.ipynb",
	"route-demand.ipynb",
	"segment-sizing.ipynb",
}

// apiKey matches an API key as `haze keys create` prints it.
var apiKey = regexp.MustCompile(`hz_[A-Za-z0-9_-]{20,}`)

// notebook is the part of the nbformat 4 document the checks read.
type notebook struct {
	Cells []struct {
		CellType       string            `json:"cell_type"`
		ExecutionCount *int              `json:"execution_count"`
		Outputs        []json.RawMessage `json:"outputs"`
		Source         json.RawMessage   `json:"source"`
	} `json:"cells"`
	NBFormat int `json:"nbformat"`
}

func TestNotebookSet(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join(notebooksDir, "*.ipynb"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range paths {
		got = append(got, filepath.Base(p))
	}
	if !slices.Equal(got, wantNotebooks) {
		t.Errorf("notebooks = %q, want %q", got, wantNotebooks)
	}
}

func TestNotebooksAreClean(t *testing.T) {
	for _, name := range wantNotebooks {
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join(notebooksDir, name))
			if err != nil {
				t.Fatal(err)
			}
			var nb notebook
			if err := json.Unmarshal(raw, &nb); err != nil {
				t.Fatalf("not a notebook: %v", err)
			}
			if nb.NBFormat != 4 {
				t.Errorf("nbformat = %d, want 4", nb.NBFormat)
			}
			if len(nb.Cells) == 0 || nb.Cells[0].CellType != "markdown" {
				t.Errorf("the first cell is not markdown: a notebook opens by saying what it shows")
			}
			for i, c := range nb.Cells {
				if c.CellType != "code" {
					continue
				}
				if c.Outputs == nil {
					t.Errorf("code cell %d has no outputs list, want []", i)
				}
				if len(c.Outputs) > 0 {
					t.Errorf("code cell %d has %d outputs, want none", i, len(c.Outputs))
				}
				if c.ExecutionCount != nil {
					t.Errorf("code cell %d has execution count %d, want null", i, *c.ExecutionCount)
				}
			}

			// Every string anywhere in the file: sources, outputs, metadata.
			var doc any
			if err := json.Unmarshal(raw, &doc); err != nil {
				t.Fatal(err)
			}
			walkStrings(doc, func(s string) {
				if k := apiKey.FindString(s); k != "" {
					t.Errorf("holds what looks like an API key (%s…): read keys from the environment",
						k[:6])
				}
			})
		})
	}
}

// walkStrings calls f with every string in a decoded JSON value, keys
// included.
func walkStrings(v any, f func(string)) {
	switch v := v.(type) {
	case string:
		f(v)
	case []any:
		for _, e := range v {
			walkStrings(e, f)
		}
	case map[string]any:
		for k, e := range v {
			f(k)
			walkStrings(e, f)
		}
	}
}
