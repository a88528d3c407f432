package client

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/icws/icws/ic/principal"
)

// TestDialConfigErrors checks that Dial refuses unusable configurations before any I/O, saying
// which field is wrong.
func TestDialConfigErrors(t *testing.T) {
	good := Config{Gateway: "ws://127.0.0.1:1", IC: "http://127.0.0.1:1", Canister: principal.CanisterID(1)}
	tests := []struct {
		name string
		edit func(c *Config)
		want string
	}{
		{"no gateway", func(c *Config) { c.Gateway = "" }, "Config.Gateway"},
		{"http gateway", func(c *Config) { c.Gateway = "http://127.0.0.1:1" }, "ws://"},
		{"bad gateway URL", func(c *Config) { c.Gateway = "ws://%zz" }, "Config.Gateway"},
		{"no canister", func(c *Config) { c.Canister = principal.Principal{} }, "Config.Canister"},
		{"no IC", func(c *Config) { c.IC = "" }, "Config.IC"},
		{"short key", func(c *Config) { c.Key = make([]byte, 32) }, "Config.Key"},
		{"negative age", func(c *Config) { c.MaxMessageAge = -time.Second }, "Config.MaxMessageAge"},
		{"negative buffer", func(c *Config) { c.ReadBuffer = -1 }, "Config.ReadBuffer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := good
			tt.edit(&cfg)
			_, err := Dial(context.Background(), cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error about %s", err, tt.want)
			}
		})
	}
	cfg, err := good.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MaxMessageAge != DefaultMaxMessageAge || cfg.HeartbeatTimeout != DefaultHeartbeatTimeout || cfg.AckTimeout != DefaultAckTimeout || cfg.Dialer == nil || cfg.Identity == nil {
		t.Fatalf("defaults not applied: %+v", cfg)
	}
}
