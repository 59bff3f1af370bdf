module github.com/darwinml/darwin/pkg

go 1.26.0
