// Package storetest gives tests a real, private MySQL database: created
// fresh for each caller, migrated, and dropped when the test ends.
//
// The server comes from RINGDESK_TEST_MYSQL_DSN, else RINGDESK_MYSQL_DSN
// (scripts/test.sh starts a private MariaDB and sets it). Without one, tests
// fail, except under -short, where they skip.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/ringdesk/ringdesk/store"
)

// DSN returns the DSN of the test server, without a database name.
func DSN(tb testing.TB) *mysql.Config {
	tb.Helper()
	dsn := os.Getenv("RINGDESK_TEST_MYSQL_DSN")
	if dsn == "" {
		dsn = os.Getenv("RINGDESK_MYSQL_DSN")
	}
	if dsn == "" {
		if testing.Short() {
			tb.Skip("no MySQL: set RINGDESK_TEST_MYSQL_DSN or run scripts/test.sh")
		}
		tb.Fatal("no MySQL for tests: run scripts/test.sh, or set RINGDESK_TEST_MYSQL_DSN to a server where the user may create databases")
	}
	cfg, err := store.ParseDSN(dsn)
	if err != nil {
		tb.Fatal(err)
	}
	cfg.DBName = ""
	return cfg
}

var unsafeName = regexp.MustCompile(`[^a-z0-9_]+`)

// MustCreateDatabase creates an empty database with a unique name and drops
// it when the test ends. It returns a DSN for it.
func MustCreateDatabase(tb testing.TB) string {
	tb.Helper()
	cfg := DSN(tb)
	admin, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		tb.Fatal(err)
	}
	defer admin.Close()
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		tb.Fatal(err)
	}
	name := strings.ToLower(tb.Name())
	name = unsafeName.ReplaceAllString(name, "_")
	if len(name) > 40 {
		name = name[:40]
	}
	name = "rdtest_" + name + "_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE `"+name+"` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"); err != nil {
		tb.Fatalf("create test database: %v", err)
	}
	tb.Cleanup(func() {
		admin, err := sql.Open("mysql", cfg.FormatDSN())
		if err != nil {
			tb.Error(err)
			return
		}
		defer admin.Close()
		if _, err := admin.Exec("DROP DATABASE IF EXISTS `" + name + "`"); err != nil {
			tb.Errorf("drop test database %s: %v", name, err)
		}
	})
	cfg.DBName = name
	return cfg.FormatDSN()
}

// MustOpenDB opens a fresh, migrated database whose phone region is region
// ("GB" when empty), closed and dropped when the test ends.
func MustOpenDB(tb testing.TB, region string) *store.DB {
	tb.Helper()
	db, _ := MustOpenDBWithDSN(tb, region)
	return db
}

// MustOpenDBWithDSN is MustOpenDB that also returns the database's DSN,
// for tests that check rows behind the store's back.
func MustOpenDBWithDSN(tb testing.TB, region string) (*store.DB, string) {
	tb.Helper()
	if region == "" {
		region = "GB"
	}
	dsn := MustCreateDatabase(tb)
	norm, err := store.NewNormalizer(region)
	if err != nil {
		tb.Fatal(err)
	}
	ctx := context.Background()
	db, err := store.Open(ctx, dsn, norm, store.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		tb.Fatal(err)
	}
	return db, dsn
}

// MustOpenRaw opens a plain database/sql pool on dsn with the store's
// connection settings (store.ParseDSN), closed when the test ends: for
// tests that read or write behind the store's back.
func MustOpenRaw(tb testing.TB, dsn string) *sql.DB {
	tb.Helper()
	cfg, err := store.ParseDSN(dsn)
	if err != nil {
		tb.Fatal(err)
	}
	raw, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { raw.Close() })
	return raw
}
