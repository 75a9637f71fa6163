// Command discovery-interop is the Go side of the discovery interop tests: it runs Go's own
// clientv3/naming/endpoints manager, so the tests can show that Node and Go services register,
// list and watch the same endpoints. One command per run; results are JSON lines on stdout.
//
//	discovery-interop [-namespace prefix] <endpoint> add <target> <key> <addr> [metadata JSON]
//	discovery-interop [-namespace prefix] <endpoint> delete <target> <key>
//	discovery-interop [-namespace prefix] <endpoint> list <target>
//	discovery-interop [-namespace prefix] <endpoint> watch <target>
//
// `list` prints one {"key","addr","metadata"} line per endpoint, sorted by key. `watch` prints
// "ready" once its channel exists, then one JSON array of {"op","key","addr","metadata"} per
// batch of updates, until stdin closes. Without metadata, `add` stores a nil Metadata (JSON null).
//
// Built by packages/discovery/test/go-interop.ts with Debian's Go and etcd sources (GOPATH mode,
// no network).
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"time"

	"go.etcd.io/etcd/clientv3"
	"go.etcd.io/etcd/clientv3/namespace"
	"go.etcd.io/etcd/clientv3/naming/endpoints"
	"go.uber.org/zap"
)

type entry struct {
	Op       string      `json:"op,omitempty"`
	Key      string      `json:"key"`
	Addr     string      `json:"addr"`
	Metadata interface{} `json:"metadata"`
}

func main() {
	prefix := flag.String("namespace", "", "run the manager on a namespaced client")
	flag.Parse()
	args := flag.Args()
	if len(args) < 3 {
		fail(fmt.Errorf("usage: discovery-interop [-namespace prefix] <endpoint> <command> <target> ..."))
	}
	endpoint, command, target := args[0], args[1], args[2]
	rest := args[3:]

	client, err := clientv3.New(clientv3.Config{
		Endpoints:   []string{endpoint},
		DialTimeout: 10 * time.Second,
		// Errors only, on stderr: stdout carries the results.
		LogConfig: &zap.Config{
			Level:            zap.NewAtomicLevelAt(zap.ErrorLevel),
			Encoding:         "json",
			OutputPaths:      []string{"stderr"},
			ErrorOutputPaths: []string{"stderr"},
		},
	})
	if err != nil {
		fail(err)
	}
	defer client.Close()
	if *prefix != "" {
		client.KV = namespace.NewKV(client.KV, *prefix)
		client.Watcher = namespace.NewWatcher(client.Watcher, *prefix)
		client.Lease = namespace.NewLease(client.Lease, *prefix)
	}
	manager, err := endpoints.NewManager(client, target)
	if err != nil {
		fail(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	switch command {
	case "add":
		if len(rest) < 2 {
			fail(fmt.Errorf("add needs <key> <addr> [metadata JSON]"))
		}
		endpoint := endpoints.Endpoint{Addr: rest[1]}
		if len(rest) > 2 {
			if err := json.Unmarshal([]byte(rest[2]), &endpoint.Metadata); err != nil {
				fail(err)
			}
		}
		if err := manager.AddEndpoint(ctx, rest[0], endpoint); err != nil {
			fail(err)
		}
		fmt.Println(`"added"`)
	case "delete":
		if len(rest) < 1 {
			fail(fmt.Errorf("delete needs <key>"))
		}
		if err := manager.DeleteEndpoint(ctx, rest[0]); err != nil {
			fail(err)
		}
		fmt.Println(`"deleted"`)
	case "list":
		listed, err := manager.List(ctx)
		if err != nil {
			fail(err)
		}
		keys := make([]string, 0, len(listed))
		for key := range listed {
			keys = append(keys, key)
		}
		sort.Strings(keys)
		for _, key := range keys {
			emit(entry{Key: key, Addr: listed[key].Addr, Metadata: listed[key].Metadata})
		}
	case "watch":
		watchCtx, stop := context.WithCancel(context.Background())
		defer stop()
		updates, err := manager.NewWatchChannel(watchCtx)
		if err != nil {
			fail(err)
		}
		fmt.Println(`"ready"`)
		// The test closes stdin to end the watch, and the process with it.
		go func() {
			_, _ = io.Copy(io.Discard, bufio.NewReader(os.Stdin))
			stop()
		}()
		for batch := range updates {
			out := make([]entry, 0, len(batch))
			for _, u := range batch {
				op := "add"
				if u.Op == endpoints.Delete {
					op = "delete"
				}
				out = append(out, entry{Op: op, Key: u.Key, Addr: u.Endpoint.Addr, Metadata: u.Endpoint.Metadata})
			}
			emit(out)
		}
	default:
		fail(fmt.Errorf("unknown command %q", command))
	}
}

func emit(value interface{}) {
	line, err := json.Marshal(value)
	if err != nil {
		fail(err)
	}
	fmt.Println(string(line))
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "discovery-interop:", err)
	os.Exit(1)
}
