package migrations

import (
	"testing"

	"github.com/darwinml/darwin/pkg/db"
)

func TestTreesAgree(t *testing.T) {
	if err := db.CheckMigrationTrees(FS); err != nil {
		t.Fatal(err)
	}
}
