package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/ringdesk/ringdesk"
	"github.com/ringdesk/ringdesk/routing"
	"github.com/ringdesk/ringdesk/store"
	"github.com/ringdesk/ringdesk/web"
)

// Main is a running Ringdesk: its parts, opened in order by Open and closed
// in reverse by Close.
type Main struct {
	Config Config
	Logger *slog.Logger

	DB    *store.DB
	Redis redis.UniversalClient
	HTTP  *web.Server
}

func newLogger(cfg Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(strings.ToUpper(cfg.Log.Level)))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// openDB opens MySQL with the configured phone region.
func openDB(ctx context.Context, cfg Config) (*store.DB, error) {
	norm, err := store.NewNormalizer(cfg.Phone.DefaultRegion)
	if err != nil {
		return nil, err
	}
	db, err := store.Open(ctx, cfg.MySQL.DSN, norm, store.Options{MaxOpenConns: cfg.MySQL.MaxOpenConns})
	if err != nil {
		return nil, fmt.Errorf("mysql: %w", err)
	}
	return db, nil
}

// Open starts every part: MySQL, Redis, then HTTP.
func (m *Main) Open(ctx context.Context) error {
	var err error
	if m.DB, err = openDB(ctx, m.Config); err != nil {
		return err
	}
	if m.Config.MySQL.MigrateOnStart {
		applied, err := m.DB.Migrate(ctx)
		if err != nil {
			return err
		}
		if len(applied) > 0 {
			m.Logger.Info("applied migrations", "versions", applied)
		}
	}
	m.Redis, err = routing.OpenRedis(ctx, routing.RedisOptions{
		Addrs: m.Config.Redis.Addrs, MasterName: m.Config.Redis.MasterName,
		Username: m.Config.Redis.Username, Password: m.Config.Redis.Password, DB: m.Config.Redis.DB,
	})
	if err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	health := map[string]ringdesk.Pinger{"mysql": m.DB, "redis": routing.RedisPinger{Client: m.Redis}}
	m.HTTP = web.NewServer(m.Config.HTTP.Listen, m.Logger.With("component", "web"), health, prometheus.NewRegistry())
	if err := m.HTTP.Open(); err != nil {
		return err
	}
	return nil
}

// Close stops the parts in reverse order, letting requests drain first.
func (m *Main) Close() error {
	var errs []error
	if m.HTTP != nil {
		ctx, cancel := context.WithTimeout(context.Background(), m.Config.ShutdownTimeout)
		errs = append(errs, m.HTTP.Close(ctx))
		cancel()
	}
	if m.Redis != nil {
		errs = append(errs, m.Redis.Close())
	}
	if m.DB != nil {
		errs = append(errs, m.DB.Close())
	}
	return errors.Join(errs...)
}

func runServe(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet(env, "serve")
	cfg, err := parseFlags(env, fs, args)
	if err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return errUsage
	}
	m := &Main{Config: cfg, Logger: newLogger(cfg, env.stderr)}
	if err := m.Open(ctx); err != nil {
		m.Close()
		return err
	}
	m.Logger.Info("ringdesk is running", "http", m.HTTP.Addr(), "region", cfg.Phone.DefaultRegion)
	<-ctx.Done()
	m.Logger.Info("shutting down", "timeout", cfg.ShutdownTimeout)
	if err := m.Close(); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	m.Logger.Info("stopped")
	return nil
}

func runMigrate(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet(env, "migrate")
	cfg, err := parseFlags(env, fs, args)
	if err != nil {
		return err
	}
	db, err := openDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	applied, err := db.Migrate(ctx)
	if err != nil {
		return err
	}
	v, err := db.SchemaVersion(ctx)
	if err != nil {
		return err
	}
	if len(applied) == 0 {
		fmt.Fprintf(env.stdout, "schema is up to date (version %d)\n", v)
		return nil
	}
	fmt.Fprintf(env.stdout, "applied %d migration(s); schema version %d\n", len(applied), v)
	return nil
}

// userMessage is the text shown for an error: a domain error's message, or
// the wrapped chain for anything else.
func userMessage(err error) string {
	var ce *ConfigError
	if errors.As(err, &ce) {
		return ce.Error()
	}
	var e *ringdesk.Error
	if errors.As(err, &e) {
		return e.Message
	}
	return err.Error()
}
