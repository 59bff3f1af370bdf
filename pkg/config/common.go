package config

import "flag"

// Common is the top-level `common:` section shared by every service in a binary: services whose own setting
// is empty inherit these (see Inherit).
type Common struct {
	DB  CommonDB  `yaml:"db"`
	Bus CommonBus `yaml:"bus"`
}

// CommonDB is the shared metadata database.
type CommonDB struct {
	DSN string `yaml:"dsn"`
}

// CommonBus configures where lifecycle events are relayed.
type CommonBus struct {
	ChronosURL string `yaml:"chronos_url"` // empty: events stay in the outbox only
}

// RegisterFlags registers -common.db.dsn and -common.bus.chronos-url.
func (c *Common) RegisterFlags(f *flag.FlagSet) {
	f.StringVar(&c.DB.DSN, "common.db.dsn", c.DB.DSN, "database DSN inherited by services that leave their own empty (sqlite://PATH, mysql://..., postgres://...)")
	f.StringVar(&c.Bus.ChronosURL, "common.bus.chronos-url", c.Bus.ChronosURL, "chronos base URL that lifecycle events are posted to (empty: keep them in the outbox)")
}
