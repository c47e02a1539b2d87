package server

import (
	"math"
	"strings"
	"testing"
)

// TestConfigValidate checks the start-up checks of Config, after defaults.
func TestConfigValidate(t *testing.T) {
	imports := t.TempDir()
	tests := []struct {
		name string
		cfg  Config
		want []string // substrings of the error; nil: valid
	}{
		{"defaults", Config{}, nil},
		{"loopback v4", Config{Addr: "127.0.0.1:0"}, nil},
		{"loopback v6", Config{Addr: "[::1]:8080"}, nil},
		{"localhost", Config{Addr: "localhost:8080"}, nil},
		{"all interfaces", Config{Addr: ":8080"}, []string{"--tls-cert", "--insecure"}},
		{"public address", Config{Addr: "0.0.0.0:8080"}, []string{"--tls-cert", "--insecure"}},
		{"public address, insecure", Config{Addr: "0.0.0.0:8080", Insecure: true}, nil},
		{"public address, tls", Config{Addr: "10.1.2.3:443", TLSCert: "c.pem", TLSKey: "k.pem"}, nil},
		{"cert without key", Config{TLSCert: "c.pem"}, []string{"tls-cert", "tls-key"}},
		{"key without cert", Config{TLSKey: "k.pem"}, []string{"tls-cert", "tls-key"}},
		{"no port", Config{Addr: "127.0.0.1"}, []string{"addr"}},
		{"imports missing", Config{Imports: imports + "/nothing"}, []string{"imports"}},
		{"imports", Config{Imports: imports}, nil},
		{"tiny body limit", Config{BodyLimit: 10}, []string{"body limit 10"}},
		{"negative rate", Config{RatePerSecond: -1}, []string{"rate -1"}},
		{"rate not a number", Config{RatePerSecond: math.NaN()}, []string{"rate NaN"}},
		{"negative burst", Config{Burst: -2}, []string{"burst -2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.defaults()
			err := cfg.Validate()
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Validate: got %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate: got nil, want an error naming %v", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate: got %q, want it to name %s", err, w)
				}
			}
			// New refuses the same configuration.
			if _, err := New(tt.cfg, nil, nil); err == nil {
				t.Errorf("New: got nil error, want %v", tt.want)
			}
		})
	}
}
